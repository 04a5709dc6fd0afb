"""The learning loop's machinery: plans, allocations, Ctrl-C, hooks, locks and threads."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import tracemalloc

import numpy as np
import oracle
import pytest

import nncore
from nncore.callbacks import Callback


def _data(n: int = 256, d: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), rng.integers(0, 3, n)


def _mlp(backend: str, dtype: str = "float32", seed: int = 0,
         dropout: float = 0.0) -> nncore.Sequential:
    return nncore.Sequential([nncore.Dense(16, "relu", dropout=dropout),
                              nncore.Dense(12, "tanh", dropout=dropout), nncore.Dense(3)],
                             dtype=dtype, backend=backend, seed=seed)


class _NumpyAllocations(Callback):
    """Counts NumPy data allocations from the end of epoch 1 to the end of training."""

    def __init__(self) -> None:
        self.allocated: list[tracemalloc.Statistic] | None = None

    def on_epoch_end(self, epoch, logs):
        if epoch == 0:
            tracemalloc.start()
            tracemalloc.clear_traces()
            self._before = tracemalloc.take_snapshot()

    def on_train_end(self, model):
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        domain = np.lib.tracemalloc_domain
        filt = [tracemalloc.DomainFilter(inclusive=True, domain=domain)]
        diff = after.filter_traces(filt).compare_to(self._before.filter_traces(filt), "lineno")
        self.allocated = [s for s in diff if s.count_diff > 0]
        self.traces = len(after.filter_traces(filt).traces)


@pytest.mark.cython
@pytest.mark.parametrize("optimizer", [
    lambda: nncore.SGD(lr=0.05), lambda: nncore.SGD(lr=0.05, momentum=0.9, nesterov=True),
    lambda: nncore.Adam(), lambda: nncore.AdamW()], ids=["sgd", "nesterov", "adam", "adamw"])
@pytest.mark.parametrize("batch_size", [1, 32, "full"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_training_steps_after_the_first_epoch_allocate_no_numpy_data(optimizer, batch_size,
                                                                     dropout):
    X, y = _data()
    model = _mlp("cython", dropout=dropout)
    probe = _NumpyAllocations()
    model.fit(X, y, epochs=4, batch_size=batch_size, optimizer=optimizer(),
              loss=nncore.SoftmaxCrossEntropy(), callbacks=[probe])
    assert probe.allocated == [], probe.allocated
    assert probe.traces == 0


@pytest.mark.cython
@pytest.mark.parametrize("loss,make_y", [
    ("softmax_cross_entropy", lambda rng, n: rng.integers(0, 3, n)),
    ("mse", lambda rng, n: rng.standard_normal((n, 3))),
    ("binary_cross_entropy", lambda rng, n: (rng.random((n, 3)) > 0.5).astype(float)),
    ("poisson", lambda rng, n: rng.poisson(1.5, (n, 3)).astype(float))])
@pytest.mark.parametrize("optimizer", [
    lambda: nncore.SGD(lr=0.05), lambda: nncore.SGD(lr=0.05, momentum=0.9, weight_decay=0.01),
    lambda: nncore.Adam(lr=0.01, weight_decay=0.01), lambda: nncore.AdamW(lr=0.01)],
    ids=["sgd", "momentum", "adam", "adamw"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_native_epoch_matches_the_op_by_op_path(loss, make_y, optimizer, dtype):
    """Ops.train_epoch (one call) against the op-by-op oracle (tests/oracle.py: layer
    closures, one Ops call per operation), and the NumPy backend's train_epoch against
    both."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((70, 5))
    y = make_y(rng, 70)
    order = rng.permutation(70).astype(np.int64)
    results = []
    for backend, native in (("cython", True), ("numpy", True), ("cython", False)):
        model = _mlp(backend, dtype, seed=3)
        model.build(5)
        chosen = nncore.losses.get_loss(loss)
        targets = chosen.targets(y, 3, model.dtype)
        Xc = np.ascontiguousarray(X, dtype=model.dtype)
        opt = optimizer()
        if native:
            plan = model._train_plan(16, chosen)
            for _ in range(2):
                plan.configure(*opt.plan_state(model.params))
                model.ops.train_epoch(plan, Xc, targets, order)
                opt.set_step(plan.step)
        else:
            for _ in range(2):
                for start in range(0, 70, 16):
                    idx = order[start : start + 16]
                    oracle.train_step(model, Xc[idx], targets[idx], chosen, opt)
        results.append(model.params.w.copy())
    tol = {"rtol": 2e-4, "atol": 2e-5} if dtype == "float32" else {"rtol": 1e-9, "atol": 1e-11}
    np.testing.assert_allclose(results[1], results[0], **tol)
    np.testing.assert_allclose(results[2], results[0], **tol)


