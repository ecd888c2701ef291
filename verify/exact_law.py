"""Exact output law of a sampler by enumerating its random choices (DESIGN 6.1).

:func:`exact_law` runs the sampler's **public path** (``sampler.sample(1,
rng=source)``, overrides and source wrappers included) with an
:class:`EnumeratingSource` as ``rng``: every categorical draw, coin and permutation
becomes a branch point weighted by its probability. The enumeration is a
depth-first search with re-execution: a path is a list of choice indices; the
program is re-run along a prescribed prefix, and at the first new choice point the
source takes the first outcome and schedules its siblings. Paths whose weight
falls below ``tol`` are abandoned and their weight is added to ``truncated_mass``,
a rigorous bound on the probability mass the enumeration left out (the computed
pmf is a sub-probability missing exactly that mass).

What is enumerated, and refusals
--------------------------------
The law computed is that of the random choices the sampler makes through the
source it is handed, which is its output law only if it draws no other
randomness. A sampler is refused (``ParameterError`` naming its class and what
cannot be followed; no law is reported) when:

* a random generator it can reach changes state during the enumeration: numpy's
  and Python's global generators, generators reachable from the instance
  (attributes, containers, closures) or held by the modules of its class;
* the **replay check** fails: in every depth-first search the executions numbered
  1, 2, 4, 8, ... that end in a leaf are re-run along the same choice path, and
  must make the same draws (kind and law of each) and return the same output. A
  fresh or hidden generator fails it with overwhelming probability (a check, not a
  proof: a generator that never changes the draws' laws or the output on the
  replayed paths goes unseen; a deterministic function of its arguments is
  enumerated as what it is);
* its attributes differ between the end of the first ``sample`` call and the end of
  a later one (state carried from call to call; its oracle excepted);
* a source wrapper changes its data during a memoised block call (device 1);
* it draws normal variates, or ``sample`` returns something other than integer
  samples of shape ``(1, n)`` with values in ``[0, q)``.

The enumerator's own control flow (path cut, lumped continuation, refusal) uses
``BaseException`` subclasses, so sampler code catching ``Exception`` cannot
swallow it.

Autospeculative sampler
-----------------------
Naive path enumeration of :class:`~samplers.autospec.AutospeculativeSampler`
explodes (residual loops of trials, each trial recursing). Four devices keep it
tractable, all of them running the real code:

1. **Memoised block calls.** The sampler's public memoisation point is used: its
   ``memo`` attribute is set to the enumerator's
   :class:`~samplers.autospec.BlockMemo`, through which every block call and
   residual step passes (the real code, the sampler's ``steps`` strategy included,
   is what runs): each distinct single-call input ``(a, b, ctx, order, nu_rows)`` together with the
   **fingerprint of the source the call was handed** is enumerated once, by
   running the call with that very source object, and then becomes ONE choice
   point over its output law. Every :class:`EnumeratingSource` of an enumeration
   is a handle: a draw on it is made by the execution running at that moment, so
   a wrapper built around the handle (e.g. by an overridden ``sample``) runs its
   own code in the nested enumeration exactly as in the sampler. The fingerprint
   of a plain handle is one tag; that of a wrapper is its type and data (arrays by
   bytes, functions by code and closure cells), and every nested execution must
   leave it unchanged, else the sampler is refused. An outcome is the pair ``(y,
   log mu_S)`` the call returns (a wrong sampler may report a ``log mu_S`` that is
   not a function of ``y``); a batch of ``m`` calls is a joint choice (the calls
   are independent given their inputs). Cost outputs (rounds, queries) of
   memoised calls are reported as 0: only the samples' law is computed.
   Memoisation assumes that a call's behaviour is a function of its arguments and
   its source's data (no state carried on the instance from one call to the
   next; checked between ``sample`` calls, see above), as for the real sampler and
   every mutant in :mod:`verify.mutants`.
2. **Memoised residual loops, shared across proposals.** Residual steps go
   through the same point. Their inputs (a
   :class:`~samplers.autospec.ResidualCall`) include the rejected proposal ``x``
   and ``log nu_S(x)``, which the real loop does not read; they are passed as
   read-detecting stand-ins
   (:class:`_Watched`: shape and indexing are free, any use of the values is
   recorded). If no execution of the loop's enumeration read them, the loop behaved
   identically for every proposal and its law is shared by all the rejected
   proposals of that block call; otherwise (a mutant that uses the proposal) the law
   is enumerated again for each proposal.
3. **Lumped rejected trials.** The residual loop of
   :class:`~samplers.autospec.AutospeculativeSampler` calls
   ``memo.batch_rejected()`` right after a batch whose trials it saw all rejected
   (the outcome as the loop received it, whatever source wrapper drew it). The
   enumeration does not branch on the rejected trials' values there: all such
   paths of one residual step are parked and merged into one continuation
   carrying their total weight (in a residual step, the all-False outcome of a
   coin is explored on its own path, so that the loop can park it). *Assumption
   (R)*: a rejected batch leaves no trace on the loop's later behaviour, which is
   the contract of ``batch_rejected``. The loop code discards rejected trials;
   (R) holds as long as the steps it calls keep no state of their own across
   batches (true of every mutant in :mod:`verify.mutants`; a strategy replacing
   the loop with its own code draws branching coins unless it reports rejected
   batches itself).
4. **Geometric closure.** The continuation is enumerated one residual step at a
   time. When a step's relative law (accepted outputs and their weights relative to
   the step's entry weight, continuation probability) equals, to 1e-9 (exactly in
   rational mode), that of ``m`` iid copies of the previous step's trials under
   first-accepted-wins (``r = r_prev**m``, ``rel = rel_prev (1 - r_prev**m) / (1 -
   r_prev)``), the rest of the loop is summed as a geometric series (DESIGN 6.1):
   under (R) every later trial has the law of those trials. Otherwise steps continue
   until the continuation weight falls below ``tol`` (truncated, rigorous).

The sampler is run with ``lookahead_rows = 0`` (one residual batch per step; the
law does not depend on it). For every sampler, repeated oracle queries are answered
from a cache (:class:`_CachedOracle`; the oracle must be deterministic, which the
re-execution assumes anyway).

Limits (measured on one core of the 2-core machine, the other core busy;
``random_table(n, q, rng=n)``, ``benchmarks/exact_law.py``)
-------------------------------------------------------------------------------
``q**n = 1024`` cells, ``order="identity"``:

* Sequential sampler (n = 10, q = 2): 1,024 executions, 0.3 s, TV 1.8e-16.
* AGR24 (categorical draws only; every guess pattern is a separate path; n = 10):
  ``k = 2``: 7,776 executions, 14 s, TV 1.9e-16; default ``k = 3`` at ``tol =
  1e-13``: 61,000 executions, 97 s, TV 3.3e-11 with 6.7e-11 mass cut.
* Autospeculative (default rho): n = 10, q = 2: 328,000 executions, 82 s, TV
  6.3e-16, no mass cut, 463 loops closed; n = 5, q = 4: 280,000 executions, 63 s,
  TV 9.3e-13 with 1.9e-12 mass cut.

The autospeculative cost is driven by the widest residual batch enumerated before
the loop closes: all ``(q**|S|)**width`` joint trial outcomes of a batch are paths.
With ``n <= 2`` the default ``rho = 1`` makes the second batch two trials wide: n = 2
is feasible up to q = 16 (256 cells: 167,000 executions, 78 s), not q = 32. Random
orders multiply the paths by up to ``n!``: the autospeculative sampler in random
order takes 726 executions / 0.3 s at n = 3, 6,700 / 2 s at n = 4 and 72,000 /
16 s at n = 5.
``max_paths`` bounds the work (replays included) and raises ``RuntimeError`` when
exceeded. Execution counts exclude the replay check's re-runs (``replays``: about
``log2`` of each search's size); with the refusal checks the
``benchmarks/exact_law.py --quick`` cases took 1.07-1.39x their earlier time (same
executions and TV; old and new code alternated in one process, best of two).

Exact rational law
------------------
With ``rational=True`` the enumeration is repeated in :class:`fractions.Fraction`
arithmetic on a target whose probabilities are small-denominator rationals (a
:class:`TableDistribution` of small-integer weights). Each categorical probability
is recovered with ``Fraction.limit_denominator(10**9)`` and checked against the
float to 1e-13. Each coin probability ``exp(log_p)`` (a ratio of products of
conditionals) is recovered as the fraction of denominator <= 10**6 nearest to the
float and accepted only within 1e-13: two distinct such fractions differ by at
least 1e-12, so this is the true value whenever its denominator is at most 10**6,
and otherwise it is refused (``rational_pmf = None`` with a note). The rational law
is then exact arithmetic on those values: for the exact samplers on an integer-
weight table with ``n <= 4, q = 2`` it equals the target with ``rational_tv == 0``.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from distributions._validation import check_float, check_int
from distributions.errors import ParameterError
from samplers.autospec import AutospeculativeSampler, BlockCall, BlockOutput, ResidualCall

__all__ = ["ExactLawResult", "EnumeratingSource", "exact_law"]

_MAX_DEN = 10**9
_MAX_COIN_DEN = 10**6


class _Truncated(BaseException):
    """A path's weight fell below ``tol``. (A ``BaseException``: sampler code that
    catches ``Exception`` cannot swallow the enumerator's control flow.)"""


