"""nncore on a dask cluster (extra ``dask``: dask, distributed, dask-ml).

Three ways to scale out (README "Scaling out"):

- blocks through dask-ml: ``dask_ml.wrappers.Incremental(MLPClassifier(...))`` calls the
  estimators' ``partial_fit`` block after block (nothing here is needed for it);
- synchronous local SGD: ``nncore.dask.fit(model, X, y, sync_every=k)``, one replica per
  worker (a dask actor holding its shard), ``k`` local steps per round in one native call,
  the weights averaged by the driver;
- prediction over dask arrays and DataFrames: ``nncore.dask.predict(model, X)`` and
  ``predict_proba``, block by block, the model sent once to each worker.

(Parallel hyper-parameter search needs nothing here either: scikit-learn's ``GridSearchCV``
under ``joblib.parallel_backend("dask")``.)

>>> import nncore.dask  # doctest: +SKIP
>>> history = nncore.dask.fit(model, X, y, epochs=5, sync_every=32)  # doctest: +SKIP
"""

from nncore.dask._fit import ReplicaLostError, fit
from nncore.dask._predict import predict, predict_proba

__all__ = ["ReplicaLostError", "fit", "predict", "predict_proba"]
