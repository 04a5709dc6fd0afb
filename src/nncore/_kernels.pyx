# Design note
# -----------
# The hot loops of nncore, and nothing else. Every function here:
#   * is generic over ``cython.floating`` (float32 and float64);
#   * takes inputs as ``const floating[...]`` C-contiguous memoryviews and writes its
#     results into caller-given OUT buffers (no allocation);
#   * runs its loop without the GIL;
#   * trusts its arguments: shapes, dtypes and contiguity are validated once, in Python,
#     by ``nncore._checks`` (shared with the NumPy reference). The directives that turn
#     bounds checking off are set in setup.py so a debug build can turn them back on.
# Activations are passed as small integer codes (see ``ACTIVATIONS``) so the loops
# branch once per call, not per element. Element-wise bodies are kept branchless
# (selects, not ifs) so gcc vectorises them. Sums of float32 values accumulate in
# double. GEMM goes to BLAS through scipy.linalg.cython_blas: row-major C = op(A) op(B)
# is computed as the column-major product C^T = op(B)^T op(A)^T (operands swapped), as
# scikit-learn's sklearn/utils/_cython_blas.pyx does.

from cython cimport floating
from libc.math cimport exp, expf, fabs, log, log1p, log1pf, sqrt, sqrtf, tanh, tanhf
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free
from scipy.linalg.cython_blas cimport dgemm, sgemm

# Order matters: the codes are the indices into this tuple.
ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax")
cdef enum:
    ACT_IDENTITY = 0
    ACT_RELU = 1
    ACT_LEAKY_RELU = 2
    ACT_SIGMOID = 3
    ACT_TANH = 4
    ACT_SOFTMAX = 5


# ---------------------------------------------------------------- scalar helpers
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


cdef inline floating _sigmoid(floating x) noexcept nogil:
    # exp of a non-positive number never overflows; the numerator picks the branch
    # without losing precision for large negative x (1 - s would cancel).
    cdef floating e = _exp(-fabs(x))
    return (1 if x >= 0 else e) / (1 + e)


# ---------------------------------------------------------------- GEMM
def gemm(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] out,
         bint trans_a, bint trans_b, double alpha, double beta):
    """out = alpha * op(A) @ op(B) + beta * out   (OUT: out). Shapes already checked."""
    cdef int m = out.shape[0]
    cdef int n = out.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef int lda = max(1, A.shape[1])
    cdef int ldb = max(1, B.shape[1])
    cdef int ldc = max(1, n)
    cdef char *ta = b"t" if trans_a else b"n"
    cdef char *tb = b"t" if trans_b else b"n"
    cdef float salpha = alpha, sbeta = beta
    cdef Py_ssize_t i, j
    if m == 0 or n == 0:
        return
    if k == 0:
        # BLAS would be handed zero-length operands; the product is empty, so
        # out = beta * out (beta == 0 overwrites, as BLAS does, NaN included).
        with nogil:
            for i in range(m):
                for j in range(n):
                    out[i, j] = 0 if beta == 0 else <floating>(beta * out[i, j])
        return
    with nogil:
        if floating is float:
            sgemm(tb, ta, &n, &m, &k, &salpha, <float*>&B[0, 0], &ldb,
                  <float*>&A[0, 0], &lda, &sbeta, &out[0, 0], &ldc)
        else:
            dgemm(tb, ta, &n, &m, &k, &alpha, <double*>&B[0, 0], &ldb,
                  <double*>&A[0, 0], &lda, &beta, &out[0, 0], &ldc)


# ---------------------------------------------------------------- activations
def bias_act_forward(const floating[:, ::1] Z, const floating[::1] b, int act,
                     floating[:, ::1] out, double negative_slope):
    """out = act(Z + b), row-wise for softmax (OUT: out; out may be Z itself)."""
    cdef Py_ssize_t n = Z.shape[0], d = Z.shape[1], i, j
    cdef floating v, mx, slope = negative_slope
    cdef double s
    with nogil:
        if act == ACT_IDENTITY:
            for i in range(n):
                for j in range(d):
                    out[i, j] = Z[i, j] + b[j]
        elif act == ACT_RELU:
            for i in range(n):
                for j in range(d):
                    v = Z[i, j] + b[j]
                    out[i, j] = 0 if v < 0 else v
        elif act == ACT_LEAKY_RELU:
            for i in range(n):
                for j in range(d):
                    v = Z[i, j] + b[j]
                    out[i, j] = v if v > 0 else slope * v
        elif act == ACT_SIGMOID:
            for i in range(n):
                for j in range(d):
                    out[i, j] = _sigmoid(Z[i, j] + b[j])
        elif act == ACT_TANH:
            for i in range(n):
                for j in range(d):
                    out[i, j] = _tanh(Z[i, j] + b[j])
        elif act == ACT_SOFTMAX:
            for i in range(n):
                if d == 0:
                    continue
                mx = Z[i, 0] + b[0]
                for j in range(d):
                    v = Z[i, j] + b[j]
                    out[i, j] = v
                    mx = v if v > mx else mx
                s = 0
                for j in range(d):
                    v = _exp(out[i, j] - mx)
                    out[i, j] = v
                    s += v
                for j in range(d):
                    out[i, j] = <floating>(out[i, j] / s)


