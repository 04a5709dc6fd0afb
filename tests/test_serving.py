"""Serving: the one-row fast path, the blocked batch forward pass, the BLAS thread scope.

The one-row path (``nncore._serving.RowPath`` over ``_kernels.RowNet`` and the one-row
products of ``_gemv_body.h``) must give what the general path gives (``mlp_forward``
through BLAS) within float rounding, for every activation, both dtypes, widths that hit
every column tail of the vector loops, rows with zeros (skipped rows) and non-finite
values (the general path's error, unchanged). CI runs this file under every SIMD level.
The thread scope must set and restore the count, also when threads overlap, and the
results must not depend on the count.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import nncore
from nncore._serving import thread_scope
from nncore.backends._plan_methods import FORWARD_BLOCK

ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def _model(widths, act, dtype, loss="softmax_cross_entropy", backend="cython", seed=0):
    layers = [nncore.Dense(w, act, negative_slope=0.1) if act == "leaky_relu"
              else nncore.Dense(w, act) for w in widths[1:-1]]
    model = nncore.Sequential([*layers, nncore.Dense(widths[-1])], dtype=dtype,
                              backend=backend, loss=loss, seed=seed)
    return model.build(widths[0])


def _general(model, X):
    """The general path for the same rows: a list is converted, never fast."""
    return model.predict_outputs(X.tolist())


@pytest.mark.cython
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("widths", [(1, 1, 1), (3, 7, 2), (9, 33, 65, 10), (784, 256, 128, 10),
                                    (5, 130, 200, 1), (16, 8, 16, 9)])
def test_one_row_matches_general_path(widths, act, dtype, rng):
    model = _model(widths, act, dtype)
    numpy_twin = model.clone(backend="numpy")
    for x in (rng.standard_normal((1, widths[0])), np.zeros((1, widths[0])),
              rng.standard_normal((1, widths[0])) * (rng.random((1, widths[0])) < 0.5)):
        x = x.astype(dtype)
        fast = model._rows.run(x, None)
        assert fast is not None, "a plain row must take the fast path"
        np.testing.assert_allclose(fast, _general(model, x), **TOL[dtype])
        np.testing.assert_allclose(fast, numpy_twin.predict_outputs(x), **TOL[dtype])
        np.testing.assert_array_equal(model.predict_outputs(x), fast)


@pytest.mark.cython
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy", "mse"])
def test_one_row_predict_and_proba(loss, dtype, rng):
    units = 1 if loss == "binary_cross_entropy" else 4
    model = _model((6, 12, units), "tanh", dtype, loss=loss)
    X = rng.standard_normal((5, 6)).astype(dtype)
    batch_out = model.predict_outputs(X)
    for i in range(len(X)):
        row = X[i:i + 1].copy()
        np.testing.assert_allclose(model.predict_outputs(row), batch_out[i:i + 1],
                                   **TOL[dtype])
        if loss == "mse":
            np.testing.assert_allclose(model.predict(row), model.predict(row.tolist()),
                                       **TOL[dtype])
        else:  # labels: the same class from either path (no near-ties at this seed)
            assert np.array_equal(model.predict(row), model.predict(row.tolist()))
        if loss != "mse":
            proba = model.predict_proba(row)
            np.testing.assert_allclose(proba, model.predict_proba(row.tolist()), **TOL[dtype])
            assert proba.shape == (1, 2 if units == 1 else units)
            np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.cython
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_one_row_non_finite_raises_as_general_path(bad, dtype):
    model = _model((4, 8, 3), "relu", dtype)
    x = np.ones((1, 4), dtype)
    x[0, 2] = bad
    with pytest.raises(ValueError) as fast:
        model.predict_proba(x)
    with pytest.raises(ValueError) as general:
        model.predict_proba(x.tolist())
    assert str(fast.value) == str(general.value)
    assert "X[0, 2]" in str(fast.value)


@pytest.mark.cython
def test_one_row_other_inputs_take_general_path(rng):
    model = _model((4, 8, 3), "relu", np.float32)
    wide = rng.standard_normal((1, 8)).astype(np.float32)
    strided = wide[:, ::2]  # shape (1, 4), not contiguous
    assert model._rows.run(strided, None) is None
    np.testing.assert_allclose(model.predict_outputs(strided),
                               model.predict_outputs(np.ascontiguousarray(strided)), rtol=1e-5)
    as64 = strided.astype(np.float64)  # another dtype: converted
    assert model._rows.run(as64, None) is None
    np.testing.assert_allclose(model.predict_outputs(as64), model.predict_outputs(strided),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="reshape"):
        model.predict(np.ones(4, np.float32))  # one row given as 1-D: the usual hint
    with pytest.raises(ValueError, match="features"):
        model.predict(np.ones((1, 5), np.float32))


@pytest.mark.cython
def test_one_row_follows_new_weights(rng):
    model = _model((3, 5, 2), "relu", np.float32)
    x = rng.standard_normal((1, 3)).astype(np.float32)
    before = model.predict_outputs(x)
    model.set_weights([(W * 2, b + 1) for W, b in model.get_weights()])
    after = model.predict_outputs(x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, _general(model, x), rtol=1e-5)
    X, y = rng.standard_normal((64, 3)), rng.integers(0, 2, 64)
    model.fit(X, y, epochs=2, verbose=0)
    np.testing.assert_allclose(model.predict_proba(X[:1].astype(np.float32)),
                               model.predict_proba(X[:1]), rtol=1e-5)


@pytest.mark.parametrize("n", [0, 1, FORWARD_BLOCK - 1, FORWARD_BLOCK, 2 * FORWARD_BLOCK + 3])
def test_blocked_forward_matches_row_by_row(ops, n, dtype, rng):
    """mlp_forward takes the rows FORWARD_BLOCK at a time; each row as if alone."""
    model = _model((7, 40, 30, 5), "relu", dtype, backend=ops.name)
    net = model._rows.net(None)
    X = rng.standard_normal((n, 7)).astype(dtype)
    out = np.full((n, 5), np.nan, dtype)
    ops.mlp_forward(net, X, out)
    reference = model.clone(backend="numpy")
    for i in range(n):
        np.testing.assert_allclose(out[i:i + 1], reference.predict_outputs(X[i:i + 1].tolist()),
                                   **TOL[dtype])


# ------------------------------------------------------------------ threads
def _counts():
    from nncore.backends import _kernels

    return [count for _, _, count in _kernels.blas_thread_libraries()]


@pytest.mark.cython
def test_thread_scope_sets_and_restores():
    from nncore._serving import blas_thread_control

    libraries = blas_thread_control()
    assert libraries, "the OpenBLAS setter of SciPy's BLAS must be found"
    assert any("openblas" in path.lower() for path, _, _ in libraries)
    before = _counts()
    with thread_scope(1):
        assert set(_counts()) == {1}
        two = {min(2, c) for c in before}  # 2, or fewer where BLAS started with fewer
        with thread_scope(2):  # nested: the inner request holds while it runs
            assert set(_counts()) == two
        assert set(_counts()) == two  # the later request stays in force until the last exit
    assert _counts() == before
    with thread_scope(10_000):  # never above the count the library started with
        assert _counts() == before
    assert thread_scope(None).__enter__() is None
    with pytest.raises(ValueError, match="'n'"):
        from nncore.backends import _kernels

        _kernels.BlasThreads(0)


@pytest.mark.cython
def test_thread_scope_concurrent_callers_restore_and_agree(rng):
    """Threads predicting at once with and without n_threads: results as alone (within
    rounding: OpenBLAS's sums may differ in the last bits between thread counts, and the
    count is process-wide while scopes overlap), one-row results exactly as alone, and
    the count the process had afterwards."""
    before = _counts()
    pinned = _model((64, 200, 100, 10), "relu", np.float32)
    pinned.n_threads = 1
    free = pinned.clone()
    X = rng.standard_normal((300, 64)).astype(np.float32)
    expected, row = free.predict_proba(X), free.predict_proba(X[:1])
    errors: list[BaseException] = []

    def work(model):
        try:
            for _ in range(20):
                np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-5,
                                           atol=1e-7)
                assert np.array_equal(model.predict_proba(X[:1]), row)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(m,)) for m in [pinned, free] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert _counts() == before


@pytest.mark.cython
def test_gemm_repeatable_at_each_thread_count(rng):
    """Bitwise the same product at a given count; within rounding across counts."""
    ops = nncore.get_ops("cython")
    for dtype in (np.float32, np.float64):
        A = rng.standard_normal((300, 500)).astype(dtype)
        B = rng.standard_normal((500, 400)).astype(dtype)
        outs = {}
        for n in (1, 2, 4, 1, 2, 4):
            out = np.empty((300, 400), dtype)
            with thread_scope(n):
                ops.gemm(A, B, out)
            if n in outs:
                assert np.array_equal(out, outs[n]), n
            outs[n] = out
        np.testing.assert_allclose(outs[2], outs[1], **TOL[dtype] | {"atol": 1e-3})


def test_thread_scope_without_kernels_uses_threadpoolctl(monkeypatch):
    """A pure-Python install scopes with threadpoolctl (slower, same effect)."""
    from threadpoolctl import threadpool_info

    import nncore._serving as serving

    monkeypatch.setattr(serving, "HAS_KERNELS", False)
    monkeypatch.setattr(serving, "_SCOPES", {})
    with serving.thread_scope(1):
        blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == 1 for i in blas)
    assert serving.blas_thread_control() == []



@pytest.mark.parametrize("cls", ["MLPClassifier", "MLPRegressor"])
def test_estimators_take_n_threads(cls, rng):
    from sklearn.base import clone

    import nncore.sklearn as sk

    X = rng.standard_normal((80, 4))
    y = (X[:, 0] > 0).astype(int) if cls == "MLPClassifier" else X[:, 0]
    free = getattr(sk, cls)(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    pinned = clone(free).set_params(n_threads=1)
    assert pinned.get_params()["n_threads"] == 1 and free.get_params()["n_threads"] is None
    with pytest.warns(Warning):  # 5 epochs: scikit-learn's ConvergenceWarning
        free.fit(X, y)
    with pytest.warns(Warning):
        pinned.fit(X, y)
    assert pinned.model_.n_threads == 1 and free.model_.n_threads is None
    np.testing.assert_allclose(pinned.predict(X), free.predict(X), rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="n_threads"):
        getattr(sk, cls)(n_threads=0).fit(X, y)
