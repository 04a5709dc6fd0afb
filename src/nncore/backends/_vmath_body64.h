/* _vmath_body64.h -- the float64 loops of nncore's vector math (sigmoid, tanh, softmax,
 * softmax_xent, sigmoid_bce), written once and compiled for the AVX2 and AVX-512 levels.
 *
 * Included by: _vmath.h only, at NN_LEVEL 2 (AVX2+FMA) and 3 (AVX-512), right after
 * _vmath_body.h and with the same NN_LEVEL, NN_SFX and NN_ATTR (see there); no include
 * guard, on purpose. The generic level has no float64 vector kernels: their one-element
 * math (nn_vm_exp64, nn_vm_log1p64, nn_vm_tanh64 in _vmath_scalar.h) needs hardware FMA,
 * so there float64 stays on the libm loops of _cores.pxi, and _vmath.h's dispatch table
 * holds NULL for these entries. Why a file of its own: the float64 family is one role
 * (libm's accuracy, a libm fallback per row), and _vmath_body.h stays the float32 loops.
 */
#if !defined(NN_VMATH_H) || !defined(NN_LEVEL) || !defined(NN_SFX) || !defined(NN_ATTR)
#error "_vmath_body64.h is included by _vmath.h only, with NN_LEVEL, NN_SFX and NN_ATTR set"
#endif
#if NN_LEVEL < 2
#error "_vmath_body64.h needs hardware FMA: AVX2 and AVX-512 levels only"
#endif
/* ---- float64 (AVX2 and AVX-512 instances; the generic level leaves float64 to the
 * Cython loops). Same formulas as those loops, libm's exp and log1p replaced by
 * nn_vm_exp64 / nn_vm_log1p64. A row (a block, for BCE) whose exp arguments leave
 * [-700, 0], or that holds a NaN, is done with libm exactly as the Cython loop did.
 * tanh is nn_vm_tanh64 (_vmath_scalar.h) everywhere, within 0.55 ulp. */
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

/* out = tanh(Z + b): nn_vm_tanh64 is branchless and within 0.55 ulp over the whole
 * range (no libm fallback needed: NaN and +-inf take the same path). */
NN_ATTR static void NN_SFX(nn_vm_bias_tanh64)(const double* Z, const double* b, double* out,
                                              ptrdiff_t n, ptrdiff_t d)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const double* z = Z + i * d;
        double* o = out + i * d;
        NN_IVDEP
        for (ptrdiff_t j = 0; j < d; j++)
            o[j] = nn_vm_tanh64(z[j] + b[j]);
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
