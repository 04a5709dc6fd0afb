"""Synchronous local SGD on a dask cluster (``nncore.dask.fit``) against one process.

Usage::

    python bench/dask_scaling.py                       # the README's "Scaling out" table
    python bench/dask_scaling.py --rows 6000 --epochs 1 --sync 1,8   # a quick look
    python bench/dask_scaling.py --scheduler tcp://scheduler:8786     # a running cluster

Data of the W1 workload's size: ``--rows`` x 784 float32 (60,000 by default) and a
10,000-row test set, a synthetic learnable task (the labels are the arg-max of a fixed
random linear map of the inputs plus noise), generated block by block on the workers (the
one-process baseline concatenates the same blocks). The network is 784-256-128-10 (ReLU),
batch 128 per replica, SGD with momentum 0.9.

It runs, all in one run: the one-process baselines (``Sequential.fit`` with 1 BLAS
thread, and with 2), ``--workers`` independent processes training at once on their
shares without any communication (the ceiling of data parallelism on the machine at that
moment; no accuracy: none of them sees all the data), a round without steps on the
cluster (``T_comm``: the weights out to both replicas and back), then
``nncore.dask.fit`` on a ``LocalCluster`` of ``--workers`` processes of one thread each
for every ``--sync`` value (``epoch``: one average per epoch). Per setting: seconds per
epoch, samples per second, the speed-up over one process on one thread, the measured
efficiency (throughput / (workers x one thread's)) beside the predicted
``k t / (k t + T_comm)`` (``t`` of one process on one thread), the step time measured in
the native calls (for the cluster, the slowest replica's: more than one process's means
the cores were not the workers' own), and the test accuracy after ``--epochs``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``bench`` importable, and drop
    # bench/ itself from the path (bench/sparse.py would shadow the ``sparse`` package
    # that dask imports)
    _here = Path(__file__).resolve()
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here.parent]
    sys.path.insert(0, str(_here.parents[1]))

import nncore

FEATURES, CLASSES, BLOCK = 784, 10, 10_000
SIZES = (256, 128)
BATCH = 128


def make_block(index: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Block ``index`` of the data set: ``rows`` inputs and their labels (the same
    numbers wherever it is computed)."""
    teacher = np.random.default_rng(2026).standard_normal((FEATURES, CLASSES))
    rng = np.random.default_rng([7, index])
    X = rng.standard_normal((rows, FEATURES)).astype(np.float32)
    scores = X @ teacher.astype(np.float32) / np.sqrt(FEATURES)
    scores += 0.3 * rng.standard_normal(scores.shape).astype(np.float32)
    return X, scores.argmax(axis=1).astype(np.int64)


def block_sizes(rows: int) -> list[int]:
    return [min(BLOCK, rows - at) for at in range(0, rows, BLOCK)]


