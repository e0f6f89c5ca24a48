"""Lab-frame four-momenta of generated events (:func:`lab_four_vectors`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepc9 import kinematics
from hepc9.errors import DataError
from hepc9.physics.constants import SEED_MODEL, ModelConstants

__all__ = ["lab_four_vectors"]


# --------------------------------------------------------------------------------------------
# four-vectors
# --------------------------------------------------------------------------------------------


def lab_four_vectors(
    events: Mapping[str, np.ndarray],
    *,
    rng: np.random.Generator,
    constants: ModelConstants = SEED_MODEL,
    beam: Any = None,
) -> dict[str, np.ndarray]:
    """Return ``events`` plus lab-frame four-momenta of the four daughters.

    The momenta are built in the B rest frame from the angles (physics.md §1.3, via
    :func:`hepc9.kinematics.four_vectors_from_angles`), the B is given a random direction in
    the Υ(4S) frame and boosted to the lab (:func:`hepc9.kinematics.to_lab`).

    Parameters
    ----------
    events : mapping of str to ndarray
        Needs ``q2 costheta_l costheta_k chi mkpi flavour`` of equal length n.
    rng : numpy.random.Generator
        Random stream of the B directions (and beam effects).
    constants : ModelConstants, optional
        Masses of B0, K, π, μ.
    beam : hepc9.kinematics.BeamSpec, optional
        Beam configuration; default Belle II.

    Returns
    -------
    dict of str to ndarray
        A new dict with every input column plus ``k_e k_px k_py k_pz``, ``pi_*``, ``mup_*``,
        ``mum_*`` (float64, GeV, shape (n,)); "k"/"pi" are the kaon/pion of the decay whatever
        the charge, "mup"/"mum" the physical μ+/μ−.
    """
    needed = ("q2", "costheta_l", "costheta_k", "chi", "mkpi", "flavour")
    missing = [c for c in needed if c not in events]
    if missing:
        raise DataError(
            f"lab_four_vectors needs the columns {', '.join(needed)}; missing {', '.join(missing)}"
        )
    if not isinstance(rng, np.random.Generator):
        raise DataError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    q2, ctl, ctk, chi, mkpi = (np.asarray(events[c], dtype=np.float64) for c in needed[:5])
    flav = np.asarray(events["flavour"])
    p4 = kinematics.four_vectors_from_angles(
        q2, ctl, ctk, chi, mkpi, flav, m_b=constants.m_B0, m_k=constants.m_K, m_pi=constants.m_pi,
        m_mu=constants.m_mu,
    )  # fmt: skip
    lab_kw: dict[str, Any] = {"rng": rng, "m_b": constants.m_B0}
    if beam is not None:
        lab_kw["beam"] = beam
    lab = kinematics.to_lab(p4, **lab_kw)
    out = dict(events)
    for name in ("k", "pi", "mup", "mum"):
        arr = np.asarray(lab[name], dtype=np.float64)
        for col, comp in enumerate(("e", "px", "py", "pz")):
            out[f"{name}_{comp}"] = np.ascontiguousarray(arr[:, col])
    return out