class _Parked(BaseException):
    """A lumped residual continuation was registered; this execution stops."""


class _Refusal(BaseException):
    """The enumeration cannot follow the sampler; raised as ``ParameterError`` by
    :func:`exact_law` (a ``BaseException`` so that no sampler code swallows it)."""


class _RationalFailed(Exception):
    pass


def _rationalise(p: float) -> Fraction:
    f = Fraction(float(p)).limit_denominator(_MAX_DEN)
    if abs(float(f) - float(p)) > 1e-13 * max(1.0, abs(float(p))):
        raise _RationalFailed(f"probability {p!r} is not a small-denominator rational")
    return f


def _rationalise_coin(p: float) -> Fraction:
    """Coin probability ``exp(log_p)`` as the fraction of denominator <= 10**6 nearest
    to it, accepted only within ``1e-13``: two distinct such fractions differ by at
    least ``1e-12``, so this is the true value whenever its denominator is at most
    10**6 (the float carries ~1e-15 relative error); otherwise it is refused."""
    if p == 0.0 or p == 1.0:
        return Fraction(int(p))
    f = Fraction(p).limit_denominator(_MAX_COIN_DEN)
    if abs(float(f) - p) > 1e-13:
        raise _RationalFailed(
            f"coin probability {p!r} is not a rational of denominator <= {_MAX_COIN_DEN}"
        )
    return f


def _prod(src: EnumeratingSource, factors: Any) -> Any:
    w: Any = Fraction(1) if src.rational else 1.0
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
    rational : bool
        Carry :class:`fractions.Fraction` weights.
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
        rational: bool,
        phase_anchor: tuple[int, ...] | None = None,
        base_weight: Any = None,
        *,
        enum: _Enumerator | None = None,
        record: bool = False,
    ) -> None:
        self.prefix = prefix
        self.pos = 0
        self.weight: Any = Fraction(1) if rational else 1.0
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
        deficit = (1 - total) if not self.rational else Fraction(1) - total
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

    def _num(self, p: float) -> Any:
        return _rationalise(p) if self.rational else float(p)

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
                fr = [_rationalise(v) for v in row]
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
            pr: list[Any] = [_rationalise_coin(float(v)) for v in ps]
            one: Any = Fraction(1)
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
        w = (Fraction(1, len(perms)) if self.rational else 1.0 / len(perms))
        c = self.choose_joint([[w] * len(perms) for _ in range(m)])
        return np.array([perms[i] for i in c], dtype=np.int64).reshape(m, n)


