"""Langevin samplers for an unnormalised target given its score (Galashov et al. 2025).

Both samplers produce the law of the unadjusted Langevin chain (ULA) after ``N``
steps of size ``gamma`` from a fixed start ``x_0``::

    x_{k+1} = x_k + gamma grad log pi(x_k) + sqrt(2 gamma) xi_k,

and output ``x_N`` (the ULA chain's law, not ``pi``: the discretisation bias is
the chain's, and exactness is with respect to the chain).

- :class:`LangevinSampler`: the sequential chain, ``N`` rounds and ``N`` score
  queries per sample.
- :class:`SpeculativeLangevinSampler`: the speculative chain of
  :mod:`samplers.speculative_chain` with ``h = 2 gamma`` and drift
  ``f = grad log pi / 2`` (the same Gaussian transition): a window of ``L`` steps is
  drafted with a frozen score (the score at the window start) or with a cheap draft
  score, verified in one batch of target score evaluations, and accepted step by
  step with the reflection maximal coupling. Rounds: one for the score at ``x_0``,
  one per window, one per rejection (the score at the reflected state).

Budgets (``max_rounds``, ``timeout``) and the ``steps=`` strategy seam are those of
the diffusion samplers (:class:`~samplers.speculative_chain.SpeculativeDiffusionSteps`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from distributions.base import ScoreTarget
from distributions.errors import BudgetExceededError, OracleError, ParameterError
from distributions.validation import check_finite_vector, check_float, check_int
from samplers.base import Budget, SampleResult, as_random_source, check_budget
from samplers.speculative_chain import SpeculativeDiffusionSteps, check_steps, speculative_chain

__all__ = ["LangevinSampler", "SpeculativeLangevinSampler"]


class _Score:
    """Checked, counted access to a :class:`ScoreTarget` as the chain's drift
    ``f(t, x) = grad log pi(x) / 2`` (``t`` is ignored)."""

    def __init__(self, target: ScoreTarget, name: str) -> None:
        for attr in ("dim", "grad_logpdf"):
            if not hasattr(target, attr):
                raise ParameterError(
                    f"`{name}` must implement ScoreTarget (dim, grad_logpdf); it has no "
                    f"`{attr}`: got {type(target).__name__}."
                )
        dim = target.dim
        if not isinstance(dim, int | np.integer) or dim < 1:
            raise ParameterError(f"`{name}.dim` must be an integer >= 1; got {dim!r}.")
        self.inner = target
        self.dim = int(dim)

    def score(self, x: np.ndarray) -> np.ndarray:
        b = x.shape[0]
        if b == 0:
            return np.empty((0, self.dim))
        out = np.asarray(self.inner.grad_logpdf(np.ascontiguousarray(x)), dtype=np.float64)
        if out.shape != (b, self.dim):
            raise OracleError(
                f"grad_logpdf answer must have shape ({b}, {self.dim}); got {out.shape}."
            )
        if not np.isfinite(out).all():
            r = int(np.argwhere(~np.isfinite(out))[0, 0])
            raise OracleError(f"grad_logpdf answer must be finite; row {r} is {out[r]!r}.")
        return out

    def __call__(self, t: np.ndarray, x: np.ndarray) -> np.ndarray:
        return 0.5 * self.score(x)


class LangevinSampler:
    """The sequential unadjusted Langevin chain: ``N`` rounds and score queries.

    Parameters
    ----------
    target : ScoreTarget
        ``dim`` and ``grad_logpdf(y) -> (B, dim)``.
    step_size : float
        ``gamma > 0``.
    num_steps : int
        ``N >= 1``.
    x0 : array_like, shape (dim,), optional
        Start of every chain (default the origin).
    max_rounds, timeout : optional
        Budget: rounds per sample (``>= 1``; every sample takes ``N``, so
        ``max_rounds < N`` raises before any work) and seconds per call (``> 0``).
    """

    def __init__(self, target: ScoreTarget, *, step_size: float, num_steps: int,
                 x0: Any = None, max_rounds: int | None = None,
                 timeout: float | None = None) -> None:
        self.max_rounds, self.timeout = check_budget(max_rounds, timeout)
        self.target = _Score(target, "target")
        self.dim = self.target.dim
        self.gamma = check_float("step_size", step_size, low=0.0, low_open=True)
        self.num_steps = check_int("num_steps", num_steps, low=1)
        self.x0 = _check_x0(x0, self.dim)

    def _budget(self, describe: Any = None) -> Budget:
        return Budget(type(self).__name__, self.max_rounds, self.timeout, describe)

    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        """Draw ``num`` chains; ``samples = x_N``."""
        num = check_int("num", num, low=0)
        src = as_random_source(rng)
        if num and self.max_rounds is not None and self.num_steps > self.max_rounds:
            raise BudgetExceededError(
                f"`max_rounds` = {self.max_rounds} exceeded: every sample of "
                f"{type(self).__name__}.sample() takes N = {self.num_steps} rounds; nothing "
                "was run."
            )
        drift = self.target
        h = 2.0 * self.gamma
        done = [0]
        with self._budget(lambda: f"{done[0]} of N = {self.num_steps} steps done") as budget:
            x = np.tile(self.x0, (num, 1))
            for k in range(self.num_steps):
                budget.check_time()
                x = x + h * drift(np.zeros(num), x) + math.sqrt(h) * src.normal((num, self.dim))
                done[0] = k + 1
        cost = np.full(num, self.num_steps, dtype=np.int64)
        return SampleResult(samples=x, rounds=cost, queries=cost.copy())


def _check_x0(x0: Any, dim: int) -> np.ndarray:
    return np.zeros(dim) if x0 is None else check_finite_vector("x0", x0, dim)


class SpeculativeLangevinSampler(LangevinSampler):
    """The unadjusted Langevin chain simulated speculatively (exact in law).

    Parameters
    ----------
    target : ScoreTarget
    step_size, num_steps, x0
        As :class:`LangevinSampler`.
    window : int
        Drafted steps per window, ``>= 1``.
    draft : ScoreTarget, optional
        A cheap score used to draft steps ``1..L-1`` of a window, called once per
        drafted step at the drafted state (counted in ``draft_queries``). ``None``
        (default): the frozen score (the target's score at the window start).
    max_rounds : int, optional
        Round budget per sample, ``>= 1``, checked after every window.
    timeout : float, optional
        Seconds per :meth:`sample` call, ``> 0``.
    steps : SpeculativeDiffusionSteps, optional
        The per-step acceptance and the reflection (default: the exact ones).

    Notes
    -----
    ``aux`` holds the per-step records ``step_dnorm``, ``step_accepted``,
    ``step_sample``, ``step_index`` of :func:`~samplers.speculative_chain.speculative_chain`;
    step ``k`` is accepted with probability ``2 Phi(-|D| / 2)``,
    ``D = sqrt(gamma / 2) (draft score - target score)``.
    """

    def __init__(self, target: ScoreTarget, *, step_size: float, num_steps: int,
                 window: int, draft: ScoreTarget | None = None, x0: Any = None,
                 max_rounds: int | None = None, timeout: float | None = None,
                 steps: SpeculativeDiffusionSteps | None = None) -> None:
        self.steps: SpeculativeDiffusionSteps = check_steps(steps, SpeculativeDiffusionSteps)
        super().__init__(target, step_size=step_size, num_steps=num_steps, x0=x0,
                         max_rounds=max_rounds, timeout=timeout)
        self.window = check_int("window", window, low=1)
        self.draft = None if draft is None else _Score(draft, "draft")
        if self.draft is not None and self.draft.dim != self.dim:
            raise ParameterError(
                f"`draft.dim` must equal `target.dim` = {self.dim}; got {self.draft.dim}."
            )

    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        """Draw ``num`` exact ULA end points with per-sample rounds and queries."""
        num = check_int("num", num, low=0)
        src = as_random_source(rng)
        n_steps = self.num_steps
        h = 2.0 * self.gamma
        times = h * np.arange(n_steps + 1, dtype=np.float64)
        pos = np.zeros(num, dtype=np.int64)

        def describe() -> str:
            least = int(pos.min()) if num else n_steps
            return (f"window = {self.window}; {int((pos >= n_steps).sum())} of {num} chains "
                    f"complete, the least advanced at step {least} of N = {n_steps}")

        with self._budget(describe) as budget:
            x0 = np.tile(self.x0, (num, 1))
            m0 = self.target(np.zeros(num), x0)
            run = speculative_chain(
                self.target, self.draft, times, np.full(n_steps, h), x0, m0,
                window=self.window, src=src, budget=budget, steps=self.steps, positions=pos,
            )
        return SampleResult(samples=run.x, rounds=run.rounds + 1, queries=run.queries + 1,
                            aux=dict(run.records), draft_queries=run.draft_queries)
