# Design note
# -----------
# The hot loops of nncore, and nothing else. Two layers:
#
# * ``cdef ... noexcept nogil`` cores on raw pointers: GEMM, bias+activation, activation
#   backward with the bias gradient, the three losses, the two optimizer updates.
# * ``def`` entry points over typed memoryviews: one per ``Ops`` method, plus the plans
#   ``train_epoch`` (a whole epoch of mini-batch steps in one nogil call: gather, forward,
#   loss, backward, update) and ``mlp_forward`` (all layers of a prediction).
#
# Every function is generic over ``cython.floating`` (float32 and float64), takes inputs
# as ``const`` C-contiguous memoryviews and writes into caller-given OUT buffers (only
# act_backward and col_sum take a small double accumulator from calloc per call). They
# trust their arguments: shapes, dtypes, contiguity and index ranges are validated once,
# in Python, by ``nncore.backends._checks``/``nncore.backends.plan`` (shared with the NumPy reference). The
# directives that turn bounds checks off are set in setup.py so a debug build can turn
# them back on. Activations are small integer codes (``ACTIVATIONS``) so loops branch
# once per row, not per element; element-wise bodies are branchless selects so gcc
# vectorises them. Sums of float32 values accumulate in double. GEMM goes to BLAS
# through scipy.linalg.cython_blas: row-major C = op(A) op(B) is computed as the
# column-major C^T = op(B)^T op(A)^T (operands swapped), as scikit-learn's
# sklearn/utils/_cython_blas.pyx does.

from cython cimport floating
from cpython.exc cimport PyErr_CheckSignals
from libc.math cimport exp, expf, log, log1p, log1pf, pow, sqrt, sqrtf, tanh, tanhf
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, dgemv, sgemm, sgemv


# exp/tanh/log1p kernels that vectorise (libm's scalar expf/tanhf do not), compiled for
# generic x86-64, AVX2 and AVX-512 and picked at import. float32: error <= 2e-7 relative;
# float64 (AVX2/AVX-512 only, else the loops below): libm's own exp algorithm, <= 1 ulp.
# Tested in tests/test_vmath.py; see the note in _vmath.h.
cdef extern from "_vmath.h" nogil:
    const char* nn_vm_init()
    void nn_vm_bias_sigmoid_f32(const float* Z, const float* b, float* out, Py_ssize_t n,
                                Py_ssize_t d)
    void nn_vm_bias_tanh_f32(const float* Z, const float* b, float* out, Py_ssize_t n,
                             Py_ssize_t d)
    void nn_vm_bias_softmax_f32(const float* Z, const float* b, float* out, Py_ssize_t n,
                                Py_ssize_t d)
    double nn_vm_softmax_xent_f32(const float* Z, const int64_t* labels, float* dZ,
                                  Py_ssize_t n, Py_ssize_t c, double scale)
    double nn_vm_sigmoid_bce_f32(const float* Z, const float* T, float* dZ, Py_ssize_t m,
                                 double scale)
    bint nn_vm_have_f64()
    bint nn_vm_bias_sigmoid_f64(const double* Z, const double* b, double* out, Py_ssize_t n,
                                Py_ssize_t d)
    bint nn_vm_bias_softmax_f64(const double* Z, const double* b, double* out, Py_ssize_t n,
                                Py_ssize_t d)
    double nn_vm_softmax_xent_f64(const double* Z, const int64_t* labels, double* dZ,
                                  Py_ssize_t n, Py_ssize_t c, double scale)
    double nn_vm_sigmoid_bce_f64(const double* Z, const double* T, double* dZ, Py_ssize_t m,
                                 double scale)

# The instruction set those kernels run with: "avx512", "avx2" or "generic"
# (NNCORE_SIMD=generic|avx2 caps it; read once, here, at import).
SIMD_ISA = nn_vm_init().decode()

cdef extern from *:
    """
    #ifndef NNCORE_BOUNDS_CHECKED
    #define NNCORE_BOUNDS_CHECKED 0
    #endif
    """
    int NNCORE_BOUNDS_CHECKED

#: True in a NNCORE_DEBUG_BUILD=1 build: memoryview indexing is bounds-checked there.
BOUNDS_CHECKED = bool(NNCORE_BOUNDS_CHECKED)

# The codes are declared once, in nncore.backends._codes; this enum mirrors them for the
# nogil loops and _check_codes (below) compares the two at import.
from nncore.backends._codes import ACTIVATIONS, HYPER, LOSSES, OPTIMIZERS

