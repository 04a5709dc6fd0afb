"""JAX as a ``bench/compare.py`` system: the whole epoch compiled, and a jitted forward.

Training: one ``jax.jit`` function per epoch, ``lax.scan`` over the full batches (in order,
as every system takes them) and, when the rows do not divide into batches, one more step
on the rest, in the same compiled function. Each step is ``jax.value_and_grad`` of the
batch's mean loss (softmax cross-entropy via ``log_softmax``, or binary cross-entropy
with logits written as nncore writes it) and plain SGD, ``p - lr * g``; the epoch returns
the size-weighted mean of the batch losses, as the other systems do. The function is
compiled ahead of time (``lower(...).compile()``) for the full epoch when the trainer is
made, the data is put on the device then and the compiled epoch runs once (its first run
was ~25 % slower than the next ones on W2), so none of that is timed.

Prediction: the forward pass and link under ``jax.jit``, compiled at the first call of a
shape (the harness's warm-up), each call waiting for its result (``block_until_ready``).

Threads: XLA's CPU thread pool is fixed when jax is imported; the harness's thread
settings do not reach it (the report says so). jax is imported only when used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nncore.cli._bench_workloads import Net, System, Trainer, Weights


def _functions(net: Net) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(epoch, forward)``: un-jitted JAX functions of ``net``."""
    import jax
    import jax.numpy as jnp

    act = jax.nn.relu if net.activation == "relu" else jnp.tanh

    def logits(params: Any, x: Any) -> Any:
        for i, (W, b) in enumerate(params):
            x = x @ W + b
            if i < len(params) - 1:
                x = act(x)
        return x

    def loss(params: Any, x: Any, y: Any) -> Any:
        z = logits(params, x)
        if net.loss == "binary":
            t = y.astype(z.dtype).reshape(-1, 1)
            return jnp.mean(jnp.maximum(z, 0) - z * t + jnp.log1p(jnp.exp(-jnp.abs(z))))
        log_p = jax.nn.log_softmax(z, axis=1)
        return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))

    grad = jax.value_and_grad(loss)

    def step(params: Any, batch: Any) -> Any:
        value, g = grad(params, *batch)
        return jax.tree.map(lambda p, d: p - net.lr * d, params, g), value

    def epoch(params: Any, xs: Any, ys: Any, x_rest: Any, y_rest: Any) -> Any:
        params, losses = jax.lax.scan(step, params, (xs, ys))
        total, n = jnp.sum(losses) * xs.shape[1], xs.shape[0] * xs.shape[1]
        if x_rest.shape[0]:
            params, value = step(params, (x_rest, y_rest))
            total, n = total + value * x_rest.shape[0], n + x_rest.shape[0]
        return params, total / n

    def forward(params: Any, x: Any) -> Any:
        z = logits(params, x)
        if net.loss == "binary":
            p = jax.nn.sigmoid(z)
            return jnp.concatenate([1 - p, p], axis=1)
        return jax.nn.softmax(z, axis=1)

    return epoch, forward


def _params(weights: Weights) -> list[tuple[Any, Any]]:
    """The weights as JAX arrays (copies: nothing aliases the caller's arrays)."""
    import jax.numpy as jnp

    return [(jnp.array(W, jnp.float32, copy=True), jnp.array(b, jnp.float32, copy=True))
            for W, b in weights]


class JaxSystem(System):
    """JAX on the CPU: the epoch under ``jit`` + ``lax.scan``, a jitted forward pass."""

    name = "jax"

    def version(self) -> str:
        import jax

        return str(jax.__version__)

    def trainer(self, net: Net, X: np.ndarray, y: np.ndarray) -> Trainer:
        return _JaxTrainer(net, X, y)

    def predictor(self, net: Net, weights: Weights) -> Callable[[np.ndarray], Any]:
        import jax

        forward = jax.jit(_functions(net)[1])
        params = _params(weights)

        def predict_proba(x: np.ndarray) -> Any:
            return forward(params, x).block_until_ready()

        return predict_proba


class _JaxTrainer:
    def __init__(self, net: Net, X: np.ndarray, y: np.ndarray) -> None:
        import jax
        import jax.numpy as jnp

        self.net, self.X, self.y = net, X, y.astype(np.int32)
        self.epoch = jax.jit(_functions(net)[0])
        self.params: list[tuple[Any, Any]] = []
        self._compiled: dict[int, tuple[Any, tuple[Any, ...]]] = {}
        shapes = [(jax.ShapeDtypeStruct((n_in, n_out), jnp.float32),
                   jax.ShapeDtypeStruct((n_out,), jnp.float32)) for n_in, n_out in net.pairs]
        self._shapes = shapes
        self._prepare(len(X))

    def _prepare(self, n: int) -> tuple[Any, tuple[Any, ...]]:
        """The compiled epoch over the first ``n`` rows and its data on the device."""
        import jax.numpy as jnp

        if n not in self._compiled:
            bs = self.net.batch_size
            full = n // bs * bs
            data = (jnp.asarray(self.X[:full].reshape(-1, bs, self.X.shape[1])),
                    jnp.asarray(self.y[:full].reshape(-1, bs)),
                    jnp.asarray(self.X[full:n]), jnp.asarray(self.y[full:n]))
            compiled = self.epoch.lower(self._shapes, *data).compile()
            zeros = [(jnp.zeros(W.shape, W.dtype), jnp.zeros(b.shape, b.dtype))
                     for W, b in self._shapes]
            float(compiled(zeros, *data)[1])  # the first run, not timed
            self._compiled[n] = (compiled, data)
        return self._compiled[n]

    def reset(self, weights: Weights) -> None:
        self.params = _params(weights)

    def run(self, rows: int | None = None) -> float:
        compiled, data = self._prepare(len(self.X) if rows is None else rows)
        self.params, loss = compiled(self.params, *data)
        return float(loss)
