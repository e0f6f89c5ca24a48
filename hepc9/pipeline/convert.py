"""Stage ``convert``: foreign (or native) ntuples → one native hepc9 event file.

Reads basf2, EvtGen ``ntp``, flat or native files chunk by chunk
(:func:`hepc9.rootio.iterate_any`) and streams the chunks into the native writer, so files
larger than memory convert in bounded memory.  The metadata records the user-given
Wilson-coefficient point (foreign ntuples carry no labels) and the provenance of every input
file: path, layout, tree, candidate rule, rows read, dropped and kept.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.config import Config, load_config
from hepc9.errors import ConfigError
from hepc9.physics.constants import SHIFT_NAMES
from hepc9.rootio import iterate_any
from hepc9.rootio.native import make_meta, write_events
from hepc9.seeding import rng as make_rng

__all__ = ["apply_mapping_file", "convert_files"]

log = logging.getLogger(__name__)


def apply_mapping_file(cfg: Config, path: str | Path) -> Config:
    """Return ``cfg`` with the ``[ingest]`` table of a mapping file applied on top.

    Parameters
    ----------
    cfg : Config
        Resolved configuration.
    path : str or Path
        TOML file with one ``[ingest]`` table (``layout``, ``tree``, ``energy_unit``,
        ``flavour``, ``[ingest.columns]`` ..., formats.md §3c).

    Returns
    -------
    Config
        New configuration; keys absent from the file keep their values.

    Raises
    ------
    ConfigError
        Unreadable file, invalid TOML, other tables than ``[ingest]``, invalid keys or values.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"mapping file {p} does not exist") from None
    except OSError as err:
        raise ConfigError(f"cannot read mapping file {p}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p} is not valid TOML: {err}") from err
    other = sorted(set(data) - {"ingest"})
    if other or "ingest" not in data:
        raise ConfigError(
            f"mapping file {p} must hold only an [ingest] table (found: "
            f"{', '.join(other) or 'nothing'}); put other settings in --config"
        )
    given = data["ingest"]
    checked = load_config(data={"ingest": given})  # types, names, flavour rule
    checked_ingest = checked.ingest
    values = {key: getattr(checked_ingest, key) for key in given}
    try:
        ingest = dataclasses.replace(cfg.ingest, **values)
    except TypeError as err:  # pragma: no cover - names were checked by load_config
        raise ConfigError(f"invalid [ingest] table in {p}: {err}") from err
    return cfg.replace(ingest=ingest)


def convert_files(
    inputs: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    config: Config,
    mapping: str | Path | None = None,
    layout: str = "auto",
    tree: str | None = None,
    candidate: str | None = None,
    on_nonfinite: str | None = None,
    shifts: Mapping[str, float] | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Convert ntuples into one native event file.

    Parameters
    ----------
    inputs : str, Path or sequence of them
        Input files or glob patterns (all of one layout).
    output : str or Path
        Native output file, written atomically.
    config : Config
        Resolved configuration; ``[ingest]`` holds the reading options, ``seed`` seeds the
        ``random`` candidate rule (stream ``candidates``).
    mapping : str or Path, optional
        TOML file whose ``[ingest]`` table is applied on top of ``config``
        (:func:`apply_mapping_file`), e.g. the column mapping of a flat table.
    layout : str, optional
        ``auto``, ``native``, ``basf2``, ``evtgen`` or ``flat`` (``auto`` defers to the config).
    tree : str, optional
        Tree to read (default: config, else the layout's default).
    candidate : str, optional
        Candidate rule overriding the configuration (``best first random all``).
    on_nonfinite : str, optional
        ``drop`` or ``fail``, overriding the configuration.
    shifts : mapping, optional
        User-given Wilson-coefficient point ``dc7 ... c10p`` written into the metadata.
        ``None`` records the Standard Model point for foreign inputs and marks it as not
        given; native inputs keep their own point.
    overwrite : bool, optional
        Replace an existing output file.
    progress : callable, optional
        Called with the number of events written so far after each chunk.

    Returns
    -------
    dict
        Summary: output, layout, tree, level, events written, rows read and dropped, seconds,
        events per second.
    """
    start = time.perf_counter()
    if mapping is not None:
        config = apply_mapping_file(config, mapping)
    changes: dict[str, Any] = {}
    if candidate is not None:
        if candidate not in ("best", "first", "random", "all"):
            raise ConfigError(f"candidate rule {candidate!r} must be best, first, random or all")
        changes["candidate"] = candidate
    if on_nonfinite is not None:
        if on_nonfinite not in ("drop", "fail"):
            raise ConfigError(f"on_nonfinite = {on_nonfinite!r} must be 'drop' or 'fail'")
        changes["on_nonfinite"] = on_nonfinite
    if changes:
        config = config.replace(ingest=dataclasses.replace(config.ingest, **changes))
    rng = make_rng(config.seed, "candidates")
    stream = iterate_any(inputs, layout=layout, tree=tree, ingest=config.ingest, rng=rng)
    if shifts is not None:
        unknown = [k for k in shifts if k not in SHIFT_NAMES]
        if unknown:
            raise ConfigError(f"unknown Wilson-coefficient shift(s) {unknown}")
    if stream.layout == "native":
        native = stream.native_meta or {}
        point = dict(shifts) if shifts is not None else {s: native.get(s, 0.0) for s in SHIFT_NAMES}
        label_source = "user" if shifts is not None else "input file"
    else:
        point = dict(shifts) if shifts is not None else {}
        label_source = "user" if shifts is not None else "not given (Standard Model recorded)"
    source: dict[str, Any] = {
        "layout": stream.layout,
        "tree": stream.tree,
        "candidate": config.ingest.candidate,
        "on_nonfinite": config.ingest.on_nonfinite,
        "wilson_point": label_source,
        "inputs": [str(p) for p in stream.paths],
        # filled while the chunks are written; serialised when the file is complete
        "files": stream.provenance,
    }
    meta = make_meta(
        level=stream.level,
        shifts=point,
        seed=config.seed,
        n_events=0,
        config_digest=config.digest(),
        generator=f"hepc9.rootio.{stream.layout}",
        source=source,
    )
    written = 0

    def chunks() -> Iterator[dict[str, np.ndarray]]:
        nonlocal written
        for chunk in stream:
            written += len(chunk["q2"])
            yield chunk
            if progress is not None:
                progress(written)

    out = write_events(output, chunks(), meta, overwrite=overwrite)
    seconds = time.perf_counter() - start
    rows_read = sum(int(p["rows_read"]) for p in stream.provenance)
    rows_dropped = sum(int(p["rows_dropped"]) for p in stream.provenance)
    log.info("converted %d rows of %d file(s) into %d events in %s (%.2f s)", rows_read,
             len(stream.paths), written, out, seconds)
    return {
        "output": str(out),
        "layout": stream.layout,
        "tree": stream.tree,
        "level": stream.level,
        "events": written,
        "rows_read": rows_read,
        "rows_dropped": rows_dropped,
        "seconds": seconds,
        "events_per_second": written / seconds if seconds > 0 else float("inf"),
    }
