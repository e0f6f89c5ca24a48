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
  images, a serial twin for one thread).  Per image it first computes the voxel of every
  event (a vectorisable loop), then applies the same per-voxel update as
  boost-histogram's accumulators (weighted Welford), event by event in input order, so the
  float64 results are bit-identical to the reference path.  To keep every memory access in
  the cache, the events of an image are first sorted (a stable counting sort) into buckets
  of the ``Z`` voxels that share their ``(X, Y)`` bins; each bucket is accumulated in a small
  accumulator and written into its contiguous piece of the image.  ``out=`` reuses a
  caller's buffer (no fresh pages to fault in).  :func:`voxelize` is its one-image form.

Layout: :class:`ImageSpec` and the channel list live in :mod:`hepc9.datasets.image_spec`,
the numba kernels in :mod:`hepc9.datasets.voxel_kernels`, the reference path in
:mod:`hepc9.datasets.voxel_boost`, the input checks in :mod:`hepc9.datasets.voxel_inputs`;
every name stays importable from here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numba import get_num_threads, set_num_threads

from hepc9.datasets.image_spec import (
    _MEAN,
    _STD,
    AXES,
    CHANNELS,
    TWO_PI,
    ImageSpec,
    default_q2_scale,
)
from hepc9.datasets.voxel_boost import voxelize_boost
from hepc9.datasets.voxel_inputs import _columns, _offsets, _weights
from hepc9.datasets.voxel_kernels import _voxelize_kernel, _voxelize_kernel_serial
from hepc9.errors import ConfigError, DataError, ShapeError

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
    out: np.ndarray | None = None,
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
    out : ndarray, optional
        C-contiguous ``(B, X, Y, Z, C)`` array of ``dtype`` to write the images into (every
        element is overwritten), e.g. one buffer reused for many batches; it is returned.

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
    if out is None:
        zeroed = bool(np.all(ch_fill == 0.0))
        # zero fill values: calloc'd output needs no initialising pass
        alloc = np.zeros if zeroed else np.empty
        flat = alloc((n_img, spec.n_voxels * nch), out_dtype)
    else:
        zeroed = False
        if (not isinstance(out, np.ndarray) or out.shape != (n_img, *spec.shape)
                or out.dtype != out_dtype or not out.flags.c_contiguous):
            raise ShapeError(
                f"out must be a C-contiguous {out_dtype} array of shape "
                f"{(n_img, *spec.shape)}, got {getattr(out, 'shape', type(out).__name__)}"
            )
        flat = out.reshape(n_img, spec.n_voxels * nch)
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
        n_groups, ch_group, ch_stat, ch_fill, max(max_events, 1), n_blocks, flat, zeroed,
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
    images = flat.reshape((n_img, *spec.shape))
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
