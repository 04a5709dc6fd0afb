/* _vmath.h -- vectorisable float32 kernels for nncore's exp-based activations and losses.
 *
 * Why: the Cython loops called scalar libm expf/tanhf/log1pf, which gcc cannot vectorise
 * without -ffast-math (forbidden: it turns on flush-to-zero for the whole process), so
 * NumPy's runtime-dispatched SIMD loops beat them 2-30x. This header gives the float32
 * branches of the cores in _kernels.pyx branchless, vectorisable replacements, compiled
 * three times (generic, AVX2+FMA, AVX-512) and picked once at import from the CPU
 * (__builtin_cpu_supports), so wheels stay baseline x86-64 (no -march=native).
 * NNCORE_SIMD=generic|avx2|avx512 caps the level (tests run every level that way).
 * float64 must stay exact: its sigmoid, softmax and losses come here only at the AVX2 and
 * AVX-512 levels, with glibc's own exp algorithm (<= 1 ulp from libm, bit-identical on
 * [-512, 0]) and a log1p within 0.7 ulp (see "float64 exp and log1p" below); float64 tanh
 * and the generic level keep the libm loops of _kernels.pyx.
 *
 * Accuracy (tested in tests/test_vmath.py, bound 2e-7 relative, float32 results):
 * - exp-based kernels (sigmoid, softmax, softmax_xent, sigmoid_bce) work in DOUBLE lanes:
 *   the float inputs are widened exactly, e^y (y <= 0 always: -|x|, z - max) is
 *   2^k * p(f), k = round(y log2 e) by the 0x1.8p52 trick, 2^k built from k's bits,
 *   p a degree-6 fit of 2^f on [-1/2, 1/2] (relative error 2.5e-9); log1p(e), e in [0,1],
 *   is 2 atanh(e / (2 + e)) with a degree-6 fit in w^2 (2.7e-12). Every float result is
 *   rounded once from a double that is within ~5e-9 of the truth: <= 0.5 ulp + 5e-9.
 *   y is clamped at -708 (2^k stays a normal double; anything below rounds to float 0).
 *   The differences z - max are taken in double, so they are exact (NumPy's float32
 *   softmax rounds them).
 * - tanh works in FLOAT lanes (double lanes halve the throughput, and tanh is the one
 *   activation NumPy computes fast): a = min(|x|, 9.99) (tanh rounds to 1 above 9.01), a
 *   piecewise polynomial in d = a - mid_i with float coefficients looked up per lane by
 *   vpermps from tables held in registers, and the sign put back.
 *   AVX-512 (nn_vm_tanh32, 26 of 32 slots): [0, 1/8) then the octaves [2^e, 2^(e+1)),
 *   e = -3..3, each cut in four; the slot is read off a's exponent and top two mantissa
 *   bits. Degree 5: P = d (1 + d R(d)) on [0, 1/8), else P = F + d Q(d) with
 *   F = float(tanh(mid)) and mid picked where tanh(mid) is within 1/256 ulp of a float.
 *   AVX2 and generic (nn_vm_tanh16): 16 intervals of width 5/8, i = trunc(1.6 a), degree 7
 *   in d = a - centre for w = tanh(a)/a - 1 (i < 2) or w = tanh(a) - 1, tanh = B + B w
 *   with B = a or 1 (|w| < 0.32, so w's rounding is damped).
 *   Checked exhaustively over every float in [0, 11]: at most 1 ulp, relative error
 *   9.1e-8 (AVX-512), 6.9e-8 (AVX2), 8.7e-8 (generic); 98.6-99.8% correctly rounded.
 * NaN propagates everywhere (every clamp and select keeps it); +-inf saturate.
 *
 * The tanh tables: Chebyshev interpolation (mpmath.chebyfit) of the function on its
 * interval (widened by 0.003, resp. 1e-6), coefficients rounded to float, e.g.
 *     nn_vm_tanh16: H = mpf(5)/8; c = H*i + H/2
 *       w = (lambda a: tanh(a)/a - 1) if i < 2 else (lambda a: tanh(a) - 1)
 *       chebyfit(lambda d: w(c + d), [H*i - c - (0.003 if i else 0), H*(i+1) - c + 0.003], 8)
 *     nn_vm_tanh32: T0 = tanh(mid); Q = chebyfit(lambda d: (tanh(mid + d) - T0)/d, ..., 5);
 *       slot 15: R = chebyfit(lambda a: (tanh(a)/a - 1)/a, [0, 1/8], 4)
 *     (slot of interval i >= 1: (495 + i) mod 32; unused slots copy [8, 10))
 */
#ifndef NN_VMATH_KERNELS
#ifndef NN_VMATH_H
#define NN_VMATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define NN_VM_X86 1
#include <immintrin.h>
#else
#define NN_VM_X86 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define NN_AI static inline __attribute__((always_inline))
#define NN_ALIGN64 __attribute__((aligned(64)))
#else
#define NN_AI static inline
#define NN_ALIGN64
#endif

/* Loops below write out[j] after reading in[j] (same index), so they may run in place;
 * ivdep tells gcc there is no loop-carried dependence (else its alias check fails for
 * out == in and it runs the scalar loop). */
#if defined(__clang__)
#define NN_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define NN_IVDEP _Pragma("GCC ivdep")
#else
#define NN_IVDEP
#endif

/* Partial sums / maxima are kept in NN_BLK lanes so that gcc vectorises the reductions
 * (it may not reorder a sequential floating-point sum by itself). */
#define NN_BLK 16

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
 * log1p stays normal) and rows with anything else to libm. tab[2i] = bits(tail_i), tab[2i+1] = bits(scale_i) - (i << 45),
 * 2^(i/128) = scale_i (1 + tail_i) (regenerated with mpmath; equal to glibc's
 * e_exp_data.c). */
