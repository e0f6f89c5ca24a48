"""Run directories, manifests and atomic writes of small artefacts (the names of both jobs).

A run directory holds ``manifest.json`` (resolved configuration, seed, random-stream keys,
package versions, backend, stage records with digests and timings) and one folder per stage.
Every file is written atomically: to a temporary name in the same folder, then renamed, so an
interrupted run never leaves a half-written artefact that a rerun would trust.

The atomic writer lives in :mod:`hepc9.artifacts.atomic`, manifests, digests and the
run-folder lock in :mod:`hepc9.artifacts.manifest`; every public name is importable from here.
"""

from __future__ import annotations

from hepc9.artifacts.atomic import (
    atomic_path,
    check_target,
    json_default,
    read_json,
    sweep_stale_temporaries,
    write_json,
    write_text,
)
from hepc9.artifacts.manifest import (
    Manifest,
    file_digest,
    folder_digest,
    folder_lock,
    output_digest,
    package_versions,
)

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
