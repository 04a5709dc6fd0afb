"""nncore on a dask cluster: ``nncore.dask`` (local SGD, prediction), dask-ml's Incremental
over the estimators' ``partial_fit``, and scikit-learn's search under joblib's dask backend.

One local cluster for the module: two worker processes of one thread each, on the loopback,
no dashboard. dask, distributed and dask-ml are imported at the top, like onnx in
test_onnx.py: the test extras CI installs include the ``dask`` extra, so a missing package
fails the run at collection instead of skipping these tests.

The worker-killing test is the last of the module: its worker comes back (the nanny
restarts it) but without the replicas.
"""

from __future__ import annotations

import os
import time
import zlib

import dask.array as da
import dask.dataframe as dd
import joblib
import numpy as np
import pandas as pd
import pytest
from dask_ml.wrappers import Incremental
from distributed import Client, LocalCluster
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import nncore
import nncore.dask
from nncore.dask._predict import ship
from nncore.sklearn import MLPClassifier

pytestmark = [pytest.mark.distributed,
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]


@pytest.fixture(scope="module")
def client():
    # dashboard_address=None turns the dashboard off, but the scheduler's HTTP server
    # (health, metrics) still takes port 8787: a free port on the loopback instead, so that
    # two test runs on one machine never meet.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster) as c:
        yield c


