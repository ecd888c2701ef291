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

from verify.mutants.agr24 import AGR24_MUTANTS, KeepGuess, RestrictedCorrection
from verify.mutants.autospec import (
    MUTANTS,
    Float32Accumulation,
    LeftRowsFromRightHalf,
    OffByOneSplit,
    ResidualSkipped,
    ResidualUnnormalised,
    ReusedUniform,
    RightConditionedOnProposal,
    SwappedResidualRatio,
    TemperedOracle,
    WrongFirstStageRatio,
)
from verify.mutants.diffusion import (
    DIFFUSION_MUTANT_CHECKS,
    DIFFUSION_MUTANTS,
    MissingHalfNormSquared,
    MissingQuadraticTerm,
    RightHalfFromProposal,
    WrongReflection,
)
from verify.mutants.langevin import LANGEVIN_MUTANTS, UnsharedDraftNoise
from verify.mutants.matrix import (
    MutationCell,
    MutationMatrix,
    diffusion_mutation_matrix,
    first_stage_test,
    mutation_matrix,
)
from verify.mutants.mutant import Mutant
from verify.mutants.sources import (
    SOURCE_MUTANT_DETECTION,
    SOURCE_MUTANTS,
    BernoulliShortcut,
    GlobalRandom,
    OwnGenerator,
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
    "LANGEVIN_MUTANTS",
    "UnsharedDraftNoise",
    "diffusion_mutation_matrix",
    "SOURCE_MUTANTS",
    "SOURCE_MUTANT_DETECTION",
    "MutationCell",
    "MutationMatrix",
    "mutation_matrix",
    "first_stage_test",
]
