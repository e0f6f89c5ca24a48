"""Run directories, manifests and atomic writes of small artefacts.

A run directory holds ``manifest.json`` (resolved configuration, seed, random-stream keys,
package versions, backend, stage records with digests and timings) and one folder per stage.
Every file is written atomically: to a temporary name in the same folder, then renamed, so an
interrupted run never leaves a half-written artefact that a rerun would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepc9 import __version__
from hepc9.errors import DataError, Hepc9Error, OutputExistsError

__all__ = [
    "Manifest",
    "atomic_path",
    "check_target",
    "file_digest",
    "folder_digest",
    "folder_lock",
    "json_default",
    "output_digest",
    "package_versions",
    "read_json",
    "sweep_stale_temporaries",
    "write_json",
    "write_text",
]

_PACKAGES = (
    "numpy",
    "scipy",
    "numba",
    "uproot",
    "awkward",
    "boost-histogram",
    "hist",
    "iminuit",
    "vector",
    "matplotlib",
    "mplhep",
    "keras",
    "tensorflow",
    "jax",
    "torch",
    "dask",
    "distributed",
)


def package_versions() -> dict[str, str]:
    """Return the installed versions of hepc9 and its scientific dependencies.

    Returns
    -------
    dict of str to str
        Distribution name → version; packages that are not installed are omitted.
    """
    from importlib import metadata

    out = {"hepc9": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


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


def folder_digest(path: str | Path) -> str:
    """Return ``tree:sha256:<hex>`` over the names, sizes and bytes of every file in a folder.

    Hidden entries (temporaries, names starting with a dot) are left out, so that an
    interrupted writer's leftovers do not change the digest.
    """
    root = Path(path)
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(f for f in filenames if not f.startswith(".")):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            h.update(f"{rel}\0{full.stat().st_size}\0".encode())
            h.update(file_digest(full).encode())
    return "tree:" + "sha256:" + h.hexdigest()


def output_digest(path: str | Path) -> str:
    """Return :func:`file_digest` of a file or :func:`folder_digest` of a folder."""
    p = Path(path)
    return folder_digest(p) if p.is_dir() else file_digest(p)


@contextlib.contextmanager
def folder_lock(folder: str | Path, *, what: str = "run") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (``.hepc9.lock`` with the holder's pid).

    The lock is an ``fcntl.flock`` on the lock file, which the kernel releases when the
    holder exits in any way (SIGKILL included): a lock file left by a dead process is
    simply taken over.

    Parameters
    ----------
    folder : str or Path
        The folder to lock (it must exist).
    what : str
        What holds the lock, for the message (``"run"``).

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    DataError
        Another live process holds the lock.
    """
    import fcntl

    lock = Path(folder) / ".hepc9.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise DataError(
                f"{folder} is in use by another hepc9 {what} (pid {holder}); wait for it to "
                "finish or choose another output folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def file_digest(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Return ``sha256:<hex>`` of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return "sha256:" + h.hexdigest()


class Manifest:
    """The ``manifest.json`` of a run directory.

    Parameters
    ----------
    run_dir : str or Path
        Run directory (created if missing).
    config : Mapping
        Resolved configuration as plain data.
    seed : int
        Master seed.

    Notes
    -----
    Stage records (``stages[name]``) hold the stage's input digest, its outputs with their
    digests, the wall time and a completion flag.  :meth:`is_complete` is how a rerun decides
    to skip a stage: the record must be complete, the input digest must match, and every
    output must still exist with the recorded digest (files: sha256 of the bytes; folders:
    :func:`folder_digest` of every file inside), so that a deleted or changed output (a
    removed ``model.keras``) makes the stage run again.
    """

    def __init__(self, run_dir: str | Path, config: Mapping[str, Any], seed: int) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "manifest.json"
        self.data: dict[str, Any] = {
            "format": "hepc9-run",
            "format_version": 1,
            "config": dict(config),
            "seed": int(seed),
            "versions": package_versions(),
            "platform": {"python": platform.python_version(), "machine": platform.machine(),
                         "system": platform.system(), "cpus": os.cpu_count()},
            "stages": {},
            "streams": [],
        }
        if self.path.exists():
            old = read_json(self.path)
            if not isinstance(old, dict) or old.get("format") != "hepc9-run":
                raise DataError(
                    f"{self.path} is not a hepc9 run manifest (a JSON "
                    f"{type(old).__name__}); give another run folder or remove the file"
                )
            if not isinstance(old.get("stages", {}), dict):
                raise DataError(f"{self.path} has a damaged 'stages' record; remove the file "
                                "to start the run anew")
            if old.get("config") == self.data["config"]:
                self.data["stages"] = old.get("stages", {})
                self.data["streams"] = old.get("streams", [])

    def is_complete(self, stage: str, input_digest: str) -> bool:
        """Return whether ``stage`` finished earlier with the same inputs and intact outputs."""
        rec = self.data["stages"].get(stage)
        if not rec or not rec.get("complete") or rec.get("input_digest") != input_digest:
            return False
        for rel, digest in rec.get("outputs", {}).items():
            p = self.run_dir / rel
            if not p.exists():
                return False
            if digest == "dir":  # manifests before folder digests: the folder must hold files
                if not p.is_dir() or not any(p.iterdir()):
                    return False
            elif output_digest(p) != digest:
                return False
        return True

    def record(
        self,
        stage: str,
        *,
        input_digest: str,
        outputs: Sequence[str | Path],
        seconds: float,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a finished stage and save the manifest."""
        digests = {}
        for out in outputs:
            p = Path(out)
            rel = str(p.relative_to(self.run_dir)) if p.is_absolute() else str(p)
            full = self.run_dir / rel
            digests[rel] = output_digest(full)
        self.data["stages"][stage] = {
            "complete": True,
            "input_digest": input_digest,
            "outputs": digests,
            "seconds": round(float(seconds), 3),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **(dict(extra) if extra else {}),
        }
        self.save()

    def add_streams(self, keys: list[tuple[int, ...]]) -> None:
        """Record random-stream spawn keys used by the run."""
        known = {tuple(k) for k in self.data["streams"]}
        for k in keys:
            if tuple(k) not in known:
                self.data["streams"].append(list(k))
                known.add(tuple(k))

    def save(self) -> None:
        """Write the manifest atomically."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.path, self.data)
