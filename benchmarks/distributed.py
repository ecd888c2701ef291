"""Benchmark: check_exact in process against a Dask LocalCluster (issue 13).

1. ``check_exact`` at TV 0.005 (alpha 1e-3, power 0.99; ``--quick``: TV 0.02) on
   ``random_table(10, 2)`` with the autospeculative sampler: in process, then on a
   ``LocalCluster`` of 2 worker processes. The results must be identical.
2. A deliberately expensive oracle (:class:`benchmarks.slow_oracle.SpinOracle`: 10 ms
   of CPU per call) behind the sequential sampler (calls of 8192 rows, so a shard of
   ``2**17`` rows makes 16 calls of 10 oracle calls: 1.6 s of oracle CPU): 8 shards
   in process, on 1 worker and on 2 workers.

Printed: wall times, the speedup of 2 workers over 1 worker and over the in-process
run, and the per-shard overhead of the executor, ``(T(1 worker) - T(in process)) /
shards``, as a percentage of an in-process shard, and the same in CPU seconds (the
caller's and the worker's process time), which a busy machine distorts less. Goal:
speedup >= 1.8 on 2 workers for the expensive oracle, overhead < 5 % of a shard. The
figures hold for the machine and its load when run (the load average is printed with
them). Writes ``benchmarks/results/distributed.json`` (``distributed_expensive.json``
with ``--only-expensive``).

Run from the repository root: ``python benchmarks/distributed.py [--quick]``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# this file is named like Dask's package: its directory must not shadow `distributed`;
# the workers import benchmarks.slow_oracle from the repository root
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import dask  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from benchmarks.slow_oracle import SpinOracle  # noqa: E402
from distributions.families import random_table  # noqa: E402
from samplers.autospec import AutospeculativeSampler  # noqa: E402
from samplers.sequential import SequentialSampler  # noqa: E402
from verify.exactness import check_exact  # noqa: E402
from verify.sampling import DEFAULT_BATCH_SIZE  # noqa: E402

OUT = HERE / "results" / "distributed.json"


def _timed(fn):
    t0 = time.perf_counter()
    res = fn()
    return res, time.perf_counter() - t0


def _same(a, b) -> bool:
    return json.dumps(a.to_dict(), sort_keys=True, default=repr) == json.dumps(
        b.to_dict(), sort_keys=True, default=repr)


def planned(client: Client, tv: float) -> dict[str, float]:
    target = random_table(10, 2, rng=0)
    sampler = AutospeculativeSampler(target, validate=False)
    kw = dict(tv=tv, alpha=1e-3, power=0.99, rng=0)
    ref, t_in = _timed(lambda: check_exact(sampler, target, **kw))
    got, t_2 = _timed(lambda: check_exact(sampler, target, executor=client.get_executor(),
                                          **kw))
    shards = -(-ref.num_samples // DEFAULT_BATCH_SIZE)
    return {"tv": tv, "num_samples": ref.num_samples, "shards": shards,
            "in_process_s": t_in, "workers2_s": t_2, "speedup": t_in / t_2,
            "identical": _same(ref, got), "pvalue": ref.pvalue}


def _cpu(client: Client, workers: list[str]) -> float:
    """CPU seconds used so far by this process and the given worker processes."""
    return time.process_time() + sum(client.run(time.process_time, workers=workers).values())


def expensive(client: Client, shards: int) -> dict[str, float]:
    table = random_table(10, 2, rng=1)
    sampler = SequentialSampler(SpinOracle(table, 0.01))
    kw = dict(num_samples=shards * DEFAULT_BATCH_SIZE, batch_size=8192, rng=1)
    workers = sorted(client.scheduler_info()["workers"])
    c0 = time.process_time()
    ref, t_in = _timed(lambda: check_exact(sampler, table, **kw))
    cpu_in = time.process_time() - c0
    c0 = _cpu(client, workers[:1])
    one, t_1 = _timed(lambda: check_exact(sampler, table, executor=client.get_executor(
        workers=workers[:1]), **kw))
    cpu_1 = _cpu(client, workers[:1]) - c0
    two, t_2 = _timed(lambda: check_exact(sampler, table, executor=client.get_executor(),
                                          **kw))
    overhead = (t_1 - t_in) / shards
    return {"shards": shards, "in_process_s": t_in, "workers1_s": t_1, "workers2_s": t_2,
            "in_process_cpu_s": cpu_in, "workers1_cpu_s": cpu_1,
            "cpu_overhead_per_shard_s": (cpu_1 - cpu_in) / shards,
            "cpu_overhead_pct_of_shard": 100.0 * (cpu_1 - cpu_in) / cpu_in,
            "speedup_2_over_1": t_1 / t_2, "speedup_2_over_in_process": t_in / t_2,
            "overhead_per_shard_s": overhead,
            "overhead_pct_of_shard": 100.0 * overhead / (t_in / shards),
            "identical": _same(ref, one) and _same(ref, two)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="TV 0.02 in item 1, 4 shards in 2")
    ap.add_argument("--only-expensive", action="store_true", help="item 2 only")
    ap.add_argument("--profile", action="store_true",
                    help="keep Dask's worker profiler on (default off)")
    args = ap.parse_args()
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    # Dask's statistical profiler samples each worker's stack every 10 ms: CPU a check
    # does not need (the dashboard's profile page is empty without it)
    dask.config.set({"distributed.worker.profile.enabled": args.profile})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        startup = time.perf_counter() - t0
        exp = expensive(client, 4 if args.quick else 8)
        plan = None if args.only_expensive else planned(client, 0.02 if args.quick else 0.005)
    out = {"cluster_startup_s": startup, "worker_profiler": args.profile, "loadavg_before": load0,
           "loadavg_after": os.getloadavg(), "cpus": os.cpu_count(),
           "planned": plan, "expensive_oracle": exp}
    print(f"LocalCluster of 2 worker processes started in {startup:.1f} s; load average "
          f"{load0[0]:.1f} before, {out['loadavg_after'][0]:.1f} after, {os.cpu_count()} "
          "CPUs")
    if plan is not None:
        print(f"1. check_exact TV {plan['tv']} random_table(10, 2), autospeculative: "
              f"{plan['num_samples']:,} samples in {plan['shards']} shards; in process "
              f"{plan['in_process_s']:.1f} s, 2 workers {plan['workers2_s']:.1f} s, speedup "
              f"{plan['speedup']:.2f}x; identical results: {plan['identical']}")
    print(f"2. expensive oracle (10 ms CPU a call), {exp['shards']} shards: in process "
          f"{exp['in_process_s']:.1f} s, 1 worker {exp['workers1_s']:.1f} s, 2 workers "
          f"{exp['workers2_s']:.1f} s; speedup 2 vs 1 worker {exp['speedup_2_over_1']:.2f}x "
          f"(vs in process {exp['speedup_2_over_in_process']:.2f}x); overhead "
          f"{exp['overhead_per_shard_s']:.3f} s a shard = "
          f"{exp['overhead_pct_of_shard']:.1f} % of a shard (wall); CPU: in process "
          f"{exp['in_process_cpu_s']:.1f} s, 1 worker (worker + caller) "
          f"{exp['workers1_cpu_s']:.1f} s, overhead {exp['cpu_overhead_per_shard_s']:.3f} s a "
          f"shard = {exp['cpu_overhead_pct_of_shard']:.1f} %; identical: {exp['identical']}")
    OUT.parent.mkdir(exist_ok=True)
    path = OUT.with_name("distributed_expensive.json" if plan is None else OUT.name)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
