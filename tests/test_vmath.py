"""Accuracy of the vectorised float32 exp/tanh kernels (``src/nncore/backends/_vmath.h``).

The float32 sigmoid, tanh and softmax forward and the softmax_xent and sigmoid_bce losses
run on branchless approximations instead of libm's scalar expf/tanhf/log1pf (see the note
at the top of ``_vmath.h``). The issue allows that where the maximum relative error is
tested: here it is at most 2e-7 against float64 references, over dense grids covering
[-100, 100] plus the special points (+-0, subnormals, +-1e4, +-inf, NaN); NaN appears where
NumPy has NaN. float64 stays exact: on AVX2/AVX-512 its exp is glibc's own algorithm
(<= 1 ulp from libm), checked here against references built with ``math`` (libm), with
exactly rounded sums (``math.fsum``) where a kernel sums. float64 tanh on AVX2/AVX-512 is
checked against the exact value (extended precision) on 2.4 million points of [-20, 20]
plus the boundaries of its two parts and the special values: at most 1 ulp (it is 0.55);
at the generic level it is libm's tanh, bit for bit.

Every instruction-set level the CPU has (``generic``, ``avx2``, ``avx512``) is checked:
the level this process runs directly, each other one in a subprocess started with
``NNCORE_SIMD=<level>``. Relative errors are taken against ``max(|ref|, FLT_MIN)``: a
float32 result in the subnormal range can only be as exact as its spacing (2^-149).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nncore
from nncore.backends import HAS_KERNELS

pytestmark = pytest.mark.cython

BOUND = 2e-7  # maximum relative error allowed for the float32 kernels
LEVELS = ("generic", "avx2", "avx512")
F32, F64 = np.float32, np.float64
FLT_MIN = float(np.finfo(F32).tiny)
SPECIALS = [0.0, -0.0, 1e-45, -1e-45, 1e-40, -1e-40, FLT_MIN, -FLT_MIN, 1e-30, -1e-30,
            9.01, -9.01, 9.02, -9.02, 87.5, -87.5, 103.9, -103.9, 104.0, -104.0,
            1e4, -1e4, 3e38, -3e38, math.inf, -math.inf]


# ---------------------------------------------------------------- float64 references
def _sigmoid64(v: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1.0, e) / (1.0 + e)


def _softmax64(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _xent64(z: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean loss and its gradient, stable in float64 (no cancellation at the label)."""
    n = z.shape[0]
    rows = np.arange(n)
    m = z.max(axis=1)
    e = np.exp(z - m[:, None])
    s = e.sum(axis=1)
    others = e.copy()
    others[rows, labels] = 0
    so = others.sum(axis=1)
    zl = z[rows, labels]
    loss = np.where(zl == m, np.log1p(so), (m - zl) + np.log(s)).mean()
    grad = e / s[:, None] / n
    grad[rows, labels] = -so / s / n
    return float(loss), grad


