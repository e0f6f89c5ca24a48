"""The three users of the event chain select identical events from identical inputs.

Training data (:class:`hepc9.datasets.build.EventFactory`), evaluation pseudo-experiments
(:func:`hepc9.pipeline.pseudo.generate_sets`, :func:`hepc9.pipeline.detector_sets.
detector_level_sets`) and ``hepc9 simulate`` (:func:`hepc9.pipeline.simulate.simulate_file`)
all go through :mod:`hepc9.simulation`; these tests compare their public entry points.
"""

import dataclasses
import math

import numpy as np
import pytest

import hepc9.simulation.background_blocks as blocks_module
import hepc9.simulation.reconstruction as reconstruct_module
from hepc9.config import load_config
from hepc9.datasets.build import EventFactory
from hepc9.generate import lab_four_vectors, sample_events
from hepc9.kinematics import BELLE2
from hepc9.physics.constants import model_constants
from hepc9.pipeline.detector_sets import detector_level_sets
from hepc9.pipeline.executors import make_executor, map_chunks
from hepc9.pipeline.pseudo import LEVELS, chunk_specs, generate_sets
from hepc9.pipeline.simulate import simulate_file
from hepc9.rootio.native import make_meta, read_events, write_events
from hepc9.seeding import seed_sequence
from hepc9.simulation import DETECTOR_COLUMNS, child, generate_shifts, generator
from hepc9.simulation.reconstruction import regions

N = 120  # events per item / set
DET = ["detector.enabled=true", f"datasets.events_per_image={N}", "seed=11"]
BKG = ["background.enabled=true", "background.fraction=0.3"]
WINDOW = ["generate.q2_min=1.0", "generate.q2_max=6.0"]


def _write_gen(path, events, seed):
    """A generator-level file keeping float64 columns (simulate reads the exact events)."""
    n = len(events["q2"])
    meta = make_meta(level="gen", shifts={}, seed=seed, n_events=n, config_digest=None)
    dtypes = {k: np.float64 for k, v in events.items() if v.dtype.kind == "f"}
    write_events(path, events, meta, dtypes=dtypes)


def test_training_and_evaluation_sets_are_identical():
    cfg = load_config(overrides=DET + BKG + WINDOW)
    truth, n_sets = -0.82, 3
    spec = chunk_specs(cfg, level="det", n_events=N, truths=[truth], n_sets=n_sets)[0]
    ss = seed_sequence(cfg.seed, "evaluate", LEVELS["det"], N, 0, 0)
    sets = generate_sets(spec)
    train = EventFactory(cfg).draw(ss, truth, n_sets).signal
    direct = detector_level_sets(cfg, ss, truth=generate_shifts(cfg.generate, dc9=truth),
                                 constants=model_constants(cfg.physics.constants),
                                 n_sets=n_sets, n_events=N)
    n_bkg = round(0.3 * N)
    assert len(sets) == len(direct) == n_sets
    for i in range(n_sets):
        assert sorted(sets[i]) == sorted(DETECTOR_COLUMNS)
        for k in DETECTOR_COLUMNS:
            np.testing.assert_array_equal(sets[i][k], train[k][i * N:(i + 1) * N])
            np.testing.assert_array_equal(direct[i][k], sets[i][k])
        assert int(np.count_nonzero(sets[i]["is_signal"] == 0)) == n_bkg


def test_generator_level_sets_are_the_sampler_events():
    cfg = load_config(overrides=[*WINDOW, f"datasets.events_per_image={N}"])
    spec = chunk_specs(cfg, level="gen", n_events=N, truths=[0.5, -1.0], n_sets=2)[1]
    sets = generate_sets(spec)
    g = cfg.generate
    ev = sample_events(2 * N, seed=seed_sequence(cfg.seed, "evaluate", 0, N, 1, 0),
                       shifts=generate_shifts(g, dc9=-1.0),
                       constants=model_constants(cfg.physics.constants), q2_range=(1.0, 6.0),
                       flavour=g.flavour, line_shape=g.line_shape, chunk_size=g.chunk_size,
                       threads=1, grid_points=g.q2_grid_points)
    for i, one in enumerate(sets):
        assert list(one) == list(ev)
        for k in ev:
            np.testing.assert_array_equal(one[k], ev[k][i * N:(i + 1) * N])
    train = EventFactory(cfg).draw(seed_sequence(cfg.seed, "evaluate", 0, N, 1, 0), -1.0, 2)
    for k in ev:
        np.testing.assert_array_equal(train.signal[k], ev[k])


