"""Registry, backend selection, save/load, and the cheap ``import hepc9``."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hepc9.errors import BackendError, ConfigError, DataError, OutputExistsError, SchemaError
from hepc9.models import REGISTRY, _backend, get_builder, read_model_info


def test_import_hepc9_loads_no_keras():
    code = (
        "import sys, hepc9, hepc9.models, hepc9.train, hepc9.models.event_classifier, "
        "hepc9.models._backend\n"
        "bad = [m for m in ('keras', 'tensorflow', 'matplotlib', 'jax', 'torch') "
        "if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.stdout.strip() == ""


def test_resolve_precedence(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert _backend.resolve("torch", "tensorflow") == "torch"
    assert _backend.resolve(None, "tensorflow") == "tensorflow"
    assert _backend.resolve(None, "auto") == "jax"
    monkeypatch.delenv("KERAS_BACKEND")
    assert _backend.resolve(None, "auto") == _backend.default()
    # JAX when installed (the fast CPU path), else TensorFlow
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert _backend.resolve(None, "auto") == "tensorflow"
    with pytest.raises(BackendError, match="did you mean 'jax'"):
        _backend.resolve("jaxx")


def test_select_refuses_to_switch_a_loaded_keras():
    pytest.importorskip("keras")
    loaded = _backend.select(None)
    assert _backend.select(loaded) == loaded
    other = "jax" if loaded != "jax" else "torch"
    with pytest.raises(BackendError, match=f"already loaded with the '{loaded}'"):
        _backend.select(other)


def test_registry_lookup():
    assert set(REGISTRY) == {"resnet3d", "deepsets", "event", "event_exact", "ratio"}
    assert all(":" in target for target in REGISTRY.values())
    with pytest.raises(ConfigError, match="did you mean 'deepsets'"):
        get_builder("deepset")


def test_save_load_round_trip(tmp_path):
    pytest.importorskip("keras")
    from hepc9.config import ModelConfig
    from hepc9.models import build_model, load_model, save_model

    model = build_model("deepsets", (20, 4), ModelConfig(mask_padding=True))
    x = np.random.default_rng(2).normal(size=(5, 20, 4)).astype(np.float32)
    before = np.asarray(model.predict_on_batch(x))
    save_model(model, tmp_path / "m", {"model": "deepsets", "labels": {"mean": 0, "std": 1}})
    loaded, info = load_model(tmp_path / "m")
    np.testing.assert_array_equal(np.asarray(loaded.predict_on_batch(x)), before)
    assert info["model"] == "deepsets"
    assert info["versions"]["keras"]
    assert info["backend"] == _backend.active()
    with pytest.raises(OutputExistsError):
        save_model(model, tmp_path / "m", {"model": "deepsets"})
    # a copy loads to the same predictions; a folder without a model is refused
    from hepc9.models import copy_model

    copy_model(tmp_path / "m", tmp_path / "copy")
    again, meta = load_model(tmp_path / "copy")
    np.testing.assert_array_equal(np.asarray(again.predict_on_batch(x)), before)
    assert meta == info
    with pytest.raises(DataError, match="not a saved hepc9 model"):
        copy_model(tmp_path / "copy" / "..", tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_read_model_info_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_model_info(tmp_path / "nope")
    with pytest.raises(DataError, match="not a saved hepc9 model"):
        read_model_info(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(SchemaError, match="not a hepc9 model"):
        read_model_info(tmp_path)
