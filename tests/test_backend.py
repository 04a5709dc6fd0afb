"""Backend selection: argument, environment variable, auto, and the missing-build error."""

from __future__ import annotations

import subprocess
import sys

import pytest

import nncore
from nncore import backends as backend


def test_auto_picks_cython_when_compiled():
    expected = "cython" if backend.HAS_KERNELS else "numpy"
    assert nncore.get_ops("auto").name == expected


def test_environment_variable_sets_default(monkeypatch):
    monkeypatch.setenv("NNCORE_BACKEND", "numpy")
    assert nncore.get_ops().name == "numpy"
    assert nncore.get_ops(None).name == "numpy"


def test_argument_beats_environment(monkeypatch):
    monkeypatch.setenv("NNCORE_BACKEND", "cython")
    assert nncore.get_ops("numpy").name == "numpy"


def test_unknown_names_are_rejected(monkeypatch):
    with pytest.raises(ValueError, match="argument 'backend' must be one of"):
        nncore.get_ops("torch")
    monkeypatch.setenv("NNCORE_BACKEND", "fast")
    with pytest.raises(ValueError, match="NNCORE_BACKEND must be one of"):
        nncore.get_ops()


def test_missing_kernels_raise_helpful_import_error(monkeypatch):
    monkeypatch.setattr(backend, "HAS_KERNELS", False)
    monkeypatch.setattr(backend, "_IMPORT_ERROR", "No module named 'nncore.backends._kernels'")
    with pytest.raises(ImportError, match="pip install"):
        nncore.get_ops("cython")
    assert nncore.get_ops("auto").name == "numpy"


@pytest.mark.cython
def test_kernels_are_compiled_and_used():
    assert backend.HAS_KERNELS
    ops = nncore.get_ops("cython")
    assert ops.name == "cython"
    from nncore.backends import _kernels

    assert _kernels.ACTIVATIONS == nncore.backends.activations.NAMES


def test_info_command_prints_versions_and_blas():
    out = subprocess.run([sys.executable, "-m", "nncore", "info"], capture_output=True,
                         text=True, check=True).stdout
    assert f"nncore {nncore.__version__}" in out
    assert "backend:" in out
    assert "threads=" in out
