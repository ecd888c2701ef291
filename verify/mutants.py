"""A catalogue of plausible wrong samplers, and the matrix of which check catches which.

Every mutant of :data:`MUTANTS` is the real
:class:`~samplers.autospec.AutospeculativeSampler` built with a wrong strategy:
``AutospeculativeSampler(oracle, steps=S())`` where ``S`` subclasses
:class:`~samplers.autospec.SpeculativeSteps` and overrides exactly ONE of its steps
(``split``, ``log_probs``, ``first_log_accept``, ``residual_log_accept``,
``right_context``, ``left_rows``, ``residual``); the rest is the real code. A
:class:`Mutant` bundles the sampler class and the strategy. The mutants of
:data:`SOURCE_MUTANTS` override only ``sample``, wrapping the random source they are
handed (a Bernoulli shortcut for categorical draws, coins from a generator of their
own or from numpy's global state); :data:`SOURCE_MUTANT_DETECTION` states which checks catch each.
:func:`mutation_matrix` runs every check of the suite against every mutant and the
correct sampler:

``gtest``
    :func:`verify.check_exact` full-table test at the planned size.
``chain``
    :func:`verify.check_exact` with ``method="chain"`` (chain-rule, marginal and
    moment tests, no table) at the chain planner's size.
``first-stage``
    The root block's first-stage acceptance rate (from the sampler's trace) against
    its exact value ``1 - TV(mu, nu)`` with ``nu`` the product of the one-site
    marginals: exact two-sided binomial test.
``exact-law``
    :func:`verify.exact_law` on a small enumerable target: caught when the
    enumerated law is at TV > 1e-9 from the target (beyond the truncation bound),
    or when ``exact_law`` refuses the sampler (no law certified; detail
    ``"refused: ..."``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from distributions.errors import ParameterError
from samplers.agr24 import AGR24Sampler, AGR24Steps
from samplers.autospec import (
    AutospeculativeSampler,
    BlockOutput,
    ResidualCall,
    SpeculativeSteps,
)
from samplers.base import RandomSource, SampleResult, as_random_source
from samplers.diffusion import (
    AutospecDiffusionSteps,
    AutospeculativeDiffusionSampler,
    SpeculativeDiffusionSampler,
    SpeculativeDiffusionSteps,
)

__all__ = [
    "MUTANTS",
    "SwappedResidualRatio",
    "RightConditionedOnProposal",
    "ResidualSkipped",
    "ResidualUnnormalised",
    "ReusedUniform",
    "TemperedOracle",
    "Float32Accumulation",
    "WrongFirstStageRatio",
    "OffByOneSplit",
    "LeftRowsFromRightHalf",
    "BernoulliShortcut",
    "OwnGenerator",
    "GlobalRandom",
    "Mutant",
    "KeepGuess",
    "RestrictedCorrection",
    "AGR24_MUTANTS",
    "MissingQuadraticTerm",
    "RightHalfFromProposal",
    "WrongReflection",
    "MissingHalfNormSquared",
    "DIFFUSION_MUTANTS",
    "DIFFUSION_MUTANT_CHECKS",
    "diffusion_mutation_matrix",
    "SOURCE_MUTANTS",
    "SOURCE_MUTANT_DETECTION",
    "MutationCell",
    "MutationMatrix",
    "mutation_matrix",
    "first_stage_test",
]


# ---------------------------------------------------------------------- step strategies
class SwappedResidualRatio(SpeculativeSteps):
    """Residual coin with the ratio the wrong way round: ``max(0, 1 - mu/nu)``."""

    def residual_log_accept(self, log_mu: np.ndarray, log_nu: np.ndarray) -> np.ndarray:
        return super().residual_log_accept(log_nu, log_mu)


class RightConditionedOnProposal(SpeculativeSteps):
    """The right child is conditioned on the rejected proposal's left half."""

    def right_context(
        self,
        ctx: np.ndarray,
        left_pos: np.ndarray,
        y_left: np.ndarray,
        call: ResidualCall,
        trials: np.ndarray,
    ) -> np.ndarray:
        x_left = call.proposal[trials, : left_pos.shape[1]]
        return super().right_context(ctx, left_pos, x_left, call, trials)


