"""The documentation's examples run: the site's pages and the docstrings.

The site (docs/, built by CI with ``python -m sphinx -W``) includes the README's sections
between ``<!-- docs: NAME -->`` markers. Each page's Python code blocks, those of the
sections it includes too, run here in order in one namespace, as a reader would run them
in one session, in a temporary directory. The README's examples name data the reader
brings (``recency``, ``df``, ``docs``, a file ``features.npy`` ...): ``STANDINS`` makes small
stand-ins for them just before the block that first uses them. A page whose code starts a
dask cluster carries the ``distributed`` marker.

The docstrings' Examples sections (the API reference shows them) run through doctest, for
every module of the package.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import linecache
import pathlib
import re

import pytest

import nncore

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SRC = ROOT / "src"

_INCLUDE = re.compile(r"^```\{include\}[ \t]+(?P<path>\S+)[ \t]*\n(?P<options>(?::[^\n]*\n)*)```",
                      re.MULTILINE)
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                    re.MULTILINE | re.DOTALL)


def _include(page: pathlib.Path, match: re.Match[str]) -> str:
    """The text a MyST ``{include}`` directive puts in its page (start-after/end-before)."""
    source = (page.parent / match["path"]).resolve()
    text = source.read_text(encoding="utf-8")
    options = dict(re.findall(r"^:([\w-]+):[ \t]*(.*)$", match["options"], re.MULTILINE))
    for option, keep_after in (("start-after", True), ("end-before", False)):
        if option in options:
            marker = options[option]
            assert marker in text, f"{page.name}: {option} {marker!r} is not in {source.name}"
            head, _, tail = text.partition(marker)
            text = tail if keep_after else head
    assert text.strip(), f"{page.name}: the include of {source.name} is empty"
    return text


def page_text(page: pathlib.Path) -> str:
    """The Markdown of a page with its includes put in place."""
    text = page.read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: _include(page, m), text)


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown text, list items' (indented) included, dedented."""
    blocks = []
    for m in _FENCE.finditer(text):
        if m["info"].strip() == "python":
            indent = len(m["indent"])
            blocks.append("".join(line[indent:] for line in m["body"].splitlines(True)))
    return blocks


PAGES = sorted(DOCS.glob("*.md"))

#: Data the README's examples leave to the reader, made up just before the first block
#: containing the key. Keys must stay in some block (test_every_standin_is_used).
STANDINS = {
    "sample_weight=recency": """
import numpy as np
recency = np.linspace(0.2, 1.0, len(y))                  # a weight per training row
X_test, y_test = nncore.make_moons(200, noise=0.15, seed=1)
w_test = np.ones(len(y_test))
""",
    'np.load("features.npy", mmap_mode="r")': """
np.save("features.npy", np.asarray(X, dtype=np.float32))
""",
    ".fit(docs, labels)": """
words = [("good", "great", "fine"), ("bad", "awful", "poor")]
docs = [f"a {words[i % 2][i % 3]} film, {words[i % 2][(i + 1) % 3]} acting" for i in range(60)]
labels = [i % 2 for i in range(60)]
""",
    'model.fit(df[["age", "income", "score"]], y)': """
import pandas as pd
df = pd.DataFrame(np.random.default_rng(0).normal(size=(len(y), 3)),
                  columns=["age", "income", "score"])
model = nncore.Sequential([nncore.Dense(16, "relu"), nncore.Dense(2)],
                          loss="softmax_cross_entropy", seed=0)
""",
    "fit(X, y, sample_weight=w)": """
w = np.where(y == 1, 2.0, 1.0)
""",
    "reg.fit(X, counts)": """
counts = np.random.default_rng(0).poisson(np.exp(np.asarray(X)[:, 0]))
""",
    'model = nncore.load("bc_model.npz")': """
import contextlib
from sklearn.datasets import load_breast_cancer
import nncore.cli
bc = load_breast_cancer()
np.savez("bc.npz", X=bc.data, y=bc.target)
assert nncore.cli.main(["train", "bc.npz", "-o", "bc_model.npz"]) == 0
with open("cli.csv", "w") as out, contextlib.redirect_stdout(out):
    assert nncore.cli.main(["predict", "bc_model.npz", "bc.npz"]) == 0
""",
}


def _needs_cluster(page: pathlib.Path) -> bool:
    return any(re.search(r"^\s*(from|import) (distributed|dask)\b", b, re.MULTILINE)
               for b in python_blocks(page_text(page)))


def _page_params() -> list:
    return [pytest.param(p, id=p.stem, marks=[pytest.mark.distributed] if _needs_cluster(p)
                         else []) for p in PAGES if python_blocks(page_text(p))]


def test_the_site_has_the_pages_the_readme_links():
    assert (DOCS / "conf.py").is_file() and (DOCS / "index.md").is_file()
    assert (DOCS / "design.md").is_file() and (DOCS / "demo.png").is_file()


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_includes_resolve(page):
    """Every include finds its markers (a renamed marker would otherwise lose a section)."""
    page_text(page)


def test_every_standin_is_used():
    blocks = [b for p in PAGES for b in python_blocks(page_text(p))]
    assert blocks, "no Python examples found in docs/"
    unused = [key for key in STANDINS if not any(key in b for b in blocks)]
    assert not unused, f"stand-ins for blocks that no longer exist: {unused}"


def _close_clients(namespace: dict) -> None:
    for value in list(namespace.values()):
        if type(value).__name__ == "Client" and type(value).__module__.startswith("distributed"):
            cluster = value.cluster
            value.close()
            if cluster is not None:
                cluster.close()


def _run(source: str, name: str, namespace: dict) -> None:
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)  # tracebacks
    exec(compile(source, name, "exec"), namespace)


@pytest.mark.slow
@pytest.mark.parametrize("page", _page_params())
def test_page_examples_run(page, tmp_path, monkeypatch):
    """The page's Python blocks, in order, in one namespace (``__name__`` is
    ``"__main__"``, as in the script the scaling guide has the reader write)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    try:
        for i, block in enumerate(python_blocks(page_text(page)), 1):
            for key, setup in STANDINS.items():
                if key in block:
                    _run(setup, f"<stand-in for {key!r}>", namespace)
            _run(block, f"<{page.name}, python block {i}>", namespace)
    finally:
        _close_clients(namespace)


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted((SRC / "nncore").rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(SRC).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("modname", _modules_with_examples())
def test_docstring_examples(modname, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(modname)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    assert tests, f"{modname} has '>>>' in its source but doctest finds no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


def _public_modules_with_all() -> set[str]:
    """Modules without a ``_`` name in their path that declare ``__all__``."""
    found = set()
    for path in (SRC / "nncore").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if any(p.startswith("_") for p in parts):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
               for node in tree.body):
            found.add(".".join(parts))
    return found


def test_the_api_reference_lists_every_public_module():
    """api.rst's autosummary generates a page per listed module, listing its ``__all__``
    (classes, exceptions, functions, and the other names): a public module with an
    ``__all__`` left out of api.rst would be missing from the reference."""
    text = (DOCS / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (nncore[\w.]*)\s*$", text, re.MULTILINE))
    assert _public_modules_with_all() <= listed, _public_modules_with_all() - listed
    assert "nncore" in listed and set(nncore.__all__)


def test_the_readme_links_the_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python -m sphinx -b html docs docs/_build/html" in readme
    assert "(docs/index.md)" in readme
