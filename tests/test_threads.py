"""Training teams (nncore.backends.threads, _team.h): the same answers on every team size,
bitwise repeatable for one size, and never more threads than ``n_threads``.

The crossover (``PARALLEL_MIN_MACS``) keeps small networks on one thread; the ``team``
fixture lowers it so that these small, fast cases run on a team of two.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import scipy.sparse

import nncore
import nncore.backends.threads as threads

pytestmark = pytest.mark.cython


@pytest.fixture
def team(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "PARALLEL_MIN_MACS", 0)
    monkeypatch.setattr(threads, "MIN_ROWS_PER_THREAD", 1)


def _data(n: int = 203, d: int = 13, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, d))
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)


CASES = {
    "sgd": dict(optimizer=lambda: nncore.SGD(lr=0.05)),
    "sgd-nesterov-decay": dict(optimizer=lambda: nncore.SGD(lr=0.05, momentum=0.9,
                                                            nesterov=True,
                                                            weight_decay=1e-3)),
    "adam": dict(optimizer=lambda: nncore.Adam(lr=0.01, weight_decay=1e-3)),
    "adamw": dict(optimizer=lambda: nncore.AdamW(lr=0.01, weight_decay=0.1)),
    "dropout": dict(dropout=0.3, act="tanh"),
    "sample-weight": dict(weighted=True),
    "csr-gather": dict(sparse=0.5),
    "csr-product": dict(sparse=0.05),
    "hidden-softmax-sigmoid": dict(act="softmax", out="sigmoid", loss="mse"),
    "one-output-bce": dict(loss="binary_cross_entropy", outputs=1),
    "batch-1": dict(batch=1, n=40),
    "batch-odd": dict(batch=7),
    "lbfgs": dict(optimizer=lambda: nncore.LBFGS(max_iter=5), batch=None),
}


def _fit_case(name: str, n_threads: int) -> np.ndarray:
    return _fit(CASES[name], n_threads)


def _fit(case: dict, n_threads: int | None, backend: str = "cython",
         dtype: str = "float64") -> np.ndarray:
    X, y = _data(case.get("n", 203))
    if case.get("sparse"):
        X = X * (np.random.default_rng(1).random(X.shape) < case["sparse"])
        X = scipy.sparse.csr_matrix(X)
    loss = case.get("loss", "softmax_cross_entropy")
    outputs = case.get("outputs", 3)
    if loss == "mse":
        y = np.eye(outputs)[y]
    elif loss == "binary_cross_entropy":
        y = (y > 0).astype(np.float64)[:, None]
    act = case.get("act", "relu")
    layers = [nncore.Dense(16, act, dropout=case.get("dropout", 0.0)),
              nncore.Dense(24, "relu"), nncore.Dense(outputs, case.get("out", "identity"))]
    model = nncore.Sequential(layers, dtype=dtype, seed=3, backend=backend,
                              n_threads=n_threads)
    weight = np.random.default_rng(2).random(len(y)) if case.get("weighted") else None
    model.fit(X, y, epochs=None if "batch" in case and case["batch"] is None else 3,
              batch_size=case.get("batch", 32), loss=loss,
              optimizer=case.get("optimizer", lambda: nncore.SGD(lr=0.05))(),
              sample_weight=weight, verbose=0, seed=5)
    return model.params.w.copy()


@pytest.mark.parametrize("name", sorted(CASES))
def test_team_is_repeatable_and_agrees_with_one_thread_and_numpy(team, name):
    case = CASES[name]
    two = _fit(case, 2)
    np.testing.assert_array_equal(_fit(case, 2), two)  # bitwise, one team size
    # other sizes and the NumPy backend: within rounding (see nncore.backends.threads)
    np.testing.assert_allclose(_fit(case, 1), two, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(_fit(case, 3), two, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(_fit(case, 2, backend="numpy"), two, rtol=1e-9, atol=1e-11)


def test_team_float32_agrees_with_numpy(team):
    case = CASES["adam"]
    np.testing.assert_allclose(_fit(case, 2, dtype="float32"),
                               _fit(case, 2, backend="numpy", dtype="float32"),
                               rtol=2e-4, atol=2e-5)


def test_concurrent_fits_each_get_their_own_team(team):
    case = CASES["adam"]
    expected = _fit(case, 2)
    results: list[np.ndarray] = []
    workers = [threading.Thread(target=lambda: results.append(_fit(case, 2)))
               for _ in range(3)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert len(results) == 3
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_train_threads_crossover():
    # W1 (784-256-128-10, batch 128) shares its steps; W2 (2-16-16-1, batch 32) does not
    assert threads.train_threads((784, 256, 128, 10), 128, 2) == 2
    assert threads.train_threads((2, 16, 16, 1), 32, 2) == 1
    assert threads.train_threads((784, 256, 128, 10), 128, 1) == 1
    assert threads.train_threads((784, 256, 128, 10), 128, 0) == 1  # BLAS unknown
    # at least MIN_ROWS_PER_THREAD rows each
    assert threads.train_threads((4096, 4096, 10), 20, 8) == 1
    assert threads.train_threads((4096, 4096, 10), 64, 8) == 64 // threads.MIN_ROWS_PER_THREAD
    sparse = scipy.sparse.random(100, 784, density=0.001, format="csr", dtype=np.float32)
    from nncore.backends.sparse import csr_rows

    rows = csr_rows(sparse, np.dtype(np.float32))
    assert threads.step_macs((784, 256, 10), 128, rows) < threads.step_macs((784, 256, 10), 128)


_COUNT_THREADS = textwrap.dedent("""
    import json, os, sys, time
    import numpy as np, nncore
    from nncore._serving import thread_scope
    from nncore.backends import _kernels

    def cpu_ns():
        out = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/schedstat") as fh:
                    out[tid] = int(fh.read().split()[0])
            except OSError:
                with open(f"/proc/self/task/{tid}/stat") as fh:
                    f = fh.read().rsplit(")", 1)[1].split()
                out[tid] = (int(f[11]) + int(f[12])) * 10**9 // os.sysconf("SC_CLK_TCK")
        return out

    n = None if sys.argv[1] == "None" else int(sys.argv[1])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12_000, 784)).astype(np.float32)
    y = rng.integers(0, 10, len(X))
    model = nncore.Sequential([nncore.Dense(256, "relu"), nncore.Dense(128, "relu"),
                               nncore.Dense(10)], dtype="float32", seed=0, n_threads=n,
                              loss="softmax_cross_entropy")
    model.fit(X[:1024], y[:1024], epochs=1, batch_size=128, verbose=0)  # the team made
    time.sleep(0.5)  # any BLAS thread still spinning from before goes to sleep
    before = cpu_ns()
    start = time.perf_counter()
    model.fit(X, y, epochs=2, batch_size=128, verbose=0)
    wall = time.perf_counter() - start
    after = cpu_ns()
    with thread_scope(n):
        budget = _kernels.blas_threads()
    busy = sorted((after[t] - before.get(t, 0)) / 1e9 for t in after)
    print(json.dumps({"busy": busy, "wall": wall, "budget": budget}))
