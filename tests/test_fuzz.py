"""Hypothesis fuzzing of every ``Ops`` kernel: ``CythonOps`` against the ``NumpyOps`` reference.

What is checked
---------------
Every public ``Ops`` method is called on both backends with copies of the same drawn
arguments, for float32 and float64: matrices with every dimension in 0..64, flat
parameter buffers of 0..4096, plans with 1..3 layers of width 1..12 on 0..64 rows (up to
six steps of 1..64 rows for ``train_epoch``). Nothing may crash; the return value and
every OUT/INOUT array must agree, and every IN array must be left bit-for-bit untouched.
Where the result is *determined* -- it does not depend on summation order, on which
operand BLAS scales first, or on an undetermined input -- NaN must sit in the same places
and +-inf in the same places with the same sign, and finite values must agree within
the tolerance below. Values (``values``) mix normal numbers, huge ones (up to +-1e30
float32 / +-1e300 float64, also as dense blocks), tiny ones, subnormals and zeros, with
an occasional NaN or +-inf; scalars include 0, tiny and extreme ones.

The rejection test (``test_rejects_bad_arguments``, per backend through the ``ops``
fixture, so it also runs on a pure-Python install) breaks one rule of a valid call -- a
mismatched shape, a mixed or non-float dtype, a non-contiguous or read-only array, the
wrong ndim, a list instead of an array, an output overlapping an input, an out-of-range
scalar, label or sample index -- and requires the NumPy backend's exception, same type
and same message, with every buffer (plan internals included) untouched.

Tolerances
----------
In float64; u = machine epsilon of the dtype, u64 that of float64, s = the dtype's
smallest subnormal, F = its largest finite value, |x| the magnitude of x's finite part.
Both backends may be off, so each rounding counts twice: A = 4 ulp of slack for
arithmetic, T = 8 for exp/tanh/log1p (the float32 kernels use vectorised approximations
with relative error <= 2e-7, NumPy's float32 loops a few ulp). Every tolerance also gets
the floor ``A u |ref| + A s``; sums accumulated in float64 get ``(n + 1) u64 sum |terms|``.

* gemm: ``(k + 4) u M + 2 s max(1,|alpha|) (k + sum_k |a_ik| + sum_k |b_kj| + 1)`` with
  ``M = max(1,|alpha|) sum_k |a_ik||b_kj| + |beta||c_ij|`` (the |A|.|B| bound; the second
  term covers underflow when BLAS folds alpha into an operand); alpha == 0 reads neither
  operand. Determined where ``M < F/2``: no partial sum can overflow, in any order.
* bias_act_forward: ``Z + b`` rounds identically in both. identity, relu, leaky_relu
  ``A u |y|``; sigmoid, tanh ``T u |y|``; softmax ``y_j (u (T + |v_j - max| + D) + (d + 1)
  u64)`` with ``D = max |v_i - max|`` over the row's non-underflowing entries (NumPy
  rounds the float32 differences, the kernel takes them exactly). Always determined.
* act_backward: sigmoid ``A u |dy y (1-y)| + A s (1 + |1-y|)``; tanh ``A u |dy| (1 + y^2)
  + A s (1 + |dy|)``; softmax ``A u |y_j| (|dy_j| + S) + (d + 1) u64 |y_j| S + A s (1 + d
  |y_j|)``, ``S = sum_i |dy_i y_i|``, determined where ``S < F64/2`` and the value is special
  or bounded below F/2; identity, relu, leaky_relu ``A u |dz|``. db: the column sums of
  the dz tolerances plus the float64 sum term, determined where all its terms are.
* col_sum: the float64 sum term; determined where ``sum |x| < F/2``.
* softmax_xent: dlogits ``(p_j (u (T + |z_j - max| + D) + (C + 1) u64) + A u [j = label])
  / n``; loss ``mean_i(u (T + D_i) + (C + 1) u64 + A u64 B_i) + (n + A) u64 mean_i B_i``,
  ``B_i = |max_i| + |z_label| + log C + 1``; determined unless some B_i >= F64/4. Invalid
  labels: the same ValueError on both, dlogits untouched.
* sigmoid_bce: per element ``T u (max(z,0) + 2|z y| + log1p(e^-|z|)) + T s``; the loss is
  their mean plus the sum term, dlogits ``(T u (sigmoid(z) + |y|) + A u) / N``. An element
  with ``max(z,0) + |z y| >= F/2`` (only for y outside [0, 1], drawn 1 time in 5) makes the
  loss undetermined: NumPy's float32 terms overflow, the kernel's double ones do not.
* mse: dpred ``A u |2 r / N|`` (r = pred - y rounds identically), loss the sum term of
  r^2; determined unless that float64 sum can overflow.
* sgd_update: ``A u (|w| + lr (1 + mu) (|g'| + mu |v'|)) + A s (1 + lr)`` with ``g' = g + wd
  w`` on ``w[:n_decay]``, v likewise (``A u |v'|``); elementwise, always determined;
  ``momentum == 0`` leaves v bit-for-bit untouched.
* adam_update: with ``w' = keep w``, ``g' = g + l2 w'``, m', v' and ``den = sqrt(v') +
  eps_t``: ``Tm = A u (b1|m| + (1-b1)|g'|)``, ``Tv = A u (b2|v| + (1-b2) g'^2) + A s``,
  ``Tden = min(Tv / (2 sqrt v'), sqrt Tv) + A u den``, and ``Tw = A u (|w'| + |step|) +
  lr_t (Tm / den + |m'| Tden / den^2)``. Always determined.
* mlp_forward, train_epoch: the NumPy reference is re-run as ``BoundOps``, which carries
  a rigorous error bound and a "status determined" flag for every buffer through NumPy's
  own loop: each kernel's bound is the worst case over its inputs' intervals (|A||dB| +
  |dA||B| + |dA||dB| for GEMM, the activations' local Lipschitz bounds with relu/leaky
  kinks, exp(2 delta) for softmax, ...) plus the kernel's own tolerance above. Tolerance:
  that bound plus the floor; the optimizer step counters must agree exactly.

Examples
--------
Per test, in the default profile (derandomized, ``max_examples = 100``; other profiles scale
these with their ``max_examples``). Parity tests run once per dtype, the rejection test
once per backend, so each number is per dtype / per backend. ``EXAMPLES`` is the source;
the terminal summary ("test_fuzz: hypothesis examples run") prints how many ran.

==================  =====  ====================================  =====
parity test         ci     rejection test                        ci
==================  =====  ====================================  =====
gemm                300    test_rejects_bad_arguments[method]     60
bias_act_forward    200    (each of the 11 methods, per backend)
act_backward        200
col_sum             100
softmax_xent        200
sigmoid_bce         150
mse                 100
sgd_update          150
adam_update         200
mlp_forward         150
train_epoch         150
==================  =====  ====================================  =====
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nncore
from nncore.activations import NAMES
from nncore.numpy_ops import NumpyOps
from nncore.ops import adam_step_size
from nncore.plan import LOSS_KINDS, NetPlan, TrainPlan

F32, F64 = np.float32, np.float64
DTYPES = [pytest.param(F32, id="float32"), pytest.param(F64, id="float64")]
IDENTITY, RELU, LEAKY, SIGMOID, TANH, SOFTMAX = range(6)
assert NAMES[SOFTMAX] == "softmax" and NAMES[LEAKY] == "leaky_relu"

NUMPY = nncore.get_ops("numpy")
REF = NumpyOps()  # the plain kernels BoundOps delegates to
A_ULP, T_ULP = 4, 8  # slack in ulp: arithmetic; exp / tanh / log1p
U64 = float(np.finfo(F64).eps)
F64_MAX = float(np.finfo(F64).max)

# ---------------------------------------------------------------- example budget
#: Examples per test in the default profile (whose max_examples is 100); scaled with the
#: profile's max_examples otherwise. Keys: the parity tests, and "reject".
EXAMPLES: dict[str, int] = {
    "gemm": 300, "bias_act_forward": 200, "act_backward": 200, "col_sum": 100,
    "softmax_xent": 200, "sigmoid_bce": 150, "mse": 100, "sgd_update": 150,
    "adam_update": 200, "mlp_forward": 150, "train_epoch": 150,
    "reject": 60,  # per method and backend
}
#: Examples that really ran, per test id; printed in the terminal summary.
RAN: Counter[str] = Counter()


def budget(name: str) -> settings:
    n = max(1, round(EXAMPLES[name] * settings.default.max_examples / 100))
    return settings(max_examples=n, suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


class _ExampleSummary:
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if RAN:
            terminalreporter.write_sep("-", "test_fuzz: hypothesis examples run")
            for key in sorted(RAN):
                terminalreporter.write_line(f"{key:40s} {RAN[key]:5d}")


@pytest.fixture(scope="module", autouse=True)
def _example_summary(request: pytest.FixtureRequest) -> None:
    manager = request.config.pluginmanager
    if not manager.has_plugin("nncore-fuzz-summary"):
        manager.register(_ExampleSummary(), "nncore-fuzz-summary")


def _count(name: str, dtype: Any) -> None:
    RAN[f"{name}[{np.dtype(dtype).name}]"] += 1


# ---------------------------------------------------------------- strategies
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


# ---------------------------------------------------------------- tolerance helpers
def _eps(dt: Any) -> float:
    return float(np.finfo(dt).eps)


def _sub(dt: Any) -> float:
    return float(np.finfo(dt).smallest_subnormal)


def _fmax(dt: Any) -> float:
    return float(np.finfo(dt).max)


def _mag(x: Any) -> np.ndarray:
    """|x| in float64 with NaN / inf counted as 0 (specials are compared separately)."""
    x = np.asarray(x, F64)
    return np.where(np.isfinite(x), np.abs(x), 0.0)


def _floor(ref: np.ndarray) -> np.ndarray:
    dt = ref.dtype
    return A_ULP * _eps(dt) * _mag(ref) + A_ULP * _sub(dt)


def _sum_det(terms: np.ndarray, det: Any, axis: int | None, dt: Any) -> tuple[Any, Any]:
    """Is the float64-accumulated sum of ``terms`` order-independent? (and sum |terms|)"""
    t = np.asarray(terms, F64)
    mag = _mag(t).sum(axis=axis)
    special = (~np.isfinite(t)).any(axis=axis)
    all_det = np.broadcast_to(det, t.shape).all(axis=axis)
    return all_det & (mag < F64_MAX / 2) & (special | (mag < _fmax(dt) / 2)), mag


# ---------------------------------------------------------------- tolerances per kernel
# Each returns {output name: (tol, det)}; "loss" holds the returned float's.
def tol_gemm(A, B, c0, trans_a, trans_b, alpha, beta, out_ref):
    dt = out_ref.dtype
    a, b = (A.T if trans_a else A), (B.T if trans_b else B)
    k = a.shape[1]
    fa, fb = _mag(a), _mag(b)
    grow = max(1.0, abs(alpha)) if alpha != 0 else 0.0  # alpha == 0: A, B are not read
    with np.errstate(all="ignore"):
        s = fa @ fb if k else np.zeros(out_ref.shape)
        mag = grow * s + (abs(beta) * _mag(c0) if beta != 0 else 0.0)
        under = grow * (k + fa.sum(axis=1)[:, None] + fb.sum(axis=0)[None, :] + 1)
        tol = (k + 4) * _eps(dt) * mag + 2 * _sub(dt) * under + _floor(out_ref)
    return {"out": (tol, mag < _fmax(dt) / 2)}


def tol_bias_act(Z0, b, act, slope, out_ref):
    dt = out_ref.dtype
    u = _eps(dt)
    y = _mag(out_ref)
    with np.errstate(all="ignore"):
        if act in (SIGMOID, TANH):
            tol = T_ULP * u * y
        elif act == SOFTMAX:
            v = np.asarray(Z0 + b, F64)  # rounded in dt, as both backends do
            fin = np.where(np.isfinite(v), v, -np.inf)
            mx = fin.max(axis=1, keepdims=True) if v.size else fin
            diff = np.where(np.isfinite(v) & np.isfinite(mx), np.abs(v - mx), np.inf)
            cap = 110.0 if dt == F32 else 760.0
            live = np.where(diff < cap, diff, 0.0)
            d_row = live.max(axis=1, keepdims=True) if v.size else live
            # + the float64 row sum, accumulated in any order
            tol = y * (u * (T_ULP + np.minimum(diff, cap) + d_row) + (v.shape[1] + 1) * U64)
        else:
            tol = A_ULP * u * y
    return {"out": (tol + _floor(out_ref), True)}


def tol_act_backward(dY0, Y, act, slope, dZ_ref, db_ref):
    dt = dZ_ref.dtype
    u, s = _eps(dt), _sub(dt)
    dy, y = _mag(dY0), _mag(Y)
    det: Any = True
    with np.errstate(all="ignore"):
        if act == SIGMOID:
            tol = A_ULP * u * dy * y * _mag(1 - np.asarray(Y, F64)) + A_ULP * s * (1 + _mag(
                1 - np.asarray(Y, F64)))
        elif act == TANH:
            tol = A_ULP * u * dy * (1 + y * y) + A_ULP * s * (1 + dy)
        elif act == SOFTMAX:
            prod = np.asarray(dY0 * Y, F64)  # rounded in dt, as both backends do
            srow = _mag(prod).sum(axis=1, keepdims=True)
            special = (~np.isfinite(prod)).any(axis=1, keepdims=True)
            bound = np.where(np.isfinite(dY0) & np.isfinite(Y), y * (dy + srow), np.inf)
            det = (srow < F64_MAX / 2) & (special | (bound < _fmax(dt) / 2))
            # the float64 sum s of d products, in any order: (d + 1) u64 S, times |y|
            tol = (A_ULP * u * bound + (Y.shape[1] + 1) * U64 * y * srow
                   + A_ULP * s * (1 + Y.shape[1] * y))
        else:
            tol = np.zeros(dZ_ref.shape)
        tol = tol + _floor(dZ_ref)
        out = {"dZ": (tol, det)}
        if db_ref is not None:
            det_db, mag = _sum_det(dZ_ref, det, 0, dt)
            n = dZ_ref.shape[0]
            tol_db = tol.sum(axis=0) + (n + 1) * U64 * mag + _floor(db_ref)
            out["db"] = (tol_db, det_db)
    return out


def tol_col_sum(X, out_ref):
    dt = out_ref.dtype
    det, mag = _sum_det(X, True, 0, dt)
    return {"out": ((X.shape[0] + 1) * U64 * mag + _floor(out_ref), det)}


def tol_softmax_xent(logits0, labels, dl_ref, loss_ref):
    dt = dl_ref.dtype
    u = _eps(dt)
    n, c = logits0.shape
    if n == 0:
        return {"dlogits": (np.zeros((0, c)), True), "loss": (0.0, True)}
    z = np.asarray(logits0, F64)
    rows = np.arange(n)
    with np.errstate(all="ignore"):
        fin = np.isfinite(z)
        mx = np.where(fin, z, -np.inf).max(axis=1, keepdims=True)
        diff = np.where(fin & np.isfinite(mx), np.abs(z - mx), np.inf)
        cap = 110.0 if dt == F32 else 760.0
        d_row = np.where(diff < cap, diff, 0.0).max(axis=1, keepdims=True)
        e = np.where(diff < cap, np.exp(-np.where(diff < cap, diff, 0.0)), 0.0)
        p = e / np.maximum(e.sum(axis=1, keepdims=True), 1.0)
        onehot = np.zeros_like(z)
        onehot[rows, labels] = 1.0
        sum_err = (c + 1) * U64  # relative, the float64 row sum in any order
        tol_dl = (p * (u * (T_ULP + np.minimum(diff, cap) + d_row) + sum_err)
                  + A_ULP * u * onehot) / n
        zl = z[rows, labels]
        bound = _mag(mx[:, 0]) + _mag(zl) + math.log(max(c, 1)) + 1
        tol_row = u * (T_ULP + d_row[:, 0]) + sum_err + A_ULP * U64 * bound
        det_loss = bool((bound < F64_MAX / 4).all())
        # each row's term, then their float64 sum (any order)
        tol_loss = float(tol_row.mean()) + (n + A_ULP) * U64 * float(bound.mean())
    return {"dlogits": (tol_dl + _floor(dl_ref), True), "loss": (tol_loss, det_loss)}


def tol_sigmoid_bce(logits, y, dl_ref, loss_ref):
    dt = dl_ref.dtype
    u, s = _eps(dt), _sub(dt)
    size = logits.size
    if size == 0:
        return {"dlogits": (np.zeros(logits.shape), True), "loss": (0.0, True)}
    z, t = _mag(logits), _mag(y)
    with np.errstate(all="ignore"):
        pos = np.where(np.asarray(logits, F64) > 0, z, 0.0)
        e = np.exp(-z)
        sig = np.where(np.asarray(logits, F64) >= 0, 1.0, e) / (1 + e)
        big = pos + z * t
        elem = T_ULP * u * (pos + 2 * z * t + np.log1p(e)) + T_ULP * s
        fin_in = np.isfinite(logits) & np.isfinite(y)
        det_elem = ~fin_in | (big < _fmax(dt) / 2)
        det_loss, _ = _sum_det(np.where(fin_in, big + 1, np.inf), det_elem, None, dt)
        tol_loss = float(elem.sum() / size) + (size + A_ULP) * U64 * (float(big.sum()) / size + 1)
        tol_dl = (T_ULP * u * (sig + t) + A_ULP * u) / size
    return {"dlogits": (tol_dl + _floor(dl_ref), True), "loss": (tol_loss, bool(det_loss))}


def tol_mse(pred, y, dp_ref, loss_ref):
    dt = dp_ref.dtype
    size = pred.size
    if size == 0:
        return {"dpred": (np.zeros(pred.shape), True), "loss": (0.0, True)}
    with np.errstate(all="ignore"):
        r = np.asarray(pred - y, F64)  # rounded in dt, as both backends do
        sq = r * r
        det_loss, mag = _sum_det(sq, True, None, F64)
        tol_loss = (size + A_ULP) * U64 * float(mag) / size
    return {"dpred": (_floor(dp_ref) + A_ULP * _eps(dt) * _mag(2 * r / size), True),
            "loss": (tol_loss, bool(det_loss))}


def _decay_mask(p: int, n_decay: int) -> np.ndarray:
    return np.arange(p) < n_decay


def tol_sgd(w0, g, v0, lr, mu, nesterov, wd, n_decay, w_ref, v_ref):
    dt = w_ref.dtype
    u, s = _eps(dt), _sub(dt)
    wd_i = np.where(_decay_mask(w0.size, n_decay), wd, 0.0)
    with np.errstate(all="ignore"):
        gp = _mag(g) + wd_i * _mag(w0)
        vm = mu * _mag(v0) + gp
        tol_w = A_ULP * u * (_mag(w0) + lr * (1 + mu) * (gp + mu * vm)) + A_ULP * s * (1 + lr)
        tol_v = A_ULP * u * vm + A_ULP * s
    return {"w": (tol_w + _floor(w_ref), True), "v": (tol_v + _floor(v_ref), True)}


def tol_adam(w0, g, m0, v0, lr_t, b1, b2, eps_t, l2, decay, n_decay, w_ref, m_ref, v_ref):
    dt = w_ref.dtype
    u, s = _eps(dt), _sub(dt)
    head = _decay_mask(w0.size, n_decay)
    with np.errstate(all="ignore"):
        wk = _mag(w0) * np.where(head, abs(1 - decay), 1.0)
        gp = _mag(g) + np.where(head, l2, 0.0) * wk
        mm = b1 * _mag(m0) + (1 - b1) * gp
        vv = b2 * _mag(v0) + (1 - b2) * gp * gp
        t_m = A_ULP * u * mm + A_ULP * s
        t_v = A_ULP * u * vv + A_ULP * s
        root = np.sqrt(_mag(v_ref))
        den = root + eps_t
        t_den = np.minimum(np.where(root > 0, t_v / (2 * root), np.inf), np.sqrt(t_v))
        t_den = t_den + A_ULP * u * den
        step = lr_t * _mag(m_ref) / den
        moved = lr_t * (t_m / den + _mag(m_ref) * t_den / den**2) if lr_t else 0.0
        tol_w = A_ULP * u * (wk + step) + moved + A_ULP * s
    return {"w": (tol_w + _floor(w_ref), True), "m": (t_m + _floor(m_ref), True),
            "v": (t_v + _floor(v_ref), True)}


# ---------------------------------------------------------------- comparison
def _status(x: np.ndarray) -> np.ndarray:
    """0 finite, 1 NaN, 2 +inf, 3 -inf."""
    x = np.asarray(x, F64)
    return np.select([np.isnan(x), x == np.inf, x == -np.inf], [1, 2, 3], 0)


def check(label: str, got: Any, ref: Any, tol: Any, det: Any = True) -> None:
    """``got`` (Cython) against ``ref`` (NumPy): specials where determined, then values."""
    got_a, ref_a = np.asarray(got), np.asarray(ref)
    assert got_a.shape == ref_a.shape, f"{label}: shape {got_a.shape} != {ref_a.shape}"
    assert got_a.dtype == ref_a.dtype, f"{label}: dtype {got_a.dtype} != {ref_a.dtype}"
    g, r = got_a.astype(F64), ref_a.astype(F64)
    det = np.broadcast_to(np.asarray(det, bool), g.shape)
    # A NaN tolerance can only come from inf * 0 in an overflowed magnitude: unbounded.
    tol = np.broadcast_to(np.nan_to_num(np.asarray(tol, F64), nan=np.inf), g.shape)
    with np.errstate(all="ignore"):
        status_bad = det & (_status(g) != _status(r))
        both = det & np.isfinite(g) & np.isfinite(r)
        value_bad = both & ~(np.abs(g - r) <= tol)
    bad = status_bad | value_bad
    if bad.any():
        idx = np.argwhere(bad)[:6] if g.ndim else [()]
        lines = [f"  at {tuple(int(i) for i in ix)}: cython={g[tuple(ix)]!r} "
                 f"numpy={r[tuple(ix)]!r} tol={tol[tuple(ix)]:.3g}" for ix in idx]
        raise AssertionError(
            f"{label}: {int(bad.sum())} of {bad.size} determined elements disagree "
            f"({int(status_bad.sum())} in NaN/inf placement)\n" + "\n".join(lines))


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _copy_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Copies of the array arguments, keeping arguments that are the same array shared."""
    memo: dict[int, np.ndarray] = {}
    out = {}
    for key, x in kwargs.items():
        if isinstance(x, np.ndarray):
            out[key] = memo.setdefault(id(x), x.copy())
        else:
            out[key] = x
    return out


