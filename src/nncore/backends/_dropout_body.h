/* _dropout_body.h -- the dropout mask loop (see nncore/backends/dropout.py), compiled once
 * per instruction-set level like _update_body.h.
 *
 * Included by: _vmath.h only, once per level (generic, AVX2+FMA, AVX-512) with NN_SFX and
 * NN_ATTR set. No include guard, on purpose.
 *
 * A[r, j] (j in [lo, hi): a thread's columns) keeps its bits where
 * mix64(base + ((row0 + r) * width + j + 1) * GOLDEN) >= thr and becomes +0 otherwise: an AND with an all-ones or all-zeros mask, so there is no
 * branch (a compare that goes either way half the time cost ~17 ns an element in
 * mispredictions as a branch), a dropped inf or NaN becomes 0 as NumPy's select does, and
 * gcc vectorises the 64-bit hash (with AVX2: ~1 ns an element instead of ~5 at SSE2).
 * Integer arithmetic only: every level gives the same bits.
 */
#if !defined(NN_VMATH_H) || !defined(NN_SFX) || !defined(NN_ATTR)
#error "_dropout_body.h is included by _vmath.h only, with NN_SFX and NN_ATTR set"
#endif

#define NN_DROP_LOOP(U)                                                                  \
    for (ptrdiff_t r = 0; r < rows; r++) {                                               \
        const uint64_t c = (uint64_t)((row0 + r) * width) + 1;                           \
        U* a = (U*)A + r * width;                                                        \
        NN_IVDEP                                                                         \
        for (ptrdiff_t j = lo; j < hi; j++)                                              \
            a[j] &= (U)0 - (U)(nn_mix64(base + (c + (uint64_t)j) * NN_GOLDEN) >= thr);   \
    }

NN_ATTR static void NN_SFX(nn_vm_drop32)(float* A, ptrdiff_t rows, ptrdiff_t width,
                                        ptrdiff_t row0, ptrdiff_t lo, ptrdiff_t hi,
                                        uint64_t base, uint64_t thr)
{ NN_DROP_LOOP(nn_u32a) }

NN_ATTR static void NN_SFX(nn_vm_drop64)(double* A, ptrdiff_t rows, ptrdiff_t width,
                                        ptrdiff_t row0, ptrdiff_t lo, ptrdiff_t hi,
                                        uint64_t base, uint64_t thr)
{ NN_DROP_LOOP(nn_u64a) }

#undef NN_DROP_LOOP
