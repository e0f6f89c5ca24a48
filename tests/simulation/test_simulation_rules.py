"""Unit tests of the event-chain rules: inputs, q² window, float32, regions, top-up loop."""

import dataclasses
import pickle

import numpy as np
import pytest

from hepc9.config import load_config
from hepc9.errors import ConfigError, DataError
from hepc9.physics.constants import WilsonShifts, model_constants, q2_limits
from hepc9.pipeline.generate import generator_inputs
from hepc9.pipeline.pseudo import chunk_specs
from hepc9.simulation import (
    ChainInputs,
    SampleInputs,
    as_stored,
    background_split,
    generate_shifts,
    q2_window,
    regions,
    stop_after,
    top_up,
    top_up_each,
)

SHIFTS = ["generate.dc7=0.05", "generate.dc10=0.5", "generate.c9p=0.3", "generate.dc9=-0.4"]


def test_generate_shifts_and_dc9_override():
    g = load_config(overrides=SHIFTS).generate
    assert generate_shifts(g) == WilsonShifts(dc7=0.05, dc9=-0.4, dc10=0.5, c9p=0.3)
    assert generate_shifts(g, dc9=1.25) == WilsonShifts(dc7=0.05, dc9=1.25, dc10=0.5, c9p=0.3)


def test_q2_window_fills_missing_edges_with_the_kinematic_limits():
    c = model_constants(load_config().physics.constants)
    lo, hi = q2_limits(c)
    assert q2_window(load_config().generate, c) is None
    assert q2_window(load_config(overrides=["generate.q2_min=1.1"]).generate, c) == (1.1, hi)
    assert q2_window(load_config(overrides=["generate.q2_max=6.0"]).generate, c) == (lo, 6.0)
    empty = dataclasses.replace(load_config().generate, q2_min=6.0, q2_max=6.0)  # unvalidated
    with pytest.raises(ConfigError, match="empty"):
        q2_window(empty, c)


def test_sample_inputs_are_the_generate_inputs():
    cfg = load_config(overrides=[*SHIFTS, "generate.q2_min=1.1", "generate.threads=2"])
    s = SampleInputs.from_config(cfg)
    old = generator_inputs(cfg)
    assert (s.shifts, s.constants, s.q2_range) == (old["shifts"], old["constants"],
                                                   old["q2_range"])
    kw = s.sample_kwargs()
    assert kw["threads"] == 2
    assert SampleInputs.from_config(cfg, threads=1).sample_kwargs()["threads"] == 1
    assert s.at(0.7).shifts == s.shifts.with_(dc9=0.7)
    assert pickle.loads(pickle.dumps(s)) == s


def test_chain_inputs_levels_and_pickling():
    cfg = load_config(overrides=["detector.enabled=true", "background.enabled=true",
                                 "background.fraction=0.25", "datasets.events_per_image=10"])
    chain = ChainInputs.from_config(cfg)
    assert chain.detector == cfg.detector
    assert chain.background == cfg.background
    assert chain.split == (8, 2)  # round(2.5) = 2 background events
    assert pickle.loads(pickle.dumps(chain)) == chain
    gen = ChainInputs.from_config(cfg, level="gen", events_per_item=30)
    assert (gen.detector, gen.background, gen.background_fraction) == (None, None, 0.0)
    assert gen.events_per_item == 30
    with pytest.raises(ConfigError, match=r"\[detector\] enabled"):
        ChainInputs.from_config(load_config(overrides=["background.enabled=true"]))
    with pytest.raises(ConfigError, match="level"):
        ChainInputs.from_config(cfg, level="lab")


def test_set_chunks_carry_frozen_inputs_not_the_config():
    cfg = load_config(overrides=["generate.q2_min=1.0"])
    spec = chunk_specs(cfg, level="gen", n_events=50, truths=[0.0], n_sets=3)[0]
    assert spec.fit_config is None
    assert spec.chain.sample.q2_range == (1.0, q2_limits(spec.chain.sample.constants)[1])
    assert pickle.loads(pickle.dumps(spec)) == spec


@pytest.mark.parametrize(("n", "f", "split"), [(10, 0.0, (10, 0)), (10, 0.44, (6, 4)),
                                               (5, 0.5, (3, 2)), (7, 0.3, (5, 2))])
def test_background_split_rounds_the_background(n, f, split):
    assert background_split(n, f) == split
    assert sum(background_split(n, f)) == n


def test_as_stored_rounds_only_the_selection_columns():
    ev = {"mbc": np.array([5.27 + 1e-9]), "delta_e": np.array([0.01]),
          "mkpi": np.array([0.8955 + 1e-10]), "q2": np.array([1.0 + 1e-12])}
    out = as_stored(ev)
    for k in ("mbc", "delta_e", "mkpi"):
        assert out[k].dtype == np.float64
        assert out[k][0] == float(np.float32(ev[k][0]))
    assert out["q2"][0] == ev["q2"][0]
    assert ev["mbc"][0] == 5.27 + 1e-9  # the input is left alone


