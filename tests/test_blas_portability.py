"""The same answers whichever BLAS kernels OpenBLAS picks on this CPU.

OpenBLAS chooses its kernels at load time from the CPU (or from ``OPENBLAS_CORETYPE``),
and they differ in what they do with special values: the SkylakeX kernels (AVX-512
machines) compute ``0 * NaN`` for ``alpha = 0`` where the Haswell, Sandybridge, Nehalem
and Katmai kernels skip the operands. nncore handles those cases itself, so each check
below runs in a child process under every core type this CPU can execute (read from its
flags; one name per distinct kernel set) and under no ``OPENBLAS_CORETYPE`` at all, and
must print the same answers as NumPy. The full parity and fuzz suites run under each
core type in CI (``.ci/run``); this is the fast regression check inside the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from _machine import blas_architectures, distinct_coretypes

_CHILD = textwrap.dedent("""
    import json
    import numpy as np
    import nncore

    cy, ref = nncore.get_ops("cython"), nncore.get_ops("numpy")
    report = {}
    nan, inf = np.nan, np.inf

    def both(name, A, B, out, **kw):
        got, want = out.copy(), out.copy()
        cy.gemm(A, B, got, **kw)
        ref.gemm(A, B, want, **kw)
        report[name] = [np.isnan(got).tolist(), np.isnan(want).tolist(),
                        bool(np.allclose(got, want, rtol=1e-5, equal_nan=True))]

    for dt in (np.float32, np.float64):
        t = dt.__name__
        # the issue's minimal case: alpha = 0 must read neither operand
        A, B = np.array([[nan], [0]], dt), np.array([[1.3e16]], dt)
        both(f"alpha0-{t}", A, B, np.full((2, 1), nan, dt), alpha=0.0, beta=0.0)
        both(f"alpha0-beta1-{t}", np.array([[inf, 1], [2, 3]], dt), np.ones((2, 2), dt),
             np.arange(4, dtype=dt).reshape(2, 2), alpha=0.0, beta=1.0)
        both(f"alpha0-beta2-{t}", np.array([[nan]], dt), np.array([[1, 2]], dt),
             np.array([[1, -3]], dt), alpha=0.0, beta=2.0)
        # beta = 0 must overwrite NaN already in out: GEMM (3 rows) and GEMV (1 row)
        rng = np.random.default_rng(0)
        for m in (1, 3):
            A, B = rng.standard_normal((m, 5)).astype(dt), rng.standard_normal((5, 4)).astype(dt)
            both(f"beta0-nan-out-m{m}-{t}", A, B, np.full((m, 4), nan, dt), alpha=1.0, beta=0.0)
            both(f"beta0-nan-out-m{m}-tb-{t}", A, np.ascontiguousarray(B.T),
                 np.full((m, 4), nan, dt), trans_b=True, alpha=1.5, beta=0.0)
    # plain SGD is fused into the dW GEMM (alpha = -lr): an lr that is 0 in float32
    # must leave the weights exactly as they are, on both backends
    X = rng.standard_normal((40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    for backend in ("cython", "numpy"):
        m = nncore.Sequential([nncore.Dense(4, "relu"), nncore.Dense(2)], seed=0,
                              backend=backend).build(3)
        w0 = [(W.copy(), b.copy()) for W, b in m.get_weights()]
        m.fit(X, y, epochs=2, batch_size=8, optimizer=nncore.SGD(lr=1e-50),
              loss="softmax_cross_entropy", verbose=0)
        report[f"sgd-lr-rounds-to-0-{backend}"] = all(
            np.array_equal(W, W1) and np.array_equal(b, b1)
            for (W, b), (W1, b1) in zip(w0, m.get_weights()))
    # a short training run and a one-row prediction agree with the NumPy backend
    rng = np.random.default_rng(1)
    X = rng.standard_normal((64, 6))
    y = rng.integers(0, 3, 64)
    ws = {}
    for backend in ("cython", "numpy"):
        m = nncore.Sequential([nncore.Dense(8, "tanh"), nncore.Dense(3)], dtype="float64",
                              seed=0, backend=backend)
        m.fit(X, y, epochs=3, batch_size=16, optimizer=nncore.SGD(lr=0.1),
              loss="softmax_cross_entropy", seed=0, verbose=0)
        ws[backend] = (np.concatenate([l.W.ravel() for l in m.layers]),
                       m.predict_proba(X[:1]))
    report["train-and-one-row-predict"] = bool(
        np.allclose(ws["cython"][0], ws["numpy"][0], rtol=1e-10, atol=1e-12)
        and np.allclose(ws["cython"][1], ws["numpy"][1], rtol=1e-10, atol=1e-12))
    print(json.dumps(report))
""")


def _run(coretype: str | None) -> dict:
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype is not None:
        env["OPENBLAS_CORETYPE"] = coretype
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"OPENBLAS_CORETYPE={coretype}: child failed\n{out.stderr}"
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.cython
@pytest.mark.parametrize("coretype", [None, *distinct_coretypes()],
                         ids=lambda c: f"OPENBLAS_CORETYPE={c or '(unset)'}")
def test_results_do_not_depend_on_the_blas_kernels(coretype):
    if coretype is not None:  # the variable really selected other kernels (or the same)
        assert blas_architectures(coretype), "threadpoolctl found no OpenBLAS"
    report = _run(coretype)
    wrong = []
    for case, result in report.items():
        if isinstance(result, bool):
            if not result:
                wrong.append(case)
        else:
            got_nan, want_nan, close = result
            if got_nan != want_nan or not close:
                wrong.append(f"{case}: NaN at {got_nan}, NumPy {want_nan}, close={close}")
    assert not wrong, f"OPENBLAS_CORETYPE={coretype}: " + "; ".join(wrong)
    assert len(report) == 2 * (3 + 4) + 2 + 1  # every case ran
