"""``nncore bench``: nncore beside plain NumPy, PyTorch and scikit-learn, in one process.

Every system runs the same network on the same data, in the same batch order, from the
same initial weights, with one thread count for all (BLAS through threadpoolctl, torch
through ``torch.set_num_threads``). Workloads:

* W1 -- one epoch of SGD, 60,000 x 784 float32, 784 -> 256 -> 128 -> 10 ReLU, batch 128;
* W2 -- 10,000 SGD steps of a tiny 2 -> 16 -> 16 -> 1 tanh network, batch 32;
* W3 -- 10,000 single-row ``predict_proba`` calls on W1's network;
* W4 -- the floor of W1: its 8 GEMMs per batch alone, through ``get_ops("cython").gemm``.

The systems live in ``nncore._bench_systems``; this module holds the workloads, the
timing, and the report (Markdown tables, or JSON).
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TextIO

import numpy as np

from nncore._bench_systems import Net, System, Weights, make_systems, unavailable

REFERENCE = "nncore-cython"
FLOOR = "sgemm floor"
FLOOR_RUNS = 5
SYSTEMS = tuple(make_systems())

W1_NET = Net(sizes=(784, 256, 128, 10), activation="relu", loss="softmax", batch_size=128)
W2_NET = Net(sizes=(2, 16, 16, 1), activation="tanh", loss="binary", batch_size=32)


@dataclass(frozen=True)
class Workload:
    """A benchmark: what runs (``kind``), on which network, how much of it.

    ``kind`` is "train" (one epoch over ``n_samples``), "predict" (``calls``
    single-row calls) or "floor" (W1's matrix products alone).
    """

    key: str
    title: str
    kind: str
    net: Net
    n_samples: int
    calls: int = 0


WORKLOADS = {
    "W1": Workload("W1", "one epoch of SGD, 60,000 x 784 float32, 784-256-128-10 ReLU, "
                   "softmax cross-entropy, batch 128", "train", W1_NET, 60_000),
    "W2": Workload("W2", "10,000 SGD steps, 2-16-16-1 tanh, binary cross-entropy with logits, "
                   "batch 32 (one epoch over 320,000 samples)", "train", W2_NET, 320_000),
    "W3": Workload("W3", "10,000 single-row predict_proba calls, x of shape (1, 784), "
                   "W1's network", "predict", W1_NET, 10_000, calls=10_000),
    "W4": Workload("W4", "the floor of W1: its 8 sgemm calls per batch (forward 3, dW 3, "
                   "dX 2) over 469 batches, nothing else", "floor", W1_NET, 60_000),
}


def quick(workload: Workload) -> Workload:
    """A much smaller version of ``workload`` for a smoke test (``--quick``)."""
    n = {"W1": 2_048, "W2": 6_400, "W3": 500, "W4": 2_048}[workload.key]
    return replace(workload, n_samples=n, calls=min(workload.calls, n))


# ---------------------------------------------------------------------- data, weights
def make_data(net: Net, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable synthetic data for ``net``: float32 ``X`` and int64 labels ``y``.

    Softmax: a random center per class plus Gaussian noise. Binary: standard normal
    points labelled by the sign of ``x0 * x1`` (XOR quadrants). A fixed permutation is
    applied once; every system then takes sequential batches in that order.
    """
    rng = np.random.default_rng(seed)
    d = net.sizes[0]
    if net.loss == "binary":
        X = rng.standard_normal((n, d), dtype=np.float32)
        y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    else:
        y = rng.integers(net.sizes[-1], size=n)
        centers = rng.standard_normal((net.sizes[-1], d), dtype=np.float32)
        X = centers[y] + 2 * rng.standard_normal((n, d), dtype=np.float32)
    order = rng.permutation(n)
    return np.ascontiguousarray(X[order]), y[order]


def init_weights(net: Net, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shared initial ``[(W, b), ...]``, W of shape (n_in, n_out), float32.

    He uniform before a ReLU, Glorot uniform otherwise (as nncore does); biases zero.
    """
    rng = np.random.default_rng(seed)
    weights = []
    for i, (n_in, n_out) in enumerate(net.pairs):
        he = net.activation == "relu" and i < len(net.pairs) - 1
        limit = np.sqrt(6.0 / (n_in if he else n_in + n_out))
        W = rng.uniform(-limit, limit, size=(n_in, n_out)).astype(np.float32)
        weights.append((W, np.zeros(n_out, np.float32)))
    return weights


# ---------------------------------------------------------------------- timing
def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        value = fn()
        return time.perf_counter() - start, value
    finally:
        gc.enable()


def time_training(system: System, net: Net, X: np.ndarray, y: np.ndarray,
                  weights: Weights, repeats: int) -> tuple[list[float], float]:
    """Seconds of each of ``repeats`` one-epoch runs from ``weights``, and the last loss.

    A short warm-up (a few batches) runs first; the weights are reset before every run.
    """
    trainer = system.trainer(net, X, y)
    trainer.reset(weights)
    trainer.run(min(len(X), 8 * net.batch_size))
    times, loss = [], float("nan")
    for _ in range(repeats):
        trainer.reset(weights)
        seconds, loss = _timed(trainer.run)
        times.append(seconds)
    return times, loss


def time_predict(system: System, net: Net, X: np.ndarray, weights: Weights, calls: int,
                 repeats: int) -> list[float]:
    """Seconds of ``calls`` single-row predictions (rows of ``X`` in turn), per repeat."""
    predict = system.predictor(net, weights)
    rows = [X[i % len(X):i % len(X) + 1] for i in range(calls)]

    def loop() -> None:
        for x in rows:
            predict(x)

    for x in rows[:100]:
        predict(x)
    return [_timed(loop)[0] for _ in range(repeats)]


def time_floor(net: Net, X: np.ndarray, weights: Weights, runs: int = FLOOR_RUNS) -> list[float]:
    """Seconds of each run of W1's GEMMs alone: per batch, forward ``X@W1, H1@W2, H2@W3``,
    backward ``dW_i = H_{i-1}.T @ dZ_i`` (3) and ``dH_i = dZ_{i+1} @ W_{i+1}.T`` (2),
    into preallocated outputs through ``nncore.get_ops("cython").gemm``."""
    from nncore.backend import get_ops

    gemm = get_ops("cython").gemm
    Ws = [W for W, _ in weights]
    bs = net.batch_size
    batches = [X[s:s + bs] for s in range(0, len(X), bs)]

    def buffers(m: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        acts = [np.ones((m, n), np.float32) * 0.01 for n in net.sizes[1:]]
        return acts, [a.copy() for a in acts]

    bufs = {len(xb): buffers(len(xb)) for xb in batches}
    dWs = [np.empty_like(W) for W in Ws]

    def run() -> None:
        for xb in batches:
            acts, grads = bufs[len(xb)]
            inputs = [xb, *acts[:-1]]
            for A, W, out in zip(inputs, Ws, acts, strict=True):
                gemm(A, W, out)
            for A, G, dW in zip(inputs, grads, dWs, strict=True):
                gemm(A, G, dW, trans_a=True)
            for i in range(1, len(Ws)):
                gemm(grads[i], Ws[i], grads[i - 1], trans_b=True)

    run()
    return [_timed(run)[0] for _ in range(runs)]


def _cpu_snapshot() -> tuple[float, float, float]:
    """(wall clock, CPU seconds busy machine-wide, CPU seconds of this process)."""
    busy = float("nan")
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:9]]
        busy = (sum(ticks[:3]) + sum(ticks[5:8])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        pass
    own = os.times()
    return time.perf_counter(), busy, own.user + own.system


def _other_cpus(before: tuple[float, float, float]) -> float | None:
    """CPUs kept busy on average by OTHER processes since ``before`` (None if unknown)."""
    after = _cpu_snapshot()
    other = (after[1] - before[1] - (after[2] - before[2])) / (after[0] - before[0])
    return None if other != other else round(max(other, 0.0), 2)


# ---------------------------------------------------------------------- environment
def environment(threads: int, systems: Sequence[str]) -> dict[str, Any]:
    """Machine, versions and BLAS thread pools, as reported in the header and the JSON."""
    import scipy
    import scipy.linalg  # loads the BLAS the kernels call, for threadpool_info
    from threadpoolctl import threadpool_info

    import nncore

    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo()
                if line.startswith("model name")), platform.processor() or "unknown")
    machine = {"platform": platform.platform(), "machine": platform.machine(), "cpu": cpu,
               "cpu_count": os.cpu_count(),
               "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", ""),
               "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "scipy": scipy.__version__, "nncore": nncore.__version__}
    by_name = make_systems()
    for name in ("torch", "sklearn"):
        if name in systems:
            versions[name] = by_name[name].version()
    blas = [{k: pool.get(k) for k in ("internal_api", "version", "architecture",
                                      "num_threads", "user_api")}
            | {"library": os.path.basename(str(pool.get("filepath")))}
            for pool in threadpool_info()]
    return {"machine": machine, "versions": versions, "threads": threads, "blas": blas}


def _cpuinfo() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return fh.read().splitlines()
    except OSError:
        return []


# ---------------------------------------------------------------------- the run
def run_benchmarks(workloads: Sequence[str] = tuple(WORKLOADS), systems: Sequence[str] = SYSTEMS,
                   threads: int | None = None, repeats: int = 3, small: bool = False,
                   log: TextIO | None = None) -> dict[str, Any]:
    """Run the comparison and return the report (the ``--json`` document).

    Parameters
    ----------
    workloads : sequence of str
        Keys of ``WORKLOADS`` ("W1".."W4").
    systems : sequence of str
        Names from ``SYSTEMS``; those that cannot be imported are skipped (and listed
        under ``"skipped"``). W4 always has its one system, the sgemm floor.
    threads : int, optional
        Threads for BLAS and torch alike; default ``os.cpu_count()``.
    repeats : int
        Runs per measurement; the median is reported (W4: the minimum of 5 runs).
    small : bool
        Shrink every workload (``--quick``), for a smoke test.
    log : file, optional
        Progress lines go here (e.g. ``sys.stderr``).

    Returns
    -------
    dict
        ``{"machine", "versions", "threads", "blas", "skipped", "results"}``; each result
        has ``workload``, ``system``, ``version``, ``seconds``, ``runs``, ``statistic``,
        ``per_step_us`` or ``per_call_us``, ``ratio_to_nncore_cython`` and (training)
        ``loss``, the epoch's mean loss, which agrees across systems; ``min_seconds``;
        ``other_cpus``, CPUs kept busy by other processes during the measurement.
    """
    from threadpoolctl import threadpool_limits

    unknown = sorted(set(workloads) - set(WORKLOADS)) + sorted(set(systems) - set(SYSTEMS))
    if unknown:
        raise ValueError(f"unknown workload or system: {', '.join(unknown)}")
    if repeats < 1:
        raise ValueError(f"argument 'repeats' must be >= 1, got {repeats}")
    if threads is not None and threads < 1:
        raise ValueError(f"argument 'threads' must be >= 1, got {threads}")
    threads = threads or os.cpu_count() or 1
    skipped = {name: why for name in systems if (why := unavailable(name))}
    chosen = [name for name in SYSTEMS if name in systems and name not in skipped]
    by_name = make_systems()
    if "torch" in chosen:
        import torch

        torch.set_num_threads(threads)
    results: list[dict[str, Any]] = []
    with threadpool_limits(limits=threads):
        report = environment(threads, chosen)
        for key in WORKLOADS:
            if key not in workloads:
                continue
            work = quick(WORKLOADS[key]) if small else WORKLOADS[key]
            X, y = make_data(work.net, work.n_samples)
            weights = init_weights(work.net)
            names = [FLOOR] if work.kind == "floor" else chosen
            if work.kind == "floor" and unavailable(REFERENCE):
                skipped[FLOOR] = unavailable(REFERENCE) or ""
                names = []
            for name in names:
                if log:
                    print(f"{key} {name} ...", file=log, flush=True)
                row = _measure(work, name, by_name.get(name), X, y, weights, repeats)
                results.append(row)
                if log:
                    print(f"{key} {name}: {row['seconds']:.4f} s", file=log, flush=True)
    _add_ratios(results)
    report.update(skipped=skipped, results=results)
    return report


def _measure(work: Workload, name: str, system: System | None, X: np.ndarray, y: np.ndarray,
             weights: Weights, repeats: int) -> dict[str, Any]:
    row: dict[str, Any] = {"workload": work.key, "system": name}
    before = _cpu_snapshot()
    if system is None:  # the floor
        import scipy

        times, stat = time_floor(work.net, X, weights), "min"
        row["version"] = f"scipy {scipy.__version__} cython_blas"
    elif work.kind == "predict":
        times, stat = time_predict(system, work.net, X, weights, work.calls, repeats), "median"
    else:
        times, row["loss"] = time_training(system, work.net, X, y, weights, repeats)
        stat = "median"
    row.setdefault("version", system.version() if system else "")
    seconds = min(times) if stat == "min" else statistics.median(times)
    row.update(seconds=seconds, statistic=stat, runs=times, min_seconds=min(times),
               other_cpus=_other_cpus(before))
    if work.kind == "predict":
        row["per_call_us"] = 1e6 * seconds / work.calls
    else:
        row["steps"] = steps = -(-work.n_samples // work.net.batch_size)
        row["per_step_us"] = 1e6 * seconds / steps
    return row


def _add_ratios(results: list[dict[str, Any]]) -> None:
    """``ratio_to_nncore_cython``: seconds over nncore-cython's on the same workload;
    for W4, over nncore-cython's W1, with ``nncore_cython_x_floor`` the inverse."""
    ref = {r["workload"]: r["seconds"] for r in results if r["system"] == REFERENCE}
    for r in results:
        base = ref.get("W1" if r["system"] == FLOOR else r["workload"])
        r["ratio_to_nncore_cython"] = r["seconds"] / base if base else None
        if r["system"] == FLOOR and base:
            r["nncore_cython_x_floor"] = base / r["seconds"]


# ---------------------------------------------------------------------- the report
def _ratio_text(r: dict[str, Any]) -> str:
    ratio = r["ratio_to_nncore_cython"]
    if r["system"] == FLOOR:
        return "" if ratio is None else f"nncore-cython W1 = {1 / ratio:.2f}x floor"
    if r["system"] == REFERENCE:
        return "1.00x (reference)"
    if ratio is None:
        return "n/a"
    return f"{ratio:.2f}x slower" if ratio >= 1 else f"{ratio:.2f}x (faster)"


def format_report(report: dict[str, Any], small: bool = False) -> str:
    """The human report: the environment, then one Markdown table per workload."""
    m, v = report["machine"], report["versions"]
    lines = [f"machine: {m['platform']}, {m['cpu']}, {m['cpu_count']} CPUs, "
             f"OPENBLAS_CORETYPE={m['OPENBLAS_CORETYPE']!r}",
             "versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
             f"threads: {report['threads']} for every system (threadpoolctl "
             "threadpool_limits for BLAS, torch.set_num_threads)"]
    lines += [f"BLAS: {b['internal_api']} {b['version']} arch={b['architecture']} "
              f"threads={b['num_threads']} ({b['library']})" for b in report["blas"]]
    load = m.get("loadavg_at_start")
    if load:
        lines.append(f"load average at start: {load[0]:.2f} (1 min)" + (
            " -- other processes were running: expect noisy timings, worst for threaded "
            "systems" if load[0] > 0.5 else ""))
    lines += [f"skipped {name}: {why}" for name, why in report["skipped"].items()]
    for key, work in WORKLOADS.items():
        rows = [r for r in report["results"] if r["workload"] == key]
        if rows:
            lines += ["", f"### {key}: {work.title}" + (" [--quick sizes]" if small else ""),
                      "", *_table(work, rows)]
    return "\n".join(lines)


def _table(work: Workload, rows: list[dict[str, Any]]) -> list[str]:
    train = work.kind == "train"
    stat = f"min of {FLOOR_RUNS}" if work.kind == "floor" else f"median of {len(rows[0]['runs'])}"
    unit = "µs / call" if work.kind == "predict" else "µs / step"
    lines = [f"| system | version | seconds ({stat}) | min | {unit} | vs nncore-cython |"
             + (" epoch loss |" if train else ""),
             "|---|---|---:|---:|---:|---|" + ("---:|" if train else "")]
    for r in rows:
        per = r.get("per_call_us", r.get("per_step_us"))
        cells = [r["system"], r["version"], f"{r['seconds']:.3f}", f"{r['min_seconds']:.3f}",
                 f"{per:.1f}", _ratio_text(r)] + ([f"{r['loss']:.4f}"] if train else [])
        lines.append("| " + " | ".join(cells) + " |")
    if train and any(r["system"] == "sklearn" for r in rows):
        lines += ["", "sklearn's epoch loss clips probabilities at the float eps, so it reads "
                  "lower while some samples are badly wrong; its gradients are the same."]
    noisy = [r for r in rows if (r.get("other_cpus") or 0) > 0.1]
    lines += ["", "noisy: other processes kept CPUs busy during " + "; ".join(
        f"{r['system']} ({r['other_cpus']:.2f} CPUs on average, runs "
        + ", ".join(f"{t:.3f}" for t in r["runs"]) + " s)" for r in noisy)] if noisy else []
    return lines


def main(workloads: str = "W1,W2,W3,W4", systems: str = ",".join(SYSTEMS),
         threads: int | None = None, repeats: int = 3, small: bool = False,
         as_json: bool = False, json_out: str | None = None) -> int:
    """Entry point of ``nncore bench``: run, then print tables (or JSON); exit status."""
    try:
        report = run_benchmarks(_split(workloads), _split(systems), threads, repeats, small,
                                log=sys.stderr)
    except ValueError as exc:
        print(f"nncore bench: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2)
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(text if as_json else format_report(report, small))
    return 0


def _split(names: str) -> list[str]:
    return [n.strip() for n in names.split(",") if n.strip()]
