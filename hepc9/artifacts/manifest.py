"""Run manifests, output digests and the run-folder lock.

``manifest.json`` (:class:`Manifest`) holds the resolved configuration, seed, random-stream
keys, package versions (:func:`package_versions`), backend and the stage records with their
digests (:func:`file_digest`, :func:`folder_digest`) and timings; :func:`folder_lock` keeps a
second process out of a run folder.  Files are written through :mod:`hepc9.artifacts.atomic`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from hepc9 import __version__
from hepc9.artifacts.atomic import read_json, write_json
from hepc9.errors import DataError

__all__ = [
    "Manifest",
    "file_digest",
    "folder_digest",
    "folder_lock",
    "output_digest",
    "package_versions",
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
        self.run_dir = Path(run_dir).absolute()
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
            # a path inside the run folder (as stages return them), else a name relative to it
            p = Path(out).absolute()
            rel = str(p.relative_to(self.run_dir)) if p.is_relative_to(self.run_dir) else str(out)
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
