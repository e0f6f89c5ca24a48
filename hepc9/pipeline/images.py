"""Images stage: build image/set datasets from a configuration, or voxelise existing ntuples."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepc9 import selection
from hepc9.config import Config
from hepc9.datasets.build import build_dataset, dataset_spec, total_items
from hepc9.datasets.store import open_dataset, prepare_folder, write_chunk, write_index
from hepc9.datasets.voxelize import AXES, ImageSpec, voxelize_batch
from hepc9.errors import ConfigError, DataError, OutputExistsError
from hepc9.pipeline.executors import make_executor
from hepc9.pipeline.progress import progress_bar
from hepc9.rootio import load_events
from hepc9.seeding import rng

__all__ = ["build_images", "images_from_file"]

log = logging.getLogger(__name__)


def build_images(
    cfg: Config,
    output: str | Path,
    *,
    overwrite: bool = False,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Build (or resume) the train/validation/test datasets of ``cfg`` in ``output``.

    Parameters
    ----------
    cfg : Config
        Resolved configuration (``[datasets]`` decides images or sets).
    output : str or Path
        Build folder.
    overwrite : bool
        Replace a build made with another configuration.
    show_progress : bool, optional
        Force the progress bar on or off (default: on when stderr is a terminal).

    Notes
    -----
    Chunks run on the executor of ``[scale]`` (serial, local processes or dask); the result
    is the same for every executor.

    Returns
    -------
    dict
        Summary of :func:`hepc9.datasets.build.build_dataset`.
    """
    unit = "img" if cfg.datasets.kind == "images" else "set"
    with make_executor(cfg.scale) as executor, progress_bar(
        total_items(cfg), desc=cfg.datasets.kind, unit=unit, enabled=show_progress
    ) as update:
        # serial runs in this process and reuses one event source across chunks
        pool = None if cfg.scale.executor == "serial" else executor
        return build_dataset(cfg, output, overwrite=overwrite, progress=update, executor=pool)


