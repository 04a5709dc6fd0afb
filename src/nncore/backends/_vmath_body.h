/* _vmath_body.h -- the float32 loops of nncore's vector math (one per kernel), written
 * once and compiled once per instruction-set level (the float64 loops are in
 * _vmath_body64.h).
 *
 * Included by: _vmath.h only, three times (x86; once elsewhere), each time with
 *   NN_LEVEL   1 generic, 2 AVX2+FMA, 3 AVX-512 (selects the level-specific code below),
 *   NN_SFX(f)  the level's name suffix (f##_generic, f##_avx2, f##_avx512),
 *   NN_ATTR    the level's function attribute (empty, or __attribute__((target(...))))
 * defined. Why: the wheels are built for baseline x86-64 (no -march=native), so the AVX2
 * and AVX-512 code has to come from target attributes on the functions themselves; one
 * body included under three sets of macros gives three copies of every kernel that differ
 * only in those, and _vmath.h picks one set at run time (nn_vm_init). Hence no include
 * guard here, on purpose. The one-element math the loops call is in _vmath_scalar.h
 * (always_inline, so it is compiled into each instance with that instance's ISA), the tanh
 * tables the intrinsic loops load are in _vmath_tables.h, NN_BLK and NN_IVDEP come from
 * _vmath.h. Every function is static, used only through _vmath.h's dispatch table.
 *
 * Two kernel families: float32 in double lanes (sigmoid, softmax, softmax_xent,
 * sigmoid_bce: all levels), float32 tanh in float lanes (intrinsics per level: AVX-512
 * 32-slot table, AVX2 16-slot table, generic one lane at a time).
 */
#if !defined(NN_VMATH_H) || !defined(NN_LEVEL) || !defined(NN_SFX) || !defined(NN_ATTR)
#error "_vmath_body.h is included by _vmath.h only, with NN_LEVEL, NN_SFX and NN_ATTR set"
#endif

/* max over v[0:d] (NaN ignored: it propagates through the exps later); -inf if d == 0 */
NN_ATTR static float NN_SFX(nn_vm_max)(const float* v, ptrdiff_t d)
{
    float m[NN_BLK];
    ptrdiff_t j = 0, k;
    for (k = 0; k < NN_BLK; k++)
        m[k] = -INFINITY;
    for (; j + NN_BLK <= d; j += NN_BLK)
        for (k = 0; k < NN_BLK; k++)
            m[k] = v[j + k] > m[k] ? v[j + k] : m[k];
    for (k = 0; j < d; j++, k++)
        m[k] = v[j] > m[k] ? v[j] : m[k];
    float mx = m[0];
    for (k = 1; k < NN_BLK; k++)
        mx = m[k] > mx ? m[k] : mx;
    return mx;
}

/* sum_j e^(v_j - mx) (double) */
NN_ATTR static double NN_SFX(nn_vm_sum_exp)(const float* v, float mx, ptrdiff_t d, double lo)
{
    double acc[NN_BLK];
    ptrdiff_t j = 0, k;
    double m = mx;
    for (k = 0; k < NN_BLK; k++)
        acc[k] = 0;
    for (; j + NN_BLK <= d; j += NN_BLK)
        for (k = 0; k < NN_BLK; k++)
            acc[k] += nn_vm_exp_le0((double)v[j + k] - m, lo);
    for (k = 0; j < d; j++, k++)
        acc[k] += nn_vm_exp_le0((double)v[j] - m, lo);
    double s = 0;
    for (k = 0; k < NN_BLK; k++)
        s += acc[k];
    return s;
}

NN_ATTR static void NN_SFX(nn_vm_bias_sigmoid)(const float* Z, const float* b, float* out,
                                               ptrdiff_t n, ptrdiff_t d)
{
    const double lo = nn_vm_exp_lo;
    for (ptrdiff_t i = 0; i < n; i++) {
        const float* z = Z + i * d;
        float* o = out + i * d;
        NN_IVDEP
        for (ptrdiff_t j = 0; j < d; j++) {
            double x = (double)(z[j] + b[j]);
            double e = nn_vm_exp_le0(-fabs(x), lo);
            o[j] = (float)((x >= 0 ? 1.0 : e) / (1.0 + e));   /* NaN: e is NaN */
        }
    }
}

NN_ATTR static void NN_SFX(nn_vm_bias_softmax)(const float* Z, const float* b, float* out,
                                               ptrdiff_t n, ptrdiff_t d)
{
    const double lo = nn_vm_exp_lo;
    for (ptrdiff_t i = 0; i < n; i++) {
        const float* z = Z + i * d;
        float* o = out + i * d;
        NN_IVDEP
        for (ptrdiff_t j = 0; j < d; j++)
            o[j] = z[j] + b[j];
        float mx = NN_SFX(nn_vm_max)(o, d);
        double m = mx, r = 1.0 / NN_SFX(nn_vm_sum_exp)(o, mx, d, lo);
        NN_IVDEP
        for (ptrdiff_t j = 0; j < d; j++)
            o[j] = (float)(nn_vm_exp_le0((double)o[j] - m, lo) * r);
    }
}

