"""The text of ``Sequential.summary``: a table of the layers."""

from __future__ import annotations

from typing import Any


def summary_text(model: Any) -> str:
    """Output shapes, activations and parameter counts of ``model``'s layers, as a table."""
    rows = [("layer", "output shape", "activation", "params")]
    n_in = model.n_features
    total = 0
    for i, layer in enumerate(model.layers):
        count = None if n_in is None else n_in * layer.units + layer.units
        total += count or 0
        act = layer.activation + (f"({layer.negative_slope:g})"
                                  if layer.activation == "leaky_relu" else "")
        rows.append((f"dense_{i}", f"(n, {layer.units})", act,
                     "?" if count is None else f"{count:,}"))
        if layer.dropout:  # as Keras shows it: a row of its own (training only)
            rows.append((f"dropout_{i}", f"(n, {layer.units})",
                         f"rate {layer.dropout:g} (fit)", "0"))
        n_in = layer.units
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    line = "  ".join("-" * w for w in widths)
    fmt = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  "
           f"{r[3]:>{widths[3]}}" for r in rows]
    inputs = "unknown until the first data" if model.n_features is None else (
        f"(n, {model.n_features})")
    loss = "none yet" if model.loss is None else type(model.loss).__name__
    text = "\n".join([
        f"Sequential: input {inputs}, {model.dtype.name}, backend {model.ops.name}, "
        f"loss {loss}", line, fmt[0], line, *fmt[1:], line,
        f"total parameters: {total:,}" if model.built else "total parameters: not built",
    ])
    return text
