"""fit's features: validation, metrics, early stopping, schedules, progress, summary."""

from __future__ import annotations

import contextlib
import io
import math
import sys

import numpy as np
import pytest

import nncore


@pytest.fixture
def moons():
    return nncore.make_moons(400, noise=0.2, seed=3)


def _model(backend: str, seed: int = 0) -> nncore.Sequential:
    return nncore.Sequential([nncore.Dense(16, "relu"), nncore.Dense(2)], backend=backend,
                             seed=seed)


def test_validation_data_and_metrics_are_recorded(ops, moons):
    X, y = moons
    history = _model(ops.name).fit(X[:300], y[:300], epochs=4, loss="softmax_cross_entropy",
                                   optimizer=nncore.Adam(lr=0.01),
                                   validation_data=(X[300:], y[300:]),
                                   metrics=["accuracy"], verbose=0)
    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 4 for v in h.values())
    assert all(0 <= a <= 1 for a in h["accuracy"] + h["val_accuracy"])
    assert h["val_loss"][-1] < h["val_loss"][0]


def test_validation_matches_evaluate(ops, moons):
    X, y = moons
    model = _model(ops.name)
    history = model.fit(X[:300], y[:300], epochs=2, loss="softmax_cross_entropy",
                        validation_data=(X[300:], y[300:]), metrics=["accuracy"], verbose=0)
    final = model.evaluate(X[300:], y[300:])
    assert history.history["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-6)
    assert history.history["val_accuracy"][-1] == final["accuracy"]


def test_validation_split_holds_out_the_last_samples(ops, moons):
    X, y = moons
    seen = []
    model = _model(ops.name)
    model.fit(X, y, epochs=1, batch_size="full", loss="softmax_cross_entropy",
              validation_split=0.25, verbose=0,
              callbacks=[lambda e, logs: seen.append(dict(logs))])
    assert "val_loss" in seen[0]
    assert seen[0]["val_loss"] == pytest.approx(model.evaluate(X[300:], y[300:])["loss"],
                                                rel=1e-6)
    with pytest.raises(ValueError, match="'validation_split'"):
        model.fit(X, y, validation_split=1.0)
    with pytest.raises(ValueError, match="'validation_split'"):
        model.fit(X[:2], y[:2], validation_split=0.1)
    with pytest.raises(TypeError, match="'validation_data'"):
        model.fit(X, y, validation_data=X)
    with pytest.raises(ValueError, match="'metrics'"):
        model.fit(X, y, metrics=["f1"])


def test_early_stopping_stops_and_restores_the_best_weights(ops, moons):
    X, y = moons
    model = _model(ops.name)
    stopper = nncore.EarlyStopping(monitor="val_loss", patience=2)
    # A learning rate far too high makes the validation loss bounce: it must stop early.
    snapshots = []
    history = model.fit(X[:300], y[:300], epochs=200, batch_size=8,
                        optimizer=nncore.SGD(lr=2.0), loss="softmax_cross_entropy",
                        validation_data=(X[300:], y[300:]), verbose=0,
                        callbacks=[stopper,
                                   lambda e, logs: snapshots.append(model.params.w.copy())])
    assert stopper.stopped_epoch is not None and len(history.epoch) < 200
    assert len(history.epoch) == stopper.stopped_epoch + 1
    best = int(np.nanargmin(history.history["val_loss"]))
    assert stopper.best_epoch == best
    np.testing.assert_array_equal(model.params.w, snapshots[best])
    assert model.evaluate(X[300:], y[300:])["loss"] == pytest.approx(
        history.history["val_loss"][best], rel=1e-5)


def test_early_stopping_on_training_loss_without_validation(ops, moons):
    X, y = moons
    stopper = nncore.EarlyStopping(patience=0, min_delta=10.0)  # nothing improves by 10
    with pytest.warns(UserWarning, match="watches the training 'loss'"):
        history = _model(ops.name).fit(X, y, epochs=20, loss="softmax_cross_entropy",
                                       callbacks=[stopper], verbose=0)
    assert len(history.epoch) == 2 and stopper.best_epoch == 0
    with pytest.raises(KeyError, match="monitor"), pytest.warns(UserWarning, match="val_f1"):
        _model(ops.name).fit(X, y, loss="softmax_cross_entropy", verbose=0,
                             callbacks=[nncore.EarlyStopping(monitor="val_f1")])


@pytest.mark.parametrize("schedule,expected", [
    (nncore.StepDecay(step_size=2, gamma=0.5), [0.1, 0.1, 0.05, 0.05, 0.025]),
    (nncore.ExponentialDecay(gamma=0.9), [0.1 * 0.9**e for e in range(5)]),
    (nncore.CosineDecay(epochs=4, min_lr=0.01),
     [0.01 + 0.09 * (1 + math.cos(math.pi * min(e, 4) / 4)) / 2 for e in range(5)]),
    (nncore.LearningRateSchedule(lambda e, lr: lr / (1 + e)), [0.1 / (1 + e) for e in range(5)]),
], ids=["step", "exponential", "cosine", "function"])
def test_learning_rate_schedules(ops, moons, schedule, expected):
    X, y = moons
    opt = nncore.SGD(lr=0.1)
    # CosineDecay(epochs=4) in a 5-epoch fit: the warning says the last epoch stays at
    # min_lr, which this test means to check
    short = isinstance(schedule, nncore.CosineDecay)
    with (pytest.warns(UserWarning, match="lasts 4 epochs but fit runs 5") if short
          else contextlib.nullcontext()):
        history = _model(ops.name).fit(X, y, epochs=5, optimizer=opt, verbose=0,
                                       loss="softmax_cross_entropy", callbacks=[schedule])
    np.testing.assert_allclose(history.history["lr"], expected, rtol=1e-12)
    assert opt.lr == 0.1  # restored for the next fit


def test_schedule_changes_what_the_native_epoch_does(moons):
    # lr 0 from epoch 1 on: the weights must not move after the first epoch.
    X, y = moons
    model = _model("numpy")
    snaps = []
    model.fit(X, y, epochs=3, optimizer=nncore.SGD(lr=0.1), loss="softmax_cross_entropy",
              verbose=0, callbacks=[nncore.LearningRateSchedule(lambda e, lr: lr * (e == 0)),
                                    lambda e, logs: snaps.append(model.params.w.copy())])
    np.testing.assert_array_equal(snaps[1], snaps[0])
    np.testing.assert_array_equal(snaps[2], snaps[0])


def test_progress_bar_redraws_in_a_terminal_and_prints_lines_elsewhere(moons):
    X, y = moons

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, plain = Tty(), io.StringIO()
    for stream in (tty, plain):
        bar = nncore.ProgressBar(epochs=3, n_samples=len(X), stream=stream)
        _model("numpy").fit(X, y, epochs=3, loss="softmax_cross_entropy", verbose=0,
                            callbacks=[bar])
    assert tty.getvalue().count("\r") == 3 and "ETA" in tty.getvalue()
    assert tty.getvalue().endswith("\n") and "samples/s" in tty.getvalue()
    lines = plain.getvalue().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("epoch 3/3  loss ")
    assert "samples/s" in lines[0]


def test_verbose_auto_shows_the_bar_in_a_jupyter_kernel(moons, capsys, monkeypatch):
    """In a notebook stderr is no TTY, but an IPython kernel is running: the bar shows,
    redrawn with carriage returns (which Jupyter's output honours)."""
    import types

    from nncore.progress import in_notebook, resolve_verbose

    X, y = moons
    fake = types.ModuleType("IPython")
    shell = types.SimpleNamespace(kernel=object())
    fake.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert in_notebook() and resolve_verbose("auto", io.StringIO()) == 1
    _model("numpy").fit(X, y, epochs=2, loss="softmax_cross_entropy")
    err = capsys.readouterr().err
    assert err.count("\r") == 2 and "epoch 2/2" in err
    shell.kernel = None  # IPython in a terminal (no kernel): as before, silent
    assert not in_notebook() and resolve_verbose("auto", io.StringIO()) == 0
    fake.get_ipython = lambda: (_ for _ in ()).throw(RuntimeError("broken"))  # type: ignore[attr-defined]
    assert not in_notebook()


def test_verbose_auto_is_silent_when_not_a_terminal(moons, capsys):
    X, y = moons
    _model("numpy").fit(X, y, epochs=2, loss="softmax_cross_entropy")
    assert capsys.readouterr().err == ""
    _model("numpy").fit(X, y, epochs=2, loss="softmax_cross_entropy", verbose=2)
    assert len(capsys.readouterr().err.splitlines()) == 2
    with pytest.raises(ValueError, match="'verbose'"):
        _model("numpy").fit(X, y, loss="softmax_cross_entropy", verbose=3)


def test_summary_lists_layers_and_parameter_counts(capsys):
    model = nncore.Sequential([nncore.Dense(64, "relu"), nncore.Dense(10)])
    assert model.summary() is None  # printed only, as Keras: a REPL shows it once
    text = capsys.readouterr().out
    assert "not built" in text and "?" in text
    model.build(784)
    lines: list[str] = []
    assert model.summary(print_fn=lines.append) is None
    assert len(lines) == 1 and capsys.readouterr().out == ""
    text = lines[0]
    assert "50,240" in text and "650" in text and "total parameters: 50,890" in text
    assert "(n, 784)" in text and "relu" in text


def test_no_improvement_stopping_counts_as_scikit_learn(ops, moons):
    X, y = moons
    model = _model(ops.name)
    # A scripted value: only improvements by tol restart the count; smaller ones still
    # move the best value (and its weights).
    values = [0.5, 0.55, 0.58, 0.7, 0.69, 0.71, 0.70, 0.9]
    stop = nncore.NoImprovementStopping("score", mode="max", tol=0.1, patience=2,
                                        restore_best_weights=True)
    snaps, waits = [], []

    def script(epoch, logs):
        logs["score"] = values[epoch]

    def watch(epoch, logs):
        snaps.append(model.params.w.copy())
        waits.append(stop.wait)

    history = model.fit(X, y, epochs=8, optimizer=nncore.SGD(lr=0.1), verbose=0,
                        loss="softmax_cross_entropy", callbacks=[script, stop, watch])
    assert waits == [0, 1, 2, 0, 1, 2, 3] and stop.stopped_epoch == 6
    assert len(history.epoch) == 7 and stop.best == 0.71
    np.testing.assert_array_equal(model.params.w, snaps[5])  # the best epoch's weights
    # The state carries over: a new fit continues the count (0.5 is no improvement).
    model.fit(X, y, epochs=8, verbose=0, callbacks=[script, stop])
    assert stop.stopped_epoch == 0 and stop.wait == 4
    with pytest.raises(KeyError, match="monitor 'val_loss'"):
        model.fit(X, y, verbose=0, callbacks=[nncore.NoImprovementStopping("val_loss")])
    with pytest.raises(ValueError, match="'mode'"):
        nncore.NoImprovementStopping(mode="auto")
    with pytest.raises(ValueError, match="'patience'"):
        nncore.NoImprovementStopping(patience=-1)


def test_sklearn_schedule_invscaling_continues_across_fits(ops, moons):
    X, y = moons
    opt = nncore.SGD(lr=0.1)
    model = _model(ops.name)
    sched = nncore.SklearnSchedule("invscaling", samples_per_epoch=len(X), power_t=0.5)
    expected = [0.1 / (e * len(X) + 1) ** 0.5 for e in range(6)]
    history = model.fit(X, y, epochs=3, optimizer=opt, loss="softmax_cross_entropy",
                        verbose=0, callbacks=[sched])
    assert history.history["lr"] == expected[:3]
    assert sched.samples_seen == 3 * len(X) and opt.lr == sched.lr == expected[3]
    history = model.fit(X, y, epochs=2, verbose=0, callbacks=[sched])
    assert history.history["lr"] == expected[3:5] and opt.lr == expected[5]
    # The rate lives on the schedule's scale; the optimizer gets it divided by scale.
    nncore.SklearnSchedule("constant", lr=0.3, scale=2.0).on_train_begin(model)
    assert opt.lr == 0.15
    with pytest.raises(ValueError, match="'learning_rate'"):
        nncore.SklearnSchedule("step")


def test_sklearn_schedule_adaptive_divides_on_each_plateau(ops, moons, capsys):
    X, y = moons
    opt = nncore.SGD(lr=0.1)
    sched = nncore.SklearnSchedule("adaptive", min_lr=0.01)
    # tol=100: no epoch improves by that much, so every second epoch is a plateau.
    stop = nncore.NoImprovementStopping(tol=100.0, patience=1, on_plateau=sched.reduce,
                                        verbose=True)
    history = _model(ops.name).fit(X, y, epochs=50, optimizer=opt, verbose=0,
                                   loss="softmax_cross_entropy", callbacks=[sched, stop])
    # 0.1 -> 0.02 -> 0.004; 0.004 <= min_lr, so the third plateau stops training.
    assert history.history["lr"] == pytest.approx([0.1] * 3 + [0.02] * 2 + [0.004] * 2)
    assert stop.stopped_epoch == 6 and sched.lr == pytest.approx(0.004) and opt.lr == sched.lr
    msg = "loss did not improve more than tol=100.000000 for 1 consecutive epochs."
    assert capsys.readouterr().out.splitlines() == [
        f"{msg} Setting learning rate to 0.020000",
        f"{msg} Setting learning rate to 0.004000", f"{msg} Stopping."]


def test_partial_fit_over_blocks_is_one_epoch_over_all(moons, ops):
    """Blocks through partial_fit (Adam's moments and step count continuing) give, bit for
    bit, the epoch over the concatenated rows; weights go with their block."""
    X, y = moons
    w = np.linspace(0.5, 2.0, len(X))
    whole, parts = _model(ops.name), _model(ops.name)
    kwargs = dict(batch_size=20, loss="softmax_cross_entropy", shuffle=False)
    whole.fit(X, y, epochs=1, verbose=0, sample_weight=w, optimizer=nncore.Adam(lr=0.01),
              **kwargs)
    optimizer = nncore.Adam(lr=0.01)
    for start in range(0, len(X), 100):
        block = slice(start, start + 100)
        history = parts.partial_fit(X[block], y[block], sample_weight=w[block],
                                    optimizer=optimizer if start == 0 else None, **kwargs)
        assert len(history.epoch) == 1
    assert parts.optimizer is optimizer
    assert optimizer.get_state(parts.params)["step"] == len(X) // 20
    for (W1, b1), (W2, b2) in zip(whole.get_weights(), parts.get_weights(), strict=True):
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)


def test_memory_mapped_input_of_the_model_dtype_is_not_copied(tmp_path, rng):
    """A float32 memmap trains and predicts in place (no copy of X), and the finiteness
    test runs block by block, still naming the first bad entry."""
    from nncore._model_data import features
    from nncore.data import _FINITE_BLOCK

    n = _FINITE_BLOCK // 4 + 10  # more than one block of the test
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32,
                                  shape=(n, 4))
    X[:] = rng.standard_normal((n, 4), dtype=np.float32)
    X.flush()
    X = np.load(tmp_path / "X.npy", mmap_mode="r")
    y = (X[:, 0] > 0).astype(np.int64)
    model = _model("numpy")
    model.fit(X, y, epochs=1, batch_size=4096, loss="softmax_cross_entropy", verbose=0)
    assert np.shares_memory(features(model, X), X)
    bad = np.array(X)
    bad[n - 3, 2] = np.nan
    with pytest.raises(ValueError, match=rf"X\[{n - 3}, 2\] is nan"):
        model.predict(bad)
