"""``Preprocessing``: the input scaling, target scaling and class labels a model applies.

``nncore train`` fits these on the training rows and attaches them to the model
(``Sequential.preprocessing``), so a model file predicts the same from Python
(``nncore.load(path).predict(X)`` on the raw features) as from ``nncore predict``. The
model applies them itself: ``fit``, ``evaluate`` and ``gradients`` standardise ``X`` (and
the validation data) and, with a target scaling, the targets (losses are then reported in
the scaled units); ``predict_outputs``, ``predict`` and ``predict_proba`` standardise
``X``, ``predict_outputs`` and ``predict`` undo the target scaling, and ``predict``
returns ``classes[index]`` when classes are set. The model file stores the state as
format version 3 (see ``nncore.io``); this module knows nothing of ``Sequential``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Array names in the model file, by attribute (float64 in the file and in memory).
ARRAYS = {"mean": "preprocessing.mean", "scale": "preprocessing.scale",
          "target_mean": "preprocessing.target_mean",
          "target_scale": "preprocessing.target_scale"}


def _vector(name: str, value: Any) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.array(value, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"argument {name!r} must be a non-empty 1-D array of finite numbers")
    if name.endswith("scale") and not (arr > 0).all():
        raise ValueError(f"argument {name!r} must be positive")
    arr.setflags(write=False)
    return arr


class Preprocessing:
    """Feature standardisation, target standardisation and class labels of a model.

    Parameters
    ----------
    mean, scale : array-like of shape (n_features,), optional
        ``X`` becomes ``(X - mean) / scale`` before the network; both or neither.
    target_mean, target_scale : array-like of shape (n_outputs,), optional
        Regression targets become ``(y - target_mean) / target_scale`` for training and
        evaluation; outputs are mapped back by ``predict_outputs`` and ``predict``.
    classes : array-like, optional
        Labels: ``predict`` of a classifier returns ``classes[index]``.
    """

    def __init__(self, mean: Any = None, scale: Any = None, target_mean: Any = None,
                 target_scale: Any = None, classes: Any = None) -> None:
        self.mean, self.scale = _vector("mean", mean), _vector("scale", scale)
        self.target_mean = _vector("target_mean", target_mean)
        self.target_scale = _vector("target_scale", target_scale)
        for a, b in (("mean", "scale"), ("target_mean", "target_scale")):
            x, y = getattr(self, a), getattr(self, b)
            if (x is None) != (y is None) or (x is not None and x.shape != y.shape):
                raise ValueError(f"arguments {a!r} and {b!r} must be given together, "
                                 "of one length")
        self.classes = None if classes is None else np.asarray(classes)

    def __repr__(self) -> str:
        parts = [f"n_features={None if self.mean is None else self.mean.size}",
                 f"target={self.target_mean is not None}",
                 f"classes={None if self.classes is None else len(self.classes)}"]
        return f"Preprocessing({', '.join(parts)})"

    def check(self, n_features: int | None, n_outputs: int, is_classifier: bool,
              scalable_targets: bool = True) -> None:
        """Raise ``ValueError`` unless the state fits a model of these widths and loss
        (``scalable_targets``: the loss's ``Loss.scalable_targets``)."""
        if self.mean is not None and n_features is not None and self.mean.size != n_features:
            raise ValueError(f"preprocessing: {self.mean.size} feature means for a model of "
                             f"{n_features} features")
        if self.target_mean is not None and (
                is_classifier or self.target_mean.size != n_outputs):
            raise ValueError("preprocessing: a target scaling needs a regression loss and "
                             f"one mean per output ({n_outputs})")
        if self.target_mean is not None and not scalable_targets:
            raise ValueError(_UNSCALABLE)
        if self.classes is not None and not is_classifier:
            raise ValueError("preprocessing: classes need a classification loss")

    def features(self, Xc: np.ndarray) -> np.ndarray:
        """``(Xc - mean) / scale`` in float64, returned in ``Xc``'s dtype."""
        if self.mean is None or self.scale is None:
            return Xc
        if Xc.shape[1] != self.mean.size:
            raise ValueError(f"argument 'X' has {Xc.shape[1]} features, but the model's "
                             f"preprocessing has {self.mean.size}")
        return np.ascontiguousarray((Xc - self.mean) / self.scale, dtype=Xc.dtype)

    def targets(self, t: np.ndarray, is_classifier: bool) -> np.ndarray:
        """Converted regression targets, standardised (classification targets unchanged)."""
        if self.target_mean is None or self.target_scale is None or is_classifier:
            return t
        return np.ascontiguousarray((t - self.target_mean) / self.target_scale, dtype=t.dtype)

    def outputs(self, out: np.ndarray) -> np.ndarray:
        """The network's outputs in the target's units (the target scaling undone)."""
        if self.target_mean is None or self.target_scale is None:
            return out
        return np.asarray(out * self.target_scale + self.target_mean, dtype=out.dtype)

    def labels(self, pred: np.ndarray, loss: Any) -> np.ndarray:
        """``classes[pred]`` for a classifier (``loss``) with classes; ``pred`` otherwise."""
        clf = loss is not None and loss.is_classifier
        return self.classes[pred] if self.classes is not None and clf else pred

    def to_file(self) -> tuple[dict[str, bool], dict[str, np.ndarray]]:
        """The model file's ``preprocessing`` field and arrays."""
        field = {"features": self.mean is not None, "target": self.target_mean is not None,
                 "labels": self.classes is not None}
        arrays = {name: getattr(self, attr) for attr, name in ARRAYS.items()
                  if getattr(self, attr) is not None}
        return field, arrays

    @classmethod
    def from_file(cls, field: dict[str, bool], arrays: dict[str, np.ndarray],
                  classes: Any) -> Preprocessing:
        """Rebuild from a validated ``preprocessing`` field, its arrays and the classes."""
        return cls(**{attr: arrays.get(name) for attr, name in ARRAYS.items()},
                   classes=classes if field["labels"] else None)


def shapes(field: dict[str, bool], n_features: int, n_outputs: int
           ) -> dict[str, tuple[int, ...]]:
    """The arrays a (validated) ``preprocessing`` field implies, with their shapes."""
    out: dict[str, tuple[int, ...]] = {}
    if field["features"]:
        out[ARRAYS["mean"]] = out[ARRAYS["scale"]] = (n_features,)
    if field["target"]:
        out[ARRAYS["target_mean"]] = out[ARRAYS["target_scale"]] = (n_outputs,)
    return out


_UNSCALABLE = ("preprocessing: a target scaling cannot apply to this loss (the Poisson "
               "loss: its targets must stay counts >= 0, its outputs are log-means); set "
               "target_mean and target_scale to None")


def scaled_targets(model: Any, loss: Any, y: Any) -> np.ndarray:
    """``loss.targets`` for ``model``, standardised by its preprocessing (if any)."""
    t: np.ndarray = loss.targets(y, model.n_outputs, model.dtype)
    prep = model.preprocessing
    if prep is not None and prep.target_mean is not None and not loss.scalable_targets:
        raise ValueError(_UNSCALABLE)
    return t if prep is None else prep.targets(t, loss.is_classifier)
