"""The continuous checks, the rounds measurement, the order-conditional test and the
audit's sampler tests on the execution seam: their shards draw what the in-process
code drew, and every reported field is identical in process and on executors (threads
here; worker processes in the slow test; a Dask cluster in test_execution_dask.py)."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from distributions.diffusion import GaussianMixture
from distributions.errors import ParameterError
from distributions.families import random_table
from samplers.catalogue import parallel_samplers
from samplers.diffusion import (
    EulerLocalizationSampler,
    LocalizationGrid,
    SpeculativeDiffusionSampler,
)
from samplers.sequential import SequentialSampler
from tests.helpers import process_pool
from verify.audit import audit_oracle
from verify.continuous import (
    check_gaussian_chain,
    check_gaussian_ula,
    check_same_law,
    check_speculative_acceptance,
    check_stein_discrepancy,
    ula_gaussian_moments,
)
from verify.continuous.sharded import REAL_SHARD, draw_real_sharded
from verify.exactness.order_conditional import order_conditional_test
from verify.execution import ship_sampler
from verify.rounds import rounds_scaling
from verify.sampling import draw_real

M = np.array([0.5, -1.0])
S = np.array([[0.6, 0.25], [0.25, 0.4]])
GRID = LocalizationGrid.geometric(10.0, 12, first=0.05)
MIX = GaussianMixture([0.4, 0.6], [[-1.5, 0.0], [1.5, 0.5]], [0.3, 0.5])


def fingerprint(res: object) -> str:
    """Every reported field, exactly (floats by repr, arrays by their values)."""
    def plain(o):
        return o.tolist() if isinstance(o, np.ndarray) else repr(o)
    return json.dumps(res.to_dict(), sort_keys=True, default=plain)


class Normal:
    """A picklable callable sampler ``(num, rng) -> (num, d)``: N(shift e_1, I)."""

    def __init__(self, shift: float = 0.0, d: int = 2) -> None:
        self.shift, self.d = shift, d

    def __call__(self, num: int, rng: np.random.Generator) -> np.ndarray:
        z = rng.standard_normal((num, self.d))
        z[:, 0] += self.shift
        return z


class UlaExact:
    """A picklable sampler of the exact ULA law at step ``n`` (test_langevin_chain)."""

    def __init__(self, mean, cov, g: float, n: int) -> None:
        means, covs = ula_gaussian_moments(mean, cov, step_size=g, num_steps=n)
        self.mean, self.chol = means[-1], np.linalg.cholesky(covs[-1])

    def __call__(self, num: int, rng: np.random.Generator) -> np.ndarray:
        return self.mean + rng.standard_normal((num, self.mean.size)) @ self.chol.T


def test_real_shards_draw_what_draw_real_drew():
    """Up to REAL_SHARD samples: one call on the check's own generator (the draws
    before the seam); more: one call per shard on the generator's spawned children."""
    s = Normal()
    for num in (10, REAL_SHARD):
        got, _ = draw_real_sharded(ship_sampler(s, None), num, np.random.default_rng(3), "s",
                                   executor=None)
        want, _ = draw_real(s, num, np.random.default_rng(3), "s")
        assert np.array_equal(got, want), num
    num = 2 * REAL_SHARD + 7
    got, _ = draw_real_sharded(ship_sampler(s, None), num, np.random.default_rng(3), "s",
                               executor=None)
    kids = np.random.default_rng(3).spawn(3)
    want = np.concatenate([draw_real(s, k, g, "s")[0]
                           for k, g in zip([REAL_SHARD, REAL_SHARD, 7], kids, strict=True)])
    assert np.array_equal(got, want)


def _cases(num: int):
    """(name, call(executor)) of each continuous check at ``num`` samples."""
    g, n = 0.05, 6
    mean, cov = np.array([0.0, 1.0]), np.diag([0.4, 0.2])
    return [
        ("same_law", lambda ex: check_same_law(Normal(), Normal(0.05), num_samples=num,
                                               rng=1, max_energy_samples=200, executor=ex)),
        ("gaussian_chain", lambda ex: check_gaussian_chain(
            EulerLocalizationSampler(GaussianMixture([1.0], [M], [S]), GRID), M, S, GRID,
            num_samples=min(num, 600), rng=2, executor=ex)),
        ("ula", lambda ex: check_gaussian_ula(UlaExact(mean, cov, g, n), mean, cov,
                                              step_size=g, num_steps=n, num_samples=num,
                                              rng=3, executor=ex)),
        ("stein", lambda ex: check_stein_discrepancy(Normal(), MIX, num_samples=150, rng=4,
                                                     num_bootstrap=99, executor=ex)),
        ("acceptance", lambda ex: check_speculative_acceptance(
            SpeculativeDiffusionSampler(MIX, GRID, window=4), num_samples=min(num, 300),
            rng=5, executor=ex)),
    ]


@pytest.mark.slow  # > 4 s in the fast lane
def test_continuous_checks_identical_on_threads():
    """Every check, with several shards where the sample is large: threads = in process."""
    with ThreadPoolExecutor(3) as ex:
        for name, run in _cases(2 * REAL_SHARD + 11):
            assert fingerprint(run(ex)) == fingerprint(run(None)), name


