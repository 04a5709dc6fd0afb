"""Bad input fails loudly and clearly; numerical trouble is handled; threads and forks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import nncore

X_OK, Y_OK = nncore.make_moons(64, seed=0)


def _fitted(backend: str = "numpy", loss: str = "softmax_cross_entropy",
            units: int = 2) -> nncore.Sequential:
    model = nncore.Sequential([nncore.Dense(8, "tanh"), nncore.Dense(units)], backend=backend)
    model.fit(X_OK, Y_OK, epochs=1, loss=loss, verbose=0)
    return model


NAN_X = X_OK.copy()
NAN_X[3, 1] = np.nan
INF_Y = Y_OK.astype(float)
INF_Y[5] = np.inf

# (id, call on a fitted classifier, exception, message fragment)
CASES = [
    ("X-1d", lambda m: m.predict(X_OK[:, 0]), ValueError, "2-D"),
    ("X-3d", lambda m: m.predict(X_OK[None]), ValueError, "2-D"),
    ("X-strings", lambda m: m.predict([["a", "b"]]), TypeError, "must hold numbers"),
    ("X-objects", lambda m: m.predict(np.array([[object(), 1]])), TypeError, "numbers"),
    ("X-nan-predict", lambda m: m.predict(NAN_X), ValueError, "X[3, 1] is nan"),
    ("X-nan-fit", lambda m: m.fit(NAN_X, Y_OK), ValueError, "X[3, 1] is nan"),
    ("X-overflow-float32", lambda m: m.predict(np.full((2, 2), 1e300)), ValueError,
     "out of its range"),
    ("y-inf", lambda m: m.evaluate(X_OK, INF_Y), ValueError, "y[5] is inf"),
    ("y-nan-regression", lambda m: nncore.Sequential([nncore.Dense(1)]).fit(
        X_OK, np.full(64, np.nan), loss="mse"), ValueError, "'y' must be finite"),
    ("lengths", lambda m: m.fit(X_OK, Y_OK[:10]), ValueError, "different lengths"),
    ("lengths-evaluate", lambda m: m.evaluate(X_OK, Y_OK[:10]), ValueError,
     "different lengths"),
    ("empty-fit", lambda m: m.fit(X_OK[:0], Y_OK[:0]), ValueError, "empty"),
    ("empty-predict", lambda m: m.predict(X_OK[:0]), ValueError, "empty"),
    ("no-features", lambda m: nncore.Sequential([nncore.Dense(1)]).fit(
        np.zeros((3, 0)), [0, 1, 0], loss="mse"), ValueError, "no features"),
    ("feature-count", lambda m: m.predict(np.zeros((2, 5))), ValueError,
     "5 features, but the model was built for 2"),
    ("label-range-fit", lambda m: m.fit(X_OK, Y_OK + 2), ValueError, "0..1"),
    ("label-range-evaluate", lambda m: m.evaluate(X_OK, -Y_OK - 1), ValueError, "0..1"),
    ("label-fraction", lambda m: m.fit(X_OK, Y_OK + 0.5), ValueError, "fractions"),
    ("label-2d", lambda m: m.fit(X_OK, np.c_[Y_OK, Y_OK]), ValueError, "1-D"),
    ("bce-labels", lambda m: nncore.Sequential([nncore.Dense(1)]).fit(
        X_OK, Y_OK * 3, loss="binary_cross_entropy"), ValueError, "0/1 labels"),
    ("unknown-activation", lambda m: nncore.Dense(4, "swish"), ValueError,
     "'identity', 'relu', 'leaky_relu', 'sigmoid', 'tanh', 'softmax'"),
    ("unknown-loss", lambda m: m.fit(X_OK, Y_OK, loss="hinge"), ValueError,
     "'mse', 'softmax_cross_entropy', 'binary_cross_entropy'"),
    ("unknown-optimizer", lambda m: m.fit(X_OK, Y_OK, optimizer="rmsprop"), ValueError,
     "'sgd', 'adam', 'adamw'"),
    ("lr-zero", lambda m: nncore.SGD(lr=0), ValueError, "'lr' must be > 0"),
    ("lr-negative", lambda m: nncore.Adam(lr=-1e-3), ValueError, "'lr' must be > 0"),
    ("lr-nan", lambda m: nncore.Adam(lr=float("nan")), ValueError, "'lr' must be finite"),
    ("batch-size-zero", lambda m: m.fit(X_OK, Y_OK, batch_size=0), ValueError,
     "'batch_size' must be >= 1"),
    ("batch-size-float", lambda m: m.fit(X_OK, Y_OK, batch_size=2.5), TypeError,
     "'batch_size' must be an integer"),
    ("units-zero", lambda m: nncore.Dense(0), ValueError, "'units' must be >= 1"),
    ("units-float", lambda m: nncore.Dense(3.0), TypeError, "'units' must be an integer"),
    ("epochs-zero", lambda m: m.fit(X_OK, Y_OK, epochs=0), ValueError,
     "'epochs' must be >= 1"),
    ("negative-slope", lambda m: nncore.Dense(3, "leaky_relu", negative_slope=-1),
     ValueError, "'negative_slope'"),
    ("backend", lambda m: nncore.Sequential([nncore.Dense(1)], backend="gpu"), ValueError,
     "'backend'"),
]


@pytest.mark.parametrize("case_id,call,exc,text", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error_and_changes_nothing(ops, case_id, call, exc, text):
    model = _fitted(ops.name)
    before = model.params.w.copy()
    with pytest.raises(exc) as info:
        call(model)
    assert text in str(info.value)
    np.testing.assert_array_equal(model.params.w, before)  # nothing trained, nothing lost


def test_divergence_stops_with_a_clear_error_and_keeps_finite_weights(ops):
    model = nncore.Sequential([nncore.Dense(16, "relu"), nncore.Dense(1)], backend=ops.name)
    model.fit(X_OK, Y_OK, epochs=3, loss="mse", optimizer=nncore.SGD(lr=0.01), verbose=0)
    seen = [model.params.w.copy()]
    with pytest.raises(nncore.DivergenceError, match=r"epoch \d+.*lower learning rate") as info:
        model.fit(X_OK * 1e3, Y_OK * 1e6, epochs=50, optimizer=nncore.SGD(lr=10.0),
                  callbacks=[lambda e, logs: seen.append(model.params.w.copy())], verbose=0)
    assert isinstance(info.value, FloatingPointError)
    assert np.isfinite(model.params.w).all()
    # the weights at the end of the last epoch that finished finite (or before the fit)
    np.testing.assert_array_equal(model.params.w, seen[-1])


EXTREME = np.array([[-1e4, 0.0, 1e4], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4]])


def test_activations_are_stable_at_huge_logits(ops, dtype):
    Z = EXTREME.astype(dtype)
    b = np.zeros(3, dtype)
    out = np.empty_like(Z)
    ops.bias_act_forward(Z, b, "sigmoid", out)
    np.testing.assert_array_equal(out, (Z > 0).astype(dtype) + (Z == 0) * dtype(0.5))
    ops.bias_act_forward(Z, b, "tanh", out)
    np.testing.assert_array_equal(out, np.sign(Z))
    ops.bias_act_forward(Z, b, "softmax", out)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(out, [[0, 0, 1], [0.5, 0.5, 0], [1 / 3] * 3], atol=1e-6)


def test_losses_are_stable_at_huge_logits(ops, dtype):
    Z = EXTREME.astype(dtype)
    labels = np.array([0, 2, 1])
    grad = np.empty_like(Z)
    loss = ops.softmax_xent(Z, labels, grad)
    # row 0: lse = 1e4, z[0] = -1e4 -> 2e4; row 1: lse = 1e4 + log 2, z = -1e4 -> 2e4 + log 2;
    # row 2: log 3
    expected = (2e4 + (2e4 + np.log(2)) + np.log(3)) / 3
    assert np.isfinite(loss) and loss == pytest.approx(expected, rel=1e-6)
    onehot = np.eye(3)[labels]
    softmax = np.array([[0, 0, 1], [0.5, 0.5, 0], [1 / 3] * 3])
    np.testing.assert_allclose(grad, (softmax - onehot) / 3, atol=1e-6)
    y = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 0]], dtype)
    loss = ops.sigmoid_bce(Z, y, grad)
    # each wrong sign costs |z| = 1e4, right ones ~0: wrong at (0,0), (1,0), (1,2); z = 0
    # at (0,1) costs log 2
    assert np.isfinite(loss) and loss == pytest.approx((3e4 + np.log(2)) / 9, rel=1e-6)
    sig = (Z > 0).astype(float) + (Z == 0) * 0.5
    np.testing.assert_allclose(grad, (sig - y) / 9, atol=1e-7)


def _train(backend: str, seed: int, out: dict, key: int) -> None:
    X, y = nncore.make_moons(2000, seed=seed)
    model = nncore.Sequential([nncore.Dense(32, "relu"), nncore.Dense(2)], backend=backend,
                              seed=seed)
    model.fit(X, y, epochs=5, batch_size=16, optimizer=nncore.Adam(lr=0.01),
              loss="softmax_cross_entropy", verbose=0, seed=seed)
    out[key] = model.params.w.copy()


def test_two_models_trained_in_two_threads_match_training_alone(ops):
    alone: dict[int, np.ndarray] = {}
    _train(ops.name, 1, alone, 1)
    _train(ops.name, 2, alone, 2)
    together: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=_train, args=(ops.name, s, together, s)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in (1, 2):
        np.testing.assert_array_equal(together[s], alone[s])


def test_one_model_is_trained_by_one_thread_at_a_time(ops):
    model = _fitted(ops.name)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                model.fit(X_OK, Y_OK, epochs=2, verbose=0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert np.isfinite(model.params.w).all()


def test_model_works_in_a_forked_child(ops):
    script = textwrap.dedent(f"""
        import json, os, sys
        import numpy as np, nncore
        X, y = nncore.make_moons(300, seed=0)
        model = nncore.Sequential([nncore.Dense(16, "relu"), nncore.Dense(2)],
                                  backend="{ops.name}")
        model.fit(X, y, epochs=3, loss="softmax_cross_entropy", verbose=0)  # BLAS threads up
        parent = model.predict_proba(X)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            child = model.predict_proba(X)
            model.fit(X, y, epochs=2, verbose=0)  # training in the child works too
            ok = bool(np.array_equal(child, parent) and np.isfinite(model.params.w).all())
            os.write(w, json.dumps({{"ok": ok}}).encode())
            os._exit(0)
        os.close(w)
        data = os.read(r, 1000)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({{"child": json.loads(data or b"null"), "status": status}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result == {"child": {"ok": True}, "status": 0}
