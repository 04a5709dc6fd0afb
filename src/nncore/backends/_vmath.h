/* _vmath.h -- nncore's vectorised kernels: exp/log1p/tanh-based activations and losses
 * (float32, and float64 at AVX2/AVX-512), one-row products, the backward and optimizer
 * loops; the interface and run-time dispatch (the other headers are its parts, below).
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
 * [-512, 0]) and a log1p within 0.7 ulp (see "float64 exp and log1p" in
 * _vmath_scalar.h); its tanh too, within 0.55 ulp of the exact value (a polynomial below
 * 1/4, 1 - 2/(e^2x + 1) in double-double above; libm's tanh is 2.2 ulp off at worst on
 * the same sweep); the generic level keeps the libm loops of _cores.pxi.
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
 *   activation NumPy computes fast): a = min(|x|, 9.99) (tanh rounds to 1 above 9.01), and
 *   the sign put back at the end.
 *   AVX-512 (nn_vm_tanh32, 26 of 32 slots): a piecewise polynomial in d = a - mid_i with
 *   float coefficients looked up per lane by vpermps from tables held in registers:
 *   [0, 1/8) then the octaves [2^e, 2^(e+1)), e = -3..3, each cut in four; the slot is read
 *   off a's exponent and top two mantissa bits. Degree 5: P = d (1 + d R(d)) on [0, 1/8),
 *   else P = F + d Q(d) with F = float(tanh(mid)) and mid picked where tanh(mid) is within
 *   1/256 ulp of a float.
 *   AVX2: no table (on AVX2 a 16-slot lookup needs two vpermps and a blend per coefficient;
 *   measured 2.7x slower on Zen 3): a + a s Q(s) below 0.9, 1 - 2 / (1 + e^(2a)) above,
 *   the exp by Cody-Waite reduction and a degree-4 polynomial (_vmath_body.h).
 *   Generic (nn_vm_tanh16): 16 intervals of width 5/8, i = trunc(1.6 a), degree 7
 *   in d = a - centre for w = tanh(a)/a - 1 (i < 2) or w = tanh(a) - 1, tanh = B + B w
 *   with B = a or 1 (|w| < 0.32, so w's rounding is damped).
 *   Checked exhaustively over every float in [0, 10]: relative error 9.1e-8 (AVX-512),
 *   8.4e-8 (AVX2), 8.7e-8 (generic); at most 1 ulp (AVX2: 1.003).
 * NaN propagates everywhere (every clamp and select keeps it); +-inf saturate.
 *
 * The files, split by role (all in src/nncore; only this one is included by _kernels.pyx,
 * through `cdef extern from "_vmath.h"`, and the others refuse to be included alone):
 * - _vmath.h (this file): the interface. Common macros, the kernel instances (it includes
 *   the bodies once per level), the dispatch table, nn_vm_init (the run-time pick,
 *   NNCORE_SIMD) and the nn_vm_* entry points _kernels.pyx calls.
 * - _vmath_tables.h: the lookup tables (glibc's 2^(i/128) table for float64 exp, the tanh
 *   coefficients) and how they were generated.
 * - _vmath_scalar.h: the one-element math every instance inlines (e^y, log1p, float64
 *   exp/log1p/tanh, one-lane float32 tanh), with its error bounds.
 * - _vmath_body.h: the float32 loops, a template compiled once per level (NN_LEVEL,
 *   NN_SFX, NN_ATTR); no include guard, on purpose.
 * - _vmath_body64.h: the float64 loops, the same kind of template, AVX2 and AVX-512 only.
 * - _gemv_body.h: the one-row products, the same kind of template, every level.
 * - _update_body.h: the activation backward (with the bias gradient), column sums, SGD and
 *   Adam loops, the same kind of template, every level, float32 and float64; their results
 *   are the former Cython loops' bit for bit (no FMA contraction: NN_EXACT_ATTR).
 * setup.py lists them all in the extension's depends (an edit to any rebuilds); MANIFEST.in
 * ships them in the sdist.
 */
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

/* The small-GEMM kernels (_gemv_body.h) are written in vector types already; gcc's -O3
 * loop vectorizer then adds versioned and peeled copies of their short loops, which made
 * W2's eight products 1.7x slower than at -O2 (1.78 against 1.06 us, Zen 3). */
#if defined(__GNUC__) && !defined(__clang__)
#define NN_NOVEC_ATTR __attribute__((optimize("no-tree-loop-vectorize")))
#else
#define NN_NOVEC_ATTR
#endif