def test_train_epoch_rejects_bad_arguments(ops):
    model = _mlp(ops.name)
    model.build(8)
    plan = model._train_plan(4, nncore.SoftmaxCrossEntropy())
    plan.configure(*nncore.SGD().plan_state(model.params))
    X, y = _data(10)
    labels = y.astype(np.int64)
    order = np.arange(10, dtype=np.int64)
    with pytest.raises(ValueError, match="'order'"):
        ops.train_epoch(plan, X, labels, np.array([0, 10], np.int64))
    with pytest.raises(TypeError, match="'order'"):
        ops.train_epoch(plan, X, labels, order.astype(np.int32))
    with pytest.raises(ValueError, match="'targets'"):
        ops.train_epoch(plan, X, labels + 3, order)
    with pytest.raises(TypeError, match="'X'"):
        ops.train_epoch(plan, X.astype(np.float64), labels, order)
    with pytest.raises(ValueError, match="'X'"):
        ops.train_epoch(plan, X[:, :5].copy(), labels, order)
    before = model.params.w.copy()
    assert ops.train_epoch(plan, X, labels, order[:0]) == 0.0
    np.testing.assert_array_equal(model.params.w, before)


@pytest.mark.cython
def test_ctrl_c_stops_a_long_native_epoch_cleanly():
    script = textwrap.dedent("""
        import json, os, signal, threading, time
        import numpy as np, nncore
        rng = np.random.default_rng(0)
        X = rng.standard_normal((3_000_000, 4)).astype(np.float32)
        y = rng.integers(0, 2, len(X))
        model = nncore.Sequential([nncore.Dense(8, "tanh"), nncore.Dense(2)], backend="cython")
        opt = nncore.Adam()
        model.fit(X[:10], y[:10], epochs=1, optimizer=opt, loss="softmax_cross_entropy")
        class SigintSoon(nncore.Callback):
            # Send SIGINT only once the native epoch has run some steps (its step counter,
            # counters[1], is visible from this thread): a timer could fire before the
            # epoch starts on a loaded machine (during the conversion or the shuffle).
            def on_train_begin(self, model):
                plan = next(p for p in model._train_plans.values() if p.batch_size == 1)
                def watch():
                    while plan.counters[1] < 1000:
                        time.sleep(0.001)
                    os.kill(os.getpid(), signal.SIGINT)
                threading.Thread(target=watch, daemon=True).start()
        start = time.perf_counter()
        try:
            model.fit(X, y, epochs=1, batch_size=1, callbacks=[SigintSoon()])
            outcome = "finished"
        except KeyboardInterrupt:
            outcome = "interrupted"
        took = time.perf_counter() - start
        w = model.params.w
        print(json.dumps({"outcome": outcome, "steps": opt._t, "took": took,
                          "finite": bool(np.isfinite(w).all()),
                          "predicts": model.predict(X[:3]).tolist()}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["outcome"] == "interrupted"
    assert 1 < result["steps"] < 3_000_001  # stopped part-way, completed steps counted
    assert result["finite"] and len(result["predicts"]) == 3


def test_hook_sees_every_epoch_and_can_stop(ops):
    X, y = _data()
    seen = []

    def hook(epoch, logs):
        seen.append((epoch, logs["loss"]))
        logs["double"] = 2 * logs["loss"]
        return epoch == 2  # stop after the third epoch

    class Counter(Callback):
        began = ended = 0

        def on_train_begin(self, model):
            self.began += 1

        def on_train_end(self, model):
            self.ended += 1

    counter = Counter()
    history = _mlp(ops.name).fit(X, y, epochs=10, loss="softmax_cross_entropy",
                                 callbacks=[hook, counter])
    assert [e for e, _ in seen] == [0, 1, 2]
    assert history.epoch == [0, 1, 2]
    assert history.history["double"] == [2 * v for v in history.history["loss"]]
    assert counter.began == counter.ended == 1
    with pytest.raises(TypeError, match="'callbacks'"):
        _mlp(ops.name).fit(X, y, loss="mse", callbacks=[42])


def test_verbose_prints_one_line_per_epoch(ops, capsys):
    X, y = _data()
    _mlp(ops.name).fit(X, y, epochs=3, loss="softmax_cross_entropy", verbose=1)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("epoch 3/3  loss ")


def test_concurrent_predict_matches_serial(ops):
    X, y = _data(400)
    model = _mlp(ops.name)
    model.fit(X, y, epochs=2, loss="softmax_cross_entropy")
    expected = [model.predict_proba(X[i::8]) for i in range(8)]
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        for _ in range(20):
            results[i] = model.predict_proba(X[i::8])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        np.testing.assert_array_equal(results[i], expected[i])


def test_n_threads_limits_blas_during_fit(ops):
    from threadpoolctl import threadpool_info

    X, y = _data()
    seen = []
    model = nncore.Sequential([nncore.Dense(4), nncore.Dense(3)], backend=ops.name,
                              n_threads=1)
    model.fit(X, y, epochs=1, loss="softmax_cross_entropy",
              callbacks=[lambda e, logs: seen.extend(
                  p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")])
    assert seen and set(seen) == {1}
    with pytest.raises(ValueError, match="'n_threads'"):
        nncore.Sequential([nncore.Dense(2)], n_threads=0)


@pytest.mark.parametrize("loss,make_y", [
    ("softmax_cross_entropy", lambda rng, n: rng.integers(0, 3, n)),
    ("mse", lambda rng, n: rng.standard_normal((n, 3))),
    ("binary_cross_entropy", lambda rng, n: (rng.random((n, 3)) > 0.5).astype(float)),
    ("poisson", lambda rng, n: rng.poisson(1.5, (n, 3)).astype(float))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows_per_run", [None, 7])
def test_gradients_are_the_training_backpropagation(ops, loss, make_y, dtype, rows_per_run,
                                                     monkeypatch):
    """Sequential.gradients (Ops.loss_gradient, the training step's code) against the
    op-by-op oracle; with 7 rows per run, 30 rows take 5 runs summed into one gradient."""
    if rows_per_run is not None:
        monkeypatch.setattr(nncore.model, "GRADIENT_ROWS", rows_per_run)
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((30, 5)), make_y(rng, 30)
    model = _mlp(ops.name, dtype, seed=2)
    value, grads = model.gradients(X, y, loss)
    chosen = nncore.losses.get_loss(loss)
    expected = oracle.gradients(model, np.ascontiguousarray(X, model.dtype),
                                chosen.targets(y, 3, model.dtype), chosen)
    tol = {"rtol": 2e-4, "atol": 2e-6} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-12}
    assert value == pytest.approx(expected, rel=tol["rtol"])
    for (dW, db), (eW, eb) in zip(grads, model.params.views(model.params.g), strict=True):
        np.testing.assert_allclose(dW, eW, **tol)
        np.testing.assert_allclose(db, eb, **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_run_gradient_is_the_full_batch_step(ops, dtype):
    """The gradient of gradients() is bit for bit the one a full-batch SGD step applies:
    w1 = w0 - lr g, computed by fit and by hand from gradients()."""
    X, y = _data(40, 8, seed=3)
    model = _mlp(ops.name, dtype, seed=5)
    model.build(8)
    w0 = model.params.w.copy()
    model.gradients(X, y, "softmax_cross_entropy")
    g = model.params.g.copy()
    model.fit(X, y, epochs=1, batch_size="full", optimizer=nncore.SGD(lr=0.5, momentum=0.5),
              loss="softmax_cross_entropy", verbose=0)
    # momentum > 0 takes the unfused path: v = g, w -= lr * v
    np.testing.assert_array_equal(model.params.g, g)
    np.testing.assert_array_equal(model.params.w, w0 - model.dtype.type(0.5) * g)