/* Sum over rows of logsumexp(z) - z[label]; dZ = (softmax - onehot) * scale. */
NN_ATTR static double NN_SFX(nn_vm_softmax_xent)(const float* Z, const int64_t* labels,
                                                 float* dZ, ptrdiff_t n, ptrdiff_t c,
                                                 double scale)
{
    const double lo = nn_vm_exp_lo;
    double total = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const float* z = Z + i * c;
        float* dz = dZ + i * c;
        ptrdiff_t l = (ptrdiff_t)labels[i], j;
        float mx = NN_SFX(nn_vm_max)(z, c), zl = z[l];
        double m = mx;
        /* the sum without the label's term (the label's gradient is -so/s: no cancellation
         * when its probability is near 1), then the whole sum */
        double so = NN_SFX(nn_vm_sum_exp)(z, mx, l, lo) +
                    NN_SFX(nn_vm_sum_exp)(z + l + 1, mx, c - l - 1, lo);
        double s = so + nn_vm_exp_le0((double)zl - m, lo);
        /* the label holds the maximum: loss = log(1 + so), without rounding 1 + so
         * (s is NaN when a logit is NaN or +inf: then the loss is NaN, as in NumPy) */
        total += zl == mx && s == s ? log1p(so) : ((m - (double)zl) + log(s));
        double r = scale / s;
        NN_IVDEP
        for (j = 0; j < c; j++)
            dz[j] = (float)(nn_vm_exp_le0((double)z[j] - m, lo) * r);
        dz[l] = (float)(-so * r);
    }
    return total;
}

/* Sum of max(z,0) - z t + log1p(e^-|z|); dZ = (sigmoid(z) - t) * scale. */
NN_ATTR static double NN_SFX(nn_vm_sigmoid_bce)(const float* Z, const float* T, float* dZ,
                                                ptrdiff_t m, double scale)
{
    const double lo = nn_vm_exp_lo;
    double acc[NN_BLK], s = 0;
    ptrdiff_t i = 0, k;
    for (k = 0; k < NN_BLK; k++)
        acc[k] = 0;
    for (; i < m; i += NN_BLK) {
        ptrdiff_t len = m - i < NN_BLK ? m - i : NN_BLK;
        if (len == NN_BLK) {
            NN_IVDEP
            for (k = 0; k < NN_BLK; k++) {
                double z = Z[i + k], t = T[i + k];
                double e = nn_vm_exp_le0(-fabs(z), lo);
                double q = e / (1.0 + e);       /* sigmoid(-|z|) */
                acc[k] += (z > 0 ? z : 0.0) - z * t + nn_vm_log1p_01(e);
                dZ[i + k] = (float)(nn_vm_bce_grad(z, t, q) * scale);
            }
        } else {
            for (k = 0; k < len; k++) {
                double z = Z[i + k], t = T[i + k];
                double e = nn_vm_exp_le0(-fabs(z), lo);
                double q = e / (1.0 + e);
                acc[k] += (z > 0 ? z : 0.0) - z * t + nn_vm_log1p_01(e);
                dZ[i + k] = (float)(nn_vm_bce_grad(z, t, q) * scale);
            }
        }
    }
    for (k = 0; k < NN_BLK; k++)
        s += acc[k];
    return s;
}

