"""Warm start: begin a training from the weights of a saved model (fine-tuning).

A set network trained on small sets is a good start for larger ones: its per-event network φ
already extracts what the events say about δC9, and a short training on the larger sets adapts
the set network ρ to their less noisy means (``hepc9 train --init-from DIR``,
``[train] warm_start`` in ``hepc9 run``).  The saved model must be of the same registry name and
have weights of the same shapes (same architecture and number of input features).  Its input
normalisation and label standardisation are adopted, so that the weights keep their meaning;
``model.json`` records the folder under ``training.init_from``.  ``[train] freeze_layers``
keeps layers fixed by name prefix (``["phi_"]``: only ρ is trained), recorded under
``training.frozen_layers``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hepc9.errors import ConfigError
from hepc9.models.saving import load_model

__all__ = ["freeze_layers", "initial_weights", "set_initial_weights"]

#: Label entries that fix what the network's output means (adopted from the initial model).
_LABEL_KEYS = ("mean", "std", "grid", "binned")


def initial_weights(init_from: str | os.PathLike[str], model_name: str,
                    info: dict[str, Any]) -> list[Any]:
    """Load the weights of a saved model and adopt its input and label standardisation.

    Parameters
    ----------
    init_from : path
        Folder of the saved model to start from.
    model_name : str
        Registry name of the model about to be trained.
    info : dict
        The new model's ``model.json`` entries (updated in place: ``input_normalisation`` and
        the ``labels`` standardisation of the initial model).

    Returns
    -------
    list of ndarray
        The initial model's weights, for :func:`set_initial_weights`.

    Raises
    ------
    ConfigError
        If the saved model is of another kind, has other input features or another label
        target.
    """
    folder = Path(init_from)
    model, meta = load_model(folder)
    if meta["model"] != model_name:
        raise ConfigError(f"cannot start a {model_name} training from {folder}: it holds a "
                          f"{meta['model']} model; pass a {model_name} model folder")
    if meta.get("features") != info.get("features"):
        raise ConfigError(f"{folder} was trained on the features {meta.get('features')}, this "
                          f"training uses {info.get('features')}; give both the same "
                          "[datasets] set_features")
    old, new = meta["labels"], info["labels"]
    if old.get("kind") != new.get("kind"):
        raise ConfigError(f"{folder} has {old.get('kind')!r} labels, this training "
                          f"{new.get('kind')!r}; warm starts need the same label target")
    if "input_normalisation" in meta:
        info["input_normalisation"] = meta["input_normalisation"]
    new.update({k: old[k] for k in _LABEL_KEYS if k in old})
    return list(model.get_weights())


def set_initial_weights(model: Any, weights: list[Any], init_from: str | os.PathLike[str]
                        ) -> None:
    """Give the freshly built ``model`` the ``weights`` of :func:`initial_weights`.

    Parameters
    ----------
    model : keras.Model
        The built model.
    weights : list of ndarray
        Weights of the initial model.
    init_from : path
        Its folder (for the message).

    Raises
    ------
    ConfigError
        If the architectures differ (number or shapes of the weights).
    """
    have = [tuple(w.shape) for w in model.get_weights()]
    given = [tuple(w.shape) for w in weights]
    if have != given:
        raise ConfigError(f"{init_from} has another architecture ({len(given)} weight arrays "
                          f"against {len(have)}, or other shapes); give both trainings the "
                          "same [model] settings")
    model.set_weights(weights)


def freeze_layers(model: Any, prefixes: tuple[str, ...] | list[str]) -> list[str]:
    """Keep the layers whose names start with one of ``prefixes`` fixed in training.

    Parameters
    ----------
    model : keras.Model
        The built, not yet compiled model.
    prefixes : sequence of str
        Layer-name prefixes (``[train] freeze_layers``).

    Returns
    -------
    list of str
        Names of the frozen layers.

    Raises
    ------
    ConfigError
        If a prefix matches no layer (the message lists the layers).
    """
    names = [layer.name for layer in model.layers]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name in names):
            raise ConfigError(f"[train] freeze_layers entry {prefix!r} matches no layer of "
                              f"{model.name}; its layers are {', '.join(names)}")
    frozen = [layer.name for layer in model.layers
              if any(layer.name.startswith(p) for p in prefixes)]
    for layer in model.layers:
        if layer.name in frozen:
            layer.trainable = False
    return frozen
