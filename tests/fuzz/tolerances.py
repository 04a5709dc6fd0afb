"""How far apart the backends may be, per kernel, and the comparison that applies it.

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
* poisson: in float64 for both dtypes; per element ``T u64 B`` with ``B = mu + |y| (1 +
  |log y| + |z|)``, ``mu = exp(z)``; the loss ``2 (mean T u64 B + (N + A) u64 mean|term|)``,
  dlogits ``2 T u64 (mu + |y|) / N`` plus the floor (its rounding to the dtype). Finite
  inputs with ``B >= F64/2``, z within 1e-9 of exp's overflow (709.78) or a gradient
  within 1e-9 of the dtype's (or float64's) overflow leave the status undetermined.
* mse: dpred ``A u |2 r / N|`` (r = pred - y rounds identically), loss the sum term of
  r^2; determined unless that float64 sum can overflow.
* sgd_update: ``A u (|w| + lr (1 + mu) (|g'| + mu |v'|)) + A s (1 + lr)`` with ``g' = g + wd
  w`` on ``w[:n_decay]``, v likewise (``A u |v'|``); elementwise, always determined;
  ``momentum == 0`` leaves v bit-for-bit untouched.
* adam_update: with ``w' = keep w``, ``g' = g + l2 w'``, m', v' and ``den = sqrt(v') +
  eps_t``: ``Tm = A u (b1|m| + (1-b1)|g'|)``, ``Tv = A u (b2|v| + (1-b2) g'^2) + A s``,
  ``Tden = min(Tv / (2 sqrt v'), sqrt Tv) + A u den``, and ``Tw = A u (|w'| + |step|) +
  lr_t (Tm / den + |m'| Tden / den^2)``. Always determined.
* mlp_forward, train_epoch: a bound carried through the reference run, bounds.py.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import nncore
from nncore.backends.activations import NAMES

from .strategies import F32, F64

IDENTITY, RELU, LEAKY, SIGMOID, TANH, SOFTMAX = range(6)
assert NAMES[SOFTMAX] == "softmax" and NAMES[LEAKY] == "leaky_relu"

NUMPY = nncore.get_ops("numpy")
A_ULP, T_ULP = 4, 8  # slack in ulp: arithmetic; exp / tanh / log1p
U64 = float(np.finfo(F64).eps)
F64_MAX = float(np.finfo(F64).max)


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


EXP_OVERFLOW = math.log(F64_MAX)  # 709.78: exp(z) is inf above, in either backend


def _near(x: np.ndarray, edge: float) -> np.ndarray:
    """|x| within a relative 1e-9 of ``edge`` (where rounding decides finite vs inf)."""
    return np.abs(_mag(x) / edge - 1) < 1e-9


def tol_poisson(logits, y, dl_ref, loss_ref):
    dt = dl_ref.dtype
    size = logits.size
    if size == 0:
        return {"dlogits": (np.zeros(logits.shape), True), "loss": (0.0, True)}
    with np.errstate(all="ignore"):
        z, t = np.asarray(logits, F64), np.asarray(y, F64)
        mu = np.exp(z)
        log_t = np.where(t > 0, np.log(t), 0.0)
        big = _mag(mu) + _mag(t) * (1 + _mag(log_t) + _mag(z))
        term = (mu - t) + np.where(t != 0, t * (log_t - z), 0.0)
        fin_in = np.isfinite(z) & np.isfinite(t)
        edge = _near(z, EXP_OVERFLOW)
        det_elem = ~fin_in | ((big < F64_MAX / 2) & ~edge)
        det_loss, mag = _sum_det(term, det_elem, None, F64)
        tol_loss = 2 * (T_ULP * U64 * float(big.sum()) + (size + A_ULP) * U64 * float(mag)) / size
        g = 2 * (mu - t)
        det_dl = ~fin_in | ~(edge | _near(g, F64_MAX) | _near(g / size, _fmax(dt)))
        tol_dl = 2 * T_ULP * U64 * (_mag(mu) + _mag(t)) / size
    return {"dlogits": (tol_dl + _floor(dl_ref), det_dl), "loss": (tol_loss, bool(det_loss))}


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
