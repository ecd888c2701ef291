"""check_exact on a real Dask LocalCluster (worker processes): bit-identical results
for 1, 2 and 4 workers and in process, a worker killed mid-check, a raising shard; the
sampler sent and built once per worker; the continuous checks and the rounds
measurement on the cluster.

One cluster of 4 worker processes serves the module (its start-up dominates);
1 and 2 workers are the executor restricted to that many of them
(``client.get_executor(workers=...)``).
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

pytest.importorskip("distributed")


from distributions.errors import ParameterError  # noqa: E402
from distributions.families import random_table  # noqa: E402
from reports.cli.cluster import local_cluster  # noqa: E402
from samplers.autospec import AutospeculativeSampler  # noqa: E402
from samplers.catalogue import parallel_samplers  # noqa: E402
from samplers.sequential import SequentialSampler  # noqa: E402
from tests.verify.test_execution import CountingExecutor  # noqa: E402
from tests.verify.test_execution_continuous import Normal, _without_seconds  # noqa: E402
from verify.continuous import check_same_law  # noqa: E402
from verify.continuous.sharded import REAL_SHARD  # noqa: E402
from verify.exactness import check_exact  # noqa: E402
from verify.execution import OnWorker, worker_builds  # noqa: E402
from verify.rounds import rounds_scaling  # noqa: E402
from verify.sampling import DEFAULT_BATCH_SIZE  # noqa: E402

pytestmark = pytest.mark.slow  # a cluster of 4 worker processes (~15 s to start here)


def fingerprint(res: object) -> str:
    return json.dumps(res.to_dict(), sort_keys=True, default=repr)


@pytest.fixture(scope="module")
def client():
    with local_cluster(4, dashboard=False) as cl:  # the lean cluster of --workers
        yield cl


@pytest.mark.parametrize("method", ["gtest", "chain"])
def test_identical_for_1_2_4_workers_and_in_process(client, method):
    """Statistic, p-value and every reported field are bit-identical."""
    d = random_table(6, 2, rng=0)
    sampler = SequentialSampler(d)
    shards = 3 if method == "gtest" else 2
    kw = dict(num_samples=(shards - 1) * DEFAULT_BATCH_SIZE + 123, method=method, rng=20261202)
    ref = fingerprint(check_exact(sampler, d, **kw))
    workers = sorted(client.scheduler_info()["workers"])
    for k in (1, 2, 4):
        got = check_exact(sampler, d, executor=client.get_executor(workers=workers[:k]), **kw)
        assert fingerprint(got) == ref, f"{k} workers"


def test_autospeculative_factory_identical(client):
    """The autospeculative sampler built on the workers by a factory: the in-process
    result of the object, bit for bit (2 shards)."""
    d = random_table(3, 2, rng=1)
    kw = dict(num_samples=DEFAULT_BATCH_SIZE + 5, rng=3)
    ref = fingerprint(check_exact(AutospeculativeSampler(d, validate=False), d, **kw))
    got = check_exact(OnWorker(AutospeculativeSampler, d, validate=False), d,
                      executor=client.get_executor(), **kw)
    assert fingerprint(got) == ref


def test_raising_shard_stops_with_its_error_and_seed(client):
    d, wrong = random_table(3, 2, rng=0), random_table(4, 2, rng=0)
    t0 = time.monotonic()
    with pytest.raises(ParameterError, match=r"output must have shape .* \[in shard [1-3] of 3 "
                                             r"\(stream: SeedSequence\(entropy=5, spawn_key="):
        check_exact(SequentialSampler(wrong), d, num_samples=2 * DEFAULT_BATCH_SIZE + 1,
                    rng=5, executor=client.get_executor())
    assert time.monotonic() - t0 < 60


def test_worker_killed_mid_check(client):
    """SIGKILL of a worker process running a shard: Dask re-runs the shard elsewhere,
    the merged result equals the in-process one (no shard lost or counted twice)."""
    d = random_table(6, 2, rng=4)
    sampler = SequentialSampler(d)
    kw = dict(num_samples=8 * DEFAULT_BATCH_SIZE, rng=77)
    ref = check_exact(sampler, d, **kw)
    pids = client.run(os.getpid)
    killed: list[tuple[str, int]] = []

    def kill_one(done, total, rows):
        if killed or done >= total:
            return
        # the scheduler's view can lag the shard that just finished: poll briefly, and
        # try again at the next shard if no worker shows a shard yet
        t_end = time.monotonic() + 5.0
        while time.monotonic() < t_end:
            busy = [w for w, keys in client.processing().items() if keys and w in pids]
            if busy:
                killed.append((busy[0], pids[busy[0]]))
                os.kill(pids[busy[0]], signal.SIGKILL)
                return
            time.sleep(0.05)

    got = check_exact(sampler, d, executor=client.get_executor(), progress=kill_one, **kw)
    assert killed, "no worker was killed"
    assert fingerprint(got) == fingerprint(ref)
    assert got.num_samples == ref.num_samples
    client.wait_for_workers(4, timeout=120)  # the nanny restarted it
    assert killed[0][1] not in client.run(os.getpid).values()


def test_sampler_sent_and_built_once_per_worker(client):
    """12 shards on 4 workers: each worker process builds the sampler at most once
    (counted on the workers), its bytes go with a few shards, not each."""
    d = random_table(6, 2, rng=8)
    kw = dict(num_samples=12 * DEFAULT_BATCH_SIZE, rng=31)
    ref = fingerprint(check_exact(SequentialSampler(d), d, **kw))
    before = client.run(worker_builds)
    ex = CountingExecutor(client.get_executor())
    got = check_exact(OnWorker(SequentialSampler, d), d, executor=ex, **kw)
    after = client.run(worker_builds)
    built = {w: after[w] - before.get(w, 0) for w in after}
    assert fingerprint(got) == ref
    assert set(built.values()) <= {0, 1} and sum(built.values()) >= 1, built
    assert ex.carrying <= 8 < 12, (ex.carrying, ex.tasks, built)


def test_continuous_and_rounds_identical_for_1_2_4_workers(client):
    """check_same_law with 3 shards a sampler, and the rounds measurement (a shard a
    point): every field (but the measured seconds) as in process."""
    kw = dict(num_samples=2 * REAL_SHARD + 9, rng=7, max_energy_samples=100)
    ref = fingerprint(check_same_law(Normal(), Normal(0.05), **kw))
    rref = _without_seconds(rounds_scaling(list(parallel_samplers()), num=10, seed=3))
    workers = sorted(client.scheduler_info()["workers"])
    for k in (1, 2, 4):
        ex = client.get_executor(workers=workers[:k])
        assert fingerprint(check_same_law(Normal(), Normal(0.05), executor=ex, **kw)) == ref, k
        got = rounds_scaling(list(parallel_samplers()), num=10, seed=3, executor=ex)
        assert _without_seconds(got) == rref, k
