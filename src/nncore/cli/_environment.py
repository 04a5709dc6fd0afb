"""What nncore runs on: the one environment report of ``nncore info``, ``nncore bench`` and
the benchmarks in ``bench/``.

``environment()`` collects it as a JSON-ready dict, ``format_environment()`` renders it as
lines. A timing means little without the BLAS library, its kernel set and thread count,
the SIMD level of the vector math and the environment variables that change them, so
every report prints all of them the same way.
"""

from __future__ import annotations

import os
import platform
from typing import Any

#: Environment variables worth reporting: nncore's own, and those the BLAS libraries and
#: OpenMP read (thread counts, OpenBLAS's kernel choice).
ENV_PREFIXES = ("NNCORE_", "OPENBLAS_", "OMP_", "MKL_", "GOTO_")

#: The CPU flags that decide which kernels run (nncore's NNCORE_SIMD levels, OpenBLAS's
#: kernel sets); the rest of /proc/cpuinfo's list is left out of the report.
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq",
              "avx512vl", "avx512_bf16", "amx_tile", "neon", "asimd", "sve")


def environment() -> dict[str, Any]:
    """Collect versions, nncore's kernels, the machine, the BLAS libraries and env vars.

    Returns
    -------
    dict
        ``versions`` (nncore, python, numpy, scipy, threadpoolctl); ``nncore`` (whether
        the kernels are compiled and why not, the backends available, the default one,
        the SIMD level ``nncore.backends._kernels.SIMD_ISA``, a bounds-checked build, the
        BLAS thread setters ``n_threads`` calls); ``machine``
        (platform, architecture, CPU model, logical CPUs, SIMD flags, load average);
        ``blas`` (one entry per BLAS/OpenMP library loaded, from threadpoolctl: API,
        version, kernel set, threads, file); ``env`` (the ``NNCORE_*``, ``OPENBLAS_*``,
        ``OMP_*``, ``MKL_*``, ``GOTO_*`` variables set). Values are JSON types.
    """
    import numpy as np
    import scipy
    import scipy.linalg  # loads the BLAS that cython_blas calls, for threadpoolctl
    import threadpoolctl

    import nncore

    versions = {"nncore": nncore.__version__, "python": platform.python_version(),
                "numpy": np.__version__, "scipy": scipy.__version__,
                "threadpoolctl": threadpoolctl.__version__}
    return {"versions": versions, "nncore": _nncore_build(), "machine": _machine(),
            "blas": _blas_pools(),
            "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)}}


def _nncore_build() -> dict[str, Any]:
    from nncore.backends import _IMPORT_ERROR, HAS_KERNELS, get_ops

    try:
        default: str = get_ops().name
    except (ImportError, ValueError) as exc:  # e.g. NNCORE_BACKEND=cython without kernels
        default = f"unavailable ({exc})"
    build: dict[str, Any] = {"kernels": HAS_KERNELS, "kernels_error": _IMPORT_ERROR,
                             "backends": ["cython", "numpy"] if HAS_KERNELS else ["numpy"],
                             "default_backend": default, "simd": None, "bounds_checked": None,
                             "thread_control": []}
    if HAS_KERNELS:
        from nncore._serving import blas_thread_control
        from nncore.backends import _kernels

        build.update(simd=_kernels.SIMD_ISA, bounds_checked=bool(_kernels.BOUNDS_CHECKED),
                     thread_control=[{"library": os.path.basename(path), "setter": setter}
                                     for path, setter, _ in blas_thread_control()])
    return build


def cpu_model_and_flags() -> tuple[str, set[str]]:
    """The first processor's model name and feature flags from /proc/cpuinfo (empty where
    there is none). The one reader of it: the report here and tests/_machine.py."""
    model, flags = "", set[str]()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "cpu model") and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:  # not Linux: the platform module's answer is all we have
        pass
    return model, flags


def _machine() -> dict[str, Any]:
    model, flags = cpu_model_and_flags()
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"platform": platform.platform(), "machine": platform.machine(),
            "cpu": model or platform.processor() or "unknown", "cpu_count": os.cpu_count(),
            "simd_flags": [f for f in SIMD_FLAGS if f in flags], "loadavg": load}


def _blas_pools() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    pools = []
    for pool in threadpool_info():
        path = str(pool.get("filepath", ""))
        # NumPy and SciPy bundle one OpenBLAS each, under the same file name: the
        # directory says whose it is (SciPy's runs the Cython GEMM, NumPy's the NumPy one).
        library = os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
        pools.append({k: pool.get(k) for k in ("user_api", "internal_api", "version",
                                               "architecture", "num_threads",
                                               "threading_layer")} | {"library": library})
    return pools


def blas_threads(env: dict[str, Any] | None = None) -> int:
    """The largest thread count of the BLAS libraries loaded (1 if none is reported)."""
    pools = (env or environment())["blas"]
    return max((p["num_threads"] or 1 for p in pools if p["user_api"] == "blas"), default=1)


def format_environment(env: dict[str, Any]) -> list[str]:
    """Render ``environment()`` as report lines (no trailing newlines).

    The first line starts with ``nncore <version>``; BLAS lines carry ``threads=``.
    """
    v, build, m = env["versions"], env["nncore"], env["machine"]
    if build["kernels"]:
        kernels = f"yes, SIMD {build['simd']}" + (
            ", bounds-checked debug build (slow)" if build["bounds_checked"] else "")
    else:
        kernels = f"no ({build['kernels_error']})"
    chosen = env["env"].get("NNCORE_BACKEND")
    lines = [
        f"nncore {v['nncore']}, compiled kernels: {kernels}; backends: "
        + ", ".join(build["backends"]),
        f"backend: {build['default_backend']} ("
        + (f"NNCORE_BACKEND={chosen!r}" if chosen is not None else "NNCORE_BACKEND unset: auto")
        + ")",
        f"python {v['python']}, " + ", ".join(f"{k} {v[k]}" for k in v
                                              if k not in ("nncore", "python")),
        f"machine: {m['cpu']}, {m['cpu_count']} logical CPUs, {m['machine']}, "
        f"{m['platform']}",
        "CPU SIMD flags: " + (" ".join(m["simd_flags"]) or "none reported"),
    ]
    if m["loadavg"]:
        lines.append(f"load average: {m['loadavg'][0]:.2f} (1 min)")
    control = build.get("thread_control") or []
    lines.append("n_threads sets: " + (", ".join(f"{c['setter']} ({c['library']})"
                                                for c in control)
                                      or "through threadpoolctl (no OpenBLAS setter found)"))
    lines.append("thread pools (threadpoolctl):")
    lines += [_pool_line(p) for p in env["blas"]] or ["  none loaded"]
    lines.append("environment: " + (" ".join(f"{k}={val}" for k, val in env["env"].items())
                                    or "no " + "/".join(p + "*" for p in ENV_PREFIXES)
                                    + " variables set"))
    return lines


def _pool_line(pool: dict[str, Any]) -> str:
    # OpenMP pools report no version, kernel set or threading layer: leave those out.
    parts = [pool["internal_api"], pool["version"],
             pool["architecture"] and f"arch={pool['architecture']}",
             f"threads={pool['num_threads']}", pool["threading_layer"], f"({pool['library']})"]
    return "  " + " ".join(str(p) for p in parts if p)
