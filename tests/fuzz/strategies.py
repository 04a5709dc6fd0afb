"""What the fuzz tests draw, and how many examples each runs.

``values`` draws arrays of every kind of value; the constants below are the shapes and
scalars the tests draw, ``net_specs`` a network for the plan tests.

Examples
--------
Per test, in the default profile (derandomized, ``max_examples = 100``; other profiles scale
these with their ``max_examples``). Parity tests run once per dtype, the rejection test
once per backend, so each number is per dtype / per backend. ``EXAMPLES`` is the source;
the terminal summary ("tests/fuzz: hypothesis examples run", conftest.py) prints how many
ran.

==================  =====  ====================================  =====
parity test         ci     rejection test                        ci
==================  =====  ====================================  =====
gemm                300    test_rejects_bad_arguments[method]     60
bias_act_forward    200    (each of the 13 methods, per backend)
act_backward        200
col_sum             100
softmax_xent        200
sigmoid_bce         150
poisson             150
mse                 100
sgd_update          150
adam_update         200
mlp_forward         150
train_epoch         150
loss_gradient       100
==================  =====  ====================================  =====
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nncore.backends.activations import NAMES

F32, F64 = np.float32, np.float64
DTYPES = [pytest.param(F32, id="float32"), pytest.param(F64, id="float64")]

#: Examples per test in the default profile (whose max_examples is 100); scaled with the
#: profile's max_examples otherwise. Keys: the parity tests, and "reject".
EXAMPLES: dict[str, int] = {
    "gemm": 300, "bias_act_forward": 200, "act_backward": 200, "col_sum": 100,
    "softmax_xent": 200, "sigmoid_bce": 150, "poisson": 150, "mse": 100, "sgd_update": 150,
    "adam_update": 200, "mlp_forward": 150, "train_epoch": 150,
    "loss_gradient": 100,
    "reject": 60,  # per method and backend
}
#: Examples that really ran, per test id; printed in the terminal summary.
RAN: Counter[str] = Counter()


def budget(name: str) -> settings:
    """The settings of test ``name``: its share of the profile's examples."""
    n = max(1, round(EXAMPLES[name] * settings.default.max_examples / 100))
    return settings(max_examples=n, suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


def _count(name: str, dtype: Any) -> None:
    """One example of parity test ``name`` ran to the end."""
    RAN[f"{name}[{np.dtype(dtype).name}]"] += 1


# ---------------------------------------------------------------- values, shapes and scalars
HUGE = {F32: 1e30, F64: 1e300}
SUBNORMAL_SCALE = {F32: 1e-40, F64: 1e-310}
SPECIALS = (math.nan, math.inf, -math.inf)
DIM = st.integers(0, 64)


def _width(dtype: Any) -> int:
    return 32 if dtype == F32 else 64


@st.composite
def values(draw: Any, dtype: Any, shape: tuple[int, ...], lo: float | None = None,
           hi: float | None = None, specials: tuple[float, ...] = SPECIALS,
           special_odds: int = 4) -> np.ndarray:
    """An array of every kind of value in [lo, hi] (default +-HUGE), sometimes specials.

    Hypothesis' array (a fill value plus scattered elements: zeros, bounds, subnormals,
    "nasty" floats), half the time overlaid with a dense block of normal noise at a
    drawn scale (1, 1e-3, 1e3, subnormal or huge), and with odds 1/special_odds one to
    three NaN / +-inf elements.
    """
    hi = HUGE[dtype] if hi is None else hi
    lo = -hi if lo is None else lo
    lo, hi = float(dtype(lo)), float(dtype(hi))
    elems = st.floats(lo, hi, width=_width(dtype), allow_subnormal=True)
    x = draw(hnp.arrays(dtype, shape, elements=elems))
    if x.size and draw(st.booleans()):
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="noise seed"))
        scale = draw(st.sampled_from([1.0, 1e-3, 1e3, SUBNORMAL_SCALE[dtype], HUGE[dtype]]),
                     label="noise scale")
        dense = rng.standard_normal(shape) * scale
        if lo >= 0:
            dense = np.abs(dense)
        dense = np.clip(dense, lo, hi).astype(dtype)
        keep = rng.random(shape) < draw(st.sampled_from([1.0, 0.9, 0.5]), label="density")
        x = np.where(keep, dense, x).astype(dtype)
    if x.size and specials and draw(st.integers(0, special_odds - 1)) == 0:
        for _ in range(draw(st.integers(1, min(3, x.size)))):
            x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from(specials))
    return x


SCALE_FACTORS = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0, 1e-30, 1e20]),
                          st.floats(-8, 8))
SLOPES = st.one_of(st.sampled_from([0.0, 0.01, 0.2, 1.0]), st.floats(0, 4))

# ---------------------------------------------------------------- optimizer arguments
P_DIM = st.integers(0, 4096)
RATES = st.one_of(st.sampled_from([0.0, 1e-3, 0.1, 1.0]), st.floats(0, 10))
MOMENTA = st.one_of(st.sampled_from([0.0, 0.5, 0.9, 0.99]), st.floats(0, 1))
DECAYS = st.one_of(st.sampled_from([0.0, 1e-4, 0.01]), st.floats(0, 1))
BETAS = st.one_of(st.sampled_from([0.0, 0.5, 0.9, 0.99, 0.999, 0.9999]),
                  st.floats(0, 1, exclude_max=True))


# ---------------------------------------------------------------- networks for the plan tests
WIDTH = st.integers(1, 12)


@st.composite
def net_specs(draw: Any, dtype: Any, max_layers: int = 3) -> dict[str, Any]:
    """Layer sizes, activations, slopes and parameters ``w`` drawn within one range ``hi``."""
    n_layers = draw(st.integers(1, max_layers), label="layers")
    sizes = [draw(WIDTH, label="width") for _ in range(n_layers + 1)]
    acts = [draw(st.sampled_from(NAMES), label="activation") for _ in range(n_layers)]
    slopes = [draw(SLOPES, label="slope") for _ in range(n_layers)]
    p = sum(a * b for a, b in itertools.pairwise(sizes)) + sum(sizes[1:])
    # one range for the parameters and the data: moderate twice as often as huge
    hi = draw(st.sampled_from([4.0, 1e3, 4.0, HUGE[dtype]]), label="value range")
    w = draw(values(dtype, (p,), hi=hi, special_odds=8), label="w")
    return dict(sizes=sizes, acts=acts, slopes=slopes, w=w, hi=hi)
