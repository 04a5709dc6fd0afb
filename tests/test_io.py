"""Saving and loading models: one ``.npz`` file, identical predictions, hostile files."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nncore
from nncore._model_file import LOSS_FORMAT_VERSION, NEWEST_FORMAT_VERSION
from nncore.io import (
    FORMAT_VERSION,
    JSON_KEY,
    ModelFileError,
    load,
    save,
)


def _trained(backend: str = "numpy", dtype: Any = np.float32, loss: Any = "softmax_cross_entropy",
             units: int = 2) -> tuple[nncore.Sequential, np.ndarray]:
    X, y = nncore.make_moons(120, noise=0.2, seed=3)
    model = nncore.Sequential(
        [nncore.Dense(8, "relu"), nncore.Dense(6, "leaky_relu", negative_slope=0.2),
         nncore.Dense(5, "tanh"), nncore.Dense(units)],
        dtype=dtype, backend=backend, seed=1)
    if loss is None:
        model.build(X.shape[1])
    else:
        target = np.column_stack([y] * units).astype(float) if loss in ("mse", "poisson") else y
        model.fit(X, target, epochs=2, batch_size=16, loss=loss, verbose=0)
    return model, X


def _listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# ---------------------------------------------------------------------- round trips
def test_round_trip_identical_predictions(ops: nncore.Ops, dtype: type, tmp_path: Path) -> None:
    model, X = _trained(ops.name, dtype)
    path = model.save(tmp_path / "model.npz")
    assert path == tmp_path / "model.npz" and _listing(tmp_path) == ["model.npz"]
    twin = load(path, backend=ops.name)
    assert twin.ops.name == ops.name and twin.dtype == np.dtype(dtype)
    assert twin.n_features == 2 and twin.loss == nncore.SoftmaxCrossEntropy()
    assert [lay.get_config() for lay in twin.layers] == [
        lay.get_config() for lay in model.layers]
    out, twin_out = model.predict_outputs(X), twin.predict_outputs(X)
    assert twin_out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(twin_out, out)
    np.testing.assert_array_equal(twin.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(twin.predict(X), model.predict(X))
    for (W, b), (W2, b2) in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(W2, W)
        np.testing.assert_array_equal(b2, b)


@pytest.mark.parametrize(("loss", "units"), [("softmax_cross_entropy", 3),
                                             ("binary_cross_entropy", 1), ("mse", 2),
                                             ("poisson", 1), ("poisson", 2), (None, 4)])
def test_round_trip_of_the_loss(loss: str | None, units: int, tmp_path: Path) -> None:
    model, X = _trained(loss=loss, units=units)
    twin = load(save(model, tmp_path / "m.npz"), backend="numpy")
    assert twin.loss == model.loss and (twin.loss is None) == (loss is None)
    np.testing.assert_array_equal(twin.predict_outputs(X), model.predict_outputs(X))
    np.testing.assert_array_equal(twin.predict(X), model.predict(X))
    if twin.loss is not None and twin.loss.is_classifier:
        np.testing.assert_array_equal(twin.predict_proba(X), model.predict_proba(X))


def test_float64_stays_float64(tmp_path: Path) -> None:
    model, X = _trained(dtype="float64")
    path = save(model, tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as npz:
        assert {npz[k].dtype for k in npz.files if k != JSON_KEY} == {np.dtype(np.float64)}
    twin = load(path, backend="numpy")
    assert twin.dtype == np.float64 and twin.params is not None
    assert twin.params.w.dtype == np.float64
    np.testing.assert_array_equal(twin.predict_outputs(X), model.predict_outputs(X))


@pytest.mark.parametrize("classes", [np.array(["cat", "dog"]), np.array([3, 7]), [0.5, 1.5],
                                     np.array([False, True])])
def test_class_labels_and_metadata_round_trip(classes: Any, tmp_path: Path) -> None:
    model, _ = _trained()
    meta = {"estimator": "MLPClassifier", "params": {"alpha": 1e-4, "sizes": (8, 6)},
            "n_iter": np.int64(2), "curve": np.array([0.5, 0.25])}
    twin = load(model.save(tmp_path / "m", classes=classes, metadata=meta))
    assert isinstance(twin.classes_, np.ndarray)
    np.testing.assert_array_equal(twin.classes_, np.asarray(classes))
    assert twin.classes_.dtype.kind == np.asarray(classes).dtype.kind
    assert twin.metadata_ == {"estimator": "MLPClassifier",
                              "params": {"alpha": 1e-4, "sizes": [8, 6]},
                              "n_iter": 2, "curve": [0.5, 0.25]}


def test_no_classes_no_metadata_no_attributes(tmp_path: Path) -> None:
    model, _ = _trained()
    twin = load(save(model, tmp_path / "m.npz"))
    assert not hasattr(twin, "classes_") and not hasattr(twin, "metadata_")


def test_npz_suffix_is_added_by_save_and_load_alike(tmp_path: Path) -> None:
    model, X = _trained()
    path = save(model, str(tmp_path / "model"))
    assert path == tmp_path / "model.npz" and _listing(tmp_path) == ["model.npz"]
    for name in (str(tmp_path / "model"), tmp_path / "model", tmp_path / "model.npz"):
        np.testing.assert_array_equal(load(name, "numpy").predict_outputs(X),
                                      model.predict_outputs(X))


def test_saved_model_loads_on_the_numpy_backend_alone(tmp_path: Path) -> None:
    model, X = _trained(nncore.get_ops().name)
    path = save(model, tmp_path / "m.npz")
    np.save(tmp_path / "X.npy", X)
    local = load(path, backend="numpy")
    assert local.ops.name == "numpy"
    code = (
        "import numpy as np, nncore\n"
        f"m = nncore.load({str(path)!r})\n"
        "assert m.ops.name == 'numpy', m.ops.name\n"
        f"X = np.load({str(tmp_path / 'X.npy')!r})\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, m.predict_outputs(X))\n"
        f"np.save({str(tmp_path / 'proba.npy')!r}, m.predict_proba(X))\n"
    )
    env = {**os.environ, "NNCORE_BACKEND": "numpy"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), local.predict_outputs(X))
    np.testing.assert_array_equal(np.load(tmp_path / "proba.npy"), local.predict_proba(X))
    np.testing.assert_allclose(local.predict_proba(X), model.predict_proba(X), rtol=1e-5,
                               atol=1e-6)


# ---------------------------------------------------------------------- saving errors
def test_unbuilt_model_cannot_be_saved(tmp_path: Path) -> None:
    model = nncore.Sequential([nncore.Dense(2)])
    with pytest.raises(RuntimeError, match="no weights yet"):
        model.save(tmp_path / "m.npz")
    assert _listing(tmp_path) == []


def test_invalid_save_arguments(tmp_path: Path) -> None:
    model, _ = _trained()
    with pytest.raises(TypeError, match="'path'"):
        save(model, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'model'"):
        save("model", tmp_path / "m.npz")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'metadata' must be a dict"):
        save(model, tmp_path / "m.npz", metadata=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'metadata' cannot be stored as JSON"):
        save(model, tmp_path / "m.npz", metadata={"x": float("nan")})
    with pytest.raises(ValueError, match="'metadata' cannot be stored as JSON"):
        save(model, tmp_path / "m.npz", metadata={"x": object()})
    for bad, fragment in (("ab", "must be a list"), ([], "non-empty"), ([1, "a"], "one kind"),
                          ([1, 1], "duplicate"), ([float("nan"), 1.0], "NaN"),
                          ([[1], [2]], "strings, numbers")):
        with pytest.raises(ValueError, match=fragment):
            save(model, tmp_path / "m.npz", classes=bad)

    class MyLoss(nncore.MSE):
        pass

    model.loss = MyLoss()
    with pytest.raises(ValueError, match="only the built-in losses"):
        save(model, tmp_path / "m.npz")
    assert _listing(tmp_path) == []


# ---------------------------------------------------------------------- atomic writes
def test_a_failed_write_leaves_the_old_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, X = _trained()
    path = save(old, tmp_path / "m.npz")
    os.chmod(path, 0o640)
    before = path.read_bytes()
    new, _ = _trained(dtype="float64")
    real_savez = np.savez

    def failing_savez(file: Any, **arrays: Any) -> None:
        real_savez(file, **dict(list(arrays.items())[:2]))  # part of the archive...
        assert file.tell() > 100
        raise OSError(28, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="No space left"):
        save(new, path)
    with pytest.raises(OSError, match="No space left"):
        save(new, tmp_path / "fresh.npz")
    monkeypatch.undo()
    assert _listing(tmp_path) == ["m.npz"] and path.read_bytes() == before
    np.testing.assert_array_equal(load(path, "numpy").predict_outputs(X),
                                  old.predict_outputs(X))

    def failing_fsync(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(KeyboardInterrupt):
        save(new, path)
    monkeypatch.undo()
    assert _listing(tmp_path) == ["m.npz"] and path.read_bytes() == before

    save(new, path)  # a successful write replaces the file, keeping its permissions
    assert _listing(tmp_path) == ["m.npz"] and load(path).dtype == np.float64
    assert (path.stat().st_mode & 0o777) == 0o640


# ---------------------------------------------------------------------- hostile files
def _parts(tmp_path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    model, _ = _trained()
    with np.load(save(model, tmp_path / "valid.npz"), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return json.loads(arrays.pop(JSON_KEY).tobytes()), arrays


def _archive(path: Path, desc: Any, arrays: dict[str, Any], raw: bytes | None = None) -> Path:
    text = raw if raw is not None else json.dumps(desc).encode()
    np.savez(path, **{JSON_KEY: np.frombuffer(text, np.uint8)}, **arrays)
    return path


Mutator = Callable[[dict[str, Any], dict[str, Any]], Any]


def _set(field: str, value: Any) -> Mutator:
    def mutate(desc: dict[str, Any], arrays: dict[str, Any]) -> None:
        desc[field] = value
    return mutate


def _layer0(field: str, value: Any) -> Mutator:
    def mutate(desc: dict[str, Any], arrays: dict[str, Any]) -> None:
        desc["layers"][0][field] = value
    return mutate


def _array(key: str, value: Callable[[np.ndarray], Any] | None) -> Mutator:
    def mutate(desc: dict[str, Any], arrays: dict[str, Any]) -> None:
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value(arrays[key])
    return mutate


HOSTILE: dict[str, tuple[Mutator, str]] = {
    "missing format_version": (lambda d, a: d.pop("format_version"), "no 'format_version'"),
    "future format_version": (_set("format_version", NEWEST_FORMAT_VERSION + 1), "newer than"),
    "older loss in version 4": (_set("format_version", LOSS_FORMAT_VERSION),
                                "need version 4, which holds no other"),
    "poisson in version 1": (_set("loss", {"name": "poisson", "link": "exp"}),
                             "loss 'poisson' in format version 1"),
    "string format_version": (_set("format_version", "1"), "'format_version' must be an int"),
    "zero format_version": (_set("format_version", 0), "'format_version' must be an int"),
    "other format": (_set("format", "keras"), "'format' must be"),
    "unknown field": (_set("pickle", "cos\nsystem"), "unknown ['pickle']"),
    "missing field": (lambda d, a: d.pop("dtype"), "missing ['dtype']"),
    "bad dtype": (_set("dtype", "object"), "invalid 'dtype'"),
    "bad n_features": (_set("n_features", -2), "invalid 'n_features'"),
    "bool n_features": (_set("n_features", True), "invalid 'n_features'"),
    "bad backend": (_set("backend", "os.system"), "invalid 'backend'"),
    "bad seed": (_set("seed", 1.5), "invalid 'seed'"),
    "no layers": (_set("layers", []), "invalid 'layers'"),
    "metadata not object": (_set("metadata", [1]), "invalid 'metadata'"),
    "unknown activation": (_layer0("activation", "gelu"), "unknown activation 'gelu'"),
    "zero units": (_layer0("units", 0), "'units' must be an integer >= 1"),
    "float units": (_layer0("units", 8.0), "'units' must be an integer >= 1"),
    "negative slope": (_layer0("negative_slope", -1), "'negative_slope' must be a number"),
    "extra layer field": (_layer0("code", "x"), "layers[0] must be an object"),
    "unknown loss": (_set("loss", {"name": "hinge", "link": "identity"}), "invalid 'loss'"),
    "wrong link": (_set("loss", {"name": "softmax_cross_entropy", "link": "sigmoid"}),
                   "has link 'softmax'"),
    "bad classes": (_set("classes", {"a": 1}), "'classes' must be a list"),
    "mixed classes": (_set("classes", [1, "a"]), "one kind"),
    "wrong W shape": (_array("layer0.W", lambda W: W[:, :-1]), "'layer0.W' has shape"),
    "wrong b shape": (_array("layer1.b", lambda b: b[:, None]), "'layer1.b' has shape"),
    "wrong dtype": (_array("layer0.W", lambda W: W.astype(np.float64)),
                    "'layer0.W' has dtype float64, expected float32"),
    "integer weights": (_array("layer0.b", lambda b: b.astype(np.int32)), "has dtype int32"),
    "object array": (_array("layer0.W", lambda W: np.array([{"a": 1}, None], dtype=object)),
                     "'layer0.W' has dtype object"),
    "missing array": (_array("layer2.b", None), "missing ['layer2.b.npy']"),
    "extra array": (lambda d, a: a.update(extra=np.zeros(2, np.float32)),
                    "unexpected ['extra.npy']"),
}


def _expect(path: Path, fragment: str) -> ModelFileError:
    with pytest.raises(ModelFileError) as info:
        load(path)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert str(path) in message and fragment in message, message
    return info.value


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_description_or_arrays(case: str, tmp_path: Path) -> None:
    desc, arrays = _parts(tmp_path)
    mutate, fragment = HOSTILE[case]
    mutate(desc, arrays)
    _expect(_archive(tmp_path / "bad.npz", desc, arrays), fragment)


def test_loss_that_does_not_fit_the_last_layer(tmp_path: Path) -> None:
    desc, arrays = _parts(tmp_path)
    desc["layers"][-1]["activation"] = "softmax"
    _expect(_archive(tmp_path / "bad.npz", desc, arrays), "the loss does not fit")


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"[1, 2, 3]", "must be an object, got list"),
    (b'"just a string"', "must be an object, got str"),
    (b"\xff\xfe{", "not valid UTF-8 JSON"),
    (b'{"format_version": 1,', "not valid UTF-8 JSON"),
    (b'{"format_version": NaN}', "NaN"),
    (b'{"format_version": 1, "format_version": 1}', "repeats a key"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid UTF-8 JSON"),
])
def test_json_that_is_not_a_valid_object(raw: bytes, fragment: str, tmp_path: Path) -> None:
    _, arrays = _parts(tmp_path)
    _expect(_archive(tmp_path / "bad.npz", None, arrays, raw=raw), fragment)


def test_json_member_of_the_wrong_type(tmp_path: Path) -> None:
    desc, arrays = _parts(tmp_path)
    text = np.frombuffer(json.dumps(desc).encode(), np.uint8)
    np.savez(tmp_path / "a.npz", **{JSON_KEY: text.astype(np.float32)}, **arrays)
    _expect(tmp_path / "a.npz", "has dtype float32, expected uint8")
    np.savez(tmp_path / "b.npz", **{JSON_KEY: text.reshape(1, -1)}, **arrays)
    _expect(tmp_path / "b.npz", "must be a 1-D array")
    np.savez(tmp_path / "c.npz", **arrays)
    _expect(tmp_path / "c.npz", "not a model saved by nncore")


def test_truncated_and_damaged_archives(tmp_path: Path) -> None:
    model, _ = _trained()
    data = save(model, tmp_path / "m.npz").read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        _expect(tmp_path / "cut.npz", "damaged or truncated")
    W = model.layers[0].W
    assert W is not None
    at = data.index(W.tobytes())
    flipped = bytearray(data)
    flipped[at + 3] ^= 0xFF
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    assert "Bad CRC-32" in str(_expect(tmp_path / "flip.npz", "damaged or truncated"))


@pytest.mark.parametrize(("content", "fragment"), [
    (b"", "not an .npz archive"),
    (b"hello, I am a text file\n", "not an .npz archive"),
    (pickle.dumps({"weights": [1, 2]}), "not an .npz archive"),
    (b"\x93NUMPY", "not an .npz archive"),
    (b"PK\x05\x06" + b"\0" * 18, "not a model saved by nncore"),
], ids=["empty", "text", "pickle", "npy-magic", "empty-zip"])
def test_files_that_are_not_model_archives(content: bytes, fragment: str,
                                           tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_bytes(content)
    _expect(tmp_path / "bad.npz", fragment)


def test_a_single_npy_array_is_not_an_archive(tmp_path: Path) -> None:
    with open(tmp_path / "a.npz", "wb") as fh:
        np.save(fh, np.zeros(3))
    _expect(tmp_path / "a.npz", "not an .npz archive")


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.npz")


def test_loading_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, X = _trained()
    good = save(model, tmp_path / "m.npz", classes=[0, 1], metadata={"a": [1, 2]})
    desc, arrays = _parts(tmp_path)
    arrays["layer0.W"] = np.array([object()] * 2, dtype=object)
    bad = _archive(tmp_path / "bad.npz", desc, arrays)

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pickle called while loading a model")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    np.testing.assert_array_equal(load(good, "numpy").predict_outputs(X), model.predict_outputs(X))
    _expect(bad, "dtype object")


def test_zip_members_are_what_the_format_says(tmp_path: Path) -> None:
    model, _ = _trained()
    path = save(model, tmp_path / "m.npz", classes=["a", "b"])
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(
            [JSON_KEY + ".npy"] + [f"layer{i}.{p}.npy" for i in range(4) for p in "Wb"])
    with np.load(path, allow_pickle=False) as npz:
        desc = json.loads(npz[JSON_KEY].tobytes())
    assert desc["format"] == "nncore.Sequential" and desc["format_version"] == FORMAT_VERSION
    assert desc["nncore_version"] == nncore.__version__ and desc["dtype"] == "float32"
    assert desc["n_features"] == 2 and desc["classes"] == ["a", "b"]
    assert desc["loss"] == {"name": "softmax_cross_entropy", "link": "softmax"}
    assert desc["layers"][1] == {"units": 6, "activation": "leaky_relu", "negative_slope": 0.2}
