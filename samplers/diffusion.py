"""Diffusion samplers on the stochastic-localization chain (DESIGN 5).

Why this module is long (about 820 lines): the three samplers share the grid, the
drift wrapper and the budget base class; the speculative chain's kernel is in
:mod:`samplers.speculative_chain` (shared with :mod:`samplers.langevin`), a further
split by sampler is left to a later change (issue 11).

All three samplers target the law of the *discretised* chain on a
:class:`LocalizationGrid` ``0 = t_0 < ... < t_N = T``::

    x_0 = 0,   x_{k+1} = x_k + h_k f(t_k, x_k) + sqrt(h_k) xi_k,   h_k = t_{k+1} - t_k,

and output ``f(T, x_N)`` (``aux["path_end"]`` holds ``x_N``). The two parallel
samplers produce exactly the Euler chain's law; they differ in cost only.

Cost model (DESIGN 3.3): one call of the drift oracle on a batch is one round for
every sample that has a row in it; each row is one query. Every sampler evaluates
the drift at ``x_0`` (the prior mean, still a query) and the output ``f(T, x_N)``,
so the Euler chain costs ``N + 1`` rounds and ``N + 1`` queries per sample. The
per-sample costs depend only on that sample's own random choices, never on how many
samples are batched together.

Budgets: every sampler takes keyword-only ``max_rounds`` (rounds per sample,
``>= 1``) and ``timeout`` (seconds of wall time per ``sample()`` call, ``> 0``);
exceeding either raises :class:`~distributions.errors.BudgetExceededError` naming
the budget, the value reached and where the sampler was (for the autospeculative
sampler: the block of time steps, the residual trials run and the acceptance rate
seen). The checks run once per round or batch and draw no randomness; on the main
thread of a POSIX system an interval timer also interrupts a long oracle call (see
:class:`~samplers.base.Budget`). Default ``None``: no budget.

Strategies (public seams; the wrong variants of :mod:`verify.mutants` override one
method): :class:`AutospecDiffusionSteps` (``path_loglik``, ``right_start``), passed
as ``steps=`` to :class:`AutospeculativeDiffusionSampler`, and
:class:`SpeculativeDiffusionSteps` (``log_accept``, ``reflect``; defined in
:mod:`samplers.speculative_chain`), passed as ``steps=`` to
:class:`SpeculativeDiffusionSampler`.

"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from distributions.base import DiffusionOracle
from distributions.errors import BudgetExceededError, OracleError, ParameterError
from distributions.validation import check_float, check_int
from samplers.base import Budget, RandomSource, SampleResult, as_random_source, check_budget
from samplers.speculative_chain import SpeculativeDiffusionSteps, check_steps, speculative_chain

__all__ = [
    "LocalizationGrid",
    "EulerLocalizationSampler",
    "AutospeculativeDiffusionSampler",
    "SpeculativeDiffusionSampler",
    "AutospecDiffusionSteps",
    "SpeculativeDiffusionSteps",
]


# ----------------------------------------------------------------------------- grid
class LocalizationGrid:
    """Time grid ``0 = t_0 < t_1 < ... < t_N = T`` of the localization chain.

    Parameters
    ----------
    times : array_like, shape (N + 1,)
        Finite, starting at exactly 0, strictly increasing, ``N >= 1``.

    Attributes
    ----------
    times : ndarray, shape (N + 1,)
    steps : ndarray, shape (N,)
        ``h_k = t_{k+1} - t_k``.
    num_steps : int
        ``N``.
    T : float
        Final time.
    """

    def __init__(self, times: Any) -> None:
        try:
            tt = np.array(times, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"`times` must be a 1-d array of numbers; got {times!r}.") from exc
        if tt.ndim != 1 or tt.shape[0] < 2:
            raise ParameterError(
                f"`times` must be a 1-d array with at least 2 entries; got shape {tt.shape}."
            )
        if not np.isfinite(tt).all():
            raise ParameterError("`times` must be finite; got a non-finite entry.")
        if tt[0] != 0.0:
            raise ParameterError(f"`times` must start at 0; got times[0] = {tt[0]!r}.")
        h = np.diff(tt)
        if not (h > 0).all():
            i = int(np.argmax(~(h > 0)))
            raise ParameterError(
                f"`times` must be strictly increasing; got times[{i}] = {tt[i]!r} >= "
                f"times[{i + 1}] = {tt[i + 1]!r}."
            )
        tt.setflags(write=False)
        h.setflags(write=False)
        self.times: np.ndarray = tt
        self.steps: np.ndarray = h
        self.num_steps: int = int(h.shape[0])
        self.T: float = float(tt[-1])

    @classmethod
    def uniform(cls, T: float, N: int) -> LocalizationGrid:
        """``N`` equal steps from 0 to ``T``."""
        T = check_float("T", T, low=0.0, low_open=True)
        N = check_int("N", N, low=1)
        return cls(np.linspace(0.0, T, N + 1))

    @classmethod
    def geometric(cls, T: float, N: int, *, first: float | None = None) -> LocalizationGrid:
        """``t_1 = first``, then ``N - 1`` geometrically growing steps up to ``T``.

        ``first`` defaults to ``T / N``; it must satisfy ``0 < first < T`` (or equal
        ``T`` when ``N = 1``).
        """
        T = check_float("T", T, low=0.0, low_open=True)
        N = check_int("N", N, low=1)
        if first is None:
            first = T / N
        first = check_float("first", first, low=0.0, high=T, low_open=True)
        if N == 1:
            return cls(np.array([0.0, T]))
        if not first < T:
            raise ParameterError(f"`first` must be < T = {T:g} when N > 1; got {first!r}.")
        t = np.geomspace(first, T, N)
        t[-1] = T
        return cls(np.concatenate([[0.0], t]))

    def __len__(self) -> int:
        return self.num_steps + 1

    def __repr__(self) -> str:
        return f"LocalizationGrid(N={self.num_steps}, T={self.T:g})"


def _as_grid(grid: Any) -> LocalizationGrid:
    if isinstance(grid, LocalizationGrid):
        return grid
    return LocalizationGrid(grid)


# ----------------------------------------------------------------------------- oracle guard
class _Drift:
    """Checked, counted access to a :class:`DiffusionOracle`."""

    def __init__(self, oracle: DiffusionOracle) -> None:
        for attr in ("dim", "denoise"):
            if not hasattr(oracle, attr):
                raise ParameterError(
                    f"`oracle` must implement DiffusionOracle (dim, denoise); it has no "
                    f"`{attr}`: got {type(oracle).__name__}."
                )
        dim = oracle.dim
        if not isinstance(dim, int | np.integer) or dim < 1:
            raise ParameterError(f"`oracle.dim` must be an integer >= 1; got {dim!r}.")
        self.inner = oracle
        self.dim = int(dim)
        self.calls = 0
        self.rows = 0

    def __call__(self, t: np.ndarray, x: np.ndarray) -> np.ndarray:
        b = x.shape[0]
        if b == 0:
            return np.empty((0, self.dim))
        t = np.broadcast_to(np.asarray(t, dtype=np.float64), (b,))
        out = np.asarray(self.inner.denoise(np.ascontiguousarray(t), x), dtype=np.float64)
        if out.shape != (b, self.dim):
            raise OracleError(
                f"denoise answer must have shape ({b}, {self.dim}); got {out.shape}."
            )
        if not np.isfinite(out).all():
            r = int(np.argwhere(~np.isfinite(out))[0, 0])
            raise OracleError(
                f"denoise answer must be finite; row {r} (t={float(t[r])!r}) is {out[r]!r}."
            )
        self.calls += 1
        self.rows += b
        return out


class _DiffusionBase:
    def __init__(
        self,
        oracle: DiffusionOracle,
        grid: Any,
        *,
        max_rounds: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.max_rounds, self.timeout = check_budget(max_rounds, timeout)
        self.oracle = _Drift(oracle)
        self.grid = _as_grid(grid)
        self.dim = self.oracle.dim
        self._t = self.grid.times
        self._h = self.grid.steps
        self._N = self.grid.num_steps

    def _budget(self, describe: Any = None) -> Budget:
        return Budget(type(self).__name__, self.max_rounds, self.timeout, describe)

    def _fixed_rounds(self, num: int) -> None:
        """Raise before any work when every sample takes ``N + 1 > max_rounds`` rounds."""
        if num and self.max_rounds is not None and self._N + 1 > self.max_rounds:
            raise BudgetExceededError(
                f"`max_rounds` = {self.max_rounds} exceeded: every sample of "
                f"{type(self).__name__}.sample() takes N + 1 = {self._N + 1} rounds (one per "
                "step and one for the output); nothing was run."
            )

    def _result(
        self, x_end: np.ndarray, out: np.ndarray, rounds: np.ndarray, queries: np.ndarray,
        **aux: np.ndarray,
    ) -> SampleResult:
        return SampleResult(
            samples=out, rounds=rounds.astype(np.int64), queries=queries.astype(np.int64),
            aux={"path_end": x_end, **aux},
        )


# ----------------------------------------------------------------------------- Euler
class EulerLocalizationSampler(_DiffusionBase):
    """The sequential Gaussian-transition chain: ``N + 1`` rounds and queries.

    Parameters
    ----------
    oracle : DiffusionOracle
    grid : LocalizationGrid or array_like of times
    max_rounds : int, optional
        Round budget, ``>= 1``; every sample takes ``N + 1`` rounds, so with
        ``max_rounds <= N`` :meth:`sample` raises
        :class:`~distributions.errors.BudgetExceededError` before any oracle call.
    timeout : float, optional
        Seconds of wall time per :meth:`sample` call, ``> 0``; checked before every
        step (see the module docstring).
    """

    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        """Draw ``num`` chains; ``samples = f(T, x_N)``, ``aux["path_end"] = x_N``."""
        num = check_int("num", num, low=0)
        src = as_random_source(rng)
        self._fixed_rounds(num)
        done = [0]
        with self._budget(lambda: f"{done[0]} of N = {self._N} steps done") as budget:
            x = np.zeros((num, self.dim))
            for k in range(self._N):
                budget.check_time()
                f = self.oracle(np.full(num, self._t[k]), x)
                x = x + self._h[k] * f + math.sqrt(self._h[k]) * src.normal((num, self.dim))
                done[0] = k + 1
            budget.check_time()
            out = self.oracle(np.full(num, self.grid.T), x)
        cost = np.full(num, self._N + 1, dtype=np.int64)
        return self._result(x, out, cost, cost.copy())


# ----------------------------------------------------------------------------- autospec
def _batch_sizes(rho: float) -> Iterator[int]:
    """Sizes of the non-empty batches ``I_r = [ceil(g^r), ceil(g^(r+1)) - 1]``, g = 1 + rho."""
    g = 1.0 + rho
    r = 0
    lo = 1
    while True:
        hi = math.ceil(g ** (r + 1)) - 1
        if hi >= lo:
            yield hi - lo + 1
            lo = hi + 1
        r += 1


class AutospecDiffusionSteps:
    """The steps of :class:`AutospeculativeDiffusionSampler` that a variant may
    change (its ``steps=`` strategy); the defaults are the exact algorithm. A
    strategy keeps no state from one call to the next."""

    def path_loglik(self, drifts: np.ndarray, deltas: np.ndarray,
                    steps: np.ndarray) -> np.ndarray:
        """Log density of the increments against Brownian motion (up to a drift-free term).

        ``sum_j <F_j, dx_j> - h_j |F_j|^2 / 2`` for drifts ``F`` (M, L, d), increments
        ``dx`` (M, L, d) and steps ``h`` (L,) or (M, L) (zero for padding). Differences
        of this give the discrete Girsanov log ratio of two Gaussian-transition paths.
        """
        lin = np.einsum("mld,mld->m", drifts, deltas)
        quad = np.einsum("mld,mld->ml", drifts, drifts)
        return lin - 0.5 * (quad * steps).sum(axis=1)

    def right_start(self, left_end: np.ndarray, proposal_mid: np.ndarray) -> np.ndarray:
        """Start of the right half of a residual trial: the left half's end point
        (``proposal_mid``, the rejected proposal's mid point, is not used)."""
        return left_end

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AutospeculativeDiffusionSampler(_DiffusionBase):
    """Sequence-level autospeculation over the time steps of the chain (DESIGN 4.2, 5).

    ``SAMPLE(a, b, x_a)`` proposes the frozen-drift path from ``x_a`` (drift
    ``m_a = f(t_a, x_a)``, one query), evaluates the target drifts along the whole
    proposal in one round, and accepts with ``min(1, mu_S / nu_S)`` where, by the
    discrete Girsanov formula,
    ``log(mu_S / nu_S) = sum_j <f_j - m_a, dx_j> - h_j (|f_j|^2 - |m_a|^2) / 2``.
    On rejection it runs the residual loop: trials in geometric batches
    ``I_r = [ceil((1+rho)^r), ceil((1+rho)^(r+1)) - 1]``, each trial the left half
    (reusing ``m_a``) followed by the right half started at the left half's end,
    accepted with ``max(0, 1 - nu_S / mu_S)``; the smallest accepted index wins.

    Parameters
    ----------
    oracle : DiffusionOracle
    grid : LocalizationGrid or array_like of times
    rho : float, optional
        Batch growth, ``> 0``; default ``1 / log2(N)`` (1 when ``N <= 2``).
    max_rounds : int, optional
        Round budget, ``>= 1``: :meth:`sample` raises
        :class:`~distributions.errors.BudgetExceededError` as soon as the rounds
        charged to one call ``SAMPLE(a, b)`` (the root call plus the output query is
        the whole sample) exceed it, checked after every chunk of residual trials and
        on the samples at the end; every returned sample has ``rounds <= max_rounds``.
    timeout : float, optional
        Seconds of wall time per :meth:`sample` call, ``> 0``; checked at every
        vectorised step (see the module docstring).
    steps : AutospecDiffusionSteps, optional
        The Girsanov log density and the right half's start (default: the exact
        ones).

    Notes
    -----
    Rounds of a residual batch are the maximum over its trials of
    ``rounds(left) + rounds(right)``. The implementation unrolls the recursion over
    the tree of time intervals and processes every pending call at one tree depth
    and one logical time in a single vectorised step (see :class:`_AutospecRun`).
    Trials are computed in chunks of whole batches (chunk sizes doubling); trials of
    batches after the accepting one are discarded unseen and not costed, which
    leaves both the law and the cost model unchanged.
    """

    def __init__(
        self,
        oracle: DiffusionOracle,
        grid: Any,
        *,
        rho: float | None = None,
        max_rounds: int | None = None,
        timeout: float | None = None,
        steps: AutospecDiffusionSteps | None = None,
    ) -> None:
        self.steps: AutospecDiffusionSteps = check_steps(steps, AutospecDiffusionSteps)
        super().__init__(oracle, grid, max_rounds=max_rounds, timeout=timeout)
        if rho is None:
            rho = 1.0 / max(1.0, math.log2(self._N))
        self.rho = check_float("rho", rho, low=0.0, low_open=True)

    # -- scheduler --------------------------------------------------------------------
    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        """Draw ``num`` exact chain outputs; see the class docstring for the cost."""
        num = check_int("num", num, low=0)
        src = as_random_source(rng)
        budget = self._budget()
        with budget:
            run = _AutospecRun(self, num, src, budget)
            xn, rounds, queries = run.run()
            budget.check_time()
            out = self.oracle(np.full(num, self.grid.T), xn)
            if num:
                worst = int(np.argmax(rounds))
                budget.check_rounds(int(rounds[worst]) + 1, f"sample {worst}")
        return self._result(xn, out, rounds + 1, queries + 1)


class _Grow:
    """Column store with amortised appends (one row per record)."""

    def __init__(self, cols: dict[str, tuple[tuple[int, ...], Any]]) -> None:
        self.n = 0
        self.cap = 64
        self.cols = {k: np.zeros((self.cap, *shape), dtype=dt) for k, (shape, dt) in cols.items()}

    def alloc(self, k: int) -> np.ndarray:
        need = self.n + k
        if need > self.cap:
            while self.cap < need:
                self.cap *= 2
            for name, arr in self.cols.items():
                new = np.zeros((self.cap, *arr.shape[1:]), dtype=arr.dtype)
                new[: self.n] = arr[: self.n]
                self.cols[name] = new
        ids = np.arange(self.n, need)
        self.n = need
        return ids

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]


