"""Input paths and layout detection of the readers: globs, ``auto`` detection, tree and level.

The layouts are listed in :mod:`hepc9.rootio.ingest`.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepc9.config import IngestConfig
from hepc9.errors import ConfigError, DataError, SchemaError
from hepc9.rootio import _foreign, basf2, evtgen_ntp, flat
from hepc9.rootio._common import get_tree, list_trees, open_root
from hepc9.rootio.native_meta import read_meta
from hepc9.rootio.native_schema import EVENTS_TREE, META_KEY

log = logging.getLogger(__name__)

__all__ = ["LAYOUTS", "PathLike", "detect_layout", "expand_paths"]


#: Layout names accepted by ``layout=``.
LAYOUTS = ("auto", "native", "basf2", "evtgen", "flat")

PathLike = str | os.PathLike[str]


def expand_paths(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    """Expand one path, a glob pattern or a sequence of them into existing-looking paths.

    Parameters
    ----------
    paths : str, path-like or sequence of them
        Paths; a string with ``*``, ``?`` or ``[`` that names no file is a glob pattern.

    Returns
    -------
    list of pathlib.Path
        In the given order, each pattern's matches sorted; duplicates removed.

    Raises
    ------
    DataError
        No path given, or a pattern that matches nothing.
    """
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not items:
        raise DataError("no input files given")
    out: list[Path] = []
    for item in items:
        text = os.fspath(item)
        if not Path(text).exists() and any(c in text for c in "*?["):
            matches = sorted(glob.glob(text))
            if not matches:
                raise DataError(f"no file matches the pattern {text!r}; check the path")
            out.extend(Path(m) for m in matches)
        else:
            out.append(Path(text))
    return _unique_files(out)


def _identity(path: Path) -> tuple[Any, ...]:
    """Return what makes two paths the same file: device and inode, else the resolved path."""
    try:
        st = path.stat()
    except OSError:
        return ("path", os.path.realpath(path))
    return ("inode", st.st_dev, st.st_ino)


def _unique_files(paths: list[Path]) -> list[Path]:
    """Drop later mentions of a file given before (``f/../f/gen.root``, links), with a log line."""
    seen: dict[tuple[Any, ...], Path] = {}
    out = []
    for path in paths:
        key = _identity(path)
        if key in seen:
            if path != seen[key]:
                log.warning("input %s is the same file as %s; read once", path, seen[key])
            continue
        seen[key] = path
        out.append(path)
    return out


def _layout_of_open(file: Any, path: Path) -> tuple[str, str | None]:
    """Return ``(layout, default tree)`` of an open file, or raise SchemaError."""
    names = {key.split(";")[0] for key in file}
    if META_KEY in names:
        return "native", EVENTS_TREE
    trees = list_trees(file)
    branch_names = {t: list(file[t].keys()) for t in trees if t in basf2.TREES}
    if basf2.looks_like_basf2(trees, branch_names):
        tree = next(t for t in basf2.TREES if t in branch_names)
        return "basf2", tree
    ntp_like = [t for t in trees if evtgen_ntp.looks_like_ntp(file[t].keys())]
    if ntp_like:
        return "evtgen", evtgen_ntp.TREE if evtgen_ntp.TREE in ntp_like else ntp_like[0]
    listed = ", ".join(f"'{t}'" for t in trees) or "none"
    raise SchemaError(
        f"cannot tell the layout of {path} (trees: {listed}): it is neither a native hepc9 file "
        "nor a basf2 (gen/det) or EvtGen ntp ntuple; read it as a flat table with a column "
        "mapping (--format flat --map FILE.toml)"
    )


def detect_layout(path: PathLike) -> str:
    """Detect the layout of one ROOT file.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    str
        ``native``, ``basf2`` or ``evtgen``.

    Raises
    ------
    SchemaError
        When the file matches none of them (flat tables cannot be detected: they need a
        mapping).
    DataError
        Missing, truncated or unreadable file.
    """
    p = Path(path)
    with open_root(p) as file:
        return _layout_of_open(file, p)[0]


def _resolve(
    path: Path, layout: str, tree: str | None, ingest: IngestConfig
) -> tuple[str, str | None, str]:
    """Return the layout, tree and output level of one file."""
    with open_root(path) as file:
        if layout == "auto":
            try:
                found, default = _layout_of_open(file, path)
            except SchemaError:
                if not ingest.columns:
                    raise
                found, default = "flat", None
        else:
            found, default = layout, None
            if layout == "basf2":
                default = next((t for t in basf2.TREES if t in list_trees(file)), "det")
            elif layout == "evtgen":
                trees = list_trees(file)
                default = evtgen_ntp.TREE if evtgen_ntp.TREE in trees else None
                if default is None:
                    default = next(
                        (t for t in trees if evtgen_ntp.looks_like_ntp(file[t].keys())),
                        evtgen_ntp.TREE,
                    )
            elif layout == "native":
                default = EVENTS_TREE
        chosen = tree or default
        if found == "flat" and chosen is None:
            trees = list_trees(file)
            if len(trees) != 1:
                listed = ", ".join(f"'{t}'" for t in trees) or "none"
                raise ConfigError(
                    f"{path} has trees {listed}; choose the flat table with --tree NAME "
                    "(or [ingest] tree)"
                )
            chosen = trees[0]
        if chosen is None:  # every layout but flat names its tree
            raise ConfigError(f"{path}: no tree to read; choose one with --tree NAME")
        if found == "native" and chosen != "events":
            raise ConfigError(
                f"native hepc9 files keep their events in tree 'events', not {chosen!r}; "
                "drop --tree for native inputs"
            )
        if found == "native":
            level = str(read_meta(path)["level"])
        else:
            t = get_tree(file, chosen, path)  # clear error listing the trees
            level = _plan(t, path=path, layout=found, tree_name=chosen, ingest=ingest).level
    return found, chosen, level


def _plan(tree: Any, *, path: Path, layout: str, tree_name: str, ingest: IngestConfig,
          truth: bool = True) -> _foreign.LayoutPlan:
    if layout == "basf2":
        return basf2.plan(tree, path=str(path), tree_name=tree_name, candidate=ingest.candidate,
                          read_truth=truth)
    if layout == "evtgen":
        return evtgen_ntp.plan(
            tree,
            path=str(path),
            tree_name=tree_name,
            flavour=ingest.flavour,
            energy_unit=ingest.energy_unit,
            q2_veto=ingest.ntp_q2_veto,
        )
    return flat.plan(
        tree,
        path=str(path),
        tree_name=tree_name,
        columns=ingest.columns,
        flavour=ingest.flavour,
        candidate=ingest.candidate,
    )
