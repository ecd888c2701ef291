"""check_exact on a real Dask LocalCluster (worker processes): bit-identical results
for 1, 2 and 4 workers and in process, a worker killed mid-check, a raising shard.

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

from distributed import Client, LocalCluster  # noqa: E402

from distributions.errors import ParameterError  # noqa: E402
from distributions.families import random_table  # noqa: E402
from samplers.autospec import AutospeculativeSampler  # noqa: E402
from samplers.sequential import SequentialSampler  # noqa: E402
from verify.exactness import check_exact  # noqa: E402
from verify.execution import OnWorker  # noqa: E402
from verify.sampling import DEFAULT_BATCH_SIZE  # noqa: E402

pytestmark = pytest.mark.slow  # a cluster of 4 worker processes (~15 s to start here)


def fingerprint(res: object) -> str:
    return json.dumps(res.to_dict(), sort_keys=True, default=repr)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=4, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as cl:
        cl.wait_for_workers(4, timeout=120)
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
