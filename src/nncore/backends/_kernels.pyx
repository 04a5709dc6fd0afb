# Design note
# -----------
# The hot loops of nncore, and nothing else. Three files, one extension module:
#
# * _cores.pxi (included below): ``cdef ... noexcept nogil`` cores on raw pointers: GEMM,
#   bias+activation, activation backward with the bias gradient, the four losses, the
#   two optimizer updates.
# * this file: the codes and structs, and the ``def`` entry points over typed memoryviews,
#   one per per-operation ``Ops`` method.
# * _rows.pxi (included last): serving: the one-row forward pass (RowNet, over the
#   one-row products of _gemv_body.h) and the BLAS thread scope (BlasThreads,
#   _blas_threads.h).
# * _plans.pxi (included at the end): the whole-network kernels over a plan's layout:
#   ``mlp_forward`` (all layers of a prediction) and the one backpropagation
#   (``_batch_gradient``: gather, forward, loss, backward) that each thread of a team
#   (_team.h) runs on its share of a batch.
# * _train.pxi (after it): ``train_epoch`` (a whole epoch of mini-batch steps in one
#   nogil call) and ``loss_gradient``, each run by a team of n_threads threads.
# * _dropout.pxi (included before _plans.pxi): the dropout mask of the training kernels,
#   a counter-based hash (nncore/backends/dropout.py), its loop in _dropout_body.h.
#
# Every function is generic over ``cython.floating`` (float32 and float64), takes inputs
# as ``const`` C-contiguous memoryviews and writes into caller-given OUT buffers (only
# act_backward and col_sum take a small double accumulator from calloc per call). They
# trust their arguments: shapes, dtypes, contiguity and index ranges are validated once,
# in Python, by ``nncore.backends._checks`` and ``nncore.backends.plan`` (shared with the
# NumPy reference), and every offset comes from the plan. The directives that turn bounds
# checks off are set in setup.py so a debug build can turn them back on. Activations are
# small integer codes (``ACTIVATIONS``, declared in nncore.backends._codes) so loops branch
# once per row, not per element; element-wise bodies are branchless selects so gcc
# vectorises them. Sums of float32 values accumulate in double. GEMM goes to BLAS
# through scipy.linalg.cython_blas: row-major C = op(A) op(B) is computed as the
# column-major C^T = op(B)^T op(A)^T (operands swapped), as scikit-learn's
# sklearn/utils/_cython_blas.pyx does.

from cython cimport floating
from cpython.exc cimport PyErr_CheckSignals
from libc.math cimport exp, expf, log, log1p, log1pf, pow, sqrt, tanh, tanhf
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, dgemv, sgemm, sgemv


