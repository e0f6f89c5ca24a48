"""Closure of the detector-level fit of δC9 with combinatorial background.

The detector stage is reproduced in a temporary run directory (efficiency sample without
background; signal region and Mbc sideband with background, through
:func:`hepc9.pipeline.simulate.simulate_file`), the fit inputs are built from those files
(:func:`hepc9.pipeline.detector_sets.detector_fit_options`: acceptance sample and sideband
template fitted relative to it) and the pseudo-experiments come from
:func:`hepc9.pipeline.detector_sets.detector_level_sets`.  The background candidates of both
the sideband and the sets pass the detector's track selection, so the signal efficiency
cancels between the signal and background terms and the fit closes.
"""

import dataclasses
import warnings

import numpy as np
import pytest

from hepc9.config import load_config
from hepc9.fit.likelihood import fit_events
from hepc9.physics.constants import WilsonShifts, model_constants
from hepc9.pipeline.detector_sets import (
    DETECTOR_FILES,
    detector_fit_options,
    detector_level_sets,
)
from hepc9.pipeline.generate import generate_file
from hepc9.pipeline.simulate import simulate_file
from hepc9.rootio import load_events

TRUTH = -0.82  # physics.md: the global-fit δC9 benchmark
N_SETS = 40
N_EVENTS = 10000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("detbkg")
    cfg = load_config(overrides=["detector.enabled=true", "background.enabled=true",
                                 "background.fraction=0.44", "generate.events=600000",
                                 "generate.four_vectors=true", "seed=4242"])
    _detector_stage(root, cfg, efficiency_events=600000, data_events=60000)
    return cfg, root


def _detector_stage(root, cfg, *, efficiency_events, data_events):
    """The detector stage's files: efficiency sample, signal region and Mbc sideband."""
    (root / "detector").mkdir()

    def sized(n):
        return cfg.replace(generate=dataclasses.replace(cfg.generate, events=n))

    eff_gen = root / "detector" / "efficiency_gen.root"
    generate_file(sized(efficiency_events), eff_gen, stream=(92,))
    simulate_file(cfg, eff_gen, root / DETECTOR_FILES["efficiency"], background=False)
    gen = root / DETECTOR_FILES["gen"]
    generate_file(sized(data_events), gen, stream=(91,))
    simulate_file(cfg, gen, root / DETECTOR_FILES["signal"],
                  sideband_output=root / DETECTOR_FILES["sideband"],
                  report=root / DETECTOR_FILES["report"])


@pytest.mark.slow
def test_detector_fit_with_background_closes(run_dir):
    cfg, root = run_dir
    opts = detector_fit_options(cfg, root)
    assert opts["background_fraction"] == pytest.approx(0.44)
    sets = detector_level_sets(cfg, np.random.SeedSequence(4242, spawn_key=(7,)),
                               truth=WilsonShifts(dc9=TRUTH),
                               constants=model_constants(cfg.physics.constants),
                               n_sets=N_SETS, n_events=N_EVENTS)
    pulls, values, fractions = [], [], []
    for events in sets:
        assert len(events["q2"]) == N_EVENTS
        with warnings.catch_warnings():
            # candidates whose smeared q² leaves the kinematic range are dropped by design
            warnings.simplefilter("ignore")
            res = fit_events(events, **opts)
        values.append(res.values["dc9"])
        pulls.append((res.values["dc9"] - TRUTH) / res.errors["dc9"])
        fractions.append(res.values["f_bkg"])
    pulls = np.array(pulls)
    mean_err = pulls.std(ddof=1) / np.sqrt(N_SETS)
    assert abs(pulls.mean()) < 3 * mean_err, (pulls.mean(), mean_err, np.mean(values))
    assert 0.6 < pulls.std(ddof=1) < 1.4
    values = np.array(values)
    assert abs(values.mean() - TRUTH) < 3 * values.std(ddof=1) / np.sqrt(N_SETS)
    # the background fraction is recovered (each set holds exactly round(0.44 N) candidates)
    f_err = np.std(fractions, ddof=1) / np.sqrt(N_SETS)
    assert abs(np.mean(fractions) - 0.44) < 3 * f_err + 0.01


@pytest.fixture(scope="module")
def large_run(tmp_path_factory):
    """A detector stage with 3·10⁵ generated data events (≈ 1.4·10⁵ signal-region signal)."""
    root = tmp_path_factory.mktemp("detbkg_large")
    cfg = load_config(overrides=["detector.enabled=true", "background.enabled=true",
                                 "background.fraction=0.44", "generate.events=300000",
                                 "generate.four_vectors=true", f"generate.dc9={TRUTH}",
                                 "seed=4343"])
    _detector_stage(root, cfg, efficiency_events=600000, data_events=300000)
    return cfg, root


@pytest.mark.slow
def test_large_sample_paired_closure_signal_only_against_signal_plus_background(large_run):
    """The same signal events fitted alone and with the background: no shift, right fraction.

    benchmarks/bench_fit_detector_bias.py measures the same at 4·10⁶ events per replica
    (docs/fit.md, "Large-N paired closure").
    """
    cfg, root = large_run
    opts = detector_fit_options(cfg, root)
    data, _ = load_events(root / DETECTOR_FILES["signal"])
    signal = {k: v[data["is_signal"] == 1] for k, v in data.items()}
    f_true = float(np.mean(data["is_signal"] == 0))
    assert signal["q2"].size > 100_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # smeared q² outside the range: dropped by design
        ref = fit_events(signal, acceptance=opts["acceptance"], outside="drop")
        both = fit_events(data, **opts)
    # the signal alone closes on the truth (acceptance normalisation)
    assert abs(ref.values["dc9"] - TRUTH) < 3 * ref.errors["dc9"]
    shift = both.values["dc9"] - ref.values["dc9"]
    stat_s = ref.error_components["statistical"]["dc9"]
    comp = both.error_components
    resolution = np.sqrt(comp["statistical"]["dc9"] ** 2 - stat_s**2)
    # the efficiency sample moves the two fits differently through the background
    # normalisation; its component bounds that part of the shift
    allowed = 3 * np.sqrt(resolution**2 + comp["template"]["dc9"] ** 2
                          + comp["efficiency"]["dc9"] ** 2)
    assert abs(shift) < allowed, (shift, resolution, comp)
    # the fitted fraction is the one of these very events (not only the configured 0.44)
    assert abs(both.values["f_bkg"] - f_true) < 3 * both.errors["f_bkg"], (
        both.values["f_bkg"], f_true, both.errors["f_bkg"])
