"""The config package: re-exports, one home per name list, pickling, typed overrides, dead keys."""

import copy
import dataclasses
import pickle
import re
from pathlib import Path

import pytest

import hepc9.config as config_pkg
from hepc9.config import (
    DATASET_CHANNELS,
    SET_FEATURES,
    SHIFT_NAMES,
    Config,
    DatasetsConfig,
    EvaluateConfig,
    GenerateConfig,
    load_config,
)
from hepc9.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "hepc9"

#: Every name importable from the former single module ``hepc9/config.py`` (its ``__all__``).
FORMER_PUBLIC = (
    "BackgroundConfig", "Config", "DatasetsConfig", "DetectorConfig", "EvaluateConfig",
    "FitConfig", "GenerateConfig", "IngestConfig", "ModelConfig", "PhysicsConfig",
    "PlotsConfig", "ScaleConfig", "SelectionConfig", "TrainConfig", "config_digest",
    "load_config", "parse_override",
)


@pytest.mark.parametrize("name", FORMER_PUBLIC)
def test_former_public_names_are_importable_from_hepc9_config(name):
    assert name in config_pkg.__all__
    assert getattr(config_pkg, name) is not None


@pytest.mark.parametrize("folder", ["config", "cli"])
def test_modules_of_the_split_packages_are_short(folder):
    for path in sorted((PACKAGE / folder).glob("*.py")):
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines < 400, f"{path.relative_to(ROOT)} has {lines} lines"


# --------------------------------------------------------------------------------------------
# one home per name list
# --------------------------------------------------------------------------------------------


def test_shift_names_have_one_home_that_physics_re_exports():
    from hepc9.physics import constants

    assert constants.SHIFT_NAMES is SHIFT_NAMES
    assert SHIFT_NAMES == ("dc7", "dc9", "dc10", "c7p", "c9p", "c10p")
    gen_fields = {f.name for f in dataclasses.fields(GenerateConfig)}
    assert set(SHIFT_NAMES) <= gen_fields
    assert list(constants.WilsonShifts().to_dict()) == list(SHIFT_NAMES)


#: Modules of other work areas that still spell the tuple out (to be pointed at SHIFT_NAMES).
_PENDING_SHIFT_COPIES: set[str] = set()


def test_the_shift_name_tuple_is_written_once_in_the_package():
    pattern = re.compile(r"\(\s*\"dc7\",\s*\"dc9\",\s*\"dc10\",\s*\"c7p\",\s*\"c9p\",\s*\"c10p\"")
    found = sorted(
        str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
        if pattern.search(p.read_text(encoding="utf-8"))
    )
    assert "hepc9/config/names.py" in found
    extra = set(found) - {"hepc9/config/names.py"} - _PENDING_SHIFT_COPIES
    assert not extra, f"the shift-name tuple is written again in {sorted(extra)}"


def test_channel_and_feature_lists_equal_the_datasets_layer():
    from hepc9.datasets import sets, voxelize

    assert tuple(voxelize.CHANNELS) == DATASET_CHANNELS
    assert tuple(sets.FEATURES) == SET_FEATURES
    assert DatasetsConfig().set_features == tuple(sets.DEFAULT_FEATURES)
    assert set(DatasetsConfig().channels) <= set(voxelize.CHANNELS)


def test_a_bad_channel_or_feature_fails_at_load_time_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"unknown name 'q2mean'; did you mean 'q2_mean'\?"):
        load_config(overrides=['datasets.channels=["q2mean", "count"]'])
    with pytest.raises(ConfigError, match=r"unknown name 'cos_ch'; did you mean 'cos_chi'\?"):
        load_config(overrides=['datasets.set_features=["q2", "cos_ch"]'])


def test_estimator_names_live_in_the_registry_only():
    # config holds no list of model names; [evaluate] methods are checked by the run against
    # the registry (tests/pipeline/test_pipeline_stage_table.py), before any work
    import hepc9.config.names as names

    assert not [n for n in dir(names) if "MODEL" in n or "METHOD" in n]
    cfg = load_config(overrides=['evaluate.methods=["deepset"]'])
    assert cfg.evaluate.methods == ("deepset",)


# --------------------------------------------------------------------------------------------
# pickling (worker chunks receive the Config itself)
# --------------------------------------------------------------------------------------------


def test_a_config_pickles_exactly():
    cfg = load_config(overrides=[
        "seed=5", "generate.dc9=-0.8200000000000001", "physics.constants={c9_sm = 4.2}",
        'ingest.flavour={column = "B_ID", kind = "pdg"}', "datasets.bins=[7, 8, 9]",
        "generate.q2_min=1.1",
    ])
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(cfg, protocol=protocol))
        assert back == cfg
        assert type(back) is Config
        assert back.digest() == cfg.digest()
        assert back.generate.dc9 == -0.8200000000000001
        assert back.datasets.bins == (7, 8, 9)
        with pytest.raises(dataclasses.FrozenInstanceError):
            back.generate.dc9 = 0.0  # type: ignore[misc]
    assert copy.deepcopy(cfg) == cfg
    # the plain form round-trips too (what run manifests store)
    assert load_config(data=cfg.to_dict()) == cfg


# --------------------------------------------------------------------------------------------
# typed overrides (command-line flags that only the config carries)
# --------------------------------------------------------------------------------------------


def test_typed_overrides_equal_text_overrides_and_apply_in_order():
    text = load_config(overrides=["generate.dc9=-0.82", 'generate.flavour="both"', "seed=3"])
    typed = load_config(overrides=[("generate.dc9", -0.82), ("generate.flavour", "both"),
                                   ("seed", 3)])
    assert typed == text
    # later entries win, whichever the form
    last_typed = load_config(overrides=["generate.events=10", ("generate.events", 20)])
    last_text = load_config(overrides=[("generate.events", 20), "generate.events=10"])
    assert last_typed.generate.events == 20
    assert last_text.generate.events == 10


def test_typed_overrides_are_checked_like_file_values():
    with pytest.raises(ConfigError, match="must be an integer"):
        load_config(overrides=[("generate.events", 1.5)])
    with pytest.raises(ConfigError, match="did you mean 'events'"):
        load_config(overrides=[("generate.evnts", 5)])
    with pytest.raises(ConfigError, match="q2_min"):
        load_config(overrides=[("generate.q2_min", 6.0), ("generate.q2_max", 1.0)])
    with pytest.raises(ConfigError, match="has no key"):
        load_config(overrides=[("", 1)])


# --------------------------------------------------------------------------------------------
# removed dead setting
# --------------------------------------------------------------------------------------------


def test_removed_crb_events_is_an_unknown_key_with_a_suggestion(tmp_path):
    assert "crb_events" not in {f.name for f in dataclasses.fields(EvaluateConfig)}
    old = tmp_path / "old.toml"
    old.write_text("[evaluate]\ncrb_events = 20000\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key 'crb_events' in \[evaluate\] of .*old"
                       r"\.toml; did you mean 'distribution_events'\?"):
        load_config(old)
    for shipped in sorted((ROOT / "configs").glob("*.toml")):
        assert "crb_events" not in shipped.read_text(encoding="utf-8"), shipped.name
