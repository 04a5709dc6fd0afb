"""``nncore train`` and ``nncore predict``: models from and for data files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

import nncore
from nncore import io
from nncore._preprocess import Preprocessing
from nncore.cli._errors import (
    CLIError,
    UsageError,
    batch_size,
    check_writable,
    fraction,
    int_at_least,
    layer_widths,
    positive_float,
)
from nncore.cli._tabular import (
    NAMED_COLUMNS,
    apply_standardisation,
    holdout,
    infer_task,
    read_table,
)
from nncore.cli._tabular import standardisation as fit_standardisation

DTYPE_HELP = "floating-point type of the weights and the computation (float32)"
BACKEND_HELP = ("kernel backend: cython (compiled kernels), numpy, or auto: cython when "
                "built (default: NNCORE_BACKEND, else auto)")


def add_parsers(sub: Any) -> None:
    """Register ``train`` and ``predict`` on the ``nncore`` sub-command parser."""
    p = sub.add_parser(
        "train", help="train an MLP on a .csv, .parquet or .npz file and save it",
        description="Train an MLP on a table: numeric feature columns and a target column "
        "(class labels or values). Features are standardised (mean 0, scale 1) unless "
        "--no-standardize; the model file records the columns, classes and scaling, so "
        "'nncore predict' applies it to new files by column name.")
    p.add_argument("data", help=".csv with a header row, .parquet (needs pyarrow), or .npz "
                   "with arrays X and y")
    p.add_argument("--target", default=None,
                   help="target column (csv, parquet: required) or array name (npz, default y)")
    p.add_argument("--hidden", type=layer_widths, default=[64, 32], metavar="64,32",
                   help="hidden layer widths, comma-separated ('' for none; default 64,32)")
    p.add_argument("--activation", default="relu", choices=list(nncore.backends.activations.NAMES),
                   help="hidden activation (relu)")
    p.add_argument("--epochs", type=int_at_least(1), default=20,
                   help="passes over the data (20)")
    p.add_argument("--batch-size", type=batch_size, default=32,
                   help="rows per step: an integer, or 'full' (32)")
    p.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "adamw"],
                   help="optimizer (adam)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate (0.001)")
    p.add_argument("--task", default="auto", choices=["auto", "classify", "regress"],
                   help="auto: text labels or <= 20 integer values classify, else regress")
    p.add_argument("--validation-split", type=fraction, default=0.1,
                   help="fraction of the rows held out to report validation scores, drawn "
                   "at random with --seed, in proportion per class when classifying (0.1; "
                   "0 for none)")
    p.add_argument("--no-standardize", action="store_true", help="use the features as they are")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                   help=DTYPE_HELP)
    p.add_argument("--backend", choices=["auto", "cython", "numpy"], default=None,
                   help=BACKEND_HELP)
    p.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling (0)")
    p.add_argument("-o", "--output", default="model.npz", help="model file (model.npz)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="one line per epoch (default: a progress bar when stderr is a "
                   "terminal, else quiet)")
    p.set_defaults(func=train_command)

    p = sub.add_parser(
        "predict", help="apply a saved model to a .csv, .parquet or .npz file",
        description="Predict with a model file written by 'nncore train' (or model.save): "
        "class labels or values, one per row, as CSV with a header.")
    p.add_argument("model", help="model file (.npz)")
    p.add_argument("data", help=".csv or .parquet with the training feature columns, or .npz "
                   "with X")
    p.add_argument("--proba", action="store_true",
                   help="class probabilities, one column per class (classifiers)")
    p.add_argument("-o", "--output", default=None, help="write to this file (default stdout)")
    p.add_argument("--backend", choices=["auto", "cython", "numpy"], default=None,
                   help=BACKEND_HELP)
    p.set_defaults(func=predict_command)


def train_command(args: argparse.Namespace) -> int:
    """Handle ``nncore train``."""
    target = args.target
    suffix = Path(args.data).suffix.lower()
    if target is None and suffix in NAMED_COLUMNS:
        raise UsageError(f"--target COLUMN is required for a {suffix} file")
    check_writable(args.output, "-o/--output")  # before training, which may take long
    notes: list[str] = []
    X, y, names = read_table(args.data, target=target or "y", notes=notes)
    for note in notes:
        print(note)
    if y is None:
        raise UsageError(f"{args.data} has no target: name the array with --target")
    task = infer_task(y) if args.task == "auto" else args.task
    classes = None
    if task == "classify":
        classes, y = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise CLIError(f"the target {target or 'y'!r} has a single class, "
                           f"{classes[0].item()!r}: there is nothing to tell apart")
        loss: nncore.Loss = (nncore.BinaryCrossEntropy() if len(classes) == 2
                             else nncore.SoftmaxCrossEntropy())
        n_out = 1 if len(classes) == 2 else len(classes)
    else:
        if y.dtype.kind not in "fiu":
            raise UsageError("--task regress needs a numeric target")
        loss, n_out = nncore.MSE(), 1
    train, val = (np.arange(len(X)), None) if args.validation_split == 0 else holdout(
        y, args.validation_split, args.seed, stratify=task == "classify")
    scaling = None if args.no_standardize else fit_standardisation(X[train])
    target_scaling = None if task == "classify" else fit_standardisation(
        np.asarray(y[train], np.float64).reshape(-1, 1))
    hidden: list[int] = args.hidden
    model = nncore.Sequential(
        [nncore.Dense(h, args.activation) for h in hidden] + [nncore.Dense(n_out)],
        dtype=args.dtype, backend=args.backend, seed=args.seed)
    # Part of the model, so the file predicts alike from Python and from 'nncore predict';
    # fit applies it to X, the validation rows and (regression) the targets.
    scaled, y_scaled = scaling or {}, target_scaling or {}
    model.preprocessing = Preprocessing(
        mean=scaled.get("mean"), scale=scaled.get("scale"), target_mean=y_scaled.get("mean"),
        target_scale=y_scaled.get("scale"), classes=classes)
    Z = X
    optimizer = {"sgd": nncore.SGD, "adam": nncore.Adam, "adamw": nncore.AdamW}[
        args.optimizer](lr=args.lr)
    history = model.fit(Z[train], y[train], epochs=args.epochs, batch_size=args.batch_size,
                        optimizer=optimizer, loss=loss, seed=args.seed,
                        validation_data=None if val is None else (Z[val], y[val]),
                        metrics=["accuracy"] if task == "classify" else None,
                        verbose=2 if args.verbose else "auto")
    metadata = {"features": names, "target": target or "y", "task": task,
                "standardize": scaling}
    path = io.save(model, args.output, classes=classes, metadata=metadata)
    logs = {k: v[-1] for k, v in history.history.items()}
    scores = "  ".join(f"{k} {v:.4f}" for k, v in logs.items())
    held = "none held out" if val is None else f"{len(val)} held out"
    print(f"trained {model.n_features} -> {' -> '.join(map(str, [*hidden, n_out]))} "
          f"({task}, {len(train)} training rows, {held}, {args.epochs} epochs, "
          f"backend {model.ops.name}): {scores}")
    print(f"saved to {path}")
    return 0


def predict_command(args: argparse.Namespace) -> int:
    """Handle ``nncore predict``."""
    model_path = Path(args.model)
    if model_path.suffix.lower() != ".npz" and model_path.is_file():
        raise UsageError(f"the first argument, {args.model}, is not a model file (.npz from "
                         f"'nncore train'): nncore predict MODEL.npz DATA")
    if not (model_path.is_file() or model_path.with_name(model_path.name + ".npz").is_file()):
        raise UsageError(f"{args.model}: no such model file")
    if args.output:
        check_writable(args.output, "-o/--output")
    model = io.load(args.model, backend=args.backend)
    meta: dict[str, Any] = getattr(model, "metadata_", None) or {}
    named = Path(args.data).suffix.lower() in NAMED_COLUMNS
    features = meta.get("features") if named else None
    notes: list[str] = []
    X, _, _ = read_table(args.data, target=None, features=features, notes=notes)
    for note in notes:  # stdout may be the predictions
        print(note, file=sys.stderr)
    legacy = model.preprocessing is None  # a file of nncore <= 0.1: scaling in metadata
    if legacy:
        X = apply_standardisation(X, meta.get("standardize"))
    classes = getattr(model, "classes_", None)
    is_classifier = model.loss is not None and model.loss.is_classifier
    if args.proba:
        if not is_classifier:
            raise UsageError(f"--proba needs a classifier; {args.model} predicts values "
                             f"(task {meta.get('task', 'regress')})")
        out = model.predict_proba(X)
        names = [str(c) for c in classes] if classes is not None else [
            f"p{j}" for j in range(out.shape[1])]
        rows = [[f"{v:.6g}" for v in row] for row in out]
    else:
        pred = model.predict(X)
        if legacy and classes is not None and is_classifier:
            pred = classes[pred]
        pred = np.asarray(pred)
        names = [meta.get("target", "prediction")] if pred.ndim == 1 else [
            f"y{j}" for j in range(pred.shape[1])]
        rows = [[_cell(v)] for v in pred] if pred.ndim == 1 else [
            [_cell(v) for v in row] for row in pred]
    text = "\n".join([",".join(names), *(",".join(r) for r in rows)]) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (float, np.floating)) else str(value)
