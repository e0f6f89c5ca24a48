"""The chunked reader behind :func:`hepc9.rootio.ingest.iterate_any`: :class:`IngestStream`.

Per file and chunk (formats.md §3): numeric-dtype check, MeV → GeV scaling when declared, a
unit check on the first chunk, non-finite rows dropped (one
:class:`~hepc9.errors.DroppedRowsWarning` per file) or refused, one candidate per event
(candidates of an event are adjacent in the file, as basf2 writes them; the rows of the last
event of a chunk are carried into the next chunk), then the layout's conversion with q²,
m(Kπ) and the angles recomputed from four-vectors; the stream records per-file provenance.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.config import IngestConfig
from hepc9.errors import ConfigError, DataError, DroppedRowsWarning, did_you_mean
from hepc9.physics.constants import SHIFT_NAMES
from hepc9.rootio import _foreign
from hepc9.rootio._common import get_tree, open_root
from hepc9.rootio.checks import EventCheck, check_events
from hepc9.rootio.layouts import _plan, _resolve
from hepc9.rootio.native import iterate_events, read_meta

__all__ = ["IngestStream"]

log = logging.getLogger(__name__)


def _take(arrays: Mapping[str, np.ndarray], index: np.ndarray | slice) -> dict[str, np.ndarray]:
    return {k: v[index] for k, v in arrays.items()}


def _concat(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([a[k], b[k]]) for k in b}


def _tail_start(arrays: Mapping[str, np.ndarray], keys: Sequence[str]) -> int:
    """Index of the first row of the last event of a chunk (rows of one event are adjacent)."""
    n = len(arrays[keys[0]])
    same = np.ones(n, dtype=bool)
    for key in keys:
        col = arrays[key]
        same &= col == col[-1]
    differ = np.flatnonzero(~same)
    return int(differ[-1]) + 1 if differ.size else 0


class IngestStream:
    """Iterator over native event chunks read from one or more ntuples.

    Built by :func:`iterate_any`.  ``layout``, ``tree`` and ``level`` are known before
    iterating; :attr:`provenance` (one dict per file: path, layout, tree, candidate rule, rows
    read, dropped and kept) fills up while iterating and is complete once the stream is
    exhausted.  It can be iterated once.

    Attributes
    ----------
    paths : list of pathlib.Path
        The expanded input files.
    layout : str
        Resolved layout.
    tree : str
        Tree read from every file.
    level : str
        ``gen`` or ``det``.
    provenance : list of dict
        Per-file provenance (JSON-serialisable).
    native_meta : dict or None
        For native inputs, the metadata of the first file.
    """

    def __init__(
        self,
        paths: list[Path],
        *,
        layout: str,
        tree: str | None,
        ingest: IngestConfig,
        rng: np.random.Generator | None,
        step_size: int,
        columns: Sequence[str] | None = None,
    ) -> None:
        self.paths = paths
        self._columns = _wanted(columns)
        self._ingest = ingest
        self._rng = rng
        self._step = int(step_size)
        if self._step < 1:
            raise ConfigError(f"step_size must be >= 1, got {step_size!r}")
        resolved = [_resolve(p, layout, tree, ingest) for p in paths]
        layouts = {r[0] for r in resolved}
        if len(layouts) > 1:
            detail = ", ".join(f"{p.name}: {r[0]}" for p, r in zip(paths, resolved, strict=True))
            raise DataError(f"input files have different layouts ({detail}); convert them apart")
        self.layout = resolved[0][0]
        trees = {r[1] for r in resolved}
        if len(trees) > 1:
            raise DataError(
                f"input files would be read from different trees {sorted(map(str, trees))}; "
                "choose one with --tree"
            )
        self.tree = str(resolved[0][1])
        levels = {r[2] for r in resolved}
        if len(levels) > 1:
            detail = ", ".join(f"{p.name}: {r[2]}" for p, r in zip(paths, resolved, strict=True))
            raise DataError(
                f"input files hold different levels ({detail}); convert gen and det apart"
            )
        self.level = resolved[0][2]
        self.provenance: list[dict[str, Any]] = []
        self.native_meta: dict[str, Any] | None = None
        if self.layout == "native":
            self.native_meta = read_meta(paths[0])
        self._iterator: Iterator[dict[str, np.ndarray]] | None = None

    # -- iteration -------------------------------------------------------------------------

    def __iter__(self) -> IngestStream:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._iterator is None:
            self._iterator = self._generate()
        return next(self._iterator)

    @property
    def n_events(self) -> int:
        """Rows yielded so far (all rows once the stream is exhausted)."""
        return sum(int(p["rows_kept"]) for p in self.provenance)

    def _generate(self) -> Iterator[dict[str, np.ndarray]]:
        for path in self.paths:
            if self.layout == "native":
                yield from self._native_file(path)
            else:
                yield from self._foreign_file(path)
        if self.n_events == 0:
            total = sum(int(p["rows_read"]) for p in self.provenance)
            raise DataError(
                f"no events left after reading {total} rows from {len(self.paths)} file(s) "
                f"(tree '{self.tree}'); see the dropped-row warning"
            )

    def _native_file(self, path: Path) -> Iterator[dict[str, np.ndarray]]:
        meta = read_meta(path)
        first = self.native_meta or meta
        if meta["level"] != first["level"]:
            raise DataError(
                f"{path} is a {meta['level']}-level file but {self.paths[0]} is "
                f"{first['level']}-level; convert them apart"
            )
        differ = [s for s in SHIFT_NAMES if meta.get(s) != first.get(s)]
        if differ:
            raise DataError(
                f"{path} has another Wilson-coefficient point than {self.paths[0]} "
                f"({', '.join(differ)} differ); files of different labels cannot be merged"
            )
        prov: dict[str, Any] = {"path": str(path.resolve()), "layout": "native", "tree": "events",
                                "rows_read": 0, "rows_dropped": 0, "rows_kept": 0}
        self.provenance.append(prov)
        tally = EventCheck()
        names = None
        if self._columns is not None:
            names = list(dict.fromkeys(("q2", *self._columns)))
        for chunk in iterate_events(path, step_size=self._step, columns=names):
            n = len(chunk["q2"])
            prov["rows_read"] += n
            chunk = self._check(chunk, path, tally)
            prov["rows_kept"] += len(chunk["q2"])
            if len(chunk["q2"]):
                yield self._select(chunk, path)
        self._report(prov, path, tally)

    def _check(self, events: dict[str, np.ndarray], path: Path,
               tally: EventCheck) -> dict[str, np.ndarray]:
        """Apply the shared event validation (:func:`hepc9.rootio.checks.check_events`)."""
        return check_events(events, what=f"tree '{self.tree}' of {path}",
                            policy=self._ingest.on_nonfinite, counts=tally, warn=False)

    def _report(self, prov: dict[str, Any], path: Path, tally: EventCheck) -> None:
        """Record and warn once about the rows the validation dropped from one file."""
        if not tally.rows_dropped:
            return
        prov["rows_dropped"] = int(prov.get("rows_dropped", 0)) + tally.rows_dropped
        prov["rows_invalid"] = dict(tally.reasons)
        warnings.warn(
            f"dropped {tally.rows_dropped} of {prov['rows_read']} rows of tree '{self.tree}' "
            f"in {path} as impossible events ({tally.summary()})",
            DroppedRowsWarning,
            stacklevel=3,
        )

    def _foreign_file(self, path: Path) -> Iterator[dict[str, np.ndarray]]:
        ing = self._ingest
        with open_root(path) as file:
            tree = get_tree(file, self.tree, path)
            plan = _plan(tree, path=path, layout=self.layout, tree_name=self.tree, ingest=ing,
                         truth=_needs_truth(self._columns))
            if plan.level != self.level:
                raise DataError(
                    f"tree '{self.tree}' of {path} gives {plan.level}-level events but "
                    f"{self.paths[0]} gives {self.level}-level ones; convert them apart"
                )
            _foreign.check_numeric(tree, plan.branches, str(path))
            n_entries = int(tree.num_entries)
            if n_entries == 0:
                raise DataError(
                    f"tree '{self.tree}' of {path} is empty (0 entries); nothing to read"
                )
            rule = ing.candidate if plan.group_keys else "all"
            prov: dict[str, Any] = {
                "path": str(path.resolve()),
                "layout": plan.layout,
                "tree": plan.tree,
                "candidate": rule if plan.group_keys else "one row per event",
                "rows_read": 0,
                "rows_dropped": 0,
                "nonfinite_columns": [],
                "candidates_removed": 0,
                "rows_kept": 0,
                "energy_unit": ing.energy_unit,
                **plan.info,
            }
            if rule == "best":
                prov["best_candidate"] = plan.best_rule
            self.provenance.append(prov)
            carry: dict[str, np.ndarray] | None = None
            tally = EventCheck()
            offset = 0
            bad_columns: list[str] = []
            for raw in tree.iterate(list(plan.branches), step_size=self._step, library="np"):
                a = {name: np.asarray(raw[name]) for name in plan.branches}
                n = len(a[plan.branches[0]])
                a[_foreign.ENTRY] = np.arange(offset, offset + n, dtype=np.int64)
                first_chunk = offset == 0
                offset += n
                prov["rows_read"] += n
                if ing.energy_unit == "MeV":
                    for name in plan.energy_branches:
                        a[name] = a[name].astype(np.float64) * 1e-3
                if first_chunk and plan.momentum is not None:
                    _foreign.check_units(a, plan.momentum, path=str(path), tree=self.tree,
                                         unit=ing.energy_unit)
                signal = plan.signal(a) if plan.signal is not None else None
                bad, columns = _foreign.nonfinite_rows(a, plan.required, plan.truth, signal)
                if bad.any():
                    if ing.on_nonfinite == "fail":
                        i = int(np.flatnonzero(bad)[0])
                        col = next(c for c in columns if not np.isfinite(a[c][i]))
                        raise DataError(
                            f"non-finite value {a[col][i]} in branch '{col}' at entry "
                            f"{int(a[_foreign.ENTRY][i])} of tree '{self.tree}' in {path}; "
                            "use on_nonfinite = \"drop\" to skip such rows"
                        )
                    prov["rows_dropped"] += int(bad.sum())
                    bad_columns.extend(c for c in columns if c not in bad_columns)
                    a = _take(a, ~bad)
                if carry is not None:
                    a = _concat(carry, a)
                    carry = None
                last = offset >= n_entries
                if plan.group_keys and rule != "all" and not last and len(a[_foreign.ENTRY]):
                    start = _tail_start(a, plan.group_keys)
                    carry = _take(a, slice(start, None))
                    a = _take(a, slice(0, start))
                out = self._finish(a, plan, rule, prov, path, tally)
                if out is not None:
                    yield out
            if carry is not None:
                out = self._finish(carry, plan, rule, prov, path, tally)
                if out is not None:
                    yield out
            prov["nonfinite_columns"] = bad_columns
            if prov["rows_dropped"]:
                warnings.warn(
                    f"dropped {prov['rows_dropped']} of {prov['rows_read']} rows with NaN/inf "
                    f"from tree '{self.tree}' of {path} (columns: {', '.join(bad_columns)})",
                    DroppedRowsWarning,
                    stacklevel=2,
                )
            self._report(prov, path, tally)

    def _finish(
        self,
        a: dict[str, np.ndarray],
        plan: _foreign.LayoutPlan,
        rule: str,
        prov: dict[str, Any],
        path: Path,
        tally: EventCheck,
    ) -> dict[str, np.ndarray] | None:
        n = len(a[_foreign.ENTRY])
        if n == 0:
            return None
        keep = _foreign.select_candidates(a, plan, rule, self._rng)
        if keep is not None:
            prov["candidates_removed"] += n - len(keep)
            a = _take(a, keep)
        out = self._check(plan.convert(a), path, tally)
        prov["rows_kept"] += len(out["q2"])
        return self._select(out, path) if len(out["q2"]) else None

    def _select(self, out: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
        """Keep the requested columns (all without a column list); refuse missing ones."""
        if self._columns is None:
            return out
        missing = [c for c in self._columns if c not in out]
        if missing:
            raise DataError(
                f"tree '{self.tree}' of {path} gives no column '{missing[0]}'"
                f"{did_you_mean(missing[0], out)} (columns: {', '.join(sorted(out))})"
            )
        return {c: out[c] for c in self._columns}

    # -- metadata --------------------------------------------------------------------------

    def meta(self, shifts: Mapping[str, float] | None = None) -> dict[str, Any]:
        """Return the metadata describing what was read (complete after iteration).

        Parameters
        ----------
        shifts : mapping, optional
            User-given Wilson-coefficient point recorded as ``dc7 ... c10p``.

        Returns
        -------
        dict
            For native inputs the first file's metadata with ``n_events`` summed and, for
            several files, ``sources``; for foreign inputs ``level layout tree candidate
            rows_read rows_dropped n_events sources`` (and the shifts when given).
        """
        if self.layout == "native" and self.native_meta is not None:
            out = dict(self.native_meta)
            out["n_events"] = self.n_events
            if len(self.paths) > 1:
                out["sources"] = list(self.provenance)
            return out
        out = {
            "level": self.level,
            "layout": self.layout,
            "tree": self.tree,
            "candidate": self._ingest.candidate,
            "rows_read": sum(int(p["rows_read"]) for p in self.provenance),
            "rows_dropped": sum(int(p["rows_dropped"]) for p in self.provenance),
            "n_events": self.n_events,
            "sources": list(self.provenance),
        }
        if shifts is not None:
            unknown = [k for k in shifts if k not in SHIFT_NAMES]
            if unknown:
                raise ConfigError(f"unknown Wilson-coefficient shift(s) {unknown}")
            out.update({name: float(shifts.get(name, 0.0)) for name in SHIFT_NAMES})
        return out


def _wanted(columns: Sequence[str] | None) -> tuple[str, ...] | None:
    """Normalise a requested column list (``None``: every column)."""
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [columns]
    wanted = tuple(dict.fromkeys(str(c) for c in columns))
    if not wanted:
        raise ConfigError("columns must name at least one column (or be None for all)")
    return wanted


def _needs_truth(columns: tuple[str, ...] | None) -> bool:
    """Whether the requested columns need the MC truth of detector-level foreign files."""
    return columns is None or any(
        c.endswith("_true") or c in ("is_signal", "flavour_true") for c in columns
    )
