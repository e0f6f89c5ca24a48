"""Standalone-EvtGen TNtuple ``ntp`` (Dubey et al.; formats.md §3b).

Columns ``mK q2 ctk ctl chi l1p l1c l2p l2c kp kc pp pc``: m(Kπ) [GeV], q² [GeV²], cos θK,
cos θℓ, χ [rad] in (−π, π], then a lab momentum and polar-angle cosine for ℓ1, ℓ2, K and π.
With no azimuths, four-vectors cannot be rebuilt, so the stored angles are *kept*
(converted, not recomputed): cosines clipped to [−1, 1], χ mapped to [0, 2π) with ``mod 2π``
(a value rounding to 2π becomes 0).  The angles come from EvtGen's invariant
``EvtDecayAngle``/``EvtDecayAngleChi`` with ℓ1 the first lepton of the decay line (the μ+ of a
B0); the orientation of χ relative to the LHCb φ is not established (formats.md §3b): validate
the sign of S5 on a sample of known δC9 before relying on S4/S5-like information.

The files hold B0 decays: ``flavour = +1`` unless the configuration states an anti-B0 parent
with ``[ingest] flavour = {value = -1}``.  Whether the generator vetoed the charmonium q²
windows (option ``-v``) is recorded from ``[ingest] ntp_q2_veto`` when known.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hepc9.errors import ConfigError, DataError
from hepc9.rootio._common import require_branches
from hepc9.rootio._foreign import LayoutPlan

__all__ = ["ANGLE_COLUMNS", "TREE", "looks_like_ntp", "plan"]

#: Default tree name.
TREE = "ntp"
#: Stored column → native column.
ANGLE_COLUMNS = {
    "q2": "q2",
    "ctl": "costheta_l",
    "ctk": "costheta_k",
    "chi": "chi",
    "mK": "mkpi",
}
_TWO_PI = 2.0 * math.pi


def looks_like_ntp(branch_names: list[str] | set[str]) -> bool:
    """Return whether a tree has the ``ntp`` angle columns.

    Parameters
    ----------
    branch_names : list or set of str
        Branches of the tree.

    Returns
    -------
    bool
    """
    return set(ANGLE_COLUMNS) <= set(branch_names)


def _flavour(spec: Mapping[str, Any]) -> int:
    if not spec:
        return 1
    if set(spec) != {"value"} or spec["value"] not in (1, -1):
        raise ConfigError(
            f"[ingest] flavour = {dict(spec)!r} cannot be used for an EvtGen ntp file, which has "
            "no flavour column; use {value = 1} (B0, the default) or {value = -1} (anti-B0 parent)"
        )
    return int(spec["value"])


def plan(
    tree: Any,
    *,
    path: str,
    tree_name: str,
    flavour: Mapping[str, Any],
    energy_unit: str,
    q2_veto: bool | None,
) -> LayoutPlan:
    """Describe how to read an EvtGen ``ntp`` tree.

    Parameters
    ----------
    tree : uproot.TTree
        The open tree.
    path : str
        File path (messages).
    tree_name : str
        Its name.
    flavour : mapping
        ``[ingest] flavour`` (empty or ``{value = ±1}``).
    energy_unit : str
        ``GeV`` or ``MeV`` (mK in MeV, q² in MeV²).
    q2_veto : bool or None
        Whether the generator ran with ``-v``; recorded only.

    Returns
    -------
    LayoutPlan
    """
    require_branches(tree, list(ANGLE_COLUMNS), path)
    flav = _flavour(flavour)
    scale = 1e-3 if energy_unit == "MeV" else 1.0

    def convert(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(a["q2"])
        mk = np.asarray(a["mK"], dtype=np.float64) * scale
        q2 = np.asarray(a["q2"], dtype=np.float64) * (scale * scale)
        if n:
            med = float(np.median(mk[:100_000]))
            if med > 100.0:
                raise DataError(
                    f"median mK = {med:.4g} in tree '{tree_name}' of {path} is above 100 GeV: the "
                    "file looks like MeV; set energy_unit = \"MeV\" (--set ingest.energy_unit=MeV)"
                )
        chi = np.mod(np.asarray(a["chi"], dtype=np.float64), _TWO_PI)
        chi[chi >= _TWO_PI] = 0.0
        return {
            "q2": q2,
            "costheta_l": np.clip(np.asarray(a["ctl"], dtype=np.float64), -1.0, 1.0),
            "costheta_k": np.clip(np.asarray(a["ctk"], dtype=np.float64), -1.0, 1.0),
            "chi": chi,
            "mkpi": mk,
            "flavour": np.full(n, flav, dtype=np.int8),
        }

    return LayoutPlan(
        layout="evtgen",
        tree=tree_name,
        level="gen",
        branches=tuple(ANGLE_COLUMNS),
        required=tuple(ANGLE_COLUMNS),
        convert=convert,
        info={
            "angles": "converted from the stored ntp columns (chi mod 2pi), not recomputed",
            "flavour_rule": f"constant {flav:+d} ({'B0' if flav > 0 else 'anti-B0'} parent)",
            "q2_veto": q2_veto,
        },
    )