def _bce64(z: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    e = np.exp(-np.abs(z))
    q = e / (1 + e)  # sigmoid(-|z|)
    loss = (np.maximum(z, 0) - z * t + np.log1p(e)).sum() / z.size
    grad = np.where(z >= 0, (1 - t) - q, q - t) / z.size
    return float(loss), grad


def _rel(got: np.ndarray, ref: np.ndarray) -> float:
    """Max relative error of a float32 result (NaN positions must agree)."""
    got = np.asarray(got, F64)
    ref = np.asarray(ref, F64)
    assert np.array_equal(np.isnan(got), np.isnan(ref)), "NaN in different places"
    ok = ~np.isnan(ref)
    if not ok.any():
        return 0.0
    err = np.abs(got[ok] - ref[ok]) / np.maximum(np.abs(ref[ok]), FLT_MIN)
    return float(err.max())


def _grid() -> np.ndarray:
    """~3.2 million float32 points: [-100, 100], denser on [-10, 10], magnitudes
    1e-45..1e2 on both sides, and the special points."""
    mags = np.logspace(-45, 2, 100_001)
    parts = [np.linspace(-100, 100, 2_000_001), np.linspace(-10, 10, 1_000_001), mags,
             -mags, np.array(SPECIALS)]
    return np.concatenate(parts).astype(F32)


def _as_rows(x: np.ndarray, d: int) -> np.ndarray:
    """Pad with zeros to whole rows of d (odd d exercises the vector tails)."""
    pad = (-x.size) % d
    return np.concatenate([x, np.zeros(pad, x.dtype)]).reshape(-1, d)


# ---------------------------------------------------------------- the measurements
def measure() -> dict[str, float | str | bool]:
    """Max relative errors of every float32 kernel at this process's SIMD level."""
    from nncore.backends import _kernels

    ops = nncore.get_ops("cython")
    rng = np.random.default_rng(20240611)
    out: dict[str, float | str | bool] = {"isa": _kernels.SIMD_ISA}

    # sigmoid and tanh on the grid, b = 0, then with a bias (the sum rounds in float32
    # first, as in NumPy: the reference is taken of that sum)
    Z = _as_rows(_grid(), 1013)
    zeros = np.zeros(Z.shape[1], F32)
    for act, ref_fn in (("sigmoid", _sigmoid64), ("tanh", np.tanh)):
        y = np.empty_like(Z)
        ops.bias_act_forward(Z, zeros, act, y)
        err = _rel(y, ref_fn(Z.astype(F64)))
        Zb = (rng.standard_normal((257, 301)) * 6).astype(F32)
        b = (rng.standard_normal(301) * 3).astype(F32)
        yb = np.empty_like(Zb)
        ops.bias_act_forward(Zb, b, act, yb)
        out[act] = max(err, _rel(yb, ref_fn((Zb + b).astype(F64))))
    y = np.empty_like(Z)
    ops.bias_act_forward(Z, Z[0] * 0, "tanh", y)  # b = -0.0 where Z[0] < 0: keeps -0.0
    out["tanh_keeps_sign"] = bool(np.array_equal(np.signbit(y), np.signbit(Z + Z[0] * 0)))

    # softmax: rows of narrow and of very wide logits (most of those underflow)
    worst = 0.0
    for d, width in ((1, 5.0), (3, 5.0), (10, 100.0), (37, 3.0), (37, 100.0), (300, 30.0)):
        Zs = rng.uniform(-width, width, (4000, d)).astype(F32)
        b = rng.uniform(-1, 1, d).astype(F32)
        y = np.empty_like(Zs)
        ops.bias_act_forward(Zs, b, "softmax", y)
        worst = max(worst, _rel(y, _softmax64((Zs + b).astype(F64))))
    out["softmax"] = worst

    # softmax cross-entropy, including rows whose label dominates (probability ~ 1)
    lw = gw = 0.0
    for c, width in ((2, 5.0), (10, 100.0), (37, 3.0), (300, 30.0)):
        z = rng.uniform(-width, width, (4000, c)).astype(F32)
        labels = rng.integers(0, c, 4000)
        sure = z[::3]  # a view: every third row gets a dominant label logit
        sure -= 40
        sure[np.arange(len(sure)), labels[::3]] += (40 + rng.uniform(0, 30, len(sure))).astype(F32)
        dz = np.empty_like(z)
        loss = ops.softmax_xent(z, labels, dz)
        ref_loss, ref_grad = _xent64(z.astype(F64), labels)
        lw = max(lw, abs(loss - ref_loss) / abs(ref_loss))
        gw = max(gw, _rel(dz, ref_grad))
    out["xent_loss"], out["xent_grad"] = lw, gw

    # sigmoid BCE on the grid (finite points), hard and soft labels. The loss is also
    # taken without the huge points, which would swamp the sum: then each term counts.
    z = _as_rows(_grid()[:-2], 997)
    small = _as_rows(_grid()[:-len(SPECIALS)], 997)
    t = rng.integers(0, 2, z.shape).astype(F32)
    dz = np.empty_like(z)
    loss = ops.sigmoid_bce(z, t, dz)
    ref_loss, ref_grad = _bce64(z.astype(F64), t.astype(F64))
    out["bce_grad"] = _rel(dz, ref_grad)
    lw = abs(loss - ref_loss) / abs(ref_loss)
    right = (small > 0).astype(F32)  # labels the logits predict: the loss is all log1p
    for tt in (t[: small.shape[0]], np.ones_like(small), np.zeros_like(small), right):
        loss = ops.sigmoid_bce(small, tt, np.empty_like(small))
        ref_loss = _bce64(small.astype(F64), tt.astype(F64))[0]
        lw = max(lw, abs(loss - ref_loss) / abs(ref_loss))
    out["bce_loss"] = lw
    t = rng.uniform(0, 1, z.shape).astype(F32)
    loss = ops.sigmoid_bce(small, t[: small.shape[0]], np.empty_like(small))
    ref_loss = _bce64(small.astype(F64), t[: small.shape[0]].astype(F64))[0]
    out["bce_loss_soft"] = abs(loss - ref_loss) / abs(ref_loss)
    ops.sigmoid_bce(z, t, dz)
    ref_grad = _bce64(z.astype(F64), t.astype(F64))[1]
    # soft labels: sigmoid(z) - t cancels where sigmoid(z) ~ t, so the exp's own error
    # (< 3e-9 of sigmoid) is measured against the scale, not against the difference
    floor = 1e-8 / z.size
    out["bce_grad_soft"] = float(
        (np.abs(dz - ref_grad) / (np.abs(ref_grad) + floor / BOUND)).max())
    out.update(_measure_f64(ops, rng))
    return out


def _ulps(got: np.ndarray, ref: np.ndarray) -> float:
    tiny = np.finfo(F64).smallest_subnormal
    return float((np.abs(got - ref) / np.maximum(np.spacing(np.abs(ref)), tiny)).max())


def _measure_f64(ops: nncore.Ops, rng: np.random.Generator) -> dict[str, float]:
    """float64 against libm (``math``) and exactly rounded sums (``math.fsum``)."""
    out = {}
    # sigmoid and tanh: a few rows hold |x| > 700 (those rows take libm)
    x = np.concatenate([rng.uniform(-40, 40, 20_000), rng.standard_normal(4_000) * 1e-3,
                        rng.uniform(-750, 750, 300), [0.0, -0.0, 1e-310, 1e4, -1e4]])
    x = _as_rows(x, 37)
    b = np.zeros(x.shape[1])
    sig, th = np.empty_like(x), np.empty_like(x)
    ops.bias_act_forward(x, b, "sigmoid", sig)
    ops.bias_act_forward(x, b, "tanh", th)
    ref = [(1.0 if v >= 0 else math.exp(-abs(v))) / (1.0 + math.exp(-abs(v))) for v in x.flat]
    out["f64_sigmoid_ulps"] = _ulps(sig, np.reshape(ref, x.shape))
    out["f64_tanh_libm_ulps"] = _ulps(th, np.reshape([math.tanh(v) for v in x.flat], x.shape))
    out.update(_measure_tanh64(ops, rng))

    z = rng.uniform(-30, 30, (2000, 37))
    z[::50, 3] = -800.0  # rows beyond the vector range: libm
    y = np.empty_like(z)
    ops.bias_act_forward(z, b, "softmax", y)
    ref = []
    for row in z.tolist():
        e = [math.exp(v - max(row)) for v in row]
        ref.append([v / math.fsum(e) for v in e])
    out["f64_softmax_rel"] = float((np.abs(y - ref) / np.maximum(ref, 1e-300)).max())

    labels = rng.integers(0, 37, len(z))
    g = np.empty_like(z)
    loss = ops.softmax_xent(z, labels, g)
    scale = 1 / len(z)
    ref_loss, ref_g = [], []
    for row, lab in zip(z.tolist(), labels.tolist(), strict=True):
        mx = max(row)
        e = [math.exp(v - mx) for v in row]
        s, others = math.fsum(e), math.fsum(e[:lab] + e[lab + 1:])
        ref_loss.append(math.log1p(others) if row[lab] == mx else (mx - row[lab]) + math.log(s))
        ref_g.append([v / s * scale for v in e])
        ref_g[-1][lab] = -others / s * scale
    ref = math.fsum(ref_loss) * scale
    out["f64_xent_loss_rel"] = abs(loss - ref) / ref
    # the label's entry, p - 1, cancels: measured against the scale
    out["f64_xent_grad_abs"] = float(np.abs(g - ref_g).max() / scale)

    t = rng.integers(0, 2, z.shape).astype(F64)
    loss = ops.sigmoid_bce(z, t, g)
    terms, grads = [], []
    for v, w in zip(z.flat, t.flat, strict=True):
        e = math.exp(-abs(v))
        terms.append(max(v, 0.0) - v * w + math.log1p(e))
        grads.append(((1.0 if v >= 0 else e) / (1.0 + e) - w) / z.size)
    out["f64_bce_loss_rel"] = abs(loss - math.fsum(terms) / z.size) / (math.fsum(terms) / z.size)
    out["f64_bce_grad_ulps"] = _ulps(g, np.reshape(grads, z.shape))
    return out


TANH64_POINTS = [0.0, 5e-324, 1e-310, 2.2250738585072014e-308, 1e-200, 2.0**-27, 2.0**-26,
                 0.25, 19.06, 19.07, 19.1, 20.0, 20.5, 22.0, 700.0, 710.0, 1e300,
                 1.7976931348623157e308, math.inf]


def _tanh_exact(x: np.ndarray) -> np.ndarray | None:
    """tanh(x) to ~2^-63 relative (long double, 64-bit mantissa), or None without one."""
    if np.finfo(np.longdouble).nmant < 63:
        return None
    return np.tanh(x.astype(np.longdouble))


def _measure_tanh64(ops: nncore.Ops, rng: np.random.Generator) -> dict[str, float | bool]:
    """float64 tanh: ulps from the exact value on a dense sweep, the specials, and libm."""
    x = np.concatenate([np.linspace(0, 20, 2_000_001), rng.uniform(0, 0.5, 200_000),
                        rng.uniform(0.24, 0.26, 100_000), np.logspace(-320, 1.4, 100_001)])
    edges = np.array(TANH64_POINTS)
    with np.errstate(over="ignore"):  # the neighbours of the largest double include inf
        edges = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, np.inf)])
    x = np.concatenate([x, edges, -x, -edges])
    X = _as_rows(x, 1009)
    y = np.empty_like(X)
    ops.bias_act_forward(X, np.full(X.shape[1], -0.0), "tanh", y)  # b = -0: x + b is x
    y = y.ravel()[: x.size]
    out: dict[str, float | bool] = {}
    exact = _tanh_exact(x)
    if exact is not None:
        ok = np.isfinite(x)
        ulp = np.spacing(np.abs(exact[ok].astype(F64)))
        out["f64_tanh_ulps"] = float((np.abs(y[ok] - exact[ok]) / ulp).max())
    libm = np.array([math.tanh(v) for v in x[::16].tolist()])
    out["f64_tanh_is_libm"] = bool(np.array_equal(y[::16], libm, equal_nan=True))
    sp = np.array([[0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324, 1e300]])
    ys = np.empty_like(sp)
    ops.bias_act_forward(sp, np.full(sp.shape[1], -0.0), "tanh", ys)
    out["f64_tanh_specials"] = bool(
        np.array_equal(ys[0, [0, 1, 2, 3, 5, 6, 7]], [0.0, -0.0, 1.0, -1.0, 5e-324, -5e-324, 1.0])
        and np.array_equal(np.signbit(ys[0, :2]), [False, True]) and np.isnan(ys[0, 4]))
    return out