cdef enum:
    ACT_IDENTITY = 0
    ACT_RELU = 1
    ACT_LEAKY_RELU = 2
    ACT_SIGMOID = 3
    ACT_TANH = 4
    ACT_SOFTMAX = 5
    LOSS_MSE = 0
    LOSS_XENT = 1
    LOSS_BCE = 2
    OPT_SGD = 0
    OPT_ADAM = 1
    # A long native call looks for Ctrl-C this often (in steps).
    SIGNAL_EVERY = 256


# The optimizer's hyper-parameters, by name: a dict with exactly the keys of
# _codes.HYPER (TrainPlan.hyper) converts into it field by field.
cdef struct Hyper:
    double lr
    double momentum
    double nesterov
    double weight_decay
    double beta1
    double beta2
    double eps
    double decoupled


# A network as the plan lays it out (nncore.backends.plan): widths, per-layer codes and
# the offsets of W_i, b_i in the parameter buffer and of Xb, Tb, A_i, D_i in the workspace.
cdef struct Net:
    Py_ssize_t L
    const int64_t* sizes
    const int32_t* acts
    const double* slopes
    const int64_t* w_off
    const int64_t* b_off
    const int64_t* work_off


def _check_codes():
    """Raise ImportError if this enum and struct differ from nncore.backends._codes."""
    enum = {
        ACTIVATIONS: {"identity": ACT_IDENTITY, "relu": ACT_RELU,
                      "leaky_relu": ACT_LEAKY_RELU, "sigmoid": ACT_SIGMOID, "tanh": ACT_TANH,
                      "softmax": ACT_SOFTMAX},
        LOSSES: {"mse": LOSS_MSE, "softmax_xent": LOSS_XENT, "sigmoid_bce": LOSS_BCE},
        OPTIMIZERS: {"sgd": OPT_SGD, "adam": OPT_ADAM},
    }
    for names, codes in enum.items():
        if {name: i for i, name in enumerate(names)} != codes:
            raise ImportError(f"nncore.backends._kernels: the codes {codes} differ from "
                              f"nncore.backends._codes {names}; rebuild the extension")
    cdef Hyper h
    try:
        h = dict.fromkeys(HYPER, 0.0)
    except (KeyError, TypeError, ValueError) as exc:
        raise ImportError(f"nncore.backends._kernels: struct Hyper lacks a field of "
                          f"_codes.HYPER ({exc}); rebuild the extension") from None
    if set(<object>h) != set(HYPER):
        raise ImportError("nncore.backends._kernels: struct Hyper has fields that "
                          "_codes.HYPER lacks; rebuild the extension")


_check_codes()


# ================================================================= scalar helpers
cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating _fabs(floating x) noexcept nogil:
    # libc fabs takes and returns double: calling _exp on it would pick the double path.
    return x if x >= 0 else -x


cdef inline floating _sigmoid(floating x) noexcept nogil:
    # exp of a non-positive number never overflows; the numerator picks the branch
    # without losing precision for large negative x (1 - s would cancel).
    cdef floating e = _exp(-_fabs(x))
    return (1 if x >= 0 else e) / (1 + e)


# ================================================================= cores
cdef void _gemm(bint ta, bint tb, int m, int n, int k, floating alpha,
                const floating* A, int lda, const floating* B, int ldb,
                floating beta, floating* C, int ldc) noexcept nogil:
    """Row-major C (m x n) = alpha op(A) op(B) + beta C; lda/ldb/ldc are row strides."""
    cdef Py_ssize_t i, j
    if m == 0 or n == 0:
        return
    if k == 0 or alpha == 0:
        # No product to add: C = beta C, without reading A or B. Not left to BLAS: with
        # alpha == 0 OpenBLAS's SkylakeX small-matrix kernels still compute 0 * A B (NaN
        # from a NaN or inf operand) where its other kernels skip the operands.
        # beta == 0 overwrites (NaN in C included); beta == 1 leaves C as it is.
        if beta == 0:
            for i in range(m):
                memset(C + i * ldc, 0, n * sizeof(floating))
        elif beta != 1:
            for i in range(m):
                for j in range(n):
                    C[i * ldc + j] = beta * C[i * ldc + j]
        return
    lda = max(1, lda)
    ldb = max(1, ldb)
    ldc = max(1, ldc)
    cdef char* ca = b"t" if ta else b"n"
    cdef char* cb = b"t" if tb else b"n"
    cdef int one = 1, rows_b = n if not tb else k, cols_b = k if not tb else n
    if m == 1:
        # One output row (single-sample predict): GEMV is several times faster than a
        # GEMM with m = 1 in OpenBLAS. op(A) is one row, contiguous either way (a
        # row-major 1 x k, or a k x 1 column with row stride 1). C^T = op(B)^T a^T, and
        # B's memory viewed column-major is B^T (rows_b x cols_b, leading dim ldb).
        # beta == 0: clear y first. GEMV scales y by beta through OpenBLAS's SCAL, which
        # since 0.3.27 may compute 0 * NaN = NaN depending on version and caller.
        if beta == 0:
            memset(C, 0, n * sizeof(floating))
        if floating is float:
            sgemv(cb, &rows_b, &cols_b, &alpha, <float*>B, &ldb, <float*>A, &one, &beta, C,
                  &one)
        else:
            dgemv(cb, &rows_b, &cols_b, &alpha, <double*>B, &ldb, <double*>A, &one, &beta,
                  C, &one)
        return
    if floating is float:
        sgemm(cb, ca, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda, &beta, C, &ldc)
    else:
        dgemm(cb, ca, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda, &beta, C, &ldc)


