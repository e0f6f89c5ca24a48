"""Detector-level pseudo-experiments and the matching fit inputs.

A detector-level set of N events holds round(N(1 − f)) reconstructed signal events and
N − round(N(1 − f)) combinatorial background events, all in the signal region (Mbc, ΔE and
K* window), f being ``[background] fraction`` (0 without background); the background
candidates pass the detector's track selection (:func:`hepc9.detector.accept_background`).
The likelihood fit of such a set normalises with the efficiency sample of the ``detector``
stage and describes the background with a template fitted to that stage's Mbc-sideband events.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.config import Config
from hepc9.errors import DataError

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


def _selected(events: dict[str, np.ndarray], cfg: Config) -> np.ndarray:
    from hepc9.selection import kstar_window, signal_region

    return signal_region(events, cfg.selection) & kstar_window(events, cfg.selection)


def detector_level_sets(
    cfg: Config,
    ss: np.random.SeedSequence,
    *,
    truth: Any,
    constants: Any,
    n_sets: int,
    n_events: int,
) -> list[dict[str, np.ndarray]]:
    """Draw ``n_sets`` detector-level sets of ``n_events`` signal-region events.

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
    from hepc9.background import generate_background
    from hepc9.detector import accept_background, simulate_detector
    from hepc9.generate.sampler import lab_four_vectors, sample_events
    from hepc9.kinematics import BELLE2

    f = _background_fraction(cfg)
    n_sig = round(n_events * (1.0 - f))
    n_bkg = n_events - n_sig
    cols = ("q2", "costheta_l", "costheta_k", "chi", "mkpi", "flavour", "mbc", "delta_e",
            "is_signal")
    g = cfg.generate
    sig_ss, bkg_ss = ss.spawn(2)
    parts: list[dict[str, np.ndarray]] = []
    have, attempt = 0, 0
    need = n_sets * n_sig
    while have < need:
        if attempt > 50:
            raise DataError("the detector selection keeps too few events to fill the sets; "
                            "check the [detector] and [selection] settings")
        a_ss = np.random.SeedSequence(sig_ss.entropy, spawn_key=(*sig_ss.spawn_key, attempt))
        gen_ss, four_ss, det_ss = a_ss.spawn(3)
        n_try = max(1000, int(1.3 * (need - have) / 0.5))
        ev = sample_events(n_try, seed=gen_ss, shifts=truth, constants=constants,
                           flavour=g.flavour, line_shape=g.line_shape, chunk_size=g.chunk_size,
                           threads=1, grid_points=g.q2_grid_points)
        ev = lab_four_vectors(ev, rng=np.random.default_rng(four_ss), constants=constants)
        det, _ = simulate_detector(ev, config=cfg.detector, rng=np.random.default_rng(det_ss),
                                   constants=constants)
        keep = _selected(det, cfg)
        parts.append({c: np.asarray(det[c])[keep] for c in cols})
        have += int(keep.sum())
        attempt += 1
    sig = {c: np.concatenate([p[c] for p in parts])[:need] for c in cols}
    bkg = None
    if n_bkg > 0:
        bparts: list[dict[str, np.ndarray]] = []
        bhave, battempt = 0, 0
        bneed = n_sets * n_bkg
        while bhave < bneed:
            b_ss = np.random.SeedSequence(bkg_ss.entropy,
                                          spawn_key=(*bkg_ss.spawn_key, battempt))
            b = generate_background(max(1000, 16 * (bneed - bhave)), config=cfg.background,
                                    beam=BELLE2, rng=np.random.default_rng(b_ss),
                                    constants=constants)
            b = {c: np.asarray(b[c])[_selected(b, cfg)] for c in cols}
            # the candidates' tracks pass the detector's track selection, as the signal's do
            acc_ss = np.random.SeedSequence(b_ss.entropy, spawn_key=(*b_ss.spawn_key, 0))
            keep = accept_background(b, config=cfg.detector, rng=np.random.default_rng(acc_ss),
                                     beam=BELLE2, constants=constants)
            bparts.append({c: b[c][keep] for c in cols})
            bhave += int(keep.sum())
            battempt += 1
        bkg = {c: np.concatenate([p[c] for p in bparts])[:bneed] for c in cols}
    sets = []
    for i in range(n_sets):
        one = {c: sig[c][i * n_sig:(i + 1) * n_sig] for c in cols}
        if bkg is not None:
            one = {c: np.concatenate([one[c], bkg[c][i * n_bkg:(i + 1) * n_bkg]]) for c in cols}
        sets.append(one)
    return sets


@functools.lru_cache(maxsize=4)
def _fit_inputs(run_dir: str, config_json: str) -> dict[str, Any]:
    import json

    from hepc9.config import load_config
    from hepc9.pipeline.fit import load_acceptance, load_template

    cfg = load_config(data=json.loads(config_json))
    root = Path(run_dir)
    acceptance = load_acceptance(root / DETECTOR_FILES["efficiency"], config=cfg, q2_range=None)
    # smeared q² can leave the kinematic range by a resolution width: such candidates are
    # dropped from the fit (counted in the FitResult), as the efficiency sample does
    out: dict[str, Any] = {"acceptance": acceptance, "outside": "drop"}
    f = _background_fraction(cfg)
    if f > 0:
        out["background"] = load_template(root / DETECTOR_FILES["sideband"], config=cfg,
                                          q2_range=None, acceptance=acceptance)
        out["background_fraction"] = f
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
    import json

    return _fit_inputs(str(run_dir), json.dumps(cfg.to_dict(), sort_keys=True))