def test_simulate_selects_the_factory_events(tmp_path):
    """``simulate`` and the factory keep the same events for the same events and streams.

    The factory's block 0 draws its detector response from ``ss/(2, 0)``; with
    ``ss = ("detector", *S)`` that is the stream of chunk 2 of ``simulate_file(stream=S)``.
    The input file holds the factory's block-0 events (with the factory's four-vectors) as
    chunks 0, 1 and 2.
    """
    stream = (5,)
    cfg = load_config(overrides=DET)
    ss = seed_sequence(cfg.seed, "detector", *stream)
    n = 40
    factory = EventFactory(load_config(overrides=[*DET, f"datasets.events_per_image={n}"]))
    got = factory.draw(ss, 0.0, 1).signal
    n_try = math.ceil(n / 0.5 * 1.1) + 64  # the first block of the top-up
    gen = factory.chain.sample.at(0.0).sample(n_try, child(ss, 0, 0))
    gen = lab_four_vectors(gen, rng=generator(child(ss, 1, 0)), constants=factory.constants,
                           beam=BELLE2)
    src = tmp_path / "gen.root"
    _write_gen(src, {k: np.concatenate([v, v, v]) for k, v in gen.items()}, cfg.seed)
    sim_cfg = load_config(overrides=[*DET, f"detector.chunk_size={n_try}"])
    simulate_file(sim_cfg, src, tmp_path / "sr.root", stream=stream)
    sr, _ = read_events(tmp_path / "sr.root")
    start = int(np.flatnonzero(sr["q2"] == np.float32(got["q2"][0]))[-1])
    for k in DETECTOR_COLUMNS:
        a = np.asarray(got[k])
        b = np.asarray(sr[k])[start:start + n]
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(b.astype(np.float32), a.astype(np.float32))
        else:
            np.testing.assert_array_equal(b, a)
    for k in ("mbc", "delta_e", "mkpi"):  # selection columns: already at file precision
        np.testing.assert_array_equal(np.asarray(sr[k])[start:start + n], got[k])


@pytest.fixture
def fake_tracks(monkeypatch):
    """A track selection that keeps backward muons only, recording what it was asked."""
    asked = []

    def accept(events, **kw):
        asked.append({k: np.asarray(v).copy() for k, v in events.items()})
        return np.asarray(events["costheta_l"]) < 0.0

    monkeypatch.setattr(blocks_module, "accept_background", accept)
    return asked


def _check_asked(asked, sel):
    mbc = np.concatenate([a["mbc"] for a in asked])
    de = np.concatenate([a["delta_e"] for a in asked])
    in_sr = (mbc > sel.mbc_signal_min) & (np.abs(de) < sel.delta_e_max)
    lo, hi = sel.mbc_sideband
    in_sb = (mbc > lo) & (mbc < hi) & (np.abs(de) < sel.delta_e_max)
    assert np.all(in_sr | in_sb)  # only candidates that could be kept are tested ...
    assert np.any(in_sb)
    assert np.any(in_sr)


def test_background_passes_tracks_before_the_region_test(fake_tracks, tmp_path):
    cfg = load_config(overrides=DET + BKG)
    sel = cfg.selection
    ss = seed_sequence(cfg.seed, "evaluate", 1, N, 0, 0)
    # training data
    ev = EventFactory(cfg).draw(ss, 0.0, 2)
    bkg = ev.signal["is_signal"] == 0
    assert np.any(bkg)
    assert np.all(ev.signal["costheta_l"][bkg] < 0)
    assert np.all(ev.background["costheta_l"] < 0)
    _check_asked(fake_tracks, sel)
    fake_tracks.clear()
    # evaluation pseudo-experiments
    spec = chunk_specs(cfg, level="det", n_events=N, truths=[0.0], n_sets=2)[0]
    for one in generate_sets(spec):
        b = one["is_signal"] == 0
        assert np.any(b)
        assert np.all(one["costheta_l"][b] < 0)
    _check_asked(fake_tracks, sel)
    fake_tracks.clear()
    # hepc9 simulate
    gen = lab_four_vectors(sample_events(3000, seed=np.random.SeedSequence(3)),
                           rng=np.random.default_rng(4), beam=BELLE2)
    _write_gen(tmp_path / "gen.root", gen, cfg.seed)
    simulate_file(cfg, tmp_path / "gen.root", tmp_path / "sr.root",
                  sideband_output=tmp_path / "sb.root")
    for name in ("sr", "sb"):
        out, _ = read_events(tmp_path / f"{name}.root")
        b = out["is_signal"] == 0
        assert np.any(b)
        assert np.all(out["costheta_l"][b] < 0)
    _check_asked(fake_tracks, sel)