cdef inline void _act_backward_row(const floating* dy, const floating* y, floating* dz,
                                   Py_ssize_t d, int act, floating slope) noexcept nogil:
    # One row; the branch on act is taken once per row and each loop body is branchless.
    cdef Py_ssize_t j
    cdef double s = 0
    if act == ACT_IDENTITY:
        for j in range(d):
            dz[j] = dy[j]
    elif act == ACT_RELU:
        for j in range(d):
            dz[j] = dy[j] if y[j] > 0 else 0
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
        for j in range(d):
            s += dy[j] * y[j]
        for j in range(d):
            dz[j] = <floating>(y[j] * (dy[j] - s))


def act_backward(const floating[:, ::1] dY, const floating[:, ::1] Y, int act,
                 floating[:, ::1] dZ, floating[::1] db, bint with_db,
                 double negative_slope):
    """dZ = act'(.) * dY computed from the OUTPUT Y; if with_db, db = column sums of dZ.

    OUT: dZ (may be dY itself), db. The column sums are taken in the same pass, while
    the row of dZ is still in L1, and accumulate in double.
    """
    cdef Py_ssize_t n = Y.shape[0], d = Y.shape[1], i, j
    cdef floating slope = negative_slope
    cdef double* acc = NULL
    if d == 0:
        return
    if with_db:
        acc = <double*>calloc(d, sizeof(double))
        if acc == NULL:
            raise MemoryError()
    with nogil:
        for i in range(n):
            _act_backward_row(&dY[i, 0], &Y[i, 0], &dZ[i, 0], d, act, slope)
            if with_db:
                _add_row(acc, &dZ[i, 0], d)
        if with_db:
            for j in range(d):
                db[j] = <floating>acc[j]
            free(acc)


cdef inline void _add_row(double* acc, const floating* x, Py_ssize_t d) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(d):
        acc[j] += x[j]