""")


@pytest.mark.parametrize("n_threads", [1, 2, None])
def test_n_threads_bounds_the_threads_that_run(n_threads):
    proc = subprocess.run([sys.executable, "-c", _COUNT_THREADS, str(n_threads)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # a thread "ran" if it used more than 5 % of the fit's wall time in CPU
    ran = [s for s in result["busy"] if s > 0.05 * result["wall"]]
    limit = result["budget"]
    assert limit >= 1 and (n_threads is None or limit <= n_threads)
    assert 1 <= len(ran) <= limit, result
    if limit >= 2:
        assert len(ran) == limit, result  # W1's steps are shared by the whole team


def test_a_forked_child_trains_with_a_team_of_its_own(team):
    pytest.importorskip("multiprocessing")
    import multiprocessing as mp

    expected = _fit_case("sgd", 2)  # the parent's team exists now
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_fit_case, ("sgd", 2)).get(timeout=120)
    np.testing.assert_array_equal(got, expected)


def test_ctrl_c_stops_a_team_epoch_cleanly():
    script = textwrap.dedent("""
        import json, os, signal, threading, time
        import numpy as np, nncore
        import nncore.backends.threads as threads
        threads.PARALLEL_MIN_MACS, threads.MIN_ROWS_PER_THREAD = 0, 1
        rng = np.random.default_rng(0)
        X = rng.standard_normal((2_000_000, 4)).astype(np.float32)
        y = rng.integers(0, 2, len(X))
        model = nncore.Sequential([nncore.Dense(8, "tanh"), nncore.Dense(2)], n_threads=2)
        opt = nncore.Adam()
        model.fit(X[:10], y[:10], epochs=1, optimizer=opt, loss="softmax_cross_entropy")
        class SigintSoon(nncore.Callback):
            def on_train_begin(self, model):
                plan = next(p for p in model._train_plans.values() if p.batch_size == 2)
                def watch():
                    while plan.counters[1] < 1000:
                        time.sleep(0.001)
                    os.kill(os.getpid(), signal.SIGINT)
                threading.Thread(target=watch, daemon=True).start()
        try:
            model.fit(X, y, epochs=1, batch_size=2, callbacks=[SigintSoon()])
            outcome = "finished"
        except KeyboardInterrupt:
            outcome = "interrupted"
        w = model.params.w
        again = model.fit(X[:1000], y[:1000], epochs=1, batch_size=2, verbose=0)
        print(json.dumps({"outcome": outcome, "steps": opt._t,
                          "finite": bool(np.isfinite(w).all()),
                          "trains_after": bool(np.isfinite(again.history["loss"][-1]))}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["outcome"] == "interrupted"
    assert 1 < result["steps"] < 1_000_001  # stopped part-way, completed steps counted
    assert result["finite"] and result["trains_after"]  # the team came back to the cache
