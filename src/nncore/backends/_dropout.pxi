# Dropout masks inside the fused training kernels (included by _kernels.pyx before
# _plans.pxi). The generator is counter-based -- element (row, column) of layer i at step
# t is dropped when mix64(base(key, t, i) + (row * width + column + 1) * GOLDEN) is below
# the layer's threshold floor(rate * 2**64) -- so nothing is stored or allocated: the
# forward pass zeroes the dropped outputs in place and the backward pass recomputes the
# same mask where it needs it. nncore/backends/dropout.py is the same generator in NumPy
# (and the explanation); the two must stay bit for bit alike.

cdef extern from *:
    """
    #include <stdint.h>
    #define NN_GOLDEN 0x9E3779B97F4A7C15ULL
    static inline uint64_t nn_mix64(uint64_t z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    """
    uint64_t NN_GOLDEN
    uint64_t nn_mix64(uint64_t z) noexcept nogil


cdef inline uint64_t _drop_base(uint64_t key, int64_t step, Py_ssize_t layer) noexcept nogil:
    """The stream of one layer at one step (dropout.stream_base)."""
    return nn_mix64(nn_mix64(nn_mix64(key) + <uint64_t>step * NN_GOLDEN)
                    + <uint64_t>layer * NN_GOLDEN)


cdef void _drop_rows(floating* A, Py_ssize_t rows, Py_ssize_t width, Py_ssize_t row0,
                     uint64_t base, uint64_t thr) noexcept nogil:
    """A[r, j] = 0 where element (row0 + r, j) is dropped (dropout.keep_mask); a select,
    not a product, so a dropped inf or NaN becomes 0 as in NumPy's ``where``."""
    cdef Py_ssize_t r, j
    cdef uint64_t c
    cdef floating* a
    cdef floating zero = 0
    for r in range(rows):
        c = <uint64_t>((row0 + r) * width) + 1
        a = A + r * width
        for j in range(width):  # branchless: half the elements may go either way
            a[j] = zero if nn_mix64(base + (c + <uint64_t>j) * NN_GOLDEN) < thr else a[j]
