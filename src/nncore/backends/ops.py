"""The one boundary between nncore's math and its kernels.

``Ops`` defines the public methods, their documentation and their argument checks.
Each public method validates its arguments (``nncore.backends._checks``) and then calls a
private ``_method`` that does the math on arguments it can trust:

* ``NumpyOps`` (``backends.numpy_ops``) -- the specification: plain NumPy, to be read.
* ``CythonOps`` (``backends.cython_ops``) -- the same math, compiled (``backends._kernels``).

Validation lives in the shared base class: the two backends reject bad arguments alike
and cannot drift apart in their signatures. Conventions for every method: float arrays
are C-contiguous, all of one dtype (float32 or float64), with agreeing shapes; each
argument is IN, OUT (overwritten, never accumulated into unless documented) or INOUT;
results go into OUT buffers the caller owns. Converting user data is the model layer's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nncore.backends import _checks, activations
from nncore.backends._loss_methods import LossMethods
from nncore.backends._plan_methods import PlanMethods


def adam_step_size(lr: float, beta1: float, beta2: float, eps: float,
                   t: int) -> tuple[float, float]:
    """Adam's bias corrections folded into ``(lr_t, eps_t)`` for step ``t`` (from 1)."""
    sqrt_bc2 = math.sqrt(1.0 - beta2**t)
    return lr * sqrt_bc2 / (1.0 - beta1**t), eps * sqrt_bc2


