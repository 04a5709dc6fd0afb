"""Optimizers: one fused ``Ops`` update over a model's flat parameter buffer per step.

Each optimizer keeps its state (momentum, moments, step count) in flat buffers the size
of the parameters, allocated on the first step and reset if it is handed a different
parameter store. Weight decay applies to the weights only (``w[:n_weights]``), never
to the biases. The update rules are PyTorch's (``torch.optim.SGD``, ``Adam``, ``AdamW``).

The state belongs to one (optimizer, parameter store) pair, so the model that owns both
carries it: pickling or deep-copying a ``Sequential`` (or an estimator holding one) takes
``get_state`` copies along and the restored model re-attaches them to its new store with
``set_state``; ``nncore.io.save(..., include_optimizer=True)`` writes them to the file. An
optimizer pickled or copied on its own keeps its hyper-parameters and starts fresh.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from nncore.backends import _checks
from nncore.backends.ops import Ops
from nncore.backends.plan import ParamStore


class Optimizer:
    """Base class: ``step(ops, params)`` applies one update in place."""

    name: ClassVar[str] = "optimizer"
    #: Names of the state buffers (attributes ``_<name>``, each the size of the parameters).
    buffers: ClassVar[tuple[str, ...]] = ()
    #: Whether the state includes a step count (attribute ``_t``).
    counts_steps: ClassVar[bool] = False
    _t: int  # the step count, set by optimizers that count steps

    def __init__(self, lr: float) -> None:
        self.lr = _positive("lr", lr)
        self._store: ParamStore | None = None

    def _fresh(self, store: ParamStore) -> bool:
        """True (and state reset) when ``store`` is not the one the state belongs to."""
        if self._store is store:
            return False
        self._store = store
        return True

    def reset(self) -> None:
        """Forget the state (momentum, moments, step count)."""
        self._store = None

    def get_config(self) -> dict[str, Any]:
        """Hyper-parameters, as keyword arguments of the constructor."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def get_state(self, store: ParamStore) -> dict[str, Any] | None:
        """Copies of the state that belongs to ``store``, or None if there is none.

        Returns
        -------
        dict or None
            ``{"step": int, <buffer name>: ndarray, ...}`` (the names in ``buffers``;
            ``step`` is 0 for optimizers that do not count steps); None when the state is
            fresh or belongs to another store, or the optimizer declares no ``buffers``.
        """
        if self._store is not store or not self.buffers:
            return None
        state: dict[str, Any] = {"step": int(self._t) if self.counts_steps else 0}
        for name in self.buffers:
            state[name] = getattr(self, "_" + name).copy()
        return state

    def set_state(self, store: ParamStore, state: dict[str, Any]) -> None:
        """Adopt ``state`` (as from ``get_state``) as the state for ``store``, copying it.

        Raises
        ------
        ValueError
            The keys are not ``step`` and the names in ``buffers``, a buffer is not an
            array of the store's size and dtype, or the step is not an int >= 0 (0 for
            optimizers that do not count steps).
        """
        if not self.buffers or set(state) != {"step", *self.buffers}:
            raise ValueError(f"{type(self).__name__} state must have the keys "
                             f"{['step', *self.buffers]}, got {sorted(state)}")
        step = state["step"]
        if (not isinstance(step, int | np.integer) or isinstance(step, bool) or step < 0
                or (step and not self.counts_steps)):
            raise ValueError(f"optimizer state 'step' must be an int >= 0 (0 for "
                             f"{type(self).__name__}), got {step!r}")
        arrays = {}
        for name in self.buffers:
            buf = state[name]
            if (not isinstance(buf, np.ndarray) or buf.dtype != store.dtype
                    or buf.shape != store.w.shape):
                raise ValueError(f"optimizer state {name!r} must be a {store.dtype} array "
                                 f"of shape {store.w.shape}")
            arrays[name] = np.array(buf, order="C")  # a private, writable copy
        for name, buf in arrays.items():
            setattr(self, "_" + name, buf)
        if self.counts_steps:
            self._t = int(step)
        self._store = store

    def __getstate__(self) -> dict[str, Any]:
        # State buffers belong to one (optimizer, store) pair: the owning model carries
        # them (get_state/set_state); an optimizer copied on its own starts fresh.
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._store = None

    def step(self, ops: Ops, store: ParamStore) -> None:
        """Update ``store.w`` in place from the gradients in ``store.g``."""
        raise NotImplementedError

    def plan_state(self, store: ParamStore) -> tuple[str, dict[str, float], np.ndarray | None,
                                                     np.ndarray | None, int]:
        """``(kind, hyper-parameters, state1, state2, step)`` for ``TrainPlan.configure``.

        The state arrays are this optimizer's own buffers, so a native epoch updates
        them in place; ``set_step`` takes back the step count afterwards.
        """
        raise NotImplementedError

    def set_step(self, t: int) -> None:
        """Record the step count reached by a native epoch."""


