/* _update_body.h -- the element-wise loops of the backward pass and of the optimizer
 * updates (activation backward with the bias gradient, column sums, SGD, Adam), written
 * once and compiled once per instruction-set level and once per float type.
 *
 * Included by: _vmath.h only, once per level (generic, AVX2+FMA, AVX-512) with NN_LEVEL,
 * NN_SFX and NN_ATTR set, like _vmath_body.h; this file then includes itself twice, with
 * NN_UT (the element type) float and double, and NN_UN(f) naming the function f32 / f64
 * at that level (nn_vm_sgd32_avx2, ...). No include guard, on purpose.
 *
 * Why: these loops were Cython loops compiled for the SSE2 baseline only (the wheels are
 * built without -march=native), while the exp/tanh kernels already ran with the CPU's
 * AVX2/AVX-512 through _vmath.h's dispatch. Here they get the same dispatch.
 *
 * The results are the same bit for bit at every level:
 * - the same expressions in the same order and types as the Cython loops they replaced
 *   (the column sums of float32 add in double, row by row, each column in row order;
 *   softmax's row sum stays one sequential double sum), except sigmoid and tanh backward,
 *   which now follow NumPy's expressions in the element type (see act_backward);
 * - no FMA contraction (NN_EXACT_ATTR, NN_EXACT_BODY from _vmath.h): at the AVX2 level gcc
 *   would otherwise fuse w - lr * g into one fnmadd, rounded once instead of twice. The
 *   element-wise operations are then the same IEEE operations in any vector width, so the
 *   generic, AVX2 and AVX-512 instances agree with each other and with the old loops
 *   (training was compared bit for bit, see docs/design.md).
 * Arguments are trusted (checked in Python): out may be the input of the same index
 * (dZ == dY, in place), never a shifted view of it; NN_IVDEP says so to gcc.
 */
#if !defined(NN_VMATH_H) || !defined(NN_LEVEL) || !defined(NN_SFX) || !defined(NN_ATTR)
#error "_update_body.h is included by _vmath.h only, with NN_LEVEL, NN_SFX and NN_ATTR set"
#endif

#ifndef NN_UT
/* ------------------------------------------------------------ the two instances */
#define NN_UT float
#define NN_UN(f) NN_SFX(f##32)
#define NN_USQRT sqrtf
#include "_update_body.h"
#undef NN_UT
#undef NN_UN
#undef NN_USQRT
#define NN_UT double
#define NN_UN(f) NN_SFX(f##64)
#define NN_USQRT sqrt
#include "_update_body.h"
#undef NN_UT
#undef NN_UN
#undef NN_USQRT

#else
/* ------------------------------------------------------------ one type at one level */

/* STMT sets v (an NN_UT) from dy[j] and y[j]; then dz[j] = v. With acc, also acc[j] += v
 * in double, for each row in order, while the rows are in L1: four rows per pass, so acc[j]
 * is loaded and stored once per four additions (the additions themselves stay one at a
 * time, in row order: the sums are those of a row-by-row loop, bit for bit). */
#define NN_ACT_ONE(k, STMT)                                                              \
    {                                                                                    \
        const NN_UT* dy = dY + (i + k) * ld;                                             \
        const NN_UT* y = Y + (i + k) * ld;                                               \
        NN_UT v;                                                                         \
        (void)y; /* unused by identity */                                                \
        STMT                                                                             \
        dZ[(i + k) * ld + j] = v;                                                        \
        a += (double)v;                                                                  \
    }
