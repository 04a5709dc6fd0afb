# The whole-network kernels of _kernels.pyx (included there, textually), over the layout a
# plan computed (nncore.backends.plan): prediction (mlp_forward) and the one
# backpropagation (_batch_gradient) that the training epoch and the batch gradient of
# _train.pxi share, run by each thread of a team (_team.h) on its share of a batch.

# ================================================================= plans
# The layout comes from the plan (nncore.backends.plan): offsets, never re-derived here.

cdef Net _net(const int64_t[::1] sizes, const int32_t[::1] acts, const double[::1] slopes,
              const int64_t[::1] w_off, const int64_t[::1] b_off,
              const int64_t[::1] work_off, const uint64_t[::1] drop_thr=None,
              const double[::1] drop_scale=None, uint64_t drop_key=0):
    cdef Net net
    net.drop_thr, net.drop_scale = NULL, NULL  # no dropout unless thresholds are given
    if drop_thr is not None and drop_thr.shape[0]:
        net.drop_thr, net.drop_scale = &drop_thr[0], &drop_scale[0]
    net.drop_key, net.drop_step, net.drop_row0 = drop_key, 0, 0
    net.L = acts.shape[0]
    net.sizes = &sizes[0]
    net.acts = &acts[0]
    net.slopes = &slopes[0]
    net.w_off = &w_off[0]
    net.b_off = &b_off[0]
    net.work_off = &work_off[0] if work_off.shape[0] else NULL
    return net


def mlp_forward(const floating[:, ::1] X, floating[::1] w, const int64_t[::1] sizes,
                const int32_t[::1] acts, const double[::1] slopes, const int64_t[::1] w_off,
                const int64_t[::1] b_off, floating[::1] work, floating[:, ::1] out,
                const floating[::1] sp_data, const int32_t[::1] sp_indices,
                const int64_t[::1] sp_indptr, int sp_mode):
    """All layers of an MLP on X in one call. OUT: out (n, sizes[-1]); work is scratch for
    the hidden layers (ping-pong), of 2 * block * max(sizes[1:-1]) elements: the rows go
    through the network ``block`` at a time, so the activations between layers stay in
    cache however many rows there are (one allocation, by the caller). With sp_mode !=
    SP_DENSE the rows are the CSR (sp_data, sp_indices, sp_indptr) instead of X, and the
    first layer is the sparse product (whichever mode: no dense copy of a block)."""
    cdef bint csr = sp_mode != SP_DENSE
    cdef Py_ssize_t n = sp_indptr.shape[0] - 1 if csr else X.shape[0]
    cdef Py_ssize_t L = acts.shape[0], i, half, widest = 0, block, r0, m
    cdef Sparse sp = _sparse(sp_mode, &sp_data[0] if sp_data.shape[0] else NULL, sp_indices,
                             sp_indptr)
    cdef const floating* src
    cdef floating* dst
    if n <= 0:
        return
    for i in range(1, L):
        widest = max(widest, sizes[i])
    half = work.shape[0] // 2
    block = n if widest == 0 else half // widest
    if block < 1:
        raise ValueError("mlp_forward: work is smaller than 2 * max hidden width")
    r0 = 0
    with nogil:
        while r0 < n:
            m = min(block, n - r0)
            src = NULL
            if not csr:
                src = &X[r0, 0]
            for i in range(L):
                dst = &out[r0, 0] if i == L - 1 else &work[0] + (i % 2) * half
                if csr and i == 0:
                    _csr_product(dst, &sp, NULL, r0, m, &w[w_off[0]], sizes[1], 0, sizes[1])
                else:
                    _gemm(False, False, <int>m, <int>sizes[i + 1], <int>sizes[i], 1, src,
                          <int>sizes[i], &w[w_off[i]], <int>sizes[i + 1], 0, dst,
                          <int>sizes[i + 1])
                _bias_act(dst, &w[b_off[i]], dst, m, sizes[i + 1], acts[i],
                          <floating>slopes[i])
                src = dst
            r0 += block


cdef inline void _gather(floating* dst, const floating* src, const int64_t* idx,
                         Py_ssize_t rows, Py_ssize_t width) noexcept nogil:
    """dst[r] = src[idx[r]], rows of ``width``: a loop for short rows (a memcpy call per
    row of 2-16 values costs more than the copy: small networks), memcpy otherwise."""
    cdef Py_ssize_t r, j
    cdef const floating* s
    if width > 16:
        for r in range(rows):
            memcpy(dst + r * width, src + idx[r] * width, width * sizeof(floating))
        return
    for r in range(rows):
        s = src + idx[r] * width
        for j in range(width):
            dst[r * width + j] = s[j]


cdef inline double _drop_scale(const Net* net, Py_ssize_t i) noexcept nogil:
    """1 / (1 - rate) of the dropout on layer i's input (layer i - 1's), else 1."""
    return net.drop_scale[i - 1] if net.drop_thr != NULL and i > 0 else 1.0


