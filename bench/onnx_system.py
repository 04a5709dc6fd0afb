"""ONNX Runtime as a ``bench/compare.py`` system: inference only.

The network is written as an ONNX graph from the shared weights (``onnx.helper``: per
layer a ``Gemm`` with the weight ``(n_in, n_out)`` as given, then ``Relu``/``Tanh``; the
link of nncore's ``predict_proba`` last: ``Softmax`` over the classes, or for one output
unit ``Sigmoid`` and the two columns ``[1 - p, p]``) and run by an
``onnxruntime.InferenceSession`` on the CPU with ORT's default graph optimisations
(``ORT_ENABLE_ALL``, which fuses ``Gemm`` + activation). A thread count sets
``SessionOptions.intra_op_num_threads``; the default setting leaves ORT's own (0: one
thread per physical core). ONNX Runtime does not train: the training workloads do not
apply to it. onnx and onnxruntime are imported only when the system is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nncore.cli._bench_workloads import Net, System, Trainer, Weights

#: Opset and IR version of the graph: what ONNX Runtime 1.16 and later read.
OPSET = 17
IR_VERSION = 8


def onnx_model(net: Net, weights: Weights) -> Any:
    """The ``onnx.ModelProto`` of ``net`` with ``weights``: input ``x`` of shape
    ``(n, n_features)``, output ``proba`` of shape ``(n, n_classes)`` float32, checked."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    act = "Relu" if net.activation == "relu" else "Tanh"
    h = "x"
    for i, (W, b) in enumerate(weights):
        inits += [numpy_helper.from_array(np.asarray(W, np.float32), f"W{i}"),
                  numpy_helper.from_array(np.asarray(b, np.float32), f"b{i}")]
        nodes.append(helper.make_node("Gemm", [h, f"W{i}", f"b{i}"], [f"z{i}"]))
        h = f"z{i}"
        if i < len(weights) - 1:
            nodes.append(helper.make_node(act, [h], [f"h{i}"]))
            h = f"h{i}"
    if net.loss == "binary":  # nncore's predict_proba of one unit: [1 - p, p]
        inits.append(numpy_helper.from_array(np.ones((1, 1), np.float32), "one"))
        nodes += [helper.make_node("Sigmoid", [h], ["p"]),
                  helper.make_node("Sub", ["one", "p"], ["q"]),
                  helper.make_node("Concat", ["q", "p"], ["proba"], axis=1)]
    else:
        nodes.append(helper.make_node("Softmax", [h], ["proba"], axis=1))
    n_out = len(net.classes)
    graph = helper.make_graph(
        nodes, "nncore_bench", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                              ["n", net.sizes[0]])],
        [helper.make_tensor_value_info("proba", TensorProto.FLOAT, ["n", n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nncore-bench")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


class OnnxRuntimeSystem(System):
    """``onnxruntime.InferenceSession`` (CPU) of the network as an ONNX graph."""

    name = "onnxruntime"
    trains = False

    def version(self) -> str:
        import onnxruntime

        return str(onnxruntime.__version__)

    def session(self, net: Net, weights: Weights) -> Any:
        """The inference session: ``ORT_ENABLE_ALL``, ``intra_op_num_threads`` from
        ``n_threads`` (ORT's default when None), CPU execution provider."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.n_threads is not None:
            options.intra_op_num_threads = self.n_threads
        return ort.InferenceSession(onnx_model(net, weights).SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])

    def trainer(self, net: Net, X: np.ndarray, y: np.ndarray) -> Trainer:
        raise NotImplementedError("ONNX Runtime runs inference only")

    def predictor(self, net: Net, weights: Weights) -> Callable[[np.ndarray], Any]:
        run = self.session(net, weights).run
        outputs = ["proba"]

        def predict_proba(x: np.ndarray) -> Any:
            return run(outputs, {"x": x})[0]

        return predict_proba
