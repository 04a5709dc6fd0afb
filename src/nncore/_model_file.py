"""The model file format on its own: constants, validation, the atomic writer, the reader.

This module knows descriptions (JSON objects) and arrays, not models: ``nncore._model_convert``
turns a model into them and back, ``nncore.io`` is the public face. The format itself is
documented at the top of ``nncore.io``; keep that text in step with the code here.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from nncore import _preprocess
from nncore._atomic import write_atomic
from nncore.backends import activations
from nncore.backends.plan import ParamLayout
from nncore.losses import LOSSES
from nncore.optimizers import OPTIMIZERS, Optimizer

#: Version of the weights-only layout that ``save`` writes by default (every nncore reads it).
FORMAT_VERSION = 1
#: Version written by ``save(..., include_optimizer=True)``: version 1 plus the optimizer and
#: the generator. ``load`` reads versions 1 .. this one.
CHECKPOINT_FORMAT_VERSION = 2
#: Version of a model with ``preprocessing`` (version 1 plus that field and its float64
#: arrays, with or without the checkpoint's fields). ``load`` reads versions 1 .. this one.
PREPROCESSING_FORMAT_VERSION = 3
#: Version of a model whose loss came after version 3 ("poisson"): version 1 plus the
#: checkpoint's fields and ``preprocessing``, each where it applies. Older nncore refuses
#: it with "upgrade" rather than "invalid 'loss'". ``load`` reads versions 1 .. this one.
LOSS_FORMAT_VERSION = 4
#: Version of a model that knows its features' names (fitted on a table): version 1 plus
#: ``feature_names`` and each later group of fields where it applies, any loss. Older
#: nncore refuses it with "upgrade". ``load`` reads versions 1 .. this one.
FEATURE_NAMES_FORMAT_VERSION = 5
#: Version of a model with dropout: every layer has a ``dropout`` rate, and the field
#: ``dropout`` holds the generator's key and step; the later groups where they apply.
DROPOUT_FORMAT_VERSION = 6
#: The newest version this nncore reads.
NEWEST_FORMAT_VERSION = DROPOUT_FORMAT_VERSION
#: The losses a file needs LOSS_FORMAT_VERSION (or later) for (the others exist since 1).
NEWER_LOSSES = frozenset({"poisson"})
FORMAT_NAME = "nncore.Sequential"
JSON_KEY = "__nncore__.json"
MAX_JSON_BYTES = 64 << 20
_FIELDS = {"format", "format_version", "nncore_version", "dtype", "n_features", "backend",
           "seed", "layers", "loss", "classes", "metadata"}
_CHECKPOINT_FIELDS = {"optimizer", "rng"}
_PREPROCESSING_FIELDS = {"features", "target", "labels"}
_LAYER_FIELDS = {"units", "activation", "negative_slope"}
_OPTIMIZER_FIELDS = {"name", "config", "step"}
_RNG_FIELDS = {"bit_generator", "state", "has_uint32", "uinteger"}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_HEADERS = {(1, 0): "read_array_header_1_0", (2, 0): "read_array_header_2_0"}
PathArg = str | os.PathLike[str]


class ModelFileError(ValueError):
    """A model file that cannot be loaded: not an archive, damaged, or invalid content."""

    # Its public home: tracebacks and pickles name ``nncore.io.ModelFileError`` as before.
    __module__ = "nncore.io"


class Invalid(Exception):
    """What is wrong with the file's content (``read`` adds the path)."""


