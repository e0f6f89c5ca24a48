"""Voxeliser: numba path vs boost-histogram vs a brute-force reference, channels, edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepc9.datasets.voxelize import (
    CHANNELS,
    TWO_PI,
    ImageSpec,
    voxelize,
    voxelize_batch,
    voxelize_boost,
)
from hepc9.errors import ConfigError, DataError, ShapeError

ALL = CHANNELS


def _events(rng, n, *, spill=0.02):
    return {
        "costheta_l": rng.uniform(-1 - spill, 1 + spill, n),
        "costheta_k": rng.uniform(-1 - spill, 1 + spill, n),
        "chi": rng.uniform(-spill, TWO_PI + spill, n),
        "q2": rng.uniform(0.05, 19.2, n),
        "flavour": rng.choice(np.array([-1, 1], np.int8), n),
    }


def _bin_ref(x, lo, hi, n, periodic):
    """Bin index by the documented rule, one value at a time (None when dropped)."""
    z = (x - lo) / (hi - lo)
    if periodic:
        if not math.isfinite(z):
            return None
        z -= math.floor(z)
        i = int(z * n)
        return i if i < n else None
    if 0.0 <= z < 1.0:
        i = int(z * n)
        return i if i < n else None
    return n - 1 if z == 1.0 else None


def _reference(events, spec, weights=None, background=None, scale=1.0, bweights=None):
    """Brute-force image: a Python loop with the weighted Welford update per voxel."""
    groups = spec.signal_groups + 1
    acc = np.zeros((groups, *spec.bins, 3))

    def fill(ev, w, group_of, sc):
        for e in range(len(ev["q2"])):
            idx = [
                _bin_ref(float(ev[a][e]), *spec.ranges[i], spec.bins[i], spec.periodic[i])
                for i, a in enumerate(("costheta_l", "costheta_k", "chi"))
            ]
            if None in idx:
                continue
            g = group_of(e)
            cell = acc[(g, *idx)]
            x = (float(ev["q2"][e]) - spec.q2_offset) / spec.q2_scale
            wt = sc if w is None else float(w[e]) * sc
            cell[0] += wt
            d = x - cell[1]
            cell[1] += wt * d / cell[0]
            cell[2] += wt * d * (x - cell[1])

    flav = events.get("flavour")
    fill(events, weights, (lambda e: 0 if flav[e] > 0 else 1) if spec.flavour_channels
         else (lambda e: 0), 1.0)
    if background is not None:
        fill(background, bweights, lambda e: spec.signal_groups, scale)
    out = np.empty(spec.shape)
    for c, (_, g, stat) in enumerate(spec._plan()):
        s, m, d2 = acc[g, ..., 0], acc[g, ..., 1], acc[g, ..., 2]
        full = s > 0
        if stat == 0:
            out[..., c] = np.where(full, m, spec.empty_value)
        elif stat == 1:
            out[..., c] = s
        elif stat == 2:
            out[..., c] = full
        else:
            out[..., c] = np.where(full, np.sqrt(np.maximum(d2, 0) / np.where(full, s, 1)),
                                   spec.empty_value)
    return out


@pytest.mark.parametrize("flavour_channels", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_numba_and_boost_equal_brute_force_exactly(flavour_channels, weighted):
    rng = np.random.default_rng(11)
    spec = ImageSpec(bins=(5, 6, 7), channels=ALL, flavour_channels=flavour_channels,
                     empty_value=-1.0)
    ev, bkg = _events(rng, 800), _events(rng, 150)
    w = rng.uniform(0.3, 2.0, 800) if weighted else None
    bw = rng.uniform(0.5, 1.5, 150) if weighted else None
    kw = {"weights": w, "background": bkg, "background_scale": 0.37, "background_weights": bw}
    fast = voxelize(ev, spec, **kw)
    boost = voxelize_boost(ev, spec, **kw)
    ref = _reference(ev, spec, w, bkg, 0.37, bw)
    np.testing.assert_array_equal(fast, ref)
    np.testing.assert_array_equal(boost, ref)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 60),
    bins=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)),
    seed=st.integers(0, 2**32 - 1),
)
def test_numba_equals_boost_property(n, bins, seed):
    rng = np.random.default_rng(seed)
    spec = ImageSpec(bins=bins, channels=("q2_mean", "count", "q2_std"), empty_value=-2.0)
    ev = _events(rng, n, spill=0.3)
    np.testing.assert_array_equal(voxelize(ev, spec), voxelize_boost(ev, spec))


def test_empty_voxels_and_empty_image():
    spec = ImageSpec(bins=(4, 4, 4), channels=("q2_mean", "count", "occupancy", "q2_std"),
                     empty_value=-1.0)
    ev = {"costheta_l": np.array([0.1]), "costheta_k": np.array([0.1]),
          "chi": np.array([0.1]), "q2": np.array([spec.q2_scale / 2])}
    img = voxelize(ev, spec)
    filled = (2, 2, 0)
    assert img[filled].tolist() == [0.5, 1.0, 1.0, 0.0]
    mask = np.ones(spec.bins, bool)
    mask[filled] = False
    assert np.all(img[mask][:, 0] == -1.0)  # mean: empty value
    assert np.all(img[mask][:, 1] == 0.0)  # count
    assert np.all(img[mask][:, 2] == 0.0)  # occupancy
    assert np.all(img[mask][:, 3] == -1.0)  # std: empty value
    none = {k: v[:0] for k, v in ev.items()}
    empty = voxelize(none, spec)
    assert np.all(empty[..., 0] == -1.0)
    assert np.all(empty[..., 1] == 0.0)
    np.testing.assert_array_equal(empty, voxelize_boost(none, spec))


def test_channel_semantics_count_mean_std():
    spec = ImageSpec(bins=(2, 2, 2), channels=("q2_mean", "count", "q2_std"))
    q2n = np.array([0.2, 0.4, 0.9])
    ev = {"costheta_l": np.array([-0.5, -0.5, 0.5]), "costheta_k": np.array([-0.5, -0.5, 0.5]),
          "chi": np.array([1.0, 1.0, 4.0]), "q2": q2n * spec.q2_scale}
    img = voxelize(ev, spec)
    np.testing.assert_allclose(img[0, 0, 0], [0.3, 2.0, 0.1], rtol=1e-12)
    np.testing.assert_allclose(img[1, 1, 1], [0.9, 1.0, 0.0], atol=1e-12)
    w = np.array([1.0, 3.0, 1.0])
    imgw = voxelize(ev, spec, weights=w)
    np.testing.assert_allclose(imgw[0, 0, 0, :2], [0.35, 4.0], rtol=1e-12)


def test_edges_chi_periodic_and_closed_cosines():
    spec = ImageSpec(bins=(4, 4, 8), channels=("count",))
    below = np.nextafter(TWO_PI, 0.0)
    chi = np.array([0.0, TWO_PI, below, -0.1, TWO_PI + 0.1, np.nan, 1.0, 1.0, 1.0, 1.0])
    ctl = np.array([0.0] * 6 + [1.0, -1.0, 1.001, -1.5])
    ev = {"costheta_l": ctl, "costheta_k": np.zeros(10), "chi": chi, "q2": np.ones(10)}
    img, dropped = voxelize_batch(ev, spec, n_images=1, dtype=np.float64, return_dropped=True)
    counts = img[0, ..., 0]
    # χ = 0, χ = 2π and 2π + 0.1 share the first bin; just below 2π and −0.1 wrap to the last
    assert counts[2, 2, 0] == 3
    assert counts[2, 2, 7] == 2
    # cosθ = +1 belongs to the last bin, −1 to the first; beyond ±1 and NaN χ are dropped
    assert counts[3, 2, 1] == 1
    assert counts[0, 2, 1] == 1
    assert dropped.tolist() == [3]
    assert counts.sum() == 7
    np.testing.assert_array_equal(img[0], voxelize_boost(ev, spec))


@pytest.mark.parametrize("bins", [(50, 50, 50), (7, 13, 33), (3, 1, 97)])
def test_division_free_bins_equal_boost_at_every_edge(bins):
    # the numba kernel bins without a division and falls back to boost-histogram's rule
    # near edges: values at, just below and just above every bin edge (χ's width 2π is not
    # a power of two, so (x − lo)·n/width and ((x − lo)/width)·n differ in the last bits)
    spec = ImageSpec(bins=bins, channels=("count", "q2_mean"))
    rng = np.random.default_rng(sum(bins))
    cols = []
    for i in range(3):
        edges = spec.edges(i)
        near = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
                               edges + 1e-13, edges - 1e-13])
        cols.append(rng.permutation(np.resize(near, 3000)))
    ev = {"costheta_l": cols[0], "costheta_k": cols[1], "chi": cols[2],
          "q2": rng.uniform(0.05, 19.2, 3000)}
    np.testing.assert_array_equal(voxelize(ev, spec), voxelize_boost(ev, spec))
    ref = _reference({k: v[:400] for k, v in ev.items()}, spec)
    np.testing.assert_array_equal(voxelize({k: v[:400] for k, v in ev.items()}, spec), ref)


def test_batch_matches_single_images_and_threads():
    rng = np.random.default_rng(3)
    spec = ImageSpec(bins=(6, 6, 6), channels=("q2_mean", "count", "occupancy"))
    ev = _events(rng, 12 * 300)
    batch1 = voxelize_batch(ev, spec, n_images=12, threads=1, dtype=np.float64)
    batch2 = voxelize_batch(ev, spec, n_images=12, threads=2, dtype=np.float64)
    np.testing.assert_array_equal(batch1, batch2)
    for b in (0, 7, 11):
        part = {k: v[b * 300:(b + 1) * 300] for k, v in ev.items()}
        np.testing.assert_array_equal(batch1[b], voxelize_boost(part, spec))
    off = np.array([0, 10, 10, 3600])
    ragged = voxelize_batch(ev, spec, offsets=off, dtype=np.float64)
    assert ragged.shape == (3, 6, 6, 6, 3)
    assert np.all(ragged[1, ..., 1] == 0)


@pytest.mark.parametrize("empty_value", [0.0, -1.0])
def test_out_buffer_reused_and_full_size_image_equals_boost(empty_value):
    """A reused ``out=`` buffer (garbage inside) gives the fresh result; 50³ × 24k events."""
    rng = np.random.default_rng(11)
    spec = ImageSpec(channels=("q2_mean", "count", "q2_std", "occupancy"),
                     empty_value=empty_value)
    ev = _events(rng, 3 * 24_000)
    fresh = voxelize_batch(ev, spec, n_images=3, dtype=np.float64, threads=2)
    buf = np.full((3, *spec.shape), np.nan)
    again = voxelize_batch(ev, spec, n_images=3, dtype=np.float64, out=buf)
    assert again is buf or np.shares_memory(again, buf)
    np.testing.assert_array_equal(again, fresh)
    for b in range(3):
        part = {k: v[b * 24_000:(b + 1) * 24_000] for k, v in ev.items()}
        np.testing.assert_array_equal(fresh[b], voxelize_boost(part, spec))
    with pytest.raises(ShapeError, match="out must be"):
        voxelize_batch(ev, spec, n_images=3, out=np.zeros((2, *spec.shape), np.float32))
    with pytest.raises(ShapeError, match="out must be"):
        voxelize_batch(ev, spec, n_images=3, out=np.zeros((3, *spec.shape), np.float64))


def test_float16_round_trip_error_bound():
    rng = np.random.default_rng(5)
    spec = ImageSpec(bins=(10, 10, 10), channels=("q2_mean", "count"))
    img = voxelize(_events(rng, 20000, spill=0.0), spec)
    back = img.astype(np.float16).astype(np.float64)
    mean = img[..., 0]
    assert mean.min() >= 0.0
    assert mean.max() <= 1.0
    # float16 has 11 significant bits: |error| ≤ 2⁻¹² on [0, 1] (formats.md §5: 2.4e-4)
    assert np.max(np.abs(back[..., 0] - mean)) <= 2.0**-12
    np.testing.assert_array_equal(back[..., 1], img[..., 1])  # counts below 2048 are exact


def test_spec_round_trip_and_channel_names():
    spec = ImageSpec(bins=(3, 4, 5), channels=("q2_mean", "occupancy", "background"),
                     flavour_channels=True, q2_offset=1.0, q2_scale=2.0, empty_value=-1.0)
    assert spec.channel_names == ("q2_mean_b0", "q2_mean_b0bar", "occupancy_b0",
                                  "occupancy_b0bar", "background")
    assert spec.shape == (3, 4, 5, 5)
    assert ImageSpec.from_dict(spec.to_dict()) == spec
    assert spec.periodic == (False, False, True)
    assert not ImageSpec(ranges=((-1, 1), (-1, 1), (0, 3))).periodic[2]
    recs = spec.channel_records()
    assert recs[0]["normalisation"] == {"offset": 1.0, "scale": 2.0, "method": "q2max"}
    assert recs[-1]["events"].startswith("mbc sideband")


def test_errors():
    with pytest.raises(ConfigError, match="did you mean 'q2_mean'"):
        ImageSpec(channels=("q2_men",))
    with pytest.raises(ConfigError):
        ImageSpec(bins=(0, 2, 2))
    spec = ImageSpec(bins=(2, 2, 2), channels=("q2_mean", "background"))
    ev = _events(np.random.default_rng(0), 10)
    with pytest.raises(DataError, match="sideband"):
        voxelize_batch(ev, spec, n_images=1)
    with pytest.raises(ShapeError):
        voxelize_batch(ev, ImageSpec(bins=(2, 2, 2)), n_images=3)
    with pytest.raises(DataError, match="positive"):
        voxelize(ev, ImageSpec(bins=(2, 2, 2)), weights=-np.ones(10))
    bad = dict(ev, flavour=np.zeros(10, np.int8))
    with pytest.raises(DataError, match="flavour"):
        voxelize(bad, ImageSpec(bins=(2, 2, 2), flavour_channels=True))
    with pytest.raises(DataError, match="costheta_k"):
        voxelize({k: v for k, v in ev.items() if k != "costheta_k"}, ImageSpec(bins=(2, 2, 2)))
