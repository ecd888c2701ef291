"""Autospeculative sampler: recursive speculative rejection sampling (DESIGN 4.2).

Why this module is long (about 860 lines): the kernel, its public seams
(:class:`SpeculativeSteps`, :class:`BlockMemo` and the call records) and its trace
record are one algorithm whose parts change together.

The algorithm, for a block ``S = sigma(a+1..b)`` given the prefix ``x_P``::

    SAMPLE(a, b, x_P, nu_rows=None) -> (x_S, log mu_S(x_S))
      if nu_rows is None:  ROUND: nu_rows = conditionals at S given x_P  (1 query)
      if b - a == 1: draw v ~ nu_rows[0]; return v, log nu_rows[0][v]
      draw x ~ nu_S (independent coordinates)
      ROUND: chain-rule conditionals along x (|S| - 1 contexts in one batch)
      accept x with probability min(1, mu_S(x) / nu_S(x)); if accepted return
      mid = a + floor((b - a) / 2)
      for r = 0, 1, 2, ...: batch I_r = [ceil((1+rho)^r), ceil((1+rho)^(r+1)) - 1]
         in parallel for each trial i in I_r:
            (y_L, l_L) = SAMPLE(a, mid, x_P, nu_rows[:mid-a])
            (y_R, l_R) = SAMPLE(mid, b, x_P + y_L)
            accept_i with probability max(0, 1 - nu_S(y) / mu_S(y))
         if any accepted: return the accepted trial with the smallest index

Vectorisation
-------------
The recursion tree of block *positions* ``(a, b)`` is the same for every sample;
only the orders and contexts differ. By default :meth:`AutospeculativeSampler.sample`
runs the round scheduler of :mod:`samplers.autospec_schedule`: the calls of every
block, level, sample and trial waiting for an oracle answer in the same global round
share one oracle call per form and number of positions (fewer with padding, one per
round for small contexts), so the oracle calls of a ``sample(num)`` follow the rounds
of its slowest sample. The nested kernel :meth:`AutospeculativeSampler.run_block`
(``schedule = "nested"``, and whenever :attr:`~AutospeculativeSampler.memo` is set or
the steps are not exactly :class:`SpeculativeSteps`) runs ``m`` block calls at the
same ``(a, b)`` in lock step: one oracle call carries the contexts of all of them, and
the trials of a residual batch of all rejected calls are run as one batch of child
calls. In both, Python loops run over recursion levels, rounds and residual batches,
never over samples or oracle rows.

Cost accounting (DESIGN 3.3) is computed per call, as if the sample ran alone:
a call costs one round for its speculation rows (none when the left child reuses
its parent's rows), one round for the chain-rule batch (when ``|S| > 1``), and for
each residual batch the maximum over its trials of ``rounds(left) + rounds(right)``;
queries add up every context row evaluated, in every trial of every batch.

Seams
-----
:class:`SpeculativeSteps` (the algorithm's single steps, passed as ``steps=``) and
:class:`BlockMemo` (the memoisation point, the sampler's ``memo``) are the public
seams through which :mod:`verify.mutants` builds wrong variants and
:func:`verify.exact_law` enumerates the law; :class:`BlockCall` and
:class:`ResidualCall` are what flows through them.

"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from distributions.base import MASK, DiscreteOracle
from distributions.errors import BudgetExceededError, ParameterError
from distributions.validation import check_float, check_int
from samplers.autospec_schedule import run_rounds
from samplers.base import (
    Budget,
    RandomSource,
    SampleResult,
    SamplerTrace,
    as_random_source,
    check_budget,
)
from samplers.oracle import CountingOracle
from samplers.sequential import resolve_orders

__all__ = [
    "AutospeculativeSampler",
    "BlockCall",
    "BlockMemo",
    "BlockOutput",
    "ResidualCall",
    "SpeculativeSteps",
    "default_rho",
]

_I64 = np.int64


def default_rho(n: int) -> float:
    """Default batch growth rate ``rho = 1 / log2(n)`` (1 for ``n <= 2``)."""
    return 1.0 if n <= 2 else 1.0 / math.log2(n)


# ---------------------------------------------------------------------- seams
#: What a block call (or a residual loop) returns for its ``m`` calls: the values
#: ``y`` (m, b - a), ``log mu_S(y)`` (m,), and the rounds and queries (m,) charged.
BlockOutput = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class BlockCall:
    """``m`` calls ``SAMPLE(a, b, ctx[i])`` run in lock step (DESIGN 4.2).

    Attributes
    ----------
    a, b : int
        Prefix length and block end (the block is ``sigma(a+1..b)``).
    ctx : ndarray of int, shape (m, n)
        Contexts holding the prefix (MASK elsewhere); owned by the call, which may
        set and restore entries.
    pos : ndarray of int, shape (m, b - a)
        The block's positions ``sigma(a+1..b)``.
    nu_rows : ndarray, shape (m, b - a, q), optional
        Speculation rows given by the parent (left child); fetched when ``None``.
    source : RandomSource
        Where the call's random choices come from.
    trace : optional
        The sampler's trace record of the calls (``None`` when not tracing).
    """

    a: int
    b: int
    ctx: np.ndarray
    pos: np.ndarray
    nu_rows: np.ndarray | None
    source: RandomSource
    trace: Any = None


@dataclass(frozen=True)
class ResidualCall:
    """``m`` rejected calls of block ``(a, b)`` entering their residual loop.

    Attributes
    ----------
    a, b, ctx, pos, source, trace
        As in :class:`BlockCall` (``trace``: the records of the rejected calls).
    nu_rows : ndarray, shape (m, b - a, q)
        The calls' speculation rows.
    proposal : ndarray of int, shape (m, b - a)
        The rejected proposals ``x ~ nu_S``. The exact loop never reads them; a
        strategy may (a wrong sampler that conditions on the proposal).
    log_nu_proposal : ndarray, shape (m,)
        ``log nu_S(x)`` of the rejected proposals (likewise).
    """

    a: int
    b: int
    ctx: np.ndarray
    pos: np.ndarray
    nu_rows: np.ndarray
    proposal: np.ndarray
    log_nu_proposal: np.ndarray
    source: RandomSource
    trace: Any = None


class SpeculativeSteps:
    """The single steps of the autospeculative algorithm: the sampler's strategy.

    :class:`AutospeculativeSampler` takes an instance as ``steps=`` and calls these
    methods for every step; the defaults are the exact algorithm. A subclass that
    overrides one method is a variant of the sampler (the wrong ones of
    :mod:`verify.mutants` are built that way). A strategy must keep no state from
    one call to the next (the exact-law enumeration memoises calls on their
    arguments, and refuses a sampler whose attributes change between calls).
    """

    def split(self, a: int, b: int) -> int:
        """Split point of block ``(a, b)``: ``a + floor((b - a) / 2)``."""
        return a + (b - a) // 2

    def log_probs(self, p: np.ndarray) -> np.ndarray:
        """Natural log of probabilities (0 -> -inf, no warning)."""
        with np.errstate(divide="ignore"):
            return np.log(p)

    def first_log_accept(self, log_mu: np.ndarray, log_nu: np.ndarray) -> np.ndarray:
        """Log of ``min(1, mu_S(x) / nu_S(x))`` for proposals ``x ~ nu_S``."""
        with np.errstate(invalid="ignore"):
            out = np.minimum(0.0, log_mu - log_nu)
        return np.where(np.isneginf(log_mu), -np.inf, out)

    def residual_log_accept(self, log_mu: np.ndarray, log_nu: np.ndarray) -> np.ndarray:
        """Log of ``max(0, 1 - nu_S(y) / mu_S(y))`` for trials ``y ~ mu_S``."""
        d = log_nu - log_mu
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log(-np.expm1(np.minimum(d, 0.0)))
        return np.where(d < 0, out, -np.inf)

    def right_context(
        self,
        ctx: np.ndarray,
        left_pos: np.ndarray,
        y_left: np.ndarray,
        call: ResidualCall,
        trials: np.ndarray,
    ) -> np.ndarray:
        """Context of the right child: the prefix plus the trial's left half ``y_left``.

        ``ctx`` is the trials' own copy and is filled in place. ``call`` is the
        residual loop and ``trials[i]`` the index (in ``call``) of the call trial
        ``i`` belongs to; the exact step does not use them.
        """
        ctx[np.arange(ctx.shape[0])[:, None], left_pos] = y_left
        return ctx

    def left_rows(self, nu_rows: np.ndarray, k: int) -> np.ndarray:
        """Speculation rows the left child reuses: its parent's first ``k`` rows."""
        return nu_rows[:, :k]

    def residual(self, sampler: AutospeculativeSampler, call: ResidualCall) -> BlockOutput:
        """Residual step of ``m`` rejected calls: draws from ``(mu_S - nu_S)_+ / TV``.

        The default runs the sampler's residual loop
        (:meth:`AutospeculativeSampler.residual_loop`) with these steps.
        """
        return sampler.residual_loop(call, self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@runtime_checkable
class BlockMemo(Protocol):
    """The memoisation point of an :class:`AutospeculativeSampler` (its ``memo``).

    When a sampler's ``memo`` is set, every block call and every residual step goes
    through it: ``block(run, call)`` must return what ``run(call)`` (the real call)
    returns, or a draw from its law; likewise ``residual``. The residual loop calls
    ``batch_rejected()`` right after a batch whose trials were all rejected, before
    it draws anything else: the loop keeps no trace of a rejected batch (its later
    behaviour does not depend on the rejected trials). :func:`verify.exact_law`
    uses these points to enumerate each call's law once and to merge the paths of
    rejected batches; the sampler's random stream does not depend on them.
    """

    def block(self, run: Callable[[BlockCall], BlockOutput], call: BlockCall) -> BlockOutput:
        """Run (or draw the outcome of) ``m`` block calls."""
        ...

    def residual(
        self, run: Callable[[ResidualCall], BlockOutput], call: ResidualCall
    ) -> BlockOutput:
        """Run (or draw the outcome of) the residual step of ``m`` rejected calls."""
        ...

    def batch_rejected(self) -> None:
        """Called by the residual loop after a batch with no accepted trial."""
        ...


# ---------------------------------------------------------------------- tracing
class _Recorder:
    """Collects one record per block call; built into a :class:`SamplerTrace`."""

    _FIELDS = ("first_accepted", "trials", "batches", "rounds", "queries")

    def __init__(self) -> None:
        self.count = 0
        self.chunks: dict[str, list[np.ndarray]] = {
            k: [] for k in ("sample", "a", "b", "depth", "parent", "role", "trial", "context")
        }
        self.updates: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in self._FIELDS}

    def build(self, orders: np.ndarray, n: int) -> SamplerTrace:
        K = self.count

        def cat(key: str, dtype: Any, shape: tuple[int, ...] = ()) -> np.ndarray:
            parts = self.chunks[key]
            return np.concatenate(parts).astype(dtype) if parts else np.zeros((0, *shape), dtype)

        fields: dict[str, np.ndarray] = {}
        for key in self._FIELDS:
            arr = np.zeros(K, bool if key == "first_accepted" else _I64)
            for ids, vals in self.updates[key]:
                arr[ids] = vals
            fields[key] = arr
        for key in ("sample", "a", "b", "depth", "parent", "role", "trial"):
            fields[key] = cat(key, _I64)
        fields["context"] = cat("context", _I64, (n,))
        # drop the look-ahead trials past the charged ones (and their descendants):
        # the trace is then the execution of the algorithm, one batch at a time
        parent, depth = fields["parent"], fields["depth"]
        child = parent >= 0
        keep = np.ones(K, bool)
        keep[child] = fields["trial"][child] <= fields["trials"][parent[child]]
        for d in range(1, int(depth.max(initial=0)) + 1):
            at = np.flatnonzero(depth == d)
            keep[at] &= keep[parent[at]]
        new_id = np.cumsum(keep) - 1
        fields = {k: v[keep] for k, v in fields.items()}
        fields["parent"] = np.where(fields["parent"] >= 0, new_id[fields["parent"]], -1)
        return SamplerTrace(orders=orders, **{f"block_{k}": v for k, v in fields.items()})


