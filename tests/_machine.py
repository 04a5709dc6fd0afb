"""What this CPU can run: OpenBLAS core types and nncore SIMD levels.

Used by tests/test_blas_portability.py and by ``.ci/run`` (``python tests/_machine.py
coretypes|simd|kernels``: one name a line, or the kernels OpenBLAS runs now), so the CI
matrix and the in-suite check agree on which kernels a machine can be asked for. Forcing
an OpenBLAS core type whose instructions the CPU lacks crashes the process (SIGILL), so
the list is read from the CPU's flags, never assumed.
"""

from __future__ import annotations

import os
import subprocess
import sys

from nncore.cli._environment import cpu_model_and_flags

#: OpenBLAS core types (``OPENBLAS_CORETYPE`` values) and the CPU flags each needs, from
#: the oldest kernels to the newest. Several names may select the same kernels in a
#: given OpenBLAS build (Core2 and Prescott run Katmai's, Zen runs Haswell's here):
#: ``distinct_coretypes`` keeps one name per kernel set actually selected.
CORETYPES: dict[str, tuple[str, ...]] = {
    "Katmai": (),
    "Nehalem": ("sse4_2", "popcnt"),
    "Sandybridge": ("avx",),
    "Haswell": ("avx2", "fma"),
    "Zen": ("avx2", "fma"),
    "SkylakeX": ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"),
    "CooperLake": ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"),
    "SapphireRapids": ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl",
                       "avx512_bf16", "avx512_fp16", "amx_bf16"),
}

#: nncore's vector-math levels (``NNCORE_SIMD``) and the CPU flags each needs.
SIMD_LEVELS: dict[str, tuple[str, ...]] = {
    "generic": (),
    "avx2": ("avx2", "fma"),
    "avx512": ("avx512f", "avx512bw", "avx512dq", "avx512vl"),
}


def cpu_flags() -> set[str]:
    """The flags of the first processor in /proc/cpuinfo (empty where there is none)."""
    return cpu_model_and_flags()[1]


def runnable(table: dict[str, tuple[str, ...]]) -> list[str]:
    """Names in ``table`` whose required flags the CPU has, in table order."""
    flags = cpu_flags()
    return [name for name, need in table.items() if flags.issuperset(need)]


def blas_architectures(coretype: str | None) -> list[str]:
    """The kernel names OpenBLAS reports (NumPy's and SciPy's copies) under ``coretype``.

    Read in a child process with threadpoolctl; ``None`` leaves OPENBLAS_CORETYPE unset.
    """
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype is not None:
        env["OPENBLAS_CORETYPE"] = coretype
    code = ("import numpy, scipy.linalg\nfrom threadpoolctl import threadpool_info\n"
            "print(' '.join(sorted(str(i.get('architecture')) for i in threadpool_info() "
            "if i.get('internal_api') == 'openblas')))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


def distinct_coretypes() -> list[str]:
    """One runnable core type per distinct set of kernels OpenBLAS selects here."""
    seen: set[tuple[str, ...]] = set()
    keep = []
    for name in runnable(CORETYPES):
        arch = tuple(blas_architectures(name))
        if arch not in seen:
            seen.add(arch)
            keep.append(name)
    return keep


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "coretypes":
        print("\n".join(distinct_coretypes()))
    elif what == "simd":
        print("\n".join(runnable(SIMD_LEVELS)))
    elif what == "kernels":  # what OpenBLAS runs under this environment's OPENBLAS_CORETYPE
        print(" ".join(blas_architectures(os.environ.get("OPENBLAS_CORETYPE"))))
    else:
        sys.exit("usage: python tests/_machine.py coretypes|simd|kernels")
