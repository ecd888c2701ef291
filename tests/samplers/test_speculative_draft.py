"""Speculative diffusion sampler with an independent draft model (issue 16 item 1).

The output law must be the Euler chain's for ANY draft: checked with
``check_same_law`` (alpha 0.01 family-wise, Holm inside) for (a) a draft equal to
the target (every step accepted), (b) a deliberately wrong mixture, (c) the target
computed in float32. The negative control (the wrong reflection sign, with the wrong
draft) must fail the same check at the same size.
"""

from __future__ import annotations

import numpy as np
import pytest

from distributions.diffusion import GaussianMixture
from distributions.errors import ParameterError
from samplers.diffusion import (
    EulerLocalizationSampler,
    LocalizationGrid,
    SpeculativeDiffusionSampler,
)
from verify.continuous import check_same_law
from verify.mutants import DIFFUSION_MUTANTS

ALPHA = 0.01
GRID = LocalizationGrid.geometric(20.0, 16, first=0.05)
MIX = GaussianMixture([0.3, 0.7], [[-2.0, 0.0], [2.0, 1.0]], [0.1, 0.2])
#: a deliberately wrong draft: other weights, means and scales
WRONG = GaussianMixture([0.6, 0.4], [[-1.0, 0.5], [1.5, 2.0]], [0.5, 0.05])


class Float32Draft:
    """The target's denoiser computed and returned in float32."""

    dim = 2

    def __init__(self, inner: GaussianMixture) -> None:
        self.inner = inner

    def denoise(self, t: np.ndarray, x: np.ndarray) -> np.ndarray:
        out = self.inner.denoise(t.astype(np.float32).astype(np.float64),
                                 x.astype(np.float32).astype(np.float64))
        return out.astype(np.float32)


def _fail_msg(res, label: str, seed: int) -> str:
    worst = min(res.tests, key=lambda t: t.adjusted_pvalue)
    return (f"{label}: family p={res.pvalue:.3g} (alpha={res.alpha}), worst {worst.name} "
            f"p={worst.pvalue:.3g}; num_samples={res.num_samples}, seed={seed}")


def _window_draft_calls(n_steps: int, window: int) -> int:
    """Draft rows of a chain whose windows are all accepted: ``L - 1`` per window."""
    full, rest = divmod(n_steps, window)
    return full * (window - 1) + max(rest - 1, 0)


def test_draft_equal_to_target_accepts_every_step() -> None:
    for w in (1, 3, 4, 16):
        res = SpeculativeDiffusionSampler(MIX, GRID, window=w, draft=MIX).sample(300, rng=7)
        assert res.aux["step_accepted"].size == 0 or res.aux["step_accepted"].all()
        assert (res.aux["step_dnorm"] == 0).all()
        assert (res.rounds == 1 + -(-GRID.num_steps // w)).all(), (w, res.rounds)
        assert (res.queries == GRID.num_steps + 1).all()
        assert (res.draft_queries == _window_draft_calls(GRID.num_steps, w)).all()


def test_frozen_draft_counts_no_draft_query() -> None:
    res = SpeculativeDiffusionSampler(MIX, GRID, window=4).sample(50, rng=1)
    assert res.draft_queries is not None and (res.draft_queries == 0).all()
    assert EulerLocalizationSampler(MIX, GRID).sample(5, rng=1).draft_queries is None


@pytest.mark.parametrize(
    ("label", "draft", "seed"),
    [("equal-to-target", MIX, 611), ("wrong-mixture", WRONG, 612),
     ("float32", Float32Draft(MIX), 613)],
)
def test_any_draft_gives_the_euler_law(label: str, draft, seed: int) -> None:
    smp = SpeculativeDiffusionSampler(MIX, GRID, window=4, draft=draft)
    res = check_same_law(smp, EulerLocalizationSampler(MIX, GRID), num_samples=4000,
                         alpha=ALPHA, rng=seed)
    assert res.passed, _fail_msg(res, f"draft {label}", seed)


def test_wrong_draft_costs_more_than_a_good_one() -> None:
    good = SpeculativeDiffusionSampler(MIX, GRID, window=4, draft=MIX).sample(400, rng=3)
    bad = SpeculativeDiffusionSampler(MIX, GRID, window=4, draft=WRONG).sample(400, rng=3)
    assert bad.aux["step_accepted"].mean() < 0.9
    assert bad.rounds.mean() > good.rounds.mean()


def test_negative_control_with_draft_fails() -> None:
    seed = 2
    mutant = DIFFUSION_MUTANTS["diffusion-wrong-reflection"](MIX, GRID, window=4, draft=WRONG)
    res = check_same_law(mutant, EulerLocalizationSampler(MIX, GRID), num_samples=4000,
                         alpha=ALPHA, rng=seed)
    assert not res.passed, "mutant not caught: " + _fail_msg(res, "wrong reflection", seed)


def test_bad_draft_is_refused_before_any_work() -> None:
    with pytest.raises(ParameterError, match="`draft` must implement DiffusionOracle"):
        SpeculativeDiffusionSampler(MIX, GRID, window=2, draft=object())
    other = GaussianMixture([1.0], [[0.0, 0.0, 0.0]], [1.0])
    with pytest.raises(ParameterError, match=r"`draft.dim` must equal `oracle.dim` = 2; got 3"):
        SpeculativeDiffusionSampler(MIX, GRID, window=2, draft=other)
