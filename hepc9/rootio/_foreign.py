"""Steps shared by the foreign-ntuple readers (formats.md §3, rules 1–7).

A layout module (:mod:`~hepc9.rootio.basf2`, :mod:`~hepc9.rootio.evtgen_ntp`,
:mod:`~hepc9.rootio.flat`) describes *what* to read in a :class:`LayoutPlan`; the functions
here do the common work on each chunk of raw branch arrays: dtype and unit checks, scaling
MeV to GeV, non-finite rows, the one-candidate-per-event choice, and the recomputation of q²,
m(Kπ) and the angles from four-vectors with :func:`hepc9.kinematics.angles_from_four_vectors`.

Candidate choice runs in O(n) with a numba kernel (:func:`best_per_group`) whose plain numpy
twin (:func:`best_per_group_numpy`) gives identical indices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from hepc9.errors import ConfigError, DataError, SchemaError
from hepc9.kinematics import angles_from_four_vectors

__all__ = [
    "ENTRY",
    "FOUR_VECTOR_NAMES",
    "KINEMATIC_NAMES",
    "PARTICLES",
    "LayoutPlan",
    "angles_with_truth",
    "best_per_group",
    "best_per_group_numpy",
    "check_numeric",
    "check_units",
    "group_ids",
    "nonfinite_rows",
    "select_candidates",
    "stack_p4",
]

#: Hidden column carrying the entry number of every row in its file (for error messages).
ENTRY = "__hepc9_entry__"

#: Particles of the native four-vector columns, in output order.
PARTICLES = ("k", "pi", "mup", "mum")
#: Native four-vector column names ``k_e k_px k_py k_pz pi_e ... mum_pz``.
FOUR_VECTOR_NAMES = tuple(f"{p}_{c}" for p in PARTICLES for c in ("e", "px", "py", "pz"))
#: Columns recomputed from the four-vectors.
KINEMATIC_NAMES = ("q2", "costheta_l", "costheta_k", "chi", "mkpi")


@dataclass(frozen=True, kw_only=True)
class LayoutPlan:
    """What a reader needs from one tree and how it turns a chunk into native columns.

    Attributes
    ----------
    layout : str
        ``basf2``, ``evtgen`` or ``flat``.
    tree : str
        Tree name.
    level : str
        ``gen`` or ``det`` (level of the native output).
    branches : tuple of str
        Branches to read.
    required : tuple of str
        Branches that must be finite on every row.
    truth : tuple of str
        Branches that must be finite on signal rows only (truth of non-signal rows is exempt).
    signal : callable or None
        ``signal(arrays) -> bool ndarray`` marking signal rows (for ``truth``).
    energy_branches : tuple of str
        Branches in energy/momentum units, divided by 1000 when the input is in MeV.
    momentum : tuple of str or None
        ``(px, py, pz)`` branches of one particle used for the unit check.
    group_keys : tuple of str
        Event-id branches; empty means one candidate per row already.
    first_rank : str or None
        Branch ranking candidates for the ``first`` rule (``None``: file order).
    best_rank : callable or None
        ``best_rank(arrays) -> float ndarray``, smaller is better, for the ``best`` rule.
    best_rule : str
        Human description of ``best_rank`` for the metadata.
    convert : callable
        ``convert(arrays) -> dict`` of native columns for the selected rows.
    info : dict
        Extra provenance recorded in the metadata.
    """

    layout: str
    tree: str
    level: str
    branches: tuple[str, ...]
    required: tuple[str, ...]
    truth: tuple[str, ...] = ()
    signal: Callable[[Mapping[str, np.ndarray]], np.ndarray] | None = None
    energy_branches: tuple[str, ...] = ()
    momentum: tuple[str, str, str] | None = None
    group_keys: tuple[str, ...] = ()
    first_rank: str | None = None
    best_rank: Callable[[Mapping[str, np.ndarray]], np.ndarray] | None = None
    best_rule: str = ""
    convert: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------


def check_numeric(tree: Any, names: Sequence[str], path: str) -> None:
    """Raise :class:`SchemaError` unless every branch holds one number per entry.

    Parameters
    ----------
    tree : uproot.TTree
        Open tree.
    names : sequence of str
        Branches to check (they must exist).
    path : str
        File path for the message.
    """
    import uproot

    for name in names:
        interp = tree[name].interpretation
        ok = (
            isinstance(interp, uproot.AsDtype)
            and interp.inner_shape == ()
            and interp.to_dtype.kind in "biuf"
        )
        if not ok:
            raise SchemaError(
                f"branch '{name}' of tree '{tree.name}' in {path} has type "
                f"'{tree[name].typename}'; expected one number per entry (float, double or int)"
            )


def check_units(
    arrays: Mapping[str, np.ndarray],
    momentum: Sequence[str],
    *,
    path: str,
    tree: str,
    unit: str = "GeV",
) -> None:
    """Fail when momenta look like MeV (median |p| above 100), with a hint.

    A file declared as MeV whose scaled momenta have a median below 10 MeV was most likely
    in GeV already; that fails too.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        Chunk already scaled to GeV.
    momentum : sequence of 3 str
        Branch names of (px, py, pz) of one particle.
    path, tree : str
        Location for the message.
    unit : str
        Unit the file was declared in (``GeV`` or ``MeV``).

    Raises
    ------
    DataError
        When the median |p| exceeds 100 (GeV), or is below 0.01 for a file declared MeV.
    """
    px, py, pz = (np.asarray(arrays[m], dtype=np.float64) for m in momentum)
    p = np.sqrt(px * px + py * py + pz * pz)
    p = p[np.isfinite(p)]
    if p.size == 0:
        return
    med = float(np.median(p[:100_000]))
    if med > 100.0:
        raise DataError(
            f"median |p| from ({', '.join(momentum)}) = {med:.4g} in tree '{tree}' of "
            f"{path} is above 100 GeV: the file looks like MeV; set energy_unit = \"MeV\" "
            "(--set ingest.energy_unit=MeV)"
        )
    if unit == "MeV" and med < 0.01:
        raise DataError(
            f"median |p| from ({', '.join(momentum)}) = {med * 1e3:.4g} (as stored) in "
            f"tree '{tree}' of {path} is below 10 although energy_unit = \"MeV\": the file looks "
            "like GeV; set energy_unit = \"GeV\""
        )


def nonfinite_rows(
    arrays: Mapping[str, np.ndarray],
    required: Sequence[str],
    truth: Sequence[str] = (),
    signal: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Find rows with NaN or inf in a required column.

    Parameters
    ----------
    arrays : mapping of str to ndarray, shape (n,)
        One chunk.
    required : sequence of str
        Columns checked on every row.
    truth : sequence of str
        Columns checked only where ``signal`` is true.
    signal : ndarray of bool, shape (n,), optional
        Signal rows; ``None`` checks ``truth`` on every row.

    Returns
    -------
    bad : ndarray of bool, shape (n,)
        Rows with a non-finite required value.
    columns : list of str
        The columns that had at least one non-finite value, in the order given.
    """
    n = len(next(iter(arrays.values()))) if arrays else 0
    bad = np.zeros(n, dtype=bool)
    columns: list[str] = []
    for name in required:
        col = arrays[name]
        if col.dtype.kind != "f":
            continue
        nf = ~np.isfinite(col)
        if nf.any():
            bad |= nf
            columns.append(name)
    for name in truth:
        col = arrays[name]
        if col.dtype.kind != "f":
            continue
        nf = ~np.isfinite(col)
        if signal is not None:
            nf &= signal
        if nf.any():
            bad |= nf
            columns.append(name)
    return bad, columns


