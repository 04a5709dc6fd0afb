"""``nncore.sklearn``'s estimators through skl2onnx: ``nncore.onnx.register_skl2onnx``.

After registration ``skl2onnx.to_onnx`` converts ``MLPClassifier`` and ``MLPRegressor``
alone and inside a ``Pipeline``, with the outputs and options of scikit-learn's own MLPs
(``label`` + ``probabilities`` or a ZipMap; ``variable``), and onnxruntime gives
``predict`` and ``predict_proba``. onnx, onnxruntime and skl2onnx are imported at the top:
CI's test extras include them (see test_onnx.py), so nothing here is ever skipped.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import skl2onnx
import sklearn.neural_network as sknn
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nncore
import nncore.onnx
from nncore.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
#: float32 graphs: relative tolerance, absolute floor of two float32 units at 1 (as in
#: test_onnx.py); a float64 graph of a float64 estimator agrees to rounding.
TOL = {np.float32: dict(rtol=1e-5, atol=2.4e-7), np.float64: dict(rtol=1e-12, atol=1e-15)}


@pytest.fixture(scope="module", autouse=True)
def registered():
    nncore.onnx.register_skl2onnx()


def run(proto: onnx.ModelProto, X: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: X}), strict=True))


@pytest.fixture(scope="module")
def data():
    X, y = nncore.make_moons(300, noise=0.2, seed=0)
    three = np.where(np.arange(300) % 3 == 0, 2, y)
    return X.astype(np.float64), {
        "binary-int": y, "binary-str": np.array(["no", "yes"])[y],
        "multiclass-int": three * 10 - 5, "multiclass-str": np.array(["a", "b", "c"])[three],
        "multilabel": np.stack([y, 1 - y, three == 2], axis=1).astype(int),
        "float-integral": (three + 1).astype(float)}


def fitted(cls, X, y, **kwargs):
    return cls(hidden_layer_sizes=(12, 8), max_iter=40, learning_rate_init=0.01,
               random_state=0, **kwargs).fit(X, y)


@pytest.mark.parametrize("dtype", [None, "float32"])
@pytest.mark.parametrize("target", ["binary-int", "binary-str", "multiclass-int",
                                    "multiclass-str", "multilabel", "float-integral"])
def test_classifier(data, target, dtype):
    X, targets = data
    clf = fitted(MLPClassifier, X, targets[target], activation="tanh", dtype=dtype)
    for xdt in (np.float32, np.float64):
        proto = skl2onnx.to_onnx(clf, X[:1].astype(xdt), options={"zipmap": False})
        onnx.checker.check_model(proto, full_check=True)
        got = run(proto, X.astype(xdt))
        assert list(got) == ["label", "probabilities"]
        want = clf.predict(X)
        if target == "float-integral":  # int64, as skl2onnx does for scikit-learn's MLP
            want = want.astype(np.int64)
        np.testing.assert_array_equal(got["label"], want)
        exact = xdt is np.float64 and clf.model_.dtype == np.float64
        np.testing.assert_allclose(got["probabilities"], clf.predict_proba(X),
                                   **TOL[np.float64 if exact else np.float32])
        assert got["probabilities"].dtype == xdt


def test_zipmap_as_for_scikit_learns_mlp(data):
    """The default options (a ZipMap: one dict per row) give what skl2onnx gives for
    scikit-learn's MLPClassifier: the same output names and types."""
    X, targets = data
    y = targets["multiclass-str"]
    ours = fitted(MLPClassifier, X, y, dtype="float32")
    theirs = sknn.MLPClassifier(hidden_layer_sizes=(12, 8), max_iter=40,
                                random_state=0).fit(X, y)
    protos = [skl2onnx.to_onnx(est, X[:1].astype(np.float32)) for est in (ours, theirs)]
    ours_out, theirs_out = ([(o.name, o.type) for o in p.graph.output] for p in protos)
    assert ours_out == theirs_out
    got = run(protos[0], X.astype(np.float32))
    np.testing.assert_array_equal(got["output_label"], ours.predict(X))
    proba = np.array([[row[c] for c in ours.classes_] for row in got["output_probability"]])
    np.testing.assert_allclose(proba, ours.predict_proba(X), **TOL[np.float32])
    columns = [skl2onnx.to_onnx(est, X[:1].astype(np.float32), options={"zipmap": "columns"})
               for est in (ours, theirs)]
    assert [[o.name for o in p.graph.output] for p in columns] == [
        ["output_label", "sa", "sb", "sc"]] * 2  # one column per class
    got = run(columns[0], X.astype(np.float32))
    np.testing.assert_allclose(got["sc"], ours.predict_proba(X)[:, 2], **TOL[np.float32])


