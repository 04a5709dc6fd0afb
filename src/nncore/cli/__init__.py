"""The ``nncore`` command line: ``demo``, ``train``, ``predict``, ``bench``, ``info``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from nncore.cli._errors import CLIError, UsageError, check_writable, int_at_least, one_line


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(UsageError(message))} "
                     f"(see '{self.prog} --help')\n")


def info_text() -> str:
    """Return what ``nncore info`` prints: versions, kernels, backend, machine, BLAS, threads."""
    from nncore.cli._environment import environment, format_environment

    return "\n".join(format_environment(environment()))


def _info(args: argparse.Namespace) -> int:
    print(info_text())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from nncore.cli._demo import run_demo

    if args.plot is not None:
        check_writable(args.plot, "--plot")  # before training, not after
    run_demo(epochs=args.epochs, n_samples=args.samples, backend=args.backend,
             seed=args.seed, plot=args.plot)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from nncore.cli._bench import COMPARE_HINT
    from nncore.cli._bench import main as bench_main

    if args.systems is not None:  # the option of the comparison, which left the package
        print(f"nncore bench: --systems is gone from nncore bench, which times nncore "
              f"alone (--backends cython,numpy). {COMPARE_HINT}", file=sys.stderr)
        return 2
    return bench_main(workloads=args.workloads, backends=args.backends, threads=args.threads,
                      repeats=args.repeats, small=args.quick, as_json=args.json,
                      json_out=args.json_out, busy=args.busy_neighbour)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``nncore`` command."""
    from nncore import __version__
    from nncore.cli._commands import BACKEND_HELP

    parser = _Parser(prog="nncore", description="Fast multilayer perceptrons on the CPU.")
    parser.add_argument("--version", action="version", version=f"nncore {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error, not one line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("demo", help="train an MLP on two moons and report how it learns",
                       description="Train a 2-32-32-2 ReLU MLP on generated two-moons data; "
                       "print the loss per epoch, the held-out accuracy and the backend.")
    p.add_argument("--epochs", type=int_at_least(1), default=30,
                   help="passes over the data (30)")
    p.add_argument("--samples", type=int_at_least(10), default=1000,
                   help="points generated, 30 %% of them held out (1000; at least 10)")
    p.add_argument("--backend", choices=["auto", "cython", "numpy"], default=None,
                   help=BACKEND_HELP)
    p.add_argument("--seed", type=int, default=0, help="seed for data and weights (0)")
    p.add_argument("--plot", metavar="FILE.png", default=None,
                   help="draw the decision boundaries (no hidden layer vs MLP) and the loss "
                   "curves into FILE.png (needs matplotlib: pip install 'nncore[plot]')")
    p.set_defaults(func=_demo)
    from nncore.cli._commands import add_parsers

    add_parsers(sub)
    p = sub.add_parser("info", help="print versions, kernels, backend, machine, BLAS and "
                       "thread counts")
    p.set_defaults(func=_info)
    p = sub.add_parser("bench", help="time nncore's backends and BLAS thread counts here",
                       description="Time nncore on this machine: its backends (Cython kernels, "
                       "NumPy) on the same networks, data and initial weights, once per BLAS "
                       "thread count, with the environment (versions, SIMD level, BLAS "
                       "library, threads). W1: one epoch 784-256-128-10 on 60,000 rows; W2: "
                       "10,000 tiny SGD steps; W3: 10,000 single-row predict_proba calls; W4: "
                       "W1's GEMMs alone (the floor); W5: predict_proba on 100,000 rows in "
                       "one call. Prints Markdown tables, or JSON. The comparison with NumPy, "
                       "PyTorch, scikit-learn, ONNX Runtime and JAX is bench/compare.py in a "
                       "source checkout.")
    p.add_argument("--workloads", default="W1,W2,W3,W4,W5", metavar="W1,W2,...",
                   help="comma-separated workloads (default: all five)")
    p.add_argument("--backends", default="cython,numpy", metavar="NAME,...",
                   help="comma-separated backends (default: cython,numpy; one not installed "
                   "is skipped)")
    p.add_argument("--threads", default=None, metavar="N[,M...]",
                   help="BLAS thread counts to time, each workload under each (default: the "
                   "current count, then 1); the first is the reference")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed runs per measurement, median reported (3; W4: min of 5)")
    p.add_argument("--quick", action="store_true", help="shrink every workload (smoke test)")
    p.add_argument("--busy-neighbour", action="store_true",
                   help="also time each workload beside a busy neighbour: another process "
                   "keeping one core busy, started for those runs and stopped after, and "
                   "reported")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--json-out", metavar="FILE", default=None,
                   help="also write the JSON report to FILE")
    p.add_argument("--systems", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=_bench)
    for command in sub.choices.values():  # --debug after the command works too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nncore`` command line; returns the exit status.

    An error is one line on stderr, ``nncore COMMAND: error: ...``, with exit status 2
    when the command line is wrong and 1 otherwise; ``--debug`` raises it instead.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"nncore {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"nncore {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return exc.status if isinstance(exc, CLIError) else 1


if __name__ == "__main__":
    sys.exit(main())
