"""The [train] and [model] settings that choose what is built are registries covering the config."""

import dataclasses
import typing

import pytest

keras = pytest.importorskip("keras")

from hepc9.config import load_config  # noqa: E402
from hepc9.config.study import ModelConfig, TrainConfig  # noqa: E402
from hepc9.errors import ConfigError  # noqa: E402
from hepc9.models.deepsets import POOL_NORMS  # noqa: E402
from hepc9.train.optim import LOSSES, LR_SCHEDULES, OPTIMISERS, compile_model  # noqa: E402


def _choices(cls, field):
    return set(typing.get_args(typing.get_type_hints(cls)[field]))


def test_every_config_value_has_a_registry_entry():
    assert set(LR_SCHEDULES) == _choices(TrainConfig, "lr_schedule")
    assert set(OPTIMISERS) == _choices(TrainConfig, "optimizer")
    assert _choices(TrainConfig, "loss") <= set(LOSSES)
    assert "crossentropy" in LOSSES  # the classifiers' own loss
    assert set(POOL_NORMS) == _choices(ModelConfig, "pool_norm")


def _tiny():
    inputs = keras.Input(shape=(3,))
    return keras.Model(inputs, keras.layers.Dense(1)(inputs))


def test_compile_model_builds_the_configured_schedule():
    plateau = load_config(None, ["train.optimizer='sgd'", "train.momentum=0.5",
                                 "train.learning_rate=0.02", "train.min_lr=1e-4"]).train
    model = _tiny()
    cb = compile_model(model, "mse", plateau, total_steps=100)
    assert isinstance(cb, keras.callbacks.ReduceLROnPlateau)
    assert cb.min_lr == pytest.approx(1e-4)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)
    assert isinstance(model.loss, keras.losses.MeanSquaredError)

    cosine = load_config(None, ["train.optimizer='adam'", "train.learning_rate=0.01",
                                "train.min_lr=0.001", "train.lr_schedule='cosine'"]).train
    model = _tiny()
    assert compile_model(model, "mae", cosine, total_steps=10) is None
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    sched = model.optimizer._learning_rate
    assert isinstance(sched, keras.optimizers.schedules.CosineDecay)
    assert float(sched(0)) == pytest.approx(0.01)
    assert float(sched(10)) == pytest.approx(0.001)


def test_unknown_entries_name_the_choices():
    tcfg = dataclasses.replace(load_config(None).train)
    object.__setattr__(tcfg, "optimizer", "adma")
    with pytest.raises(ConfigError, match=r"did you mean 'adam'.*choose adam, sgd"):
        compile_model(_tiny(), "mse", tcfg, total_steps=1)
    with pytest.raises(ConfigError, match=r"unknown loss 'mas'"):
        compile_model(_tiny(), "mas", load_config(None).train, total_steps=1)
