"""Training on tiny synthetic data (CPU, TensorFlow backend): learning, resume, save/load."""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from hepc9.config import load_config  # noqa: E402
from hepc9.errors import ConfigError, DataError, OutputExistsError  # noqa: E402
from hepc9.train import (  # noqa: E402
    CALIBRATION_EPOCH,
    REFERENCE_EPOCH,
    VALIDATION_EPOCH,
    ArraySource,
    StreamSource,
    load_predictor,
    predict,
    train_model,
)

GRID = np.array([-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0])
SLIM = [
    "model.depth=10", "model.width=0.125", "model.dense_units=16", "model.dropout=0.3",
    "model.phi_units=[16,16]", "model.rho_units=[16]", "model.event_units=[16,16]",
    "train.batch_size=32",
]


def toy_images(n, seed, size=8):
    """Images whose mean grey value is linear in δC9, plus noise: clearly separable."""
    rng = np.random.default_rng(seed)
    y = rng.choice(GRID, n).astype(np.float32)
    x = rng.normal(size=(n, size, size, size, 1)) * 0.3 + (y[:, None, None, None, None] + 2) / 3
    return x.astype(np.float16), y


def toy_sets(n, seed, n_events=40):
    """Event sets whose features are N(δC9, 1): the set mean is a sufficient statistic."""
    rng = np.random.default_rng(seed)
    y = rng.choice(GRID, n).astype(np.float32)
    x = rng.normal(size=(n, n_events, 3)) + y[:, None, None]
    return x.astype(np.float32), y


def test_slim_resnet_learns_dc9(tmp_path):
    cfg = load_config(None, [*SLIM, "train.optimizer='adam'", "train.learning_rate=0.003"])
    x, y = toy_images(320, 0)
    result = train_model((x, y), model_name="resnet3d", cfg=cfg, output=tmp_path, epochs=10)
    history = json.loads((tmp_path / "history.json").read_text())["epochs"]
    assert len(history) == result.epochs_run == 10
    assert history[-1]["loss"] < history[0]["loss"]
    model, info = load_predictor(tmp_path)
    xt, yt = toy_images(100, 1)
    pred = predict(model, info, xt)["dc9"]
    assert abs(np.corrcoef(pred, yt)[0, 1]) > 0.9
    # label standardisation travels with the model
    labels = info["labels"]
    assert labels["kind"] == "standardized"
    assert labels["std"] > 0.5
    assert -1.5 < labels["mean"] < 0.0
    assert info["item_shape"] == [8, 8, 8, 1]
    assert info["training"]["optimizer"] == "adam"
    assert result.validation["corr"] > 0.9


def test_loss_decreases_deepsets_sgd_mae(tmp_path):
    cfg = load_config(None, SLIM)  # paper defaults: SGD, MAE
    x, y = toy_sets(200, 2)
    train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path, epochs=6)
    history = json.loads((tmp_path / "history.json").read_text())["epochs"]
    losses = [e["loss"] for e in history]
    assert losses[-1] < 0.9 * losses[0]
    assert all(e["learning_rate"] > 0 for e in history)
    info = json.loads((tmp_path / "model.json").read_text())
    assert info["training"]["loss"] == "mae"
    assert info["training"]["optimizer"] == "sgd"
    assert len(info["input_normalisation"]["mean"]) == 3


def _interrupt_after(last_epoch):
    """A callback that stops training like Ctrl-C at the end of epoch ``last_epoch``."""

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == last_epoch:
                raise KeyboardInterrupt

    return Interrupt()


