"""Meta-tests of the anytime-valid sequential mode and the TV certificate (issue 15).

Where the question is about the statistic, not the sampler, samples are drawn from a
table directly (``Generator.choice`` / ``multinomial``) and fed to the kernels of
:mod:`verify.sequential`; the end-to-end tests go through ``check_exact``.

Each calibration test shows both sides: the valid procedure stays within the
binomial interval of its level, a subtly invalid one (a fixed-size G-test looked at
after every checkpoint; the bias-corrected plug-in TV used as a bound) leaves it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from distributions.families import random_table
from distributions.scalable import MixtureOfProducts
from distributions.table import TableDistribution
from tests.helpers import monitor_log_e
from verify.errors import ParameterError
from verify.exactness import check_exact, plan_sample_size
from verify.exactness.results import SequentialResult
from verify.sequential import (
    TableEProcess,
    checkpoint_schedule,
    cs_alpha,
    p_to_e,
    plan_certificate_size,
    tv_upper_bound,
)

META_ALPHA = 1e-3
SEEDS = 200


def perturbed(p: np.ndarray, tv: float) -> np.ndarray:
    """Near-worst alternative at TV ``tv``: mass moved from one half of the mass to the
    other, proportionally (chi2 about 4 tv**2)."""
    order = np.argsort(p, kind="stable")
    plus = order[np.cumsum(p[order]) <= 0.5]
    a = p[plus].sum()
    s = p * (1 - tv / (1 - a))
    s[plus] = p[plus] * (1 + tv / a)
    return s


def draw_cells(gen: np.random.Generator, s: np.ndarray, size: int) -> np.ndarray:
    return np.searchsorted(np.cumsum(s), gen.random(size) * s.sum(), side="right").clip(
        0, s.size - 1)


def sup_log_e(p: np.ndarray, s: np.ndarray, nmax: int, gen: np.random.Generator,
              stop_at: float = math.inf) -> tuple[float, int]:
    """Running maximum of log E over ``nmax`` samples from ``s`` (every sample looked
    at), and the index of the first sample at which log E >= ``stop_at``."""
    return monitor_log_e(TableEProcess(p), lambda k: (draw_cells(gen, s, k),), nmax,
                         stop_at)


def too_many(count: int, trials: int, rate: float) -> bool:
    """The count is significantly above ``rate`` (one-sided binomial test at META_ALPHA)."""
    return bool(stats.binom.sf(count - 1, trials, rate) < META_ALPHA)


# ----------------------------------------------------------------- the e-process
def test_eprocess_false_rejections_within_alpha_under_continuous_monitoring():
    alpha = 0.05
    p = random_table(4, 2, rng=1).pmf()
    gen = np.random.default_rng(20261202)
    sups = [sup_log_e(p, p, 5000, gen)[0] for _ in range(SEEDS)]
    rej = int(np.sum(np.array(sups) >= math.log(1 / alpha)))
    assert not too_many(rej, SEEDS, alpha), (
        f"{rej}/{SEEDS} correct runs crossed 1/alpha={1 / alpha:g} (alpha={alpha}); "
        f"binomial p={stats.binom.sf(rej - 1, SEEDS, alpha):.3g}, seed 20261202")


def test_peeking_fixed_size_test_is_caught_by_the_same_meta_test():
    """The other side: a G-test re-run at every checkpoint (no correction) rejects a
    correct sampler far more often than alpha; the meta-test above would catch it."""
    alpha = 0.05
    p = random_table(4, 2, rng=1).pmf()
    gen = np.random.default_rng(20261203)
    rej = 0
    for _ in range(SEEDS):
        counts = np.zeros(p.size)
        t = 0
        for end in checkpoint_schedule(5000):
            counts += np.bincount(draw_cells(gen, p, end - t), minlength=p.size)
            t = end
            nz = counts > 0
            g = 2 * float(np.sum(counts[nz] * np.log(counts[nz] / (t * p[nz]))))
            if stats.chi2.sf(g, p.size - 1) <= alpha:
                rej += 1
                break
    assert too_many(rej, SEEDS, alpha), f"peeking G-test rejected {rej}/{SEEDS} only"


def test_impossible_cell_makes_the_evidence_infinite():
    p = np.array([0.5, 0.5, 0.0])
    ep = TableEProcess(p)
    le = ep.update(np.array([0, 1, 2, 0]))
    assert np.isfinite(le[:2]).all() and np.isinf(le[2:]).all()


def test_rejects_tv01_with_10x_fewer_samples_than_the_fixed_plan_at_tv001():
    """TV 0.1 on random_table(10, 2): mean samples to reject (alpha = 1e-3, threshold
    2 / alpha as in check_exact) against the fixed-size plan at TV 0.01."""
    alpha = 1e-3
    p = random_table(10, 2, rng=20261202).pmf()
    s = perturbed(p, 0.1)
    fixed = plan_sample_size(1024, tv=0.01, alpha=alpha, power=0.99)
    gen = np.random.default_rng(5)
    used = [sup_log_e(p, s, fixed, gen, stop_at=math.log(2 / alpha))[1] for _ in range(20)]
    ratio = fixed / float(np.mean(used))
    assert ratio >= 10, f"mean {np.mean(used):.0f} samples to reject vs fixed {fixed}"


@pytest.mark.slow
def test_rejects_tv002_before_the_fixed_plan_at_tv002():
    """TV 0.02: the e-process alone (alpha / 2) rejects on average before the fixed
    plan at TV 0.02 (170,182 samples) and every run before the plan at TV 0.01."""
    alpha = 1e-3
    p = random_table(10, 2, rng=20261202).pmf()
    s = perturbed(p, 0.02)
    fixed = plan_sample_size(1024, tv=0.01, alpha=alpha, power=0.99)
    gen = np.random.default_rng(6)
    used = np.array([sup_log_e(p, s, fixed, gen, stop_at=math.log(2 / alpha))[1]
                     for _ in range(10)])
    assert used.mean() < plan_sample_size(1024, tv=0.02, alpha=alpha, power=0.99), used
    assert used.max() < fixed, used


# ----------------------------------------------------------------- check_exact
def table_sampler(s: np.ndarray, n: int, q: int):
    def sample(num: int, rng: np.random.Generator) -> np.ndarray:
        return np.array(np.unravel_index(draw_cells(rng, s, num), (q,) * n)).T
    return sample


@pytest.mark.slow
def test_check_exact_sequential_false_rejections_within_alpha():
    alpha = 0.05
    d = random_table(4, 2, rng=3, concentration=5.0)
    p = d.pmf()
    rej = sum(not check_exact(table_sampler(p, 4, 2), d, sequential=True, tv=0.1,
                              alpha=alpha, rng=seed).passed for seed in range(SEEDS))
    assert not too_many(rej, SEEDS, alpha), f"{rej}/{SEEDS} false rejections"


def test_check_exact_sequential_stops_early_and_replays():
    d = random_table(4, 2, rng=3, concentration=5.0)
    p = d.pmf()
    bad = check_exact(table_sampler(perturbed(p, 0.2), 4, 2), d, sequential=True, tv=0.02,
                      rng=9)
    assert isinstance(bad, SequentialResult)
    assert bad.status == "fail" and bad.stop_reason == "evidence"
    assert bad.samples_used <= bad.num_samples < bad.max_size / 5
    assert bad.e_value >= bad.threshold == 2 / bad.alpha and bad.pvalue <= bad.alpha
    again = check_exact(table_sampler(perturbed(p, 0.2), 4, 2), d, sequential=True,
                        tv=0.02, rng=bad.seed)
    assert again.to_dict() == bad.to_dict()
    good = check_exact(table_sampler(p, 4, 2), d, sequential=True, tv=0.05, rng=9,
                       certify=0.1)
    assert good.status == "pass" and good.stop_reason == "max-size"
    assert good.num_samples == good.max_size >= plan_sample_size(16, tv=0.05, alpha=5e-4,
                                                                 power=0.99)
    assert good.certified and good.tv_upper <= 0.1 and good.method == "sequential-gtest"
    assert good.power_against.startswith("every deviation of the joint law")


def test_sequential_sparse_final_test_states_the_two_block_family():
    """When the final fixed-size test is the Monte Carlo one, its detectable TV is the
    simulated two-block figure, and ``power_against`` says so (not "every deviation")."""
    d = random_table(6, 2, rng=1, concentration=0.3)
    res = check_exact(table_sampler(d.pmf(), 6, 2), d, sequential=True, tv=0.2, rng=3)
    assert res.method == "sequential-montecarlo" and res.stop_reason == "max-size"
    assert res.power_against.startswith("two-block deviations"), res.power_against
    assert "simulated_power" in res.details


def test_planned_sequential_run_states_at_most_the_requested_tv():
    """A sequential run to its planned maximum states the TV the plan was judged at
    (its simulated power reaches the target there); stating the bisection's figure
    instead gave 0.140 for a plan made for 0.1 on this table."""
    d = random_table(6, 2, rng=1)
    res = check_exact(lambda k, g: d.sample(k, rng=g), d, tv=0.1, sequential=True, rng=0)
    assert res.status == "pass" and res.method == "sequential-montecarlo", res
    assert res.stop_reason == "max-size" and res.num_samples == res.max_size
    assert res.detectable_tv <= 0.1, (res.detectable_tv, res.num_samples)
    assert res.details["simulated_power"] >= 0.99, res.details


def test_impossible_sample_stops_the_sequential_check():
    d = TableDistribution(np.array([[0.5, 0.5], [0.0, 0.0]]))
    s = np.array([0.45, 0.45, 0.1, 0.0])
    res = check_exact(table_sampler(s, 2, 2), d, sequential=True, tv=0.05, rng=1)
    assert res.status == "fail" and res.stop_reason == "impossible"
    assert res.impossible_hits >= 1 and res.num_samples <= 64


@pytest.mark.parametrize("kwargs, match", [
    ({"sequential": "yes"}, "`sequential` must be True or False"),
    ({"certify": 1.5}, "`certify`"),
    ({"certify": 0.0}, "`certify`"),
])
def test_bad_sequential_arguments_refused_before_any_work(kwargs, match):
    d = random_table(3, 2, rng=1)

    def never(num, rng):  # pragma: no cover - must not be called
        raise AssertionError("drew before checking the arguments")

    with pytest.raises(ParameterError, match=match):
        check_exact(never, d, **kwargs)


def _mixture(n: int, seed: int, w: float = 0.5) -> MixtureOfProducts:
    a = np.random.default_rng(seed).uniform(0.15, 0.85, (2, n))
    return MixtureOfProducts([w, 1 - w], np.stack([1 - a, a], axis=-1))


def test_certify_refused_for_chain_tests():
    with pytest.raises(ParameterError, match="`certify` needs a target with a table"):
        check_exact(lambda num, rng: np.zeros((num, 50), int), _mixture(50, 0), certify=0.1)


@pytest.mark.slow
def test_sequential_chain_stops_early_on_a_wrong_sampler_and_passes_a_right_one():
    target = _mixture(60, 0)
    wrong = _mixture(60, 0, w=0.7)
    bad = check_exact(lambda num, rng: wrong.sample(num, rng=rng), target, sequential=True,
                      tv=0.05, alpha=1e-3, rng=2)
    assert bad.status == "fail" and bad.stop_reason == "evidence"
    assert bad.num_samples < bad.max_size
    good = check_exact(lambda num, rng: target.sample(num, rng=rng), target,
                       sequential=True, tv=0.1, alpha=1e-3, rng=2)
    assert good.status == "pass" and good.num_samples == good.max_size


def test_p_to_e_is_a_calibrator():
    from scipy import integrate

    # int_0^x e(p) dp = int_0^1 x**k dk = (x - 1) / log(x): the mass below 1e-8 is
    # known in closed form, the rest is integrated numerically; the total is 1
    a = 1e-8
    rest = sum(integrate.quad(p_to_e, lo, hi, limit=200)[0]
               for lo, hi in ((a, 1e-3), (1e-3, 1)))
    assert rest + (a - 1) / math.log(a) == pytest.approx(1.0, abs=1e-7)
    assert p_to_e(0.0) == math.inf and p_to_e(1.0) == 0.5


# ----------------------------------------------------------------- the certificate
def test_tv_bound_covers_the_true_tv_and_the_plugin_estimate_does_not():
    alpha, true_tv, num = 0.05, 0.15, 400
    p = random_table(4, 2, rng=2, concentration=5.0).pmf()
    s = perturbed(p, true_tv)
    assert 0.5 * np.abs(s - p).sum() == pytest.approx(true_tv)
    gen = np.random.default_rng(20261204)
    counts = gen.multinomial(num, s, size=SEEDS)
    tv_hat = 0.5 * np.abs(counts / num - p).sum(axis=1)
    bounds = np.array([tv_upper_bound(t, p.size, num, alpha) for t in tv_hat])
    miss = int(np.sum(bounds < true_tv))
    assert not too_many(miss, SEEDS, alpha), f"bound missed the true TV {miss}/{SEEDS}"
    null_bias = 0.5 * np.sum(np.sqrt(2 * p * (1 - p) / (math.pi * num)))
    naive_miss = int(np.sum(tv_hat - null_bias < true_tv))
    assert too_many(naive_miss, SEEDS, alpha), naive_miss


def test_confidence_sequence_covers_at_every_checkpoint():
    alpha, true_tv, nmax = 0.05, 0.1, 4000
    p = random_table(4, 2, rng=2, concentration=5.0).pmf()
    s = perturbed(p, true_tv)
    gen = np.random.default_rng(20261205)
    miss = 0
    for _ in range(SEEDS):
        counts, t, low = np.zeros(p.size), 0, math.inf
        for j, end in enumerate(checkpoint_schedule(nmax), start=1):
            counts += np.bincount(draw_cells(gen, s, end - t), minlength=p.size)
            t = end
            low = min(low, tv_upper_bound(0.5 * np.abs(counts / t - p).sum(), p.size, t,
                                          cs_alpha(alpha, j)))
            if low < true_tv:
                miss += 1
                break
    assert not too_many(miss, SEEDS, alpha), f"{miss}/{SEEDS} paths left the sequence"


def test_certificate_plan_certifies_a_correct_sampler_with_the_stated_power():
    alpha, power, eps = 0.05, 0.9, 0.1
    p = random_table(4, 2, rng=2, concentration=5.0).pmf()
    num = plan_certificate_size(p, eps, alpha, power)
    gen = np.random.default_rng(20261206)
    for size, should in ((num, True), (num // 6, False)):
        counts = gen.multinomial(size, p, size=SEEDS)
        tv_hat = 0.5 * np.abs(counts / size - p).sum(axis=1)
        ok = int(np.sum([tv_upper_bound(t, p.size, size, alpha) <= eps for t in tv_hat]))
        low = stats.binom.ppf(META_ALPHA, SEEDS, power)
        assert (ok >= low) == should, (size, ok, low)


def test_certificate_sizes_in_the_docstring():
    from verify.sequential import certificate

    for k, eps in ((64, 0.05), (64, 0.01), (1024, 0.05), (1024, 0.01)):
        cert = plan_certificate_size(k, eps, 1e-3, 0.99)
        test = plan_sample_size(k, tv=eps, alpha=1e-3, power=0.99)
        assert f"{cert:,}" in certificate.__doc__ and f"{test:,}" in certificate.__doc__
        assert 0.5 * math.sqrt(k) <= cert / test <= math.sqrt(k)
