"""Project-wide static checks run with the test suite: ruff, the layer contract, light import."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_clean():
    out = subprocess.run(["ruff", "check", "hepc9", "tests", "benchmarks"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_layer_contract():
    out = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]


def test_import_is_light():
    code = ("import sys, hepc9, hepc9.cli, hepc9.config; "
            "heavy = [m for m in ('keras', 'tensorflow', 'matplotlib', 'torch', 'jax') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import hepc9 loads {out.stdout.strip()}"


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "hepc9", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("hepc9 ")
    out = subprocess.run([sys.executable, "-m", "hepc9", "--help"], capture_output=True,
                         text=True, check=True)
    assert "generate" in out.stdout


@pytest.mark.skipif(shutil.which("mypy") is None, reason="mypy not installed")
def test_mypy_strict_on_the_bottom_layer_and_the_cli():
    targets = ["hepc9/config", "hepc9/cli", "hepc9/errors.py", "hepc9/seeding.py"]
    out = subprocess.run(["mypy", "--strict", "--ignore-missing-imports",
                          "--follow-imports=silent", *targets],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
