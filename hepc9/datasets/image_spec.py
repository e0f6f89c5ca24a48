"""Image specification: axes, channels, binning and q² normalisation (:class:`ImageSpec`).

The channels and the binning rule are described in :mod:`hepc9.datasets.voxelize`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.errors import ConfigError, did_you_mean
from hepc9.physics.constants import SEED_MODEL, q2_limits

__all__ = ["AXES", "CHANNELS", "TWO_PI", "ImageSpec", "default_q2_scale"]

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
        out: list[dict[str, Any]] = []
        for name, group, stat in self._plan():
            bkg = group == self.signal_groups
            variable = "normalised q2" if stat in (_MEAN, _STD) else "events"
            rec: dict[str, Any] = {
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
