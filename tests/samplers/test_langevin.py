"""Langevin samplers (issue 16 item 2): the speculative ULA chain is exact in law.

Alpha is 0.01 family-wise for every statistical check (Holm inside each check).
Closed form: for a Gaussian target the ULA chain is linear-Gaussian
(``verify.continuous.ula_gaussian_moments``); the samplers' ``x_N`` is tested
against the exact law at several ``N``. Mixtures: two-sample tests against the
sequential ULA chain. Negative controls (``verify.mutants.LANGEVIN_MUTANTS``: the
wrong reflection sign, the draft noise not shared with the verification) must fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from distributions.diffusion import GaussianMixture
from distributions.errors import BudgetExceededError, OracleError, ParameterError
from samplers import LangevinSampler, SpeculativeLangevinSampler
from verify.continuous import check_gaussian_ula, check_same_law
from verify.mutants import LANGEVIN_MUTANTS

ALPHA = 0.01
MEAN = np.array([1.0, -0.5])
COV = np.array([[0.5, 0.2], [0.2, 0.3]])
GAUSS = GaussianMixture([1.0], [MEAN], [COV])
MIX = GaussianMixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.5]], [0.3, 0.2])
#: a cheap draft score: one broad Gaussian
DRAFT = GaussianMixture([1.0], [[0.0, 0.25]], [1.0])
GAMMA = 0.05


def _fail_msg(res, label: str, seed: int) -> str:
    worst = min(res.tests, key=lambda t: t.adjusted_pvalue)
    return (f"{label}: family p={res.pvalue:.3g} (alpha={res.alpha}), worst {worst.name} "
            f"p={worst.pvalue:.3g}; num_samples={res.num_samples}, seed={seed}")


def _samplers(target, n_steps: int, **kw):
    common = {"step_size": GAMMA, "num_steps": n_steps, **kw}
    return {
        "sequential": LangevinSampler(target, **common),
        "speculative-frozen": SpeculativeLangevinSampler(target, window=4, **common),
        "speculative-draft": SpeculativeLangevinSampler(target, window=4, draft=DRAFT, **common),
    }


def test_gaussian_closed_form_at_several_steps() -> None:
    """Every sampler against the exact ULA law at N = 1, 5, 17: 9 checks, Bonferroni."""
    pv = {}
    seed = 700
    for n_steps in (1, 5, 17):
        for name, smp in _samplers(GAUSS, n_steps, x0=[0.5, 0.5]).items():
            res = check_gaussian_ula(smp, MEAN, COV, step_size=GAMMA, num_steps=n_steps,
                                     x0=[0.5, 0.5], num_samples=3000, alpha=ALPHA, rng=seed)
            pv[f"{name}, N={n_steps}"] = res.pvalue
            seed += 1
    bad = {k: v for k, v in pv.items() if v <= ALPHA / len(pv)}
    assert not bad, f"ULA closed-form check rejects {bad} at alpha={ALPHA}/{len(pv)}; seeds 700.."


@pytest.mark.parametrize("name", ["speculative-frozen", "speculative-draft"])
def test_mixture_matches_the_sequential_chain(name: str) -> None:
    seed = 710 + len(name)
    smp = _samplers(MIX, 24)[name]
    res = check_same_law(smp, LangevinSampler(MIX, step_size=GAMMA, num_steps=24),
                         num_samples=4000, alpha=ALPHA, rng=seed)
    assert res.passed, _fail_msg(res, name, seed)


@pytest.mark.parametrize("mutant", sorted(LANGEVIN_MUTANTS))
def test_negative_controls_fail_the_closed_form(mutant: str) -> None:
    seed = 3
    smp = LANGEVIN_MUTANTS[mutant](GAUSS, step_size=GAMMA, num_steps=17, window=4)
    res = check_gaussian_ula(smp, MEAN, COV, step_size=GAMMA, num_steps=17,
                             num_samples=3000, alpha=ALPHA, rng=seed)
    assert not res.passed, "mutant not caught: " + _fail_msg(res, mutant, seed)


def test_unshared_noise_fails_on_the_mixture() -> None:
    seed = 5
    smp = LANGEVIN_MUTANTS["langevin-unshared-draft-noise"](MIX, step_size=GAMMA,
                                                            num_steps=24, window=4)
    res = check_same_law(smp, LangevinSampler(MIX, step_size=GAMMA, num_steps=24),
                         num_samples=4000, alpha=ALPHA, rng=seed)
    assert not res.passed, "mutant not caught: " + _fail_msg(res, "unshared noise", seed)


def test_costs() -> None:
    n_steps = 24
    seq = LangevinSampler(MIX, step_size=GAMMA, num_steps=n_steps).sample(50, rng=1)
    assert (seq.rounds == n_steps).all() and (seq.queries == n_steps).all()
    assert seq.draft_queries is None
    # a target whose score is affine and a draft equal to it: every step accepted
    for w in (1, 4, 7, 30):
        res = SpeculativeLangevinSampler(GAUSS, step_size=GAMMA, num_steps=n_steps, window=w,
                                         draft=GAUSS).sample(40, rng=2)
        assert (res.rounds == 1 + -(-n_steps // w)).all(), (w, res.rounds)
        assert (res.queries == n_steps + 1).all()
        assert res.aux["step_dnorm"].size == 0
    spec = SpeculativeLangevinSampler(MIX, step_size=GAMMA, num_steps=n_steps,
                                      window=4).sample(500, rng=3)
    assert (spec.draft_queries == 0).all()
    acc = spec.aux["step_accepted"]
    assert 0.5 < acc.mean() < 1.0
    assert spec.rounds.mean() < n_steps


class _NaNScore:
    dim = 2

    def grad_logpdf(self, y):
        out = np.zeros_like(y)
        out[-1] = np.nan
        return out


def test_bad_input() -> None:
    with pytest.raises(ParameterError, match="`step_size` must be"):
        LangevinSampler(MIX, step_size=0.0, num_steps=3)
    with pytest.raises(ParameterError, match="`num_steps` must be"):
        LangevinSampler(MIX, step_size=0.1, num_steps=0)
    with pytest.raises(ParameterError, match=r"`x0` must be a finite array of shape \(2,\)"):
        LangevinSampler(MIX, step_size=0.1, num_steps=3, x0=[1.0])
    with pytest.raises(ParameterError, match="`target` must implement ScoreTarget"):
        LangevinSampler(object(), step_size=0.1, num_steps=3)
    with pytest.raises(ParameterError, match="`window`"):
        SpeculativeLangevinSampler(MIX, step_size=0.1, num_steps=3, window=0)
    with pytest.raises(ParameterError, match=r"`draft.dim` must equal `target.dim` = 2"):
        SpeculativeLangevinSampler(MIX, step_size=0.1, num_steps=3, window=2,
                                   draft=GaussianMixture([1.0], [[0.0]], [1.0]))
    for cls, kw in ((LangevinSampler, {}), (SpeculativeLangevinSampler, {"window": 2})):
        with pytest.raises(OracleError, match="finite"):
            cls(_NaNScore(), step_size=0.1, num_steps=3, **kw).sample(3, rng=0)
    with pytest.raises(BudgetExceededError, match="`max_rounds` = 2 exceeded"):
        LangevinSampler(MIX, step_size=0.1, num_steps=3, max_rounds=2).sample(3, rng=0)
    with pytest.raises(BudgetExceededError, match="`max_rounds` = 2 exceeded"):
        SpeculativeLangevinSampler(MIX, step_size=0.1, num_steps=30, window=2,
                                   max_rounds=2).sample(3, rng=0)
