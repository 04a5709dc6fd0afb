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

/* Small GEMM: row-major C (m x n) = alpha op(A) op(B) + beta C, for the tiny layers of
 * small networks (W2: 2-16-16-1, batch 32), where a BLAS call costs more than its
 * arithmetic (argument checks, kernel and thread dispatch, packing). op(B) is first
 * copied into bt with its rows padded to whole vectors (zeros after column n), so that
 * the kernel loads whole vectors only; then blocks of 4 rows x 2 vectors of C are summed
 * in 8 register accumulators, over p in increasing order (an FMA per term where the level
 * has FMA), and written as C = alpha acc + beta C (beta == 0: C is not read, as in BLAS).
 * bt: scratch of k * roundup(n, VW) elements. Zeros of op(A) are not skipped (training
 * must see 0 * inf as BLAS's GEMM does). */
/* Two whole vectors of a row of C: C = alpha acc + beta C (C not read when beta == 0). */
#define NN_GEMM_STORE(VT, cr, v0, v1)                                                           \
    {                                                                                       \
        VT o0 = alpha * (v0), o1 = alpha * (v1);                                            \
        if (beta != 0) {                                                                    \
            VT q0, q1;                                                                      \
            memcpy(&q0, (cr), sizeof q0);                                                   \
            memcpy(&q1, (cr) + VW, sizeof q1);                                              \
            o0 += beta * q0;                                                                \
            o1 += beta * q1;                                                                \
        }                                                                                   \
        memcpy((cr), &o0, sizeof o0);                                                       \
        memcpy((cr) + VW, &o1, sizeof o1);                                                  \
    }

/* n == 1 (a layer with one output, and its weight gradient): C is a column, and the
 * block kernel would spend a whole vector per element of it. op(B) is a contiguous
 * column (copied into bt unless tb); with op(A)'s rows contiguous (!ta) each C[i] is a
 * dot product over p, in vector lanes then summed; otherwise (ta) C[0:m] = sum_p
 * op(B)[p] A[p, 0:m], an AXPY per p over whole vectors of C, the rest one lane each. */
#define NN_GEMM_COLUMN(T, VT)                                                               \
    const T* bc = B;                                                                        \
    if (!tb) {                                                                              \
        for (p = 0; p < k; p++)                                                             \
            bt[p] = B[p * ldb];                                                             \
        bc = bt;                                                                            \
    }                                                                                       \
    if (!ta) {                                                                              \
        for (i0 = 0; i0 < m; i0++) {                                                        \
            const T* a = A + i0 * lda;                                                      \
            VT s0 = {0}, s1 = {0}, av, bv;                                                  \
            for (p = 0; p + 2 * VW <= k; p += 2 * VW) {                                     \
                memcpy(&av, a + p, sizeof av);                                              \
                memcpy(&bv, bc + p, sizeof bv);                                             \
                s0 += av * bv;                                                              \
                memcpy(&av, a + p + VW, sizeof av);                                         \
                memcpy(&bv, bc + p + VW, sizeof bv);                                        \
                s1 += av * bv;                                                              \
            }                                                                               \
            for (; p + VW <= k; p += VW) {                                                  \
                memcpy(&av, a + p, sizeof av);                                              \
                memcpy(&bv, bc + p, sizeof bv);                                             \
                s0 += av * bv;                                                              \
            }                                                                               \
            s0 += s1;                                                                       \
            T s = 0;                                                                        \
            for (c = 0; c < VW; c++)                                                        \
                s += s0[c];                                                                 \
            for (; p < k; p++)                                                              \
                s += a[p] * bc[p];                                                          \
            C[i0 * ldc] = beta == 0 ? alpha * s : alpha * s + beta * C[i0 * ldc];           \
        }                                                                                   \
    } else {                                                                                \
        for (i0 = 0; i0 + VW <= m; i0 += VW) {                                              \
            VT acc = {0}, av;                                                               \
            for (p = 0; p < k; p++) {                                                       \
                memcpy(&av, A + p * lda + i0, sizeof av);                                   \
                acc += bc[p] * av;                                                          \
            }                                                                               \
            for (c = 0; c < VW; c++)                                                        \
                C[(i0 + c) * ldc] = beta == 0 ? alpha * acc[c]                              \
                                              : alpha * acc[c] + beta * C[(i0 + c) * ldc];  \
        }                                                                                   \
        for (; i0 < m; i0++) {                                                              \
            T s = 0;                                                                        \
            for (p = 0; p < k; p++)                                                         \
                s += bc[p] * A[p * lda + i0];                                               \
            C[i0 * ldc] = beta == 0 ? alpha * s : alpha * s + beta * C[i0 * ldc];           \
        }                                                                                   \
    }

