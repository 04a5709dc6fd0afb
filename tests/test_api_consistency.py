"""Both backends expose the same public methods with the same parameters."""

from __future__ import annotations

import inspect

import nncore
from nncore.cython_ops import CythonOps
from nncore.numpy_ops import NumpyOps
from nncore.ops import Ops


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(fn)
        for name, fn in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_same_public_methods_and_signatures():
    numpy_api, cython_api = _public(NumpyOps), _public(CythonOps)
    assert numpy_api == cython_api
    assert set(numpy_api) >= {
        "gemm", "bias_act_forward", "act_backward", "col_sum", "softmax_xent",
        "sigmoid_bce", "mse", "sgd_update", "adam_update",
    }


def test_every_kernel_hook_is_implemented_by_both():
    hooks = [n for n, _ in inspect.getmembers(Ops, inspect.isfunction)
             if n.startswith("_") and not n.startswith("__")]
    assert hooks
    for cls in (NumpyOps, CythonOps):
        for hook in hooks:
            assert getattr(cls, hook) is not getattr(Ops, hook), f"{cls.__name__}.{hook}"
            own = inspect.signature(getattr(cls, hook)).parameters
            assert list(own) == list(inspect.signature(getattr(Ops, hook)).parameters)


def test_public_methods_are_documented():
    for name, _ in _public(Ops).items():
        doc = inspect.getdoc(getattr(Ops, name)) or ""
        assert "Parameters" in doc, name


def test_backends_are_named():
    assert nncore.get_ops("numpy").name == "numpy"
    assert isinstance(nncore.get_ops("numpy"), NumpyOps)
