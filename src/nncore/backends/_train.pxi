# The training entry points of _kernels.pyx (included there, textually, after
# _plans.pxi): ``train_epoch`` (a whole epoch of mini-batch steps in one nogil call) and
# ``loss_gradient`` (the gradient of a mean loss), each run by a team of ``n_threads``
# threads (_team.h) that share every batch (_batch_gradient), BLAS at one thread meanwhile.
# The team's size comes from nncore.backends.threads (train_threads); with one thread the
# steps are the sequential ones, operation for operation.

from libc.stdlib cimport malloc

cdef extern from "Python.h":
    # declared without an exception value: the caller records the failure and raises it
    # once the team has finished (_raise_pending)
    int _check_signals "PyErr_CheckSignals" ()


cdef extern from "_blas_threads.h" nogil:
    int nn_bt_add_path(const char* path)
    int nn_bt_add_symbol(void* fn)
    void nn_bt_enter(int n)
    void nn_bt_exit()
    void nn_bt_team_enter()
    void nn_bt_team_exit()
    int nn_bt_budget()
    int nn_bt_get(int i)
    int nn_bt_n()
    const char* nn_bt_path(int i)
    const char* nn_bt_symbol(int i)


# One training call as its threads see it: the data, layout, buffers and settings (the
# float arrays as void*, a struct cannot take a fused type), and what the call returns.
cdef struct Job:
    nn_team* team
    Net net
    const void* X
    const void* T
    const int64_t* labels
    const int64_t* order
    Py_ssize_t n
    Py_ssize_t batch
    void* w
    void* g
    void* work
    int64_t* label_work
    double* accs  # per thread acc_stride doubles: column sums for the bias gradient
    Py_ssize_t acc_stride
    double* parts  # per thread two: its share of a batch's loss, by batch parity
    double* rw
    const double* weights
    double wfactor  # loss_gradient: len(order) / sum of the weights
    Sparse sp
    int loss_kind
    int opt_kind
    Hyper hyper
    void* s1
    void* s2
    bint fused_sgd
    int64_t* counters
    int64_t t0  # the optimizer step and the dropout step before the call
    int64_t drop_step0
    double total
    int stop  # written by thread 0 before a barrier, read by all after it
    int interrupted


cdef int _raise_pending() except -1:
    return -1  # the exception PyErr_CheckSignals set is still pending: raise it


cdef void _look_for_signals(Job* job) noexcept nogil:
    """Thread 0, between steps: Ctrl-C ends the call after this step (KeyboardInterrupt)."""
    with gil:
        if _check_signals() < 0:
            job.stop = 1
            job.interrupted = 1


cdef inline void _step_range(const Job* job, floating* w, floating* g, floating* s1,
                             floating* s2, Py_ssize_t at, Py_ssize_t m, bint decay,
                             double lr_t, double eps_t) noexcept nogil:
    """The optimizer on parameters [at, at + m): weights (``decay``: weight decay or L2
    applies) or biases, as _sgd_split and _adam_split treat the two ranges."""
    cdef double lr = job.hyper.lr, wd = job.hyper.weight_decay
    cdef double b1 = job.hyper.beta1, b2 = job.hyper.beta2
    cdef bint decoupled = job.hyper.decoupled != 0
    if m <= 0:
        return
    if job.opt_kind == OPT_SGD:
        _sgd(w + at, g + at, s1 + at, m, <floating>lr, <floating>job.hyper.momentum,
             job.hyper.nesterov != 0, <floating>(wd if decay else 0))
    elif decay:
        _adam(w + at, g + at, s1 + at, s2 + at, m, <floating>lr_t, <floating>b1,
              <floating>b2, <floating>(1 - b1), <floating>(1 - b2), <floating>eps_t,
              <floating>(0 if decoupled else wd), <floating>(1 - (lr * wd if decoupled else 0)))
    else:
        _adam(w + at, g + at, s1 + at, s2 + at, m, <floating>lr_t, <floating>b1,
              <floating>b2, <floating>(1 - b1), <floating>(1 - b2), <floating>eps_t, 0, 1)


