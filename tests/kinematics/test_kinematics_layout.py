"""hepc9.kinematics split by job: every moved name still importable from hepc9.kinematics."""

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import hepc9.kinematics as PKG

OLD = importlib.import_module("hepc9.kinematics")
#: Names that tests and callers import from the old path, with the module that now holds them.
MOVED = {
    "BELLE2": "hepc9.kinematics.beams",
    "BeamSpec": "hepc9.kinematics.beams",
    "M_B0": "hepc9.kinematics.boosts",
    "M_ELECTRON": "hepc9.kinematics.beams",
    "PARTICLE_KEYS": "hepc9.kinematics.boosts",
    "_sample_costheta": "hepc9.kinematics.lab",
    "_wrap_chi": "hepc9.kinematics.boosts",
    "angles_from_four_vectors": "hepc9.kinematics.angles",
    "angles_from_four_vectors_numpy": "hepc9.kinematics.angles",
    "boost": "hepc9.kinematics.boosts",
    "four_vectors_from_angles": "hepc9.kinematics.decay",
    "four_vectors_from_angles_numpy": "hepc9.kinematics.decay",
    "invariant_cosines": "hepc9.kinematics.angles",
    "lab_to_cm": "hepc9.kinematics.beams",
    "random_rotations": "hepc9.kinematics.lab",
    "to_lab": "hepc9.kinematics.lab",
    "to_lab_numpy": "hepc9.kinematics.lab",
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


def test_no_module_file_shadows_the_packages():
    root = Path(PKG.__file__).parents[1]
    for name in ("kinematics", "detector", "background"):
        assert (root / name / "__init__.py").is_file()
        assert not (root / f"{name}.py").exists()