/* No FMA contraction in a function (_update_body.h): its results must equal, bit for bit,
 * those of the same expressions rounded operation by operation, at every level. gcc takes
 * it as a function attribute, clang as a pragma at the top of the body. */
#if defined(__clang__)
#define NN_EXACT_ATTR
#define NN_EXACT_BODY _Pragma("clang fp contract(off)")
#elif defined(__GNUC__)
#define NN_EXACT_ATTR __attribute__((optimize("fp-contract=off")))
#define NN_EXACT_BODY
#else
#define NN_EXACT_ATTR
#define NN_EXACT_BODY
#endif

/* The activation codes (nncore.backends._codes.ACTIVATIONS; _kernels.pyx checks them at
 * import). */
enum { NN_ACT_IDENTITY = 0, NN_ACT_RELU = 1, NN_ACT_LEAKY_RELU = 2, NN_ACT_SIGMOID = 3,
       NN_ACT_TANH = 4, NN_ACT_SOFTMAX = 5 };

/* Partial sums / maxima are kept in NN_BLK lanes so that gcc vectorises the reductions
 * (it may not reorder a sequential floating-point sum by itself). */
#define NN_BLK 16

/* ------------------------------------------------------------ tables, one-lane math */
#include "_vmath_tables.h"
#include "_vmath_scalar.h"

/* The dropout generator (nncore/backends/dropout.py): splitmix64's finaliser, and element
 * words that may alias the float data they mask (_dropout_body.h). */
#define NN_GOLDEN 0x9E3779B97F4A7C15ULL
NN_AI uint64_t nn_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
#if defined(__GNUC__) || defined(__clang__)
typedef uint32_t __attribute__((may_alias)) nn_u32a;
typedef uint64_t __attribute__((may_alias)) nn_u64a;
#else
typedef uint32_t nn_u32a;
typedef uint64_t nn_u64a;
#endif

/* ------------------------------------------------------------ kernel instances */
/* The bodies once per level: NN_SFX names their functions, NN_ATTR is their target
 * (_vmath_body64.h at the FMA levels only; _update_body.h once per float type). */
#define NN_LEVEL 1
#define NN_SFX(name) name##_generic
#define NN_ATTR
#include "_vmath_body.h"
#include "_gemv_body.h"
#include "_update_body.h"
#include "_dropout_body.h"
#undef NN_LEVEL
#undef NN_SFX
#undef NN_ATTR
#if NN_VM_X86
#define NN_LEVEL 2
#define NN_SFX(name) name##_avx2
#define NN_ATTR __attribute__((target("avx2,fma")))
#include "_vmath_body.h"
#include "_vmath_body64.h"
#include "_gemv_body.h"
#include "_update_body.h"
#include "_dropout_body.h"
#undef NN_LEVEL
#undef NN_SFX
#undef NN_ATTR
#define NN_LEVEL 3
#define NN_SFX(name) name##_avx512
#define NN_ATTR __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")))
#include "_vmath_body.h"
#include "_vmath_body64.h"
#include "_gemv_body.h"
#include "_update_body.h"
#include "_dropout_body.h"
#undef NN_LEVEL
#undef NN_SFX
#undef NN_ATTR
#endif

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
typedef void (*nn_vm_gemv32_fn)(const float*, const float*, float*, ptrdiff_t, ptrdiff_t,
                                ptrdiff_t*);
typedef void (*nn_vm_gemv64_fn)(const double*, const double*, double*, ptrdiff_t, ptrdiff_t,
                                ptrdiff_t*);
typedef void (*nn_vm_gemm_small32_fn)(int, int, ptrdiff_t, ptrdiff_t, ptrdiff_t, float,
                                      const float*, ptrdiff_t, const float*, ptrdiff_t, float,
                                      float*, ptrdiff_t, float*);
typedef void (*nn_vm_gemm_small64_fn)(int, int, ptrdiff_t, ptrdiff_t, ptrdiff_t, double,
                                      const double*, ptrdiff_t, const double*, ptrdiff_t,
                                      double, double*, ptrdiff_t, double*);