@dataclass(frozen=True)
class _TraceSpec:
    """Who the ``m`` block calls of a batch are (before their records exist)."""

    recorder: _Recorder
    sample: np.ndarray
    parent: np.ndarray
    role: int
    trial: np.ndarray
    depth: np.ndarray

    def open(self, a: int, b: int, ctx: np.ndarray) -> _TraceHandle:
        rec = self.recorder
        m = ctx.shape[0]
        ids = np.arange(rec.count, rec.count + m, dtype=_I64)
        depth = self.depth
        rec.count += m
        ch = rec.chunks
        ch["sample"].append(self.sample)
        ch["a"].append(np.full(m, a, _I64))
        ch["b"].append(np.full(m, b, _I64))
        ch["depth"].append(depth)
        ch["parent"].append(self.parent)
        ch["role"].append(np.full(m, self.role, _I64))
        ch["trial"].append(self.trial)
        ch["context"].append(ctx.copy())
        return _TraceHandle(rec, ids, self.sample, depth)


@dataclass(frozen=True)
class _TraceHandle:
    """The records of ``m`` open block calls."""

    recorder: _Recorder
    ids: np.ndarray
    sample: np.ndarray
    depth: np.ndarray

    def take(self, idx: np.ndarray) -> _TraceHandle:
        return _TraceHandle(self.recorder, self.ids[idx], self.sample[idx], self.depth[idx])

    def child_spec(self, calls: np.ndarray, role: int, trial: np.ndarray) -> _TraceSpec:
        return _TraceSpec(
            self.recorder, self.sample[calls], self.ids[calls], role, trial, self.depth[calls] + 1
        )

    def set(self, key: str, values: np.ndarray) -> None:
        self.recorder.updates[key].append((self.ids, np.asarray(values)))


