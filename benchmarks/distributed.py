"""Benchmark: check_exact in process against a Dask LocalCluster (issue 13).

1. ``check_exact`` at TV 0.005 (alpha 1e-3, power 0.99; ``--quick``: TV 0.02) on
   ``random_table(10, 2)`` with the autospeculative sampler: in process, then on a
   ``LocalCluster`` of 2 worker processes. The results must be identical.
2. A deliberately expensive oracle (:class:`benchmarks.slow_oracle.SpinOracle`: 10 ms
   of CPU per call) behind the sequential sampler (calls of 8192 rows, so a shard of
   ``2**17`` rows makes 16 calls of 10 oracle calls: 1.6 s of spinning, plus the
   table's and the oracle guard's own work): 12 shards (``--quick``: 4) in process,
   on 1 worker and on 2 workers.

Every in-process run is made before the cluster starts (a LocalCluster's scheduler
lives in this process and would take CPU from it). The cluster runs with the lean
settings of ``--workers`` (:data:`reports.cli.cluster.LEAN_CONFIG`; ``--profile``
turns Dask's profiler back on). Printed, for each run: the wall time of the check and
of its sampling (the shards: until the last shard is merged; the rest is the test,
in this process whatever the executor); for item 2 the speedup of 2 workers over 1
worker (check and sampling), and the per-shard overhead of the executor,
``(S(1 worker) - S(in process)) / shards`` for the sampling times ``S``, as a
percentage of an in-process shard, and the same in CPU seconds (this process's and
the worker's, from the clocks of the processes), which a busy machine distorts less;
and the cores the workers got (their CPU seconds per second of sampling: a speedup
of 2 workers over 1 needs them to get 2 cores, which a shared machine may not give).
Goal: speedup >= 1.8 on 2 workers for the expensive oracle, overhead < 5 % of a
shard. The figures hold for the machine and its load when run (the load average is
printed with them). Writes ``benchmarks/results/distributed.json``
(``distributed_expensive.json`` with ``--only-expensive``).

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
import psutil  # noqa: E402
from distributed import Client  # noqa: E402

from benchmarks.slow_oracle import SpinOracle  # noqa: E402
from distributions.families import random_table  # noqa: E402
from reports.cli.cluster import LEAN_CONFIG, local_cluster  # noqa: E402
from samplers.autospec import AutospeculativeSampler  # noqa: E402
from samplers.sequential import SequentialSampler  # noqa: E402
from verify.exactness import check_exact  # noqa: E402
from verify.sampling import DEFAULT_BATCH_SIZE  # noqa: E402

OUT = HERE / "results" / "distributed.json"


def _cpu_of(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def _timed(fn, pids=()):
    """``fn(progress)``'s result, wall time, wall time and CPU seconds of this process
    to the last merged shard (its sampling), and the CPU seconds of this process and of
    ``pids`` in all."""
    marks: list[tuple[float, float]] = []
    me = os.getpid()
    c0 = [_cpu_of(me)] + [_cpu_of(p) for p in pids]
    t0 = time.perf_counter()
    res = fn(lambda *a: marks.append((time.perf_counter(), _cpu_of(me))))
    wall = time.perf_counter() - t0
    c1 = [_cpu_of(me)] + [_cpu_of(p) for p in pids]
    last = marks[-1] if marks else (t0 + wall, c1[0])
    return res, wall, last[0] - t0, last[1] - c0[0], sum(c1) - sum(c0), sum(c1[1:]) - sum(
        c0[1:])


def _same(a, b) -> bool:
    return json.dumps(a.to_dict(), sort_keys=True, default=repr) == json.dumps(
        b.to_dict(), sort_keys=True, default=repr)


def _planned_case(tv: float):
    target = random_table(10, 2, rng=0)
    sampler = AutospeculativeSampler(target, validate=False)
    return sampler, target, dict(tv=tv, alpha=1e-3, power=0.99, rng=0)


def _expensive_case(shards: int):
    table = random_table(10, 2, rng=1)
    sampler = SequentialSampler(SpinOracle(table, 0.01))
    return sampler, table, dict(num_samples=shards * DEFAULT_BATCH_SIZE, batch_size=8192,
                                rng=1)


def in_process(case) -> dict:
    sampler, target, kw = case
    res, wall, samp, samp_cpu, cpu, _ = _timed(
        lambda p: check_exact(sampler, target, progress=p, **kw))
    return {"result": res, "wall_s": wall, "sampling_s": samp, "sampling_cpu_s": samp_cpu,
            "cpu_s": cpu}


def on_cluster(client: Client, case, workers: list[str]) -> dict:
    sampler, target, kw = case
    pids = [p for w, p in client.run(os.getpid).items() if w in workers]
    ex = client.get_executor(workers=workers)
    res, wall, samp, _, cpu, wcpu = _timed(
        lambda p: check_exact(sampler, target, executor=ex, progress=p, **kw), pids)
    # the cores the workers got: CPU seconds of the worker processes per second of
    # sampling (2 for two busy workers on an otherwise idle 2-core machine)
    return {"result": res, "wall_s": wall, "sampling_s": samp, "cpu_s": cpu,
            "worker_cores": wcpu / samp}


def summary(shards: int, ref: dict, one: dict, two: dict) -> dict[str, float]:
    per_in = ref["sampling_s"] / shards
    over = (one["sampling_s"] - ref["sampling_s"]) / shards
    cpu_over = (one["cpu_s"] - ref["cpu_s"]) / shards
    cpu_shard = ref["sampling_cpu_s"] / shards  # the test's CPU is in both: it cancels above
    return {
        "shards": shards,
        "in_process_s": ref["wall_s"], "workers1_s": one["wall_s"], "workers2_s": two["wall_s"],
        "in_process_sampling_s": ref["sampling_s"], "workers1_sampling_s": one["sampling_s"],
        "workers2_sampling_s": two["sampling_s"],
        "test_s": ref["wall_s"] - ref["sampling_s"],
        "speedup_2_over_1": one["wall_s"] / two["wall_s"],
        "speedup_2_over_in_process": ref["wall_s"] / two["wall_s"],
        "sampling_speedup_2_over_1": one["sampling_s"] / two["sampling_s"],
        "worker_cores_1": one["worker_cores"], "worker_cores_2": two["worker_cores"],
        "overhead_per_shard_s": over, "overhead_pct_of_shard": 100.0 * over / per_in,
        "in_process_cpu_s": ref["cpu_s"], "in_process_sampling_cpu_s": ref["sampling_cpu_s"],
        "workers1_cpu_s": one["cpu_s"],
        "cpu_overhead_per_shard_s": cpu_over,
        "cpu_overhead_pct_of_shard": 100.0 * cpu_over / cpu_shard,
        "identical": _same(ref["result"], one["result"]) and _same(ref["result"],
                                                                     two["result"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="TV 0.02 in item 1, 4 shards in 2")
    ap.add_argument("--only-expensive", action="store_true", help="item 2 only")
    ap.add_argument("--profile", action="store_true",
                    help="keep Dask's worker profiler on (default off)")
    args = ap.parse_args()
    load0 = os.getloadavg()
    nexp = 4 if args.quick else 12
    exp_case = _expensive_case(nexp)
    plan_case = None if args.only_expensive else _planned_case(0.02 if args.quick else 0.005)
    exp_in = in_process(exp_case)  # before the cluster: its scheduler would share this process
    plan_in = in_process(plan_case) if plan_case is not None else None
    t0 = time.perf_counter()
    config = dict(LEAN_CONFIG, **{"distributed.worker.profile.enabled": args.profile})
    with dask.config.set(config), local_cluster(2, dashboard=False) as client:
        startup = time.perf_counter() - t0
        workers = sorted(client.scheduler_info()["workers"])
        exp_1 = on_cluster(client, exp_case, workers[:1])
        exp_2 = on_cluster(client, exp_case, workers)
        plan_2 = on_cluster(client, plan_case, workers) if plan_case is not None else None
    exp = summary(nexp, exp_in, exp_1, exp_2)
    plan = None
    if plan_case is not None:
        ref = plan_in["result"]
        plan = {"tv": plan_case[2]["tv"], "num_samples": ref.num_samples,
                "shards": -(-ref.num_samples // DEFAULT_BATCH_SIZE),
                "in_process_s": plan_in["wall_s"], "workers2_s": plan_2["wall_s"],
                "in_process_sampling_s": plan_in["sampling_s"],
                "workers2_sampling_s": plan_2["sampling_s"],
                "speedup": plan_in["wall_s"] / plan_2["wall_s"],
                "sampling_speedup": plan_in["sampling_s"] / plan_2["sampling_s"],
                "identical": _same(ref, plan_2["result"]), "pvalue": ref.pvalue}
    out = {"cluster_startup_s": startup, "worker_profiler": args.profile, "loadavg_before": load0,
           "loadavg_after": os.getloadavg(), "cpus": os.cpu_count(),
           "planned": plan, "expensive_oracle": exp}
    print(f"LocalCluster of 2 worker processes started in {startup:.1f} s; load average "
          f"{load0[0]:.1f} before, {out['loadavg_after'][0]:.1f} after, {os.cpu_count()} "
          "CPUs")
    if plan is not None:
        print(f"1. check_exact TV {plan['tv']} random_table(10, 2), autospeculative: "
              f"{plan['num_samples']:,} samples in {plan['shards']} shards; in process "
              f"{plan['in_process_s']:.1f} s (sampling {plan['in_process_sampling_s']:.1f} s), "
              f"2 workers {plan['workers2_s']:.1f} s (sampling "
              f"{plan['workers2_sampling_s']:.1f} s), speedup {plan['speedup']:.2f}x "
              f"(sampling {plan['sampling_speedup']:.2f}x); identical results: "
              f"{plan['identical']}")
    print(f"2. expensive oracle (10 ms CPU a call), {exp['shards']} shards: in process "
          f"{exp['in_process_s']:.1f} s (sampling {exp['in_process_sampling_s']:.1f} s, test "
          f"{exp['test_s']:.1f} s), 1 worker {exp['workers1_s']:.1f} s (sampling "
          f"{exp['workers1_sampling_s']:.1f} s), 2 workers {exp['workers2_s']:.1f} s "
          f"(sampling {exp['workers2_sampling_s']:.1f} s); speedup 2 vs 1 worker "
          f"{exp['speedup_2_over_1']:.2f}x (sampling {exp['sampling_speedup_2_over_1']:.2f}x; "
          f"check vs in process {exp['speedup_2_over_in_process']:.2f}x; the workers got "
          f"{exp['worker_cores_1']:.2f} and {exp['worker_cores_2']:.2f} cores); overhead "
          f"{exp['overhead_per_shard_s']:.3f} s a shard = "
          f"{exp['overhead_pct_of_shard']:.1f} % of a shard (wall); CPU: in process "
          f"{exp['in_process_cpu_s']:.1f} s, 1 worker (worker + this process) "
          f"{exp['workers1_cpu_s']:.1f} s, overhead {exp['cpu_overhead_per_shard_s']:.3f} s a "
          f"shard = {exp['cpu_overhead_pct_of_shard']:.1f} %; identical: {exp['identical']}")
    OUT.parent.mkdir(exist_ok=True)
    path = OUT.with_name("distributed_expensive.json" if plan is None else OUT.name)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
