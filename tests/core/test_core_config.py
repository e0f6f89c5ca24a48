"""Configuration loading, validation and overrides."""

import pytest

from hepc9.config import Config, config_digest, load_config, parse_override
from hepc9.errors import ConfigError


def test_defaults_are_valid_and_frozen():
    cfg = load_config()
    assert isinstance(cfg, Config)
    assert cfg.generate.dc9 == 0.0
    with pytest.raises(AttributeError):
        cfg.generate.dc9 = 1.0  # type: ignore[misc]


def test_file_and_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("seed = 7\n[generate]\nevents = 1000\ndc9 = -0.82\n")
    cfg = load_config(f, ["generate.events=2000", "datasets.bins=[25,25,25]"])
    assert cfg.seed == 7
    assert cfg.generate.events == 2000
    assert cfg.generate.dc9 == -0.82
    assert cfg.datasets.bins == (25, 25, 25)


def test_unknown_key_names_file_section_and_suggestion(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[generate]\nevnets = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'evnets' in \[generate\] of .*bad.toml; "
                       r"did you mean 'events'\?"):
        load_config(f)


def test_unknown_section_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'generate'"):
        load_config(overrides=["generat.events=3"])


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ('generate.events="many"', "must be an integer"),
        ("generate.events=0", "must be positive"),
        ("generate.dc9=true", "must be a number"),
        ('generate.flavour="both_"', "did you mean 'both'"),
        ("generate.q2_min=5.0", None),
        ("background.fraction=1.5", "must be in [0, 1)"),
        ("seed=-1", "non-negative"),
        ("datasets.bins=[25,25]", "must have 3 elements"),
    ],
)
def test_bad_values(override, fragment):
    if fragment is None:
        load_config(overrides=[override])
        return
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert fragment in str(info.value)


def test_window_order():
    with pytest.raises(ConfigError, match="q2_min"):
        load_config(overrides=["generate.q2_min=6", "generate.q2_max=1"])


def test_missing_and_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "syntax.toml"
    bad.write_text("[generate\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_override_parsing():
    assert parse_override("a.b=[1,2]") == (["a", "b"], [1, 2])
    assert parse_override("model.name=deepsets") == (["model", "name"], "deepsets")
    with pytest.raises(ConfigError):
        parse_override("novalue")


def test_digest_is_stable_and_sensitive():
    a = load_config()
    b = load_config()
    c = load_config(overrides=["seed=1"])
    assert a.digest() == b.digest() == config_digest(a.to_dict())
    assert a.digest() != c.digest()
    assert a.digest().startswith("sha256:")


def test_shipped_configs_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    files = sorted(root.glob("*.toml"))
    for f in files:
        load_config(f)
