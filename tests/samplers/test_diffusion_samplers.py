"""Diffusion samplers (DESIGN 5): exact law of the Euler chain, cost accounting, mutants.

Alpha is 0.01 family-wise for every statistical check (Holm inside each check).
The negative controls (verify.mutants.DIFFUSION_MUTANTS) are the real samplers with
one step of their strategy changed; every one of them must make the corresponding
check fail at the stated sample size.
"""

from __future__ import annotations

import re
import signal
import threading
import time

import numpy as np
import pytest
from scipy import stats

from distributions.diffusion import FiniteSet, GaussianMixture
from distributions.errors import BudgetExceededError, OracleError, ParameterError
from samplers.diffusion import (
    AutospeculativeDiffusionSampler,
    EulerLocalizationSampler,
    LocalizationGrid,
    SpeculativeDiffusionSampler,
)
from tests.helpers import assert_family
from verify.continuous import (
    check_gaussian_chain,
    check_same_law,
    check_speculative_acceptance,
)
from verify.mutants import DIFFUSION_MUTANTS

ALPHA = 0.01
GRID = LocalizationGrid.geometric(20.0, 16, first=0.05)
MIX = GaussianMixture([0.3, 0.7], [[-2.0, 0.0], [2.0, 1.0]], [0.1, 0.2])


# ----------------------------------------------------------------------------- mutants
# the negative controls live in verify.mutants (DIFFUSION_MUTANTS): the real samplers
# with one step of their strategy changed
MissingQuadraticTerm = DIFFUSION_MUTANTS["diffusion-missing-quadratic-term"]
RightHalfFromProposal = DIFFUSION_MUTANTS["diffusion-right-half-from-proposal"]
WrongReflection = DIFFUSION_MUTANTS["diffusion-wrong-reflection"]
MissingHalfNormSquared = DIFFUSION_MUTANTS["diffusion-missing-half-norm-squared"]


def _fail_msg(res, label: str, seed: int) -> str:
    worst = min(res.tests, key=lambda t: t.adjusted_pvalue)
    return (f"{label}: family p={res.pvalue:.3g} (alpha={res.alpha}), worst {worst.name} "
            f"p={worst.pvalue:.3g}; num_samples={res.num_samples}, seed={seed}")


# ----------------------------------------------------------------------------- grid
def test_grid_constructors() -> None:
    u = LocalizationGrid.uniform(2.0, 4)
    np.testing.assert_allclose(u.times, [0, 0.5, 1.0, 1.5, 2.0])
    assert u.num_steps == 4 and u.T == 2.0 and len(u) == 5
    g = LocalizationGrid.geometric(10.0, 5, first=0.1)
    assert g.times[0] == 0 and g.times[1] == pytest.approx(0.1) and g.T == 10.0
    ratios = g.times[2:] / g.times[1:-1]
    np.testing.assert_allclose(ratios, ratios[0])
    assert LocalizationGrid.geometric(3.0, 1).num_steps == 1


