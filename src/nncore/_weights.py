"""Sample and class weights: the user's ``sample_weight`` and ``class_weight`` turned into
one float64 weight per sample, checked once per public call.

The loss of a batch is then ``sum_i w_i loss_i / sum_i w_i``, applied as a per-row scale
inside the fused loss kernels (``Ops.train_epoch``). With ``batch_size="full"``, integer
weights train exactly as repeating each row that many times would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.data import check_finite

#: ``class_weight="balanced"``: ``n_samples / (n_classes * count(class))``, as scikit-learn.
BALANCED = "balanced"


def weight_vector(sample_weight: Any, n: int, name: str = "sample_weight") -> np.ndarray:
    """``sample_weight`` as 1-D float64 of length ``n``: finite, >= 0, not all 0."""
    arr = np.asarray(sample_weight)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"argument '{name}' must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:  # a scalar weighs every sample alike
        arr = np.full(n, arr, np.float64)
    if arr.ndim != 1:
        raise ValueError(f"argument '{name}' must be 1-D (one weight per sample), got shape "
                         f"{arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"argument '{name}' has {arr.shape[0]} weights, expected one per "
                         f"sample ({n})")
    w = np.ascontiguousarray(arr, dtype=np.float64)
    check_finite(w, name, original=arr)
    if n and w.min() < 0:
        i = int(np.argmin(w))
        raise ValueError(f"argument '{name}' must be >= 0, got {w[i]} at index {i}")
    if n and not w.sum() > 0:
        raise ValueError(f"argument '{name}' is 0 for every sample: nothing to learn from")
    return w


def class_indices(targets: np.ndarray, loss: Any) -> tuple[np.ndarray, int]:
    """The class index of each sample and the number of classes, for ``class_weight``."""
    if not loss.is_classifier:
        raise ValueError(f"argument 'class_weight' needs a classification loss, not "
                         f"{type(loss).__name__}")
    if targets.ndim == 1:  # SoftmaxCrossEntropy: labels 0 .. C-1
        return targets, int(targets.max(initial=-1)) + 1
    if targets.shape[1] != 1:
        raise ValueError("argument 'class_weight' needs one label per sample; this "
                         f"BinaryCrossEntropy model has {targets.shape[1]} outputs")
    return (targets[:, 0] > 0.5).astype(np.int64), 2


def class_weights(class_weight: Any, idx: np.ndarray, n_classes: int) -> np.ndarray:
    """The weight of each sample from ``class_weight`` (a dict or ``"balanced"``).

    Parameters
    ----------
    class_weight : dict or "balanced"
        ``{class: weight}`` (classes left out weigh 1), or ``"balanced"``.
    idx : ndarray of int64
        Each sample's class, in ``0 .. n_classes - 1``.
    n_classes : int
        Classes the model has.
    """
    per_class = np.ones(n_classes, np.float64)
    if isinstance(class_weight, str):
        if class_weight != BALANCED:
            raise ValueError(f"argument 'class_weight' must be a dict or {BALANCED!r}, got "
                             f"{class_weight!r}")
        counts = np.bincount(idx, minlength=n_classes).astype(np.float64)
        present = counts > 0
        per_class[present] = len(idx) / (np.count_nonzero(present) * counts[present])
    elif isinstance(class_weight, dict):
        for key, value in class_weight.items():
            k = _class_key(key, n_classes)
            v = float(value) if isinstance(value, (int, float, np.number)) else np.nan
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"argument 'class_weight': the weight of class {key!r} must "
                                 f"be a finite number >= 0, got {value!r}")
            per_class[k] = v
    else:
        raise TypeError(f"argument 'class_weight' must be a dict or {BALANCED!r}, got "
                        f"{type(class_weight).__name__}")
    return per_class[idx]


def _class_key(key: Any, n_classes: int) -> int:
    ok = isinstance(key, (int, np.integer)) and not isinstance(key, bool)
    if not ok or not 0 <= int(key) < n_classes:
        raise ValueError(f"argument 'class_weight': key {key!r} is not a class; the classes "
                         f"are the labels 0 .. {n_classes - 1}")
    return int(key)


def sample_weights(sample_weight: Any, class_weight: Any, targets: np.ndarray, loss: Any,
                   n_classes: int | None = None) -> np.ndarray | None:
    """One float64 weight per sample: ``sample_weight`` times the class weights.

    Returns None when both are None (the unweighted kernels run).
    """
    if sample_weight is None and class_weight is None:
        return None
    per_sample = None
    if class_weight is not None:
        idx, seen = class_indices(targets, loss)
        per_sample = class_weights(class_weight, idx, seen if n_classes is None else n_classes)
    return combined_weights(sample_weight, len(targets), per_sample)


def varying(weights: np.ndarray | None) -> np.ndarray | None:
    """``weights``, or None when they are all equal: the loss is then the plain mean, and
    the unweighted kernels give it bit for bit (``sample_weight=np.ones(n)`` changes
    nothing, as scikit-learn's checks expect)."""
    if weights is None or not len(weights) or np.all(weights == weights[0]):
        return None
    return weights


def combined_weights(sample_weight: Any, n: int, class_weight: np.ndarray | None
                     ) -> np.ndarray | None:
    """``sample_weight`` (checked as ``weight_vector``) times per-sample class weights
    (``class_weights``); None when both are None."""
    w = None if sample_weight is None else weight_vector(sample_weight, n)
    if class_weight is not None:
        w = class_weight if w is None else w * class_weight
        if len(w) and not w.sum() > 0:
            raise ValueError("arguments 'sample_weight' and 'class_weight' leave every sample "
                             "with weight 0: nothing to learn from")
    return w


def label_class_weights(class_weight: Any, classes: np.ndarray, idx: np.ndarray
                        ) -> np.ndarray:
    """Per-sample weights from ``class_weight`` keyed by the estimator's ``classes_``
    (``idx``: each sample's index into them), as scikit-learn's ``class_weight``."""
    if isinstance(class_weight, dict):
        positions = {}
        for key, value in class_weight.items():
            hits = np.flatnonzero(classes == key)
            if not hits.size:
                raise ValueError(f"class_weight: key {key!r} is not a class; classes_ are "
                                 f"{list(classes)}")
            positions[int(hits[0])] = value
        class_weight = positions
    return class_weights(class_weight, idx.astype(np.int64), len(classes))
