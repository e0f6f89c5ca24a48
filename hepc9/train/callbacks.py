"""Training state that survives an interruption: callbacks, history file and backup folder.

``backup/`` holds the Keras ``BackupAndRestore`` checkpoint plus the state of the plateau and
early-stopping callbacks, the dropout seed states and the best weights, so that a resumed run
ends with the same model as an uninterrupted one.  The callback classes subclass
``keras.callbacks.Callback`` and are therefore made on first use (:func:`callback_classes`).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.artifacts import atomic_path, write_json
from hepc9.errors import OutputExistsError
from hepc9.train.checkpoint import backup_and_restore_class

__all__ = ["BACKUP_DIR", "HISTORY_FILE", "callback_classes", "check_backup"]

log = logging.getLogger(__name__)

HISTORY_FILE = "history.json"
BACKUP_DIR = "backup"
_STATE_FILE = "callbacks.json"
_BEST_FILE = "best_weights.npz"


def callback_classes() -> dict[str, type]:
    """Return the callback classes of a training run (Keras is imported here).

    ``EpochSync``, ``HistoryWriter``, ``CallbackState`` and the atomic ``BackupAndRestore``
    (:mod:`hepc9.train.checkpoint`).

    Returns
    -------
    dict of str to type
        Subclasses of ``keras.callbacks.Callback`` (Keras is imported here).
    """
    import keras

    class EpochSync(keras.callbacks.Callback):
        """Tell the datasets which epoch starts (shuffling and streams depend on it)."""

        def __init__(self, datasets: Sequence[Any]) -> None:
            super().__init__()
            self.datasets = datasets

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            for ds in self.datasets:
                ds.set_epoch(epoch)

    class HistoryWriter(keras.callbacks.Callback):
        """Write ``history.json`` (one entry per epoch) and log a line per epoch."""

        def __init__(self, path: Path, label_std: float) -> None:
            super().__init__()
            self.path = path
            self.label_std = label_std
            self.entries: list[dict[str, Any]] = []

        def on_train_begin(self, logs: Any = None) -> None:
            start = int(getattr(self.model, "_initial_epoch", 0) or 0)
            if start > 0 and self.path.is_file():
                old = json.loads(self.path.read_text(encoding="utf-8"))["epochs"]
                self.entries = [e for e in old if e["epoch"] < start]
            else:
                self.entries = []

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            entry: dict[str, Any] = {"epoch": int(epoch)}
            for key, value in (logs or {}).items():
                entry[key] = float(value)
            entry["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )
            self.entries.append(entry)
            write_json(self.path, {"label_std": self.label_std, "epochs": self.entries})
            log.info("epoch %s: %s", epoch + 1,
                     ", ".join(f"{k}={v:.5g}" for k, v in entry.items() if k != "epoch"))

    class CallbackState(keras.callbacks.Callback):
        """Save and restore the state of plateau and early-stopping callbacks for resumes.

        ``plateau`` is ``None`` under a learning-rate schedule (``[train] lr_schedule``).
        """

        def __init__(self, folder: Path, plateau: Any, stopper: Any) -> None:
            super().__init__()
            self.folder = folder
            self.plateau = plateau
            self.stopper = stopper

        def on_train_begin(self, logs: Any = None) -> None:
            path = self.folder / _STATE_FILE
            start = int(getattr(self.model, "_initial_epoch", 0) or 0)
            if start == 0 or not path.is_file():
                return
            state = json.loads(path.read_text(encoding="utf-8"))
            if self.plateau is not None:
                for key, value in state["plateau"].items():
                    setattr(self.plateau, key, value)
            for key, value in state["stopper"].items():
                setattr(self.stopper, key, value)
            rate = self.model.optimizer.learning_rate
            # a schedule's rate follows the restored step counter and cannot be assigned
            if hasattr(rate, "assign"):
                rate.assign(state["learning_rate"])
            seeds = _seed_states(self.model)
            for var, value in zip(seeds, state.get("seed_states", []), strict=False):
                var.assign(np.asarray(value, dtype=keras.ops.convert_to_numpy(var).dtype))
            best = self.folder / _BEST_FILE
            if best.is_file():
                with np.load(best, allow_pickle=False) as npz:
                    self.stopper.best_weights = [npz[f"w{i}"] for i in range(len(npz.files))]

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.folder.mkdir(parents=True, exist_ok=True)
            state = {
                "plateau": {} if self.plateau is None else {
                    k: _plain(getattr(self.plateau, k))
                    for k in ("wait", "best", "cooldown_counter")},
                "stopper": {k: _plain(getattr(self.stopper, k))
                            for k in ("wait", "best", "best_epoch")},
                "learning_rate": float(
                    keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
                ),
                "seed_states": [keras.ops.convert_to_numpy(v).tolist()
                                for v in _seed_states(self.model)],
            }
            if self.stopper.best_weights is not None and self.stopper.best_epoch == epoch:
                with atomic_path(self.folder / _BEST_FILE, overwrite=True) as tmp, \
                        open(tmp, "wb") as fh:
                    arrays: dict[str, Any] = {f"w{i}": np.asarray(w)
                                              for i, w in enumerate(self.stopper.best_weights)}
                    np.savez(fh, **arrays)
            write_json(self.folder / _STATE_FILE, state)

    return {"EpochSync": EpochSync, "HistoryWriter": HistoryWriter,
            "CallbackState": CallbackState, "BackupAndRestore": backup_and_restore_class()}


def _seed_states(model: Any) -> list[Any]:
    """Return the random-generator state variables of the layers (dropout), in a fixed order."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return np.asarray(value).item()
    if hasattr(value, "numpy"):
        return np.asarray(value).item()
    return value


def check_backup(backup: Path, run: Mapping[str, Any], *, overwrite: bool) -> None:
    """Make sure a backup left in the folder belongs to this very run before resuming it.

    Parameters
    ----------
    backup : Path
        The ``backup/`` folder of a model folder.
    run : mapping
        What identifies the run (model, configuration digest, member).
    overwrite : bool
        Replace a backup of another run instead of raising.

    Raises
    ------
    OutputExistsError
        If the folder holds a backup of another run and ``overwrite`` is false.
    """
    path = backup / "run.json"
    if backup.is_dir():
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if old == dict(run):
            log.info("resuming the interrupted run in %s", backup.parent)
            return
        if not overwrite:
            raise OutputExistsError(
                f"{backup.parent} holds an interrupted run of another model or configuration; "
                "resume it with the same settings, or pass overwrite to start anew"
            )
        shutil.rmtree(backup)
    backup.mkdir(parents=True)
    write_json(path, dict(run))
