"""``Sequential``: a stack of ``Dense`` layers over one flat parameter buffer.

The model orchestrates; the math is in ``Ops``. It builds itself from the first data it
sees (the input width), owns the parameters (a ``ParamStore``, laid out by the plan),
compiles itself into plans (``nncore.backends.plan``) that the backend runs: prediction
(``Ops.mlp_forward``), training epochs (``Ops.train_epoch``, driven by
``nncore.training``) and gradients (``Ops.loss_gradient``, the same backpropagation).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from nncore import _model_data, lbfgs
from nncore._model_convert import save_model
from nncore._model_data import features, score
from nncore._model_state import pickled_state, restore_pickled
from nncore._preprocess import Preprocessing, scaled_targets
from nncore._serving import RowPaths, thread_scope
from nncore._summary import summary_text
from nncore._weights import weight_vector
from nncore.backends import _checks, dropout, get_ops
from nncore.backends.plan import NetPlan, ParamStore, TrainPlan
from nncore.callbacks import as_callbacks
from nncore.data import Features, float_dtype, resolve_batch_size, same_length
from nncore.layers import Dense, as_layers
from nncore.losses import BinaryCrossEntropy, Loss, get_loss
from nncore.optimizers import LBFGS, SGD, Optimizer, get_optimizer
from nncore.progress import ProgressBar, resolve_verbose
from nncore.training import GRADIENT_ROWS, History, check_metrics, run_epochs

#: Activations whose layers get He initialisation (Glorot for the others).
_HE_FAMILY = ("relu", "leaky_relu")


class Sequential:
    """A multilayer perceptron: ``Dense`` layers applied in order.

    Parameters
    ----------
    layers : list of Dense (each may be followed by a Dropout)
        The layers, first to last. The last layer's width is the number of outputs.
    dtype : {"float32", "float64"}
        Floating type of parameters and computation, kept end to end.
    backend : {"auto", "cython", "numpy"}, optional
        Kernel backend; None reads ``NNCORE_BACKEND`` (default "auto").
    seed : int or None
        Seed of the ``numpy.random.Generator`` that initialises the weights (He uniform
        for the ReLU family, Glorot uniform otherwise; biases zero) and shuffles batches;
        it is the key of the dropout masks (``dropout_seed``, random when None).
    loss : Loss or str, optional
        The loss; can also be given (or changed) in ``fit``.
    n_threads : int, optional
        The most threads ``fit`` and ``predict`` use, set for the span of each call (see
        README "Threads"): BLAS's thread count, and the size of the team that shares
        each training step (``nncore.backends.threads``). None: BLAS's own count (the
        cores, ``OPENBLAS_NUM_THREADS`` or a threadpoolctl limit). One-row predictions
        run on the calling thread.

    Examples
    --------
    >>> import nncore
    >>> X, y = nncore.make_moons(200, seed=0)
    >>> model = nncore.Sequential([nncore.Dense(16, "relu"), nncore.Dense(2)], seed=0)
    >>> history = model.fit(X, y, epochs=5, loss=nncore.SoftmaxCrossEntropy(), verbose=0)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    #: Scaling and labels applied around the network (``nncore._preprocess``); from files.
    preprocessing: Preprocessing | None = None
    #: The column names of the table the model was built from (strings, as scikit-learn
    #: records them), or None: ``predict`` and ``fit`` then match a table's columns by name.
    feature_names_in_: np.ndarray | None = None
    #: The key of the dropout masks and the count of training steps, their step
    #: (``nncore.backends.dropout``); pickles and checkpoints keep both.
    dropout_seed: int = 0
    dropout_step: int = 0

    def __init__(self, layers: Sequence[Dense], dtype: Any = "float32",
                 backend: str | None = None, seed: int | None = 0,
                 loss: Loss | str | None = None, n_threads: int | None = None) -> None:
        self.layers = as_layers(layers)
        self.dtype = float_dtype(dtype)
        self.ops = get_ops(backend)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.dropout_seed = dropout.key_of(seed)
        self.loss: Loss | None = None if loss is None else get_loss(loss)
        self.n_threads = None if n_threads is None else _checks.count("", "n_threads",
                                                                      n_threads, 1)
        self.optimizer: Optimizer | None = None
        self.params: ParamStore | None = None
        self.stop_training = False
        self._net: NetPlan | None = None
        self._rows: RowPaths | None = None  # one-row fast paths (nncore._serving)
        self._train_plans: dict[tuple[int, str, bool], TrainPlan] = {}
        # Training mutates shared buffers: one fit (or gradients) at a time per model.
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ structure
    def __repr__(self) -> str:
        inner = ", ".join(map(repr, self.layers))
        return f"Sequential([{inner}], dtype={self.dtype.name!r}, backend={self.ops.name!r})"

    @property
    def built(self) -> bool:
        """True once the input width is known and the parameters exist."""
        return self.params is not None

    @property
    def n_features(self) -> int | None:
        """Input width (None before the model has seen data)."""
        return self.layers[0].n_inputs

    @property
    def n_outputs(self) -> int:
        """Width of the last layer."""
        return self.layers[-1].units

    @property
    def rng(self) -> np.random.Generator:
        """The generator of the initial weights and of shuffling; checkpoints save its state."""
        return self._rng

    def build(self, n_features: int) -> Sequential:
        """Allocate and initialise the parameters for inputs of width ``n_features``."""
        n_features = _checks.count("", "n_features", n_features, 1)
        self.params = ParamStore([n_features, *(layer.units for layer in self.layers)],
                                 self.dtype)
        self._bind()
        for layer in self.layers:
            assert layer.W is not None and layer.b is not None
            fan_in, fan_out = layer.W.shape
            limit = np.sqrt(6.0 / (fan_in if layer.activation in _HE_FAMILY else fan_in + fan_out))
            layer.W[...] = self._rng.uniform(-limit, limit, size=layer.W.shape)
            layer.b[...] = 0
        return self

    def _bind(self) -> None:
        assert self.params is not None
        pairs = zip(self.params.views(self.params.w), self.params.views(self.params.g),
                    strict=True)
        for layer, ((W, b), (dW, db)) in zip(self.layers, pairs, strict=True):
            layer.bind(W, b, dW, db)
        self._net = NetPlan(self.params.layout.sizes, [lay.activation for lay in self.layers],
                            [lay.negative_slope for lay in self.layers],
                            self.params.w, self.params.g)
        self._rows = RowPaths(self.ops, self._net, self.dtype)
        self._train_plans = {}

    def _train_plan(self, batch_size: int, loss: Loss, training: bool = True) -> TrainPlan:
        """The workspace for (batch size, loss), allocated once and reused; with the
        layers' dropout when ``training``."""
        assert self._net is not None
        key = (batch_size, loss.name, training)
        plan = self._train_plans.get(key)
        if plan is None:
            if len(self._train_plans) >= 4:
                self._train_plans.clear()
            plan = self._train_plans[key] = TrainPlan(
                self._net, batch_size, loss.kernel,
                [lay.dropout for lay in self.layers] if training else None)
        return plan

    def _threads(self) -> Any:
        return thread_scope(self.n_threads)

    def _features(self, X: Any, build: bool = False) -> Features:
        """Convert ``X`` once per public call (``nncore._model_data.features``)."""
        return features(self, X, build)

    def _loss(self, loss: Loss | str | None) -> Loss:
        if loss is None:
            if self.loss is None:
                raise ValueError(
                    "no loss: pass loss=... (e.g. nncore.SoftmaxCrossEntropy()) to fit, or to "
                    "Sequential"
                )
            return self.loss
        chosen = get_loss(loss)
        last = self.layers[-1]
        chosen.check_output_layer(last.units, last.activation)
        return chosen

    # ------------------------------------------------------------------ public API
    def fit(self, X: Any, y: Any, epochs: int | None = None, batch_size: int | str | None = None,
            optimizer: Optimizer | str | None = None, loss: Loss | str | None = None,
            seed: int | None = None, shuffle: bool = True, verbose: int | str = "auto",
            callbacks: Iterable[Any] | Any = None, validation_data: Any = None,
            validation_split: float = 0.0, metrics: Sequence[str] | str | None = None,
            sample_weight: Any = None, class_weight: Any = None) -> History:
        """Train with gradient descent on ``(X, y)``.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Converted once to the model's dtype (C-contiguous, or CSR: never densified);
            the model is built from its width on first use.
        y : array-like
            Targets in the loss's format (integer labels, 0/1 labels, or values).
        epochs : int, optional
            Passes over the data, >= 1 (default 10); with ``LBFGS``, its iterations
            (default: its ``max_iter``).
        batch_size : int or "full", optional
            ``"full"``: full-batch gradient descent; ``1``: stochastic; ``n``: mini-batch
            (default 32; ``LBFGS``: the full batch, the only size it takes).
        optimizer : Optimizer or str, optional
            Default: the optimizer of the previous ``fit``, else ``SGD(lr=0.01)``. Its state
            (momentum, moments) carries over between ``fit`` calls on the same model.
            ``LBFGS``: quasi-Newton through SciPy, an iteration per epoch (nncore.lbfgs).
        loss : Loss or str, optional
            Default: the model's loss. Classification losses take logits, so the last
            layer must have ``activation="identity"``.
        seed : int, optional
            Seed for this call's shuffling; default: the model's own generator.
        shuffle : bool
            Reshuffle the samples every epoch (a memmap: block-locally, nncore.data).
        verbose : {"auto", 0, 1, 2}
            0: silent; 1: a progress bar redrawn per epoch (a terminal or notebook; else a
            line per epoch); 2: a line per epoch; "auto": 1 in a terminal or Jupyter, else 0.
        callbacks : Callback or callable, or a list of them, optional
            The per-epoch hook: each is called after every epoch with ``(epoch, logs)``,
            e.g. ``EarlyStopping``, ``StepDecay``/``ExponentialDecay``/``CosineDecay``
            (one learning-rate schedule per fit; a warning when it is shorter than
            ``epochs``, or when ``EarlyStopping`` watches ``val_*`` without validation).
        validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            Evaluated after every epoch: ``val_loss`` (and ``val_<metric>``) in the logs,
            weighted by ``sample_weight_val`` when given.
        validation_split : float
            Fraction in (0, 1) of the samples, taken from the end before any shuffling, held
            out as validation data (ignored when ``validation_data`` is given); their
            weights go with them.
        metrics : str or list of str, optional
            Extra per-epoch metrics: ``"accuracy"`` (classification losses). Computed on the
            whole training set with the weights at the end of the epoch, and on the
            validation data; by default only losses are reported (no extra pass).
        sample_weight : array-like of shape (n_samples,), optional
            A weight per sample, finite and >= 0 (not all 0). Each step's loss is then
            ``sum_i w_i loss_i / sum_i w_i`` over its rows, applied as a per-row scale inside
            the fused loss kernel; the logged loss and accuracy are weighted too. With
            ``batch_size="full"``, integer weights train as repeating the rows would.
        class_weight : dict or "balanced", optional
            Classification losses: a weight per class, multiplying ``sample_weight``.
            ``{label: weight}`` over the labels ``0 .. C-1`` (0 and 1 for one sigmoid
            unit; classes left out weigh 1), or ``"balanced"``:
            ``n_samples / (n_classes * count(label))`` as in scikit-learn.

        Returns
        -------
        History

        Raises
        ------
        DivergenceError
            The loss became NaN or infinite in an epoch (a ``FloatingPointError``); the
            model keeps the weights it had before that epoch.

        Notes
        -----
        On the Cython backend an epoch is one native call that looks for Ctrl-C every 256
        steps: ``KeyboardInterrupt`` then propagates with the model holding the weights of
        the last completed step.
        """
        chosen = self._loss(loss)
        opt = get_optimizer(optimizer if optimizer is not None
                            else self.optimizer or SGD(lr=0.01))
        epochs = _checks.count("", "epochs", (opt.max_iter if isinstance(opt, LBFGS) else 10)
                               if epochs is None else epochs, 1)
        hooks = as_callbacks(callbacks, epochs=epochs, validation=validation_data is not None
                             or validation_split != 0)
        wanted = check_metrics(metrics, chosen)
        level = resolve_verbose(verbose)
        with self._lock, self._threads():
            Xc, targets, weights, val = _model_data.training_data(
                self, X, y, chosen, sample_weight, class_weight, validation_data,
                validation_split)
            if isinstance(opt, LBFGS):
                lbfgs.check_fit(self, hooks, batch_size, len(Xc))
            self.loss, self.optimizer = chosen, opt
            if level:
                hooks.append(ProgressBar(epochs, len(Xc),
                                         redraw=None if level == 1 else False))
            if isinstance(opt, LBFGS):  # quasi-Newton through SciPy, an iteration an epoch
                return lbfgs.minimize(self, opt, chosen, Xc, targets, weights, val, epochs,
                                      hooks, wanted)
            rows = resolve_batch_size(32 if batch_size is None else batch_size, len(Xc))
            plan = self._train_plan(rows, chosen)
            return run_epochs(self, plan, opt, Xc, targets, val, epochs=epochs,
                              rng=self._rng if seed is None else np.random.default_rng(seed),
                              shuffle=shuffle, hooks=hooks, metrics=wanted,
                              score=lambda X_, t_, a, w: score(self, X_, t_, chosen, a, w),
                              weights=weights)

    def partial_fit(self, X: Any, y: Any, batch_size: int | str = 32,
                    optimizer: Optimizer | str | None = None, loss: Loss | str | None = None,
                    sample_weight: Any = None, class_weight: Any = None, shuffle: bool = True,
                    seed: int | None = None) -> History:
        """One pass over the rows given, optimizer state continuing (``fit(epochs=1,
        verbose=0)``): for data in parts (file blocks, streams, dask-ml's Incremental).
        Step-wise optimizers only (``LBFGS`` raises ``TypeError``)."""
        if isinstance(get_optimizer(optimizer) if optimizer else self.optimizer, LBFGS):
            raise TypeError("partial_fit takes step-wise optimizers (SGD, Adam, AdamW), not "
                            "LBFGS: it trains on the full batch in fit")
        return self.fit(X, y, epochs=1, batch_size=batch_size, optimizer=optimizer, loss=loss,
                        seed=seed, shuffle=shuffle, verbose=0, sample_weight=sample_weight,
                        class_weight=class_weight)

    def predict_outputs(self, X: Any) -> np.ndarray:
        """Raw outputs of the last layer (logits for the classification losses)."""
        return self._forward(X, None)

    def _forward(self, X: Any, link: str | None) -> np.ndarray:
        """The network on ``X``, its last activation replaced by ``link`` (None: as built);
        a plain row goes through the one-row fast path (``nncore._serving``)."""
        out = (None if self.preprocessing is not None or self._rows is None
               else self._rows.run(X, link))
        if out is None:
            Xc = self._features(X)
            assert self._rows is not None
            out = np.empty((Xc.shape[0], self.n_outputs), self.dtype)
            with self._threads():
                self.ops.mlp_forward(self._rows.net(link), Xc, out)
        return out if self.preprocessing is None or link else self.preprocessing.outputs(out)

    def predict(self, X: Any) -> np.ndarray:
        """Class labels for classification losses; ``exp(outputs)`` for ``PoissonDeviance``;
        the outputs otherwise. A regression loss with one output unit gives shape (n,).
        """
        out = self.predict_outputs(X)
        pred = out if self.loss is None else self.loss.predict(self.ops, out)
        return pred if self.preprocessing is None else self.preprocessing.labels(pred, self.loss)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities: softmax for ``SoftmaxCrossEntropy``; ``[P(0), P(1)]`` for
        ``BinaryCrossEntropy`` with one unit."""
        if self.loss is None or not self.loss.is_classifier:
            raise TypeError("predict_proba needs a classification loss (fit the model with "
                            "SoftmaxCrossEntropy or BinaryCrossEntropy)")
        # The link (softmax / sigmoid) runs inside the same forward call.
        act = self.loss.link_activation
        out = self._forward(X, act)
        return BinaryCrossEntropy.probabilities(out) if act == "sigmoid" else out

    def evaluate(self, X: Any, y: Any, loss: Loss | str | None = None,
                 sample_weight: Any = None) -> dict[str, float]:
        """Return ``{"loss": ..., "accuracy": ...}`` (accuracy for classifiers only),
        weighted by ``sample_weight`` (one finite weight >= 0 per sample) when given."""
        chosen = self._loss(loss)
        targets = scaled_targets(self, chosen, y)
        Xc = self._features(X)
        same_length(Xc, targets)
        w = None if sample_weight is None else weight_vector(sample_weight, len(targets))
        return score(self, Xc, targets, chosen, chosen.is_classifier, w)

    def gradients(self, X: Any, y: Any, loss: Loss | str | None = None,
                  sample_weight: Any = None
                  ) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
        """Loss and its gradients on ``(X, y)`` by backpropagation, without updating.

        The same code as a training step (``Ops.loss_gradient``): with at most
        ``GRADIENT_ROWS`` rows it is the gradient that ``fit`` with
        ``batch_size="full"`` applies; more rows are processed in runs of that many (the
        gradient of the mean loss all the same), so memory stays bounded. With
        ``sample_weight``, of ``sum_i w_i loss_i / sum_i w_i``. Of the network as
        ``predict`` runs it: no dropout.

        Returns
        -------
        loss : float
        grads : list of (dW, db)
            One pair per Dense layer (copies).
        """
        chosen = self._loss(loss)
        with self._lock, self._threads():
            Xc = self._features(X, build=True)
            targets = scaled_targets(self, chosen, y)
            same_length(Xc, targets)
            assert self.params is not None
            plan = self._train_plan(min(max(len(Xc), 1), GRADIENT_ROWS), chosen, False)
            w = None if sample_weight is None else weight_vector(sample_weight, len(targets))
            value = self.ops.loss_gradient(plan, Xc, targets, np.arange(len(Xc), dtype=np.int64),
                                           w)
            return value, [(dW.copy(), db.copy()) for dW, db in
                           self.params.views(self.params.g)]

    def get_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Copies of ``(W, b)`` per layer."""
        if self.params is None:
            return []
        return [(W.copy(), b.copy()) for W, b in self.params.views(self.params.w)]

    def set_weights(self, weights: Sequence[tuple[Any, Any]]) -> None:
        """Copy ``(W, b)`` per layer into the model (building it from the first W)."""
        weights = list(weights)
        if len(weights) != len(self.layers):
            raise ValueError(f"argument 'weights' must have {len(self.layers)} (W, b) pairs, "
                             f"got {len(weights)}")
        if self.params is None:
            self.build(np.shape(weights[0][0])[0])
        for i, (layer, (W, b)) in enumerate(zip(self.layers, weights, strict=True)):
            assert layer.W is not None and layer.b is not None
            for name, dst, src in (("W", layer.W, W), ("b", layer.b, b)):
                if np.shape(src) != dst.shape:
                    raise ValueError(f"weights[{i}] {name} has shape {np.shape(src)}, "
                                     f"expected {dst.shape}")
                dst[...] = src

    def clone(self, dtype: Any = None, backend: str | None = None) -> Sequential:
        """A new model with the same layers, loss and weights (optionally another dtype
        or backend); it shares nothing with this one."""
        twin = Sequential([Dense(**layer.get_config()) for layer in self.layers],
                          dtype=self.dtype if dtype is None else dtype,
                          backend=backend or self.ops.name, seed=self.seed, loss=self.loss)
        if self.params is not None:
            twin.set_weights(self.get_weights())
        twin.preprocessing = self.preprocessing  # read-only arrays: safe to share
        twin.feature_names_in_, twin.dropout_seed = self.feature_names_in_, self.dropout_seed
        return twin

    def summary(self, print_fn: Any = None) -> None:
        """Print a table of the layers: output shapes, activations, parameter counts.

        Returns None, as Keras does (a REPL shows the table once). ``print_fn`` receives
        the table as one string instead of ``print``: ``model.summary(print_fn=log.info)``,
        or ``lines = []; model.summary(print_fn=lines.append)`` to keep the text.
        """
        (print if print_fn is None else print_fn)(summary_text(self))

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        return pickled_state(self)  # nncore._model_state: what travels, and why

    def __setstate__(self, state: dict[str, Any]) -> None:
        restore_pickled(self, state)

    def save(self, path: Any, *, classes: Any = None, metadata: Any = None,
             include_optimizer: bool = False) -> Any:
        """Write the model to one ``.npz`` file, atomically; see ``nncore.io.save``
        (``include_optimizer=True``: a checkpoint that ``fit`` continues exactly)."""
        return save_model(self, path, classes=classes, metadata=metadata,
                          include_optimizer=include_optimizer)
