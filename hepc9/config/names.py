"""The fixed name lists that configuration values are checked against.

Each tuple is written here once.  :data:`SHIFT_NAMES` is the home of the Wilson-shift names
(``hepc9.physics.constants`` re-exports it: ``config`` is the lower layer, so both can use it).
:data:`DATASET_CHANNELS` and :data:`SET_FEATURES` mirror ``hepc9.datasets.voxelize.CHANNELS``
and ``hepc9.datasets.sets.FEATURES`` (the datasets layer sits above ``config``); a test keeps
them equal, so that a typo in ``[datasets]`` fails before any work.  Estimator names
(``[evaluate] methods``, ``[model] name``) are not listed here: the registry of
:mod:`hepc9.models` is their one home, and the run checks them against it before any work.
"""

from __future__ import annotations

__all__ = [
    "BACKENDS",
    "DATASET_CHANNELS",
    "LEVELS",
    "SET_FEATURES",
    "SHIFT_NAMES",
]

#: Names of the six real Wilson-coefficient shifts, in the order of
#: :meth:`hepc9.physics.constants.WilsonShifts.as_array`.
SHIFT_NAMES: tuple[str, ...] = ("dc7", "dc9", "dc10", "c7p", "c9p", "c10p")

#: Keras backends of ``[train] backend`` and ``--backend``.
BACKENDS: tuple[str, ...] = ("auto", "tensorflow", "jax", "torch")

#: Evaluation levels of ``[evaluate] levels``: generator and detector level.
LEVELS: tuple[str, ...] = ("gen", "det")

#: Image channels known to :mod:`hepc9.datasets.voxelize`.
DATASET_CHANNELS: tuple[str, ...] = (
    "q2_mean", "count", "occupancy", "q2_std", "background", "background_q2_mean",
)

#: Per-event features known to :mod:`hepc9.datasets.sets`.
SET_FEATURES: tuple[str, ...] = (
    "q2", "costheta_l", "costheta_k", "chi", "cos_chi", "sin_chi", "mkpi", "flavour",
    "f_1s", "f_1c", "f_2s", "f_2c", "f_3", "f_4", "f_5", "f_6s", "f_6c", "f_7", "f_8", "f_9",
)