def test_regions_at_exact_window_edges():
    # cut values exactly representable in float32, so the events sit exactly on the edges
    sel = load_config(overrides=["selection.mbc_signal_min=5.25", "selection.delta_e_max=0.0625",
                                 "selection.mbc_sideband=[5.2,5.25]",
                                 "selection.mkpi_centre=0.875", "selection.mkpi_window=0.0625"],
                      ).selection
    up = float(np.nextafter(np.float32(5.25), np.float32(6)))
    ev = as_stored({
        "mbc": np.array([5.25, up, 5.26, 5.26, 5.26, 5.26, 5.22, 5.2]),
        "delta_e": np.array([0.0, 0.0, 0.0625, -0.0625, 0.0, 0.0, 0.0, 0.0]),
        "mkpi": np.array([0.875, 0.875, 0.875, 0.875, 0.8125, 0.9375 + 1e-6, 0.875, 0.875]),
    })
    r = regions(ev, sel)
    # Mbc > min (strict), |ΔE| < max (strict), |m(Kπ) − centre| ≤ window (inclusive)
    np.testing.assert_array_equal(r.window, [1, 1, 1, 1, 1, 0, 1, 1])
    np.testing.assert_array_equal(r.signal, [0, 1, 0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(r.sideband, [0, 0, 0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(r.candidates, r.signal | r.sideband)


def test_float32_rule_decides_on_the_rounded_value():
    sel = load_config().selection  # Mbc > 5.27, |ΔE| < 0.05
    # float64 inside, float32 outside: 5.27 + 1e-9 rounds to 5.2699999..., 0.05 − 1e-12 to
    # float32(0.05) = 0.0500000007; float64 outside, float32 inside does not occur for these
    ev = {"mbc": np.array([5.27 + 1e-9, 5.28, 5.28]),
          "delta_e": np.array([0.0, np.nextafter(0.05, 0.0), -0.0499]),
          "mkpi": np.full(3, sel.mkpi_centre)}
    raw = (ev["mbc"] > sel.mbc_signal_min) & (np.abs(ev["delta_e"]) < sel.delta_e_max)
    assert raw.tolist() == [True, True, True]
    assert regions(as_stored(ev), sel).signal.tolist() == [False, False, True]


def test_top_up_sizes_rounds_and_errors():
    calls = []

    def draw(j, n_try, have):
        calls.append((j, n_try, have))
        return min(n_try // 4, 100 - have)

    assert top_up(draw, 100, first_rate=0.5, min_rate=0.02, max_rounds=10, error="x") == 2
    assert calls[0] == (0, 285, 0)  # ceil(100 / 0.5 · 1.1) + 64, 1.1 a shade above 11/10
    assert calls[1][0] == 1
    assert calls[1][2] == 71
    calls.clear()
    assert top_up(draw, 0, first_rate=0.5, min_rate=0.02, max_rounds=3, error="x") == 0
    assert not calls
    top_up(draw, 0, first_rate=1, min_rate=1, max_rounds=3, error="x", block=7,
           at_least_one=True)
    assert calls == [(0, 7, 0)]
    with pytest.raises(DataError, match="kept 0 of 5 after 3"):
        top_up(lambda j, n, h: 0, 5, first_rate=0.5, min_rate=0.02, max_rounds=3,
               error="kept {have} of {need} after {rounds}")


def test_top_up_each_tops_up_only_the_short_streams():
    calls = []

    def draw(j, n_try, have):
        calls.append((j, n_try.tolist(), have.tolist()))
        return n_try // 4

    # stream 1 needs nothing: it never draws; stream 0 and 2 share one rate per round
    assert top_up_each(draw, [100, 0, 30], first_rate=0.5, min_rate=0.02, max_rounds=10,
                       error="x") == 2
    assert calls[0] == (0, [285, 0, 130], [0, 0, 0])  # ceil(30 / 0.5 · 1.1) = 66
    assert calls[1][1][1] == 0
    assert calls[1][2] == [71, 0, 32]
    assert calls[1][1][2] == 0  # stream 2 holds 32 ≥ 30 after round 0
    with pytest.raises(DataError, match="kept 0 of 5 after 3"):
        top_up_each(lambda j, n, h: np.where(np.arange(2) == 0, n, 0), [5, 5],
                    first_rate=0.5, min_rate=0.02, max_rounds=3,
                    error="kept {have} of {need} after {rounds}")


def test_top_up_is_top_up_each_of_one_stream():
    seen_one, seen_each = [], []

    def one(j, n_try, have):
        seen_one.append((j, n_try, have))
        return n_try // 3

    def each(j, n_try, have):
        seen_each.append((j, int(n_try[0]), int(have[0])))
        return n_try // 3

    kwargs = {"first_rate": 0.4, "min_rate": 0.02, "max_rounds": 20, "error": "x"}
    assert top_up(one, 1000, **kwargs) == top_up_each(each, [1000], **kwargs)
    assert seen_one == seen_each


def test_stop_after_ends_at_the_needed_event():
    kept = np.array([0, 1, 0, 1, 1, 0], bool)
    assert stop_after(np.cumsum(kept), 0, 2, 6) == 4  # up to the 2nd kept event
    assert stop_after(np.cumsum(kept), 1, 2, 6) == 2
    assert stop_after(np.cumsum(kept), 0, 5, 6) == 6
    assert stop_after(np.cumsum(kept[:0]), 0, 0, 0) == 0