static const uint64_t nn_vm_exp_tab[256] NN_ALIGN64 = {
    0x0000000000000000ULL, 0x3ff0000000000000ULL, 0x3c9b3b4f1a88bf6eULL, 0x3feff63da9fb3335ULL,
    0xbc7160139cd8dc5dULL, 0x3fefec9a3e778061ULL, 0xbc905e7a108766d1ULL, 0x3fefe315e86e7f85ULL,
    0x3c8cd2523567f613ULL, 0x3fefd9b0d3158574ULL, 0xbc8bce8023f98efaULL, 0x3fefd06b29ddf6deULL,
    0x3c60f74e61e6c861ULL, 0x3fefc74518759bc8ULL, 0x3c90a3e45b33d399ULL, 0x3fefbe3ecac6f383ULL,
    0x3c979aa65d837b6dULL, 0x3fefb5586cf9890fULL, 0x3c8eb51a92fdeffcULL, 0x3fefac922b7247f7ULL,
    0x3c3ebe3d702f9cd1ULL, 0x3fefa3ec32d3d1a2ULL, 0xbc6a033489906e0bULL, 0x3fef9b66affed31bULL,
    0xbc9556522a2fbd0eULL, 0x3fef9301d0125b51ULL, 0xbc5080ef8c4eea55ULL, 0x3fef8abdc06c31ccULL,
    0xbc91c923b9d5f416ULL, 0x3fef829aaea92de0ULL, 0x3c80d3e3e95c55afULL, 0x3fef7a98c8a58e51ULL,
    0xbc801b15eaa59348ULL, 0x3fef72b83c7d517bULL, 0xbc8f1ff055de323dULL, 0x3fef6af9388c8deaULL,
    0x3c8b898c3f1353bfULL, 0x3fef635beb6fcb75ULL, 0xbc96d99c7611eb26ULL, 0x3fef5be084045cd4ULL,
    0x3c9aecf73e3a2f60ULL, 0x3fef54873168b9aaULL, 0xbc8fe782cb86389dULL, 0x3fef4d5022fcd91dULL,
    0x3c8a6f4144a6c38dULL, 0x3fef463b88628cd6ULL, 0x3c807a05b0e4047dULL, 0x3fef3f49917ddc96ULL,
    0x3c968efde3a8a894ULL, 0x3fef387a6e756238ULL, 0x3c875e18f274487dULL, 0x3fef31ce4fb2a63fULL,
    0x3c80472b981fe7f2ULL, 0x3fef2b4565e27cddULL, 0xbc96b87b3f71085eULL, 0x3fef24dfe1f56381ULL,
    0x3c82f7e16d09ab31ULL, 0x3fef1e9df51fdee1ULL, 0xbc3d219b1a6fbffaULL, 0x3fef187fd0dad990ULL,
    0x3c8b3782720c0ab4ULL, 0x3fef1285a6e4030bULL, 0x3c6e149289cecb8fULL, 0x3fef0cafa93e2f56ULL,
    0x3c834d754db0abb6ULL, 0x3fef06fe0a31b715ULL, 0x3c864201e2ac744cULL, 0x3fef0170fc4cd831ULL,
    0x3c8fdd395dd3f84aULL, 0x3feefc08b26416ffULL, 0xbc86a3803b8e5b04ULL, 0x3feef6c55f929ff1ULL,
    0xbc924aedcc4b5068ULL, 0x3feef1a7373aa9cbULL, 0xbc9907f81b512d8eULL, 0x3feeecae6d05d866ULL,
    0xbc71d1e83e9436d2ULL, 0x3feee7db34e59ff7ULL, 0xbc991919b3ce1b15ULL, 0x3feee32dc313a8e5ULL,
    0x3c859f48a72a4c6dULL, 0x3feedea64c123422ULL, 0xbc9312607a28698aULL, 0x3feeda4504ac801cULL,
    0xbc58a78f4817895bULL, 0x3feed60a21f72e2aULL, 0xbc7c2c9b67499a1bULL, 0x3feed1f5d950a897ULL,
    0x3c4363ed60c2ac11ULL, 0x3feece086061892dULL, 0x3c9666093b0664efULL, 0x3feeca41ed1d0057ULL,
    0x3c6ecce1daa10379ULL, 0x3feec6a2b5c13cd0ULL, 0x3c93ff8e3f0f1230ULL, 0x3feec32af0d7d3deULL,
    0x3c7690cebb7aafb0ULL, 0x3feebfdad5362a27ULL, 0x3c931dbdeb54e077ULL, 0x3feebcb299fddd0dULL,
    0xbc8f94340071a38eULL, 0x3feeb9b2769d2ca7ULL, 0xbc87deccdc93a349ULL, 0x3feeb6daa2cf6642ULL,
    0xbc78dec6bd0f385fULL, 0x3feeb42b569d4f82ULL, 0xbc861246ec7b5cf6ULL, 0x3feeb1a4ca5d920fULL,
    0x3c93350518fdd78eULL, 0x3feeaf4736b527daULL, 0x3c7b98b72f8a9b05ULL, 0x3feead12d497c7fdULL,
    0x3c9063e1e21c5409ULL, 0x3feeab07dd485429ULL, 0x3c34c7855019c6eaULL, 0x3feea9268a5946b7ULL,
    0x3c9432e62b64c035ULL, 0x3feea76f15ad2148ULL, 0xbc8ce44a6199769fULL, 0x3feea5e1b976dc09ULL,
    0xbc8c33c53bef4da8ULL, 0x3feea47eb03a5585ULL, 0xbc845378892be9aeULL, 0x3feea34634ccc320ULL,
    0xbc93cedd78565858ULL, 0x3feea23882552225ULL, 0x3c5710aa807e1964ULL, 0x3feea155d44ca973ULL,
    0xbc93b3efbf5e2228ULL, 0x3feea09e667f3bcdULL, 0xbc6a12ad8734b982ULL, 0x3feea012750bdabfULL,
    0xbc6367efb86da9eeULL, 0x3fee9fb23c651a2fULL, 0xbc80dc3d54e08851ULL, 0x3fee9f7df9519484ULL,
    0xbc781f647e5a3ecfULL, 0x3fee9f75e8ec5f74ULL, 0xbc86ee4ac08b7db0ULL, 0x3fee9f9a48a58174ULL,
    0xbc8619321e55e68aULL, 0x3fee9feb564267c9ULL, 0x3c909ccb5e09d4d3ULL, 0x3feea0694fde5d3fULL,
    0xbc7b32dcb94da51dULL, 0x3feea11473eb0187ULL, 0x3c94ecfd5467c06bULL, 0x3feea1ed0130c132ULL,
    0x3c65ebe1abd66c55ULL, 0x3feea2f336cf4e62ULL, 0xbc88a1c52fb3cf42ULL, 0x3feea427543e1a12ULL,
    0xbc9369b6f13b3734ULL, 0x3feea589994cce13ULL, 0xbc805e843a19ff1eULL, 0x3feea71a4623c7adULL,
    0xbc94d450d872576eULL, 0x3feea8d99b4492edULL, 0x3c90ad675b0e8a00ULL, 0x3feeaac7d98a6699ULL,
    0x3c8db72fc1f0eab4ULL, 0x3feeace5422aa0dbULL, 0xbc65b6609cc5e7ffULL, 0x3feeaf3216b5448cULL,
    0x3c7bf68359f35f44ULL, 0x3feeb1ae99157736ULL, 0xbc93091fa71e3d83ULL, 0x3feeb45b0b91ffc6ULL,
    0xbc5da9b88b6c1e29ULL, 0x3feeb737b0cdc5e5ULL, 0xbc6c23f97c90b959ULL, 0x3feeba44cbc8520fULL,
    0xbc92434322f4f9aaULL, 0x3feebd829fde4e50ULL, 0xbc85ca6cd7668e4bULL, 0x3feec0f170ca07baULL,
    0x3c71affc2b91ce27ULL, 0x3feec49182a3f090ULL, 0x3c6dd235e10a73bbULL, 0x3feec86319e32323ULL,
    0xbc87c50422622263ULL, 0x3feecc667b5de565ULL, 0x3c8b1c86e3e231d5ULL, 0x3feed09bec4a2d33ULL,
    0xbc91bbd1d3bcbb15ULL, 0x3feed503b23e255dULL, 0x3c90cc319cee31d2ULL, 0x3feed99e1330b358ULL,
    0x3c8469846e735ab3ULL, 0x3feede6b5579fdbfULL, 0xbc82dfcd978e9db4ULL, 0x3feee36bbfd3f37aULL,
    0x3c8c1a7792cb3387ULL, 0x3feee89f995ad3adULL, 0xbc907b8f4ad1d9faULL, 0x3feeee07298db666ULL,
    0xbc55c3d956dcaebaULL, 0x3feef3a2b84f15fbULL, 0xbc90a40e3da6f640ULL, 0x3feef9728de5593aULL,
    0xbc68d6f438ad9334ULL, 0x3feeff76f2fb5e47ULL, 0xbc91eee26b588a35ULL, 0x3fef05b030a1064aULL,
    0x3c74ffd70a5fddcdULL, 0x3fef0c1e904bc1d2ULL, 0xbc91bdfbfa9298acULL, 0x3fef12c25bd71e09ULL,
    0x3c736eae30af0cb3ULL, 0x3fef199bdd85529cULL, 0x3c8ee3325c9ffd94ULL, 0x3fef20ab5fffd07aULL,
    0x3c84e08fd10959acULL, 0x3fef27f12e57d14bULL, 0x3c63cdaf384e1a67ULL, 0x3fef2f6d9406e7b5ULL,
    0x3c676b2c6c921968ULL, 0x3fef3720dcef9069ULL, 0xbc808a1883ccb5d2ULL, 0x3fef3f0b555dc3faULL,
    0xbc8fad5d3ffffa6fULL, 0x3fef472d4a07897cULL, 0xbc900dae3875a949ULL, 0x3fef4f87080d89f2ULL,
    0x3c74a385a63d07a7ULL, 0x3fef5818dcfba487ULL, 0xbc82919e2040220fULL, 0x3fef60e316c98398ULL,
    0x3c8e5a50d5c192acULL, 0x3fef69e603db3285ULL, 0x3c843a59ac016b4bULL, 0x3fef7321f301b460ULL,
    0xbc82d52107b43e1fULL, 0x3fef7c97337b9b5fULL, 0xbc892ab93b470dc9ULL, 0x3fef864614f5a129ULL,
    0x3c74b604603a88d3ULL, 0x3fef902ee78b3ff6ULL, 0x3c83c5ec519d7271ULL, 0x3fef9a51fbc74c83ULL,
    0xbc8ff7128fd391f0ULL, 0x3fefa4afa2a490daULL, 0xbc8dae98e223747dULL, 0x3fefaf482d8e67f1ULL,
    0x3c8ec3bc41aa2008ULL, 0x3fefba1bee615a27ULL, 0x3c842b94c3a9eb32ULL, 0x3fefc52b376bba97ULL,
    0x3c8a64a931d185eeULL, 0x3fefd0765b6e4540ULL, 0xbc8e37bae43be3edULL, 0x3fefdbfdad9cbe14ULL,
    0x3c77893b4d91cd9dULL, 0x3fefe7c1819e90d8ULL, 0x3c5305c14160cc89ULL, 0x3feff3c22b8f71f1ULL,
};

