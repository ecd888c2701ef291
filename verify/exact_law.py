"""Exact output law of a sampler by enumerating its random choices (DESIGN 6.1).

:func:`exact_law` runs the **real sampler code** (``sampler.sample(1, rng=source)``)
with an :class:`EnumeratingSource`: every categorical draw, coin and permutation
becomes a branch point weighted by its probability. The enumeration is a
depth-first search with re-execution: a path is a list of choice indices; the
program is re-run along a prescribed prefix, and at the first new choice point the
source takes the first outcome and schedules its siblings. Paths whose weight
falls below ``tol`` are abandoned and their weight is added to ``truncated_mass``,
a rigorous bound on the probability mass the enumeration left out (the computed
pmf is a sub-probability missing exactly that mass).

Autospeculative sampler
-----------------------
Naive path enumeration of :class:`~samplers.autospec.AutospeculativeSampler`
explodes (residual loops of trials, each trial recursing). Three devices keep it
tractable, all of them running the real code:

1. **Memoised block calls.** ``_sample_block`` is wrapped on the instance: each
   distinct single-call input ``(a, b, ctx, order, nu_rows)`` is enumerated once
   (its own nested enumeration of the real ``_sample_block``) and then becomes ONE
   choice point over its output law ``(y, log mu_S(y))``; a batch of ``m`` calls is
   a joint choice (the calls are independent given their inputs). Cost outputs
   (rounds, queries) of memoised calls are reported as 0: only the samples' law
   is computed.
2. **Lumped rejected trials.** Inside ``_residual`` a coin call whose outcomes are
   all False (the whole batch rejected) does not branch on the rejected trials'
   values: all such paths of one residual step are merged into one continuation
   carrying their total weight. *Assumption (R)*: a rejected batch leaves no trace
   on the loop's later behaviour (true of the real loop, which discards rejected
   trials; true of every mutant in :mod:`verify.mutants`).
3. **Geometric closure.** The continuation is enumerated one residual step at a
   time. When a step's relative law (accepted outputs and their weights relative to
   the step's entry weight, continuation probability) equals, to 1e-9, that of
   ``m`` iid copies of the previous step's trials under first-accepted-wins
   (``r = r_prev**m``, ``rel = rel_prev (1 - r_prev**m) / (1 - r_prev)``), the rest
   of the loop is summed as a geometric series (DESIGN 6.1): under (R) every
   later trial has the law of those trials. Otherwise steps continue until the
   continuation weight falls below ``tol`` (truncated, rigorous).

The sampler is run with ``lookahead_rows = 0`` (one residual batch per step; the
law does not depend on it).

Limits (measured on a shared 2-core machine; ``random_table(n, 2)``, default rho)
-------------------------------------------------------------------------------
* Sequential sampler: ``order="identity"`` on ``q**n = 1024`` (n = 10): 1,024
  executions, about 2 s; ``order="random"`` multiplies the paths by ``n!`` (n <= 5).
* AGR24 (categorical draws only): every guess pattern is a separate path.
  n = 10 (``q**n = 1024``), identity: ``k = 2`` 7,776 executions / 45 s, TV 2e-16;
  default ``k = 3`` 58,000 executions / 370 s, TV 6.7e-10 with 1.3e-9 cut mass.
* Autospeculative: the first stage branches on all ``q**|S|`` proposals of a block
  and every rejected proposal starts its own residual loop (the residual's law may
  depend on the proposal for a wrong sampler, so it is not shared). Measured:
  n = 3 random order 6,900 executions / 6-15 s; n = 4 identity 1,000 / 1.5 s;
  n = 4 random order 20,000 / 44 s; n = 5 identity 50,000 / 150 s. ``q**n = 1024``
  (n = 10) is out of reach (the root block alone has 1,024 proposals, each with a
  residual loop over 32 x 32 trial outcomes); ``max_paths`` bounds the work and
  raises ``RuntimeError`` when exceeded.
* Exact rational law (``rational=True``): for samplers whose choices are
  categorical draws and permutations (sequential, AGR24) on a target whose
  conditionals are rationals with small denominators (a :class:`TableDistribution`
  of small-integer weights; every probability is recovered with
  ``Fraction.limit_denominator(10**9)`` and checked against the float to 1e-13).
  A coin (acceptance probability ``exp(log_p)``, a ratio of products of
  conditionals) is not recovered exactly from its float: the autospeculative
  sampler gets the float law only (``rational_pmf = None`` and a note).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from distributions._validation import check_float, check_int
from distributions.errors import ParameterError

__all__ = ["ExactLawResult", "EnumeratingSource", "exact_law"]

_MAX_DEN = 10**9


class _Truncated(Exception):
    """A path's weight fell below ``tol``."""


