"""Source-wrapper mutants (issue 18): samplers whose ``sample`` wraps the random
source it is handed (:data:`SOURCE_MUTANTS`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from samplers.autospec import AutospeculativeSampler
from samplers.base import SampleResult, as_random_source


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
