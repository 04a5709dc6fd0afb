"""Benchmarks for nncore, run from a checkout (never part of the default test run).

* ``bench/compare.py`` -- nncore beside a plain NumPy loop, PyTorch and scikit-learn on
  the workloads of ``nncore bench`` (the README's Speed tables); the other systems are in
  ``bench/systems.py``::

      pip install ".[compare]" && python bench/compare.py --threads 1

* ``bench/cases.py`` -- what is measured: one ``Case`` per kernel variant, shared by both
  harnesses below (and by the smoke test, ``run_all_once``).
* ``bench/test_kernels.py`` -- pytest-benchmark suite, Cython and NumPy side by side::

      python -m pytest bench/ --benchmark-group-by=group -k 128x256

* ``bench/kernel_table.py`` -- one-process Markdown table of the speed-ups::

      python bench/kernel_table.py --size 128x256
"""