# ---------------------------------------------------------------------- budget
@dataclass
class _BudgetState:
    """What a budget message reports: where the sampler is and what it has seen.

    Updated once per block call and once per residual batch (never per query).
    """

    budget: Budget
    block: tuple[int, int]
    loop_block: tuple[int, int] | None = None
    loop_open: int = 0  # calls of that loop still rejected
    loop_trials: int = 0  # trials charged to each of them so far
    loop_run: int = 0  # trials evaluated in that loop (look-ahead included)
    loop_hits: int = 0
    run: int = 0  # over every residual loop of the sample() call
    hits: int = 0

    def describe(self) -> str:
        a, b = self.block
        parts = [f"last block entered: ({a}, {b})"]
        if self.loop_block is None:
            parts.append("no residual trial run yet")
        else:
            la, lb = self.loop_block
            parts.append(
                f"residual loop of block ({la}, {lb}): {self.loop_open} call(s) still "
                f"rejected after {self.loop_trials} residual trials each; acceptance rate "
                f"seen there {_rate(self.loop_hits, self.loop_run)}"
            )
            parts.append(
                f"all residual loops: {self.run} trials run, acceptance rate "
                f"{_rate(self.hits, self.run)}"
            )
        return "; ".join(parts)


def _rate(hits: int, run: int) -> str:
    return f"{hits / run:.3g} ({hits} of {run} trials accepted)" if run else "none (no trial)"


