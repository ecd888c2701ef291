"""Round and query scaling of the discrete samplers (issue 7, item 5).

For every family and sampler, n = 2^6, 2^7, ... until the time budget runs out:
mean and median rounds per sample with 95% bootstrap intervals, the 99th percentile
and the maximum (flagged when above the sequential sampler's n rounds), mean
queries / (n log2 n), and a least-squares exponent of mean rounds in n (log-log)
with its 95% interval.
Prints tables, writes ``benchmarks/results/rounds.json`` and the log-log figure
``benchmarks/results/rounds.png``.

Samplers: sequential, AGR24 with k = ceil(n^(1/3)) and k = ceil(n^(1/2)), and the
autospeculative sampler (default rho = 1/log2 n). Families: MixtureOfProducts with
2 components (P(x_i = 1) = 0.7 / 0.3) and 8 components (seeded random
probabilities), CurieWeiss beta = 0.5 and 1.0, IsingChain coupling 2.

Run with ``python benchmarks/rounds.py [--quick] [--budget SECONDS]``. The budget
is process CPU time (one core), so a loaded machine does not shrink the study;
the JSON is rewritten after every cell, and ``--from-json FILE`` reprints the
tables and redraws the figure from a saved run. Oracle
answers are not validated here (``validate=False``): validation changes speed
only, never rounds or queries (checked once at start-up on a small case).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from samplers.catalogue import BENCHMARK_SAMPLERS as SAMPLERS  # noqa: E402
from samplers.catalogue import PINNING_FAMILIES  # noqa: E402
from verify.fits import fit_power_law  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
MAX_CHUNK_ENTRIES = 2**22  # samples per sampler call: chunk * n <= this


# ---------------------------------------------------------------------- families
#: display name -> builder(n): the benchmark families of :data:`samplers.catalogue.PINNING_FAMILIES`
FAMILIES: dict[str, Callable[[int], Any]] = {
    label: PINNING_FAMILIES[name].build for label, name in (
        ("mixture-2 (0.7/0.3)", "mixture2"),
        ("mixture-8", "mixture8"),
        ("curie-weiss beta=0.5", "curie-weiss-0.5"),
        ("curie-weiss beta=1.0", "curie-weiss-1.0"),
        ("ising-chain J=2", "ising-chain-2"),
    )
}


# ---------------------------------------------------------------------- helpers
def run_sampler(sampler: Any, num: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-sample rounds and queries of ``num`` samples (chunked), and CPU seconds."""
    chunk = max(1, min(num, MAX_CHUNK_ENTRIES // sampler.n))
    seqs = np.random.SeedSequence(seed).spawn(-(-num // chunk))
    rounds, queries = [], []
    t0 = time.process_time()
    for i, ss in enumerate(seqs):
        res = sampler.sample(min(chunk, num - i * chunk), rng=np.random.default_rng(ss))
        rounds.append(res.rounds)
        queries.append(res.queries)
    return np.concatenate(rounds), np.concatenate(queries), time.process_time() - t0


def bootstrap_ci(values: np.ndarray, stat: Callable, seed: int) -> tuple[float, float]:
    """95% percentile bootstrap interval (degenerate data gives a point interval)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or np.all(values == values[0]):
        v = float(stat(values))
        return v, v
    res = stats.bootstrap((values,), stat, confidence_level=0.95, n_resamples=2000,
                          method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _exponent(ns: list[int], means: list[float]) -> float | None:
    """Fitted exponent of mean rounds against n (:func:`verify.fits.fit_power_law`);
    None with fewer than two points."""
    return fit_power_law(ns, means).gamma if len(ns) >= 2 else None


def _interval(ns: list[int], means: list[float]) -> list[float] | None:
    """95% interval of the fitted exponent; None with fewer than three points."""
    if len(ns) < 3:
        return None
    f = fit_power_law(ns, means)
    return [f.gamma_low, f.gamma_high]


def num_samples(n: int, quick: bool) -> int:
    if quick:
        return 50
    return 200 if n <= 1024 else max(32, 200 * 1024 // n)


def check_validate_invariance() -> None:
    """validate=True/False give identical rounds and queries for the same seed."""
    d = PINNING_FAMILIES["mixture2"].build(64)
    for make in SAMPLERS.values():
        a = make(d, True).sample(20, rng=5)
        b = make(d, False).sample(20, rng=5)
        assert np.array_equal(a.rounds, b.rounds) and np.array_equal(a.queries, b.queries)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 2^6..2^8, 50 samples, ~1 min")
    ap.add_argument("--budget", type=float, default=600.0,
                    help="total CPU seconds (default 600)")
    ap.add_argument("--from-json", type=pathlib.Path, default=None,
                    help="only print tables and plot from a saved rounds.json")
    ap.add_argument("--max-log2n", type=int, default=14)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--out", type=pathlib.Path, default=RESULTS / "rounds.json")
    args = ap.parse_args(argv)
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        print_tables(saved["rows"], saved["exponents"])
        plot(saved["rows"], args.from_json.with_suffix(".png"))
        return saved
    max_log2n = min(args.max_log2n, 8) if args.quick else args.max_log2n
    budget = min(args.budget, 120.0) if args.quick else args.budget
    cell_cap = budget / 6  # no single (family, sampler, n) cell may take longer

    check_validate_invariance()
    start = time.process_time()
    wall_start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    alive = {(f, s): True for f in FAMILIES for s in SAMPLERS}
    last_time: dict[tuple[str, str], list[float]] = {key: [] for key in alive}
    seed_ss = np.random.SeedSequence(args.seed)
    for log2n in range(6, max_log2n + 1):
        n = 2**log2n
        num = num_samples(n, args.quick)
        for fam, make_d in FAMILIES.items():
            todo = [s for s in SAMPLERS if alive[(fam, s)]]
            if not todo:
                continue
            d = make_d(n)
            for sname in todo:
                hist = last_time[(fam, sname)]
                growth = max(2.0, hist[-1] / hist[-2]) if len(hist) >= 2 else 4.0
                predicted = hist[-1] * growth if hist else 0.0
                elapsed = time.process_time() - start
                if hist and (predicted > cell_cap or elapsed + predicted > budget):
                    alive[(fam, sname)] = False
                    print(f"  [stop] {fam} / {sname} at n={n}: predicted {predicted:.0f}s "
                          f"(elapsed {elapsed:.0f}s of {budget:.0f}s)", flush=True)
                    continue
                seed = int(seed_ss.generate_state(1)[0]) ^ (log2n * 7919)
                rounds, queries, secs = run_sampler(SAMPLERS[sname](d, False), num, seed)
                hist.append(secs * num_samples(2 * n, args.quick) / num)
                lo_m, hi_m = bootstrap_ci(rounds, np.mean, seed)
                lo_md, hi_md = bootstrap_ci(rounds, np.median, seed + 1)
                row = {
                    "family": fam, "sampler": sname, "n": n, "num": int(num),
                    "mean_rounds": float(rounds.mean()), "mean_ci": [lo_m, hi_m],
                    "median_rounds": float(np.median(rounds)), "median_ci": [lo_md, hi_md],
                    "p99_rounds": float(np.percentile(rounds, 99)),
                    "max_rounds": int(rounds.max()),
                    "max_exceeds_sequential": bool(rounds.max() > n),
                    "mean_queries": float(queries.mean()),
                    "queries_per_nlogn": float(queries.mean() / (n * math.log2(n))),
                    "seconds": secs,
                }
                rows.append(row)
                print(f"{fam:22s} {sname:14s} n={n:6d} num={num:4d} "
                      f"rounds mean {row['mean_rounds']:9.2f} [{lo_m:.2f}, {hi_m:.2f}] "
                      f"median {row['median_rounds']:8.1f}  q/(n log n) "
                      f"{row['queries_per_nlogn']:.3f}  {secs:6.1f}s cpu", flush=True)
                save(args, budget, start, wall_start, rows)

    out = save(args, budget, start, wall_start, rows)
    print_tables(rows, out["exponents"])
    plot(rows, args.out.with_suffix(".png"))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.png')}")
    return out


def exponents_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    exponents = {}
    for fam in FAMILIES:
        for sname in SAMPLERS:
            sel = [r for r in rows if r["family"] == fam and r["sampler"] == sname]
            ns = [r["n"] for r in sel]
            means = [r["mean_rounds"] for r in sel]
            exponents[f"{fam} | {sname}"] = {
                "exponent_all": _exponent(ns, means),
                "exponent_last3": _exponent(ns[-3:], means[-3:]),
                "exponent_interval": _interval(ns, means),
                "n_range": [min(ns), max(ns)] if ns else None,
            }
    return exponents


def save(args: argparse.Namespace, budget: float, start: float, wall_start: float,
         rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {
        "meta": {"budget_cpu_s": budget, "quick": args.quick, "seed": args.seed,
                 "python": platform.python_version(), "numpy": np.__version__,
                 "machine": platform.machine(), "validate": False,
                 "cpu_seconds": time.process_time() - start,
                 "wall_seconds": time.perf_counter() - wall_start},
        "rows": rows,
        "exponents": exponents_of(rows),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    return out


def print_tables(rows: list[dict[str, Any]], exponents: dict[str, Any]) -> None:
    ns = sorted({r["n"] for r in rows})
    for title, key, fmt in (("mean rounds", "mean_rounds", "{:9.1f}"),
                            ("median rounds", "median_rounds", "{:9.1f}"),
                            ("99th percentile of rounds", "p99_rounds", "{:9.1f}"),
                            ("maximum rounds (* above the sequential n)", "max_rounds", "{:9}"),
                            ("queries / (n log2 n)", "queries_per_nlogn", "{:9.3f}")):
        print(f"\n## {title}\n")
        print(f"| {'family':22s} | {'sampler':14s} | " + " | ".join(f"{n:>9d}" for n in ns) + " |")
        print("|" + "---|" * (2 + len(ns)))
        for fam in FAMILIES:
            for sname in SAMPLERS:
                cells = {r["n"]: r[key] for r in rows
                         if r["family"] == fam and r["sampler"] == sname}
                flag = {r["n"]: r.get("max_exceeds_sequential", False) and key == "max_rounds"
                        for r in rows if r["family"] == fam and r["sampler"] == sname}
                vals = [(f"{str(cells[n]) + ('*' if flag[n] else ''):>9s}" if key == "max_rounds"
                         else fmt.format(cells[n])) if n in cells else f"{'-':>9s}"
                        for n in ns]
                print(f"| {fam:22s} | {sname:14s} | " + " | ".join(vals) + " |")
    print("\n## mean-rounds 95% bootstrap intervals at the largest n per cell\n")
    for fam in FAMILIES:
        for sname in SAMPLERS:
            sel = [r for r in rows if r["family"] == fam and r["sampler"] == sname]
            if sel:
                r = sel[-1]
                print(f"{fam:22s} {sname:14s} n={r['n']:6d}: mean {r['mean_rounds']:.1f} "
                      f"[{r['mean_ci'][0]:.1f}, {r['mean_ci'][1]:.1f}], median "
                      f"{r['median_rounds']:.1f} "
                      f"[{r['median_ci'][0]:.1f}, {r['median_ci'][1]:.1f}]")
    print("\n## fitted exponent of mean rounds in n (least squares, log-log)\n")
    print(f"| {'family | sampler':40s} | all n | 95% interval | last 3 n | n range |")
    print("|---|---|---|---|---|")
    for key, e in exponents.items():
        a = "-" if e["exponent_all"] is None else f"{e['exponent_all']:.3f}"
        b = "-" if e["exponent_last3"] is None else f"{e['exponent_last3']:.3f}"
        iv = e.get("exponent_interval")
        c = "-" if iv is None else f"[{iv[0]:.3f}, {iv[1]:.3f}]"
        print(f"| {key:40s} | {a:>5s} | {c:>12s} | {b:>8s} | {e['n_range']} |")


def plot(rows: list[dict[str, Any]], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams = list(FAMILIES)
    fig, axes = plt.subplots(1, len(fams), figsize=(4.2 * len(fams), 4), sharey=True)
    for ax, fam in zip(np.atleast_1d(axes), fams, strict=True):
        for sname in SAMPLERS:
            sel = [r for r in rows if r["family"] == fam and r["sampler"] == sname]
            if not sel:
                continue
            ns = np.array([r["n"] for r in sel])
            m = np.array([r["mean_rounds"] for r in sel])
            lo = np.array([r["mean_ci"][0] for r in sel])
            hi = np.array([r["mean_ci"][1] for r in sel])
            line = ax.errorbar(ns, m, yerr=[m - lo, hi - m], marker="o", ms=3, capsize=2,
                               label=f"{sname} mean")
            color = line[0].get_color()
            ax.plot(ns, [r["median_rounds"] for r in sel], "x", color=color, ms=4)
            if all("p99_rounds" in r for r in sel):
                ax.plot(ns, [r["p99_rounds"] for r in sel], ":", color=color, lw=1)
            ax.plot(ns, [r["max_rounds"] for r in sel], "--", color=color, lw=0.8)
        top = sorted({r["n"] for r in rows if r["family"] == fam})
        ax.plot(top, top, "k-", lw=0.6, alpha=0.5, label="sequential (n)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(fam, fontsize=9)
        ax.set_xlabel("n")
        ax.grid(True, which="both", alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("rounds per sample: mean (95% CI), x median, "
                                      ": p99, -- max")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