cdef extern from "_team.h" nogil:
    ctypedef struct nn_team:
        int n
    ctypedef void (*nn_team_fn)(void* arg, int tid) noexcept nogil
    nn_team* nn_team_acquire(int n)
    void nn_team_run(nn_team* t, nn_team_fn fn, void* arg)
    void nn_team_release(nn_team* t)
    void nn_team_barrier(nn_team* t)
    void nn_team_split(Py_ssize_t n, int parts, int tid, Py_ssize_t align, Py_ssize_t* lo,
                       Py_ssize_t* hi)
    long long nn_team_spin_ns


def set_team_spin(long long ns):
    """How long (ns) a training thread waiting at a barrier spins before it sleeps.
    Returns the previous value. For benchmarks (bench/threads.py)."""
    global nn_team_spin_ns
    old, nn_team_spin_ns = nn_team_spin_ns, max(ns, 0)
    return old


cdef enum:
    # A weight matrix's rows are split between the threads in runs of this many (so
    # that two threads rarely write one cache line).
    SPLIT_ALIGN = 8


cdef inline void _weight_rows(const Net* net, Py_ssize_t i, const nn_team* team, int tid,
                              Py_ssize_t* c0, Py_ssize_t* c1, Py_ssize_t* o0,
                              Py_ssize_t* o1) noexcept nogil:
    """Thread tid's share of layer i: rows [c0, c1) of W_i (n_in x n_out), columns
    [o0, o1) of its output (and entries of b_i). It computes those columns in the forward
    pass, those rows of dX (columns of D_{i-1}) and of the weight gradient in the backward
    pass, the bias gradient of its columns, and updates its rows and entries."""
    nn_team_split(net.sizes[i], team.n, tid, SPLIT_ALIGN, c0, c1)
    nn_team_split(net.sizes[i + 1], team.n, tid, SPLIT_ALIGN, o0, o1)


cdef inline bint _by_rows(const Net* net, Py_ssize_t i) noexcept nogil:
    """Layer i's activation (and its backward) runs on whole rows: the last layer (the loss
    needs whole rows anyway) and softmax layers; the others run on a thread's columns."""
    return i == net.L - 1 or net.acts[i] == ACT_SOFTMAX


cdef inline void _bias_act_cols(floating* A, const floating* b, Py_ssize_t rows,
                                Py_ssize_t width, Py_ssize_t lo, Py_ssize_t hi, int act,
                                floating slope) noexcept nogil:
    """Columns [lo, hi) of A (rows of ``width``) = act(A + b) (element-wise activations)."""
    cdef Py_ssize_t r
    if hi <= lo:
        return
    if hi - lo == width:  # all columns (one thread): one call
        _bias_act(A, b, A, rows, width, act, slope)
        return
    for r in range(rows):
        _bias_act(A + r * width + lo, b + lo, A + r * width + lo, 1, hi - lo, act, slope)


cdef inline void _apply_bias(floating* bp, const double* sums, Py_ssize_t stride,
                             int parts, Py_ssize_t lo, Py_ssize_t hi, bint fused_sgd,
                             double lr, bint accumulate) noexcept nogil:
    """Entries [lo, hi) of a bias (fused_sgd) or its gradient from column sums: the sum
    over ``parts`` threads' partial sums (``stride`` apart), in thread order."""
    cdef Py_ssize_t j
    cdef int u
    cdef double s
    for j in range(lo, hi):
        s = 0
        for u in range(parts):
            s += sums[u * stride + j]
        if fused_sgd:
            bp[j] = <floating>(bp[j] - lr * s)
        elif accumulate:
            bp[j] = <floating>(bp[j] + s)
        else:
            bp[j] = <floating>s


