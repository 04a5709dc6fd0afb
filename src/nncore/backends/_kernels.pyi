# Type stub for the compiled module nncore.backends._kernels (see _kernels.pyx). Arguments are
# trusted: nncore.backends.ops validates them before calling. float arrays are all float32 or
# all float64, C-contiguous.
import numpy as np
from typing_extensions import disjoint_base

# re-exported from nncore.backends._codes, which declares them
ACTIVATIONS: tuple[str, ...]
LOSSES: tuple[str, ...]
OPTIMIZERS: tuple[str, ...]
HYPER: tuple[str, ...]
SIMD_ISA: str
BOUNDS_CHECKED: bool

def gemm(A: np.ndarray, B: np.ndarray, out: np.ndarray, trans_a: bool, trans_b: bool,
         alpha: float, beta: float) -> None: ...
def bias_act_forward(Z: np.ndarray, b: np.ndarray, act: int, out: np.ndarray,
                     negative_slope: float) -> None: ...
def act_backward(dY: np.ndarray, Y: np.ndarray, act: int, dZ: np.ndarray, db: np.ndarray,
                 with_db: bool, negative_slope: float) -> None: ...
def col_sum(X: np.ndarray, out: np.ndarray) -> None: ...
def softmax_xent(logits: np.ndarray, labels: np.ndarray, dlogits: np.ndarray,
                 rw: np.ndarray | None = None) -> tuple[float, int]: ...
def sigmoid_bce(logits: np.ndarray, y: np.ndarray, dlogits: np.ndarray,
                rw: np.ndarray | None = None) -> float: ...
def poisson(logits: np.ndarray, y: np.ndarray, dlogits: np.ndarray,
            rw: np.ndarray | None = None) -> float: ...
def mse(pred: np.ndarray, y: np.ndarray, dpred: np.ndarray,
        rw: np.ndarray | None = None) -> float: ...
def sgd_update(w: np.ndarray, g: np.ndarray, v: np.ndarray, lr: float, momentum: float,
               nesterov: bool, weight_decay: float, n_decay: int) -> None: ...
def adam_update(w: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, lr_t: float,
                beta1: float, beta2: float, eps_t: float, weight_decay: float,
                decoupled_decay: float, n_decay: int) -> None: ...
def mlp_forward(X: np.ndarray, w: np.ndarray, sizes: np.ndarray, acts: np.ndarray,
                slopes: np.ndarray, w_off: np.ndarray, b_off: np.ndarray, work: np.ndarray,
                out: np.ndarray, sp_data: np.ndarray, sp_indices: np.ndarray,
                sp_indptr: np.ndarray, sp_mode: int) -> None: ...
def train_epoch(X: np.ndarray, T: np.ndarray, labels: np.ndarray, order: np.ndarray,
                batch: int, sizes: np.ndarray, acts: np.ndarray, slopes: np.ndarray,
                w_off: np.ndarray, b_off: np.ndarray, work_off: np.ndarray, w: np.ndarray,
                g: np.ndarray, work: np.ndarray, label_work: np.ndarray, acc: np.ndarray,
                loss_kind: int, opt_kind: int, hyper: dict[str, float], s1: np.ndarray,
                s2: np.ndarray, counters: np.ndarray, fused_sgd: bool, weights: np.ndarray,
                rw: np.ndarray, sp_data: np.ndarray, sp_indices: np.ndarray,
                sp_indptr: np.ndarray, sp_mode: int, drop_thr: np.ndarray,
                drop_scale: np.ndarray, drop_key: int) -> float: ...
def loss_gradient(X: np.ndarray, T: np.ndarray, labels: np.ndarray, order: np.ndarray,
                  batch: int, sizes: np.ndarray, acts: np.ndarray, slopes: np.ndarray,
                  w_off: np.ndarray, b_off: np.ndarray, work_off: np.ndarray, w: np.ndarray,
                  g: np.ndarray, work: np.ndarray, label_work: np.ndarray, acc: np.ndarray,
                  loss_kind: int, weights: np.ndarray, rw: np.ndarray, sp_data: np.ndarray,
                  sp_indices: np.ndarray, sp_indptr: np.ndarray, sp_mode: int,
                  drop_thr: np.ndarray, drop_scale: np.ndarray, drop_key: int,
                  drop_step: int) -> float: ...

# Serving (_rows.pxi): the BLAS thread scope and the one-row forward pass.
# (Extension types: no subclass may add to their C layout, hence disjoint_base.)
def blas_thread_libraries() -> list[tuple[str, str, int]]: ...
def add_blas_library(path: str) -> bool: ...

@disjoint_base
class BlasThreads:
    @property
    def n(self) -> int: ...
    def __new__(cls, n: int) -> BlasThreads: ...
    def __enter__(self) -> BlasThreads: ...
    def __exit__(self, *exc: object) -> bool: ...

@disjoint_base
class RowNet:
    def __new__(cls, w: np.ndarray, sizes: np.ndarray, acts: np.ndarray,
                slopes: np.ndarray, w_off: np.ndarray, b_off: np.ndarray) -> RowNet: ...
    def forward(self, x: np.ndarray, out: np.ndarray) -> bool: ...
def set_small_gemm(mnk: int) -> int: ...