#if NN_VM_X86
/* Needs hardware FMA (the AVX2 and AVX-512 instances only). */
NN_AI double nn_vm_exp64(double x)
{
    double kd = fma(0x1.71547652b82fep0 * 128, x, 0x1.8p52);   /* round(x 128/ln2) */
    uint64_t ki = nn_vm_u64(kd);
    kd -= 0x1.8p52;
    double r = fma(kd, -0x1.cf79abc9e3b3ap-47, fma(kd, -0x1.62e42fefa0000p-8, x));
    uint64_t i2 = 2 * (ki % 128);
    double tail = nn_vm_f64(nn_vm_exp_tab[i2]);
    double scale = nn_vm_f64(nn_vm_exp_tab[i2 + 1] + (ki << 45));
    double r2 = r * r;
    double tmp = fma(r2, fma(r, 0x1.555555555543cp-3, 0x1.ffffffffffdbdp-2), tail + r);
    tmp = fma(r2 * r2, fma(r, 0x1.1111167a4d017p-7, 0x1.55555cf172b91p-5), tmp);
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
#endif

/* ------------------------------------------------------------ tanh tables */
/* nn_vm_tanh16[k][i]: coefficient of d^k in interval i of 16 (width 5/8, degree 7: AVX2 and
 * generic); nn_vm_tanh32: 32 intervals of width 5/16, degree 5 (AVX-512, where one vpermt2ps
 * looks up 32 entries). See the note at the top. */
static const float nn_vm_tanh16[8][16] NN_ALIGN64 = {
    {-0x1.00a564p-5f, -0x1.bc6574p-3f, -0x1.58c85ep-4f, -0x1.975c40p-6f,
     -0x1.d7054cp-8f, -0x1.0e97dap-9f, -0x1.365562p-11f, -0x1.63b92ap-13f,
     -0x1.97b0bep-15f, -0x1.d33aa6p-17f, -0x1.0bba64p-18f, -0x1.32d26cp-20f,
     -0x1.5f9fbep-22f, -0x1.92f7c8p-24f, -0x1.cdcf18p-26f, -0x1.089ef8p-27f},
    {-0x1.8b35d8p-3f, -0x1.5f918cp-2f, 0x1.4a4584p-3f, 0x1.924bd2p-5f,
     0x1.d553f8p-7f, 0x1.0e505ap-8f, 0x1.363ddep-10f, 0x1.63b170p-12f,
     0x1.97ae34p-14f, 0x1.d339d2p-16f, 0x1.0bba42p-17f, 0x1.32d260p-19f,
     0x1.5f9fbap-21f, 0x1.92f7c8p-23f, 0x1.cdcf18p-25f, 0x1.089ef8p-26f},
    {-0x1.0cb0d0p-2f, 0x1.50ecbep-8f, -0x1.2e7864p-3f, -0x1.884b18p-5f,
     -0x1.d1f476p-7f, -0x1.0dc186p-8f, -0x1.360eeap-10f, -0x1.63a210p-12f,
     -0x1.97a936p-14f, -0x1.d33840p-16f, -0x1.0bba0ap-17f, -0x1.32d25ap-19f,
     -0x1.5f9fc6p-21f, -0x1.92f7dap-23f, -0x1.cdcf2ep-25f, -0x1.089f06p-26f},
    {0x1.18c078p-3f, 0x1.87a0a4p-4f, 0x1.4dd6e0p-4f, 0x1.f0e1dap-6f,
     0x1.3229c8p-7f, 0x1.66304ap-9f, 0x1.9cebdcp-11f, 0x1.da042cp-13f,
     0x1.0fbf58p-14f, 0x1.377892p-16f, 0x1.64f746p-18f, 0x1.99182cp-20f,
     0x1.d4d4e4p-22f, 0x1.0ca530p-23f, 0x1.33df68p-25f, 0x1.60d3fap-27f},
    {0x1.13c8e0p-4f, -0x1.c978bep-5f, -0x1.a092c8p-6f, -0x1.be15e4p-7f,
     -0x1.2948a4p-8f, -0x1.633132p-10f, -0x1.9be5c4p-12f, -0x1.d9a3aep-14f,
     -0x1.0fa994p-15f, -0x1.376aa4p-17f, -0x1.64eaeep-19f, -0x1.990b38p-21f,
     -0x1.d4c66ep-23f, -0x1.0c9cf6p-24f, -0x1.33d602p-26f, -0x1.60c936p-28f},
    {-0x1.1d0e0cp-4f, 0x1.7a78c0p-9f, -0x1.462d66p-12f, 0x1.16e8f2p-8f,
     0x1.bfa18cp-10f, 0x1.177158p-11f, 0x1.47f8dcp-13f, 0x1.7a6acap-15f,
     0x1.b2838ep-17f, 0x1.f23cc6p-19f, 0x1.1d8a48p-20f, 0x1.473fd8p-22f,
     0x1.7709fap-24f, 0x1.adcdb0p-26f, 0x1.ec9044p-28f, 0x1.1a3e64p-29f},
    {-0x1.41280cp-7f, 0x1.f0eacep-7f, 0x1.74479cp-8f, -0x1.4c3ae6p-11f,
     -0x1.0663f6p-11f, -0x1.6c213cp-13f, -0x1.b6fd62p-15f, -0x1.fe4baap-17f,
     -0x1.25974cp-18f, -0x1.50d9dap-20f, -0x1.822a70p-22f, -0x1.ba9870p-24f,
     -0x1.fb3c98p-26f, -0x1.22a75cp-27f, -0x1.4d1874p-29f, -0x1.7dbbeep-31f},
    {0x1.c07bd0p-6f, -0x1.21c388p-7f, -0x1.c1cb4cp-9f, -0x1.b622f6p-13f,
     0x1.ada08ep-14f, 0x1.816f72p-15f, 0x1.ea4beep-17f, 0x1.210ef2p-18f,
     0x1.4df190p-20f, 0x1.7f9606p-22f, 0x1.b7e2d8p-24f, 0x1.f8367ep-26f,
     0x1.20ef34p-27f, 0x1.4b2126p-29f, 0x1.7b7b80p-31f, 0x1.b2e50ap-33f},
};
static const float nn_vm_tanh32[7][32] NN_ALIGN64 = {
    /* mid: d = a - mid */
    {0x1.2092aap+1f, 0x1.60ee6ep+1f, 0x1.9ff6fcp+1f, 0x1.dfb8b8p+1f,
     0x1.20666ap+2f, 0x1.60233cp+2f, 0x1.9cbb76p+2f, 0x1.e0d436p+2f,
     0x1.1549aep+3f, 0x1.1549aep+3f, 0x1.1549aep+3f, 0x1.1549aep+3f,
     0x1.1549aep+3f, 0x1.1549aep+3f, 0x1.1549aep+3f, 0.0f,
     0x1.1f9308p-3f, 0x1.607f00p-3f, 0x1.9e7ad0p-3f, 0x1.e029cap-3f,
     0x1.1faee2p-2f, 0x1.5e7442p-2f, 0x1.a076cep-2f, 0x1.e1574ep-2f,
     0x1.210074p-1f, 0x1.5ffa44p-1f, 0x1.a0b85ap-1f, 0x1.dfd97ep-1f,
     0x1.1e37a2p+0f, 0x1.604402p+0f, 0x1.a040bap+0f, 0x1.de5ef6p+0f},
    /* coefficient of d^0 */
    {0x1.f4d93ap-1f, 0x1.fbe464p-1f, 0x1.fe7642p-1f, 0x1.ff6e76p-1f,
     0x1.ffe00ep-1f, 0x1.fffba4p-1f, 0x1.ffff58p-1f, 0x1.ffffecp-1f,
     0x1.fffffep-1f, 0x1.fffffep-1f, 0x1.fffffep-1f, 0x1.fffffep-1f,
     0x1.fffffep-1f, 0x1.fffffep-1f, 0x1.fffffep-1f, 0.0f,
     0x1.1db2f8p-3f, 0x1.5d0e58p-3f, 0x1.98e97ep-3f, 0x1.d78df0p-3f,
     0x1.185892p-2f, 0x1.51622ap-2f, 0x1.8aed08p-2f, 0x1.c0c3f2p-2f,
     0x1.05c60ap-1f, 0x1.31542ep-1f, 0x1.57ee42p-1f, 0x1.77c676p-1f,
     0x1.9d2002p-1f, 0x1.c29758p-1f, 0x1.d9d992p-1f, 0x1.e82d44p-1f},
    /* coefficient of d^1 */
    {0x1.60f5eap-5f, 0x1.05d908p-6f, 0x1.89269ap-8f, 0x1.22eaa0p-9f,
     0x1.ff10cep-12f, 0x1.16ff28p-14f, 0x1.4ffa50p-17f, 0x1.401074p-20f,
     0x1.fe1e98p-24f, 0x1.fe1e98p-24f, 0x1.fe1e98p-24f, 0x1.fe1e98p-24f,
     0x1.fe1e98p-24f, 0x1.fe1e98p-24f, 0x1.fe1e98p-24f, 0x1.p+0f,
     0x1.f60940p-1f, 0x1.f12080p-1f, 0x1.eb96b8p-1f, 0x1.e4db24p-1f,
     0x1.d99fc4p-1f, 0x1.c86b8cp-1f, 0x1.b3d830p-1f, 0x1.9daa34p-1f,
     0x1.7a294cp-1f, 0x1.49eb28p-1f, 0x1.18f7d6p-1f, 0x1.d868f8p-2f,
     0x1.654fb6p-2f, 0x1.cdcf2ap-3f, 0x1.25d494p-3f, 0x1.744d94p-4f},
    /* coefficient of d^2 */
    {-0x1.59440cp-5f, -0x1.03bc72p-6f, -0x1.87f348p-8f, -0x1.229408p-9f,
     -0x1.fe7c66p-12f, -0x1.16bd2cp-14f, -0x1.4fbe26p-17f, -0x1.3fc63ap-20f,
     -0x1.ff7bdap-24f, -0x1.ff7bdap-24f, -0x1.ff7bdap-24f, -0x1.ff7bdap-24f,
     -0x1.ff7bdap-24f, -0x1.ff7bdap-24f, -0x1.ff7bdap-24f, 0x1.b59782p-26f,
     -0x1.1823a2p-3f, -0x1.52ea94p-3f, -0x1.889c48p-3f, -0x1.be8e00p-3f,
     -0x1.03554cp-2f, -0x1.2cc24ap-2f, -0x1.502f22p-2f, -0x1.6a933cp-2f,
     -0x1.82b098p-2f, -0x1.897da2p-2f, -0x1.797992p-2f, -0x1.5ab804p-2f,
     -0x1.204f7ep-2f, -0x1.966c06p-3f, -0x1.0fefe8p-3f, -0x1.62fae8p-4f},
    /* coefficient of d^3 */
    {0x1.b83036p-6f, 0x1.54b9e2p-7f, 0x1.03bcf2p-8f, 0x1.829a08p-10f,
     0x1.543224p-12f, 0x1.73c408p-15f, 0x1.c12952p-18f, 0x1.aa399ep-21f,
     0x1.626d6cp-24f, 0x1.626d6cp-24f, 0x1.626d6cp-24f, 0x1.626d6cp-24f,
     0x1.626d6cp-24f, 0x1.626d6cp-24f, 0x1.626d6cp-24f, -0x1.555704p-2f,
     -0x1.3b269cp-2f, -0x1.2e8934p-2f, -0x1.2087dap-2f, -0x1.0fd3d4p-2f,
     -0x1.e98022p-3f, -0x1.9a5fa4p-3f, -0x1.41d066p-3f, -0x1.d3844ep-4f,
     -0x1.b339d6p-5f, 0x1.d6bd2cp-7f, 0x1.0902e2p-4f, 0x1.83ff3cp-4f,
     0x1.c61578p-4f, 0x1.977b06p-4f, 0x1.337682p-4f, 0x1.acb8eap-5f},
    /* coefficient of d^4 */
    {-0x1.92b902p-7f, -0x1.4c7a4ap-8f, -0x1.0318d0p-9f, -0x1.84c9eap-11f,
     -0x1.627f70p-13f, -0x1.83b014p-16f, -0x1.d0ebfap-19f, -0x1.bce25cp-22f,
     -0x1.60dc56p-25f, -0x1.60dc56p-25f, -0x1.60dc56p-25f, -0x1.60dc56p-25f,
     -0x1.60dc56p-25f, -0x1.60dc56p-25f, -0x1.60dc56p-25f, 0x1.eca8bap-13f,
     0x1.6a8e2ep-4f, 0x1.b020c2p-4f, 0x1.ec19b6p-4f, 0x1.11fc8ep-3f,
     0x1.32b908p-3f, 0x1.4f89c8p-3f, 0x1.5c124cp-3f, 0x1.5805a2p-3f,
     0x1.390e38p-3f, 0x1.e954fcp-4f, 0x1.456daep-4f, 0x1.63bb82p-5f,
     0x1.3725bep-8f, -0x1.5b213ep-6f, -0x1.9bbc14p-6f, -0x1.580800p-6f},
    /* coefficient of d^5 */
    {0x1.04a21cp-8f, 0x1.f40e96p-10f, 0x1.92f9c8p-11f, 0x1.32381ep-12f,
     0x1.1a9606p-14f, 0x1.33829cp-17f, 0x1.530e00p-20f, 0x1.6762ccp-23f,
     0x1.5fc16cp-27f, 0x1.5fc16cp-27f, 0x1.5fc16cp-27f, 0x1.5fc16cp-27f,
     0x1.5fc16cp-27f, 0x1.5fc16cp-27f, 0x1.5fc16cp-27f, 0x1.0c5b28p-3f,
     0x1.ca9cacp-4f, 0x1.a2558ap-4f, 0x1.74d8cap-4f, 0x1.428786p-4f,
     0x1.e3fedcp-5f, 0x1.06a1d0p-5f, 0x1.81f7eap-8f, -0x1.1a8be4p-6f,
     -0x1.654156p-5f, -0x1.f8c966p-5f, -0x1.00c776p-4f, -0x1.b2cef8p-5f,
     -0x1.075a40p-5f, -0x1.362a1ep-7f, 0x1.74b524p-10f, 0x1.2dde7ep-8f},
};
#define NN_VM_TANH_MAX 9.99f   /* tanh(x) rounds to 1 in float for x > 9.01 */

/* The same algorithm one element at a time (generic level, and the AVX2 tails). */
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

/* ------------------------------------------------------------ kernel instances */
#define NN_VMATH_KERNELS
#define NN_LEVEL 1
#define NN_SFX(name) name##_generic
#define NN_ATTR
#include "_vmath.h"
#undef NN_LEVEL
#undef NN_SFX
#undef NN_ATTR
#if NN_VM_X86
#define NN_LEVEL 2
#define NN_SFX(name) name##_avx2
#define NN_ATTR __attribute__((target("avx2,fma")))
#include "_vmath.h"
#undef NN_LEVEL
#undef NN_SFX
#undef NN_ATTR
#define NN_LEVEL 3
#define NN_SFX(name) name##_avx512
#define NN_ATTR __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")))
#include "_vmath.h"
#undef NN_LEVEL
#undef NN_SFX
#undef NN_ATTR
#endif
#undef NN_VMATH_KERNELS

/* ------------------------------------------------------------ dispatch */
typedef void (*nn_vm_bias_act_fn)(const float*, const float*, float*, ptrdiff_t, ptrdiff_t);
typedef double (*nn_vm_xent_fn)(const float*, const int64_t*, float*, ptrdiff_t, ptrdiff_t,
                                double);
typedef double (*nn_vm_bce_fn)(const float*, const float*, float*, ptrdiff_t, double);

typedef void (*nn_vm_bias_act64_fn)(const double*, const double*, double*, ptrdiff_t,
                                    ptrdiff_t);
typedef double (*nn_vm_xent64_fn)(const double*, const int64_t*, double*, ptrdiff_t, ptrdiff_t,
                                  double);
typedef double (*nn_vm_bce64_fn)(const double*, const double*, double*, ptrdiff_t, double);

static struct {
    nn_vm_bias_act_fn bias_sigmoid, bias_tanh, bias_softmax;
    nn_vm_xent_fn softmax_xent;
    nn_vm_bce_fn sigmoid_bce;
    /* float64: NULL at the generic level (the Cython loops with libm run instead) */
    nn_vm_bias_act64_fn bias_sigmoid64, bias_softmax64;
    nn_vm_xent64_fn softmax_xent64;
    nn_vm_bce64_fn sigmoid_bce64;
    const char* isa;
} nn_vm = {nn_vm_bias_sigmoid_generic, nn_vm_bias_tanh_generic, nn_vm_bias_softmax_generic,
           nn_vm_softmax_xent_generic, nn_vm_sigmoid_bce_generic, NULL, NULL, NULL, NULL,
           "generic"};

#define NN_VM_SET(sfx, name)                                                            \
    do {                                                                                \
        nn_vm.bias_sigmoid = nn_vm_bias_sigmoid_##sfx;                                  \
        nn_vm.bias_tanh = nn_vm_bias_tanh_##sfx;                                        \
        nn_vm.bias_softmax = nn_vm_bias_softmax_##sfx;                                  \
        nn_vm.softmax_xent = nn_vm_softmax_xent_##sfx;                                  \
        nn_vm.sigmoid_bce = nn_vm_sigmoid_bce_##sfx;                                    \
        nn_vm.isa = name;                                                               \
    } while (0)
#define NN_VM_SET64(sfx)                                                                \
    do {                                                                                \
        nn_vm.bias_sigmoid64 = nn_vm_bias_sigmoid64_##sfx;                              \
        nn_vm.bias_softmax64 = nn_vm_bias_softmax64_##sfx;                              \
        nn_vm.softmax_xent64 = nn_vm_softmax_xent64_##sfx;                              \
        nn_vm.sigmoid_bce64 = nn_vm_sigmoid_bce64_##sfx;                                \
    } while (0)

/* Pick the kernels for this CPU (call once, at import, before any kernel runs).
 * NNCORE_SIMD=generic|avx2|avx512 caps the level. Returns the level's name. */
static const char* nn_vm_init(void)
{
    int cap = 3;
    const char* env = getenv("NNCORE_SIMD");
    if (env != NULL) {
        if (strcmp(env, "generic") == 0)
            cap = 1;
        else if (strcmp(env, "avx2") == 0)
            cap = 2;
    }
    NN_VM_SET(generic, "generic");
    nn_vm.bias_sigmoid64 = nn_vm.bias_softmax64 = NULL;
    nn_vm.softmax_xent64 = NULL;
    nn_vm.sigmoid_bce64 = NULL;
#if NN_VM_X86
    __builtin_cpu_init();
    if (cap >= 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        NN_VM_SET(avx2, "avx2");
        NN_VM_SET64(avx2);
        if (cap >= 3 && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bw")) {
            NN_VM_SET(avx512, "avx512");
            NN_VM_SET64(avx512);
        }
    }
#else
    (void)cap;
#endif
    return nn_vm.isa;
}

/* Entry points for Cython. out may be Z; dZ may be Z. */
static inline void nn_vm_bias_sigmoid_f32(const float* Z, const float* b, float* out,
                                          ptrdiff_t n, ptrdiff_t d)
{ nn_vm.bias_sigmoid(Z, b, out, n, d); }
static inline void nn_vm_bias_tanh_f32(const float* Z, const float* b, float* out,
                                       ptrdiff_t n, ptrdiff_t d)
{ nn_vm.bias_tanh(Z, b, out, n, d); }
static inline void nn_vm_bias_softmax_f32(const float* Z, const float* b, float* out,
                                          ptrdiff_t n, ptrdiff_t d)
{ nn_vm.bias_softmax(Z, b, out, n, d); }
static inline double nn_vm_softmax_xent_f32(const float* Z, const int64_t* labels, float* dZ,
                                            ptrdiff_t n, ptrdiff_t c, double scale)
{ return nn_vm.softmax_xent(Z, labels, dZ, n, c, scale); }
static inline double nn_vm_sigmoid_bce_f32(const float* Z, const float* T, float* dZ,
                                           ptrdiff_t m, double scale)
{ return nn_vm.sigmoid_bce(Z, T, dZ, m, scale); }

/* float64: each returns 0 (and does nothing) when there is no vector kernel (generic
 * level); nn_vm_have_f64() tells the losses the same. */
static inline int nn_vm_have_f64(void) { return nn_vm.softmax_xent64 != NULL; }
static inline int nn_vm_bias_sigmoid_f64(const double* Z, const double* b, double* out,
                                         ptrdiff_t n, ptrdiff_t d)
{
    if (nn_vm.bias_sigmoid64 == NULL)
        return 0;
    nn_vm.bias_sigmoid64(Z, b, out, n, d);
    return 1;
}
static inline int nn_vm_bias_softmax_f64(const double* Z, const double* b, double* out,
                                         ptrdiff_t n, ptrdiff_t d)
{
    if (nn_vm.bias_softmax64 == NULL)
        return 0;
    nn_vm.bias_softmax64(Z, b, out, n, d);
    return 1;
}
static inline double nn_vm_softmax_xent_f64(const double* Z, const int64_t* labels, double* dZ,
                                            ptrdiff_t n, ptrdiff_t c, double scale)
{ return nn_vm.softmax_xent64(Z, labels, dZ, n, c, scale); }
static inline double nn_vm_sigmoid_bce_f64(const double* Z, const double* T, double* dZ,
                                           ptrdiff_t m, double scale)
{ return nn_vm.sigmoid_bce64(Z, T, dZ, m, scale); }

#endif /* NN_VMATH_H */

#else /* NN_VMATH_KERNELS: one instance of the kernels, for NN_SFX / NN_ATTR / NN_LEVEL */

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

#if NN_LEVEL >= 2
/* ---- float64 (AVX2 and AVX-512 instances; the generic level leaves float64 to the
 * Cython loops). Same formulas as those loops, libm's exp and log1p replaced by
 * nn_vm_exp64 / nn_vm_log1p64. A row (a block, for BCE) whose exp arguments leave
 * [-700, 0], or that holds a NaN, is done with libm exactly as the Cython loop did. */
#define NN_VM_F64_LO (-700.0)

NN_ATTR static double NN_SFX(nn_vm_max64)(const double* v, ptrdiff_t d)
{
    double m[NN_BLK];
    ptrdiff_t j = 0, k;
    for (k = 0; k < NN_BLK; k++)
        m[k] = -INFINITY;
    for (; j + NN_BLK <= d; j += NN_BLK)
        for (k = 0; k < NN_BLK; k++)
            m[k] = v[j + k] > m[k] ? v[j + k] : m[k];
    for (k = 0; j < d; j++, k++)
        m[k] = v[j] > m[k] ? v[j] : m[k];
    double mx = m[0];
    for (k = 1; k < NN_BLK; k++)
        mx = m[k] > mx ? m[k] : mx;
    return mx;
}

/* 1 if every v[j] - mx lies in [-700, 0] (false for NaN, and for mx = +-inf) */
NN_ATTR static int NN_SFX(nn_vm_in_range64)(const double* v, double mx, ptrdiff_t d)
{
    int ok = 1;
    for (ptrdiff_t j = 0; j < d; j++)
        ok &= v[j] - mx >= NN_VM_F64_LO;
    return ok;
}

/* v[j] = e^(v[j] - mx) in place; returns the sum (in NN_BLK partial sums) */
NN_ATTR static double NN_SFX(nn_vm_exp_sum64)(double* v, double mx, ptrdiff_t d)
{
    double acc[NN_BLK], s = 0;
    ptrdiff_t j = 0, k;
    for (k = 0; k < NN_BLK; k++)
        acc[k] = 0;
    for (; j + NN_BLK <= d; j += NN_BLK)
        for (k = 0; k < NN_BLK; k++) {
            double e = nn_vm_exp64(v[j + k] - mx);
            v[j + k] = e;
            acc[k] += e;
        }
    for (k = 0; j < d; j++, k++) {
        double e = nn_vm_exp64(v[j] - mx);
        v[j] = e;
        acc[k] += e;
    }
    for (k = 0; k < NN_BLK; k++)
        s += acc[k];
    return s;
}

NN_ATTR static void NN_SFX(nn_vm_bias_sigmoid64)(const double* Z, const double* b, double* out,
                                                 ptrdiff_t n, ptrdiff_t d)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const double* z = Z + i * d;
        double* o = out + i * d;
        int ok = 1;
        for (ptrdiff_t j = 0; j < d; j++)
            ok &= fabs(z[j] + b[j]) <= -NN_VM_F64_LO;
        if (ok) {
            NN_IVDEP
            for (ptrdiff_t j = 0; j < d; j++) {
                double v = z[j] + b[j];
                double e = nn_vm_exp64(-fabs(v));
                o[j] = (v >= 0 ? 1.0 : e) / (1.0 + e);
            }
        } else {
            for (ptrdiff_t j = 0; j < d; j++) {
                double v = z[j] + b[j];
                double e = exp(-fabs(v));
                o[j] = (v >= 0 ? 1.0 : e) / (1.0 + e);
            }
        }
    }
}

