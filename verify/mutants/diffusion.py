"""Diffusion mutants: the diffusion samplers' strategies with one wrong step
(:data:`DIFFUSION_MUTANTS`)."""

from __future__ import annotations

import numpy as np

from samplers.diffusion import (
    AutospecDiffusionSteps,
    AutospeculativeDiffusionSampler,
    SpeculativeDiffusionSampler,
    SpeculativeDiffusionSteps,
)
from verify.mutants.mutant import Mutant


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
