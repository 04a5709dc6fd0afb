"""The shape of the package, kept by test: no import circle, no heavy imports, small files.

docs/design.md explains the layers (backends -> model -> integrations, cli); these checks
keep that map true as the code changes. They read the source, so they run anywhere.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "nncore"
#: Longest source module (lines); the Cython parts and headers count too.
MAX_SOURCE_LINES = 450
#: Longest test module (lines).
MAX_TEST_LINES = 600


def _module_name(path: pathlib.Path) -> str:
    name = ".".join(path.relative_to(SRC).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports(path: pathlib.Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``path`` imports, at any level of the file."""
    text = path.read_text()
    if path.suffix == ".pyx":  # keep the Python import statements of a Cython file
        text = "\n".join(line.strip() for line in text.splitlines()
                         if line.strip().startswith(("import ", "from "))
                         and " cimport " not in line)
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & modules
            # "from package import submodule" depends on the submodule only
            found |= subs if len(subs) == len(node.names) else {node.module, *subs}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.pyx")]}
    names = set(paths)
    return {m: (_imports(p, names) & names) - {m} for m, p in paths.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as a path of module names, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for dep in sorted(graph[m]):
            if state.get(dep) == 1:
                return [*path[path.index(dep):], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_circle():
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_the_checker_sees_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_layers_depend_downwards():
    """backends import nothing above them; the model layer never imports the cli (only
    ``python -m nncore``, the entry point, does)."""
    graph = _graph()
    for m, deps in graph.items():
        if m.startswith("nncore.backends"):
            assert all(d.startswith("nncore.backends") for d in deps), (m, deps)
        if not m.startswith(("nncore.cli", "nncore.__main__")):
            assert not any(d.startswith("nncore.cli") for d in deps), (m, deps)


#: The integrations: built on the model layer, which never imports them (nor do the
#: backends); ``import nncore`` therefore never imports scikit-learn, onnx, skl2onnx or dask.
INTEGRATIONS = ("nncore.sklearn", "nncore._sklearn_base", "nncore.onnx", "nncore._onnx_graph",
                "nncore._onnx_skl2onnx", "nncore.dask", "nncore.dask._fit",
                "nncore.dask._replica", "nncore.dask._shards", "nncore.dask._predict")


def test_nothing_below_the_integrations_imports_them():
    graph = _graph()
    assert set(INTEGRATIONS) <= set(graph)
    for m, deps in graph.items():
        if not m.startswith((*INTEGRATIONS, "nncore.cli", "nncore.__main__")):
            assert not deps & set(INTEGRATIONS), (m, deps & set(INTEGRATIONS))


def test_no_module_imports_a_comparison_system():
    """PyTorch, ONNX Runtime, JAX and the like are bench/'s business (bench/compare.py);
    ``onnx`` itself only the ONNX integration may import (``nncore.onnx``, its helpers)."""
    for path in PACKAGE.rglob("*.py"):
        exporter = path.parent == PACKAGE and path.stem in ("onnx", "_onnx_graph",
                                                             "_onnx_skl2onnx")
        heavy = ("torch", "jax", "jaxlib", "onnxruntime", "tensorflow") + (
            () if exporter else ("onnx",))
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                assert name.split(".")[0] not in heavy, f"{path.name} imports {name}"


def test_only_nncore_dask_imports_dask():
    """dask, distributed and dask-ml (extra ``dask``) are ``nncore.dask``'s alone."""
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE / "dask":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                assert name.split(".")[0] not in ("dask", "distributed", "dask_ml"), (
                    f"{path.name} imports {name}")


@pytest.mark.parametrize("folder,suffixes,limit", [
    (PACKAGE, (".py", ".pyx", ".pxi", ".h"), MAX_SOURCE_LINES),
    (ROOT / "tests", (".py",), MAX_TEST_LINES),
    (ROOT / "bench", (".py",), MAX_SOURCE_LINES),
])
def test_files_stay_small(folder, suffixes, limit):
    long = {str(p.relative_to(ROOT)): n for p in folder.rglob("*")
            if p.suffix in suffixes and (n := len(p.read_text().splitlines())) > limit}
    assert not long, f"split these by role (limit {limit} lines): {long}"