def npz_path(path: PathArg) -> Path:
    """``path`` as a ``Path``, with ``.npz`` appended when missing (as ``numpy.savez`` does).

    Parameters
    ----------
    path : str or os.PathLike
        The path given to ``save`` or ``load``.

    Returns
    -------
    pathlib.Path
        The file actually written or read.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"argument 'path' must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(os.fsdecode(os.fspath(path)))
    return p if p.name.endswith(".npz") else p.with_name(p.name + ".npz")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(desc: dict[str, Any]) -> np.ndarray:
    """The description as the ``JSON_KEY`` array: UTF-8 JSON bytes as uint8.

    NumPy scalars and arrays become numbers and lists; NaN, infinity and other objects
    raise ``ValueError`` or ``TypeError`` (as ``json.dumps`` does).
    """
    text = json.dumps(desc, allow_nan=False, ensure_ascii=False, default=_jsonable)
    return np.frombuffer(text.encode("utf-8"), np.uint8)


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise Invalid(what)


def check_classes(classes: Any) -> list[Any]:
    """Validate class labels: a non-empty list of unique strings, numbers or booleans.

    Parameters
    ----------
    classes : iterable
        The labels (NumPy scalars are converted to Python ones).

    Returns
    -------
    list
        The labels as Python objects, in order.

    Raises
    ------
    Invalid
        Naming the problem.
    """
    _need(not isinstance(classes, str | bytes | dict) and hasattr(classes, "__iter__"),
          f"'classes' must be a list, got {type(classes).__name__}")
    items = [c.item() if isinstance(c, np.generic) else c for c in classes]
    kinds = {str if isinstance(c, str) else bool if isinstance(c, bool)
             else float if isinstance(c, int | float) else None for c in items}
    _need(bool(items) and None not in kinds and len(kinds) == 1, "'classes' must be a "
          "non-empty list of strings, numbers or booleans (all of one kind)")
    _need(all(math.isfinite(c) for c in items if isinstance(c, float)),
          "'classes' must not hold NaN or infinity")
    _need(len(set(items)) == len(items), "'classes' holds duplicate labels")
    return items


def optimizer_keys(cls: type[Optimizer]) -> dict[str, Any]:
    """The constructor arguments of a built-in optimizer, with their defaults."""
    return {name: p.default for name, p in inspect.signature(cls).parameters.items()}


def write(target: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` into a fresh temporary file beside ``target``, then rename it over.

    Parameters
    ----------
    target : pathlib.Path
        The file; replaced only once the new one is completely written and fsynced.
    arrays : dict of str to ndarray
        Written in this order (``JSON_KEY`` first).
    """
    # numpy's stub: a key could be savez's own allow_pickle; ours never are.
    write_atomic(target, lambda fh: np.savez(fh, **arrays))  # type: ignore[arg-type]


