"""``nncore.dask.predict`` / ``predict_proba``: a fitted model over dask collections.

Block by block (``map_blocks`` on a dask array, ``map_partitions`` on a dask DataFrame),
with the model shipped once per worker: under a ``distributed`` client it is scattered to
every worker (``broadcast=True``) and the tasks refer to that one copy; without one it is a
single delayed object of the graph. Each task runs the model's own ``predict*`` (the same
code as in-process, so the results are equal) with one BLAS thread: a worker runs as many
tasks at once as it has threads.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from nncore._serving import thread_scope


def predict(model: Any, X: Any, *, client: Any = None) -> Any:
    """``model.predict`` over a dask array or DataFrame, block by block.

    Parameters
    ----------
    model : Sequential or a fitted nncore.sklearn estimator
        Anything with ``predict``; pickled once and sent once to each worker.
    X : dask array (n_samples, n_features) or dask DataFrame
        A DataFrame's columns are matched to the model's feature names as in-process.
    client : distributed.Client, optional
        Default: the current client if there is one, else dask's local scheduler.

    Returns
    -------
    dask array, or dask Series / DataFrame (the partitions' index kept)
        Lazy: ``.compute()`` gives what ``model.predict(X.compute())`` gives.
    """
    return _over_blocks(model, X, "predict", client)


def predict_proba(model: Any, X: Any, *, client: Any = None) -> Any:
    """``model.predict_proba`` over a dask array or DataFrame (see ``predict``); a
    DataFrame gives a dask DataFrame with one column per class."""
    return _over_blocks(model, X, "predict_proba", client)


def ship(model: Any, client: Any = None) -> Any:
    """``model`` as one object per worker: a future of its scattered copies under a
    ``distributed`` client (``client`` or the current one), else a delayed object."""
    if client is None:
        try:
            from distributed import default_client

            client = default_client()
        except (ImportError, ValueError):  # no distributed, or no client: local scheduler
            client = None
    if client is not None:
        return client.scatter(model, broadcast=True, hash=False)
    import dask

    return dask.delayed(model, name=f"nncore-model-{uuid.uuid4().hex}")


def _apply(model: Any, block: Any, method: str) -> Any:
    with thread_scope(1):  # one BLAS thread per task: the worker runs a task per thread
        return getattr(model, method)(block)


def _apply_frame(part: Any, model: Any, method: str) -> Any:
    import pandas as pd

    out = _apply(model, part, method)
    if out.ndim == 1:
        return pd.Series(out, index=part.index)
    return pd.DataFrame(out, index=part.index)


def _array_block(block: Any, model: Any, method: str) -> Any:
    return _apply(model, block, method)


def _over_blocks(model: Any, X: Any, method: str, client: Any) -> Any:
    import dask.array as da

    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise ValueError(f"argument 'X' must be 2-D, got {X.ndim} dimensions")
        # The probe: one row in-process gives the output's dtype and width.
        probe = np.asarray(getattr(model, method)(np.zeros((1, X.shape[1]), X.dtype)))
        Xr = X.rechunk({1: -1})
        shipped = ship(model, client)
        if probe.ndim == 1:
            return Xr.map_blocks(_array_block, shipped, method, dtype=probe.dtype,
                                 drop_axis=1, chunks=(Xr.chunks[0],),
                                 meta=np.empty(0, probe.dtype))
        return Xr.map_blocks(_array_block, shipped, method, dtype=probe.dtype,
                             chunks=(Xr.chunks[0], (probe.shape[1],)),
                             meta=np.empty((0, 0), probe.dtype))
    if hasattr(X, "map_partitions") and hasattr(X, "columns"):
        import pandas as pd

        probe = np.asarray(getattr(model, method)(X._meta_nonempty.iloc[:1]))
        meta = (pd.Series(np.empty(0, probe.dtype)) if probe.ndim == 1
                else pd.DataFrame(np.empty((0, probe.shape[1]), probe.dtype)))
        return X.map_partitions(_apply_frame, ship(model, client), method, meta=meta)
    raise TypeError(f"argument 'X' must be a dask array or a dask DataFrame, got "
                    f"{type(X).__name__}: for in-memory data call model.{method}(X)")