cdef void _update_share(const Net* net, Job* job, floating* w, floating* g, floating* s1,
                        floating* s2, int64_t step, int tid) noexcept nogil:
    """Optimizer step ``step`` on this thread's share of the parameters (_weight_rows):
    the entries whose gradient it computed, so no thread waits for another."""
    cdef Py_ssize_t i, c0, c1, o0, o1, n_out
    cdef double t = <double>step, lr_t = 0, eps_t = 0
    cdef double b1 = job.hyper.beta1, b2 = job.hyper.beta2
    if job.opt_kind != OPT_SGD:
        lr_t = job.hyper.lr * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t))
        eps_t = job.hyper.eps * sqrt(1 - pow(b2, t))
    for i in range(net.L):
        _weight_rows(net, i, job.team, tid, &c0, &c1, &o0, &o1)
        n_out = net.sizes[i + 1]
        _step_range(job, w, g, s1, s2, net.w_off[i] + c0 * n_out, (c1 - c0) * n_out, True,
                    lr_t, eps_t)
        _step_range(job, w, g, s1, s2, net.b_off[i] + o0, o1 - o0, False, lr_t, eps_t)


cdef void _epoch_share(Job* job, int tid, floating* w) noexcept nogil:
    """Thread tid's part of train_epoch: every step, its share of each batch."""
    cdef Net net = job.net
    cdef nn_team* team = job.team
    cdef floating* g = <floating*>job.g
    cdef const double* Wp = job.weights
    cdef Py_ssize_t n = job.n, k = net.sizes[net.L], start = 0, rows, step = 0, r
    cdef double scale, wsum, part
    cdef int u, par
    while start < n:
        rows = min(job.batch, n - start)
        scale = 1.0 / rows if job.loss_kind == LOSS_XENT else 1.0 / (rows * k)
        wsum = 0
        if Wp != NULL:
            for r in range(rows):
                wsum += Wp[job.order[start + r]]
        net.drop_step = job.drop_step0 + step
        par = step % 2
        job.parts[2 * tid + par] = _batch_gradient(
            &net, <const floating*>job.X, <const floating*>job.T, job.labels,
            job.order + start, rows, job.loss_kind, scale, w, g, False,
            <floating*>job.work, job.label_work, job.accs, job.acc_stride, job.fused_sgd,
            job.hyper.lr, job.hyper.weight_decay, Wp, rows / wsum if wsum > 0 else 0,
            job.rw, &job.sp, team, tid)
        if not job.fused_sgd:
            _update_share(&net, job, w, g, <floating*>job.s1, <floating*>job.s2,
                          job.t0 + step + 1, tid)
        if tid == 0 and (step + 1) % SIGNAL_EVERY == 0:
            _look_for_signals(job)
        nn_team_barrier(team)  # the step is done: every parameter updated
        if tid == 0:
            part = 0
            for u in range(team.n):
                part += job.parts[2 * u + par]
            job.total += part * scale * rows
            job.counters[0] += 1
            job.counters[2] += 1
            job.counters[1] = step + 1
        start += rows
        step += 1
        if job.stop:
            break


cdef void _gradient_share(Job* job, int tid, floating* w) noexcept nogil:
    """Thread tid's part of loss_gradient: its share of each run of rows."""
    cdef Net net = job.net
    cdef nn_team* team = job.team
    cdef Py_ssize_t n = job.n, k = net.sizes[net.L], start = 0, rows, runs = 0
    cdef double scale = 1.0 / n if job.loss_kind == LOSS_XENT else 1.0 / (n * k)
    cdef int u, par
    while start < n:
        rows = min(job.batch, n - start)
        net.drop_row0 = start
        par = runs % 2
        job.parts[2 * tid + par] = _batch_gradient(
            &net, <const floating*>job.X, <const floating*>job.T, job.labels,
            job.order + start, rows, job.loss_kind, scale, w, <floating*>job.g, start > 0,
            <floating*>job.work, job.label_work, job.accs, job.acc_stride, False, 0, 0,
            job.weights, job.wfactor, job.rw, &job.sp, team, tid)
        if tid == 0 and (runs + 1) % SIGNAL_EVERY == 0:
            _look_for_signals(job)
        nn_team_barrier(team)  # the run's gradient is complete before the next one
        if tid == 0:
            for u in range(team.n):
                job.total += job.parts[2 * u + par]
        start += rows
        runs += 1
        if job.stop:
            break


cdef void _epoch_f32(void* job, int tid) noexcept nogil:
    _epoch_share(<Job*>job, tid, <float*>(<Job*>job).w)


cdef void _epoch_f64(void* job, int tid) noexcept nogil:
    _epoch_share(<Job*>job, tid, <double*>(<Job*>job).w)