#define NN_GEMM_SMALL_BODY(T, VT)                                                          \
    enum { VW = NN_GV_BYTES / (int)sizeof(T), RB = 4 };                                    \
    const ptrdiff_t np = (n + VW - 1) / VW * VW, nv = np / VW;                              \
    ptrdiff_t i0, j0, p, r, c;                                                              \
    if (n == 1) {                                                                           \
        NN_GEMM_COLUMN(T, VT)                                                               \
        return;                                                                             \
    }                                                                                       \
    /* op(B), rows padded with zeros to whole vectors, unless B's rows already are */      \
    const T* bsrc = bt;                                                                     \
    ptrdiff_t ldp = np;                                                                     \
    if (!tb && n == np) {                                                                   \
        bsrc = B;                                                                           \
        ldp = ldb;                                                                          \
    } else if (tb) {                                                                        \
        for (p = 0; p < k; p++)                                                             \
            for (c = 0; c < n; c++)                                                         \
                bt[p * np + c] = B[c * ldb + p];                                            \
    } else {                                                                                \
        for (p = 0; p < k; p++)                                                             \
            for (c = 0; c < n; c++)                                                         \
                bt[p * np + c] = B[p * ldb + c];                                            \
    }                                                                                       \
    for (p = 0; p < k && np > n && bsrc == bt; p++)                                         \
        for (c = n; c < np; c++)                                                            \
            bt[p * np + c] = 0;                                                             \
    /* op(A)[i, p] = A[i * sa + p * sp] */                                                  \
    const ptrdiff_t sa = ta ? 1 : lda, sp = ta ? lda : 1;                                   \
    for (j0 = 0; j0 < nv; j0 += 2) {                                                        \
        const ptrdiff_t w = n - j0 * VW < 2 * VW ? n - j0 * VW : 2 * VW; /* C columns */    \
        const T* bp = bsrc + j0 * VW;                                                       \
        for (i0 = 0; i0 < m; i0 += RB) {                                                    \
            const ptrdiff_t rows = m - i0 < RB ? m - i0 : RB;                               \
            /* rows past m repeat the last row: computed, never stored */                   \
            const T* a0 = A + i0 * sa;                                                      \
            const T* a1 = A + (i0 + (rows > 1 ? 1 : 0)) * sa;                               \
            const T* a2 = A + (i0 + (rows > 2 ? 2 : 0)) * sa;                               \
            const T* a3 = A + (i0 + (rows > 3 ? 3 : 0)) * sa;                               \
            VT c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0},   \
               c31 = {0};                                                                   \
            if (j0 + 1 < nv) {                                                              \
                for (p = 0; p < k; p++) {                                                   \
                    VT b0, b1;                                                              \
                    memcpy(&b0, bp + p * ldp, sizeof b0);                                   \
                    memcpy(&b1, bp + p * ldp + VW, sizeof b1);                              \
                    const T x0 = a0[p * sp], x1 = a1[p * sp], x2 = a2[p * sp],              \
                            x3 = a3[p * sp];                                                \
                    c00 += x0 * b0; c01 += x0 * b1;                                         \
                    c10 += x1 * b0; c11 += x1 * b1;                                         \
                    c20 += x2 * b0; c21 += x2 * b1;                                         \
                    c30 += x3 * b0; c31 += x3 * b1;                                         \
                }                                                                           \
            } else {                                                                        \
                for (p = 0; p < k; p++) {                                                   \
                    VT b0;                                                                  \
                    memcpy(&b0, bp + p * ldp, sizeof b0);                                   \
                    c00 += a0[p * sp] * b0;                                                 \
                    c10 += a1[p * sp] * b0;                                                 \
                    c20 += a2[p * sp] * b0;                                                 \
                    c30 += a3[p * sp] * b0;                                                 \
                }                                                                           \
            }                                                                               \
            if (rows == RB && w == 2 * VW) { /* a whole block: straight stores */          \
                T* cr = C + i0 * ldc + j0 * VW;                                             \
                NN_GEMM_STORE(VT, cr, c00, c01)                                                 \
                NN_GEMM_STORE(VT, cr + ldc, c10, c11)                                           \
                NN_GEMM_STORE(VT, cr + 2 * ldc, c20, c21)                                       \
                NN_GEMM_STORE(VT, cr + 3 * ldc, c30, c31)                                       \
                continue;                                                                   \
            }                                                                               \
            VT cv[RB][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};                \
            for (r = 0; r < rows; r++) {                                                    \
                T* cr = C + (i0 + r) * ldc + j0 * VW;                                       \
                for (ptrdiff_t v = 0; v < 2 && v * VW < w; v++) {                           \
                    VT o = alpha * cv[r][v];                                                \
                    if (v * VW + VW <= w) { /* a whole vector of C */                       \
                        if (beta != 0) {                                                    \
                            VT old;                                                         \
                            memcpy(&old, cr + v * VW, sizeof old);                          \
                            o += beta * old;                                                \
                        }                                                                   \
                        memcpy(cr + v * VW, &o, sizeof o);                                  \
                    } else { /* the last w - v VW columns, one lane each */                 \
                        const T* ol = (const T*)&o;                                         \
                        for (c = v * VW; c < w; c++)                                        \
                            cr[c] = beta == 0 ? ol[c - v * VW]                              \
                                              : ol[c - v * VW] + beta * cr[c];              \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }

NN_ATTR NN_NOVEC_ATTR static void NN_SFX(nn_vm_gemm_small32)(int ta, int tb, ptrdiff_t m, ptrdiff_t n,
                                               ptrdiff_t k, float alpha, const float* A,
                                               ptrdiff_t lda, const float* B, ptrdiff_t ldb,
                                               float beta, float* C, ptrdiff_t ldc,
                                               float* restrict bt)
{
    NN_GEMM_SMALL_BODY(float, NN_SFX(nn_gv32))
}

NN_ATTR NN_NOVEC_ATTR static void NN_SFX(nn_vm_gemm_small64)(int ta, int tb, ptrdiff_t m, ptrdiff_t n,
                                               ptrdiff_t k, double alpha, const double* A,
                                               ptrdiff_t lda, const double* B, ptrdiff_t ldb,
                                               double beta, double* C, ptrdiff_t ldc,
                                               double* restrict bt)
{
    NN_GEMM_SMALL_BODY(double, NN_SFX(nn_gv64))
}

#undef NN_GEMM_SMALL_BODY
#undef NN_GEMM_COLUMN
#undef NN_GEMM_STORE
#undef NN_GEMV_BODY
#undef NN_GV_BYTES
