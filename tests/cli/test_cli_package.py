"""The CLI package: entry points, choices from the one name lists, override channels."""

import argparse
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import hepc9.cli
from hepc9.cli import build_parser, main
from hepc9.cli.generation import _generate_values
from hepc9.config import SHIFT_NAMES, load_config
from hepc9.config.names import BACKENDS
from hepc9.models import model_names
from hepc9.rootio.native import read_meta

ROOT = Path(__file__).resolve().parents[2]


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _choices(command: str, dest: str) -> tuple[str, ...]:
    action = next(a for a in _subparser(command)._actions if a.dest == dest)
    return tuple(action.choices)


def test_console_script_entry_point_resolves_to_main():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"]
    module, _, attr = scripts["hepc9"].partition(":")
    assert module == "hepc9.cli"
    assert getattr(hepc9.cli, attr) is main


def test_python_dash_m_config_show_equals_the_library():
    out = subprocess.run([sys.executable, "-m", "hepc9", "config", "show", "--set", "seed=3"],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == load_config(overrides=["seed=3"]).to_dict()
    assert "crb_events" not in out.stdout


def test_model_and_backend_choices_come_from_the_name_lists():
    assert _choices("train", "model") == model_names()
    assert _choices("train", "backend") == BACKENDS
    assert _choices("predict", "backend") == BACKENDS


@pytest.mark.parametrize("command", ["generate", "observables", "convert", "decfile", "crb"])
def test_every_shift_option_is_offered(command):
    dests = {a.dest for a in _subparser(command)._actions}
    assert set(SHIFT_NAMES) <= dests


def test_generate_flags_become_typed_overrides_not_text():
    args = _subparser("generate").parse_args(
        ["-o", "x.root", "--dc9", "-0.8200000000000001", "--seed", "4", "--events", "1e3",
         "--flavour", "both", "--four-vectors"])
    values = dict(_generate_values(args))
    assert values == {"seed": 4, "generate.events": 1000, "generate.dc9": -0.8200000000000001,
                      "generate.flavour": "both", "generate.four_vectors": True}
    assert all(not isinstance(v, str) for k, v in values.items() if k != "generate.flavour")


def test_generate_writes_the_exact_flag_value(tmp_path):
    out = tmp_path / "g.root"
    assert main(["-q", "generate", "--events", "50", "--seed", "2", "--dc9",
                 "-0.8200000000000001", "--c10p", "1e-17", "--output", str(out)]) == 0
    meta = read_meta(out)
    assert meta["dc9"] == -0.8200000000000001
    assert meta["c10p"] == 1e-17


def test_an_old_config_with_crb_events_fails_with_one_line(tmp_path, capsys):
    old = tmp_path / "old.toml"
    old.write_text("[evaluate]\ncrb_events = 20000\n", encoding="utf-8")
    assert main(["config", "show", str(old)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "unknown key 'crb_events' in [evaluate]" in err[0]
    assert "did you mean 'distribution_events'" in err[0]
