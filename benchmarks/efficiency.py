"""Sampler efficiency figures of issue 14, optionally against an earlier commit.

Printed, in one run, on one core (BLAS threads pinned to 1 before numpy is imported):

1. CPU time per context row (oracle query) of the autospeculative sampler and of the
   sequential sampler, and their ratio, on ``random_table(10, 2)``,
   ``MixtureOfProducts(n=1024)`` (2 components), ``CurieWeiss(1024, beta=1)`` and
   ``IsingChain(1024, coupling=2)`` (target of issue 14: ratio <= 2);
2. the autospeculative sampler's oracle calls per ``sample(num)`` against the largest
   per-sample rounds of that call (target: within 1.5x), and, on trees with the round
   scheduler (samplers/autospec_schedule.py), its global rounds and how many of them
   needed both a speculation and a chain-rule call; CPU time per charged query
   (``SampleResult.queries``) is printed next to the time per oracle row, since the
   guard's rows include look-ahead trials and padded or split rows;
3. the peak resident memory of a fresh process drawing 4 samples of
   ``IsingChain(n=100000)``, and the warnings it raised (target: < 300 MB, none);
4. the CPU time of ``check_exact(AutospeculativeSampler(t), t, tv=0.01)`` on
   ``random_table(10, 2, rng=0)`` (on trees with the round scheduler, also with
   ``schedule = "nested"``, the nested lock-step kernel, in the same run).

``--compare REV --check-repeats K`` runs only item 4 (default schedule), alternating
the two trees K times in fresh processes, and prints each pair's ratio and the median.

``--compare REV`` runs the same measurements, in a subprocess, on the tree of git
commit ``REV`` (exported with ``git archive`` to a temporary directory), so that the
"before" and "after" figures come from the same machine in the same run; ``--quick``
skips items 3 and 4 and uses smaller batches. Writes ``benchmarks/results/efficiency.json``.

Run with ``python benchmarks/efficiency.py [--quick] [--compare REV]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
ROOT = pathlib.Path(__file__).resolve().parents[1]

#: (label, builder, batch, quick batch) of the four targets of issue 14.
TARGETS: tuple[tuple[str, str, int, int], ...] = (
    ("random_table(10, 2)", "table", 20000, 2000),
    ("MixtureOfProducts(n=1024)", "mixture", 256, 32),
    ("CurieWeiss(1024, beta=1)", "curie-weiss", 16, 4),
    ("IsingChain(1024, coupling=2)", "ising-chain", 16, 4),
)


def build(name: str) -> Any:
    """The target ``name`` of :data:`TARGETS` (imports inside: runs on any tree)."""
    from distributions.families import random_table
    from distributions.scalable import CurieWeiss, IsingChain
    from samplers.catalogue import make_family

    if name == "table":
        return random_table(10, 2, rng=0)
    if name == "mixture":
        return make_family("mixture2", 1024)
    if name == "curie-weiss":
        return CurieWeiss(1024, 1.0)
    return IsingChain(1024, 2.0)


def per_row(quick: bool, seed: int) -> list[dict[str, Any]]:
    """Item 1 and 2: CPU seconds per oracle row, and calls against rounds."""
    from samplers import AutospeculativeSampler, SequentialSampler

    out = []
    for label, name, batch, quick_batch in TARGETS:
        num = quick_batch if quick else batch
        target = build(name)
        row: dict[str, Any] = {"target": label, "batch": num}
        for key, cls in (("sequential", SequentialSampler), ("autospec", AutospeculativeSampler)):
            sampler = cls(target)
            log: list[tuple[int, int]] = []
            if hasattr(sampler, "_schedule_log"):
                sampler._schedule_log = log
            sampler.sample(2, rng=seed)  # warm-up (lazy tables, caches)
            sampler.oracle.reset()
            log.clear()
            c0 = time.process_time()
            res = sampler.sample(num, rng=seed + 1)
            cpu = time.process_time() - c0
            rows = sampler.oracle.rows
            row[key] = {"cpu_s": cpu, "rows": rows, "calls": sampler.oracle.calls,
                        "us_per_row": 1e6 * cpu / rows,
                        "us_per_query": 1e6 * cpu / int(res.queries.sum()),
                        "max_rounds": int(res.rounds.max()),
                        "mean_queries_per_n": float(res.queries.mean()) / target.n}
            if log:
                row[key]["global_rounds"] = len(log)
                row[key]["rounds_with_both_forms"] = sum(1 for a, b in log if a and b)
        row["ratio"] = row["autospec"]["us_per_row"] / row["sequential"]["us_per_row"]
        row["ratio_per_query"] = (row["autospec"]["us_per_query"]
                                  / row["sequential"]["us_per_query"])
        row["calls_over_max_rounds"] = row["autospec"]["calls"] / row["autospec"]["max_rounds"]
        out.append(row)
    return out


_RSS_CHILD = """
import os, resource, sys, time, warnings
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
from distributions.scalable import IsingChain
from samplers import AutospeculativeSampler
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    s = AutospeculativeSampler(IsingChain(100000, 2.0))
    c0 = time.process_time()
    res = s.sample(4, rng=int(sys.argv[1]))
    cpu = time.process_time() - c0
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, cpu, len(seen),
      int(res.rounds.max()), s.oracle.calls)
