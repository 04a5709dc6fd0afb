"""``nncore.onnx.export``: a ``Sequential`` as an ONNX graph, run in onnxruntime.

Every activation, both dtypes, each loss and its link, on random networks, on both
backends: ``label`` equals ``predict`` and ``probabilities`` ``predict_proba``, or
``outputs`` ``predict_outputs``. The preprocessing a model carries (``nncore train``'s
standardisation, target scaling, class labels) is part of the graph.

onnx and onnxruntime are imported at the top, like scikit-learn in test_sklearn.py: the
test extras CI installs (README: ``pip install ".[test,sklearn,plot,onnx,tables,dask]"``) include
them, so a missing package fails the run at collection instead of skipping these tests.

Tolerances (measured maxima in the comments of ``RTOL``): the graph computes what nncore
computes, operation for operation; what differs is the runtime's matrix products and
float32 ``exp``/``tanh``. Probabilities are compared relative to each element with an
absolute floor of two units at 1 of the dtype (``1 - p`` inherits ``p``'s rounding);
regression outputs relative to their largest magnitude (an output near 0 is the
difference of larger terms).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import nncore
import nncore.onnx
from nncore._preprocess import Preprocessing
from nncore.cli import main as cli_main

BACKENDS = [pytest.param("numpy", id="numpy"),
            pytest.param("cython", id="cython", marks=pytest.mark.cython)]
ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"]
#: (loss, output units) of the networks under test.
LOSSES = {"softmax_xent": ("softmax_cross_entropy", 3), "bce_1": ("binary_cross_entropy", 1),
          "bce_3": ("binary_cross_entropy", 3), "mse": ("mse", 2), "none": (None, 2)}
#: Relative tolerance by dtype, with an absolute floor of two units at 1 for probabilities.
#: Measured over 5 seeds x 256 rows of every network of test_graph_equals_predict, both
#: backends (the largest relative error of a probability; of an output, relative to the
#: largest output): float32 2.0e-6 softmax, 3.9e-6 sigmoid, outputs 6.3e-7; float64
#: 1.9e-15, 8.9e-15, 1.4e-15. ``1 - p`` for one sigmoid unit differs by up to one unit of
#: ``p`` (absolute: 1.2e-7 in float32), relatively large when ``p`` is near 1.
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
ATOL_PROBA = {t: 2 * float(np.finfo(t).eps) for t in (np.float32, np.float64)}


def run(proto: onnx.ModelProto, X: np.ndarray) -> dict[str, np.ndarray]:
    """Run ``proto`` in onnxruntime on ``X``; outputs by name."""
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": X}), strict=True))


def assert_proba(got: np.ndarray, want: np.ndarray, dtype: type) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=ATOL_PROBA[dtype])


def assert_outputs(got: np.ndarray, want: np.ndarray, dtype: type) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    scale = float(np.abs(want).max()) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


def assert_like_model(model: nncore.Sequential, X: np.ndarray, **kwargs) -> dict:
    """The exported graph of ``model`` on ``X`` gives what ``model.predict*`` gives."""
    got = run(nncore.onnx.export(model, **kwargs), X)
    dtype = model.dtype.type
    if model.loss is not None and model.loss.is_classifier:
        label = model.predict(X)
        # strings come back from onnxruntime as an object array of str
        assert got["label"].dtype == (object if label.dtype.kind == "U" else label.dtype)
        np.testing.assert_array_equal(got["label"], label)
        assert_proba(got["probabilities"], model.predict_proba(X), dtype)
    else:
        assert_outputs(got["outputs"], model.predict_outputs(X), dtype)
    return got


def network(activation: str, loss: str | None, units: int, dtype, backend: str = "numpy",
            last: str = "identity", n_features: int = 5, seed: int = 0) -> nncore.Sequential:
    """A built random network; weights of a trained-looking scale (not all near 0)."""
    model = nncore.Sequential(
        [nncore.Dense(8, activation, negative_slope=0.1), nncore.Dense(6, activation),
         nncore.Dense(units, last)], dtype=dtype, backend=backend, seed=seed, loss=loss)
    model.build(n_features)
    rng = np.random.default_rng(seed)
    model.set_weights([(W * 1.5, rng.normal(0, 0.5, b.shape)) for W, b in model.get_weights()])
    return model


def features(n: int, dtype, n_features: int = 5, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2, (n, n_features)).astype(dtype)


# ---------------------------------------------------------------------------- packaging
def test_importing_nncore_does_not_import_onnx():
    code = ("import sys, nncore\n"
            "bad = [m for m in ('onnx', 'onnxruntime', 'skl2onnx') if m in sys.modules]\n"
            "assert not bad, bad\n"
            "import nncore.onnx\n"
            "assert 'skl2onnx' not in sys.modules and 'sklearn' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_onnx_the_import_says_what_to_install():
    code = ("import sys; sys.modules['onnx'] = None\n"
            "try:\n    import nncore.onnx\n"
            "except ImportError as e:\n    print(e)\nelse:\n    raise SystemExit('imported')")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert 'pip install "nncore[onnx]"' in out


# ---------------------------------------------------------------------------- the matrix
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_graph_equals_predict(activation, dtype, loss, backend):
    name, units = LOSSES[loss]
    # MSE and no loss take any last activation; the classification losses take logits
    last = "identity" if name in ("softmax_cross_entropy", "binary_cross_entropy") else activation
    model = network(activation, name, units, dtype, backend, last=last)
    for n in (64, 1):
        assert_like_model(model, features(n, dtype))


@pytest.mark.parametrize("loss", ["softmax_xent", "bce_1", "bce_3", "mse"])
def test_zero_rows_give_empty_outputs(loss, dtype):
    """onnxruntime runs the graph on 0 rows (nncore's predict refuses empty input)."""
    name, units = LOSSES[loss]
    got = run(nncore.onnx.export(network("relu", name, units, dtype)), features(0, dtype))
    shapes = {k: v.shape for k, v in got.items()}
    if name == "mse":
        assert shapes == {"outputs": (0, 2)}
    else:
        assert shapes == {"label": (0,) if units == 1 or loss == "softmax_xent" else (0, 3),
                          "probabilities": (0, 2 if units == 1 else 3)}


@pytest.mark.parametrize("last", ["relu", "softmax", "tanh"])
def test_classifier_with_an_activated_last_layer(last, dtype):
    """A loss given to the constructor does not check the last layer: predict_proba
    applies the link to the pre-activation (it replaces the activation), predict takes
    the argmax of the activated outputs; the graph does both."""
    model = network("tanh", "softmax_cross_entropy", 4, dtype, last=last)
    assert_like_model(model, features(200, dtype))
    model = network("tanh", "binary_cross_entropy", 1, dtype, last=last)
    assert_like_model(model, features(200, dtype))


def test_raw_outputs_adds_the_logits():
    model = network("relu", "softmax_cross_entropy", 3, np.float32)
    X = features(30, np.float32)
    got = assert_like_model(model, X, raw_outputs=True)
    assert list(got) == ["label", "probabilities", "outputs"]
    assert_outputs(got["outputs"], model.predict_outputs(X), np.float32)


def test_leaky_relu_slope_is_not_rounded(dtype):
    """LeakyRelu's alpha is a float32 attribute: exact for float32 models and float32
    slopes; a float64 model with slope 0.1 gets Where(x > 0, x, 0.1 * x) in float64."""
    model = network("leaky_relu", "mse", 2, dtype)  # slope 0.1 in layer 0, 0.01 in layer 1
    ops = [node.op_type for node in nncore.onnx.export(model).graph.node]
    if dtype is np.float32:
        assert ops.count("LeakyRelu") == 2 and "Where" not in ops
    else:
        assert ops.count("Where") == 2 and "LeakyRelu" not in ops
    X = features(100, dtype)
    # leaky_relu and identity layers: sums and products only, no exp
    np.testing.assert_allclose(run(nncore.onnx.export(model), X)["outputs"],
                               model.predict_outputs(X), rtol=RTOL[dtype] / 10)
    half = network("leaky_relu", "mse", 2, dtype)
    for layer in half.layers:
        layer.negative_slope = 0.5  # float32 holds it: LeakyRelu in both dtypes
    assert "Where" not in [n.op_type for n in nncore.onnx.export(half).graph.node]


# ---------------------------------------------------------------------------- the graph
def test_graph_has_the_documented_shape():
    model = network("relu", "softmax_cross_entropy", 3, np.float32)
    proto = nncore.onnx.export(model)
    onnx.checker.check_model(proto, full_check=True)
    (inp,) = proto.graph.input
    assert inp.name == "X" and inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == 5
    assert [o.name for o in proto.graph.output] == ["label", "probabilities"]
    assert [(o.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in
                                            o.type.tensor_type.shape.dim])
            for o in proto.graph.output] == [(onnx.TensorProto.INT64, ["N"]),
                                             (onnx.TensorProto.FLOAT, ["N", 3])]
    ops = [node.op_type for node in proto.graph.node]
    assert ops == ["Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax", "ArgMax"]
    softmax = next(n for n in proto.graph.node if n.op_type == "Softmax")
    assert onnx.helper.get_attribute_value(softmax.attribute[0]) == -1
    assert [(o.domain, o.version) for o in proto.opset_import] == [
        ("", nncore.onnx.DEFAULT_OPSET)]
    assert proto.ir_version == 8  # the oldest IR of opset 17: older runtimes load it
    assert proto.producer_name == "nncore" and proto.producer_version == nncore.__version__
    assert "Sequential" in proto.doc_string and "softmax_cross_entropy" in proto.doc_string
    props = {p.key: p.value for p in proto.metadata_props}
    assert props == {"nncore.loss": "softmax_cross_entropy", "nncore.dtype": "float32"}
    names = {t.name for t in proto.graph.initializer}
    assert {"layer0.W", "layer0.b", "layer2.W", "layer2.b"} <= names


