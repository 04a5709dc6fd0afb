/* _vmath_scalar.h -- the one-element functions of nncore's vector math: e^y (y <= 0) and
 * log(1 + e) in double lanes for the float32 kernels, glibc's exp and a log1p for float64,
 * and the one-lane float32 tanh.
 *
 * Included by: _vmath.h only (once, after _vmath_tables.h, whose tables nn_vm_exp64 and
 * nn_vm_tanhf_1 read, and before the kernel instances); it uses _vmath.h's macros
 * (NN_AI, NN_VM_X86) and headers, so it is not meant to be included on its own.
 * Why a header of its own: these are the numerics (polynomials, ranges, error bounds); the
 * loops in _vmath_body.h only apply them. Every function is NN_AI (always_inline): none is
 * compiled on its own, each is compiled inside the loops of every instance, with that
 * instance's target attribute, so one source serves all three levels. The double-lane
 * functions are branchless so that those loops vectorise; nn_vm_tanhf_1 is the scalar
 * fallback. The error bounds are checked in tests/test_vmath.py (see the note at the top
 * of _vmath.h).
 */
#ifndef NN_VMATH_SCALAR_H
#define NN_VMATH_SCALAR_H

#ifndef NN_VMATH_H
#error "_vmath_scalar.h is part of _vmath.h: include _vmath.h"
#endif

/* The clamp bound is read from a volatile: with a literal, gcc constant-folds the whole
 * exp for the clamped case into a branch and then refuses to vectorise the loop. */
static volatile double nn_vm_exp_lo = -708.0;

/* ------------------------------------------------------------ double-lane helpers */
NN_AI double nn_vm_f64(uint64_t i) { double d; memcpy(&d, &i, 8); return d; }
NN_AI uint64_t nn_vm_u64(double d) { uint64_t i; memcpy(&i, &d, 8); return i; }

/* e^y for y <= 0 (or -inf, NaN), relative error < 3e-9; lo is nn_vm_exp_lo. */
NN_AI double nn_vm_exp_le0(double y, double lo)
{
    const double shift = 0x1.8p52;
    y = y < lo ? lo : y;                       /* keeps NaN */
    double t = y * 1.4426950408889634;         /* y log2(e) */
    double kd = t + shift;                     /* round to nearest integer, in the low bits */
    uint64_t ki = nn_vm_u64(kd);
    kd -= shift;
    double f = t - kd;                         /* [-1/2, 1/2] */
    double s = nn_vm_f64((ki << 52) + 0x3ff0000000000000ULL);   /* 2^k, k >= -1021 */
    double p = 0x1.44401fae30efep-13;
    p = p * f + 0x1.5f48ee5d03a91p-10;
    p = p * f + 0x1.3b2a1b516ca7fp-7;
    p = p * f + 0x1.c6aecc0a7de9fp-5;
    p = p * f + 0x1.ebfbe0460cc0bp-3;
    p = p * f + 0x1.62e430d07986cp-1;
    p = p * f + 1.0;
    return p * s;
}

/* log(1 + e) for e in [0, 1] (or NaN): 2 atanh(w), w = e / (2 + e) in [0, 1/3]. */
NN_AI double nn_vm_log1p_01(double e)
{
    double w = e / (2.0 + e);
    double s = w * w;
    double q = 0x1.bfb4561e8dc48p-4;
    q = q * s + 0x1.5eab67b0d884cp-4;
    q = q * s + 0x1.c8cf1b3455de3p-4;
    q = q * s + 0x1.2489ae158dab2p-3;
    q = q * s + 0x1.9999c2d1aee49p-3;
    q = q * s + 0x1.5555553081220p-2;
    q = q * s + 0x1.0000000002acdp+0;
    return 2.0 * w * q;
}

/* sigmoid(z) - t from q = sigmoid(-|z|): (1 - t) - q for z >= 0 (no cancellation when
 * t = 1), q - t otherwise. Written without arithmetic inside a select: gcc sinks such
 * arithmetic into a branch and then does not vectorise the loop without AVX-512 masks. */
NN_AI double nn_vm_bce_grad(double z, double t, double q)
{
    int pos = z >= 0;
    return ((double)pos - t) + (pos ? -q : q);
}