def _call(ops: nncore.Ops, method: str, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    args = _copy_args(kwargs)
    try:
        with np.errstate(all="ignore"):
            return getattr(ops, method)(**args), args
    except (TypeError, ValueError) as exc:
        return exc, args


def run_both(method: str, kwargs: dict[str, Any], ins: tuple[str, ...]):
    """Both backends on copies of ``kwargs``; checks IN arrays and raised errors.

    Returns ``(ret_numpy, args_numpy, ret_cython, args_cython)``, or None when both
    raised (the same exception, nothing written).
    """
    ret_n, args_n = _call(NUMPY, method, kwargs)
    ret_c, args_c = _call(nncore.get_ops("cython"), method, kwargs)
    raised = isinstance(ret_n, Exception), isinstance(ret_c, Exception)
    if any(raised):
        assert raised == (True, True), f"{method}: numpy -> {ret_n!r}, cython -> {ret_c!r}"
        assert type(ret_c) is type(ret_n) and str(ret_c) == str(ret_n), (ret_c, ret_n)
        for args in (args_n, args_c):
            for key, x in kwargs.items():
                if isinstance(x, np.ndarray):
                    assert _same_bits(args[key], x), f"{method}: failed call wrote '{key}'"
        return None
    for key in ins:
        for name, args in (("numpy", args_n), ("cython", args_c)):
            assert _same_bits(args[key], kwargs[key]), f"{method}: {name} modified IN '{key}'"
    return ret_n, args_n, ret_c, args_c


def check_all(method: str, tols: dict[str, tuple[Any, Any]], res) -> None:
    ret_n, args_n, ret_c, args_c = res
    for name, (tol, det) in tols.items():
        if name == "loss":
            assert isinstance(ret_c, float) and isinstance(ret_n, float), (ret_c, ret_n)
            check(f"{method}: return value", ret_c, ret_n, tol, det)
        else:
            check(f"{method}: array '{name}'", args_c[name], args_n[name], tol, det)
    if "loss" not in tols:
        assert ret_n is None and ret_c is None


# ================================================================ parity: per-op kernels


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("gemm")
@given(data=st.data())
def test_gemm(dtype, data):
    m, k, n = data.draw(DIM, label="m"), data.draw(DIM, label="k"), data.draw(DIM, label="n")
    ta, tb = data.draw(st.booleans(), label="trans_a"), data.draw(st.booleans(), label="trans_b")
    A = data.draw(values(dtype, (k, m) if ta else (m, k)), label="A")
    B = data.draw(values(dtype, (n, k) if tb else (k, n)), label="B")
    out = data.draw(values(dtype, (m, n)), label="out")
    alpha, beta = data.draw(SCALE_FACTORS, label="alpha"), data.draw(SCALE_FACTORS, label="beta")
    kw = dict(A=A, B=B, out=out, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta)
    res = run_both("gemm", kw, ins=("A", "B"))
    assert res is not None
    check_all("gemm", tol_gemm(A, B, out, ta, tb, alpha, beta, res[1]["out"]), res)
    _count("gemm", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("bias_act_forward")
@given(data=st.data())
def test_bias_act_forward(dtype, data):
    n, d = data.draw(DIM, label="n"), data.draw(DIM, label="d")
    act = data.draw(st.sampled_from(NAMES), label="activation")
    in_place = data.draw(st.booleans(), label="in_place")
    Z = data.draw(values(dtype, (n, d)), label="Z")
    b = data.draw(values(dtype, (d,)), label="b")
    slope = data.draw(SLOPES, label="negative_slope")
    out = Z if in_place else np.full((n, d), np.nan, dtype)
    kw = dict(Z=Z, b=b, activation=act, out=out, negative_slope=slope)
    res = run_both("bias_act_forward", kw, ins=("b",) if in_place else ("Z", "b"))
    assert res is not None
    check_all("bias_act_forward", tol_bias_act(Z, b, NAMES.index(act), slope, res[1]["out"]),
              res)
    _count("bias_act_forward", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("act_backward")
@given(data=st.data())
def test_act_backward(dtype, data):
    n, d = data.draw(DIM, label="n"), data.draw(DIM, label="d")
    act = data.draw(st.sampled_from(NAMES), label="activation")
    with_db, in_place = data.draw(st.booleans(), label="with_db"), data.draw(st.booleans())
    dY = data.draw(values(dtype, (n, d)), label="dY")
    # Y: a real activation output half the time, anything otherwise
    if data.draw(st.booleans(), label="Y from the forward pass"):
        Y = np.empty((n, d), dtype)
        with np.errstate(all="ignore"):
            NUMPY.bias_act_forward(data.draw(values(dtype, (n, d)), label="Z"),
                                   np.zeros(d, dtype), act, Y, 0.1)
    else:
        Y = data.draw(values(dtype, (n, d)), label="Y")
    slope = data.draw(SLOPES, label="negative_slope")
    dZ = dY if in_place else np.full((n, d), np.nan, dtype)
    kw = dict(dY=dY, Y=Y, activation=act, dZ=dZ, negative_slope=slope)
    if with_db:
        kw["db"] = np.full(d, np.nan, dtype)
    res = run_both("act_backward", kw, ins=("Y",) if in_place else ("dY", "Y"))
    assert res is not None
    tols = tol_act_backward(dY, Y, NAMES.index(act), slope, res[1]["dZ"],
                            res[1]["db"] if with_db else None)
    check_all("act_backward", tols, res)
    _count("act_backward", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("col_sum")
@given(data=st.data())
def test_col_sum(dtype, data):
    n, d = data.draw(DIM, label="n"), data.draw(DIM, label="d")
    X = data.draw(values(dtype, (n, d)), label="X")
    kw = dict(X=X, out=np.full(d, np.nan, dtype))
    res = run_both("col_sum", kw, ins=("X",))
    assert res is not None
    check_all("col_sum", tol_col_sum(X, res[1]["out"]), res)
    _count("col_sum", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("softmax_xent")
@given(data=st.data())
def test_softmax_xent(dtype, data):
    n, c = data.draw(DIM, label="n"), data.draw(DIM, label="C")
    logits = data.draw(values(dtype, (n, c)), label="logits")
    in_place = data.draw(st.booleans(), label="in_place")
    valid = st.integers(0, c - 1) if c else st.nothing()
    if c == 0 or data.draw(st.integers(0, 7), label="invalid labels?") == 0:
        label_st = st.one_of(valid, st.integers(-3, -1), st.integers(c, c + 3),
                             st.sampled_from([-(2**63), 2**63 - 1]))
    else:
        label_st = valid
    labels = np.array(data.draw(st.lists(label_st, min_size=n, max_size=n), label="labels"),
                      np.int64).reshape(n)
    dlogits = logits if in_place else np.full((n, c), np.nan, dtype)
    kw = dict(logits=logits, labels=labels, dlogits=dlogits)
    bad = bool(((labels < 0) | (labels >= c)).any())
    res = run_both("softmax_xent", kw, ins=("labels",) if in_place else ("logits", "labels"))
    if bad:
        assert res is None, "invalid labels were accepted"
        event("invalid labels: same ValueError")
    else:
        assert res is not None
        check_all("softmax_xent",
                  tol_softmax_xent(logits, labels, res[1]["dlogits"], res[0]), res)
    _count("softmax_xent", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("sigmoid_bce")
@given(data=st.data())
def test_sigmoid_bce(dtype, data):
    n, k = data.draw(DIM, label="n"), data.draw(DIM, label="k")
    logits = data.draw(values(dtype, (n, k)), label="logits")
    if data.draw(st.integers(0, 4), label="y outside [0, 1]?") == 0:
        y = data.draw(values(dtype, (n, k)), label="y")
    else:
        y = data.draw(values(dtype, (n, k), lo=0.0, hi=1.0, specials=(math.nan,),
                             special_odds=8), label="y")
    in_place = data.draw(st.booleans(), label="in_place")
    dl = logits if in_place else np.full((n, k), np.nan, dtype)
    kw = dict(logits=logits, y=y, dlogits=dl)
    res = run_both("sigmoid_bce", kw, ins=("y",) if in_place else ("logits", "y"))
    assert res is not None
    check_all("sigmoid_bce", tol_sigmoid_bce(logits, y, res[1]["dlogits"], res[0]), res)
    _count("sigmoid_bce", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("mse")
@given(data=st.data())
def test_mse(dtype, data):
    n, k = data.draw(DIM, label="n"), data.draw(DIM, label="k")
    pred, y = data.draw(values(dtype, (n, k)), label="pred"), data.draw(values(dtype, (n, k)),
                                                                         label="y")
    in_place = data.draw(st.booleans(), label="in_place")
    dp = pred if in_place else np.full((n, k), np.nan, dtype)
    kw = dict(pred=pred, y=y, dpred=dp)
    res = run_both("mse", kw, ins=("y",) if in_place else ("pred", "y"))
    assert res is not None
    check_all("mse", tol_mse(pred, y, res[1]["dpred"], res[0]), res)
    _count("mse", dtype)


P_DIM = st.integers(0, 4096)
RATES = st.one_of(st.sampled_from([0.0, 1e-3, 0.1, 1.0]), st.floats(0, 10))
MOMENTA = st.one_of(st.sampled_from([0.0, 0.5, 0.9, 0.99]), st.floats(0, 1))
DECAYS = st.one_of(st.sampled_from([0.0, 1e-4, 0.01]), st.floats(0, 1))
BETAS = st.one_of(st.sampled_from([0.0, 0.5, 0.9, 0.99, 0.999, 0.9999]),
                  st.floats(0, 1, exclude_max=True))


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("sgd_update")
@given(data=st.data())
def test_sgd_update(dtype, data):
    p = data.draw(P_DIM, label="p")
    w, g, v = (data.draw(values(dtype, (p,)), label=name) for name in "wgv")
    lr, mu = data.draw(RATES, label="lr"), data.draw(MOMENTA, label="momentum")
    nesterov = mu > 0 and data.draw(st.booleans(), label="nesterov")
    wd = data.draw(DECAYS, label="weight_decay")
    n_decay = data.draw(st.one_of(st.none(), st.integers(0, p)), label="n_decay")
    kw = dict(w=w, g=g, v=v, lr=lr, momentum=mu, nesterov=nesterov, weight_decay=wd,
              n_decay=n_decay)
    res = run_both("sgd_update", kw, ins=("g",))
    assert res is not None
    nd = p if n_decay is None else n_decay
    args_n, args_c = res[1], res[3]
    if mu == 0:
        assert _same_bits(args_n["v"], v) and _same_bits(args_c["v"], v), "v was written"
    check_all("sgd_update", tol_sgd(w, g, v, lr, mu, nesterov, wd, nd, args_n["w"],
                                    args_n["v"]), res)
    _count("sgd_update", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("adam_update")
@given(data=st.data())
def test_adam_update(dtype, data):
    p = data.draw(P_DIM, label="p")
    w, g, m = (data.draw(values(dtype, (p,)), label=name) for name in "wgm")
    v = data.draw(values(dtype, (p,), lo=0.0, specials=(math.nan, math.inf)), label="v")
    lr = data.draw(RATES, label="lr")
    b1, b2 = data.draw(BETAS, label="beta1"), data.draw(BETAS, label="beta2")
    eps = data.draw(st.one_of(st.sampled_from([1e-8, 1e-12, 1e-3]), st.floats(1e-30, 1)),
                    label="eps")
    t = data.draw(st.one_of(st.sampled_from([1, 2, 10]), st.integers(1, 10**6)), label="t")
    wd = data.draw(DECAYS, label="weight_decay")
    decoupled = data.draw(st.booleans(), label="decoupled")
    n_decay = data.draw(st.one_of(st.none(), st.integers(0, p)), label="n_decay")
    kw = dict(w=w, g=g, m=m, v=v, lr=lr, beta1=b1, beta2=b2, eps=eps, t=t, weight_decay=wd,
              decoupled=decoupled, n_decay=n_decay)
    res = run_both("adam_update", kw, ins=("g",))
    assert res is not None
    lr_t, eps_t = adam_step_size(lr, b1, b2, eps, t)
    l2, decay = (0.0, lr * wd) if decoupled else (wd, 0.0)
    nd = p if n_decay is None else n_decay
    a = res[1]
    check_all("adam_update", tol_adam(w, g, m, v, lr_t, b1, b2, eps_t, l2, decay, nd, a["w"],
                                      a["m"], a["v"]), res)
    _count("adam_update", dtype)


# ================================================================ parity: plans
def _settle(out: Any, err: Any, det_in: Any, kernel_det: Any, nan_src: Any,
            exact_in: Any) -> tuple[np.ndarray, np.ndarray]:
    """Error bound and "status determined" mask of one kernel output (see BoundOps)."""
    o = np.asarray(out, F64)
    dt = np.asarray(out).dtype
    err = np.nan_to_num(np.broadcast_to(np.asarray(err, F64), o.shape), nan=np.inf)
    fin = np.isfinite(o)
    with np.errstate(all="ignore"):
        rule = np.where(fin, np.where(fin, np.abs(o), 0.0) + err < _fmax(dt) / 2,
                        np.where(np.isnan(o), nan_src | exact_in, exact_in))
    det = np.broadcast_to(det_in & kernel_det & rule, o.shape)
    return np.where(det, err, np.inf), det


def _act_prop(act: int, v: np.ndarray, err_v: np.ndarray, y: np.ndarray,
              slope: float) -> np.ndarray:
    """max |act(v') - act(v)| over |v' - v| <= err_v (y = act(v), the reference's)."""
    if act == IDENTITY:
        return err_v
    if act in (RELU, LEAKY):  # exactly 0 (relu) where v is certainly negative
        below = np.asarray(v, F64) < -err_v
        return np.where(below, slope * err_v if act == LEAKY else 0.0,
                        max(1.0, slope) * err_v)
    dt = y.dtype
    with np.errstate(all="ignore"):
        m = np.maximum(_mag(v) - err_v, 0.0)  # the steepest point within reach
        if act == SIGMOID:
            e = np.exp(-m)
            return np.minimum(1.0, err_v * e / (1 + e) ** 2)
        if act == TANH:
            e = np.exp(-2 * m)
            return np.minimum(2.0, err_v * 4 * e / (1 + e) ** 2)
        delta = err_v.max(axis=1, keepdims=True) if err_v.size else err_v
        # p' / p lies in [exp(-2 delta), exp(2 delta)]
        p = _mag(y) * (1 + T_ULP * _eps(dt)) + _sub(dt)
        return np.minimum(1.0, p * np.expm1(2 * delta))


def _act_back_prop(act: int, dy: np.ndarray, y: np.ndarray, e_dy: np.ndarray,
                   e_y: np.ndarray, slope: float) -> np.ndarray:
    """Bound on |dz' - dz| when dy, y are off by at most e_dy, e_y."""
    ady, ay, yv = _mag(dy), _mag(y), np.asarray(y, F64)
    with np.errstate(all="ignore"):
        if act == IDENTITY:
            return e_dy
        if act in (RELU, LEAKY):
            # the derivative is certain unless y is within reach of the kink at 0
            certain = (np.abs(yv) > e_y) | (e_y == 0) | np.isnan(yv)
            d = np.where(yv > 0, 1.0, slope if act == LEAKY else 0.0)
            jump = abs(1 - slope) if act == LEAKY else 1.0
            return np.where(certain, d * e_dy, jump * ady + max(1.0, d.max(initial=1.0)) * e_dy)
        if act == SIGMOID:
            f = _mag(yv * (1 - yv))
            return f * e_dy + (ady + e_dy) * (_mag(1 - 2 * yv) * e_y + e_y * e_y)
        if act == TANH:
            f = _mag(1 - yv * yv)
            return f * e_dy + (ady + e_dy) * (2 * ay * e_y + e_y * e_y)
        s = (np.asarray(dy, F64) * yv).sum(axis=1, keepdims=True)
        e_s = (e_dy * ay + ady * e_y + e_dy * e_y).sum(axis=1, keepdims=True)
        return e_y * _mag(np.asarray(dy, F64) - s) + (ay + e_y) * (e_dy + e_s)


def _rows(mask: np.ndarray, how: str) -> np.ndarray:
    """Per-row any/all, kept 2-D for broadcasting over a row."""
    return getattr(mask, how)(axis=1, keepdims=True) if mask.size else mask


class BoundOps(NumpyOps):
    """The NumPy reference, run with a rigorous error bound for every value it produces.

    Every buffer an Ops call touches gets a shadow: ``E`` (float64), a bound on how far
    the other backend's value can be from this one, and ``D`` (bool), whether that
    value's status -- NaN, +inf, -inf or finite -- is determined. The inputs start exact
    (E = 0, D = True). Each kernel hook computes the reference result with the plain
    NumPy kernel, then bounds the worst case over its inputs' intervals (Lipschitz /
    interval bounds, kinks of relu and leaky_relu included) plus the kernel's own
    rounding tolerance (``tol_*``). A status is determined where the kernel's is
    (``det``), every contributing input's is, and: a finite value's bound stays below
    F/2; a NaN comes from a determined NaN input (NaN is absorbing) or from exact
    inputs; an inf from exact inputs. Undetermined values get E = inf. The training
    loop itself is NumPy's (``NumpyOps._train_epoch``), so the values are the reference's.
    """

    name = "numpy-bounds"

    def __init__(self, net: NetPlan | None = None) -> None:
        self._shadow: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.net = net
        self.loss_err, self.loss_det, self.loss_mag = 0.0, True, 0.0

    def err(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (E, D) shadow views of ``x`` (a view of a buffer is shadowed as a view)."""
        root = x
        while isinstance(root.base, np.ndarray):
            root = root.base
        if id(root) not in self._shadow:
            size = root.nbytes // x.itemsize
            self._shadow[id(root)] = (root, np.zeros(size), np.ones(size, bool))
        _, e, d = self._shadow[id(root)]
        at = (x.__array_interface__["data"][0] - root.__array_interface__["data"][0])
        off, steps = at // x.itemsize, [s // x.itemsize for s in x.strides]
        ev = np.lib.stride_tricks.as_strided(e[off:], x.shape, [s * 8 for s in steps])
        dv = np.lib.stride_tricks.as_strided(d[off:], x.shape, steps)
        return ev, dv

    def _store(self, x: np.ndarray, err: np.ndarray, det: np.ndarray) -> None:
        ev, dv = self.err(x)
        ev[...], dv[...] = err, det

    def _elementwise(self, out, err, kernel_det, *ins):
        """Settle an output whose element (i, ...) depends on element (i, ...) of ``ins``."""
        det_in, nan_src, exact = True, False, True
        for x in ins:
            ex, dx = self.err(x)
            det_in = det_in & dx
            nan_src = nan_src | (np.isnan(x) & dx)
            exact = exact & (ex == 0)
        return _settle(out, err, det_in, kernel_det, nan_src, exact)

    # ---- kernels
    def _gemm(self, A, B, out, trans_a, trans_b, alpha, beta):
        (eA, dA), (eB, dB) = self.err(A), self.err(B)
        eC, dC = (x.copy() for x in self.err(out))
        c0 = out.copy()
        if self.net is not None and beta != 0:  # the fused SGD step: the bias follows
            self._fused_bias(out, B, -alpha)
        REF._gemm(A, B, out, trans_a, trans_b, alpha, beta)
        a, b = (A.T, eA.T, dA.T) if trans_a else (A, eA, dA), (B.T, eB.T, dB.T) if trans_b \
            else (B, eB, dB)
        (a, ea, da), (b, eb, db) = a, b
        with np.errstate(all="ignore"):
            ma, mb = _mag(a), _mag(b)
            prop = abs(alpha) * (ea @ mb + ma @ eb + ea @ eb) if a.shape[1] else 0.0
            tol, kdet = tol_gemm(ma + ea, mb + eb, _mag(c0) + eC, False, False, alpha, beta,
                                 out)["out"]
            det_in = da.all(axis=1)[:, None] & db.all(axis=0)[None, :]
            nan_src = ((np.isnan(a) & da).any(axis=1)[:, None]
                       | (np.isnan(b) & db).any(axis=0)[None, :])
            exact = (ea == 0).all(axis=1)[:, None] & (eb == 0).all(axis=0)[None, :]
            if alpha == 0:  # as BLAS, neither operand is read
                det_in, nan_src, exact = True, False, True
            if beta != 0:
                prop = prop + abs(beta) * eC
                det_in = det_in & dC
                nan_src = nan_src | (np.isnan(c0) & dC)
                exact = exact & (eC == 0)
        self._store(out, *_settle(out, prop + tol, det_in, kdet, nan_src, exact))

    def _fused_bias(self, W, D, lr):
        """b -= lr * colsum(D), done inline by NumpyOps._train_epoch after this GEMM."""
        at = W.__array_interface__["data"][0]
        b = next(b for w_view, b in self.net.views(self.net.w)
                 if w_view.__array_interface__["data"][0] == at)
        eD, dD = self.err(D)
        eb, db_ = self.err(b)
        col = D.sum(axis=0, dtype=F64)
        new = b - (lr * col).astype(b.dtype)
        with np.errstate(all="ignore"):
            err = eb + lr * eD.sum(axis=0) + A_ULP * _eps(b.dtype) * (_mag(b) + lr * _mag(col))
            err = err + (D.shape[0] + 1) * U64 * lr * _mag(D).sum(axis=0) + A_ULP * _sub(b.dtype)
        det_in = db_ & dD.all(axis=0)
        nan_src = (np.isnan(b) & db_) | (np.isnan(D) & dD).any(axis=0)
        exact = (eb == 0) & (eD == 0).all(axis=0)
        err, det = _settle(new, err, det_in, True, nan_src, exact)
        eb[...], db_[...] = err, det

    def _bias_act_forward(self, Z, b, act, out, slope):
        eZ, dZ = (x.copy() for x in self.err(Z))
        eb, db = self.err(b)
        z0 = Z.copy()
        REF._bias_act_forward(Z, b, act, out, slope)
        with np.errstate(all="ignore"):
            v = z0 + b
            ev = eZ + eb + _eps(out.dtype) * (_mag(v) + eZ + eb)
            # identity and relu round nothing beyond Z + b (already in ev)
            own = 0.0 if act in (IDENTITY, RELU) else tol_bias_act(z0, b, act, slope, out)[
                "out"][0]
            err = _act_prop(act, v, ev, out, slope) + own
            det_in, exact = dZ & db, (eZ == 0) & (eb == 0)
            nan_src = (np.isnan(z0) & dZ) | (np.isnan(b) & db)
            if act == SOFTMAX:
                det_in, exact = _rows(det_in, "all"), _rows(exact, "all")
                nan_src = _rows(nan_src, "any")
        self._store(out, *_settle(out, err, det_in, True, nan_src, exact))

    def _act_backward(self, dY, Y, act, dZ, db, slope):
        e_dy, d_dy = (x.copy() for x in self.err(dY))
        e_y, d_y = self.err(Y)
        dy0 = dY.copy()
        REF._act_backward(dY, Y, act, dZ, db, slope)
        tols = tol_act_backward(dy0, Y, act, slope, dZ, db)
        with np.errstate(all="ignore"):
            err = _act_back_prop(act, dy0, Y, e_dy, e_y, slope) + tols["dZ"][0]
            det_in, exact = d_dy & d_y, (e_dy == 0) & (e_y == 0)
            nan_src = (np.isnan(dy0) & d_dy) | (np.isnan(Y) & d_y)
            if act == SOFTMAX:
                det_in, exact = _rows(det_in, "all"), _rows(exact, "all")
                nan_src = _rows(nan_src, "any")
        e_dz, d_dz = _settle(dZ, err, det_in, tols["dZ"][1], nan_src, exact)
        self._store(dZ, e_dz, d_dz)
        if db is not None:
            with np.errstate(all="ignore"):
                e_db = e_dz.sum(axis=0) + tols["db"][0]
            self._store(db, *_settle(db, e_db, d_dz.all(axis=0), tols["db"][1],
                                     (np.isnan(dZ) & d_dz).any(axis=0), False))

    def _loss_common(self, dz, err_dz, err_loss, tols, det_rows, nan_rows, exact_rows, loss):
        """Settle a loss gradient and accumulate the loss's bound (weighted by rows)."""
        name = next(k for k in tols if k != "loss")
        self._store(dz, *_settle(dz, err_dz + tols[name][0], det_rows, tols[name][1],
                                 nan_rows, exact_rows))
        rows = dz.shape[0]
        e_loss, d_loss = _settle(np.float64(loss), err_loss + tols["loss"][0],
                                 bool(np.all(det_rows)), tols["loss"][1],
                                 bool(np.any(nan_rows)), bool(np.all(exact_rows)))
        self.loss_err += float(e_loss) * rows
        self.loss_det = self.loss_det and bool(d_loss)
        self.loss_mag += abs(loss) * rows if math.isfinite(loss) else 0.0
        return loss

    def _softmax_xent(self, logits, labels, dlogits):
        e_z, d_z = (x.copy() for x in self.err(logits))
        z0 = logits.copy()
        loss = REF._softmax_xent(logits, labels, dlogits)
        n = z0.shape[0]
        with np.errstate(all="ignore"):
            delta = _rows(e_z, "max") if n else e_z
            p = _mag(np.asarray(dlogits, F64) * n)  # |p - onehot|, near enough for a bound
            p = np.minimum(p, 1.0)
            e_p = np.minimum(1.0, (p * (1 + T_ULP * _eps(z0.dtype)) + _sub(z0.dtype)
                                   + (labels[:, None] == np.arange(z0.shape[1])))
                             * np.expm1(2 * delta))
            err_dz = e_p / max(n, 1)
            err_loss = float((2 * delta).mean()) if n else 0.0
        tols = tol_softmax_xent(z0, labels, dlogits, loss)
        return self._loss_common(dlogits, err_dz, err_loss, tols, _rows(d_z, "all"),
                                 _rows(np.isnan(z0) & d_z, "any"), _rows(e_z == 0, "all"),
                                 loss)

    def _sigmoid_bce(self, logits, y, dlogits):
        e_z, d_z = (x.copy() for x in self.err(logits))
        e_t, d_t = self.err(y)
        z0 = logits.copy()
        loss = REF._sigmoid_bce(logits, y, dlogits)
        size = max(z0.size, 1)
        with np.errstate(all="ignore"):
            m = np.maximum(_mag(z0) - e_z, 0.0)
            e = np.exp(-m)
            e_sig = np.minimum(1.0, e_z * e / (1 + e) ** 2)
            zz = np.asarray(z0, F64)
            sig = np.where(zz >= 0, 1.0, np.exp(-_mag(zz))) / (1 + np.exp(-_mag(zz)))
            slope = _mag(sig - np.asarray(y, F64)) + e_sig
            err_dz = (e_sig + e_t) / size
            err_loss = float(((slope * e_z) + (_mag(z0) + e_z) * e_t).sum() / size)
        tols = tol_sigmoid_bce(z0, y, dlogits, loss)
        return self._loss_common(dlogits, err_dz, err_loss, tols, d_z & d_t,
                                 (np.isnan(z0) & d_z) | (np.isnan(y) & d_t),
                                 (e_z == 0) & (e_t == 0), loss)

    def _mse(self, pred, y, dpred):
        e_p, d_p = (x.copy() for x in self.err(pred))
        e_t, d_t = self.err(y)
        p0 = pred.copy()
        loss = REF._mse(pred, y, dpred)
        size = max(p0.size, 1)
        with np.errstate(all="ignore"):
            r = np.asarray(p0 - y, F64)
            e_r = e_p + e_t + _eps(p0.dtype) * (_mag(r) + e_p + e_t)
            err_dz = 2 * e_r / size
            err_loss = float((2 * _mag(r) * e_r + e_r * e_r).sum() / size)
        tols = tol_mse(p0, y, dpred, loss)
        return self._loss_common(dpred, err_dz, err_loss, tols, d_p & d_t,
                                 (np.isnan(p0) & d_p) | (np.isnan(y) & d_t),
                                 (e_p == 0) & (e_t == 0), loss)

    def _sgd_update(self, w, g, v, lr, momentum, nesterov, wd, n_decay):
        (e_w, d_w), (e_v, d_v) = ((x.copy() for x in self.err(a)) for a in (w, v))
        e_g, d_g = self.err(g)
        w0, v0 = w.copy(), v.copy()
        REF._sgd_update(w, g, v, lr, momentum, nesterov, wd, n_decay)
        tols = tol_sgd(w0, g, v0, lr, momentum, nesterov, wd, n_decay, w, v)
        head = _decay_mask(w.size, n_decay)
        with np.errstate(all="ignore"):
            e_gp = e_g + np.where(head, wd, 0.0) * e_w
            e_vp = momentum * e_v + e_gp
            e_step = (e_gp + momentum * e_vp if nesterov else e_vp) if momentum else e_gp
            err_w = e_w + lr * e_step + tols["w"][0]
        # contributions: g' <- g, w (head); v' <- v, g'; w' <- w, g' (, v')
        gp_det, gp_nan = d_g & (~head | d_w), (np.isnan(g) & d_g) | (head & np.isnan(w0) & d_w)
        gp_exact = (e_g == 0) & (~head | (e_w == 0))
        vin = momentum != 0
        self._store(w, *_settle(w, err_w, gp_det & d_w & (d_v if vin else True), True,
                                gp_nan | (np.isnan(w0) & d_w) | (vin & np.isnan(v0) & d_v),
                                gp_exact & (e_w == 0) & ((e_v == 0) if vin else True)))
        if vin:
            self._store(v, *_settle(v, e_vp + tols["v"][0], gp_det & d_v, True,
                                    gp_nan | (np.isnan(v0) & d_v), gp_exact & (e_v == 0)))

    def _adam_update(self, w, g, m, v, lr_t, b1, b2, eps_t, l2, decay, n_decay):
        (e_w, d_w), (e_m, d_m), (e_v, d_v) = ((x.copy() for x in self.err(a)) for a in (w, m, v))
        e_g, d_g = self.err(g)
        w0, m0, v0 = w.copy(), m.copy(), v.copy()
        REF._adam_update(w, g, m, v, lr_t, b1, b2, eps_t, l2, decay, n_decay)
        tols = tol_adam(w0, g, m0, v0, lr_t, b1, b2, eps_t, l2, decay, n_decay, w, m, v)
        head = _decay_mask(w.size, n_decay)
        with np.errstate(all="ignore"):
            keep = np.where(head, abs(1 - decay), 1.0)
            e_wk = e_w * keep
            gp = _mag(np.asarray(g, F64) + np.where(head, l2, 0.0) * np.asarray(w0, F64) * keep)
            e_gp = e_g + np.where(head, l2, 0.0) * e_wk
            e_mp = b1 * e_m + (1 - b1) * e_gp
            e_vp = b2 * e_v + (1 - b2) * (2 * gp * e_gp + e_gp * e_gp)
            root = np.sqrt(_mag(v))
            den = root + eps_t
            e_den = np.minimum(np.where(root > 0, e_vp / root, np.inf), np.sqrt(e_vp))
            e_step = np.where(den > e_den, (e_mp * den + _mag(m) * e_den) / (den * (den - e_den)),
                              np.inf)
            err_w = e_wk + (lr_t * e_step if lr_t else 0.0) + tols["w"][0]
        gp_det, gp_exact = d_g & (~head | d_w), (e_g == 0) & (~head | (e_w == 0))
        gp_nan = (np.isnan(g) & d_g) | (head & np.isnan(w0) & d_w)
        m_nan, v_nan = gp_nan | (np.isnan(m0) & d_m), gp_nan | (np.isnan(v0) & d_v)
        self._store(m, *_settle(m, e_mp + tols["m"][0], gp_det & d_m, True, m_nan,
                                gp_exact & (e_m == 0)))
        self._store(v, *_settle(v, e_vp + tols["v"][0], gp_det & d_v, True, v_nan,
                                gp_exact & (e_v == 0)))
        self._store(w, *_settle(w, err_w, gp_det & d_w & d_m & d_v, True,
                                m_nan | v_nan | (np.isnan(w0) & d_w),
                                gp_exact & (e_w == 0) & (e_m == 0) & (e_v == 0)))


def check_bound(label: str, got: Any, ref: Any, err: Any, det: Any) -> None:
    """A plan output against the NumPy reference, within its tracked bound."""
    r = np.asarray(ref)
    dt = r.dtype if r.dtype in (F32, F64) else np.dtype(F64)
    tol = np.asarray(err, F64) + A_ULP * _eps(dt) * _mag(r) + A_ULP * _sub(dt)
    if not np.all(det):
        event("plan: some outputs undetermined")
    check(label, got, ref, tol, det)


WIDTH = st.integers(1, 12)


@st.composite
def net_specs(draw: Any, dtype: Any, max_layers: int = 3) -> dict[str, Any]:
    n_layers = draw(st.integers(1, max_layers), label="layers")
    sizes = [draw(WIDTH, label="width") for _ in range(n_layers + 1)]
    acts = [draw(st.sampled_from(NAMES), label="activation") for _ in range(n_layers)]
    slopes = [draw(SLOPES, label="slope") for _ in range(n_layers)]
    p = sum(a * b for a, b in itertools.pairwise(sizes)) + sum(sizes[1:])
    # one range for the parameters and the data: moderate twice as often as huge
    hi = draw(st.sampled_from([4.0, 1e3, 4.0, HUGE[dtype]]), label="value range")
    w = draw(values(dtype, (p,), hi=hi, special_odds=8), label="w")
    return dict(sizes=sizes, acts=acts, slopes=slopes, w=w, hi=hi)


def _net(spec: dict[str, Any], w: np.ndarray) -> NetPlan:
    return NetPlan(spec["sizes"], spec["acts"], spec["slopes"], w, np.zeros_like(w))


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("mlp_forward")
@given(data=st.data())
def test_mlp_forward(dtype, data):
    spec = data.draw(net_specs(dtype), label="net")
    n = data.draw(DIM, label="n")
    X = data.draw(values(dtype, (n, spec["sizes"][0]), hi=spec["hi"]), label="X")
    k = spec["sizes"][-1]
    outs = {}
    bounds = BoundOps()
    for name, ops in (("numpy", NUMPY), ("cython", nncore.get_ops("cython")),
                      ("bounds", bounds)):
        w, x = spec["w"].copy(), X.copy()
        out = np.full((n, k), np.nan, dtype)
        with np.errstate(all="ignore"):
            ops.mlp_forward(_net(spec, w), x, out)
        assert _same_bits(w, spec["w"]) and _same_bits(x, X), f"{name} modified an input"
        outs[name] = out
    assert _same_bits(outs["bounds"], outs["numpy"]), "BoundOps no longer matches NumpyOps"
    check_bound("mlp_forward: out", outs["cython"], outs["numpy"], *bounds.err(outs["bounds"]))
    _count("mlp_forward", dtype)


@st.composite
def train_cases(draw: Any, dtype: Any) -> dict[str, Any]:
    spec = draw(net_specs(dtype))
    loss = draw(st.sampled_from(LOSS_KINDS), label="loss")
    k = spec["sizes"][-1]
    batch = draw(st.integers(1, 64), label="batch_size")
    m = draw(st.integers(0, min(64, 6 * batch)), label="len(order)")  # at most 6 steps
    n = draw(st.integers(1 if m else 0, 64), label="n")
    order = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
                     if n else [], np.int64)
    X = draw(values(dtype, (n, spec["sizes"][0]), hi=spec["hi"], special_odds=8), label="X")
    if loss == "softmax_xent":
        targets = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)),
                           np.int64)
    elif loss == "sigmoid_bce":
        targets = draw(values(dtype, (n, k), lo=0.0, hi=1.0, specials=(math.nan,),
                              special_odds=8), label="targets")
    else:
        targets = draw(values(dtype, (n, k), hi=spec["hi"], special_odds=8), label="targets")
    kind = draw(st.sampled_from(["sgd", "adam"]), label="optimizer")
    p = spec["w"].size
    hyper = {"lr": draw(st.one_of(st.sampled_from([0.0, 1e-3, 0.1]), st.floats(0, 1))),
             "weight_decay": draw(st.one_of(st.sampled_from([0.0, 0.01]), st.floats(0, 0.5)))}
    s1 = s2 = None
    if kind == "sgd":
        hyper["momentum"] = draw(st.one_of(st.sampled_from([0.0, 0.9]), st.floats(0, 0.99)))
        hyper["nesterov"] = float(hyper["momentum"] > 0 and draw(st.booleans()))
        if hyper["momentum"] > 0:
            s1 = draw(values(dtype, (p,), hi=1e3, special_odds=8), label="velocity")
    else:
        hyper["beta1"], hyper["beta2"] = draw(BETAS), draw(BETAS)
        hyper["eps"] = draw(st.sampled_from([1e-8, 1e-12, 1e-3]))
        hyper["decoupled"] = float(draw(st.booleans()))
        s1 = draw(values(dtype, (p,), hi=1e3, special_odds=8), label="m")
        s2 = draw(values(dtype, (p,), lo=0.0, hi=1e6, specials=(math.nan, math.inf),
                         special_odds=8), label="v")
    t = draw(st.integers(0, 1000), label="t")
    g = draw(values(dtype, (p,), hi=1e3, special_odds=8), label="g (initial)")
    return dict(spec=spec, loss=loss, batch=batch, order=order, X=X, targets=targets,
                kind=kind, hyper=hyper, s1=s1, s2=s2, t=t, g=g)


def _run_train(ops: nncore.Ops, case: dict[str, Any]) -> dict[str, Any]:
    spec = case["spec"]
    net = NetPlan(spec["sizes"], spec["acts"], spec["slopes"], spec["w"].copy(),
                  case["g"].copy())
    if isinstance(ops, BoundOps):
        ops.net = net
    plan = TrainPlan(net, case["batch"], case["loss"])
    s1, s2 = (None if case[s] is None else case[s].copy() for s in ("s1", "s2"))
    plan.configure(case["kind"], case["hyper"], s1, s2, case["t"])
    X, targets, order = case["X"].copy(), case["targets"].copy(), case["order"].copy()
    with np.errstate(all="ignore"):
        loss = ops.train_epoch(plan, X, targets, order)
    for name, x in (("X", X), ("targets", targets), ("order", order)):
        assert _same_bits(x, case[name]), f"{ops.name}: train_epoch modified IN '{name}'"
    return dict(loss=loss, w=net.w, g=net.g, s1=s1, s2=s2, counters=plan.counters.copy(),
                fused=plan.fused_sgd)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("train_epoch")
@given(data=st.data())
def test_train_epoch(dtype, data):
    case = data.draw(train_cases(dtype), label="case")
    ref = _run_train(NUMPY, case)
    got = _run_train(nncore.get_ops("cython"), case)
    bounds = BoundOps()
    bound_run = _run_train(bounds, case)
    for name in ("w", "g", "s1", "s2"):
        if ref[name] is not None:
            assert _same_bits(bound_run[name], ref[name]), "BoundOps no longer matches NumpyOps"
    np.testing.assert_array_equal(got["counters"], ref["counters"], err_msg="counters")
    assert isinstance(got["loss"], float) and isinstance(ref["loss"], float)
    m = max(case["order"].size, 1)
    steps = int(ref["counters"][1])
    e_loss = bounds.loss_err / m + (steps + A_ULP) * U64 * bounds.loss_mag / m
    check_bound("train_epoch: loss", got["loss"], ref["loss"], e_loss, bounds.loss_det)
    check_bound("train_epoch: w", got["w"], ref["w"], *bounds.err(bound_run["w"]))
    if ref["fused"]:  # plain SGD: the gradient buffer is not written
        assert _same_bits(got["g"], case["g"]) and _same_bits(ref["g"], case["g"])
    else:
        check_bound("train_epoch: g", got["g"], ref["g"], *bounds.err(bound_run["g"]))
    for name in ("s1", "s2"):
        if case[name] is not None:
            check_bound(f"train_epoch: {name}", got[name], ref[name],
                        *bounds.err(bound_run[name]))
    event(f"train_epoch: {case['kind']}, {case['loss']}")
    _count("train_epoch", dtype)


# ================================================================ rejections (per backend)
REJECT_METHODS = ("gemm", "bias_act_forward", "act_backward", "col_sum", "softmax_xent",
                  "sigmoid_bce", "mse", "sgd_update", "adam_update", "mlp_forward",
                  "train_epoch")
#: Out-of-domain scalars per method; "p+1" is one more than the parameter count.
BAD_SCALARS: dict[str, list[tuple[str, Any]]] = {
    "gemm": [("alpha", math.nan), ("beta", math.inf), ("alpha", "x"), ("beta", None),
             ("alpha", 1j)],
    "bias_act_forward": [("activation", "gelu"), ("activation", 3),
                         ("negative_slope", -0.5), ("negative_slope", math.nan)],
    "act_backward": [("activation", "Tanh"), ("negative_slope", -1e-9)],
    "sgd_update": [("lr", -0.1), ("lr", math.inf), ("momentum", -0.5),
                   ("weight_decay", math.nan), ("nesterov", "without momentum"),
                   ("n_decay", -1), ("n_decay", "p+1"), ("n_decay", 1.0), ("n_decay", True)],
    "adam_update": [("lr", math.nan), ("beta1", 1.0), ("beta2", -0.1), ("beta1", 1.5),
                    ("eps", 0.0), ("eps", -1e-8), ("t", 0), ("t", 2.0), ("t", True),
                    ("weight_decay", -1.0), ("n_decay", "p+1")],
}


def _valid_call(method: str, dtype: Any, dims: list[int], flags: dict[str, Any],
                seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid call (every dimension >= 2) and what its arguments are.

    meta: "floats"/"ints" name the array arguments, "outs" the OUT/INOUT ones, "free"
    the (argument, axis) pairs no other argument has to agree with.
    """
    rng = np.random.default_rng(seed)
    a, b, c = dims

    def f(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(dtype)

    meta: dict[str, Any] = {"ints": (), "free": set()}
    if method == "gemm":
        ta, tb = flags["trans_a"], flags["trans_b"]
        kw = dict(A=f(*((b, a) if ta else (a, b))), B=f(*((c, b) if tb else (b, c))),
                  out=f(a, c), trans_a=ta, trans_b=tb, alpha=1.0, beta=0.5)
        meta.update(floats=("A", "B", "out"), outs=("out",))
    elif method == "bias_act_forward":
        kw = dict(Z=f(a, b), b=f(b), activation="tanh", out=f(a, b), negative_slope=0.1)
        meta.update(floats=("Z", "b", "out"), outs=("out",))
    elif method == "act_backward":
        kw = dict(dY=f(a, b), Y=f(a, b), activation="relu", dZ=f(a, b), db=f(b),
                  negative_slope=0.1)
        meta.update(floats=("dY", "Y", "dZ", "db"), outs=("dZ", "db"))
    elif method == "col_sum":
        kw = dict(X=f(a, b), out=f(b))
        meta.update(floats=("X", "out"), outs=("out",), free={("X", 0)})
    elif method == "softmax_xent":
        kw = dict(logits=f(a, b), labels=rng.integers(0, b, a), dlogits=f(a, b))
        meta.update(floats=("logits", "dlogits"), ints=("labels",), outs=("dlogits",))
    elif method in ("sigmoid_bce", "mse"):
        names = ("logits", "y", "dlogits") if method == "sigmoid_bce" else ("pred", "y", "dpred")
        kw = dict(zip(names, (f(a, b), rng.random((a, b)).astype(dtype), f(a, b)), strict=True))
        meta.update(floats=names, outs=(names[2],))
    elif method == "sgd_update":
        p = a * b
        kw = dict(w=f(p), g=f(p), v=f(p), lr=0.1, momentum=0.9, nesterov=True,
                  weight_decay=0.01, n_decay=p // 2)
        meta.update(floats=("w", "g", "v"), outs=("w", "v"))
    elif method == "adam_update":
        p = a * b
        kw = dict(w=f(p), g=f(p), m=f(p), v=np.abs(f(p)), lr=0.01, beta1=0.9, beta2=0.999,
                  eps=1e-8, t=3, weight_decay=0.01, decoupled=flags["decoupled"],
                  n_decay=p // 2)
        meta.update(floats=("w", "g", "m", "v"), outs=("w", "m", "v"))
    else:
        sizes = [b, c, a]
        p = b * c + c * a + c + a
        net = NetPlan(sizes, ["tanh", "softmax"], [0.1, 0.1], f(p), f(p))
        if method == "mlp_forward":
            kw = dict(net=net, X=f(c, b), out=f(c, a))
            meta.update(floats=("X", "out"), outs=("out",))
        else:
            loss = flags["loss"]
            plan = TrainPlan(net, 2, loss)
            plan.configure("adam", {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
                           np.zeros(p, dtype), np.zeros(p, dtype), 0)
            n = c + 1
            xent = loss == "softmax_xent"
            targets = rng.integers(0, a, n) if xent else rng.random((n, a)).astype(dtype)
            kw = dict(plan=plan, X=f(n, b), targets=targets, order=rng.integers(0, n, 3))
            meta.update(floats=("X",) if xent else ("X", "targets"),
                        ints=("targets", "order") if xent else ("order",), outs=(),
                        free={("order", 0)})
    return kw, meta


def _mutate(kw: dict[str, Any], meta: dict[str, Any], kind: str, target: Any,
            extra: int) -> None:
    """Break one rule of the valid call ``kw`` (in place)."""
    if kind == "scalar":
        name, value = target
        if name == "nesterov":
            kw["momentum"], kw["nesterov"] = 0.0, True
        else:
            kw[name] = kw["w"].size + 1 if value == "p+1" else value
        return
    x = kw[target]
    if kind == "shape":
        axes = [ax for ax in range(x.ndim) if (target, ax) not in meta["free"]]
        ax = axes[extra % len(axes)]
        shape = list(x.shape)
        shape[ax] += 1 + extra // 7 % 2
        kw[target] = np.zeros(shape, x.dtype)
    elif kind == "ndim":
        kw[target] = x.reshape(1, -1) if x.ndim == 1 or extra % 2 else x.reshape(-1)
    elif kind == "mixed":
        kw[target] = x.astype(F64 if x.dtype == F32 else F32)
    elif kind == "dtype":
        if target in meta["ints"]:
            choices: list[Any] = [np.int32, np.float64, np.uint64]
        else:
            choices = [np.int64, np.int32, np.float16, np.complex128, np.bool_]
        kw[target] = x.astype(choices[extra % len(choices)])
    elif kind == "noncontig":
        kw[target] = np.repeat(x, 2, axis=-1)[..., ::2]
    elif kind == "list":
        kw[target] = x.tolist()
    elif kind == "range":
        y = x.copy()
        if target == "order":
            bound = kw["X"].shape[0]
        elif target == "labels":
            bound = kw["logits"].shape[1]
        else:
            bound = int(kw["plan"].net.sizes[-1])
        y[extra % y.size] = [-1, bound, 2**62][extra // 7 % 3]
        kw[target] = y
    elif kind == "readonly":
        y = x.copy()
        y.flags.writeable = False
        kw[target] = y
    elif kind == "alias":  # the output starts one element into a partner argument
        others = [name for name in meta["floats"] if name != target]
        partner = kw[others[extra % len(others)]]
        buf = np.concatenate([partner.ravel(), x.ravel()])
        kw[others[extra % len(others)]] = buf[: partner.size].reshape(partner.shape)
        kw[target] = buf[1 : 1 + x.size].reshape(x.shape)
    else:
        raise AssertionError(kind)


@st.composite
def bad_calls(draw: Any, method: str) -> dict[str, Any]:
    case = dict(method=method, dtype=draw(st.sampled_from([F32, F64])),
                dims=[draw(st.integers(2, 4)) for _ in range(3)],
                flags=dict(trans_a=draw(st.booleans()), trans_b=draw(st.booleans()),
                           decoupled=draw(st.booleans()),
                           loss=draw(st.sampled_from(LOSS_KINDS))),
                seed=draw(st.integers(0, 2**16)))
    _, meta = _valid_call(method, case["dtype"], case["dims"], case["flags"], case["seed"])
    options: list[tuple[str, Any]] = []
    for name in meta["floats"]:
        options += [(kind, name) for kind in ("shape", "ndim", "mixed", "dtype", "noncontig",
                                              "list")]
    for name in meta["ints"]:
        kinds = ["ndim", "dtype", "noncontig", "list", "range"]
        if (name, 0) not in meta["free"]:
            kinds.append("shape")
        options += [(kind, name) for kind in kinds]
    options += [(kind, name) for name in meta["outs"] for kind in ("readonly", "alias")]
    options += [("scalar", s) for s in BAD_SCALARS.get(method, [])]
    case["kind"], case["target"] = draw(st.sampled_from(options), label="mutation")
    case["extra"] = draw(st.integers(0, 10**6), label="mutation detail")
    return case


def _build_bad(case: dict[str, Any]) -> dict[str, Any]:
    kw, meta = _valid_call(case["method"], case["dtype"], case["dims"], case["flags"],
                           case["seed"])
    _mutate(kw, meta, case["kind"], case["target"], case["extra"])
    return kw


def _buffers(kw: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every array a call could write: the arguments' whole buffers, and plan internals."""
    out = {}
    for key, x in kw.items():
        if isinstance(x, np.ndarray):
            while isinstance(x.base, np.ndarray):
                x = x.base
            out[key] = x
        elif isinstance(x, NetPlan):
            out.update({f"{key}.w": x.w, f"{key}.g": x.g})
        elif isinstance(x, TrainPlan):
            out.update({f"{key}.{a}": getattr(x, a)
                        for a in ("work", "labels", "acc", "s1", "s2", "counters")})
            out.update({f"{key}.net.w": x.net.w, f"{key}.net.g": x.net.g})
    return out


def _raised(ops: nncore.Ops, method: str, kw: dict[str, Any]) -> Exception | None:
    try:
        with np.errstate(all="ignore"):
            getattr(ops, method)(**kw)
    except Exception as exc:  # compared with the reference's below
        return exc
    return None


@pytest.mark.parametrize("method", REJECT_METHODS)
@budget("reject")
@given(data=st.data())
def test_rejects_bad_arguments(ops, method, data):
    """One rule broken: the NumPy backend's exception, same type and message; no writes."""
    case = data.draw(bad_calls(method), label="case")
    kw_ref, kw_run, pristine = _build_bad(case), _build_bad(case), _build_bad(case)
    expected = _raised(NUMPY, method, kw_ref)
    assert isinstance(expected, (TypeError, ValueError)), f"numpy: {expected!r} for {case}"
    got = _raised(ops, method, kw_run)
    assert type(got) is type(expected) and str(got) == str(expected), (got, expected)
    clean = _buffers(pristine)
    for kw in (kw_ref, kw_run):
        for key, x in _buffers(kw).items():
            assert _same_bits(x, clean[key]), f"{method}: rejected call wrote '{key}'"
    event(f"{case['kind']}: {type(expected).__name__}")
    RAN[f"reject:{method}[{ops.name}]"] += 1
