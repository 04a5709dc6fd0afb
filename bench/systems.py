"""The systems ``bench/compare.py`` times beside nncore, one small class each.

The interface (``System``, ``Trainer``, ``Net``) and nncore's own system live in the
package (``nncore.cli._bench_workloads``), which ``nncore bench`` uses too; the other systems
live here, outside the installed package, so that nncore never imports PyTorch,
scikit-learn, ONNX Runtime or JAX to benchmark (the last two in ``onnx_system.py`` and
``jax_system.py``). Every system trains the same network from the same initial weights
``[(W, b), ...]`` (``W`` of shape ``(n_in, n_out)``), in the same batch order, with plain
SGD, and predicts with them; ONNX Runtime only predicts. The optional libraries are
imported only when their system is used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.jax_system import JaxSystem
from bench.onnx_system import OnnxRuntimeSystem
from nncore.cli._bench_workloads import Net, NncoreSystem, System, Trainer, Weights

#: How to get the optional systems.
INSTALL_HINT = ('pip install ".[compare]" (scikit-learn, torch==2.13.0 CPU build, onnx, '
                'onnxruntime, jax CPU)')

#: The modules an optional system needs, by system name.
MODULES = {"torch": ("torch",), "sklearn": ("sklearn.neural_network",),
           "onnxruntime": ("onnx", "onnxruntime"), "jax": ("jax",)}


# ---------------------------------------------------------------------- plain NumPy
def numpy_forward(weights: Weights, X: np.ndarray, activation: str) -> list[np.ndarray]:
    """Outputs of every layer, input first, logits last (plain NumPy)."""
    outs = [X]
    for i, (W, b) in enumerate(weights):
        Z = outs[-1] @ W + b
        if i < len(weights) - 1:
            Z = np.maximum(Z, 0) if activation == "relu" else np.tanh(Z)
        outs.append(Z)
    return outs


def numpy_loss(logits: np.ndarray, y: np.ndarray, kind: str) -> tuple[float, np.ndarray]:
    """Mean loss over the batch and its gradient with respect to the logits."""
    n = len(logits)
    if kind == "binary":
        t = y.reshape(-1, 1).astype(logits.dtype)
        loss = np.maximum(logits, 0) - logits * t + np.log1p(np.exp(-np.abs(logits)))
        return float(loss.mean()), (0.5 * (1 + np.tanh(0.5 * logits)) - t) / n
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_sum
    rows = np.arange(n)
    grad = np.exp(log_p)
    grad[rows, y] -= 1
    return float(-log_p[rows, y].mean()), grad / n


class NumpyLoopSystem(System):
    """The reference: the training loop written straightforwardly in NumPy."""

    name = "numpy-loop"

    def version(self) -> str:
        return np.__version__

    def trainer(self, net: Net, X: np.ndarray, y: np.ndarray) -> Trainer:
        return _NumpyLoopTrainer(net, X, y)

    def predictor(self, net: Net, weights: Weights) -> Callable[[np.ndarray], Any]:
        weights = [(W.copy(), b.copy()) for W, b in weights]

        def predict_proba(x: np.ndarray) -> np.ndarray:
            z = numpy_forward(weights, x, net.activation)[-1]
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

        return predict_proba


class _NumpyLoopTrainer:
    def __init__(self, net: Net, X: np.ndarray, y: np.ndarray) -> None:
        self.net, self.X, self.y = net, X, y
        self.weights: list[tuple[np.ndarray, np.ndarray]] = []

    def reset(self, weights: Weights) -> None:
        self.weights = [(W.copy(), b.copy()) for W, b in weights]

    def run(self, rows: int | None = None) -> float:
        net, weights = self.net, self.weights
        n = len(self.X) if rows is None else rows
        total = 0.0
        for start in range(0, n, net.batch_size):
            xb, yb = self.X[start:start + net.batch_size], self.y[start:start + net.batch_size]
            outs = numpy_forward(weights, xb, net.activation)
            loss, grad = numpy_loss(outs[-1], yb, net.loss)
            total += loss * len(xb)
            for i in range(len(weights) - 1, -1, -1):
                W, b = weights[i]
                dW, db = outs[i].T @ grad, grad.sum(axis=0)
                if i > 0:
                    H = outs[i]
                    dH = grad @ W.T
                    grad = dH * (H > 0) if net.activation == "relu" else dH * (1 - H * H)
                W -= net.lr * dW
                b -= net.lr * db
        return total / n


# ---------------------------------------------------------------------- PyTorch
class TorchSystem(System):
    """``torch.nn.Sequential`` on the CPU, ``torch.optim.SGD``, the usual loop."""

    name = "torch"

    def version(self) -> str:
        import torch

        return str(torch.__version__)

    def _model(self, net: Net) -> Any:
        import torch

        layers: list[Any] = []
        for i, (n_in, n_out) in enumerate(net.pairs):
            layers.append(torch.nn.Linear(n_in, n_out))
            if i < len(net.pairs) - 1:
                layers.append(torch.nn.ReLU() if net.activation == "relu" else torch.nn.Tanh())
        return torch.nn.Sequential(*layers)

    def trainer(self, net: Net, X: np.ndarray, y: np.ndarray) -> Trainer:
        return _TorchTrainer(self._model(net), net, X, y)

    def predictor(self, net: Net, weights: Weights) -> Callable[[np.ndarray], Any]:
        import torch

        model = self._model(net)
        _torch_load(model, weights)
        model.eval()
        link = torch.sigmoid if net.loss == "binary" else (lambda z: torch.softmax(z, dim=1))

        def predict_proba(x: np.ndarray) -> Any:
            with torch.no_grad():
                return link(model(torch.from_numpy(x)))

        return predict_proba


def _torch_load(model: Any, weights: Weights) -> None:
    import torch

    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, (W, b) in zip(linears, weights, strict=True):
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            lin.bias.copy_(torch.from_numpy(b))


class _TorchTrainer:
    def __init__(self, model: Any, net: Net, X: np.ndarray, y: np.ndarray) -> None:
        import torch

        self.model, self.net = model, net
        Xt = torch.from_numpy(X)
        self.loss_fn: Any
        if net.loss == "binary":
            yt = torch.from_numpy(y.astype(np.float32).reshape(-1, 1))
            self.loss_fn = torch.nn.BCEWithLogitsLoss()
        else:
            yt = torch.from_numpy(y.astype(np.int64))
            self.loss_fn = torch.nn.CrossEntropyLoss()
        self.batches = list(zip(Xt.split(net.batch_size), yt.split(net.batch_size),
                                strict=True))

    def reset(self, weights: Weights) -> None:
        _torch_load(self.model, weights)

    def run(self, rows: int | None = None) -> float:
        import torch

        n_batches = len(self.batches) if rows is None else -(-rows // self.net.batch_size)
        opt = torch.optim.SGD(self.model.parameters(), lr=self.net.lr)
        total, n = 0.0, 0
        for xb, yb in self.batches[:n_batches]:
            opt.zero_grad()
            loss = self.loss_fn(self.model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
            n += len(xb)
        return total / n


# ---------------------------------------------------------------------- scikit-learn
class SklearnSystem(System):
    """``sklearn.neural_network.MLPClassifier`` with solver="sgd", one ``partial_fit``."""

    name = "sklearn"

    def version(self) -> str:
        import sklearn

        return str(sklearn.__version__)

    def _model(self, net: Net, X: np.ndarray, weights: Weights | None = None) -> Any:
        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(hidden_layer_sizes=net.sizes[1:-1], activation=net.activation,
                            solver="sgd", learning_rate_init=net.lr, learning_rate="constant",
                            momentum=0.0, nesterovs_momentum=False, alpha=0.0,
                            batch_size=net.batch_size, shuffle=False, max_iter=1,
                            random_state=0)
        # partial_fit on a few rows allocates coefs_/intercepts_ in X's dtype (float32 is
        # kept); the shared weights are then copied into those same arrays, in place.
        classes = net.classes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X[:len(classes)], classes, classes=classes)
        if weights is not None:
            _sklearn_load(clf, weights)
        return clf

    def trainer(self, net: Net, X: np.ndarray, y: np.ndarray) -> Trainer:
        return _SklearnTrainer(self._model(net, X), X, y)

    def predictor(self, net: Net, weights: Weights) -> Callable[[np.ndarray], Any]:
        X = np.zeros((len(net.classes), net.sizes[0]), np.float32)
        return self._model(net, X, weights).predict_proba


def _sklearn_load(clf: Any, weights: Weights) -> None:
    for coef, intercept, (W, b) in zip(clf.coefs_, clf.intercepts_, weights, strict=True):
        coef[...] = W
        intercept[...] = b


class _SklearnTrainer:
    def __init__(self, clf: Any, X: np.ndarray, y: np.ndarray) -> None:
        self.clf, self.X, self.y = clf, X, y

    def reset(self, weights: Weights) -> None:
        _sklearn_load(self.clf, weights)

    def run(self, rows: int | None = None) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning, batch-size clipping
            self.clf.partial_fit(self.X[:rows], self.y[:rows])
        return float(self.clf.loss_)


# ---------------------------------------------------------------------- registry
def make_systems() -> dict[str, System]:
    """All systems by name, in table order."""
    systems: list[System] = [NncoreSystem("cython"), NncoreSystem("numpy"), NumpyLoopSystem(),
                             TorchSystem(), SklearnSystem(), OnnxRuntimeSystem(), JaxSystem()]
    return {s.name: s for s in systems}


#: System names, in table order.
SYSTEMS = tuple(make_systems())


def unavailable(name: str) -> str | None:
    """Why system ``name`` cannot run here, or None if it can."""
    if name == "nncore-cython":
        from nncore.backends import _IMPORT_ERROR, HAS_KERNELS

        return None if HAS_KERNELS else f"nncore.backends._kernels not importable ({_IMPORT_ERROR})"
    for module in MODULES.get(name, ()):
        try:
            __import__(module)
        except ImportError as exc:
            return f"{module} not importable ({exc}); {INSTALL_HINT}"
    return None
