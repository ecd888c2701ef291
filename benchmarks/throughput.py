"""Samples per second of each discrete sampler on one core (issue 7, item 5).

Targets: ``random_table(10, 2)`` and MixtureOfProducts with n = 1024 and 2
components (P(x_i = 1) = 0.7 / 0.3). Samplers: sequential, AGR24 with
k = ceil(n^(1/3)) and k = ceil(n^(1/2)), autospeculative (default rho). Each is
run with oracle validation on and off. BLAS/OpenMP threads are pinned to 1 before
numpy is imported. Reported: samples/s by wall clock and by process CPU time (the
latter is robust to other load on the machine), with the batch size used.

Run with ``python benchmarks/throughput.py [--quick]``; writes
``benchmarks/results/throughput.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from distributions.families import random_table  # noqa: E402
from samplers.catalogue import BENCHMARK_SAMPLERS as SAMPLERS  # noqa: E402
from samplers.catalogue import make_family  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def measure(sampler: Any, batch: int, min_seconds: float, seed: int) -> dict[str, float]:
    """Samples per second of ``sample(batch)`` calls, repeated until ``min_seconds``
    of CPU time have passed (at least one call), after a small warm-up call (lazy
    tables, caches). Vectorised samplers are faster per sample in larger batches,
    so the batch is reported with the rate."""
    sampler.sample(2, rng=seed)
    done, reps = 0, 0
    w0, c0 = time.perf_counter(), time.process_time()
    while True:
        sampler.sample(batch, rng=seed + 1 + reps)
        done += batch
        reps += 1
        if time.process_time() - c0 >= min_seconds:
            break
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0
    return {"samples": done, "batch": batch, "wall_s": wall, "cpu_s": cpu,
            "samples_per_s_wall": done / wall, "samples_per_s_cpu": done / cpu}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs (~1 min)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=pathlib.Path, default=RESULTS / "throughput.json")
    args = ap.parse_args(argv)
    min_seconds = 1.0 if args.quick else 5.0
    targets = {
        "random_table(10, 2)": (
            random_table(10, 2, rng=args.seed), 4096 if args.quick else 100_000
        ),
        "mixture-2 n=1024": (make_family("mixture2", 1024), 32 if args.quick else 256),
    }
    rows = []
    for tname, (d, batch) in targets.items():
        for sname, make in SAMPLERS.items():
            for validate in (True, False):
                res = measure(make(d, validate), batch, min_seconds, args.seed)
                row = {"target": tname, "sampler": sname, "validate": validate, **res}
                rows.append(row)
                print(f"{tname:20s} {sname:14s} validate={validate!s:5s} batch={res['batch']:6d} "
                      f"{res['samples_per_s_wall']:11.1f} samples/s wall "
                      f"{res['samples_per_s_cpu']:11.1f} samples/s cpu", flush=True)
    print("\n## samples per second (one core; wall clock / CPU time)\n")
    print("| target | sampler | validate=True | validate=False |")
    print("|---|---|---|---|")
    for tname in targets:
        for sname in SAMPLERS:
            cell = {}
            for r in rows:
                if r["target"] == tname and r["sampler"] == sname:
                    cell[r["validate"]] = (f"{r['samples_per_s_wall']:.1f} / "
                                           f"{r['samples_per_s_cpu']:.1f}")
            print(f"| {tname} | {sname} | {cell[True]} | {cell[False]} |")
    out = {
        "meta": {"quick": args.quick, "seed": args.seed, "min_seconds": min_seconds,
                 "python": platform.python_version(), "numpy": np.__version__,
                 "machine": platform.machine(), "loadavg": os.getloadavg()},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"\nwrote {args.out}")
    return out


if __name__ == "__main__":
    main()
