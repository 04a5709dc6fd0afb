"""nncore beside a plain NumPy loop, PyTorch, scikit-learn, ONNX Runtime and JAX, in one
process.

Usage, from a source checkout (the README's Speed tables come from the first line)::

    pip install ".[compare]"          # scikit-learn, torch==2.13.0 (CPU), onnx, onnxruntime, jax
    python bench/compare.py --threads default,1     # W1-W5, every system importable
    python bench/compare.py --quick --systems nncore-cython,numpy-loop,sklearn
    python bench/compare.py --json > run.json          # the raw numbers

Every system runs the same network on the same data, in the same batch order, from the
same initial weights. ``--threads`` takes one or more settings, each workload runs under
each: a count is one thread count for all (BLAS and OpenMP through threadpoolctl, torch
through ``torch.set_num_threads``, nncore through ``Sequential(n_threads=...)``, ONNX
Runtime through ``SessionOptions.intra_op_num_threads``; XLA's threads are fixed when
jax is imported), ``default`` leaves every library its own default. The workloads, the
timing and the tables are those of ``nncore bench`` (``nncore.cli._bench_workloads``);
the systems other than nncore are in ``bench/systems.py``. Systems that cannot be
imported are skipped and listed; ONNX Runtime, which does not train, is listed as not
applicable under the training tables. The installed ``nncore bench`` times nncore alone
(its backends and BLAS thread counts).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
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
from nncore.cli._busy import busy_neighbour
from nncore.cli._environment import blas_threads, environment, format_environment

#: The system every ratio is taken against.
REFERENCE = "nncore-cython"
#: The ``--threads`` word for "every library at its own default".
DEFAULT = "default"
#: Relative difference of epoch losses beyond which systems are said to disagree.
LOSS_TOLERANCE = 1e-3


def thread_settings(spec: str) -> list[int | None]:
    """Thread settings from ``--threads``: ``"default,1"`` -> ``[None, 1]`` (None: each
    library's own default). Duplicates are dropped; order is kept."""
    settings: list[int | None] = []
    for word in split_names(spec):
        if word == DEFAULT:
            settings.append(None)
            continue
        try:
            count = int(word)
        except ValueError:
            count = 0
        if count < 1:
            raise ValueError(f"--threads takes '{DEFAULT}' or integers >= 1 separated by "
                             f"commas, got {spec!r}")
        settings.append(count)
    if not settings:
        raise ValueError(f"--threads is empty: give '{DEFAULT}' or a count, got {spec!r}")
    return list(dict.fromkeys(settings))


def _label(setting: int | None) -> int | str:
    return DEFAULT if setting is None else setting


@contextlib.contextmanager
def _threads(setting: int | None, torch_default: int | None) -> Iterator[None]:
    """BLAS/OpenMP (threadpoolctl) and torch at ``setting``; at their defaults for None."""
    from threadpoolctl import threadpool_limits

    if torch_default is not None:
        import torch

        torch.set_num_threads(torch_default if setting is None else setting)
    if setting is None:
        yield
    else:
        with threadpool_limits(limits=setting):
            yield


def run_comparison(workloads: Sequence[str] = tuple(WORKLOADS),
                   systems: Sequence[str] = SYSTEMS,
                   threads: Sequence[int | None] | int | None = None,
                   repeats: int = 3, small: bool = False,
                   log: TextIO | None = None, busy: bool = False) -> dict[str, Any]:
    """Run the comparison and return the report (the ``--json`` document).

    With ``busy``, each workload is also timed beside a busy neighbour (another process
    keeping one core busy for those runs, ``nncore.cli._busy``): rows with ``neighbour``
    "busy", compared with the reference beside the same neighbour.

    Parameters
    ----------
    workloads : sequence of str
        Keys of ``WORKLOADS`` ("W1".."W5").
    systems : sequence of str
        Names from ``SYSTEMS``; those that cannot be imported are skipped (and listed
        under ``"skipped"``). W4 always has its one system, the sgemm floor; a system that
        does not train is listed under ``"not_applicable"`` for W1 and W2.
    threads : int, None or sequence of them
        Thread settings, each workload runs under each: a count for BLAS, OpenMP, torch,
        nncore's ``n_threads`` and ONNX Runtime's ``intra_op_num_threads`` alike, or None
        for every library's own default (the default).
    repeats : int
        Runs per measurement; the median is reported (W4: the minimum of 5 runs).
    small : bool
        Shrink every workload (``--quick``), for a smoke test.
    log : file, optional
        Progress lines go here (e.g. ``sys.stderr``).

    Returns
    -------
    dict
        The environment report (``versions`` with those of the optional systems,
        ``nncore``, ``machine``, ``blas``, ``env``), ``threads`` (the settings: counts and
        ``"default"``), ``default_threads`` (BLAS's and torch's counts at their defaults),
        ``reference``, ``skipped``, ``not_applicable`` and ``results``: one row per
        (workload, system, setting), see ``nncore.cli._bench_workloads.measure``, with
        ``threads`` and ``ratio_to_reference`` (against the reference at the same
        setting); the training rows' epoch losses agree across systems (same data, order
        and weights; ``loss_disagreements`` lists any that do not).
    """
    unknown = sorted(set(workloads) - set(WORKLOADS)) + sorted(set(systems) - set(SYSTEMS))
    if unknown:
        raise ValueError(f"unknown workload or system: {', '.join(unknown)}")
    if repeats < 1:
        raise ValueError(f"argument 'repeats' must be >= 1, got {repeats}")
    settings = [threads] if threads is None or isinstance(threads, int) else list(threads)
    if not settings or any(t is not None and t < 1 for t in settings):
        raise ValueError(f"argument 'threads' must be None or integers >= 1, got {threads}")
    skipped = {name: why for name in systems if (why := unavailable(name))}
    chosen = [name for name in SYSTEMS if name in systems and name not in skipped]
    by_name = make_systems()
    torch_default = None
    if "torch" in chosen:
        import torch

        torch_default = torch.get_num_threads()
    env = environment()  # after torch's import, at the defaults
    for name in chosen:
        if not name.startswith("nncore-") and name != "numpy-loop":
            env["versions"][name] = by_name[name].version()
    if "onnxruntime" in chosen:
        import onnx

        env["versions"]["onnx"] = onnx.__version__
    if "jax" in chosen:
        import jaxlib

        env["versions"]["jaxlib"] = jaxlib.__version__
    results: list[Row] = []
    neighbours: list[str] = []
    not_applicable: dict[str, dict[str, str]] = {}
    for key in (k for k in WORKLOADS if k in workloads):
        work = quick(WORKLOADS[key]) if small else WORKLOADS[key]
        names = [FLOOR] if work.kind == "floor" else chosen
        if work.kind == "floor" and (why := unavailable(REFERENCE)):
            skipped[FLOOR], names = why, []
        if work.kind == "train":
            not_applicable[key] = {n: "inference only: it does not train" for n in names
                                   if not by_name[n].trains}
            names = [n for n in names if by_name[n].trains]
        if not names:
            continue
        X, y = make_data(work.net, work.n_samples)
        weights = init_weights(work.net)
        for near in (False, True) if busy else (False,):
            with busy_neighbour(near) as neighbour:
                for setting in settings:
                    with _threads(setting, torch_default):
                        for name in names:
                            row = _measure_one(work, key, name, by_name.get(name), setting,
                                               X, y, weights, repeats, log)
                            row["neighbour"] = "busy" if near else "none"
                            results.append(row)
            if near:
                neighbours.append(f"{key}: {neighbour.describe()}")
    add_ratios(results, REFERENCE, same_threads=True)
    return {**env, "threads": [_label(t) for t in settings],
            "default_threads": {"blas": blas_threads(env), "torch": torch_default},
            "reference": REFERENCE, "skipped": skipped,
            "not_applicable": {k: v for k, v in not_applicable.items() if v},
            "loss_disagreements": loss_disagreements(results), "neighbours": neighbours,
            "results": results}


def _measure_one(work: Any, key: str, name: str, system: Any, setting: int | None,
                 X: Any, y: Any, weights: Any, repeats: int, log: TextIO | None) -> Row:
    """One row: ``name`` on ``work`` at the thread ``setting``."""
    if log:
        print(f"{key} {name} threads={_label(setting)} ...", file=log, flush=True)
    if system is not None:
        system.n_threads = setting
    row = measure(work, name, system, X, y, weights, repeats)
    row["threads"] = _label(setting)
    if log:
        print(f"{key} {name}: {row['seconds']:.4f} s", file=log, flush=True)
    return row


def loss_disagreements(results: Sequence[Row]) -> list[str]:
    """Training rows whose epoch loss differs from the reference's (same workload and
    threads) by more than ``LOSS_TOLERANCE``, relative; one line each."""
    ref = {(r["workload"], r["threads"]): r["loss"] for r in results
           if r["system"] == REFERENCE and "loss" in r}
    lines = []
    for r in results:
        base = ref.get((r["workload"], r["threads"]))
        if "loss" in r and base and abs(r["loss"] - base) > LOSS_TOLERANCE * abs(base):
            lines.append(f"{r['workload']} {r['system']} (threads {r['threads']}): epoch "
                         f"loss {r['loss']:.6g}, {REFERENCE} {base:.6g}")
    return lines


def thread_lines(report: dict[str, Any]) -> list[str]:
    """What each thread setting of the report meant, one line each."""
    lines = []
    names = {r["system"] for r in report["results"]}
    for setting in report["threads"]:
        if setting == DEFAULT:
            d = report["default_threads"]
            lines.append(f"threads: {DEFAULT}: each library's own (BLAS {d['blas']}"
                         + (f", torch {d['torch']}" if d["torch"] else "")
                         + ", nncore n_threads=None"
                         + (", ONNX Runtime intra_op_num_threads=0: one per physical core"
                            if "onnxruntime" in names else "") + ")")
        else:
            lines.append(f"threads: {setting} for every system (threadpoolctl "
                         "threadpool_limits for BLAS and OpenMP, torch.set_num_threads, "
                         "nncore Sequential(n_threads), ONNX Runtime intra_op_num_threads)")
    if "jax" in names:
        lines.append("jax: XLA's own CPU threads in every setting (fixed when jax is imported)")
    return lines


def format_report(report: dict[str, Any], small: bool = False) -> str:
    """The human report: the environment, then one Markdown table per workload."""
    lines = [*format_environment(report), *thread_lines(report)]
    lines += [f"skipped {name}: {why}" for name, why in report["skipped"].items()]
    if warning := load_warning(report):
        lines.append(warning)
    labels = [("system", "system"), ("version", "version")]
    if len(report["threads"]) > 1:
        labels.append(("threads", "threads"))
    if report.get("neighbours"):
        labels.append(("neighbour", "neighbour"))
        lines += report["neighbours"]
    for key, work in WORKLOADS.items():
        rows = [r for r in report["results"] if r["workload"] == key]
        if not rows:
            continue
        lines += ["", f"### {key}: {work.title}" + (" [--quick sizes]" if small else ""),
                  "", *markdown_table(work, rows, labels, REFERENCE)]
        lines += [f"{name}: not applicable ({why})"
                  for name, why in report["not_applicable"].get(key, {}).items()]
        if work.kind == "train" and any(r["system"] == "sklearn" for r in rows):
            lines += ["", "sklearn's epoch loss clips probabilities at the float eps, so it "
                      "reads lower while some samples are badly wrong; its gradients are the "
                      "same."]
    if any("loss" in r for r in report["results"]):
        lines += ["", "epoch losses disagree: " + "; ".join(report["loss_disagreements"])
                  if report["loss_disagreements"] else "epoch losses agree across systems "
                  f"(within {LOSS_TOLERANCE:g} of {REFERENCE}'s, relative)"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python bench/compare.py", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS), metavar="W1,W2,...",
                        help="comma-separated workloads (default: all five)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), metavar="NAME,...",
                        help=f"comma-separated systems (default: all of {', '.join(SYSTEMS)}; "
                        "those not importable are skipped)")
    parser.add_argument("--threads", default=DEFAULT, metavar="default|N[,...]",
                        help="thread settings, each workload under each: a count for every "
                        "system alike, or 'default' for each library's own (default: "
                        "default); e.g. default,1")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per measurement, median reported (3; W4: min of 5)")
    parser.add_argument("--quick", action="store_true",
                        help="shrink every workload (smoke test)")
    parser.add_argument("--busy-neighbour", action="store_true",
                        help="also time each workload beside a busy neighbour (another "
                        "process keeping one core busy meanwhile)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--json-out", metavar="FILE", default=None,
                        help="also write the JSON report to FILE")
    args = parser.parse_args(argv)
    try:
        report = run_comparison(split_names(args.workloads), split_names(args.systems),
                                thread_settings(args.threads), args.repeats, args.quick,
                                log=sys.stderr, busy=args.busy_neighbour)
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
