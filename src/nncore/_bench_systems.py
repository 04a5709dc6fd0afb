"""The systems that ``nncore bench`` compares, one small class each.

Every system trains and runs the same network (a ``Net``: layer widths, hidden
activation, loss, batch size, learning rate) from the same initial weights, given as
``[(W, b), ...]`` with ``W`` of shape ``(n_in, n_out)``:

* ``trainer(net, X, y)`` returns a ``Trainer``: ``reset(weights)`` loads the shared
  weights, ``run(rows)`` trains one epoch of plain SGD over the first ``rows`` samples in
  order (sequential batches, no shuffling) and returns the epoch's mean loss;
* ``predictor(net, weights)`` returns ``f(x) -> probabilities`` for one call.

Third-party libraries (torch, scikit-learn) are imported only when their system is used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

Weights = Sequence[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Net:
    """One network and its training configuration, shared by every system.

    Parameters
    ----------
    sizes : tuple of int
        Layer widths, input first: ``(784, 256, 128, 10)``.
    activation : {"relu", "tanh"}
        Activation of the hidden layers; the last layer outputs logits.
    loss : {"softmax", "binary"}
        Softmax cross-entropy on integer labels, or binary cross-entropy with logits on
        0/1 labels (one output unit).
    batch_size : int
        Rows per SGD step.
    lr : float
        Learning rate of plain SGD (no momentum, no weight decay).
    """

    sizes: tuple[int, ...]
    activation: str
    loss: str
    batch_size: int
    lr: float = 0.01

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """``(n_in, n_out)`` of each layer."""
        return list(zip(self.sizes[:-1], self.sizes[1:], strict=True))

    @property
    def classes(self) -> np.ndarray:
        """The class labels: ``0..C-1``, or ``[0, 1]`` for the binary loss."""
        return np.arange(2 if self.loss == "binary" else self.sizes[-1])


class Trainer(Protocol):
    """One system's training loop on fixed data."""

    def reset(self, weights: Weights) -> None:
        """Load the shared weights (optimizer state too, if any)."""

    def run(self, rows: int | None = None) -> float:
        """Train one epoch over the first ``rows`` samples (all if None); mean loss."""
        ...


class System:
    """Base class: a name, a version, a trainer and a predictor."""

    #: Name on the command line and in the tables.
    name = "system"

    def version(self) -> str:
        """Version of the library that does the work."""
        raise NotImplementedError

    def trainer(self, net: Net, X: np.ndarray, y: np.ndarray) -> Trainer:
        """A ``Trainer`` on ``(X, y)`` (float32 features, integer labels)."""
        raise NotImplementedError

    def predictor(self, net: Net, weights: Weights) -> Callable[[np.ndarray], Any]:
        """``f(x)``: class probabilities of a (1, n_features) float32 row."""
        raise NotImplementedError


# ---------------------------------------------------------------------- nncore
class NncoreSystem(System):
    """``nncore.Sequential`` with the given backend, trained by ``model.fit``."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = f"nncore-{backend}"

    def version(self) -> str:
        import nncore

        return nncore.__version__

    def _model(self, net: Net, weights: Weights | None = None) -> Any:
        import nncore

        loss = nncore.BinaryCrossEntropy() if net.loss == "binary" else nncore.SoftmaxCrossEntropy()
        layers = [nncore.Dense(n, net.activation) for n in net.sizes[1:-1]]
        model = nncore.Sequential([*layers, nncore.Dense(net.sizes[-1])], dtype="float32",
                                  backend=self.backend, seed=0, loss=loss)
        model.build(net.sizes[0])
        if weights is not None:
            model.set_weights(weights)
        return model

    def trainer(self, net: Net, X: np.ndarray, y: np.ndarray) -> Trainer:
        return _NncoreTrainer(self._model(net), net, X, y)

    def predictor(self, net: Net, weights: Weights) -> Callable[[np.ndarray], Any]:
        return self._model(net, weights).predict_proba


class _NncoreTrainer:
    def __init__(self, model: Any, net: Net, X: np.ndarray, y: np.ndarray) -> None:
        self.model, self.net, self.X, self.y = model, net, X, y

    def reset(self, weights: Weights) -> None:
        self.model.set_weights(weights)

    def run(self, rows: int | None = None) -> float:
        import nncore

        history = self.model.fit(self.X[:rows], self.y[:rows], epochs=1,
                                 batch_size=self.net.batch_size,
                                 optimizer=nncore.SGD(lr=self.net.lr), shuffle=False)
        return float(history.history["loss"][-1])


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


def make_systems() -> dict[str, System]:
    """All systems by name, in table order."""
    systems: list[System] = [NncoreSystem("cython"), NncoreSystem("numpy"), NumpyLoopSystem(),
                             TorchSystem(), SklearnSystem()]
    return {s.name: s for s in systems}


def unavailable(name: str) -> str | None:
    """Why system ``name`` cannot run here, or None if it can."""
    if name == "nncore-cython":
        from nncore.backend import _IMPORT_ERROR, HAS_KERNELS

        return None if HAS_KERNELS else f"nncore._kernels not importable ({_IMPORT_ERROR})"
    module = {"torch": "torch", "sklearn": "sklearn.neural_network"}.get(name)
    if module is None:
        return None
    try:
        __import__(module)
    except ImportError as exc:
        return f"{module} not importable ({exc})"
    return None
