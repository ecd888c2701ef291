"""Round scheduler of the autospeculative sampler: one oracle call per round and shape.

:meth:`AutospeculativeSampler.sample <samplers.autospec.AutospeculativeSampler.sample>`
runs the algorithm of :mod:`samplers.autospec` (DESIGN 4.2) here when no memoisation
point is set and the steps are exactly :class:`~samplers.autospec.SpeculativeSteps`.

Why this module is long (about 700 lines): the node, loop and trial tables and the
round driver are one state machine whose parts change together.

Why a scheduler: the nested lock-step kernel
(:meth:`~samplers.autospec.AutospeculativeSampler.run_block`) runs the calls of one
block ``(a, b)`` together, and a residual loop waits for the slowest of its calls
before its next batch, so heavy-tailed loops issue many small oracle calls one after
another (``random_table(10, 2)``: 17 oracle calls per round of the slowest sample).
Here the work of all samples is kept in flat arrays keyed by block length ``L`` and
advanced one *global round* at a time:

- *nodes* (block calls ``SAMPLE(a, b, x_P)``, ``L = b - a``) wait for their
  speculation rows (right children and roots) or for their chain-rule rows; every
  round, the waiting nodes of every sample, level and trial are answered by one
  oracle call per form and length -- ``conditionals_at(x, positions)`` and
  ``conditionals_at(x, positions, chain_values)`` take one number of positions per
  call and distinct masked positions, so requests of different lengths cannot share
  a call by padding in general;
- a node accepted by its first stage is finished right after its chain round; a
  rejected one becomes a *loop* (its residual loop) in the loop table of its length;
- a loop runs one *step* at a time: the next residual batch plus the look-ahead
  batches (the rule of the nested kernel), i.e. *trials* in the trial table of its
  length, each a left child node (given its parent's rows: no speculation round) and,
  as soon as that left child is finished, a right child node (a left child of one
  site is drawn at once from its parent's speculation row, with no node built when
  neither a trace nor a budget is kept: the same draws, in the same order, as its
  node would make); when all trials of a
  loop's step are finished the loop draws their coins at once and either finishes
  (its first accepted trial) or starts its next step, whatever the other loops do.

Finished nodes are reported to their owner (the sample, or a trial of a loop of a
larger length); after the answers of a round are handed out, the loops whose step is
complete are judged in increasing length (a finished loop can only complete a step of
a longer one), so a round's consequences settle within the round. The Python work
per round is a fixed number of array operations per length present (plus one
look-ahead bound per distinct next trial index among the loops stepping together),
independent of the number of samples, trials and loops. Per element, a judge finds its
loops' trials in one pass over the trial table's ``loop`` column up to its high-water
mark (free rows hold -1) and sorts only them (the coins are drawn in (loop, trial)
order); tables reuse their rows through a free stack; a finished trial's owner loop
is counted down in place.

Only the schedule differs from the nested kernel: each call's rounds and queries are
computed from the same quantities (one round per speculation and chain round of the
call, plus for each residual batch charged the maximum over its trials of
``rounds(left) + rounds(right)``; queries: every row charged; batches past the first
one with an acceptance are evaluated by the look-ahead but neither charged nor
recorded), so per-sample rounds and queries follow DESIGN 3.3 as before. The random
source is drawn in a different order (same output law; compared against the nested
kernel in tests/samplers/test_autospec_legacy.py).

Layouts of a round's oracle calls (attributes of the sampler): a shorter request joins
a longer one's call, padded with masked positions after its block in its order
(``pad_cells``); when all the round's contexts, one per position, hold at most
``flat_cells`` entries, the round is one call of one position per context, the chain
rows being asked as plain rows of their explicit chain contexts (the contract of
:class:`~distributions.base.PositionalOracle` makes the two forms agree).

Memory: ``O(n + live trials x (n / w + L q))`` entries, with ``w`` = 8 / (bytes of the
context type): contexts are held in the smallest signed integer type holding MASK and
``q - 1`` (int8 for q <= 128) and widened to int64 only in the copy handed to the
oracle. Every live node holds its context and, until its first stage is judged, its
rows ``(L, q)``; every live loop holds its call's context, positions and speculation
rows; a trial holds only its block's values and costs (its children are nodes). The
look-ahead adds a batch to a step only while its trials' contexts and rows stay within
``lookahead_cells / ceil(log2 n)`` entries, as in the nested kernel.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from distributions.base import MASK
from distributions.errors import BudgetExceededError
from distributions.oracle_utils import build_chain_contexts

if TYPE_CHECKING:  # pragma: no cover - typing only
    from samplers.autospec import AutospeculativeSampler, _BudgetState, _Recorder
    from samplers.base import RandomSource

__all__ = ["run_rounds"]

_I64 = np.int64
Nodes = dict[str, np.ndarray]


class _Table:
    """Rows of fixed-shape fields, allocated and released by slot (a free stack).

    ``blank`` gives fields that hold a value on every free row (set on growth and on
    release), e.g. -1 for "no owner", so that a scan needs no liveness mask.
    """

    def __init__(self, spec: dict[str, tuple[tuple[int, ...], type]],
                 blank: dict[str, int] | None = None) -> None:
        self.spec = spec
        self.blank = blank or {}
        self.cap = 0
        self.d: dict[str, np.ndarray] = {k: np.zeros((0, *t), dt) for k, (t, dt) in spec.items()}
        self.free = np.zeros(0, _I64)  # free[:top] is the stack, top last
        self.top = 0
        self.count = 0  # live rows
        self.hwm = 0  # every live row is below this (free rows above it are blank)

    def alloc(self, k: int) -> np.ndarray:
        if self.top < k:
            new_cap = max(self.cap + k - self.top, self.cap + self.cap // 2, 8)
            for name, (tail, dt) in self.spec.items():
                arr = np.zeros((new_cap, *tail), dt)
                arr[: self.cap] = self.d[name]
                if name in self.blank:
                    arr[self.cap:] = self.blank[name]
                self.d[name] = arr
            free = np.zeros(new_cap, _I64)
            grown = new_cap - self.cap
            free[:grown] = np.arange(new_cap - 1, self.cap - 1, -1)
            free[grown: grown + self.top] = self.free[: self.top]
            self.free = free
            self.top += grown
            self.cap = new_cap
        self.top -= k
        self.count += k
        slots = self.free[self.top: self.top + k].copy()
        if k:
            self.hwm = max(self.hwm, int(slots.max()) + 1)
        return slots

    def release(self, slots: np.ndarray) -> None:
        for name, value in self.blank.items():
            self.d[name][slots] = value
        self.count -= slots.size
        self.free[self.top: self.top + slots.size] = slots
        self.top += slots.size


def _cat(parts: list[Nodes]) -> Nodes:
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _take(nodes: Nodes, idx: np.ndarray) -> Nodes:
    return {k: v[idx] for k, v in nodes.items()}


#: Up to this many columns a row scatter runs column by column (a 1-D scatter per
#: column is several times faster than one 2-D one for narrow blocks).
_NARROW = 8


def _put_cols(table: np.ndarray, rows: np.ndarray, start: int, y: np.ndarray) -> None:
    """``table[rows, start:start + w] = y`` with ``w = y.shape[1]``."""
    w = y.shape[1]
    if w > _NARROW:
        table[rows, start:start + w] = y
        return
    for j in range(w):
        table[:, start + j][rows] = y[:, j]


def _scatter(ctx: np.ndarray, pos: np.ndarray, y: np.ndarray) -> None:
    """``ctx[b, pos[b, j]] = y[b, j]`` for every row ``b`` and column ``j`` of ``y``."""
    rows = np.arange(ctx.shape[0])
    if y.shape[1] > _NARROW:
        ctx[rows[:, None], pos[:, : y.shape[1]]] = y
        return
    for j in range(y.shape[1]):
        ctx[rows, pos[:, j]] = y[:, j]


class _Run:
    """One :meth:`sample` call on the round scheduler (see the module docstring)."""

    def __init__(self, sampler: AutospeculativeSampler, source: RandomSource,
                 state: _BudgetState | None, recorder: _Recorder | None,
                 log: list[tuple[int, int]] | None) -> None:
        self.s = sampler
        self.oracle = sampler.oracle
        self.steps = sampler.steps
        self.source = source
        self.state = state
        self.recorder = recorder
        self.log = log
        self.n, self.q = sampler.n, sampler.q
        # contexts are held in the smallest signed integer type that holds MASK and
        # q - 1, and widened to int64 only in the oracle call's own copy
        self.ctx_dtype = next(t for t in (np.int8, np.int16, np.int32, np.int64)
                              if self.q - 1 <= np.iinfo(t).max)
        self.loops: dict[int, _Table] = {}
        self.trials: dict[int, _Table] = {}
        self.stats: dict[int, list[int]] = {}  # L -> [trials run, accepted] (look-ahead)
        self.ready: dict[int, list[np.ndarray]] = {}  # L -> loops whose step is complete
        self.spec_req: dict[int, list[Nodes]] = {}
        self.chain_req: dict[int, list[Nodes]] = {}
        self.starts = np.array([1], _I64)  # starts of the residual batches I_r
        self.batch_ids = np.zeros(0, _I64)  # batch_ids[t]: the batch of trial t
        self.next_batch: dict[int, tuple[int, int]] = {}
        self.step_cells = sampler.lookahead_cells // max(1, math.ceil(math.log2(self.n)))
        self.pad_cells = sampler.pad_cells
        self.flat_cells = sampler.flat_cells

    # ---------------------------------------------------------------- tables
    def _loops(self, L: int) -> _Table:
        t = self.loops.get(L)
        if t is None:
            n, q = self.n, self.q
            scalar: tuple[int, ...] = ()
            t = self.loops[L] = _Table({
                "ctx": ((n,), self.ctx_dtype), "pos": ((L,), _I64), "nu": ((L, q), np.float64),
                **{k: (scalar, _I64) for k in (
                    "a", "r0", "q0", "rr", "rq", "trials", "batches", "lo", "hi",
                    "remaining", "owner", "owner_L", "role", "rec", "sample", "depth")},
            })
            self.trials[L] = _Table({
                "y": ((L,), _I64), "log_mu": ((), np.float64),
                **{k: ((), _I64) for k in ("loop", "idx", "r", "q")},
            }, blank={"loop": -1})
            self.stats[L] = [0, 0]
        return t

    def _next_batch(self, t: int) -> tuple[int, int]:
        """The sampler's ``_next_batch(t)``, memoised (a pure function of ``t``)."""
        out = self.next_batch.get(t)
        if out is None:
            out = self.next_batch[t] = self.s._next_batch(t)
        return out

    def _batch_of(self, idx: np.ndarray) -> np.ndarray:
        """The residual batch (0-based) of each trial index; extends the partition."""
        top = int(idx.max(initial=1))
        if self.starts[-1] <= top:
            starts = list(self.starts)
            while starts[-1] <= top:
                starts.append(self._next_batch(int(starts[-1]))[1] + 1)
            self.starts = np.array(starts, _I64)
            if starts[-1] <= 2**16:  # a lookup table while it is small
                self.batch_ids = np.repeat(np.arange(-1, len(starts) - 1, dtype=_I64),
                                           np.diff(self.starts, prepend=0))
        if top < self.batch_ids.size:
            return self.batch_ids.take(idx)
        return np.searchsorted(self.starts, idx, side="right") - 1

    # ---------------------------------------------------------------- nodes
    def new_nodes(self, L: int, nodes: Nodes, parent: np.ndarray, role: int,
                  trial: np.ndarray) -> None:
        """Open block calls of length ``L``; speculate at once when given rows."""
        state = self.state
        if state is not None:
            a0 = int(nodes["a"][0])
            state.block = (a0, a0 + L)
            state.budget.check_time()
        m = nodes["a"].size
        nodes["rounds"] = np.zeros(m, _I64)
        nodes["queries"] = np.zeros(m, _I64)
        rec = self.recorder
        if rec is not None:
            ids = np.arange(rec.count, rec.count + m, dtype=_I64)
            rec.count += m
            ch = rec.chunks
            ch["sample"].append(nodes["sample"])
            ch["a"].append(nodes["a"])
            ch["b"].append(nodes["a"] + L)
            ch["depth"].append(nodes["depth"])
            ch["parent"].append(parent)
            ch["role"].append(np.full(m, role, _I64))
            ch["trial"].append(trial)
            ch["context"].append(nodes["ctx"].astype(_I64))
            nodes["rec"] = ids
        if "nu" in nodes:
            self.speculate(L, nodes)
        else:
            self.spec_req.setdefault(L, []).append(nodes)

    def _draw_site(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One value per row of ``rows`` (m, q) and its log-probability."""
        v = self.source.categorical(rows)
        cells = np.arange(0, v.size * self.q, self.q, dtype=_I64) + v
        return v, self.steps.log_probs(rows.reshape(-1).take(cells))

    def speculate(self, L: int, nodes: Nodes) -> None:
        nu = nodes["nu"]
        m = nu.shape[0]
        if L == 1:
            v, log_mu = self._draw_site(nu[:, 0])
            self._close(nodes, True, nodes["rounds"], nodes["queries"])
            self.finish(nodes, v[:, None], log_mu, nodes["rounds"], nodes["queries"])
            return
        x, terms = self._draw_site(nu.reshape(m * L, self.q))
        x, terms = x.reshape(m, L), terms.reshape(m, L)
        nodes["x"] = x
        nodes["log_nu"] = terms.sum(axis=1)
        nodes["log_nu0"] = terms[:, 0]
        # the chain rule along x: one round, L - 1 contexts (the first factor is shared);
        # the context holds x[:, 0] until the answer comes
        nodes["ctx"][np.arange(m), nodes["pos"][:, 0]] = x[:, 0]
        self.chain_req.setdefault(L, []).append(nodes)

    def judge_first(self, L: int, nodes: Nodes, chain: np.ndarray) -> None:
        steps, x = self.steps, nodes["x"]
        m = x.shape[0]
        nodes["ctx"][np.arange(m), nodes["pos"][:, 0]] = MASK
        nodes["rounds"] += 1
        nodes["queries"] += L - 1
        cells = (np.arange(0, m * (L - 1), dtype=_I64).reshape(m, L - 1)) * self.q + x[:, 1:]
        log_chain = steps.log_probs(np.ascontiguousarray(chain).reshape(-1).take(cells))
        log_mu = nodes["log_nu0"] + log_chain.sum(axis=1)
        accepted = self.source.coin(steps.first_log_accept(log_mu, nodes["log_nu"]))
        if accepted.all():
            acc, rej = nodes, None
        else:
            keys = ("x", "rounds", "queries", "owner", "owner_L", "role", "rec")
            acc = _take({k: nodes[k] for k in keys if k in nodes}, np.flatnonzero(accepted))
            keys = ("a", "ctx", "pos", "nu", "rounds", "queries", "owner", "owner_L", "role",
                    "rec", "sample", "depth")  # what new_loops reads
            rej = _take({k: nodes[k] for k in keys if k in nodes}, np.flatnonzero(~accepted))
            log_mu = log_mu[accepted]
        if acc["x"].size:
            self._close(acc, True, acc["rounds"], acc["queries"])
            self.finish(acc, acc["x"], log_mu, acc["rounds"], acc["queries"])
        if rej is not None:
            self.new_loops(L, rej)

    def finish(self, who: Nodes, y: np.ndarray, log_mu: np.ndarray, rounds: np.ndarray,
               queries: np.ndarray) -> None:
        """Report finished calls to their owners (``who``: owner, owner_L, role)."""
        owner_L = who["owner_L"]
        first = int(owner_L[0])
        if (owner_L == first).all() and (who["role"] == who["role"][0]).all():
            groups = [(first, int(who["role"][0]), slice(None))]
        else:
            key = owner_L * 3 + who["role"] + 3  # >= 0 (the roots: owner_L -1, role 0)
            keys = np.flatnonzero(np.bincount(key))  # increasing, as np.unique
            groups = [(int(k) // 3 - 1, int(k) % 3, np.flatnonzero(key == k)) for k in keys]
        for Lp, role, sel in groups:
            owner = who["owner"][sel]
            if role == 0:
                self.y[owner] = y[sel]
                self.rounds[owner] = rounds[sel]
                self.queries[owner] = queries[sel]
            elif role == 1:
                self._left_done(Lp, owner, y[sel], log_mu[sel], rounds[sel], queries[sel])
            else:
                self._right_done(Lp, owner, y[sel], log_mu[sel], rounds[sel], queries[sel])

    # ---------------------------------------------------------------- loops
    def new_loops(self, L: int, nodes: Nodes) -> None:
        table = self._loops(L)
        m = nodes["a"].size
        slots = table.alloc(m)
        d = table.d
        d["ctx"][slots] = nodes["ctx"]
        d["pos"][slots] = nodes["pos"]
        d["nu"][slots] = nodes["nu"]
        for k in ("a", "owner", "owner_L", "role", "sample", "depth"):
            d[k][slots] = nodes[k]
        d["rec"][slots] = nodes["rec"] if "rec" in nodes else -1
        d["r0"][slots] = nodes["rounds"]
        d["q0"][slots] = nodes["queries"]
        for k in ("rr", "rq", "trials", "batches"):
            d[k][slots] = 0
        self.start_steps(L, slots, np.ones(m, _I64))

    def _bounds(self, L: int, active: int, t: int) -> tuple[int, int]:
        """The next batch plus look-ahead batches (the nested kernel's rule, with the
        rows counted over every open loop of this length, not only the ``active``
        loops stepping now: look-ahead only in the tail, where few loops are open)."""
        s = self.s
        lo, hi = self._next_batch(t)
        width = hi - lo + 1
        run, hits = self.stats[L]
        cap = min(s.lookahead_trials, math.ceil(2 * run / hits) if hits else 2 * (t - 1))
        cells = active * (self.n + L * self.q)
        open_loops = max(active, self.loops[L].count)
        while open_loops * width * L < s.lookahead_rows and width < cap:
            nxt = self._next_batch(hi + 1)[1]
            if cells * (nxt - lo + 1) > self.step_cells:
                break
            hi = nxt
            width = hi - lo + 1
        return lo, hi

    def start_steps(self, L: int, slots: np.ndarray, t: np.ndarray) -> None:
        table = self.loops[L]
        d = table.d
        # group the loops by their next trial index t (increasing t, stable within)
        if t.size == 1 or (t == t[0]).all():
            cuts = [0, slots.size]
        else:
            order = np.argsort(t, kind="stable")
            slots, t = slots[order], t[order]
            cuts = [0, *(np.flatnonzero(t[1:] != t[:-1]) + 1).tolist(), slots.size]
        if (len(cuts) > 2 and table.count * L >= self.s.lookahead_rows
                and int(t[-1]) <= self.s.max_trials):
            # no look-ahead for any group (_bounds' first test fails with these many
            # open loops): each loop runs the batch that starts at its t
            lo_l = t.astype(_I64, copy=False)
            nxt = self._batch_of(lo_l) + 1  # (extends self.starts first)
            width_l = self.starts.take(nxt) - lo_l
            self._open_trials(L, slots, lo_l, width_l)
            return
        g_lo, g_width = [], []
        for i in range(len(cuts) - 1):
            c0, c1 = cuts[i], cuts[i + 1]
            lo, hi = self._bounds(L, c1 - c0, int(t[c0]))
            if lo > self.s.max_trials:
                from samplers.autospec import _rate

                run, hits = self.stats[L]
                a = int(d["a"][slots[c0]])
                raise BudgetExceededError(
                    f"`max_trials` = {self.s.max_trials} exceeded: the residual loop of block "
                    f"({a}, {a + L}) ran {lo - 1} residual trials per call without an "
                    f"acceptance ({c1 - c0} call(s) still rejected); acceptance rate seen "
                    f"{_rate(hits, run)}: the residual mass is numerically zero (check the "
                    "oracle)."
                )
            g_lo.append(lo)
            g_width.append(hi - lo + 1)
        if len(g_lo) == 1:
            lo_l = np.full(slots.size, g_lo[0], _I64)
            width_l = np.full(slots.size, g_width[0], _I64)
        else:
            sizes = np.diff(cuts)
            lo_l = np.repeat(np.array(g_lo, _I64), sizes)
            width_l = np.repeat(np.array(g_width, _I64), sizes)
        self._open_trials(L, slots, lo_l, width_l)

    def _open_trials(self, L: int, slots: np.ndarray, lo_l: np.ndarray,
                     width_l: np.ndarray) -> None:
        """Trials ``lo_l .. lo_l + width_l - 1`` of loops ``slots`` (in that order)."""
        d, trials = self.loops[L].d, self.trials[L]
        d["lo"][slots] = lo_l
        d["hi"][slots] = lo_l + width_l - 1
        d["remaining"][slots] = width_l
        # per loop (in that order) its trials lo..hi
        loop = np.repeat(slots, width_l)
        start = np.cumsum(width_l) - width_l
        idx = np.arange(loop.size, dtype=_I64) + np.repeat(lo_l - start, width_l)
        ts = trials.alloc(loop.size)
        trials.d["loop"][ts] = loop
        trials.d["idx"][ts] = idx
        k = self.steps.split(0, L)
        if k == 1 and self.recorder is None and self.state is None:
            # a left child of one site is finished at once (no oracle round, no cost):
            # what new_nodes -> speculate -> finish would do, without building its node
            v, log_mu = self._draw_site(d["nu"][loop, 0])
            zero = np.zeros(ts.size, _I64)
            self._left_done(L, ts, v[:, None], log_mu, zero, zero)
            return
        left: Nodes = {
            "a": d["a"].take(loop), "ctx": d["ctx"].take(loop, axis=0),
            "pos": d["pos"][loop, :k],
            "nu": d["nu"][loop, :k], "owner": ts,  # the exact steps' left_rows
            "owner_L": np.full(ts.size, L, _I64), "role": np.ones(ts.size, _I64),
            "sample": d["sample"].take(loop), "depth": d["depth"].take(loop) + 1,
        }
        self.new_nodes(k, left, d["rec"].take(loop), 1, idx)

    def _left_done(self, L: int, ts: np.ndarray, y: np.ndarray, log_mu: np.ndarray,
                   rounds: np.ndarray, queries: np.ndarray) -> None:
        td, d = self.trials[L].d, self.loops[L].d
        k = y.shape[1]
        _put_cols(td["y"], ts, 0, y)
        td["log_mu"][ts] = log_mu
        td["r"][ts] = rounds
        td["q"][ts] = queries
        loop = td["loop"].take(ts)
        ctx = d["ctx"].take(loop, axis=0)
        pos = d["pos"].take(loop, axis=0)
        _scatter(ctx, pos, y)  # the right context
        right: Nodes = {
            "a": d["a"].take(loop) + k, "ctx": ctx, "pos": pos[:, k:], "owner": ts,
            "owner_L": np.full(ts.size, L, _I64), "role": np.full(ts.size, 2, _I64),
            "sample": d["sample"].take(loop), "depth": d["depth"].take(loop) + 1,
        }
        self.new_nodes(L - k, right, d["rec"].take(loop), 2, td["idx"].take(ts))

    def _right_done(self, L: int, ts: np.ndarray, y: np.ndarray, log_mu: np.ndarray,
                    rounds: np.ndarray, queries: np.ndarray) -> None:
        td, d = self.trials[L].d, self.loops[L].d
        _put_cols(td["y"], ts, L - y.shape[1], y)
        td["log_mu"][ts] += log_mu
        td["r"][ts] += rounds
        td["q"][ts] += queries
        loop = td["loop"].take(ts)
        np.subtract.at(d["remaining"], loop, 1)
        # duplicates are harmless: judge_loops flags the ready loops
        ready = loop[d["remaining"][loop] == 0]
        if ready.size:
            self.ready.setdefault(L, []).append(ready)

    def judge_loops(self, L: int, slots: np.ndarray) -> None:
        """Coins of the complete steps of loops ``slots``; finish or step again."""
        table, trials, steps = self.loops[L], self.trials[L], self.steps
        d, td = table.d, trials.d
        flag = np.zeros(table.cap + 1, bool)  # flag[-1]: the free trial rows (loop -1)
        flag[slots] = True
        ts = np.flatnonzero(flag.take(td["loop"][: trials.hwm]))
        loop, idx = td["loop"].take(ts), td["idx"].take(ts)
        order = np.argsort(loop * (int(idx.max()) + 1) + idx)  # (loop, idx): unique keys
        ts, loop, idx = ts.take(order), loop.take(order), idx.take(order)
        y, log_mu = td["y"].take(ts, axis=0), td["log_mu"].take(ts)
        cells = ((loop * L)[:, None] + np.arange(L)) * self.q + y  # nu[loop, j, y_j], flat
        log_nu = steps.log_probs(d["nu"].reshape(-1).take(cells)).sum(axis=1)
        acc = self.source.coin(steps.residual_log_accept(log_mu, log_nu))
        trials.release(ts)
        stats = self.stats[L]
        stats[0] += acc.size
        stats[1] += int(acc.sum())
        # per loop (sorted): the first accepted trial, the last batch charged
        change = loop[1:] != loop[:-1]
        first_of = np.flatnonzero(np.concatenate([[True], change]))
        uniq = loop[first_of]
        local = np.cumsum(np.concatenate([[0], change]))
        hit = np.zeros(uniq.size, bool)
        first_pos = np.zeros(uniq.size, _I64)
        apos = np.flatnonzero(acc)
        if apos.size:
            la = local[apos]
            at = np.concatenate([[True], la[1:] != la[:-1]])
            hit[la[at]] = True
            first_pos[la[at]] = apos[at]
        bid = self._batch_of(idx)
        last_pos = np.append(first_of[1:] - 1, loop.size - 1)
        last_b = np.where(hit, bid[first_pos], bid[last_pos])
        charged = bid <= last_b[local]
        # rounds: per (loop, batch) the maximum over its trials, summed over charged ones
        seg = np.flatnonzero(np.concatenate([[True], (local[1:] != local[:-1])
                                             | (bid[1:] != bid[:-1])]))
        seg_max = np.maximum.reduceat(td["r"][ts], seg)
        add_r = np.bincount(local[seg], weights=seg_max * charged[seg], minlength=uniq.size)
        add_q = np.bincount(local, weights=td["q"][ts] * charged, minlength=uniq.size)
        d["rr"][uniq] += add_r.astype(_I64)
        d["rq"][uniq] += add_q.astype(_I64)
        lo = d["lo"][uniq]
        d["trials"][uniq] += self.starts[last_b + 1] - lo
        d["batches"][uniq] += last_b - self._batch_of(lo) + 1
        done, active = uniq[hit], uniq[~hit]
        state = self.state
        if state is not None:  # once per length and round with finished steps
            a0 = int(d["a"][uniq[0]])
            state.block = state.loop_block = (a0, a0 + L)
            state.loop_open = int(active.size)
            state.loop_trials = int(d["hi"][uniq[0]])
            state.loop_run, state.loop_hits = stats
            state.run += acc.size
            state.hits += int(acc.sum())
            state.budget.check_time()
            if active.size and state.budget.max_rounds is not None:
                worst = active[int(np.argmax(d["rr"][active]))]
                a = int(d["a"][worst])
                state.budget.check_rounds(int(d["rr"][worst]), f"a call of block ({a}, {a + L})")
        if done.size:
            pick = first_pos[hit]
            who = {k: d[k][done] for k in ("owner", "owner_L", "role", "rec")}
            r = d["r0"][done] + d["rr"][done]
            q = d["q0"][done] + d["rq"][done]
            if self.recorder is not None:
                ids = who["rec"]
                self.recorder.updates["trials"].append((ids, d["trials"][done]))
                self.recorder.updates["batches"].append((ids, d["batches"][done]))
                self._close(who, False, r, q)
            table.release(done)
            self.finish(who, y[pick], log_mu[pick], r, q)
        if active.size:
            self.start_steps(L, active, d["hi"][active] + 1)

    # ---------------------------------------------------------------- driver
    def _close(self, who: Nodes, accepted: bool, rounds: np.ndarray,
               queries: np.ndarray) -> None:
        if self.recorder is None:
            return
        up, ids = self.recorder.updates, who["rec"]
        up["first_accepted"].append((ids, np.full(ids.size, accepted)))
        up["rounds"].append((ids, np.array(rounds, copy=True)))
        up["queries"].append((ids, np.array(queries, copy=True)))

    def _issue(self, groups: dict[int, list[Nodes]], chain: bool,
               ) -> list[tuple[int, Nodes, np.ndarray, bool, bool]]:
        """Answer the waiting nodes of one form: as few oracle calls as padding allows.

        The longest group sets the call's number of positions; a shorter node joins it
        when the positions after its block in its order (masked in its context, and
        after its chain) can pad it (``n - b >= pad``) and the padded cells (chain:
        extra rows) stay within :attr:`pad_cells` or the real cells of the call. The
        padded columns are discarded. Returns ``(L, nodes, answer, speculation?,
        first of its call?)`` per group of nodes.
        """
        pending = sorted(((L, _cat(p)) for L, p in groups.items()), key=lambda g: -g[0])
        out: list[tuple[int, Nodes, np.ndarray, bool, bool]] = []
        c = int(chain)
        while pending:
            Lt, top = pending.pop(0)
            members: list[tuple[int, Nodes]] = [(Lt, top)]
            cells = top["a"].size * (Lt - c)
            rest: list[tuple[int, Nodes]] = []
            for L, nodes in pending:
                pad = Lt - L
                room = self.n - nodes["a"] - L >= pad
                k = int(np.count_nonzero(room))
                real = k * (L - c)
                if k and self.pad_cells > 0 and k * pad <= max(self.pad_cells, cells + real):
                    if k == room.size:
                        members.append((L, nodes))
                    else:
                        members.append((L, _take(nodes, np.flatnonzero(room))))
                        rest.append((L, _take(nodes, np.flatnonzero(~room))))
                    cells += real
                else:
                    rest.append((L, nodes))
            pending = rest
            ctxs, poss, valss = [], [], []
            for L, nodes in members:
                pos = nodes["pos"][:, c:]
                vals = nodes["x"][:, 1:] if chain else None
                pad = Lt - L
                if pad:
                    b = nodes["a"] + L
                    extra = self.orders[nodes["sample"][:, None], b[:, None] + np.arange(pad)]
                    pos = np.concatenate([pos, extra], axis=1)
                    if vals is not None:
                        vals = np.concatenate([vals, np.zeros_like(extra)], axis=1)
                ctxs.append(nodes["ctx"])
                poss.append(pos)
                valss.append(vals)
            if len(members) == 1:
                ans = self.oracle.conditionals_at(ctxs[0].astype(_I64), poss[0], valss[0])
            else:
                ans = self.oracle.conditionals_at(
                    np.concatenate(ctxs, dtype=_I64), np.concatenate(poss),
                    np.concatenate(valss) if chain else None)  # type: ignore[arg-type]
            start = 0
            for j, (L, nodes) in enumerate(members):
                stop = start + nodes["a"].size
                part = ans if len(members) == 1 else ans[start:stop]
                out.append((L, nodes, part[:, : L - c] if L < Lt else part, not chain, j == 0))
                start = stop
        return out

    def _issue_flat(self, spec: dict[int, list[Nodes]], chain: dict[int, list[Nodes]],
                    ) -> list[tuple[int, Nodes, np.ndarray, bool, bool]]:
        """Answer every waiting node in one oracle call of one position per context.

        A speculation request of ``L`` positions becomes ``L`` contexts (its context
        repeated); a chain request of ``L - 1`` positions becomes its ``L - 1`` chain
        contexts (the contexts the chain form conditions on). The rows are those of the
        two forms, so the answers are the same; the guard counts one row per context.
        Used when all the round's contexts hold at most :attr:`flat_cells` entries.
        """
        members: list[tuple[int, Nodes, bool]] = []
        ctxs, poss = [], []
        for L, parts in spec.items():
            nodes = _cat(parts)
            members.append((L, nodes, True))
            ctxs.append(np.repeat(nodes["ctx"], L, axis=0))
            poss.append(nodes["pos"].reshape(-1, 1))
        for L, parts in chain.items():
            nodes = _cat(parts)
            members.append((L, nodes, False))
            pos = nodes["pos"][:, 1:]
            ctxs.append(build_chain_contexts(nodes["ctx"], pos, nodes["x"][:, 1:]))
            poss.append(pos.reshape(-1, 1))
        ans = self.oracle.conditionals_at(np.concatenate(ctxs, dtype=_I64), np.concatenate(poss))
        out: list[tuple[int, Nodes, np.ndarray, bool, bool]] = []
        start = 0
        for j, (L, nodes, is_spec) in enumerate(members):
            w = L if is_spec else L - 1
            stop = start + nodes["a"].size * w
            out.append((L, nodes, ans[start:stop].reshape(-1, w, self.q), is_spec, j == 0))
            start = stop
        return out

    def run(self, ctx: np.ndarray, orders: np.ndarray) -> None:
        num, n = ctx.shape
        self.orders = orders
        self.y = np.zeros((num, n), _I64)
        self.rounds = np.zeros(num, _I64)
        self.queries = np.zeros(num, _I64)
        if not num:
            return
        zeros = np.zeros(num, _I64)
        root: Nodes = {"a": zeros, "ctx": ctx.astype(self.ctx_dtype), "pos": orders,
                       "owner": np.arange(num), "owner_L": zeros - 1, "role": zeros,
                       "sample": np.arange(num), "depth": zeros}
        self.new_nodes(n, root, zeros - 1, 0, zeros)
        while self.spec_req or self.chain_req:
            spec, self.spec_req = self.spec_req, {}
            chain, self.chain_req = self.chain_req, {}
            cells = self.n * (sum(p["pos"].size for parts in spec.values() for p in parts)
                              + sum(p["pos"].size - p["pos"].shape[0]
                                    for parts in chain.values() for p in parts))
            if cells <= self.flat_cells:
                answers = self._issue_flat(spec, chain)
            else:
                answers = self._issue(spec, False) + self._issue(chain, True)
            if self.log is not None:
                calls = [0, 0]
                for _, _, _, is_spec, first in answers:
                    calls[0 if is_spec else 1] += first
                self.log.append((calls[0], calls[1]))
            for L, nodes, ans, is_spec, _ in answers:
                if is_spec:
                    nodes["nu"] = ans
                    nodes["rounds"] += 1
                    nodes["queries"] += 1
                    self.speculate(L, nodes)
                else:
                    self.judge_first(L, nodes, ans)
            while self.ready:  # a finished loop only completes steps of longer loops
                L = min(self.ready)
                parts = self.ready.pop(L)
                self.judge_loops(L, parts[0] if len(parts) == 1 else np.concatenate(parts))


def run_rounds(sampler: AutospeculativeSampler, ctx: np.ndarray, orders: np.ndarray,
               source: RandomSource, state: _BudgetState | None,
               recorder: _Recorder | None, log: list[tuple[int, int]] | None = None,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the root calls ``SAMPLE(0, n, x_P = all MASK)`` on the round scheduler.

    Parameters
    ----------
    sampler : AutospeculativeSampler
        The sampler (oracle guard, steps, rho, look-ahead settings, ``max_trials``).
    ctx : ndarray of int, shape (num, n)
        All-MASK contexts, one per sample (left unchanged).
    orders : ndarray of int, shape (num, n)
        The samples' orders.
    source : RandomSource
        Where every random choice comes from.
    state : optional
        The budget state (``None`` without a budget).
    recorder : optional
        The trace recorder (``None`` when not tracing).
    log : list, optional
        When given, one ``(speculation calls, chain calls)`` pair is appended per
        round (the benchmarks count rounds that need both forms).

    Returns
    -------
    y, rounds, queries : ndarray
        Values along ``orders`` (num, n) and the per-sample costs (num,).
    """
    run = _Run(sampler, source, state, recorder, log)
    run.run(ctx, orders)
    return run.y, run.rounds, run.queries
