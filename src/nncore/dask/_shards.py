"""The data side of ``nncore.dask.fit``: dask collections cut into one shard per worker.

``X`` and ``y`` (dask arrays, or a dask DataFrame and Series) are persisted once on the
cluster, their row blocks aligned, and the blocks dealt out contiguously to the replicas so
that every replica holds about the same number of rows. Each replica is placed on the
worker that already holds most of its shard's bytes: the blocks move at most once, when
the replica is created, and never again during training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Shards:
    """Persisted row blocks of ``X`` and ``y`` grouped by replica.

    Attributes
    ----------
    X_blocks, y_blocks : list of list of Future
        Per replica, the futures of its ``X`` and ``y`` row blocks, in row order.
    w_blocks : list of list of Future, or None
        The same for the sample weights, when there are any.
    rows : list of int
        Rows per replica.
    workers : list of str
        The worker address each replica is created on (all different).
    n_features : int
    feature_names : ndarray of str or None
        The DataFrame's column names (when ``X`` was one with string names).
    """

    X_blocks: list[list[Any]]
    y_blocks: list[list[Any]]
    w_blocks: list[list[Any]] | None
    rows: list[int]
    workers: list[str]
    n_features: int
    feature_names: np.ndarray | None = field(default=None)


def as_dask_array(data: Any, name: str, columns: np.ndarray | None = None) -> Any:
    """``data`` as a dask array with known row chunks: a dask array as it is, a dask
    DataFrame or Series through ``to_dask_array(lengths=True)`` (a DataFrame's columns put
    in the order of ``columns`` when given), a NumPy array or pandas object wrapped."""
    import dask.array as da

    if isinstance(data, da.Array):
        return data
    if hasattr(data, "to_dask_array"):  # dask DataFrame / Series
        if columns is not None and hasattr(data, "columns"):
            data = data[list(columns)]
        return data.to_dask_array(lengths=True)
    if hasattr(data, "to_numpy"):  # pandas
        data = data.to_numpy()
    arr = np.asarray(data)
    if arr.ndim == 0:
        raise TypeError(f"argument {name!r} must be an array or a dask collection")
    return da.from_array(arr, chunks=(max(1, -(-len(arr) // 2)), *arr.shape[1:]))


def column_names(data: Any) -> np.ndarray | None:
    """A dask DataFrame's column names when all are strings (as ``Sequential`` records
    them), else None."""
    cols = getattr(data, "columns", None)
    if cols is None or not hasattr(data, "to_dask_array"):
        return None
    names = list(cols)
    return np.asarray(names, dtype=object) if names and all(
        isinstance(n, str) for n in names) else None


def make_shards(client: Any, X: Any, y: Any, n_replicas: int,
                expected_names: np.ndarray | None = None, sample_weight: Any = None
                ) -> Shards:
    """Persist ``X``, ``y`` (and ``sample_weight``) on ``client``'s cluster and deal their
    blocks to at most ``n_replicas`` replicas (fewer when there are fewer rows)."""
    names = column_names(X)
    Xd = as_dask_array(X, "X", expected_names if names is not None else None)
    if expected_names is not None and names is not None:
        names = expected_names
    yd = as_dask_array(y, "y")
    if Xd.ndim != 2:
        raise ValueError(f"argument 'X' must be 2-D, got {Xd.ndim} dimensions")
    n = Xd.shape[0]
    if any(np.isnan(c) for c in Xd.chunks[0]) or any(np.isnan(c) for c in yd.chunks[0]):
        raise ValueError("arguments 'X' and 'y' need known chunk sizes (compute_chunk_sizes())")
    wd = None if sample_weight is None else as_dask_array(sample_weight, "sample_weight")
    if yd.shape[0] != n:
        raise ValueError(f"arguments 'X' and 'y' have {n} and {yd.shape[0]} rows")
    if wd is not None and (wd.ndim != 1 or wd.shape[0] != n):
        raise ValueError(f"argument 'sample_weight' must hold one weight per row of 'X' "
                         f"({n}), got shape {wd.shape}")
    if n == 0:
        raise ValueError("argument 'X' is empty: need at least one sample to fit")
    n_replicas = max(1, min(n_replicas, n))
    # One row block per replica at least, whole columns per block; y cut like X.
    if Xd.numblocks[0] < n_replicas:
        Xd = Xd.rechunk({0: -(-n // n_replicas)})
    Xd = Xd.rechunk({1: -1})
    yd = yd.rechunk((Xd.chunks[0], *((s,) for s in yd.shape[1:])))
    if wd is None:
        Xd, yd = client.persist([Xd, yd])
    else:
        Xd, yd, wd = client.persist([Xd, yd, wd.rechunk((Xd.chunks[0],))])
    x_futs = _block_futures(client, Xd)
    y_futs = _block_futures(client, yd)
    w_futs = None if wd is None else _block_futures(client, wd)
    sizes = list(Xd.chunks[0])
    groups = _deal(sizes, n_replicas)
    X_blocks = [[x_futs[i] for i in g] for g in groups]
    workers = _place(client, X_blocks, [[sizes[i] for i in g] for g in groups])
    return Shards(X_blocks, [[y_futs[i] for i in g] for g in groups],
                  None if w_futs is None else [[w_futs[i] for i in g] for g in groups],
                  [sum(sizes[i] for i in g) for g in groups], workers, int(Xd.shape[1]), names)


def _block_futures(client: Any, arr: Any) -> list[Any]:
    """The futures of a persisted dask array's row blocks, in row order."""
    from distributed import futures_of

    by_key = {f.key: f for f in futures_of(arr)}
    keys = arr.__dask_keys__()
    flat = [k if not isinstance(k, list) else k[0] for k in keys]
    return [by_key[k] for k in flat]


def _deal(sizes: list[int], n_replicas: int) -> list[list[int]]:
    """Contiguous groups of block indices, one per replica, of about equal rows: block i
    goes to the replica whose share of the rows its first row falls in."""
    n = sum(sizes)
    groups: list[list[int]] = [[] for _ in range(n_replicas)]
    start = 0
    for i, size in enumerate(sizes):
        groups[min(start * n_replicas // n, n_replicas - 1)].append(i)
        start += size
    return [g for g in groups if g]


def _place(client: Any, futures: list[list[Any]], sizes: list[list[int]]) -> list[str]:
    """A distinct worker per group: the one holding most of its rows, greedily (largest
    group first), else any worker left."""
    workers = sorted(client.scheduler_info()["workers"])
    if len(futures) > len(workers):
        raise ValueError(f"{len(futures)} replicas for {len(workers)} workers")
    who = client.who_has([f for group in futures for f in group])
    chosen: dict[int, str] = {}
    for g in sorted(range(len(futures)), key=lambda g: -sum(sizes[g])):
        held: dict[str, int] = {}
        for f, size in zip(futures[g], sizes[g], strict=True):
            for w in who.get(f.key, ()):
                held[w] = held.get(w, 0) + size
        free = [w for w in workers if w not in chosen.values()]
        chosen[g] = max(free, key=lambda w: (held.get(w, 0), -free.index(w)))
    return [chosen[g] for g in range(len(futures))]