cdef void _bias_act(const floating* Z, const floating* b, floating* out, Py_ssize_t n,
                    Py_ssize_t d, int act, floating slope) noexcept nogil:
    """out = act(Z + b) row by row (out may be Z)."""
    cdef Py_ssize_t i, j
    cdef const floating* z
    cdef floating* o
    cdef floating v, mx
    cdef double s
    if d == 0:
        return
    if floating is float:  # the exp-based activations: vectorised kernels (_vmath.h)
        if act == ACT_SIGMOID:
            nn_vm_bias_sigmoid_f32(Z, b, out, n, d)
            return
        if act == ACT_TANH:
            nn_vm_bias_tanh_f32(Z, b, out, n, d)
            return
        if act == ACT_SOFTMAX:
            nn_vm_bias_softmax_f32(Z, b, out, n, d)
            return
    else:  # float64: vectorised exp where the CPU has AVX2 (else the loops below)
        if act == ACT_SIGMOID and nn_vm_bias_sigmoid_f64(Z, b, out, n, d):
            return
        if act == ACT_SOFTMAX and nn_vm_bias_softmax_f64(Z, b, out, n, d):
            return
    for i in range(n):
        z = Z + i * d
        o = out + i * d
        if act == ACT_IDENTITY:
            for j in range(d):
                o[j] = z[j] + b[j]
        elif act == ACT_RELU:
            for j in range(d):
                v = z[j] + b[j]
                o[j] = 0 if v < 0 else v  # NaN passes through, as np.where(v < 0, 0, v)
        elif act == ACT_LEAKY_RELU:
            for j in range(d):
                v = z[j] + b[j]
                # Two plain selects (max and min parts) vectorise; NaN and +-inf pass.
                o[j] = (v if v > 0 else 0) + slope * (0 if v > 0 else v)
        elif act == ACT_SIGMOID:
            for j in range(d):
                o[j] = _sigmoid(z[j] + b[j])
        elif act == ACT_TANH:
            for j in range(d):
                o[j] = _tanh(z[j] + b[j])
        else:  # softmax, max-subtracted
            mx = z[0] + b[0]
            for j in range(d):
                v = z[j] + b[j]
                o[j] = v
                mx = v if v > mx else mx
            s = 0
            for j in range(d):
                v = _exp(o[j] - mx)
                o[j] = v
                s += v
            for j in range(d):
                o[j] = <floating>(o[j] / s)


cdef void _act_backward(const floating* dY, const floating* Y, floating* dZ, double* acc,
                        Py_ssize_t n, Py_ssize_t d, int act, floating slope) noexcept nogil:
    """dZ = act' * dY from the output Y (dZ may be dY); acc (if not NULL) = column sums.

    The column sums are taken row by row while the row of dZ is still in L1.
    """
    cdef Py_ssize_t i, j
    cdef const floating* dy
    cdef const floating* y
    cdef floating* dz
    cdef floating one = 1, zero = 0
    cdef double s
    if acc != NULL:
        for j in range(d):
            acc[j] = 0
    if d == 0:
        return
    for i in range(n):
        dy = dY + i * d
        y = Y + i * d
        dz = dZ + i * d
        if act == ACT_IDENTITY:
            if dz != dy:
                for j in range(d):
                    dz[j] = dy[j]
        elif act == ACT_RELU:
            for j in range(d):
                # A select of two floating constants, then a multiply: gcc if-converts
                # and vectorises this (a bool (y > 0) cast left a branch in the loop).
                dz[j] = dy[j] * (one if y[j] > 0 else zero)
        elif act == ACT_LEAKY_RELU:
            for j in range(d):
                dz[j] = dy[j] * (1 if y[j] > 0 else slope)
        elif act == ACT_SIGMOID:
            for j in range(d):
                dz[j] = dy[j] * y[j] * (1 - y[j])
        elif act == ACT_TANH:
            for j in range(d):
                dz[j] = dy[j] * (1 - y[j] * y[j])
        else:
            s = 0
            for j in range(d):
                s += dy[j] * y[j]
            for j in range(d):
                dz[j] = <floating>(y[j] * (dy[j] - s))
        if acc != NULL:
            for j in range(d):
                acc[j] += dz[j]


