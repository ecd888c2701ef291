"""AGR24 mutants: :class:`~samplers.agr24.AGR24Steps` with one wrong step
(:data:`AGR24_MUTANTS`)."""

from __future__ import annotations

import numpy as np

from samplers.agr24 import AGR24Sampler, AGR24Steps
from samplers.base import RandomSource
from verify.mutants.mutant import Mutant


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
