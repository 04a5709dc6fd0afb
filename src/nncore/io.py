"""Save a ``Sequential`` to one ``.npz`` file; load it back without running any code.

The file is an uncompressed NumPy ``.npz`` archive with the arrays ``__nncore__.json``
(uint8: the UTF-8 JSON description) and ``layer{i}.W`` ``(n_in, units)``, ``layer{i}.b``
``(units,)`` in the model's dtype. JSON fields: ``format`` (``"nncore.Sequential"``),
``format_version`` (int), ``nncore_version``, ``dtype``, ``n_features``, ``backend`` (that
saved; informative only), ``seed``, ``layers`` (``[{"units", "activation",
"negative_slope"}]``), ``loss`` (null or ``{"name", "link"}``), ``classes`` (null or a list
of strings, numbers or booleans), ``metadata`` (null or an object). By default the
optimizer and the random generator are not saved: a loaded model predicts identically.

``save(..., include_optimizer=True)`` writes a checkpoint (``format_version`` 2) from which
training continues exactly as it would have in place: two more fields, ``optimizer``
(``{"name", "config", "step"}``: a built-in optimizer's name, its constructor arguments
and its step count, or ``step`` null when its state is fresh) and ``rng`` (the shuffling
generator's ``PCG64`` state, numbers as in ``bit_generator.state``), and one array
``optimizer.<buffer>`` of shape ``(n_params,)`` in the model's dtype per state buffer
(``SGD``: ``v``; ``Adam``/``AdamW``: ``m``, ``v``; none when ``step`` is null). Files
without these fields (version 1) load as before.

A model with ``model.preprocessing`` (``nncore train`` sets it: feature standardisation,
target standardisation for regression, class labels; see ``nncore._preprocess``) is
written as ``format_version`` 3, which nncore before it refuses with "upgrade": version 1
(or 2, with ``include_optimizer``) plus the field ``preprocessing`` (``{"features",
"target", "labels"}``, booleans, at least one true; ``labels`` needs ``classes`` and a
classification loss, ``target`` a regression loss) and the float64 arrays
``preprocessing.mean``, ``preprocessing.scale`` ``(n_features,)`` (with ``features``) and
``preprocessing.target_mean``, ``preprocessing.target_scale`` ``(n_outputs,)`` (with
``target``), finite, scales positive. A model without it is written as before, byte for
byte.

A model with a loss added after version 3 (``"poisson"``, whose ``link`` is ``"exp"``) is
written as ``format_version`` 4, for the same reason: version 1 plus the checkpoint's
fields and ``preprocessing`` where they apply (a Poisson model takes no target scaling).
Version 4 holds only such losses, and they only version 4 (or 5).

A model that knows its features' names (fitted on a table with string column names:
``model.feature_names_in_``) is written as ``format_version`` 5: version 1 plus the field
``feature_names`` (``n_features`` distinct strings) and the checkpoint's fields and
``preprocessing`` where they apply, any loss. ``load`` gives the model its names back,
and ``predict`` then matches a table's columns by name.

A model with dropout (a layer whose ``dropout`` is not 0) is written as
``format_version`` 6: every layer object has the field ``dropout`` (its rate, in [0, 1),
0 on the last and on softmax layers), the field ``dropout`` holds the mask generator's
``{"seed", "step"}`` (``Sequential.dropout_seed``, an integer in [0, 2**64), and
``dropout_step``), and the fields of versions 2-5 appear where they apply. A model
without dropout is written as before, byte for byte.

``save`` and ``load`` both append ``.npz`` to a path without it (as ``numpy.savez`` does).
``save`` writes a temporary file beside the target, fsyncs it and renames it over the
target, so the file is the old one or the complete new one. ``load`` reads with
``allow_pickle=False`` and checks every field, array name, shape and dtype (each ``.npy``
header before its data); any problem raises ``ModelFileError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nncore import _model_convert

# The format's constants and error live in _model_file (which model.py can import without
# a cycle); they stay part of nncore.io's API.
from nncore._model_file import (
    CHECKPOINT_FORMAT_VERSION,
    FORMAT_VERSION,
    ModelFileError,
    PathArg,
    npz_path,
    read,
)
from nncore._model_file import FORMAT_NAME as FORMAT_NAME
from nncore._model_file import JSON_KEY as JSON_KEY
from nncore._model_file import MAX_JSON_BYTES as MAX_JSON_BYTES
from nncore.layers import Dense
from nncore.model import Sequential

__all__ = ["CHECKPOINT_FORMAT_VERSION", "FORMAT_VERSION", "ModelFileError", "load", "save"]


def save(model: Sequential, path: PathArg, *, classes: Any = None,
         metadata: dict[str, Any] | None = None, include_optimizer: bool = False) -> Path:
    """Write ``model`` (built) to one ``.npz`` file, atomically.

    Parameters
    ----------
    model : Sequential
        A built model (it has seen data, or ``build`` was called).
    path : str or os.PathLike
        Target file (``.npz`` appended when missing); replaced only once the new one is
        completely written.
    classes : array-like, optional
        Class labels (e.g. scikit-learn's ``classes_``): strings, numbers or booleans, all
        of one kind; ``load`` sets ``model.classes_`` to them as a NumPy array.
    metadata : dict, optional
        A JSON object (NumPy scalars and arrays become numbers and lists); ``load`` sets
        ``model.metadata_`` to it.
    include_optimizer : bool
        Also write the optimizer (hyper-parameters, moments or velocity, step count) and
        the state of the shuffling generator: a checkpoint (format version 2, which
        nncore 0.1.0 does not read) from which ``load`` then ``fit`` continues training
        bit for bit as the saved model would have. Default: the weights only.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    RuntimeError
        The model has no weights yet.
    TypeError, ValueError
        A custom loss; labels or metadata that JSON cannot hold; with
        ``include_optimizer``, no optimizer yet (the model was never fitted) or a custom
        one.
    OSError
        Writing failed; the temporary file is removed, the previous file left intact.
    """
    target = npz_path(path)
    if not isinstance(model, Sequential):
        raise TypeError(f"argument 'model' must be a Sequential, got {type(model).__name__}")
    return _model_convert.save_model(model, target, classes=classes, metadata=metadata,
                                     include_optimizer=include_optimizer)


def load(path: PathArg, backend: str | None = None) -> Sequential:
    """Load a model written by ``save``; nothing in the file is executed.

    Parameters
    ----------
    path : str or os.PathLike
        The file; ``.npz`` is appended when missing.
    backend : {"auto", "cython", "numpy"}, optional
        Backend of the loaded model; None reads ``NNCORE_BACKEND`` (the backend that
        saved the file does not matter).

    Returns
    -------
    Sequential
        Built, with the saved weights, dtype and loss; ``model.classes_`` (NumPy array)
        and ``model.metadata_`` (dict) are set when saved (pickling does not keep them).
        From a checkpoint (``include_optimizer=True``) also ``model.optimizer`` with its
        state and the shuffling generator's state, so ``fit`` continues exactly.

    Raises
    ------
    ModelFileError
        (a ``ValueError``) naming the file and the problem: not an ``.npz`` archive,
        truncated or damaged, object (pickled) arrays, a missing or newer format version,
        an invalid description, missing or extra arrays, wrong shapes or dtypes.
    FileNotFoundError
        No such file.
    """
    desc, arrays = read(npz_path(path))
    model = Sequential([Dense(**cfg) for cfg in desc["layers"]], dtype=desc["dtype"],
                       backend=backend, seed=desc["seed"],
                       loss=None if desc["loss"] is None else desc["loss"]["name"])
    _model_convert.restore(model, desc, arrays)
    return model
