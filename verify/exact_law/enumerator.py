"""One enumeration: depth-first search over choice paths, the replay check and the
geometric closure of residual loops."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from verify.exact_law.source import (
    EnumeratingSource,
    _Parked,
    _Refusal,
    _Run,
    _show,
    _Truncated,
)

#: Re-runs of a search's first execution. A search may consist of that execution
#: alone (a sampler whose draws all come from outside the source makes no choice the
#: search sees): a sampler with outside randomness then escapes with probability
#: ``sum_x p(x)**(1 + FIRST_REPLAYS)`` over its outputs ``x`` (a single replay let a
#: fresh-entropy sampler on a 64-cell table through 2.9% of the time).
FIRST_REPLAYS = 8


class _Enumerator:
    """One enumeration: DFS over choice paths, with the replay check.

    ``current`` is the source of the execution running now (executions nest: a
    memoised block call enumerates its own law inside an execution of its caller).
    ``label`` names the sampler in refusal messages.

    Replay check: in every DFS, the executions numbered 1, 2, 4, 8, ... that end in
    a leaf are run again along the same choice path (the first one
    :data:`FIRST_REPLAYS` times); the runs must make the same choices (kind and law
    of every draw) and return the same output.
    A sampler drawing randomness outside the source it is handed (its own
    generator, fresh entropy) fails it with overwhelming probability, and is refused.
    """

    def __init__(self, tol: float, rational: Any, max_paths: int, label: str = "sampler") -> None:
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
        return self.rational.zero() if self.rational else 0.0

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
            if record:  # the first execution FIRST_REPLAYS times (a search may have one)
                for _ in range(FIRST_REPLAYS if count == 1 else 1):
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
        one = self.rational.one() if self.rational else 1.0
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
    if isinstance(first[2], Fraction) or getattr(first[2], "exact", False):
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