class _Parked(Exception):
    """A lumped residual continuation was registered; this execution stops."""


class _RationalFailed(Exception):
    pass


def _rationalise(p: float) -> Fraction:
    f = Fraction(float(p)).limit_denominator(_MAX_DEN)
    if abs(float(f) - float(p)) > 1e-13 * max(1.0, abs(float(p))):
        raise _RationalFailed(f"probability {p!r} is not a small-denominator rational")
    return f


@dataclass
class _Run:
    """Accumulators of one enumeration (one DFS)."""

    leaves: dict[Any, Any] = field(default_factory=dict)
    extra: dict[Any, Any] = field(default_factory=dict)
    truncated: Any = 0.0
    parked: dict[tuple[int, ...], list[Any]] = field(default_factory=dict)
    paths: int = 0


class EnumeratingSource:
    """A :class:`~samplers.base.RandomSource` that branches on every random choice.

    One instance drives one execution of the sampler along ``prefix`` (choice
    indices); at the first choice point beyond the prefix it takes the first
    outcome whose weight is at least ``tol`` and schedules the others on ``stack``.

    Parameters
    ----------
    prefix : list of int
    weight : float or Fraction
        Weight of the prefix (recomputed along the way; used for scheduling).
    stack : list
        DFS stack of ``(prefix, weight)`` to push siblings to.
    run : _Run
        Accumulators (truncated mass, parked continuations).
    tol : float
    rational : bool
        Carry :class:`fractions.Fraction` weights.
    phase_anchor : tuple of int, optional
        Anchor of lumped continuations in a residual-step phase.
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

    # ------------------------------------------------------------------ core
    def _choose(self, weights: list[Any], lump: int | None = None) -> int:
        """Pick the outcome at the current choice point; ``weights`` sum to <= 1."""
        if self.pos < len(self.prefix):
            i = self.prefix[self.pos]
            self.pos += 1
            self.taken.append(i)
            self.weight = self.weight * weights[i]
            if self.pos == self.no_park and self.base_weight is not None:
                # end of a merged continuation's representative prefix: its weight is
                # the merged total, not the representative path's own weight
                self.weight = self.base_weight
            if lump is not None and i == lump and self.in_residual and self.pos > self.no_park:
                self._park()
            return i
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
            if chosen < 0 and not (lump is not None and i == lump and self.in_residual):
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
        supports = [[i for i, w in enumerate(law) if w != 0] for law in laws]
        combos = list(itertools.product(*supports))
        weights = []
        for c in combos:
            w: Any = Fraction(1) if self.rational else 1.0
            for law, i in zip(laws, c, strict=True):
                w = w * law[i]
            weights.append(w)
        k = self._choose(weights)
        return combos[k]

    # ------------------------------------------------------------------ RandomSource
    def categorical(self, probs: np.ndarray) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
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

    def coin(self, log_p: np.ndarray) -> np.ndarray:
        lp = np.asarray(log_p, dtype=np.float64).reshape(-1)
        if self.rational:
            raise _RationalFailed("coins (exp(log_p) acceptance probabilities) are not rational")
        ps = np.exp(np.minimum(lp, 0.0))
        m = lp.size
        combos = list(itertools.product((False, True), repeat=m))
        weights = []
        for c in combos:
            w = 1.0
            for p, hit in zip(ps, c, strict=True):
                w *= float(p) if hit else 1.0 - float(p)
            weights.append(w)
        lump = 0 if self.in_residual else None  # combos[0] is all False
        k = self._choose(weights, lump=lump)
        return np.array(combos[k], dtype=bool)

    def permutations(self, m: int, n: int) -> np.ndarray:
        perms = list(itertools.permutations(range(n)))
        w = (Fraction(1, len(perms)) if self.rational else 1.0 / len(perms))
        c = self.choose_joint([[w] * len(perms) for _ in range(m)])
        return np.array([perms[i] for i in c], dtype=np.int64).reshape(m, n)

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        raise ParameterError("exact_law cannot enumerate continuous (normal) draws.")


# ---------------------------------------------------------------------- enumerator
class _Enumerator:
    def __init__(self, tol: float, rational: bool, max_paths: int) -> None:
        self.tol = tol
        self.rational = rational
        self.max_paths = max_paths
        self.paths = 0
        self.closures = 0

    def zero(self) -> Any:
        return Fraction(0) if self.rational else 0.0

    def _dfs(
        self,
        program: Callable[[EnumeratingSource], Any],
        start: list[tuple[list[int], Any]],
        phase_anchor: tuple[int, ...] | None,
        base_weight: Any = None,
    ) -> _Run:
        run = _Run(truncated=self.zero())
        stack = list(start)
        while stack:
            prefix, _ = stack.pop()
            src = EnumeratingSource(prefix, stack, run, self.tol, self.rational, phase_anchor,
                                    base_weight)
            self.paths += 1
            if self.paths > self.max_paths:
                raise RuntimeError(
                    f"exact_law: enumeration exceeded max_paths={self.max_paths} executions "
                    "(see the limits in verify.exact_law)."
                )
            try:
                key, extra = program(src)
            except (_Truncated, _Parked):
                continue
            run.leaves[key] = run.leaves.get(key, self.zero()) + src.weight
            run.extra.setdefault(key, extra)
        return run

    def law(self, program: Callable[[EnumeratingSource], Any]) -> tuple[dict, dict, Any]:
        """Law of ``program(source) -> (key, extra)``: (weights, extras, truncated)."""
        one = Fraction(1) if self.rational else 1.0
        run = self._dfs(program, [([], one)], None)
        leaves, extra, trunc = dict(run.leaves), dict(run.extra), run.truncated
        queue = list(run.parked.values())
        while queue:
            prefix, w = queue.pop()
            l2, e2, t2, more = self._spine(program, prefix, w)
            for k, v in l2.items():
                leaves[k] = leaves.get(k, self.zero()) + v
            for k, v in e2.items():
                extra.setdefault(k, v)
            trunc += t2
            queue.extend(more)
        return leaves, extra, trunc

    def _spine(
        self, program: Callable[[EnumeratingSource], Any], prefix: list[int], weight: Any
    ) -> tuple[dict, dict, Any, list]:
        leaves: dict[Any, Any] = {}
        extra: dict[Any, Any] = {}
        trunc = self.zero()
        first: tuple[dict, Any, Any] | None = None
        others: list = []
        while True:
            if float(weight) < self.tol:
                return leaves, extra, trunc + weight, others
            anchor = tuple(prefix)
            run = self._dfs(program, [(prefix, weight)], anchor, weight)
            for k, v in run.extra.items():
                extra.setdefault(k, v)
            for k, v in run.leaves.items():
                leaves[k] = leaves.get(k, self.zero()) + v
            trunc += run.truncated
            nxt = run.parked.pop(anchor, None)
            others.extend(run.parked.values())
            if nxt is None:
                return leaves, extra, trunc, others
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
                return leaves, extra, trunc, others
            prefix, weight = nxt


def _iid_batch(first: tuple[dict, Any, Any], cur: tuple[dict, Any, Any]) -> bool:
    """Whether ``cur`` is the law of a batch of ``m`` iid copies of the trial ``first``.

    A step is ``(rel, rel_truncated, r)``: accepted outputs and cut mass relative to
    the step's entry weight, and the probability of continuing. With ``m`` iid
    trials and first-accepted-wins, ``r_m = r1**m`` and ``rel_m = rel1 (1 - r1**m) /
    (1 - r1)``.
    """
    r1, r = float(first[2]), float(cur[2])
    if not (0.0 < r1 < 1.0) or not (0.0 < r < 1.0) or first[0].keys() != cur[0].keys():
        return False
    m = math.log(r) / math.log(r1)
    mi = round(m)
    if mi < 1 or abs(m - mi) > 1e-6:
        return False
    g = (1.0 - r1**mi) / (1.0 - r1)

    def close(x: float, y: float) -> bool:
        return abs(x - y) <= 1e-9 * max(abs(x), abs(y)) + 1e-300

    return all(close(float(cur[0][k]), float(first[0][k]) * g) for k in first[0]) and (
        abs(float(cur[1]) - float(first[1]) * g) <= 1e-9 * float(first[1]) * g + 1e-18
    )


# ---------------------------------------------------------------------- memoisation
def _install_memo(sampler: Any, enum: _Enumerator) -> None:
    """Wrap ``_sample_block`` / ``_residual`` of an autospeculative sampler instance."""
    orig_block = sampler._sample_block
    cache: dict[tuple, tuple[list[Any], list[tuple[np.ndarray, float]]]] = {}
    if hasattr(sampler, "lookahead_rows"):
        sampler.lookahead_rows = 0

    def block_law(a: int, b: int, ctx: np.ndarray, order: np.ndarray,
                  nu_rows: np.ndarray | None) -> tuple[list[Any], list[tuple[np.ndarray, float]]]:
        key = (a, b, ctx.tobytes(), order.tobytes(),
               None if nu_rows is None else np.ascontiguousarray(nu_rows).tobytes())
        hit = cache.get(key)
        if hit is not None:
            return hit

        def program(src: EnumeratingSource) -> tuple[Any, Any]:
            y, log_mu, _, _ = orig_block(a, b, ctx, order, nu_rows, src, None)
            return tuple(int(v) for v in y[0]), float(log_mu[0])

        leaves, extra, trunc = enum.law(program)
        keys = sorted(leaves)
        weights = [leaves[k] for k in keys]
        outs = [(np.array(k, dtype=np.int64), extra[k]) for k in keys]
        # the child's missing (truncated) mass shows as a deficit at the parent's choice
        cache[key] = (weights, outs)
        return weights, outs

    def memo_block(a: int, b: int, ctx: np.ndarray, order: np.ndarray, nu_rows: Any,
                   source: Any, rec: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        m = ctx.shape[0]
        base = source
        while not isinstance(base, EnumeratingSource) and hasattr(base, "source"):
            base = base.source  # a mutant's source wrapper: choose on the enumerator
        if m == 0 or not isinstance(base, EnumeratingSource):
            return orig_block(a, b, ctx, order, nu_rows, source, rec)
        source = base
        laws = []
        for i in range(m):
            laws.append(block_law(a, b, ctx[i : i + 1].copy(), order[i : i + 1].copy(),
                                  None if nu_rows is None else np.array(nu_rows[i : i + 1])))
        pick = source.choose_joint([w for w, _ in laws])
        y = np.stack([laws[i][1][j][0] for i, j in enumerate(pick)]).reshape(m, b - a)
        log_mu = np.array([laws[i][1][j][1] for i, j in enumerate(pick)], dtype=np.float64)
        zeros = np.zeros(m, dtype=np.int64)
        return y, log_mu, zeros, zeros.copy()

    sampler._sample_block = memo_block
    if hasattr(sampler, "_residual"):
        orig_res = sampler._residual

        def residual(*args: Any, **kwargs: Any) -> Any:
            source = args[7] if len(args) > 7 else kwargs.get("source")
            if isinstance(source, EnumeratingSource):
                if source.in_residual == 0:
                    source.residual_anchor = tuple(source.taken)
                source.in_residual += 1
                try:
                    return orig_res(*args, **kwargs)
                finally:
                    source.in_residual -= 1
            return orig_res(*args, **kwargs)

        sampler._residual = residual


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
        Program executions run by the enumeration.
    closures : int
        Residual loops summed in closed form.
    note : str
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
            "closures": self.closures, "note": self.note,
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
        randomness through a :class:`~samplers.base.RandomSource` passed as ``rng``.
    target : Enumerable
        Target law (``pmf``), also the oracle given to the factory.
    tol : float, default 1e-12
        Paths lighter than ``tol`` are cut (their weight goes to ``truncated_mass``).
    rational : bool, optional
        Also compute the exact rational law. Default: try for ``n <= 4, q = 2``;
        silently skipped (with a note) when the sampler uses coins or the target's
        probabilities are not small-denominator rationals.
    max_paths : int, default 2,000,000
        Bound on program executions; exceeding it raises ``RuntimeError``.

    Returns
    -------
    ExactLawResult

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
        enum = _Enumerator(tol, rat, max_paths)
        sampler = sampler_factory(target)
        if hasattr(sampler, "_sample_block"):
            _install_memo(sampler, enum)

        def program(src: EnumeratingSource) -> tuple[Any, Any]:
            out = sampler.sample(1, rng=src)
            x = np.asarray(getattr(out, "samples", out))
            return tuple(int(v) for v in x[0]), None

        leaves, _, trunc = enum.law(program)
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
    )

