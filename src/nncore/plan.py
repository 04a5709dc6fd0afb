"""Plans: a model's layer list compiled into flat arrays that one kernel call can run.

A ``NetPlan`` describes the network (layer widths, activation codes, slopes) over the
model's flat parameter and gradient buffers. A ``TrainPlan`` adds what a training epoch
needs for one batch size: the workspace (batch, targets and, per layer, the output
``A_i`` and its gradient ``D_i``), allocated once and reused for every step, plus the
optimizer's kind, hyper-parameters and state. ``Ops.train_epoch`` and
``Ops.mlp_forward`` take plans; the NumPy backend walks the same workspace through views
(``A``, ``D``), the Cython backend through pointers, so both see one memory layout::

    work = [Xb (B x d0) | Tb (B x k) | A_0 | D_0 | A_1 | D_1 | ... ]   (A_i, D_i: B x d_{i+1})
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nncore import _checks, activations

LOSS_KINDS = ("mse", "softmax_xent", "sigmoid_bce")
OPTIMIZER_KINDS = ("sgd", "adam")
#: Order of the hyper-parameters handed to the kernel.
HYPER_KEYS = ("lr", "momentum", "nesterov", "weight_decay", "beta1", "beta2", "eps", "decoupled")


class NetPlan:
    """An MLP as flat arrays: widths ``sizes = [d0, d1, ..., k]`` and per-layer codes.

    Parameters
    ----------
    sizes : sequence or array of int
        Input width, then each layer's width (all >= 1).
    activations : sequence of str
        One activation name per layer.
    slopes : sequence or array of float
        One leaky-ReLU slope per layer (>= 0).
    w, g : ndarray
        The flat parameter and gradient buffers: all weights (layer by layer, each
        ``W_i`` of shape ``(d_i, d_{i+1})`` row-major), then all biases.
    """

    def __init__(self, sizes: Sequence[int] | np.ndarray, activations_: Sequence[str],
                 slopes: Sequence[float] | np.ndarray, w: np.ndarray, g: np.ndarray) -> None:
        op = "NetPlan"
        self.sizes = np.array([_checks.count(op, "sizes", s, 1) for s in sizes], np.int64)
        if len(activations_) != len(self.sizes) - 1 or len(slopes) != len(activations_):
            raise ValueError(f"{op}: need one activation and one slope per layer")
        self.acts = np.array([activations.code(a) for a in activations_], np.int32)
        self.slopes = np.array([_checks.number(op, "slopes", s, low=0.0) for s in slopes])
        self.dtype = _checks.floats(op, ("w", "g"), w=(w, 1), g=(g, 1))
        self.n_weights = int(np.sum(self.sizes[:-1] * self.sizes[1:]))
        size = self.n_weights + int(self.sizes[1:].sum())
        _checks.shape(op, "w", w, (size,))
        _checks.shape(op, "g", g, (size,))
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
        out, w_at, b_at = [], 0, self.n_weights
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            out.append((flat[w_at : w_at + n_in * n_out].reshape(n_in, n_out),
                        flat[b_at : b_at + n_out]))
            w_at += n_in * n_out
            b_at += n_out
        return out

    def check_input(self, op: str, X: np.ndarray) -> None:
        """``X`` must be (n, d0), C-contiguous, of the plan's dtype."""
        _checks.floats(op, (), X=(X, 2))
        if X.dtype != self.dtype:
            raise TypeError(f"{op}: argument 'X' has dtype {X.dtype}, expected {self.dtype}")
        if X.shape[1] != self.sizes[0]:
            raise ValueError(f"{op}: argument 'X' has {X.shape[1]} columns, expected "
                             f"{self.sizes[0]}")


class TrainPlan:
    """A ``NetPlan`` plus the reusable workspace and optimizer settings of an epoch.

    Parameters
    ----------
    net : NetPlan
    batch_size : int
        Rows per step (the last step of an epoch may have fewer).
    loss : {"mse", "softmax_xent", "sigmoid_bce"}

    Call ``configure`` before each epoch to hand over the optimizer's state.
    """

    def __init__(self, net: NetPlan, batch_size: int, loss: str) -> None:
        op = "TrainPlan"
        self.net = net
        self.batch_size = _checks.count(op, "batch_size", batch_size, 1)
        if loss not in LOSS_KINDS:
            raise ValueError(f"{op}: loss must be one of {LOSS_KINDS}, got {loss!r}")
        self.loss = loss
        self.loss_code = LOSS_KINDS.index(loss)
        B, sizes = self.batch_size, net.sizes
        d0, k = int(sizes[0]), int(sizes[-1])
        self.work = np.zeros(B * (d0 + k + 2 * int(sizes[1:].sum())), net.dtype)
        self.xb = self.work[: B * d0].reshape(B, d0)
        self.tb = self.work[B * d0 : B * (d0 + k)].reshape(B, k)
        self.A: list[np.ndarray] = []
        self.D: list[np.ndarray] = []
        at = B * (d0 + k)
        for width in sizes[1:]:
            width = int(width)
            self.A.append(self.work[at : at + B * width].reshape(B, width))
            self.D.append(self.work[at + B * width : at + 2 * B * width].reshape(B, width))
            at += 2 * B * width
        self.labels = np.zeros(B, np.int64)
        self.acc = np.zeros(int(sizes[1:].max()), np.float64)
        # optimizer settings, filled by configure()
        self.opt_code = 0
        self.hyper = np.zeros(len(HYPER_KEYS), np.float64)
        self._empty = np.zeros(0, net.dtype)
        self.s1 = self.s2 = self._empty
        self.counters = np.zeros(2, np.int64)  # [optimizer step t, steps of the last call]
        self.fused_sgd = False

    def configure(self, kind: str, hyper: dict[str, float], s1: np.ndarray | None,
                  s2: np.ndarray | None, t: int) -> None:
        """Set the optimizer: kind ("sgd" or "adam"), hyper-parameters, state, step."""
        op = "TrainPlan.configure"
        if kind not in OPTIMIZER_KINDS:
            raise ValueError(f"{op}: kind must be one of {OPTIMIZER_KINDS}, got {kind!r}")
        self.opt_code = OPTIMIZER_KINDS.index(kind)
        for i, key in enumerate(HYPER_KEYS):  # element by element: no temporary array
            self.hyper[i] = float(hyper.get(key, 0.0))
        p = self.net.w.shape
        self.s1 = self._empty if s1 is None else s1
        self.s2 = self._empty if s2 is None else s2
        for name, s in (("s1", self.s1), ("s2", self.s2)):
            if s.size:
                _checks.floats(op, (name,), w=(self.net.w, 1), **{name: (s, 1)})
                _checks.shape(op, name, s, p)
        need = {"sgd": (self.hyper[1] > 0, False), "adam": (True, True)}[kind]
        if (need[0] and self.s1.shape != p) or (need[1] and self.s2.shape != p):
            raise ValueError(f"{op}: the {kind} state buffers must match the parameters")
        self.counters[0] = _checks.count(op, "t", t, 0)
        self.counters[1] = 0
        # Plain SGD needs no gradient buffer: BLAS can apply the update in the dW GEMM.
        self.fused_sgd = kind == "sgd" and self.hyper[1] == 0

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
