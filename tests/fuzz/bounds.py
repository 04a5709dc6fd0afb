"""``BoundOps``: the NumPy reference run with a rigorous error bound on every buffer.

The tolerance of mlp_forward and train_epoch. The NumPy reference is re-run as
``BoundOps``, which carries a rigorous error bound and a "status determined" flag for
every buffer through NumPy's own loop: each kernel's bound is the worst case over its
inputs' intervals (|A||dB| + |dA||B| + |dA||dB| for GEMM, the activations' local
Lipschitz bounds with relu/leaky kinks, exp(2 delta) for softmax, ...) plus the kernel's
own tolerance (tolerances.py). Tolerance: that bound plus the floor; the optimizer step
counters must agree exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import event

from nncore.backends.numpy_ops import NumpyOps
from nncore.backends.plan import NetPlan

from .strategies import F32, F64
from .tolerances import (
    A_ULP,
    IDENTITY,
    LEAKY,
    RELU,
    SIGMOID,
    SOFTMAX,
    T_ULP,
    TANH,
    U64,
    _decay_mask,
    _eps,
    _fmax,
    _mag,
    _sub,
    check,
    tol_act_backward,
    tol_adam,
    tol_bias_act,
    tol_gemm,
    tol_mse,
    tol_poisson,
    tol_sgd,
    tol_sigmoid_bce,
    tol_softmax_xent,
)

REF = NumpyOps()  # the plain kernels BoundOps delegates to


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

    def _softmax_xent(self, logits, labels, dlogits, rw=None):
        assert rw is None  # the bounds are the unweighted loss's
        e_z, d_z = (x.copy() for x in self.err(logits))
        z0 = logits.copy()
        loss = REF._softmax_xent(logits, labels, dlogits, None)
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

    def _sigmoid_bce(self, logits, y, dlogits, rw=None):
        assert rw is None  # the bounds are the unweighted loss's
        e_z, d_z = (x.copy() for x in self.err(logits))
        e_t, d_t = self.err(y)
        z0 = logits.copy()
        loss = REF._sigmoid_bce(logits, y, dlogits, None)
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

    def _mse(self, pred, y, dpred, rw=None):
        assert rw is None  # the bounds are the unweighted loss's
        e_p, d_p = (x.copy() for x in self.err(pred))
        e_t, d_t = self.err(y)
        p0 = pred.copy()
        loss = REF._mse(pred, y, dpred, None)
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

    def _poisson(self, logits, y, dlogits, rw=None):
        assert rw is None  # the bounds are the unweighted loss's
        e_z, d_z = (x.copy() for x in self.err(logits))
        e_t, d_t = self.err(y)
        z0 = logits.copy()
        loss = REF._poisson(logits, y, dlogits, None)
        size = max(z0.size, 1)
        with np.errstate(all="ignore"):
            zz, tt = np.asarray(z0, F64), np.asarray(y, F64)
            mu = np.exp(zz)
            # |exp(z') - exp(z)| <= exp(z) expm1(e) for |z' - z| <= e
            e_mu = np.where(e_z > 0, np.where(mu == np.inf, np.inf, _mag(mu) * np.expm1(e_z)),
                            0.0)
            err_dz = 2 * (e_mu + e_t) / size
            # d loss / dz = 2 (mu - y); the targets are inputs, exact (else unbounded:
            # y log y is not Lipschitz at 0)
            slope = 2 * (_mag(mu - tt) + e_mu)
            err_t = np.where(e_t > 0, np.inf, 0.0)
            err_loss = float((np.where(e_z > 0, slope * e_z, 0.0) + err_t).sum() / size)
        tols = tol_poisson(z0, y, dlogits, loss)
        return self._loss_common(dlogits, err_dz, err_loss, tols, d_z & d_t,
                                 (np.isnan(z0) & d_z) | (np.isnan(y) & d_t),
                                 (e_z == 0) & (e_t == 0), loss)

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
