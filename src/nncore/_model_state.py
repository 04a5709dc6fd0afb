"""What a pickled ``Sequential`` carries, and how it is rebuilt (``__getstate__``,
``__setstate__``).

Views, plans, the backend object and the lock are rebuilt on unpickling, so the restored
model trains the very parameters it predicts with. The optimizer's state, the shuffling
generator and the dropout generator's key and step travel too: training continues
exactly.
"""

from __future__ import annotations

from typing import Any

from nncore.layers import Dense


def pickled_state(model: Any) -> dict[str, Any]:
    """The state of a ``Sequential`` for pickle, ``copy.deepcopy`` and joblib."""
    return {
        "layers": [layer.get_config() for layer in model.layers],
        "dtype": model.dtype.name, "backend": model.ops.name, "seed": model.seed,
        "loss": model.loss, "optimizer": model.optimizer, "n_threads": model.n_threads,
        "rng": model.rng.bit_generator.state,
        "n_features": model.n_features, "preprocessing": model.preprocessing,
        "feature_names_in_": model.feature_names_in_,
        "dropout": (model.dropout_seed, model.dropout_step),
        "weights": None if model.params is None else model.params.w.copy(),
        "optimizer_state": (None if model.optimizer is None or model.params is None
                            else model.optimizer.get_state(model.params)),
    }


def restore_pickled(model: Any, state: dict[str, Any]) -> None:
    """Rebuild ``model`` (an instance made without ``__init__``) from ``state``."""
    model.__init__(
        [Dense(**cfg) for cfg in state["layers"]], dtype=state["dtype"],
        backend=state["backend"], seed=state["seed"], loss=state["loss"],
        n_threads=state["n_threads"])
    model.optimizer, model.preprocessing = state["optimizer"], state.get("preprocessing")
    model.feature_names_in_ = state.get("feature_names_in_")
    # absent in pickles of nncore before dropout: the key of the seed, no steps yet
    model.dropout_seed, model.dropout_step = state.get("dropout", (model.dropout_seed, 0))
    if state["weights"] is not None:
        model.build(state["n_features"])
        assert model.params is not None
        model.params.w[...] = state["weights"]
        opt_state = state.get("optimizer_state")  # absent in pickles of nncore <= 0.1.0
        # An optimizer already bound elsewhere (a shallow copy shares it) keeps its own.
        if opt_state is not None and model.optimizer is not None and (
                model.optimizer._store is None):
            model.optimizer.set_state(model.params, opt_state)
    # After build, which draws the initial weights from the generator.
    model.rng.bit_generator.state = state["rng"]
