# The whole-network kernels of _kernels.pyx (included there, textually): prediction,
# the training epoch and the batch gradient, over the layout a plan computed
# (nncore.backends.plan). One backpropagation, _batch_gradient, serves both.

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
                    _csr_product(dst, &sp, NULL, r0, m, &w[w_off[0]], sizes[1])
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


cdef double _batch_gradient(const Net* net, const floating* X, const floating* T,
                            const int64_t* labels, const int64_t* idx, Py_ssize_t rows,
                            int loss_kind, double scale, floating* w, floating* g,
                            bint accumulate, floating* work, int64_t* label_work,
                            double* acc, bint fused_sgd, double lr,
                            double wd, const double* weights, double wfactor,
                            double* rw, const Sparse* sp) noexcept nogil:
    """One batch, the backpropagation shared by train_epoch and loss_gradient.

    Gathers rows idx of X and T (or labels), runs the forward pass, the loss with its
    gradient times ``scale`` into D_{L-1}, and the backward pass (D_i turned into dZ_i in
    place). With ``weights`` (else NULL), row r's loss and gradient are multiplied by
    rw[r] = weights[idx[r]] * wfactor (rw: scratch of ``rows``), inside the loss kernels.
    X is read through ``sp`` unless its mode is SP_DENSE: rows gathered from the CSR into
    Xb (SP_GATHER), or layer 0's product and weight gradient taken on the CSR itself
    (SP_PRODUCT; Xb unused). The parameter gradient goes into g (added to it when
    ``accumulate``); with
    ``fused_sgd`` BLAS applies W = (1 - lr wd) W - lr A^T dZ in the dW GEMM instead (and
    b -= lr db), and g is not written. With net.drop_thr, the layers' outputs are dropped
    by the mask of (net.drop_key, net.drop_step, layer, net.drop_row0 + r, column), and the
    gradient is the masked network's. Returns the loss summed over the batch (unscaled).
    """
    cdef Py_ssize_t L = net.L, d0 = net.sizes[0], k = net.sizes[L], r, i, j, n_in, n_out
    cdef floating* Xb = work + net.work_off[0]
    cdef floating* Tb = work + net.work_off[1]
    cdef floating* A
    cdef floating* D
    cdef floating* Wp
    cdef floating* bp
    cdef const floating* below
    cdef double part, s_in
    cdef floating beta = 1 if accumulate else 0
    cdef bint product = sp.mode == SP_PRODUCT
    if sp.mode == SP_DENSE:
        _gather(Xb, X, idx, rows, d0)
    elif sp.mode == SP_GATHER:
        _csr_gather(Xb, sp, idx, 0, rows, d0)
    if weights != NULL:
        for r in range(rows):
            rw[r] = weights[idx[r]] * wfactor
    if loss_kind == LOSS_XENT:
        for r in range(rows):
            label_work[r] = labels[idx[r]]
    else:
        _gather(Tb, T, idx, rows, k)
    # forward. Dropout: a layer's dropped outputs are zeroed in A_i itself, and its
    # 1 / (1 - rate) goes into the alpha of every GEMM that reads A_i (or writes its
    # gradient), so A_i keeps the exact activations that act_backward needs.
    below = Xb
    for i in range(L):
        n_in, n_out = net.sizes[i], net.sizes[i + 1]
        A = work + net.work_off[2 + 2 * i]
        if product and i == 0:
            _csr_product(A, sp, idx, 0, rows, w + net.w_off[0], n_out)
        else:
            _gemm(False, False, <int>rows, <int>n_out, <int>n_in, <floating>_drop_scale(net, i),
                  below, <int>n_in, w + net.w_off[i], <int>n_out, 0, A, <int>n_out)
        _bias_act(A, w + net.b_off[i], A, rows, n_out, net.acts[i], <floating>net.slopes[i])
        if net.drop_thr != NULL and net.drop_thr[i] != 0:
            _drop_rows(A, rows, n_out, net.drop_row0,
                       _drop_base(net.drop_key, net.drop_step, i), net.drop_thr[i])
        below = A
    # loss and its gradient into D_{L-1}
    A = work + net.work_off[2 * L]
    D = work + net.work_off[2 * L + 1]
    part = _loss(loss_kind, A, Tb, label_work, D, rows, k, scale,
                 rw if weights != NULL else NULL)
    # backward, last layer first
    for i in range(L - 1, -1, -1):
        n_in, n_out = net.sizes[i], net.sizes[i + 1]
        A = work + net.work_off[2 + 2 * i]
        D = work + net.work_off[3 + 2 * i]
        below = Xb if i == 0 else work + net.work_off[2 * i]  # A_{i-1}
        Wp = w + net.w_off[i]
        s_in = _drop_scale(net, i)  # 1 / (1 - rate) of the layer below (1: none)
        if (net.drop_thr != NULL and net.drop_thr[i] != 0 and net.acts[i] != ACT_RELU
                and net.acts[i] != ACT_SIGMOID):  # the mask again (dropout.MASKED_BY_OUTPUT)
            _drop_rows(D, rows, n_out, net.drop_row0,
                       _drop_base(net.drop_key, net.drop_step, i), net.drop_thr[i])
        _act_backward(D, A, D, acc, rows, n_out, net.acts[i], <floating>net.slopes[i])
        if i > 0:  # dX = dZ W^T into D_{i-1}, with W before its update
            _gemm(False, True, <int>rows, <int>n_in, <int>n_out, <floating>s_in, D,
                  <int>n_out, Wp, <int>n_out, 0, work + net.work_off[1 + 2 * i], <int>n_in)
        if product and i == 0:  # only the rows of W_0 (or dW_0) the batch's columns hit
            if fused_sgd:
                if wd != 0:
                    for j in range(n_in * n_out):
                        Wp[j] = <floating>(Wp[j] * (1 - lr * wd))
                _csr_weight_grad(Wp, sp, idx, rows, D, n_out, <floating>(-lr))
            else:
                if not accumulate:
                    memset(g + net.w_off[0], 0, n_in * n_out * sizeof(floating))
                _csr_weight_grad(g + net.w_off[0], sp, idx, rows, D, n_out, 1)
        if fused_sgd:
            if not (product and i == 0):
                _gemm(True, False, <int>n_in, <int>n_out, <int>rows, <floating>(-lr * s_in),
                      below, <int>n_in, D, <int>n_out, <floating>(1 - lr * wd), Wp,
                      <int>n_out)
            bp = w + net.b_off[i]
            for j in range(n_out):
                bp[j] = <floating>(bp[j] - lr * acc[j])
        else:
            if not (product and i == 0):
                _gemm(True, False, <int>n_in, <int>n_out, <int>rows, <floating>s_in, below,
                      <int>n_in, D, <int>n_out, beta, g + net.w_off[i], <int>n_out)
            bp = g + net.b_off[i]
            if accumulate:
                for j in range(n_out):
                    bp[j] = <floating>(bp[j] + acc[j])
            else:
                for j in range(n_out):
                    bp[j] = <floating>acc[j]
    return part


