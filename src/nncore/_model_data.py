"""The data side of ``Sequential``: its inputs converted once per public call.

Features (with the column names of a table, matched by name), validation data, the
number of classes a classifier's output layer holds, and the loss/accuracy of the model
on converted data. Functions of the model, so that ``model.py`` stays about the model.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from nncore._preprocess import scaled_targets
from nncore._weights import sample_weights, weight_vector
from nncore.backends.sparse import CsrRows
from nncore.data import Features, as_features, same_length
from nncore.losses import Loss
from nncore.training import Validation, split_validation


def column_names(X: Any) -> np.ndarray | None:
    """The column names of a table (``X.columns``, e.g. a pandas DataFrame) when they are
    all strings, as scikit-learn takes them; None for anything else."""
    cols = getattr(X, "columns", None)
    if cols is None or isinstance(X, np.ndarray):
        return None
    names = list(cols)
    if not names or not all(isinstance(name, str) for name in names):
        return None
    return np.asarray(names, dtype=object)


def features(model: Any, X: Any, build: bool = False) -> Features:
    """``X`` converted for ``model``: built from it (``build``) or checked against it.

    A table whose columns are named is matched by name when the model knows its feature
    names (columns reordered; missing or unknown names raise ``ValueError``), and gives
    the model its names when it builds from it. A plain array is taken column by column.
    """
    names = column_names(X)
    Xc = as_features(X, model.dtype, n_features=model.n_features)
    if model.params is None:
        if not build:
            raise RuntimeError("the model has no parameters yet: call fit (or build) first")
        model.build(Xc.shape[1])
        model.feature_names_in_ = names
    elif (names is not None and model.feature_names_in_ is not None
          and isinstance(Xc, np.ndarray)):
        Xc = _by_name(Xc, names, model.feature_names_in_)
    elif Xc.shape[1] != model.n_features:
        raise ValueError(f"argument 'X' has {Xc.shape[1]} features, but the model was "
                         f"built for {model.n_features}")
    if model.preprocessing is None:
        return Xc
    if isinstance(Xc, CsrRows) and model.preprocessing.mean is not None:
        raise TypeError("argument 'X': this model standardises its inputs, which would make "
                        "a sparse matrix dense; pass a dense array (X.toarray())")
    return model.preprocessing.features(Xc)


def _by_name(Xc: np.ndarray, names: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """The columns of ``Xc`` (named ``names``) in the order of ``expected``."""
    if np.array_equal(names, expected):
        return Xc
    position = {name: i for i, name in enumerate(names)}
    wanted = set(expected)
    missing = [name for name in expected if name not in position]
    extra = [name for name in names if name not in wanted]
    if missing or extra or len(position) != len(names):
        duplicated = sorted(n for n, count in Counter(names).items() if count > 1)
        raise ValueError(
            "argument 'X': its columns do not match the features the model was fitted on"
            + (f"; missing: {missing}" if missing else "")
            + (f"; not in the model: {extra}" if extra else "")
            + (f"; repeated: {duplicated}" if duplicated else ""))
    return np.ascontiguousarray(Xc[:, [position[name] for name in expected]])


def training_data(model: Any, X: Any, y: Any, loss: Loss, sample_weight: Any,
                  class_weight: Any, val_data: Any, val_split: float
                  ) -> tuple[Features, np.ndarray, np.ndarray | None, Validation | None]:
    """What ``fit`` trains on: features (the model built from them), targets, weights
    (None: unweighted) and validation data (given, or split off the end)."""
    Xc = features(model, X, build=True)
    targets = scaled_targets(model, loss, y)
    same_length(Xc, targets)
    if len(Xc) == 0:
        raise ValueError("argument 'X' is empty: need at least one sample to fit")
    weights = sample_weights(sample_weight, class_weight, targets, loss, n_classes(model, loss))
    if val_data is None:
        return split_validation(Xc, targets, weights, val_split)
    return Xc, targets, weights, validation_data(model, val_data, loss)


def n_classes(model: Any, loss: Loss) -> int | None:
    """Classes of a classifier's output layer (2 for one sigmoid unit), else None."""
    if not loss.is_classifier:
        return None
    return 2 if model.n_outputs == 1 else int(model.n_outputs)


def validation_data(model: Any, data: Any, loss: Loss) -> Validation:
    """Convert ``validation_data`` = (X_val, y_val[, w_val]) like the training data."""
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise TypeError("argument 'validation_data' must be a pair (X_val, y_val) or a "
                        "triple (X_val, y_val, sample_weight_val)")
    Xv = features(model, data[0])
    tv = scaled_targets(model, loss, data[1])
    if len(Xv) != len(tv) or len(Xv) == 0:
        raise ValueError("argument 'validation_data': X_val and y_val must be non-empty "
                         f"and of one length, got {len(Xv)} and {len(tv)}")
    wv = None if len(data) == 2 or data[2] is None else weight_vector(
        data[2], len(tv), "validation_data[2]")
    return Xv, tv, wv


def score(model: Any, Xc: Features, targets: np.ndarray, loss: Loss, accuracy: bool,
          weights: np.ndarray | None = None) -> dict[str, float]:
    """Loss (and accuracy) on converted data: one forward call, one loss kernel."""
    out = np.empty((Xc.shape[0], model.n_outputs), model.dtype)
    with model._threads():
        model.ops.mlp_forward(model._net, Xc, out)
    result = {"loss": loss(model.ops, out, targets, np.empty_like(out), weights)}
    if accuracy:
        result["accuracy"] = loss.accuracy(model.ops, out, targets, weights)
    return result