class Ops(LossMethods, PlanMethods):
    """Kernel interface shared by the NumPy and Cython backends.

    The per-operation methods are defined here; the whole-network methods
    (``mlp_forward``, ``train_epoch``, ``loss_gradient``) in ``PlanMethods``.
    """

    #: Backend name, ``"numpy"`` or ``"cython"``.
    name: str = "abstract"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # ------------------------------------------------------------------ GEMM
    def gemm(
        self,
        A: np.ndarray,
        B: np.ndarray,
        out: np.ndarray,
        trans_a: bool = False,
        trans_b: bool = False,
        alpha: float = 1.0,
        beta: float = 0.0,
    ) -> None:
        """General matrix product ``out = alpha * op(A) @ op(B) + beta * out``.

        Parameters
        ----------
        A : ndarray, shape (m, k), or (k, m) if ``trans_a``
            IN.
        B : ndarray, shape (k, n), or (n, k) if ``trans_b``
            IN.
        out : ndarray, shape (m, n)
            OUT (INOUT when ``beta != 0``). Must not overlap ``A`` or ``B``. With
            ``beta == 0`` its old contents are ignored, NaN included (as BLAS does).
        trans_a, trans_b : bool
            Use the transpose of ``A`` / ``B``.
        alpha, beta : float
            Scale factors.
        """
        op = "gemm"
        _checks.floats(op, ("out",), A=(A, 2), B=(B, 2), out=(out, 2))
        m, k = (A.shape[1], A.shape[0]) if trans_a else A.shape
        kb, n = (B.shape[1], B.shape[0]) if trans_b else B.shape
        if kb != k:
            raise ValueError(
                f"gemm: inner dimensions differ: op(A) is {m}x{k} but op(B) is {kb}x{n}"
            )
        _checks.shape(op, "out", out, (m, n))
        _checks.no_alias(op, "out", out, "A", A, allow_same=False)
        _checks.no_alias(op, "out", out, "B", B, allow_same=False)
        alpha = _checks.number(op, "alpha", alpha)
        beta = _checks.number(op, "beta", beta)
        self._gemm(A, B, out, bool(trans_a), bool(trans_b), alpha, beta)

    # ------------------------------------------------------------------ activations
    def bias_act_forward(
        self,
        Z: np.ndarray,
        b: np.ndarray,
        activation: str,
        out: np.ndarray,
        negative_slope: float = 0.01,
    ) -> None:
        """Bias plus activation in one pass: ``out = act(Z + b)``.

        Parameters
        ----------
        Z : ndarray, shape (n, d)
            IN: pre-activations without the bias (usually a GEMM output).
        b : ndarray, shape (d,)
            IN: bias, broadcast over rows.
        activation : str
            One of ``nncore.backends.activations.NAMES``; softmax is taken per row.
        out : ndarray, shape (n, d)
            OUT. May be ``Z`` itself (in place), must not overlap it otherwise.
        negative_slope : float
            Slope of leaky_relu for negative inputs, >= 0.
        """
        op = "bias_act_forward"
        _checks.floats(op, ("out",), Z=(Z, 2), b=(b, 1), out=(out, 2))
        _checks.shape(op, "b", b, (Z.shape[1],))
        _checks.shape(op, "out", out, Z.shape)
        _checks.no_alias(op, "out", out, "Z", Z, allow_same=True)
        _checks.no_alias(op, "out", out, "b", b, allow_same=False)
        act = activations.code(activation)
        slope = _checks.number(op, "negative_slope", negative_slope, low=0.0)
        self._bias_act_forward(Z, b, act, out, slope)

    def act_backward(
        self,
        dY: np.ndarray,
        Y: np.ndarray,
        activation: str,
        dZ: np.ndarray,
        db: np.ndarray | None = None,
        negative_slope: float = 0.01,
    ) -> None:
        """Activation backward from the layer OUTPUT: ``dZ = act'(Z) * dY``.

        Parameters
        ----------
        dY : ndarray, shape (n, d)
            IN: gradient of the loss with respect to the activation output.
        Y : ndarray, shape (n, d)
            IN: the activation output of the forward pass.
        activation : str
            The activation the forward pass used.
        dZ : ndarray, shape (n, d)
            OUT: gradient with respect to the pre-activation. May be ``dY`` itself.
        db : ndarray, shape (d,), optional
            OUT: if given, the bias gradient ``dZ.sum(axis=0)``, computed in the same
            pass (accumulated in float64).
        negative_slope : float
            Slope of leaky_relu, as in the forward pass.
        """
        op = "act_backward"
        # the usual case (_checks.usual): shapes, and no output is another argument
        if not ((_checks.usual(dY, Y, dZ) and dZ is not Y if db is None else
                 _checks.usual(dY, Y, dZ, db) and dZ is not Y and db is not dY
                 and db is not Y and db is not dZ and db.shape == (Y.shape[1],))
                and Y.ndim == 2 and dY.shape == Y.shape and dZ.shape == Y.shape):
            arrays: dict[str, Any] = {"dY": (dY, 2), "Y": (Y, 2), "dZ": (dZ, 2)}
            if db is not None:
                arrays["db"] = (db, 1)
            _checks.floats(op, ("dZ", "db"), **arrays)
            _checks.shape(op, "dY", dY, Y.shape)
            _checks.shape(op, "dZ", dZ, Y.shape)
            _checks.no_alias(op, "dZ", dZ, "dY", dY, allow_same=True)
            _checks.no_alias(op, "dZ", dZ, "Y", Y, allow_same=False)
            if db is not None:
                _checks.shape(op, "db", db, (Y.shape[1],))
                for name, x in (("dY", dY), ("Y", Y), ("dZ", dZ)):
                    _checks.no_alias(op, "db", db, name, x, allow_same=False)
        act = activations.code(activation)
        slope = _checks.number(op, "negative_slope", negative_slope, low=0.0)
        self._act_backward(dY, Y, act, dZ, db, slope)

    def col_sum(self, X: np.ndarray, out: np.ndarray) -> None:
        """Column sums ``out = X.sum(axis=0)``, accumulated in float64 (the bias gradient).

        Parameters
        ----------
        X : ndarray, shape (n, d)
            IN.
        out : ndarray, shape (d,)
            OUT. Must not overlap ``X``.
        """
        op = "col_sum"
        if not (_checks.usual(X, out) and X is not out and X.ndim == 2
                and out.shape == (X.shape[1],)):
            _checks.floats(op, ("out",), X=(X, 2), out=(out, 1))
            _checks.shape(op, "out", out, (X.shape[1],))
            _checks.no_alias(op, "out", out, "X", X, allow_same=False)
        self._col_sum(X, out)

    # ------------------------------------------------------------------ optimizers
    def sgd_update(
        self,
        w: np.ndarray,
        g: np.ndarray,
        v: np.ndarray,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        n_decay: int | None = None,
    ) -> None:
        """One SGD step over a flat parameter buffer, with PyTorch's semantics.

        ``g' = g + weight_decay * w`` (on ``w[:n_decay]`` only), ``v = momentum * v + g'``,
        then ``w -= lr * (g' + momentum * v)`` with Nesterov, ``w -= lr * v`` without;
        with ``momentum == 0``, ``w -= lr * g'`` and ``v`` is left untouched.

        Parameters
        ----------
        w : ndarray, shape (p,)
            INOUT: parameters (weights first, then biases).
        g : ndarray, shape (p,)
            IN: gradients.
        v : ndarray, shape (p,)
            INOUT: momentum buffer (start with zeros).
        lr, momentum, weight_decay : float
            Learning rate (>= 0), momentum (>= 0), L2 coefficient (>= 0).
        nesterov : bool
            Nesterov momentum (needs ``momentum > 0``).
        n_decay : int, optional
            Weight decay applies to ``w[:n_decay]`` (the weights, not the biases).
            Default: all of ``w``.
        """
        op = "sgd_update"
        if not (_checks.usual(w, g, v) and w is not g and w is not v and v is not g
                and w.ndim == 1 and g.shape == w.shape and v.shape == w.shape):
            _checks.floats(op, ("w", "v"), w=(w, 1), g=(g, 1), v=(v, 1))
            _checks.shape(op, "g", g, w.shape)
            _checks.shape(op, "v", v, w.shape)
            named = {"w": w, "g": g, "v": v}
            for a, b in (("w", "g"), ("w", "v"), ("v", "g")):
                _checks.no_alias(op, a, named[a], b, named[b], allow_same=False)
        lr = _checks.number(op, "lr", lr, low=0.0)
        momentum = _checks.number(op, "momentum", momentum, low=0.0)
        weight_decay = _checks.number(op, "weight_decay", weight_decay, low=0.0)
        if nesterov and momentum == 0:
            raise ValueError(f"{op}: nesterov=True needs momentum > 0")
        nd = w.shape[0] if n_decay is None else _checks.count(op, "n_decay", n_decay, 0, w.shape[0])
        self._sgd_update(w, g, v, lr, momentum, bool(nesterov), weight_decay, nd)

    def adam_update(
        self,
        w: np.ndarray,
        g: np.ndarray,
        m: np.ndarray,
        v: np.ndarray,
        lr: float,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        t: int = 1,
        weight_decay: float = 0.0,
        decoupled: bool = False,
        n_decay: int | None = None,
    ) -> None:
        """One Adam (or AdamW) step over a flat parameter buffer, with PyTorch's semantics.

        Adam: ``g' = g + weight_decay * w`` (L2). AdamW (``decoupled=True``):
        ``w *= 1 - lr * weight_decay`` first, and ``g' = g``. Decay touches ``w[:n_decay]``
        only. Then ``m = b1 m + (1-b1) g'``, ``v = b2 v + (1-b2) g'^2`` and
        ``w -= lr_t * m / (sqrt(v) + eps_t)``, where the bias correction is folded into
        ``lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)`` and ``eps_t = eps * sqrt(1 - b2^t)``,
        which equals PyTorch's ``lr / (1-b1^t) * m / (sqrt(v / (1-b2^t)) + eps)`` exactly.

        Parameters
        ----------
        w : ndarray, shape (p,)
            INOUT: parameters (weights first, then biases).
        g : ndarray, shape (p,)
            IN: gradients.
        m, v : ndarray, shape (p,)
            INOUT: first and second moment buffers (start with zeros).
        lr : float
            Learning rate, >= 0.
        beta1, beta2 : float
            Moment decay rates in [0, 1).
        eps : float
            Denominator term, > 0.
        t : int
            Step number, starting at 1.
        weight_decay : float
            L2 (Adam) or decoupled (AdamW) decay coefficient, >= 0.
        decoupled : bool
            AdamW when true.
        n_decay : int, optional
            Decay applies to ``w[:n_decay]``. Default: all of ``w``.
        """
        op = "adam_update"
        if not (_checks.usual(w, g, m, v) and w is not g and w is not m and w is not v
                and m is not g and v is not g and m is not v and w.ndim == 1
                and g.shape == w.shape and m.shape == w.shape and v.shape == w.shape):
            _checks.floats(op, ("w", "m", "v"), w=(w, 1), g=(g, 1), m=(m, 1), v=(v, 1))
            for name, x in (("g", g), ("m", m), ("v", v)):
                _checks.shape(op, name, x, w.shape)
            named = {"w": w, "g": g, "m": m, "v": v}
            for a, b in (("w", "g"), ("w", "m"), ("w", "v"), ("m", "g"), ("v", "g"),
                         ("m", "v")):
                _checks.no_alias(op, a, named[a], b, named[b], allow_same=False)
        lr = _checks.number(op, "lr", lr, low=0.0)
        beta1 = _checks.number(op, "beta1", beta1, low=0.0, high=1.0, high_open=True)
        beta2 = _checks.number(op, "beta2", beta2, low=0.0, high=1.0, high_open=True)
        eps = _checks.number(op, "eps", eps, low=0.0)
        if eps == 0:
            raise ValueError(f"{op}: argument 'eps' must be > 0, got 0.0")
        t = _checks.count(op, "t", t, 1)
        weight_decay = _checks.number(op, "weight_decay", weight_decay, low=0.0)
        nd = w.shape[0] if n_decay is None else _checks.count(op, "n_decay", n_decay, 0, w.shape[0])
        lr_t, eps_t = adam_step_size(lr, beta1, beta2, eps, t)
        l2, decay = (0.0, lr * weight_decay) if decoupled else (weight_decay, 0.0)
        self._adam_update(w, g, m, v, lr_t, beta1, beta2, eps_t, l2, decay, nd)

    # ------------------------------------------------------------------ backend hooks
    # Called with validated arguments only; activations arrive as integer codes.
    def _gemm(self, A, B, out, trans_a, trans_b, alpha, beta):
        raise NotImplementedError

    def _bias_act_forward(self, Z, b, act, out, slope):
        raise NotImplementedError

    def _act_backward(self, dY, Y, act, dZ, db, slope):
        raise NotImplementedError

    def _col_sum(self, X, out):
        raise NotImplementedError

    def _sgd_update(self, w, g, v, lr, momentum, nesterov, wd, n_decay):
        raise NotImplementedError

    def _adam_update(self, w, g, m, v, lr_t, b1, b2, eps_t, l2, decay, n_decay):
        raise NotImplementedError

