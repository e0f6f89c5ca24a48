"""Datasets for the neural estimators: quasi-images, event sets, on-disk store, streaming.

===============  =============================================================================
``voxelize``     events → images over (cos θℓ, cos θK, χ): boost-histogram and numba paths
``sets``         events → standardised event sets ``(N, n, F)``
``labels``       δC9 label grids (``paper22``, ``lee44``, custom) and per-split label lists
``store``        chunked ``.npy`` + ``index.json`` folders, memory-mapped reading
``build``        train/validation/test builds from a configuration, resumable
``stream``       numpy batches: fresh images from the sampler, or shuffled stored ones
===============  =============================================================================

The names below are importable from this package; submodules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DatasetBatches",
    "ImageSpec",
    "ImageStream",
    "SetSpec",
    "build_dataset",
    "label_grid",
    "open_dataset",
    "voxelize",
    "voxelize_batch",
    "voxelize_boost",
    "write_dataset",
]

_WHERE = {
    "DatasetBatches": "stream",
    "ImageStream": "stream",
    "ImageSpec": "voxelize",
    "SetSpec": "sets",
    "build_dataset": "build",
    "label_grid": "labels",
    "open_dataset": "store",
    "voxelize": "voxelize",
    "voxelize_batch": "voxelize",
    "voxelize_boost": "voxelize",
    "write_dataset": "store",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"hepc9.datasets.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'hepc9.datasets' has no attribute '{name}'")
