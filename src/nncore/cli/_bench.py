"""``nncore bench``: how fast nncore runs on this machine, and with how many BLAS threads.

Times nncore's backends (Cython kernels, NumPy) on the workloads of
``nncore.cli._bench_workloads`` (W1: a 784-256-128-10 training epoch, W2: 10,000 tiny SGD
steps, W3: 10,000 single-row predictions, W4: W1's GEMMs alone, the floor, W5: one
prediction on 100,000 rows), once per
BLAS thread count (by default the current one and 1: on a busy machine, OpenBLAS's
spinning threads can make the default many times slower), and prints the environment
with the tables. The comparison with other systems (a NumPy loop, PyTorch, scikit-learn,
ONNX Runtime, JAX) is ``bench/compare.py`` in a source checkout, so that the installed
package imports none of them; it uses this module's tables (``add_ratios``,
``markdown_table``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from nncore.cli._bench_workloads import (
    FLOOR,
    FLOOR_RUNS,
    WORKLOADS,
    NncoreSystem,
    Row,
    Workload,
    init_weights,
    make_data,
    measure,
    quick,
)
from nncore.cli._busy import busy_neighbour
from nncore.cli._environment import blas_threads, environment, format_environment

BACKENDS = ("cython", "numpy")

#: The last line of the report: where the comparison with other systems went.
COMPARE_HINT = ("To compare nncore with a plain NumPy loop, PyTorch, scikit-learn, ONNX "
                "Runtime and JAX, run from a source checkout of nncore: "
                "pip install \".[compare]\" && python bench/compare.py")


# ---------------------------------------------- tables (bench/compare.py uses them too)
def add_ratios(results: list[Row], reference: str, same_threads: bool = False) -> None:
    """Set ``ratio_to_reference`` on every row: its seconds over the ``reference``
    system's on the same workload at the first thread setting measured (``same_threads``:
    at the row's own); for a floor row, over the reference's W1 at the same threads, with
    ``reference_x_floor`` the inverse. Rows taken beside a busy neighbour
    (``neighbour``) are compared with the reference's beside one.
    """
    first = results[0]["threads"] if results else None
    ref = {(r["workload"], r["threads"], r.get("neighbour")): r["seconds"] for r in results
           if r["system"] == reference}
    for r in results:
        floor = r["system"] == FLOOR
        threads = r["threads"] if same_threads else first
        near = r.get("neighbour")
        base = ref.get(("W1", r["threads"], near) if floor else (r["workload"], threads, near))
        r["ratio_to_reference"] = r["seconds"] / base if base else None
        if floor and base:
            r["reference_x_floor"] = base / r["seconds"]


def ratio_text(r: Row, reference: str) -> str:
    """The "vs reference" cell of a row."""
    ratio = r["ratio_to_reference"]
    if r["system"] == FLOOR:
        return "" if ratio is None else f"{reference} W1 = {1 / ratio:.2f}x floor"
    if ratio is None:
        return "n/a"
    if r["system"] == reference and ratio == 1.0:
        return "1.00x (reference)"
    if f"{ratio:.2f}" == "1.00":
        return "1.00x"
    return f"{ratio:.2f}x slower" if ratio >= 1 else f"{ratio:.2f}x (faster)"


def markdown_table(work: Workload, rows: list[Row], labels: Sequence[tuple[str, str]],
                   reference: str) -> list[str]:
    """One workload's Markdown table, and a line naming noisy measurements.

    ``labels`` are the leading ``(header, row key)`` columns, e.g. system and version.
    """
    train = work.kind == "train"
    stat = f"min of {FLOOR_RUNS}" if work.kind == "floor" else f"median of {len(rows[0]['runs'])}"
    unit = f"µs / {work.unit}"
    head = " | ".join(h for h, _ in labels)
    lines = [f"| {head} | seconds ({stat}) | min | {unit} | vs {reference} |"
             + (" epoch loss |" if train else ""),
             "|" + "---|" * len(labels) + "---:|---:|---:|---|" + ("---:|" if train else "")]
    for r in rows:
        per = r.get("per_row_us", r.get("per_call_us", r.get("per_step_us")))
        cells = [str(r[key]) for _, key in labels]
        cells += [f"{r['seconds']:.3f}", f"{r['min_seconds']:.3f}", f"{per:.1f}",
                  ratio_text(r, reference)] + ([f"{r['loss']:.4f}"] if train else [])
        lines.append("| " + " | ".join(cells) + " |")
    noisy = [r for r in rows if (r.get("other_cpus") or 0) > 0.1
             and r.get("neighbour") != "busy"]
    lines += ["", "noisy: other processes kept CPUs busy during " + "; ".join(
        " ".join(str(r[key]) for _, key in labels if key != "version")
        + f" ({r['other_cpus']:.2f} CPUs on average, runs "
        + ", ".join(f"{t:.3f}" for t in r["runs"]) + " s)" for r in noisy)] if noisy else []
    return lines


def load_warning(env: dict[str, Any]) -> str | None:
    """A line warning of noisy timings when the machine was busy at the start, or None."""
    load = env["machine"].get("loadavg")
    if load and load[0] > 0.5:
        return ("other processes were running (load average "
                f"{load[0]:.2f}): expect noisy timings, worst with more than one thread")
    return None


def split_names(names: str) -> list[str]:
    """``"W1, W2"`` -> ``["W1", "W2"]``."""
    return [n.strip() for n in names.split(",") if n.strip()]


# ---------------------------------------------------------------------- nncore bench
def thread_counts(spec: str | None, default: int) -> list[int]:
    """BLAS thread counts to measure, from ``--threads`` ("1" or "2,1").

    None gives ``[default, 1]`` (just ``[1]`` when the default is 1). Duplicates are
    dropped; the first count is the one the other rows are compared with.
    """
    if spec is None:
        return [default, 1] if default > 1 else [1]
    try:
        counts = [int(n) for n in split_names(spec)]
    except ValueError:
        raise ValueError(f"--threads must be integers separated by commas, got {spec!r}") from None
    if not counts or min(counts) < 1:
        raise ValueError(f"--threads must be integers >= 1, got {spec!r}")
    return list(dict.fromkeys(counts))


def run_benchmarks(workloads: Sequence[str] = tuple(WORKLOADS),
                   backends: Sequence[str] = BACKENDS, threads: Sequence[int] | None = None,
                   repeats: int = 3, small: bool = False,
                   log: TextIO | None = None, busy: bool = False) -> dict[str, Any]:
    """Time nncore's backends on ``workloads`` at each BLAS thread count; the report.

    Parameters
    ----------
    workloads : sequence of str
        Keys of ``WORKLOADS`` ("W1".."W5"). W4, the GEMM floor, needs the Cython kernels.
    backends : sequence of {"cython", "numpy"}
        Backends to time; one that is not installed is skipped (listed under ``"skipped"``).
    threads : sequence of int, optional
        BLAS thread counts (threadpoolctl), each workload runs under each; default: the
        current count, then 1.
    repeats : int
        Runs per measurement; the median is reported (W4: the minimum of 5 runs).
    small : bool
        Shrink every workload (``--quick``), for a smoke test.
    log : file, optional
        Progress lines go here (e.g. ``sys.stderr``).
    busy : bool
        Also time each workload beside a busy neighbour (``--busy-neighbour``: another
        process keeping one core busy, started for those runs and stopped after them);
        those rows have ``neighbour`` "busy", the others "none".

    Returns
    -------
    dict
        ``environment()`` (``versions``, ``nncore``, ``machine``, ``blas``, ``env``) plus
        ``threads``, ``default_threads``, ``reference`` (the system the ratios refer to),
        ``skipped``, ``neighbours`` (what each busy neighbour did) and ``results``: one row
        per (workload, backend, thread count, neighbour), see
        ``nncore.cli._bench_workloads.measure``, with ``threads``, ``neighbour`` and
        ``ratio_to_reference``.
    """
    from threadpoolctl import threadpool_limits

    from nncore.backends import _IMPORT_ERROR, HAS_KERNELS

    unknown = sorted(set(workloads) - set(WORKLOADS)) + sorted(set(backends) - set(BACKENDS))
    if unknown:
        raise ValueError(f"unknown workload or backend: {', '.join(unknown)}")
    if repeats < 1:
        raise ValueError(f"argument 'repeats' must be >= 1, got {repeats}")
    env = environment()
    default = blas_threads(env)
    threads = thread_counts(None, default) if threads is None else list(threads)
    if not threads or min(threads) < 1:
        raise ValueError(f"argument 'threads' must be integers >= 1, got {threads}")
    skipped = {}
    if "cython" in backends and not HAS_KERNELS:
        skipped["nncore-cython"] = f"nncore.backends._kernels not importable ({_IMPORT_ERROR})"
    systems = [NncoreSystem(b) for b in BACKENDS
               if b in backends and (b == "numpy" or HAS_KERNELS)]
    reference = systems[0].name if systems else "nncore-cython"
    if "W4" in workloads and not HAS_KERNELS:
        skipped[FLOOR] = "needs the compiled kernels (it times their GEMM)"
    results: list[Row] = []
    neighbours: list[str] = []
    for key in (k for k in WORKLOADS if k in workloads):
        work = quick(WORKLOADS[key]) if small else WORKLOADS[key]
        if work.kind == "floor" and not HAS_KERNELS:
            continue
        X, y = make_data(work.net, work.n_samples)
        weights = init_weights(work.net)
        for near in (False, True) if busy else (False,):
            with busy_neighbour(near) as neighbour:
                for count in threads:
                    with threadpool_limits(limits=count):
                        for system in [None] if work.kind == "floor" else systems:
                            name = system.name if system else FLOOR
                            if log:
                                print(f"{key} {name} threads={count}"
                                      + (" busy neighbour" if near else "") + " ...",
                                      file=log, flush=True)
                            row = measure(work, name, system, X, y, weights, repeats)
                            row.update(threads=count, neighbour="busy" if near else "none")
                            results.append(row)
            if near:
                neighbours.append(f"{key}: {neighbour.describe()}")
    add_ratios(results, reference)
    return {**env, "threads": threads, "default_threads": default, "reference": reference,
            "skipped": skipped, "neighbours": neighbours, "results": results}


def thread_summary(report: dict[str, Any]) -> list[str]:
    """Per workload, the reference system's time at each thread count, and the advice."""
    ref, lines = report["reference"], []
    best_w1 = None
    for key in WORKLOADS:
        rows = [r for r in report["results"] if r["workload"] == key
                and r["system"] in (ref, FLOOR) and r.get("neighbour") != "busy"]
        if len(rows) < 2:
            continue
        best = min(rows, key=lambda r: r["seconds"])
        lines.append(f"{key} {rows[0]['system']}: " + ", ".join(
            f"{r['seconds']:.3f} s at {_threads(r['threads'])}" for r in rows)
            + f"; fastest at {best['threads']}")
        if key == "W1":
            best_w1 = best["threads"]
    if best_w1 is not None and best_w1 != report["default_threads"]:
        lines.append(f"W1 trains faster here at {_threads(best_w1)} than at the default "
                     f"{report['default_threads']}: Sequential(..., n_threads={best_w1}) "
                     "pins them during fit and predict.")
    return lines