# exp/tanh/log1p kernels that vectorise (libm's scalar expf/tanhf do not), compiled for
# generic x86-64, AVX2 and AVX-512 and picked at import. float32: error <= 2e-7 relative;
# float64 (AVX2/AVX-512 only, else the loops below): libm's own exp algorithm, <= 1 ulp;
# tanh within 0.55 ulp of the exact value. Tested in tests/test_vmath.py; see the note in
# _vmath.h.
cdef extern from "_vmath.h" nogil:
    const char* nn_vm_init()
    void nn_vm_bias_sigmoid_f32(const float* Z, const float* b, float* out, Py_ssize_t n,
                                Py_ssize_t d)
    void nn_vm_bias_tanh_f32(const float* Z, const float* b, float* out, Py_ssize_t n,
                             Py_ssize_t d)
    void nn_vm_bias_softmax_f32(const float* Z, const float* b, float* out, Py_ssize_t n,
                                Py_ssize_t d)
    double nn_vm_softmax_xent_f32(const float* Z, const int64_t* labels, float* dZ,
                                  Py_ssize_t n, Py_ssize_t c, double scale)
    double nn_vm_sigmoid_bce_f32(const float* Z, const float* T, float* dZ, Py_ssize_t m,
                                 double scale)
    bint nn_vm_have_f64()
    bint nn_vm_bias_sigmoid_f64(const double* Z, const double* b, double* out, Py_ssize_t n,
                                Py_ssize_t d)
    bint nn_vm_bias_tanh_f64(const double* Z, const double* b, double* out, Py_ssize_t n,
                             Py_ssize_t d)
    bint nn_vm_bias_softmax_f64(const double* Z, const double* b, double* out, Py_ssize_t n,
                                Py_ssize_t d)
    double nn_vm_softmax_xent_f64(const double* Z, const int64_t* labels, double* dZ,
                                  Py_ssize_t n, Py_ssize_t c, double scale)
    double nn_vm_sigmoid_bce_f64(const double* Z, const double* T, double* dZ, Py_ssize_t m,
                                 double scale)
    void nn_vm_gemm_small_f32(bint ta, bint tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                              float alpha, const float* A, Py_ssize_t lda, const float* B,
                              Py_ssize_t ldb, float beta, float* C, Py_ssize_t ldc,
                              float* bt)
    void nn_vm_gemm_small_f64(bint ta, bint tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                              double alpha, const double* A, Py_ssize_t lda, const double* B,
                              Py_ssize_t ldb, double beta, double* C, Py_ssize_t ldc,
                              double* bt)
    void nn_vm_gemv_f32(const float* x, const float* W, float* y, Py_ssize_t k, Py_ssize_t n,
                        Py_ssize_t* nz)
    void nn_vm_gemv_f64(const double* x, const double* W, double* y, Py_ssize_t k,
                        Py_ssize_t n, Py_ssize_t* nz)
    # the backward and optimizer loops (_update_body.h), at this CPU's level; the results
    # equal the former Cython loops' bit for bit (same expressions, no FMA contraction)
    enum:
        NN_ACT_IDENTITY
        NN_ACT_RELU
        NN_ACT_LEAKY_RELU
        NN_ACT_SIGMOID
        NN_ACT_TANH
        NN_ACT_SOFTMAX
    void nn_vm_act_backward_f32(const float* dY, const float* Y, float* dZ, double* acc,
                                Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld, int act,
                                float slope)
    void nn_vm_act_backward_f64(const double* dY, const double* Y, double* dZ, double* acc,
                                Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld, int act,
                                double slope)
    void nn_vm_col_sum_f32(const float* X, double* acc, Py_ssize_t n, Py_ssize_t d)
    void nn_vm_col_sum_f64(const double* X, double* acc, Py_ssize_t n, Py_ssize_t d)
    void nn_vm_sgd_f32(float* w, const float* g, float* v, Py_ssize_t n, float lr, float mu,
                       bint nesterov, float wd)
    void nn_vm_sgd_f64(double* w, const double* g, double* v, Py_ssize_t n, double lr,
                       double mu, bint nesterov, double wd)
    void nn_vm_adam_f32(float* w, const float* g, float* m, float* v, Py_ssize_t n,
                        float lr, float b1, float b2, float c1, float c2, float eps,
                        float wd, float keep)
    void nn_vm_adam_f64(double* w, const double* g, double* m, double* v, Py_ssize_t n,
                        double lr, double b1, double b2, double c1, double c2, double eps,
                        double wd, double keep)

# The instruction set those kernels run with: "avx512", "avx2" or "generic"
# (NNCORE_SIMD=generic|avx2 caps it; read once, here, at import).
SIMD_ISA = nn_vm_init().decode()

cdef extern from *:
    """
    #ifndef NNCORE_BOUNDS_CHECKED
    #define NNCORE_BOUNDS_CHECKED 0
    #endif
    """
    int NNCORE_BOUNDS_CHECKED

#: True in a NNCORE_DEBUG_BUILD=1 build: memoryview indexing is bounds-checked there.
BOUNDS_CHECKED = bool(NNCORE_BOUNDS_CHECKED)

# The codes are declared once, in nncore.backends._codes; this enum mirrors them for the
# nogil loops and _check_codes (below) compares the two at import.
from nncore.backends._codes import ACTIVATIONS, HYPER, LOSSES, OPTIMIZERS

cdef enum:
    ACT_IDENTITY = 0
    ACT_RELU = 1
    ACT_LEAKY_RELU = 2
    ACT_SIGMOID = 3
    ACT_TANH = 4
    ACT_SOFTMAX = 5
    LOSS_MSE = 0
    LOSS_XENT = 1
    LOSS_BCE = 2
    LOSS_POISSON = 3
    OPT_SGD = 0
    OPT_ADAM = 1
    # Products of up to this many multiply-adds skip BLAS by default (measured crossover:
    # docs/design.md "Small networks").
    SMALL_GEMM_DEFAULT = 32768
    # A long native call looks for Ctrl-C this often (in steps).
    SIGNAL_EVERY = 256


# The optimizer's hyper-parameters, by name: a dict with exactly the keys of
# _codes.HYPER (TrainPlan.hyper) converts into it field by field.
cdef struct Hyper:
    double lr
    double momentum
    double nesterov
    double weight_decay
    double beta1
    double beta2
    double eps
    double decoupled


