"""Detector reconstruction of signal events with the one float32 rule and selection rule.

* **float32 rule** (:func:`as_stored`): Mbc, ΔE and m(Kπ) are rounded to float32 (the
  precision of every stored file) before any cut, so a candidate is in or out of a window
  the same way in memory, in a training item, in a pseudo-experiment and in a written file.
* **selection rule** (:func:`regions`): the K* window, and inside it the signal region and
  the Mbc sideband (:mod:`hepc9.selection`), evaluated on the rounded values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hepc9.config import DetectorConfig, SelectionConfig
from hepc9.detector import FOUR_VECTOR_COLUMNS, simulate_detector
from hepc9.errors import DataError
from hepc9.generate import lab_four_vectors
from hepc9.kinematics import BELLE2, BeamSpec
from hepc9.physics.constants import ModelConstants
from hepc9.selection import Cutflow, kstar_window, sideband, signal_region

__all__ = [
    "SELECTION_COLUMNS",
    "Regions",
    "as_stored",
    "has_four_vectors",
    "reconstruct",
    "regions",
]

#: Columns the selection cuts on; rounded to float32 before any cut.
SELECTION_COLUMNS = ("mbc", "delta_e", "mkpi")


def as_stored(events: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return ``events`` with Mbc, ΔE and m(Kπ) rounded to their float32 file precision.

    Parameters
    ----------
    events : mapping of str to ndarray
        Detector-level columns (``mbc delta_e mkpi`` at least).

    Returns
    -------
    dict of str to ndarray
        The same columns; the three selection columns are float64 arrays holding
        float32-representable values.
    """
    out = dict(events)
    for name in SELECTION_COLUMNS:
        out[name] = np.asarray(events[name]).astype(np.float32).astype(np.float64)
    return out


@dataclass(frozen=True, slots=True)
class Regions:
    """Boolean masks ``(n,)`` of the selection: K* window, signal region, Mbc sideband.

    ``signal`` and ``sideband`` lie inside the K* window.
    """

    window: np.ndarray
    signal: np.ndarray
    sideband: np.ndarray

    @property
    def candidates(self) -> np.ndarray:
        """Events in the signal region or the sideband (those a file or an item can keep)."""
        out: np.ndarray = self.signal | self.sideband
        return out

    def __and__(self, keep: np.ndarray) -> Regions:
        """Return the masks with the signal region and sideband restricted to ``keep``."""
        return Regions(self.window, self.signal & keep, self.sideband & keep)

    def head(self, n: int) -> Regions:
        """Return the masks of the first ``n`` events."""
        return Regions(self.window[:n], self.signal[:n], self.sideband[:n])


def regions(events: Mapping[str, np.ndarray], selection: SelectionConfig) -> Regions:
    """Apply the selection rule to events whose selection columns are already rounded.

    Parameters
    ----------
    events : mapping of str to ndarray
        Columns ``mbc delta_e mkpi`` (rounded by :func:`as_stored`).
    selection : SelectionConfig
        The ``[selection]`` section.

    Returns
    -------
    Regions
    """
    window = kstar_window(events, selection)
    return Regions(window, window & signal_region(events, selection),
                   window & sideband(events, selection))


def has_four_vectors(events: Mapping[str, np.ndarray]) -> bool:
    """Return True when ``events`` hold the lab four-vectors the detector needs."""
    return all(c in events for c in FOUR_VECTOR_COLUMNS)


def reconstruct(
    events: Mapping[str, np.ndarray],
    *,
    detector: DetectorConfig,
    selection: SelectionConfig,
    rng: np.random.Generator,
    constants: ModelConstants,
    four_rng: np.random.Generator | None = None,
    beam: BeamSpec = BELLE2,
) -> tuple[dict[str, np.ndarray], Regions, Cutflow]:
    """Run the detector response on generator-level events and apply the selection rule.

    Parameters
    ----------
    events : mapping of str to ndarray
        Generator-level events; lab four-vectors are added from ``four_rng`` when absent.
    detector : DetectorConfig
        The ``[detector]`` section.
    selection : SelectionConfig
        The ``[selection]`` section.
    rng : numpy.random.Generator
        Stream of the detector response (spawnable: built on a ``SeedSequence``).
    constants : ModelConstants
        Physics constants.
    four_rng : numpy.random.Generator, optional
        Stream of the B directions; needed when ``events`` have no four-vectors.
    beam : BeamSpec
        Beam configuration (Belle II).

    Returns
    -------
    det : dict of str to ndarray
        Reconstructed events, one row per input event, selection columns rounded.
    regions : Regions
        The selection masks.
    cutflow : Cutflow
        The detector's cutflow plus ``K* window`` and ``signal region``.
    """
    if not has_four_vectors(events):
        if four_rng is None:
            raise DataError("the events have no lab four-vectors and no stream to add them")
        events = lab_four_vectors(events, rng=four_rng, constants=constants, beam=beam)
    det, flow = simulate_detector(events, config=detector, rng=rng, beam=beam,
                                  constants=constants)
    det = as_stored(det)
    reg = regions(det, selection)
    flow.add("K* window", int(np.count_nonzero(reg.window)))
    flow.add("signal region", int(np.count_nonzero(reg.signal)))
    return det, reg, flow
