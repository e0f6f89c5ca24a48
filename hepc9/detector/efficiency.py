"""Binned efficiency tables of the detector response (:class:`EfficiencyTable`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.errors import ConfigError, DataError
from hepc9.physics.constants import SEED_MODEL, ModelConstants, q2_limits

__all__ = ["EfficiencyTable"]


# --------------------------------------------------------------------------------------------
# efficiency tables
# --------------------------------------------------------------------------------------------


@dataclass
class EfficiencyTable:
    """Selection efficiency versus the true q² and each true angle, filled chunk by chunk.

    Parameters
    ----------
    edges : dict of str to numpy.ndarray
        Bin edges per variable (``q2`` [GeV²], ``costheta_l``, ``costheta_k``, ``chi`` [rad]).
    generated, selected : dict of str to numpy.ndarray
        Integer counts per bin (shape ``(bins,)``) of generated and selected events.

    Notes
    -----
    Values outside the edges are counted in the first or last bin (q² of a broad K* line
    shape can exceed the narrow-K* limit).  The uncertainty is binomial,
    ``√(ε(1 − ε)/N_gen)``.
    """

    edges: dict[str, np.ndarray]
    generated: dict[str, np.ndarray]
    selected: dict[str, np.ndarray]

    VARIABLES = ("q2", "costheta_l", "costheta_k", "chi")

    @classmethod
    def empty(cls, *, bins: int = 10, constants: ModelConstants = SEED_MODEL) -> EfficiencyTable:
        """Return a table with ``bins`` equal bins per variable and zero counts.

        Parameters
        ----------
        bins : int
            Bins per variable.
        constants : ModelConstants
            Masses fixing the q² range (narrow K*, physics.md §1.2).

        Returns
        -------
        EfficiencyTable
        """
        if int(bins) < 1:
            raise ConfigError(f"efficiency tables need at least one bin, got {bins}")
        q2_lo, q2_hi = q2_limits(constants)
        ranges = {
            "q2": (q2_lo, q2_hi),
            "costheta_l": (-1.0, 1.0),
            "costheta_k": (-1.0, 1.0),
            "chi": (0.0, 2.0 * math.pi),
        }
        edges = {k: np.linspace(lo, hi, int(bins) + 1) for k, (lo, hi) in ranges.items()}
        zeros = {k: np.zeros(int(bins), dtype=np.int64) for k in ranges}
        selected = {k: v.copy() for k, v in zeros.items()}
        return cls(edges=edges, generated=zeros, selected=selected)

    def _counts(self, name: str, values: np.ndarray) -> np.ndarray:
        e = self.edges[name]
        idx = np.searchsorted(e, np.asarray(values, dtype=np.float64), side="right") - 1
        idx = np.clip(idx, 0, e.size - 2)
        return np.bincount(idx, minlength=e.size - 1).astype(np.int64)

    def fill(self, generated: Mapping[str, np.ndarray], selected: Mapping[str, np.ndarray]) -> None:
        """Add counts of one chunk.

        Parameters
        ----------
        generated : mapping
            Generator-level columns ``q2 costheta_l costheta_k chi`` of all events of the chunk.
        selected : mapping
            The selected events' truth, ``q2_true costheta_l_true costheta_k_true chi_true``
            (plain names are accepted too).
        """
        keys = {}
        for name in self.VARIABLES:  # check everything before counting anything
            if name not in generated:
                raise DataError(f"efficiency table needs the generated column '{name}'")
            keys[name] = f"{name}_true" if f"{name}_true" in selected else name
            if keys[name] not in selected:
                raise DataError(f"efficiency table needs the selected column '{name}_true'")
        for name, key in keys.items():
            self.generated[name] += self._counts(name, generated[name])
            self.selected[name] += self._counts(name, selected[key])

    def efficiency(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (efficiency, binomial error) per bin of ``name`` (NaN for empty bins)."""
        gen = self.generated[name].astype(np.float64)
        sel = self.selected[name].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            eff = np.where(gen > 0, sel / np.where(gen > 0, gen, 1.0), np.nan)
            err = np.where(gen > 0, np.sqrt(np.clip(eff * (1 - eff), 0, None) / gen), np.nan)
        return eff, err

    def to_dict(self) -> dict[str, Any]:
        """Return ``{variable: {"edges", "generated", "selected", "efficiency", "error"}}``."""
        out: dict[str, Any] = {}
        for name in self.VARIABLES:
            eff, err = self.efficiency(name)
            out[name] = {
                "edges": self.edges[name].tolist(),
                "generated": self.generated[name].tolist(),
                "selected": self.selected[name].tolist(),
                "efficiency": [None if not np.isfinite(v) else float(v) for v in eff],
                "error": [None if not np.isfinite(v) else float(v) for v in err],
            }
        return out
