# Type stub for the compiled module nncore.backends._kernels (see _kernels.pyx). Arguments are
# trusted: nncore.backends.ops validates them before calling. float arrays are all float32 or
# all float64, C-contiguous.
import numpy as np

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
def softmax_xent(logits: np.ndarray, labels: np.ndarray,
                 dlogits: np.ndarray) -> tuple[float, int]: ...
def sigmoid_bce(logits: np.ndarray, y: np.ndarray, dlogits: np.ndarray) -> float: ...
def poisson(logits: np.ndarray, y: np.ndarray, dlogits: np.ndarray) -> float: ...
def mse(pred: np.ndarray, y: np.ndarray, dpred: np.ndarray) -> float: ...
def sgd_update(w: np.ndarray, g: np.ndarray, v: np.ndarray, lr: float, momentum: float,
               nesterov: bool, weight_decay: float, n_decay: int) -> None: ...
def adam_update(w: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, lr_t: float,
                beta1: float, beta2: float, eps_t: float, weight_decay: float,
                decoupled_decay: float, n_decay: int) -> None: ...
def mlp_forward(X: np.ndarray, w: np.ndarray, sizes: np.ndarray, acts: np.ndarray,
                slopes: np.ndarray, w_off: np.ndarray, b_off: np.ndarray, work: np.ndarray,
                out: np.ndarray) -> None: ...
def train_epoch(X: np.ndarray, T: np.ndarray, labels: np.ndarray, order: np.ndarray,
                batch: int, sizes: np.ndarray, acts: np.ndarray, slopes: np.ndarray,
                w_off: np.ndarray, b_off: np.ndarray, work_off: np.ndarray, w: np.ndarray,
                g: np.ndarray, work: np.ndarray, label_work: np.ndarray, acc: np.ndarray,
                loss_kind: int, opt_kind: int, hyper: dict[str, float], s1: np.ndarray,
                s2: np.ndarray, counters: np.ndarray, fused_sgd: bool) -> float: ...
def loss_gradient(X: np.ndarray, T: np.ndarray, labels: np.ndarray, order: np.ndarray,
                  batch: int, sizes: np.ndarray, acts: np.ndarray, slopes: np.ndarray,
                  w_off: np.ndarray, b_off: np.ndarray, work_off: np.ndarray, w: np.ndarray,
                  g: np.ndarray, work: np.ndarray, label_work: np.ndarray, acc: np.ndarray,
                  loss_kind: int) -> float: ...
