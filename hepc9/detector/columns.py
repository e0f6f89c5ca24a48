"""Column names, cut-flow steps and parameter layout of the detector response; input columns."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hepc9.errors import DataError, ShapeError

__all__ = ["ANGLE_COLUMNS", "BACKGROUND_INPUT_COLUMNS", "DETECTOR_STEPS", "FOUR_VECTOR_COLUMNS"]

#: Particle prefixes of the four tracks, in the order used by the kernels.
_PARTICLES = ("k", "pi", "mup", "mum")
#: Native four-vector columns the detector simulation needs (formats.md §1).
FOUR_VECTOR_COLUMNS = tuple(f"{p}_{c}" for p in _PARTICLES for c in ("e", "px", "py", "pz"))
#: Columns recomputed from the (smeared) four-vectors.
ANGLE_COLUMNS = ("q2", "costheta_l", "costheta_k", "chi", "mkpi")
#: Columns :func:`accept_background` reads.
BACKGROUND_INPUT_COLUMNS = ("q2", "costheta_l", "costheta_k", "chi", "mkpi", "flavour")
#: Cutflow step names of :func:`simulate_detector`, in order.
DETECTOR_STEPS = ("generated", "acceptance", "momentum thresholds", "muon ID", "kaon ID")

# fail codes of the geometry kernel (0 = passed)
_FAIL_ACCEPTANCE = 1
_FAIL_MOMENTUM = 2

# KLM barrel coverage in degrees: muon ID is lower in the endcaps
_KLM_BARREL_DEG = (45.0, 125.0)

_N_GEOMETRY_PARAMS = 15
_N_SMEAR_PARAMS = 4


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------


def _stack_tracks(events: Mapping[str, np.ndarray]) -> np.ndarray:
    missing = [c for c in FOUR_VECTOR_COLUMNS if c not in events]
    if missing:
        raise DataError(
            "the detector simulation needs lab four-vectors of the kaon, pion and both muons; "
            f"missing columns {', '.join(missing)}.  Generate with four_vectors = true or add "
            "them with hepc9.generate.sampler.lab_four_vectors (hepc9 simulate does this itself)"
        )
    n = len(np.asarray(events[FOUR_VECTOR_COLUMNS[0]]))
    tracks = np.empty((16, n))
    for row, name in enumerate(FOUR_VECTOR_COLUMNS):
        col = np.asarray(events[name], dtype=np.float64)
        if col.shape != (n,):
            raise ShapeError(f"column '{name}' has shape {col.shape}, expected ({n},)")
        tracks[row] = col
    if not np.isfinite(tracks.sum(axis=0)).all():  # NaN and inf survive the sum
        row, i = (int(v[0]) for v in np.nonzero(~np.isfinite(tracks)))
        raise DataError(
            f"column '{FOUR_VECTOR_COLUMNS[row]}' is not finite in event {i}; drop such rows "
            "before the detector simulation"
        )
    return tracks


def _flavour(events: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    if "flavour" not in events:
        raise DataError("the detector simulation needs the 'flavour' column (+1 B0, −1 anti-B0)")
    flav = np.asarray(events["flavour"])
    if flav.shape != (n,):
        raise ShapeError(f"column 'flavour' has shape {flav.shape}, expected ({n},)")
    if not np.all((flav == 1) | (flav == -1)):
        raise DataError("column 'flavour' must hold +1 (B0) or -1 (anti-B0) only")
    return flav.astype(np.int8)
