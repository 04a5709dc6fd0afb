"""skl2onnx converters for ``nncore.sklearn.MLPClassifier`` and ``MLPRegressor``.

The approach of skl2onnx's converters for scikit-learn's MLPs
(``skl2onnx/operator_converters/multilayer_perceptron.py``), whose attributes ours share
(``coefs_``, ``intercepts_``, ``out_activation_``, ``classes_``, ``_label_binarizer``):
the input cast to float32, or kept float64, then the layers, the output link, and the
labels. The layers come from ``nncore._onnx_graph.dense_stack`` (``Gemm`` per layer),
as in ``nncore.onnx.export``. Two things differ from skl2onnx's own converters, both
where those are wrong for scikit-learn's MLP too: a regressor with several targets
outputs ``[N, n_outputs]`` (skl2onnx reshapes it to one column), and float labels that
are not integers are refused instead of truncated to int64 without a word.

Importing this module imports skl2onnx and scikit-learn; ``nncore.onnx`` does so only
in ``register_skl2onnx``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (
    Int64TensorType,
    StringTensorType,
    guess_proto_type,
)
from skl2onnx.common.utils import check_input_and_output_numbers
from skl2onnx.common.utils_classifier import get_label_classes

from nncore._onnx_graph import dense_stack
from nncore.sklearn import MLPClassifier, MLPRegressor

#: Our aliases in skl2onnx's registry.
ALIASES = {MLPClassifier: "NncoreMLPClassifier", MLPRegressor: "NncoreMLPRegressor"}
#: The options skl2onnx accepts for scikit-learn's MLPClassifier (handled by its parser).
CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "output_class_labels": [False, True],
                      "nocl": [True, False]}
#: scikit-learn's output activation -> nncore's link.
_LINKS = {"softmax": "softmax", "logistic": "sigmoid", "identity": "identity", "exp": "exp"}


class _SklEmitter:
    """``nncore._onnx_graph.Emitter`` over skl2onnx's scope and container."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope, self.container = scope, container

    def node(self, op: str, inputs: list[str], hint: str, out: str | None = None,
             **attrs: Any) -> str:
        name = out or self.scope.get_unique_variable_name(hint.replace(".", "_"))
        self.container.add_node(op, inputs, name, name=self.scope.get_unique_operator_name(op),
                                **attrs)
        return name

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.scope.get_unique_variable_name(hint.replace(".", "_"))
        value = np.asarray(value)
        if value.dtype.kind in "OU":
            self.container.add_initializer(name, TensorProto.STRING, list(value.shape),
                                           [str(v).encode("utf-8") for v in value.flat])
        else:
            from onnx import numpy_helper

            self.container.add_initializer(name, None, None,
                                           numpy_helper.from_array(value, name))
        return name


def _network(scope: Any, operator: Any, container: Any) -> tuple[_SklEmitter, str, np.dtype]:
    """The layers up to the link: (emitter, the link's output, the compute dtype)."""
    est = operator.raw_operator
    proto = guess_proto_type(operator.inputs[0].type)
    dtype = np.dtype(np.float64 if proto == TensorProto.DOUBLE else np.float32)
    emit = _SklEmitter(scope, container)
    x = operator.inputs[0].full_name
    if proto not in (TensorProto.FLOAT, TensorProto.DOUBLE):
        x = emit.node("Cast", [x], "cast_input", to=int(TensorProto.FLOAT))
    layers = est.model_.layers
    acts = [la.activation for la in layers[:-1]] + [_LINKS[est.out_activation_]]
    _, out = dense_stack(emit, x, est.model_.get_weights(), acts,
                         [la.negative_slope for la in layers], dtype)
    return emit, out, dtype


def _labels(est: Any, scope: Any) -> np.ndarray:
    """``classes_`` as the label tensor holds them: int64 or strings (as skl2onnx)."""
    classes = np.asarray(get_label_classes(scope, est))
    if classes.dtype.kind == "f":
        if not np.array_equal(classes, np.round(classes)):
            raise ValueError(f"cannot convert {type(est).__name__} with class labels "
                             f"{classes.tolist()}: ONNX labels here are int64 or strings, "
                             "and these floats are not integers")
        return classes.astype(np.int64)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    return classes.astype(str).astype(object)


def convert_classifier(scope: Any, operator: Any, container: Any) -> None:
    """``label`` (``predict``) and ``probabilities`` (``predict_proba``)."""
    est = operator.raw_operator
    emit, p, dtype = _network(scope, operator, container)
    label_out, proba_out = operator.outputs[0].full_name, operator.outputs[1].full_name
    binary = est._label_binarizer.y_type_ == "binary"
    if binary:  # [1 - p, p], as predict_proba
        one = emit.const("one", np.ones((), dtype))
        emit.node("Concat", [emit.node("Sub", [one, p], "negative_proba"), p], "proba",
                  out=proba_out, axis=1)
    else:
        emit.node("Identity", [p], "proba", out=proba_out)
    if est._label_binarizer.y_type_ == "multilabel-indicator":  # LabelBinarizer: p > 0.5
        half = emit.const("half", np.array(0.5, dtype))
        emit.node("Cast", [emit.node("Greater", [p, half], "positive")], "label",
                  out=label_out, to=int(TensorProto.INT64))
        return
    index = emit.node("ArgMax", [proba_out], "argmax", axis=1, keepdims=0)
    emit.node("Gather", [emit.const("classes", _labels(est, scope)), index], "label",
              out=label_out, axis=0)


def convert_regressor(scope: Any, operator: Any, container: Any) -> None:
    """``variable`` of shape ``[N, n_outputs]`` (``predict``, as a column per target)."""
    emit, out, _ = _network(scope, operator, container)
    emit.node("Identity", [out], "variable", out=operator.outputs[0].full_name)


def classifier_shapes(operator: Any) -> None:
    """Label: int64 or string, ``[N]`` (``[N, n_labels]`` multilabel); probabilities
    ``[N, n_classes]`` in the input's float type."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    est = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    kind = _labels(est, operator.scope_inst).dtype.kind
    label_type = StringTensorType if kind == "O" else Int64TensorType
    multilabel = est._label_binarizer.y_type_ == "multilabel-indicator"
    width = len(est.classes_)
    operator.outputs[0].type = label_type([n, width] if multilabel else [n])
    operator.outputs[1].type.shape = [n, width]


def regressor_shapes(operator: Any) -> None:
    """``variable``: ``[N, n_outputs]`` in the input's float type (float32 unless float64)."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type.shape = [n, operator.raw_operator.n_outputs_]


def register() -> None:
    """Register both estimators with skl2onnx (again: the same converters, overwritten)."""
    update_registered_converter(MLPClassifier, ALIASES[MLPClassifier], classifier_shapes,
                                convert_classifier, options=CLASSIFIER_OPTIONS)
    update_registered_converter(MLPRegressor, ALIASES[MLPRegressor], regressor_shapes,
                                convert_regressor)
