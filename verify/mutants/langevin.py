"""Langevin mutants: the speculative Langevin sampler with one wrong step
(:data:`LANGEVIN_MUTANTS`)."""

from __future__ import annotations

import numpy as np

from samplers.langevin import SpeculativeLangevinSampler
from samplers.speculative_chain import SpeculativeDiffusionSteps
from verify.mutants.diffusion import WrongReflection
from verify.mutants.mutant import Mutant

__all__ = ["UnsharedDraftNoise", "LANGEVIN_MUTANTS"]


class UnsharedDraftNoise(SpeculativeDiffusionSteps):
    """The acceptance test reads another step's noise (the draft noise of the step
    is not the one the verification uses): ``z`` rolled by one step in the window."""

    def log_accept(self, z: np.ndarray, dvec: np.ndarray) -> np.ndarray:
        return super().log_accept(np.roll(z, 1, axis=1), dvec)


#: Langevin mutants (negative controls of :class:`SpeculativeLangevinSampler`):
#: name -> mutant, built as ``mutant(target, step_size=..., num_steps=...,
#: window=...)`` (``window >= 2``: a one-step window has no other step to read).
LANGEVIN_MUTANTS: dict[str, Mutant] = {
    "langevin-wrong-reflection": Mutant(SpeculativeLangevinSampler, WrongReflection()),
    "langevin-unshared-draft-noise": Mutant(SpeculativeLangevinSampler, UnsharedDraftNoise()),
}