def test_bad_executor_and_unpicklable_sampler():
    with pytest.raises(ParameterError, match=r"`executor` must be None .* got 'x' \(str\)"):
        check_same_law(Normal(), Normal(), num_samples=100, executor="x")
    with ThreadPoolExecutor(1) as ex, pytest.raises(ParameterError, match=r"must be picklable"):
        check_same_law(lambda num, rng: rng.random((num, 1)), Normal(d=1), num_samples=100,
                       executor=ex)


@pytest.mark.slow  # a forkserver pool start-up (4-5 s) and 2 x 8,000 samples
def test_continuous_checks_identical_on_worker_processes():
    with process_pool(2) as ex:
        for name, run in _cases(REAL_SHARD + 5):
            assert fingerprint(run(ex)) == fingerprint(run(None)), name


def _without_seconds(res) -> str:
    d = res.to_dict()
    for s in d["samplers"]:
        for p in s["points"]:
            p.pop("seconds")
    return json.dumps(d, sort_keys=True, default=repr)


def test_rounds_scaling_identical_on_threads():
    """Each point is a shard built on the worker: every field but the measured seconds
    equals the in-process run's (both samplers, the quick grid, 10 samples a point)."""
    names = list(parallel_samplers())
    ref = rounds_scaling(names, num=10, seed=3)
    with ThreadPoolExecutor(2) as ex:
        got = rounds_scaling(names, num=10, seed=3, executor=ex)
    assert _without_seconds(got) == _without_seconds(ref)
    with pytest.raises(ParameterError, match=r"`executor` must be None"):
        rounds_scaling(names, executor=2)


@pytest.mark.slow  # 2 x 130,000 samples of n = 10 through the oracle, twice (~6 s)
def test_order_conditional_identical_on_threads():
    """Two shards of whole chunks (PCG64: the stream advanced to each
    shard; MT19937: uniforms drawn here): every field equals the in-process result."""
    d = random_table(10, 2, rng=3)
    res = SequentialSampler(d).sample(130_000, rng=4)
    with ThreadPoolExecutor(2) as ex:
        for rng in (5, np.random.Generator(np.random.MT19937(5))):
            ref = order_conditional_test(res.samples, res.orders, d,
                                         rng=copy.deepcopy(rng))
            got = order_conditional_test(res.samples, res.orders, d, rng=copy.deepcopy(rng),
                                         executor=ex)
            assert fingerprint(got) == fingerprint(ref), rng
    assert ref.oracle_calls == 7  # 6 whole chunks in the first shard, 1 in the second


def test_order_conditional_one_shard_on_threads():
    d = random_table(6, 3, rng=3)
    res = SequentialSampler(d).sample(4_000, rng=4)
    ref = order_conditional_test(res.samples, res.orders, d, rng=6)
    with ThreadPoolExecutor(2) as ex:
        got = order_conditional_test(res.samples, res.orders, d, rng=6, executor=ex)
        with pytest.raises(ParameterError, match=r"must be picklable"):
            order_conditional_test(res.samples, res.orders, _Unpicklable(d), rng=6,
                                   executor=ex)
    assert fingerprint(got) == fingerprint(ref)


class _Unpicklable:
    """An oracle holding a lock (cannot be pickled)."""

    def __init__(self, inner):
        import threading
        self.inner, self.n, self.q, self.lock = inner, inner.n, inner.q, threading.Lock()

    def conditionals(self, x):
        return self.inner.conditionals(x)


def _audit_fields(res) -> str:
    """Every field of an audit but its timings."""
    d = res.to_dict()
    for k in ("seconds", "timings"):
        d.pop(k)
    for run in d["sampler_runs"]:
        for k in ("seconds", "sample_seconds"):
            run.pop(k, None)
    return json.dumps(d, sort_keys=True, default=repr)


@pytest.mark.slow  # two audits with their sampler runs (~5 s each)
def test_audit_identical_on_threads():
    """audit_oracle's sampler tests on an executor: the same findings (here: the
    reference differs, so the exactness tests fail; batch invariance passes)."""
    o, ref = random_table(4, 2, rng=0), random_table(4, 2, rng=1)
    want = audit_oracle(o, reference=ref, rng=3)
    with ThreadPoolExecutor(2) as ex:
        got = audit_oracle(o, reference=ref, rng=3, executor=ex)
    assert _audit_fields(got) == _audit_fields(want)
    assert {c.rule: c.status for c in got.checks}["sampler.sequential"] == "fail"
    with pytest.raises(ParameterError, match=r"`executor` must be None"):
        audit_oracle(o, executor=object())


def test_audit_refuses_an_unpicklable_oracle_on_an_executor():
    """No silent fallback to the in-process run: the refusal comes before any work."""
    with ThreadPoolExecutor(1) as ex, pytest.raises(
            ParameterError, match=r"`oracle` must be picklable .* executor=None .* _Unpicklable"):
        audit_oracle(_Unpicklable(random_table(4, 2, rng=0)), rng=3, executor=ex)
