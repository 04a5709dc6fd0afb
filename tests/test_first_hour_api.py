"""Issue 15, "The first hour": what a new user runs into, said plainly.

Each test pins one message or one accepted spelling: the exception type, the key words
of the message, and that valid calls keep working as before.
"""

from __future__ import annotations

import inspect
import io
import os
import re
import warnings

import numpy as np
import pytest

import nncore
from nncore import progress

# ---------------------------------------------------------------- helpers


def _model(n_out: int = 2, **kw) -> nncore.Sequential:
    return nncore.Sequential([nncore.Dense(8, "relu"), nncore.Dense(n_out)], backend="numpy",
                             seed=0, loss="softmax_cross_entropy", **kw)


@pytest.fixture
def moons():
    return nncore.make_moons(200, noise=0.2, seed=1)


def _fit(X, y, **kw):
    return _model().fit(X, y, verbose=0, **{"epochs": 2, **kw})


# ---------------------------------------------------------------- 1. NaN versus overflow


def test_nan_in_float64_input_is_not_blamed_on_the_conversion(moons):
    X, y = moons
    X = X.copy()
    X[102, 0] = np.nan
    with pytest.raises(ValueError, match=r"X\[102, 0\] is nan") as info:
        _fit(X, y)
    assert "conversion" not in str(info.value)


def test_overflow_in_the_conversion_says_so(moons):
    X, y = moons
    X = X.copy()
    X[7, 1] = 1e300  # finite in float64, infinite in float32
    with pytest.raises(ValueError, match=r"X\[7, 1\] is inf \(after conversion to float32: "
                                         r"out of its range\)"):
        _fit(X, y)


def test_nan_in_float64_regression_targets_has_no_conversion_hint():
    X = np.ones((4, 2))
    y = np.array([0.0, 1.0, np.nan, 2.0])
    model = nncore.Sequential([nncore.Dense(1)], backend="numpy", loss="mse")
    with pytest.raises(ValueError, match=r"y\[2, 0\] is nan$"):
        model.fit(X, y, epochs=1, verbose=0)


# ---------------------------------------------------------------- 2. one row


def test_one_row_of_the_models_width_suggests_reshape_1_minus_1(moons):
    rng = np.random.default_rng(0)
    X4 = rng.normal(size=(50, 4))
    model = _model()
    model.fit(X4, moons[1][:50], epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"shape \(4,\).*X\.reshape\(1, -1\) for a single "
                                         r"sample") as info:
        model.predict(X4[0])
    assert "reshape(-1, 1)" not in str(info.value)
    with pytest.raises(ValueError, match="the model takes rows of 4 features"):
        model.predict(X4[0, :3])
    assert model.predict(X4[0].reshape(1, -1)).shape == (1,)


def test_one_feature_still_suggests_reshape_minus_1_1():
    x = np.linspace(0, 1, 20)
    with pytest.raises(ValueError, match=r"X\.reshape\(-1, 1\) for a single feature"):
        nncore.Sequential([nncore.Dense(1)], loss="mse").fit(x, x, epochs=1, verbose=0)
    model = nncore.Sequential([nncore.Dense(1)], loss="mse")
    model.fit(x.reshape(-1, 1), x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"X\.reshape\(-1, 1\) for a single feature"):
        model.predict(x)


# ---------------------------------------------------------------- 3. one value for a list


def test_metrics_accepts_one_name(moons):
    X, y = moons
    one = _fit(X, y, metrics="accuracy").history
    listed = _fit(X, y, metrics=["accuracy"]).history
    assert one == listed and len(one["accuracy"]) == 2
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        _fit(X, y, metrics="f1")


def test_callbacks_accepts_one_function_or_one_callback(moons):
    X, y = moons
    seen: list[int] = []
    _fit(X, y, callbacks=lambda epoch, logs: seen.append(epoch))
    assert seen == [0, 1]
    stopper = nncore.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = _fit(X, y, epochs=5, callbacks=stopper)
    assert len(history.epoch) == 2 and stopper.stopped_epoch == 1
    with pytest.raises(TypeError, match="'callbacks' must be a Callback, a function"):
        _fit(X, y, callbacks=3)
    with pytest.raises(TypeError, match=r"the class EarlyStopping: pass an object, e\.g\. "
                                        r"EarlyStopping\(\)"):
        _fit(X, y, callbacks=nncore.EarlyStopping)


def test_sequential_of_one_layer_says_how_to_write_it():
    with pytest.raises(TypeError, match=r"'layers' must be a list of Dense layers, e\.g\. "
                                        r"Sequential\(\[Dense\(3"):
        nncore.Sequential(nncore.Dense(3))
    with pytest.raises(TypeError, match=r"non-empty list of Dense layers.*an empty one"):
        nncore.Sequential([])
    with pytest.raises(TypeError, match=r"layers\[1\] is 'relu'"):
        nncore.Sequential([nncore.Dense(3), "relu"])
    layer = nncore.Dense(3)
    with pytest.raises(ValueError, match="same Dense object twice"):
        nncore.Sequential([layer, layer])
    assert len(nncore.Sequential((nncore.Dense(3), nncore.Dense(1))).layers) == 2


