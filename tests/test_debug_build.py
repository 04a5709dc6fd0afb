"""The release build runs without bounds checks; the debug build turns them on.

CI installs once with ``NNCORE_DEBUG_BUILD=1`` and runs the whole suite with
``NNCORE_EXPECT_DEBUG_BUILD=1``; everywhere else the extension must be the fast build.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.cython


def test_build_kind_is_the_expected_one():
    from nncore.backends import _kernels

    assert _kernels.BOUNDS_CHECKED is (os.environ.get("NNCORE_EXPECT_DEBUG_BUILD") == "1")


def test_debug_build_turns_an_out_of_range_index_into_an_exception():
    from nncore.backends import _kernels

    if not _kernels.BOUNDS_CHECKED:
        # The release build would read past the end here: only the validated Ops path is
        # safe, and it rejects this call before the kernel runs.
        import nncore

        with pytest.raises(ValueError, match="'labels'"):
            nncore.get_ops("cython").softmax_xent(np.zeros((3, 2)), np.zeros(1, np.int64),
                                                  np.zeros((3, 2)))
        return
    # Straight into the kernel, past the Python checks: 3 rows, 1 label.
    with pytest.raises(IndexError):
        _kernels.softmax_xent(np.zeros((3, 2)), np.zeros(1, np.int64), np.zeros((3, 2)))