def read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check a model file without unpickling anything.

    Parameters
    ----------
    path : pathlib.Path
        The file (already with its ``.npz`` suffix).

    Returns
    -------
    desc : dict
        The validated description (``classes`` as Python objects).
    arrays : dict of str to ndarray
        Every array but ``JSON_KEY``, by name, each with the name, shape and dtype the
        description implies.

    Raises
    ------
    ModelFileError
        Naming the file and the problem.
    FileNotFoundError
        No such file.
    """
    with open(path, "rb") as fh:
        try:
            _need(fh.read(4) in _ZIP_MAGIC, "not an .npz archive (no zip signature)")
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as npz:
                names = npz.zip.namelist()
                _need(JSON_KEY + ".npy" in names,
                      f"no '{JSON_KEY}' array: not a model saved by nncore")
                shape = _header(npz, JSON_KEY, np.dtype(np.uint8), None)
                _need(len(shape) == 1 and shape[0] <= MAX_JSON_BYTES, f"'{JSON_KEY}' must be "
                      f"a 1-D array of at most {MAX_JSON_BYTES} bytes, got shape {shape}")
                desc = _description(npz[JSON_KEY].tobytes())
                shapes = _shapes(desc)
                expected = {JSON_KEY + ".npy", *(k + ".npy" for k in shapes)}
                _need(len(names) == len(set(names)) and set(names) == expected,
                      f"the arrays do not match the description (missing "
                      f"{sorted(expected - set(names))}, unexpected "
                      f"{sorted(set(names) - expected)}, or repeated)")
                dtype, arrays = np.dtype(desc["dtype"]), {}
                for key, shape in shapes.items():
                    prep = key.startswith("preprocessing.")  # float64 in either dtype
                    _header(npz, key, np.dtype(np.float64) if prep else dtype, shape)
                    arrays[key] = npz[key]
                    _need(arrays[key].shape == shape, f"array '{key}' has the wrong shape")
                    _need(not prep or (np.isfinite(arrays[key]).all() and (
                        not key.endswith("scale") or (arrays[key] > 0).all())),
                          f"array '{key}' must be finite (and a scale positive)")
        except Invalid as exc:
            raise ModelFileError(f"cannot load model file '{path}': {exc}") from None
        except Exception as exc:
            raise ModelFileError(f"cannot load model file '{path}': the file is damaged or "
                                 f"truncated ({type(exc).__name__}: {exc})") from exc
    return desc, arrays


def _header(npz: Any, key: str, dtype: np.dtype,
            shape: tuple[int, ...] | None) -> tuple[int, ...]:
    """Check the ``.npy`` header of ``key`` (dtype, shape) before its data is read."""
    with npz.zip.open(key + ".npy") as fh:
        version = np.lib.format.read_magic(fh)
        _need(version in _NPY_HEADERS, f"array '{key}' has unsupported .npy version {version}")
        got_shape, _, got = getattr(np.lib.format, _NPY_HEADERS[version])(fh)
    _need(not got.hasobject and got.newbyteorder("=") == dtype,
          f"array '{key}' has dtype {got}, expected {dtype}")
    _need(shape is None or got_shape == shape,
          f"array '{key}' has shape {got_shape}, expected {shape}")
    return tuple(got_shape)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    _need(len({k for k, _ in pairs}) == len(pairs), "the JSON description repeats a key")
    return dict(pairs)


def _no_constant(name: str) -> None:
    raise Invalid(f"the JSON description holds {name}, which is not valid JSON")


def _int(value: Any, low: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _description(data: bytes) -> dict[str, Any]:
    """Parse and validate the JSON description; raise ``Invalid`` naming the problem."""
    try:
        desc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise Invalid(f"the description is not valid UTF-8 JSON ({exc})") from None
    _need(isinstance(desc, dict),
          f"the JSON description must be an object, got {type(desc).__name__}")
    version = desc.get("format_version")
    _need(version is not None, "the description has no 'format_version'")
    _need(_int(version), f"'format_version' must be an integer >= 1, got {version!r}")
    _need(version <= NEWEST_FORMAT_VERSION,
          f"format version {version} (nncore {desc.get('nncore_version')!r}) is newer than "
          f"this nncore reads (up to {NEWEST_FORMAT_VERSION}): upgrade nncore")
    _need(desc.get("format") == FORMAT_NAME,
          f"'format' must be {FORMAT_NAME!r}, got {desc.get('format')!r}")
    fields = _FIELDS | _CHECKPOINT_FIELDS if version == CHECKPOINT_FORMAT_VERSION else _FIELDS
    if version == PREPROCESSING_FORMAT_VERSION:  # a checkpoint or not: both fields or none
        fields = fields | {"preprocessing"} | (
            _CHECKPOINT_FIELDS if _CHECKPOINT_FIELDS & set(desc) else set())
    if version >= LOSS_FORMAT_VERSION:  # each later group of fields, whole, where it applies
        fields = fields | ({"preprocessing"} & set(desc)) | (
            _CHECKPOINT_FIELDS if _CHECKPOINT_FIELDS & set(desc) else set())
    if version == FEATURE_NAMES_FORMAT_VERSION or (version > 5 and "feature_names" in desc):
        fields = fields | {"feature_names"}
    if version == DROPOUT_FORMAT_VERSION:
        fields = fields | {"dropout"}
    _need(set(desc) == fields, f"wrong fields in the description (missing "
          f"{sorted(fields - set(desc))}, unknown {sorted(set(desc) - fields)})")
    seed, layers, loss = desc["seed"], desc["layers"], desc["loss"]
    for field, ok in (("nncore_version", isinstance(desc["nncore_version"], str)),
                      ("dtype", desc["dtype"] in ("float32", "float64")),
                      ("n_features", _int(desc["n_features"])),
                      ("backend", desc["backend"] in ("cython", "numpy")),
                      ("seed", seed is None or _int(seed, 0)),
                      ("layers", isinstance(layers, list) and bool(layers)),
                      ("metadata", desc["metadata"] is None or isinstance(desc["metadata"], dict))):
        _need(ok, f"invalid '{field}': {desc[field]!r}")
    layer_fields = _LAYER_FIELDS | ({"dropout"} if "dropout" in fields else set())
    for i, layer in enumerate(layers):
        _need(isinstance(layer, dict) and set(layer) == layer_fields,
              f"layers[{i}] must be an object with fields {sorted(layer_fields)}")
        units, act, slope = layer["units"], layer["activation"], layer["negative_slope"]
        _need(_int(units), f"layers[{i}]: 'units' must be an integer >= 1, got {units!r}")
        _need(act in activations.NAMES, f"layers[{i}]: unknown activation {act!r}")
        _need(isinstance(slope, int | float) and not isinstance(slope, bool)
              and math.isfinite(slope) and slope >= 0,
              f"layers[{i}]: 'negative_slope' must be a number >= 0, got {slope!r}")
    if loss is not None:
        _need(isinstance(loss, dict) and set(loss) == {"name", "link"}
              and isinstance(loss["name"], str) and loss["name"] in LOSSES,
              f"invalid 'loss' {loss!r}: expected {{'name': one of {list(LOSSES)}, 'link': ...}}")
        newer = loss["name"] in NEWER_LOSSES
        _need(newer == (version == LOSS_FORMAT_VERSION) or version > LOSS_FORMAT_VERSION,
              f"loss {loss['name']!r} in format version {version}: the losses "
              f"{sorted(NEWER_LOSSES)} need version {LOSS_FORMAT_VERSION}, which holds no other")
        link = LOSSES[loss["name"]].link_activation
        _need(loss["link"] == link, f"loss {loss['name']!r} has link {link!r}, not "
              f"{loss['link']!r}")
        try:
            LOSSES[loss["name"]]().check_output_layer(layers[-1]["units"],
                                                      layers[-1]["activation"])
        except ValueError as exc:
            raise Invalid(f"the loss does not fit the last layer: {exc}") from None
    _need(loss is not None or version != LOSS_FORMAT_VERSION,
          f"format version {LOSS_FORMAT_VERSION} needs a loss from {sorted(NEWER_LOSSES)}")
    if desc["classes"] is not None:
        desc["classes"] = check_classes(desc["classes"])
    if "feature_names" in desc:
        names = desc["feature_names"]
        _need(isinstance(names, list) and len(names) == desc["n_features"]
              and all(isinstance(name, str) for name in names)
              and len(set(names)) == len(names),
              f"'feature_names' must be {desc['n_features']} distinct strings (one per "
              f"feature), got {names!r}"[:300])
    if "dropout" in desc:
        _check_dropout(desc["dropout"], layers)
    if "optimizer" in desc:
        _check_optimizer(desc["optimizer"])
        _check_rng(desc["rng"])
    if "preprocessing" in desc:
        _check_preprocessing(desc["preprocessing"], desc)
    return desc


def _check_preprocessing(field: Any, desc: dict[str, Any]) -> None:
    """Version 3's ``preprocessing`` field: which parts the arrays hold, fitting the loss."""
    _need(isinstance(field, dict) and set(field) == _PREPROCESSING_FIELDS
          and all(isinstance(v, bool) for v in field.values()) and any(field.values()),
          f"'preprocessing' must be an object of booleans {sorted(_PREPROCESSING_FIELDS)}, "
          f"at least one true, got {field!r}")
    loss = desc["loss"]
    classifier = loss is not None and LOSSES[loss["name"]].is_classifier
    _need(not field["labels"] or (classifier and desc["classes"] is not None),
          "'preprocessing': 'labels' needs a classification loss and 'classes'")
    _need(not field["target"] or not classifier,
          "'preprocessing': 'target' (a target scaling) needs a regression loss")
    _need(not field["target"] or loss is None or LOSSES[loss["name"]].scalable_targets,
          f"'preprocessing': 'target' (a target scaling) cannot apply to loss {loss!r}")