def _measure_at(level: str) -> dict[str, float | str | bool]:
    from nncore.backends import _kernels

    if level == _kernels.SIMD_ISA:
        return measure()
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('tv', {str(Path(__file__))!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "print(json.dumps(mod.measure()))\n"
    )
    env = {**os.environ, "NNCORE_SIMD": level}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=LEVELS)
def errors(request: pytest.FixtureRequest) -> dict[str, float | str | bool]:
    if not HAS_KERNELS:
        pytest.fail("the compiled extension is missing")
    res = _measure_at(request.param)
    if res["isa"] != request.param:
        pytest.skip(f"this CPU has no {request.param} (ran {res['isa']})")
    return res


@pytest.mark.parametrize("kernel", ["sigmoid", "tanh", "softmax", "xent_loss", "xent_grad",
                                    "bce_loss", "bce_grad", "bce_loss_soft", "bce_grad_soft"])
def test_max_relative_error(errors, kernel):
    assert errors[kernel] <= BOUND, f"{kernel} at {errors['isa']}: {errors[kernel]:.3g}"


# float64: elementwise results within 1 ulp of libm's; where a kernel sums (softmax,
# the losses), the sum's own rounding (a few ulps, as the libm loops had) dominates.
F64_BOUNDS = {"f64_sigmoid_ulps": 1, "f64_bce_grad_ulps": 1,
              "f64_softmax_rel": 4e-15, "f64_xent_loss_rel": 1e-14, "f64_xent_grad_abs": 4e-15,
              "f64_bce_loss_rel": 1e-13}


