"""The codes shared by Python and the compiled kernels, declared once.

A code is a position in one of these tuples. ``_kernels.pyx`` mirrors them in a C enum
(it branches on them inside ``nogil`` loops) and compares the two when it is imported:
a mismatch raises ``ImportError`` there, so they cannot drift apart silently
(``tests/test_api_consistency.py`` checks it too). The optimizer's hyper-parameters
travel by name: ``TrainPlan.hyper`` is a dict with exactly the keys in ``HYPER``, which
Cython converts into the kernel's ``Hyper`` struct field by field.
"""

from __future__ import annotations

#: Activation names; ``nncore.backends.activations.code(name)`` is the position here.
ACTIVATIONS: tuple[str, ...] = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax")
#: The fused losses a training plan can run (``Loss.kernel``).
LOSSES: tuple[str, ...] = ("mse", "softmax_xent", "sigmoid_bce", "poisson")
#: The update rules a training plan can run (``Optimizer.plan_state`` names one).
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
#: Fields of the kernel's ``Hyper`` struct (``TrainPlan.hyper`` keys).
HYPER: tuple[str, ...] = ("lr", "momentum", "nesterov", "weight_decay", "beta1", "beta2",
                          "eps", "decoupled")
