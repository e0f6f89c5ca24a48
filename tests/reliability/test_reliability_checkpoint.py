"""A damaged training checkpoint never blocks a resume (issue 16, serious 2).

The kill during the write is reproduced by what it leaves: a truncated or garbage
``latest.weights.h5`` (and then a damaged previous generation too).
"""

from __future__ import annotations

import json
import logging
import stat

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from hepc9.config import load_config  # noqa: E402
from hepc9.train import train_model  # noqa: E402
from hepc9.train.checkpoint import PREVIOUS_WEIGHTS_FILE, WEIGHTS_FILE  # noqa: E402

SLIM = ["model.depth=10", "model.width=0.125", "model.dense_units=8", "model.dropout=0.0",
        "train.batch_size=32"]


def _interrupted(tmp_path):
    cfg = load_config(None, SLIM)
    rng = np.random.default_rng(0)
    y = rng.choice([-1.0, 0.0, 1.0], 64).astype(np.float32)
    x = (rng.normal(size=(64, 8, 8, 8, 1)) * 0.3 + y[:, None, None, None, None]).astype(
        np.float16)

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    out = tmp_path / "m"
    with pytest.raises(KeyboardInterrupt):
        train_model((x, y), model_name="resnet3d", cfg=cfg, output=out, epochs=4,
                    callbacks=[Interrupt()])
    folder = out / "backup" / "keras"
    assert (folder / WEIGHTS_FILE).is_file()
    assert (folder / PREVIOUS_WEIGHTS_FILE).is_file()  # two generations
    assert not [p for p in folder.iterdir() if ".tmp" in p.name]
    return cfg, (x, y), out, folder


def _resume(cfg, data, out):
    train_model(data, model_name="resnet3d", cfg=cfg, output=out, epochs=4)
    history = json.loads((out / "history.json").read_text())["epochs"]
    assert [e["epoch"] for e in history] == [0, 1, 2, 3]
    assert (out / "model.keras").is_file()
    for name in ("model.keras", "model.json", "history.json"):  # rw-r--r-- like every output
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name


def test_truncated_latest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    cfg, data, out, folder = _interrupted(tmp_path)
    latest = folder / WEIGHTS_FILE
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="hepc9"):
        _resume(cfg, data, out)
    assert "unreadable" in caplog.text
    assert "from the start" not in caplog.text


def test_garbage_in_both_generations_restarts_with_a_warning(tmp_path, caplog):
    cfg, data, out, folder = _interrupted(tmp_path)
    (folder / WEIGHTS_FILE).write_bytes(b"\x89HDF\r\n garbage")
    (folder / PREVIOUS_WEIGHTS_FILE).write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="hepc9"):
        _resume(cfg, data, out)
    assert "from the start" in caplog.text
