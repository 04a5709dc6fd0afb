"""nncore: fast multilayer perceptrons on the CPU, Cython kernels behind a small API."""

from nncore.backend import HAS_KERNELS, get_ops
from nncore.ops import CythonOps, NumpyOps, Ops

__version__ = "0.1.0"

__all__ = ["HAS_KERNELS", "CythonOps", "NumpyOps", "Ops", "__version__", "get_ops"]
