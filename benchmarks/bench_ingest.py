"""Benchmark of foreign-ntuple ingestion (hepc9.rootio.load_events / convert).

Run as ``python benchmarks/bench_ingest.py [--rows N] [--repeat R] [--out FILE]``.

Writes a basf2-like ``det`` tree (about 1.5 candidates per event, truth four-vectors, PDG
codes, bookkeeping) and a flat table of the same decays, both with N rows, then measures
rows/s of

* ``load_events`` end to end (uproot read + checks + candidate choice + angle recomputation),
* the processing alone on arrays in memory, fast path (numba angles and candidate kernel)
  versus the numpy baseline (``angles_from_four_vectors_numpy`` + ``best_per_group_numpy``),
* ``convert`` (read + write of the native file, ZSTD(1)).

The JIT is warmed first; results go to ``benchmarks/results/ingest.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import uproot
from machine import cpu_model, machine_line

from hepc9 import kinematics as kin
from hepc9.config import IngestConfig, load_config
from hepc9.rootio import _foreign, load_events

#: Reconstructed columns a fit needs: angles recomputed from the reconstructed momenta, no truth.
RECO_COLUMNS = ("q2", "costheta_l", "costheta_k", "chi", "mkpi", "flavour", "mbc", "delta_e")

FLAT_MAP = {f"{p}_{c}": f"{p.upper()}_{c.upper()}" for p in ("k", "pi", "mup", "mum")
            for c in ("e", "px", "py", "pz")}



def decays(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    mkpi = rng.uniform(0.80, 0.99, n)
    q2 = rng.uniform(0.1, 0.95, n) * (kin.M_B0 - mkpi) ** 2
    flavour = rng.choice(np.array([-1, 1], dtype=np.int8), n)
    p4 = kin.four_vectors_from_angles(q2, rng.uniform(-1, 1, n), rng.uniform(-1, 1, n),
                                      rng.uniform(0, 2 * np.pi, n), mkpi, flavour)
    return flavour, kin.to_lab(p4, rng=rng)


def write_basf2(path: Path, rows: int, compression: object) -> None:
    rng = np.random.default_rng(2)
    ev = (np.arange(rows) * 2) // 3  # 2, 1, 2, 1, ... candidates per event
    n_events = int(ev[-1]) + 1
    starts = np.searchsorted(ev, np.arange(n_events))
    flavour, lab = decays(n_events, 1)
    f = flavour[ev].astype(np.float64)
    cols: dict[str, np.ndarray] = {}
    first = f > 0
    parts = {"K_p_": lab["k"], "pi_m_": lab["pi"],
             "mu_p_": np.where(first[:, None], lab["mup"][ev], lab["mum"][ev]),
             "mu_m_": np.where(first[:, None], lab["mum"][ev], lab["mup"][ev])}
    for prefix, arr in parts.items():
        a = arr if arr.shape[0] == rows else arr[ev]
        for j, (c, mc) in enumerate(zip(("E", "px", "py", "pz"), ("mcE", "mcPX", "mcPY", "mcPZ"),
                                        strict=True)):
            cols[prefix + c] = np.ascontiguousarray(a[:, j])
            cols[prefix + mc] = np.ascontiguousarray(a[:, j])
    cols.update({"PDG": 511 * f, "K_p_PDG": 321 * f, "pi_m_PDG": -211 * f, "mu_p_PDG": -13 * f,
                 "mu_m_PDG": 13 * f, "Mbc": rng.normal(5.279, 0.003, rows),
                 "deltaE": rng.normal(0, 0.02, rows), "isSignal": np.ones(rows),
                 "tfRedChiSqB0": rng.uniform(0, 3, rows),
                 "__experiment__": np.zeros(rows, np.int32), "__run__": np.ones(rows, np.int32),
                 "__event__": ev.astype(np.uint32),
                 "__candidate__": (np.arange(rows) - starts[ev]).astype(np.uint32)})
    with uproot.recreate(path, compression=compression) as fh:
        fh.mktree("det", {k: v.dtype for k, v in cols.items()})
        step = 250_000
        for s in range(0, rows, step):
            fh["det"].extend({k: v[s:s + step] for k, v in cols.items()})


def write_flat(path: Path, rows: int, compression: object) -> None:
    flavour, lab = decays(rows, 3)
    cols = {f"{p.upper()}_{c.upper()}": np.ascontiguousarray(lab[p][:, j])
            for p in ("k", "pi", "mup", "mum") for j, c in enumerate(("e", "px", "py", "pz"))}
    cols["B_ID"] = 511.0 * flavour
    with uproot.recreate(path, compression=compression) as fh:
        fh.mktree("Events", {k: v.dtype for k, v in cols.items()})
        fh["Events"].extend(cols)


def read_raw(path: Path, tree: str, branches: list[str] | None = None) -> None:
    """Baseline: uproot alone reading every branch (or the given ones) into numpy arrays."""
    with uproot.open(path) as fh:
        fh[tree].arrays(branches, library="np")


def reco_branches(path: Path) -> list[str]:
    """The branches ``load_events(columns=RECO_COLUMNS)`` reads from a basf2 ``det`` tree."""
    from hepc9.rootio import basf2

    with uproot.open(path) as fh:
        return list(basf2.plan(fh["det"], path=str(path), tree_name="det", candidate="best",
                               read_truth=False).branches)


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def processing(rows: int, repeat: int) -> tuple[float, float]:
    """Rows/s of candidate choice + angle recomputation on in-memory arrays."""
    flavour, lab = decays(rows, 4)
    rng = np.random.default_rng(5)
    ev = np.sort(rng.integers(0, int(rows / 1.5), rows))
    rank = rng.uniform(0, 3, rows)

    def fast() -> None:
        ids, ng = _foreign.group_ids([ev])
        _foreign.best_per_group(ids, ng, rank)
        kin.angles_from_four_vectors(lab["k"], lab["pi"], lab["mup"], lab["mum"], flavour)

    def baseline() -> None:
        ids, ng = _foreign.group_ids([ev])
        _foreign.best_per_group_numpy(ids, ng, rank)
        kin.angles_from_four_vectors_numpy(lab["k"], lab["pi"], lab["mup"], lab["mum"], flavour)

    fast()  # warm the JIT
    return rows / best_time(fast, repeat), rows / best_time(baseline, max(1, repeat // 2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "ingest.md"))
    parser.add_argument("--codecs", default="LZ4(1),ZLIB(1),none",
                        help="comma-separated subset of LZ4(1), ZLIB(1), none")
    args = parser.parse_args()
    codecs = [c for c in (("LZ4(1)", uproot.LZ4(1)), ("ZLIB(1)", uproot.ZLIB(1)),
                          ("none", None)) if c[0] in args.codecs.split(",")]
    from hepc9.pipeline.convert import convert_files

    lines = []
    ratios: list[str] = []
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # warm every JIT path on a small file
        write_basf2(folder / "warm.root", 3000, uproot.LZ4(1))
        load_events(folder / "warm.root")
        cfg_flat = IngestConfig(layout="flat", columns=FLAT_MAP,
                                flavour={"column": "B_ID", "kind": "pdg"})
        for label, codec in codecs:
            b = folder / f"basf2_{label[:4]}.root"
            fl = folder / f"flat_{label[:4]}.root"
            write_basf2(b, args.rows, codec)
            write_flat(fl, args.rows, codec)
            raw_b = args.rows / best_time(lambda b=b: read_raw(b, "det"), args.repeat)
            raw_f = args.rows / best_time(lambda fl=fl: read_raw(fl, "Events"), args.repeat)
            rb = args.rows / best_time(lambda b=b: load_events(b), args.repeat)
            rf = args.rows / best_time(lambda fl=fl: load_events(fl, ingest=cfg_flat),
                                       args.repeat)
            lines.append(f"| uproot read only, basf2 det (45 branches, {label}) "
                         f"| {raw_b / 1e6:.2f} |")
            lines.append(f"| load_events basf2 det (45 branches, {label}) | {rb / 1e6:.2f} |")
            lines.append(f"| uproot read only, flat (17 branches, {label}) | {raw_f / 1e6:.2f} |")
            lines.append(f"| load_events flat (17 branches, {label}) | {rf / 1e6:.2f} |")
            ratios.append(f"- {label}: load_events / uproot read of every branch: basf2 "
                          f"{rb / raw_b:.2f}, flat {rf / raw_f:.2f}")
            need = reco_branches(b)
            raw_n = args.rows / best_time(lambda b=b, need=need: read_raw(b, "det", need),
                                          args.repeat)
            rn = args.rows / best_time(lambda b=b: load_events(b, columns=RECO_COLUMNS),
                                       args.repeat)
            lines.append(f"| uproot read only, basf2 det, the {len(need)} branches of the "
                         f"reco columns ({label}) | {raw_n / 1e6:.2f} |")
            lines.append(f"| load_events basf2 det, columns = {len(RECO_COLUMNS)} reco "
                         f"columns ({len(need)} branches, {label}) | {rn / 1e6:.2f} |")
            ratios.append(f"- {label}: load_events(columns=reco) / uproot read of every branch "
                          f"{rn / raw_b:.2f}, / uproot read of its {len(need)} branches "
                          f"{rn / raw_n:.2f}, / load_events of every column {rn / rb:.2f}")
            print(*lines[-6:], *ratios[-2:], sep="\n", flush=True)
        cfg = load_config()
        out = folder / "native.root"
        src = folder / f"basf2_{codecs[0][0][:4]}.root"
        rc = args.rows / best_time(
            lambda: convert_files(src, out, config=cfg, overwrite=True),
            max(1, args.repeat - 1))
        lines.append(f"| convert basf2 det ({codecs[0][0]} in, ZSTD(1) out) | {rc / 1e6:.2f} |")
        print(lines[-1], flush=True)
    fast, base = processing(args.rows, args.repeat)
    lines.append(f"| candidates + angles in memory, numba | {fast / 1e6:.2f} |")
    lines.append(f"| candidates + angles in memory, numpy baseline | {base / 1e6:.2f} |")
    ratios.append(f"- candidates + angles in memory, numba / numpy baseline: {fast / base:.2f}")
    print(lines[-2], lines[-1], ratios[-1], sep="\n")
    header = [
        "# Ingestion benchmark (`hepc9.rootio.load_events`, `convert`)",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores, shared with other jobs: numbers "
        f"measured under load (1-min load average {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end)",
        f"- Python {sys.version.split()[0]}, numpy {np.__version__}, uproot {uproot.__version__}",
        f"- command: `python benchmarks/bench_ingest.py --rows {args.rows} --repeat "
        f"{args.repeat} --codecs {args.codecs}`",
        f"- {args.rows} rows per file; best of {args.repeat}; rows/s include reading, "
        "checks, candidate choice and angle recomputation",
        "",
        "| path | M rows/s |",
        "| --- | ---: |",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    footer = ["", "Same-run ratios (reference: uproot alone reading every branch into numpy; the "
              "numpy baseline of the in-memory processing):", "", *ratios, "",
              f"- machine: {machine_line()}"]
    Path(args.out).write_text("\n".join(header + lines + footer) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
