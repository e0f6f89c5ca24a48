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
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hepc9 import __version__
from hepc9.errors import DataError, Hepc9Error, OutputExistsError

__all__ = [
    "Manifest",
    "atomic_path",
    "file_digest",
    "json_default",
    "package_versions",
    "read_json",
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
        End the temporary name with the suffix of ``path`` (``x.root`` → ``.x.root.<id>.tmp.root``)
        for writers that look at the file extension (uproot, Keras); otherwise it ends in
        ``.tmp``.

    Yields
    ------
    Path
        Temporary path in the same folder (hidden name, created empty).

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    DataError
        ``path`` is a folder, the folder does not exist (and ``parents`` is false), cannot be
        created, or is not writable.
    """
    final = Path(path)
    if final.is_dir():
        raise DataError(f"output path {final} is a folder; give a file name")
    if final.exists() and not overwrite:
        raise OutputExistsError(
            f"output {final} exists; choose another path or pass --overwrite to replace it"
        )
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
    suffix = ".tmp" + (final.suffix if keep_suffix else "")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=folder)
    except OSError as err:
        raise DataError(
            f"cannot write to folder {folder} ({err.strerror or err}); choose a writable "
            "output path"
        ) from err
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if final.exists() and not overwrite:
            raise OutputExistsError(
                f"output {final} appeared while it was being written; choose another path "
                "or pass --overwrite"
            )
        # mkstemp creates 0600 files; outputs get the usual rw-r--r--
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
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
    import numpy as np

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
    except json.JSONDecodeError as err:
        raise Hepc9Error(f"{p} is not valid JSON ({err.msg} at line {err.lineno})") from err


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
    output must still exist with the recorded digest.
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
            if not p.exists() or (p.is_file() and file_digest(p) != digest):
                return False
        return True

    def record(
        self,
        stage: str,
        *,
        input_digest: str,
        outputs: list[str | Path],
        seconds: float,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a finished stage and save the manifest."""
        digests = {}
        for out in outputs:
            p = Path(out)
            rel = str(p.relative_to(self.run_dir)) if p.is_absolute() else str(p)
            full = self.run_dir / rel
            digests[rel] = file_digest(full) if full.is_file() else "dir"
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
