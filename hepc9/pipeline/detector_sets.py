"""Detector-level pseudo-experiments and the matching fit inputs.

A detector-level set of N events holds N − round(f · N) reconstructed signal events and
round(f · N) combinatorial background events, all in the signal region (Mbc, ΔE and
K* window), f being ``[background] fraction`` (0 without background); the background
candidates pass the detector's track selection (:func:`hepc9.detector.accept_background`)
before the region test.  The sets come from the one event chain, :mod:`hepc9.simulation`.
The likelihood fit of such a set normalises with the efficiency sample of the ``detector``
stage and describes the background with a template fitted to that stage's Mbc-sideband events.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.config import Config
from hepc9.physics.constants import ModelConstants, WilsonShifts
from hepc9.pipeline.fit import load_acceptance, load_template
from hepc9.simulation import ChainInputs, EventFactory, item_sets

__all__ = ["DETECTOR_FILES", "detector_fit_options", "detector_level_sets"]

#: Files of the ``detector`` stage, relative to the run directory.
DETECTOR_FILES = {
    "gen": "detector/gen.root",
    "efficiency": "detector/efficiency_sample.root",
    "signal": "detector/signal_region.root",
    "sideband": "detector/sideband.root",
    "report": "detector/report.json",
}


def _background_fraction(cfg: Config) -> float:
    return cfg.background.fraction if cfg.background.enabled else 0.0


def detector_level_sets(
    cfg: Config,
    ss: np.random.SeedSequence,
    *,
    truth: WilsonShifts,
    constants: ModelConstants,
    n_sets: int,
    n_events: int,
) -> list[dict[str, np.ndarray]]:
    """Draw ``n_sets`` detector-level sets of ``n_events`` signal-region events.

    The sets are the items of :class:`hepc9.simulation.EventFactory` (the same chain and
    rules as the detector-level training data): the q² window of ``[generate]``, float32
    selection columns, background after the track selection.

    Parameters
    ----------
    cfg : Config
        Resolved configuration.
    ss : numpy.random.SeedSequence
        The chunk's seed sequence.
    truth : WilsonShifts
        True Wilson-coefficient point.
    constants : ModelConstants
        Physics constants.
    n_sets, n_events : int
        Sets and events per set.

    Returns
    -------
    list of events dict
        Native columns ``q2 costheta_l costheta_k chi mkpi flavour mbc delta_e is_signal``.
    """
    chain = ChainInputs.from_config(cfg, level="det", events_per_item=n_events, threads=1)
    sample = dataclasses.replace(chain.sample, shifts=truth, constants=constants)
    chain = dataclasses.replace(chain, sample=sample)
    return item_sets(EventFactory(chain).draw_at(sample, ss, n_sets), n_sets)


#: Fit inputs per (run directory, config digest); a worker reads the detector stage once.
_FIT_INPUTS: dict[tuple[str, str], dict[str, Any]] = {}


def _fit_inputs(run_dir: str, cfg: Config) -> dict[str, Any]:
    key = (run_dir, cfg.digest())
    if key in _FIT_INPUTS:
        return _FIT_INPUTS[key]
    root = Path(run_dir)
    acceptance = load_acceptance(root / DETECTOR_FILES["efficiency"], config=cfg, q2_range=None)
    # smeared q² can leave the kinematic range by a resolution width: such candidates are
    # dropped from the fit (counted in the FitResult), as the efficiency sample does
    out: dict[str, Any] = {"acceptance": acceptance, "outside": "drop",
                           # one efficiency sample serves every pseudo-experiment: its error
                           # is a common shift, not part of the spread the ensemble measures,
                           # so the efficiency component of `hepc9 fit` is not evaluated here
                           "efficiency_error": "none"}
    f = _background_fraction(cfg)
    if f > 0:
        out["background"] = load_template(
            root / DETECTOR_FILES["sideband"], config=cfg, q2_range=None, acceptance=acceptance
        ).template
        out["background_fraction"] = f
    while len(_FIT_INPUTS) >= 4:
        _FIT_INPUTS.pop(next(iter(_FIT_INPUTS)))
    _FIT_INPUTS[key] = out
    return out


def detector_fit_options(cfg: Config, run_dir: str | Path) -> dict[str, Any]:
    """Return the keyword arguments of ``fit_events`` for detector-level sets.

    Parameters
    ----------
    cfg : Config
        Resolved configuration.
    run_dir : str or Path
        Run directory holding the ``detector`` stage outputs.

    Returns
    -------
    dict
        ``acceptance``, ``outside="drop"`` and, with background, ``background`` and its
        fraction (free).
    """
    return _fit_inputs(str(run_dir), cfg)
