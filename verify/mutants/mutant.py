"""The :class:`Mutant` record: a real sampler class with a wrong strategy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Mutant"]


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
