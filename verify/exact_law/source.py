"""The enumerating random source: every random choice is a branch point (DFS with
re-execution along a prescribed prefix)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from distributions.errors import ParameterError

__all__ = ["EnumeratingSource"]


class _Execution(Protocol):
    """What a source needs of its enumeration: the source of the execution running
    now (``None`` outside any)."""

    current: EnumeratingSource | None


class _Truncated(BaseException):
    """A path's weight fell below ``tol``. (A ``BaseException``: sampler code that
    catches ``Exception`` cannot swallow the enumerator's control flow.)"""


class _Parked(BaseException):
    """A lumped residual continuation was registered; this execution stops."""


class _Refusal(BaseException):
    """The enumeration cannot follow the sampler; raised as ``ParameterError`` by
    :func:`exact_law` (a ``BaseException`` so that no sampler code swallows it)."""


def _prod(src: EnumeratingSource, factors: Any) -> Any:
    w: Any = src.rational.one() if src.rational else 1.0
    for f in factors:
        w = w * f
    return w


@dataclass
class _Run:
    """Accumulators of one enumeration (one DFS)."""

    leaves: dict[Any, Any] = field(default_factory=dict)
    truncated: Any = 0.0
    parked: dict[tuple[int, ...], list[Any]] = field(default_factory=dict)
    paths: int = 0