class ResidualSkipped(SpeculativeSteps):
    """No residual loop: a rejected call returns a fresh draw from ``nu_S``."""

    def residual(self, sampler: AutospeculativeSampler, call: ResidualCall) -> BlockOutput:
        nu_rows, pos = call.nu_rows, call.pos
        m, L = nu_rows.shape[:2]
        y = call.source.categorical(nu_rows.reshape(m * L, sampler.q)).reshape(m, L)
        rows = np.arange(m)
        first = self.log_probs(nu_rows[rows, 0, y[:, 0]])
        base = call.ctx.copy()
        base[rows, pos[:, 0]] = y[:, 0]
        chain = sampler.oracle.conditionals_at(base, pos[:, 1:], y[:, 1:])
        log_chain = self.log_probs(np.take_along_axis(chain, y[:, 1:, None], axis=2)[..., 0])
        ones = np.ones(m, dtype=np.int64)
        return y, first + log_chain.sum(axis=1), ones, ones * (L - 1)


class ResidualUnnormalised(SpeculativeSteps):
    """Residual coin ``min(1, (mu - nu)_+ / nu)``: the residual density relative to
    the proposal instead of ``(mu - nu)_+ / mu``."""

    def residual_log_accept(self, log_mu: np.ndarray, log_nu: np.ndarray) -> np.ndarray:
        d = log_mu - log_nu
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.minimum(0.0, np.log(np.expm1(np.maximum(d, 0.0))))
        return np.where(d > 0, out, -np.inf)