def local_data(rows: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [make_block(i, r) for i, r in enumerate(block_sizes(rows))]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def dask_data(rows: int) -> tuple[object, object]:
    """The same blocks as dask arrays, each made on a worker."""
    import dask
    import dask.array as da

    Xs, ys = [], []
    for i, r in enumerate(block_sizes(rows)):
        pair = dask.delayed(make_block, nout=2)(i, r)
        Xs.append(da.from_delayed(pair[0], (r, FEATURES), np.float32))
        ys.append(da.from_delayed(pair[1], (r,), np.int64))
    return da.concatenate(Xs), da.concatenate(ys)


def weight_bytes() -> int:
    """Bytes of the network's float32 parameters (weights and biases)."""
    widths = (FEATURES, *SIZES, CLASSES)
    return 4 * sum((a + 1) * b for a, b in itertools.pairwise(widths))


def network(threads: int | None = None) -> nncore.Sequential:
    layers = [nncore.Dense(u, "relu") for u in SIZES] + [nncore.Dense(CLASSES)]
    return nncore.Sequential(layers, seed=0, loss="softmax_cross_entropy",
                             n_threads=threads)


def optimizer() -> nncore.SGD:
    return nncore.SGD(lr=0.05, momentum=0.9)


def one_process(X: np.ndarray, y: np.ndarray, test: tuple[np.ndarray, np.ndarray],
                epochs: int, threads: int) -> dict[str, float]:
    model = network(threads)
    model.fit(X[:BATCH * 4], y[:BATCH * 4], epochs=1, batch_size=BATCH, verbose=0,
              optimizer=optimizer())  # warm-up: plans, BLAS buffers
    model = network(threads)
    start = time.perf_counter()
    model.fit(X, y, epochs=epochs, batch_size=BATCH, optimizer=optimizer(), verbose=0)
    seconds = (time.perf_counter() - start) / epochs
    steps = -(-len(X) // BATCH)
    return {"epoch_s": seconds, "rate": len(X) / seconds, "step_s": seconds / steps,
            "accuracy": model.evaluate(*test)["accuracy"]}


def _half(rows: int, part: int, parts: int, epochs: int) -> float:
    """Seconds per epoch of one process (1 thread) over its ``1/parts`` of the data."""
    X, y = local_data(rows)
    share = slice(part * rows // parts, (part + 1) * rows // parts)
    model = network(1)
    model.fit(X[:BATCH * 4], y[:BATCH * 4], epochs=1, batch_size=BATCH, verbose=0,
              optimizer=optimizer())
    model = network(1)
    start = time.perf_counter()
    model.fit(X[share], y[share], epochs=epochs, batch_size=BATCH, optimizer=optimizer(),
              verbose=0)
    return (time.perf_counter() - start) / epochs


def independent(rows: int, parts: int, epochs: int) -> float:
    """Seconds per epoch of ``parts`` processes training at once on their shares, with no
    communication at all: the ceiling of any data parallelism on this machine now."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(parts, mp_context=multiprocessing.get_context("spawn")) as pool:
        times = list(pool.map(_half, [rows] * parts, range(parts), [parts] * parts,
                              [epochs] * parts))
    return max(times)


def round_trip(client: object, X: object, y: object, small: bool = False) -> float:
    """``T_comm``: the best time of a round without steps (weights out and back); of the
    784-10 linear model instead (31 KB: the latency alone) when ``small``."""
    from nncore.dask._fit import Replicas
    from nncore.dask._shards import make_shards

    model = (nncore.Sequential([nncore.Dense(CLASSES)], loss="softmax_cross_entropy")
             if small else network())
    model.build(FEATURES)
    model.optimizer = optimizer()
    shards = make_shards(client, X, y, len(client.scheduler_info()["workers"]))
    replicas = Replicas(client, shards, model, BATCH, model.loss, True, 0, 120.0)
    try:
        replicas.round(model.params.w, 0.05, 1)  # warm-up
        return replicas.round_trip(model.params.w, 0.05, repeat=20)
    finally:
        replicas.close()


def spread(client: object, X: object, y: object, test: tuple[np.ndarray, np.ndarray],
           epochs: int, sync: int | str) -> dict[str, float]:
    import nncore.dask

    model = network()
    clock = Clock()
    start = time.perf_counter()
    history = nncore.dask.fit(model, X, y, epochs=epochs, batch_size=BATCH, sync_every=sync,
                              optimizer=optimizer(), client=client, callbacks=[clock])
    busy = [r["busy_s"] / r["steps"] for r in history.replicas]
    # the epochs alone; the setup (persisting, dealing the shards, the actors) before them
    return {"epoch_s": (clock.marks[-1] - clock.marks[0]) / epochs,
            "setup_s": clock.marks[0] - start, "accuracy": model.evaluate(*test)["accuracy"],
            "step_s": max(busy)}


class Clock(nncore.Callback):
    """The time training starts (after the setup) and each epoch ends."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def on_train_begin(self, model: object) -> None:
        self.marks = [time.perf_counter()]

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        self.marks.append(time.perf_counter())
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2,
                        help="workers of the local cluster (1 thread each)")
    parser.add_argument("--scheduler", default=None,
                        help="a running cluster's address (tcp://host:8786) instead")
    parser.add_argument("--sync", default="1,32,128,epoch",
                        help="comma-separated sync_every values ('epoch': one per epoch)")
    args = parser.parse_args(argv)
    syncs: list[int | str] = [s if s == "epoch" else int(s) for s in args.sync.split(",")]

    from distributed import Client, LocalCluster

    load = os.getloadavg()[0]
    X, y = local_data(args.rows)
    test = make_block(10_000, 10_000)
    base = one_process(X, y, test, args.epochs, 1)
    both = one_process(X, y, test, args.epochs, 2)
    alone = independent(args.rows, args.workers, args.epochs)
    # (setting, k, s/epoch, test accuracy, predicted efficiency, step time on the workers)
    rows: list[tuple[str, str, float, float, float | None, float]] = [
        ("1 process, 1 thread", "", base["epoch_s"], base["accuracy"], None, base["step_s"]),
        ("1 process, 2 threads", "", both["epoch_s"], both["accuracy"], None, both["step_s"]),
        (f"{args.workers} processes, no averaging", "", alone, float("nan"), None,
         alone / -(-args.rows // (args.workers * BATCH)))]
    with contextlib.ExitStack() as stack:
        if args.scheduler:
            client = stack.enter_context(Client(args.scheduler))
            args.workers = len(client.scheduler_info()["workers"])
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=args.workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}))  # no port 8787
            client = stack.enter_context(Client(cluster))
        Xd, yd = dask_data(args.rows)
        Xd, yd = client.persist([Xd, yd])
        t_comm = round_trip(client, Xd, yd)
        t_latency = round_trip(client, Xd, yd, small=True)
        steps = -(-args.rows // (args.workers * BATCH))
        setups: list[float] = []
        for sync in syncs:
            k = steps if sync == "epoch" else min(int(sync), steps)
            got = spread(client, Xd, yd, test, args.epochs, sync)
            predicted = k * base["step_s"] / (k * base["step_s"] + t_comm)
            rows.append((f"nncore.dask, sync_every={sync}", str(k), got["epoch_s"],
                         got["accuracy"], predicted, got["step_s"]))
            setups.append(got["setup_s"])
    print(f"{args.rows} x {FEATURES} float32, 784-256-128-10, batch {BATCH} per replica, "
          f"{args.epochs} epochs, {args.workers} workers x 1 thread; {os.cpu_count()} cores, "
          f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"step time t (1 process, 1 thread): {base['step_s'] * 1e3:.2f} ms; "
          f"T_comm (round without steps, {args.workers} replicas): {t_comm * 1e3:.2f} ms "
          f"({weight_bytes() / 1e6:.2f} MB of weights; "
          f"{t_latency * 1e3:.2f} ms with 31 KB)")
    print(f"setup of a fit (shards, actors; not in s/epoch): {min(setups):.2f}-"
          f"{max(setups):.2f} s")
    print()  # a Markdown table (the README's)
    print("| setting | k | s/epoch | samples/s | speed-up | efficiency | predicted | "
          "t (ms) | test accuracy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, k_text, seconds, accuracy, predicted, step in rows:
        rate = args.rows / seconds
        speedup = rate / base["rate"]
        eff = "" if predicted is None else f"{speedup / args.workers:.2f}"
        pred = "" if predicted is None else f"{predicted:.2f}"
        print(f"| {name} | {k_text} | {seconds:.2f} | {rate:,.0f} | {speedup:.2f} | {eff} | "
              f"{pred} | {step * 1e3:.2f} | {accuracy:.3f} |".replace("| nan |", "| |"))


if __name__ == "__main__":
    main()