def _show(key: Any) -> str:
    """Short text of an output key (a configuration, or (y, log mu))."""
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


def _nondeterministic(src: EnumeratingSource, what: str) -> str:
    return (f"it draws randomness outside the RandomSource it is handed, or keeps state "
            f"across executions: {what} (choice {src.pos + 1} of the path)")


# ---------------------------------------------------------------------- enumerator
class _Enumerator:
    """One enumeration: DFS over choice paths, with the replay check.

    ``current`` is the source of the execution running now (executions nest: a
    memoised block call enumerates its own law inside an execution of its caller).
    ``label`` names the sampler in refusal messages.

    Replay check: in every DFS, the executions numbered 1, 2, 4, 8, ... that end in
    a leaf are run a second time along the same choice path; the two runs must make
    the same choices (kind and law of every draw) and return the same output.
    A sampler drawing randomness outside the source it is handed (its own
    generator, fresh entropy) fails it with overwhelming probability, and is refused.
    """

    def __init__(self, tol: float, rational: bool, max_paths: int, label: str = "sampler") -> None:
        self.tol = tol
        self.rational = rational
        self.max_paths = max_paths
        self.paths = 0
        self.replays = 0
        self.closures = 0
        self.current: EnumeratingSource | None = None
        self.label = label
        #: called before every replay: raises _Refusal when a random generator the
        #: sampler can reach has changed state (so a runaway is stopped early)
        self.watch: Callable[[], None] | None = None

    def zero(self) -> Any:
        return Fraction(0) if self.rational else 0.0

    def _count(self, replay: bool = False) -> None:
        if replay:
            self.replays += 1
        else:
            self.paths += 1
        if self.paths + self.replays > self.max_paths:
            raise RuntimeError(
                f"exact_law: enumeration exceeded max_paths={self.max_paths} executions "
                "(see the limits in verify.exact_law)."
            )

    def _execute(self, program: Callable[[EnumeratingSource], Any],
                 src: EnumeratingSource) -> Any:
        prev = self.current
        self.current = src
        try:
            return program(src)
        finally:
            self.current = prev

    def _dfs(
        self,
        program: Callable[[EnumeratingSource], Any],
        start: list[tuple[list[int], Any]],
        phase_anchor: tuple[int, ...] | None,
        base_weight: Any = None,
    ) -> _Run:
        run = _Run(truncated=self.zero())
        stack = list(start)
        count = 0
        while stack:
            prefix, _ = stack.pop()
            count += 1
            record = count & (count - 1) == 0  # executions 1, 2, 4, 8, ...
            src = EnumeratingSource(prefix, stack, run, self.tol, self.rational, phase_anchor,
                                    base_weight, enum=self, record=record)
            self._count()
            try:
                key = self._execute(program, src)
            except (_Truncated, _Parked):
                continue
            if record:
                self._replay(program, src, key, phase_anchor, base_weight)
            run.leaves[key] = run.leaves.get(key, self.zero()) + src.weight
        return run

    def _replay(self, program: Callable[[EnumeratingSource], Any], src: EnumeratingSource,
                key: Any, phase_anchor: tuple[int, ...] | None, base_weight: Any) -> None:
        """Run ``program`` again along the leaf path ``src`` took; refuse on a difference."""
        if self.watch is not None:
            self.watch()
        again = EnumeratingSource(list(src.taken), [], _Run(truncated=self.zero()), self.tol,
                                  self.rational, phase_anchor, base_weight, enum=self,
                                  record=True)
        self._count(replay=True)
        try:
            key2 = self._execute(program, again)
        except (_Truncated, _Parked):
            key2 = "<a different path>"
        if again.fps != src.fps or again.pos != src.pos:
            raise _Refusal(
                "it draws randomness outside the RandomSource it is handed (or keeps "
                "state across executions): re-running the same choice path made "
                f"different random draws ({len(src.fps)} draws, then {len(again.fps)}; "
                "their laws differ)"
            )
        if key2 != key:
            raise _Refusal(
                "it draws randomness outside the RandomSource it is handed (or keeps "
                "state across executions): re-running the same choice path gave "
                f"a different output ({_show(key)}, then {_show(key2)})"
            )

    def law(
        self, program: Callable[[EnumeratingSource], Any], *, loop: bool = False
    ) -> tuple[dict, Any]:
        """Law of ``program(source) -> key``: (weights by key, truncated mass).

        ``loop=True``: ``program`` is one residual loop entered at its start (entry
        weight 1), so the first run is the loop's first step and serves as the
        reference of the geometric closure.
        """
        one = Fraction(1) if self.rational else 1.0
        run = self._dfs(program, [([], one)], None)
        leaves, trunc = dict(run.leaves), run.truncated
        step1 = None
        if loop and list(run.parked) == [()]:
            step1 = (dict(run.leaves), run.truncated, run.parked[()][1])
        queue = list(run.parked.values())
        while queue:
            prefix, w = queue.pop()
            l2, t2, more = self._spine(program, prefix, w, step1)
            step1 = None
            for k, v in l2.items():
                leaves[k] = leaves.get(k, self.zero()) + v
            trunc += t2
            queue.extend(more)
        return leaves, trunc

    def _spine(
        self, program: Callable[[EnumeratingSource], Any], prefix: list[int], weight: Any,
        first: tuple[dict, Any, Any] | None = None,
    ) -> tuple[dict, Any, list]:
        leaves: dict[Any, Any] = {}
        trunc = self.zero()
        others: list = []
        while True:
            if float(weight) < self.tol:
                return leaves, trunc + weight, others
            anchor = tuple(prefix)
            run = self._dfs(program, [(prefix, weight)], anchor, weight)
            for k, v in run.leaves.items():
                leaves[k] = leaves.get(k, self.zero()) + v
            trunc += run.truncated
            nxt = run.parked.pop(anchor, None)
            others.extend(run.parked.values())
            if nxt is None:
                return leaves, trunc, others
            rel = {k: v / weight for k, v in run.leaves.items()}
            cur = (rel, run.truncated / weight, nxt[1] / weight)
            if first is None or not _iid_batch(first, cur):
                first = cur  # reference step: the latest one that did not close
            else:
                # closed form: every later trial has the law of the first step's trial
                r1 = first[2]
                factor = nxt[1] / (1 - r1)
                for k, v in first[0].items():
                    leaves[k] = leaves.get(k, self.zero()) + v * factor
                trunc += first[1] * factor
                self.closures += 1
                return leaves, trunc, others
            prefix, weight = nxt


