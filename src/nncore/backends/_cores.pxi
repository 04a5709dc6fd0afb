# The pointer cores of _kernels.pyx (included there, textually): ``cdef ... noexcept
# nogil`` functions on raw pointers, generic over ``cython.floating``, that trust their
# arguments. See the design note at the top of _kernels.pyx.

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
# Products with m * n * k up to this many multiply-adds skip BLAS (set_small_gemm); the
# small kernel's copy of op(B) (on the stack) bounds k * n.
cdef enum:
    SMALL_GEMM_KN = 4096
cdef Py_ssize_t _small_gemm_mnk = SMALL_GEMM_DEFAULT


def set_small_gemm(Py_ssize_t mnk):
    """Products of at most ``mnk`` multiply-adds run in nncore's loops, larger ones in BLAS
    (0: always BLAS). Returns the previous bound. For benchmarks and tests."""
    global _small_gemm_mnk
    old, _small_gemm_mnk = _small_gemm_mnk, max(mnk, 0)
    return old


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
    cdef floating bt[SMALL_GEMM_KN]
    if <Py_ssize_t>m * n * k <= _small_gemm_mnk and <Py_ssize_t>k * (n + 15) <= SMALL_GEMM_KN:
        # Tiny products (small networks): our loops, no BLAS call (_gemv_body.h)
        if floating is float:
            nn_vm_gemm_small_f32(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bt)
        else:
            nn_vm_gemm_small_f64(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bt)
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
    else:  # float64: vectorised exp and tanh where the CPU has AVX2 (else the loops below)
        if act == ACT_SIGMOID and nn_vm_bias_sigmoid_f64(Z, b, out, n, d):
            return
        if act == ACT_TANH and nn_vm_bias_tanh_f64(Z, b, out, n, d):
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


cdef inline void _act_backward(const floating* dY, const floating* Y, floating* dZ,
                               double* acc, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                               int act, floating slope) noexcept nogil:
    """dZ = act' * dY from the output Y (dZ may be dY); acc (if not NULL) = column sums.
    n rows of d values, ld apart (ld = d: contiguous; more: d columns of a wider matrix).

    The column sums are taken row by row while the row of dZ is still in L1; the loops are
    _update_body.h's, at the CPU's instruction-set level (_vmath.h).
    """
    if floating is float:
        nn_vm_act_backward_f32(dY, Y, dZ, acc, n, d, ld, act, slope)
    else:
        nn_vm_act_backward_f64(dY, Y, dZ, acc, n, d, ld, act, slope)


cdef inline void _col_sum(const floating* X, double* acc, Py_ssize_t n,
                          Py_ssize_t d) noexcept nogil:
    if floating is float:
        nn_vm_col_sum_f32(X, acc, n, d)
    else:
        nn_vm_col_sum_f64(X, acc, n, d)


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


cdef double _poisson(const floating* Z, const floating* T, floating* dZ, Py_ssize_t m,
                     double scale) noexcept nogil:
    """Sum of the Poisson deviance of mu = exp(z), 2 (mu - t + t (log t - z)), with
    0 log 0 = 0; dZ = 2 (mu - t) * scale. dZ may be Z.

    In double for both dtypes (libm exp and log: one element per output unit and row,
    so not worth the vector kernels), as NumpyOps does it. exp overflows to +inf for
    z > 709.78: the loss and gradient are then +inf (float32: the gradient is +inf
    from z > 88.7 on), which fit reports as a divergence; nothing is clipped, so the
    gradient is exact wherever it is finite. A negative t gives a NaN loss (log).
    """
    cdef Py_ssize_t i
    cdef double z, t, mu, total = 0
    for i in range(m):
        z = Z[i]
        t = T[i]
        mu = exp(z)
        # t (log t - z), not t log t - t z: the difference stays within the parenthesis
        total += (mu - t) + (t * (log(t) - z) if t != 0 else 0)
        dZ[i] = <floating>(2 * (mu - t) * scale)
    return 2 * total


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


cdef double _loss_plain(int kind, const floating* Z, const floating* T,
                        const int64_t* labels, floating* dZ, Py_ssize_t n, Py_ssize_t k,
                        double scale) noexcept nogil:
    """The loss ``kind`` summed over n rows of k (T or labels, the one the loss reads)."""
    if kind == LOSS_XENT:
        return _softmax_xent(Z, labels, dZ, n, k, scale)
    if kind == LOSS_BCE:
        return _sigmoid_bce(Z, T, dZ, n * k, scale)
    if kind == LOSS_POISSON:
        return _poisson(Z, T, dZ, n * k, scale)
    return _mse(Z, T, dZ, n * k, scale)


cdef double _loss(int kind, const floating* Z, const floating* T, const int64_t* labels,
                  floating* dZ, Py_ssize_t n, Py_ssize_t k, double scale,
                  const double* rw) noexcept nogil:
    """Sum over rows of rw[i] * loss_i, the gradient of row i scaled by scale * rw[i].

    rw NULL: every rw[i] = 1 (one call over all rows). Otherwise the same kernels row by
    row, in the same pass; a row with rw[i] == 0 gets a zero gradient and adds nothing,
    also where its loss is inf or NaN (a weight of 0 removes the row). dZ may be Z.
    """
    cdef Py_ssize_t i, j
    cdef double total = 0
    if rw == NULL:
        return _loss_plain(kind, Z, T, labels, dZ, n, k, scale)
    for i in range(n):
        if rw[i] == 0:
            for j in range(k):
                dZ[i * k + j] = 0
            continue
        total += rw[i] * _loss_plain(kind, Z + i * k, T + i * k if T != NULL else NULL,
                                     labels + i if labels != NULL else NULL, dZ + i * k, 1,
                                     k, scale * rw[i])
    return total


cdef inline void _sgd(floating* w, const floating* g, floating* v, Py_ssize_t n,
                      floating lr, floating mu, bint nesterov, floating wd) noexcept nogil:
    # _update_body.h: wd == 0 takes loops without the decay term (0 * inf would be NaN).
    if floating is float:
        nn_vm_sgd_f32(w, g, v, n, lr, mu, nesterov, wd)
    else:
        nn_vm_sgd_f64(w, g, v, n, lr, mu, nesterov, wd)


cdef inline void _adam(floating* w, const floating* g, floating* m, floating* v,
                       Py_ssize_t n, floating lr, floating b1, floating b2, floating c1,
                       floating c2, floating eps, floating wd,
                       floating keep) noexcept nogil:
    # c1 = 1 - b1 and c2 = 1 - b2 come rounded once from double (not 1 - float(b)).
    if floating is float:
        nn_vm_adam_f32(w, g, m, v, n, lr, b1, b2, c1, c2, eps, wd, keep)
    else:
        nn_vm_adam_f64(w, g, m, v, n, lr, b1, b2, c1, c2, eps, wd, keep)


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
