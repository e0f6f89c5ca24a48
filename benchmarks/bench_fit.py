"""Benchmark of the unbinned fit: precompute events/s, one 24k-event δC9 fit, toy throughput.

Run as ``python benchmarks/bench_fit.py``; warms the JIT first, then prints the numbers.
"""

import os
import time

import numpy as np

from hepc9.fit.likelihood import LikelihoodFit, event_coefficients, model_normalisation
from hepc9.fit.precompute import coefficient_table
from hepc9.fit.toys import fit_toys
from hepc9.generate.sampler import sample_events
from hepc9.physics.constants import SEED_MODEL, WilsonShifts, q2_limits


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    window = tuple(float(x) for x in q2_limits(SEED_MODEL))
    ev = sample_events(1_000_000, seed=1, shifts={"dc9": -0.82}, threads=1)
    small = {k: v[:24000] for k, v in ev.items()}
    # warm-up: JIT compilation and the q² table
    t = time.perf_counter()
    coefficient_table(("dc9",), WilsonShifts(), SEED_MODEL, window)
    table_build = time.perf_counter() - t
    event_coefficients(small)
    lf = LikelihoodFit.from_events(small)
    lf.fit()
    n = ev["q2"].size
    t_table = best_of(lambda: event_coefficients(ev), 3)
    sub = {k: v[:200_000] for k, v in ev.items()}
    t_exact = best_of(lambda: event_coefficients(sub, exact=True), 2)
    print(f"q² table build (δC9, full range): {table_build * 1e3:.0f} ms")
    print(f"precompute, spline table (numba): {n / t_table / 1e6:.2f} M events/s")
    print(f"precompute, exact physics (numpy): {sub['q2'].size / t_exact / 1e6:.2f} M events/s")

    t_fit = best_of(lambda: lf.fit(), 20)
    res = lf.fit()
    print(f"one 24k-event δC9 fit (MIGRAD+HESSE): {t_fit * 1e3:.2f} ms ({res.nfcn} calls)")
    slow = LikelihoodFit(
        lf.nll.coefficients, lf.nll.normalisation, q2_range=window, use_numba=False
    )
    slow.fit()
    t_slow = best_of(lambda: slow.fit(), 20)
    print(f"same fit with the numpy NLL twin: {t_slow * 1e3:.2f} ms")
    from iminuit import Minuit
    from iminuit.cost import UnbinnedNLL

    from hepc9.fit.likelihood import monomials

    coeffs, norm_p = lf.nll.coefficients, lf.nll.normalisation

    def pdf(x, dc9):
        m = monomials(np.array([dc9]))
        return (x.T @ m) / (norm_p @ m)

    cost = UnbinnedNLL(np.ascontiguousarray(coeffs.T), pdf)

    def cost_fit():
        m = Minuit(cost, dc9=0.0)
        m.migrad()
        m.hesse()
        return m

    mc = cost_fit()
    t_cost = best_of(cost_fit, 10)
    print(
        f"same fit with iminuit.cost.UnbinnedNLL (numpy pdf, numerical derivatives): "
        f"{t_cost * 1e3:.2f} ms ({mc.nfcn} calls, dc9 = {mc.values[0]:.4f} vs "
        f"{res.values['dc9']:.4f})"
    )
    t_minos = best_of(lambda: lf.fit(minos=True), 10)
    print(f"with MINOS: {t_minos * 1e3:.2f} ms")
    norm = model_normalisation(q2_range=window)
    t_norm = best_of(lambda: model_normalisation(q2_range=window), 3)
    print(f"normalisation matrix (physics quadrature): {t_norm * 1e3:.1f} ms, {norm.size} entries")

    fit_toys(4, 24000, truth={"dc9": -0.82}, seed=3, workers=1)
    for workers in (1, 2):
        t = time.perf_counter()
        n_toys = 40
        fit_toys(n_toys, 24000, truth={"dc9": -0.82}, seed=4, workers=workers)
        dt = time.perf_counter() - t
        print(
            f"toys (generate 24k + precompute + fit), {workers} worker(s): {n_toys / dt:.1f} toys/s"
        )
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