#define NN_VM_UPDATE_TYPES(T, N)                                                        \
    typedef void (*nn_vm_act_backward##N##_fn)(const T*, const T*, T*, double*, ptrdiff_t,  \
                                               ptrdiff_t, ptrdiff_t, int, T);              \
    typedef void (*nn_vm_col_sum##N##_fn)(const T*, double*, ptrdiff_t, ptrdiff_t);        \
    typedef void (*nn_vm_sgd##N##_fn)(T*, const T*, T*, ptrdiff_t, T, T, int, T);           \
    typedef void (*nn_vm_adam##N##_fn)(T*, const T*, T*, T*, ptrdiff_t, T, T, T, T, T, T, T, \
                                       T);
NN_VM_UPDATE_TYPES(float, 32)
NN_VM_UPDATE_TYPES(double, 64)
#undef NN_VM_UPDATE_TYPES
typedef void (*nn_vm_drop32_fn)(float*, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                                uint64_t, uint64_t);
typedef void (*nn_vm_drop64_fn)(double*, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                                uint64_t, uint64_t);

static struct {
    nn_vm_bias_act_fn bias_sigmoid, bias_tanh, bias_softmax;
    nn_vm_xent_fn softmax_xent;
    nn_vm_bce_fn sigmoid_bce;
    /* float64: NULL at the generic level (the Cython loops with libm run instead) */
    nn_vm_bias_act64_fn bias_sigmoid64, bias_tanh64, bias_softmax64;
    nn_vm_xent64_fn softmax_xent64;
    nn_vm_bce64_fn sigmoid_bce64;
    /* one-row products (_gemv_body.h), every level */
    nn_vm_gemv32_fn gemv32;
    nn_vm_gemv64_fn gemv64;
    nn_vm_gemm_small32_fn gemm_small32;
    nn_vm_gemm_small64_fn gemm_small64;
    /* backward and optimizer loops (_update_body.h), every level, both types */
    nn_vm_act_backward32_fn act_backward32;
    nn_vm_act_backward64_fn act_backward64;
    nn_vm_col_sum32_fn col_sum32;
    nn_vm_col_sum64_fn col_sum64;
    nn_vm_sgd32_fn sgd32;
    nn_vm_sgd64_fn sgd64;
    nn_vm_adam32_fn adam32;
    nn_vm_adam64_fn adam64;
    /* the dropout mask (_dropout_body.h), every level, both types */
    nn_vm_drop32_fn drop32;
    nn_vm_drop64_fn drop64;
    const char* isa;
} nn_vm = {nn_vm_bias_sigmoid_generic, nn_vm_bias_tanh_generic, nn_vm_bias_softmax_generic,
           nn_vm_softmax_xent_generic, nn_vm_sigmoid_bce_generic, NULL, NULL, NULL, NULL, NULL,
           nn_vm_gemv32_generic, nn_vm_gemv64_generic, nn_vm_gemm_small32_generic,
           nn_vm_gemm_small64_generic, nn_vm_act_backward32_generic,
           nn_vm_act_backward64_generic, nn_vm_col_sum32_generic, nn_vm_col_sum64_generic,
           nn_vm_sgd32_generic, nn_vm_sgd64_generic, nn_vm_adam32_generic,
           nn_vm_adam64_generic, nn_vm_drop32_generic, nn_vm_drop64_generic, "generic"};

#define NN_VM_SET(sfx, name)                                                            \
    do {                                                                                \
        nn_vm.bias_sigmoid = nn_vm_bias_sigmoid_##sfx;                                  \
        nn_vm.bias_tanh = nn_vm_bias_tanh_##sfx;                                        \
        nn_vm.bias_softmax = nn_vm_bias_softmax_##sfx;                                  \
        nn_vm.softmax_xent = nn_vm_softmax_xent_##sfx;                                  \
        nn_vm.sigmoid_bce = nn_vm_sigmoid_bce_##sfx;                                    \
        nn_vm.gemv32 = nn_vm_gemv32_##sfx;                                              \
        nn_vm.gemv64 = nn_vm_gemv64_##sfx;                                              \
        nn_vm.gemm_small32 = nn_vm_gemm_small32_##sfx;                                  \
        nn_vm.gemm_small64 = nn_vm_gemm_small64_##sfx;                                  \
        nn_vm.act_backward32 = nn_vm_act_backward32_##sfx;                              \
        nn_vm.act_backward64 = nn_vm_act_backward64_##sfx;                              \
        nn_vm.col_sum32 = nn_vm_col_sum32_##sfx;                                        \
        nn_vm.col_sum64 = nn_vm_col_sum64_##sfx;                                        \
        nn_vm.sgd32 = nn_vm_sgd32_##sfx;                                                \
        nn_vm.sgd64 = nn_vm_sgd64_##sfx;                                                \
        nn_vm.adam32 = nn_vm_adam32_##sfx;                                              \
        nn_vm.adam64 = nn_vm_adam64_##sfx;                                              \
        nn_vm.drop32 = nn_vm_drop32_##sfx;                                              \
        nn_vm.drop64 = nn_vm_drop64_##sfx;                                              \
        nn_vm.isa = name;                                                               \
    } while (0)
#define NN_VM_SET64(sfx)                                                                \
    do {                                                                                \
        nn_vm.bias_sigmoid64 = nn_vm_bias_sigmoid64_##sfx;                              \
        nn_vm.bias_tanh64 = nn_vm_bias_tanh64_##sfx;                                    \
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
    nn_vm.bias_sigmoid64 = nn_vm.bias_tanh64 = nn_vm.bias_softmax64 = NULL;
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
static inline int nn_vm_bias_tanh_f64(const double* Z, const double* b, double* out,
                                      ptrdiff_t n, ptrdiff_t d)
{
    if (nn_vm.bias_tanh64 == NULL)
        return 0;
    nn_vm.bias_tanh64(Z, b, out, n, d);
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

/* One-row products: y[0:n] = x[0:k] @ W (row-major k x n); nz: scratch of k indices. */
static inline void nn_vm_gemv_f32(const float* x, const float* W, float* y, ptrdiff_t k,
                                  ptrdiff_t n, ptrdiff_t* nz)
{ nn_vm.gemv32(x, W, y, k, n, nz); }
static inline void nn_vm_gemv_f64(const double* x, const double* W, double* y, ptrdiff_t k,
                                  ptrdiff_t n, ptrdiff_t* nz)
{ nn_vm.gemv64(x, W, y, k, n, nz); }

/* Small GEMM (see _gemv_body.h): bt has k * roundup(n, 16) elements. */
static inline void nn_vm_gemm_small_f32(int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                        float alpha, const float* A, ptrdiff_t lda,
                                        const float* B, ptrdiff_t ldb, float beta, float* C,
                                        ptrdiff_t ldc, float* bt)
{ nn_vm.gemm_small32(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bt); }
static inline void nn_vm_gemm_small_f64(int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                        double alpha, const double* A, ptrdiff_t lda,
                                        const double* B, ptrdiff_t ldb, double beta,
                                        double* C, ptrdiff_t ldc, double* bt)
{ nn_vm.gemm_small64(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bt); }
/* Backward and optimizer loops (_update_body.h): the Cython loops' results, bit for bit.
 * dZ may be dY; acc (may be NULL) gets the column sums of dZ. */
#define NN_VM_UPDATE_ENTRIES(T, N)                                                          \
    static inline void nn_vm_act_backward_f##N(const T* dY, const T* Y, T* dZ, double* acc, \
                                               ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld,     \
                                               int act, T slope)                           \
    { nn_vm.act_backward##N(dY, Y, dZ, acc, n, d, ld, act, slope); }                       \
    static inline void nn_vm_col_sum_f##N(const T* X, double* acc, ptrdiff_t n,            \
                                          ptrdiff_t d)                                      \
    { nn_vm.col_sum##N(X, acc, n, d); }                                                     \
    static inline void nn_vm_sgd_f##N(T* w, const T* g, T* v, ptrdiff_t n, T lr, T mu,     \
                                      int nesterov, T wd)                                   \
    { nn_vm.sgd##N(w, g, v, n, lr, mu, nesterov, wd); }                                     \
    static inline void nn_vm_adam_f##N(T* w, const T* g, T* m, T* v, ptrdiff_t n, T lr,    \
                                       T b1, T b2, T c1, T c2, T eps, T wd, T keep)         \
    { nn_vm.adam##N(w, g, m, v, n, lr, b1, b2, c1, c2, eps, wd, keep); }
NN_VM_UPDATE_ENTRIES(float, 32)
NN_VM_UPDATE_ENTRIES(double, 64)
#undef NN_VM_UPDATE_ENTRIES

/* Dropout: A[r, j] = +0 where element (row0 + r, j) of the stream base is dropped, for
 * the columns j in [lo, hi) of rows of ``width``. */
static inline void nn_vm_drop_f32(float* A, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t row0,
                                  ptrdiff_t lo, ptrdiff_t hi, uint64_t base, uint64_t thr)
{ nn_vm.drop32(A, rows, width, row0, lo, hi, base, thr); }
static inline void nn_vm_drop_f64(double* A, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t row0,
                                  ptrdiff_t lo, ptrdiff_t hi, uint64_t base, uint64_t thr)
{ nn_vm.drop64(A, rows, width, row0, lo, hi, base, thr); }

#endif /* NN_VMATH_H */