# ---------------------------------------------------------------- 4. plain values, columns


def test_messages_show_plain_values_not_numpy_reprs(moons):
    from nncore.sklearn import MLPClassifier

    X, _ = moons
    for labels, shown in ((np.array(["benign"] * len(X)), "'benign'"),
                          (np.zeros(len(X)), "0.0")):
        with pytest.raises(ValueError, match="only one class") as info:
            MLPClassifier(max_iter=2).fit(X, labels)
        assert str(info.value).endswith(f"only one class: {shown}")
        assert "np." not in str(info.value)
    with pytest.raises(TypeError, match=r"'epochs' must be an integer, got 3\.0$"):
        _fit(*moons, epochs=np.float64(3.0))
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        _fit(*moons, metrics=[np.str_("f1")])


class _FakeFrame:
    """The parts of a pandas DataFrame that the conversion reads, for when pandas is
    absent: ``np.asarray`` of mixed columns gives an object array, as pandas does."""

    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self._data = columns

    @property
    def columns(self) -> list[str]:
        return list(self._data)

    @property
    def dtypes(self) -> list[np.dtype]:
        return [col.dtype for col in self._data.values()]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if all(dt.kind in "iuf" for dt in self.dtypes):
            return np.column_stack(list(self._data.values()))
        out = np.empty((len(next(iter(self._data.values()))), len(self._data)), object)
        for j, col in enumerate(self._data.values()):
            out[:, j] = col
        return out


def _frame(columns: dict[str, np.ndarray]):
    try:
        import pandas as pd
    except ImportError:
        return _FakeFrame(columns)
    return pd.DataFrame(columns)


def test_table_of_mixed_columns_names_the_columns(moons):
    X, y = moons
    n = len(X)
    frame = _frame({"x0": X[:, 0], "flag": X[:, 1] > 0,
                    "note": np.array(["a"] * n, dtype=object)})
    with pytest.raises(TypeError, match="got dtype object") as info:
        _fit(frame, y)
    message = str(info.value)
    assert "columns 'flag' (bool), 'note' (" in message  # object, or str in pandas 3
    assert "'x0'" not in message and "to numbers" in message
    frame = _frame({"x0": X[:, 0], "x1": X[:, 1]})  # numbers only: converted as before
    assert len(_fit(frame, y).epoch) == 2
    with pytest.raises(TypeError, match=r"got dtype <U1$"):
        _fit(np.array([["a", "b"]] * n), y)  # a plain array has no columns to name


# ---------------------------------------------------------------- 5. schedules


def test_schedule_function_of_the_epoch_alone_is_accepted(moons):
    X, y = moons
    keras = nncore.LearningRateSchedule(lambda epoch: 0.1 / (1 + epoch))
    ours = nncore.LearningRateSchedule(lambda epoch, base_lr: base_lr / (1 + epoch))
    opt = nncore.SGD(lr=0.1)
    a = _fit(X, y, epochs=3, optimizer=opt, callbacks=[keras]).history["lr"]
    b = _fit(X, y, epochs=3, optimizer=nncore.SGD(lr=0.1), callbacks=[ours]).history["lr"]
    np.testing.assert_allclose(a, [0.1, 0.05, 0.1 / 3])
    np.testing.assert_allclose(a, b)
    assert opt.lr == 0.1
    with pytest.raises(TypeError, match=r"\(epoch, base_lr\) or \(epoch\)"):
        nncore.LearningRateSchedule(lambda a, b, c: 0.1)
    with pytest.raises(TypeError, match="'fn' must be a function"):
        nncore.LearningRateSchedule(0.1)  # type: ignore[arg-type]


