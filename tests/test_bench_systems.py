"""The systems of ``bench/compare.py`` compute the same things: the same probabilities from
the same weights (one row, and many in one call as in W5), the same epoch loss from the
same data, order and weights; ONNX Runtime is inference only; ``--threads default,1``
gives one row per setting. Tiny sizes, nothing timed against anything; the optional
systems (torch, onnxruntime, jax) are tested when installed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.compare import thread_settings
from bench.systems import SYSTEMS, make_systems, unavailable
from nncore.cli._bench_workloads import (
    W1_NET,
    WORKLOADS,
    Net,
    init_weights,
    make_data,
    quick,
    time_predict,
)

ROOT = Path(__file__).resolve().parents[1]
SOFTMAX = Net(sizes=(12, 16, 8, 5), activation="relu", loss="softmax", batch_size=16)
BINARY = Net(sizes=(2, 16, 16, 1), activation="tanh", loss="binary", batch_size=8)


def _systems(*names: str) -> list[str]:
    """Those of ``names`` that can run here."""
    return [n for n in names if unavailable(n) is None]


def _probabilities(name: str, net: Net, X: np.ndarray) -> np.ndarray:
    weights = init_weights(net, seed=3)
    predict = make_systems()[name].predictor(net, weights)
    return np.asarray(predict(X), dtype=np.float64)


@pytest.mark.parametrize("rows", [1, 7])
def test_every_predictor_gives_nncores_probabilities(rows):
    X = make_data(SOFTMAX, 40, seed=1)[0][:rows]
    expected = _probabilities("nncore-numpy", SOFTMAX, X)
    assert expected.shape == (rows, 5)
    names = _systems(*(n for n in SYSTEMS if n != "nncore-numpy"))
    assert {"nncore-numpy", "numpy-loop", "onnxruntime"} <= {*names, "nncore-numpy"}
    for name in names:
        got = _probabilities(name, SOFTMAX, X)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=name)


# onnxruntime comes with the test extras (``onnx``); jax only with ``compare``.
@pytest.mark.parametrize("name", _systems("onnxruntime", "jax"))
def test_binary_predictor_gives_both_columns(name):
    """Like nncore's predict_proba with one output unit: ``[1 - p, p]``."""
    X = make_data(BINARY, 9, seed=2)[0]
    expected = _probabilities("nncore-numpy", BINARY, X)
    np.testing.assert_allclose(_probabilities(name, BINARY, X), expected, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("net", [SOFTMAX, BINARY], ids=["softmax", "binary"])
def test_trainers_agree_on_the_epoch_loss(net):
    """Same data, batch order and weights: one epoch gives the same loss and weights
    (49 rows: the last batch is short, which JAX runs after its scan)."""
    X, y = make_data(net, 49, seed=4)
    weights = init_weights(net, seed=4)
    losses = {}
    for name in _systems("nncore-numpy", "numpy-loop", "torch", "jax"):
        trainer = make_systems()[name].trainer(net, X, y)
        trainer.reset(weights)
        trainer.run(2 * net.batch_size)  # a partial epoch first, as the warm-up does
        trainer.reset(weights)
        losses[name] = trainer.run()
    assert len(losses) >= 2
    ref = losses["nncore-numpy"]
    assert all(abs(v - ref) <= 1e-5 * abs(ref) for v in losses.values()), losses


def test_onnxruntime_does_not_train():
    systems = make_systems()
    assert [n for n in SYSTEMS if not systems[n].trains] == ["onnxruntime"]
    with pytest.raises(NotImplementedError, match="inference only"):
        systems["onnxruntime"].trainer(SOFTMAX, np.zeros((1, 12), np.float32), np.zeros(1))


def test_onnxruntime_threads_reach_the_session():
    assert unavailable("onnxruntime") is None, "onnxruntime comes with the onnx extra"
    system = make_systems()["onnxruntime"]
    weights = init_weights(SOFTMAX)
    assert system.session(SOFTMAX, weights).get_session_options().intra_op_num_threads == 0
    system.n_threads = 1
    assert system.session(SOFTMAX, weights).get_session_options().intra_op_num_threads == 1


def test_nncore_threads_reach_the_model():
    system = make_systems()["nncore-numpy"]
    system.n_threads = 1
    model = system.predictor(SOFTMAX, init_weights(SOFTMAX)).__self__
    assert model.n_threads == 1


def test_w5_is_one_call_on_many_rows():
    work = WORKLOADS["W5"]
    assert (work.kind, work.calls, work.rows, work.net) == ("predict", 1, 100_000, W1_NET)
    assert work.unit == "row" and WORKLOADS["W3"].unit == "call"
    small = quick(work)
    assert (small.n_samples, small.calls, small.rows) == (2_000, 1, 2_000)
    seen = []

    class Recorder:
        def predictor(self, net, weights):
            return lambda x: seen.append((x.shape, x.flags.c_contiguous))

    X = np.zeros((small.rows + 5, 784), np.float32)
    times = time_predict(Recorder(), work.net, X, [], small.calls, 2, small.rows)
    assert len(times) == 2 and seen == [((2_000, 784), True)] * 3  # warm-up, 2 repeats


def test_thread_settings():
    assert thread_settings("default") == [None]
    assert thread_settings("default, 1,2,1") == [None, 1, 2]
    for bad in ("", "0", "x", "1,-1", "defaults"):
        with pytest.raises(ValueError, match="--threads"):
            thread_settings(bad)


@pytest.mark.cython
def test_compare_default_and_one_thread_in_one_run():
    """``--threads default,1``: every row once per setting, ratios within a setting, and
    ONNX Runtime (when installed) not applicable to training."""
    ort = importlib.util.find_spec("onnxruntime") is not None
    systems = ["nncore-cython", "numpy-loop"] + (["onnxruntime"] if ort else [])
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compare.py"), "--quick", "--json",
         "--repeats", "1", "--workloads", "W2,W3,W5", "--threads", "default,1",
         "--systems", ",".join(systems)], capture_output=True, text=True, timeout=600,
        cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["threads"] == ["default", 1] and report["loss_disagreements"] == []
    results = report["results"]
    trainers = [s for s in systems if s != "onnxruntime"]
    for key, names in (("W2", trainers), ("W3", systems), ("W5", systems)):
        assert [(r["system"], r["threads"]) for r in results if r["workload"] == key] == [
            (n, t) for t in ("default", 1) for n in names]
    for r in results:
        if r["system"] == "nncore-cython":
            assert r["ratio_to_reference"] == 1.0
    assert report["not_applicable"] == ({"W2": {"onnxruntime": "inference only: it does "
                                                "not train"}} if ort else {})
    if ort:
        assert report["versions"]["onnxruntime"] and report["versions"]["onnx"]