NN_ATTR static void NN_SFX(nn_vm_bias_softmax64)(const double* Z, const double* b, double* out,
                                                 ptrdiff_t n, ptrdiff_t d)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const double* z = Z + i * d;
        double* o = out + i * d;
        ptrdiff_t j;
        NN_IVDEP
        for (j = 0; j < d; j++)
            o[j] = z[j] + b[j];
        double mx = NN_SFX(nn_vm_max64)(o, d), s = 0;
        if (NN_SFX(nn_vm_in_range64)(o, mx, d)) {
            s = NN_SFX(nn_vm_exp_sum64)(o, mx, d);
        } else {
            mx = o[0];
            for (j = 0; j < d; j++)
                mx = o[j] > mx ? o[j] : mx;
            for (j = 0; j < d; j++) {
                o[j] = exp(o[j] - mx);
                s += o[j];
            }
        }
        for (j = 0; j < d; j++)
            o[j] = o[j] / s;
    }
}

NN_ATTR static double NN_SFX(nn_vm_softmax_xent64)(const double* Z, const int64_t* labels,
                                                   double* dZ, ptrdiff_t n, ptrdiff_t c,
                                                   double scale)
{
    double total = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const double* z = Z + i * c;
        double* dz = dZ + i * c;
        ptrdiff_t l = (ptrdiff_t)labels[i], j;
        double mx = NN_SFX(nn_vm_max64)(z, c), zl = z[l], s = 0;
        if (NN_SFX(nn_vm_in_range64)(z, mx, c)) {
            NN_IVDEP
            for (j = 0; j < c; j++)
                dz[j] = z[j];
            s = NN_SFX(nn_vm_exp_sum64)(dz, mx, c);
        } else {
            mx = z[0];
            for (j = 0; j < c; j++)
                mx = z[j] > mx ? z[j] : mx;
            for (j = 0; j < c; j++) {
                dz[j] = exp(z[j] - mx);
                s += dz[j];
            }
        }
        total += mx + log(s) - zl;
        for (j = 0; j < c; j++)
            dz[j] = dz[j] / s * scale;
        dz[l] -= scale;
    }
    return total;
}