def test_resume_reproduces_uninterrupted_run(tmp_path):
    # dropout and a learning-rate plateau make the resumed state non-trivial
    cfg = load_config(None, [*SLIM, "train.reduce_lr_patience=1"])
    x, y = toy_images(64, 3)

    train_model((x, y), model_name="resnet3d", cfg=cfg, output=tmp_path / "a", epochs=5)
    with pytest.raises(KeyboardInterrupt):
        train_model((x, y), model_name="resnet3d", cfg=cfg, output=tmp_path / "b", epochs=5,
                    callbacks=[_interrupt_after(2)])
    assert not (tmp_path / "b" / "model.json").exists()
    assert (tmp_path / "b" / "backup").is_dir()
    other = load_config(None, [*SLIM, "train.reduce_lr_patience=2"])
    with pytest.raises(OutputExistsError, match="interrupted run"):
        train_model((x, y), model_name="resnet3d", cfg=other, output=tmp_path / "b", epochs=5)
    train_model((x, y), model_name="resnet3d", cfg=cfg, output=tmp_path / "b", epochs=5)
    assert not (tmp_path / "b" / "backup").exists()
    ha = json.loads((tmp_path / "a" / "history.json").read_text())["epochs"]
    hb = json.loads((tmp_path / "b" / "history.json").read_text())["epochs"]
    assert [e["epoch"] for e in hb] == list(range(5))
    assert ha == hb
    ma, _ = load_predictor(tmp_path / "a")
    mb, _ = load_predictor(tmp_path / "b")
    for wa, wb in zip(ma.get_weights(), mb.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_cosine_schedule_decays_and_resumes(tmp_path):
    # lr_schedule = "cosine": the rate follows the optimiser's step counter from learning_rate
    # down to min_lr over all epochs, whatever the validation loss, and a resumed run
    # continues on the same curve
    cfg = load_config(None, [*SLIM, "train.optimizer='adam'", "train.learning_rate=0.01",
                             "train.min_lr=0.001", "train.lr_schedule='cosine'"])
    x, y = toy_sets(160, 4)  # 128 training sets, 4 batches of 32 per epoch

    train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path / "a", epochs=4)
    with pytest.raises(KeyboardInterrupt):
        train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path / "b", epochs=4,
                    callbacks=[_interrupt_after(1)])
    train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path / "b", epochs=4)
    ha = json.loads((tmp_path / "a" / "history.json").read_text())["epochs"]
    hb = json.loads((tmp_path / "b" / "history.json").read_text())["epochs"]
    assert ha == hb
    rates = np.array([e["learning_rate"] for e in ha])
    # after epoch k (4 steps each) of 16 steps: min + (max - min)(1 + cos(pi k/4))/2
    k = np.arange(1, 5)
    expected = 0.001 + 0.009 * (1 + np.cos(np.pi * k / 4)) / 2
    np.testing.assert_allclose(rates, expected, rtol=1e-5)
    info = json.loads((tmp_path / "a" / "model.json").read_text())
    assert info["training"]["train_config"]["lr_schedule"] == "cosine"
    with pytest.raises(ConfigError, match="min_lr"):
        load_config(None, ["train.lr_schedule='cosine'", "train.min_lr=0.1",
                           "train.learning_rate=0.01"])
    with pytest.raises(ConfigError, match="lr_schedule"):
        load_config(None, ["train.lr_schedule='step'"])


def test_save_load_round_trip_predictions(tmp_path):
    cfg = load_config(None, SLIM)
    x, y = toy_sets(60, 4)
    train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path, epochs=1)
    model, info = load_predictor(tmp_path)
    again, _ = load_predictor(tmp_path)
    a = predict(model, info, x[:10])["dc9"]
    np.testing.assert_array_equal(a, predict(again, info, x[:10])["dc9"])
    # predict() applies the stored input standardisation and label decoding
    raw = np.asarray(model.predict_on_batch(
        ((x[:10] - np.array(info["input_normalisation"]["mean"], np.float32))
         / np.array(info["input_normalisation"]["std"], np.float32)).astype(np.float32)))
    np.testing.assert_allclose(
        a, raw[:, 0] * info["labels"]["std"] + info["labels"]["mean"], rtol=1e-5)
    with pytest.raises(OutputExistsError):
        train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path, epochs=1)


