"""Benchmark: the symbolic certificates of issue 17, each with its time.

Runs every certificate of :data:`verify.symbolic.CERTIFICATES` (one core), each in a
fresh process (sympy's caches cold, as when it runs alone; the time is the one the
certificate measures, imports excluded), prints its outcome ("proved" or "not
proved" with the residual) and its wall time, and writes
``benchmarks/results/certificates.json``. Each must finish within the 30 s limit of
:func:`verify.symbolic.certify`. Run: ``python benchmarks/certificates.py [--quick]``
(``--quick``: the certificates that take a few seconds each, without q = 4, n = 3 and
the exact law over irrational weights).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from verify.symbolic import CERTIFICATES, Certificate, run_certificates

RESULTS = Path(__file__).resolve().parent / "results"
_HEAVY = ("speculative-step-q4", "block-recursion-n3", "exact-law-ising-irrational")


def _one(name: str) -> Certificate:
    return run_certificates([name])[0]


def _fresh(name: str) -> Certificate:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(_one, name).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    names = [n for n in CERTIFICATES if not (args.quick and n in _HEAVY)]
    t0 = time.perf_counter()
    certs = [_fresh(n) for n in names]
    total = time.perf_counter() - t0
    print(f"{'certificate':34} {'outcome':>11} {'seconds':>8}  residual")
    rows = []
    for c in certs:
        residual = c.residual if len(c.residual) <= 60 else c.residual[:57] + "..."
        print(f"{c.name:34} {c.outcome:>11} {c.seconds:8.2f}  {residual}")
        rows.append({"name": c.name, "proves": c.proves, "outcome": c.outcome,
                     "residual": c.residual, "seconds": c.seconds, "detail": c.detail})
    slowest = max(c.seconds for c in certs)
    print(f"total {total:.1f} s with process start-up; slowest {slowest:.1f} s "
          f"(limit {30:d} s each)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "certificates.json").write_text(json.dumps(
        {"quick": args.quick, "total_seconds": total, "certificates": rows}, indent=2))


if __name__ == "__main__":
    main()