def _iid_batch(first: tuple[dict, Any, Any], cur: tuple[dict, Any, Any]) -> bool:
    """Whether ``cur`` is the law of a batch of ``m`` iid copies of the trial ``first``.

    A step is ``(rel, rel_truncated, r)``: accepted outputs and cut mass relative to
    the step's entry weight, and the probability of continuing. With ``m`` iid
    trials and first-accepted-wins, ``r_m = r1**m`` and ``rel_m = rel1 (1 - r1**m) /
    (1 - r1)``: to 1e-9 relative in floating point, exactly with :class:`Fraction`
    weights.
    """
    r1, r = float(first[2]), float(cur[2])
    if not (0.0 < r1 < 1.0) or not (0.0 < r < 1.0) or first[0].keys() != cur[0].keys():
        return False
    m = math.log(r) / math.log(r1)
    mi = round(m)
    if mi < 1 or abs(m - mi) > 1e-6:
        return False
    if isinstance(first[2], Fraction):
        # exact arithmetic: the relation must hold exactly
        r1f = first[2]
        gf = (1 - r1f**mi) / (1 - r1f)
        return (cur[2] == r1f**mi and cur[1] == first[1] * gf
                and all(cur[0][k] == first[0][k] * gf for k in first[0]))
    g = (1.0 - r1**mi) / (1.0 - r1)

    def close(x: float, y: float) -> bool:
        return abs(x - y) <= 1e-9 * max(abs(x), abs(y)) + 1e-300

    return all(close(float(cur[0][k]), float(first[0][k]) * g) for k in first[0]) and (
        abs(float(cur[1]) - float(first[1]) * g) <= 1e-9 * float(first[1]) * g + 1e-18
    )


# ---------------------------------------------------------------------- read detection
class _Watched:
    """Read-detecting stand-in for an array field of a residual step's ``ResidualCall``.

    Metadata (``shape``, ``ndim``, ``dtype``, ``size``, ``len``) and indexing (which
    returns another watched view) are free; every other use of the data (numpy
    coercion, ufuncs, array functions, operators, iteration, truth value, any other
    attribute) first sets the shared ``flag``. A residual call whose enumeration
    never set the flag behaved identically for every value of the array, so its
    law may be shared across those values.
    """

    __slots__ = ("_data", "_flag")

    def __init__(self, data: np.ndarray, flag: list[bool]) -> None:
        self._data = data
        self._flag = flag

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def size(self) -> int:
        return self._data.size

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, key: Any) -> _Watched:
        return _Watched(self._data[_unwatch(key, self._flag)], self._flag)

    def _read(self) -> np.ndarray:
        self._flag[0] = True
        return self._data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self._read(), dtype=dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        self._read()
        return getattr(ufunc, method)(*_unwatch(inputs, self._flag),
                                      **_unwatch(kwargs, self._flag))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        self._read()
        return func(*_unwatch(args, self._flag), **_unwatch(kwargs, self._flag))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._read(), name)

    __hash__ = None  # type: ignore[assignment]


def _unwatch(obj: Any, flag: list[bool]) -> Any:
    """Replace watched arrays inside ``obj`` by their data (flagging the read)."""
    if isinstance(obj, _Watched):
        flag[0] = True
        return obj._data
    if isinstance(obj, tuple):
        return tuple(_unwatch(v, flag) for v in obj)
    if isinstance(obj, list):
        return [_unwatch(v, flag) for v in obj]
    if isinstance(obj, dict):
        return {k: _unwatch(v, flag) for k, v in obj.items()}
    return obj


def _watched_dunder(name: str) -> Callable[..., Any]:
    def method(self: _Watched, *args: Any) -> Any:
        return getattr(self._read(), name)(*_unwatch(args, self._flag))

    method.__name__ = name
    return method


for _name in (
    "__iter__", "__bool__", "__int__", "__float__", "__index__", "__complex__", "__repr__",
    "__str__", "__format__", "__contains__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__",
    "__ge__", "__neg__", "__pos__", "__abs__", "__invert__", "__add__", "__radd__", "__sub__",
    "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__floordiv__",
    "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__",
    "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__", "__lshift__",
    "__rshift__", "__copy__", "__deepcopy__", "__reduce__", "__reduce_ex__", "__setitem__",
    "__dlpack__", "__buffer__",
):
    setattr(_Watched, _name, _watched_dunder(_name))


# ---------------------------------------------------------------------- oracle cache
class _CachedOracle:
    """Answers repeated oracle queries from a cache (the enumeration re-executes the
    same program prefix many times). The oracle is a deterministic function of its
    query, which the enumeration assumes anyway; answers are returned read-only."""

    def __init__(self, oracle: Any) -> None:
        self._oracle = oracle
        self._cache: dict[tuple, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._oracle, name)

    def _ask(self, key: tuple, call: Callable[[], np.ndarray]) -> np.ndarray:
        out = self._cache.get(key)
        if out is None:
            out = np.array(call())
            out.flags.writeable = False
            self._cache[key] = out
        return out

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(x)
        return self._ask(("c", a.shape, a.dtype.str, a.tobytes()),
                         lambda: self._oracle.conditionals(x))

    def conditionals_at(self, x: np.ndarray, positions: np.ndarray,
                        chain_values: np.ndarray | None = None) -> np.ndarray:
        key: tuple = ("a",)
        for arr in (x, positions, chain_values):
            if arr is None:
                key += (None,)
            else:
                a = np.ascontiguousarray(arr)
                key += (a.shape, a.dtype.str, a.tobytes())
        return self._ask(key, lambda: self._oracle.conditionals_at(x, positions, chain_values))