# --------------------------------------------------------------------------------------------
# candidate selection
# --------------------------------------------------------------------------------------------


def group_ids(keys: Sequence[np.ndarray]) -> tuple[np.ndarray, int]:
    """Assign a group number to every event (distinct key tuple) of a chunk.

    Parameters
    ----------
    keys : sequence of ndarray, shape (n,)
        Event-id columns, most significant first, e.g. (experiment, run, event).

    Returns
    -------
    ids : ndarray of int64, shape (n,)
        Event number of every row, 0 .. n_groups − 1.  When the rows are ordered by event
        (the usual case: candidates of one event are adjacent and events increase), ids
        follow file order; otherwise they follow the sorted key order.
    n_groups : int
    """
    n = len(keys[0]) if keys else 0
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    change = np.zeros(n - 1, dtype=bool)
    for key in keys:
        change |= key[1:] != key[:-1]
    # lexicographic non-decreasing order of the key tuples ⇔ runs are whole events
    less = np.zeros(n - 1, dtype=bool)
    equal = np.ones(n - 1, dtype=bool)
    for key in keys:
        less |= equal & (key[1:] < key[:-1])
        equal &= key[1:] == key[:-1]
    ordered = not less.any()
    if ordered:
        ids = np.empty(n, dtype=np.int64)
        ids[0] = 0
        np.cumsum(change, out=ids[1:])
        return ids, int(ids[-1]) + 1
    order = np.lexsort(tuple(reversed([np.asarray(k) for k in keys])))
    sorted_change = np.zeros(n, dtype=bool)
    for key in keys:
        ks = key[order]
        sorted_change[1:] |= ks[1:] != ks[:-1]
    ids = np.empty(n, dtype=np.int64)
    ids[order] = np.cumsum(sorted_change)
    return ids, int(sorted_change.sum()) + 1


@numba.njit(cache=True, nogil=True)
def _best_per_group_kernel(ids, n_groups, rank):  # pragma: no cover - compiled
    best = np.full(n_groups, -1, dtype=np.int64)
    for i in range(ids.shape[0]):
        g = ids[i]
        j = best[g]
        if j < 0 or rank[i] < rank[j]:
            best[g] = i
    return best


def _clean_rank(rank: np.ndarray) -> np.ndarray:
    r = np.asarray(rank, dtype=np.float64)
    return np.where(np.isnan(r), np.inf, r)


