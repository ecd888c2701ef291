"""Benchmark: exact output laws by enumeration on q**n = 1024 cells (issue 3, item 4).

Runs :func:`verify.exact_law` (the real sampler code with every random choice
enumerated) for the sequential, AGR24 and autospeculative samplers on
``random_table(10, 2, rng=10)`` in a fixed order, plus the autospeculative sampler
in random order on small n. Prints, per run, the TV to the target, the mass the
enumeration left out, the program executions, the residual loops closed in closed
form and the wall time; writes ``benchmarks/results/exact_law.json``.

Also ``random_table(5, 4)`` (1024 cells, q = 4). Run: ``python
benchmarks/exact_law.py [--quick]`` (``--quick``: n = 8, and n = 4 for q = 4 and the
random order).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distributions.families import random_table
from samplers.catalogue import make_sampler
from verify.exact_law import exact_law

RESULTS = Path(__file__).resolve().parent / "results"


def _runs(quick: bool) -> list[tuple[str, int, int, Callable[[Any], Any], float]]:
    n, n_random, n4 = (8, 4, 4) if quick else (10, 5, 5)
    ident = {"order": "identity", "validate": False}
    rand = {"order": "random", "validate": False}
    return [
        ("sequential", n, 2, lambda o: make_sampler("sequential", o, **ident), 1e-12),
        ("agr24 k=2", n, 2, lambda o: make_sampler("agr24", o, k=2, **ident), 1e-12),
        ("agr24 default k", n, 2, lambda o: make_sampler("agr24", o, **ident), 1e-13),
        ("autospeculative", n, 2, lambda o: make_sampler("autospeculative", o, **ident), 1e-12),
        ("autospeculative", n4, 4, lambda o: make_sampler("autospeculative", o, **ident), 1e-12),
        ("autospeculative (random order)", n_random, 2,
         lambda o: make_sampler("autospeculative", o, **rand), 1e-12),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = []
    print(f"{'sampler':32} {'n':>3} {'q':>3} {'cells':>6} {'TV':>9} {'cut mass':>9} "
          f"{'executions':>10} {'closures':>8} {'seconds':>8}")
    for name, size, q, factory, tol in _runs(args.quick):
        target = random_table(size, q, rng=size)
        t0 = time.perf_counter()
        res = exact_law(factory, target, tol=tol, rational=False, max_paths=5_000_000)
        secs = time.perf_counter() - t0
        row = {"sampler": name, "n": size, "q": q, "cells": q**size, "tol": tol, "tv": res.tv,
               "tv_upper": res.tv_upper, "truncated_mass": res.truncated_mass,
               "executions": res.executions, "closures": res.closures, "seconds": secs}
        rows.append(row)
        print(f"{name:32} {size:>3} {q:>3} {q**size:>6} {res.tv:>9.2e} {res.truncated_mass:>9.2e} "
              f"{res.executions:>10,} {res.closures:>8} {secs:>8.1f}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "exact_law.json"
    out.write_text(json.dumps({"quick": args.quick, "runs": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
