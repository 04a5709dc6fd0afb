"""The command line, run as a user would: in a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

import nncore
from nncore.cli._demo import run_demo


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nncore", *args], capture_output=True,
                          text=True, timeout=300)


def test_demo_trains_and_reports():
    proc = _run("demo", "--epochs", "15")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "backend" in out and ("cython" in out or "numpy" in out)
    losses = [float(line.split()[3]) for line in out.splitlines()
              if line.strip().startswith("epoch")]
    assert len(losses) == 15
    assert losses[-1] < 0.5 * losses[0]
    assert "held-out accuracy: MLP" in out


def test_demo_function_mlp_beats_linear(ops, capsys):
    result = run_demo(epochs=30, backend=ops.name)
    assert result["mlp_accuracy"] >= 0.97
    assert result["linear_accuracy"] < 0.92
    assert f"backend {ops.name}" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["demo", "info"])
def test_help(command):
    proc = _run(command, "--help")
    assert proc.returncode == 0 and "usage: nncore" in proc.stdout


def test_unknown_command_fails_cleanly():
    proc = _run("frobnicate")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_version_is_reported():
    assert _run("info").stdout.startswith(f"nncore {nncore.__version__}")


def test_demo_plot_writes_a_png(tmp_path):
    path = tmp_path / "demo.png"
    proc = _run("demo", "--epochs", "5", "--samples", "300", "--plot", str(path))
    assert proc.returncode == 0, proc.stderr
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000
    assert f"picture saved to {path}" in proc.stdout


def test_demo_plot_without_matplotlib_says_how_to_install(tmp_path):
    blocker = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'matplotlib' or name.startswith('matplotlib.'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from nncore.cli import main\n"
        "sys.exit(main(['demo', '--plot', sys.argv[1]]))\n"
    )
    path = tmp_path / "demo.png"
    proc = subprocess.run([sys.executable, "-c", blocker, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    assert "pip install 'nncore[plot]'" in proc.stderr
    assert not path.exists()
