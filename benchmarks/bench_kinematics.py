"""Benchmark of hepc9.kinematics: four-vectors → angles, numba (1 and 2 threads) vs numpy.

Run as ``python benchmarks/bench_kinematics.py [--n N] [--repeat R] [--out FILE]``.  Warms the
JIT first, checks that the fast path and its numpy twin agree, prints events/s and writes a
Markdown table to ``benchmarks/results/kinematics.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import numba
import numpy as np
from machine import cpu_model

from hepc9 import kinematics as kin


def lab_events(n: int, seed: int = 1) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    mkpi = np.full(n, 0.89555)
    q2 = rng.uniform(0.05, (kin.M_B0 - mkpi) ** 2)
    flavour = rng.choice(np.array([-1, 1], dtype=np.int8), n)
    p4 = kin.four_vectors_from_angles(
        q2,
        rng.uniform(-1, 1, n),
        rng.uniform(-1, 1, n),
        rng.uniform(0, 2 * np.pi, n),
        mkpi,
        flavour,
    )
    return kin.to_lab(p4, rng=rng, energy_spread=True), flavour


def best_rate(fn, n: int, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000, help="events per call")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls (best is kept)")
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "kinematics.md"), help="report"
    )
    args = parser.parse_args(argv)

    lab, flavour = lab_events(args.n)
    k, pi, mup, mum = (lab[key] for key in kin.PARTICLE_KEYS)

    # Warm the JIT and check the twins agree.
    small = slice(0, 10_000)
    fast = kin.angles_from_four_vectors(k[small], pi[small], mup[small], mum[small], flavour[small])
    slow = kin.angles_from_four_vectors_numpy(
        k[small], pi[small], mup[small], mum[small], flavour[small]
    )
    for key in ("q2", "costheta_l", "costheta_k", "mkpi"):
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-12, atol=1e-12)

    rows = []
    max_threads = numba.config.NUMBA_NUM_THREADS
    for threads in sorted({1, min(2, max_threads), max_threads}):
        numba.set_num_threads(threads)
        rate = best_rate(
            lambda: kin.angles_from_four_vectors(k, pi, mup, mum, flavour), args.n, args.repeat
        )
        rows.append((f"angles_from_four_vectors (numba, {threads} thread(s))", rate))
    numba.set_num_threads(max_threads)
    rate = best_rate(
        lambda: kin.angles_from_four_vectors_numpy(k, pi, mup, mum, flavour),
        args.n,
        max(1, args.repeat // 2),
    )
    rows.append(("angles_from_four_vectors_numpy (vector + numpy)", rate))
    rate = best_rate(
        lambda: kin.invariant_cosines(k, pi, mup, mum, flavour), args.n, max(1, args.repeat // 2)
    )
    rows.append(("invariant_cosines (numpy)", rate))

    rng = np.random.default_rng(2)
    n = args.n
    q2 = rng.uniform(0.05, 19.0, n)
    ang = rng.uniform(-1, 1, (2, n))
    chi = rng.uniform(0, 2 * np.pi, n)
    build_args = (q2, ang[0], ang[1], chi, 0.89555, 1)
    kin.to_lab(
        kin.four_vectors_from_angles(*(a[:10] if np.ndim(a) else a for a in build_args)), rng=rng
    )  # warm the JIT
    rows.append(
        (
            "four_vectors_from_angles (numba)",
            best_rate(lambda: kin.four_vectors_from_angles(*build_args), n, args.repeat),
        )
    )
    rows.append(
        (
            "four_vectors_from_angles_numpy",
            best_rate(lambda: kin.four_vectors_from_angles_numpy(*build_args), n, 2),
        )
    )
    p4 = kin.four_vectors_from_angles(*build_args)
    rows.append(
        ("to_lab (numba boosts)", best_rate(lambda: kin.to_lab(p4, rng=rng), n, args.repeat))
    )
    rows.append(("to_lab_numpy", best_rate(lambda: kin.to_lab_numpy(p4, rng=rng), n, 2)))

    for name, value in rows:
        print(f"{name:55s} {value / 1e6:8.2f} M events/s")

    cores = os.cpu_count()
    command = "python benchmarks/bench_kinematics.py " + " ".join(argv or sys.argv[1:])
    lines = [
        "# Benchmark: hepc9.kinematics",
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- CPU: {cpu_model()}, {cores} cores (numba threads available: {max_threads})",
        f"- versions: numpy {np.__version__}, numba {numba.__version__}, "
        f"python {platform.python_version()}",
        f"- command: `{command.strip()}`",
        f"- events per call: {args.n}; best of {args.repeat} calls (numpy paths: fewer)",
        f"- load: {os.getloadavg()[0]:.1f} (1-min load average; shared machine, numbers "
        "measured under load)",
        "",
        "| path | M events/s |",
        "| --- | ---: |",
        *[f"| {name} | {value / 1e6:.2f} |" for name, value in rows],
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
