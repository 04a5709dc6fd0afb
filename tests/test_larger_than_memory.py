"""Data larger than memory: ``fit`` on a ``numpy.memmap`` twice the size of a memory
budget, in a subprocess whose private memory is capped (``RLIMIT_DATA``).

``RLIMIT_DATA`` counts the private writable memory a process maps (the heap, NumPy's
arrays, thread stacks) and not read-only or shared file mappings, so it is the budget of
what nncore allocates while the file's pages come and go through the page cache.
(``RLIMIT_AS`` would count the file's own mapping and refuse it before training starts.)
The subprocess proves the budget binds: loading the file into memory there fails with
``MemoryError``; fitting on the memory map succeeds. Also: block-local shuffling keeps
every row once per epoch, and training on a memory map equals training in memory on the
same order.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nncore
from nncore import data

BUDGET_MB = 48
SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import nncore

    path32, path64, rows, cols, budget_mb = sys.argv[1:]
    rows, cols = int(rows), int(cols)
    y = np.load(path32 + ".y.npy")

    def model():
        return nncore.Sequential([nncore.Dense(16, "relu"), nncore.Dense(2)],
                                 loss="softmax_cross_entropy", dtype="float32", seed=0)

    model().fit(np.ones((600, cols), np.float32), np.arange(600) % 2, epochs=1, verbose=0)
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    limit = (int(status["VmData"].split()[0]) + int(budget_mb) * 1024) * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    X32 = np.memmap(path32, dtype=np.float32, mode="r", shape=(rows, cols))
    try:
        np.array(X32)
        print("loaded")
    except MemoryError:
        print("too-big")
    hist = model().fit(X32, y, epochs=2, batch_size=512, optimizer="adam", verbose=0)
    print(hist.history["loss"][-1])
    X64 = np.memmap(path64, dtype=np.float64, mode="r", shape=(rows // 2, cols))
    hist = model().fit(X64, y[: rows // 2], epochs=3, batch_size=512, optimizer="adam",
                       verbose=0)
    print(hist.history["loss"][-1])
""")


def _write(path: Path, dtype: type, rows: int, cols: int, seed: int) -> np.ndarray:
    """A memory-mapped file of ``rows`` x ``cols`` written in blocks; returns labels
    (class: the sign of the first column)."""
    rng = np.random.default_rng(seed)
    X = np.memmap(path, dtype=dtype, mode="w+", shape=(rows, cols))
    y = np.empty(rows, np.int64)
    step = 100_000
    for i in range(0, rows, step):
        block = ((rng.random((min(step, rows - i), cols), dtype=np.float32) - 0.5) * 4
                 ).astype(dtype)
        X[i:i + step] = block
        y[i:i + step] = block[:, 0] > 0
    del X
    return y


def test_fit_memmap_twice_the_budget(tmp_path):
    cols = 64
    rows = 2 * BUDGET_MB * 2**20 // (4 * cols)  # float32 file: twice the budget
    p32, p64 = tmp_path / "x32.bin", tmp_path / "x64.bin"
    y = _write(p32, np.float32, rows, cols, 0)
    np.save(str(p32) + ".y.npy", y)
    _write(p64, np.float64, rows // 2, cols, 0)  # the same rows, as float64: converted
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(p32), str(p64), str(rows),
                          str(cols), str(BUDGET_MB)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    control, loss32, loss64 = res.stdout.split()
    assert control == "too-big"  # the budget binds: the file does not fit in it
    assert float(loss32) < 0.3 and float(loss64) < 0.4  # learned the sign of column 0


def test_block_shuffle_is_a_permutation_of_local_blocks():
    rng = np.random.default_rng(0)
    order = np.arange(1000, dtype=np.int64)
    data.shuffle_order(order, rng, 128)
    assert np.array_equal(np.sort(order), np.arange(1000))
    blocks = [order[i:i + 128] // 128 for i in range(0, 1000, 128)]
    # each run of 128 (or the short last block's 104, wherever it falls) is one block
    at, seen = 0, []
    while at < 1000:
        k = int(order[at] // 128)
        size = 128 if k < 7 else 1000 - 7 * 128
        assert np.all(order[at:at + size] // 128 == k)
        seen.append(k)
        at += size
    assert sorted(seen) == list(range(8)) and seen != list(range(8))
    assert len(blocks) == 8
    assert not np.array_equal(order[:128], np.arange(128))  # shuffled within the block


def test_memmap_fit_equals_in_memory_fit_on_the_same_order(tmp_path, monkeypatch):
    """The memory map is read in place (no copy) and trains to the same weights as the
    array in memory given the same block-local order."""
    monkeypatch.setattr(data, "BLOCK_BYTES", 8 * 8 * 32)  # 32 rows of 8 float64: 2 batches
    rng = np.random.default_rng(1)
    Xm = np.memmap(tmp_path / "x.bin", dtype=np.float64, mode="w+", shape=(300, 8))
    Xm[:] = rng.standard_normal((300, 8))
    y = (Xm[:, 0] > 0).astype(int)
    assert data.block_rows(Xm, 16) == 32 and data.block_rows(Xm, 64) == 64
    assert data.block_rows(np.array(Xm), 16) is None
    Xc = data.as_features(Xm, np.dtype(np.float64))
    assert np.shares_memory(Xc, Xm) and data.mapped(Xc)  # used in place

    def fit(X, blocks_of_memmap):
        model = nncore.Sequential([nncore.Dense(6, "tanh"), nncore.Dense(2)],
                                  loss="softmax_cross_entropy", dtype="float64", seed=0)
        if blocks_of_memmap:  # the in-memory copy, shuffled as the memmap would be
            monkeypatch.setattr(nncore.training, "block_rows",
                                lambda X_, b: data.block_rows(Xm, b))
        model.fit(X, y, epochs=3, batch_size=16, seed=5, verbose=0)
        return model.params.w.copy()

    mapped = fit(Xm, False)
    in_memory = fit(np.array(Xm), True)
    assert np.array_equal(mapped, in_memory)


def test_mapped_conversion_names_the_bad_row(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "BLOCK_BYTES", 8 * 4 * 10)  # 10 rows per block
    Xm = np.memmap(tmp_path / "x.bin", dtype=np.float64, mode="w+", shape=(50, 4))
    Xm[:] = 1.0
    Xm[37, 2] = 1e300  # finite in float64, not in float32
    with pytest.raises(ValueError, match=r"X\[37, 2\] is inf \(after conversion to float32"):
        data.as_features(Xm, np.dtype(np.float32))
    Xm[37, 2] = 1.0
    out = data.as_features(Xm, np.dtype(np.float32))
    assert isinstance(out, np.memmap) and out.dtype == np.float32
    assert np.array_equal(out, np.ones((50, 4), np.float32))