#define NN_ACT_ROWS(STMT)                                                                \
    do {                                                                                 \
        ptrdiff_t i = 0;                                                                 \
        if (acc != NULL) {                                                               \
            for (; i + 4 <= n; i += 4) {                                                 \
                NN_IVDEP                                                                 \
                for (ptrdiff_t j = 0; j < d; j++) {                                      \
                    double a = acc[j];                                                   \
                    NN_ACT_ONE(0, STMT) NN_ACT_ONE(1, STMT)                              \
                    NN_ACT_ONE(2, STMT) NN_ACT_ONE(3, STMT)                              \
                    acc[j] = a;                                                          \
                }                                                                        \
            }                                                                            \
            for (; i < n; i++) {                                                         \
                NN_IVDEP                                                                 \
                for (ptrdiff_t j = 0; j < d; j++) {                                      \
                    double a = acc[j];                                                   \
                    NN_ACT_ONE(0, STMT)                                                  \
                    acc[j] = a;                                                          \
                }                                                                        \
            }                                                                            \
        } else {                                                                         \
            for (; i < n; i++) {                                                         \
                NN_IVDEP                                                                 \
                for (ptrdiff_t j = 0; j < d; j++) {                                      \
                    double a = 0;                                                        \
                    NN_ACT_ONE(0, STMT)                                                  \
                    (void)a;                                                             \
                }                                                                        \
            }                                                                            \
        }                                                                                \
    } while (0)

/* dZ = act'(.) * dY from the output Y (dZ may be dY); acc (if not NULL) = column sums of
 * dZ, in double. act: an NN_ACT_* code (any other code: softmax). n rows of d values, each
 * row ld after the last (ld = d: contiguous; more: d columns of a wider matrix). */
NN_ATTR NN_EXACT_ATTR static void NN_UN(nn_vm_act_backward)(const NN_UT* dY, const NN_UT* Y,
                                                            NN_UT* dZ, double* acc,
                                                            ptrdiff_t n, ptrdiff_t d,
                                                            ptrdiff_t ld, int act, NN_UT slope)
{
    NN_EXACT_BODY
    const NN_UT one = 1, zero = 0;
    if (acc != NULL)
        for (ptrdiff_t j = 0; j < d; j++)
            acc[j] = 0;
    if (d == 0)
        return;
    switch (act) {
    case NN_ACT_IDENTITY:
        if (dZ == dY && acc == NULL)
            return;
        NN_ACT_ROWS(v = dy[j];);
        break;
    /* ReLU: a select of two floating constants into a variable of its own, then a
     * multiply: that vectorises. With the select inside the product, gcc sinks the
     * multiply into both arms and leaves control flow in the loop (not vectorised, and
     * mispredicted on random signs: 10x slower); a bool cast to float does the same. */
    case NN_ACT_RELU:
        NN_ACT_ROWS(NN_UT f = y[j] > 0 ? one : zero; v = dy[j] * f;);
        break;
    case NN_ACT_LEAKY_RELU:
        NN_ACT_ROWS(NN_UT f = y[j] > 0 ? one : slope; v = dy[j] * f;);
        break;
    /* sigmoid and tanh: in NN_UT throughout, NumPy's expressions (activations.py) in
     * its order, so the backends agree bit for bit here. float32 used to take 1 - y and
     * the product in double: as accurate (1 - y y is exact in float for y y >= 1/2, and y y
     * was rounded in float either way) and 3.3x slower in W2 (double lanes, conversions). */
    case NN_ACT_SIGMOID:
        NN_ACT_ROWS(v = dy[j] * y[j] * (one - y[j]););
        break;
    case NN_ACT_TANH:
        NN_ACT_ROWS(v = dy[j] * (one - y[j] * y[j]););
        break;
    default: /* softmax: dz = y (dy - sum_j dy y), the sum sequential in double */
        for (ptrdiff_t i = 0; i < n; i++) {
            const NN_UT* dy = dY + i * ld;
            const NN_UT* y = Y + i * ld;
            NN_UT* dz = dZ + i * ld;
            double s = 0;
            for (ptrdiff_t j = 0; j < d; j++)
                s += dy[j] * y[j];
            NN_IVDEP
            for (ptrdiff_t j = 0; j < d; j++)
                dz[j] = (NN_UT)(y[j] * (dy[j] - s));
            if (acc != NULL)
                for (ptrdiff_t j = 0; j < d; j++)
                    acc[j] += (double)dz[j];
        }
    }
}
#undef NN_ACT_ROWS
#undef NN_ACT_ONE

