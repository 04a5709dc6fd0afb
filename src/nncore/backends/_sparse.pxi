# Sparse input (included in _kernels.pyx, textually, before _plans.pxi): rows of a CSR
# matrix gathered into a dense batch, or multiplied with the first layer's weights
# directly (nncore.backends.sparse: the CsrRows the plans take, and the choice between
# the two).

# How the whole-network kernels take X: dense, CSR gathered into the dense batch buffer
# (then the dense GEMMs), or CSR times W_0 as a sparse product (and the weight gradient of
# layer 0 scattered back): nncore.backends.sparse.MODES.
cdef enum:
    SP_DENSE = 0
    SP_GATHER = 1
    SP_PRODUCT = 2


# A CSR matrix as the kernels read it: ``data`` points to floating values (of the plan's
# dtype; void because a struct cannot take a fused type), column ``indices`` int32,
# ``indptr`` int64 (n + 1 offsets). Validated once in Python (CsrRows), not here.
cdef struct Sparse:
    int mode
    const void* data
    const int32_t* indices
    const int64_t* indptr


cdef inline Sparse _sparse(int mode, const void* data, const int32_t[::1] indices,
                           const int64_t[::1] indptr):
    cdef Sparse sp
    sp.mode = mode
    sp.data = data
    sp.indices = &indices[0] if indices.shape[0] else NULL
    sp.indptr = &indptr[0] if indptr.shape[0] else NULL
    return sp


cdef inline Py_ssize_t _row_of(const int64_t* idx, Py_ssize_t first, Py_ssize_t r) noexcept nogil:
    return idx[r] if idx != NULL else first + r


cdef void _csr_gather(floating* dst, const Sparse* sp, const int64_t* idx, Py_ssize_t first,
                      Py_ssize_t rows, Py_ssize_t width) noexcept nogil:
    """dst[r] = X[idx[r]] (X[first + r] without idx) as dense rows of ``width``: zeros,
    then the stored values (repeated column entries add up, as scipy's toarray)."""
    cdef const floating* v = <const floating*>sp.data
    cdef Py_ssize_t r, p, i
    cdef floating* d
    memset(dst, 0, rows * width * sizeof(floating))
    for r in range(rows):
        i = _row_of(idx, first, r)
        d = dst + r * width
        for p in range(sp.indptr[i], sp.indptr[i + 1]):
            d[sp.indices[p]] += v[p]


cdef void _csr_product(floating* A, const Sparse* sp, const int64_t* idx, Py_ssize_t first,
                       Py_ssize_t rows, const floating* W, Py_ssize_t n_out, Py_ssize_t lo,
                       Py_ssize_t hi) noexcept nogil:
    """A[r, lo:hi] = X[row r] @ W[:, lo:hi] (A's rows n_out apart; a thread's columns, or
    all): for each stored value v at column c, A[r] += v W[c] (W row-major (d0, n_out), so
    each term is a contiguous axpy; cost nnz x n_out, not rows x d0 x n_out)."""
    cdef const floating* vals = <const floating*>sp.data
    cdef Py_ssize_t r, p, j, i
    cdef floating v
    cdef floating* a
    cdef const floating* wr
    for r in range(rows):
        i = _row_of(idx, first, r)
        a = A + r * n_out
        memset(a + lo, 0, (hi - lo) * sizeof(floating))
        for p in range(sp.indptr[i], sp.indptr[i + 1]):
            v = vals[p]
            wr = W + <Py_ssize_t>sp.indices[p] * n_out
            for j in range(lo, hi):
                a[j] += v * wr[j]


cdef void _csr_weight_grad(floating* G, const Sparse* sp, const int64_t* idx,
                           Py_ssize_t rows, const floating* D, Py_ssize_t n_out,
                           floating alpha, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """G += alpha X[idx]^T D, rows [lo, hi) of G only (a thread's share): for each stored
    value v at (row r, column c in [lo, hi)), G[c] += alpha v D[r]; only the rows of G
    that the batch's columns touch, each in row order whatever the share."""
    cdef const floating* vals = <const floating*>sp.data
    cdef Py_ssize_t r, p, j, c
    cdef floating v
    cdef floating* gr
    cdef const floating* dr
    for r in range(rows):
        dr = D + r * n_out
        for p in range(sp.indptr[idx[r]], sp.indptr[idx[r] + 1]):
            c = sp.indices[p]
            if c < lo or c >= hi:
                continue
            v = alpha * vals[p]
            gr = G + c * n_out
            for j in range(n_out):
                gr[j] += v * dr[j]