def best_per_group(ids: np.ndarray, n_groups: int, rank: np.ndarray) -> np.ndarray:
    """Return the row of smallest rank in every group, in increasing row order (numba).

    Ties keep the earlier row; NaN ranks count as +inf.

    Parameters
    ----------
    ids : ndarray of int64, shape (n,)
        Group number of every row (all of 0 .. n_groups − 1 occur).
    n_groups : int
        Number of groups.
    rank : ndarray, shape (n,)
        Candidate rank, smaller is better.

    Returns
    -------
    ndarray of int64, shape (n_groups,)
        Selected row indices, sorted.
    """
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    best = _best_per_group_kernel(ids, int(n_groups), _clean_rank(rank))
    return np.sort(best)


def best_per_group_numpy(ids: np.ndarray, n_groups: int, rank: np.ndarray) -> np.ndarray:
    """Plain numpy twin of :func:`best_per_group` (a stable lexicographic sort).

    Parameters
    ----------
    ids : ndarray of int64, shape (n,)
        Group number of every row.
    n_groups : int
        Number of groups.
    rank : ndarray, shape (n,)
        Candidate rank, smaller is better.

    Returns
    -------
    ndarray of int64, shape (n_groups,)
        Selected row indices, sorted.
    """
    ids = np.asarray(ids, dtype=np.int64)
    n = ids.shape[0]
    order = np.lexsort((np.arange(n), _clean_rank(rank), ids))
    first = np.ones(n, dtype=bool)
    first[1:] = ids[order][1:] != ids[order][:-1]
    out = np.sort(order[first])
    if out.shape[0] != n_groups:  # pragma: no cover - guarded by group_ids
        raise DataError(f"internal candidate grouping found {out.shape[0]} of {n_groups} events")
    return out


def select_candidates(
    arrays: Mapping[str, np.ndarray],
    plan: LayoutPlan,
    rule: str,
    rng: np.random.Generator | None,
) -> np.ndarray | None:
    """Choose one candidate per event.

    Parameters
    ----------
    arrays : mapping of str to ndarray, shape (n,)
        Chunk with every row of each of its events.
    plan : LayoutPlan
        Layout description (event keys and rank definitions).
    rule : str
        ``best``, ``first``, ``random`` or ``all``.
    rng : numpy.random.Generator or None
        Needed by ``random``.

    Returns
    -------
    ndarray of int64 or None
        Sorted indices of the kept rows; ``None`` keeps every row.
    """
    if rule == "all" or not plan.group_keys:
        return None
    n = len(arrays[plan.group_keys[0]])
    if rule == "random":
        if rng is None:
            raise ConfigError("candidate rule 'random' needs a seeded rng")
        rank = rng.random(n)
    elif rule == "first":
        rank = arrays[plan.first_rank] if plan.first_rank else np.arange(n, dtype=np.float64)
    elif rule == "best":
        if plan.best_rank is None:  # pragma: no cover - plans check this up front
            raise DataError("no rank defined for the candidate rule 'best'")
        rank = plan.best_rank(arrays)
    else:
        raise ConfigError(f"unknown candidate rule '{rule}'; use best, first, random or all")
    ids, n_groups = group_ids([arrays[k] for k in plan.group_keys])
    return best_per_group(ids, n_groups, rank)


# --------------------------------------------------------------------------------------------
# angles
# --------------------------------------------------------------------------------------------


def stack_p4(arrays: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """Stack four columns ``(E, px, py, pz)`` into a float64 array of shape (n, 4).

    Parameters
    ----------
    arrays : mapping of str to ndarray
        Columns.
    names : sequence of 4 str
        Column names of E, px, py, pz.

    Returns
    -------
    ndarray, shape (n, 4), float64
    """
    n = len(arrays[names[0]])
    out = np.empty((n, 4), dtype=np.float64)
    for j, name in enumerate(names):
        out[:, j] = arrays[name]
    return out


def angles_with_truth(
    p4: Mapping[str, np.ndarray],
    flavour: np.ndarray,
    *,
    valid: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Recompute q², cos θℓ, cos θK, χ and m(Kπ) from the four-vectors.

    Parameters
    ----------
    p4 : mapping of str to ndarray, shape (n, 4)
        Keys ``k pi mup mum`` (physical μ+ and μ−), GeV.
    flavour : ndarray of int8, shape (n,)
        +1 B0, −1 B̄0.
    valid : ndarray of bool, shape (n,), optional
        Rows to compute; the others get NaN (truth of non-signal rows).

    Returns
    -------
    dict of str to ndarray, shape (n,), float64
        ``q2 costheta_l costheta_k chi mkpi``.
    """
    if valid is None or valid.all():
        return angles_from_four_vectors(p4["k"], p4["pi"], p4["mup"], p4["mum"], flavour)
    n = flavour.shape[0]
    out = {name: np.full(n, np.nan) for name in KINEMATIC_NAMES}
    if valid.any():
        sub = angles_from_four_vectors(
            p4["k"][valid], p4["pi"][valid], p4["mup"][valid], p4["mum"][valid], flavour[valid]
        )
        for name in KINEMATIC_NAMES:
            out[name][valid] = sub[name]
    return out