def images_from_file(
    cfg: Config,
    paths: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    events_per_image: int | None = None,
    label: float | None = None,
    like: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Voxelise an existing ntuple (native or foreign) into images of M events each.

    Events are taken in file order, ``M`` per image; a remainder smaller than ``M`` is left
    out (and reported).  Files with ``mbc`` and ``delta_e`` (detector level) are reduced to
    the signal region and K* window; their Mbc-sideband events feed the background channels,
    shared out in order among the images and scaled to ``[background] fraction · M`` each.

    Parameters
    ----------
    cfg : Config
        Configuration (``[ingest]`` reading options, ``[datasets]`` image settings).
    paths : path or sequence of paths
        ROOT files or glob patterns.
    output : str or Path
        Dataset folder to write.
    events_per_image : int, optional
        M; default ``[datasets] events_per_image``.
    label : float, optional
        δC9 of the sample; default the ``dc9`` of native metadata (foreign files carry none).
    like : str or Path, optional
        An existing image dataset whose spec (bins, channels, normalisation) is reused, so the
        images match what a model was trained on.
    overwrite : bool
        Replace an existing dataset in ``output``.

    Returns
    -------
    dict
        Summary: output, images, events used and left over, label, source files.
    """
    m = int(events_per_image or cfg.datasets.events_per_image)
    if m <= 0:
        raise ConfigError(f"events per image = {m} must be positive")
    out = Path(output)
    if out.is_dir() and (out / "index.json").exists() and not overwrite:
        raise OutputExistsError(
            f"output {out} already holds a dataset; pass --overwrite to replace it"
        )
    if like is not None:
        ref = open_dataset(like)
        if ref.kind != "images" or ref.spec is None:
            raise DataError(f"{like} is not an image dataset; --like needs one")
        spec = ref.spec
    else:
        if cfg.datasets.kind != "images":
            raise ConfigError("images --from makes images; set [datasets] kind = 'images'")
        spec = dataset_spec(cfg)
    assert isinstance(spec, ImageSpec)
    path_list = [paths] if isinstance(paths, str | Path) else list(paths)
    events, meta = load_events([str(p) for p in path_list], layout=cfg.ingest.layout,
                               tree=cfg.ingest.tree, ingest=cfg.ingest,
                               rng=rng(cfg.seed, "candidates"))
    if label is None:
        if "dc9" not in meta:
            raise ConfigError(
                f"{path_list[0]} carries no δC9 value (foreign ntuple); give it with --label X"
            )
        label = float(meta["dc9"])
    background = None
    if "mbc" in events and "delta_e" in events:
        keep = selection.signal_region(events, cfg.selection)
        sb = selection.sideband(events, cfg.selection)
        if "mkpi" in events:
            k = selection.kstar_window(events, cfg.selection)
            keep, sb = keep & k, sb & k
        background = {c: np.asarray(events[c])[sb] for c in (*AXES, "q2")}
        events = {c: np.asarray(v)[keep] for c, v in events.items()}
        log.info("signal region: %s events, sideband: %s", int(keep.sum()), int(sb.sum()))
    n = len(events["q2"])
    n_img = n // m
    if n_img == 0:
        raise DataError(f"{n} selected events are fewer than {m} events per image")
    used = {c: np.asarray(v)[: n_img * m] for c, v in events.items()}
    kw: dict[str, Any] = {}
    if spec.uses_background:
        if background is None:
            raise DataError(
                "the background channels need a detector-level file with mbc and delta_e"
            )
        per = len(background["q2"]) // n_img
        if per == 0:
            raise DataError("too few sideband events for the background channel")
        background = {c: v[: per * n_img] for c, v in background.items()}
        kw = {"background": background,
              "background_offsets": np.arange(n_img + 1) * per,
              "background_scale": np.full(n_img, cfg.background.fraction * m / per)}
    weights = used.get("weight")
    prepare_folder(out, overwrite=overwrite)
    d = cfg.datasets
    chunks = []
    for number, start in enumerate(range(0, n_img, d.items_per_chunk)):
        stop = min(start + d.items_per_chunk, n_img)
        sl = slice(start * m, stop * m)
        part = {c: used[c][sl] for c in (*AXES, "q2", "flavour") if c in used}
        ckw = dict(kw)
        if kw:
            off = kw["background_offsets"][start:stop + 1]
            ckw["background"] = {c: v[off[0]:off[-1]] for c, v in kw["background"].items()}
            ckw["background_offsets"] = off - off[0]
            ckw["background_scale"] = kw["background_scale"][start:stop]
        x = voxelize_batch(part, spec, n_images=stop - start, dtype=np.float32,
                           weights=None if weights is None else weights[sl],
                           threads=d.threads, **ckw)
        assert isinstance(x, np.ndarray)  # no return_dropped: images only
        y = np.full(stop - start, label, np.float32)
        chunks.append(write_chunk(out, number, x, y, dtype=d.dtype,
                                  extra={"label": label, "sources": [str(p) for p in path_list]}))
    index = {
        "kind": "images",
        "split": "file",
        "dtype": d.dtype,
        "item_shape": list(spec.shape),
        "n_items": n_img,
        "events_per_item": m,
        "label_name": "dc9",
        "labels": [label],
        "level": meta.get("level", "unknown"),
        "source_meta": meta,
        "spec": spec.to_dict(),
        "axes": [{"name": a, "edges": spec.edges(i).tolist(), "periodic": spec.periodic[i]}
                 for i, a in enumerate(AXES)],
        "channels": spec.channel_records(),
        "config_digest": cfg.digest(),
        "chunks": chunks,
    }
    write_index(out, index)
    return {"output": str(out), "images": n_img, "events_used": n_img * m,
            "events_left_over": n - n_img * m, "label": label,
            "sources": [str(p) for p in path_list]}