def test_event_classifier_posterior_in_dc9_units(tmp_path):
    cfg = load_config(None, [*SLIM, "train.optimizer='adam'", "train.learning_rate=0.01",
                             "train.batch_size=256"])
    x, y = toy_sets(140, 5, n_events=30)
    result = train_model((x, y), model_name="event", cfg=cfg, output=tmp_path, epochs=4)
    model, info = load_predictor(tmp_path)
    assert info["labels"]["kind"] == "grid"
    np.testing.assert_allclose(info["labels"]["grid"], GRID)
    xt, yt = toy_sets(70, 6, n_events=30)
    out = predict(model, info, xt)
    # σ of the set mean is 1/√30 ≈ 0.18; the posterior mean must track the true values
    assert np.corrcoef(out["dc9"], yt)[0, 1] > 0.9
    assert np.mean(np.abs(out["dc9"] - yt)) < 0.4
    assert np.all(out["lower"] <= out["dc9"] + 1e-9)
    assert np.all(out["dc9"] <= out["upper"] + 1e-9)
    assert np.all((out["dc9"] >= GRID[0]) & (out["dc9"] <= GRID[-1]))
    assert result.validation["n"] > 0


def test_streamed_training(tmp_path):
    cfg = load_config(None, [*SLIM, "train.steps_per_epoch=4", "train.validation_steps=2"])
    drawn = []

    def draw(epoch, index):
        drawn.append((epoch, index))
        ss = np.random.SeedSequence(11, spawn_key=(epoch, index))
        rng = np.random.Generator(np.random.PCG64(ss))
        yb = rng.choice(GRID, 16).astype(np.float32)
        xb = rng.normal(size=(16, 20, 3)) + yb[:, None, None]
        return xb.astype(np.float32), yb

    src = StreamSource(draw=draw, item_shape=(20, 3), labels=GRID, kind="sets")
    result = train_model(src, model_name="deepsets", cfg=cfg, output=tmp_path, epochs=2)
    assert result.epochs_run == 2
    _, info = load_predictor(tmp_path)
    assert info["events_per_set"] == 20
    # fresh training batches each epoch; the early-stopping and calibration splits and the
    # normalisation reference each from their own reserved key, drawn once
    train_keys = {k for k in drawn if k[0] < VALIDATION_EPOCH}
    assert train_keys == {(e, i) for e in range(2) for i in range(4)}
    reserved = [k for k in drawn if k[0] >= VALIDATION_EPOCH]
    assert sorted(reserved) == sorted(
        [(VALIDATION_EPOCH, 0), (VALIDATION_EPOCH, 1), (REFERENCE_EPOCH, 0)]
        + [(CALIBRATION_EPOCH, i) for i in range(cfg.train.calibration_steps)])


def test_model_and_dataset_must_match(tmp_path):
    cfg = load_config(None, SLIM)
    x, y = toy_sets(20, 7)
    with pytest.raises(ConfigError, match="needs an image dataset"):
        train_model((x, y), model_name="resnet3d", cfg=cfg, output=tmp_path, epochs=1)
    xi, yi = toy_images(20, 8)
    with pytest.raises(ConfigError, match="needs an event-set dataset"):
        train_model(ArraySource(xi, yi), model_name="deepsets", cfg=cfg, output=tmp_path,
                    epochs=1)
    with pytest.raises(DataError, match="distinct"):
        train_model((x, np.zeros_like(y)), model_name="deepsets", cfg=cfg, output=tmp_path,
                    epochs=1)


def test_mixed_precision_option_keeps_float32_outputs(tmp_path):
    cfg = load_config(None, [*SLIM, "train.mixed_precision=true"])
    x, y = toy_sets(48, 9, n_events=10)
    train_model((x, y), model_name="deepsets", cfg=cfg, output=tmp_path, epochs=1)
    # the global policy is restored; the saved model computes in float16, outputs float32
    assert keras.config.dtype_policy().name == "float32"
    model, info = load_predictor(tmp_path)
    assert model.get_layer("phi_0").dtype_policy.name == "mixed_float16"
    assert model.get_layer("dc9").dtype_policy.name == "float32"
    assert np.all(np.isfinite(predict(model, info, x[:4])["dc9"]))