@pytest.mark.parametrize(
    ("times", "match"),
    [
        ([0.0, 1.0, 1.0], "strictly increasing"),
        ([0.0, 2.0, 1.0], "strictly increasing"),
        ([0.1, 1.0], "start at 0"),
        ([0.0], "at least 2"),
        ([0.0, np.nan], "finite"),
        ([[0.0, 1.0]], "1-d"),
    ],
)
def test_grid_bad_input(times: list, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        LocalizationGrid(times)


def test_grid_constructor_bad_input() -> None:
    with pytest.raises(ParameterError, match="`N`"):
        LocalizationGrid.uniform(1.0, 0)
    with pytest.raises(ParameterError, match="`T`"):
        LocalizationGrid.geometric(-1.0, 4)
    with pytest.raises(ParameterError, match="`first`"):
        LocalizationGrid.geometric(1.0, 4, first=2.0)


# ----------------------------------------------------------------------------- exactness
def test_all_samplers_match_the_gaussian_chain() -> None:
    m = np.array([1.0, -0.5])
    s = np.array([[0.5, 0.2], [0.2, 0.3]])
    target = GaussianMixture([1.0], [m], [s])
    samplers = {
        "euler": (EulerLocalizationSampler(target, GRID), 4000),
        "autospec": (AutospeculativeDiffusionSampler(target, GRID), 2000),
        "speculative": (SpeculativeDiffusionSampler(target, GRID, window=4), 4000),
    }
    pv = {}
    for i, (name, (smp, n)) in enumerate(samplers.items()):
        res = check_gaussian_chain(smp, m, s, GRID, num_samples=n, alpha=ALPHA, rng=200 + i)
        pv[name] = res.pvalue
    # each check already applies Holm inside; Bonferroni across the three samplers
    bad = {k: v for k, v in pv.items() if v <= ALPHA / len(pv)}
    assert not bad, f"Gaussian-chain check rejects {bad} at alpha={ALPHA}/3; seeds 200.."


@pytest.mark.parametrize(
    ("name", "target", "num"),
    [
        ("autospec/mixture", MIX, 3000),
        ("speculative/mixture", MIX, 4000),
        ("autospec/finite", FiniteSet([[1.0, 0.0], [-1.0, 0.5], [0.0, -1.0]]), 2000),
        ("speculative/finite", FiniteSet([[1.0, 0.0], [-1.0, 0.5], [0.0, -1.0]]), 3000),
    ],
)
def test_parallel_samplers_match_euler(name: str, target, num: int) -> None:
    seed = 300 + len(name)
    if name.startswith("auto"):
        smp = AutospeculativeDiffusionSampler(target, GRID)
    else:
        smp = SpeculativeDiffusionSampler(target, GRID, window=4)
    res = check_same_law(smp, EulerLocalizationSampler(target, GRID), num_samples=num,
                         alpha=ALPHA, rng=seed)
    assert res.passed, _fail_msg(res, name, seed)


@pytest.mark.parametrize(
    ("mutant", "num"),
    [
        (MissingQuadraticTerm(MIX, GRID), 1000),
        (RightHalfFromProposal(MIX, GRID), 1500),
        (WrongReflection(MIX, GRID, window=4), 4000),
    ],
    ids=["girsanov-missing-|f|^2", "right-half-from-proposal", "reflection-wrong-sign"],
)
def test_negative_controls_fail_same_law(mutant, num: int) -> None:
    seed = 2
    res = check_same_law(mutant, EulerLocalizationSampler(MIX, GRID), num_samples=num,
                         alpha=ALPHA, rng=seed)
    assert not res.passed, "mutant not caught: " + _fail_msg(res, repr(mutant.steps), seed)


def test_speculative_per_step_acceptance() -> None:
    seed = 400
    res = check_speculative_acceptance(SpeculativeDiffusionSampler(MIX, GRID, window=4),
                                       num_samples=1500, alpha=ALPHA, rng=seed)
    assert res.passed, _fail_msg(res, "speculative acceptance", seed)
    assert res.detectable_rate_shift < 0.01
    mut = check_speculative_acceptance(MissingHalfNormSquared(MIX, GRID, window=4),
                                       num_samples=1500, alpha=ALPHA, rng=seed)
    assert not mut.passed, "acceptance mutant not caught: " + _fail_msg(mut, "mutant", seed)


# ----------------------------------------------------------------------------- costs
def test_cost_accounting_with_constant_drift() -> None:
    # one point: f is constant, so every speculation is exact
    target = FiniteSet([[0.5, -1.0]])
    n_steps = GRID.num_steps
    e = EulerLocalizationSampler(target, GRID).sample(7, rng=1)
    assert (e.rounds == n_steps + 1).all() and (e.queries == n_steps + 1).all()
    a = AutospeculativeDiffusionSampler(target, GRID).sample(7, rng=1)
    assert (a.rounds == 3).all() and (a.queries == n_steps + 1).all()
    for w in (1, 3, 16, 40):
        s = SpeculativeDiffusionSampler(target, GRID, window=w).sample(7, rng=1)
        assert (s.rounds == 1 + -(-n_steps // w)).all(), (w, s.rounds)
        assert (s.queries == n_steps + 1).all()
        assert s.aux["step_dnorm"].size == 0
    for res in (e, a):
        np.testing.assert_allclose(res.samples, np.tile([0.5, -1.0], (7, 1)))
        assert res.aux["path_end"].shape == (7, 2)


@pytest.mark.parametrize("kind", ["autospec", "speculative"])
def test_rounds_do_not_depend_on_batch_size(kind: str) -> None:
    """num=1 repeated 100 times vs one batch of 500: same cost distribution."""
    smp = (AutospeculativeDiffusionSampler(MIX, GRID) if kind == "autospec"
           else SpeculativeDiffusionSampler(MIX, GRID, window=4))
    seed = 500
    ss = np.random.SeedSequence(seed).spawn(101)
    single = [smp.sample(1, rng=np.random.default_rng(s)) for s in ss[:100]]
    r1 = np.concatenate([r.rounds for r in single])
    q1 = np.concatenate([r.queries for r in single])
    batch = smp.sample(500, rng=np.random.default_rng(ss[100]))
    pv = {
        "rounds": stats.mannwhitneyu(r1, batch.rounds).pvalue,
        "queries": stats.mannwhitneyu(q1, batch.queries).pvalue,
        "rounds KS": stats.ks_2samp(r1, batch.rounds).pvalue,
    }
    assert_family(pv, alpha=ALPHA, seed=seed, sizes="100 single vs batch of 500")
    # the residual machinery is exercised: costs vary between samples
    assert np.unique(batch.rounds).size > 3, np.unique(batch.rounds)


# ----------------------------------------------------------------------------- errors
class _NaNOracle:
    dim = 2

    def denoise(self, t, x):
        out = np.zeros_like(x)
        out[-1] = np.nan
        return out


class _WrongShape:
    dim = 2

    def denoise(self, t, x):
        return np.zeros((x.shape[0], 3))


def test_sampler_bad_input() -> None:
    with pytest.raises(ParameterError, match="window"):
        SpeculativeDiffusionSampler(MIX, GRID, window=0)
    with pytest.raises(ParameterError, match="rho"):
        AutospeculativeDiffusionSampler(MIX, GRID, rho=0.0)
    with pytest.raises(ParameterError, match="denoise"):
        EulerLocalizationSampler(object(), GRID)
    with pytest.raises(ParameterError, match="strictly increasing"):
        EulerLocalizationSampler(MIX, [0.0, 1.0, 0.5])
    with pytest.raises(ParameterError, match="num"):
        EulerLocalizationSampler(MIX, GRID).sample(-1)
    for cls, kw in ((EulerLocalizationSampler, {}), (AutospeculativeDiffusionSampler, {}),
                    (SpeculativeDiffusionSampler, {"window": 2})):
        with pytest.raises(OracleError, match="finite"):
            cls(_NaNOracle(), GRID, **kw).sample(3, rng=0)
        with pytest.raises(OracleError, match="shape"):
            cls(_WrongShape(), GRID, **kw).sample(3, rng=0)


# ----------------------------------------------------------------------------- budgets
def _alarm_free() -> bool:
    return (signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))


class _Slow:
    """The mixture's exact denoiser, sleeping ``delay`` seconds per call."""

    dim = 2

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def denoise(self, t, x):
        time.sleep(self.delay)
        return MIX.denoise(t, x)


def _samplers(oracle, **kw):
    return {
        "euler": EulerLocalizationSampler(oracle, GRID, **kw),
        "autospec": AutospeculativeDiffusionSampler(oracle, GRID, **kw),
        "speculative": SpeculativeDiffusionSampler(oracle, GRID, window=4, **kw),
    }


@pytest.mark.parametrize("kind", ["euler", "autospec", "speculative"])
def test_round_budget_bounds_every_sample_and_draws_no_randomness(kind: str) -> None:
    """Within the budget nothing changes (same seed, same output and costs); one
    round below the largest rounds seen it stops (Euler: before any oracle call)."""
    free = _samplers(MIX)[kind].sample(100, rng=np.random.default_rng(61))
    top = int(free.rounds.max())
    within = _samplers(MIX, max_rounds=top, timeout=600.0)[kind].sample(
        100, rng=np.random.default_rng(61))
    np.testing.assert_array_equal(within.samples, free.samples)
    np.testing.assert_array_equal(within.rounds, free.rounds)
    spy = _Slow(0.0)
    calls = []
    spy.denoise = lambda t, x: calls.append(1) or MIX.denoise(t, x)  # type: ignore[method-assign]
    with pytest.raises(BudgetExceededError, match=rf"`max_rounds` = {top - 1} exceeded: ") as info:
        _samplers(spy, max_rounds=top - 1)[kind].sample(100, rng=np.random.default_rng(61))
    msg = str(info.value)
    if kind == "euler":
        assert f"takes N + 1 = {GRID.num_steps + 1} rounds" in msg and not calls, msg
    else:
        assert re.search(rf"(sample \d+|a call of block \(\d+, \d+\)) reached {top} rounds", msg)
    assert _alarm_free()


def test_autospec_round_budget_names_the_residual_loop() -> None:
    """A tight budget stops the autospeculative sampler inside a residual loop; the
    message names the block of time steps, the trials run and the acceptance rate."""
    with pytest.raises(BudgetExceededError) as info:
        AutospeculativeDiffusionSampler(MIX, GRID, max_rounds=4).sample(400, rng=62)
    msg = str(info.value)
    assert re.search(r"`max_rounds` = 4 exceeded: a call of block \(\d+, \d+\) reached \d+ "
                     r"rounds in AutospeculativeDiffusionSampler.sample\(\); last residual chunk "
                     r"judged: \d+ call\(s\), block \(\d+, \d+\) of time steps among them, \d+ "
                     r"still rejected after \d+ residual trials each; acceptance rate seen there "
                     r"[0-9.e-]+ \(\d+ of \d+ trials accepted\)", msg), msg


@pytest.mark.parametrize("kind", ["euler", "autospec", "speculative"])
def test_timeout_stops_a_slow_denoiser(kind: str) -> None:
    """0.2 s per oracle call and 17+ rounds: the 0.5 s timeout stops every sampler."""
    start = time.monotonic()
    with pytest.raises(BudgetExceededError, match=r"`timeout` = 0.5 s exceeded: .* elapsed in "):
        _samplers(_Slow(0.2), timeout=0.5)[kind].sample(5, rng=0)
    assert time.monotonic() - start < 5
    assert _alarm_free()


def test_timeout_off_the_main_thread() -> None:
    caught: list[BaseException] = []

    def run() -> None:
        for sampler in _samplers(_Slow(0.05), timeout=0.3).values():
            try:
                sampler.sample(5, rng=0)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                caught.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert len(caught) == 3, caught
    assert all(isinstance(e, BudgetExceededError) and "`timeout` = 0.3 s" in str(e)
               for e in caught), caught


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"max_rounds": 0}, r"`max_rounds` must be an integer >= 1; got 0\."),
        ({"max_rounds": 1.0}, r"`max_rounds` must be an integer >= 1; got 1.0\."),
        ({"timeout": -1}, r"`timeout` must be a finite number > 0; got -1\."),
        ({"timeout": "x"}, r"`timeout` must be a finite number > 0; got 'x'\."),
    ],
)
def test_budget_arguments_are_checked_first(kw: dict, match: str) -> None:
    for make in (lambda: EulerLocalizationSampler(object(), GRID, **kw),
                 lambda: AutospeculativeDiffusionSampler(object(), GRID, **kw),
                 lambda: SpeculativeDiffusionSampler(object(), GRID, window=2, **kw)):
        with pytest.raises(ParameterError, match=match):
            make()
