"""Plans: the one place where nncore's memory layout is defined.

Everything that needs to know where a number lives asks an object of this module; the
kernels receive the offsets computed here instead of re-deriving them.

``ParamLayout`` -- the flat parameter buffer of an MLP with widths ``[d0, d1, ..., k]``.
All weights first (layer by layer, each ``W_i`` of shape ``(d_i, d_{i+1})`` row-major),
then all biases, so weight decay reaches ``w[:n_weights]`` and not the biases::

    w = [ W_0 | W_1 | ... | W_{L-1} | b_0 | b_1 | ... | b_{L-1} ]
          ^ w_off[i]                  ^ b_off[i]

The gradient buffer ``g`` and every optimizer state buffer (momentum, Adam's moments)
have this same layout, element for element, so an update is one loop over flat arrays.

``ParamStore`` -- a model's ``w`` and ``g`` buffers with their layout.

``NetPlan`` -- a network over those buffers: layout, activation codes and slopes; what
``Ops.mlp_forward`` runs (hidden layers ping-pong between two halves of a scratch array).

``TrainPlan`` -- a ``NetPlan`` plus the workspace of one batch size, allocated once and
reused for every step, and the optimizer's kind, hyper-parameters (by name) and state::

    work = [ Xb (B x d0) | Tb (B x k) | A_0 | D_0 | A_1 | D_1 | ... ]   A_i, D_i: B x d_{i+1}
             ^ work_off[0] ^ work_off[1] ^ work_off[2 + 2i], work_off[3 + 2i]

``A_i`` is layer i's output, ``D_i`` the loss gradient with respect to it (turned into
the gradient of the pre-activation in place). With dropout, ``A_i`` holds the output
with its dropped elements zeroed (unscaled: the ``1 / (1 - rate)`` is the alpha of the
GEMMs that read it), and the mask is recomputed, not stored. ``Ops.train_epoch`` and
``Ops.loss_gradient`` take a ``TrainPlan``; the NumPy backend walks the workspace
through the views ``xb``, ``tb``, ``A``, ``D``, the Cython backend through ``work_off``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nncore.backends import _checks, activations
from nncore.backends import dropout as dropout_
from nncore.backends._codes import HYPER, LOSSES, OPTIMIZERS
from nncore.backends.sparse import CsrRows, csr_rows, is_sparse


class ParamLayout:
    """Offsets of every layer's ``W`` and ``b`` in a flat parameter buffer.

    Parameters
    ----------
    sizes : sequence of int
        Input width, then each layer's width.

    Attributes
    ----------
    sizes : ndarray of int64, shape (L + 1,)
    shapes : list of (n_in, n_out)
        One weight-matrix shape per layer; the bias of layer i has ``n_out`` elements.
    w_off, b_off : ndarray of int64, shape (L,)
        Where ``W_i`` and ``b_i`` start.
    n_weights : int
        Number of weights (the decayed part ``w[:n_weights]``).
    size : int
        Total number of parameters.
    """

    def __init__(self, sizes: Sequence[int] | np.ndarray) -> None:
        self.sizes = np.array(sizes, np.int64)
        n_in, n_out = self.sizes[:-1], self.sizes[1:]
        self.shapes = [(int(a), int(b)) for a, b in zip(n_in, n_out, strict=True)]
        w_sizes = n_in * n_out
        self.n_weights = int(w_sizes.sum())
        self.size = self.n_weights + int(n_out.sum())
        self.w_off = np.concatenate(([0], np.cumsum(w_sizes)[:-1])).astype(np.int64)
        self.b_off = self.n_weights + np.concatenate(([0], np.cumsum(n_out)[:-1])).astype(
            np.int64)

    @property
    def n_layers(self) -> int:
        return len(self.shapes)

    def views(self, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W_i, b_i), ...]`` as views into ``flat`` (parameters, gradients or any
        optimizer state buffer: they share this layout)."""
        return [(flat[wo : wo + a * b].reshape(a, b), flat[bo : bo + b])
                for (a, b), wo, bo in zip(self.shapes, self.w_off, self.b_off, strict=True)]

    def names(self) -> list[tuple[str, str]]:
        """``[("layer0.W", "layer0.b"), ...]``: the names the model file gives the views."""
        return [(f"layer{i}.W", f"layer{i}.b") for i in range(self.n_layers)]