def _check_dropout(field: Any, layers: list[dict[str, Any]]) -> None:
    """Version 6: the rates (in [0, 1), none on the last or a softmax layer), the
    generator's key (an integer in [0, 2**64)) and step (>= 0)."""
    for i, lay in enumerate(layers):
        rate = lay["dropout"]
        _need(_number(rate) and 0 <= rate < 1 and not (rate and (
            i == len(layers) - 1 or lay["activation"] == "softmax")),
              f"layers[{i}]: 'dropout' must be a number in [0, 1), 0 on the last layer and "
              f"on a softmax layer, got {rate!r}")
    _need(isinstance(field, dict) and set(field) == {"seed", "step"}
          and _int(field["seed"], 0) and field["seed"] < 1 << 64 and _int(field["step"], 0),
          f"'dropout' must be {{'seed': an integer in [0, 2**64), 'step': an integer "
          f">= 0}}, got {field!r}"[:300])


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(
        value)


def _check_optimizer(spec: Any) -> None:
    """The checkpoint's ``optimizer`` field: a built-in optimizer the constructor accepts."""
    _need(isinstance(spec, dict) and set(spec) == _OPTIMIZER_FIELDS,
          f"'optimizer' must be an object with fields {sorted(_OPTIMIZER_FIELDS)}")
    name, config, step = spec["name"], spec["config"], spec["step"]
    _need(isinstance(name, str) and name in OPTIMIZERS,
          f"unknown optimizer {name!r}: expected one of {list(OPTIMIZERS)}")
    cls = OPTIMIZERS[name]
    defaults = optimizer_keys(cls)
    _need(isinstance(config, dict) and set(config) == set(defaults),
          f"optimizer {name!r}: 'config' must be an object with fields {sorted(defaults)}")
    for key, value in config.items():
        ok = isinstance(value, bool) if isinstance(defaults[key], bool) else _number(value)
        _need(ok, f"optimizer {name!r}: invalid {key!r}: {value!r}")
    try:
        cls(**config)
    except (TypeError, ValueError) as exc:
        raise Invalid(f"optimizer {name!r}: {exc}") from None
    _need(step is None or (_int(step, 0) and (cls.counts_steps or step == 0)),
          f"optimizer {name!r}: 'step' must be null or an integer >= 0"
          f"{'' if cls.counts_steps else ' (0: it counts no steps)'}, got {step!r}")


