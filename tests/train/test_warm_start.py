"""Warm starts: a training that begins from the weights of a saved model."""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from hepc9.config import load_config  # noqa: E402
from hepc9.errors import ConfigError  # noqa: E402
from hepc9.pipeline.train import train_from_folder  # noqa: E402
from hepc9.train import load_predictor, predict, train_model  # noqa: E402

SLIM = ["model.phi_units=[16,16]", "model.rho_units=[16]", "train.batch_size=32",
        "train.optimizer='adam'", "train.loss='mse'", "train.learning_rate=0.01"]


def toy_sets(n, seed, n_events, n_features=3, shift=0.0):
    """Event sets whose features are N(δC9 + shift, 1)."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(-2.0, 1.0, n).astype(np.float32)
    x = rng.normal(size=(n, n_events, n_features)) + y[:, None, None] + shift
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("warm") / "n20"
    x, y = toy_sets(240, 1, 20)
    train_model((x, y), model_name="deepsets", cfg=load_config(None, SLIM), output=out,
                epochs=8)
    return out


def test_fine_tuning_starts_from_the_saved_weights_and_standardisation(small_model, tmp_path):
    # other set size and shifted inputs: a fresh normalisation would differ from the saved one
    x, y = toy_sets(64, 2, 80, shift=0.5)
    frozen = load_config(None, [*SLIM, "train.optimizer='sgd'", "train.learning_rate=1e-12"])
    train_model((x, y), model_name="deepsets", cfg=frozen, output=tmp_path, epochs=1,
                init_from=small_model)
    old_model, old_info = load_predictor(small_model)
    new_model, new_info = load_predictor(tmp_path)
    assert new_info["input_normalisation"] == old_info["input_normalisation"]
    assert new_info["labels"]["mean"] == old_info["labels"]["mean"]
    assert new_info["labels"]["std"] == old_info["labels"]["std"]
    assert new_info["training"]["init_from"] == str(small_model)
    xt, _ = toy_sets(16, 3, 80)
    np.testing.assert_allclose(predict(new_model, new_info, xt)["dc9"],
                               predict(old_model, old_info, xt)["dc9"], rtol=1e-5, atol=1e-6)


def test_fine_tuning_begins_below_a_fresh_start(small_model, tmp_path):
    x, y = toy_sets(160, 4, 80)
    cfg = load_config(None, SLIM)
    train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path / "warm", epochs=1,
                init_from=small_model)
    train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path / "cold", epochs=1)

    def first_loss(folder):
        return json.loads((folder / "history.json").read_text())["epochs"][0]["val_loss"]

    assert first_loss(tmp_path / "warm") < 0.5 * first_loss(tmp_path / "cold")
    assert json.loads((tmp_path / "cold" / "model.json").read_text())[
        "training"]["init_from"] is None


@pytest.mark.parametrize(("name", "overrides", "n_features", "match"), [
    ("event", [], 3, "holds a deepsets model"),
    ("deepsets", ["model.phi_units=[8,8]"], 3, "another architecture"),
    ("deepsets", [], 4, "another architecture"),
])
def test_mismatched_initial_models_are_refused(small_model, tmp_path, name, overrides,
                                               n_features, match):
    x, y = toy_sets(40, 5, 20, n_features=n_features)
    with pytest.raises(ConfigError, match=match):
        train_model((x, y), model_name=name, cfg=load_config(None, [*SLIM, *overrides]),
                    output=tmp_path, epochs=1, init_from=small_model)
    assert not (tmp_path / "model.json").exists()


def test_own_trainers_refuse_a_warm_start(small_model, tmp_path):
    with pytest.raises(ConfigError, match="trains from scratch"):
        train_from_folder(load_config("configs/smoke.toml"), None, tmp_path,
                          model_name="ratio", init_from=small_model)


@pytest.mark.parametrize("warm", [True, False])
def test_run_trains_set_sizes_upwards_from_the_smaller_model(tmp_path, monkeypatch, warm):
    from hepc9.artifacts import Manifest
    from hepc9.pipeline import stages
    from hepc9.pipeline.layout import model_dir
    from hepc9.pipeline.run import RunContext

    calls = []

    def fake_train(cfg, dataset, out, *, model_name, init_from=None, epochs=None, **kw):
        calls.append((model_name, cfg.datasets.events_per_image, init_from))
        assert epochs == (3 if init_from is not None else None)
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.keras").write_bytes(b"weights of " + str(out).encode())
        (out / "model.json").write_text(json.dumps(
            {"format": "hepc9-model", "format_version": 1, "model": model_name, "labels": {}}))
        return {"model": model_name, "output": str(out)}

    monkeypatch.setattr(stages, "train_from_folder", fake_train)
    cfg = load_config("configs/smoke.toml", [
        "evaluate.methods=['fit', 'deepsets', 'ratio']", "evaluate.events_per_set=[800, 400]",
        "evaluate.levels=['gen']", f"train.warm_start={str(warm).lower()}",
        "train.warm_start_epochs=3"])
    ctx = RunContext(cfg=cfg, run_dir=tmp_path, manifest=Manifest(tmp_path, {}, 7))
    stages.stage_train(ctx)
    small = model_dir(ctx, "deepsets", "gen", 400)
    deepsets = [(n, i) for m, n, i in calls if m == "deepsets"]
    if warm:
        assert deepsets == [(400, None), (800, small)]
    else:
        assert deepsets == [(800, None), (400, None)]
    # ratio learns per-event coefficients: trained once, the other size gets a copy
    ratio = [(m, i) for m, _n, i in calls if m == "ratio"]
    assert ratio == [("ratio", None)]
    first, other = ((400, 800) if warm else (800, 400))
    src, dst = model_dir(ctx, "ratio", "gen", first), model_dir(ctx, "ratio", "gen", other)
    assert (dst / "model.keras").read_bytes() == (src / "model.keras").read_bytes()
    copied = json.loads((dst / "train_result.json").read_text())
    assert copied["copied_from"] == str(src)
    assert copied["output"] == str(dst)
    assert copied["run_config_digest"] == cfg.digest()
    # a second pass keeps everything this run trained
    calls.clear()
    stages.stage_train(ctx)
    assert calls == []


def test_frozen_layers_keep_their_weights(small_model, tmp_path):
    x, y = toy_sets(96, 6, 80)
    cfg = load_config(None, [*SLIM, "train.freeze_layers=['phi_']"])
    train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path, epochs=2,
                init_from=small_model)
    old, _ = load_predictor(small_model)
    new, info = load_predictor(tmp_path)
    assert info["training"]["frozen_layers"] == ["phi_0", "phi_1"]
    for name in ("phi_0", "phi_1"):
        for a, b in zip(old.get_layer(name).get_weights(), new.get_layer(name).get_weights(),
                        strict=True):
            np.testing.assert_array_equal(a, b)
    moved = [np.abs(a - b).max() for a, b in zip(old.get_layer("rho_0").get_weights(),
                                                 new.get_layer("rho_0").get_weights(),
                                                 strict=True)]
    assert max(moved) > 1e-4


def test_freezing_applies_to_warm_starts_only(small_model, tmp_path):
    x, y = toy_sets(40, 7, 20)
    cfg = load_config(None, [*SLIM, "train.freeze_layers=['psi_']"])
    with pytest.raises(ConfigError, match="'psi_' matches no layer of deepsets; its layers"):
        train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path / "a", epochs=1,
                    init_from=small_model)
    # from scratch nothing is frozen: random φ weights must learn
    cfg = load_config(None, [*SLIM, "train.freeze_layers=['phi_']"])
    train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path / "b", epochs=1)
    info = json.loads((tmp_path / "b" / "model.json").read_text())
    assert info["training"]["frozen_layers"] == []


@pytest.mark.parametrize(("override", "match"), [
    ("train.warm_start_epochs=0", "warm_start_epochs = 0 .* must be positive"),
    ("train.freeze_layers=['']", "must name layer prefixes"),
])
def test_bad_warm_start_settings_are_refused(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])