cdef double _batch_gradient(const Net* net, const floating* X, const floating* T,
                            const int64_t* labels, const int64_t* idx, Py_ssize_t rows,
                            int loss_kind, double scale, floating* w, floating* g,
                            bint accumulate, floating* work, int64_t* label_work,
                            double* accs, Py_ssize_t acc_stride, bint fused_sgd, double lr,
                            double wd, const double* weights, double wfactor,
                            double* rw, const Sparse* sp, nn_team* team,
                            int tid) noexcept nogil:
    """One batch, the backpropagation shared by train_epoch and loss_gradient; thread
    ``tid`` of ``team`` does its share, every thread of the team calls it.

    Gathers rows idx of X and T (or labels), runs the forward pass, the loss with its
    gradient times ``scale`` into D_{L-1}, and the backward pass (D_i turned into dZ_i in
    place). The threads split each product by its output's columns, so that each packs
    only its part of W_i (_weight_rows): the forward product and activation of a layer by
    output columns, dX by its columns (the rows of W_i) together with the weight gradient
    (or fused update) of those rows, and the activation backward of the layer below on the
    same columns, whose sums give that layer's bias gradient; the gather, the loss, and
    the activations of _by_rows layers by rows of the batch [r0, r1), their bias gradient
    summed from each thread's partial column sums in thread order. The team meets after
    the gather, after each layer forward, and after each activation backward (accs:
    ``acc_stride`` doubles per thread, two halves taken by layer parity, so a thread may
    fill one while another still reads the other). A thread reads and updates only its
    own rows of W_i after the forward pass; the caller meets the team before the next
    batch. With one thread this is the sequential step, operation for operation.

    With ``weights`` (else NULL), row r's loss and gradient are multiplied by
    rw[r] = weights[idx[r]] * wfactor (rw: scratch of ``rows``), inside the loss kernels.
    X is read through ``sp`` unless its mode is SP_DENSE: rows gathered from the CSR into
    Xb (SP_GATHER), or layer 0's product and weight gradient taken on the CSR itself
    (SP_PRODUCT; Xb unused). The parameter gradient goes into g (added to it when
    ``accumulate``); with ``fused_sgd`` BLAS applies W = (1 - lr wd) W - lr A^T dZ in the
    dW GEMM instead (and b -= lr db), and g is not written. With net.drop_thr, the layers'
    outputs are dropped by the mask of (net.drop_key, net.drop_step, layer,
    net.drop_row0 + r, column), and the gradient is the masked network's. Returns this
    thread's share of the loss summed over the batch (unscaled).
    """
    cdef Py_ssize_t L = net.L, d0 = net.sizes[0], k = net.sizes[L], r, i, j, n_in, n_out
    cdef Py_ssize_t r0, r1, own, c0, c1, o0, o1
    cdef floating* Xb = work + net.work_off[0]
    cdef floating* Tb = work + net.work_off[1]
    cdef floating* A
    cdef floating* D
    cdef floating* Wp
    cdef const floating* below
    cdef double* acc
    cdef double part, s_in
    cdef floating beta = 1 if accumulate else 0
    cdef bint product = sp.mode == SP_PRODUCT
    cdef Py_ssize_t half = acc_stride // 2
    cdef int parts = team.n
    nn_team_split(rows, team.n, tid, 1, &r0, &r1)
    own = r1 - r0
    if sp.mode == SP_DENSE:
        _gather(Xb + r0 * d0, X, idx + r0, own, d0)
    elif sp.mode == SP_GATHER:
        _csr_gather(Xb + r0 * d0, sp, idx + r0, 0, own, d0)
    if weights != NULL:
        for r in range(r0, r1):
            rw[r] = weights[idx[r]] * wfactor
    if loss_kind == LOSS_XENT:
        for r in range(r0, r1):
            label_work[r] = labels[idx[r]]
    else:
        _gather(Tb + r0 * k, T, idx + r0, own, k)
    if not product:
        nn_team_barrier(team)  # every row of Xb gathered
    # forward. Dropout: a layer's dropped outputs are zeroed in A_i itself, and its
    # 1 / (1 - rate) goes into the alpha of every GEMM that reads A_i (or writes its
    # gradient), so A_i keeps the exact activations that act_backward needs.
    below = Xb
    for i in range(L):
        n_in, n_out = net.sizes[i], net.sizes[i + 1]
        _weight_rows(net, i, team, tid, &c0, &c1, &o0, &o1)
        A = work + net.work_off[2 + 2 * i]
        if product and i == 0:
            _csr_product(A, sp, idx, 0, rows, w + net.w_off[0], n_out, o0, o1)
        else:
            _gemm(False, False, <int>rows, <int>(o1 - o0), <int>n_in,
                  <floating>_drop_scale(net, i), below, <int>n_in, w + net.w_off[i] + o0,
                  <int>n_out, 0, A + o0, <int>n_out)
        if _by_rows(net, i):
            nn_team_barrier(team)  # the whole rows of Z_i
            _bias_act(A + r0 * n_out, w + net.b_off[i], A + r0 * n_out, own, n_out,
                      net.acts[i], <floating>net.slopes[i])
            if net.drop_thr != NULL and net.drop_thr[i] != 0:
                _drop_cols(A + r0 * n_out, own, n_out, net.drop_row0 + r0, 0, n_out,
                           _drop_base(net.drop_key, net.drop_step, i), net.drop_thr[i])
            if i < L - 1:
                nn_team_barrier(team)
        else:
            _bias_act_cols(A, w + net.b_off[i], rows, n_out, o0, o1, net.acts[i],
                           <floating>net.slopes[i])
            if net.drop_thr != NULL and net.drop_thr[i] != 0:
                _drop_cols(A, rows, n_out, net.drop_row0, o0, o1,
                           _drop_base(net.drop_key, net.drop_step, i), net.drop_thr[i])
            nn_team_barrier(team)  # A_i whole for the layer above
        below = A
    # loss and its gradient into D_{L-1}, by rows; the last layer's activation backward on
    # the same rows, its column sums per thread
    A = work + net.work_off[2 * L] + r0 * k
    D = work + net.work_off[2 * L + 1] + r0 * k
    part = _loss(loss_kind, A, Tb + r0 * k, label_work + r0, D, own, k, scale,
                 rw + r0 if weights != NULL else NULL)
    _act_backward(D, A, D, accs + tid * acc_stride + ((L - 1) % 2) * half, own, k, k,
                  net.acts[L - 1], <floating>net.slopes[L - 1])
    nn_team_barrier(team)  # dZ_{L-1} whole
    # backward, last layer first; dZ_i is whole here
    for i in range(L - 1, -1, -1):
        n_in, n_out = net.sizes[i], net.sizes[i + 1]
        _weight_rows(net, i, team, tid, &c0, &c1, &o0, &o1)
        D = work + net.work_off[3 + 2 * i]
        Wp = w + net.w_off[i]
        s_in = _drop_scale(net, i)  # 1 / (1 - rate) of the layer below (1: none)
        if _by_rows(net, i):  # the bias gradient from the threads' partial sums
            _apply_bias((w if fused_sgd else g) + net.b_off[i],
                        accs + (i % 2) * half, acc_stride, parts, o0, o1, fused_sgd, lr,
                        accumulate)
        if i > 0:  # columns [c0, c1) of dX = dZ W^T into D_{i-1}, W_i rows before update
            _gemm(False, True, <int>rows, <int>(c1 - c0), <int>n_out, <floating>s_in, D,
                  <int>n_out, Wp + c0 * n_out, <int>n_out, 0,
                  work + net.work_off[1 + 2 * i] + c0, <int>n_in)
        # rows [c0, c1) of W_i: their gradient over all rows of the batch
        below = Xb if i == 0 else work + net.work_off[2 * i]  # A_{i-1}
        if product and i == 0:  # only the rows of W_0 (or dW_0) the batch's columns hit
            if fused_sgd:
                if wd != 0:
                    for j in range(c0 * n_out, c1 * n_out):
                        Wp[j] = <floating>(Wp[j] * (1 - lr * wd))
                _csr_weight_grad(Wp, sp, idx, rows, D, n_out, <floating>(-lr), c0, c1)
            else:
                if not accumulate:
                    memset(g + net.w_off[0] + c0 * n_out, 0,
                           (c1 - c0) * n_out * sizeof(floating))
                _csr_weight_grad(g + net.w_off[0], sp, idx, rows, D, n_out, 1, c0, c1)
        elif fused_sgd:
            _gemm(True, False, <int>(c1 - c0), <int>n_out, <int>rows,
                  <floating>(-lr * s_in), below + c0, <int>n_in, D, <int>n_out,
                  <floating>(1 - lr * wd), Wp + c0 * n_out, <int>n_out)
        else:
            _gemm(True, False, <int>(c1 - c0), <int>n_out, <int>rows, <floating>s_in,
                  below + c0, <int>n_in, D, <int>n_out, beta, g + net.w_off[i] + c0 * n_out,
                  <int>n_out)
        if i == 0:
            break
        # the layer below: its activation backward (dZ_{i-1} from dX and A_{i-1})
        A = work + net.work_off[2 * i]
        D = work + net.work_off[1 + 2 * i]
        acc = accs + tid * acc_stride + ((i - 1) % 2) * half
        if _by_rows(net, i - 1):  # softmax: whole rows, partial sums
            nn_team_barrier(team)
            _act_backward(D + r0 * n_in, A + r0 * n_in, D + r0 * n_in, acc, own, n_in,
                          n_in, net.acts[i - 1], <floating>net.slopes[i - 1])
        else:  # this thread's columns [c0, c1) of it, their whole sums
            if net.drop_thr != NULL and net.drop_thr[i - 1] != 0 and (
                    net.acts[i - 1] != ACT_RELU and net.acts[i - 1] != ACT_SIGMOID):
                _drop_cols(D, rows, n_in, net.drop_row0, c0, c1,  # dropout.MASKED_BY_OUTPUT
                           _drop_base(net.drop_key, net.drop_step, i - 1), net.drop_thr[i - 1])
            if c1 > c0:
                _act_backward(D + c0, A + c0, D + c0, acc + c0, rows, c1 - c0, n_in,
                              net.acts[i - 1], <floating>net.slopes[i - 1])
            _apply_bias((w if fused_sgd else g) + net.b_off[i - 1], acc, 0, 1, c0, c1,
                        fused_sgd, lr, accumulate)
        nn_team_barrier(team)  # dZ_{i-1} whole
    return part