/* acc[j] = sum_i X[i, j] in double, each column in row order. */
NN_ATTR NN_EXACT_ATTR static void NN_UN(nn_vm_col_sum)(const NN_UT* X, double* acc, ptrdiff_t n,
                                                       ptrdiff_t d)
{
    NN_EXACT_BODY
    ptrdiff_t i = 0;
    for (ptrdiff_t j = 0; j < d; j++)
        acc[j] = 0;
    for (; i + 4 <= n; i += 4) { /* four rows per pass, added one at a time, in order */
        const NN_UT* x = X + i * d;
        for (ptrdiff_t j = 0; j < d; j++) {
            double a = acc[j];
            a += (double)x[j];
            a += (double)x[d + j];
            a += (double)x[2 * d + j];
            a += (double)x[3 * d + j];
            acc[j] = a;
        }
    }
    for (; i < n; i++) {
        const NN_UT* x = X + i * d;
        for (ptrdiff_t j = 0; j < d; j++)
            acc[j] += (double)x[j];
    }
}

/* One SGD step over w[0:n] (PyTorch's rule, dampening 0); v is read and written only
 * with momentum. wd == 0 takes loops without the decay term: 0 * w would turn an inf
 * weight into NaN. */
#define NN_SGD_LOOP(GI, STEP)                                                            \
    do {                                                                                 \
        NN_IVDEP                                                                         \
        for (ptrdiff_t i = 0; i < n; i++) {                                              \
            NN_UT gi = (GI);                                                             \
            NN_UT vi = mu * v[i] + gi;                                                   \
            v[i] = vi;                                                                   \
            w[i] = w[i] - lr * (STEP);                                                   \
        }                                                                                \
    } while (0)

NN_ATTR NN_EXACT_ATTR static void NN_UN(nn_vm_sgd)(NN_UT* w, const NN_UT* g, NN_UT* v,
                                                   ptrdiff_t n, NN_UT lr, NN_UT mu,
                                                   int nesterov, NN_UT wd)
{
    NN_EXACT_BODY
    if (mu == 0) {
        if (wd == 0) {
            NN_IVDEP
            for (ptrdiff_t i = 0; i < n; i++)
                w[i] = w[i] - lr * g[i];
        } else {
            NN_IVDEP
            for (ptrdiff_t i = 0; i < n; i++)
                w[i] = w[i] - lr * (g[i] + wd * w[i]);
        }
    } else if (wd != 0) {
        if (nesterov)
            NN_SGD_LOOP(g[i] + wd * w[i], gi + mu * vi);
        else
            NN_SGD_LOOP(g[i] + wd * w[i], vi);
    } else {
        if (nesterov)
            NN_SGD_LOOP(g[i], gi + mu * vi);
        else
            NN_SGD_LOOP(g[i], vi);
    }
}
#undef NN_SGD_LOOP

/* One Adam step over w[0:n]: w *= keep (decoupled decay), g' = g + wd w (L2, wd != 0
 * only), the moments, w -= lr m / (sqrt(v) + eps). c1 = 1 - b1 and c2 = 1 - b2 come
 * rounded once from double (not 1 - (float)b). */
#define NN_ADAM_LOOP(GI)                                                                 \
    do {                                                                                 \
        NN_IVDEP                                                                         \
        for (ptrdiff_t i = 0; i < n; i++) {                                              \
            NN_UT wi = w[i] * keep;                                                      \
            NN_UT gi = (GI);                                                             \
            NN_UT mi = b1 * m[i] + c1 * gi;                                              \
            NN_UT vi = b2 * v[i] + c2 * gi * gi;                                         \
            m[i] = mi;                                                                   \
            v[i] = vi;                                                                   \
            w[i] = wi - lr * mi / (NN_USQRT(vi) + eps);                                  \
        }                                                                                \
    } while (0)

NN_ATTR NN_EXACT_ATTR static void NN_UN(nn_vm_adam)(NN_UT* w, const NN_UT* g, NN_UT* m,
                                                    NN_UT* v, ptrdiff_t n, NN_UT lr, NN_UT b1,
                                                    NN_UT b2, NN_UT c1, NN_UT c2, NN_UT eps,
                                                    NN_UT wd, NN_UT keep)
{
    NN_EXACT_BODY
    if (wd != 0)
        NN_ADAM_LOOP(g[i] + wd * wi);
    else
        NN_ADAM_LOOP(g[i]);
}
#undef NN_ADAM_LOOP

#endif /* NN_UT */