def test_float64_graph_is_float64_throughout():
    proto = nncore.onnx.export(network("tanh", "mse", 2, np.float64))
    assert {t.data_type for t in proto.graph.initializer} == {onnx.TensorProto.DOUBLE}
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert [o.name for o in proto.graph.output] == ["outputs"]
    with pytest.raises(Exception, match=r"(?i)type"):  # float32 data is refused, not cast
        run(proto, features(3, np.float32))


@pytest.mark.parametrize("opset", [13, 15, 18, 21])
def test_opsets(opset):
    """13 (the oldest export writes) to 21 (the newest onnxruntime 1.20, the extra's
    minimum, runs; a newer onnx knows newer opsets, which export accepts too)."""
    model = network("leaky_relu", "binary_cross_entropy", 1, np.float64)
    proto = nncore.onnx.export(model, opset=opset)
    assert proto.opset_import[0].version == opset
    assert proto.ir_version == onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    assert_like_model(model, features(20, np.float64), opset=opset)
    newest = onnx.defs.onnx_opset_version()
    assert nncore.onnx.export(model, opset=newest).opset_import[0].version == newest


@pytest.mark.parametrize("opset", [12, 10_000, "17", 17.0, True])
def test_bad_opset_is_refused(opset):
    with pytest.raises(ValueError, match="argument 'opset' must be an integer from 13"):
        nncore.onnx.export(network("relu", "mse", 1, np.float32), opset=opset)