cdef void _col_sum(const floating* X, double* acc, Py_ssize_t n, Py_ssize_t d) noexcept nogil:
    cdef Py_ssize_t i, j
    for j in range(d):
        acc[j] = 0
    for i in range(n):
        for j in range(d):
            acc[j] += X[i * d + j]


cdef double _softmax_xent(const floating* Z, const int64_t* labels, floating* dZ,
                          Py_ssize_t n, Py_ssize_t c, double scale) noexcept nogil:
    """Sum over rows of logsumexp(z) - z[label]; dZ = (softmax - onehot) * scale.

    Labels must already lie in [0, c). dZ may be Z.
    """
    cdef Py_ssize_t i, j
    cdef const floating* z
    cdef floating* dz
    cdef floating mx, zl
    cdef double s, total = 0
    if floating is float:  # vectorised exp (_vmath.h)
        total = nn_vm_softmax_xent_f32(Z, labels, dZ, n, c, scale)
    elif nn_vm_have_f64():
        total = nn_vm_softmax_xent_f64(Z, labels, dZ, n, c, scale)
    else:
        for i in range(n):
            z = Z + i * c
            dz = dZ + i * c
            mx = z[0]
            for j in range(c):
                mx = z[j] if z[j] > mx else mx
            zl = z[labels[i]]
            s = 0
            for j in range(c):
                dz[j] = _exp(z[j] - mx)
                s += dz[j]
            total += mx + log(s) - zl
            for j in range(c):
                dz[j] = <floating>(dz[j] / s * scale)
            dz[labels[i]] -= <floating>scale
    return total


cdef double _sigmoid_bce(const floating* Z, const floating* T, floating* dZ, Py_ssize_t m,
                         double scale) noexcept nogil:
    """Sum of max(z,0) - z t + log1p(exp(-|z|)); dZ = (sigmoid(z) - t) * scale."""
    cdef Py_ssize_t i
    cdef floating z, e
    cdef double total = 0
    if floating is float:  # vectorised exp and log1p (_vmath.h)
        total = nn_vm_sigmoid_bce_f32(Z, T, dZ, m, scale)
    elif nn_vm_have_f64():
        total = nn_vm_sigmoid_bce_f64(Z, T, dZ, m, scale)
    else:
        for i in range(m):
            z = Z[i]
            e = _exp(-_fabs(z))
            total += (z if z > 0 else 0) - z * T[i] + _log1p(e)
            dZ[i] = <floating>(((1 if z >= 0 else e) / (1 + e) - T[i]) * scale)
    return total


cdef double _mse(const floating* P, const floating* T, floating* dP, Py_ssize_t m,
                 double scale) noexcept nogil:
    """Sum of squared residuals; dP = 2 (p - t) * scale."""
    cdef Py_ssize_t i
    cdef floating r
    cdef double total = 0
    for i in range(m):
        r = P[i] - T[i]
        total += <double>r * r
        dP[i] = <floating>(2 * r * scale)
    return total


cdef void _sgd(floating* w, const floating* g, floating* v, Py_ssize_t n, floating lr,
               floating mu, bint nesterov, floating wd) noexcept nogil:
    # wd == 0 takes loops without the decay term: 0 * w would turn an inf weight into NaN.
    cdef Py_ssize_t i
    cdef floating gi, vi
    if mu == 0:
        if wd == 0:
            for i in range(n):
                w[i] = w[i] - lr * g[i]
        else:
            for i in range(n):
                w[i] = w[i] - lr * (g[i] + wd * w[i])
    else:
        for i in range(n):
            gi = g[i] + wd * w[i] if wd != 0 else g[i]
            vi = mu * v[i] + gi
            v[i] = vi
            w[i] = w[i] - lr * ((gi + mu * vi) if nesterov else vi)


