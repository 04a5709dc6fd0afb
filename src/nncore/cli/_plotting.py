"""Pictures (the ``[plot]`` extra: matplotlib), drawn off-screen into image files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

INSTALL_HINT = "matplotlib is needed for plots: pip install 'nncore[plot]'"


def require_matplotlib() -> Any:
    """Import matplotlib with the off-screen Agg backend, or raise with an install hint."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_demo(path: str, X: np.ndarray, y: np.ndarray,
              models: Sequence[tuple[str, Any, Any]]) -> None:
    """Decision boundaries of ``models`` side by side, then their loss curves.

    ``models`` holds ``(title, model, history)`` triples; the picture goes to ``path``.
    """
    plt = require_matplotlib()
    fig, axes = plt.subplots(1, len(models) + 1, figsize=(5 * (len(models) + 1), 4.5))
    for ax, (title, model, history) in zip(axes, models, strict=False):
        xx, yy, p = decision_grid(model, X)
        ax.contourf(xx, yy, p, levels=20, cmap="RdBu", alpha=0.6, vmin=0, vmax=1)
        ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.5)
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu", edgecolors="k", s=12, linewidths=0.4)
        acc = history.history.get("val_accuracy", [float("nan")])[-1]
        ax.set_title(f"{title}\nheld-out accuracy {acc:.1%}")
        ax.set_xticks([])
        ax.set_yticks([])
    ax = axes[-1]
    for title, _, history in models:
        ax.plot(history.history["loss"], label=f"{title} (train)")
        if "val_loss" in history.history:
            ax.plot(history.history["val_loss"], "--", label=f"{title} (held out)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_yscale("log")
    ax.set_title("loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def decision_grid(model: Any, X: np.ndarray, steps: int = 200
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xx, yy, p)``: P(class 1) of ``model`` over a grid covering ``X``."""
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps))
    p = model.predict_proba(np.column_stack([xx.ravel(), yy.ravel()]))[:, 1]
    return xx, yy, p.reshape(xx.shape)
