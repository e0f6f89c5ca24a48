"""Pull width and MINOS coverage of the detector-like fit with 44 % background (issue 14, item 7).

Every pseudo-experiment draws its own efficiency simulation and its own sideband
(:func:`hepc9.fit.coverage.detector_coverage`), so the template and efficiency components of the
error are tested together with the statistical one.  Prints the pull mean and width (total
errors, and statistical errors alone), the coverage of the statistical MINOS interval and of the
interval widened by the components, each with its statistical error.

Run: ``python benchmarks/bench_fit_detector_coverage.py --experiments 200 --events 4000``
"""

import argparse
import json
import time
from pathlib import Path

from hepc9.fit.coverage import detector_coverage


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiments", type=int, default=200)
    p.add_argument("--events", type=int, default=4000)
    p.add_argument("--efficiency-events", type=int, default=40_000)
    p.add_argument("--sideband-events", type=int, default=4000)
    p.add_argument("--truth", type=float, default=-0.82)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("-o", "--output", type=Path)
    args = p.parse_args()
    t = time.perf_counter()
    res = detector_coverage(args.experiments, args.events, truth=args.truth,
                            efficiency_events=args.efficiency_events,
                            sideband_events=args.sideband_events, seed=args.seed)
    res["seconds"] = time.perf_counter() - t
    rows = res.pop("experiments")
    print(json.dumps(res, indent=1))
    if args.output:
        args.output.write_text(json.dumps({**res, "experiments": rows}, indent=1))


if __name__ == "__main__":
    main()
