"""Frozen, picklable inputs of the event chain, built from the config once.

:class:`SampleInputs` holds everything :func:`hepc9.generate.sample_events` needs besides the
event count and the random stream (Wilson-coefficient point, constants, q² window, flavour,
line shape, sampler settings); :class:`ChainInputs` adds the detector, background and
selection settings and the number of events per item.  Both are plain frozen dataclasses, so
worker processes receive them as arguments instead of a serialised configuration.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.config import BackgroundConfig, Config, DetectorConfig, GenerateConfig, SelectionConfig
from hepc9.errors import ConfigError
from hepc9.generate import sample_events
from hepc9.physics.constants import (
    SHIFT_NAMES,
    ModelConstants,
    WilsonShifts,
    model_constants,
    q2_limits,
)

__all__ = [
    "ChainInputs",
    "SampleInputs",
    "background_split",
    "generate_shifts",
    "q2_window",
]


def generate_shifts(generate: GenerateConfig, *, dc9: float | None = None) -> WilsonShifts:
    """Return the Wilson-coefficient shifts of ``[generate]``, with δC9 optionally replaced.

    Parameters
    ----------
    generate : GenerateConfig
        The ``[generate]`` section (``dc7 dc9 dc10 c7p c9p c10p``).
    dc9 : float, optional
        δC9 to use instead of ``generate.dc9`` (a label or a true value).

    Returns
    -------
    WilsonShifts
    """
    values = {name: getattr(generate, name) for name in SHIFT_NAMES}
    if dc9 is not None:
        values["dc9"] = float(dc9)
    return WilsonShifts(**values)


def q2_window(generate: GenerateConfig, constants: ModelConstants) -> tuple[float, float] | None:
    """Return the generated q² window of ``[generate] q2_min/q2_max``.

    A missing edge is the kinematic limit (physics.md §1.2, :func:`q2_limits`); without
    either edge the window is ``None`` (the full range, as the sampler's default).

    Parameters
    ----------
    generate : GenerateConfig
        The ``[generate]`` section.
    constants : ModelConstants
        Masses of the kinematic limits.

    Returns
    -------
    (float, float) or None
        Window in GeV².

    Raises
    ------
    ConfigError
        An empty window.
    """
    g = generate
    if g.q2_min is None and g.q2_max is None:
        return None
    lo, hi = q2_limits(constants)
    window = (g.q2_min if g.q2_min is not None else lo, g.q2_max if g.q2_max is not None else hi)
    if window[0] >= window[1]:
        raise ConfigError(
            f"q² window [{window[0]:g}, {window[1]:g}] GeV² of [generate] q2_min/q2_max "
            f"is empty; choose q2_min < q2_max inside the kinematic range "
            f"[{lo:.6g}, {hi:.6g}] GeV²"
        )
    return window


def background_split(n_events: int, fraction: float) -> tuple[int, int]:
    """Return ``(n_signal, n_background)`` of an item: ``n_background = round(f · n)``.

    Parameters
    ----------
    n_events : int
        Events of the item (image or set).
    fraction : float
        Background fraction f in the signal region.

    Returns
    -------
    (int, int)
    """
    n_bkg = round(fraction * n_events)
    return int(n_events) - n_bkg, n_bkg


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleInputs:
    """The keyword arguments of :func:`hepc9.generate.sample_events` at one point.

    Attributes
    ----------
    shifts : WilsonShifts
        Wilson-coefficient point.
    constants : ModelConstants
        Physics constants.
    q2_range : (float, float) or None
        Generated q² window in GeV² (:func:`q2_window`).
    flavour, line_shape : str
        Sampler options of ``[generate]``.
    chunk_size, threads, grid_points : int
        Sampler settings (the events do not depend on ``threads``).
    density : str
        Generator density (``[generate] density``, :mod:`hepc9.generate.density`).
    """

    shifts: WilsonShifts
    constants: ModelConstants
    q2_range: tuple[float, float] | None
    flavour: str
    line_shape: str
    chunk_size: int
    threads: int
    grid_points: int
    density: str = "rate"

    @classmethod
    def from_config(
        cls, cfg: Config, *, dc9: float | None = None, threads: int | None = None
    ) -> SampleInputs:
        """Build the inputs from ``[generate]`` and ``[physics]``.

        Parameters
        ----------
        cfg : Config
            Resolved configuration.
        dc9 : float, optional
            δC9 instead of ``[generate] dc9``.
        threads : int, optional
            Sampler threads instead of ``[generate] threads`` (e.g. 1 in worker processes).

        Returns
        -------
        SampleInputs
        """
        g = cfg.generate
        constants = model_constants(cfg.physics.constants)
        return cls(
            shifts=generate_shifts(g, dc9=dc9),
            constants=constants,
            q2_range=q2_window(g, constants),
            flavour=g.flavour,
            line_shape=g.line_shape,
            chunk_size=g.chunk_size,
            threads=g.threads if threads is None else int(threads),
            grid_points=g.q2_grid_points,
            density=g.density,
        )

    def at(self, dc9: float) -> SampleInputs:
        """Return the same inputs at δC9 = ``dc9`` (the other shifts kept)."""
        return dataclasses.replace(self, shifts=self.shifts.with_(dc9=float(dc9)))

    def sample_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of ``sample_events`` besides ``n`` and ``seed``."""
        return {
            "shifts": self.shifts,
            "constants": self.constants,
            "q2_range": self.q2_range,
            "flavour": self.flavour,
            "line_shape": self.line_shape,
            "chunk_size": self.chunk_size,
            "threads": self.threads,
            "grid_points": self.grid_points,
            "density": self.density,
        }

    def sample(self, n: int, seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
        """Draw ``n`` generator-level events from the stream ``seed``.

        Returns
        -------
        dict of str to ndarray
            Native generator-level columns, shape ``(n,)`` each.
        """
        return sample_events(int(n), seed=seed, **self.sample_kwargs())


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainInputs:
    """Everything the event chain needs to draw items of events.

    Attributes
    ----------
    sample : SampleInputs
        Generator inputs (their δC9 is replaced per item label).
    detector : DetectorConfig or None
        Detector response; ``None`` at generator level.
    background : BackgroundConfig or None
        Combinatorial background; ``None`` without background.
    selection : SelectionConfig
        K* window, signal region and Mbc sideband.
    background_fraction : float
        Fraction f of background in the signal region of an item (0 without background).
    events_per_item : int
        Events of an image or set (M).
    """

    sample: SampleInputs
    detector: DetectorConfig | None
    background: BackgroundConfig | None
    selection: SelectionConfig
    background_fraction: float
    events_per_item: int

    @classmethod
    def from_config(
        cls,
        cfg: Config,
        *,
        level: str | None = None,
        events_per_item: int | None = None,
        threads: int | None = None,
    ) -> ChainInputs:
        """Build the chain inputs of a configuration.

        Parameters
        ----------
        cfg : Config
            Resolved configuration.
        level : {"gen", "det"}, optional
            Force generator or detector level; default ``[detector] enabled``.
        events_per_item : int, optional
            Events per item; default ``[datasets] events_per_image``.
        threads : int, optional
            Sampler threads (see :meth:`SampleInputs.from_config`).

        Returns
        -------
        ChainInputs

        Raises
        ------
        ConfigError
            Background without the detector simulation.
        """
        if level not in (None, "gen", "det"):
            raise ConfigError(f"level = {level!r} must be 'gen' or 'det'")
        detector = bool(cfg.detector.enabled) if level is None else level == "det"
        with_bkg = bool(cfg.background.enabled) and detector
        if level is None and cfg.background.enabled and not detector:
            raise ConfigError(
                "[background] enabled = true needs [detector] enabled = true: background "
                "events are mixed into the signal region, which needs reconstructed Mbc and ΔE"
            )
        m = cfg.datasets.events_per_image if events_per_item is None else int(events_per_item)
        return cls(
            sample=SampleInputs.from_config(cfg, threads=threads),
            detector=cfg.detector if detector else None,
            background=cfg.background if with_bkg else None,
            selection=cfg.selection,
            background_fraction=float(cfg.background.fraction) if with_bkg else 0.0,
            events_per_item=m,
        )

    @property
    def split(self) -> tuple[int, int]:
        """``(signal, background)`` events per item (:func:`background_split`)."""
        return background_split(self.events_per_item, self.background_fraction)