class _StaleFirstBatch(SpeculativeSteps):
    """The exact steps, except that the first residual batch of one loop compares
    the first trial's coin with the uniform that rejected the proposal (one
    instance per loop: it is the loop's own state, dropped when the loop ends)."""

    def __init__(self, alpha0: np.ndarray) -> None:
        self.alpha0 = alpha0
        self.used = False

    def residual_log_accept(self, log_mu: np.ndarray, log_nu: np.ndarray) -> np.ndarray:
        lp = np.asarray(super().residual_log_accept(log_mu, log_nu), dtype=np.float64)
        if self.used:
            return lp
        # this loop's first batch: trial 1 of every call reuses the stale uniform
        self.used = True
        alpha0 = self.alpha0
        width = max(1, lp.size // max(1, alpha0.size))
        a0 = np.zeros((alpha0.size, width))
        a0[:, 0] = alpha0
        a0 = a0.reshape(lp.shape)
        p = np.exp(lp)
        with np.errstate(divide="ignore", invalid="ignore"):
            cond = np.where(a0 < 1.0, np.maximum(p - a0, 0.0) / (1.0 - a0), p)
            return np.log(cond)


class ReusedUniform(SpeculativeSteps):
    """The residual coins reuse the uniform that rejected the proposal.

    The first stage rejected ``x`` with a uniform ``u >= alpha0 = min(1, mu/nu)``;
    comparing that same ``u`` against the first residual trial's ``a(y) = (1 -
    nu/mu)_+`` accepts it with ``(a - alpha0)_+ / (1 - alpha0)`` instead of ``a``
    (later trials draw fresh uniforms). The loop is the sampler's own
    (:meth:`~samplers.autospec.AutospeculativeSampler.residual_loop`), run with
    steps whose first batch's acceptance is the stale one; every coin is drawn by
    the loop from the source it was handed.
    """

    def residual(self, sampler: AutospeculativeSampler, call: ResidualCall) -> BlockOutput:
        x, nu_rows, pos = call.proposal, call.nu_rows, call.pos
        m = x.shape[0]
        rows = np.arange(m)
        base = call.ctx.copy()
        base[rows, pos[:, 0]] = x[:, 0]
        chain = sampler.oracle.conditionals_at(base, pos[:, 1:], x[:, 1:])
        log_chain = self.log_probs(np.take_along_axis(chain, x[:, 1:, None], axis=2)[..., 0])
        log_mu_x = self.log_probs(nu_rows[rows, 0, x[:, 0]]) + log_chain.sum(axis=1)
        alpha0 = np.exp(self.first_log_accept(log_mu_x, call.log_nu_proposal))
        return sampler.residual_loop(call, _StaleFirstBatch(alpha0))


class TemperedOracle(SpeculativeSteps):
    """Every probability factor tempered: ``log p / T`` with ``T = 1.05``."""

    temperature: float = 1.05

    def log_probs(self, p: np.ndarray) -> np.ndarray:
        return super().log_probs(p) / self.temperature


class Float32Accumulation(SpeculativeSteps):
    """Log-probabilities in float32 (the chain-rule sums accumulate in float32)."""

    def log_probs(self, p: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(p, dtype=np.float32))


class WrongFirstStageRatio(SpeculativeSteps):
    """First stage accepts with ``min(1, nu/mu)`` instead of ``min(1, mu/nu)``."""

    def first_log_accept(self, log_mu: np.ndarray, log_nu: np.ndarray) -> np.ndarray:
        out = super().first_log_accept(log_nu, log_mu)
        return np.where(np.isneginf(log_mu), -np.inf, out)


class OffByOneSplit(SpeculativeSteps):
    """Off-by-one in the split bookkeeping: the left child reuses its parent's
    speculation rows shifted by one (``nu_rows[:, 1:k+1]``)."""

    def left_rows(self, nu_rows: np.ndarray, k: int) -> np.ndarray:
        return nu_rows[:, 1 : k + 1]


class LeftRowsFromRightHalf(SpeculativeSteps):
    """Rows not reused correctly: the left child is given the speculation rows of
    the right half (``nu_rows[:, L-k:]``) instead of its own first ``k`` rows."""

    def left_rows(self, nu_rows: np.ndarray, k: int) -> np.ndarray:
        return nu_rows[:, nu_rows.shape[1] - k :]


@dataclass(frozen=True)
class Mutant:
    """A wrong sampler: a real sampler class with a wrong strategy swapped in
    through its public seam (``steps=`` of :class:`AutospeculativeSampler`,
    ``steps=`` of :class:`~samplers.agr24.AGR24Sampler`, ``steps=`` of the
    diffusion samplers).

    Calling it as ``mutant(oracle, *args, **kwargs)`` builds the sampler (the
    arguments are the sampler's own); :attr:`description` is the strategy's
    docstring summary.
    """

    sampler: type
    steps: Any

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.sampler(*args, steps=self.steps, **kwargs)

    @property
    def description(self) -> str:
        doc = type(self.steps).__doc__ or ""
        return " ".join(doc.strip().split("\n\n")[0].split())


# ---------------------------------------------------------------------- source wrappers
class _BernoulliShortcutSource:
    """Source wrapper of :class:`BernoulliShortcut`: a categorical draw is a coin
    for value 0 and, when it fails, a uniform pick among the other values; every
    other draw is the wrapped source's own (looked up on it)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __getattr__(self, name: str) -> Any:
        if name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)

    def categorical(self, probs: np.ndarray) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        m, q = p.shape
        with np.errstate(divide="ignore"):
            zero = np.asarray(self.source.coin(np.log(p[:, 0] / p.sum(axis=1))), dtype=bool)
        out = np.zeros(m, dtype=np.int64)
        rest = np.flatnonzero(~zero)
        if rest.size:
            if q == 2:
                out[rest] = 1
            else:  # the shortcut: the other values as if equally likely
                out[rest] = 1 + self.source.categorical(np.full((rest.size, q - 1), 1.0 / (q - 1)))
        return out


class BernoulliShortcut(AutospeculativeSampler):
    """Categorical draws by a "Bernoulli shortcut" in a source wrapper of ``sample``:
    value 0 with its probability, otherwise a uniform pick among the other values.

    Exact for ``q = 2`` (no check can catch it there), biased for ``q >= 3``. The
    step methods are the real ones; only ``sample`` differs, by wrapping the source
    it is handed (issue 18: the enumerator once skipped such wrappers).
    """

    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        return super().sample(num, rng=_BernoulliShortcutSource(as_random_source(rng)))


class _ForeignCoinSource:
    """Source wrapper whose coins come from ``draw(shape) -> uniforms in [0, 1)``
    instead of the wrapped source."""

    def __init__(self, source: Any, draw: Any) -> None:
        self.source = source
        self.draw = draw

    def __getattr__(self, name: str) -> Any:
        if name in ("source", "draw"):
            raise AttributeError(name)
        return getattr(self.source, name)

    def coin(self, log_p: np.ndarray) -> np.ndarray:
        lp = np.asarray(log_p, dtype=np.float64)
        return np.log1p(-self.draw(lp.shape)) <= lp


class OwnGenerator(AutospeculativeSampler):
    """Coins from a generator of its own (seeded from OS entropy at construction)
    instead of the ``rng`` source: the law is exact, but ``rng`` does not reproduce
    a run and no enumeration of the source's choices is the sampler's law
    (:func:`verify.exact_law` must refuse it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._generator = np.random.default_rng()

    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        return super().sample(num, rng=_ForeignCoinSource(as_random_source(rng),
                                                          self._generator.random))


def _global_uniforms(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.random_sample(shape)  # noqa: NPY002 - the mutant's defect


class GlobalRandom(AutospeculativeSampler):
    """Coins from numpy's global random state (``np.random.random_sample``) instead
    of the ``rng`` source: exact law, not reproducible, not enumerable
    (:func:`verify.exact_law` must refuse it)."""

    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        return super().sample(num, rng=_ForeignCoinSource(as_random_source(rng),
                                                          _global_uniforms))


#: The catalogue: name -> mutant (an autospeculative sampler with one wrong step).
MUTANTS: dict[str, Mutant] = {
    name: Mutant(AutospeculativeSampler, steps())
    for name, steps in {
        "swapped-residual-ratio": SwappedResidualRatio,
        "right-on-proposal": RightConditionedOnProposal,
        "residual-skipped": ResidualSkipped,
        "residual-unnormalised": ResidualUnnormalised,
        "reused-uniform": ReusedUniform,
        "tempered-oracle": TemperedOracle,
        "float32-accumulation": Float32Accumulation,
        "wrong-first-stage-ratio": WrongFirstStageRatio,
        "off-by-one-split": OffByOneSplit,
        "left-rows-from-right-half": LeftRowsFromRightHalf,
    }.items()
}

# ---------------------------------------------------------------------- AGR24
class KeepGuess(AGR24Steps):
    """AGR24 keeping the first disagreeing *guess* instead of the correction."""

    def finish(self, g: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, keep = super().finish(g, vals)
        return g, keep


class RestrictedCorrection(AGR24Steps):
    """AGR24 correcting a disagreement with ``c`` restricted to values != g.

    The agreement probability is exact (``J[g, g] / p(g)``), but a disagreement is
    corrected with ``c`` restricted to the other values instead of the off-diagonal
    row of the race coupling (subtle: identical to the truth for ``q = 2``).
    """

    def correct(self, source: RandomSource, p: np.ndarray, c: np.ndarray,
                g: np.ndarray) -> np.ndarray:
        live = c.sum(axis=1) > 0
        c = np.where(live[:, None], c, p)
        J = self.coupling_rows(p, c, g)
        rows = np.arange(g.size)
        stay = J[rows, g] / J.sum(axis=1)
        other = c.copy()
        other[rows, g] = 0.0
        tot = other.sum(axis=1, keepdims=True)
        other = np.where(tot > 0, other / np.where(tot > 0, tot, 1.0), 0.0)
        probs = (1.0 - stay)[:, None] * other
        probs[rows, g] += stay
        return source.categorical(probs / probs.sum(axis=1, keepdims=True))


#: AGR24 mutants (negative controls of the AGR24 sampler): name -> mutant. Both
#: are wrong for ``q >= 3``; ``keep-guess`` also for ``q = 2``.
AGR24_MUTANTS: dict[str, Mutant] = {
    "agr24-keep-guess": Mutant(AGR24Sampler, KeepGuess()),
    "agr24-restricted-correction": Mutant(AGR24Sampler, RestrictedCorrection()),
}


# ---------------------------------------------------------------------- diffusion
class MissingQuadraticTerm(AutospecDiffusionSteps):
    """Girsanov log ratio without the ``-h (|f|^2 - |m_a|^2) / 2`` term."""

    def path_loglik(self, drifts: np.ndarray, deltas: np.ndarray,
                    steps: np.ndarray) -> np.ndarray:
        return np.einsum("mld,mld->m", drifts, deltas)


class RightHalfFromProposal(AutospecDiffusionSteps):
    """Residual trials start their right half at the rejected proposal's mid point."""

    def right_start(self, left_end: np.ndarray, proposal_mid: np.ndarray) -> np.ndarray:
        return proposal_mid


class WrongReflection(SpeculativeDiffusionSteps):
    """Reflection with the wrong sign convention: ``-(z - 2 <e, z> e)``."""

    def reflect(self, z: np.ndarray, e: np.ndarray) -> np.ndarray:
        return -super().reflect(z, e)


class MissingHalfNormSquared(SpeculativeDiffusionSteps):
    """Per-step acceptance ``min(1, exp(-<z, D>))``: the ``|D|^2 / 2`` term dropped."""

    def log_accept(self, z: np.ndarray, dvec: np.ndarray) -> np.ndarray:
        return np.minimum(0.0, -(z * dvec).sum(axis=-1))


#: Diffusion mutants (negative controls of the diffusion samplers): name -> mutant,
#: built as ``mutant(oracle, grid, **kwargs)`` (the speculative ones need
#: ``window=``). :data:`DIFFUSION_MUTANT_CHECKS` names the check that catches each.
DIFFUSION_MUTANTS: dict[str, Mutant] = {
    "diffusion-missing-quadratic-term": Mutant(AutospeculativeDiffusionSampler,
                                               MissingQuadraticTerm()),
    "diffusion-right-half-from-proposal": Mutant(AutospeculativeDiffusionSampler,
                                                 RightHalfFromProposal()),
    "diffusion-wrong-reflection": Mutant(SpeculativeDiffusionSampler, WrongReflection()),
    "diffusion-missing-half-norm-squared": Mutant(SpeculativeDiffusionSampler,
                                                  MissingHalfNormSquared()),
}

#: Check of :func:`diffusion_mutation_matrix` expected to catch each diffusion
#: mutant: ``same-law`` (two-sample test against the Euler chain) or
#: ``acceptance`` (per-step acceptance rate against ``2 Phi(-|D| / 2)``).
DIFFUSION_MUTANT_CHECKS: dict[str, str] = {
    "diffusion-missing-quadratic-term": "same-law",
    "diffusion-right-half-from-proposal": "same-law",
    "diffusion-wrong-reflection": "same-law",
    "diffusion-missing-half-norm-squared": "acceptance",
}


#: Mutants that override ``sample`` to wrap the random source they are handed
#: (issue 18). Kept apart from :data:`MUTANTS` (whose members override one step
#: each and are all wrong on binary targets): ``bernoulli-shortcut`` is exact for
#: ``q = 2``, and the other two have an exact law (their defect is randomness drawn
#: outside the ``rng`` source: runs are not reproducible and cannot be enumerated).
SOURCE_MUTANTS: dict[str, type[AutospeculativeSampler]] = {
    "bernoulli-shortcut": BernoulliShortcut,
    "own-generator": OwnGenerator,
    "global-random": GlobalRandom,
}

#: Checks of :func:`mutation_matrix` expected to catch each source mutant on a
#: target with ``q >= 3`` (the G-test only when the mutant's exact TV is at least
#: the planned ``tv``). ``exact-law`` catches ``bernoulli-shortcut`` by its
#: enumerated TV and the other two by refusing to enumerate them
#: (``ParameterError``: randomness outside the source); no statistical check can
#: catch those two, whose law is exact.
SOURCE_MUTANT_DETECTION: dict[str, tuple[str, ...]] = {
    "bernoulli-shortcut": ("gtest", "exact-law"),
    "own-generator": ("exact-law",),
    "global-random": ("exact-law",),
}


# ---------------------------------------------------------------------- checks
def first_stage_test(
    sampler: AutospeculativeSampler, target: Any, num: int, *, rng: Any = None
) -> tuple[float, float, int, float]:
    """Root first-stage acceptance vs ``1 - TV(mu, nu)`` (exact binomial test).

    Returns ``(observed rate, expected rate, num, p-value)``.
    """
    n, q = int(target.n), int(target.q)
    pmf = np.asarray(target.pmf(), dtype=np.float64).reshape((q,) * n)
    marg = [pmf.sum(axis=tuple(j for j in range(n) if j != i)) for i in range(n)]
    nu = marg[0]
    for m_ in marg[1:]:
        nu = np.multiply.outer(nu, m_)
    expected = 1.0 - 0.5 * float(np.abs(pmf - nu).sum())
    old = sampler.trace
    sampler.trace = True
    try:
        res = sampler.sample(num, rng=rng)
    finally:
        sampler.trace = old
    tr = res.trace
    root = tr.block_depth == 0
    acc = int(tr.block_first_accepted[root].sum())
    total = int(root.sum())
    pv = float(stats.binomtest(acc, total, min(1.0, max(0.0, expected))).pvalue)
    return acc / total, expected, total, pv


# ---------------------------------------------------------------------- matrix
@dataclass(frozen=True)
class MutationCell:
    """One (sampler, check) entry of the matrix."""

    sampler: str
    check: str
    caught: bool
    num_samples: int
    statistic: float
    pvalue: float
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class MutationMatrix:
    """Result of :func:`mutation_matrix`.

    Attributes
    ----------
    cells : tuple of MutationCell
    samplers, checks : tuple of str
    alpha, tv, power : float
    """

    cells: tuple[MutationCell, ...]
    samplers: tuple[str, ...]
    checks: tuple[str, ...]
    alpha: float
    tv: float
    power: float

    def cell(self, sampler: str, check: str) -> MutationCell:
        for c in self.cells:
            if c.sampler == sampler and c.check == check:
                return c
        raise KeyError((sampler, check))

    def caught_by_any(self, sampler: str) -> bool:
        return any(c.caught for c in self.cells if c.sampler == sampler)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha, "tv": self.tv, "power": self.power,
            "samplers": list(self.samplers), "checks": list(self.checks),
            "cells": [asdict(c) for c in self.cells],
        }

    def to_table(self) -> str:
        """Markdown table: caught (x) / missed (.) with the sample size used."""
        head = "| sampler | " + " | ".join(self.checks) + " |"
        sep = "|---" * (len(self.checks) + 1) + "|"
        lines = [head, sep]
        have = {(c.sampler, c.check) for c in self.cells}
        for s in self.samplers:
            row = []
            for ch in self.checks:
                if (s, ch) not in have:  # a check that does not apply to the sampler
                    row.append("-")
                    continue
                c = self.cell(s, ch)
                mark = "CAUGHT" if c.caught else "pass"
                size = f"N={c.num_samples}" if ch != "exact-law" else f"tv={c.statistic:.2g}"
                row.append(f"{mark} ({size})")
            lines.append(f"| {s} | " + " | ".join(row) + " |")
        return "\n".join(lines)


_CHECKS = ("gtest", "chain", "first-stage", "exact-law")


def mutation_matrix(
    target: Any = None,
    *,
    exact_target: Any = None,
    mutants: Mapping[str, Callable[..., Any]] | None = None,
    correct: Callable[..., Any] = AutospeculativeSampler,
    checks: Sequence[str] = _CHECKS,
    tv: float = 0.05,
    alpha: float = 1e-3,
    power: float = 0.99,
    exact_tol: float = 1e-12,
    order: Any = "random",
    exact_order: Any = "identity",
    rng: Any = None,
) -> MutationMatrix:
    """Run every check against every mutant and the correct sampler.

    Parameters
    ----------
    target : Enumerable, optional
        Target of the statistical checks; default ``random_table(5, 2, rng=0)``.
    exact_target : Enumerable, optional
        Small target of the ``exact-law`` check; default ``random_table(3, 2, rng=1)``.
    mutants : dict, optional
        Name -> sampler factory ``(oracle, validate=..., order=...) -> sampler``
        (default :data:`MUTANTS`: :class:`Mutant` entries, or sampler classes such as
        those of :data:`SOURCE_MUTANTS`); ``"correct"`` is added.
    correct : sampler factory, default AutospeculativeSampler
        The correct sampler the mutants are variants of (``AGR24Sampler`` for
        :data:`AGR24_MUTANTS`, which need ``checks`` without ``"first-stage"``).
    checks : sequence of {"gtest", "chain", "first-stage", "exact-law"}
    tv, alpha, power : float
        Planning of the statistical checks (each at its planned size).
    exact_tol : float
        ``tol`` of :func:`verify.exact_law`.
    order, exact_order : sampler ``order`` for the statistical checks / exact law
        (enumerating all ``n!`` random orders is slower; see :mod:`verify.exact_law`).
    rng : seed, optional

    Returns
    -------
    MutationMatrix
        A sampler is "caught" by a check when the check rejects it (p <= alpha;
        exact-law: TV lower bound > 1e-9, a refusal, or the sampler raises).
    """
    from distributions.families import random_table
    from verify.chain_tests import plan_chain_sample_size
    from verify.exact_law import exact_law
    from verify.exactness import check_exact, plan_sample_size

    for c in checks:
        if c not in _CHECKS:
            raise ParameterError(f"`checks` entries must be in {_CHECKS}; got {c!r}.")
    if target is None:
        target = random_table(5, 2, rng=0)
    if exact_target is None:
        exact_target = random_table(3, 2, rng=1)
    table = dict(mutants if mutants is not None else MUTANTS)
    samplers: dict[str, Callable[..., Any]] = {"correct": correct}
    samplers.update(table)
    if "first-stage" in checks:
        for name, factory in samplers.items():
            kind = factory.sampler if isinstance(factory, Mutant) else factory
            if not (isinstance(kind, type) and issubclass(kind, AutospeculativeSampler)):
                raise ParameterError(
                    "`checks` entry 'first-stage' needs autospeculative samplers (it reads "
                    f"their trace); got {name!r} -> {getattr(kind, '__name__', kind)!r}."
                )
    seeds = np.random.SeedSequence(
        np.random.default_rng(rng).integers(0, 2**63 - 1)
    ).spawn(len(samplers) * len(checks))
    cells = []
    it = iter(seeds)
    for name, cls in samplers.items():
        for check in checks:
            seed = int(next(it).generate_state(1, np.uint64)[0] >> np.uint64(1))

            def make(o: Any, cls: Callable[..., Any] = cls) -> Any:
                return cls(o, validate=False, order=order)

            t0 = time.perf_counter()
            try:
                if check == "gtest":
                    num = plan_sample_size(target, tv=tv, alpha=alpha, power=power)
                    r = check_exact(make(target), target, num_samples=num,
                                    alpha=alpha, power=power, rng=seed)
                    cell = MutationCell(name, check, r.status == "fail", num, r.statistic,
                                        r.pvalue, 0.0,
                                        f"{r.method}; status {r.status}; "
                                        f"tv_estimate={r.tv_estimate:.3g}")
                elif check == "chain":
                    num = plan_chain_sample_size(target, tv=tv, alpha=alpha, power=power)
                    r = check_exact(make(target), target, num_samples=num,
                                    alpha=alpha, power=power, method="chain", rng=seed)
                    worst = r.worst_cells[0].label if r.worst_cells else ""
                    cell = MutationCell(name, check, r.status == "fail", num, r.statistic,
                                        r.pvalue, 0.0, f"status {r.status}; worst: {worst}")
                elif check == "first-stage":
                    num = plan_sample_size(2, tv=tv, alpha=alpha, power=power)
                    obs, exp, total, pv = first_stage_test(make(target), target, num, rng=seed)
                    cell = MutationCell(name, check, pv <= alpha, total, obs, pv, 0.0,
                                        f"rate {obs:.4f} vs exact {exp:.4f}")
                else:
                    try:
                        law = exact_law(lambda o, cls=cls: cls(o, validate=False,
                                                               order=exact_order),
                                        exact_target, tol=exact_tol, rational=False)
                    except ParameterError as exc:  # refused: no law was certified
                        cell = MutationCell(name, check, True, 0, math.nan, math.nan, 0.0,
                                            f"refused: {exc}"[:200])
                    else:
                        cell = MutationCell(name, check, law.tv_lower > 1e-9, 0, law.tv,
                                            math.nan, 0.0,
                                            f"truncated={law.truncated_mass:.2g}; worst "
                                            f"{law.worst_config} diff {law.worst_diff:.3g}")
            except (RuntimeError, FloatingPointError, ValueError, IndexError) as exc:
                cell = MutationCell(name, check, True, 0, math.nan, 0.0, 0.0,
                                    f"raised {type(exc).__name__}: {exc}"[:200])
            cells.append(MutationCell(**{**asdict(cell),
                                         "seconds": time.perf_counter() - t0}))
    return MutationMatrix(tuple(cells), tuple(samplers), tuple(checks), alpha, tv, power)


_DIFFUSION_CHECKS = ("same-law", "acceptance")


def diffusion_mutation_matrix(
    oracle: Any = None,
    grid: Any = None,
    *,
    mutants: Mapping[str, Mutant] | None = None,
    num_samples: int = 2000,
    window: int = 4,
    alpha: float = 0.01,
    rng: Any = None,
) -> MutationMatrix:
    """Run the diffusion checks against the diffusion mutants and the correct samplers.

    ``same-law``: :func:`verify.continuous.check_same_law` of the sampler against
    :class:`~samplers.diffusion.EulerLocalizationSampler` (the exact chain);
    ``acceptance``: :func:`verify.continuous.check_speculative_acceptance` (for the
    speculative sampler and its mutants only; the cell is absent otherwise). A
    sampler is caught by a check that fails (status ``"fail"``).

    Parameters
    ----------
    oracle : DiffusionOracle, optional
        Default: the two-component mixture of the diffusion tests,
        ``GaussianMixture([0.3, 0.7], [[-2, 0], [2, 1]], [0.1, 0.2])``.
    grid : LocalizationGrid, optional
        Default ``LocalizationGrid.geometric(20.0, 16, first=0.05)``.
    mutants : dict, optional
        Name -> :class:`Mutant` of a diffusion sampler (default
        :data:`DIFFUSION_MUTANTS`); ``"correct-autospeculative"`` and
        ``"correct-speculative"`` are added.
    num_samples : int, default 2000
        Draws per sampler and check.
    window : int, default 4
        ``window`` of the speculative samplers.
    alpha : float, default 0.01
        Level of each check.
    rng : seed, optional

    Returns
    -------
    MutationMatrix
        With ``tv = nan`` and ``power = nan`` (the checks plan no effect size here).
    """
    from distributions.diffusion import GaussianMixture
    from samplers.diffusion import EulerLocalizationSampler, LocalizationGrid
    from verify.continuous import check_same_law, check_speculative_acceptance

    table = dict(mutants if mutants is not None else DIFFUSION_MUTANTS)
    for name, mut in table.items():
        if not (isinstance(mut, Mutant) and mut.sampler in (AutospeculativeDiffusionSampler,
                                                            SpeculativeDiffusionSampler)):
            raise ParameterError(
                f"`mutants` must map names to Mutant entries of a diffusion sampler; got "
                f"{name!r} -> {mut!r}."
            )
    if oracle is None:
        oracle = GaussianMixture([0.3, 0.7], [[-2.0, 0.0], [2.0, 1.0]], [0.1, 0.2])
    if grid is None:
        grid = LocalizationGrid.geometric(20.0, 16, first=0.05)
    samplers: dict[str, Mutant] = {
        "correct-autospeculative": Mutant(AutospeculativeDiffusionSampler,
                                          AutospecDiffusionSteps()),
        "correct-speculative": Mutant(SpeculativeDiffusionSampler,
                                      SpeculativeDiffusionSteps()),
    }
    samplers.update(table)
    seeds = np.random.SeedSequence(
        np.random.default_rng(rng).integers(0, 2**63 - 1)
    ).spawn(len(samplers) * len(_DIFFUSION_CHECKS))
    reference = EulerLocalizationSampler(oracle, grid)
    cells = []
    it = iter(seeds)
    for name, mut in samplers.items():
        speculative = mut.sampler is SpeculativeDiffusionSampler
        for check in _DIFFUSION_CHECKS:
            seed = int(next(it).generate_state(1, np.uint64)[0] >> np.uint64(1))
            if check == "acceptance" and not speculative:
                continue
            smp = mut(oracle, grid, window=window) if speculative else mut(oracle, grid)
            t0 = time.perf_counter()
            if check == "same-law":
                r: Any = check_same_law(smp, reference, num_samples=num_samples, alpha=alpha,
                                        rng=seed)
            else:
                r = check_speculative_acceptance(smp, num_samples=num_samples, alpha=alpha,
                                                 rng=seed)
            cells.append(MutationCell(name, check, r.status == "fail", num_samples,
                                      float(r.statistic), float(r.pvalue),
                                      time.perf_counter() - t0, f"status {r.status}"))
    return MutationMatrix(tuple(cells), tuple(samplers), _DIFFUSION_CHECKS, alpha, math.nan,
                          math.nan)
