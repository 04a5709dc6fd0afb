"""Installing without a C compiler: the warning at import, and setup.py's compiler probe.

The import tests run in a subprocess where ``import nncore.backends._kernels`` fails (``None`` in
``sys.modules``) and ``nncore._build_info``, which setup.py generates, is replaced. The build
tests load setup.py's ``BuildExt`` and build a tiny C module with it, with a working
compiler, with ``CC=false`` and with a compiler that is not there. ``.ci/no_compiler.sh``
does the same with real ``pip install`` runs.
"""

from __future__ import annotations

import json
import os
import platform
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet  # pytest depends on packaging

try:
    import tomllib
except ImportError:  # Python 3.10; pytest depends on tomli there
    import tomli as tomllib

from nncore import backends as backend

# Imports nncore as configured by the arguments, trains a tiny model, and reports the
# backend and every KernelsMissingWarning.
_IMPORT_SCRIPT = """
import json, sys, types, warnings
if {block}:
    sys.modules["nncore.backends._kernels"] = None  # the import fails as if it was never built
info = types.ModuleType("nncore._build_info")
info.PURE_PYTHON_REQUESTED = {requested}
sys.modules["nncore._build_info"] = info
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import nncore
    import nncore.backends, nncore.model, nncore.cli  # later imports do not warn again
    X, y = nncore.make_moons(64, seed=0)
    model = nncore.Sequential([nncore.Dense(8, activation="relu"), nncore.Dense(2)], seed=0)
    model.fit(X, y, epochs=2, loss=nncore.SoftmaxCrossEntropy(), verbose=0)
found = [str(w.message) for w in caught if issubclass(w.category, nncore.KernelsMissingWarning)]
print(json.dumps({{"backend": nncore.get_ops().name, "warnings": found}}))
"""


def _run_import(tmp_path: Path, *, block: bool, requested: bool,
                backend_env: str | None = None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "NNCORE_BACKEND"}
    if backend_env is not None:
        env["NNCORE_BACKEND"] = backend_env
    code = _IMPORT_SCRIPT.format(block=block, requested=requested)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path, env=env).stdout
    return json.loads(out.splitlines()[-1])


def test_missing_kernels_warn_once_and_say_how_to_get_them(tmp_path):
    result = _run_import(tmp_path, block=True, requested=False)
    assert result["backend"] == "numpy"
    assert len(result["warnings"]) == 1, result["warnings"]
    message = result["warnings"][0]
    assert "NumPy backend" in message
    assert "apt-get install gcc python3-dev" in message
    assert "pip install --force-reinstall --no-deps --no-cache-dir --no-binary nncore" in message
    assert "NNCORE_BACKEND=numpy" in message


def test_the_warning_is_printed_once_to_stderr(tmp_path):
    # As a user sees it: default warning filters, several imports and backend look-ups.
    code = ("import sys; sys.modules['nncore.backends._kernels'] = None\n"
            "import types; m = types.ModuleType('nncore._build_info')\n"
            "m.PURE_PYTHON_REQUESTED = False; sys.modules['nncore._build_info'] = m\n"
            "import nncore, nncore.backends, nncore.cli; nncore.get_ops(); nncore.get_ops()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("NNCORE_BACKEND", "PYTHONWARNINGS")}
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path, env=env).stderr
    assert err.count("KernelsMissingWarning") == 1, err


@pytest.mark.parametrize(("requested", "backend_env"), [
    pytest.param(True, None, id="installed-with-NNCORE_PUREPYTHON"),
    pytest.param(False, "numpy", id="NNCORE_BACKEND=numpy"),
    pytest.param(False, " NumPy ", id="NNCORE_BACKEND=-NumPy-"),
])
def test_no_warning_when_the_numpy_backend_is_intended(tmp_path, requested, backend_env):
    result = _run_import(tmp_path, block=True, requested=requested, backend_env=backend_env)
    assert result == {"backend": "numpy", "warnings": []}


