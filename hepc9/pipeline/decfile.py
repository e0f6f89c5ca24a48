"""Stage ``decfile``: write the EvtGen decay file of one Wilson-coefficient point."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hepc9.artifacts import atomic_path
from hepc9.generate.decfile import decfile_text

__all__ = ["write_decfile"]


def write_decfile(
    shifts: Mapping[str, float] | Any,
    output: str | Path | None = None,
    *,
    resonances: bool = False,
    overwrite: bool = False,
) -> str:
    """Build the ``BTOSLLNPR`` decay file and optionally write it atomically.

    Parameters
    ----------
    shifts : WilsonShifts or mapping of str to float
        Real shifts ``dc7 dc9 dc10 c7p c9p c10p``.
    output : str or Path, optional
        File to write (temporary file + rename); ``None`` only returns the text.
    resonances : bool, optional
        Enable the cc̄ resonances (flag id 10 = 1).
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    str
        The decay-file text.

    Raises
    ------
    DataError
        Invalid shifts (see :func:`hepc9.generate.decfile.decfile_text`).
    OutputExistsError
        ``output`` exists and ``overwrite`` is false.
    """
    text = decfile_text(shifts, resonances=resonances)
    if output is not None:
        with atomic_path(output, overwrite=overwrite, parents=True, keep_suffix=True) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return text