/* ------------------------------------------------------------ float64 exp and log1p */
/* float64 keeps libm's accuracy: exp is the algorithm of glibc (>= 2.28) and musl, from
 * ARM's optimized-routines (Szabolcs Nagy): exp(x) = 2^(k/128) exp(r), |r| <= ln2/256,
 * 2^(k/128) = scale (1 + tail) from a 128-entry table, degree-5 polynomial; its published
 * bound is 0.511 ulp. The FMAs are written out where glibc's FMA build (x86-64 AVX2
 * ifunc) fuses, so for x in [-512, 0] the result is bit-identical to glibc's exp; below
 * -512 glibc rounds scale * tmp separately (its "specialcase"): at most 1 ulp apart. Only
 * the main path is here: callers send x in [-700, 0] (normal results, and w = e/2 in
 * log1p stays normal) and rows with anything else to libm. The table, 2^(i/128) as
 * scale_i (1 + tail_i), is nn_vm_exp_tab in _vmath_tables.h. */
#if NN_VM_X86
/* Needs hardware FMA (the AVX2 and AVX-512 instances only). e^x = scale (1 + tmp): returns
 * tmp (|tmp| < 0.0028) and sets *scale; nn_vm_exp64 rounds the product once, like glibc,
 * nn_vm_tanh64 keeps it as two doubles. */
NN_AI double nn_vm_exp64_parts(double x, double* scale)
{
    double kd = fma(0x1.71547652b82fep0 * 128, x, 0x1.8p52);   /* round(x 128/ln2) */
    uint64_t ki = nn_vm_u64(kd);
    kd -= 0x1.8p52;
    double r = fma(kd, -0x1.cf79abc9e3b3ap-47, fma(kd, -0x1.62e42fefa0000p-8, x));
    uint64_t i2 = 2 * (ki % 128);
    double tail = nn_vm_f64(nn_vm_exp_tab[i2]);
    *scale = nn_vm_f64(nn_vm_exp_tab[i2 + 1] + (ki << 45));
    double r2 = r * r;
    double tmp = fma(r2, fma(r, 0x1.555555555543cp-3, 0x1.ffffffffffdbdp-2), tail + r);
    return fma(r2 * r2, fma(r, 0x1.1111167a4d017p-7, 0x1.55555cf172b91p-5), tmp);
}

NN_AI double nn_vm_exp64(double x)
{
    double scale, tmp = nn_vm_exp64_parts(x, &scale);
    return fma(scale, tmp, scale);
}

/* log(1 + e) for e in [0, 1] within 0.7 ulp: 2 atanh(w), w = e / (2 + e) carried as
 * w_hi + w_lo (exact remainder by FMA), 2 atanh(w) = 2 w_hi + (2 w_lo + 2 w s R(s)),
 * s = w^2 <= 1/9, R a degree-10 fit (relative error 4e-18): the bracket is below 0.08
 * of the result, so only the last addition rounds noticeably. */
NN_AI double nn_vm_log1p64(double e)
{
    double den = 2.0 + e;
    double den_lo = (2.0 - den) + e;                 /* exact: 2 >= e */
    double w = e / den;
    double rem = fma(-w, den, e);                    /* e - w den, exact */
    double w_lo = (rem - w * den_lo) / den;
    double s = w * w;
    double R = 0x1.401d3e65cdc48p-4;
    R = fma(R, s, 0x1.32e0d25c9c761p-5);
    R = fma(R, s, 0x1.bc37f0140c19ep-5);
    R = fma(R, s, 0x1.e0a2d581ab68fp-5);
    R = fma(R, s, 0x1.111abdc8abe16p-4);
    R = fma(R, s, 0x1.3b13515f6f9efp-4);
    R = fma(R, s, 0x1.745d19937b1fcp-4);
    R = fma(R, s, 0x1.c71c71bedea97p-4);
    R = fma(R, s, 0x1.2492492499d46p-3);
    R = fma(R, s, 0x1.9999999999944p-3);
    R = fma(R, s, 0x1.5555555555555p-2);
    return 2.0 * w + (2.0 * w_lo + 2.0 * w * (s * R));
}