"""


def peak_rss(seed: int, env: dict[str, str]) -> dict[str, Any]:
    """Item 3: peak RSS (MiB) of a fresh process sampling 4 x IsingChain(10**5)."""
    proc = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(seed)], env=env,
                          capture_output=True, text=True, check=True)
    rss, cpu, warns, rounds, calls = proc.stdout.split()
    return {"peak_rss_mib": float(rss), "cpu_s": float(cpu), "warnings": int(warns),
            "max_rounds": int(rounds), "calls": int(calls)}


def check_time(seed: int, nested: bool = True) -> dict[str, Any]:
    """Item 4: CPU time of check_exact at TV 0.01 on random_table(10, 2, rng=0)."""
    from distributions.families import random_table
    from samplers import AutospeculativeSampler
    from verify import check_exact

    t = random_table(10, 2, rng=0)
    out: dict[str, Any] = {}
    schedules = ["rounds", "nested"] if hasattr(AutospeculativeSampler, "schedule") else [""]
    schedules = schedules if nested else schedules[:1]
    for schedule in schedules:
        sampler = AutospeculativeSampler(t)
        if schedule:
            sampler.schedule = schedule
        c0 = time.process_time()
        res = check_exact(sampler, t, tv=0.01, rng=seed)
        out[schedule or "default"] = {
            "cpu_s": time.process_time() - c0, "status": str(res.status),
            "pvalue": float(res.pvalue), "num_samples": int(getattr(res, "num_samples", -1))}
    return out


def measure(quick: bool, seed: int, env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"per_row": per_row(quick, seed)}
    if not quick:
        out["ising_1e5"] = peak_rss(seed, env)
        out["check_exact"] = check_time(seed)
    return out


def export(rev: str, into: pathlib.Path) -> pathlib.Path:
    """Export the tree of git commit ``rev`` into ``into`` (no work tree touched)."""
    archive = into / "tree.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev], stdout=fh, check=True)
    tree = into / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def show(label: str, res: dict[str, Any]) -> None:
    print(f"== {label}")
    print(f"{'target':30} {'batch':>6} {'seq us/row':>10} {'auto us/row':>11} {'ratio':>6} "
          f"{'ratio/query':>11} {'calls':>6} {'max rounds':>10} {'calls/rounds':>12} "
          f"{'glob rounds':>11} {'both':>5}")
    for r in res["per_row"]:
        a = r["autospec"]
        per_q = r.get("ratio_per_query", float("nan"))
        print(f"{r['target']:30} {r['batch']:>6} {r['sequential']['us_per_row']:>10.3f} "
              f"{a['us_per_row']:>11.3f} {r['ratio']:>6.2f} {per_q:>11.2f} {a['calls']:>6} "
              f"{a['max_rounds']:>10} {r['calls_over_max_rounds']:>12.2f} "
              f"{a.get('global_rounds', '-'):>11} {a.get('rounds_with_both_forms', '-'):>5}")
    if "ising_1e5" in res:
        m = res["ising_1e5"]
        print(f"4 samples of IsingChain(1e5): peak RSS {m['peak_rss_mib']:.0f} MiB, "
              f"{m['cpu_s']:.1f} s CPU, {m['warnings']} warnings, {m['calls']} oracle calls, "
              f"max rounds {m['max_rounds']}")
    if "check_exact" in res:
        checks = res["check_exact"]
        if "cpu_s" in checks:  # the layout of earlier trees' JSON
            checks = {"default": checks}
        for schedule, c in checks.items():
            print(f"check_exact(tv=0.01) on random_table(10, 2, rng=0), schedule {schedule}: "
                  f"{c['cpu_s']:.1f} s CPU ({c['status']}, p = {c['pvalue']:.3g}, "
                  f"{c['num_samples']} samples)")


def child(tree: pathlib.Path, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run this script with ``--json-only`` on the packages of ``tree`` (a fresh
    process) and return the JSON it prints."""
    proc = subprocess.run(
        [sys.executable, str(pathlib.Path(__file__).resolve()), "--json-only", *args],
        env={**env, "PYTHONPATH": str(tree)}, cwd=tree, capture_output=True, text=True,
        check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_repeats(rev: str, repeats: int, seed: int, env: dict[str, str]) -> dict[str, Any]:
    """Item 4 only, this tree and ``rev`` alternately in fresh processes (the machines
    are shared: a pair's ratio is taken close in time); prints every pair's CPU times
    and ratio, and the median ratio. Writes ``results/efficiency_check.json``."""
    import statistics

    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = export(rev, pathlib.Path(tmp))
        for i in range(repeats):
            got = []
            for path in (ROOT, tree):
                res = child(path, ["--check-only", "--seed", str(seed)], env)["check_exact"]
                got.append(next(iter(res.values())))
            ratio = got[1]["cpu_s"] / got[0]["cpu_s"]
            pairs.append({"now": got[0], rev: got[1], "ratio": ratio})
            print(f"pair {i + 1}: this tree {got[0]['cpu_s']:.1f} s ({got[0]['num_samples']} "
                  f"samples), {rev} {got[1]['cpu_s']:.1f} s ({got[1]['num_samples']}): "
                  f"{ratio:.2f}x", flush=True)
    med = statistics.median(p["ratio"] for p in pairs)
    print(f"check_exact(tv=0.01) on random_table(10, 2, rng=0): median {med:.2f}x faster "
          f"than {rev} over {repeats} pairs")
    out = {"pairs": pairs, "median_ratio": med, "seed": seed}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "efficiency_check.json").write_text(json.dumps(out, indent=1))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small batches; skip items 3 and 4")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--compare", metavar="REV", help="also measure git commit REV")
    ap.add_argument("--check-repeats", type=int, default=0, metavar="K",
                    help="with --compare: only item 4 (default schedule), alternating "
                         "this tree and REV K times each; prints each pair's ratio")
    ap.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--check-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    env = dict(os.environ)
    if args.json_only:  # the child of --compare: measure this tree, print JSON
        print(json.dumps({"check_exact": check_time(args.seed, nested=False)}
                         if args.check_only else measure(args.quick, args.seed, env)))
        return {}
    if args.check_repeats:
        if not args.compare:
            ap.error("--check-repeats needs --compare REV")
        return check_repeats(args.compare, args.check_repeats, args.seed, env)
    results: dict[str, Any] = {"now": measure(args.quick, args.seed, env)}
    if args.compare:
        with tempfile.TemporaryDirectory() as tmp:
            tree = export(args.compare, pathlib.Path(tmp))
            results[args.compare] = child(
                tree, ["--seed", str(args.seed)] + (["--quick"] if args.quick else []), env)
    for label, res in results.items():
        show("this tree" if label == "now" else f"commit {label}", res)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "efficiency.json").write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