def train_epoch(const floating[:, ::1] X, const floating[:, ::1] T,
                const int64_t[::1] labels, const int64_t[::1] order, Py_ssize_t batch,
                const int64_t[::1] sizes, const int32_t[::1] acts, const double[::1] slopes,
                const int64_t[::1] w_off, const int64_t[::1] b_off,
                const int64_t[::1] work_off, floating[::1] w, floating[::1] g,
                floating[::1] work, int64_t[::1] label_work, double[::1] acc, int loss_kind,
                int opt_kind, Hyper hyper, floating[::1] s1, floating[::1] s2,
                int64_t[::1] counters, bint fused_sgd, const double[::1] weights,
                double[::1] rw, const floating[::1] sp_data, const int32_t[::1] sp_indices,
                const int64_t[::1] sp_indptr, int sp_mode, const uint64_t[::1] drop_thr,
                const double[::1] drop_scale, uint64_t drop_key):
    """One epoch of mini-batch gradient descent over X[order] in a single nogil call.

    X (n, d0) IN; T (n, k) IN float targets (mse, bce, poisson) or labels (n,) IN
    (softmax_xent);
    order IN: the sample order, batches of ``batch`` rows (the last may be shorter).
    w INOUT, g OUT (not written when ``fused_sgd``), s1/s2 INOUT optimizer state,
    counters INOUT: [0] optimizer step t, [1] steps done in this call, [2] the dropout
    step (drop_thr: a threshold per layer, or empty: no dropout). weights: one per
    row of X (empty: unweighted); sp_*: X as CSR (mlp_forward), X then (0, d0); each batch's loss is then sum w_i l_i / sum w_i (a batch
    whose weights sum to 0 moves nothing but weight decay); rw: scratch of batch. The offsets
    (w_off, b_off, work_off) and the workspace come from a TrainPlan. Each step is
    _batch_gradient, then the update (with ``fused_sgd``, plain SGD without momentum,
    applied inside it). Returns the sum over steps of (mean batch loss x batch rows).
    Looks for Ctrl-C every SIGNAL_EVERY steps; on KeyboardInterrupt the completed
    steps stand.
    """
    cdef Net net = _net(sizes, acts, slopes, w_off, b_off, work_off, drop_thr, drop_scale,
                        drop_key)
    cdef Py_ssize_t n = order.shape[0], k = sizes[acts.shape[0]], start = 0, rows
    cdef Py_ssize_t step = 0, p = w.shape[0], n_weights = b_off[0]
    cdef double total = 0, part, scale, lr_t, eps_t, t
    cdef double lr = hyper.lr, wd = hyper.weight_decay, b1 = hyper.beta1, b2 = hyper.beta2
    cdef bint xent = loss_kind == LOSS_XENT, decoupled = hyper.decoupled != 0
    cdef const floating* Xp = &X[0, 0] if X.shape[0] * X.shape[1] else NULL
    cdef const floating* Tp = &T[0, 0] if T.shape[0] * T.shape[1] else NULL
    cdef const int64_t* Lp = &labels[0] if labels.shape[0] else NULL
    cdef const double* Wp = &weights[0] if weights.shape[0] else NULL
    cdef double wsum
    cdef Py_ssize_t r
    cdef Sparse sp = _sparse(sp_mode, &sp_data[0] if sp_data.shape[0] else NULL, sp_indices,
                             sp_indptr)
    with nogil:
        while start < n:
            rows = min(batch, n - start)
            scale = 1.0 / rows if xent else 1.0 / (rows * k)
            wsum = 0
            if Wp != NULL:
                for r in range(rows):
                    wsum += Wp[order[start + r]]
            net.drop_step = counters[2]
            part = _batch_gradient(&net, Xp, Tp, Lp, &order[start], rows, loss_kind, scale,
                                   &w[0], &g[0], False, &work[0], &label_work[0], &acc[0],
                                   fused_sgd, lr, wd, Wp, rows / wsum if wsum > 0 else 0,
                                   &rw[0], &sp)
            total += part * scale * rows
            start += rows
            # update
            counters[0] += 1
            counters[2] += 1
            if not fused_sgd:
                if opt_kind == OPT_SGD:
                    _sgd_split(&w[0], &g[0], &s1[0], p, n_weights, lr, hyper.momentum,
                               hyper.nesterov != 0, wd)
                else:
                    t = <double>counters[0]
                    lr_t = lr * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t))
                    eps_t = hyper.eps * sqrt(1 - pow(b2, t))
                    _adam_split(&w[0], &g[0], &s1[0], &s2[0], p, n_weights, lr_t, b1, b2,
                                eps_t, 0 if decoupled else wd, lr * wd if decoupled else 0)
            step += 1
            counters[1] = step
            if step % SIGNAL_EVERY == 0:
                with gil:
                    PyErr_CheckSignals()  # raises KeyboardInterrupt after Ctrl-C
    return total