@pytest.mark.parametrize("kernel", sorted(F64_BOUNDS))
def test_float64_stays_exact(errors, kernel):
    assert errors[kernel] <= F64_BOUNDS[kernel], f"{kernel} at {errors['isa']}: {errors[kernel]}"


def test_float64_tanh(errors):
    """AVX2/AVX-512: vectorised, <= 1 ulp from the exact value; generic: libm's own."""
    assert errors["f64_tanh_specials"], errors["isa"]
    if errors["isa"] == "generic":
        assert errors["f64_tanh_is_libm"] and errors["f64_tanh_libm_ulps"] == 0
        return
    if "f64_tanh_ulps" not in errors:
        pytest.skip("no extended-precision long double here for the reference")
    assert errors["f64_tanh_ulps"] <= 1, f"at {errors['isa']}: {errors['f64_tanh_ulps']}"


def test_tanh_is_odd_down_to_signed_zero(errors):
    assert errors["tanh_keeps_sign"]


# ---------------------------------------------------------------- special values
def test_special_values_exact(cython_ops):
    x = np.array([[0.0, -0.0, 1e-45, -1e-45, 1e4, -1e4, np.inf, -np.inf, np.nan]], F32)
    b = np.full(x.shape[1], -0.0, F32)  # x + (-0.0) is x, signed zeros included
    s = np.empty_like(x)
    t = np.empty_like(x)
    cython_ops.bias_act_forward(x, b, "sigmoid", s)
    cython_ops.bias_act_forward(x, b, "tanh", t)
    np.testing.assert_array_equal(s[0, :8], [0.5, 0.5, 0.5, 0.5, 1, 0, 1, 0])
    np.testing.assert_array_equal(t[0, :8], np.array([0, -0.0, 1e-45, -1e-45, 1, -1, 1, -1], F32))
    assert np.signbit(t[0, 1]) and np.signbit(t[0, 3])
    assert np.isnan(s[0, 8]) and np.isnan(t[0, 8])