def col_sum(const floating[:, ::1] X, floating[::1] out):
    """out[j] = sum_i X[i, j]  (OUT: out), accumulated in double."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i, j
    cdef double* acc
    if d == 0:
        return
    acc = <double*>calloc(d, sizeof(double))
    if acc == NULL:
        raise MemoryError()
    with nogil:
        for i in range(n):
            _add_row(acc, &X[i, 0], d)
        for j in range(d):
            out[j] = <floating>acc[j]
        free(acc)


# ---------------------------------------------------------------- losses
def softmax_xent(const floating[:, ::1] logits, const int64_t[::1] labels,
                 floating[:, ::1] dlogits):
    """Mean softmax cross-entropy over the batch; dlogits = (softmax - onehot) / n.

    Returns (loss, bad): bad is the index of the first label outside [0, C), or -1; the
    labels are checked before anything is written. OUT: dlogits (may be logits itself).
    """
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1], i, j
    cdef int64_t lab
    cdef floating mx, zl
    cdef double s, total = 0, inv_n = 1.0 / n if n > 0 else 0.0
    for i in range(n):
        if labels[i] < 0 or labels[i] >= c:
            return 0.0, i
    with nogil:
        for i in range(n):
            lab = labels[i]
            mx = logits[i, 0]
            for j in range(c):
                mx = logits[i, j] if logits[i, j] > mx else mx
            zl = logits[i, lab]
            s = 0
            for j in range(c):
                dlogits[i, j] = _exp(logits[i, j] - mx)
                s += dlogits[i, j]
            total += mx + log(s) - zl
            for j in range(c):
                dlogits[i, j] = <floating>(dlogits[i, j] / s * inv_n)
            dlogits[i, lab] -= <floating>inv_n
    return total * inv_n, -1


def sigmoid_bce(const floating[:, ::1] logits, const floating[:, ::1] y,
                floating[:, ::1] dlogits):
    """Mean binary cross-entropy with logits over all elements; dlogits = (sigmoid - y) / N.

    loss = max(z, 0) - z*y + log1p(exp(-|z|)), which neither overflows nor takes log(0).
    OUT: dlogits (may be logits itself).
    """
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1], i, j
    cdef floating z, t, e
    cdef double total = 0, inv = 1.0 / (n * k) if n * k > 0 else 0.0
    with nogil:
        for i in range(n):
            for j in range(k):
                z = logits[i, j]
                t = y[i, j]
                e = _exp(-fabs(z))
                total += (z if z > 0 else 0) - z * t + _log1p(e)
                dlogits[i, j] = <floating>(((1 if z >= 0 else e) / (1 + e) - t) * inv)
    return total * inv


def mse(const floating[:, ::1] pred, const floating[:, ::1] y, floating[:, ::1] dpred):
    """Mean squared error over batch and outputs; dpred = 2 (pred - y) / N  (OUT: dpred)."""
    cdef Py_ssize_t n = pred.shape[0], k = pred.shape[1], i, j
    cdef floating r
    cdef double total = 0, inv = 1.0 / (n * k) if n * k > 0 else 0.0
    with nogil:
        for i in range(n):
            for j in range(k):
                r = pred[i, j] - y[i, j]
                total += <double>r * r
                dpred[i, j] = <floating>(2 * r * inv)
    return total * inv


# ---------------------------------------------------------------- optimizers
cdef inline void _sgd_range(floating* w, const floating* g, floating* v, Py_ssize_t n,
                            floating lr, floating mu, bint nesterov,
                            floating wd) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, vi
    if mu == 0:
        for i in range(n):
            w[i] = w[i] - lr * (g[i] + wd * w[i])
    else:
        for i in range(n):
            gi = g[i] + wd * w[i]
            vi = mu * v[i] + gi
            v[i] = vi
            w[i] = w[i] - lr * ((gi + mu * vi) if nesterov else vi)


def sgd_update(floating[::1] w, const floating[::1] g, floating[::1] v, double lr,
               double momentum, bint nesterov, double weight_decay, Py_ssize_t n_decay):
    """One SGD step in place, PyTorch semantics (dampening 0). INOUT: w, v.

    g' = g + wd * w  (w[:n_decay] only);  v = momentum * v + g';
    w -= lr * (g' + momentum * v if nesterov else v)   (w -= lr * g' when momentum == 0;
    v is then neither read nor written).
    """
    cdef Py_ssize_t n = w.shape[0]
    if n == 0:
        return
    with nogil:
        # Two ranges, so the loop bodies carry no per-element test for decay.
        if n_decay > 0:
            _sgd_range(&w[0], &g[0], &v[0], n_decay, <floating>lr, <floating>momentum,
                       nesterov, <floating>weight_decay)
        if n_decay < n:
            _sgd_range(&w[n_decay], &g[n_decay], &v[n_decay], n - n_decay, <floating>lr,
                       <floating>momentum, nesterov, 0)


cdef inline void _adam_range(floating* w, const floating* g, floating* m, floating* v,
                             Py_ssize_t n, floating lr, floating b1, floating b2,
                             floating eps, floating wd, floating keep) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, mi, vi, wi
    cdef floating c1 = 1 - b1, c2 = 1 - b2
    for i in range(n):
        wi = w[i] * keep
        gi = g[i] + wd * wi
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * gi * gi
        m[i] = mi
        v[i] = vi
        w[i] = wi - lr * mi / (_sqrt(vi) + eps)


def adam_update(floating[::1] w, const floating[::1] g, floating[::1] m, floating[::1] v,
                double lr_t, double beta1, double beta2, double eps_t,
                double weight_decay, double decoupled_decay, Py_ssize_t n_decay):
    """One Adam/AdamW step in place. INOUT: w, m, v.

    The caller folds the bias correction into lr_t and eps_t, so the loop is one pass:
    w[:n_decay] *= (1 - decoupled_decay);  g' = g + weight_decay * w  (w[:n_decay] only);
    m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2;  w -= lr_t * m / (sqrt(v) + eps_t).
    """
    cdef Py_ssize_t n = w.shape[0]
    if n == 0:
        return
    with nogil:
        if n_decay > 0:
            _adam_range(&w[0], &g[0], &m[0], &v[0], n_decay, <floating>lr_t,
                        <floating>beta1, <floating>beta2, <floating>eps_t,
                        <floating>weight_decay, <floating>(1 - decoupled_decay))
        if n_decay < n:
            _adam_range(&w[n_decay], &g[n_decay], &m[n_decay], &v[n_decay], n - n_decay,
                        <floating>lr_t, <floating>beta1, <floating>beta2, <floating>eps_t,
                        0, 1)