def test_no_warning_when_the_kernels_import(tmp_path):
    result = _run_import(tmp_path, block=False, requested=False)
    # Here the kernels are blocked by nothing: a warning only if this install lacks them.
    assert len(result["warnings"]) == (0 if backend.HAS_KERNELS else 1)
    assert result["backend"] == ("cython" if backend.HAS_KERNELS else "numpy")


# --- setup.py: the compiler probe and BuildExt ---------------------------------------------

_SETUP_PY = Path(__file__).resolve().parents[1] / "setup.py"
_GOOD_C = "#include <Python.h>\nint probe_mod_value(void) { return 1; }\n"


@pytest.fixture(scope="module")
def setup_py() -> dict[str, Any]:
    """setup.py's names, without running setup() (it only runs as ``__main__``)."""
    # setuptools is in the test extra: a fresh venv of Python >= 3.12 has none.
    return runpy.run_path(str(_SETUP_PY), run_name="nncore_setup")


def _build_ext(setup_py: dict[str, Any], tmp_path: Path, source: str,
               stale: bool = False) -> list[Path]:
    """Run setup.py's BuildExt on a one-file C module; return what is in its build_lib."""
    from setuptools import Distribution, Extension

    c_file = tmp_path / "probe_mod.c"
    c_file.write_text(source)
    dist = Distribution({"name": "probe-mod",
                         "ext_modules": [Extension("probe_mod", [str(c_file)])],
                         "cmdclass": {"build_ext": setup_py["BuildExt"]}})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib = str(tmp_path / "lib")
    cmd.build_temp = str(tmp_path / "temp")
    cmd.ensure_finalized()
    if stale:  # a .so left in build_lib by an earlier in-tree build, newer than the source
        path = Path(cmd.get_ext_fullpath("probe_mod"))
        path.parent.mkdir(parents=True)
        path.write_bytes(b"stale")
    cmd.run()
    return sorted((tmp_path / "lib").glob("probe_mod*"))


def test_working_compiler_builds_the_extension(setup_py, tmp_path, capfd):
    built = _build_ext(setup_py, tmp_path, _GOOD_C)
    assert len(built) == 1 and built[0].suffix == ".so", built
    assert "no working C compiler" not in capfd.readouterr().err


@pytest.mark.parametrize("cc", ["false", "/nonexistent/bin/cc"])
def test_no_working_compiler_builds_nothing_and_says_so(setup_py, tmp_path, capfd,
                                                        monkeypatch, cc):
    monkeypatch.setenv("CC", cc)  # read by build_ext's customize_compiler, as in pip install
    assert _build_ext(setup_py, tmp_path, _GOOD_C, stale=True) == []  # the stale .so is gone
    err = capfd.readouterr().err
    assert "no working C compiler" in err
    assert "The compiler check failed with: CompileError" in err
    assert "apt-get install gcc python3-dev" in err


def test_a_build_error_with_a_working_compiler_fails(setup_py, tmp_path):
    from setuptools.errors import CompileError

    with pytest.raises(CompileError):
        _build_ext(setup_py, tmp_path, '#error "a bug in the extension"\n' + _GOOD_C)


# --- pyproject.toml: the supported Pythons are the tested ones ------------------------------


def test_requires_python_and_classifiers_state_the_same_versions_including_this_one():
    project = tomllib.loads((_SETUP_PY.parent / "pyproject.toml").read_text())["project"]
    supported = SpecifierSet(project["requires-python"])
    classified = {m.group(1) for c in project["classifiers"]
                  if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", c))}
    admitted = {f"3.{minor}" for minor in range(30) if supported.contains(f"3.{minor}.0")}
    assert admitted == classified, (project["requires-python"], sorted(classified))
    # CI runs the suite on each of them (.ci/run, .ci/other_pythons.sh): so this one too.
    assert supported.contains(platform.python_version(), prereleases=True)
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in classified
