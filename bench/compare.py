"""nncore beside a plain NumPy loop, PyTorch and scikit-learn, in one process.

Usage, from a source checkout (the README's Speed tables come from the first line)::

    pip install ".[compare]"                           # scikit-learn, torch==2.13.0 (CPU)
    python bench/compare.py --threads 1                # W1-W4, every system importable
    python bench/compare.py --quick --systems nncore-cython,numpy-loop,sklearn
    python bench/compare.py --json > run.json          # the raw numbers

Every system runs the same network on the same data, in the same batch order, from the
same initial weights, with one thread count for all (BLAS and OpenMP through
threadpoolctl, torch through ``torch.set_num_threads``). The workloads, the timing and
the tables are those of ``nncore bench`` (``nncore.cli._bench_workloads``); the systems other
than nncore are in ``bench/systems.py``. Systems that cannot be imported are skipped and
listed. The installed ``nncore bench`` times nncore alone (its backends and BLAS thread
counts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.systems import SYSTEMS, make_systems, unavailable
from nncore.cli._bench import add_ratios, load_warning, markdown_table, split_names
from nncore.cli._bench_workloads import (
    FLOOR,
    WORKLOADS,
    Row,
    init_weights,
    make_data,
    measure,
    quick,
)
from nncore.cli._environment import environment, format_environment

#: The system every ratio is taken against.
REFERENCE = "nncore-cython"


def run_comparison(workloads: Sequence[str] = tuple(WORKLOADS),
                   systems: Sequence[str] = SYSTEMS, threads: int | None = None,
                   repeats: int = 3, small: bool = False,
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
        Threads for BLAS, OpenMP and torch alike; default ``os.cpu_count()``.
    repeats : int
        Runs per measurement; the median is reported (W4: the minimum of 5 runs).
    small : bool
        Shrink every workload (``--quick``), for a smoke test.
    log : file, optional
        Progress lines go here (e.g. ``sys.stderr``).

    Returns
    -------
    dict
        The environment report (``versions`` with torch's and scikit-learn's, ``nncore``,
        ``machine``, ``blas``, ``env``), ``threads``, ``reference``, ``skipped`` and
        ``results``: one row per (workload, system), see
        ``nncore.cli._bench_workloads.measure``; the training rows' epoch losses agree
        across systems (same data, order and weights).
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
    results: list[Row] = []
    with threadpool_limits(limits=threads):
        env = environment()  # inside the limits, after torch's import: as measured
        for name in ("torch", "sklearn"):
            if name in chosen:
                env["versions"][name] = by_name[name].version()
        for key in (k for k in WORKLOADS if k in workloads):
            work = quick(WORKLOADS[key]) if small else WORKLOADS[key]
            names = [FLOOR] if work.kind == "floor" else chosen
            if work.kind == "floor" and (why := unavailable(REFERENCE)):
                skipped[FLOOR], names = why, []
            if not names:
                continue
            X, y = make_data(work.net, work.n_samples)
            weights = init_weights(work.net)
            for name in names:
                if log:
                    print(f"{key} {name} ...", file=log, flush=True)
                row = measure(work, name, by_name.get(name), X, y, weights, repeats)
                row["threads"] = threads
                results.append(row)
                if log:
                    print(f"{key} {name}: {row['seconds']:.4f} s", file=log, flush=True)
    add_ratios(results, REFERENCE)
    return {**env, "threads": threads, "reference": REFERENCE, "skipped": skipped,
            "results": results}


def format_report(report: dict[str, Any], small: bool = False) -> str:
    """The human report: the environment, then one Markdown table per workload."""
    lines = format_environment(report)
    lines.append(f"threads: {report['threads']} for every system (threadpoolctl "
                 "threadpool_limits for BLAS and OpenMP, torch.set_num_threads)")
    lines += [f"skipped {name}: {why}" for name, why in report["skipped"].items()]
    if warning := load_warning(report):
        lines.append(warning)
    labels = [("system", "system"), ("version", "version")]
    for key, work in WORKLOADS.items():
        rows = [r for r in report["results"] if r["workload"] == key]
        if not rows:
            continue
        lines += ["", f"### {key}: {work.title}" + (" [--quick sizes]" if small else ""),
                  "", *markdown_table(work, rows, labels, REFERENCE)]
        if work.kind == "train" and any(r["system"] == "sklearn" for r in rows):
            lines += ["", "sklearn's epoch loss clips probabilities at the float eps, so it "
                      "reads lower while some samples are badly wrong; its gradients are the "
                      "same."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python bench/compare.py", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--workloads", default="W1,W2,W3,W4", metavar="W1,W2,...",
                        help="comma-separated workloads (default: all four)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), metavar="NAME,...",
                        help=f"comma-separated systems (default: all of {', '.join(SYSTEMS)}; "
                        "those not importable are skipped)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for BLAS and torch alike (default: os.cpu_count())")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per measurement, median reported (3; W4: min of 5)")
    parser.add_argument("--quick", action="store_true",
                        help="shrink every workload (smoke test)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--json-out", metavar="FILE", default=None,
                        help="also write the JSON report to FILE")
    args = parser.parse_args(argv)
    try:
        report = run_comparison(split_names(args.workloads), split_names(args.systems),
                                args.threads, args.repeats, args.quick, log=sys.stderr)
    except ValueError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n", encoding="utf-8")
    print(text if args.json else format_report(report, args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