def _positive(name: str, value: Any) -> float:
    v = _checks.number("", name, value)
    if v <= 0:
        raise ValueError(f"argument '{name}' must be > 0, got {v}")
    return v


def _nonnegative(name: str, value: Any) -> float:
    v = _checks.number("", name, value)
    if v < 0:
        raise ValueError(f"argument '{name}' must be >= 0, got {v}")
    return v


def _unit(name: str, value: Any) -> float:
    v = _nonnegative(name, value)
    if v >= 1:
        raise ValueError(f"argument '{name}' must be in [0, 1), got {v}")
    return v


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum and L2 decay.

    Parameters
    ----------
    lr : float
        Learning rate, > 0.
    momentum : float
        Momentum factor in [0, 1).
    nesterov : bool
        Nesterov momentum (needs ``momentum > 0``).
    weight_decay : float
        L2 penalty coefficient added to the weights' gradients (not the biases'), >= 0.
    """

    name = "sgd"
    buffers = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        self.momentum = _unit("momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("argument 'nesterov' needs momentum > 0")
        self.weight_decay = _nonnegative("weight_decay", weight_decay)

    def step(self, ops: Ops, store: ParamStore) -> None:
        if self._fresh(store):
            self._v = np.zeros_like(store.w)
        ops.sgd_update(store.w, store.g, self._v, self.lr, self.momentum, self.nesterov,
                       self.weight_decay, store.n_weights)

    def plan_state(self, store: ParamStore) -> tuple[str, dict[str, float], np.ndarray | None,
                                                     np.ndarray | None, int]:
        if self._fresh(store):
            self._v = np.zeros_like(store.w)
        hyper = {"lr": self.lr, "momentum": self.momentum, "nesterov": float(self.nesterov),
                 "weight_decay": self.weight_decay}
        return "sgd", hyper, self._v, None, 0


class Adam(Optimizer):
    """Adam (Kingma & Ba), with ``weight_decay`` as an L2 term added to the gradients.

    Parameters
    ----------
    lr : float
        Learning rate, > 0.
    beta1, beta2 : float
        Decay rates of the first and second moment estimates, in [0, 1).
    eps : float
        Term added to the denominator, > 0.
    weight_decay : float
        L2 coefficient on the weights (not the biases), >= 0.
    """

    name = "adam"
    decoupled: ClassVar[bool] = False
    buffers = ("m", "v")
    counts_steps = True

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        self.beta1 = _unit("beta1", beta1)
        self.beta2 = _unit("beta2", beta2)
        self.eps = _positive("eps", eps)
        self.weight_decay = _nonnegative("weight_decay", weight_decay)

    def step(self, ops: Ops, store: ParamStore) -> None:
        if self._fresh(store):
            self._m = np.zeros_like(store.w)
            self._v = np.zeros_like(store.w)
            self._t = 0
        self._t += 1
        ops.adam_update(store.w, store.g, self._m, self._v, self.lr, self.beta1, self.beta2,
                        self.eps, self._t, self.weight_decay, self.decoupled, store.n_weights)

    def plan_state(self, store: ParamStore) -> tuple[str, dict[str, float], np.ndarray | None,
                                                     np.ndarray | None, int]:
        if self._fresh(store):
            self._m = np.zeros_like(store.w)
            self._v = np.zeros_like(store.w)
            self._t = 0
        hyper = {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                 "weight_decay": self.weight_decay, "decoupled": float(self.decoupled)}
        return "adam", hyper, self._m, self._v, self._t

    def set_step(self, t: int) -> None:
        self._t = int(t)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``w -= lr * wd * w``.

    Parameters are those of ``Adam``; ``weight_decay`` defaults to 0.01 as in PyTorch.
    """

    name = "adamw"
    decoupled = True

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay)


