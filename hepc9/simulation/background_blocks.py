"""Background blocks: combinatorial candidates after the track acceptance, then the regions.

Every user draws background the same way (:func:`background_block`): candidates over the
whole region of ``[background]``, selection columns rounded to float32
(:func:`hepc9.simulation.reconstruction.as_stored`), the candidates in the K* window and
in the signal region ∪ Mbc sideband tested by the detector's track selection
(:func:`hepc9.detector.accept_background`), and only the accepted ones counted in a region.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hepc9.background import generate_background
from hepc9.config import BackgroundConfig, DetectorConfig, SelectionConfig
from hepc9.detector import accept_background
from hepc9.kinematics import BELLE2, BeamSpec
from hepc9.physics.constants import ModelConstants
from hepc9.simulation.reconstruction import Regions, as_stored, regions

__all__ = ["BackgroundBlock", "background_block", "selectable_region"]


@dataclass(frozen=True, slots=True)
class BackgroundBlock:
    """One block of background candidates.

    Attributes
    ----------
    events : dict of str to ndarray
        Every generated candidate (``(n,)`` columns, selection columns rounded).
    regions : Regions
        K* window; signal region and sideband of the candidates that passed the track
        selection.
    tested : ndarray
        Indices (int64) of the candidates the track selection tested (signal region ∪
        sideband inside the K* window).
    """

    events: dict[str, np.ndarray]
    regions: Regions
    tested: np.ndarray

    @property
    def size(self) -> int:
        """Number of generated candidates."""
        return len(self.regions.window)

    def head(self, n: int) -> BackgroundBlock:
        """Return the first ``n`` candidates of the block (the stream stopped there)."""
        return BackgroundBlock({k: v[:n] for k, v in self.events.items()}, self.regions.head(n),
                               self.tested[self.tested < n])


def selectable_region(background: BackgroundConfig,
                      selection: SelectionConfig) -> BackgroundConfig:
    """Return ``background`` generated only in the ΔE window that the selection can keep.

    ΔE is drawn independently of every other variable from ``∝ 1 + slope·ΔE``; restricting
    its range to the selection's ``|ΔE| < delta_e_max`` leaves that density and everything
    else unchanged for the candidates that can reach the signal region or the sideband, and
    about four times fewer candidates are drawn per kept one (default ranges).  For users that
    draw until they hold enough candidates in a region; a fixed physical yield over the whole
    background region keeps :func:`background_block`'s full range.
    """
    lo, hi = background.delta_e_range
    d = float(selection.delta_e_max)
    new = (max(lo, -d), min(hi, d))
    if not new[0] < new[1] or new == (lo, hi):
        return background
    return dataclasses.replace(background, delta_e_range=new)


def background_block(
    n: int,
    *,
    background: BackgroundConfig,
    detector: DetectorConfig,
    selection: SelectionConfig,
    rng: np.random.Generator,
    accept_rng: np.random.Generator,
    constants: ModelConstants,
    beam: BeamSpec = BELLE2,
) -> BackgroundBlock:
    """Generate ``n`` candidates, test their tracks, and apply the selection rule.

    Parameters
    ----------
    n : int
        Candidates to generate.
    background : BackgroundConfig
        The ``[background]`` section.
    detector : DetectorConfig
        The ``[detector]`` section (track selection).
    selection : SelectionConfig
        The ``[selection]`` section.
    rng : numpy.random.Generator
        Stream of the candidates.
    accept_rng : numpy.random.Generator
        Stream of the track selection.
    constants : ModelConstants
        Physics constants.
    beam : BeamSpec
        Beam configuration.

    Returns
    -------
    BackgroundBlock
    """
    ev = as_stored(generate_background(int(n), config=background, beam=beam, rng=rng,
                                       constants=constants))
    reg = regions(ev, selection)
    # the candidates' tracks pass the detector's track selection, as the signal's do; only
    # the candidates that can be kept are tested (the others never reach an item or a file)
    tested = np.flatnonzero(reg.candidates)
    passed = np.zeros(len(reg.window), dtype=bool)
    passed[tested] = accept_background(
        {k: v[tested] for k, v in ev.items()}, config=detector, rng=accept_rng, beam=beam,
        constants=constants,
    )
    return BackgroundBlock(ev, reg & passed, tested)