/* ------------------------------------------------------------ float64 tanh */
/* tanh(x) within 0.55 ulp of the exact value (tests/test_vmath.py: <= 1 ulp against an
 * extended-precision reference on 2 million points of [0, 20] and the boundaries).
 * Branchless, both parts computed and one picked, so loops over it vectorise. a = |x|:
 * - a < 1/4: a + a s P(s), s = a^2, P a degree-7 Chebyshev fit of (tanh(a)/a - 1)/s
 *   (relative error 6e-17 after rounding the coefficients; the correction a s P is below
 *   1/48 of the result, so only the final FMA's rounding counts: 0.5 ulp + ~0.02).
 * - a >= 1/4: 1 - 2/(E + 1), E = e^(2a) carried as two doubles (hi + lo, from
 *   nn_vm_exp64_parts: relative error ~1e-19), D = E + 1 and q = 2/D and 1 - q as
 *   double-doubles (Fast2Sum: E >= 1 > q; the division's remainder exact by FMA), so the
 *   cancellation in 1 - q near a = 1/4 (q/t < 3) magnifies only ~1e-19: 0.5 ulp + ~0.01.
 * a is clamped at 20 (tanh rounds to 1 from 19.07 on; e^40 stays finite); NaN passes
 * through both parts, +-inf give +-1, and the sign is put back (tanh(-0) = -0). */
NN_AI double nn_vm_tanh64(double x)
{
    /* The clamp and the final pick are bit masks, not selects: with a select gcc
     * specialises the arithmetic that follows per arm (constant-folding the clamped case)
     * and leaves control flow in the loop, which it does not vectorise without AVX-512. */
    double a = fabs(x);
    uint64_t big = (uint64_t)0 - (uint64_t)(a > 20.0);       /* false for NaN: kept */
    a = nn_vm_f64((nn_vm_u64(a) & ~big) | (nn_vm_u64(20.0) & big));
    double s = a * a;
    double p = 0x1.17cd5b9306c04p-11;
    p = fma(p, s, -0x1.7c2ad98792f89p-10);
    p = fma(p, s, 0x1.d6c9f446c47cbp-9);
    p = fma(p, s, -0x1.226e22fa6f453p-7);
    p = fma(p, s, 0x1.664f485d6d4d4p-6);
    p = fma(p, s, -0x1.ba1ba1b9f660bp-5);
    p = fma(p, s, 0x1.11111111110a0p-3);
    p = fma(p, s, -0x1.5555555555555p-2);
    double t_small = fma(a, s * p, a);
    double scale, tmp = nn_vm_exp64_parts(2.0 * a, &scale);
    double e = fma(scale, tmp, scale);           /* E = e + e_lo */
    double e_lo = fma(scale, tmp, scale - e);    /* scale - e is exact (Sterbenz) */
    double den = e + 1.0;
    double den_lo = ((e - den) + 1.0) + e_lo;    /* Fast2Sum: e >= 1 */
    double q = 2.0 / den;
    double rem = fma(-q, den, 2.0);              /* 2 - q den, exact */
    double q_lo = (rem - q * den_lo) * (0.5 * q);   /* ~ (rem - q den_lo) / den */
    double t0 = 1.0 - q;                         /* Fast2Sum: q < 1 */
    double t_large = t0 + (((1.0 - t0) - q) - q_lo);
    uint64_t small = (uint64_t)0 - (uint64_t)(a < 0.25);
    uint64_t t = (nn_vm_u64(t_small) & small) | (nn_vm_u64(t_large) & ~small);
    return copysign(nn_vm_f64(t), x);
}
#endif

/* ------------------------------------------------------------ float32 tanh, one lane */
/* The same algorithm one element at a time (generic level, and the AVX2 tails); its table
 * nn_vm_tanh16 and NN_VM_TANH_MAX are in _vmath_tables.h. */
NN_AI float nn_vm_tanhf_1(float x)
{
    float a = fabsf(x);
    if (!(a <= NN_VM_TANH_MAX)) {
        if (a != a)
            return x;
        a = NN_VM_TANH_MAX;
    }
    int i = (int)(a * 1.6f);
    i = i > 15 ? 15 : i;
    float d = a - (0.625f * (float)i + 0.3125f);   /* exact */
    float p = nn_vm_tanh16[7][i];
    for (int k = 6; k >= 0; k--)
        p = p * d + nn_vm_tanh16[k][i];
    float B = i < 2 ? a : 1.0f;
    return copysignf(B * p + B, x);
}

#endif /* NN_VMATH_SCALAR_H */
