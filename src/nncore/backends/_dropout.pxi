# Dropout masks inside the fused training kernels (included by _kernels.pyx before
# _plans.pxi). The generator is counter-based -- element (row, column) of layer i at step
# t is dropped when mix64(base(key, t, i) + (row * width + column + 1) * GOLDEN) is below
# the layer's threshold floor(rate * 2**64) -- so nothing is stored or allocated: the
# forward pass zeroes the dropped outputs in place and the backward pass recomputes the
# same mask where it needs it. The loop is _dropout_body.h (branchless, at the CPU's
# SIMD level through _vmath.h's dispatch); nncore/backends/dropout.py is the same
# generator in NumPy (and the explanation). The two must stay bit for bit alike.

cdef extern from "_vmath.h" nogil:
    uint64_t NN_GOLDEN
    uint64_t nn_mix64(uint64_t z)
    void nn_vm_drop_f32(float* A, Py_ssize_t rows, Py_ssize_t width, Py_ssize_t row0,
                        Py_ssize_t lo, Py_ssize_t hi, uint64_t base, uint64_t thr)
    void nn_vm_drop_f64(double* A, Py_ssize_t rows, Py_ssize_t width, Py_ssize_t row0,
                        Py_ssize_t lo, Py_ssize_t hi, uint64_t base, uint64_t thr)


cdef inline uint64_t _drop_base(uint64_t key, int64_t step, Py_ssize_t layer) noexcept nogil:
    """The stream of one layer at one step (dropout.stream_base)."""
    return nn_mix64(nn_mix64(nn_mix64(key) + <uint64_t>step * NN_GOLDEN)
                    + <uint64_t>layer * NN_GOLDEN)


cdef inline void _drop_cols(floating* A, Py_ssize_t rows, Py_ssize_t width, Py_ssize_t row0,
                            Py_ssize_t lo, Py_ssize_t hi, uint64_t base,
                            uint64_t thr) noexcept nogil:
    """A[r, j] = 0 for j in [lo, hi) where element (row0 + r, j) is dropped
    (dropout.keep_mask; A's rows are ``width`` apart): a select, so a dropped inf or NaN
    becomes 0 as in NumPy's ``where``."""
    if floating is float:
        nn_vm_drop_f32(A, rows, width, row0, lo, hi, base, thr)
    else:
        nn_vm_drop_f64(A, rows, width, row0, lo, hi, base, thr)
