"""hepc9.detector split by job: every moved name still importable from hepc9.detector."""

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import hepc9.detector as PKG

OLD = importlib.import_module("hepc9.detector")
#: Names that tests and callers import from the old path, with the module that now holds them.
MOVED = {
    "ANGLE_COLUMNS": "hepc9.detector.columns",
    "BACKGROUND_INPUT_COLUMNS": "hepc9.detector.columns",
    "DETECTOR_STEPS": "hepc9.detector.columns",
    "EfficiencyTable": "hepc9.detector.efficiency",
    "FOUR_VECTOR_COLUMNS": "hepc9.detector.columns",
    "_NORMAL_BLOCK": "hepc9.detector.response",
    "_draw_normals": "hepc9.detector.response",
    "_geometry_kernel": "hepc9.detector.geometry",
    "_geometry_numpy": "hepc9.detector.geometry",
    "_geometry_params": "hepc9.detector.geometry",
    "_stack_tracks": "hepc9.detector.columns",
    "accept_background": "hepc9.detector.background_tracks",
    "beam_energy_spread": "hepc9.detector.parametrisation",
    "kaon_id_efficiency": "hepc9.detector.parametrisation",
    "muon_id_efficiency": "hepc9.detector.parametrisation",
    "pt_resolution": "hepc9.detector.parametrisation",
    "simulate_detector": "hepc9.detector.response",
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