def loss_gradient(const floating[:, ::1] X, const floating[:, ::1] T,
                  const int64_t[::1] labels, const int64_t[::1] order, Py_ssize_t batch,
                  const int64_t[::1] sizes, const int32_t[::1] acts,
                  const double[::1] slopes, const int64_t[::1] w_off,
                  const int64_t[::1] b_off, const int64_t[::1] work_off, floating[::1] w,
                  floating[::1] g, floating[::1] work, int64_t[::1] label_work,
                  double[::1] acc, int loss_kind, const double[::1] weights,
                  double[::1] rw, const floating[::1] sp_data, const int32_t[::1] sp_indices,
                  const int64_t[::1] sp_indptr, int sp_mode, const uint64_t[::1] drop_thr,
                  const double[::1] drop_scale, uint64_t drop_key, int64_t drop_step):
    """Mean loss over X[order] and its gradient into g (OUT), without an update.

    The rows go through _batch_gradient in runs of ``batch`` (the workspace's rows), each
    loss gradient scaled by 1 / (all rows [x outputs]), so the runs' parameter gradients
    add up (GEMM beta = 1 after the first) to the gradient of the mean. With weights (one
    per row of X; empty: none), of sum w_i l_i / sum w_i over all of order (a zero sum
    gives a zero loss and gradient). Needs len(order) >= 1. Looks for Ctrl-C every
    SIGNAL_EVERY runs. With drop_thr (one threshold per layer), of the network masked as
    step drop_step masks it, row r of the mask being position r of order.
    """
    cdef Net net = _net(sizes, acts, slopes, w_off, b_off, work_off, drop_thr, drop_scale,
                        drop_key)
    cdef Py_ssize_t n = order.shape[0], k = sizes[acts.shape[0]], start = 0, rows
    cdef Py_ssize_t runs = 0
    cdef double total = 0
    cdef double scale = 1.0 / n if loss_kind == LOSS_XENT else 1.0 / (n * k)
    cdef const floating* Xp = &X[0, 0] if X.shape[0] * X.shape[1] else NULL
    cdef const floating* Tp = &T[0, 0] if T.shape[0] * T.shape[1] else NULL
    cdef const int64_t* Lp = &labels[0] if labels.shape[0] else NULL
    cdef const double* Wp = &weights[0] if weights.shape[0] else NULL
    cdef double wsum = 0
    cdef Py_ssize_t r
    cdef Sparse sp = _sparse(sp_mode, &sp_data[0] if sp_data.shape[0] else NULL, sp_indices,
                             sp_indptr)
    with nogil:
        if Wp != NULL:
            for r in range(n):
                wsum += Wp[order[r]]
        net.drop_step = drop_step
        while start < n:
            rows = min(batch, n - start)
            net.drop_row0 = start
            total += _batch_gradient(&net, Xp, Tp, Lp, &order[start], rows, loss_kind,
                                     scale, &w[0], &g[0], start > 0, &work[0],
                                     &label_work[0], &acc[0], False, 0, 0, Wp,
                                     n / wsum if wsum > 0 else 0, &rw[0], &sp)
            start += rows
            runs += 1
            if runs % SIGNAL_EVERY == 0:
                with gil:
                    PyErr_CheckSignals()
    return total * scale