# A network as the plan lays it out (nncore.backends.plan): widths, per-layer codes and
# the offsets of W_i, b_i in the parameter buffer and of Xb, Tb, A_i, D_i in the workspace.
cdef struct Net:
    Py_ssize_t L
    const int64_t* sizes
    const int32_t* acts
    const double* slopes
    const int64_t* w_off
    const int64_t* b_off
    const int64_t* work_off
    # dropout (_dropout.pxi): per-layer thresholds (NULL: none in this plan) and
    # scales 1 / (1 - rate), the key, and the step and first row of the batch being run
    const uint64_t* drop_thr
    const double* drop_scale
    uint64_t drop_key
    int64_t drop_step
    Py_ssize_t drop_row0


def _check_codes():
    """Raise ImportError if this enum and struct differ from nncore.backends._codes."""
    enum = {
        ACTIVATIONS: {"identity": ACT_IDENTITY, "relu": ACT_RELU,
                      "leaky_relu": ACT_LEAKY_RELU, "sigmoid": ACT_SIGMOID, "tanh": ACT_TANH,
                      "softmax": ACT_SOFTMAX},
        LOSSES: {"mse": LOSS_MSE, "softmax_xent": LOSS_XENT, "sigmoid_bce": LOSS_BCE,
                 "poisson": LOSS_POISSON},
        OPTIMIZERS: {"sgd": OPT_SGD, "adam": OPT_ADAM},
    }
    # the loops of _update_body.h branch on _vmath.h's own copy of the activation codes
    header = (NN_ACT_IDENTITY, NN_ACT_RELU, NN_ACT_LEAKY_RELU, NN_ACT_SIGMOID, NN_ACT_TANH,
              NN_ACT_SOFTMAX)
    for names, codes in (*enum.items(), (ACTIVATIONS, dict(zip(ACTIVATIONS, header)))):
        if {name: i for i, name in enumerate(names)} != codes:
            raise ImportError(f"nncore.backends._kernels: the codes {codes} differ from "
                              f"nncore.backends._codes {names}; rebuild the extension")
    cdef Hyper h
    try:
        h = dict.fromkeys(HYPER, 0.0)
    except (KeyError, TypeError, ValueError) as exc:
        raise ImportError(f"nncore.backends._kernels: struct Hyper lacks a field of "
                          f"_codes.HYPER ({exc}); rebuild the extension") from None
    if set(<object>h) != set(HYPER):
        raise ImportError("nncore.backends._kernels: struct Hyper has fields that "
                          "_codes.HYPER lacks; rebuild the extension")


_check_codes()


include "_cores.pxi"


# ================================================================= Ops entry points
# Each takes memoryviews already validated by nncore.backends.ops and hands pointers to a core.
# Pointers are only taken of non-empty arrays (a debug build checks &x[0] too).

def gemm(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] out,
         bint trans_a, bint trans_b, double alpha, double beta):
    """out = alpha * op(A) @ op(B) + beta * out   (OUT: out)."""
    cdef int m = out.shape[0], n = out.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    if m == 0 or n == 0:
        return
    with nogil:
        _gemm(trans_a, trans_b, m, n, k, <floating>alpha,
              &A[0, 0] if A.shape[0] * A.shape[1] else NULL, A.shape[1],
              &B[0, 0] if B.shape[0] * B.shape[1] else NULL, B.shape[1],
              <floating>beta, &out[0, 0], n)


def bias_act_forward(const floating[:, ::1] Z, const floating[::1] b, int act,
                     floating[:, ::1] out, double negative_slope):
    """out = act(Z + b), row-wise for softmax (OUT: out; out may be Z itself)."""
    if Z.shape[0] == 0 or Z.shape[1] == 0:
        return
    with nogil:
        _bias_act(&Z[0, 0], &b[0], &out[0, 0], Z.shape[0], Z.shape[1], act,
                  <floating>negative_slope)


def act_backward(const floating[:, ::1] dY, const floating[:, ::1] Y, int act,
                 floating[:, ::1] dZ, floating[::1] db, bint with_db,
                 double negative_slope):
    """dZ = act'(.) * dY from the OUTPUT Y; if with_db, db = column sums of dZ.

    OUT: dZ (may be dY itself), db.
    """
    cdef Py_ssize_t n = Y.shape[0], d = Y.shape[1], j
    cdef double* acc = NULL
    if d == 0:
        return
    if with_db:
        acc = _double_scratch(d)
    with nogil:
        if n > 0:
            _act_backward(&dY[0, 0], &Y[0, 0], &dZ[0, 0], acc, n, d, d, act,
                          <floating>negative_slope)
        if with_db:
            for j in range(d):
                db[j] = <floating>acc[j]
            free(acc)


