"""Build image or event-set datasets for a grid of δC9 labels, chunk by chunk, resumably.

Layout of a build folder::

    build.json                  configuration digest, kind, normalisation (written first)
    train/index.json            one complete dataset per split (formats.md §5), written last
    train/x-000000.npy ...
    validation/...
    test/...

Random streams (hepc9.seeding): chunk ``c`` of label ``i`` of a split draws all its events
from ``SeedSequence(seed, spawn_key=(stage, i, c))`` with the stage ``images_<split>`` or
``sets_<split>``; the reference sample of the normalisation uses ``images_reference``.
Every image (or set) consists of events drawn fresh for it: no event is shared between
images, labels or splits.  Changing the number of images per label only adds or removes
chunks; it leaves the other chunks bit-identical.

The events come from :class:`hepc9.simulation.EventFactory` (re-exported here), the one
event chain shared with the pseudo-experiments and ``hepc9 simulate`` (its rules are in
:mod:`hepc9.simulation`).  Generator level: the events of a chunk are
``sample_events(count · M, seed=ss, ...)`` cut into consecutive images.  Detector level
(``[detector] enabled``): signal events pass the detector simulation and the signal region
and K* window; with ``[background] enabled`` each image holds ``round(f · M)``
signal-region background events (f = ``[background] fraction``) and ``M − round(f · M)``
signal events (the background candidates pass the detector's track selection,
:func:`hepc9.detector.accept_background`), and the background channels are made from the
Mbc-sideband events generated alongside that image's background (so their number
fluctuates as in data), scaled to the image's expected signal-region background yield
``round(f · M)``.

Rerunning a build completes missing chunks and verifies finished ones (shape, dtype, labels,
finite values, and digests where an index exists); a build folder made with a different
configuration is refused unless ``overwrite``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.artifacts import write_json
from hepc9.config import config_digest
from hepc9.datasets import store
from hepc9.datasets.labels import SPLITS, split_labels
from hepc9.datasets.sets import SetSpec, make_sets, reference_set_spec
from hepc9.datasets.voxelize import AXES, ImageSpec, default_q2_scale, voxelize_batch
from hepc9.errors import ConfigError, Hepc9Error, OutputExistsError
from hepc9.seeding import seed_sequence, spawn_key
from hepc9.simulation import ChunkEvents, EventFactory

__all__ = [
    "BUILD_FILE",
    "ChunkTask",
    "EventFactory",
    "build_dataset",
    "dataset_spec",
    "make_chunk",
    "plan_chunks",
]

log = logging.getLogger(__name__)

#: Name of the build record at the top of a build folder.
BUILD_FILE = "build.json"


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """One chunk of a split: ``count`` items of one label drawn from one random stream."""

    split: str
    stage: str
    label_index: int
    label: float
    chunk: int
    count: int
    number: int

    @property
    def spawn_key(self) -> tuple[int, ...]:
        """``(stage number, label index, chunk)``."""
        return spawn_key(self.stage, self.label_index, self.chunk)


def _per_label(datasets: Any, split: str) -> int:
    return int(getattr(datasets, f"{split}_per_label"))


def plan_chunks(cfg: Any, splits: tuple[str, ...] = SPLITS) -> dict[str, list[ChunkTask]]:
    """Return the chunk plan of every split.

    Parameters
    ----------
    cfg : Config
        Resolved configuration (``[datasets]`` and ``seed``).
    splits : tuple of str
        Splits to plan.

    Returns
    -------
    dict of str to list of ChunkTask
        Chunks in file order; chunk numbers count up within each split.
    """
    d = cfg.datasets
    labels = split_labels(d)
    prefix = "images" if d.kind == "images" else "sets"
    out: dict[str, list[ChunkTask]] = {}
    for split in splits:
        if split not in SPLITS:
            raise ConfigError(f"unknown split '{split}' (known: {', '.join(SPLITS)})")
        per_label = _per_label(d, split)
        tasks: list[ChunkTask] = []
        for i, label in enumerate(labels[split]):
            n_chunks = math.ceil(per_label / d.items_per_chunk)
            for c in range(n_chunks):
                count = min(d.items_per_chunk, per_label - c * d.items_per_chunk)
                tasks.append(ChunkTask(split, f"{prefix}_{split}", i, float(label), c, count,
                                       len(tasks)))
        out[split] = tasks
    return out


# --------------------------------------------------------------------------------------------
# normalisation and specs
# --------------------------------------------------------------------------------------------


def _reference_events(cfg: Any) -> dict[str, np.ndarray]:
    d = cfg.datasets
    factory = EventFactory(cfg)
    ss = seed_sequence(cfg.seed, "images_reference")
    if factory.detector:
        return factory._detector_signal(d.reference_events, ss, d.reference_dc9)
    return factory.sample(d.reference_events, ss, d.reference_dc9)


def dataset_spec(cfg: Any) -> ImageSpec | SetSpec:
    """Return the image or set spec of a build, with its normalisation fixed once.

    ``q2max`` images need no data; ``standard`` images and event sets draw the reference
    sample (``reference_events`` at ``reference_dc9`` from the ``images_reference`` stream),
    which is independent of every label and split.

    Parameters
    ----------
    cfg : Config
        Resolved configuration.

    Returns
    -------
    ImageSpec or SetSpec
    """
    d = cfg.datasets
    source = (f"reference sample: {d.reference_events} events at dc9 = {d.reference_dc9}, "
              f"stream {list(spawn_key('images_reference'))}")
    if d.kind == "sets":
        return reference_set_spec(_reference_events(cfg), d.set_features, source=source)
    if d.q2_normalisation == "q2max":
        return ImageSpec.from_config(d, q2_offset=0.0, q2_scale=default_q2_scale())
    q2 = _reference_events(cfg)["q2"]
    return ImageSpec.from_config(d, q2_offset=float(np.mean(q2)), q2_scale=float(np.std(q2)),
                                 q2_normalisation="standard")


def _spec_from_record(kind: str, data: Mapping[str, Any]) -> ImageSpec | SetSpec:
    return ImageSpec.from_dict(data) if kind == "images" else SetSpec.from_dict(data)


def make_chunk(
    cfg: Any, task: ChunkTask, spec: ImageSpec | SetSpec, factory: EventFactory | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Make the items of one chunk.

    Parameters
    ----------
    cfg : Config
        Resolved configuration.
    task : ChunkTask
        The chunk.
    spec : ImageSpec or SetSpec
        Image geometry/channels or set features, with their fixed normalisation.
    factory : EventFactory, optional
        Reused event source.

    Returns
    -------
    x : ndarray
        ``(count, X, Y, Z, C)`` images or ``(count, n, F)`` sets, float32.
    y : ndarray
        ``(count,)`` float32 labels.
    """
    factory = factory or EventFactory(cfg)
    ss = seed_sequence(cfg.seed, task.stage, task.label_index, task.chunk)
    ev = factory.draw(ss, task.label, task.count)
    if isinstance(spec, SetSpec):
        x = make_sets(ev.signal, spec, n_sets=task.count)
    else:
        kw: dict[str, Any] = {}
        if spec.uses_background:
            kw = {"background": ev.background, "background_offsets": ev.background_offsets,
                  "background_scale": ev.background_scale}
        images = voxelize_batch(ev.signal, spec, n_images=task.count, dtype=np.float32,
                                threads=cfg.datasets.threads, **kw)
        assert isinstance(images, np.ndarray)  # return_dropped is False: an array
        x = images
    return x, np.full(task.count, task.label, np.float32)