cdef void _adam(floating* w, const floating* g, floating* m, floating* v, Py_ssize_t n,
                floating lr, floating b1, floating b2, floating c1, floating c2,
                floating eps, floating wd, floating keep) noexcept nogil:
    # c1 = 1 - b1 and c2 = 1 - b2 come rounded once from double (not 1 - float(b)).
    cdef Py_ssize_t i
    cdef floating gi, mi, vi, wi
    for i in range(n):
        wi = w[i] * keep
        gi = g[i] + wd * wi if wd != 0 else g[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * gi * gi
        m[i] = mi
        v[i] = vi
        w[i] = wi - lr * mi / (_sqrt(vi) + eps)


cdef void _sgd_split(floating* w, const floating* g, floating* v, Py_ssize_t n,
                     Py_ssize_t n_decay, double lr, double mu, bint nesterov,
                     double wd) noexcept nogil:
    # Two ranges, so the loop bodies carry no per-element test for decay.
    _sgd(w, g, v, n_decay, <floating>lr, <floating>mu, nesterov, <floating>wd)
    _sgd(w + n_decay, g + n_decay, v + n_decay, n - n_decay, <floating>lr, <floating>mu,
         nesterov, 0)


cdef void _adam_split(floating* w, const floating* g, floating* m, floating* v,
                      Py_ssize_t n, Py_ssize_t n_decay, double lr_t, double b1, double b2,
                      double eps_t, double l2, double decay) noexcept nogil:
    _adam(w, g, m, v, n_decay, <floating>lr_t, <floating>b1, <floating>b2,
          <floating>(1 - b1), <floating>(1 - b2), <floating>eps_t, <floating>l2,
          <floating>(1 - decay))
    _adam(w + n_decay, g + n_decay, m + n_decay, v + n_decay, n - n_decay, <floating>lr_t,
          <floating>b1, <floating>b2, <floating>(1 - b1), <floating>(1 - b2),
          <floating>eps_t, 0, 1)


cdef double* _double_scratch(Py_ssize_t d) except NULL:
    cdef double* acc = <double*>calloc(max(d, 1), sizeof(double))
    if acc == NULL:
        raise MemoryError()
    return acc


# ================================================================= Ops entry points
# Each takes memoryviews already validated by nncore.backends.ops and hands pointers to a core.
# Pointers are only taken of non-empty arrays (a debug build checks &x[0] too).

def gemm(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] out,
         bint trans_a, bint trans_b, double alpha, double beta):
    """out = alpha * op(A) @ op(B) + beta * out   (OUT: out)."""
    cdef int m = out.shape[0], n = out.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    if m == 0 or n == 0:
        return
    with nogil:
        _gemm(trans_a, trans_b, m, n, k, <floating>alpha,
              &A[0, 0] if A.shape[0] * A.shape[1] else NULL, A.shape[1],
              &B[0, 0] if B.shape[0] * B.shape[1] else NULL, B.shape[1],
              <floating>beta, &out[0, 0], n)


def bias_act_forward(const floating[:, ::1] Z, const floating[::1] b, int act,
                     floating[:, ::1] out, double negative_slope):
    """out = act(Z + b), row-wise for softmax (OUT: out; out may be Z itself)."""
    if Z.shape[0] == 0 or Z.shape[1] == 0:
        return
    with nogil:
        _bias_act(&Z[0, 0], &b[0], &out[0, 0], Z.shape[0], Z.shape[1], act,
                  <floating>negative_slope)


def act_backward(const floating[:, ::1] dY, const floating[:, ::1] Y, int act,
                 floating[:, ::1] dZ, floating[::1] db, bint with_db,
                 double negative_slope):
    """dZ = act'(.) * dY from the OUTPUT Y; if with_db, db = column sums of dZ.

    OUT: dZ (may be dY itself), db.
    """
    cdef Py_ssize_t n = Y.shape[0], d = Y.shape[1], j
    cdef double* acc = NULL
    if d == 0:
        return
    if with_db:
        acc = _double_scratch(d)
    with nogil:
        if n > 0:
            _act_backward(&dY[0, 0], &Y[0, 0], &dZ[0, 0], acc, n, d, act,
                          <floating>negative_slope)
        if with_db:
            for j in range(d):
                db[j] = <floating>acc[j]
            free(acc)


