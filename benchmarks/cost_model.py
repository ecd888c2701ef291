"""Is it faster on my model? Modelled wall time per sample for a real oracle (issue 14, item 4).

A neural oracle's call costs a fixed latency ``L`` (kernel launches, host/device copies,
Python) plus ``c`` per context row::

    wall(one sample(B) call) = calls x L + rows x c,     per sample = wall / B

where ``calls`` is the number of oracle calls the sampler makes for the batch of ``B``
samples and ``rows`` the context rows evaluated. Both are *measured* here on each family
by running the samplers (sequential, AGR24 with ``k = ceil(n^(1/3))``, autospeculative)
at several batch sizes ``B``. For the autospeculative sampler two call counts are given:
the calls the current implementation makes (its lock-step block calls: the calls of
blocks at different ``(a, b)`` are not merged) and the ideal of a scheduler that gathers
every pending block call of a round into one oracle call, ``max_i rounds_i`` (the largest
per-sample rounds of the batch; issue 14, item 1), evaluating only the rows charged to the
samples (``sum_i queries_i``: the current implementation also evaluates the discarded
look-ahead trials of its residual loops, real rows for a real model). The table gives
the modelled time per sample and the winner at each ``B``; the last line per family is
the smallest ``B`` at which each parallel sampler beats the sequential one, if any in
the grid.

Default ``L`` and ``c`` are measured here from a batched float32 MLP oracle on CPU (the
architecture of :mod:`distributions.trained`: one-hot input of ``n (q + 1)`` features, a
ReLU hidden layer of ``H`` units, ``n q`` logits, softmax), by timing one forward pass at
batch sizes 1 to 1024 (process CPU time of a block of calls) and fitting
``time = L + c B`` by relative least squares. Pass ``--latency``
and ``--row-cost`` (seconds) for your own model.

Measuring ``L`` and ``c`` on a GPU
----------------------------------
Time your network's forward pass (plus the host copy of its answer: the guard copies
each answer to the host once per call) at batch sizes ``B = 1, 2, 4, ..., 4096`` of
contexts of your ``n``: warm up first (compilation, cuDNN autotuning), then per ``B``
take the median of ~20 calls, each ended by a device synchronisation
(``torch.cuda.synchronize()``, ``jax.block_until_ready(out)``, ``cupy.cuda.Device().
synchronize()``) and timed with ``time.perf_counter``. Fit ``time = L + c B`` on the
range of ``B`` your samplers use; a GPU is flat (``time ~ L``) until it saturates, so
fit ``c`` on the saturated part and read ``L`` at ``B = 1``. Typical orders: ``L`` of
tens of microseconds to a millisecond, ``c`` of nanoseconds to microseconds per row.

Run with ``python benchmarks/cost_model.py [--quick] [--latency L --row-cost c]``;
writes ``benchmarks/results/cost_model.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from distributions.families import random_table  # noqa: E402
from distributions.scalable import CurieWeiss, IsingChain  # noqa: E402
from samplers import AGR24Sampler, AutospeculativeSampler, SequentialSampler  # noqa: E402
from samplers.catalogue import make_family  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def mlp_costs(n: int, q: int, hidden: int, seed: int) -> dict[str, float]:
    """``L`` and ``c`` (seconds) of a batched float32 MLP forward pass on this CPU."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((n * (q + 1), hidden)).astype(np.float32) * 0.05
    b1 = np.zeros(hidden, np.float32)
    w2 = rng.standard_normal((hidden, n * q)).astype(np.float32) * 0.05
    b2 = np.zeros(n * q, np.float32)

    def forward(x: np.ndarray) -> np.ndarray:
        B = x.shape[0]
        feats = np.zeros((B, n, q + 1), np.float32)
        np.put_along_axis(feats, np.where(x < 0, q, x)[..., None], np.float32(1.0), axis=2)
        h = np.maximum(feats.reshape(B, -1) @ w1 + b1, np.float32(0.0))
        z = (h @ w2 + b2).reshape(B, n, q)
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    sizes = [2**k for k in range(11)]
    times = []
    for B in sizes:
        x = rng.integers(-1, q, size=(B, n))
        forward(x)  # warm-up
        reps = max(3, 2048 // B)  # CPU time of a block of calls: robust to other load
        t0 = time.process_time()
        for _ in range(reps):
            forward(x)
        times.append((time.process_time() - t0) / reps)
    # relative least squares (weights 1 / time): the small batches fix L, the large c
    t = np.array(times)
    c, L = np.polyfit(np.array(sizes, float), t, 1, w=1.0 / t)
    return {"latency_s": float(L), "row_cost_s": float(c),
            "n": n, "q": q, "hidden": hidden, "sizes": sizes, "times_s": times}


def families(quick: bool) -> dict[str, Any]:
    n = 64 if quick else 256
    return {
        "random_table(10, 2)": random_table(10, 2, rng=0),
        f"MixtureOfProducts(n={n})": make_family("mixture2", n),
        f"CurieWeiss({n}, beta=1)": CurieWeiss(n, 1.0),
        f"IsingChain({n}, coupling=2)": IsingChain(n, 2.0),
    }


def counts(target: Any, batches: list[int], seed: int) -> dict[str, list[dict[str, float]]]:
    """Measured calls and rows per ``sample(B)`` for each sampler and batch size."""
    k = math.ceil(target.n ** (1 / 3))
    makers = {"sequential": lambda: SequentialSampler(target),
              "agr24": lambda: AGR24Sampler(target, k=k),
              "autospec": lambda: AutospeculativeSampler(target)}
    out: dict[str, list[dict[str, float]]] = {}
    for name, make in makers.items():
        rows = []
        for B in batches:
            s = make()
            res = s.sample(B, rng=seed + B)
            entry = {"B": B, "calls": s.oracle.calls, "rows": s.oracle.rows,
                     "max_rounds": int(res.rounds.max()), "queries": int(res.queries.sum())}
            rows.append(entry)
        out[name] = rows
    return out


def modelled(entry: dict[str, float], L: float, c: float, ideal: bool) -> float:
    if ideal:  # one call per round of the slowest sample; only the charged rows
        return (entry["max_rounds"] * L + entry["queries"] * c) / entry["B"]
    return (entry["calls"] * L + entry["rows"] * c) / entry["B"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 64 and smaller batches")
    ap.add_argument("--latency", type=float, help="per-call latency L in seconds")
    ap.add_argument("--row-cost", type=float, help="per-row cost c in seconds")
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args(argv)
    mlp = mlp_costs(64 if args.quick else 256, 2, 256, args.seed)
    L = mlp["latency_s"] if args.latency is None else args.latency
    c = mlp["row_cost_s"] if args.row_cost is None else args.row_cost
    print(f"MLP oracle (n={mlp['n']}, q=2, H={mlp['hidden']}, float32, 1 core): "
          f"fit L = {mlp['latency_s'] * 1e6:.1f} us, c = {mlp['row_cost_s'] * 1e6:.3f} us/row")
    print(f"model: L = {L * 1e6:.1f} us per call, c = {c * 1e6:.3f} us per row")
    batches = [1, 4, 16] if args.quick else [1, 4, 16, 64]
    result: dict[str, Any] = {"mlp": mlp, "latency_s": L, "row_cost_s": c, "families": {}}
    variants = (("sequential", False), ("agr24", False), ("autospec", False),
                ("autospec-ideal", True))
    for label, target in families(args.quick).items():
        cnt = counts(target, batches, args.seed)
        print(f"\n{label}: modelled ms per sample (calls x L + rows x c) / B")
        print(f"{'B':>5} " + " ".join(f"{v:>15}" for v, _ in variants) + "  winner")
        table = []
        for i, B in enumerate(batches):
            times = {v: modelled(cnt[v.split('-')[0]][i], L, c, ideal) for v, ideal in variants}
            win = min(times, key=times.__getitem__)
            print(f"{B:>5} " + " ".join(f"{1e3 * times[v]:>15.3f}" for v, _ in variants)
                  + f"  {win}")
            table.append({"B": B, "ms_per_sample": {v: 1e3 * t for v, t in times.items()},
                          "winner": win})
        wins = {}
        for v, _ in variants[1:]:
            beat = [row["B"] for row in table
                    if row["ms_per_sample"][v] < row["ms_per_sample"]["sequential"]]
            wins[v] = min(beat) if beat else None
        print("beats sequential from B = " + ", ".join(
            f"{v}: {b if b is not None else 'never in grid'}" for v, b in wins.items()))
        result["families"][label] = {"counts": cnt, "table": table, "beats_sequential": wins}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cost_model.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