#if NN_LEVEL == 3
NN_ATTR static void NN_SFX(nn_vm_bias_tanh)(const float* Z, const float* b, float* out,
                                            ptrdiff_t n, ptrdiff_t d)
{
    __m512 lo[7], hi[7];   /* slots 0-15 and 16-31 of the mid and coefficient tables */
    for (int k = 0; k < 7; k++) {
        lo[k] = _mm512_load_ps(nn_vm_tanh32[k]);
        hi[k] = _mm512_load_ps(nn_vm_tanh32[k] + 16);
    }
    const __m512 lim = _mm512_set1_ps(NN_VM_TANH_MAX);
    const __m512i small = _mm512_set1_epi32(0x3DE00000);   /* 0.109375: slot 15 */
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (ptrdiff_t i = 0; i < n; i++) {
        const float* z = Z + i * d;
        float* o = out + i * d;
        for (ptrdiff_t j = 0; j < d; j += 16) {
            __mmask16 msk = d - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (d - j)) - 1);
            __m512 x = _mm512_add_ps(_mm512_maskz_loadu_ps(msk, z + j),
                                     _mm512_maskz_loadu_ps(msk, b + j));
            /* min(lim, a) returns a when a is NaN (the second operand) */
            __m512 a = _mm512_min_ps(lim, _mm512_abs_ps(x));
            /* slot = exponent and top two mantissa bits (mod 32); a < 1/8 goes to slot 15 */
            __m512i ix = _mm512_srli_epi32(_mm512_max_epi32(_mm512_castps_si512(a), small), 21);
            __m512 dd = _mm512_sub_ps(a, _mm512_permutex2var_ps(lo[0], ix, hi[0]));
            __m512 p = _mm512_permutex2var_ps(lo[6], ix, hi[6]);
            p = _mm512_fmadd_ps(p, dd, _mm512_permutex2var_ps(lo[5], ix, hi[5]));
            p = _mm512_fmadd_ps(p, dd, _mm512_permutex2var_ps(lo[4], ix, hi[4]));
            p = _mm512_fmadd_ps(p, dd, _mm512_permutex2var_ps(lo[3], ix, hi[3]));
            p = _mm512_fmadd_ps(p, dd, _mm512_permutex2var_ps(lo[2], ix, hi[2]));
            p = _mm512_fmadd_ps(p, dd, _mm512_permutex2var_ps(lo[1], ix, hi[1]));
            /* p | (x & sign) */
            p = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
                _mm512_castps_si512(p), _mm512_castps_si512(x), sign, 0xF8));
            _mm512_mask_storeu_ps(o + j, msk, p);
        }
    }
}
#elif NN_LEVEL == 2
/* tanh of 8 floats without tables (the 16-slot lookup costs 16 vpermps and 8 blendv per
 * vector: 2.1 us per 1024 values on Zen 3 against 0.79 us here). a = min(|x|, 9.99):
 * a < 0.9: a + a s Q(s), s = a^2, Q a degree-6 fit of (tanh(a)/a - 1)/s (1.2e-9);
 * else 1 - 2 / (1 + e^(2a)), e^y = 2^n (1 + r + r^2 P(r)), n = rint(y / ln 2), r by
 * Cody-Waite in two FMAs, P of degree 4 (3.6e-9). Checked over every float in [0, 10]:
 * relative error 8.4e-8, 1.003 ulp at worst. NaN is kept by min and both paths. */
NN_ATTR static inline __m256 NN_SFX(nn_vm_tanh8)(__m256 x)
{
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 a = _mm256_min_ps(_mm256_set1_ps(NN_VM_TANH_MAX), _mm256_andnot_ps(sign, x));
    __m256 s = _mm256_mul_ps(a, a);
    __m256 q = _mm256_set1_ps(-0x1.da8754p-12f);
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(0x1.516c76p-9f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-0x1.0e8186p-7f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(0x1.62d9a0p-6f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-0x1.b9c6d4p-5f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(0x1.110f1ap-3f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-0x1.55554ep-2f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(a, s), q, a);
    __m256 y = _mm256_add_ps(a, a);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), y);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), r);
    __m256 p = _mm256_set1_ps(0x1.68869ep-10f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.123b88p-7f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.555b4ap-5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.55548ep-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.fffff8p-2f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    __m256i k = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
    __m256 e = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(_mm256_add_ps(p, one)), k));
    __m256 large = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    __m256 t = _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.9f), _CMP_LT_OQ));
    return _mm256_or_ps(t, _mm256_and_ps(x, sign));
}

NN_ATTR static void NN_SFX(nn_vm_bias_tanh)(const float* Z, const float* b, float* out,
                                            ptrdiff_t n, ptrdiff_t d)
{
    /* the last d % 8 columns by masked loads and stores: the same algorithm everywhere */
    const ptrdiff_t rem = d % 8;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (ptrdiff_t i = 0; i < n; i++) {
        const float* z = Z + i * d;
        float* o = out + i * d;
        ptrdiff_t j = 0;
        for (; j + 8 <= d; j += 8)
            _mm256_storeu_ps(o + j, NN_SFX(nn_vm_tanh8)(_mm256_add_ps(_mm256_loadu_ps(z + j),
                                                                       _mm256_loadu_ps(b + j))));
        if (rem) {
            __m256 x = _mm256_add_ps(_mm256_maskload_ps(z + j, mask), _mm256_maskload_ps(b + j, mask));
            _mm256_maskstore_ps(o + j, mask, NN_SFX(nn_vm_tanh8)(x));
        }
    }
}
#else
NN_ATTR static void NN_SFX(nn_vm_bias_tanh)(const float* Z, const float* b, float* out,
                                            ptrdiff_t n, ptrdiff_t d)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const float* z = Z + i * d;
        float* o = out + i * d;
        for (ptrdiff_t j = 0; j < d; j++)
            o[j] = nn_vm_tanhf_1(z[j] + b[j]);
    }
}
#endif