class EnumeratingSource:
    """A :class:`~samplers.base.RandomSource` that branches on every random choice.

    One instance drives one execution of the sampler along ``prefix`` (choice
    indices); at the first choice point beyond the prefix it takes the first
    outcome whose weight is at least ``tol`` and schedules the others on ``stack``.

    Every instance of one enumeration is a handle on the enumeration: a draw on any
    of them is made by the execution running at that moment (the innermost one).
    A memoised block call is enumerated by running the call with the very source
    object it was handed (the handle itself, or whatever wrapper the sampler built
    around it), so the wrapper's code runs in the nested enumeration exactly as in
    the sampler.

    Parameters
    ----------
    prefix : list of int
    stack : list
        DFS stack of ``(prefix, weight)`` to push siblings to.
    run : _Run
        Accumulators (truncated mass, parked continuations).
    tol : float
    rational : number system or False
        Carry exact weights: the rational one (:class:`fractions.Fraction`) or that of
        :mod:`verify.exact_law.exact`; ``False`` for floats.
    phase_anchor : tuple of int, optional
        Anchor of lumped continuations in a residual-step phase.
    base_weight : float or Fraction, optional
        Weight of a merged continuation (replaces the representative's weight at
        the end of its prefix).
    enum : _Enumerator, optional
        The enumeration this source belongs to (routes draws to its running
        execution).
    record : bool
        Record a fingerprint of every choice (kind and law) in ``fps`` (for the
        replay check of :class:`_Enumerator`).
    """

    def __init__(
        self,
        prefix: list[int],
        stack: list[tuple[list[int], Any]],
        run: _Run,
        tol: float,
        rational: Any,
        phase_anchor: tuple[int, ...] | None = None,
        base_weight: Any = None,
        *,
        enum: _Execution | None = None,
        record: bool = False,
    ) -> None:
        self.prefix = prefix
        self.pos = 0
        self.weight: Any = rational.one() if rational else 1.0
        self.stack = stack
        self.run = run
        self.tol = tol
        self.rational = rational
        self.in_residual = 0
        self.residual_anchor: tuple[int, ...] | None = None
        self.phase_anchor = phase_anchor
        self.taken: list[int] = []
        self.no_park = len(phase_anchor) if phase_anchor is not None else 0
        self.base_weight: Any = base_weight
        self.enum = enum
        self.record = record
        self.fps: list[int] = []

    def _active(self) -> EnumeratingSource:
        """The source of the execution running now (this one outside any nesting)."""
        cur = self.enum.current if self.enum is not None else None
        return self if cur is None else cur

    # ------------------------------------------------------------------ core
    def _replaying(self) -> bool:
        return self.pos < len(self.prefix)

    def _note(self, kind: str, laws: Any) -> None:
        """Record the fingerprint of a draw: its kind and laws (floats by their bits,
        so that a NaN equals itself)."""
        if self.record:
            key = tuple(law if self.rational or kind == "perm"
                        else np.asarray(law, dtype=np.float64).tobytes() for law in laws)
            self.fps.append(hash((kind, key)))

    def _take(self, i: int, w: Any) -> int:
        """Follow the prescribed prefix: outcome ``i`` of weight ``w``."""
        self.pos += 1
        self.taken.append(i)
        self.weight = self.weight * w
        if self.pos == self.no_park and self.base_weight is not None:
            # end of a merged continuation's representative prefix: its weight is
            # the merged total, not the representative path's own weight
            self.weight = self.base_weight
        return i

    def _choose(self, weights: list[Any], last: int | None = None) -> int:
        """Pick the outcome at the current choice point; ``weights`` sum to <= 1.

        Outcome ``last`` (if given) is never taken first: it is scheduled, so that
        its path runs on its own (the all-rejected coin outcome in a residual loop,
        whose path the loop usually parks).
        """
        if self._replaying():
            i = self.prefix[self.pos]
            if not 0 <= i < len(weights):
                raise _Refusal(_nondeterministic(self, "a choice point changed its number of "
                                                       "outcomes on re-execution"))
            return self._take(i, weights[i])
        total = sum(weights)
        deficit = (1 - total) if not self.rational else self.rational.one() - total
        if deficit > 1e-15:
            self.run.truncated += self.weight * deficit
        chosen = -1
        here = list(self.taken)
        for i, w in enumerate(weights):
            if w == 0:
                continue
            wi = self.weight * w
            if float(wi) < self.tol:
                self.run.truncated += wi
                continue
            if chosen < 0 and i != last:
                chosen = i
            else:
                self.stack.append((here + [i], wi))
        if chosen < 0:
            raise _Truncated
        self.taken.append(chosen)
        self.pos += 1
        self.prefix = self.prefix + [chosen]
        self.weight = self.weight * weights[chosen]
        return chosen

    def batch_rejected(self) -> None:
        """The residual loop reports a batch with no accepted trial (device 3): in a
        residual program, past the representative prefix of a continuation, the path
        is parked (merged into its step's continuation) and the execution stops."""
        if self.in_residual and self.pos > self.no_park:
            self._park()

    def _park(self) -> None:
        anchor = self.phase_anchor if self.phase_anchor is not None else self.residual_anchor
        assert anchor is not None
        slot = self.run.parked.get(anchor)
        if slot is None:
            self.run.parked[anchor] = [list(self.taken), self.weight]
        else:
            slot[1] = slot[1] + self.weight
        raise _Parked

    def choose_joint(self, laws: list[list[Any]]) -> tuple[int, ...]:
        """Joint choice over independent laws (lists of weights)."""
        self._note("joint", [tuple(law) for law in laws])
        supports = [[i for i, w in enumerate(law) if w != 0] for law in laws]
        if self._replaying():
            # decode the prescribed combination (itertools.product order) without
            # listing all the others
            k = self.prefix[self.pos]
            if not 0 <= k < math.prod(len(sup) for sup in supports):
                raise _Refusal(_nondeterministic(self, "a choice point changed its number of "
                                                       "outcomes on re-execution"))
            combo = []
            for sup in reversed(supports):
                k, r = divmod(k, len(sup))
                combo.append(sup[r])
            combo.reverse()
            w = _prod(self, (law[i] for law, i in zip(laws, combo, strict=True)))
            self._take(self.prefix[self.pos], w)
            return tuple(combo)
        combos = list(itertools.product(*supports))
        weights = [_prod(self, (law[i] for law, i in zip(laws, c, strict=True))) for c in combos]
        k = self._choose(weights)
        return combos[k]

    # ------------------------------------------------------------------ RandomSource
    def categorical(self, probs: np.ndarray) -> np.ndarray:
        return self._active()._categorical(probs)

    def coin(self, log_p: np.ndarray) -> np.ndarray:
        return self._active()._coin(log_p)

    def permutations(self, m: int, n: int) -> np.ndarray:
        return self._active()._permutations(m, n)

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        raise _Refusal("it draws continuous (normal) variates, which exact_law cannot "
                       "enumerate")

    def _categorical(self, probs: np.ndarray) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 2:
            raise ParameterError(f"`probs` must have shape (m, q); got shape {p.shape}.")
        m, q = p.shape
        laws = []
        for row in p:
            tot = float(row.sum())
            if not tot > 0:
                raise ParameterError(f"`probs` rows must have positive mass; got {row.tolist()}.")
            if self.rational:
                fr = self.rational.row(row)
                s = sum(fr)
                laws.append([v / s for v in fr])
            else:
                laws.append([float(v) / tot for v in row])
        return np.array(self.choose_joint(laws), dtype=np.int64).reshape(m)

    def _coin(self, log_p: np.ndarray) -> np.ndarray:
        lp = np.asarray(log_p, dtype=np.float64).reshape(-1)
        if np.isnan(lp).any():
            raise _Refusal("it draws a coin whose log-probability is NaN (a sampler bug: the "
                           "coin's law is undefined)")
        ps = np.exp(np.minimum(lp, 0.0))
        if self.rational:
            pr: list[Any] = [self.rational.coin(float(v)) for v in ps]
            one: Any = self.rational.one()
        else:
            pr, one = [float(v) for v in ps], 1.0
        self._note("coin", [tuple(pr)])
        m = lp.size
        # in a residual program, combo 0 (all False) is explored on its own path,
        # which the loop parks when it reports the batch rejected (device 3)
        last = 0 if self.in_residual else None
        if self._replaying():
            k = self.prefix[self.pos]
            if not 0 <= k < 2**m:
                raise _Refusal(_nondeterministic(self, "a choice point changed its number of "
                                                       "outcomes on re-execution"))
            hits = [bool((k >> (m - 1 - j)) & 1) for j in range(m)]
            w = _prod(self, (p if h else one - p for p, h in zip(pr, hits, strict=True)))
            self._take(k, w)
            return np.array(hits, dtype=bool).reshape(np.shape(log_p))
        combos = list(itertools.product((False, True), repeat=m))
        weights = [_prod(self, (p if h else one - p for p, h in zip(pr, c, strict=True)))
                   for c in combos]
        k = self._choose(weights, last=last)
        return np.array(combos[k], dtype=bool).reshape(np.shape(log_p))

    def _permutations(self, m: int, n: int) -> np.ndarray:
        self._note("perm", [(int(m), int(n))])
        perms = list(itertools.permutations(range(n)))
        w = (self.rational.frac(1, len(perms)) if self.rational else 1.0 / len(perms))
        c = self.choose_joint([[w] * len(perms) for _ in range(m)])
        return np.array([perms[i] for i in c], dtype=np.int64).reshape(m, n)


def _show(key: Any) -> str:
    """Short text of an output key (a configuration, or (y, log mu))."""
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


def _nondeterministic(src: EnumeratingSource, what: str) -> str:
    return (f"it draws randomness outside the RandomSource it is handed, or keeps state "
            f"across executions: {what} (choice {src.pos + 1} of the path)")
