"""Choice of the Keras backend before Keras is first imported.

Precedence (design.md §4): the ``--backend`` option, then ``[train] backend`` of the
configuration (``"auto"`` defers), then the ``KERAS_BACKEND`` environment variable, then
``jax`` when it is installed (XLA's CPU convolutions train the 3D ResNet about 20–40× faster
than TensorFlow's on a 2-core CPU), else ``tensorflow``.  Keras reads ``KERAS_BACKEND`` once,
at its first import, so the choice must be made before that; once Keras is loaded, asking
for another backend is an error (asking for none accepts it).

The C++ log lines of TensorFlow and absl (oneDNN notices, ``cpu_feature_guard``, "All log
messages before absl::InitializeLog() ...") are silenced here too, before the first import:
``TF_CPP_MIN_LOG_LEVEL=3`` unless the user set it, or unless the ``hepc9`` logger shows
INFO messages (``-v``); oneDNN's order-dependent CPU kernels are switched off
(``TF_ENABLE_ONEDNN_OPTS=0``) unless the user set that variable.  Nothing happens at import
time of this module.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Any

from hepc9.errors import BackendError, did_you_mean

__all__ = ["BACKENDS", "active", "default", "quiet_native_logs", "resolve", "select"]

#: Backends Keras 3 can run hepc9 models on.
BACKENDS: tuple[str, ...] = ("tensorflow", "jax", "torch")


def resolve(*names: str | None) -> str:
    """Return the backend that the precedence rule picks.

    Parameters
    ----------
    *names : str or None
        Requests in decreasing priority (e.g. the command-line option, then the configuration
        value); ``None`` and ``"auto"`` defer to the next one.

    Returns
    -------
    str
        One of :data:`BACKENDS`: the first definite request, else ``KERAS_BACKEND``, else
        ``"jax"`` when JAX is installed, else ``"tensorflow"``.

    Raises
    ------
    BackendError
        If a request or ``KERAS_BACKEND`` names an unknown backend.
    """
    for name in (*names, os.environ.get("KERAS_BACKEND")):
        if name is None or name == "auto" or name == "":
            continue
        if name not in BACKENDS:
            hint = did_you_mean(name, BACKENDS)
            raise BackendError(
                f"unknown Keras backend '{name}'; choose one of {', '.join(BACKENDS)}{hint}"
            )
        return name
    return default()


def default() -> str:
    """Return the backend used when nothing asks for one: ``jax`` if installed, else TF."""
    if importlib.util.find_spec("jax") is not None and importlib.util.find_spec("jaxlib"):
        return "jax"
    return "tensorflow"


def quiet_native_logs() -> None:
    """Silence TensorFlow's and absl's C++ logging, before TensorFlow is first imported.

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` (errors only) unless it is set already or the ``hepc9``
    logger is enabled for INFO (``hepc9 -v``); also quiets ``absl`` Python logging when absl
    is installed.  Has no effect once TensorFlow is loaded (C++ reads the variable once).

    Also sets ``TF_ENABLE_ONEDNN_OPTS=0`` unless it is set (whatever the verbosity): oneDNN's
    custom CPU kernels change results with the thread schedule (their start-up notice says
    so), and TensorFlow 2.21 prints that notice whatever ``TF_CPP_MIN_LOG_LEVEL`` says.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    if logging.getLogger("hepc9").isEnabledFor(logging.INFO):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    absl: Any = sys.modules.get("absl.logging")
    if absl is None:
        try:
            import absl.logging as absl
        except ImportError:
            return
    absl.set_verbosity(absl.ERROR)


def active() -> str | None:
    """Return the backend of the loaded Keras, or ``None`` when Keras is not imported yet."""
    if "keras" not in sys.modules:
        return None
    import keras

    return str(keras.backend.backend())


def select(*names: str | None) -> str:
    """Make the requested backend Keras', before Keras is imported.

    Parameters
    ----------
    *names : str or None
        Requests in decreasing priority (as :func:`resolve`): ``"tensorflow"``, ``"jax"``,
        ``"torch"``, or ``None``/``"auto"`` to defer.  Without a definite request an already
        loaded Keras is accepted as is; otherwise the precedence rule picks
        (``KERAS_BACKEND``, else JAX if installed, else TensorFlow).

    Returns
    -------
    str
        The backend in use.

    Raises
    ------
    BackendError
        If Keras is already loaded with a different backend, or the backend cannot be imported.
    """
    loaded = active()
    definite = [n for n in names if n not in (None, "auto", "")]
    if loaded is not None:
        if not definite or definite[0] == loaded:
            return loaded
        wanted = resolve(*definite)
        if wanted != loaded:
            raise BackendError(
                f"Keras is already loaded with the '{loaded}' backend, cannot switch to "
                f"'{wanted}'; choose the backend before anything imports keras (new process, or "
                f"KERAS_BACKEND={wanted})"
            )
        return loaded
    wanted = resolve(*names)
    os.environ["KERAS_BACKEND"] = wanted
    quiet_native_logs()
    try:
        import keras
    except ImportError as err:
        raise BackendError(
            f"cannot import Keras with the '{wanted}' backend: {err}; install keras and "
            f"{wanted}, or pick another backend with --backend"
        ) from err
    got = str(keras.backend.backend())
    if got != wanted:  # pragma: no cover - keras ignoring KERAS_BACKEND
        raise BackendError(f"Keras started with backend '{got}' instead of '{wanted}'")
    return got