@pytest.fixture
def edge_detector(monkeypatch):
    """The real detector response, with ΔE of every 7th candidate moved onto the cut edge.

    Row ``7k`` gets ΔE just below 0.05 in float64 (it rounds onto float32(0.05) > 0.05),
    row ``7k + 3`` ΔE = −0.0499 (inside in both precisions); both get Mbc inside the
    signal region, and the true q² of every input is recorded.
    """
    real = reconstruct_module.simulate_detector
    seen = []

    def detector(events, **kw):
        seen.append(np.asarray(events["q2"]).copy())
        det, flow = real(events, **kw)
        det = dict(det)
        de, mbc = det["delta_e"].copy(), det["mbc"].copy()
        de[::7], de[3::7] = EDGE, INSIDE
        mbc[::7], mbc[3::7] = 5.279, 5.279
        det["delta_e"], det["mbc"] = de, mbc
        return det, flow

    monkeypatch.setattr(reconstruct_module, "simulate_detector", detector)
    return seen


EDGE = float(np.nextafter(0.05, 0.0))
INSIDE = -0.0499


def _check_edges(delta_e):
    delta_e = np.asarray(delta_e, np.float64)
    assert not np.any(np.isin(delta_e, [EDGE, float(np.float32(EDGE))]))
    assert np.all(np.abs(delta_e) < 0.05)
    assert np.any(delta_e == float(np.float32(INSIDE)))


def test_float32_rule_at_the_signal_region_edge(edge_detector, tmp_path):
    assert EDGE < 0.05 < float(np.float32(EDGE))
    cfg = load_config(overrides=DET + WINDOW)
    ss = seed_sequence(cfg.seed, "evaluate", 1, N, 0, 0)
    _check_edges(EventFactory(cfg).draw(ss, 0.0, 2).signal["delta_e"])
    spec = chunk_specs(cfg, level="det", n_events=N, truths=[0.0], n_sets=2)[0]
    _check_edges(np.concatenate([s["delta_e"] for s in generate_sets(spec)]))
    gen = lab_four_vectors(sample_events(2000, seed=np.random.SeedSequence(3)),
                           rng=np.random.default_rng(4), beam=BELLE2)
    _write_gen(tmp_path / "gen.root", gen, cfg.seed)
    simulate_file(cfg, tmp_path / "gen.root", tmp_path / "sr.root")
    _check_edges(read_events(tmp_path / "sr.root")[0]["delta_e"])


def test_q2_window_applies_to_detector_level_pseudo_experiments(edge_detector):
    cfg = load_config(overrides=DET + BKG + WINDOW)
    for level in ("det", "gen"):
        spec = chunk_specs(cfg, level=level, n_events=N, truths=[0.0], n_sets=2)[0]
        sets = generate_sets(spec)
        assert len(sets) == 2
        if level == "gen":
            q2 = np.concatenate([s["q2"] for s in sets])
            assert q2.min() >= 1.0
            assert q2.max() <= 6.0
    true_q2 = np.concatenate(edge_detector)
    assert len(true_q2) > 0
    assert true_q2.min() >= 1.0
    assert true_q2.max() <= 6.0
    edge_detector.clear()
    EventFactory(cfg).draw(seed_sequence(1, "images_train", 0, 0), 0.0, 1)
    true_q2 = np.concatenate(edge_detector)
    assert true_q2.min() >= 1.0
    assert true_q2.max() <= 6.0


def test_set_chunks_travel_to_worker_processes():
    cfg = load_config(overrides=DET + BKG)
    specs = chunk_specs(cfg, level="det", n_events=N, truths=[0.0, 1.0], n_sets=2)
    assert specs[0].fit_config == cfg  # the detector-level fit reads the detector stage
    scale = dataclasses.replace(cfg.scale, executor="processes", workers=2)
    with make_executor(scale) as ex:
        remote = map_chunks(generate_sets, specs, ex)
    for spec, sets in zip(specs, remote, strict=True):
        for a, b in zip(generate_sets(spec), sets, strict=True):
            for k in a:
                np.testing.assert_array_equal(a[k], b[k])


def test_batched_items_top_up_each_item_to_its_size():
    """draw_items: every item holds its events, in the signal region, reproducibly."""
    cfg = load_config(overrides=DET + BKG + WINDOW)
    factory = EventFactory(cfg)
    labels = np.array([-1.5, 0.0, 0.0, 1.0])
    ss = seed_sequence(cfg.seed, "stream", 0)
    items = factory.draw_items(ss, labels)
    again = factory.draw_items(seed_sequence(cfg.seed, "stream", 0), labels)
    n_bkg = round(0.3 * N)
    for a, b in zip(items, again, strict=True):
        sig = a.signal
        assert len(sig["q2"]) == N
        assert int(np.count_nonzero(sig["is_signal"] == 0)) == n_bkg
        assert regions(sig, cfg.selection).signal.all()
        for k in DETECTOR_COLUMNS:
            np.testing.assert_array_equal(sig[k], b.signal[k])
    # the two items at the same δC9 are distinct draws, not copies
    assert not np.array_equal(items[1].signal["q2"], items[2].signal["q2"])