def col_sum(const floating[:, ::1] X, floating[::1] out):
    """out[j] = sum_i X[i, j]  (OUT: out), accumulated in double."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], j
    if d == 0:
        return
    cdef double* acc = _double_scratch(d)
    with nogil:
        if n > 0:
            _col_sum(&X[0, 0], acc, n, d)
        for j in range(d):
            out[j] = <floating>acc[j]
        free(acc)


def softmax_xent(const floating[:, ::1] logits, const int64_t[::1] labels,
                 floating[:, ::1] dlogits):
    """Mean softmax cross-entropy; dlogits = (softmax - onehot) / n.

    Returns (loss, bad): bad is the index of the first label outside [0, C), or -1; the
    labels are checked before anything is written. OUT: dlogits (may be logits).
    """
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1], i
    cdef double total
    for i in range(n):
        if labels[i] < 0 or labels[i] >= c:
            return 0.0, i
    if n == 0:
        return 0.0, -1
    with nogil:
        total = _softmax_xent(&logits[0, 0], &labels[0], &dlogits[0, 0], n, c, 1.0 / n)
    return total / n, -1


def sigmoid_bce(const floating[:, ::1] logits, const floating[:, ::1] y,
                floating[:, ::1] dlogits):
    """Mean binary cross-entropy with logits over all elements; dlogits = (sigmoid - y)/N."""
    cdef Py_ssize_t m = logits.shape[0] * logits.shape[1]
    cdef double total
    if m == 0:
        return 0.0
    with nogil:
        total = _sigmoid_bce(&logits[0, 0], &y[0, 0], &dlogits[0, 0], m, 1.0 / m)
    return total / m


def mse(const floating[:, ::1] pred, const floating[:, ::1] y, floating[:, ::1] dpred):
    """Mean squared error over batch and outputs; dpred = 2 (pred - y) / N."""
    cdef Py_ssize_t m = pred.shape[0] * pred.shape[1]
    cdef double total
    if m == 0:
        return 0.0
    with nogil:
        total = _mse(&pred[0, 0], &y[0, 0], &dpred[0, 0], m, 1.0 / m)
    return total / m


def sgd_update(floating[::1] w, const floating[::1] g, floating[::1] v, double lr,
               double momentum, bint nesterov, double weight_decay, Py_ssize_t n_decay):
    """One SGD step in place, PyTorch semantics (dampening 0). INOUT: w, v."""
    if w.shape[0] == 0:
        return
    with nogil:
        _sgd_split(&w[0], &g[0], &v[0], w.shape[0], n_decay, lr, momentum, nesterov,
                   weight_decay)


def adam_update(floating[::1] w, const floating[::1] g, floating[::1] m, floating[::1] v,
                double lr_t, double beta1, double beta2, double eps_t,
                double weight_decay, double decoupled_decay, Py_ssize_t n_decay):
    """One Adam/AdamW step in place with the bias correction folded in. INOUT: w, m, v."""
    if w.shape[0] == 0:
        return
    with nogil:
        _adam_split(&w[0], &g[0], &m[0], &v[0], w.shape[0], n_decay, lr_t, beta1, beta2,
                    eps_t, weight_decay, decoupled_decay)


# ================================================================= plans
# The layout comes from the plan (nncore.backends.plan): offsets, never re-derived here.

cdef Net _net(const int64_t[::1] sizes, const int32_t[::1] acts, const double[::1] slopes,
              const int64_t[::1] w_off, const int64_t[::1] b_off,
              const int64_t[::1] work_off):
    cdef Net net
    net.L = acts.shape[0]
    net.sizes = &sizes[0]
    net.acts = &acts[0]
    net.slopes = &slopes[0]
    net.w_off = &w_off[0]
    net.b_off = &b_off[0]
    net.work_off = &work_off[0] if work_off.shape[0] else NULL
    return net


def mlp_forward(const floating[:, ::1] X, floating[::1] w, const int64_t[::1] sizes,
                const int32_t[::1] acts, const double[::1] slopes, const int64_t[::1] w_off,
                const int64_t[::1] b_off, floating[::1] work, floating[:, ::1] out):
    """All layers of an MLP on X in one call. OUT: out (n, sizes[-1]); work is scratch of
    at least 2 * n * max(sizes[1:-1]) elements (ping-pong between hidden layers)."""
    cdef Py_ssize_t n = X.shape[0], L = acts.shape[0], i, half
    cdef const floating* src
    cdef floating* dst
    if n == 0:
        return
    half = work.shape[0] // 2
    with nogil:
        src = &X[0, 0]
        for i in range(L):
            dst = &out[0, 0] if i == L - 1 else &work[0] + (i % 2) * half
            _gemm(False, False, <int>n, <int>sizes[i + 1], <int>sizes[i], 1, src,
                  <int>sizes[i], &w[w_off[i]], <int>sizes[i + 1], 0, dst, <int>sizes[i + 1])
            _bias_act(dst, &w[b_off[i]], dst, n, sizes[i + 1], acts[i], <floating>slopes[i])
            src = dst


cdef double _batch_gradient(const Net* net, const floating* X, const floating* T,
                            const int64_t* labels, const int64_t* idx, Py_ssize_t rows,
                            int loss_kind, double scale, floating* w, floating* g,
                            bint accumulate, floating* work, int64_t* label_work,
                            double* acc, bint fused_sgd, double lr,
                            double wd) noexcept nogil:
    """One batch, the backpropagation shared by train_epoch and loss_gradient.

    Gathers rows idx of X and T (or labels), runs the forward pass, the loss with its
    gradient times ``scale`` into D_{L-1}, and the backward pass (D_i turned into dZ_i in
    place). The parameter gradient goes into g (added to it when ``accumulate``); with
    ``fused_sgd`` BLAS applies W = (1 - lr wd) W - lr A^T dZ in the dW GEMM instead (and
    b -= lr db), and g is not written. Returns the loss summed over the batch (unscaled).
    """
    cdef Py_ssize_t L = net.L, d0 = net.sizes[0], k = net.sizes[L], r, i, j, n_in, n_out
    cdef floating* Xb = work + net.work_off[0]
    cdef floating* Tb = work + net.work_off[1]
    cdef floating* A
    cdef floating* D
    cdef floating* Wp
    cdef floating* bp
    cdef const floating* below
    cdef double part
    cdef floating beta = 1 if accumulate else 0
    for r in range(rows):
        memcpy(Xb + r * d0, X + idx[r] * d0, d0 * sizeof(floating))
    if loss_kind == LOSS_XENT:
        for r in range(rows):
            label_work[r] = labels[idx[r]]
    else:
        for r in range(rows):
            memcpy(Tb + r * k, T + idx[r] * k, k * sizeof(floating))
    # forward
    below = Xb
    for i in range(L):
        n_in, n_out = net.sizes[i], net.sizes[i + 1]
        A = work + net.work_off[2 + 2 * i]
        _gemm(False, False, <int>rows, <int>n_out, <int>n_in, 1, below, <int>n_in,
              w + net.w_off[i], <int>n_out, 0, A, <int>n_out)
        _bias_act(A, w + net.b_off[i], A, rows, n_out, net.acts[i], <floating>net.slopes[i])
        below = A
    # loss and its gradient into D_{L-1}
    A = work + net.work_off[2 * L]
    D = work + net.work_off[2 * L + 1]
    if loss_kind == LOSS_XENT:
        part = _softmax_xent(A, label_work, D, rows, k, scale)
    elif loss_kind == LOSS_BCE:
        part = _sigmoid_bce(A, Tb, D, rows * k, scale)
    else:
        part = _mse(A, Tb, D, rows * k, scale)
    # backward, last layer first
    for i in range(L - 1, -1, -1):
        n_in, n_out = net.sizes[i], net.sizes[i + 1]
        A = work + net.work_off[2 + 2 * i]
        D = work + net.work_off[3 + 2 * i]
        below = Xb if i == 0 else work + net.work_off[2 * i]  # A_{i-1}
        Wp = w + net.w_off[i]
        _act_backward(D, A, D, acc, rows, n_out, net.acts[i], <floating>net.slopes[i])
        if i > 0:  # dX = dZ W^T into D_{i-1}, with W before its update
            _gemm(False, True, <int>rows, <int>n_in, <int>n_out, 1, D, <int>n_out, Wp,
                  <int>n_out, 0, work + net.work_off[1 + 2 * i], <int>n_in)
        if fused_sgd:
            _gemm(True, False, <int>n_in, <int>n_out, <int>rows, <floating>(-lr), below,
                  <int>n_in, D, <int>n_out, <floating>(1 - lr * wd), Wp, <int>n_out)
            bp = w + net.b_off[i]
            for j in range(n_out):
                bp[j] = <floating>(bp[j] - lr * acc[j])
        else:
            _gemm(True, False, <int>n_in, <int>n_out, <int>rows, 1, below, <int>n_in, D,
                  <int>n_out, beta, g + net.w_off[i], <int>n_out)
            bp = g + net.b_off[i]
            if accumulate:
                for j in range(n_out):
                    bp[j] = <floating>(bp[j] + acc[j])
            else:
                for j in range(n_out):
                    bp[j] = <floating>acc[j]
    return part


def train_epoch(const floating[:, ::1] X, const floating[:, ::1] T,
                const int64_t[::1] labels, const int64_t[::1] order, Py_ssize_t batch,
                const int64_t[::1] sizes, const int32_t[::1] acts, const double[::1] slopes,
                const int64_t[::1] w_off, const int64_t[::1] b_off,
                const int64_t[::1] work_off, floating[::1] w, floating[::1] g,
                floating[::1] work, int64_t[::1] label_work, double[::1] acc, int loss_kind,
                int opt_kind, Hyper hyper, floating[::1] s1, floating[::1] s2,
                int64_t[::1] counters, bint fused_sgd):
    """One epoch of mini-batch gradient descent over X[order] in a single nogil call.

    X (n, d0) IN; T (n, k) IN float targets (mse, bce) or labels (n,) IN (softmax_xent);
    order IN: the sample order, batches of ``batch`` rows (the last may be shorter).
    w INOUT, g OUT (not written when ``fused_sgd``), s1/s2 INOUT optimizer state,
    counters INOUT: [0] optimizer step t, [1] steps done in this call. The offsets
    (w_off, b_off, work_off) and the workspace come from a TrainPlan. Each step is
    _batch_gradient, then the update (with ``fused_sgd``, plain SGD without momentum,
    applied inside it). Returns the sum over steps of (mean batch loss x batch rows).
    Looks for Ctrl-C every SIGNAL_EVERY steps; on KeyboardInterrupt the completed
    steps stand.
    """
    cdef Net net = _net(sizes, acts, slopes, w_off, b_off, work_off)
    cdef Py_ssize_t n = order.shape[0], k = sizes[acts.shape[0]], start = 0, rows
    cdef Py_ssize_t step = 0, p = w.shape[0], n_weights = b_off[0]
    cdef double total = 0, part, scale, lr_t, eps_t, t
    cdef double lr = hyper.lr, wd = hyper.weight_decay, b1 = hyper.beta1, b2 = hyper.beta2
    cdef bint xent = loss_kind == LOSS_XENT, decoupled = hyper.decoupled != 0
    cdef const floating* Xp = &X[0, 0] if X.shape[0] * X.shape[1] else NULL
    cdef const floating* Tp = &T[0, 0] if T.shape[0] * T.shape[1] else NULL
    cdef const int64_t* Lp = &labels[0] if labels.shape[0] else NULL
    with nogil:
        while start < n:
            rows = min(batch, n - start)
            scale = 1.0 / rows if xent else 1.0 / (rows * k)
            part = _batch_gradient(&net, Xp, Tp, Lp, &order[start], rows, loss_kind, scale,
                                   &w[0], &g[0], False, &work[0], &label_work[0], &acc[0],
                                   fused_sgd, lr, wd)
            total += part * scale * rows
            start += rows
            # update
            counters[0] += 1
            if not fused_sgd:
                if opt_kind == OPT_SGD:
                    _sgd_split(&w[0], &g[0], &s1[0], p, n_weights, lr, hyper.momentum,
                               hyper.nesterov != 0, wd)
                else:
                    t = <double>counters[0]
                    lr_t = lr * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t))
                    eps_t = hyper.eps * sqrt(1 - pow(b2, t))
                    _adam_split(&w[0], &g[0], &s1[0], &s2[0], p, n_weights, lr_t, b1, b2,
                                eps_t, 0 if decoupled else wd, lr * wd if decoupled else 0)
            step += 1
            counters[1] = step
            if step % SIGNAL_EVERY == 0:
                with gil:
                    PyErr_CheckSignals()  # raises KeyboardInterrupt after Ctrl-C
    return total


def loss_gradient(const floating[:, ::1] X, const floating[:, ::1] T,
                  const int64_t[::1] labels, const int64_t[::1] order, Py_ssize_t batch,
                  const int64_t[::1] sizes, const int32_t[::1] acts,
                  const double[::1] slopes, const int64_t[::1] w_off,
                  const int64_t[::1] b_off, const int64_t[::1] work_off, floating[::1] w,
                  floating[::1] g, floating[::1] work, int64_t[::1] label_work,
                  double[::1] acc, int loss_kind):
    """Mean loss over X[order] and its gradient into g (OUT), without an update.

    The rows go through _batch_gradient in runs of ``batch`` (the workspace's rows), each
    loss gradient scaled by 1 / (all rows [x outputs]), so the runs' parameter gradients
    add up (GEMM beta = 1 after the first) to the gradient of the mean. Needs
    len(order) >= 1. Looks for Ctrl-C every SIGNAL_EVERY runs.
    """
    cdef Net net = _net(sizes, acts, slopes, w_off, b_off, work_off)
    cdef Py_ssize_t n = order.shape[0], k = sizes[acts.shape[0]], start = 0, rows
    cdef Py_ssize_t runs = 0
    cdef double total = 0
    cdef double scale = 1.0 / n if loss_kind == LOSS_XENT else 1.0 / (n * k)
    cdef const floating* Xp = &X[0, 0] if X.shape[0] * X.shape[1] else NULL
    cdef const floating* Tp = &T[0, 0] if T.shape[0] * T.shape[1] else NULL
    cdef const int64_t* Lp = &labels[0] if labels.shape[0] else NULL
    with nogil:
        while start < n:
            rows = min(batch, n - start)
            total += _batch_gradient(&net, Xp, Tp, Lp, &order[start], rows, loss_kind,
                                     scale, &w[0], &g[0], start > 0, &work[0],
                                     &label_work[0], &acc[0], False, 0, 0)
            start += rows
            runs += 1
            if runs % SIGNAL_EVERY == 0:
                with gil:
                    PyErr_CheckSignals()
    return total * scale
