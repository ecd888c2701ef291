"""Share of the oracle guard in sampler time, float32 answers (issue 12, "Speed").

The target is ``MixtureOfProducts(n=1024)`` (2 components, 0.7 / 0.3) answering in
float32, as a network would: its float64 rows are cast to float32 by a thin wrapper.
Each sampler (sequential, AGR24, autospeculative) is timed (process CPU time) with
the guard on. The guard's own time is then measured alone: the same run is repeated
recording every answer, and a fresh guard replays those calls on an oracle that hands
back the recorded answers at no cost; its CPU time (conversion to float64, the
contract checks, and the float64 renormalisation of the rows that float32 rounding
left off 1 by more than 1e-9) over the sampler's CPU time is the guard's share.
Target: at most 10%. The rows the guard renormalised are printed too (the count lives
on the guard, ``CountingOracle.renormalized``).

Run with ``python benchmarks/guard_share.py [--quick]``; writes
``benchmarks/results/guard_share.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from distributions.base import MASK  # noqa: E402
from samplers import AGR24Sampler, AutospeculativeSampler, SequentialSampler  # noqa: E402
from samplers.catalogue import make_family  # noqa: E402
from samplers.oracle import CountingOracle  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


class Float32Answers:
    """A positional oracle answering in float32, optionally recording its answers."""

    def __init__(self, inner: Any, record: bool = False) -> None:
        self.inner, self.n, self.q = inner, inner.n, inner.q
        self.calls: list[tuple[tuple[int, int], np.ndarray, np.ndarray | None, np.ndarray]] = []
        self.record = record

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        return self.inner.conditionals(x).astype(np.float32)

    def conditionals_at(self, x: np.ndarray, positions: np.ndarray,
                        chain_values: np.ndarray | None = None) -> np.ndarray:
        out = self.inner.conditionals_at(x, positions, chain_values).astype(np.float32)
        if self.record:
            self.calls.append((x.shape, np.array(positions),
                               None if chain_values is None else np.array(chain_values), out))
        return out


class Replay:
    """Answers recorded calls in order, at no cost (the guard's work alone remains)."""

    def __init__(self, n: int, q: int, answers: list[np.ndarray]) -> None:
        self.n, self.q, self.answers, self.k = n, q, answers, 0

    def conditionals(self, x: np.ndarray) -> np.ndarray:  # never called
        raise NotImplementedError

    def conditionals_at(self, x: np.ndarray, positions: np.ndarray,
                        chain_values: np.ndarray | None = None) -> np.ndarray:
        self.k += 1
        return self.answers[self.k - 1]


def share(cls: type, num: int, seed: int) -> dict[str, Any]:
    """Guard CPU time (replayed on the recorded answers) over sampler CPU time."""
    target = make_family("mixture2", 1024)
    sampler = cls(Float32Answers(target))
    sampler.sample(2, rng=seed)  # warm-up
    sampler.oracle.reset()
    c0 = time.process_time()
    sampler.sample(num, rng=seed + 1)
    total = time.process_time() - c0
    guard = sampler.oracle
    # the same run again, recording every call; then the guard alone on the answers
    rec = Float32Answers(target, record=True)
    cls(rec).sample(num, rng=seed + 1)
    replay = CountingOracle(Replay(target.n, target.q, [c[3] for c in rec.calls]))
    contexts = {shape: np.full(shape, MASK, dtype=np.int64) for shape, *_ in rec.calls}
    c0 = time.process_time()
    for shape, pos, vals, _ in rec.calls:
        replay.conditionals_at(contexts[shape], pos, vals)
    guard_s = time.process_time() - c0
    return {"sampler": cls.__name__, "batch": num, "total_s": total, "guard_s": guard_s,
            "guard_share": guard_s / total, "rows": guard.rows, "calls": guard.calls,
            "renormalized_rows": guard.renormalized, "dtype": guard.dtype, "tol": guard.tol}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller batches")
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args(argv)
    num = 32 if args.quick else 256
    rows = [share(cls, num, args.seed)
            for cls in (SequentialSampler, AGR24Sampler, AutospeculativeSampler)]
    print(f"{'sampler':24} {'batch':>5} {'total s':>8} {'guard s':>8} "
          f"{'guard share':>11} {'renormalised rows':>17} {'of rows':>8}")
    for r in rows:
        print(f"{r['sampler']:24} {r['batch']:>5} {r['total_s']:>8.2f} "
              f"{r['guard_s']:>8.2f} {r['guard_share']:>11.1%} "
              f"{r['renormalized_rows']:>17} {r['rows']:>8}")
    print(f"answers: {rows[0]['dtype']}, contract tolerance {rows[0]['tol']:.3g}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "guard_share.json").write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
