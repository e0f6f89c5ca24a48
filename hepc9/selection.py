"""Candidate selection: signal region, Mbc sideband, K* window and the cutflow record.

The windows follow physics.md §8 and the seed analysis:

* signal region: ``Mbc > 5.27`` GeV and ``|ΔE| < 0.05`` GeV;
* Mbc sideband: ``5.20 < Mbc < 5.26`` GeV with the same ΔE window;
* K* window: ``|m(Kπ) − 0.892| ≤ 0.10`` GeV.

Mbc and ΔE windows are open intervals and the K* window is closed, exactly as written above;
the comparisons are made in float64 on the values given (files store float32, readers upcast).
All numbers come from :class:`hepc9.config.SelectionConfig`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from hepc9.config import SelectionConfig
from hepc9.errors import DataError, ShapeError

__all__ = ["Cutflow", "kstar_window", "sideband", "signal_region"]


def _column(events: Mapping[str, np.ndarray], name: str, where: str) -> np.ndarray:
    try:
        values = np.asarray(events[name], dtype=np.float64)
    except KeyError:
        raise DataError(
            f"{where} needs the column '{name}' but the events have only "
            f"{sorted(events)}; run the detector simulation first (hepc9 simulate)"
        ) from None
    if values.ndim != 1:
        raise ShapeError(f"column '{name}' must be 1-D, got shape {values.shape}")
    return values


def signal_region(events: Mapping[str, np.ndarray], cfg: SelectionConfig) -> np.ndarray:
    """Return the signal-region mask ``Mbc > mbc_signal_min and |ΔE| < delta_e_max``.

    Parameters
    ----------
    events : mapping of str to numpy.ndarray
        Needs ``mbc`` and ``delta_e`` (GeV), shape ``(n,)``.
    cfg : SelectionConfig
        Window definitions.

    Returns
    -------
    numpy.ndarray
        Boolean mask, shape ``(n,)``.
    """
    mbc = _column(events, "mbc", "signal_region")
    delta_e = _column(events, "delta_e", "signal_region")
    return (mbc > cfg.mbc_signal_min) & (np.abs(delta_e) < cfg.delta_e_max)


def sideband(events: Mapping[str, np.ndarray], cfg: SelectionConfig) -> np.ndarray:
    """Return the Mbc-sideband mask ``low < Mbc < high and |ΔE| < delta_e_max``.

    Parameters
    ----------
    events : mapping of str to numpy.ndarray
        Needs ``mbc`` and ``delta_e`` (GeV), shape ``(n,)``.
    cfg : SelectionConfig
        Window definitions (``mbc_sideband = (low, high)``).

    Returns
    -------
    numpy.ndarray
        Boolean mask, shape ``(n,)``.
    """
    mbc = _column(events, "mbc", "sideband")
    delta_e = _column(events, "delta_e", "sideband")
    low, high = cfg.mbc_sideband
    return (mbc > low) & (mbc < high) & (np.abs(delta_e) < cfg.delta_e_max)


def kstar_window(events: Mapping[str, np.ndarray], cfg: SelectionConfig) -> np.ndarray:
    """Return the K* window mask ``|m(Kπ) − mkpi_centre| ≤ mkpi_window``.

    Parameters
    ----------
    events : mapping of str to numpy.ndarray
        Needs ``mkpi`` (GeV), shape ``(n,)``.
    cfg : SelectionConfig
        Window definition.

    Returns
    -------
    numpy.ndarray
        Boolean mask, shape ``(n,)``.
    """
    mkpi = _column(events, "mkpi", "kstar_window")
    return np.abs(mkpi - cfg.mkpi_centre) <= cfg.mkpi_window


@dataclass
class Cutflow:
    """Ordered record of how many entries survive each step of a selection.

    Parameters
    ----------
    steps : list of (str, int)
        ``(name, count)`` pairs in the order the cuts were applied; the first step is
        usually the input count.

    Examples
    --------
    >>> flow = Cutflow()
    >>> flow.add("generated", 1000)
    >>> flow.add("acceptance", 870)
    >>> flow.to_dict()["steps"][1]["relative"]
    0.87
    """

    steps: list[tuple[str, int]] = field(default_factory=list)

    def add(self, name: str, count: int | np.integer) -> None:
        """Append a step named ``name`` with ``count`` surviving entries (names are unique)."""
        count = int(count)
        if count < 0:
            raise DataError(f"cutflow step '{name}' has a negative count {count}")
        if any(name == existing for existing, _ in self.steps):
            raise DataError(f"cutflow already has a step named '{name}'; names must be unique")
        self.steps.append((str(name), count))

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, name: str) -> int:
        for existing, count in self.steps:
            if existing == name:
                return count
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        """Names of the steps in order."""
        return [name for name, _ in self.steps]

    def merge(self, other: Cutflow) -> Cutflow:
        """Return a cutflow whose counts are the sums of two with the same steps.

        Used to add up the cutflows of independently processed chunks.
        """
        if self.names != other.names:
            raise DataError(
                f"cannot add cutflows with different steps: {self.names} and {other.names}"
            )
        return Cutflow([(n, a + b) for (n, a), (_, b) in zip(self.steps, other.steps, strict=True)])

    @classmethod
    def total(cls, flows: Iterable[Cutflow]) -> Cutflow:
        """Return the sum of several cutflows with identical steps (empty input: empty flow)."""
        result: Cutflow | None = None
        for flow in flows:
            result = flow if result is None else result.merge(flow)
        return result if result is not None else cls()

    def to_dict(self) -> dict[str, list[dict[str, float | int | str]]]:
        """Return ``{"steps": [{"name", "count", "relative", "cumulative"}, ...]}``.

        ``relative`` is the count over the previous step's count, ``cumulative`` over the first
        step's count (NaN where the denominator is zero).  A list keeps the order even when
        the JSON is written with sorted keys.
        """
        out: list[dict[str, float | int | str]] = []
        first = self.steps[0][1] if self.steps else 0
        previous = first
        for name, count in self.steps:
            out.append(
                {
                    "name": name,
                    "count": count,
                    "relative": count / previous if previous else float("nan"),
                    "cumulative": count / first if first else float("nan"),
                }
            )
            previous = count
        return {"steps": out}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Cutflow:
        """Rebuild a cutflow from :meth:`to_dict` output."""
        steps = data.get("steps", [])
        if not isinstance(steps, list):
            raise DataError("cutflow data must hold a list under 'steps'")
        return cls([(str(s["name"]), int(s["count"])) for s in steps])

    def table(self) -> str:
        """Return the cutflow as an aligned plain-text table."""
        rows = self.to_dict()["steps"]
        width = max([len("step"), *(len(str(r["name"])) for r in rows)])
        lines = [f"{'step':<{width}}  {'count':>12}  {'relative':>9}  {'cumulative':>10}"]
        for r in rows:
            lines.append(
                f"{r['name']!s:<{width}}  {r['count']:>12d}  {r['relative']:>9.4f}  "
                f"{r['cumulative']:>10.4f}"
            )
        return "\n".join(lines)
