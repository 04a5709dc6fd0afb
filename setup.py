"""Build the one compiled module, ``nncore.backends._kernels``.

Everything else about the package lives in ``pyproject.toml``. Environment switches:

* ``NNCORE_PUREPYTHON=1`` -- build nothing; nncore then runs on its NumPy backend.
* ``NNCORE_DEBUG_BUILD=1`` -- bounds and wraparound checks on, ``-O0 -g``: every
  out-of-range index in a kernel becomes an ``IndexError`` instead of memory corruption.
* ``NNCORE_NATIVE=1`` -- add ``-march=native`` (opt-in: a wheel built so crashes on older CPUs).
* ``NNCORE_TEST_BREAK_BUILD=1`` -- for CI only: make the extension's compilation fail (the
  compiler probe still passes), to check that a build error fails the install.

No working C compiler: ``build_ext`` first compiles and links a tiny C file that includes
``Python.h``, with the compiler, flags and linker it would use for the extension (``CC``,
``CFLAGS``, ``LDSHARED``, ...). If that fails, it prints a warning, builds nothing, and the
install succeeds as pure Python (``import nncore`` then warns, see ``nncore.backends``). If the
probe passes, every error compiling the extension fails the install, as usual.

The built package gets a generated ``nncore/_build_info.py`` recording whether the
pure-Python install was asked for (``NNCORE_PUREPYTHON``): then the import does not warn.

The Cython directives are set here, not in a header of the ``.pyx``, so that the debug
build can switch the checks back on without editing the source.
"""

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.errors import CompileError, ExecError, LinkError

if TYPE_CHECKING:
    from distutils.ccompiler import CCompiler

# Includes Python.h: a compiler without the Python headers cannot build the extension either.
_PROBE_SOURCE = """\
#include <Python.h>
int nncore_probe(void) { return (int)sizeof(PyObject); }
"""


# What _kernels.pyx includes: its .pxi parts (cores, plans, one-row serving, sparse rows,
# dropout) and the C headers of the vector math (see the top of _vmath.h). Globbed, as
# MANIFEST.in does, so that a new part can be neither missed by the rebuild nor left out
# of the sdist (a hand-kept list had lost _sparse.pxi).
_KERNEL_PARTS = sorted(str(p) for pattern in ("*.pxi", "*.h")
                       for p in Path("src/nncore/backends").glob(pattern))


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _extensions() -> list:
    if _flag("NNCORE_PUREPYTHON"):
        return []
    from Cython.Build import cythonize

    debug = _flag("NNCORE_DEBUG_BUILD")
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": True,
        "embedsignature": True,
    }
    # -fno-math-errno lets gcc vectorise sqrt (Adam: 400 us -> 37 us for 1e5 floats).
    # Never -ffast-math: linking with it turns on flush-to-zero for the whole process.
    cflags = ["-O0", "-g"] if debug else ["-O3", "-fno-math-errno"]
    if _flag("NNCORE_NATIVE"):
        cflags.append("-march=native")
    ext = Extension(
        "nncore.backends._kernels",
        sources=["src/nncore/backends/_kernels.pyx"],
        # an edit to any included part (.pxi) or header (.h) rebuilds
        include_dirs=["src/nncore/backends"],
        depends=_KERNEL_PARTS,
        extra_compile_args=cflags,
        # Lets the module report (BOUNDS_CHECKED) which build it is.
        define_macros=[("NNCORE_BOUNDS_CHECKED", "1" if debug else "0")],
        # dladdr/dlsym (_blas_threads.h): in libc since glibc 2.34, libdl before (manylinux)
        libraries=["dl"] if sys.platform.startswith("linux") else [],
    )
    if _flag("NNCORE_TEST_BREAK_BUILD"):
        # A header that does not exist: the extension's compile fails, the probe does not.
        # As a dependency it also makes build_ext rebuild over an up-to-date .so in build/.
        ext.extra_compile_args += ["-include", "nncore-test-break-build.h"]
        ext.depends.append("nncore-test-break-build.h")
    return cythonize([ext], compiler_directives=directives, annotate=False)


def compiler_problem(compiler: "CCompiler", tmp_dir: str) -> str | None:
    """Compile and link a tiny extension-like C file with ``compiler``.

    Parameters
    ----------
    compiler : distutils.ccompiler.CCompiler
        Set up as ``build_ext`` sets it up (``customize_compiler``, include dirs).
    tmp_dir : str
        An empty scratch directory.

    Returns
    -------
    str or None
        None if the compiler works, else what went wrong.
    """
    source = os.path.join(tmp_dir, "nncore_probe.c")
    with open(source, "w", encoding="ascii") as f:
        f.write(_PROBE_SOURCE)
    try:
        objects = compiler.compile([source], output_dir=tmp_dir)
        compiler.link_shared_object(objects, os.path.join(tmp_dir, "nncore_probe.so"))
    except (CompileError, LinkError, ExecError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class BuildExt(build_ext):
    """``build_ext`` that builds nothing, with a warning, when the C compiler does not work."""

    def build_extensions(self) -> None:
        with tempfile.TemporaryDirectory(prefix="nncore-cc-probe-") as tmp:
            problem = compiler_problem(self.compiler, tmp)
        if problem is None:
            super().build_extensions()  # errors from here on fail the install
            return
        # An in-tree build directory may hold a .so from an earlier build: it must not ship.
        for ext in self.extensions:
            stale = self.get_ext_fullpath(ext.name)
            if os.path.exists(stale):
                os.remove(stale)
        self.extensions = []
        print(
            "\n" + "=" * 78 + "\n"
            "WARNING: nncore: no working C compiler, so the compiled kernels\n"
            "(nncore.backends._kernels) are NOT built: nncore will run on its NumPy backend\n"
            "(same results, slower).\n"
            f"The compiler check failed with: {problem}\n"
            "To get the kernels: install a C compiler and the Python headers (e.g.\n"
            "'apt-get install gcc python3-dev') and reinstall nncore.\n" + "=" * 78,
            file=sys.stderr,
            flush=True,
        )


class BuildPy(build_py):
    """``build_py`` that also writes ``nncore/_build_info.py`` (how the package was built)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install imports src/nncore, where the file is not generated
        path = os.path.join(self.build_lib, "nncore", "_build_info.py")
        self.mkpath(os.path.dirname(path))
        with open(path, "w", encoding="utf-8") as f:
            f.write(
                '"""How this copy of nncore was built (generated by setup.py)."""\n\n'
                "# True: NNCORE_PUREPYTHON was set, so the missing kernels are intended.\n"
                f"PURE_PYTHON_REQUESTED = {_flag('NNCORE_PUREPYTHON')}\n"
            )


# PEP 517 backends run this file as __main__; tests import it for BuildExt and the probe.
if __name__ == "__main__":
    setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt, "build_py": BuildPy})
