# Serving (included in _kernels.pyx, textually): the one-row forward pass of a whole
# network in one native call (RowNet), and the BLAS thread scope (BlasThreads).

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBUF_STRIDES, PyBUF_WRITABLE, PyBuffer_Release
from cpython.buffer cimport PyObject_GetBuffer
cimport cython
from libc.stdlib cimport malloc


# _blas_threads.h is declared in _train.pxi (included before this file).

# The BLAS this module's GEMMs run on: the library scipy.linalg.cython_blas links.
nn_bt_add_symbol(<void*>sgemm)


def blas_thread_libraries():
    """``[(path, setter, threads now)]``: the BLAS libraries ``BlasThreads`` sets."""
    return [(nn_bt_path(i).decode(), nn_bt_symbol(i).decode(), nn_bt_get(i))
            for i in range(nn_bt_n())]


def add_blas_library(str path):
    """Also set the OpenBLAS loaded from ``path`` (or linked by it); False if it has none."""
    return nn_bt_add_path(path.encode()) >= 0


@cython.auto_pickle(False)
cdef class BlasThreads:
    """``with BlasThreads(n):`` runs the BLAS libraries at ``n`` threads inside.

    Counted scopes over a process-wide setting (see _blas_threads.h): the first to enter
    saves the count, the last to leave restores it. Reentrant, one object may be used by
    several threads at once; entering and leaving cost well under a microsecond.
    """

    cdef readonly int n

    def __cinit__(self, int n):
        if n < 1:
            raise ValueError(f"argument 'n' must be >= 1, got {n}")
        self.n = n

    def __enter__(self):
        nn_bt_enter(self.n)
        return self

    def __exit__(self, *exc):
        nn_bt_exit()
        return False


cdef int _forward_row(const Net* net, const floating* x, const floating* w,
                      floating* out) noexcept nogil:
    """All layers on one row x (width sizes[0]) into out (sizes[L]); 0, or -1 when x holds
    a non-finite value (nothing is written), -2 when out of memory."""
    cdef Py_ssize_t L = net.L, i, widest = 0, n_in, n_out
    cdef double check = 0
    for i in range(net.sizes[0]):
        check += x[i] * 0.0  # NaN when any x is NaN or inf; vectorises
    if check != 0:
        return -1
    for i in range(L + 1):
        widest = max(widest, net.sizes[i])
    cdef void* mem = malloc(2 * widest * sizeof(floating) + widest * sizeof(Py_ssize_t))
    if mem == NULL:
        return -2
    cdef floating* buf = <floating*>mem
    cdef Py_ssize_t* nz = <Py_ssize_t*>(buf + 2 * widest)
    cdef const floating* src = x
    cdef floating* dst
    for i in range(L):
        n_in, n_out = net.sizes[i], net.sizes[i + 1]
        dst = out if i == L - 1 else buf + (i % 2) * widest
        if floating is float:
            nn_vm_gemv_f32(src, &w[net.w_off[i]], dst, n_in, n_out, nz)
        else:
            nn_vm_gemv_f64(src, &w[net.w_off[i]], dst, n_in, n_out, nz)
        _bias_act(dst, &w[net.b_off[i]], dst, 1, n_out, net.acts[i], <floating>net.slopes[i])
        src = dst
    free(mem)
    return 0


@cython.auto_pickle(False)
cdef class RowNet:
    """A network bound for one-row prediction: ``forward(x, out)`` with x of shape
    (1, sizes[0]) and out (1, sizes[-1]), C-contiguous, of the parameters' dtype.

    The caller (``nncore._serving``) checks the dtype and shapes; the buffers' sizes are
    checked again here, so a wrong call raises instead of reading past the end. Scratch
    comes from malloc per call: concurrent calls are safe.
    """

    cdef Net net
    cdef object keep  # the arrays the pointers below point into
    cdef void* w
    cdef Py_ssize_t itemsize, n_in, n_out
    cdef bint f64

    def __cinit__(self, w, const int64_t[::1] sizes, const int32_t[::1] acts,
                  const double[::1] slopes, const int64_t[::1] w_off,
                  const int64_t[::1] b_off):
        self.keep = (w, sizes, acts, slopes, w_off, b_off)
        self.net = _net(sizes, acts, slopes, w_off, b_off, w_off[:0])
        self.f64 = w.dtype.itemsize == 8
        self.itemsize = w.dtype.itemsize
        cdef float[::1] w32
        cdef double[::1] w64
        if self.f64:
            w64 = w
            self.w = &w64[0]
        else:
            w32 = w
            self.w = &w32[0]
        self.n_in, self.n_out = sizes[0], sizes[acts.shape[0]]

    def forward(self, x, out):
        """Write the network's output for row ``x`` into ``out``; False (nothing written)
        when x holds NaN or inf or its elements are not contiguous."""
        cdef Py_buffer bx, bo
        cdef int status = -1
        PyObject_GetBuffer(x, &bx, PyBUF_STRIDES)
        try:
            PyObject_GetBuffer(out, &bo, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE)
        except BaseException:
            PyBuffer_Release(&bx)
            raise
        try:
            if (bx.len != self.n_in * self.itemsize or bx.ndim < 1 or bo.len != self.n_out * self.itemsize
                    or bx.itemsize != self.itemsize or bo.itemsize != self.itemsize):
                raise ValueError("RowNet.forward: x and out must hold one row of the "
                                 "network's widths and dtype")
            if bx.strides[bx.ndim - 1] != bx.itemsize:  # one row: only its stride matters
                return False
            with nogil:
                if self.f64:
                    status = _forward_row(&self.net, <const double*>bx.buf,
                                          <const double*>self.w, <double*>bo.buf)
                else:
                    status = _forward_row(&self.net, <const float*>bx.buf,
                                          <const float*>self.w, <float*>bo.buf)
        finally:
            PyBuffer_Release(&bo)
            PyBuffer_Release(&bx)
        if status == -2:
            raise MemoryError()
        return status == 0
