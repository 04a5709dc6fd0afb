"""ONNX out: a ``Sequential`` or an ``nncore.sklearn`` estimator as an ONNX graph.

Requires the extra ``onnx`` (``pip install "nncore[onnx]"``: onnx, onnxruntime to run
the graphs, skl2onnx for the estimators); ``import nncore`` alone never imports onnx.

>>> import nncore, nncore.onnx
>>> X, y = nncore.make_moons(200, seed=0)
>>> model = nncore.Sequential([nncore.Dense(16, "relu"), nncore.Dense(2)], seed=0)
>>> _ = model.fit(X, y, epochs=2, loss=nncore.SoftmaxCrossEntropy(), verbose=0)
>>> proto = nncore.onnx.export(model)            # or export(model, "moons.onnx")
>>> [o.name for o in proto.graph.output]
['label', 'probabilities']

``export`` writes what ``Sequential.predict*`` computes, operation for operation: the
input ``X`` (float32 or float64, the model's dtype; rows ``N`` symbolic), the model's
preprocessing, one ``Gemm`` and one activation node per ``Dense`` layer, and the loss's
link. ``register_skl2onnx`` teaches skl2onnx the estimators, so ``skl2onnx.to_onnx``
converts them alone or inside a ``Pipeline``; ``to_onnx`` does both in one call.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

try:
    import onnx
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError('nncore.onnx needs the onnx package: pip install "nncore[onnx]"') from exc

from nncore import _model_file
from nncore._onnx_graph import EXPORTED_LOSSES, sequential_graph
from nncore._version import __version__
from nncore.model import Sequential

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "export", "register_skl2onnx", "to_onnx"]

#: The opset ``export`` writes by default: ONNX 1.12's (2022), with IR version 8, so runtimes
#: older than the extra's minimum (onnxruntime 1.20, opsets to 21) can load the file too.
DEFAULT_OPSET = 17
#: The oldest opset ``export`` writes (``Softmax`` over one axis, ``Squeeze`` axes input).
MIN_OPSET = 13


def _opset(opset: Any) -> int:
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int | np.integer) or not (
            MIN_OPSET <= opset <= newest):
        raise ValueError(f"argument 'opset' must be an integer from {MIN_OPSET} to {newest} "
                         f"(this onnx {onnx.__version__}), got {opset!r}")
    return int(opset)


def _check_exportable(model: Any) -> None:
    if not isinstance(model, Sequential):
        hint = (" (for the scikit-learn estimators use nncore.onnx.to_onnx)"
                if hasattr(model, "model_") or hasattr(model, "steps") else "")
        raise TypeError(f"argument 'model' must be an nncore.Sequential, got "
                        f"{type(model).__name__}{hint}")
    if not model.built:
        raise RuntimeError("the model has no parameters yet: call fit (or build) before export")
    loss = model.loss
    if loss is not None and type(loss) not in EXPORTED_LOSSES:
        names = ", ".join(cls.__name__ for cls in EXPORTED_LOSSES)
        raise ValueError(f"cannot export the loss {type(loss).__name__}: export knows the "
                         f"links of {names} (or no loss: the outputs)")
    prep = model.preprocessing
    if prep is None:
        return
    prep.check(model.n_features, model.n_outputs, loss is not None and loss.is_classifier)
    if prep.classes is not None and loss is not None and loss.is_classifier:
        needed = model.n_outputs if loss.link_activation == "softmax" else 2
        if len(prep.classes) < needed:
            raise ValueError(f"model.preprocessing.classes has {len(prep.classes)} labels, "
                             f"the model predicts {needed}")


def export(model: Sequential, path: str | os.PathLike[str] | None = None, *,
           opset: int = DEFAULT_OPSET, raw_outputs: bool = False) -> onnx.ModelProto:
    """The ONNX graph of a built ``Sequential``, written to ``path`` if given.

    Parameters
    ----------
    model : Sequential
        Built (fitted, built, or loaded). Its dtype is the graph's: input ``X`` of shape
        ``[N, n_features]`` in float32 or float64, every constant and output likewise.
    path : str or os.PathLike, optional
        Write the model there (as given, no suffix added): into a temporary file beside
        it, then renamed over it, so an interrupted export leaves any old file intact.
    opset : int, default=DEFAULT_OPSET (17)
        The ai.onnx opset, from ``MIN_OPSET`` (13) to the newest the installed onnx
        knows. The IR version is the oldest that holds it, for older runtimes.
    raw_outputs : bool, default=False
        Classifiers and Poisson models: also output ``outputs`` (``predict_outputs``: the
        logits, or the log of the expected counts).

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model``. Its outputs:

        - a ``SoftmaxCrossEntropy`` or ``BinaryCrossEntropy`` model: ``label``
          (``predict``: int64 indices, or ``preprocessing.classes[index]`` in their
          dtype, strings as ONNX strings; shape ``[N]``, or ``[N, k]`` for ``k > 1``
          binary units) and ``probabilities`` (``predict_proba``: the softmax, or
          ``[1 - p, p]`` for one sigmoid unit, the sigmoids for several);
        - a ``PoissonDeviance`` model: ``predictions`` (``predict``, ``exp`` of the
          outputs, ``[N, n_outputs]``);
        - an ``MSE`` model or one without a loss: ``outputs`` (``predict_outputs``,
          ``[N, n_outputs]``, the target scaling undone; ``predict`` of one output is
          its column 0).

    Raises
    ------
    TypeError
        ``model`` is not a ``Sequential``.
    RuntimeError
        The model is not built yet.
    ValueError
        A loss other than nncore's three, preprocessing that does not fit the model,
        class labels that are not numbers, booleans or strings, or an opset out of range.

    Notes
    -----
    Each ``Dense`` is one ``Gemm(h, W, b)`` (``W`` of shape ``(n_in, units)``, as nncore
    stores it) and its activation: ``Relu``, ``LeakyRelu(alpha)`` (``Where(x > 0, x, slope * x)``
    where float32 cannot hold a float64 model's slope), ``Sigmoid``, ``Tanh``, ``Softmax(axis=-1)``;
    identity emits nothing. The link replaces the last layer's activation, as
    ``predict_proba`` does; ``label`` comes from the outputs, as ``predict`` does. The
    feature standardisation ``(X - mean) / scale`` and the target scaling run in float64
    and are rounded once to the model's dtype, as ``Preprocessing`` computes them, so
    the graph reproduces nncore to rounding of the matrix products (``tests/test_onnx.py``).
    """
    _check_exportable(model)
    version = _opset(opset)
    graph, features, outputs = sequential_graph(model, bool(raw_outputs))
    loss = "none" if model.loss is None else model.loss.name
    sizes = " -> ".join([str(model.n_features), *(f"{la.units} ({la.activation})"
                                                  for la in model.layers)])
    doc = (f"nncore {__version__} Sequential, {model.dtype.name}: {sizes}; loss {loss}; "
           f"outputs {', '.join(o.name for o in outputs)}")
    proto = onnx.helper.make_model(
        onnx.helper.make_graph(graph.nodes, "nncore_sequential", [features], outputs,
                               graph.initializers, doc_string=doc),
        opset_imports=[onnx.helper.make_opsetid("", version)], producer_name="nncore",
        producer_version=__version__, doc_string=doc)
    proto.ir_version = onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    onnx.helper.set_model_props(proto, {"nncore.loss": loss, "nncore.dtype": model.dtype.name})
    onnx.checker.check_model(proto)
    if path is not None:
        _write(proto, path)
    return proto


def _write(proto: onnx.ModelProto, path: str | os.PathLike[str]) -> Path:
    """Write ``proto`` to ``path`` atomically (temporary file, fsync, rename); return it."""
    target = Path(os.fspath(path))
    data = proto.SerializeToString()
    _model_file.write_atomic(target, lambda fh: fh.write(data))
    return target


def register_skl2onnx() -> None:
    """Register the converters of ``nncore.sklearn``'s estimators with skl2onnx.

    After this, ``skl2onnx.to_onnx(estimator, X[:1])`` converts ``MLPClassifier`` and
    ``MLPRegressor``, alone or in a ``Pipeline``, with the outputs and options of
    scikit-learn's own MLPs: ``label`` and ``probabilities`` (behind a ZipMap unless
    ``options={"zipmap": False}``; ZipMap takes float32 only, so float64 graphs need
    that option, as for scikit-learn's MLP), or ``variable`` of shape ``[N, n_outputs]``.
    Calling it again does nothing new.
    """
    from nncore._onnx_skl2onnx import register

    register()


def _nncore_estimator(obj: Any) -> Any:
    """The last step of a pipeline (or ``obj``), if it is an nncore estimator."""
    while hasattr(obj, "steps"):
        obj = obj.steps[-1][1]
    return obj if hasattr(obj, "model_") and isinstance(obj.model_, Sequential) else None


def to_onnx(model: Any, X: Any = None, *, path: str | os.PathLike[str] | None = None,
            options: dict[Any, Any] | None = None, target_opset: int | None = None,
            **kwargs: Any) -> onnx.ModelProto:
    """An ONNX graph of a ``Sequential``, an nncore estimator, or a pipeline ending in one.

    Parameters
    ----------
    model : Sequential, nncore.sklearn estimator or scikit-learn Pipeline
        A ``Sequential`` goes to ``export`` (``target_opset`` is its ``opset``). Anything
        else to ``skl2onnx.to_onnx`` after ``register_skl2onnx``.
    X : array-like, optional
        A sample of the input, for skl2onnx (its dtype is the graph's). None: a float
        input ``X`` of shape ``[N, n_features_in_]`` in the dtype of the nncore network.
    path : str or os.PathLike, optional
        Also write the model there, atomically.
    options : dict, optional
        skl2onnx's options. None: ``{"zipmap": False}`` for nncore classifiers, so that
        the graph outputs ``label`` and ``probabilities`` as arrays, as ``export`` does.
    target_opset : int, optional
        The opset (skl2onnx's default: its newest).
    **kwargs
        Passed to ``skl2onnx.to_onnx``.

    Returns
    -------
    onnx.ModelProto
    """
    if isinstance(model, Sequential):
        if X is not None or options is not None or kwargs:
            raise TypeError("to_onnx(Sequential) takes path and target_opset only; "
                            "see nncore.onnx.export")
        return export(model, path, opset=DEFAULT_OPSET if target_opset is None
                      else target_opset)
    register_skl2onnx()
    import skl2onnx

    from nncore.sklearn import MLPClassifier

    est = _nncore_estimator(model)
    if options is None:
        options = {MLPClassifier: {"zipmap": False}}
    if X is None and "initial_types" not in kwargs:
        if not hasattr(model, "n_features_in_"):
            raise ValueError("argument 'X' is needed: the model has no n_features_in_ "
                             "(is it fitted?)")
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

        wide = est is not None and est.model_.dtype == np.float64
        kind = DoubleTensorType if wide else FloatTensorType
        kwargs["initial_types"] = [("X", kind([None, int(model.n_features_in_)]))]
    proto = skl2onnx.to_onnx(model, X, options=options, target_opset=target_opset, **kwargs)
    if path is not None:
        _write(proto, path)
    return proto
