/* _gemv_body.h -- one-row products y = x @ W (W row-major k x n), written once and
 * compiled once per instruction-set level, like _vmath_body.h (included by _vmath.h only,
 * with NN_LEVEL, NN_SFX and NN_ATTR set; no include guard, on purpose).
 *
 * Why not BLAS: for one row, OpenBLAS's GEMV (or a GEMM with m = 1) streams W through a
 * generic kernel and wakes its thread pool for large k * n; here the whole network's
 * one-row forward pass is one native call on one thread (_rows.pxi), so it needs no BLAS
 * thread setting and never waits on BLAS's threads. The loop is the AXPY form: W's rows
 * are read in memory order, and a block of NN_GB columns of y stays in registers
 * (8 vector accumulators: 2 FMAs per cycle at 4 cycles' latency) while the rows of W that
 * meet a non-zero x[i] are added in. Rows with x[i] == 0 are skipped (ReLU zeroes about
 * half of a hidden layer), from an index list built first without branches, so no branch
 * is mispredicted. NaN and inf in x are not zero: they propagate as in BLAS. A skipped row
 * differs from BLAS only where W holds inf or NaN (0 * inf), which a trained model does not.
 *
 * Each y[j] is the sum over i in increasing order, one FMA at a time (generic level: a
 * multiply and an add unless the compiler contracts them): deterministic for a given
 * level, within the usual float rounding of BLAS's GEMM (tests/test_rows.py compares).
 */
#if !defined(NN_VMATH_H) || !defined(NN_LEVEL) || !defined(NN_SFX) || !defined(NN_ATTR)
#error "_gemv_body.h is included by _vmath.h only, with NN_LEVEL, NN_SFX and NN_ATTR set"
#endif

/* Vector width in bytes at this level: 16 (SSE2), 32 (AVX2), 64 (AVX-512). */
#if NN_LEVEL == 3
#define NN_GV_BYTES 64
#elif NN_LEVEL == 2
#define NN_GV_BYTES 32
#else
#define NN_GV_BYTES 16
#endif

/* T: float or double; one function per type, the same body. */
#define NN_GEMV_BODY(T, VT)                                                                 \
    enum { VW = NN_GV_BYTES / (int)sizeof(T), NACC = 8, GB = VW * NACC };                  \
    ptrdiff_t m = 0, i, j0, c;                                                              \
    for (i = 0; i < k; i++) { /* the rows to add: x[i] != 0 (NaN included) */              \
        nz[m] = i;                                                                          \
        m += (x[i] != 0);                                                                   \
    }                                                                                       \
    for (j0 = 0; j0 + GB <= n; j0 += GB) {                                                  \
        VT acc[NACC];                                                                       \
        for (c = 0; c < NACC; c++)                                                          \
            acc[c] = (VT){0};                                                               \
        for (ptrdiff_t t = 0; t < m; t++) {                                                 \
            const T xi = x[nz[t]];                                                          \
            const T* w = W + nz[t] * n + j0;                                                \
            for (c = 0; c < NACC; c++) {                                                    \
                VT wv;                                                                      \
                memcpy(&wv, w + c * VW, sizeof wv);                                         \
                acc[c] += xi * wv;                                                          \
            }                                                                               \
        }                                                                                   \
        memcpy(y + j0, acc, sizeof acc);                                                    \
    }                                                                                       \
    for (; j0 + VW <= n; j0 += VW) { /* whole vectors left */                              \
        VT acc = (VT){0};                                                                   \
        for (ptrdiff_t t = 0; t < m; t++) {                                                 \
            VT wv;                                                                          \
            memcpy(&wv, W + nz[t] * n + j0, sizeof wv);                                     \
            acc += x[nz[t]] * wv;                                                           \
        }                                                                                   \
        memcpy(y + j0, &acc, sizeof acc);                                                   \
    }                                                                                       \
    if (j0 < n) { /* the last n - j0 < VW columns, one lane each */                         \
        T acc[VW];                                                                          \
        for (c = 0; c < n - j0; c++)                                                        \
            acc[c] = 0;                                                                     \
        for (ptrdiff_t t = 0; t < m; t++) {                                                 \
            const T xi = x[nz[t]];                                                          \
            const T* w = W + nz[t] * n + j0;                                                \
            for (c = 0; c < n - j0; c++)                                                    \
                acc[c] += xi * w[c];                                                        \
        }                                                                                   \
        memcpy(y + j0, acc, (size_t)(n - j0) * sizeof(T));                                  \
    }

typedef float NN_SFX(nn_gv32) __attribute__((vector_size(NN_GV_BYTES)));
typedef double NN_SFX(nn_gv64) __attribute__((vector_size(NN_GV_BYTES)));

/* y[0:n] = x[0:k] @ W; nz: scratch of k indices. y must not overlap x or W. */
NN_ATTR static void NN_SFX(nn_vm_gemv32)(const float* x, const float* W, float* y,
                                         ptrdiff_t k, ptrdiff_t n, ptrdiff_t* nz)
{
    NN_GEMV_BODY(float, NN_SFX(nn_gv32))
}

NN_ATTR static void NN_SFX(nn_vm_gemv64)(const double* x, const double* W, double* y,
                                         ptrdiff_t k, ptrdiff_t n, ptrdiff_t* nz)
{
    NN_GEMV_BODY(double, NN_SFX(nn_gv64))
}

#undef NN_GEMV_BODY
#undef NN_GV_BYTES
