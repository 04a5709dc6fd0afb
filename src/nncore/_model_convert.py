"""A model to the file's description and arrays, and back, through the model's public API.

It does not import ``nncore.model``, so ``Sequential.save`` can use it: the model is
anything with the attributes of ``_Model``. ``nncore.io.load`` builds the ``Sequential``
and ``restore`` gives it the saved state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nncore import _model_file as fmt
from nncore._preprocess import Preprocessing
from nncore._version import __version__
from nncore.backends.ops import Ops
from nncore.backends.plan import ParamStore
from nncore.layers import Dense
from nncore.losses import LOSSES, Loss
from nncore.optimizers import OPTIMIZERS, Optimizer


class _Model(Protocol):
    """What saving and restoring use of a ``Sequential`` (its public interface)."""

    optimizer: Optimizer | None
    preprocessing: Preprocessing | None
    feature_names_in_: np.ndarray | None
    dropout_seed: int
    dropout_step: int

    @property
    def layers(self) -> Sequence[Dense]: ...
    @property
    def dtype(self) -> np.dtype: ...
    @property
    def ops(self) -> Ops: ...
    @property
    def seed(self) -> int | None: ...
    @property
    def loss(self) -> Loss | None: ...
    @property
    def params(self) -> ParamStore | None: ...
    @property
    def n_features(self) -> int | None: ...
    @property
    def n_outputs(self) -> int: ...
    @property
    def rng(self) -> np.random.Generator: ...
    def get_weights(self) -> list[tuple[np.ndarray, np.ndarray]]: ...
    def set_weights(self, weights: Sequence[tuple[Any, Any]]) -> None: ...


def save_model(model: _Model, path: fmt.PathArg, *, classes: Any = None,
               metadata: dict[str, Any] | None = None,
               include_optimizer: bool = False) -> Path:
    """Write ``model`` to one ``.npz`` file, atomically (``nncore.io.save`` documents it).

    Parameters
    ----------
    model : Sequential
        A built model.
    path : str or os.PathLike
        Target file (``.npz`` appended when missing).
    classes : array-like, optional
        Class labels, stored as a list.
    metadata : dict, optional
        A JSON object.
    include_optimizer : bool
        Write a checkpoint (optimizer and generator state too).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    target = fmt.npz_path(path)
    if model.params is None:
        raise RuntimeError("cannot save a model that has no weights yet: call fit (or build) "
                           "first")
    seed = model.seed
    seed = int(seed) if isinstance(seed, int | np.integer) and seed >= 0 else None
    loss = model.loss
    if loss is not None and LOSSES.get(loss.name) is not type(loss):
        raise ValueError(f"cannot save loss {loss!r}: only the built-in losses "
                         f"({', '.join(LOSSES)}) can be saved")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"argument 'metadata' must be a dict, got {type(metadata).__name__}")
    prep = model.preprocessing
    if prep is not None:
        prep.check(model.n_features, model.n_outputs, loss is not None and loss.is_classifier,
                   loss is None or loss.scalable_targets)
        if prep.classes is not None:
            if classes is not None and not np.array_equal(np.asarray(classes), prep.classes):
                raise ValueError("argument 'classes' differs from model.preprocessing.classes")
            classes = prep.classes
    try:
        labels = None if classes is None else fmt.check_classes(classes)
    except fmt.Invalid as exc:
        raise ValueError(f"argument {exc}") from None
    desc = {
        "format": fmt.FORMAT_NAME, "format_version": fmt.FORMAT_VERSION,
        "nncore_version": __version__, "dtype": model.dtype.name,
        "n_features": model.n_features, "backend": model.ops.name, "seed": seed,
        "layers": [{"units": lay.units, "activation": lay.activation,
                    "negative_slope": float(lay.negative_slope)} for lay in model.layers],
        "loss": None if loss is None else {"name": loss.name, "link": loss.link_activation},
        "classes": labels, "metadata": metadata,
    }
    state_arrays: dict[str, np.ndarray] = {}
    if include_optimizer:  # appended: the default description stays byte for byte as it was
        desc["format_version"] = fmt.CHECKPOINT_FORMAT_VERSION
        desc["optimizer"], desc["rng"], state_arrays = _checkpoint(model, model.params)
    if prep is not None:  # version 3, with or without the checkpoint's fields
        desc["format_version"] = fmt.PREPROCESSING_FORMAT_VERSION
        desc["preprocessing"], prep_arrays = prep.to_file()
        state_arrays.update(prep_arrays)
    if loss is not None and loss.name in fmt.NEWER_LOSSES:  # any of the above fields
        desc["format_version"] = fmt.LOSS_FORMAT_VERSION
    names = model.feature_names_in_
    if names is not None:  # any of the above fields, any loss
        desc["format_version"] = fmt.FEATURE_NAMES_FORMAT_VERSION
        desc["feature_names"] = [str(name) for name in names]
    if any(lay.dropout for lay in model.layers):  # any of the above; others as before
        desc["format_version"] = fmt.DROPOUT_FORMAT_VERSION
        for entry, lay in zip(desc["layers"], model.layers, strict=True):
            entry["dropout"] = float(lay.dropout)
        # the key as the generator takes it (modulo 2**64), so any int a user set saves
        desc["dropout"] = {"seed": int(model.dropout_seed) % 2**64,
                           "step": int(model.dropout_step)}
    try:
        arrays = {fmt.JSON_KEY: fmt.encode(desc)}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"argument 'metadata' cannot be stored as JSON: {exc}") from None
    for (w_name, b_name), (W, b) in zip(model.params.layout.names(), model.get_weights(),
                                        strict=True):
        arrays[w_name], arrays[b_name] = W, b
    arrays.update(state_arrays)
    fmt.write(target, arrays)
    return target


