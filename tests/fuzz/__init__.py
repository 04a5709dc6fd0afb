"""Hypothesis fuzzing of every ``Ops`` kernel: ``CythonOps`` against the ``NumpyOps`` reference.

What is checked
---------------
Every public ``Ops`` method is called on both backends with copies of the same drawn
arguments, for float32 and float64: matrices with every dimension in 0..64, flat
parameter buffers of 0..4096, plans with 1..3 layers of width 1..12 on 0..64 rows (up to
six steps of 1..64 rows for ``train_epoch``). Nothing may crash; the return value and
every OUT/INOUT array must agree, and every IN array must be left bit-for-bit untouched.
Where the result is *determined* -- it does not depend on summation order, on which
operand BLAS scales first, or on an undetermined input -- NaN must sit in the same places
and +-inf in the same places with the same sign, and finite values must agree within
the tolerance of tolerances.py. Values (``values``) mix normal numbers, huge ones (up to
+-1e30 float32 / +-1e300 float64, also as dense blocks), tiny ones, subnormals and zeros,
with an occasional NaN or +-inf; scalars include 0, tiny and extreme ones.

Every method, on each backend, must also reject a call with one rule broken exactly as
the NumPy backend does, writing nothing (test_rejection.py).

Layout
------
* strategies.py -- what is drawn, and the example budget of each test (``EXAMPLES``).
* tolerances.py -- each kernel's tolerance, and the comparison (``run_both``, ``check``).
* bounds.py -- ``BoundOps``, the error bound the plan tests' tolerance comes from.
* test_kernels.py, test_plans.py, test_rejection.py -- the tests; why the hand-written
  tests/test_parity.py and tests/test_ops_validation.py are kept too is in their
  docstrings and in these modules'.
* conftest.py -- the terminal summary of how many examples each test ran.

A package (tests/ is not one) so that its modules import each other relatively, as
``fuzz.*``, without putting names like ``strategies`` on ``sys.path``.

In the default, derandomized profile hypothesis seeds each test from its pytest node id
and its source (decorators and comments aside): moving a test or editing its body
changes its examples, while ``--hypothesis-seed`` explorations do not depend on either.
The code moved here unchanged from the one-module suite (tests/test_fuzz.py), so a
leading underscore marks a name private to this package, not to its module.
"""