_PER_STEP = ("LBFGS is a full-batch optimizer run by Sequential.fit (through SciPy): it has "
             "no per-step update; use SGD, Adam or AdamW for step-wise training")


class LBFGS(Optimizer):
    """Limited-memory BFGS on the full batch (SciPy's ``minimize(method="L-BFGS-B")``).

    The objective is the mean loss over the training rows (weighted by ``sample_weight``
    when given) plus ``weight_decay / 2 * ||W||^2`` over the weights (not the biases).
    Each iteration is reported to ``fit``'s callbacks as one epoch (``History``, progress,
    ``EarlyStopping``); learning-rate schedules do not apply (there is no learning rate:
    a line search picks each step).

    Parameters
    ----------
    max_iter : int
        Iterations at most, >= 1 (``fit(epochs=...)``, when given, replaces it).
    max_fun : int
        Loss-and-gradient evaluations at most, >= 1 (each iteration's line search takes
        one or more). As scikit-learn's ``max_fun``.
    tol : float
        Stop once the largest component of the gradient is at most ``tol`` (SciPy's
        ``gtol``, as scikit-learn's ``tol`` for this solver), >= 0. SciPy also stops when
        an iteration lowers the objective by less than its relative ``ftol`` (2.2e-9).
    history : int
        Correction pairs kept to approximate the curvature (SciPy's ``maxcor``), >= 1.
    weight_decay : float
        L2 coefficient on the weights, >= 0.

    Examples
    --------
    >>> import nncore
    >>> X, y = nncore.make_moons(300, seed=0)
    >>> model = nncore.Sequential([nncore.Dense(16, "tanh"), nncore.Dense(2)],
    ...                           loss="softmax_cross_entropy", seed=0)
    >>> history = model.fit(X, y, optimizer=nncore.LBFGS(max_iter=50), verbose=0)
    >>> model.optimizer.last_result["n_iter"] <= 50
    True
    """

    name = "lbfgs"

    def __init__(self, max_iter: int = 200, max_fun: int = 15000, tol: float = 1e-4,
                 history: int = 10, weight_decay: float = 0.0) -> None:
        # no learning rate: Optimizer.__init__ (which takes one) is not called
        self._store: ParamStore | None = None
        self.max_iter = _checks.count("", "max_iter", max_iter, 1)
        self.max_fun = _checks.count("", "max_fun", max_fun, 1)
        self.tol = _nonnegative("tol", tol)
        self.history = _checks.count("", "history", history, 1)
        self.weight_decay = _nonnegative("weight_decay", weight_decay)
        self._result: dict[str, Any] | None = None

    @property
    def last_result(self) -> dict[str, Any] | None:
        """How the last ``fit`` with this optimizer ended, or None before one.

        ``{"n_iter", "n_fun", "converged", "message", "objective"}``: iterations and
        evaluations used, whether SciPy reported convergence (False when stopped by
        ``max_iter``/``max_fun`` or a callback), its message, and the objective (mean
        loss plus the L2 term) at the final weights.
        """
        return self._result

    def step(self, ops: Ops, store: ParamStore) -> None:
        raise TypeError(_PER_STEP)

    def plan_state(self, store: ParamStore) -> tuple[str, dict[str, float], np.ndarray | None,
                                                     np.ndarray | None, int]:
        raise TypeError(_PER_STEP)


#: The built-in optimizers by name (each constructible with no arguments).
OPTIMIZERS: dict[str, type[SGD | Adam | LBFGS]] = {
    cls.name: cls for cls in (SGD, Adam, AdamW, LBFGS)}


def get_optimizer(optimizer: Optimizer | str) -> Optimizer:
    """Return an ``Optimizer`` from an instance or one of the names in ``OPTIMIZERS``."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return OPTIMIZERS[optimizer]()
    raise ValueError(
        f"argument 'optimizer' must be an Optimizer or one of "
        f"{', '.join(map(repr, OPTIMIZERS))}, got {optimizer!r}"
    )