def _threads(n: int) -> str:
    return f"{n} BLAS thread" + ("s" if n > 1 else "")


def format_report(report: dict[str, Any], small: bool = False) -> str:
    """The human report: environment, one Markdown table per workload, threads, hint."""
    lines = format_environment(report)
    lines.append(f"timed: nncore's backends at BLAS threads {report['threads']} (the "
                 f"default here: {report['default_threads']}); ratios against "
                 f"{report['reference']} at {report['threads'][0]}")
    lines += [f"skipped {name}: {why}" for name, why in report["skipped"].items()]
    if warning := load_warning(report):
        lines.append(warning)
    labels = [("backend", "system"), ("BLAS threads", "threads")]
    if report.get("neighbours"):
        labels.append(("neighbour", "neighbour"))
        lines += report["neighbours"]
    for key, work in WORKLOADS.items():
        rows = [r for r in report["results"] if r["workload"] == key]
        if rows:
            lines += ["", f"### {key}: {work.title}" + (" [--quick sizes]" if small else ""),
                      "", *markdown_table(work, rows, labels, report["reference"])]
    summary = thread_summary(report)
    lines += ["", "threads:", *(f"  {line}" for line in summary)] if summary else []
    return "\n".join([*lines, "", COMPARE_HINT])


def main(workloads: str = ",".join(WORKLOADS), backends: str = ",".join(BACKENDS),
         threads: str | None = None, repeats: int = 3, small: bool = False,
         as_json: bool = False, json_out: str | None = None, busy: bool = False) -> int:
    """Entry point of ``nncore bench``: run, then print tables (or JSON); exit status."""
    try:
        counts = None if threads is None else thread_counts(threads, 1)
        report = run_benchmarks(split_names(workloads), split_names(backends), counts,
                                repeats, small, log=sys.stderr, busy=busy)
    except ValueError as exc:
        print(f"nncore bench: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2)
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    if as_json:
        print(text)
        print(COMPARE_HINT, file=sys.stderr)  # stdout stays pure JSON
    else:
        print(format_report(report, small))
    return 0
