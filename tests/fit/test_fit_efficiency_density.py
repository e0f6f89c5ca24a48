"""Efficiency samples drawn from a flatter generator density (issue 14, item 3).

The generator density of a sample (``[generate] density``, :mod:`hepc9.generate.density`) is
recorded in the metadata, carried by ``simulate`` and read back by ``load_acceptance``, whose
weights are 1/density.  A flat angular density gives the same acceptance normalisation as the
rate within errors, with a larger Kish effective size.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hepc9.cli import main
from hepc9.config import load_config
from hepc9.errors import ConfigError, DataError
from hepc9.fit.acceptance import acceptance_sample
from hepc9.fit.coverage import acceptance_probability
from hepc9.generate import sample_events
from hepc9.generate.density import DENSITIES, check_density, proposal_density
from hepc9.physics.constants import SEED_MODEL, WilsonShifts
from hepc9.physics.rate import dgamma_dq2, differential_rate
from hepc9.physics.window import resolve_q2_range
from hepc9.pipeline.fit import load_acceptance
from hepc9.rootio.native import make_meta, read_events, read_meta, write_events

WINDOW = (1.1, 6.0)
COLS = ("q2", "costheta_l", "costheta_k", "chi")


def _accepted(n, density, seed, window=WINDOW):
    ev = sample_events(n, seed=seed, shifts={}, q2_range=window, threads=1, density=density)
    eps = acceptance_probability(ev, resolve_q2_range(window, SEED_MODEL))
    keep = np.random.default_rng(seed + 1).uniform(size=n) < eps
    return {k: v[keep] for k, v in ev.items()}


@pytest.fixture(scope="module")
def samples():
    return {d: _accepted(120_000, d, 7 + i) for i, d in enumerate(DENSITIES)}


def test_flat_density_is_flat_in_the_angles_with_the_rate_q2_spectrum():
    n = 60_000
    rate = sample_events(n, seed=1, shifts={}, threads=1)
    flat = sample_events(n, seed=2, shifts={}, threads=1, density="flat_angles")
    mix = sample_events(n, seed=3, shifts={}, threads=1, density="mixture")
    tol = 4.0 * 0.58 / math.sqrt(n)  # 4σ of a mean of a uniform cosine (σ = 1/√3)
    # uniform angles: ⟨cos⟩ = 0, ⟨cos²⟩ = 1/3, ⟨χ⟩ = π
    for c in ("costheta_l", "costheta_k"):
        assert abs(flat[c].mean()) < tol
        assert abs((flat[c] ** 2).mean() - 1 / 3) < tol
    assert abs(flat["chi"].mean() / math.pi - 1.0) < 2 * tol
    # the q² spectrum is the rate's: compare the quartiles
    qs = [0.25, 0.5, 0.75]
    np.testing.assert_allclose(np.quantile(flat["q2"], qs), np.quantile(rate["q2"], qs),
                               rtol=0.03)
    # the mixture is half of each: ⟨cos²θK⟩ half-way between the rate and 1/3
    c2 = {k: (s["costheta_k"] ** 2).mean() for k, s in (("rate", rate), ("mix", mix))}
    assert abs(c2["rate"] - 1 / 3) > 5 * tol  # the rate is far from flat in cosθK
    assert abs(c2["mix"] - 0.5 * (c2["rate"] + 1 / 3)) < tol


def test_default_density_draws_the_rate_stream_unchanged():
    a = sample_events(5000, seed=11, shifts={"dc9": -0.82}, threads=1)
    b = sample_events(5000, seed=11, shifts={"dc9": -0.82}, threads=1, density="rate")
    c = sample_events(5000, seed=11, shifts={"dc9": -0.82}, threads=1, density="flat_angles")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["costheta_k"], c["costheta_k"])


def test_weights_are_one_over_the_proposal_density(samples):
    ev = samples["flat_angles"]
    acc = acceptance_sample(ev, generated_at={}, q2_range=WINDOW, density="flat_angles")
    assert acc.density == "flat_angles"
    # flat angles: w ∝ 1/(dΓ/dq²), so w · dΓ/dq² is one constant
    prod = acc.weights * dgamma_dq2(acc.points["q2"])
    np.testing.assert_allclose(prod, prod[0], rtol=1e-10)
    mix = samples["mixture"]
    accm = acceptance_sample(mix, generated_at={}, q2_range=WINDOW, density="mixture")
    p = 0.5 * differential_rate(*(accm.points[c] for c in COLS)) + 0.5 * dgamma_dq2(
        accm.points["q2"]) / (8 * math.pi)
    prod = accm.weights * p
    np.testing.assert_allclose(prod, prod[0], rtol=1e-10)
    # rate: the weights of earlier versions, exactly
    r = samples["rate"]
    accr = acceptance_sample(r, generated_at={}, q2_range=WINDOW)
    w = 1.0 / differential_rate(*(r[c] for c in COLS))
    np.testing.assert_array_equal(accr.weights, w / w.sum())
    np.testing.assert_array_equal(
        proposal_density(*(r[c] for c in COLS), density="rate", shifts=WilsonShifts()),
        differential_rate(*(r[c] for c in COLS)))


def _ratio(acc, at):
    """Γ_ε(at)/Γ_ε(SM) from a sample, with its first-order Monte Carlo error."""
    pts = [acc.points[c] for c in COLS]
    a = differential_rate(*pts, shifts=WilsonShifts(**at), constants=SEED_MODEL)
    b = differential_rate(*pts)
    w = acc.weights
    r = (w @ a) / (w @ b)
    return r, math.sqrt(np.sum(w**2 * (a - r * b) ** 2)) / (w @ b)


@pytest.mark.parametrize("at", [{"dc9": -0.82}, {"dc9": 0.6, "dc10": -0.5}])
def test_flat_and_rate_samples_give_one_acceptance_within_errors(samples, at):
    got = {}
    for d, ev in samples.items():
        acc = acceptance_sample(ev, generated_at={}, q2_range=WINDOW, density=d)
        got[d] = _ratio(acc, at)
    (r0, e0), (r1, e1), (r2, e2) = got["rate"], got["flat_angles"], got["mixture"]
    assert abs(r1 - r0) < 4 * math.hypot(e0, e1)
    assert abs(r2 - r0) < 4 * math.hypot(e0, e2)
    # a wrong weight (flat events weighted as if drawn from the rate) is far off
    wrong = acceptance_sample(samples["flat_angles"], generated_at={}, q2_range=WINDOW)
    rw, ew = _ratio(wrong, at)
    assert abs(rw - r0) > 4 * math.hypot(e0, ew)


@pytest.mark.parametrize("window", [None, WINDOW])
def test_flat_proposal_has_a_larger_effective_size(window):
    kish = {}
    for i, d in enumerate(DENSITIES):
        ev = _accepted(60_000, d, 20 + i, window=window)
        kish[d] = acceptance_sample(ev, generated_at={}, q2_range=window,
                                    density=d).effective_size
    # measured: 2.7× in [1.1, 6], 3× in the full range
    assert kish["flat_angles"] > 1.8 * kish["rate"]
    assert kish["mixture"] > 1.5 * kish["rate"]


def test_unknown_density_is_a_one_line_error_with_the_choices(samples):
    choices = "rate, flat_angles, mixture"
    with pytest.raises(DataError, match=rf"did you mean 'flat_angles'\?.*{choices}"):
        check_density("flat_angle")
    with pytest.raises(DataError, match="choose from rate, flat_angles, mixture"):
        sample_events(10, seed=1, density="uniform")
    with pytest.raises(DataError, match="efficiency sample density"):
        acceptance_sample(samples["rate"], generated_at={}, q2_range=WINDOW, density="flat")
    with pytest.raises(ConfigError, match="flat_angles"):
        load_config(overrides=["generate.density=flat"])
    with pytest.raises(ConfigError, match="did you mean 'flat_angles'"):
        load_config(overrides=["detector.efficiency_density=flatangles"])
    cfg = load_config(overrides=["detector.efficiency_density=flat_angles"])
    assert cfg.detector.efficiency_density == "flat_angles"
    assert load_config().generate.density == "rate"  # the default draws today's events


def _det_file(path, events, **extra):
    n = events["q2"].size
    meta = make_meta(level="det", shifts={}, seed=1, n_events=n, config_digest="sha256:0",
                     generator="hepc9.generate.sampler", **extra)
    write_events(path, {**{k: events[k] for k in (*COLS, "mkpi", "flavour")},
                        **{f"{k}_true": events[k] for k in COLS}}, meta)
    return path


def test_old_files_without_the_key_are_rate_weighted(tmp_path, samples):
    cfg = load_config()
    old = _det_file(tmp_path / "old.root", samples["rate"])
    assert "density" not in read_meta(old)
    acc = load_acceptance(old, config=cfg, q2_range=WINDOW)
    assert acc.density == "rate"
    ev = read_events(old)[0]
    ref = acceptance_sample(ev, generated_at={}, q2_range=WINDOW)
    np.testing.assert_array_equal(acc.weights, ref.weights)
    # a recorded density is used, an unknown one refused, mixed densities refused
    flat = _det_file(tmp_path / "flat.root", samples["flat_angles"], density="flat_angles")
    assert load_acceptance(flat, config=cfg, q2_range=WINDOW).density == "flat_angles"
    bad = _det_file(tmp_path / "bad.root", samples["rate"], density="flatt")
    with pytest.raises(DataError, match=r"bad.root: metadata 'density' = 'flatt'.*choose from"):
        load_acceptance(bad, config=cfg, q2_range=WINDOW)
    with pytest.raises(DataError, match="different densities"):
        load_acceptance([old, flat], config=cfg, q2_range=WINDOW)


def test_density_round_trip_generate_simulate_fit(tmp_path, capsys):
    p = {k: str(tmp_path / f"{k}.root") for k in ("gen", "eff", "data")}
    assert main(["--quiet", "generate", "--events", "30000", "--seed", "3", "--density",
                 "flat_angles", "-o", p["gen"]]) == 0
    assert read_meta(p["gen"])["density"] == "flat_angles"
    assert main(["--quiet", "simulate", p["gen"], "-o", p["eff"], "--no-background"]) == 0
    assert read_meta(p["eff"])["density"] == "flat_angles"
    assert main(["--quiet", "generate", "--events", "4000", "--seed", "4", "--dc9", "-0.82",
                 "-o", p["data"]]) == 0
    assert read_meta(p["data"])["density"] == "rate"  # the default is recorded too
    capsys.readouterr()
    out = tmp_path / "fit.json"
    assert main(["--quiet", "fit", p["data"], "--efficiency", p["eff"], "--q2-range", "1.1,6",
                 "-o", str(out)]) == 0
    comp = json.loads(out.read_text())["error_components"]
    assert comp["efficiency_density"] == "flat_angles"
    assert comp["efficiency_effective_size"] > 0
