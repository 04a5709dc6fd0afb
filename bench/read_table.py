"""``nncore train``'s CSV reader against ``pandas.read_csv``, on a generated numeric table.

Usage, from a source checkout (the README's "Reading tables" figures)::

    python bench/read_table.py                  # 200,000 x 20, each reader 3 times
    python bench/read_table.py --rows 50000 --repeats 5

Writes a table of ``--rows`` rows, 19 feature columns and a numeric target ``y`` (17
significant digits, as ``DataFrame.to_csv`` writes float64), then times, each in a fresh
process with the library already imported: ``pd.read_csv(path)`` and
``read_table(path, target="y")`` through each reader installed (``nncore.cli._csv``:
pyarrow, pandas, numpy, and the reference ``csv``-module reader, which is as slow as the
reader before them). Reported: the best wall time of ``--repeats`` calls, its ratio to
pandas', the peak resident memory the first call added (``ru_maxrss`` less the resident
size before it; it sees the parsers' own allocators too) and the time the imports took
(nncore's, and the reader's library: what ``nncore train`` pays besides the read).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np


def _rss_mb() -> float:
    """Resident memory now, MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _child(reader: str, path: str, repeats: int) -> None:
    """Time one reader in this process and print a JSON line."""
    start = time.perf_counter()
    if reader == "pd.read_csv":
        import pandas as pd

        def call() -> object:
            return pd.read_csv(path)
    else:
        from nncore.cli import _csv
        from nncore.cli._tabular import read_table

        _csv.ENGINE = reader
        if reader in ("pandas", "pyarrow"):
            __import__(reader + (".csv" if reader == "pyarrow" else ""))

        def call() -> object:
            return read_table(path, target="y")
    imported = time.perf_counter() - start
    before = _rss_mb()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
        if len(times) == 1:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    print(json.dumps({"reader": reader, "best": min(times), "peak_mb": peak,
                      "import": imported}))


def write_table(path: Path, rows: int, seed: int = 0) -> None:
    """``rows`` x 20 normal numbers: columns x0..x18 and y, as pandas' to_csv writes them."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, 20))
    with path.open("w") as fh:
        fh.write(",".join([f"x{j}" for j in range(19)] + ["y"]) + "\n")
        for row in values.tolist():
            fh.write(",".join(map(repr, row)) + "\n")


def main() -> None:
    """Write the table, time every reader in its own process, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.repeats)
        return
    from nncore.cli._csv import available_engines

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        write_table(path, args.rows)
        size = path.stat().st_size / 1e6
        print(f"{args.rows} x 20 numbers, {size:.0f} MB; best of {args.repeats}")
        readers = [*(["pd.read_csv"] if find_spec("pandas") else []), *available_engines()]
        results = {}
        for reader in readers:
            proc = subprocess.run([sys.executable, __file__, "--repeats",
                                   str(1 if reader == "python" else args.repeats),
                                   "--child", reader, str(path)],
                                  capture_output=True, text=True, check=True)
            results[reader] = json.loads(proc.stdout.splitlines()[-1])
    base = results["pd.read_csv"]["best"] if "pd.read_csv" in results else float("nan")
    print(f"{'reader':28s} {'time s':>8s} {'/ pandas':>9s} {'peak MB':>8s} {'import s':>9s}")
    for reader, r in results.items():
        name = reader if reader == "pd.read_csv" else f"read_table ({reader})"
        print(f"{name:28s} {r['best']:8.3f} {r['best'] / base:9.2f} {r['peak_mb']:8.0f} "
              f"{r['import']:9.2f}")


if __name__ == "__main__":
    main()