# ---------------------------------------------------------------------------- preprocessing
def test_model_trained_by_the_cli_exports_its_preprocessing(tmp_path):
    """``nncore train``: standardised features and text labels (BCE, two classes; and
    softmax, three); the graph predicts the labels ``nncore predict`` prints."""
    rng = np.random.default_rng(0)
    X = rng.normal([50, -3, 0.01, 1000], [10, 1, 0.002, 300], (300, 4))
    score = (X - X.mean(0)) / X.std(0) @ [1.0, -1.0, 0.5, 0.0]
    for labels in (np.array(["no", "yes"])[(score > 0).astype(int)],
                   np.array(["low", "mid", "high"])[np.digitize(score, [-0.5, 0.5])]):
        data, path = tmp_path / "data.npz", tmp_path / "model.npz"
        np.savez(data, X=X, y=labels)
        assert cli_main(["train", str(data), "-o", str(path), "--epochs", "20",
                         "--hidden", "16", "--optimizer", "adam", "--lr", "0.01"]) == 0
        model = nncore.load(path)
        assert model.preprocessing is not None and model.preprocessing.mean is not None
        got = assert_like_model(model, X.astype(np.float32))
        assert got["label"].dtype == object and set(got["label"]) <= set(labels)
        assert np.mean(got["label"] == labels) > 0.7  # it learnt something, in labels
        ops = [n.op_type for n in nncore.onnx.export(model).graph.node]
        assert ops[:4] == ["Cast", "Sub", "Div", "Cast"]  # in float64, as Preprocessing


