"""The whole-network methods of ``Ops``: prediction, a training epoch, a batch gradient.

They take plans (``nncore.backends.plan``), which fix the memory layout; each public
method validates its arguments and calls a private hook that ``NumpyOps`` and
``CythonOps`` implement. Training and ``Sequential.gradients`` share one
backpropagation: ``loss_gradient`` runs exactly the forward/loss/backward of a
``train_epoch`` step, without the update.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.backends import _checks
from nncore.backends.plan import NetPlan, TrainPlan, check_order
from nncore.backends.sparse import CsrRows

#: Rows per block of ``mlp_forward`` (measured: bench/ W5, docs/design.md "Serving").
FORWARD_BLOCK = 8192


class PlanMethods:
    """``mlp_forward``, ``train_epoch`` and ``loss_gradient``; mixed into ``Ops``."""

    def mlp_forward(self, net: NetPlan, X: Any, out: np.ndarray) -> None:
        """All layers of a network on ``X`` in one call (prediction).

        Parameters
        ----------
        net : NetPlan
            The network: widths, activations, and the flat parameters it reads.
        X : ndarray or sparse matrix, shape (n, sizes[0])
            IN. A ``scipy.sparse`` matrix (or ``CsrRows``) of the network's dtype is read
            as CSR without densifying: the first layer is a sparse product.
        out : ndarray, shape (n, sizes[-1])
            OUT: the last layer's activations. Scratch for the hidden layers is
            allocated per call, so concurrent calls on one network are safe; the rows
            go through the network ``FORWARD_BLOCK`` at a time (the scratch is that
            many rows), so the activations between layers stay in cache.
        """
        op = "mlp_forward"
        X = net.check_input(op, X)
        if isinstance(X, CsrRows):
            _checks.floats(op, ("out",), out=(out, 2))
            for part in (X.data, X.indices, X.indptr):
                _checks.no_alias(op, "out", out, "X", part, allow_same=False)
        else:
            _checks.floats(op, ("out",), X=(X, 2), out=(out, 2))
            _checks.no_alias(op, "out", out, "X", X, allow_same=False)
        _checks.shape(op, "out", out, (X.shape[0], int(net.sizes[-1])))
        work = np.empty(2 * min(X.shape[0], FORWARD_BLOCK) * net.max_hidden, X.dtype)
        self._mlp_forward(net, X, out, work)

    def row_net(self, net: NetPlan) -> Any:
        """A compiled one-row forward pass of ``net``, or None.

        Parameters
        ----------
        net : NetPlan
            The network; the result reads its parameters ``net.w`` at each call.

        Returns
        -------
        RowNet or None
            ``_kernels.RowNet`` (Cython): ``forward(x, out)`` runs every layer on one row
            in one native call (``nncore._serving``). None (NumPy): ``mlp_forward``
            serves one row as any other.
        """
        return self._row_net(net)

    def _row_net(self, net: NetPlan) -> Any:
        raise NotImplementedError

    def train_epoch(self, plan: TrainPlan, X: Any, targets: np.ndarray,
                    order: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """One epoch of mini-batch gradient descent in one call.

        For each run of ``plan.batch_size`` indices of ``order`` (the last run may be
        shorter): gather the rows of ``X`` and ``targets``, forward through every layer,
        loss and its gradient, backpropagation, and one optimizer step, exactly as the
        per-op methods do it one by one. The NumPy backend runs that loop in Python; the
        Cython backend in one ``nogil`` call that checks for Ctrl-C every 256 steps
        (``KeyboardInterrupt``; the steps already done stand, ``plan.counters`` says how
        many).

        Parameters
        ----------
        plan : TrainPlan
            INOUT: network, workspace, optimizer settings and state (``configure``
            first). The parameters ``plan.net.w`` are updated in place; with plain SGD
            (no momentum) the update is applied inside the weight-gradient GEMM and
            ``plan.net.g`` is left as it was. With the plan's dropout, each step drops
            by the mask of (``plan.drop_key``, ``plan.counters[2]``), then counts
            ``counters[2]`` on (``set_dropout``; ``nncore.backends.dropout``).
        X : ndarray or sparse matrix, shape (n, sizes[0])
            IN: all samples. A ``scipy.sparse`` matrix (or ``CsrRows``) of the plan's
            dtype is read as CSR: each batch's rows gathered into the dense batch buffer,
            or the first layer taken as a sparse product (``CsrRows.train_mode``).
        targets : ndarray
            IN: int64 labels (n,) for softmax_xent, else (n, sizes[-1]) of X's dtype.
        order : ndarray of int64, shape (m,)
            IN: sample indices in [0, n), in the order to visit them.
        sample_weight : ndarray of float64, shape (n,), optional
            IN: a weight per sample, finite and >= 0. Each step's loss is then
            ``sum_i w_i loss_i / sum_i w_i`` over its rows, applied as a per-row scale
            inside the fused loss kernel; a step whose weights sum to 0 changes the
            parameters only by weight decay.

        Returns
        -------
        float
            Mean of the per-step mean losses, weighted by step rows (0.0 if no step).
        """
        op = "train_epoch"
        X = plan.net.check_input(op, X)
        plan.check_targets(op, X, targets)
        check_order(op, order, X.shape[0])
        weights = _checks.sample_weight(op, sample_weight, X.shape[0], whole=False)
        total = self._train_epoch(plan, X, targets, order, weights)
        return total / order.shape[0] if order.shape[0] else 0.0

    def loss_gradient(self, plan: TrainPlan, X: Any, targets: np.ndarray,
                      order: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Mean loss over the rows ``order`` and its gradient, without an update.

        The forward pass, loss and backpropagation of a ``train_epoch`` step (the same
        code), run over ``order`` in runs of ``plan.batch_size`` rows so that memory stays
        bounded; the gradients of the runs are summed, weighted by their rows, into
        ``plan.net.g``. With a single run (``len(order) <= plan.batch_size``) the gradient
        is exactly the one a training step on that batch applies.

        Parameters
        ----------
        plan : TrainPlan
            INOUT: network and workspace (no optimizer settings needed). ``plan.net.g``
            is OUT: the gradient of the mean loss, in the parameter layout. With the
            plan's dropout, of the network under the fixed mask of step
            ``plan.counters[2]`` (not counted on), row r of the mask being ``order[r]``'s
            position r.
        X : ndarray or sparse matrix, shape (n, sizes[0])
            IN: all samples. A ``scipy.sparse`` matrix (or ``CsrRows``) of the plan's
            dtype is read as CSR: each batch's rows gathered into the dense batch buffer,
            or the first layer taken as a sparse product (``CsrRows.train_mode``).
        targets : ndarray
            IN: int64 labels (n,) for softmax_xent, else (n, sizes[-1]) of X's dtype.
        order : ndarray of int64, shape (m,)
            IN: sample indices in [0, n).
        sample_weight : ndarray of float64, shape (n,), optional
            IN: a weight per sample, finite and >= 0: the loss is then
            ``sum_i w_i loss_i / sum_i w_i`` over ``order`` (0.0, and a zero gradient,
            when those weights sum to 0).

        Returns
        -------
        float
            The mean loss over the ``m`` rows (0.0, and a zero gradient, when m == 0).
        """
        op = "loss_gradient"
        X = plan.net.check_input(op, X)
        plan.check_targets(op, X, targets)
        check_order(op, order, X.shape[0])
        weights = _checks.sample_weight(op, sample_weight, X.shape[0], whole=False)
        if order.shape[0] == 0:
            plan.net.g[...] = 0
            return 0.0
        return self._loss_gradient(plan, X, targets, order, weights)

    # Hooks, called with validated arguments only.
    def _mlp_forward(self, net, X, out, work):
        raise NotImplementedError

    def _train_epoch(self, plan, X, targets, order, weights):
        raise NotImplementedError

    def _loss_gradient(self, plan, X, targets, order, weights):
        raise NotImplementedError