def test_output_class_labels_option(data):
    X, targets = data
    clf = fitted(MLPClassifier, X, targets["multiclass-str"], dtype="float32")
    proto = skl2onnx.to_onnx(clf, X[:1].astype(np.float32),
                             options={"zipmap": False, "output_class_labels": True})
    got = run(proto, X[:5].astype(np.float32))
    assert list(got) == ["label", "probabilities", "class_labels"]
    np.testing.assert_array_equal(got["class_labels"], clf.classes_)
    nocl = skl2onnx.to_onnx(clf, X[:1].astype(np.float32), options={"zipmap": False,
                                                                  "nocl": True})
    np.testing.assert_array_equal(run(nocl, X.astype(np.float32))["label"],
                                  np.searchsorted(clf.classes_, clf.predict(X)))


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("n_targets", [1, 3])
def test_regressor(data, n_targets, activation):
    """``variable`` is ``[N, n_targets]``: skl2onnx's converter for scikit-learn's
    MLPRegressor reshapes several targets into one column; ours keeps them."""
    X, _ = data
    Y = np.stack([X[:, 0] ** 2, X[:, 1], X.sum(1)], axis=1)[:, :n_targets]
    reg = fitted(MLPRegressor, X, Y[:, 0] if n_targets == 1 else Y, activation=activation)
    proto = nncore.onnx.to_onnx(reg)  # X=None: float64, the estimator's dtype
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    (out,) = run(proto, X).values()
    assert out.shape == (len(X), n_targets)
    want = reg.predict(X).reshape(len(X), n_targets)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    out32 = run(skl2onnx.to_onnx(reg, X[:1].astype(np.float32)), X.astype(np.float32))
    np.testing.assert_allclose(out32["variable"], want, rtol=1e-5,
                               atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pipeline(data, dtype):
    """StandardScaler + our classifier. skl2onnx's scaler computes in the input's type,
    so the float32 graph is compared on features whose standardisation float32 holds
    (large offsets lose digits to the float32 mean before our converter sees them)."""
    X, targets = data
    xdt = np.dtype(dtype).type
    Xs = (X * [3.0, 0.5] + [10.0, -5.0]).astype(xdt)
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier((16,), max_iter=60, learning_rate_init=0.01,
                                       random_state=0, dtype=dtype))
    pipe.fit(Xs, targets["binary-str"])
    proto = skl2onnx.to_onnx(pipe, Xs[:1], options={"zipmap": False})
    got = run(proto, Xs)
    np.testing.assert_array_equal(got["label"], pipe.predict(Xs))
    np.testing.assert_allclose(got["probabilities"], pipe.predict_proba(Xs), **TOL[xdt])
    helper = run(nncore.onnx.to_onnx(pipe), Xs)  # X=None: the MLP's dtype
    np.testing.assert_array_equal(helper["label"], got["label"])


def test_to_onnx_writes_the_file_and_passes_options(tmp_path, data):
    X, targets = data
    clf = fitted(MLPClassifier, X, targets["binary-int"])
    proto = nncore.onnx.to_onnx(clf, X[:1], path=tmp_path / "clf.onnx", target_opset=17)
    assert onnx.load(tmp_path / "clf.onnx") == proto
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17
    zipped = nncore.onnx.to_onnx(clf, X[:1].astype(np.float32), options={})
    assert [o.name for o in zipped.graph.output] == ["output_label", "output_probability"]


def test_registering_twice_is_harmless(data):
    X, targets = data
    nncore.onnx.register_skl2onnx()
    nncore.onnx.register_skl2onnx()
    clf = fitted(MLPClassifier, X, targets["binary-int"], dtype="float32")
    got = run(nncore.onnx.to_onnx(clf), X.astype(np.float32))
    np.testing.assert_array_equal(got["label"], clf.predict(X))


def test_fractional_float_labels_are_refused(data):
    """scikit-learn's fit refuses such labels; an estimator whose classes_ were set by
    hand is refused by the converter instead of truncated to int64."""
    X, targets = data
    clf = fitted(MLPClassifier, X, targets["float-integral"])
    clf.classes_ = clf.classes_ + 0.5
    with pytest.raises(ValueError, match="these floats are not integers"):
        skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False})


def test_to_onnx_needs_a_fitted_model():
    with pytest.raises(ValueError, match="argument 'X' is needed"):
        nncore.onnx.to_onnx(MLPClassifier())
    with pytest.raises(TypeError, match=r"use nncore\.onnx\.to_onnx"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            X, y = nncore.make_moons(40, seed=0)
            nncore.onnx.export(MLPClassifier(max_iter=2).fit(X, y))


def test_poisson_regressor(data):
    """loss='poisson': the graph applies exp, as predict does."""
    X, _ = data
    counts = np.random.default_rng(0).poisson(np.exp(0.3 * X[:, 0]))
    reg = fitted(MLPRegressor, X, counts, activation="relu", loss="poisson")
    (out,) = run(nncore.onnx.to_onnx(reg), X).values()
    want = reg.predict(X).reshape(len(X), 1)
    assert (want > 0).all()
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
