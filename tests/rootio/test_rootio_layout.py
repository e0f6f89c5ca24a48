"""hepc9.rootio split by job: every moved name still importable from hepc9.rootio.native."""

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import hepc9.rootio as PKG

OLD = importlib.import_module("hepc9.rootio.native")
#: Names that tests and callers import from the old path, with the module that now holds them.
MOVED = {
    "COMPRESSIONS": "hepc9.rootio.native_schema",
    "CORE_COLUMNS": "hepc9.rootio.native_schema",
    "EVENTS_TREE": "hepc9.rootio.native_schema",
    "META_KEY": "hepc9.rootio.native_schema",
    "NATIVE_DTYPES": "hepc9.rootio.native_schema",
    "REQUIRED_META_KEYS": "hepc9.rootio.native_schema",
    "file_summary": "hepc9.rootio.native",
    "iterate_events": "hepc9.rootio.native",
    "make_meta": "hepc9.rootio.native_meta",
    "read_events": "hepc9.rootio.native",
    "read_meta": "hepc9.rootio.native_meta",
    "write_events": "hepc9.rootio.native_write",
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


def test_ingest_reexports_layout_detection():
    from hepc9.rootio import ingest, layouts

    for name in ("LAYOUTS", "detect_layout", "expand_paths"):
        assert getattr(ingest, name) is getattr(layouts, name)
