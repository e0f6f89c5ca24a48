"""hepc9.background split by job: every moved name still importable from hepc9.background."""

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import hepc9.background as PKG

OLD = importlib.import_module("hepc9.background")
#: Names that tests and callers import from the old path, with the module that now holds them.
MOVED = {
    "BACKGROUND_COLUMNS": "hepc9.background.model",
    "_p32": "hepc9.background.shapes",
    "argus_cdf": "hepc9.background.shapes",
    "background_yield": "hepc9.background.model",
    "cosine_cdf": "hepc9.background.shapes",
    "generate_background": "hepc9.background.model",
    "legendre_cdf": "hepc9.background.shapes",
    "linear_cdf": "hepc9.background.shapes",
    "region_fraction": "hepc9.background.model",
    "sample_argus": "hepc9.background.shapes",
    "sample_cosine": "hepc9.background.shapes",
    "sample_legendre": "hepc9.background.shapes",
    "sample_linear": "hepc9.background.shapes",
}


def _submodules():
    return [m.name for m in pkgutil.iter_modules(PKG.__path__, PKG.__name__ + ".")]


@pytest.mark.parametrize("name", sorted(MOVED))
def test_old_path_reexports_the_moved_object(name):
    home = importlib.import_module(MOVED[name])
    assert getattr(OLD, name) is getattr(home, name)
    obj = getattr(home, name)
    if inspect.isfunction(obj) or inspect.isclass(obj):
        assert obj.__module__ == MOVED[name]


def test_every_public_name_of_the_old_path_resolves():
    for name in OLD.__all__:
        assert getattr(OLD, name) is not None


@pytest.mark.parametrize("module", _submodules())
def test_submodules_are_small_and_declare_all(module):
    mod = importlib.import_module(module)
    assert isinstance(mod.__all__, list)
    for name in mod.__all__:
        assert hasattr(mod, name), name
    lines = Path(mod.__file__).read_text(encoding="utf-8").count("\n")
    assert lines <= 600, f"{module} has {lines} lines"
