"""Coverage of the detector-like fit with per-experiment efficiency and sideband samples."""

import pytest

from hepc9.fit.coverage import acceptance_probability, detector_coverage


def test_acceptance_probability_is_a_probability():
    import numpy as np

    rng = np.random.default_rng(0)
    ev = {"q2": rng.uniform(1.1, 6.0, 1000), "costheta_l": rng.uniform(-1, 1, 1000)}
    eps = acceptance_probability(ev, (1.1, 6.0))
    assert eps.min() > 0.25
    assert eps.max() <= 1.0


@pytest.mark.slow
def test_pulls_and_minos_coverage_with_regenerated_auxiliary_samples():
    res = detector_coverage(40, 3000, efficiency_events=30_000, sideband_events=3000, seed=3)
    assert res["n_experiments"] >= 38
    comp = res["mean_components"]
    # the auxiliary samples are small enough that their components matter
    assert comp["template"] + comp["efficiency"] > 0.4 * comp["stat"]
    assert abs(res["pull_mean"]) < 3.5 * res["pull_mean_error"]
    assert 0.75 < res["pull_width"] < 1.3  # 40 experiments: ±0.11
    assert 0.5 < res["minos_total_coverage"] < 0.86  # 0.683 ± 0.07
    assert res["minos_total_coverage"] >= res["minos_coverage"]