def _item_shape(cfg: Any, spec: ImageSpec | SetSpec) -> tuple[int, ...]:
    if isinstance(spec, SetSpec):
        return (cfg.datasets.events_per_image, len(spec.features))
    return spec.shape


def _split_index(cfg: Any, split: str, spec: ImageSpec | SetSpec, chunks: list[dict[str, Any]],
                 labels: np.ndarray) -> dict[str, Any]:
    d = cfg.datasets
    index: dict[str, Any] = {
        "kind": d.kind,
        "split": split,
        "dtype": d.dtype,
        "item_shape": list(_item_shape(cfg, spec)),
        "n_items": int(sum(c["count"] for c in chunks)),
        "events_per_item": d.events_per_image,
        "label_name": "dc9",
        "labels": [float(v) for v in labels],
        "level": "det" if cfg.detector.enabled else "gen",
        "background_fraction": cfg.background.fraction if cfg.background.enabled else 0.0,
        "flavour": cfg.generate.flavour,
        "seed": cfg.seed,
        "config_digest": cfg.digest(),
        "build_digest": build_digest(cfg),
        "chunks": chunks,
    }
    if isinstance(spec, SetSpec):
        index["features"] = list(spec.features)
        index["standardisation"] = spec.to_dict()
    else:
        index["spec"] = spec.to_dict()
        index["axes"] = [
            {"name": name, "edges": spec.edges(i).tolist(), "periodic": spec.periodic[i]}
            for i, name in enumerate(AXES)
        ]
        index["channels"] = spec.channel_records()
    return index


