"""Sphinx configuration of nncore's documentation site.

Build (as CI does, warnings as errors): ``python -m sphinx -W -b html docs docs/_build/html``
after ``pip install ".[docs]"``. The site documents the *installed* nncore (nothing here
adds ``src/`` to the path). Its pages include the README's sections between the
``<!-- docs: NAME -->`` markers and docs/design.md as they are (Markdown, through
myst-parser), so each text has one source. The API reference is generated from the
numpydoc docstrings of the modules listed in api.rst, each page listing the module's
``__all__`` (templates in ``_templates/autosummary``); tests/test_docs.py checks that every
public module with an ``__all__`` is listed there and runs the pages' Python examples and
the docstrings' Examples sections.

The build needs no network: intersphinx links to Python's, NumPy's and scikit-learn's
documentation are made only with ``NNCORE_DOCS_INTERSPHINX=1``.
"""

from __future__ import annotations

import os
import sys

from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer

import nncore

project = "nncore"
author = "nncore developers"
copyright = "nncore developers"
release = nncore.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
]
if os.environ.get("NNCORE_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
    }

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build"]

# The API reference: one page per module of api.rst, one per class and function in its
# __all__ (imported names included, as __all__ says), generated into generated/.
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "groupwise"
autodoc_typehints = "none"  # the numpydoc Parameters sections say the types
# The class template lists the methods itself; numpydoc's own member tables would repeat them.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "alabaster"
html_title = f"nncore {release}"
html_static_path: list[str] = []


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out class members defined outside nncore (``object``'s, ``Exception``'s,
    scikit-learn's ``get_params`` or ``set_*_request``): their documentation is their
    library's. Members nncore's classes inherit from nncore's own (private) bases stay:
    ``Ops.softmax_xent`` comes from ``nncore.backends._loss_methods``."""
    if what != "class":
        return None
    target = getattr(obj, "fget", None) or obj  # a property: its getter's module
    module = getattr(target, "__module__", None) or getattr(
        getattr(target, "__objclass__", None), "__module__", None)
    if isinstance(module, str) and module.split(".")[0] != "nncore":
        return True
    return None


def _data_docstring(app, what, name, obj, options, lines):
    """A name re-exported in ``__all__`` (``nncore.HAS_KERNELS``) is documented by the
    ``#:`` comment where it is defined, not by its type's docstring (``bool``'s)."""
    if what != "data" or not lines or obj.__doc__ != type(obj).__doc__:
        return
    lines[:] = []
    short = name.rpartition(".")[2]
    for modname, module in list(sys.modules.items()):
        if modname.split(".")[0] == "nncore" and getattr(module, short, None) is obj:
            try:
                docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
            except PycodeError:
                continue
            if ("", short) in docs:
                lines[:] = list(docs["", short])
                return


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
    app.connect("autodoc-process-docstring", _data_docstring)