cdef void _gradient_f32(void* job, int tid) noexcept nogil:
    _gradient_share(<Job*>job, tid, <float*>(<Job*>job).w)


cdef void _gradient_f64(void* job, int tid) noexcept nogil:
    _gradient_share(<Job*>job, tid, <double*>(<Job*>job).w)


cdef int _prepare(Job* job, Net net, const void* X, const void* T,
                  const int64_t[::1] labels, const int64_t[::1] order, Py_ssize_t batch,
                  void* w, void* g, void* work, int64_t[::1] label_work, int loss_kind,
                  const double[::1] weights, double[::1] rw, Sparse sp,
                  int n_threads) except -1:
    """Fill the fields both calls share; the scratch for n_threads threads. Returns the
    team size to ask for."""
    cdef Py_ssize_t i, widest = 1
    cdef int team = max(1, min(n_threads, 64))
    memset(job, 0, sizeof(Job))
    job.net = net
    job.X, job.T = X, T
    job.labels = &labels[0] if labels.shape[0] else NULL
    job.order = &order[0] if order.shape[0] else NULL
    job.n, job.batch = order.shape[0], batch
    job.w, job.g, job.work = w, g, work
    job.label_work = &label_work[0]
    job.weights = &weights[0] if weights.shape[0] else NULL
    job.rw = &rw[0]
    job.sp = sp
    job.loss_kind = loss_kind
    for i in range(1, net.L + 1):
        widest = max(widest, net.sizes[i])
    job.acc_stride = 2 * ((widest + 7) // 8 * 8)  # two halves, whole cache lines
    job.accs = <double*>malloc(team * job.acc_stride * sizeof(double))
    job.parts = <double*>malloc(2 * team * sizeof(double))
    if job.accs == NULL or job.parts == NULL:
        free(job.accs)
        free(job.parts)
        raise MemoryError()
    return team


cdef void _run(Job* job, int team, nn_team_fn fn) noexcept nogil:
    """Run fn on a team of ``team`` threads (one: this thread alone; more: a team from
    _team.h's cache, or this thread alone if none can be made), BLAS at one thread
    meanwhile (each thread's products are its own), then restore the counts BLAS had."""
    cdef nn_team solo
    solo.n = 1
    job.team = nn_team_acquire(team) if team > 1 else NULL
    if job.team == NULL:
        job.team = &solo
    if job.team.n > 1:
        nn_bt_team_enter()
    nn_team_run(job.team, fn, job)
    if job.team.n > 1:
        nn_bt_team_exit()
    if job.team != &solo:
        nn_team_release(job.team)
    free(job.accs)
    free(job.parts)


def train_epoch(const floating[:, ::1] X, const floating[:, ::1] T,
                const int64_t[::1] labels, const int64_t[::1] order, Py_ssize_t batch,
                const int64_t[::1] sizes, const int32_t[::1] acts, const double[::1] slopes,
                const int64_t[::1] w_off, const int64_t[::1] b_off,
                const int64_t[::1] work_off, floating[::1] w, floating[::1] g,
                floating[::1] work, int64_t[::1] label_work, int loss_kind,
                int opt_kind, Hyper hyper, floating[::1] s1, floating[::1] s2,
                int64_t[::1] counters, bint fused_sgd, const double[::1] weights,
                double[::1] rw, const floating[::1] sp_data, const int32_t[::1] sp_indices,
                const int64_t[::1] sp_indptr, int sp_mode, const uint64_t[::1] drop_thr,
                const double[::1] drop_scale, uint64_t drop_key, int n_threads):
    """One epoch of mini-batch gradient descent over X[order] in a single nogil call.

    X (n, d0) IN; T (n, k) IN float targets (mse, bce, poisson) or labels (n,) IN
    (softmax_xent);
    order IN: the sample order, batches of ``batch`` rows (the last may be shorter).
    w INOUT, g OUT (not written when ``fused_sgd``), s1/s2 INOUT optimizer state,
    counters INOUT: [0] optimizer step t, [1] steps done in this call, [2] the dropout
    step (drop_thr: a threshold per layer, or empty: no dropout). weights: one per
    row of X (empty: unweighted); sp_*: X as CSR (mlp_forward), X then (0, d0); each batch's
    loss is then sum w_i l_i / sum w_i (a batch whose weights sum to 0 moves nothing but
    weight decay); rw: scratch of batch. The offsets (w_off, b_off, work_off) and the
    workspace come from a TrainPlan. Each step is _batch_gradient, then the update (with
    ``fused_sgd``, plain SGD without momentum, applied inside it), by a team of
    ``n_threads`` threads (1: this one alone). Returns the sum over steps of (mean batch
    loss x batch rows). Looks for Ctrl-C every SIGNAL_EVERY steps; on KeyboardInterrupt the
    completed steps stand.
    """
    cdef Job job
    cdef int team = _prepare(
        &job, _net(sizes, acts, slopes, w_off, b_off, work_off, drop_thr, drop_scale,
                   drop_key),
        &X[0, 0] if X.shape[0] * X.shape[1] else NULL,
        &T[0, 0] if T.shape[0] * T.shape[1] else NULL, labels, order, batch, &w[0], &g[0],
        &work[0], label_work, loss_kind, weights, rw,
        _sparse(sp_mode, &sp_data[0] if sp_data.shape[0] else NULL, sp_indices, sp_indptr),
        n_threads)
    job.opt_kind, job.hyper, job.fused_sgd = opt_kind, hyper, fused_sgd
    job.s1, job.s2 = &s1[0], &s2[0]
    job.counters = &counters[0]
    job.t0, job.drop_step0 = counters[0], counters[2]
    counters[1] = 0
    with nogil:
        _run(&job, team, _epoch_f32 if floating is float else _epoch_f64)
    if job.interrupted:
        _raise_pending()
    return job.total


def loss_gradient(const floating[:, ::1] X, const floating[:, ::1] T,
                  const int64_t[::1] labels, const int64_t[::1] order, Py_ssize_t batch,
                  const int64_t[::1] sizes, const int32_t[::1] acts,
                  const double[::1] slopes, const int64_t[::1] w_off,
                  const int64_t[::1] b_off, const int64_t[::1] work_off, floating[::1] w,
                  floating[::1] g, floating[::1] work, int64_t[::1] label_work,
                  int loss_kind, const double[::1] weights,
                  double[::1] rw, const floating[::1] sp_data, const int32_t[::1] sp_indices,
                  const int64_t[::1] sp_indptr, int sp_mode, const uint64_t[::1] drop_thr,
                  const double[::1] drop_scale, uint64_t drop_key, int64_t drop_step,
                  int n_threads):
    """Mean loss over X[order] and its gradient into g (OUT), without an update.

    The rows go through _batch_gradient in runs of ``batch`` (the workspace's rows), each
    loss gradient scaled by 1 / (all rows [x outputs]), so the runs' parameter gradients
    add up (GEMM beta = 1 after the first) to the gradient of the mean. With weights (one
    per row of X; empty: none), of sum w_i l_i / sum w_i over all of order (a zero sum
    gives a zero loss and gradient). Needs len(order) >= 1. Looks for Ctrl-C every
    SIGNAL_EVERY runs. With drop_thr (one threshold per layer), of the network masked as
    step drop_step masks it, row r of the mask being position r of order. Run by a team
    of ``n_threads`` threads, as train_epoch.
    """
    cdef Job job
    cdef double wsum = 0
    cdef Py_ssize_t r, n = order.shape[0], k = sizes[acts.shape[0]]
    cdef int team = _prepare(
        &job, _net(sizes, acts, slopes, w_off, b_off, work_off, drop_thr, drop_scale,
                   drop_key),
        &X[0, 0] if X.shape[0] * X.shape[1] else NULL,
        &T[0, 0] if T.shape[0] * T.shape[1] else NULL, labels, order, batch, &w[0], &g[0],
        &work[0], label_work, loss_kind, weights, rw,
        _sparse(sp_mode, &sp_data[0] if sp_data.shape[0] else NULL, sp_indices, sp_indptr),
        n_threads)
    job.net.drop_step = drop_step
    if job.weights != NULL:
        for r in range(n):
            wsum += job.weights[order[r]]
    job.wfactor = n / wsum if wsum > 0 else 0
    with nogil:
        _run(&job, team, _gradient_f32 if floating is float else _gradient_f64)
    if job.interrupted:
        _raise_pending()
    return job.total * (1.0 / n if loss_kind == LOSS_XENT else 1.0 / (n * k))


def blas_threads():
    """The thread count of the BLAS the kernels call (SciPy's OpenBLAS), as set outside
    the training teams: its default, OPENBLAS_NUM_THREADS, or a scope's (threadpoolctl,
    ``n_threads``); 0 when its setter was not found (then training runs one thread)."""
    return nn_bt_budget()
