"""Build the one compiled module, ``nncore._kernels``.

Everything else about the package lives in ``pyproject.toml``. Environment switches:

* ``NNCORE_PUREPYTHON=1`` -- build nothing; nncore then runs on its NumPy backend.
* ``NNCORE_DEBUG_BUILD=1`` -- bounds and wraparound checks on, ``-O0 -g``: every
  out-of-range index in a kernel becomes an ``IndexError`` instead of memory corruption.
* ``NNCORE_NATIVE=1`` -- add ``-march=native`` (opt-in: a wheel built so crashes on older CPUs).

The Cython directives are set here, not in a header of the ``.pyx``, so that the debug
build can switch the checks back on without editing the source.
"""

import os

from setuptools import Extension, setup


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
        "nncore._kernels",
        sources=["src/nncore/_kernels.pyx"],
        # the float32 exp/tanh kernels (cdef extern from "_vmath.h"); a header edit rebuilds
        include_dirs=["src/nncore"],
        depends=["src/nncore/_vmath.h"],
        extra_compile_args=cflags,
        # Lets the module report (BOUNDS_CHECKED) which build it is.
        define_macros=[("NNCORE_BOUNDS_CHECKED", "1" if debug else "0")],
    )
    return cythonize([ext], compiler_directives=directives, annotate=False)


setup(ext_modules=_extensions())
