"""nncore: fast multilayer perceptrons on the CPU, Cython kernels behind a small API.

>>> import nncore
>>> model = nncore.Sequential([nncore.Dense(64, activation="relu"), nncore.Dense(10)])
"""

from nncore._version import __version__
from nncore.backends import HAS_KERNELS, KernelsMissingWarning, activations, get_ops
from nncore.backends.cython_ops import CythonOps
from nncore.backends.numpy_ops import NumpyOps
from nncore.backends.ops import Ops
from nncore.callbacks import (
    Callback,
    CosineDecay,
    EarlyStopping,
    ExponentialDecay,
    LearningRateSchedule,
    StepDecay,
)
from nncore.data import make_moons, train_test_split
from nncore.gradcheck import check_gradients
from nncore.io import load
from nncore.layers import Dense, Dropout
from nncore.losses import MSE, BinaryCrossEntropy, Loss, PoissonDeviance, SoftmaxCrossEntropy
from nncore.model import Sequential
from nncore.optimizers import LBFGS, SGD, Adam, AdamW, Optimizer
from nncore.plateau import NoImprovementStopping, SklearnSchedule
from nncore.progress import ProgressBar
from nncore.training import DivergenceError, History

__all__ = [
    "HAS_KERNELS",
    "LBFGS",
    "MSE",
    "SGD",
    "Adam",
    "AdamW",
    "BinaryCrossEntropy",
    "Callback",
    "CosineDecay",
    "CythonOps",
    "Dense",
    "DivergenceError",
    "Dropout",
    "EarlyStopping",
    "ExponentialDecay",
    "History",
    "KernelsMissingWarning",
    "LearningRateSchedule",
    "Loss",
    "NoImprovementStopping",
    "NumpyOps",
    "Ops",
    "Optimizer",
    "PoissonDeviance",
    "ProgressBar",
    "Sequential",
    "SklearnSchedule",
    "SoftmaxCrossEntropy",
    "StepDecay",
    "__version__",
    "activations",
    "check_gradients",
    "get_ops",
    "load",
    "make_moons",
    "train_test_split",
]
