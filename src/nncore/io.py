"""Save a ``Sequential`` to one ``.npz`` file; load it back without running any code.

The file is an uncompressed NumPy ``.npz`` archive with the arrays ``__nncore__.json``
(uint8: the UTF-8 JSON description) and ``layer{i}.W`` ``(n_in, units)``, ``layer{i}.b``
``(units,)`` in the model's dtype. JSON fields: ``format`` (``"nncore.Sequential"``),
``format_version`` (int), ``nncore_version``, ``dtype``, ``n_features``, ``backend`` (that
saved; informative only), ``seed``, ``layers`` (``[{"units", "activation",
"negative_slope"}]``), ``loss`` (null or ``{"name", "link"}``), ``classes`` (null or a list
of strings, numbers or booleans), ``metadata`` (null or an object). By default the
optimizer and the random generator are not saved: a loaded model predicts identically.

``save(..., include_optimizer=True)`` writes a checkpoint (``format_version`` 2) from which
training continues exactly as it would have in place: two more fields, ``optimizer``
(``{"name", "config", "step"}``: a built-in optimizer's name, its constructor arguments
and its step count, or ``step`` null when its state is fresh) and ``rng`` (the shuffling
generator's ``PCG64`` state, numbers as in ``bit_generator.state``), and one array
``optimizer.<buffer>`` of shape ``(n_params,)`` in the model's dtype per state buffer
(``SGD``: ``v``; ``Adam``/``AdamW``: ``m``, ``v``; none when ``step`` is null). Files
without these fields (version 1) load as before.

``save`` and ``load`` both append ``.npz`` to a path without it (as ``numpy.savez`` does).
``save`` writes a temporary file beside the target, fsyncs it and renames it over the
target, so the file is the old one or the complete new one. ``load`` reads with
``allow_pickle=False`` and checks every field, array name, shape and dtype (each ``.npy``
header before its data); any problem raises ``ModelFileError``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from nncore.backends import activations
from nncore.layers import Dense
from nncore.losses import LOSSES
from nncore.model import Sequential
from nncore.optimizers import OPTIMIZERS, Optimizer

__all__ = ["CHECKPOINT_FORMAT_VERSION", "FORMAT_VERSION", "ModelFileError", "load", "save"]

#: Version of the weights-only layout that ``save`` writes by default (every nncore reads it).
FORMAT_VERSION = 1
#: Version written by ``save(..., include_optimizer=True)``: version 1 plus the optimizer and
#: the generator. ``load`` reads versions 1 .. this one.
CHECKPOINT_FORMAT_VERSION = 2
FORMAT_NAME = "nncore.Sequential"
JSON_KEY = "__nncore__.json"
MAX_JSON_BYTES = 64 << 20
_FIELDS = {"format", "format_version", "nncore_version", "dtype", "n_features", "backend",
           "seed", "layers", "loss", "classes", "metadata"}
_CHECKPOINT_FIELDS = {"optimizer", "rng"}
_LAYER_FIELDS = {"units", "activation", "negative_slope"}
_OPTIMIZER_FIELDS = {"name", "config", "step"}
_RNG_FIELDS = {"bit_generator", "state", "has_uint32", "uinteger"}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_HEADERS = {(1, 0): "read_array_header_1_0", (2, 0): "read_array_header_2_0"}
PathArg = str | os.PathLike[str]


class ModelFileError(ValueError):
    """A model file that cannot be loaded: not an archive, damaged, or invalid content."""


class _Invalid(Exception):
    """Internal: what is wrong with the file (the path is added by ``_read``)."""


def _path(path: PathArg) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"argument 'path' must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(os.fsdecode(os.fspath(path)))
    return p if p.name.endswith(".npz") else p.with_name(p.name + ".npz")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise _Invalid(what)


def _classes(classes: Any) -> list[Any]:
    """Validate class labels: a non-empty list of unique strings, numbers or booleans."""
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


def save(model: Sequential, path: PathArg, *, classes: Any = None,
         metadata: dict[str, Any] | None = None, include_optimizer: bool = False) -> Path:
    """Write ``model`` (built) to one ``.npz`` file, atomically.

    Parameters
    ----------
    model : Sequential
        A built model (it has seen data, or ``build`` was called).
    path : str or os.PathLike
        Target file (``.npz`` appended when missing); replaced only once the new one is
        completely written.
    classes : array-like, optional
        Class labels (e.g. scikit-learn's ``classes_``): strings, numbers or booleans, all
        of one kind; ``load`` sets ``model.classes_`` to them as a NumPy array.
    metadata : dict, optional
        A JSON object (NumPy scalars and arrays become numbers and lists); ``load`` sets
        ``model.metadata_`` to it.
    include_optimizer : bool
        Also write the optimizer (hyper-parameters, moments or velocity, step count) and
        the state of the shuffling generator: a checkpoint (format version 2, which
        nncore 0.1.0 does not read) from which ``load`` then ``fit`` continues training
        bit for bit as the saved model would have. Default: the weights only.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    RuntimeError
        The model has no weights yet.
    TypeError, ValueError
        A custom loss; labels or metadata that JSON cannot hold; with
        ``include_optimizer``, no optimizer yet (the model was never fitted) or a custom
        one.
    OSError
        Writing failed; the temporary file is removed, the previous file left intact.
    """
    import nncore

    target = _path(path)
    if not isinstance(model, Sequential):
        raise TypeError(f"argument 'model' must be a Sequential, got {type(model).__name__}")
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
    try:
        labels = None if classes is None else _classes(classes)
    except _Invalid as exc:
        raise ValueError(f"argument {exc}") from None
    desc = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "nncore_version": nncore.__version__, "dtype": model.dtype.name,
        "n_features": model.n_features, "backend": model.ops.name, "seed": seed,
        "layers": [{"units": lay.units, "activation": lay.activation,
                    "negative_slope": float(lay.negative_slope)} for lay in model.layers],
        "loss": None if loss is None else {"name": loss.name, "link": loss.link_activation},
        "classes": labels, "metadata": metadata,
    }
    state_arrays: dict[str, np.ndarray] = {}
    if include_optimizer:  # appended: the default description stays byte for byte as it was
        desc["format_version"] = CHECKPOINT_FORMAT_VERSION
        desc["optimizer"], desc["rng"], state_arrays = _checkpoint(model)
    try:
        text = json.dumps(desc, allow_nan=False, ensure_ascii=False, default=_jsonable)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"argument 'metadata' cannot be stored as JSON: {exc}") from None
    arrays = {JSON_KEY: np.frombuffer(text.encode("utf-8"), np.uint8)}
    for i, (W, b) in enumerate(model.get_weights()):
        arrays[f"layer{i}.W"], arrays[f"layer{i}.b"] = W, b
    arrays.update(state_arrays)
    _atomic_savez(target, arrays)
    return target


def _optimizer_keys(cls: type[Optimizer]) -> dict[str, Any]:
    """The constructor arguments of a built-in optimizer, with their defaults."""
    return {name: p.default for name, p in inspect.signature(cls).parameters.items()}


def _checkpoint(model: Sequential) -> tuple[dict[str, Any], dict[str, Any],
                                            dict[str, np.ndarray]]:
    """The ``optimizer`` and ``rng`` fields and the state arrays of a checkpoint."""
    opt = model.optimizer
    assert model.params is not None
    if opt is None:
        raise ValueError("include_optimizer=True: the model has no optimizer yet (fit it "
                         "first)")
    cls = OPTIMIZERS.get(opt.name)
    if cls is not type(opt):
        raise ValueError(f"cannot save optimizer {opt!r}: only the built-in optimizers "
                         f"({', '.join(OPTIMIZERS)}) can be saved")
    config = {key: getattr(opt, key) for key in _optimizer_keys(cls)}
    try:  # attributes set after construction (as the estimators do) must still be valid
        cls(**config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot save optimizer {opt!r}: {exc}") from None
    state = opt.get_state(model.params)
    arrays: dict[str, np.ndarray] = ({} if state is None else
                                     {f"optimizer.{n}": state[n] for n in cls.buffers})
    rng = dict(model._rng.bit_generator.state)
    if rng.get("bit_generator") != "PCG64":
        raise ValueError(f"cannot save a {rng.get('bit_generator')} generator state: only "
                         "PCG64 (numpy.random.default_rng) can be saved")
    step = None if state is None else state["step"]
    return {"name": opt.name, "config": config, "step": step}, rng, arrays


def _atomic_savez(target: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` into a fresh temporary file beside ``target``, then rename it over."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never reuse an existing file; mode 0o666 lets the umask decide, as open() does.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            # numpy's stub: a key could be savez's own allow_pickle; ours never are.
            np.savez(fh, **arrays)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, target.stat().st_mode & 0o7777)  # keep a replaced file's mode
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable (POSIX only)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def load(path: PathArg, backend: str | None = None) -> Sequential:
    """Load a model written by ``save``; nothing in the file is executed.

    Parameters
    ----------
    path : str or os.PathLike
        The file; ``.npz`` is appended when missing.
    backend : {"auto", "cython", "numpy"}, optional
        Backend of the loaded model; None reads ``NNCORE_BACKEND`` (the backend that
        saved the file does not matter).

    Returns
    -------
    Sequential
        Built, with the saved weights, dtype and loss; ``model.classes_`` (NumPy array)
        and ``model.metadata_`` (dict) are set when saved (pickling does not keep them).
        From a checkpoint (``include_optimizer=True``) also ``model.optimizer`` with its
        state and the shuffling generator's state, so ``fit`` continues exactly.

    Raises
    ------
    ModelFileError
        (a ``ValueError``) naming the file and the problem: not an ``.npz`` archive,
        truncated or damaged, object (pickled) arrays, a missing or newer format version,
        an invalid description, missing or extra arrays, wrong shapes or dtypes.
    FileNotFoundError
        No such file.
    """
    desc, arrays = _read(_path(path))
    model = Sequential([Dense(**cfg) for cfg in desc["layers"]], dtype=desc["dtype"],
                       backend=backend, seed=desc["seed"],
                       loss=None if desc["loss"] is None else desc["loss"]["name"])
    model.set_weights([(arrays[f"layer{i}.W"], arrays[f"layer{i}.b"])
                       for i in range(len(desc["layers"]))])
    if desc["classes"] is not None:
        model.classes_ = np.asarray(desc["classes"])  # type: ignore[attr-defined]
    if desc["metadata"] is not None:
        model.metadata_ = desc["metadata"]  # type: ignore[attr-defined]
    if "optimizer" in desc:  # a checkpoint; everything below was validated by _read
        assert model.params is not None
        spec = desc["optimizer"]
        cls = OPTIMIZERS[spec["name"]]
        opt = cls(**spec["config"])
        if spec["step"] is not None:
            opt.set_state(model.params, {"step": spec["step"], **{
                n: np.asarray(arrays[f"optimizer.{n}"], model.dtype) for n in cls.buffers}})
        model.optimizer = opt
        model._rng.bit_generator.state = desc["rng"]  # after set_weights, which draws
    return model


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
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
                    _header(npz, key, dtype, shape)
                    arrays[key] = npz[key]
                    _need(arrays[key].shape == shape, f"array '{key}' has the wrong shape")
        except _Invalid as exc:
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
    raise _Invalid(f"the JSON description holds {name}, which is not valid JSON")


def _int(value: Any, low: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _description(data: bytes) -> dict[str, Any]:
    """Parse and validate the JSON description; raise ``_Invalid`` naming the problem."""
    try:
        desc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _Invalid(f"the description is not valid UTF-8 JSON ({exc})") from None
    _need(isinstance(desc, dict),
          f"the JSON description must be an object, got {type(desc).__name__}")
    version = desc.get("format_version")
    _need(version is not None, "the description has no 'format_version'")
    _need(_int(version), f"'format_version' must be an integer >= 1, got {version!r}")
    _need(version <= CHECKPOINT_FORMAT_VERSION,
          f"format version {version} (nncore {desc.get('nncore_version')!r}) is newer than "
          f"this nncore reads (up to {CHECKPOINT_FORMAT_VERSION}): upgrade nncore")
    _need(desc.get("format") == FORMAT_NAME,
          f"'format' must be {FORMAT_NAME!r}, got {desc.get('format')!r}")
    fields = _FIELDS | _CHECKPOINT_FIELDS if version >= CHECKPOINT_FORMAT_VERSION else _FIELDS
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
    for i, layer in enumerate(layers):
        _need(isinstance(layer, dict) and set(layer) == _LAYER_FIELDS,
              f"layers[{i}] must be an object with fields {sorted(_LAYER_FIELDS)}")
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
        link = LOSSES[loss["name"]].link_activation
        _need(loss["link"] == link, f"loss {loss['name']!r} has link {link!r}, not "
              f"{loss['link']!r}")
        try:
            LOSSES[loss["name"]]().check_output_layer(layers[-1]["units"],
                                                      layers[-1]["activation"])
        except ValueError as exc:
            raise _Invalid(f"the loss does not fit the last layer: {exc}") from None
    if desc["classes"] is not None:
        desc["classes"] = _classes(desc["classes"])
    if "optimizer" in desc:
        _check_optimizer(desc["optimizer"])
        _check_rng(desc["rng"])
    return desc


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
    defaults = _optimizer_keys(cls)
    _need(isinstance(config, dict) and set(config) == set(defaults),
          f"optimizer {name!r}: 'config' must be an object with fields {sorted(defaults)}")
    for key, value in config.items():
        ok = isinstance(value, bool) if isinstance(defaults[key], bool) else _number(value)
        _need(ok, f"optimizer {name!r}: invalid {key!r}: {value!r}")
    try:
        cls(**config)
    except (TypeError, ValueError) as exc:
        raise _Invalid(f"optimizer {name!r}: {exc}") from None
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


def _shapes(desc: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Expected array names and shapes, from the (validated) description."""
    shapes: dict[str, tuple[int, ...]] = {}
    n_in = desc["n_features"]
    for i, layer in enumerate(desc["layers"]):
        shapes[f"layer{i}.W"], shapes[f"layer{i}.b"] = (n_in, layer["units"]), (layer["units"],)
        n_in = layer["units"]
    if "optimizer" in desc and desc["optimizer"]["step"] is not None:
        n_params = sum(math.prod(shape) for shape in shapes.values())
        for name in OPTIMIZERS[desc["optimizer"]["name"]].buffers:
            shapes[f"optimizer.{name}"] = (n_params,)
    return shapes
