"""The Keras training checkpoint, written so that a kill at any moment leaves a usable one.

``keras.callbacks.BackupAndRestore`` writes ``latest.weights.h5`` in place: a SIGKILL during
the write leaves a truncated HDF5 file that every rerun then fails to read.  The subclass
made by :func:`backup_and_restore_class` differs in three ways:

* each checkpoint (weights, then the epoch record) is written to a temporary name through
  :func:`hepc9.artifacts.atomic_path` and renamed into place;
* the previous checkpoint is kept as ``previous.weights.h5`` (renamed, not copied), so
  two generations exist at every moment;
* on resume, a checkpoint that cannot be read is reported with a warning and the previous
  one is tried; when neither is readable the model starts from its initial weights, again
  with a warning, instead of failing.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from hepc9.artifacts import atomic_path, write_json

__all__ = ["PREVIOUS_WEIGHTS_FILE", "WEIGHTS_FILE", "backup_and_restore_class"]

log = logging.getLogger(__name__)

WEIGHTS_FILE = "latest.weights.h5"
PREVIOUS_WEIGHTS_FILE = "previous.weights.h5"
_META_FILE = "training_metadata.json"
_PREVIOUS_META_FILE = "previous_training_metadata.json"


def _generations(folder: Path) -> list[tuple[Path, Path]]:
    """(weights, metadata) of the latest and the previous checkpoint, in that order."""
    return [(folder / WEIGHTS_FILE, folder / _META_FILE),
            (folder / PREVIOUS_WEIGHTS_FILE, folder / _PREVIOUS_META_FILE)]


def backup_and_restore_class() -> type:
    """Return the atomic, double-checkpoint subclass of ``keras.callbacks.BackupAndRestore``.

    Returns
    -------
    type
        ``AtomicBackupAndRestore(backup_dir)``: saves after every epoch and keeps the
        checkpoint when training ends (a finished model folder removes the backup itself).
    """
    import keras

    class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
        """``BackupAndRestore`` with atomic writes, two generations and a corrupt-file fallback."""

        def __init__(self, backup_dir: str | os.PathLike[str]) -> None:
            super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
            self.folder = Path(backup_dir)

        def on_train_begin(self, logs: Any = None) -> None:
            if not self.model.built:
                super().on_train_begin(logs)  # Keras' own message for an unbuilt model
                return
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            initial = [v.numpy() for v in self._state_variables()]
            for weights, meta in _generations(self.folder):
                if not weights.exists():
                    continue
                try:
                    epoch = int(json.loads(meta.read_text(encoding="utf-8"))["epoch"])
                    self.model.load_weights(str(weights))
                except Exception as err:  # any unreadable checkpoint
                    log.warning("training checkpoint %s is unreadable (%s: %s); trying the "
                                "previous one", weights, type(err).__name__, err)
                    for var, value in zip(self._state_variables(), initial, strict=True):
                        var.assign(value)
                    continue
                self.model._initial_epoch = epoch
                log.info("resuming training after epoch %d from %s", epoch, weights)
                return
            if any(w.exists() for w, _ in _generations(self.folder)):
                log.warning("no readable training checkpoint in %s; training this model "
                            "again from the start", self.folder)
            self.model._initial_epoch = 0

        def _state_variables(self) -> list[Any]:
            variables = list(self.model.variables)
            if self.model.optimizer is not None and self.model.optimizer.built:
                variables += list(self.model.optimizer.variables)
            return variables

        def _save_model(self) -> None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (weights, meta), (old_weights, old_meta) = _generations(self.folder)
            with atomic_path(weights, overwrite=True) as tmp:
                # Keras wants a name ending in '.weights.h5'; still a swept temporary name
                staged = tmp.with_name(tmp.name + ".weights.h5")
                try:
                    self.model.save_weights(str(staged), overwrite=True)
                    os.replace(staged, tmp)
                finally:
                    staged.unlink(missing_ok=True)
                if weights.exists():
                    os.replace(weights, old_weights)
                    if meta.exists():
                        os.replace(meta, old_meta)
            write_json(meta, {"epoch": self._current_epoch, "batch": self._last_batch_seen})

    return AtomicBackupAndRestore
