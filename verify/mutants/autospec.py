"""Autospeculative mutants: :class:`~samplers.autospec.SpeculativeSteps` with one
wrong step (:data:`MUTANTS`)."""

from __future__ import annotations

import numpy as np

from samplers.autospec import (
    AutospeculativeSampler,
    BlockOutput,
    ResidualCall,
    SpeculativeSteps,
)
from verify.mutants.mutant import Mutant


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