def _check_rng(rng: Any) -> None:
    """The checkpoint's ``rng`` field: a ``PCG64`` state as ``bit_generator.state`` has it."""
    _need(isinstance(rng, dict) and set(rng) == _RNG_FIELDS
          and rng["bit_generator"] == "PCG64",
          f"'rng' must be a PCG64 state with fields {sorted(_RNG_FIELDS)}")
    inner = rng["state"]
    _need(isinstance(inner, dict) and set(inner) == {"state", "inc"}
          and all(_int(v, 0) and v < 1 << 128 for v in inner.values()) and inner["inc"] % 2,
          "'rng': 'state' must hold integers 'state' and 'inc' in [0, 2**128), 'inc' odd")
    _need(rng["has_uint32"] in (0, 1) and _int(rng["has_uint32"], 0)
          and _int(rng["uinteger"], 0) and rng["uinteger"] < 1 << 32,
          "'rng': 'has_uint32' must be 0 or 1 and 'uinteger' an integer in [0, 2**32)")


def layout(desc: dict[str, Any]) -> ParamLayout:
    """The parameter layout of a (validated) description: it names and shapes the arrays."""
    return ParamLayout([desc["n_features"], *(layer["units"] for layer in desc["layers"])])


def _shapes(desc: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Expected array names and shapes, in file order, from the (validated) description."""
    try:
        params = layout(desc)
    except OverflowError:  # widths past int64: no file can hold such arrays
        raise Invalid("'n_features' or a layer's 'units' is too large (at most 2**63 - 1)"
                      ) from None
    shapes: dict[str, tuple[int, ...]] = {}
    for (w_name, b_name), (n_in, n_out) in zip(params.names(), params.shapes, strict=True):
        shapes[w_name], shapes[b_name] = (n_in, n_out), (n_out,)
    if "optimizer" in desc and desc["optimizer"]["step"] is not None:
        # State buffers have the parameters' flat layout (see ParamLayout).
        for name in OPTIMIZERS[desc["optimizer"]["name"]].buffers:
            shapes[f"optimizer.{name}"] = (params.size,)
    if "preprocessing" in desc:
        shapes.update(_preprocess.shapes(desc["preprocessing"], desc["n_features"],
                                         desc["layers"][-1]["units"]))
    return shapes
