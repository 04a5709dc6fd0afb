"""The benchmark code keeps working: every case and workload runs once at a tiny size."""

from __future__ import annotations

import pytest

from bench import cases, training


@pytest.mark.parametrize("backend", [
    pytest.param("numpy"), pytest.param("cython", marks=pytest.mark.cython)])
def test_every_kernel_case_runs(backend):
    assert cases.run_all_once(size=(4, 3), backends=[backend]) == 2 * len(cases.CASES)


@pytest.mark.parametrize("backend", [
    pytest.param("numpy"), pytest.param("cython", marks=pytest.mark.cython)])
def test_every_model_workload_runs(backend):
    for workload in training.EPOCHS:
        history = training.make_epoch(workload, backend, scale=0.01, callbacks=2)()
        assert len(history.history["loss"]) == 1
    assert training.make_hook_epochs(backend, callbacks=1, epochs=2)().epoch == [0, 1]
    assert training.make_hook_epochs(backend, 0, epochs=2, progress=True)().epoch == [0, 1]
    assert training.make_predict_one(backend)().shape == (1, 10)