def blobs(n: int, d: int = 5, k: int = 3, seed: int = 0, dtype=np.float64):
    """``n`` rows of ``d`` features around ``k`` centres, labels 0..k-1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.normal(size=(k, d))[y] * 2 + rng.normal(size=(n, d))
    return X.astype(dtype), y


def mlp(dtype="float64", seed=0, k=3):
    return nncore.Sequential([nncore.Dense(16, "relu"), nncore.Dense(k)], dtype=dtype,
                             seed=seed, loss="softmax_cross_entropy")


def test_incremental_equals_the_partial_fit_chain(client):
    """dask-ml's Incremental calls partial_fit block after block on the cluster: the same
    weights, bit for bit, as the chain of partial_fit calls in this process."""
    X, y = blobs(800, dtype=np.float32)
    Xd, yd = da.from_array(X, chunks=(200, 5)), da.from_array(y, chunks=200)
    est = MLPClassifier((16,), random_state=0, batch_size=32, learning_rate_init=0.01)
    inc = Incremental(clone(est), shuffle_blocks=False).fit(Xd, yd, classes=[0, 1, 2])
    local = clone(est)
    for start in range(0, 800, 200):
        local.partial_fit(X[start:start + 200], y[start:start + 200], classes=[0, 1, 2])
    got, want = inc.estimator_.model_.get_weights(), local.model_.get_weights()
    for (W1, b1), (W2, b2) in zip(got, want, strict=True):
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)
    assert inc.estimator_.t_ == local.t_


def test_predict_on_dask_arrays_equals_local(client):
    X, y = blobs(1000, dtype=np.float32)
    model = mlp("float32")
    model.fit(X, y, epochs=2, verbose=0)
    Xd = da.from_array(X, chunks=(300, 5))
    got = nncore.dask.predict(model, Xd)
    assert isinstance(got, da.Array) and got.shape == (1000,)
    np.testing.assert_array_equal(got.compute(), model.predict(X))
    proba = nncore.dask.predict_proba(model, Xd)
    assert proba.shape == (1000, 3)
    np.testing.assert_array_equal(proba.compute(), model.predict_proba(X))
    # an estimator too
    est = MLPClassifier((8,), random_state=0, max_iter=5).fit(X, y)
    np.testing.assert_array_equal(nncore.dask.predict(est, Xd).compute(), est.predict(X))


def test_predict_on_dask_dataframes_matches_columns_by_name(client):
    X, y = blobs(600, d=4)
    names = ["a", "b", "c", "d"]
    frame = pd.DataFrame(X, columns=names)
    model = mlp()
    model.fit(frame, y, epochs=2, verbose=0)
    shuffled = dd.from_pandas(frame[["c", "a", "d", "b"]], npartitions=3)
    got = nncore.dask.predict(model, shuffled).compute()
    assert isinstance(got, pd.Series)
    np.testing.assert_array_equal(got.to_numpy(), model.predict(frame))
    np.testing.assert_array_equal(got.index.to_numpy(), frame.index.to_numpy())
    proba = nncore.dask.predict_proba(model, shuffled).compute()
    np.testing.assert_array_equal(proba.to_numpy(), model.predict_proba(frame))


def test_the_model_is_shipped_once_to_every_worker(client):
    model = mlp()
    model.build(5)
    future = ship(model, client)
    holders = client.who_has([future])[future.key]
    assert sorted(holders) == sorted(client.scheduler_info()["workers"])


def interleaved(X, y, shards: int, batch: int):
    """The rows in the order one process sees them when each synchronous step covers the
    replicas' local batches put together: shard 0's j-th batch, shard 1's, ..."""
    per = len(X) // shards
    idx = [s * per + j * batch + i for j in range(per // batch) for s in range(shards)
           for i in range(batch)]
    return X[idx], y[idx]


def test_sync_every_1_with_plain_sgd_is_one_process_on_the_batches_together(client):
    X, y = blobs(2 * 8 * 16)  # 2 shards of 8 batches of 16 rows
    Xd, yd = da.from_array(X, chunks=(128, 5)), da.from_array(y, chunks=128)
    spread = mlp()
    history = nncore.dask.fit(spread, Xd, yd, epochs=3, batch_size=16, sync_every=1,
                              optimizer=nncore.SGD(lr=0.1, weight_decay=1e-3), shuffle=False,
                              client=client)
    one = mlp()
    Xi, yi = interleaved(X, y, 2, 16)
    expected = one.fit(Xi, yi, epochs=3, batch_size=32, shuffle=False, verbose=0,
                       optimizer=nncore.SGD(lr=0.1, weight_decay=1e-3))
    np.testing.assert_allclose(spread.params.w, one.params.w, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-12)
    assert [r["rows"] for r in history.replicas] == [128, 128]


def test_sync_every_1_with_sample_weights_is_one_weighted_process(client):
    """With weights, a synchronous step is the weighted step on the batches together when
    the replicas' batches weigh the same: shard 1's weights are shard 0's, reversed within
    each batch."""
    X, y = blobs(2 * 4 * 16, seed=3)
    first = np.random.default_rng(4).uniform(0.2, 3.0, 64)
    w = np.concatenate([first, first.reshape(4, 16)[:, ::-1].ravel()])
    Xd, yd = da.from_array(X, chunks=(64, 5)), da.from_array(y, chunks=64)
    spread = mlp()
    history = nncore.dask.fit(spread, Xd, yd, sample_weight=da.from_array(w, chunks=32),
                              epochs=2, batch_size=16, sync_every=1, shuffle=False,
                              optimizer=nncore.SGD(lr=0.1), metrics="accuracy",
                              client=client)
    one = mlp()
    order = interleaved(np.arange(128), np.arange(128), 2, 16)[0]
    expected = one.fit(X[order], y[order], sample_weight=w[order], epochs=2, batch_size=32,
                       shuffle=False, verbose=0, optimizer=nncore.SGD(lr=0.1),
                       metrics="accuracy")
    np.testing.assert_allclose(spread.params.w, one.params.w, rtol=1e-12, atol=1e-13)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(history.history[key], expected.history[key], rtol=1e-12)


def test_replicas_agree_after_every_average_and_keep_their_optimizer_state(client):
    X, y = blobs(1000)
    Xd, yd = da.from_array(X, chunks=(250, 5)), da.from_array(y, chunks=250)
    model = mlp()
    averages = []  # the driver's weights after the last round of each epoch
    record = nncore.callbacks.LambdaCallback(
        lambda epoch, logs: averages.append(zlib.crc32(model.params.w.data)))
    history = nncore.dask.fit(model, Xd, yd, epochs=3, batch_size=25, sync_every="epoch",
                              optimizer=nncore.SGD(lr=0.05, momentum=0.9), client=client,
                              callbacks=[record])
    first, second = history.replicas
    assert first["worker"] != second["worker"]
    # every round started from one set of weights on both: the driver's average
    assert first["received"] == second["received"] and len(first["received"]) == 3
    assert first["received"][1:] == averages[:2]
    # momentum stays local: the replicas' velocities differ, the driver keeps none
    v1, v2 = first["optimizer"]["v"], second["optimizer"]["v"]
    assert np.abs(v1).sum() > 0 and not np.allclose(v1, v2)
    assert model.optimizer.get_state(model.params) is None
    # each worker's BLAS runs its one thread, pinned at worker start by the plugin too
    assert first["n_threads"] == second["n_threads"] == 1
    assert set(first["blas_threads"]) | set(second["blas_threads"]) <= {1}
    assert set(client.run(blas_pinned).values()) == {True}


def blas_pinned(dask_worker) -> bool:
    """On a worker: nncore's plugin is there and BLAS runs the worker's threads."""
    from threadpoolctl import threadpool_info

    counts = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
    return "nncore-blas-threads" in dask_worker.plugins and counts <= {
        dask_worker.state.nthreads}


def test_history_callbacks_and_validation_as_in_fit(client):
    X, y = blobs(1200, d=4)
    names = ["w", "x", "y", "z"]
    frame = dd.from_pandas(pd.DataFrame(X[:1000], columns=names), npartitions=4)
    labels = dd.from_pandas(pd.Series(y[:1000]), npartitions=4)
    model = mlp()
    stop = nncore.EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0)
    decay = nncore.ExponentialDecay(gamma=0.5)
    history = nncore.dask.fit(model, frame, labels, epochs=10, batch_size=20, sync_every=8,
                              optimizer=nncore.Adam(lr=0.01), metrics="accuracy",
                              callbacks=[stop, decay],
                              validation_data=(pd.DataFrame(X[1000:], columns=names),
                                               y[1000:]), client=client)
    assert list(model.feature_names_in_) == names
    assert history.epoch == [0, 1]  # no improvement of 10 in the second epoch: stop
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    np.testing.assert_allclose(history.history["lr"], [0.01, 0.005])
    assert [r["lr"] for r in history.replicas] == [0.005, 0.005]  # the rate went out
    assert history.history["val_accuracy"][-1] > 0.8
    with pytest.raises(ValueError, match="sync_every"):
        nncore.dask.fit(model, frame, labels, sync_every="often", client=client)


