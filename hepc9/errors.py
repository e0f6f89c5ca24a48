"""Exception and warning classes of hepc9.

Every error that a user can cause (bad input files, bad configuration, impossible
parameter values) is raised as a subclass of :class:`Hepc9Error`.  The command line
catches exactly these, prints their message on one line and exits with status 1.
Subclasses also inherit the natural builtin exception so that library users can catch
``ValueError`` or ``KeyError`` as usual.

Messages follow one rule: say what is wrong, with which value, where, and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "BackendError",
    "ConfigError",
    "DataError",
    "DroppedRowsWarning",
    "FitNotConvergedWarning",
    "Hepc9Error",
    "Hepc9Warning",
    "MissingBranchError",
    "OutputExistsError",
    "SchemaError",
    "ShapeError",
    "check_names",
    "close_matches",
    "did_you_mean",
]


def close_matches(value: object, choices: Iterable[object], *, n: int = 1,
                  cutoff: float = 0.6) -> list[str]:
    """Return up to ``n`` entries of ``choices`` that are close to ``value`` (difflib ratio).

    Parameters
    ----------
    value : object
        The unknown name (converted with ``str``).
    choices : iterable
        The valid names (each converted with ``str``).
    n : int, optional
        Largest number of matches.
    cutoff : float, optional
        Smallest similarity ratio in [0, 1] that counts as close.

    Returns
    -------
    list of str
        Matches, best first; empty when none is close.
    """
    return difflib.get_close_matches(str(value), [str(c) for c in choices], n=n, cutoff=cutoff)


def did_you_mean(value: object, choices: Iterable[object]) -> str:
    """Return the message suffix ``"; did you mean 'x'?"`` for the closest choice, or ``""``.

    Parameters
    ----------
    value : object
        The unknown name.
    choices : iterable
        The valid names.

    Returns
    -------
    str
        The hint to append to an error message (empty when nothing is close).
    """
    close = close_matches(value, choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


class Hepc9Error(Exception):
    """Base class of every error hepc9 raises on purpose."""


class ConfigError(Hepc9Error, ValueError):
    """A configuration file, section, key or value is invalid."""


class SchemaError(Hepc9Error, ValueError):
    """A file does not follow the expected layout (format, version, metadata, trees)."""


class ShapeError(Hepc9Error, ValueError):
    """Arrays have incompatible or unexpected shapes."""


class DataError(Hepc9Error, ValueError):
    """Input data are unusable: empty, non-finite, out of range, wrong units."""


class OutputExistsError(Hepc9Error, FileExistsError):
    """An output path exists and overwriting was not requested."""


class BackendError(Hepc9Error, RuntimeError):
    """The requested Keras backend is unavailable or conflicts with a loaded one."""


class MissingBranchError(Hepc9Error, KeyError):
    """A tree or branch is missing from a ROOT file.

    Parameters
    ----------
    name : str
        The missing branch or tree name.
    file : str
        Path of the file that was searched.
    tree : str or None
        Tree that was searched, ``None`` when the missing object is a tree itself.
    available : list of str
        Names that do exist at that place.
    kind : str
        ``"branch"`` or ``"tree"``.
    """

    def __init__(
        self,
        name: str,
        *,
        file: str,
        tree: str | None = None,
        available: list[str] | tuple[str, ...] = (),
        kind: str = "branch",
    ) -> None:
        self.name = name
        self.file = str(file)
        self.tree = tree
        self.kind = kind
        self.available = list(available)
        self.close_matches = close_matches(name, self.available, n=3, cutoff=0.5)
        super().__init__(name)

    def __str__(self) -> str:
        where = f"tree '{self.tree}' of {self.file}" if self.tree else self.file
        msg = f"{self.kind} '{self.name}' not found in {where}"
        if self.close_matches:
            msg += "; close matches: " + ", ".join(f"'{m}'" for m in self.close_matches)
        elif self.available and self.kind == "tree":
            msg += "; available: " + ", ".join(f"'{m}'" for m in self.available)
        return msg


class Hepc9Warning(UserWarning):
    """Base class of hepc9 warnings."""


def check_names(
    values: Iterable[str],
    allowed: Sequence[str],
    *,
    what: str,
    error: type[Exception] | None = None,
) -> tuple[str, ...]:
    """Check a list of names against the valid ones: non-empty, each known, none twice.

    Parameters
    ----------
    values : iterable of str
        The names given.
    allowed : sequence of str
        The valid names.
    what : str
        Where the names come from, for the message (e.g. ``"[datasets] channels"``).
    error : type, optional
        Exception class to raise; default :class:`ConfigError`.

    Returns
    -------
    tuple of str
        ``values`` as a tuple, in the given order.

    Raises
    ------
    ConfigError
        (or ``error``) for an empty list, an unknown name (with the closest valid one) or a
        name given twice.
    """
    err = error or ConfigError
    names = tuple(values)
    known = ", ".join(allowed)
    if not names:
        raise err(f"{what} is empty; choose from {known}")
    for v in names:
        if v not in allowed:
            raise err(f"{what}: unknown name '{v}'{did_you_mean(v, allowed)} (known: {known})")
    twice = sorted({v for v in names if names.count(v) > 1})
    if twice:
        raise err(f"{what} = {list(names)} contain duplicates: {', '.join(twice)}")
    return names


class DroppedRowsWarning(Hepc9Warning):
    """Rows with non-finite values were dropped from an input file."""


class FitNotConvergedWarning(Hepc9Warning):
    """A fit did not converge; its result carries ``valid=False``."""