class ParamStore:
    """A model's flat parameter and gradient buffers, laid out by one ``ParamLayout``.

    Parameters
    ----------
    sizes : sequence of int
        Input width, then each layer's width.
    dtype : numpy dtype
        float32 or float64.
    """

    def __init__(self, sizes: Sequence[int] | np.ndarray, dtype: np.dtype) -> None:
        self.layout = ParamLayout(sizes)
        self.dtype = np.dtype(dtype)
        self.n_weights = self.layout.n_weights
        self.size = self.layout.size
        self.w = np.zeros(self.size, self.dtype)
        self.g = np.zeros(self.size, self.dtype)

    def views(self, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W, b), ...]`` as views into ``flat`` (``self.w``, ``self.g`` or a state)."""
        return self.layout.views(flat)


class NetPlan:
    """An MLP as flat arrays: the parameter layout plus per-layer codes.

    Parameters
    ----------
    sizes : sequence or array of int
        Input width, then each layer's width (all >= 1).
    activations : sequence of str
        One activation name per layer.
    slopes : sequence or array of float
        One leaky-ReLU slope per layer (>= 0).
    w, g : ndarray
        The flat parameter and gradient buffers (``ParamLayout``).
    """

    def __init__(self, sizes: Sequence[int] | np.ndarray, activations_: Sequence[str],
                 slopes: Sequence[float] | np.ndarray, w: np.ndarray, g: np.ndarray) -> None:
        op = "NetPlan"
        self.layout = ParamLayout([_checks.count(op, "sizes", s, 1) for s in sizes])
        self.sizes = self.layout.sizes
        if len(activations_) != len(self.sizes) - 1 or len(slopes) != len(activations_):
            raise ValueError(f"{op}: need one activation and one slope per layer")
        self.acts = np.array([activations.code(a) for a in activations_], np.int32)
        self.slopes = np.array([_checks.number(op, "slopes", s, low=0.0) for s in slopes])
        self.dtype = _checks.floats(op, ("w", "g"), w=(w, 1), g=(g, 1))
        self.n_weights = self.layout.n_weights
        _checks.shape(op, "w", w, (self.layout.size,))
        _checks.shape(op, "g", g, (self.layout.size,))
        _checks.no_alias(op, "g", g, "w", w, allow_same=False)
        self.w, self.g = w, g
        # Widest hidden layer: the ping-pong scratch of mlp_forward (0 for one layer).
        self.max_hidden = int(self.sizes[1:-1].max()) if len(self.acts) > 1 else 0

    def with_output(self, activation: str) -> NetPlan:
        """The same network (sharing ``w`` and ``g``) with another last activation.

        Prediction uses it to fold a loss's link (softmax, sigmoid) into the forward call.
        """
        acts = [activations.NAMES[a] for a in self.acts]
        return NetPlan(self.sizes, [*acts[:-1], activation], self.slopes, self.w, self.g)

    @property
    def n_layers(self) -> int:
        return len(self.acts)

    def views(self, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W_i, b_i), ...]`` as views into ``flat`` (``w`` or ``g``)."""
        return self.layout.views(flat)

    def check_input(self, op: str, X: Any) -> np.ndarray | CsrRows:
        """``X`` must be (n, d0) of the plan's dtype: a C-contiguous array, or a sparse
        matrix (returned as ``CsrRows``, validated: the kernels index it unchecked)."""
        if is_sparse(X):
            if X.dtype not in _checks.FLOAT_DTYPES:  # as _checks.floats words it
                raise TypeError(f"{op}: argument 'X' must have dtype float32 or float64, "
                                f"got {X.dtype}")
            if X.dtype != self.dtype:
                raise TypeError(f"{op}: argument 'X' has dtype {X.dtype}, expected "
                                f"{self.dtype}")
            X = csr_rows(X, self.dtype, op=op)
        else:
            _checks.floats(op, (), X=(X, 2))
        if X.dtype != self.dtype:
            raise TypeError(f"{op}: argument 'X' has dtype {X.dtype}, expected {self.dtype}")
        if X.shape[1] != self.sizes[0]:
            raise ValueError(f"{op}: argument 'X' has {X.shape[1]} columns, expected "
                             f"{self.sizes[0]}")
        return X