@pytest.mark.parametrize("d", [1, 5, 16, 37])
def test_nan_where_numpy_has_nan(numpy_ops, cython_ops, d):
    rng = np.random.default_rng(7)
    z = rng.standard_normal((9, d)).astype(F32) * 5
    z[1, 0] = np.nan
    z[2, d - 1] = np.inf
    z[3, 0] = -np.inf
    z[4, :] = -np.inf
    z[5, d // 2] = np.nan
    z[5, 0] = np.inf
    b = np.zeros(d, F32)
    for act in ("sigmoid", "tanh", "softmax"):
        y_n, y_c = np.empty_like(z), np.empty_like(z)
        with np.errstate(all="ignore"):
            numpy_ops.bias_act_forward(z, b, act, y_n)
        cython_ops.bias_act_forward(z, b, act, y_c)
        np.testing.assert_array_equal(np.isnan(y_c), np.isnan(y_n), err_msg=act)
    labels = rng.integers(0, d, 9)
    labels[3] = 0  # the -inf logit is the label: loss +inf
    for rows in ([0, 3], [0, 1, 2, 6]):
        zz = np.ascontiguousarray(z[rows])
        g_n, g_c = np.empty_like(zz), np.empty_like(zz)
        with np.errstate(all="ignore"):
            l_n = numpy_ops.softmax_xent(zz, labels[rows], g_n)
        l_c = cython_ops.softmax_xent(zz, labels[rows], g_c)
        assert np.isnan(l_c) == np.isnan(l_n) and (np.isnan(l_c) or l_c == pytest.approx(l_n))
        np.testing.assert_array_equal(np.isnan(g_c), np.isnan(g_n))
    t = rng.integers(0, 2, z.shape).astype(F32)
    g_n, g_c = np.empty_like(z), np.empty_like(z)
    with np.errstate(all="ignore"):
        l_n = numpy_ops.sigmoid_bce(z, t, g_n)
    l_c = cython_ops.sigmoid_bce(z, t, g_c)
    assert np.isnan(l_c) == np.isnan(l_n)
    np.testing.assert_array_equal(np.isnan(g_c), np.isnan(g_n))


def test_simd_level_can_be_capped():
    from nncore.backends import _kernels

    assert _kernels.SIMD_ISA in LEVELS
    code = "from nncore.backends import _kernels; print(_kernels.SIMD_ISA)"
    env = {**os.environ, "NNCORE_SIMD": "generic"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    assert proc.stdout.strip() == "generic"
