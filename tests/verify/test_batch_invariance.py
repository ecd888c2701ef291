"""Batch-size blind spot (issue 18 item 2): ``check_exact(batch_size=...)`` and
``check_batch_invariance``, and the ``status`` / ``batch_size`` result fields."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distributions.errors import ParameterError
from distributions.families import random_table
from distributions.table import TableDistribution
from tests.helpers import process_pool
from verify.exactness import (
    STATUSES,
    BatchInvarianceResult,
    ExactnessResult,
    check_batch_invariance,
    check_exact,
)

ALPHA = 1e-3
SMALL_B = 4096  # the sampler below is wrong only for calls of more than SMALL_B rows
PRODUCTION_B = 2 * SMALL_B


def _shifted(d: TableDistribution, tv: float) -> TableDistribution:
    """Mass ``tv`` moved proportionally from the likelier half of the mass to the other."""
    p = d.pmf()
    order = np.argsort(p)
    plus = order[np.cumsum(p[order]) <= 0.5]
    a = p[plus].sum()
    s = p * (1 - tv / (1 - a))
    s[plus] = p[plus] * (1 + tv / a)
    return TableDistribution(s.reshape((d.q,) * d.n))


class BatchDependentSampler:
    """Exact for calls of up to ``SMALL_B`` rows (its own default batch size), at TV 0.1
    from the target for larger calls (the production size of the test)."""

    batch_size = SMALL_B

    def __init__(self, target: TableDistribution, wrong: bool = True) -> None:
        self.target, self.n, self.q = target, target.n, target.q
        self.bad = _shifted(target, 0.1) if wrong else target

    def sample(self, num: int, rng: np.random.Generator) -> np.ndarray:
        return (self.bad if num > SMALL_B else self.target).sample(num, rng=rng)


@pytest.fixture(scope="module")
def target() -> TableDistribution:
    return random_table(4, 2, rng=5)


def test_wrong_only_at_large_batches_is_caught(target):
    """Regression: the sampler passes at its own default batch size (as every check did
    before: calls never larger than the default chunk), fails at its production size
    and fails the batch-invariance check."""
    s = BatchDependentSampler(target)
    default = check_exact(s, target, tv=0.05, alpha=ALPHA, rng=1)
    assert default.batch_size == SMALL_B and default.status == "pass", default
    prod = check_exact(s, target, tv=0.05, alpha=ALPHA, rng=1, batch_size=PRODUCTION_B)
    assert prod.batch_size == PRODUCTION_B
    assert prod.status == "fail" and not prod.passed and prod.pvalue <= ALPHA, (
        f"p={prod.pvalue:.3g} alpha={ALPHA} N={prod.num_samples} seed={prod.seed}")
    inv = check_batch_invariance(s, target=target, batch_sizes=(1, PRODUCTION_B), tv=0.1,
                                 alpha=ALPHA, rng=2)
    assert isinstance(inv, BatchInvarianceResult)
    assert inv.status == "fail" and not inv.passed and inv.pvalue <= ALPHA, (
        f"p={inv.pvalue:.3g} alpha={ALPHA} N={inv.num_samples} per size, seed={inv.seed}")
    assert inv.batch_sizes == (1, PRODUCTION_B) and inv.detectable_tv <= 0.1 + 1e-3


def test_correct_sampler_passes_both(target):
    s = BatchDependentSampler(target, wrong=False)
    prod = check_exact(s, target, tv=0.05, alpha=ALPHA, rng=3, batch_size=PRODUCTION_B)
    assert prod.status == "pass" and prod.passed, (prod.pvalue, prod.seed)
    inv = check_batch_invariance(s, target=target, batch_sizes=(1, PRODUCTION_B), tv=0.1,
                                 alpha=ALPHA, rng=4)
    assert inv.status == "pass" and inv.passed and inv.method == "chi2", (
        f"p={inv.pvalue:.3g} alpha={ALPHA} N={inv.num_samples} seed={inv.seed}")
    assert abs(inv.detectable_tv - 0.1) < 1e-3
    json.dumps(inv.to_dict())


@pytest.mark.slow
def test_default_batch_sizes_and_sparse_permutation_test():
    """Defaults: (1, the sampler's batch_size); a sparse table gets the permutation test
    with its simulated detectable TV; the replay seed reproduces the statistic."""
    d = random_table(8, 2, rng=1)

    class Own:
        n, q, batch_size = 8, 2, 300

        def sample(self, num, rng):
            return d.sample(num, rng=rng)

    r = check_batch_invariance(Own(), target=d, num_samples=300, tv=0.1, alpha=0.01, rng=7)
    assert r.batch_sizes == (1, 300) and r.method == "permutation"
    assert r.status == "pass", r
    assert r.details["resamples"] == 1999 and 0.1 < r.detectable_tv < 1.0
    again = check_batch_invariance(Own(), target=d, num_samples=300, tv=0.1, alpha=0.01,
                                   rng=r.seed)
    assert again.statistic == r.statistic and again.pvalue == r.pvalue


def test_draw_streams_unchanged_at_the_default_batch(target):
    """The default batch (2**17) keeps the seed stream of the earlier releases: calls
    of fewer rows share one stream per 2**17 rows, so a batch-size-independent sampler
    gives the same samples at batch sizes dividing 2**17."""
    s = BatchDependentSampler(target, wrong=False)
    a = check_exact(lambda k, g: target.sample(k, rng=g), target, num_samples=5000, rng=9)
    b = check_exact(lambda k, g: target.sample(k, rng=g), target, num_samples=5000, rng=9,
                    batch_size=1 << 17)
    assert a.statistic == b.statistic and a.batch_size == b.batch_size == 1 << 17
    assert check_exact(s, target, num_samples=5000, rng=9).batch_size == SMALL_B


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_sizes": (8, 8)}, "`batch_sizes` must be a pair of distinct integers"),
        ({"batch_sizes": (0, 8)}, r"`batch_sizes\[0\]` must be an integer >= 1; got 0"),
        ({"batch_sizes": 8}, "`batch_sizes` must be a pair"),
        ({"rng": -1}, "`rng` must be None, a non-negative integer seed"),
        ({"alpha": 1e-9}, "`alpha` must be >= 1e-05"),
        ({"tv": 1e-9}, "infeasible"),
        ({"power": 1e-4}, "`power` must be > `alpha`"),
    ],
)
def test_batch_invariance_bad_arguments(target, kwargs, match):
    calls = []

    def sampler(k, g):
        calls.append(k)
        return target.sample(k, rng=g)

    with pytest.raises(ParameterError, match=match):
        check_batch_invariance(sampler, target=target, **kwargs)
    assert not calls  # refused before any work


def test_needs_n_and_q():
    with pytest.raises(ParameterError, match="`target` must be given"):
        check_batch_invariance(lambda k, g: np.zeros((k, 2), int))


def test_status_contract():
    kw = dict(statistic=0.0, pvalue=0.5, method="gtest", num_samples=10, alpha=0.1,
              detectable_tv=0.5, tv_estimate=0.0, tv_upper=1.0, worst_cells=(), seed=0)
    assert ExactnessResult(passed=True, **kw).status == "pass"
    assert ExactnessResult(passed=False, **kw).status == "fail"
    r = ExactnessResult(passed=False, status="no-power", **kw)
    assert r.to_dict()["status"] == "no-power" and "batch_size" in r.to_dict()
    with pytest.raises(ParameterError, match="`passed` must be True exactly"):
        ExactnessResult(passed=True, status="no-power", **kw)
    with pytest.raises(ParameterError, match="`status` must be one of"):
        ExactnessResult(passed=False, status="maybe", **kw)
    assert STATUSES == ("pass", "fail", "warn", "skipped", "no-power")


def test_batch_invariance_on_an_executor_is_the_in_process_result():
    """executor= (a ProcessPoolExecutor of 2): every field of the in-process result;
    the full last call's surplus is discarded as in process."""
    import json

    from distributions.families import random_table
    from samplers.sequential import SequentialSampler
    from verify.exactness import check_batch_invariance

    d = random_table(3, 2, rng=2)
    kw = dict(batch_sizes=(7, 1000), num_samples=2500, rng=4)
    ref = check_batch_invariance(SequentialSampler(d), **kw)
    with process_pool(2) as ex:
        got = check_batch_invariance(SequentialSampler(d), executor=ex, **kw)
    dump = lambda r: json.dumps(r.to_dict(), sort_keys=True, default=repr)  # noqa: E731
    assert dump(got) == dump(ref)