class TrainPlan:
    """A ``NetPlan`` plus the reusable workspace and optimizer settings of an epoch.

    Parameters
    ----------
    net : NetPlan
    batch_size : int
        Rows per step (the last step of an epoch may have fewer).
    loss : {"mse", "softmax_xent", "sigmoid_bce", "poisson"}
    dropout : sequence of float, optional
        A rate in [0, 1) per layer: the fraction of the layer's outputs that
        ``train_epoch`` and ``loss_gradient`` drop (and scale the others by
        ``1 / (1 - rate)``), by the counter-based mask of ``nncore.backends.dropout``.
        The last layer's rate must be 0, and a softmax layer takes none.

    Call ``configure`` before each epoch to hand over the optimizer's state
    (``Ops.loss_gradient`` needs no optimizer), and ``set_dropout`` to give the
    dropout generator its key and step.
    """

    def __init__(self, net: NetPlan, batch_size: int, loss: str,
                 dropout: Sequence[float] | None = None) -> None:
        op = "TrainPlan"
        self.net = net
        self._dropout(op, dropout)
        self.batch_size = _checks.count(op, "batch_size", batch_size, 1)
        if loss not in LOSSES:
            raise ValueError(f"{op}: loss must be one of {LOSSES}, got {loss!r}")
        self.loss = loss
        self.loss_code = LOSSES.index(loss)
        B, sizes = self.batch_size, net.sizes
        # Block widths in workspace order: Xb, Tb, then A_i and D_i per layer.
        widths = [int(sizes[0]), int(sizes[-1])]
        for width in sizes[1:]:
            widths += [int(width), int(width)]
        ends = np.cumsum([B * w for w in widths])
        self.work_off = np.concatenate(([0], ends[:-1])).astype(np.int64)
        self.work = np.zeros(int(ends[-1]), net.dtype)
        blocks = [self.work[at : at + B * w].reshape(B, w)
                  for at, w in zip(self.work_off, widths, strict=True)]
        self.xb, self.tb = blocks[0], blocks[1]
        self.A: list[np.ndarray] = blocks[2::2]
        self.D: list[np.ndarray] = blocks[3::2]
        self.labels = np.zeros(B, np.int64)
        self.row_weights = np.zeros(B, np.float64)  # a batch's loss multipliers
        # optimizer settings, filled by configure()
        self.opt_code = 0
        self.hyper: dict[str, float] = dict.fromkeys(HYPER, 0.0)
        self._empty = np.zeros(0, net.dtype)
        self.s1 = self.s2 = self._empty
        # [optimizer step t, steps of the last call, dropout step (one per training step)]
        self.counters = np.zeros(3, np.int64)
        self.fused_sgd = False

    def _dropout(self, op: str, dropout: Sequence[float] | None) -> None:
        L = self.net.n_layers
        rates = [0.0] * L if dropout is None else list(dropout)
        if len(rates) != L:
            raise ValueError(f"{op}: need one dropout rate per layer ({L}), got {len(rates)}")
        rates = [_checks.number(op, "dropout", r, low=0.0, high=1.0, high_open=True)
                 for r in rates]
        if rates[-1] != 0:
            raise ValueError(f"{op}: argument 'dropout': the last layer's outputs cannot be "
                             f"dropped (rate {rates[-1]}); dropout goes between layers")
        for i, rate in enumerate(rates):
            if rate and activations.NAMES[self.net.acts[i]] == "softmax":
                raise ValueError(f"{op}: argument 'dropout': layer {i} is a softmax layer, "
                                 "which takes no dropout")
        #: per layer: the rate, the integer threshold of the mask, 1 / (1 - rate)
        self.dropout = np.array(rates, np.float64)
        self.drop_thr = np.array([dropout_.threshold(r) for r in rates], np.uint64)
        self.drop_scale = 1.0 / (1.0 - self.dropout)
        self.drop_key = 0

    @property
    def has_dropout(self) -> bool:
        return bool(self.drop_thr.any())

    def set_dropout(self, key: int, step: int) -> None:
        """The dropout generator's key (``Sequential.dropout_seed``, taken modulo 2**64)
        and the step count of the next training step (``counters[2]``)."""
        self.drop_key = int(key) & dropout_.MASK64
        self.counters[2] = _checks.count("TrainPlan.set_dropout", "step", step, 0)

    @property
    def dropout_step(self) -> int:
        """The dropout generator's step count after the last epoch."""
        return int(self.counters[2])

    def configure(self, kind: str, hyper: dict[str, float], s1: np.ndarray | None,
                  s2: np.ndarray | None, t: int) -> None:
        """Set the optimizer: kind ("sgd" or "adam"), hyper-parameters, state, step.

        ``hyper`` keys are names of ``_codes.HYPER``; those missing are 0.
        """
        op = "TrainPlan.configure"
        if kind not in OPTIMIZERS:
            raise ValueError(f"{op}: kind must be one of {OPTIMIZERS}, got {kind!r}")
        unknown = set(hyper) - set(HYPER)
        if unknown:
            raise ValueError(f"{op}: unknown hyper-parameters {sorted(unknown)}; expected "
                             f"names from {HYPER}")
        self.opt_code = OPTIMIZERS.index(kind)
        for key in HYPER:
            self.hyper[key] = float(hyper.get(key, 0.0))
        p = self.net.w.shape
        self.s1 = self._empty if s1 is None else s1
        self.s2 = self._empty if s2 is None else s2
        for name, s in (("s1", self.s1), ("s2", self.s2)):
            if s.size:
                _checks.floats(op, (name,), w=(self.net.w, 1), **{name: (s, 1)})
                _checks.shape(op, name, s, p)
        need = {"sgd": (self.hyper["momentum"] > 0, False), "adam": (True, True)}[kind]
        if (need[0] and self.s1.shape != p) or (need[1] and self.s2.shape != p):
            raise ValueError(f"{op}: the {kind} state buffers must match the parameters")
        self.counters[0] = _checks.count(op, "t", t, 0)
        self.counters[1] = 0
        # Plain SGD needs no gradient buffer: BLAS can apply the update in the dW GEMM.
        self.fused_sgd = kind == "sgd" and self.hyper["momentum"] == 0

    @property
    def step(self) -> int:
        """The optimizer's step count after the last epoch."""
        return int(self.counters[0])

    def check_targets(self, op: str, X: np.ndarray, targets: np.ndarray) -> None:
        """Targets: int64 labels in [0, k) for softmax_xent, else (n, k) of the dtype."""
        k = int(self.net.sizes[-1])
        if self.loss == "softmax_xent":
            _checks.labels(op, "targets", targets, X.shape[0])
            if targets.size and (targets.min() < 0 or targets.max() >= k):
                raise ValueError(f"{op}: argument 'targets' must hold labels in [0, {k})")
        else:
            _checks.floats(op, (), targets=(targets, 2))
            if targets.dtype != self.net.dtype:
                raise TypeError(f"{op}: argument 'targets' has dtype {targets.dtype}, "
                                f"expected {self.net.dtype}")
            _checks.shape(op, "targets", targets, (X.shape[0], k))


def check_order(op: str, order: np.ndarray, n: int) -> None:
    """``order`` must be 1-D int64 indices into ``n`` samples (unchecked in the kernel)."""
    _checks.labels(op, "order", order, order.shape[0] if isinstance(order, np.ndarray) else -1)
    if order.size and (order.min() < 0 or order.max() >= n):
        raise ValueError(f"{op}: argument 'order' must hold sample indices in [0, {n})")
