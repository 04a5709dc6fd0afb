"""``nncore demo``: how a network learns, on two interleaved half-moons.

An MLP (2 -> 32 relu -> 32 relu -> 2) and a model with no hidden layer are trained on
the same points. The MLP bends its decision boundary around the moons; the linear model
can only draw a straight line. ``plot=...`` draws both boundaries and the loss curves.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import nncore


def run_demo(epochs: int = 30, n_samples: int = 1000, backend: str | None = None,
             seed: int = 0, out: TextIO | None = None, plot: str | None = None
             ) -> dict[str, Any]:
    """Train, report to ``out`` (stdout) and optionally save a picture to ``plot``.

    Returns
    -------
    dict
        ``mlp_accuracy``, ``linear_accuracy`` (held-out), ``final_loss``, ``backend``,
        ``seconds`` (the MLP's training time) and the two ``History`` objects.
    """
    if plot is not None:
        from nncore.cli._plotting import require_matplotlib

        require_matplotlib()  # fail before training, with the install hint
    out = out or sys.stdout
    X, y = nncore.make_moons(n_samples, noise=0.15, seed=seed)
    X_tr, X_te, y_tr, y_te = nncore.train_test_split(X, y, test_fraction=0.3, seed=seed)
    mlp = nncore.Sequential([nncore.Dense(32, "relu"), nncore.Dense(32, "relu"),
                             nncore.Dense(2)], backend=backend, seed=seed)
    linear = nncore.Sequential([nncore.Dense(2)], backend=backend, seed=seed)
    print(f"nncore {nncore.__version__} demo: two moons, {len(X_tr)} training and "
          f"{len(X_te)} held-out points (noise 0.15)", file=out)
    print(f"model: 2 -> 32 relu -> 32 relu -> 2, softmax cross-entropy, Adam(lr=0.01), "
          f"batch 32, backend {mlp.ops.name}, {mlp.dtype.name}", file=out)

    def report(epoch: int, logs: dict[str, float]) -> None:
        print(f"  epoch {epoch + 1:3d}  loss {logs['loss']:.4f}  "
              f"val_loss {logs['val_loss']:.4f}  val_accuracy {logs['val_accuracy']:.1%}",
              file=out, flush=True)

    fit_args: dict[str, Any] = dict(
        epochs=epochs, batch_size=32, loss=nncore.SoftmaxCrossEntropy(),
        validation_data=(X_te, y_te), metrics=["accuracy"], verbose=0)
    start = time.perf_counter()
    h_mlp = mlp.fit(X_tr, y_tr, optimizer=nncore.Adam(lr=0.01), callbacks=[report],
                    **fit_args)
    took = time.perf_counter() - start
    h_lin = linear.fit(X_tr, y_tr, optimizer=nncore.Adam(lr=0.01), **fit_args)
    acc_mlp, acc_lin = mlp.evaluate(X_te, y_te)["accuracy"], linear.evaluate(X_te, y_te)[
        "accuracy"]
    print(f"trained in {took:.2f} s ({epochs} epochs)", file=out)
    print(f"held-out accuracy: MLP {acc_mlp:.1%}; linear model, no hidden layer: "
          f"{acc_lin:.1%} (a straight line cannot separate the moons)", file=out)
    if plot is not None:
        from nncore.cli._plotting import plot_demo

        plot_demo(plot, X_tr, y_tr, [("no hidden layer", linear, h_lin),
                                     ("MLP 2-32-32-2", mlp, h_mlp)])
        print(f"picture saved to {plot}", file=out)
    return {"mlp_accuracy": acc_mlp, "linear_accuracy": acc_lin,
            "final_loss": h_mlp.history["loss"][-1], "backend": mlp.ops.name,
            "seconds": took, "histories": (h_mlp, h_lin)}