NN_ATTR static double NN_SFX(nn_vm_sigmoid_bce64)(const double* Z, const double* T, double* dZ,
                                                  ptrdiff_t m, double scale)
{
    double acc[NN_BLK], s = 0;
    ptrdiff_t i, k;
    for (k = 0; k < NN_BLK; k++)
        acc[k] = 0;
    for (i = 0; i < m; i += NN_BLK) {
        ptrdiff_t len = m - i < NN_BLK ? m - i : NN_BLK;
        int ok = len == NN_BLK;
        for (k = 0; k < len; k++)
            ok &= fabs(Z[i + k]) <= -NN_VM_F64_LO;
        if (ok) {
            NN_IVDEP
            for (k = 0; k < NN_BLK; k++) {
                double z = Z[i + k], t = T[i + k];
                double e = nn_vm_exp64(-fabs(z));
                acc[k] += (z > 0 ? z : 0.0) - z * t + nn_vm_log1p64(e);
                dZ[i + k] = ((z >= 0 ? 1.0 : e) / (1.0 + e) - t) * scale;
            }
        } else {
            for (k = 0; k < len; k++) {
                double z = Z[i + k], t = T[i + k];
                double e = exp(-fabs(z));
                acc[k] += (z > 0 ? z : 0.0) - z * t + log1p(e);
                dZ[i + k] = ((z >= 0 ? 1.0 : e) / (1.0 + e) - t) * scale;
            }
        }
    }
    for (k = 0; k < NN_BLK; k++)
        s += acc[k];
    return s;
}
#endif

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
/* 16-entry lookup with 8-entry vpermps: both halves, then pick by bit 3 of the index */
#define NN_VM_PERM16(lo, hi, ix, sel) \
    _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, ix), _mm256_permutevar8x32_ps(hi, ix), sel)