def _checkpoint(model: _Model, params: ParamStore) -> tuple[dict[str, Any], dict[str, Any],
                                                            dict[str, np.ndarray]]:
    """The ``optimizer`` and ``rng`` fields and the state arrays of a checkpoint."""
    opt = model.optimizer
    if opt is None:
        raise ValueError("include_optimizer=True: the model has no optimizer yet (fit it "
                         "first)")
    cls = OPTIMIZERS.get(opt.name)
    if cls is not type(opt):
        raise ValueError(f"cannot save optimizer {opt!r}: only the built-in optimizers "
                         f"({', '.join(OPTIMIZERS)}) can be saved")
    config = {key: getattr(opt, key) for key in fmt.optimizer_keys(cls)}
    try:  # attributes set after construction (as the estimators do) must still be valid
        cls(**config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot save optimizer {opt!r}: {exc}") from None
    state = opt.get_state(params)
    arrays: dict[str, np.ndarray] = ({} if state is None else
                                     {f"optimizer.{n}": state[n] for n in cls.buffers})
    rng = dict(model.rng.bit_generator.state)
    if rng.get("bit_generator") != "PCG64":
        raise ValueError(f"cannot save a {rng.get('bit_generator')} generator state: only "
                         "PCG64 (numpy.random.default_rng) can be saved")
    step = None if state is None else state["step"]
    return {"name": opt.name, "config": config, "step": step}, rng, arrays


def restore(model: _Model, desc: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Give a fresh model (built from ``desc``'s layers) the state that ``fmt.read`` read.

    Parameters
    ----------
    model : Sequential
        Not built yet, with the layers, dtype, seed and loss of ``desc``.
    desc : dict
        The validated description.
    arrays : dict of str to ndarray
        The checked arrays.
    """
    model.set_weights([(arrays[w_name], arrays[b_name])
                       for w_name, b_name in fmt.layout(desc).names()])
    if desc["classes"] is not None:
        model.classes_ = np.asarray(desc["classes"])  # type: ignore[attr-defined]
    if desc["metadata"] is not None:
        model.metadata_ = desc["metadata"]  # type: ignore[attr-defined]
    if "dropout" in desc:  # validated by fmt.read; the rates came with the layers
        model.dropout_seed, model.dropout_step = desc["dropout"]["seed"], desc["dropout"]["step"]
    if "feature_names" in desc:  # validated by fmt.read: n_features distinct strings
        model.feature_names_in_ = np.asarray(desc["feature_names"], dtype=object)
    if "preprocessing" in desc:  # validated by fmt.read (fields, shapes, float64, values)
        model.preprocessing = Preprocessing.from_file(desc["preprocessing"], arrays,
                                                      getattr(model, "classes_", None))
    if "optimizer" in desc:  # a checkpoint; everything below was validated by fmt.read
        assert model.params is not None
        spec = desc["optimizer"]
        cls = OPTIMIZERS[spec["name"]]
        opt = cls(**spec["config"])
        if spec["step"] is not None:
            opt.set_state(model.params, {"step": spec["step"], **{
                n: np.asarray(arrays[f"optimizer.{n}"], model.dtype) for n in cls.buffers}})
        model.optimizer = opt
        model.rng.bit_generator.state = desc["rng"]  # after set_weights, which draws
