"""The ONNX nodes of an nncore network, written once for ``nncore.onnx`` and skl2onnx.

``dense_stack`` emits the layers (one ``Gemm`` and one activation node per ``Dense``)
through an ``Emitter``: ``GraphBuilder`` here collects plain ``onnx`` nodes for
``nncore.onnx.export``; the skl2onnx converters (``nncore._onnx_skl2onnx``) implement
the same two methods over skl2onnx's scope and container. ``sequential_graph`` is what
``export`` puts around the layers: the model's preprocessing, the loss's link and the
labels, each reproducing ``Sequential.predict*`` operation for operation.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from onnx import NodeProto, TensorProto, ValueInfoProto, helper, numpy_helper

from nncore.losses import MSE, BinaryCrossEntropy, PoissonDeviance, SoftmaxCrossEntropy

#: nncore activation -> ONNX operator (identity emits nothing; leaky_relu: see activation).
OPERATORS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax",
             "leaky_relu": "LeakyRelu"}
#: The losses ``export`` knows the link and labels of (and None: the outputs only).
EXPORTED_LOSSES = (MSE, SoftmaxCrossEntropy, BinaryCrossEntropy, PoissonDeviance)
#: The symbolic batch dimension of the input and the outputs.
BATCH = "N"


class Emitter(Protocol):
    """Where nodes go: a graph of our own, or skl2onnx's container."""

    def node(self, op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        """Add node ``op`` and return the name of its (one) output."""
        ...

    def const(self, hint: str, value: np.ndarray) -> str:
        """Add a constant tensor and return its name."""
        ...


def activation(emit: Emitter, x: str, name: str, slope: float, dtype: np.dtype,
               output: bool = False) -> str:
    """Emit ``name(x)`` as nncore computes it; return the output's name.

    ``softmax`` is ``Softmax(axis=-1)`` over the features of each row. ``LeakyRelu``
    keeps its ``alpha`` as a float32 attribute, which is exactly nncore's slope in a
    float32 model; a float64 model whose slope float32 cannot hold gets nncore's formula
    ``Where(x > 0, x, slope * x)`` with a float64 slope instead (onnxruntime has no float64
    ``PRelu`` kernel), so that nothing is rounded. A sigmoid whose
    values are an ``output`` (probabilities) is ``1 / (1 + exp(-x))``: onnxruntime's
    ``Sigmoid`` is accurate only in absolute terms for negative ``x`` (float32: off by up to
    460 % near x = -18; float64: 0 below x = -36.7), these four nodes to rounding.
    """
    if name == "identity":
        return x
    if name == "exp":  # the Poisson loss's link (predict = exp of the outputs)
        return emit.node("Exp", [x], "exp")
    if name == "softmax":
        return emit.node("Softmax", [x], "softmax", axis=-1)
    if name == "sigmoid" and output:
        exp = emit.node("Exp", [emit.node("Neg", [x], "neg")], "exp")
        one = emit.const("one", np.ones((), dtype))
        return emit.node("Reciprocal", [emit.node("Add", [exp, one], "one_plus_exp")],
                         "sigmoid")
    if name == "leaky_relu" and dtype != np.float32 and float(np.float32(slope)) != slope:
        positive = emit.node("Greater", [x, emit.const("zero", np.zeros((), dtype))], "positive")
        scaled = emit.node("Mul", [x, emit.const("slope", np.array(slope, dtype))], "scaled")
        return emit.node("Where", [positive, x, scaled], name)
    if name == "leaky_relu":
        return emit.node("LeakyRelu", [x], name, alpha=float(slope))
    return emit.node(OPERATORS[name], [x], name)


def dense_stack(emit: Emitter, x: str, weights: list[tuple[np.ndarray, np.ndarray]],
                acts: list[str], slopes: list[float], dtype: np.dtype) -> tuple[str, str]:
    """Emit ``act_i(h @ W_i + b_i)`` for every layer, one ``Gemm`` each.

    Returns
    -------
    z_last, out : str
        The last layer's ``Gemm`` (its pre-activation, where a link starts) and its
        activation (the network's outputs; the same name for identity).
    """
    h = z = x
    last = len(weights) - 1
    for i, ((W, b), act, slope) in enumerate(zip(weights, acts, slopes, strict=True)):
        z = emit.node("Gemm", [h, emit.const(f"layer{i}.W", np.asarray(W, dtype)),
                               emit.const(f"layer{i}.b", np.asarray(b, dtype))], f"layer{i}.z")
        h = activation(emit, z, act, slope, dtype, output=i == last)
    return z, h


def class_labels(classes: np.ndarray) -> np.ndarray:
    """The labels as an array ONNX can hold (strings as ``object``); ``ValueError``
    for labels that are neither numbers, booleans nor strings."""
    arr = np.asarray(classes)
    if arr.dtype.kind in "biuf":
        return arr
    if arr.dtype.kind in "OUS" and all(isinstance(c, str | np.str_) for c in arr.flat):
        return arr.astype(str).astype(object)
    raise ValueError("cannot export class labels of dtype "
                     f"{arr.dtype}: they must be numbers, booleans or strings, all of one kind")


class GraphBuilder:
    """An ``Emitter`` collecting ``onnx`` nodes and initializers, with unique names."""

    def __init__(self) -> None:
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._taken: set[str] = {"X"}

    def _name(self, hint: str) -> str:
        name, k = hint, 1
        while name in self._taken:
            name, k = f"{hint}_{k}", k + 1
        self._taken.add(name)
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self._name(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=self._name(f"{op}_{hint}"),
                                           **attrs))
        return out

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def cast(self, x: str, dtype: np.dtype) -> str:
        return self.node("Cast", [x], f"{x}.{np.dtype(dtype).name}",
                         to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    def rename(self, old: str, new: str) -> None:
        """Give the tensor ``old`` the (graph output) name ``new`` everywhere."""
        if new in self._taken:
            raise AssertionError(f"{new!r} is taken")
        self._taken.add(new)
        for node in self.nodes:
            for names in (node.input, node.output):
                for i, name in enumerate(names):
                    if name == old:
                        names[i] = new


def _in_float64(g: GraphBuilder, x: str, dtype: np.dtype, ops: list[tuple[str, np.ndarray]]
                ) -> str:
    """Apply ``ops`` (operator, float64 constant) to ``x`` in float64 and return the
    result in ``dtype``: NumPy's arithmetic when it mixes a float32 array with float64
    preprocessing constants, rounded once at the end as ``Preprocessing`` does."""
    h = x if dtype == np.float64 else g.cast(x, np.dtype(np.float64))
    for op, value in ops:
        h = g.node(op, [h, g.const(f"{x}.{op.lower()}", value)], f"{x}.{op.lower()}")
    return h if dtype == np.float64 else g.cast(h, dtype)


def sequential_graph(model: Any, raw_outputs: bool
                     ) -> tuple[GraphBuilder, ValueInfoProto, list[ValueInfoProto]]:
    """The nodes of ``model`` (a built ``Sequential``), its input and its outputs.

    Classifiers (``SoftmaxCrossEntropy``, ``BinaryCrossEntropy``) output ``label``
    (``predict``) and ``probabilities`` (``predict_proba``), plus ``outputs``
    (``predict_outputs``) with ``raw_outputs``; ``PoissonDeviance`` models output
    ``predictions`` (``predict``: ``exp`` of the outputs), plus ``outputs`` with
    ``raw_outputs``; other models output ``outputs``.
    """
    dtype, loss, prep = model.dtype, model.loss, model.preprocessing
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    g = GraphBuilder()
    x = "X"
    if prep is not None and prep.mean is not None:
        x = _in_float64(g, x, dtype, [("Sub", prep.mean), ("Div", prep.scale)])
    layers = model.layers
    z, out = dense_stack(g, x, model.get_weights(), [la.activation for la in layers],
                         [la.negative_slope for la in layers], dtype)
    if prep is not None and prep.target_mean is not None:
        out = _in_float64(g, out, dtype, [("Mul", prep.target_scale),
                                          ("Add", prep.target_mean)])
    k = model.n_outputs
    results: list[tuple[str, str, int, list[Any]]] = []  # (tensor, name, type, shape)
    if loss is not None and loss.is_classifier:
        # predict_proba: the link replaces the last activation (Sequential's proba plan)
        proba = activation(g, z, loss.link_activation, 0.0, dtype, output=True)
        if isinstance(loss, BinaryCrossEntropy) and k == 1:  # [P(0), P(1)]
            one = g.const("one", np.ones((), dtype))
            proba = g.node("Concat", [g.node("Sub", [one, proba], "p0"), proba], "proba01",
                           axis=1)
        if isinstance(loss, SoftmaxCrossEntropy):  # predict: argmax of the outputs
            label = g.node("ArgMax", [out], "argmax", axis=1, keepdims=0)
        else:  # outputs > 0, one column per unit
            zero = g.const("zero", np.zeros((), dtype))
            label = g.node("Cast", [g.node("Greater", [out, zero], "positive")], "labels",
                           to=TensorProto.INT64)
            if k == 1:
                label = g.node("Squeeze", [label, g.const("axis1", np.array([1]))], "label1")
        label_type = TensorProto.INT64
        if prep is not None and prep.classes is not None:
            labels = class_labels(prep.classes)
            label = g.node("Gather", [g.const("classes", labels), label], "class", axis=0)
            label_type = helper.np_dtype_to_tensor_dtype(labels.dtype)
        one_label = isinstance(loss, SoftmaxCrossEntropy) or k == 1
        two_columns = isinstance(loss, BinaryCrossEntropy) and k == 1
        results += [(label, "label", label_type, [BATCH] if one_label else [BATCH, k]),
                    (proba, "probabilities", elem, [BATCH, 2 if two_columns else k])]
    if isinstance(loss, PoissonDeviance):  # predict: exp(outputs), the expected counts
        results.append((activation(g, out, "exp", 0.0, dtype), "predictions", elem,
                        [BATCH, k]))
    if raw_outputs or loss is None or not (loss.is_classifier or isinstance(loss,
                                                                           PoissonDeviance)):
        results.append((out, "outputs", elem, [BATCH, k]))
    outputs = []
    for tensor, name, type_, shape in results:  # distinct tensors, each made by a node
        g.rename(tensor, name)
        outputs.append(helper.make_tensor_value_info(name, type_, shape))
    features = helper.make_tensor_value_info("X", elem, [BATCH, model.n_features])
    return g, features, outputs

