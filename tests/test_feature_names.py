"""Column names: a model fitted on a table (pandas DataFrame) records
``feature_names_in_``, keeps them through save/load, pickle and clone, and matches a
table's columns by name at ``predict``/``evaluate``/``fit`` (reordered, or a clear error
naming what is missing or unknown). Plain arrays are taken column by column as before.

pandas comes with the ``tables`` extra, which the README's test command installs.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import nncore

COLUMNS = ["age", "income", "height", "score"]


@pytest.fixture
def table(rng):
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] + 2 * X[:, 1] - X[:, 3] > 0).astype(int)
    return pd.DataFrame(X, columns=COLUMNS), y


def _fitted(table, backend="numpy"):
    df, y = table
    model = nncore.Sequential([nncore.Dense(8, "relu"), nncore.Dense(2)], backend=backend,
                              loss="softmax_cross_entropy", seed=0)
    model.fit(df, y, epochs=3, verbose=0)
    return model


def test_names_are_recorded_and_columns_matched_by_name(table, ops):
    df, y = table
    model = _fitted(table, ops.name)
    assert list(model.feature_names_in_) == COLUMNS
    expected = model.predict_proba(df)
    shuffled = df[["score", "age", "height", "income"]]
    np.testing.assert_array_equal(model.predict_proba(shuffled), expected)
    np.testing.assert_array_equal(model.predict(shuffled), model.predict(df))
    assert model.evaluate(shuffled, y) == model.evaluate(df, y)
    np.testing.assert_array_equal(model.predict_proba(df.to_numpy()), expected)  # arrays
    np.testing.assert_allclose(model.predict_proba(shuffled.iloc[:1]), expected[:1], rtol=1e-6)


def test_wrong_columns_raise_naming_them(table):
    df, _ = table
    model = _fitted(table)
    with pytest.raises(ValueError, match=r"missing: \['score'\]"):
        model.predict(df.drop(columns="score"))
    with pytest.raises(ValueError, match=r"not in the model: \['weight'\]"):
        model.predict(df.assign(weight=1.0))
    renamed = df.rename(columns={"age": "AGE"})
    with pytest.raises(ValueError, match=r"missing: \['age'\]; not in the model: \['AGE'\]"):
        model.predict(renamed)
    with pytest.raises(TypeError, match="must hold numbers"):
        model.predict(df.assign(age=["x"] * len(df)))


def test_training_on_with_reordered_columns(table):
    df, y = table
    a, b = _fitted(table), _fitted(table)
    a.fit(df, y, epochs=2, verbose=0, seed=1)
    b.fit(df[COLUMNS[::-1]], y, epochs=2, verbose=0, seed=1)
    for (W1, b1), (W2, b2) in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)


def test_names_survive_save_load_pickle_clone(table, tmp_path):
    df, _ = table
    model = _fitted(table)
    path = model.save(tmp_path / "m.npz")
    from nncore._model_file import FEATURE_NAMES_FORMAT_VERSION, read

    desc, _ = read(path)
    assert desc["format_version"] == FEATURE_NAMES_FORMAT_VERSION
    assert desc["feature_names"] == COLUMNS
    shuffled = df[COLUMNS[::-1]]
    for twin in (nncore.load(path), pickle.loads(pickle.dumps(model)), model.clone()):
        assert list(twin.feature_names_in_) == COLUMNS
        np.testing.assert_allclose(twin.predict_proba(shuffled), model.predict_proba(df),
                                   rtol=1e-6)


def test_arrays_and_unnamed_tables_record_no_names(rng):
    X = rng.standard_normal((20, 3))
    y = (X[:, 0] > 0).astype(int)
    for data in (X, pd.DataFrame(X), pd.DataFrame(X, columns=[0, "b", "c"])):
        model = nncore.Sequential([nncore.Dense(2)], loss="softmax_cross_entropy", seed=0)
        model.fit(data, y, epochs=1, verbose=0)
        assert model.feature_names_in_ is None
        model.predict(pd.DataFrame(X, columns=["x", "y", "z"]))  # positional: no names
