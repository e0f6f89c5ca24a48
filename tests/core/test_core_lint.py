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


def _mypy(*args):
    pytest.importorskip("mypy", reason="mypy not installed (it is in the test extra)")
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=ROOT, capture_output=True,
                          text=True)


def test_mypy_on_the_whole_package():
    out = _mypy()  # [tool.mypy] in pyproject.toml: files = hepc9, check_untyped_defs
    assert out.returncode == 0, out.stdout[-3000:]


def test_mypy_strict_on_the_bottom_layer_and_the_cli():
    targets = ["hepc9/config", "hepc9/cli", "hepc9/errors.py", "hepc9/seeding.py"]
    out = _mypy("--strict", "--follow-imports=silent", *targets)
    assert out.returncode == 0, out.stdout[-3000:]


# Imports inside functions hide dependencies (and import cycles) from the layer contract, so
# hepc9 modules import each other at module level.  The exceptions are third-party packages
# whose import alone costs a second or more of start-up for every command (Keras/TensorFlow,
# matplotlib, uproot, scipy, iminuit, dask), the figure module that loads matplotlib, and
# hepc9/__init__.py's lazy Config (``import hepc9`` stays free of side effects).
_LAZY_OK = {"keras", "tensorflow", "jax", "absl", "matplotlib", "mplhep", "hepc9.plots",
            "uproot", "scipy", "iminuit", "distributed", "dask", "boost_histogram", "tqdm",
            "numba", "fcntl", "importlib"}


def _function_level_imports():
    import ast

    for path in sorted((ROOT / "hepc9").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom):
                    names = [f"{node.module}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                yield rel, node.lineno, names


def _modules_loading_keras():
    """hepc9 modules that import Keras at module level (lazy for the same reason as Keras)."""
    import ast

    out = set()
    for path in (ROOT / "hepc9").rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(m == "keras" or m.startswith("keras.") for m in mods):
                out.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return out


def test_hepc9_modules_import_each_other_at_module_level():
    lazy_ok = _LAZY_OK | _modules_loading_keras()
    bad = []
    for rel, line, names in _function_level_imports():
        if rel == "hepc9/__init__.py":
            continue
        for name in names:
            if not any(name == ok or name.startswith(ok + ".") for ok in lazy_ok):
                bad.append(f"{rel}:{line} imports {name} inside a function")
    assert not bad, "\n".join(bad)
