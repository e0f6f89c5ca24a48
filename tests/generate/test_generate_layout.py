"""hepc9.generate split by job: every moved name still importable from hepc9.generate.sampler."""

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import hepc9.generate as PKG

OLD = importlib.import_module("hepc9.generate.sampler")
#: Names that tests and callers import from the old path, with the module that now holds them.
MOVED = {
    "FLAVOURS": "hepc9.generate.checks",
    "LINE_SHAPES": "hepc9.generate.checks",
    "MassQ2Table": "hepc9.generate.mass_table",
    "Q2Table": "hepc9.generate.tables",
    "_angular_bound": "hepc9.generate.mapping",
    "_angular_bound_fast": "hepc9.generate.tables",
    "_angular_sum": "hepc9.generate.kernels",
    "_check_relbw_window_fraction": "hepc9.generate.mass_table",
    "_dq2_dv": "hepc9.generate.mapping",
    "_draw_guided": "hepc9.generate.kernels",
    "_exact_total_at_mass": "hepc9.generate.reference",
    "_mass_table": "hepc9.generate.mass_table",
    "_q2_to_v": "hepc9.generate.mapping",
    "_sample_chunk_narrow": "hepc9.generate.kernels",
    "_sample_chunk_relbw": "hepc9.generate.kernels",
    "_total_at_mass_quadrature": "hepc9.generate.reference",
    "_v_to_q2": "hepc9.generate.mapping",
    "lab_four_vectors": "hepc9.generate.lab",
    "relbw_line_shape": "hepc9.generate.lineshape",
    "relbw_mass_range": "hepc9.generate.lineshape",
    "resolve_threads": "hepc9.generate.checks",
    "sample_events": "hepc9.generate.sampler",
    "sample_events_numpy": "hepc9.generate.reference",
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