def _chunk_extra(task: ChunkTask) -> dict[str, Any]:
    return {"label": task.label, "label_index": task.label_index, "chunk": task.chunk,
            "spawn_key": list(task.spawn_key), "stage": task.stage}


def run_chunk(cfg: Any, task: ChunkTask, spec: ImageSpec | SetSpec, folder: str | Path,
              factory: EventFactory | None = None) -> dict[str, Any]:
    """Make one chunk and write it atomically into ``folder``; return its index entry.

    The unit of work of a build: it depends only on its arguments and writes only its own
    two files, so chunks can run in any order, in other processes or on other machines.
    """
    x, y = make_chunk(cfg, task, spec, factory)
    return store.write_chunk(folder, task.number, x, y, dtype=cfg.datasets.dtype,
                             extra=_chunk_extra(task))


def build_digest(cfg: Any) -> str:
    """Return the digest of the settings that decide a build's content.

    It covers ``seed`` and the ``[physics] [generate] [detector] [background] [selection]
    [datasets]`` sections except thread counts (results do not depend on them), so that
    changing, say, ``[train]`` does not invalidate a finished dataset.
    """
    plain = cfg.to_dict()
    keep = {k: plain[k] for k in ("seed", "physics", "generate", "detector", "background",
                                  "selection", "datasets")}
    keep["generate"] = {k: v for k, v in keep["generate"].items() if k != "threads"}
    keep["datasets"] = {k: v for k, v in keep["datasets"].items() if k != "threads"}
    return config_digest(keep)


def _open_build(cfg: Any, out: Path, *, overwrite: bool) -> dict[str, Any] | None:
    """Check the build folder; return the previous build record when resuming."""
    rec_path = out / BUILD_FILE
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output {out} exists and is not a folder")
    if rec_path.is_file():
        try:
            old = json.loads(rec_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            old = {}
        if old.get("build_digest") == build_digest(cfg) and not overwrite:
            return old
        if not overwrite:
            raise OutputExistsError(
                f"{out} holds a build made with another configuration "
                f"({old.get('build_digest', '?')[:19]}…); pass --overwrite to replace it or "
                "choose another folder"
            )
    elif out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"output folder {out} is not empty; pass --overwrite to use it")
    if overwrite:
        for split in SPLITS:
            store.remove_dataset_files(out / split)
        if rec_path.exists():
            rec_path.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise Hepc9Error(f"cannot create output folder {out}: {err.strerror}") from err
    return None