def test_schedule_shorter_than_the_fit_warns_once(moons):
    X, y = moons
    with pytest.warns(UserWarning, match="CosineDecay lasts 3 epochs but fit runs 5") as rec:
        history = _fit(X, y, epochs=5, callbacks=[nncore.CosineDecay(3)])
    assert len(rec) == 1 and rec[0].filename == __file__  # points at the fit call
    assert history.history["lr"][3:] == [0.0, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit(X, y, epochs=5, callbacks=[nncore.CosineDecay(5)])
        _fit(X, y, epochs=5, callbacks=[nncore.StepDecay(2)])  # no end: nothing to say


def test_two_schedules_are_refused_by_name(moons):
    X, y = moons
    with pytest.raises(ValueError, match="2 learning-rate schedules, CosineDecay and "
                                         "StepDecay"):
        _fit(X, y, callbacks=[nncore.CosineDecay(2), nncore.StepDecay()])
    with pytest.raises(ValueError, match="SklearnSchedule and ExponentialDecay"):
        _fit(X, y, callbacks=[nncore.SklearnSchedule("invscaling"), nncore.ExponentialDecay()])
    # One schedule beside the plateau stop (not a schedule) is the scikit-learn setup.
    schedule = nncore.SklearnSchedule("adaptive")
    stop = nncore.NoImprovementStopping(patience=1, on_plateau=schedule.reduce)
    assert len(_fit(X, y, callbacks=[schedule, stop]).epoch) == 2


# ---------------------------------------------------------------- 6. early stopping


def test_early_stopping_without_validation_data_says_it_watches_the_training_loss(moons):
    X, y = moons
    with pytest.warns(UserWarning, match="monitors 'val_loss' but fit has no validation "
                                         "data: it watches the training 'loss'") as rec:
        _fit(X, y, epochs=3, callbacks=[nncore.EarlyStopping()])
    assert len(rec) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit(X, y, callbacks=[nncore.EarlyStopping()], validation_split=0.2)
        _fit(X, y, callbacks=[nncore.EarlyStopping()], validation_data=(X[:20], y[:20]))
        _fit(X, y, callbacks=[nncore.EarlyStopping(monitor="loss")])


# ---------------------------------------------------------------- 7. the progress bar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


_LOGS = {"loss": 0.123456, "accuracy": 0.9, "val_loss": 0.234567, "val_accuracy": 0.85,
         "lr": 0.001}


def _bar_lines(stream: io.StringIO, epochs: int = 3, **kw) -> list[str]:
    bar = nncore.ProgressBar(epochs=epochs, n_samples=1000, stream=stream, **kw)
    bar.on_train_begin(None)
    for epoch in range(epochs):
        bar.on_epoch_end(epoch, dict(_LOGS))
    bar.on_train_end(None)
    return [line for line in re.split("[\r\n]", stream.getvalue()) if line]


@pytest.mark.parametrize("columns", [80, 60, 40])
def test_progress_bar_fits_the_terminal_dropping_the_least_important(monkeypatch, columns):
    monkeypatch.setattr(progress.shutil, "get_terminal_size",
                        lambda *a, **k: os.terminal_size((columns, 24)))
    lines = _bar_lines(_Tty())
    assert all(len(line) < columns for line in lines), [len(line) for line in lines]
    epoch_lines = [line for line in lines if "epoch 3/3" in line]
    assert epoch_lines and all("loss 0.1235" in line and "val_loss 0.2346" in line
                               for line in epoch_lines)
    assert "s/epoch" not in lines[-1]  # the first to go
    if columns == 40:
        assert "ETA" not in epoch_lines[0] and "[" not in epoch_lines[0]
    wide = _bar_lines(_Tty(), columns=300)
    assert all(word in wide[-2] for word in ("[", "ETA", "s/epoch", "samples/s", "lr 0.001"))


def test_progress_lines_fit_a_terminal_and_stay_whole_in_a_file(monkeypatch):
    monkeypatch.setattr(progress.shutil, "get_terminal_size",
                        lambda *a, **k: os.terminal_size((50, 24)))
    in_terminal = _bar_lines(_Tty(), redraw=False)
    assert len(in_terminal) == 3 and all(len(line) < 50 for line in in_terminal)
    in_file = _bar_lines(io.StringIO())  # not a terminal: every field, however long
    assert len(in_file) == 3 and all("s/epoch" in line and len(line) > 80 for line in in_file)
    tiny = _bar_lines(_Tty(), columns=8)
    assert all(len(line) <= 7 for line in tiny)


# ---------------------------------------------------------------- 8, 9. summary, help


def test_summary_prints_once_and_returns_nothing(capsys):
    model = _model()
    assert model.summary() is None
    out = capsys.readouterr().out
    assert out.count("total parameters") == 1 and "dense_1" in out
    got: list[str] = []
    assert model.summary(print_fn=got.append) is None
    assert capsys.readouterr().out == "" and len(got) == 1 and "dense_0" in got[0]


@pytest.mark.parametrize("method", ["fit", "__init__"])
def test_docstrings_document_every_parameter(method):
    fn = getattr(nncore.Sequential, method)
    doc = inspect.getdoc(fn if method == "fit" else nncore.Sequential) or ""
    section = doc.split("Parameters\n----------\n", 1)[1].split("\n\n", 1)[0]
    # "name : type" lines, or "a, b : type".
    documented = {name.strip() for line in section.splitlines()
                  if not line.startswith(" ") and " : " in line
                  for name in line.split(" : ")[0].split(",")}
    params = set(inspect.signature(fn).parameters) - {"self"}
    assert params <= documented, params - documented
    assert len(inspect.getdoc(nncore.Sequential(  # help(model.fit) shows all of it
        [nncore.Dense(1)]).fit) or "") == len(inspect.getdoc(nncore.Sequential.fit) or "")