NN_ATTR static void NN_SFX(nn_vm_bias_tanh)(const float* Z, const float* b, float* out,
                                            ptrdiff_t n, ptrdiff_t d)
{
    __m256 tl[8], th[8];
    for (int k = 0; k < 8; k++) {
        tl[k] = _mm256_load_ps(nn_vm_tanh16[k]);
        th[k] = _mm256_load_ps(nn_vm_tanh16[k] + 8);
    }
    const __m256 lim = _mm256_set1_ps(NN_VM_TANH_MAX), inv = _mm256_set1_ps(1.6f);
    const __m256 one = _mm256_set1_ps(1.0f), h = _mm256_set1_ps(0.625f);
    const __m256 h2 = _mm256_set1_ps(0.3125f);
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    const __m256i two = _mm256_set1_epi32(2);
    for (ptrdiff_t i = 0; i < n; i++) {
        const float* z = Z + i * d;
        float* o = out + i * d;
        ptrdiff_t j = 0;
        for (; j + 8 <= d; j += 8) {
            __m256 x = _mm256_add_ps(_mm256_loadu_ps(z + j), _mm256_loadu_ps(b + j));
            __m256 a = _mm256_min_ps(lim, _mm256_andnot_ps(sign, x));   /* keeps NaN */
            __m256i ix = _mm256_cvttps_epi32(_mm256_mul_ps(a, inv));
            __m256 sel = _mm256_castsi256_ps(_mm256_slli_epi32(ix, 28));
            __m256 dd = _mm256_sub_ps(_mm256_fnmadd_ps(_mm256_cvtepi32_ps(ix), h, a), h2);
            __m256 p = NN_VM_PERM16(tl[7], th[7], ix, sel);
            p = _mm256_fmadd_ps(p, dd, NN_VM_PERM16(tl[6], th[6], ix, sel));
            p = _mm256_fmadd_ps(p, dd, NN_VM_PERM16(tl[5], th[5], ix, sel));
            p = _mm256_fmadd_ps(p, dd, NN_VM_PERM16(tl[4], th[4], ix, sel));
            p = _mm256_fmadd_ps(p, dd, NN_VM_PERM16(tl[3], th[3], ix, sel));
            p = _mm256_fmadd_ps(p, dd, NN_VM_PERM16(tl[2], th[2], ix, sel));
            p = _mm256_fmadd_ps(p, dd, NN_VM_PERM16(tl[1], th[1], ix, sel));
            p = _mm256_fmadd_ps(p, dd, NN_VM_PERM16(tl[0], th[0], ix, sel));
            __m256 B = _mm256_blendv_ps(one, a, _mm256_castsi256_ps(_mm256_cmpgt_epi32(two, ix)));
            __m256 t = _mm256_fmadd_ps(B, p, B);
            _mm256_storeu_ps(o + j, _mm256_or_ps(t, _mm256_and_ps(x, sign)));
        }
        for (; j < d; j++)
            o[j] = nn_vm_tanhf_1(z[j] + b[j]);
    }
}
#undef NN_VM_PERM16
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

#endif /* NN_VMATH_KERNELS */