def test_regression_undoes_the_target_scaling(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(5, 3, (200, 3))
    y = 1000 + 50 * X[:, 0] - 20 * X[:, 1] + rng.normal(0, 5, 200)
    data, path = tmp_path / "reg.npz", tmp_path / "reg_model.npz"
    np.savez(data, X=X, y=y)
    assert cli_main(["train", str(data), "-o", str(path), "--epochs", "5",
                     "--dtype", "float64"]) == 0
    model = nncore.load(path)
    assert model.preprocessing.target_mean is not None
    got = assert_like_model(model, X)
    assert got["outputs"].shape == (200, 1)
    assert abs(np.mean(got["outputs"][:, 0]) - np.mean(y)) < 0.2 * np.std(y)  # in y's units


@pytest.mark.parametrize("classes", [
    np.array(["cat", "dog", "émeu"]), np.array([10, 20, 30]), np.array([0.5, 1.5, 2.5]),
    np.array([3, 1, 2], np.uint8)], ids=["str", "int", "float", "uint8"])
def test_class_labels(classes, dtype):
    model = network("tanh", "softmax_cross_entropy", 3, dtype)
    model.preprocessing = Preprocessing(mean=np.full(5, 0.5), scale=np.full(5, 2.0),
                                        classes=classes)
    got = assert_like_model(model, features(100, dtype))
    assert set(got["label"]) == set(classes)  # the random net predicts every class


@pytest.mark.parametrize("units", [1, 3])
def test_binary_labels(units):
    model = network("sigmoid", "binary_cross_entropy", units, np.float32)
    model.preprocessing = Preprocessing(classes=np.array([False, True]))
    got = assert_like_model(model, features(100, np.float32))
    assert got["label"].dtype == np.bool_
    assert got["label"].shape == ((100,) if units == 1 else (100, 3))


def test_preprocessing_without_a_loss_and_target_scaling():
    model = network("relu", None, 2, np.float32)
    model.preprocessing = Preprocessing(mean=np.arange(5.0), scale=np.arange(1.0, 6.0),
                                        target_mean=[-3.0, 1e4], target_scale=[0.1, 250.0])
    assert_like_model(model, features(50, np.float32))


# ---------------------------------------------------------------------------- files
def test_path_writes_a_file_that_loads_and_runs(tmp_path):
    model = network("sigmoid", "softmax_cross_entropy", 3, np.float32)
    X = features(10, np.float32)
    for path in (tmp_path / "m.onnx", str(tmp_path / "s.onnx")):
        proto = nncore.onnx.export(model, path)
        loaded = onnx.load(path)
        assert loaded == proto
        session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
        label, proba = session.run(None, {"X": X})
        np.testing.assert_array_equal(label, model.predict(X))
        assert_proba(proba, model.predict_proba(X), np.float32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "s.onnx"]  # no temp


def test_export_replaces_a_file_and_leaves_no_temporary_on_error(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    nncore.onnx.export(network("relu", "mse", 1, np.float32), path)
    assert onnx.load(path).graph.output[0].name == "outputs"
    with pytest.raises(FileNotFoundError):
        nncore.onnx.export(network("relu", "mse", 1, np.float32), tmp_path / "no" / "m.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_saved_and_loaded_model_exports_the_same_graph(tmp_path):
    model = network("tanh", "binary_cross_entropy", 1, np.float64)
    model.preprocessing = Preprocessing(classes=np.array(["a", "b"]))
    model.save(tmp_path / "m.npz")
    again = nncore.load(tmp_path / "m.npz")
    assert nncore.onnx.export(again) == nncore.onnx.export(model)


def test_to_onnx_takes_a_sequential(tmp_path):
    model = network("relu", "mse", 1, np.float32)
    assert nncore.onnx.to_onnx(model) == nncore.onnx.export(model)
    assert nncore.onnx.to_onnx(model, target_opset=15).opset_import[0].version == 15
    nncore.onnx.to_onnx(model, path=tmp_path / "m.onnx")
    assert onnx.load(tmp_path / "m.onnx") == nncore.onnx.export(model)
    with pytest.raises(TypeError, match=r"see nncore\.onnx\.export"):
        nncore.onnx.to_onnx(model, features(1, np.float32))


# ---------------------------------------------------------------------------- errors
def test_unbuilt_model_is_refused():
    model = nncore.Sequential([nncore.Dense(2)], loss="mse")
    with pytest.raises(RuntimeError, match="no parameters yet: call fit"):
        nncore.onnx.export(model)


def test_not_a_sequential_is_refused():
    with pytest.raises(TypeError, match=r"must be an nncore\.Sequential, got list"):
        nncore.onnx.export([nncore.Dense(2)])


def test_unknown_loss_is_refused():
    class Hinge(nncore.MSE):
        name = "hinge"

    model = nncore.Sequential([nncore.Dense(2)], loss=Hinge()).build(3)
    with pytest.raises(ValueError, match="cannot export the loss Hinge"):
        nncore.onnx.export(model)


def test_preprocessing_that_does_not_fit_is_refused():
    model = network("relu", "softmax_cross_entropy", 3, np.float32)
    model.preprocessing = Preprocessing(classes=["a", "b"])
    with pytest.raises(ValueError, match="has 2 labels, the model predicts 3"):
        nncore.onnx.export(model)
    model.preprocessing = Preprocessing(mean=np.zeros(4), scale=np.ones(4))
    with pytest.raises(ValueError, match="4 feature means for a model of 5 features"):
        nncore.onnx.export(model)
    model.preprocessing = Preprocessing(classes=np.array([1, "a", 2.0], dtype=object))
    with pytest.raises(ValueError, match="cannot export class labels of dtype object"):
        nncore.onnx.export(model)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("units", [1, 3])
def test_poisson_model_exports_its_predictions(dtype, units):
    """``predictions`` is ``predict`` (exp of the outputs); ``outputs`` only on request."""
    model = network("relu", "poisson", units, dtype)
    X = features(64, dtype)
    got = run(nncore.onnx.export(model), X)
    assert list(got) == ["predictions"]
    want = model.predict(X).reshape(len(X), units)
    assert_outputs(got["predictions"], want, dtype)
    raw = run(nncore.onnx.export(model, raw_outputs=True), X)
    assert list(raw) == ["predictions", "outputs"]
    assert_outputs(raw["outputs"], model.predict_outputs(X), dtype)
