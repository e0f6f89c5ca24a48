"""Throughput of the physics model (numpy): J_i evaluation and per-event quadratic forms.

Run as ``python benchmarks/bench_physics.py [--n N] [--repeat R]``.  Prints, per wall-clock
second and per CPU second of this process (the latter is steadier on a shared machine),
points/s for
``angular_coefficients`` (the twelve J_i), ``differential_rate`` (4D rate), events/s for
``quadratic_coefficients`` with k = 1, 2 and 6 free shifts, and the time of
``normalisation_matrix`` and ``total_rate``.  The baseline for the quadratic form is the
direct route it replaces: evaluating the 4D rate once per likelihood point.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hepc9.physics.angular import angular_coefficients
from hepc9.physics.constants import SHIFT_NAMES, WilsonShifts
from hepc9.physics.quadratic import normalisation_matrix, quadratic_coefficients, quadratic_form
from hepc9.physics.rate import differential_rate, total_rate

CPU_TIMES: dict[int, float] = {}


def best_of(func, repeat):
    """Best wall time of ``repeat`` calls; the best CPU time is kept in CPU_TIMES[id(func)]."""
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        func()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    CPU_TIMES[id(func)] = min(cpus)
    return min(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200_000, help="points per call")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    n = args.n
    q2 = rng.uniform(0.05, 19.2, n)
    ctl, ctk = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    chi = rng.uniform(0, 2 * np.pi, n)
    mkpi = rng.uniform(0.8, 1.0, n)

    rows = []

    def measure(name, func, unit):
        wall = best_of(func, args.repeat)
        rows.append((name, n / wall, n / max(CPU_TIMES[id(func)], 1e-12), unit))

    measure("angular_coefficients (12 J_i), narrow K*", lambda: angular_coefficients(q2), "pts/s")
    measure(
        "angular_coefficients, per-event m(Kπ)",
        lambda: angular_coefficients(q2 * 0.9, mkpi=mkpi),
        "pts/s",
    )
    measure("differential_rate (4D)", lambda: differential_rate(q2, ctl, ctk, chi), "ev/s")
    for params in (("dc9",), ("dc9", "dc10"), SHIFT_NAMES):
        measure(
            f"quadratic_coefficients k={len(params)}",
            lambda p=params: quadratic_coefficients(q2, ctl, ctk, chi, params=p),
            "ev/s",
        )
    m = quadratic_coefficients(q2, ctl, ctk, chi)
    measure("  then rate at a new δC9: quadratic_form", lambda: quadratic_form(m, [0.3]), "ev/s")
    measure(
        "  baseline: differential_rate at a new δC9",
        lambda: differential_rate(q2, ctl, ctk, chi, shifts=WilsonShifts(dc9=0.3)),
        "ev/s",
    )
    t_norm = best_of(lambda: normalisation_matrix(params=SHIFT_NAMES), args.repeat)
    t_tot = best_of(lambda: total_rate(), args.repeat)

    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  {'per wall s':>12} {'per CPU s':>12}")
    for name, rate, cpu_rate, unit in rows:
        print(f"{name:<{width}}  {rate:12.3e} {cpu_rate:12.3e} {unit}")
    print(f"{'normalisation_matrix k=6 (rtol 1e-10)':<{width}}  {t_norm * 1e3:12.1f} ms")
    print(f"{'total_rate (rtol 1e-10)':<{width}}  {t_tot * 1e3:12.1f} ms")


if __name__ == "__main__":
    main()
