"""Reference voxelisation with ``boost_histogram`` (:func:`voxelize_boost`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from hepc9.datasets.image_spec import _COUNT, _MEAN, _OCCUPANCY, ImageSpec
from hepc9.datasets.voxel_inputs import _columns, _weights
from hepc9.errors import DataError

__all__ = ["voxelize_boost"]


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
