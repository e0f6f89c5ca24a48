"""Quasi-images: events voxelised over (cos θℓ, cos θK, χ) with per-voxel statistics.

An image has shape ``(X, Y, Z, C)`` (channels last, as Keras ``Conv3D`` expects) over the
axes ``costheta_l``, ``costheta_k``, ``chi``.  Channel 0 is by convention the weighted mean of
the normalised q² of the events in the voxel, ``(q² − q2_offset) / q2_scale``, where the
normalisation is fixed once per dataset (never per file or per label) and recorded with it.

Channels (:data:`CHANNELS`; ``ImageSpec.channels`` picks and orders them):

==========================  ==================================================================
``q2_mean``                 weighted mean of the normalised q²; ``empty_value`` in empty voxels
``count``                   sum of event weights (the number of events when unweighted)
``occupancy``               1 where the voxel holds at least one event, else 0
``q2_std``                  weighted population standard deviation of the normalised q²
                            (about 0 for a single event; the accumulated Σ w δ (x − mean) is
                            clipped at 0 against rounding); ``empty_value`` in empty voxels
``background``              sum of the weights of the Mbc-sideband events, each weighted by
                            the image's scale factor (expected signal-region background yield
                            divided by the number of sideband events), i.e. the expected
                            background per voxel
``background_q2_mean``      weighted mean normalised q² of the sideband events
==========================  ==================================================================

With ``flavour_channels`` the four signal channels are split into ``<name>_b0`` (flavour
+1) and ``<name>_b0bar`` (flavour −1); otherwise both flavours are pooled (their angles already
follow the conjugate convention of physics.md §1.3, so pooling is correct).

Binning rule (identical in both paths, and that of ``boost_histogram.axis.Regular``):
``z = (x − lo) / (hi − lo)``, bin ``int(z · n)``.

* Cosine axes are closed intervals: ``x == hi`` goes into the last bin; values below ``lo``,
  above ``hi`` or NaN are dropped (not clamped).
* The χ axis is periodic when its range is the full period [0, 2π]: ``z`` is wrapped with
  ``z − floor(z)``, so χ = 2π falls into the first bin and χ slightly below 0 into the last.
  A value within one rounding unit below a multiple of 2π wraps to ``z == 1`` and is dropped,
  as is a non-finite χ.  Any other χ range is a closed interval like the cosines.

Two paths compute the same numbers:

* :func:`voxelize_boost` fills ``boost_histogram`` histograms with ``Mean`` (unit weights) or
  ``WeightedMean`` storage, one histogram per group of events.  It is the reference path.
* :func:`voxelize_batch` is a numba kernel over many images at once (threads over blocks of
  images, a serial twin for one thread).  Per block of events it first computes the voxel of
  every event (a vectorisable loop), then applies the same per-voxel update as
  boost-histogram's accumulators (weighted Welford), event by event in input order, so the
  float64 results are bit-identical to the reference path; only the voxels an image touched
  are finalised and reset, so the cost per image is O(events) plus one pass to initialise
  the output.  :func:`voxelize` is its one-image form.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import get_num_threads, njit, prange, set_num_threads

from hepc9.errors import ConfigError, DataError, ShapeError, did_you_mean

__all__ = [
    "AXES",
    "CHANNELS",
    "TWO_PI",
    "ImageSpec",
    "default_q2_scale",
    "voxelize",
    "voxelize_batch",
    "voxelize_boost",
]

#: Image axes, in array order.
AXES: tuple[str, str, str] = ("costheta_l", "costheta_k", "chi")
#: Channel names understood by :class:`ImageSpec`.
CHANNELS: tuple[str, ...] = (
    "q2_mean",
    "count",
    "occupancy",
    "q2_std",
    "background",
    "background_q2_mean",
)
TWO_PI = 2.0 * math.pi

#: Events per block of the two-pass kernel (slots of a block, then their accumulation); the
#: block's scratch stays in the L1/L2 cache.
_BLOCK = 2048
# statistic codes of the kernel
_MEAN, _COUNT, _OCCUPANCY, _STD = 0, 1, 2, 3
_STAT_OF = {
    "q2_mean": _MEAN,
    "count": _COUNT,
    "occupancy": _OCCUPANCY,
    "q2_std": _STD,
    "background": _COUNT,
    "background_q2_mean": _MEAN,
}
_SIGNAL_CHANNELS = ("q2_mean", "count", "occupancy", "q2_std")


def default_q2_scale() -> float:
    """Return q²_max of the seed model (physics.md §1.2), the default q² scale, GeV²."""
    from hepc9.physics.constants import SEED_MODEL, q2_limits

    return float(q2_limits(SEED_MODEL)[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSpec:
    """Geometry, channels and q² normalisation of quasi-images.

    Parameters
    ----------
    bins : tuple of int
        Voxels along ``costheta_l``, ``costheta_k``, ``chi``.
    ranges : tuple of (float, float)
        Axis ranges; the χ range [0, 2π] makes the χ axis periodic.
    channels : tuple of str
        Channel names from :data:`CHANNELS`, in output order.
    flavour_channels : bool
        Split the signal channels by flavour instead of pooling.
    q2_offset, q2_scale : float
        Normalised q² = (q² − q2_offset) / q2_scale; GeV².
    q2_normalisation : str
        How offset and scale were obtained (``q2max``, ``standard``, ...), for the record.
    empty_value : float
        Value of the mean and std channels in empty voxels.
    """

    bins: tuple[int, int, int] = (50, 50, 50)
    ranges: tuple[tuple[float, float], tuple[float, float], tuple[float, float]] = (
        (-1.0, 1.0),
        (-1.0, 1.0),
        (0.0, TWO_PI),
    )
    channels: tuple[str, ...] = ("q2_mean", "count")
    flavour_channels: bool = False
    q2_offset: float = 0.0
    q2_scale: float = dataclasses.field(default_factory=default_q2_scale)
    q2_normalisation: str = "q2max"
    empty_value: float = 0.0

    def __post_init__(self) -> None:
        bins = tuple(int(b) for b in self.bins)
        if len(bins) != 3 or any(b <= 0 for b in bins):
            raise ConfigError(f"image bins {self.bins!r} must be three positive integers")
        ranges = tuple((float(lo), float(hi)) for lo, hi in self.ranges)
        if len(ranges) != 3 or any(not (math.isfinite(lo) and math.isfinite(hi) and lo < hi)
                                   for lo, hi in ranges):
            raise ConfigError(f"image ranges {self.ranges!r} must be three finite (low, high)")
        lo, hi = ranges[2]
        if lo == 0.0 and abs(hi - TWO_PI) < 1e-9:
            ranges = (ranges[0], ranges[1], (0.0, TWO_PI))
        object.__setattr__(self, "bins", bins)
        object.__setattr__(self, "ranges", ranges)
        channels = tuple(self.channels)
        if not channels:
            raise ConfigError("an image needs at least one channel, e.g. channels = ['q2_mean']")
        for c in channels:
            if c not in CHANNELS:
                hint = did_you_mean(c, CHANNELS)
                raise ConfigError(
                    f"unknown image channel '{c}'{hint} (known: {', '.join(CHANNELS)})"
                )
        if len(set(channels)) != len(channels):
            raise ConfigError(f"image channels {list(channels)} list a channel twice")
        object.__setattr__(self, "channels", channels)
        if not (math.isfinite(self.q2_scale) and self.q2_scale > 0):
            raise ConfigError(f"q2_scale = {self.q2_scale} must be a positive finite number")
        if not math.isfinite(self.q2_offset) or not math.isfinite(self.empty_value):
            raise ConfigError("q2_offset and empty_value must be finite")

    # -- geometry ---------------------------------------------------------------------------

    @property
    def periodic(self) -> tuple[bool, bool, bool]:
        """Whether each axis wraps (only χ over exactly [0, 2π])."""
        return (False, False, self.ranges[2] == (0.0, TWO_PI))

    @property
    def n_voxels(self) -> int:
        """Number of voxels X·Y·Z."""
        return self.bins[0] * self.bins[1] * self.bins[2]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """Image shape ``(X, Y, Z, C)``."""
        return (*self.bins, len(self.channel_names))

    def edges(self, axis: int | str) -> np.ndarray:
        """Return the bin edges of one axis, shape ``(n + 1,)``, float64."""
        i = AXES.index(axis) if isinstance(axis, str) else int(axis)
        lo, hi = self.ranges[i]
        return np.linspace(lo, hi, self.bins[i] + 1)

    # -- channels ---------------------------------------------------------------------------

    @property
    def signal_groups(self) -> int:
        """Number of signal groups: 2 with flavour channels (B0, B̄0), else 1."""
        return 2 if self.flavour_channels else 1

    @property
    def uses_background(self) -> bool:
        """Whether any channel is made from sideband events."""
        return any(c.startswith("background") for c in self.channels)

    def _plan(self) -> list[tuple[str, int, int]]:
        plan: list[tuple[str, int, int]] = []
        bkg_group = self.signal_groups
        for c in self.channels:
            if c in _SIGNAL_CHANNELS and self.flavour_channels:
                plan.append((f"{c}_b0", 0, _STAT_OF[c]))
                plan.append((f"{c}_b0bar", 1, _STAT_OF[c]))
            elif c in _SIGNAL_CHANNELS:
                plan.append((c, 0, _STAT_OF[c]))
            else:
                plan.append((c, bkg_group, _STAT_OF[c]))
        return plan

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Output channel names after the flavour split."""
        return tuple(name for name, _, _ in self._plan())

    def channel_records(self) -> list[dict[str, Any]]:
        """Return one JSON-ready record per output channel (name, statistic, empty value)."""
        stat_names = {_MEAN: "weighted mean", _COUNT: "sum of weights",
                      _OCCUPANCY: "occupancy", _STD: "weighted population std"}
        out = []
        for name, group, stat in self._plan():
            bkg = group == self.signal_groups
            variable = "normalised q2" if stat in (_MEAN, _STD) else "events"
            rec = {
                "name": name,
                "statistic": stat_names[stat],
                "variable": variable,
                "events": "mbc sideband (scaled)" if bkg else "signal region",
                "empty_value": self.empty_value if stat in (_MEAN, _STD) else 0.0,
            }
            if stat in (_MEAN, _STD):
                rec["normalisation"] = {"offset": self.q2_offset, "scale": self.q2_scale,
                                        "method": self.q2_normalisation}
            out.append(rec)
        return out

    # -- serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as JSON-ready data (inverse of :meth:`from_dict`)."""
        return {
            "bins": list(self.bins),
            "ranges": [list(r) for r in self.ranges],
            "channels": list(self.channels),
            "flavour_channels": self.flavour_channels,
            "q2_offset": self.q2_offset,
            "q2_scale": self.q2_scale,
            "q2_normalisation": self.q2_normalisation,
            "empty_value": self.empty_value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageSpec:
        """Rebuild a spec from :meth:`to_dict` output (e.g. a dataset's ``index.json``)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown image-spec keys {sorted(unknown)}")
        kw = dict(data)
        if "bins" in kw:
            kw["bins"] = tuple(kw["bins"])
        if "ranges" in kw:
            kw["ranges"] = tuple(tuple(r) for r in kw["ranges"])
        if "channels" in kw:
            kw["channels"] = tuple(kw["channels"])
        return cls(**kw)

    @classmethod
    def from_config(
        cls,
        datasets: Any,
        *,
        q2_offset: float = 0.0,
        q2_scale: float | None = None,
        q2_normalisation: str | None = None,
    ) -> ImageSpec:
        """Build a spec from a :class:`hepc9.config.DatasetsConfig` and a fixed normalisation.

        Parameters
        ----------
        datasets : DatasetsConfig
            The ``[datasets]`` section.
        q2_offset, q2_scale : float
            The normalisation (``q2_scale=None`` means q²_max of the seed model).
        q2_normalisation : str, optional
            Its method name; default the config's ``q2_normalisation``.
        """
        return cls(
            bins=tuple(datasets.bins),
            ranges=(
                tuple(datasets.costheta_l_range),
                tuple(datasets.costheta_k_range),
                tuple(datasets.chi_range),
            ),
            channels=tuple(datasets.channels),
            flavour_channels=bool(datasets.flavour_channels),
            q2_offset=float(q2_offset),
            q2_scale=default_q2_scale() if q2_scale is None else float(q2_scale),
            q2_normalisation=q2_normalisation or datasets.q2_normalisation,
            empty_value=float(datasets.empty_value),
        )


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _column(events: Mapping[str, Any], name: str, where: str) -> np.ndarray:
    try:
        col = events[name]
    except KeyError:
        raise DataError(
            f"{where} have no column '{name}' (columns: {', '.join(sorted(events))})"
        ) from None
    return np.ascontiguousarray(col, dtype=np.float64)


def _columns(
    events: Mapping[str, Any] | None, spec: ImageSpec, where: str
) -> tuple[np.ndarray, ...]:
    """Return ``costheta_l, costheta_k, chi, q2, flavour`` as contiguous float64/int8 arrays."""
    if events is None:
        z = np.zeros(0)
        return z, z, z, z, np.zeros(0, np.int8)
    cols = [_column(events, n, where) for n in (*AXES, "q2")]
    n = len(cols[0])
    if any(c.ndim != 1 or len(c) != n for c in cols):
        raise ShapeError(f"{where}: columns must be 1-D arrays of one length")
    if spec.flavour_channels:
        if "flavour" not in events:
            raise DataError(f"{where} have no 'flavour' column, needed for flavour channels")
        flav = np.ascontiguousarray(events["flavour"])
        if flav.shape != (n,):
            raise ShapeError(f"{where}: 'flavour' has shape {flav.shape}, expected ({n},)")
        bad = ~np.isin(flav, (1, -1))
        if bad.any():
            raise DataError(f"{where}: flavour must be +1 or -1, found {flav[bad][0]!r}")
        flav = flav.astype(np.int8)
    else:
        flav = np.zeros(n, np.int8)
    return (*cols, flav)


def _weights(w: Any, n: int, where: str) -> np.ndarray:
    if w is None:
        return np.zeros(0)
    arr = np.ascontiguousarray(w, dtype=np.float64)
    if arr.shape != (n,):
        raise ShapeError(f"{where}: weights have shape {arr.shape}, expected ({n},)")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise DataError(f"{where}: weights must be finite and positive")
    return arr


def _offsets(n: int, offsets: Any, n_images: int | None, where: str) -> np.ndarray:
    if offsets is not None:
        off = np.asarray(offsets, dtype=np.int64)
        if off.ndim != 1 or len(off) < 2 or off[0] != 0 or off[-1] != n or np.any(np.diff(off) < 0):
            raise ShapeError(
                f"{where}: offsets must rise from 0 to the number of events ({n}), got "
                f"{off[:3].tolist()}…{off[-1:].tolist()}"
            )
        return off
    if n_images is None or n_images <= 0:
        raise ShapeError(f"{where}: give offsets or a positive n_images")
    if n % n_images:
        raise ShapeError(f"{where}: {n} events do not split into {n_images} equal images")
    return np.arange(n_images + 1, dtype=np.int64) * (n // n_images)


# --------------------------------------------------------------------------------------------
# numba path
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _bin_closed(x: float, lo: float, width: float, n: int) -> int:
    """Bin of ``x`` on a closed axis, -1 when dropped (boost-histogram ``Regular`` rule)."""
    z = (x - lo) / width
    i = np.int64(z * n) if (z >= 0.0 and z < 1.0) else np.int64(-1)
    i = np.int64(n - 1) if z == 1.0 else i
    return i if i < n else np.int64(-1)


@njit(cache=True, nogil=True, inline="always")
def _bin_periodic(x: float, lo: float, width: float, n: int) -> int:
    """Bin of ``x`` on a periodic axis, -1 when dropped (boost-histogram circular rule)."""
    z = (x - lo) / width
    ok = math.isfinite(z)
    z = z - math.floor(z) if ok else 0.0
    i = np.int64(z * n)
    return i if (ok and i < n) else np.int64(-1)


@njit(cache=True, nogil=True, inline="always")
def _slots_body(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width, nb,
                q2_off, q2_scale, nvox, idx, xs, ws, k0, periodic, simple):
    n0, n1, n2 = nb[0], nb[1], nb[2]
    l0, l1, l2 = lo[0], lo[1], lo[2]
    w0, w1, w2 = width[0], width[1], width[2]
    weighted = len(w) > 0
    for e in range(start, stop):
        # only the χ axis can be periodic (ImageSpec.periodic)
        i0 = _bin_closed(cl[e], l0, w0, n0)
        i1 = _bin_closed(ck[e], l1, w1, n1)
        i2 = _bin_periodic(chi[e], l2, w2, n2) if periodic else _bin_closed(chi[e], l2, w2, n2)
        bad = (i0 < 0) | (i1 < 0) | (i2 < 0)
        slot = slot0 + (i0 * n1 + i1) * n2 + i2
        k = k0 + e - start
        idx[k] = -1 if bad else slot
        xs[k] = (q2[e] - q2_off) / q2_scale
        if simple:
            ws[k] = scale
        else:
            if split and flav[e] < 0:
                idx[k] = -1 if bad else slot + nvox
            ws[k] = w[e] * scale if weighted else scale


@njit(cache=True, nogil=True)
def _slots(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width, nb, per,
           q2_off, q2_scale, nvox, idx, xs, ws, k0):
    """First pass (vectorisable): voxel slot, normalised q² and weight of events start:stop.

    Writes into ``idx[k0:]``, ``xs[k0:]``, ``ws[k0:]``; a dropped event gets slot -1.  The
    common cases (periodic χ or not; unweighted and pooled) get their own loop copies so
    that the compiler can vectorise them.
    """
    simple = not split and len(w) == 0
    if per[2]:
        if simple:
            _slots_body(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width,
                        nb, q2_off, q2_scale, nvox, idx, xs, ws, k0, True, True)
        else:
            _slots_body(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width,
                        nb, q2_off, q2_scale, nvox, idx, xs, ws, k0, True, False)
    elif simple:
        _slots_body(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width,
                    nb, q2_off, q2_scale, nvox, idx, xs, ws, k0, False, True)
    else:
        _slots_body(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width,
                    nb, q2_off, q2_scale, nvox, idx, xs, ws, k0, False, False)


@njit(cache=True, nogil=True)
def _accumulate(idx, xs, ws, n, acc, touched, nt):
    """Second pass: weighted Welford update per voxel, as boost-histogram's accumulators.

    Slots touched for the first time are appended to ``touched`` after the ``nt`` already
    there.  Returns the new number of touched slots and the number of dropped events.
    """
    dropped = 0
    for k in range(n):
        slot = idx[k]
        if slot < 0:
            dropped += 1
            continue
        x = xs[k]
        wt = ws[k]
        s = acc[slot, 0]
        if s == 0.0:
            touched[nt] = slot
            nt += 1
        s += wt
        acc[slot, 0] = s
        m = acc[slot, 1]
        d = x - m
        m += wt * d / s
        acc[slot, 1] = m
        acc[slot, 2] += wt * d * (x - m)
    return nt, dropped


@njit(cache=True, nogil=True)
def _one_image(b, cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
               lo, width, nb, per, q2_off, q2_scale, split, bkg_slot0, ch_group, ch_stat,
               ch_fill, uniform_fill, acc, touched, idx, xs, ws, out, zeroed):
    """Voxelise image ``b`` into ``out[b]`` using the scratch arrays; return dropped events.

    ``zeroed`` says that ``out`` was allocated zero-filled and every fill value is 0, so the
    initialising pass over the image is skipped.
    """
    nvox = nb[0] * nb[1] * nb[2]
    nch = len(ch_group)
    blk = len(idx)
    nt = 0
    nd = 0
    for start in range(off[b], off[b + 1], blk):
        stop = min(start + blk, off[b + 1])
        _slots(cl, ck, chi, q2, w, flav, start, stop, 1.0, 0, split,
               lo, width, nb, per, q2_off, q2_scale, nvox, idx, xs, ws, 0)
        nt, d = _accumulate(idx, xs, ws, stop - start, acc, touched, nt)
        nd += d
    if len(boff) > 0:
        for start in range(boff[b], boff[b + 1], blk):
            stop = min(start + blk, boff[b + 1])
            _slots(bcl, bck, bchi, bq2, bw, flav, start, stop, bscale[b], bkg_slot0, False,
                   lo, width, nb, per, q2_off, q2_scale, nvox, idx, xs, ws, 0)
            nt, d = _accumulate(idx, xs, ws, stop - start, acc, touched, nt)
            nd += d
    row = out[b]
    if zeroed:
        pass
    elif uniform_fill:
        row[:] = ch_fill[0]
    else:
        for v in range(nvox):
            for c in range(nch):
                row[v * nch + c] = ch_fill[c]
    for k in range(nt):
        slot = touched[k]
        g = slot // nvox
        v = slot - g * nvox
        s = acc[slot, 0]
        for c in range(nch):
            if ch_group[c] != g:
                continue
            st = ch_stat[c]
            if st == 0:
                val = acc[slot, 1]
            elif st == 1:
                val = s
            elif st == 2:
                val = 1.0
            else:
                val = math.sqrt(max(acc[slot, 2], 0.0) / s)
            row[v * nch + c] = val
        acc[slot, 0] = 0.0
        acc[slot, 1] = 0.0
        acc[slot, 2] = 0.0
    return nd


@njit(cache=True, nogil=True, parallel=True)
def _voxelize_kernel(cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
                     lo, width, nb, per, q2_off, q2_scale, split, n_groups,
                     ch_group, ch_stat, ch_fill, max_events, n_blocks, out, zeroed):
    """Voxelise every image, threads over ``n_blocks`` contiguous blocks of images."""
    n_img = len(off) - 1
    nvox = nb[0] * nb[1] * nb[2]
    uniform_fill = np.all(ch_fill == ch_fill[0])
    dropped = np.zeros(n_img, np.int64)
    for blk in prange(n_blocks):
        first = blk * n_img // n_blocks
        last = (blk + 1) * n_img // n_blocks
        acc = np.zeros((n_groups * nvox, 3))
        touched = np.empty(max_events, np.int64)
        idx = np.empty(_BLOCK, np.int64)
        xs = np.empty(_BLOCK)
        ws = np.empty(_BLOCK)
        for b in range(first, last):
            dropped[b] = _one_image(
                b, cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
                lo, width, nb, per, q2_off, q2_scale, split, (n_groups - 1) * nvox, ch_group,
                ch_stat, ch_fill, uniform_fill, acc, touched, idx, xs, ws, out, zeroed)
    return dropped


@njit(cache=True, nogil=True)
def _voxelize_kernel_serial(cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff,
                            bscale, lo, width, nb, per, q2_off, q2_scale, split, n_groups,
                            ch_group, ch_stat, ch_fill, max_events, n_blocks, out,
                            zeroed):
    """Single-threaded twin of :func:`_voxelize_kernel` (no thread start-up or barrier)."""
    n_img = len(off) - 1
    nvox = nb[0] * nb[1] * nb[2]
    uniform_fill = np.all(ch_fill == ch_fill[0])
    dropped = np.zeros(n_img, np.int64)
    acc = np.zeros((n_groups * nvox, 3))
    touched = np.empty(max_events, np.int64)
    idx = np.empty(_BLOCK, np.int64)
    xs = np.empty(_BLOCK)
    ws = np.empty(_BLOCK)
    for b in range(n_img):
        dropped[b] = _one_image(
            b, cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
            lo, width, nb, per, q2_off, q2_scale, split, (n_groups - 1) * nvox, ch_group,
            ch_stat, ch_fill, uniform_fill, acc, touched, idx, xs, ws, out, zeroed)
    return dropped


def _kernel_plan(spec: ImageSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    plan = spec._plan()
    ch_group = np.array([g for _, g, _ in plan], np.int64)
    ch_stat = np.array([s for _, _, s in plan], np.int64)
    ch_fill = np.array(
        [spec.empty_value if s in (_MEAN, _STD) else 0.0 for _, _, s in plan], np.float64
    )
    return ch_group, ch_stat, ch_fill, spec.signal_groups + 1


def voxelize_batch(
    events: Mapping[str, Any],
    spec: ImageSpec,
    *,
    n_images: int | None = None,
    offsets: Sequence[int] | np.ndarray | None = None,
    weights: np.ndarray | None = None,
    background: Mapping[str, Any] | None = None,
    background_offsets: Sequence[int] | np.ndarray | None = None,
    background_scale: Sequence[float] | np.ndarray | None = None,
    background_weights: np.ndarray | None = None,
    dtype: Any = np.float32,
    threads: int = 0,
    return_dropped: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Voxelise many images at once with the numba kernel.

    Image ``b`` is made of the events ``offsets[b]:offsets[b + 1]`` (in input order) and, for
    background channels, of the sideband events ``background_offsets[b]:…[b + 1]``, each
    weighted by ``background_scale[b]``.  Images are independent, so the result does not
    depend on ``threads``.

    Parameters
    ----------
    events : mapping
        Columns ``costheta_l``, ``costheta_k``, ``chi`` [rad], ``q2`` [GeV²] (and ``flavour``
        with flavour channels), 1-D arrays of length n (any float dtype; computed in float64).
    spec : ImageSpec
        Geometry, channels and normalisation.
    n_images : int, optional
        Split the events into this many equal consecutive images.
    offsets : array of int, optional
        ``(B + 1,)`` image boundaries instead of ``n_images``.
    weights : ndarray, optional
        ``(n,)`` positive event weights; default unit weights.
    background : mapping, optional
        Sideband events (same columns), required by the background channels.
    background_offsets : array of int, optional
        ``(B + 1,)`` boundaries of each image's sideband events.
    background_scale : array of float, optional
        ``(B,)`` scale factors (expected signal-region background / sideband events).
    background_weights : ndarray, optional
        Per-event weights of the sideband events.
    dtype : numpy dtype
        Output dtype (float32 default; float64 keeps the exact accumulator values).
    threads : int
        Worker threads; 0 uses all threads numba has.
    return_dropped : bool
        Also return the ``(B,)`` numbers of events dropped by the range rules.

    Returns
    -------
    ndarray
        ``(B, X, Y, Z, C)`` images of ``dtype``; with ``return_dropped`` a tuple
        ``(images, dropped)``.
    """
    cl, ck, chi, q2, flav = _columns(events, spec, "image events")
    off = _offsets(len(cl), offsets, n_images, "image events")
    w = _weights(weights, len(cl), "image events")
    n_img = len(off) - 1
    bcl, bck, bchi, bq2, _ = _columns(background, dataclasses.replace(spec, flavour_channels=False),
                                      "background events")
    if spec.uses_background:
        if background is None or background_offsets is None or background_scale is None:
            raise DataError(
                "the background channels need sideband events: pass background=, "
                "background_offsets= and background_scale="
            )
        boff = _offsets(len(bcl), background_offsets, None, "background events")
        if len(boff) != n_img + 1:
            raise ShapeError(
                f"background_offsets describe {len(boff) - 1} images, the events {n_img}"
            )
        bscale = np.ascontiguousarray(background_scale, dtype=np.float64)
        if bscale.shape != (n_img,) or not np.all(np.isfinite(bscale) & (bscale > 0)):
            raise DataError(f"background_scale must be {n_img} finite positive numbers")
        bw = _weights(background_weights, len(bcl), "background events")
        max_bkg = int(np.max(np.diff(boff))) if n_img else 0
    else:
        boff = np.zeros(0, np.int64)
        bscale = np.zeros(0)
        bw = np.zeros(0)
        max_bkg = 0
    ch_group, ch_stat, ch_fill, n_groups = _kernel_plan(spec)
    nch = len(ch_group)
    out_dtype = np.dtype(dtype)
    if out_dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ConfigError(f"voxelize_batch dtype must be float32 or float64, not {out_dtype}")
    zeroed = bool(np.all(ch_fill == 0.0))
    # zero fill values: calloc'd output needs no initialising pass
    alloc = np.zeros if zeroed else np.empty
    out = alloc((n_img, spec.n_voxels * nch), out_dtype)
    max_events = (int(np.max(np.diff(off))) if n_img else 0) + max_bkg
    n_threads = get_num_threads() if threads <= 0 else min(int(threads), get_num_threads())
    n_blocks = max(1, min(n_threads, n_img))
    lo = np.array([r[0] for r in spec.ranges])
    width = np.array([r[1] - r[0] for r in spec.ranges])
    nb = np.array(spec.bins, np.int64)
    per = np.array(spec.periodic)
    args = (
        cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
        lo, width, nb, per, float(spec.q2_offset), float(spec.q2_scale), spec.flavour_channels,
        n_groups, ch_group, ch_stat, ch_fill, max(max_events, 1), n_blocks, out, zeroed,
    )
    if n_blocks > 1:
        previous = get_num_threads()
        set_num_threads(n_blocks)
        try:
            dropped = _voxelize_kernel(*args)
        finally:
            set_num_threads(previous)
    else:
        dropped = _voxelize_kernel_serial(*args)
    images = out.reshape((n_img, *spec.shape))
    return (images, dropped) if return_dropped else images


def voxelize(
    events: Mapping[str, Any],
    spec: ImageSpec,
    *,
    weights: np.ndarray | None = None,
    background: Mapping[str, Any] | None = None,
    background_scale: float | None = None,
    background_weights: np.ndarray | None = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """Voxelise one image with the numba kernel.

    Parameters
    ----------
    events : mapping
        Columns ``costheta_l costheta_k chi q2`` (``flavour`` with flavour channels), (n,).
    spec : ImageSpec
        Geometry, channels and normalisation.
    weights : ndarray, optional
        ``(n,)`` positive event weights.
    background : mapping, optional
        Sideband events for the background channels.
    background_scale : float, optional
        Expected signal-region background yield divided by the number of sideband events.
    background_weights : ndarray, optional
        Per-event weights of the sideband events.
    dtype : numpy dtype
        Output dtype, float64 by default.

    Returns
    -------
    ndarray
        ``(X, Y, Z, C)`` image.
    """
    n = len(np.asarray(events[AXES[0]])) if AXES[0] in events else 0
    kw: dict[str, Any] = {}
    if background is not None and spec.uses_background:
        nb_ = len(np.asarray(background[AXES[0]]))
        kw = {
            "background": background,
            "background_offsets": [0, nb_],
            "background_scale": [1.0 if background_scale is None else background_scale],
            "background_weights": background_weights,
        }
    out = voxelize_batch(events, spec, offsets=[0, n], weights=weights, dtype=dtype,
                         threads=1, **kw)
    return out[0]


# --------------------------------------------------------------------------------------------
# boost-histogram path
# --------------------------------------------------------------------------------------------


def _histogram(spec: ImageSpec, weighted: bool) -> Any:
    import boost_histogram as bh

    axes = []
    for (lo, hi), n, periodic in zip(spec.ranges, spec.bins, spec.periodic, strict=True):
        if periodic:
            axes.append(bh.axis.Regular(n, lo, hi, circular=True))
        else:
            axes.append(bh.axis.Regular(n, lo, hi, underflow=False, overflow=False))
    storage = bh.storage.WeightedMean() if weighted else bh.storage.Mean()
    return bh.Histogram(*axes, storage=storage)


def _group_stats(spec: ImageSpec, cols: tuple[np.ndarray, ...], w: np.ndarray | None,
                 scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill one histogram; return (sum of weights, mean, Σ w δ (x − mean)) over the voxels."""
    cl, ck, chi, q2 = cols
    x = (q2 - spec.q2_offset) / spec.q2_scale
    weighted = w is not None or scale != 1.0
    h = _histogram(spec, weighted)
    if weighted:
        wt = np.full(len(cl), scale) if w is None else w * scale
        h.fill(cl, ck, chi, sample=x, weight=wt)
    else:
        h.fill(cl, ck, chi, sample=x)
    view = h.view(flow=False)
    if weighted:
        s = np.asarray(view["sum_of_weights"])
        d2 = np.asarray(view["_sum_of_weighted_deltas_squared"])
    else:
        s = np.asarray(view["count"])
        d2 = np.asarray(view["_sum_of_deltas_squared"])
    return s, np.asarray(view["value"]), d2


def voxelize_boost(
    events: Mapping[str, Any],
    spec: ImageSpec,
    *,
    weights: np.ndarray | None = None,
    background: Mapping[str, Any] | None = None,
    background_scale: float | None = None,
    background_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Voxelise one image with boost-histogram ``Mean``/``WeightedMean`` storages.

    Same arguments and result as :func:`voxelize`; float64 output ``(X, Y, Z, C)``.
    """
    cl, ck, chi, q2, flav = _columns(events, spec, "image events")
    w = _weights(weights, len(cl), "image events")
    w_or_none = w if len(w) else None
    groups: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
    if spec.flavour_channels:
        for sign in (1, -1):
            m = flav == sign
            groups.append(_group_stats(spec, (cl[m], ck[m], chi[m], q2[m]),
                                       None if w_or_none is None else w_or_none[m], 1.0))
    else:
        groups.append(_group_stats(spec, (cl, ck, chi, q2), w_or_none, 1.0))
    if spec.uses_background:
        if background is None or background_scale is None:
            raise DataError("the background channels need background= and background_scale=")
        bspec = dataclasses.replace(spec, flavour_channels=False)
        bcl, bck, bchi, bq2, _ = _columns(background, bspec, "background events")
        bw = _weights(background_weights, len(bcl), "background events")
        groups.append(_group_stats(spec, (bcl, bck, bchi, bq2), bw if len(bw) else None,
                                   float(background_scale)))
    else:
        groups.append(None)
    plan = spec._plan()
    out = np.empty(spec.shape, np.float64)
    for c, (_, g, stat) in enumerate(plan):
        stats = groups[g]
        assert stats is not None
        s, mean, d2 = stats
        filled = s > 0
        if stat == _MEAN:
            val = np.where(filled, mean, spec.empty_value)
        elif stat == _COUNT:
            val = s
        elif stat == _OCCUPANCY:
            val = filled.astype(np.float64)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                val = np.where(filled, np.sqrt(np.maximum(d2, 0.0) / np.where(filled, s, 1.0)),
                               spec.empty_value)
        out[..., c] = val
    return out