def test_a_replicas_own_error_is_raised_as_it_is(client):
    """Bad data fails where the shard is converted, with fit's own message (not as a
    lost replica), and no actor is left behind."""
    X, y = blobs(400)
    X[300, 2] = np.nan
    Xd, yd = da.from_array(X, chunks=(200, 5)), da.from_array(y, chunks=200)
    with pytest.raises(ValueError, match="must be finite"):
        nncore.dask.fit(mlp(), Xd, yd, epochs=1, client=client)
    with pytest.raises(ValueError, match=r"class labels in 0\.\.2"):
        nncore.dask.fit(mlp(), da.from_array(X[:200], chunks=(100, 5)),
                        da.from_array(y[:200] + 5, chunks=100), epochs=1, client=client)


def test_grid_search_under_the_dask_backend_equals_sequential(client):
    X, y = blobs(300, d=4, dtype=np.float32)
    est = MLPClassifier((8,), random_state=0, max_iter=15, batch_size=32)
    grid = {"alpha": [1e-4, 1e-1], "learning_rate_init": [1e-3, 1e-2]}
    sequential = GridSearchCV(est, grid, cv=3).fit(X, y)
    with joblib.parallel_backend("dask"):
        spread = GridSearchCV(est, grid, cv=3, n_jobs=2).fit(X, y)
    for key, value in sequential.cv_results_.items():
        if "time" not in key:
            np.testing.assert_array_equal(spread.cv_results_[key], value, err_msg=key)
    assert spread.best_params_ == sequential.best_params_


def test_the_scaling_benchmark_runs(client):
    """bench/dask_scaling.py's parts, at a tiny size (the README's table comes from it)."""
    from bench import dask_scaling as bench

    Xd, yd = client.persist(list(bench.dask_data(600)))
    X, y = bench.local_data(600)
    np.testing.assert_array_equal(Xd.compute(), X)
    np.testing.assert_array_equal(yd.compute(), y)
    assert bench.round_trip(client, Xd, yd) > 0
    got = bench.spread(client, Xd, yd, bench.make_block(99, 100), epochs=1, sync=2)
    assert got["epoch_s"] > 0 and 0 <= got["accuracy"] <= 1


def test_a_lost_worker_raises_within_the_timeout_keeping_the_last_average(client):
    """Last of the module: it kills a worker (its nanny starts a fresh one)."""
    X, y = blobs(1000)
    Xd, yd = da.from_array(X, chunks=(250, 5)), da.from_array(y, chunks=250)
    model = mlp()
    seen: list[np.ndarray] = []

    async def exit_now():  # a coroutine: client.run may then not wait for the answer
        os._exit(1)

    def kill_one(epoch, logs):
        seen.append(model.params.w.copy())
        if epoch == 0:
            victim = sorted(client.scheduler_info()["workers"])[0]
            client.run(exit_now, workers=[victim], wait=False)
            time.sleep(1.0)  # let the process go before the next round

    start = time.perf_counter()
    with pytest.raises(nncore.dask.ReplicaLostError, match="lost or did not answer within 20 s"):
        nncore.dask.fit(model, Xd, yd, epochs=5, batch_size=25, sync_every="epoch",
                        callbacks=[kill_one], timeout=20, client=client)
    assert time.perf_counter() - start < 60
    assert len(seen) == 1
    np.testing.assert_array_equal(model.params.w, seen[0])
    client.wait_for_workers(2, timeout=60)
    assert set(client.run(blas_pinned).values()) == {True}  # the new worker too
