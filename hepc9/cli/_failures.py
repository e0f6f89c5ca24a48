"""One actionable line for every failure a command can meet.

:class:`~hepc9.errors.Hepc9Error` messages are written for the user already.  Failures of
the operating system (permissions, full disk, long names, read-only folders), of text
decoding and of third-party readers get a line that says what failed, where, and what to do;
anything else is reported as an unexpected error with the hint to rerun with ``--debug``.
"""

from __future__ import annotations

import errno

from hepc9.errors import Hepc9Error

__all__ = ["error_line"]

#: errno → what to do about it.
_OS_HINTS: dict[int, str] = {
    errno.EACCES: "check its permissions or choose another path",
    errno.EPERM: "check its permissions or choose another path",
    errno.EROFS: "the file system is read-only; choose a writable output path",
    errno.ENOSPC: "the disk is full; free space or choose an output folder on another disk",
    errno.EDQUOT: "the disk quota is exceeded; free space or choose another output folder",
    errno.EFBIG: "the file is too large for this file system; choose another output folder",
    errno.ENAMETOOLONG: "the file name is too long; choose a shorter name",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is not a folder; check the path",
    errno.EISDIR: "it is a folder; give a file name",
    errno.EEXIST: "choose another path or pass --overwrite",
    errno.EIO: "input/output error; check the disk or the network file system",
}


def _os_line(err: OSError) -> str:
    where = err.filename if err.filename is not None else "a file"
    what = err.strerror or str(err)
    hint = _OS_HINTS.get(err.errno or -1, "check the path and the file system")
    line = f"{what}: {where}; {hint}"
    if err.filename2 is not None:
        line = f"{what}: {err.filename} → {err.filename2}; {hint}"
    return line


def error_line(err: BaseException) -> str:
    """Return the one-line message the command line prints for ``err``.

    Parameters
    ----------
    err : BaseException
        The exception a command raised.

    Returns
    -------
    str
        The message, without the ``hepc9 <command>: error:`` prefix.
    """
    if isinstance(err, Hepc9Error):
        return str(err)
    if isinstance(err, UnicodeDecodeError):
        return (f"a text file is not UTF-8 ({err.reason} at byte {err.start}); save it as "
                "UTF-8 text")
    if isinstance(err, OSError) and (err.errno is not None or err.strerror):
        return _os_line(err)
    if isinstance(err, MemoryError):
        return "out of memory; use fewer events, a smaller batch or fewer workers"
    text = " ".join(str(err).split()) or "no message"
    if len(text) > 300:
        text = text[:297] + "..."
    return (f"unexpected {type(err).__name__}: {text} (rerun with --debug for the traceback "
            "and report it)")
