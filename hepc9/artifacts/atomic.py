"""Atomic writes of small artefacts: the one writer every module uses.

Every file is written to a temporary name in the same folder, then renamed
(:func:`atomic_path`), so an interrupted run never leaves a half-written artefact that a rerun
would trust; :func:`sweep_stale_temporaries` removes what a dead writer left.  JSON goes
through :func:`write_json` / :func:`read_json`, text through :func:`write_text`.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.errors import DataError, Hepc9Error, OutputExistsError

__all__ = [
    "atomic_path",
    "check_target",
    "json_default",
    "read_json",
    "sweep_stale_temporaries",
    "write_json",
    "write_text",
]

_TMP_MARK = ".tmp"


def check_target(final: Path, overwrite: bool) -> Path:
    """Return the path the atomic rename will replace, refusing what may not be replaced.

    Symbolic links are written through: the link stays and its (regular-file) target is
    replaced.  A dangling link, a folder, a FIFO, a socket or a device node is refused.

    Parameters
    ----------
    final : Path
        The output path.
    overwrite : bool
        Whether an existing regular file may be replaced.

    Returns
    -------
    Path
        ``final``, or the target of the symbolic link ``final``.

    Raises
    ------
    OutputExistsError
        The file exists and ``overwrite`` is false.
    DataError
        ``final`` may not be replaced at all.
    """
    if final.is_symlink():
        try:
            target = final.resolve(strict=True)
        except (OSError, RuntimeError):
            raise DataError(
                f"output {final} is a symbolic link to a missing file; remove the link or "
                "give another path"
            ) from None
        if not overwrite:
            raise OutputExistsError(
                f"output {final} exists (a symbolic link to {target}); choose another path "
                "or pass --overwrite to replace the file it points to"
            )
        final = target
    try:
        st = final.stat()
    except (FileNotFoundError, NotADirectoryError):
        return final  # the folder checks that follow name the problem
    except OSError as err:
        raise DataError(f"cannot inspect output {final} ({err.strerror or err})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"output path {final} is a folder; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise DataError(
            f"output {final} is not a regular file (a FIFO, socket or device); hepc9 only "
            "replaces regular files, give another path"
        )
    if not overwrite:
        raise OutputExistsError(
            f"output {final} exists; choose another path or pass --overwrite to replace it"
        )
    return final


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


def sweep_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that killed writers of ``path`` left in its folder.

    A temporary of :func:`atomic_path` is named ``.<name>.<pid>.<random>.tmp[suffix]``; one
    whose writer process no longer exists on this machine is removed.  Temporaries of live
    writers (another process writing the same output now) are left alone.

    Parameters
    ----------
    path : str or path-like
        The final output path whose stale temporaries to remove.

    Returns
    -------
    list of Path
        The removed files.
    """
    final = Path(path)
    folder = final.parent if str(final.parent) else Path(".")
    prefix = f".{final.name}."
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix) or _TMP_MARK not in name[len(prefix):]:
            continue
        pid_text = name[len(prefix):].split(".", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    parents: bool = False,
    keep_suffix: bool = False,
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    This is the one atomic writer of hepc9: the caller writes the complete file to the
    yielded path; on normal exit the file gets mode rw-r--r-- and replaces ``path``
    (``os.replace``, atomic on one file system); on any exception the temporary file is
    removed and ``path`` is left as it was.

    What may be replaced: only a regular file (with ``overwrite``).  A folder, a FIFO, a
    socket or a device node is refused.  A symbolic link is written through: the link stays
    and the regular file it points to is replaced atomically (a dangling link is refused).
    Temporaries that killed writers left next to ``path`` are removed first
    (:func:`sweep_stale_temporaries`).

    Parameters
    ----------
    path : str or path-like
        Final output path.
    overwrite : bool
        Replace an existing file.  Without it an existing ``path`` raises (checked before
        and again after writing).
    parents : bool
        Create missing parent folders instead of raising.
    keep_suffix : bool
        End the temporary name with the suffix of ``path`` (``x.root`` →
        ``.x.root.<pid>.<id>.tmp.root``) for writers that look at the file extension (uproot,
        Keras); otherwise it ends in ``.tmp``.

    Yields
    ------
    Path
        Temporary path in the same folder (hidden name, created empty).

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    DataError
        ``path`` is a folder or not a regular file, the folder does not exist (and
        ``parents`` is false), cannot be created, or is not writable.
    """
    final = check_target(Path(path), overwrite)
    folder = final.parent if str(final.parent) else Path(".")
    if parents:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DataError(
                f"cannot write to folder {folder} ({err.strerror or err}); choose a writable "
                "output path"
            ) from err
    if not folder.is_dir():
        raise DataError(f"output folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise DataError(
            f"cannot write to folder {folder}: it is not writable; choose a writable output path"
        )
    sweep_stale_temporaries(final)
    suffix = _TMP_MARK + (final.suffix if keep_suffix else "")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.{os.getpid()}.", suffix=suffix,
                                        dir=folder)
    except OSError as err:
        raise DataError(
            f"cannot write to folder {folder} ({err.strerror or err}); choose a writable "
            "output path"
        ) from err
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        check_target(final, overwrite)
        # mkstemp creates 0600 files; outputs get the usual rw-r--r--
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    except OutputExistsError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputExistsError(
            f"output {final} appeared while it was being written; choose another path or "
            "pass --overwrite"
        ) from err
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text(path: str | Path, text: str, *, overwrite: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_default(obj: Any) -> Any:
    """Convert numpy values, result objects (``to_dict``) and paths for ``json.dumps``."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def write_json(path: str | Path, obj: Any, *, overwrite: bool = True) -> Path:
    """Write ``obj`` as indented, key-sorted JSON atomically (numpy values converted)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=json_default, allow_nan=True)
    return write_text(path, text + "\n", overwrite=overwrite)


def read_json(path: str | Path) -> Any:
    """Read a JSON file, raising :class:`Hepc9Error` with the path on failure."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Hepc9Error(f"{p} does not exist") from None
    except UnicodeDecodeError as err:
        raise Hepc9Error(f"{p} is not UTF-8 JSON text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise Hepc9Error(
            f"cannot read {p} ({err.strerror or err}); check its permissions"
        ) from None
    except json.JSONDecodeError as err:
        raise Hepc9Error(f"{p} is not valid JSON ({err.msg} at line {err.lineno})") from err
