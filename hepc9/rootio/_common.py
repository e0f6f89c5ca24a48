"""Shared ROOT-file plumbing of the readers and writers: opening, lookups, atomic output.

Every reader in :mod:`hepc9.rootio` opens files with :func:`open_root`, which turns the many
low-level failures of a missing, foreign or damaged file into one-line
:class:`~hepc9.errors.DataError` / :class:`~hepc9.errors.SchemaError` messages, and looks up
trees and branches with :func:`get_tree` and :func:`require_branches`, which name the closest
existing names.  Writers go through :func:`atomic_output` (:func:`hepc9.artifacts.atomic_path`,
the one atomic writer): the file appears complete or not at all.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hepc9.artifacts import atomic_path
from hepc9.errors import DataError, Hepc9Error, MissingBranchError, SchemaError

__all__ = ["ROOT_MAGIC", "atomic_output", "get_tree", "list_trees", "open_root", "require_branches"]

#: First four bytes of every ROOT file.
ROOT_MAGIC = b"root"

_TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD")
_READER_MODULES = ("uproot", "awkward", "cramjam", "fsspec", "zstandard", "lz4", "xxhash")
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    struct.error,
    zlib.error,
)


def _raised_in_reader(err: BaseException) -> bool:
    """Whether the traceback of ``err`` passes through uproot or its decompressors."""
    tb = err.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(_READER_MODULES):
            return True
        tb = tb.tb_next
    return False


@contextlib.contextmanager
def open_root(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Open a ROOT file for reading, with clear errors for unusable files.

    Parameters
    ----------
    path : str or path-like
        File to open.

    Yields
    ------
    uproot.ReadOnlyDirectory
        The open file; it is closed when the block ends.

    Raises
    ------
    DataError
        If the file does not exist, is a folder, is empty, is shorter than its header says
        (truncated), or reading it fails inside uproot (corrupt data).
    SchemaError
        If the file is not a ROOT file.
    """
    import uproot

    p = Path(path)
    if not p.exists():
        raise DataError(f"ROOT file not found: {p}; check the path")
    if p.is_dir():
        raise DataError(f"{p} is a folder, not a ROOT file; give the path of a .root file")
    size = p.stat().st_size
    if size == 0:
        raise DataError(f"{p} is empty (0 bytes); regenerate or re-copy the file")
    try:
        with p.open("rb") as fh:
            magic = fh.read(4)
    except PermissionError:
        raise DataError(f"cannot read {p}: permission denied; check its permissions") from None
    except OSError as err:
        raise DataError(f"cannot read {p} ({err.strerror or err})") from None
    if magic != ROOT_MAGIC:
        raise SchemaError(
            f"{p} is not a ROOT file (it starts with {magic!r}, not {ROOT_MAGIC!r}); "
            "hepc9 reads ROOT TTrees only"
        )
    try:
        handle = uproot.open(p)
    except _READ_ERRORS as err:
        raise DataError(
            f"cannot open {p}: the file is damaged or truncated ({err!s:.200})"
        ) from err
    try:
        expected = int(handle.file.fEND)
        if size < expected:
            raise DataError(
                f"{p} is truncated: {size} bytes on disk, the ROOT header says {expected}; "
                "the copy or the writing job was interrupted, regenerate or re-copy the file"
            )
        yield handle
    except Hepc9Error:
        raise
    except Exception as err:
        # Only failures inside the ROOT reader (uproot and its decompressors) mean a damaged
        # file; anything else is a genuine error of the calling code and propagates as is.
        if not _raised_in_reader(err):
            raise
        raise DataError(
            f"reading {p} failed, the file is damaged or truncated "
            f"({type(err).__name__}: {err!s:.200})"
        ) from err
    finally:
        handle.close()


def list_trees(file: Any) -> list[str]:
    """Return the names of the trees (TTree, TNtuple) of an open file, without cycles.

    Parameters
    ----------
    file : uproot.ReadOnlyDirectory
        An open file or directory.

    Returns
    -------
    list of str
        Tree names, in file order, each once.
    """
    names: list[str] = []
    for key, classname in file.classnames().items():
        name = key.split(";")[0]
        if classname.startswith(_TREE_CLASSES) and name not in names:
            names.append(name)
    return names


def get_tree(file: Any, name: str, path: str | os.PathLike[str]) -> Any:
    """Return the tree ``name`` of an open file.

    Parameters
    ----------
    file : uproot.ReadOnlyDirectory
        The open file.
    name : str
        Tree name (may contain ``/`` for trees in sub-directories).
    path : str or path-like
        File path, for the error message.

    Returns
    -------
    uproot.TTree
        The tree.

    Raises
    ------
    MissingBranchError
        With ``kind="tree"``, listing the trees of the file, if there is no such tree.
    """
    trees = list_trees(file)
    classes = {key.split(";")[0]: cls for key, cls in file.classnames().items()}
    cls = classes.get(name)
    if cls is not None and "RNTuple" in cls:
        raise SchemaError(
            f"'{name}' in {path} is an RNTuple ({cls}), not a TTree; hepc9 reads TTrees: "
            "write the ntuple as a TTree (uproot: file.mktree, ROOT: TTree) or convert it"
        )
    if cls is None or not cls.startswith(_TREE_CLASSES):
        raise MissingBranchError(name, file=str(path), tree=None, available=trees, kind="tree")
    return file[name]


def require_branches(tree: Any, names: Iterable[str], path: str | os.PathLike[str]) -> list[str]:
    """Check that a tree has all the given branches.

    Parameters
    ----------
    tree : uproot.TTree
        The tree.
    names : iterable of str
        Required branch names.
    path : str or path-like
        File path, for the error message.

    Returns
    -------
    list of str
        ``names`` as a list.

    Raises
    ------
    MissingBranchError
        For the first missing branch, with the closest existing names.
    """
    wanted = list(names)
    available = list(tree.keys())
    have = set(available)
    for name in wanted:
        if name not in have:
            raise MissingBranchError(
                name, file=str(path), tree=tree.name, available=available, kind="branch"
            )
    return wanted


def atomic_output(
    path: str | os.PathLike[str], overwrite: bool = False
) -> contextlib.AbstractContextManager[Path]:
    """Write a file atomically: :func:`hepc9.artifacts.atomic_path` as the ROOT writers use it.

    Missing parent folders are created and the temporary name keeps the suffix of ``path``
    (``parents=True, keep_suffix=True``); see :func:`hepc9.artifacts.atomic_path` for the
    rest (rename on success, removal on failure, mode rw-r--r--).

    Parameters
    ----------
    path : str or path-like
        Final output path.
    overwrite : bool
        Replace an existing file instead of raising.

    Returns
    -------
    contextlib.AbstractContextManager of pathlib.Path
        Context manager yielding the temporary path.
    """
    return atomic_path(path, overwrite=overwrite, parents=True, keep_suffix=True)
