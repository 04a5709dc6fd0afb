"""Both backends expose the same public methods with the same parameters."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import nncore
from nncore.backends.cython_ops import CythonOps
from nncore.backends.numpy_ops import NumpyOps
from nncore.backends.ops import Ops


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
        "sigmoid_bce", "poisson", "mse", "sgd_update", "adam_update",
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


@pytest.mark.cython
def test_kernel_codes_are_the_one_table():
    """The pyx enum and Hyper struct mirror nncore.backends._codes; the extension checks
    itself at import (_check_codes), and re-exports the table rather than a copy."""
    from nncore.backends import _codes, _kernels

    _kernels._check_codes()
    assert _kernels.ACTIVATIONS is _codes.ACTIVATIONS
    assert _kernels.LOSSES is _codes.LOSSES and _kernels.OPTIMIZERS is _codes.OPTIMIZERS
    assert nncore.backends.activations.NAMES is _codes.ACTIVATIONS


def test_hyper_parameters_travel_by_name():
    from nncore.backends._codes import HYPER
    from nncore.backends.plan import NetPlan, TrainPlan

    w, g = np.zeros(3), np.zeros(3)
    plan = TrainPlan(NetPlan([2, 1], ["identity"], [0.0], w, g), 4, "mse")
    assert set(plan.hyper) == set(HYPER)
    with pytest.raises(ValueError, match=r"unknown hyper-parameters.*'learning_rate'"):
        plan.configure("sgd", {"learning_rate": 0.1}, None, None, 0)
    plan.configure("sgd", {"lr": 0.25}, None, None, 0)
    assert plan.hyper["lr"] == 0.25 and plan.hyper["momentum"] == 0.0