# ---------------------------------------------------------------------- sampler
class AutospeculativeSampler:
    """Exact parallel sampler by recursive speculative rejection (DESIGN 4.2).

    Parameters
    ----------
    oracle : DiscreteOracle
        Target oracle; wrapped in a :class:`~samplers.oracle.CountingOracle`. Its
        ``conditionals_at`` fast path is used when present.
    rho : float, optional
        Growth rate of the residual batches, ``> 0``; default ``1 / log2(n)``
        (expected ``O(n log n)`` queries). The output law is exact for every rho.
    order : {"random", "identity"} or permutation of range(n), default "random"
        ``"random"`` draws one uniform order per sample.
    validate : bool, default True
        Check every oracle answer against the contract.
    trace : bool, default False
        Record every block call in ``SampleResult.trace`` (a
        :class:`~samplers.base.SamplerTrace`).
    max_rounds : int, optional
        Round budget, ``>= 1``: :meth:`sample` raises
        :class:`~distributions.errors.BudgetExceededError` as soon as the rounds
        charged to one block call (the root call is the whole sample) exceed it, so
        every returned sample has ``rounds <= max_rounds``. Checked once per residual
        batch on the rounds charged so far (a lower bound on the call's cost; the
        block calls of trials evaluated ahead by the look-ahead count too) and on
        the samples' rounds at the end. Default ``None``: no round budget.
    timeout : float, optional
        Seconds of wall time allowed per :meth:`sample` call, ``> 0``; exceeding
        it raises :class:`~distributions.errors.BudgetExceededError`. Checked at
        every block call and residual batch and, on the main thread of a POSIX
        system, also enforced by an interval timer that interrupts a long oracle
        call (see :class:`~samplers.base.Budget`). Default ``None``: no time limit.
    steps : SpeculativeSteps, optional
        The algorithm's steps (default: the exact ones, ``SpeculativeSteps()``).

    Raises
    ------
    BudgetExceededError
        From :meth:`sample`, when ``max_rounds``, ``timeout`` or the safety cap
        :attr:`max_trials` is exceeded. The message names the budget, the value
        reached, the block ``(a, b)`` of the residual loop, the residual trials run
        and the acceptance rate seen (typically ~0 with a broken oracle). Budget
        checks draw no randomness: within the budget the output is unchanged.

    Notes
    -----
    All probabilities are handled in log space; a chain-rule factor of zero (an
    impossible proposal, answered by all-zero rows under the zero-context rule)
    gives ``log mu_S = -inf`` and acceptance probability 0 with no division.

    Per-sample ``rounds`` and ``queries`` are what the sample would cost alone
    (see the module docstring) and do not depend on ``num``.

    The algorithm's single steps are the methods of ``steps``, a
    :class:`SpeculativeSteps` (the exact ones by default): :mod:`verify.mutants`
    builds plausible wrong samplers by passing a strategy that overrides one step.
    The attribute :attr:`memo` is the memoisation point (a :class:`BlockMemo`)
    through which :func:`verify.exact_law` enumerates the sampler's law.

    Examples
    --------
    >>> import numpy as np
    >>> from distributions import TableDistribution
    >>> from samplers import AutospeculativeSampler
    >>> target = TableDistribution(np.random.default_rng(0).random((2,) * 6))
    >>> res = AutospeculativeSampler(target).sample(1000, rng=1)
    >>> res.samples.shape, int(res.rounds.min()) >= 2
    ((1000, 6), True)
    """

    #: Safety cap on residual trials of one block call (a numerically zero
    #: residual would otherwise loop forever); exceeding it raises
    #: :class:`~distributions.errors.BudgetExceededError` (a ``RuntimeError``).
    max_trials: int = 10**7
    #: Look-ahead: while the pending trials of a residual loop of block ``(a, b)``
    #: need fewer than ``lookahead_rows`` oracle rows (about ``b - a`` per trial: the
    #: chain rows of its two halves), the next batches are evaluated together, at
    #: most ``lookahead_trials`` and at most ~2 / (observed acceptance rate) trials
    #: per call (the first step of a loop runs one batch only). Counting rows, not
    #: trials, keeps the discarded look-ahead rows few on long blocks (counting
    #: trials, ``CurieWeiss(1024)`` evaluated 24 oracle rows per row charged). Trials past the first
    #: batch with an acceptance are discarded and not charged, so the output law and
    #: the per-sample cost are those of one batch at a time; set
    #: ``lookahead_rows = 0`` to evaluate exactly one batch per step (the exact-law
    #: enumerator does). Look-ahead only cuts Python overhead in long tails. It is
    #: also bounded in memory: every trial holds its own context and speculation rows
    #: (``n + (b - a) * q`` entries), and a step adds a look-ahead batch only while its
    #: trials hold at most ``lookahead_cells / ceil(log2 n)`` entries, so that the
    #: look-ahead of all nested residual loops together (at most ``ceil(log2 n)``
    #: levels) holds at most ``lookahead_cells`` entries (2**24: 128 MiB of int64 /
    #: float64). Without it a long target (n = 10**5) copied hundreds of full-length
    #: contexts per level (1.26 GB peak for 4 samples of ``IsingChain(10**5)``).
    lookahead_rows: int = 256
    lookahead_trials: int = 64
    lookahead_cells: int = 2**24
    #: Schedule of the oracle calls: ``"rounds"`` (default) runs the algorithm through
    #: the round scheduler of :mod:`samplers.autospec_schedule` (one oracle call per
    #: round and form: the calls of every block, level, sample and trial that need an
    #: answer in the same round share it); ``"nested"`` runs the nested lock-step kernel
    #: (:meth:`run_block`: one oracle call per block ``(a, b)`` step). Both have the same
    #: output law and per-sample costs; they draw the random source in different
    #: orders. The nested kernel is used whatever this says when :attr:`memo` is set or
    #: the steps are not exactly :class:`SpeculativeSteps` (the seams of
    #: :func:`verify.exact_law` and :mod:`verify.mutants`).
    schedule: str = "rounds"
    #: Round scheduler: a request with fewer positions joins a longer one's oracle call,
    #: padded with masked positions whose answers are discarded, while the padded
    #: cells (positions of speculation rows; extra rows of a chain request) stay within
    #: ``pad_cells`` or the call's real cells (one call then replaces two; padded chain
    #: rows are evaluated and counted by the guard, never charged to a sample);
    #: ``0``: no padding (one call per form and length).
    pad_cells: int = 1024
    #: Round scheduler: when all contexts of a round's requests, one per position (a
    #: speculation request of ``L`` positions is ``L`` contexts, a chain request its
    #: chain contexts), hold at most ``flat_cells`` entries, the round is one oracle call
    #: of one position per context (small targets: one call per round; the guard then
    #: counts a speculation request as ``L`` rows; the samples are charged as before).
    #: ``0``: never.
    flat_cells: int = 2**20
    #: The memoisation point (see :class:`BlockMemo`); ``None``: calls run as they are.
    memo: BlockMemo | None = None
    #: Benchmarks only: a list that receives one ``(speculation calls, chain calls)``
    #: pair per round of the round scheduler (``None``: no record).
    _schedule_log: list[tuple[int, int]] | None = None
    #: Budget of the running :meth:`sample` call (None outside it).
    _budget: _BudgetState | None = None

    def __init__(
        self,
        oracle: DiscreteOracle,
        *,
        rho: float | None = None,
        order: Any = "random",
        validate: bool = True,
        trace: bool = False,
        max_rounds: int | None = None,
        timeout: float | None = None,
        steps: SpeculativeSteps | None = None,
    ) -> None:
        self.max_rounds, self.timeout = check_budget(max_rounds, timeout)
        if steps is None:
            steps = SpeculativeSteps()
        elif not isinstance(steps, SpeculativeSteps):
            raise ParameterError(
                f"`steps` must be a SpeculativeSteps instance; got {type(steps).__name__}."
            )
        self.steps: SpeculativeSteps = steps
        self.oracle = CountingOracle(oracle, validate=validate)
        self.n: int = self.oracle.n
        self.q: int = self.oracle.q
        self.rho: float = (
            default_rho(self.n) if rho is None else check_float("rho", rho, low=0.0, low_open=True)
        )
        resolve_orders(order, 1, self.n, as_random_source(0))  # validate eagerly
        self.order = order
        self.trace = bool(trace)
        self._budget = None  # the same attributes before, during and after sample()

    def __repr__(self) -> str:
        steps = "" if type(self.steps) is SpeculativeSteps else f", steps={self.steps!r}"
        return f"{type(self).__name__}(n={self.n}, q={self.q}, rho={self.rho:.4g}{steps})"

    # ------------------------------------------------------------------ public
    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        """Draw ``num`` exact samples.

        Parameters
        ----------
        num : int
            Number of samples, ``>= 0``.
        rng : seed, Generator, SeedSequence or RandomSource, optional
            Source of randomness (see :func:`samplers.base.as_random_source`).

        Returns
        -------
        SampleResult
            ``samples`` (num, n) int, per-sample ``rounds`` and ``queries``, and the
            ``trace`` when the sampler was built with ``trace=True``. ``aux`` holds the
            guard's record of this call (:meth:`CountingOracle.record
            <samplers.oracle.CountingOracle.record>`): ``oracle_calls`` and
            ``oracle_rows`` actually made (look-ahead trials included) and
            ``oracle_renormalized``, the rows the guard renormalised in float64.

        Raises
        ------
        BudgetExceededError
            When ``max_rounds``, ``timeout`` or :attr:`max_trials` is exceeded (see
            the class docstring).
        """
        num = check_int("num", num, low=0)
        scheduled = self._scheduled()
        source = as_random_source(rng)
        budget = Budget(type(self).__name__, self.max_rounds, self.timeout)
        state = None
        if self.max_rounds is not None or self.timeout is not None:
            state = _BudgetState(budget, (0, self.n))  # no bookkeeping without a budget
            budget.describe = state.describe
        outer, self._budget = self._budget, state
        before = self.oracle.record()
        try:
            with budget:
                orders = resolve_orders(self.order, num, self.n, source)
                ctx = np.full((num, self.n), MASK, dtype=_I64)
                recorder = _Recorder() if self.trace else None
                spec = None
                if recorder is not None:
                    zeros = np.zeros(num, _I64)
                    spec = _TraceSpec(recorder, np.arange(num, dtype=_I64), zeros - 1, 0, zeros,
                                      zeros)
                if scheduled:
                    y, rounds, queries = run_rounds(self, ctx, orders, source, state,
                                                    recorder, self._schedule_log)
                else:
                    y, _, rounds, queries = self._block(
                        BlockCall(0, self.n, ctx, orders, None, source, spec)
                    )
                if num:
                    worst = int(np.argmax(rounds))
                    budget.check_rounds(int(rounds[worst]), f"sample {worst}")
        finally:
            self._budget = outer
        samples = ctx  # every position of the root's context is MASK again here
        samples[np.arange(num)[:, None], orders] = y
        trace = recorder.build(orders, self.n) if recorder is not None else None
        return SampleResult(samples=samples, rounds=rounds, queries=queries, trace=trace,
                            orders=orders, aux=self.oracle.record_since(before))

    def _scheduled(self) -> bool:
        """Whether :meth:`sample` runs the round scheduler (see :attr:`schedule`)."""
        if self.schedule not in ("rounds", "nested"):
            raise ParameterError(
                f"`schedule` must be 'rounds' or 'nested'; got {self.schedule!r}."
            )
        return (self.schedule == "rounds" and self.memo is None
                and type(self.steps) is SpeculativeSteps)

    # ------------------------------------------------------------------ steps
    def _next_batch(self, t: int) -> tuple[int, int]:
        """The residual batch ``I_r`` that contains trial index ``t`` (1-based).

        ``I_r = [ceil((1+rho)^r), ceil((1+rho)^(r+1)) - 1]``; the batches partition
        the positive integers, so the batch starting at ``t`` ends at
        ``ceil((1+rho)^R) - 1`` with ``R`` the least integer such that
        ``(1+rho)^R > t``. Empty batches are skipped without a loop.
        """
        g = 1.0 + self.rho
        R = max(int(math.floor(math.log(t) / math.log(g))) + 1, 1)
        while g**R <= t:
            R += 1
        while R > 1 and g ** (R - 1) > t:
            R -= 1
        return t, int(math.ceil(g**R)) - 1

    # ------------------------------------------------------------------ kernel
    def _block(self, call: BlockCall) -> BlockOutput:
        """``m`` block calls, through the memoisation point when one is set."""
        memo = self.memo
        return self.run_block(call) if memo is None else memo.block(self.run_block, call)

    def _residual(self, call: ResidualCall) -> BlockOutput:
        """The strategy's residual step, through the memoisation point when set."""
        memo = self.memo
        run = self._run_residual
        return run(call) if memo is None else memo.residual(run, call)

    def _run_residual(self, call: ResidualCall) -> BlockOutput:
        """The strategy's residual step itself (what the memoisation point runs)."""
        return self.steps.residual(self, call)

    def run_block(self, call: BlockCall) -> BlockOutput:
        """Run ``m`` calls ``SAMPLE(a, b, ctx[i])`` in lock step (the real code).

        Nested block calls and residual steps go through :attr:`memo` when it is
        set; this call itself does not.

        Parameters
        ----------
        call : BlockCall
            The calls (see :class:`BlockCall`).

        Returns
        -------
        y : ndarray of int, shape (m, b - a)
            Values at ``call.pos[i]``.
        log_mu : ndarray, shape (m,)
            ``log mu_S(y)`` given the prefix.
        rounds, queries : ndarray of int, shape (m,)
            Cost of each call, descendants included.
        """
        a, b, ctx, pos, nu_rows, source = (call.a, call.b, call.ctx, call.pos, call.nu_rows,
                                           call.source)
        rec: _TraceSpec | None = call.trace
        steps = self.steps
        m = ctx.shape[0]
        L = b - a
        rounds = np.zeros(m, _I64)
        queries = np.zeros(m, _I64)
        if m == 0:
            return np.zeros((0, L), _I64), np.zeros(0), rounds, queries
        state = self._budget
        if state is not None:  # once per block call (m calls in lock step)
            state.block = (a, b)
            state.budget.check_time()
        handle = rec.open(a, b, ctx) if rec is not None else None
        rows = np.arange(m)
        if nu_rows is None:
            nu_rows = self.oracle.conditionals_at(ctx, pos)
            rounds += 1
            queries += 1

        if L == 1:
            v = source.categorical(nu_rows[:, 0])
            log_mu = steps.log_probs(nu_rows[rows, 0, v])
            if handle is not None:
                self._close(handle, np.ones(m, bool), rounds, queries)
            return v[:, None], log_mu, rounds, queries

        # speculation: x ~ nu_S, all coordinates independent given the prefix
        x = source.categorical(nu_rows.reshape(m * L, self.q)).reshape(m, L)
        log_nu_terms = steps.log_probs(np.take_along_axis(nu_rows, x[..., None], axis=2)[..., 0])
        log_nu = log_nu_terms.sum(axis=1)
        # chain rule along x: one round, L - 1 contexts (the first factor is shared)
        ctx[rows, pos[:, 0]] = x[:, 0]
        chain = self.oracle.conditionals_at(ctx, pos[:, 1:], x[:, 1:])
        ctx[rows, pos[:, 0]] = MASK
        rounds += 1
        queries += L - 1
        log_chain = steps.log_probs(np.take_along_axis(chain, x[:, 1:, None], axis=2)[..., 0])
        log_mu = log_nu_terms[:, 0] + log_chain.sum(axis=1)

        accepted = source.coin(steps.first_log_accept(log_mu, log_nu))
        y = x
        rej = np.flatnonzero(~accepted)
        if rej.size:
            sub = handle.take(rej) if handle is not None else None
            y_r, log_mu_r, rounds_r, queries_r = self._residual(ResidualCall(
                a, b, ctx[rej], pos[rej], nu_rows[rej], x[rej], log_nu[rej], source, sub
            ))
            y = y.copy()
            y[rej] = y_r
            log_mu = log_mu.copy()
            log_mu[rej] = log_mu_r
            rounds[rej] += rounds_r
            queries[rej] += queries_r
        if handle is not None:
            self._close(handle, accepted, rounds, queries)
        return y, log_mu, rounds, queries

    def residual_loop(self, call: ResidualCall, steps: SpeculativeSteps) -> BlockOutput:
        """The residual loop of ``m`` rejected calls, run with ``steps``.

        Draws from ``(mu_S - nu_S)_+ / TV`` (DESIGN 4.2): batches of trials, each
        trial a left and a right child call, accepted with probability
        ``exp(steps.residual_log_accept(...))``; the first accepted trial of each
        call is returned. The proposal in ``call`` is not read (only ``steps`` may
        read it). Calls :meth:`BlockMemo.batch_rejected` after a batch with no
        accepted trial when :attr:`memo` is set.

        Returns
        -------
        (y, log_mu, rounds, queries)
            As :meth:`run_block`.
        """
        a, b, ctx, pos, nu_rows, source = (call.a, call.b, call.ctx, call.pos, call.nu_rows,
                                           call.source)
        rec: _TraceHandle | None = call.trace
        m, L = call.proposal.shape
        mid = steps.split(a, b)
        k = mid - a
        cols = np.arange(L)
        y = np.zeros((m, L), _I64)
        log_mu = np.zeros(m)
        rounds = np.zeros(m, _I64)
        queries = np.zeros(m, _I64)
        trials = np.zeros(m, _I64)
        batches = np.zeros(m, _I64)
        active = np.arange(m)
        t = 1
        run = hits = 0  # trials evaluated and accepted so far (pooled over the calls)
        state = self._budget
        memo = self.memo
        step_cells = self.lookahead_cells // max(1, math.ceil(math.log2(self.n)))
        while active.size:
            # the next batch, plus look-ahead batches while the pending work is small,
            # at most ~2 / (observed acceptance rate) trials per call (none at first)
            bounds = [self._next_batch(t)]
            width = bounds[0][1] - bounds[0][0] + 1
            cap = min(self.lookahead_trials, math.ceil(2 * run / hits) if hits else 2 * (t - 1))
            cells = active.size * (self.n + L * self.q)  # per trial of every call
            while active.size * width * L < self.lookahead_rows and width < cap:
                nxt = self._next_batch(bounds[-1][1] + 1)
                if cells * (nxt[1] - bounds[0][0] + 1) > step_cells:
                    break
                bounds.append(nxt)
                width = bounds[-1][1] - bounds[0][0] + 1
            lo, hi = bounds[0][0], bounds[-1][1]
            t = hi + 1
            if lo > self.max_trials:
                raise BudgetExceededError(
                    f"`max_trials` = {self.max_trials} exceeded: the residual loop of block "
                    f"({a}, {b}) ran {lo - 1} residual trials per call without an acceptance "
                    f"({active.size} call(s) still rejected); acceptance rate seen "
                    f"{_rate(hits, run)}: the residual mass is numerically zero (check the "
                    "oracle)."
                )
            calls = np.repeat(active, width)
            trial_idx = np.tile(np.arange(lo, hi + 1, dtype=_I64), active.size)
            t_ctx = ctx[calls]
            t_pos = pos[calls]
            t_rows = nu_rows[calls]
            spec_l = rec.child_spec(calls, 1, trial_idx) if rec is not None else None
            y_l, log_l, r_l, q_l = self._block(BlockCall(
                a, mid, t_ctx, t_pos[:, :k], steps.left_rows(t_rows, k), source, spec_l
            ))
            r_ctx = steps.right_context(t_ctx, t_pos[:, :k], y_l, call, calls)
            spec_r = rec.child_spec(calls, 2, trial_idx) if rec is not None else None
            y_r, log_r, r_r, q_r = self._block(BlockCall(
                mid, b, r_ctx, t_pos[:, k:], None, source, spec_r
            ))
            t_y = np.concatenate([y_l, y_r], axis=1)
            t_log_mu = log_l + log_r
            t_nu = t_rows[np.arange(calls.size)[:, None], cols, t_y]
            t_log_nu = steps.log_probs(t_nu).sum(axis=1)
            acc = source.coin(steps.residual_log_accept(t_log_mu, t_log_nu)).reshape(-1, width)
            if memo is not None and not acc.any():
                memo.batch_rejected()
            # per batch: rounds = max over its trials, queries = sum; charge the batches
            # up to and including the first one with an acceptance
            starts = np.array([lo_r - lo for lo_r, _ in bounds])
            ends = np.array([hi_r - lo + 1 for _, hi_r in bounds])
            b_rounds = np.maximum.reduceat((r_l + r_r).reshape(-1, width), starts, axis=1)
            b_queries = np.add.reduceat((q_l + q_r).reshape(-1, width), starts, axis=1)
            run += acc.size
            hits += int(acc.sum())
            hit = acc.any(axis=1)
            first = acc.argmax(axis=1)
            last_batch = np.where(hit, np.searchsorted(ends, first, side="right"), len(bounds) - 1)
            charged = np.arange(len(bounds))[None, :] <= last_batch[:, None]
            rounds[active] += (b_rounds * charged).sum(axis=1)
            queries[active] += (b_queries * charged).sum(axis=1)
            trials[active] += ends[last_batch]
            batches[active] += last_batch + 1
            pick = np.flatnonzero(hit) * width + first[hit]
            done = active[hit]
            y[done] = t_y[pick]
            log_mu[done] = t_log_mu[pick]
            active = active[~hit]
            if state is not None:  # once per step of the loop (one or more batches)
                state.block = state.loop_block = (a, b)
                state.loop_open, state.loop_trials = int(active.size), t - 1
                state.loop_run, state.loop_hits = run, hits
                state.run += acc.size
                state.hits += int(acc.sum())
                state.budget.check_time()
                if active.size and state.budget.max_rounds is not None:
                    state.budget.check_rounds(
                        int(rounds[active].max()), f"a call of block ({a}, {b})"
                    )
        if rec is not None:
            rec.set("trials", trials)
            rec.set("batches", batches)
        return y, log_mu, rounds, queries

    @staticmethod
    def _close(
        handle: _TraceHandle, accepted: np.ndarray, rounds: np.ndarray, queries: np.ndarray
    ) -> None:
        handle.set("first_accepted", accepted)
        handle.set("rounds", rounds)
        handle.set("queries", queries)
