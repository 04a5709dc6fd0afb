"""The terminal summary of hypothesis examples run, per fuzz test.

Hypothesis can stop short of a test's ``max_examples`` without failing (when it runs out
of distinct inputs, say); this shows how many examples ran to the end, to set against
``EXAMPLES``. A conftest hook, so it prints once however many fuzz modules ran.
"""

from __future__ import annotations

import pytest

from .strategies import RAN


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RAN:
        terminalreporter.write_sep("-", "tests/fuzz: hypothesis examples run")
        for key in sorted(RAN):
            terminalreporter.write_line(f"{key:40s} {RAN[key]:5d}")