def col_sum(const floating[:, ::1] X, floating[::1] out):
    """out[j] = sum_i X[i, j]  (OUT: out), accumulated in double."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], j
    if d == 0:
        return
    cdef double* acc = _double_scratch(d)
    with nogil:
        if n > 0:
            _col_sum(&X[0, 0], acc, n, d)
        for j in range(d):
            out[j] = <floating>acc[j]
        free(acc)


def softmax_xent(const floating[:, ::1] logits, const int64_t[::1] labels,
                 floating[:, ::1] dlogits, const double[::1] rw=None):
    """Mean softmax cross-entropy; dlogits = (softmax - onehot) / n.

    rw (optional): per-row multipliers of the loss and gradient (see _loss). Returns
    (loss, bad): bad is the index of the first label outside [0, C), or -1; the labels
    are checked before anything is written. OUT: dlogits (may be logits).
    """
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1], i
    cdef double total
    for i in range(n):
        if labels[i] < 0 or labels[i] >= c:
            return 0.0, i
    if n == 0:
        return 0.0, -1
    cdef const double* r = &rw[0] if rw is not None else NULL
    with nogil:
        total = _loss(LOSS_XENT, &logits[0, 0], <const floating*>NULL, &labels[0],
                      &dlogits[0, 0], n, c, 1.0 / n, r)
    return total / n, -1


cdef double _elementwise(int kind, const floating[:, ::1] Z, const floating[:, ::1] T,
                         floating[:, ::1] dZ, const double[::1] rw):
    """Mean over all elements of the loss ``kind``; dZ its gradient / N (times rw[i])."""
    cdef Py_ssize_t n = Z.shape[0], k = Z.shape[1]
    cdef double total
    if n * k == 0:
        return 0.0
    cdef const double* r = &rw[0] if rw is not None else NULL
    with nogil:
        total = _loss(kind, &Z[0, 0], &T[0, 0], <const int64_t*>NULL, &dZ[0, 0], n, k,
                      1.0 / (n * k), r)
    return total / (n * k)


def sigmoid_bce(const floating[:, ::1] logits, const floating[:, ::1] y,
                floating[:, ::1] dlogits, const double[::1] rw=None):
    """Mean binary cross-entropy with logits over all elements; dlogits = (sigmoid - y)/N."""
    return _elementwise(LOSS_BCE, logits, y, dlogits, rw)


def poisson(const floating[:, ::1] logits, const floating[:, ::1] y,
            floating[:, ::1] dlogits, const double[::1] rw=None):
    """Mean Poisson deviance of exp(logits) over all elements; dlogits = 2 (exp - y) / N."""
    return _elementwise(LOSS_POISSON, logits, y, dlogits, rw)


def mse(const floating[:, ::1] pred, const floating[:, ::1] y, floating[:, ::1] dpred,
        const double[::1] rw=None):
    """Mean squared error over batch and outputs; dpred = 2 (pred - y) / N."""
    return _elementwise(LOSS_MSE, pred, y, dpred, rw)


def sgd_update(floating[::1] w, const floating[::1] g, floating[::1] v, double lr,
               double momentum, bint nesterov, double weight_decay, Py_ssize_t n_decay):
    """One SGD step in place, PyTorch semantics (dampening 0). INOUT: w, v."""
    if w.shape[0] == 0:
        return
    with nogil:
        _sgd_split(&w[0], &g[0], &v[0], w.shape[0], n_decay, lr, momentum, nesterov,
                   weight_decay)


def adam_update(floating[::1] w, const floating[::1] g, floating[::1] m, floating[::1] v,
                double lr_t, double beta1, double beta2, double eps_t,
                double weight_decay, double decoupled_decay, Py_ssize_t n_decay):
    """One Adam/AdamW step in place with the bias correction folded in. INOUT: w, m, v."""
    if w.shape[0] == 0:
        return
    with nogil:
        _adam_split(&w[0], &g[0], &m[0], &v[0], w.shape[0], n_decay, lr_t, beta1, beta2,
                    eps_t, weight_decay, decoupled_decay)


include "_sparse.pxi"
include "_dropout.pxi"
include "_plans.pxi"
include "_train.pxi"
include "_rows.pxi"