def build_dataset(
    cfg: Any,
    output: str | Path,
    *,
    overwrite: bool = False,
    splits: tuple[str, ...] = SPLITS,
    progress: Callable[[int], Any] | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Build (or finish building) the train/validation/test datasets of a configuration.

    Parameters
    ----------
    cfg : Config
        Resolved configuration.
    output : str or Path
        Build folder (see the module docstring).
    overwrite : bool
        Replace a build made with another configuration.
    splits : tuple of str
        Splits to build (default all three).
    progress : callable, optional
        ``progress(items_done)`` after each chunk, cumulative over the splits.
    executor : concurrent.futures.Executor, optional
        Runs the missing chunks of a split as independent tasks (:func:`run_chunk`), e.g. a
        ``ProcessPoolExecutor`` or a dask ``Client.get_executor()``; by default they run here
        one after the other.  The result does not depend on it.

    Returns
    -------
    dict
        Summary: folder, kind, per split the number of items, chunks written and reused.
    """
    out = Path(output)
    t0 = time.perf_counter()
    old = _open_build(cfg, out, overwrite=overwrite)
    d = cfg.datasets
    if old is not None and "spec" in old:
        spec = _spec_from_record(d.kind, old["spec"])
        log.info("resuming %s with the stored normalisation", out)
    else:
        spec = dataset_spec(cfg)
        write_json(out / BUILD_FILE, {
            "format": "hepc9-dataset-build", "format_version": 1, "kind": d.kind,
            "config_digest": cfg.digest(), "build_digest": build_digest(cfg), "seed": cfg.seed,
            "config": cfg.to_dict(),
            "spec": spec.to_dict(),
        })
    plan = plan_chunks(cfg, splits)
    labels = split_labels(d)
    factory = EventFactory(cfg)
    item_shape = _item_shape(cfg, spec)
    summary: dict[str, Any] = {"output": str(out), "kind": d.kind, "splits": {}}
    done = 0
    for split in splits:
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        old_index: dict[str, Any] = {}
        if (folder / "index.json").is_file():
            try:
                old_index = store.read_index(folder)
            except Hepc9Error:
                old_index = {}
        old_entries = {c["number"]: c for c in old_index.get("chunks", [])}
        entries: dict[int, dict[str, Any]] = {}
        missing: list[ChunkTask] = []
        for task in plan[split]:
            expect = np.full(task.count, task.label, np.float32)
            prev = old_entries.get(task.number)
            if store.check_chunk(folder, task.number, count=task.count, item_shape=item_shape,
                                 dtype=d.dtype, labels=expect, digests=prev):
                xname, yname = store.chunk_files(task.number)
                entry = prev or {
                    "number": task.number, "x": xname, "y": yname, "count": task.count,
                    "labels": [task.label],
                    "x_digest": store._digest(folder / xname),
                    "y_digest": store._digest(folder / yname),
                }
                entry.update(_chunk_extra(task))
                entries[task.number] = entry
                done += task.count
                if progress is not None:
                    progress(done)
            else:
                missing.append(task)
        if missing and (folder / "index.json").exists():
            (folder / "index.json").unlink()  # the folder is incomplete from now on
        if executor is None:
            results: Any = (run_chunk(cfg, task, spec, folder, factory) for task in missing)
        else:
            futures = [executor.submit(run_chunk, cfg, task, spec, folder) for task in missing]
            results = (f.result() for f in as_completed(futures))
        for entry in results:
            entries[entry["number"]] = entry
            done += entry["count"]
            if progress is not None:
                progress(done)
        ordered = [entries[t.number] for t in plan[split]]
        written, reused = len(missing), len(plan[split]) - len(missing)
        store.write_index(folder, _split_index(cfg, split, spec, ordered, labels[split]))
        summary["splits"][split] = {
            "items": int(sum(t.count for t in plan[split])), "chunks": len(plan[split]),
            "written": written, "reused": reused, "labels": len(labels[split]),
        }
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    return summary


def total_items(cfg: Any, splits: tuple[str, ...] = SPLITS) -> int:
    """Return the number of items a build makes (for progress bars)."""
    return sum(t.count for tasks in plan_chunks(cfg, splits).values() for t in tasks)


__all__ += ["ChunkEvents", "build_digest", "run_chunk", "total_items"]