class _AutospecRun:
    """One vectorised run of the autospeculative recursion.

    The recursion ``SAMPLE(a, b)`` is unrolled over the fixed binary tree of time
    intervals (``mid = a + (b - a) // 2``). Pending calls are queued by tree depth;
    every pending call at one depth (all samples, all nodes of that depth, whatever
    residual trial they belong to) is processed in one vectorised step. Results flow
    to *slots*: a root slot per sample, or the left/right half of a residual trial.
    A residual call ("R-call") runs its trials in chunks of whole batches; when
    every trial of a chunk has finished, the chunk is judged exactly as the
    sequential loop judges its batches in order (trials after the accepting batch
    are discarded uncosted). The processing order affects neither the law nor the
    per-sample costs, which depend on each call's own random choices only.
    """

    def __init__(self, sampler: AutospeculativeDiffusionSampler, num: int, src: RandomSource,
                 budget: Budget | None = None):
        self.s = sampler
        self.src = src
        self.num = num
        self.budget = budget
        # for budget messages: the last residual chunk judged (calls, a, b, still
        # rejected, trials each, trials run, accepted) and the totals
        self.loop: tuple[int, ...] | None = None
        self.trials_run = 0
        self.trials_hit = 0
        if budget is not None:
            budget.describe = self.describe
        d = sampler.dim
        n_steps = sampler._N
        na: list[int] = []
        nb: list[int] = []
        depth: list[int] = []
        parent: list[int] = []
        side: list[int] = []
        left: list[int] = []
        right: list[int] = []
        stack = [(0, n_steps, -1, 0, 0)]
        while stack:
            a, b, par, sd, dep = stack.pop()
            i = len(na)
            na.append(a)
            nb.append(b)
            depth.append(dep)
            parent.append(par)
            side.append(sd)
            left.append(-1)
            right.append(-1)
            if par >= 0:
                (left if sd == 0 else right)[par] = i
            if b - a > 1:
                mid = a + (b - a) // 2
                stack.append((mid, b, i, 1, dep + 1))
                stack.append((a, mid, i, 0, dep + 1))
        self.na, self.nb, self.depth = np.array(na), np.array(nb), np.array(depth)
        self.parent, self.side = np.array(parent), np.array(side)
        self.left, self.right = np.array(left), np.array(right)
        self.max_depth = int(self.depth.max())
        self.pending: dict[int, list[tuple[np.ndarray, ...]]] = {}
        self.heap: list[int] = []
        self._sizes_iter = _batch_sizes(sampler.rho)
        self.sizes: list[int] = []
        self.cum: list[int] = [0]
        self.rc = _Grow({
            "node": ((), np.int64), "slot": ((), np.int64), "xa": ((d,), np.float64),
            "ma": ((d,), np.float64), "pmid": ((d,), np.float64), "rounds": ((), np.int64),
            "queries": ((), np.int64), "bstart": ((), np.int64), "bend": ((), np.int64),
            "tid0": ((), np.int64), "todo": ((), np.int64), "time": ((), np.int64),
        })
        self.tr = _Grow({
            "rc": ((), np.int64), "xl": ((d,), np.float64), "al": ((), np.float64),
            "rl": ((), np.int64), "ql": ((), np.int64), "start": ((d,), np.float64),
            "xr": ((d,), np.float64), "ar": ((), np.float64), "rr": ((), np.int64),
            "qr": ((), np.int64),
        })
        self.out_x = np.zeros((num, d))
        self.out_r = np.zeros(num, dtype=np.int64)
        self.out_q = np.zeros(num, dtype=np.int64)

    def describe(self) -> str:
        """Where the run is, for budget messages."""
        if self.loop is None:
            return "no residual trial run yet"
        calls, a, b, n_open, trials, run, hits = self.loop
        return (
            f"last residual chunk judged: {calls} call(s), block ({a}, {b}) of time steps among "
            f"them, {n_open} still rejected after {trials} residual trials each; acceptance "
            "rate seen there "
            f"{_rate(hits, run)}; all residual loops: {self.trials_run} trials run, "
            f"acceptance rate {_rate(self.trials_hit, self.trials_run)}"
        )

    def _ensure_batches(self, k: int) -> None:
        while len(self.sizes) < k:
            self.sizes.append(next(self._sizes_iter))
            self.cum.append(self.cum[-1] + self.sizes[-1])

    def _push(self, node: np.ndarray, x: np.ndarray, m: np.ndarray, known: np.ndarray,
              slot: np.ndarray, time: np.ndarray) -> None:
        if not slot.size:
            return
        key = time * (self.max_depth + 1) + self.depth[node]
        for kv in np.unique(key):
            sel = key == kv
            kv = int(kv)
            if kv not in self.pending:
                self.pending[kv] = []
                heapq.heappush(self.heap, kv)
            self.pending[kv].append((node[sel], x[sel], m[sel], known[sel], slot[sel]))

    def run(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = self.s.dim
        n = self.num
        self._push(np.zeros(n, dtype=np.int64), np.zeros((n, d)), np.zeros((n, d)),
                   np.zeros(n, dtype=bool), -1 - np.arange(n), np.zeros(n, dtype=np.int64))
        budget = self.budget
        while self.heap:
            if budget is not None:
                budget.check_time()
            kv = heapq.heappop(self.heap)
            parts = self.pending.pop(kv)
            cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
            self._process(*cols, kv // (self.max_depth + 1) + 1)
        return self.out_x, self.out_r, self.out_q

    def _process(self, node: np.ndarray, xa: np.ndarray, ma: np.ndarray, known: np.ndarray,
                 slot: np.ndarray, time: int) -> None:
        """First stage of ``SAMPLE(a, b)`` for pending calls at one depth."""
        s, src = self.s, self.src
        d = s.dim
        mnum = xa.shape[0]
        a = self.na[node]
        lens = self.nb[node] - a
        rounds = np.zeros(mnum, dtype=np.int64)
        queries = np.zeros(mnum, dtype=np.int64)
        unk = np.flatnonzero(~known)
        if unk.size:
            ma = ma.copy()
            ma[unk] = s.oracle(s._t[a[unk]], xa[unk])
            rounds[unk] += 1
            queries[unk] += 1
        lmax = int(lens.max())
        kk = np.arange(lmax)
        valid = kk[None, :] < lens[:, None]
        steps = np.where(valid, a[:, None] + kk[None, :], 0)
        h = np.where(valid, s._h[steps], 0.0)
        xi = src.normal((mnum, lmax, d))
        delta = h[:, :, None] * ma[:, None, :] + np.sqrt(h)[:, :, None] * xi
        path = xa[:, None, :] + np.cumsum(delta, axis=1)  # x_{a+1..}, flat after the end
        rows = np.arange(mnum)
        xb = path[rows, lens - 1]
        drifts = np.broadcast_to(ma[:, None, :], delta.shape).copy()
        inner = valid.copy()
        inner[rows, lens - 1] = False  # states x_{a+1..b-1}: shift by one below
        ver = np.zeros((mnum, lmax), dtype=bool)
        ver[:, 1:] = inner[:, :-1]
        if ver.any():
            tq = s._t[np.where(ver, a[:, None] + kk[None, :], 0)]
            drifts[ver] = s.oracle(tq[ver], path[:, :-1][inner[:, :-1]])
            multi = lens > 1
            rounds[multi] += 1
            queries += lens - 1
        big_a = s.steps.path_loglik(drifts, delta, h)
        big_b = s.steps.path_loglik(np.broadcast_to(ma[:, None, :], delta.shape), delta, h)
        logp = np.where(lens > 1, np.minimum(big_a - big_b, 0.0), 0.0)
        acc = src.coin(logp) | (lens == 1)
        ok = np.flatnonzero(acc)
        if ok.size:
            self._deliver(node[ok], slot[ok], xb[ok], big_a[ok], rounds[ok], queries[ok],
                          np.full(ok.size, time))
        rej = np.flatnonzero(~acc)
        if rej.size:
            ids = self.rc.alloc(rej.size)
            rc = self.rc
            rc["node"][ids] = node[rej]
            rc["slot"][ids] = slot[rej]
            rc["xa"][ids] = xa[rej]
            rc["ma"][ids] = ma[rej]
            rc["pmid"][ids] = path[rej, lens[rej] // 2 - 1]
            rc["rounds"][ids] = rounds[rej]
            rc["queries"][ids] = queries[rej]
            rc["bstart"][ids] = 0
            rc["bend"][ids] = 0
            rc["time"][ids] = time
            self._start_chunks(ids)

    def _start_chunks(self, ids: np.ndarray) -> None:
        """Start the next chunk of residual trials for R-calls ``ids``."""
        rc, tr = self.rc, self.tr
        bend = rc["bend"][ids]
        for be in np.unique(bend):
            grp = ids[bend == be]
            be = int(be)
            k = be + 1
            self._ensure_batches(k)
            done = self.cum[be]
            # chunk: whole batches until it holds >= max(1, trials so far) trials
            while self.cum[k] - done < max(1, done):
                k += 1
                self._ensure_batches(k)
            n_trials = self.cum[k] - done
            rc["bstart"][grp] = be
            rc["bend"][grp] = k
            tids = tr.alloc(grp.size * n_trials)
            calls = np.repeat(grp, n_trials)
            tr["rc"][tids] = calls
            rc["tid0"][grp] = tids[::n_trials]
            rc["todo"][grp] = n_trials
            self._push(self.left[rc["node"][calls]], rc["xa"][calls], rc["ma"][calls],
                       np.ones(tids.size, dtype=bool), 2 * tids, rc["time"][calls])

    def _deliver(self, node: np.ndarray, slot: np.ndarray, xb: np.ndarray, big_a: np.ndarray,
                 rounds: np.ndarray, queries: np.ndarray, time: np.ndarray) -> None:
        par = self.parent[node]
        root = par < 0
        if root.any():
            smp = -1 - slot[root]
            self.out_x[smp] = xb[root]
            self.out_r[smp] = rounds[root]
            self.out_q[smp] = queries[root]
        tr, rc = self.tr, self.rc
        sd = self.side[node]
        lf = ~root & (sd == 0)
        if lf.any():
            tid = slot[lf] // 2
            tr["xl"][tid] = xb[lf]
            tr["al"][tid] = big_a[lf]
            tr["rl"][tid] = rounds[lf]
            tr["ql"][tid] = queries[lf]
            start = self.s.steps.right_start(xb[lf], rc["pmid"][tr["rc"][tid]])
            tr["start"][tid] = start
            self._push(self.right[par[lf]], start, np.zeros_like(start),
                       np.zeros(tid.size, dtype=bool), 2 * tid + 1, time[lf])
        rt = ~root & (sd == 1)
        if rt.any():
            tid = slot[rt] // 2
            tr["xr"][tid] = xb[rt]
            tr["ar"][tid] = big_a[rt]
            tr["rr"][tid] = rounds[rt]
            tr["qr"][tid] = queries[rt]
            calls = tr["rc"][tid]
            np.subtract.at(rc["todo"], calls, 1)
            np.maximum.at(rc["time"], calls, time[rt])
            ready = np.unique(calls[rc["todo"][calls] == 0])
            if ready.size:
                self._judge(ready)

    def _judge(self, ids: np.ndarray) -> None:
        """Every trial of the current chunk of R-calls ``ids`` has finished."""
        s, rc, tr = self.s, self.rc, self.tr
        bstart = rc["bstart"][ids]
        for bs in np.unique(bstart):
            grp = ids[bstart == bs]
            bs = int(bs)
            be = int(rc["bend"][grp[0]])
            chunk = self.sizes[bs:be]
            n_trials = sum(chunk)
            n_a = grp.size
            tids = (rc["tid0"][grp][:, None] + np.arange(n_trials)[None, :]).reshape(-1)
            calls = np.repeat(grp, n_trials)
            nodes = rc["node"][calls]
            span = s._t[self.nb[nodes]] - s._t[self.na[nodes]]
            xa, ma = rc["xa"][calls], rc["ma"][calls]
            start = tr["start"][tids]
            disp = (tr["xl"][tids] - xa) + (tr["xr"][tids] - start)
            tot = tr["al"][tids] + tr["ar"][tids]
            lr = tot - s.steps.path_loglik(ma[:, None, :], disp[:, None, :], span[:, None])
            logp = np.full(lr.shape, -np.inf)
            pos = lr > 0
            logp[pos] = np.log(-np.expm1(-lr[pos]))
            acc = self.src.coin(logp).reshape(n_a, n_trials)
            starts = np.concatenate([[0], np.cumsum(chunk)[:-1]]).astype(np.int64)
            trial_r = (tr["rl"][tids] + tr["rr"][tids]).reshape(n_a, n_trials)
            trial_q = (tr["ql"][tids] + tr["qr"][tids]).reshape(n_a, n_trials)
            batch_r = np.cumsum(np.maximum.reduceat(trial_r, starts, axis=1), axis=1)
            batch_q = np.cumsum(np.add.reduceat(trial_q, starts, axis=1), axis=1)
            batch_of_trial = np.repeat(np.arange(len(chunk)), chunk)
            got = acc.any(axis=1)
            first = np.argmax(acc, axis=1)
            last = np.where(got, batch_of_trial[first], len(chunk) - 1)
            rows = np.arange(n_a)
            rc["rounds"][grp] += batch_r[rows, last]
            rc["queries"][grp] += batch_q[rows, last]
            win = rows[got]
            if win.size:
                wt = tids.reshape(n_a, n_trials)[win, first[got]]
                g = grp[got]
                self._deliver(rc["node"][g], rc["slot"][g], tr["xr"][wt],
                              tot.reshape(n_a, n_trials)[win, first[got]],
                              rc["rounds"][g], rc["queries"][g], rc["time"][g])
            again = grp[~got]
            node0 = int(rc["node"][again[0] if again.size else grp[0]])
            hits = int(acc.sum())
            self.trials_run += acc.size
            self.trials_hit += hits
            self.loop = (int(grp.size), int(self.na[node0]), int(self.nb[node0]),
                         int(again.size), self.cum[be], int(acc.size), hits)
            if again.size:
                budget = self.budget
                if budget is not None and budget.max_rounds is not None:
                    worst = int(again[np.argmax(rc["rounds"][again])])
                    node = int(rc["node"][worst])
                    budget.check_rounds(
                        int(rc["rounds"][worst]),
                        f"a call of block ({int(self.na[node])}, {int(self.nb[node])})",
                    )
                self._start_chunks(again)


def _rate(hits: int, run: int) -> str:
    return f"{hits / run:.3g} ({hits} of {run} trials accepted)" if run else "none (no trial)"


# ----------------------------------------------------------------------------- speculative
class SpeculativeDiffusionSampler(_DiffusionBase):
    """Per-step speculative sampling with a reflection coupling (Galashov et al. 2025).

    From a window start ``x_s`` with known drift ``m_s`` it drafts ``L = window``
    steps, evaluates the target drift at every drafted state in one round (the last
    one is the next window's drift), and accepts step ``k`` with probability
    ``min(1, exp(-<z, D> - |D|^2 / 2))``, ``z = xi_k``,
    ``D = sqrt(h_k) (g_k - f(t_k, x_k))`` (draft minus target mean over
    ``sigma = sqrt(h_k)``). At the first rejection it outputs the reflection
    ``x_k + h_k f(t_k, x_k) + sigma (z - 2 <e, z> e)``, ``e = D / |D|``, and restarts
    the window there (one more round for the new drift). The kernel is
    :func:`samplers.speculative_chain.speculative_chain`.

    The draft drift ``g_k``: step 0 of a window uses the known target drift ``m_s``;
    the later steps use ``m_s`` again (``draft=None``, the training-free
    frozen-target draft) or the independent draft model's ``draft.denoise(t_k, x_k)``
    at the drafted state. The output law is the Euler chain's for any draft; the
    draft changes the cost only.

    Parameters
    ----------
    oracle : DiffusionOracle
    grid : LocalizationGrid or array_like of times
    window : int
        Drafted steps per window, ``>= 1``.
    draft : DiffusionOracle, optional
        Independent draft model (a cheaper denoiser of the same ``dim``), called
        once per drafted step after the first, sequentially within a window; its
        rows are counted in ``SampleResult.draft_queries``, not in ``rounds`` or
        ``queries`` (which count the target). ``None`` (default): frozen draft, no
        draft call (``draft_queries`` is then all zeros).
    max_rounds : int, optional
        Round budget, ``>= 1``: :meth:`sample` raises
        :class:`~distributions.errors.BudgetExceededError` as soon as one sample's
        rounds exceed it (checked after every window), so every returned sample has
        ``rounds <= max_rounds``.
    timeout : float, optional
        Seconds of wall time per :meth:`sample` call, ``> 0``; checked before every
        window (see the module docstring).
    steps : SpeculativeDiffusionSteps, optional
        The per-step acceptance and the reflection (default: the exact ones).

    Notes
    -----
    ``aux`` holds, besides ``path_end``, one entry per evaluated non-trivial step
    (``D != 0``, up to and including a window's first rejection):
    ``step_dnorm`` (|D|), ``step_accepted`` (bool), ``step_sample`` (sample index),
    ``step_index`` (k). Given the past, step ``k`` is accepted with probability
    ``2 Phi(-|D| / 2)``.
    """

    def __init__(
        self,
        oracle: DiffusionOracle,
        grid: Any,
        *,
        window: int,
        draft: DiffusionOracle | None = None,
        max_rounds: int | None = None,
        timeout: float | None = None,
        steps: SpeculativeDiffusionSteps | None = None,
    ) -> None:
        self.steps: SpeculativeDiffusionSteps = check_steps(steps, SpeculativeDiffusionSteps)
        super().__init__(oracle, grid, max_rounds=max_rounds, timeout=timeout)
        self.window = check_int("window", window, low=1)
        self.draft: _Drift | None = None
        if draft is not None:
            try:
                self.draft = _Drift(draft)
            except ParameterError as exc:
                raise ParameterError(str(exc).replace("`oracle", "`draft")) from exc
            if self.draft.dim != self.dim:
                raise ParameterError(
                    f"`draft.dim` must equal `oracle.dim` = {self.dim}; got {self.draft.dim}."
                )

    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        """Draw ``num`` exact chain outputs with per-sample rounds and queries (target)
        and draft queries."""
        num = check_int("num", num, low=0)
        src = as_random_source(rng)
        n_steps = self._N
        pos = np.zeros(num, dtype=np.int64)

        def describe() -> str:
            least = int(pos.min()) if num else n_steps
            return (f"window = {self.window}; {int((pos >= n_steps).sum())} of {num} chains "
                    f"complete, the least advanced at step {least} of N = {n_steps}")

        with self._budget(describe) as budget:
            x0 = np.zeros((num, self.dim))
            m0 = self.oracle(np.zeros(num), x0)
            run = speculative_chain(
                self.oracle, self.draft, self._t, self._h, x0, m0, window=self.window,
                src=src, budget=budget, steps=self.steps, positions=pos,
            )
        # the last verification evaluated f(t_N, x_N): the output costs no query
        res = self._result(run.x, run.drift, run.rounds + 1, run.queries + 1, **run.records)
        return dataclasses.replace(res, draft_queries=run.draft_queries)