# ---------------------------------------------------------------------- fingerprints
class _Ident:
    """Identity key of an object a fingerprint does not look into (kept alive, so
    its id cannot be reused while the key exists)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ident) and other.obj is self.obj


_RNG_TYPES = (np.random.Generator, np.random.RandomState, np.random.BitGenerator, random.Random)
_OPAQUE = (type, types.ModuleType, types.BuiltinFunctionType, types.CodeType, _RNG_TYPES)
_SOURCE_TAG = "<source>"


def _fingerprint(obj: Any, fixed: dict[int, str], depth: int = 0,
                 seen: dict[int, int] | None = None) -> Any:
    """Hashable structural value of the data reachable from ``obj``.

    Two objects with equal fingerprints hold equal data (arrays by bytes, floats
    bit for bit, functions by code, defaults and closure cells, objects by type and
    attributes). ``fixed`` maps the ids of objects that stand for themselves (the
    sampler, its oracle, the target) to tags; every enumerating source is one tag.
    Types, modules, builtins, random generators and objects nested deeper than 8
    levels are compared by identity.
    """
    tag = fixed.get(id(obj))
    if tag is not None:
        return tag
    if isinstance(obj, EnumeratingSource):
        return _SOURCE_TAG
    if obj is None or isinstance(obj, bool | int | str | bytes):
        return (type(obj).__name__, obj)
    if isinstance(obj, float):
        return ("f", obj.hex())
    if isinstance(obj, np.ndarray) and obj.dtype != object:
        return ("a", obj.dtype.str, obj.shape, np.ascontiguousarray(obj).tobytes())
    if isinstance(obj, np.generic):
        return ("g", obj.dtype.str, obj.tobytes())
    if isinstance(obj, _OPAQUE) or depth > 8:
        return _Ident(obj)
    if seen is None:
        seen = {}
    if id(obj) in seen:
        return ("cycle", seen[id(obj)])
    seen[id(obj)] = len(seen)

    def rec(v: Any) -> Any:
        return _fingerprint(v, fixed, depth + 1, seen)

    if isinstance(obj, np.ndarray):
        return ("ao", obj.shape, tuple(rec(v) for v in obj.ravel()))
    if isinstance(obj, list | tuple):
        return (type(obj).__name__, tuple(rec(v) for v in obj))
    if isinstance(obj, dict):
        return ("d", tuple((rec(k), rec(v)) for k, v in obj.items()))
    if isinstance(obj, set | frozenset):
        return ("s", frozenset(rec(v) for v in obj))
    if isinstance(obj, types.FunctionType):
        cells = []
        for c in obj.__closure__ or ():
            try:
                cells.append(rec(c.cell_contents))
            except ValueError:  # empty cell
                cells.append("<empty>")
        return ("fn", _Ident(obj.__code__), rec(obj.__defaults__), rec(obj.__kwdefaults__),
                tuple(cells))
    if isinstance(obj, types.MethodType):
        return ("m", rec(obj.__func__), rec(obj.__self__))
    if isinstance(obj, functools.partial):
        return ("p", rec(obj.func), rec(obj.args), rec(obj.keywords))
    attrs: list[tuple[str, Any]] = []
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        attrs.extend((k, rec(v)) for k, v in d.items())
    for klass in type(obj).__mro__:
        for name in klass.__dict__.get("__slots__", ()):
            if name in ("__dict__", "__weakref__"):
                continue
            try:
                attrs.append((name, rec(object.__getattribute__(obj, name))))
            except AttributeError:
                attrs.append((name, "<unset>"))
    if d is None and not attrs:
        return _Ident(obj)
    return ("o", _Ident(type(obj)), tuple(attrs))


def _instance_state(sampler: Any, fixed: dict[int, str]) -> dict[str, Any]:
    """Fingerprints of the sampler's attributes (its oracle and the enumerator's
    own memo hooks excepted)."""
    d = getattr(sampler, "__dict__", None)
    if not isinstance(d, dict):
        return {"<object>": _fingerprint(sampler, {k: v for k, v in fixed.items()
                                                   if v != "<sampler>"})}
    return {k: _fingerprint(v, fixed) for k, v in d.items()
            if k not in ("oracle", "memo")}


def _rng_objects(sampler: Any, fixed: dict[int, str]) -> list[Any]:
    """The random generators the sampler can reach: numpy's and Python's global ones,
    those reachable from the instance (attributes, containers, closures; its oracle
    and target excepted) and those held by the modules of its class and bases."""
    found: dict[int, Any] = {id(np.random.mtrand._rand): np.random.mtrand._rand}
    inst = getattr(random, "_inst", None)
    if inst is not None:
        found[id(inst)] = inst
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(sampler, 0)]
    while todo:
        obj, depth = todo.pop()
        if id(obj) in seen or depth > 8:
            continue
        seen.add(id(obj))
        if isinstance(obj, _RNG_TYPES):
            found[id(obj)] = obj
            continue
        if (obj is not sampler and id(obj) in fixed) or isinstance(
            obj, (EnumeratingSource, _Enumerator, _Memo, str, bytes, int, float, np.ndarray,
                  *_OPAQUE)
        ):
            continue  # (the enumerator's own memo and caches are not the sampler's)
        if isinstance(obj, list | tuple | set | frozenset):
            kids = list(obj)
        elif isinstance(obj, dict):
            kids = [*obj.keys(), *obj.values()]
        elif isinstance(obj, types.FunctionType):
            kids = []
            for c in obj.__closure__ or ():
                try:
                    kids.append(c.cell_contents)
                except ValueError:
                    pass
        elif isinstance(obj, types.MethodType):
            kids = [obj.__func__, obj.__self__]
        else:
            d = getattr(obj, "__dict__", None)
            kids = list(d.values()) if isinstance(d, dict) else []
            for klass in type(obj).__mro__:
                for name in klass.__dict__.get("__slots__", ()):
                    if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                        kids.append(object.__getattribute__(obj, name))
        todo.extend((k, depth + 1) for k in kids)
    for klass in type(sampler).__mro__:
        module = sys.modules.get(klass.__module__)
        for value in vars(module).values() if module is not None else ():
            if isinstance(value, _RNG_TYPES):
                found[id(value)] = value
    return list(found.values())


def _rng_states(objs: list[Any]) -> dict[int, tuple[Any, Any]]:
    """State of each random generator of ``objs``, by id."""
    out = {}
    for o in objs:
        try:
            if isinstance(o, np.random.Generator):
                st: Any = o.bit_generator.state
            elif isinstance(o, np.random.BitGenerator):
                st = o.state
            elif isinstance(o, np.random.RandomState):
                st = o.get_state(legacy=False)
            else:
                out[id(o)] = (o, o.getstate())  # a tuple of ints
                continue
        except Exception:  # noqa: BLE001 - a generator whose state cannot be read
            continue
        out[id(o)] = (o, _fingerprint(st, {}))
    return out


def _rng_changes(before: dict[int, tuple[Any, Any]]) -> list[str]:
    """Generators of ``before`` whose state has changed since."""
    after = _rng_states([obj for obj, _ in before.values()])
    changed = []
    for key, (obj, st) in before.items():
        now = after.get(key)
        if now is not None and now[0] is obj and now[1] != st:
            if obj is np.random.mtrand._rand:
                changed.append("the global numpy random state (np.random.*)")
            elif obj is getattr(random, "_inst", None):
                changed.append("the global Python random state (random.*)")
            else:
                changed.append(f"a {type(obj).__module__}.{type(obj).__name__} it holds")
    return changed


# ---------------------------------------------------------------------- memoisation
_Law = tuple[list[Any], list[tuple[np.ndarray, float]]]


class _Memo:
    """The enumerator's :class:`~samplers.autospec.BlockMemo`, set as the ``memo``
    of an autospeculative sampler (its public memoisation point).

    A block call's (or residual step's) law is enumerated by running the real call
    (``run``: the sampler's own code, its strategy included) with the very source
    object the call was handed; the law is memoised under the call's arguments and
    the fingerprint of that source (:func:`_fingerprint`: a plain enumerating source
    is one tag, a wrapper is its type and data). Each execution of a memoised call
    must leave the wrapper's data unchanged, else the sampler is refused.
    """

    def __init__(self, enum: _Enumerator, fixed: dict[int, str]) -> None:
        self.enum = enum
        self.fixed = fixed
        self.cache: dict[tuple, _Law] = {}
        self.res_cache: dict[tuple, _Law] = {}
        self.reads_x: set[tuple] = set()  # residual inputs whose law depends on the proposal

    def source_key(self, source: Any) -> Any:
        if isinstance(source, EnumeratingSource):
            return _SOURCE_TAG
        return _fingerprint(source, self.fixed)

    def check_source(self, source: Any, skey: Any, where: str) -> None:
        if skey is not _SOURCE_TAG and self.source_key(source) != skey:
            raise _Refusal(
                f"its random-source wrapper {type(source).__name__} changed its state during "
                f"a {where} call, so the call's law depends on more than its arguments and "
                "the memoised enumeration cannot follow it"
            )

    @staticmethod
    def _outcome(out: BlockOutput) -> tuple[Any, Any]:
        # the output is the pair (y, log mu_S): a wrong sampler may report a log mu
        # that is not a function of y, so both form the outcome
        y, log_mu, _, _ = out
        return tuple(int(v) for v in np.asarray(y)[0]), float(np.asarray(log_mu)[0])

    @staticmethod
    def _as_law(leaves: dict) -> _Law:
        # the child's missing (truncated) mass shows as a deficit at the parent's choice
        keys = sorted(leaves)
        return ([leaves[k] for k in keys],
                [(np.array(k[0], dtype=np.int64), k[1]) for k in keys])

    def _draw(self, laws: list[_Law], m: int, width: int) -> BlockOutput:
        """One joint choice over the calls' laws (independent given their inputs);
        cost outputs are 0 (only the samples' law is computed)."""
        assert self.enum.current is not None
        pick = self.enum.current.choose_joint([w for w, _ in laws])
        y = np.stack([laws[i][1][j][0] for i, j in enumerate(pick)]).reshape(m, width)
        log_mu = np.array([laws[i][1][j][1] for i, j in enumerate(pick)], dtype=np.float64)
        zeros = np.zeros(m, dtype=np.int64)
        return y, log_mu, zeros, zeros.copy()

    # ------------------------------------------------------------------ BlockMemo
    def block(self, run: Callable[[BlockCall], BlockOutput], call: BlockCall) -> BlockOutput:
        m = call.ctx.shape[0]
        if m == 0 or self.enum.current is None:
            return run(call)
        skey = self.source_key(call.source)
        laws = []
        for i in range(m):
            one = BlockCall(call.a, call.b, call.ctx[i : i + 1].copy(),
                            call.pos[i : i + 1].copy(),
                            None if call.nu_rows is None else np.array(call.nu_rows[i : i + 1]),
                            call.source)
            laws.append(self._block_law(run, one, skey))
        return self._draw(laws, m, call.b - call.a)

    def _block_law(self, run: Callable[[BlockCall], BlockOutput], call: BlockCall,
                   skey: Any) -> _Law:
        key = (call.a, call.b, call.ctx.tobytes(), call.pos.tobytes(),
               None if call.nu_rows is None else np.ascontiguousarray(call.nu_rows).tobytes(),
               skey)
        hit = self.cache.get(key)
        if hit is not None:
            return hit

        def program(src: EnumeratingSource) -> tuple[Any, Any]:
            out = run(BlockCall(call.a, call.b, call.ctx.copy(), call.pos, call.nu_rows,
                                call.source))
            self.check_source(call.source, skey, "block")
            return self._outcome(out)

        leaves, _trunc = self.enum.law(program)
        self.cache[key] = law = self._as_law(leaves)
        return law

    def residual(self, run: Callable[[ResidualCall], BlockOutput],
                 call: ResidualCall) -> BlockOutput:
        m = call.ctx.shape[0]
        if m == 0 or self.enum.current is None:
            return run(call)
        skey = self.source_key(call.source)
        laws = [self._residual_law(run, ResidualCall(
            call.a, call.b, call.ctx[i : i + 1].copy(), call.pos[i : i + 1].copy(),
            np.array(call.nu_rows[i : i + 1]), np.array(call.proposal[i : i + 1]),
            np.array(call.log_nu_proposal[i : i + 1]), call.source), skey) for i in range(m)]
        return self._draw(laws, m, call.b - call.a)

    def _residual_law(self, run: Callable[[ResidualCall], BlockOutput], call: ResidualCall,
                      skey: Any) -> _Law:
        key: tuple = (call.a, call.b, call.ctx.tobytes(), call.pos.tobytes(),
                      np.ascontiguousarray(call.nu_rows).tobytes(), skey)
        full = key + (call.proposal.tobytes(), call.log_nu_proposal.tobytes())
        hit = self.res_cache.get(full if key in self.reads_x else key)
        if hit is not None:
            return hit
        flag = [False]

        def program(src: EnumeratingSource) -> tuple[Any, Any]:
            src.in_residual = 1
            src.residual_anchor = ()
            out = run(ResidualCall(call.a, call.b, call.ctx.copy(), call.pos, call.nu_rows,
                                   _Watched(call.proposal, flag),  # type: ignore[arg-type]
                                   _Watched(call.log_nu_proposal, flag),  # type: ignore[arg-type]
                                   call.source))
            self.check_source(call.source, skey, "residual")
            return self._outcome(out)

        leaves, _trunc = self.enum.law(program, loop=True)
        law = self._as_law(leaves)
        if flag[0]:  # the code read the proposal: this law is for this proposal only
            self.reads_x.add(key)
            key = full
        self.res_cache[key] = law
        return law

    def batch_rejected(self) -> None:
        cur = self.enum.current
        if cur is not None:
            cur.batch_rejected()


# ---------------------------------------------------------------------- result
@dataclass(frozen=True)
class ExactLawResult:
    """Output law of a sampler computed by enumeration (:func:`exact_law`).

    Attributes
    ----------
    pmf : ndarray, shape (q**n,)
        Enumerated output probabilities, flat C order (a sub-probability: it misses
        exactly ``truncated_mass``).
    target_pmf : ndarray, shape (q**n,)
    tv : float
        ``0.5 * sum |pmf - target_pmf|``; the true TV lies within
        ``tv +- truncated_mass / 2`` (``tv_lower``, ``tv_upper``).
    truncated_mass : float
        Rigorous bound on the probability the enumeration left out (0 when every
        loop was summed in closed form and no path was cut).
    worst_config : tuple of int
        Configuration with the largest ``|pmf - target_pmf|``.
    worst_diff : float
        ``pmf - target_pmf`` there.
    rational_pmf : tuple of Fraction, optional
        Exact rational law (``rational=True`` and feasible).
    rational_tv : Fraction, optional
    executions : int
        Program executions run by the enumeration (replays not included).
    closures : int
        Residual loops summed in closed form.
    note : str
    replays : int
        Executions re-run by the replay check (see :func:`exact_law`).
    """

    pmf: np.ndarray
    target_pmf: np.ndarray
    tv: float
    truncated_mass: float
    worst_config: tuple[int, ...]
    worst_diff: float
    rational_pmf: tuple[Fraction, ...] | None = None
    rational_tv: Fraction | None = None
    executions: int = 0
    closures: int = 0
    note: str = ""
    replays: int = 0

    @property
    def tv_lower(self) -> float:
        return max(0.0, self.tv - 0.5 * self.truncated_mass)

    @property
    def tv_upper(self) -> float:
        return min(1.0, self.tv + 0.5 * self.truncated_mass)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tv": self.tv, "tv_lower": self.tv_lower, "tv_upper": self.tv_upper,
            "truncated_mass": self.truncated_mass, "worst_config": list(self.worst_config),
            "worst_diff": self.worst_diff, "executions": self.executions,
            "closures": self.closures, "note": self.note, "replays": self.replays,
            "rational_tv": None if self.rational_tv is None else str(self.rational_tv),
        }


def _target_rational(target: Any) -> list[Fraction]:
    pmf = np.asarray(target.pmf(), dtype=np.float64)
    fr = [_rationalise(p) for p in pmf]
    s = sum(fr)
    return [f / s for f in fr]


def exact_law(
    sampler_factory: Callable[[Any], Any],
    target: Any,
    *,
    tol: float = 1e-12,
    rational: bool | None = None,
    max_paths: int = 2_000_000,
) -> ExactLawResult:
    """Exact output law of the sampler built by ``sampler_factory(target)``.

    Parameters
    ----------
    sampler_factory : callable
        ``sampler_factory(oracle) -> sampler``; the sampler must draw all its
        randomness through the :class:`~samplers.base.RandomSource` passed as
        ``rng`` to its ``sample`` (see "What is enumerated, and refusals").
    target : Enumerable
        Target law (``pmf``), also the oracle given to the factory.
    tol : float, default 1e-12
        Paths lighter than ``tol`` are cut (their weight goes to ``truncated_mass``).
    rational : bool, optional
        Also compute the exact rational law (see "Exact rational law" above).
        Default: try for ``n <= 4, q = 2``; skipped, with the reason in ``note``,
        when a categorical or coin probability is not a small-denominator rational
        (e.g. a target of irrational weights, or a tempered mutant).
    max_paths : int, default 2,000,000
        Bound on program executions; exceeding it raises ``RuntimeError``.

    Returns
    -------
    ExactLawResult

    Raises
    ------
    ParameterError
        Bad arguments, or a sampler the enumeration cannot follow (randomness drawn
        outside the source it is handed, state carried across calls, a source
        wrapper that changes state inside a block call, normal draws, malformed
        output); nothing is enumerated for it.
    RuntimeError
        More than ``max_paths`` executions.

    Examples
    --------
    >>> import numpy as np
    >>> from distributions.table import TableDistribution
    >>> from samplers.sequential import SequentialSampler
    >>> d = TableDistribution(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> res = exact_law(lambda o: SequentialSampler(o, order="random"), d)
    >>> res.tv < 1e-15, res.truncated_mass, [str(p) for p in res.rational_pmf]
    (True, 0.0, ['1/10', '1/5', '3/10', '2/5'])
    """
    tol = check_float("tol", tol, low=0.0, high=1.0, low_open=True, high_open=True)
    max_paths = check_int("max_paths", max_paths, low=1)
    if not callable(sampler_factory):
        raise ParameterError(
            f"`sampler_factory` must be a callable oracle -> sampler; got "
            f"{type(sampler_factory).__name__}."
        )
    if not callable(getattr(target, "pmf", None)):
        raise ParameterError(
            f"`target` must be an Enumerable (with pmf()); got {type(target).__name__}."
        )
    n, q = int(target.n), int(target.q)
    target_pmf = np.asarray(target.pmf(), dtype=np.float64)
    if rational is None:
        rational = n <= 4 and q == 2
    note = ""

    def compute(rat: bool) -> tuple[dict, Any, _Enumerator]:
        sampler = sampler_factory(target)
        label = type(sampler).__name__
        if not callable(getattr(sampler, "sample", None)):
            raise ParameterError(
                f"`sampler_factory` must return a sampler with a sample(num, rng=...) method; "
                f"got {label}."
            )
        enum = _Enumerator(tol, rat, max_paths, label)
        fixed = {id(sampler): "<sampler>", id(target): "<target>"}
        oracle = getattr(sampler, "oracle", None)
        if hasattr(oracle, "conditionals_at"):
            sampler.oracle = _CachedOracle(oracle)
        for o in (oracle, getattr(sampler, "oracle", None), getattr(oracle, "inner", None)):
            if o is not None:
                fixed[id(o)] = "<oracle>"
        if isinstance(sampler, AutospeculativeSampler):
            sampler.lookahead_rows = 0  # one residual batch per step (same law)
            sampler.memo = _Memo(enum, fixed)
        # reference state: after the first execution (lazily set attributes allowed)
        state0: dict[str, Any] = {}
        calls = [0]
        rngs0 = _rng_states(_rng_objects(sampler, fixed))

        def program(src: EnumeratingSource) -> tuple[int, ...]:
            out = sampler.sample(1, rng=src)  # the public path, with this source as rng
            x = np.asarray(getattr(out, "samples", out))
            if x.shape != (1, n) or x.dtype.kind not in "iu" or not ((x >= 0) & (x < q)).all():
                raise _Refusal(
                    f"sample(1, rng=...) must return integer samples of shape (1, {n}) with "
                    f"values in [0, {q}); got {x.dtype} of shape {x.shape}"
                )
            state = _instance_state(sampler, fixed)
            calls[0] += 1
            if calls[0] == 1:
                state0.update(state)
                # generators the first call created and kept are watched from here on
                rngs0.update({k: v for k, v in _rng_states(_rng_objects(sampler, fixed)).items()
                              if k not in rngs0})
            elif state != state0:
                names = sorted(set(state) ^ set(state0)
                               | {k for k in state if k in state0 and state[k] != state0[k]})
                raise _Refusal(
                    "it keeps state on the instance across sample() calls (attributes "
                    f"changed: {', '.join(names)}), so its law depends on the call history"
                )
            return tuple(int(v) for v in x[0])

        def watch() -> None:
            changed = _rng_changes(rngs0)
            if changed:
                raise _Refusal(
                    "it draws randomness outside the RandomSource it is handed (the state "
                    f"of {', '.join(changed)} changed during the enumeration)"
                )

        enum.watch = watch
        try:
            leaves, trunc = enum.law(program)
            watch()
        except _Refusal as exc:
            raise ParameterError(
                f"exact_law cannot follow {label}: {exc.args[0]}. Its output law was not "
                "enumerated; every random choice must go through the `rng` source handed "
                "to sample()."
            ) from None
        return leaves, trunc, enum

    leaves, trunc, enum = compute(False)
    pmf = np.zeros(q**n)
    for k, w in leaves.items():
        pmf[np.ravel_multi_index(k, (q,) * n)] += float(w)
    diff = pmf - target_pmf
    tv = 0.5 * float(np.abs(diff).sum())
    worst = int(np.argmax(np.abs(diff)))
    rational_pmf = rational_tv = None
    if rational:
        try:
            tgt = _target_rational(target)
            rleaves, rtrunc, _ = compute(True)
            rp = [Fraction(0)] * (q**n)
            for k, w in rleaves.items():
                rp[int(np.ravel_multi_index(k, (q,) * n))] += w
            rational_pmf = tuple(rp)
            rational_tv = sum((abs(a - b) for a, b in zip(rp, tgt, strict=True)), Fraction(0)) / 2
            if rtrunc:
                note = f"rational enumeration truncated mass {float(rtrunc):.3g}"
        except _RationalFailed as exc:
            note = f"no rational law: {exc}"
    return ExactLawResult(
        pmf=pmf,
        target_pmf=target_pmf,
        tv=tv,
        truncated_mass=float(trunc),
        worst_config=tuple(int(v) for v in np.unravel_index(worst, (q,) * n)),
        worst_diff=float(diff[worst]),
        rational_pmf=rational_pmf,
        rational_tv=rational_tv,
        executions=enum.paths,
        closures=enum.closures,
        note=note,
        replays=enum.replays,
    )

