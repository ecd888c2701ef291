"""Pinning lemma and the sum-TV round bound (DESIGN 6.3, issue 4).

Notation (DESIGN 4): a uniformly random order ``sigma`` of ``[n]``, the prefix
``P = sigma(1..a)`` and the block ``S = sigma(a+1..b)``;

- ``mu_S`` is the law of ``X_S`` given ``x_P`` (the chain rule along ``S``),
- ``nu_S`` is the product of the single-site conditionals ``mu(X_i | x_P)``, i in S,
- ``h_t = E_sigma H(X_sigma(t+1) | X_sigma(1..t))``, ``t = 0..n-1`` (nats).

Symmetry
--------
``TV(mu_S, nu_S)`` and ``KL(mu_S || nu_S)`` depend on the order only through the
*sets* ``P`` and ``S`` (not the order inside them), and ``(P, S)`` is a uniformly
random pair of disjoint sets of sizes ``a`` and ``b - a``. The average over all
``n!`` orders is therefore an average over those pairs, computed exactly from the
marginals of the table on subsets of coordinates; every subset marginal is computed
once (from a marginal one coordinate larger) and cached. In the same way
``h_t = Hbar_{t+1} - Hbar_t`` with ``Hbar_k`` the mean joint entropy of the
``k``-subsets.

Methods
-------
``orders=None``
    Exact: every pair of sets, exact expectation over ``x_P`` (``Enumerable``
    target, ``n <= 12`` and ``(q+1)**n <= 2**22``). Zero-width interval.
``orders=R`` (int) on an ``Enumerable`` target
    ``R`` uniform random orders; for each, the quantity is exact over ``x``
    (from the table). 95% Student-t interval over the orders.
``orders=R`` on any other oracle (the scalable families)
    ``R`` independent pairs ``(sigma, x)`` with ``x ~ mu`` drawn by the target's
    ``sample``. Given the context ``x_P`` the block TV is exact when ``q**|S|`` is
    small enough to enumerate (chain-rule conditionals of every ``x_S``), and
    otherwise the unbiased importance-sampling estimate
    ``E_{x_S ~ mu_S}[(1 - nu_S(x_S) / mu_S(x_S))_+] = TV`` with ``x_S`` the block of
    the exact sample ``x``; the KL is the Rao-Blackwellised chain
    ``sum_j KL(mu(. | x_P, x_S<j) || mu(. | x_P))``. 95% Student-t interval.

Every result is a frozen dataclass with ``value``, ``interval`` and ``method``
(and ``to_dict()``); every check returns a :class:`CheckResult` carrying both sides.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from scipy import stats

from distributions._oracle_utils import positional_conditionals
from distributions._validation import check_float, check_int
from distributions.base import MASK
from distributions.errors import ParameterError

__all__ = [
    "CONFIDENCE",
    "EntropyProfileResult",
    "BlockResult",
    "BlockTVGrid",
    "TreeTVResult",
    "RoundBoundResult",
    "CheckResult",
    "entropy_profile",
    "expected_block_tv",
    "expected_block_kl",
    "block_tv_grid",
    "tree_tv",
    "recursion_levels",
    "check_round_bound",
    "trace_block_tv",
    "enum_limit",
    "check_entropy_monotone",
    "check_entropy_sum",
    "check_mutual_information_identity",
    "check_kl_identity",
    "check_kl_bound",
    "check_level_bounds",
    "check_tree_bound",
    "pinning_checks",
]

#: Confidence level of every interval of this module.
CONFIDENCE: float = 0.95
#: Largest ``n`` for the exact all-orders computation.
MAX_EXACT_N: int = 12
#: Largest total size of the subset-marginal cache, ``(q+1)**n``.
_MAX_SUBSET_CELLS: int = 2**22
#: Default number of random orders when exact computation is impossible (tree_tv).
DEFAULT_ORDERS: int = 64
#: Blocks evaluated per level and replicate by the Monte Carlo tree estimator; the
#: rest of the level is represented by a uniform sample of blocks (unbiased).
MAX_BLOCKS_PER_LEVEL: int = 64
#: Upper bound on context cells (rows x n) sent to the oracle in one call.
_CHUNK_CELLS: int = 2**22


# ====================================================================== results
def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (arrays become lists; non-finite floats strings/None)."""
        return {
            f.name: _jsonable(getattr(self, f.name))
            for f in fields(self)  # type: ignore[arg-type]
            if f.metadata.get("json", True)
        }


@dataclass(frozen=True)
class EntropyProfileResult(_ToDict):
    """``h_t``, ``t = 0..n-1`` (nats).

    Attributes
    ----------
    value : ndarray, shape (n,)
    interval : tuple of ndarray
        ``(low, high)``, each shape (n,); equal to ``value`` when exact.
    method : str
    n, q : int
    num_orders : int or None
        Random orders (or ``(sigma, x)`` replicates) used; None when exact.
    draws : ndarray, shape (num_orders, n), optional
        The per-order (per-draw) values behind an estimate (not in ``to_dict``);
        :func:`check_entropy_monotone` tests their paired differences.
    """

    value: np.ndarray
    interval: tuple[np.ndarray, np.ndarray]
    method: str
    n: int
    q: int
    num_orders: int | None = None
    draws: np.ndarray | None = field(default=None, repr=False, metadata={"json": False})

    @property
    def exact(self) -> bool:
        return self.num_orders is None


@dataclass(frozen=True)
class BlockResult(_ToDict):
    """``E TV(mu_S, nu_S)`` or ``E KL(mu_S || nu_S)`` for the block ``(a, b)``.

    Attributes
    ----------
    value : float
    interval : tuple of float
        95% interval ``(low, high)``; zero width when exact.
    method : str
    quantity : {"tv", "kl"}
    a, b, n, q : int
    num_orders : int or None
    """

    value: float
    interval: tuple[float, float]
    method: str
    quantity: str
    a: int
    b: int
    n: int
    q: int
    num_orders: int | None = None

    @property
    def exact(self) -> bool:
        return self.num_orders is None


@dataclass(frozen=True)
class BlockTVGrid(_ToDict):
    """``E TV`` on a grid of prefix lengths and block sizes (for the figure).

    ``value[i, j]`` is the block ``(a_i, a_i + s_j)`` (NaN where ``a_i + s_j > n``).
    """

    value: np.ndarray
    interval: tuple[np.ndarray, np.ndarray]
    method: str
    prefix_lengths: np.ndarray
    sizes: np.ndarray
    n: int
    q: int


@dataclass(frozen=True)
class TreeTVResult(_ToDict):
    """``E sum_S TV(mu_S, nu_S)`` over the sampler's recursion tree, level by level.

    Attributes
    ----------
    value : float
        Whole-tree sum.
    interval : tuple of float
    method : str
    n, q : int
    level_sums : ndarray, shape (D,)
        Per-level sums (levels ``0..D-1``, ``D = ceil(log2 n)``: the levels with a
        block of size >= 2).
    level_intervals : ndarray, shape (D, 2)
    level_blocks : ndarray of int, shape (D,)
        Number of blocks of size >= 2 at each level.
    level_bound : float
        ``sqrt(n log q / 2)``.
    tree_bound : float
        ``ceil(log2 n) * sqrt(n log q / 2)``.
    blocks : tuple of (depth, a, b, E TV)
        Per-block values (exact and sampled-order methods; empty for Monte Carlo
        over ``(sigma, x)``).
    num_orders : int or None
    """

    value: float
    interval: tuple[float, float]
    method: str
    n: int
    q: int
    level_sums: np.ndarray
    level_intervals: np.ndarray
    level_blocks: np.ndarray
    level_bound: float
    tree_bound: float
    blocks: tuple[tuple[int, int, int, float], ...] = ()
    num_orders: int | None = None

    @property
    def level_passed(self) -> np.ndarray:
        """Per level: the bound holds (the interval's low end is <= the bound)."""
        return self.level_intervals[:, 0] <= self.level_bound * (1 + 1e-12)

    @property
    def passed(self) -> bool:
        return bool(self.level_passed.all()) and self.interval[0] <= self.tree_bound * (1 + 1e-12)


@dataclass(frozen=True)
class CheckResult(_ToDict):
    """One inequality or identity with both of its sides.

    ``lhs relation rhs`` must hold (``relation`` is ``"<="`` or ``"=="``), up to
    ``tolerance`` for exact values or within the intervals for estimated ones.
    Array sides are checked element by element.
    """

    name: str
    passed: bool
    lhs: Any
    rhs: Any
    relation: str
    tolerance: float
    method: str
    detail: str = ""


@dataclass(frozen=True)
class RoundBoundResult(_ToDict):
    """Rounds of a sampler against ``sum TV`` along its own recursion (issue 4 item 3).

    Attributes
    ----------
    value : float
        The fitted constant ``c`` of ``E[rounds] = c (1 + E[sum TV]) log2(n)``.
    interval : tuple of float
        95% interval of ``c`` (delta method over the samples).
    method : str
    n : int
    num_samples : int
    mean_rounds, mean_sum_tv, mean_rejections : float
    rounds_interval, sum_tv_interval : tuple of float
    slope, intercept : float
        Least-squares fit ``rounds_i = intercept + slope * sumTV_i`` over samples.
    slope_interval : tuple of float
        95% (heteroscedasticity-robust) interval of the slope.
    excess_rejections : float
        ``mean(#first-stage rejections - sum TV)`` per sample; its expectation is
        exactly 0 for a correct sampler (each visited block rejects with
        probability ``TV(mu_S, nu_S)`` given its context).
    excess_interval : tuple of float
    excess_pvalue : float
        One-sided p-value of "excess <= 0" (t-test over samples).
    reference_excess, reference_pvalue : float or None
        ``mean rounds - (intercept_ref + slope_ref * mean sumTV)`` against a
        reference fit, when one was given, and the one-sided p-value of "excess
        <= 0" (normal approximation, both fits' uncertainty combined).
    flagged : bool
        The sampler spends more rounds than ``sum TV`` explains: the excess of
        rejections is significant at ``alpha``, or the mean rounds exceed the
        reference relation by more than its interval, or the constant's lower
        end exceeds ``max_constant``.
    reasons : tuple of str
    rounds, sum_tv, rejections : ndarray, shape (num_samples,)
        Per-sample data (for the figure).
    """

    value: float
    interval: tuple[float, float]
    method: str
    n: int
    num_samples: int
    mean_rounds: float
    rounds_interval: tuple[float, float]
    mean_sum_tv: float
    sum_tv_interval: tuple[float, float]
    mean_rejections: float
    slope: float
    intercept: float
    slope_interval: tuple[float, float]
    excess_rejections: float
    excess_interval: tuple[float, float]
    excess_pvalue: float
    flagged: bool
    reasons: tuple[str, ...]
    alpha: float
    rounds: np.ndarray = field(repr=False)
    sum_tv: np.ndarray = field(repr=False)
    rejections: np.ndarray = field(repr=False)
    reference_excess: float | None = None
    reference_pvalue: float | None = None
    fit_covariance: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)), repr=False)

    @property
    def passed(self) -> bool:
        return not self.flagged


# ====================================================================== helpers
def _mean_ci(
    samples: np.ndarray, *, nonneg: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and two-sided Student-t ``CONFIDENCE`` interval along axis 0.

    With ``nonneg`` (a quantity known to be >= 0) the low end is clipped at 0,
    which never lowers the coverage.
    """
    x = np.asarray(samples, dtype=np.float64)
    R = x.shape[0]
    mean = x.mean(axis=0)
    if R < 2:
        inf = np.full_like(mean, np.inf)
        lo = mean - inf
        return mean, np.maximum(lo, 0.0) if nonneg else lo, mean + inf
    se = x.std(axis=0, ddof=1) / math.sqrt(R)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, R - 1) * se
    lo = mean - half
    return mean, np.maximum(lo, 0.0) if nonneg else lo, mean + half


def _xlogx_sum(p: np.ndarray) -> float:
    pos = p[p > 0]
    return float(-(pos * np.log(pos)).sum())


def _entropy_rows(p: np.ndarray) -> np.ndarray:
    """Entropy of each distribution along the last axis (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -t.sum(axis=-1)


def _check_target(target: Any) -> tuple[int, int]:
    n, q = getattr(target, "n", None), getattr(target, "q", None)
    if not hasattr(target, "conditionals") or n is None or q is None:
        raise ParameterError(
            f"`target` must be a DiscreteOracle (attributes n, q and conditionals); "
            f"got {type(target).__name__}."
        )
    return check_int("target.n", n, low=1), check_int("target.q", q, low=2)


def _table_of(target: Any) -> np.ndarray | None:
    """The target's table of shape (q,)*n, or None if it has none."""
    n, q = target.n, target.q
    if not callable(getattr(target, "pmf", None)) or q**n > 2**20:
        return None
    try:
        pmf = np.asarray(target.pmf(), dtype=np.float64)
    except Exception:  # a scalable family may refuse to tabulate
        return None
    if pmf.shape != (q**n,):
        raise ParameterError(f"`target.pmf()` must have shape ({q**n},); got {pmf.shape}.")
    return (pmf / pmf.sum()).reshape((q,) * n)


def _resolve_orders(orders: Any) -> int | None:
    if orders is None:
        return None
    return check_int("orders", orders, low=2)


def _check_block(a: Any, b: Any, n: int) -> tuple[int, int]:
    a = check_int("a", a, low=0, high=n - 1)
    b = check_int("b", b, low=a + 1, high=n)
    return a, b


def _exact_ok(n: int, q: int) -> bool:
    return n <= MAX_EXACT_N and (q + 1) ** n <= _MAX_SUBSET_CELLS


def _exact_error(n: int, q: int, table: np.ndarray | None) -> ParameterError:
    if table is None:
        why = "the target has no table (not Enumerable)"
    else:
        why = f"n = {n}, q = {q} is too large (exact needs n <= {MAX_EXACT_N})"
    return ParameterError(
        f"`orders` must be an integer >= 2 (random orders) for this target: exact "
        f"computation (orders=None) is impossible because {why}."
    )


# ====================================================================== exact kernels
def _pairs_tv_kl_sum(J: np.ndarray, s: int) -> tuple[float, float]:
    """Sum over a stack of ``E_{x_P} TV`` and ``E_{x_P} KL`` from joints of ``(x_P, x_S)``.

    ``J`` has shape ``(C, QP) + (q,)*s``: ``C`` set pairs, rows are prefix values.
    """
    if s <= 1:
        return 0.0, 0.0
    C, QP = J.shape[:2]
    mu_p = J.reshape(C, QP, -1).sum(axis=2)
    safe = np.where(mu_p > 0, mu_p, 1.0)
    nu = mu_p.reshape((C, QP) + (1,) * s)
    axes = tuple(range(2, s + 2))
    for k in range(s):
        others = tuple(ax for ax in axes if ax != k + 2)
        m_k = J.sum(axis=others) / safe[..., None]  # (C, QP, q): mu(x_i | x_P)
        shape = [C, QP] + [1] * s
        shape[k + 2] = J.shape[k + 2]
        nu = nu * m_k.reshape(shape)
    tv = 0.5 * float(np.abs(J - nu).sum())
    pos = J > 0
    kl = float((J[pos] * (np.log(J[pos]) - np.log(nu[pos]))).sum())
    return tv, max(kl, 0.0)


def _pair_tv_kl(joint: np.ndarray, s: int) -> tuple[float, float]:
    """``E_{x_P} TV`` and ``E_{x_P} KL`` from one joint of shape ``(QP,) + (q,)*s``."""
    return _pairs_tv_kl_sum(joint[None], s)


class _Subsets:
    """Cached marginals and entropies of every subset of coordinates (bit masks)."""

    def __init__(self, table: np.ndarray) -> None:
        self.n = table.ndim
        self.q = table.shape[0]
        self.full = (1 << self.n) - 1
        self._marg: dict[int, np.ndarray] = {self.full: table}
        self._ent: dict[int, float] = {}
        self.blocks: dict[tuple[int, int], tuple[float, float]] = {}

    def marginal(self, mask: int) -> np.ndarray:
        """Marginal on ``mask``; axes are the coordinates in increasing order."""
        hit = self._marg.get(mask)
        if hit is not None:
            return hit
        missing = self.full & ~mask
        i = (missing & -missing).bit_length() - 1  # lowest missing coordinate
        sup = mask | (1 << i)
        axis = bin(sup & ((1 << i) - 1)).count("1")
        out = self.marginal(sup).sum(axis=axis)
        self._marg[mask] = out
        return out

    def entropy(self, mask: int) -> float:
        hit = self._ent.get(mask)
        if hit is None:
            hit = _xlogx_sum(self.marginal(mask)) if mask else 0.0
            self._ent[mask] = hit
        return hit

    def joint(self, first: Sequence[int], second: Sequence[int]) -> np.ndarray:
        """Joint of ``(X_first, X_second)`` shaped ``(q**len(first),) + (q,)*len(second)``."""
        coords = sorted(first) + sorted(second)
        mask = 0
        for c in coords:
            mask |= 1 << c
        marg = self.marginal(mask)
        kept = sorted(coords)
        arr = np.transpose(marg, [kept.index(c) for c in coords])
        return arr.reshape((self.q ** len(first),) + (self.q,) * len(second))


_SUBSET_CACHE: dict[int, tuple[Any, _Subsets]] = {}


def _subsets_for(target: Any, table: np.ndarray) -> _Subsets:
    """One subset cache per live target object (the last few are kept)."""
    key = id(target)
    hit = _SUBSET_CACHE.get(key)
    if hit is not None and hit[0] is target:
        return hit[1]
    sub = _Subsets(table)
    if len(_SUBSET_CACHE) >= 2:
        _SUBSET_CACHE.pop(next(iter(_SUBSET_CACHE)))
    _SUBSET_CACHE[key] = (target, sub)
    return sub


def _masks_of_size(n: int, k: int) -> list[int]:
    return [sum(1 << c for c in comb) for comb in itertools.combinations(range(n), k)]


def _exact_profile(sub: _Subsets) -> np.ndarray:
    n = sub.n
    hbar = np.array([np.mean([sub.entropy(m) for m in _masks_of_size(n, k)]) for k in range(n + 1)])
    return np.diff(hbar)


def _exact_block(sub: _Subsets, a: int, b: int) -> tuple[float, float]:
    """Exact ``(E TV, E KL)`` of block ``(a, b)``: mean over disjoint set pairs."""
    n = sub.n
    if b - a <= 1:
        return 0.0, 0.0
    hit = sub.blocks.get((a, b))
    if hit is not None:
        return hit
    q = sub.q
    splits = [list(P) + [c for c in range(b) if c not in P]
              for P in itertools.combinations(range(b), a)]
    shape = (q**a,) + (q,) * (b - a)
    step = max(1, (1 << 22) // q**b)
    tv_sum = kl_sum = 0.0
    count = 0
    for U in itertools.combinations(range(n), b):
        marg = sub.marginal(sum(1 << c for c in U))  # axes: U in increasing order
        for i in range(0, len(splits), step):
            J = np.stack([np.transpose(marg, perm).reshape(shape) for perm in splits[i : i + step]])
            tv, kl = _pairs_tv_kl_sum(J, b - a)
            tv_sum += tv
            kl_sum += kl
            count += J.shape[0]
    sub.blocks[(a, b)] = (tv_sum / count, kl_sum / count)
    return sub.blocks[(a, b)]


def _exact_cmi(sub: _Subsets, t: int) -> float:
    """Average of ``I(X_i; X_j | X_P)`` over ``|P| = t`` and pairs ``i < j`` outside P."""
    n = sub.n
    total = 0.0
    count = 0
    for P in itertools.combinations(range(n), t):
        rest = [c for c in range(n) if c not in P]
        for i, j in itertools.combinations(rest, 2):
            joint = sub.joint(P, [i, j])  # (QP, q, q)
            p_p = joint.sum(axis=(1, 2))[:, None, None]
            p_i = joint.sum(axis=2)[:, :, None]
            p_j = joint.sum(axis=1)[:, None, :]
            pos = joint > 0
            num = joint * p_p
            den = p_i * p_j
            total += float((joint[pos] * (np.log(num[pos]) - np.log(den[pos]))).sum())
            count += 1
    return total / count


# ------------------------------------------------------------- sampled orders, table
def _random_orders(R: int, n: int, gen: np.random.Generator) -> np.ndarray:
    return np.argsort(gen.random((R, n)), axis=1).astype(np.int64)


def _prefix_marginals(table: np.ndarray, sigma: np.ndarray) -> list[np.ndarray]:
    """``M_k`` for ``k = 0..n``: the marginal of ``sigma(1..k)`` (axes in sigma order)."""
    cur = np.transpose(table, sigma)
    out = [cur]
    for k in range(table.ndim - 1, -1, -1):
        cur = cur.sum(axis=k)
        out.append(cur)
    return out[::-1]


def _order_block(M_b: np.ndarray, a: int, b: int, q: int) -> tuple[float, float]:
    return _pair_tv_kl(M_b.reshape((q**a,) + (q,) * (b - a)), b - a)


# ------------------------------------------------------------- Monte Carlo, oracle
def _positional(
    target: Any, ctx: np.ndarray, pos: np.ndarray, chain: np.ndarray | None
) -> np.ndarray:
    if hasattr(target, "conditionals_at"):
        return np.asarray(target.conditionals_at(ctx, pos, chain), dtype=np.float64)
    return positional_conditionals(target.conditionals, ctx, pos, chain)


def enum_limit(n: int) -> int:
    """Largest ``q**|S|`` enumerated exactly by the Monte Carlo estimators at length ``n``."""
    return max(4, min(1024, 65536 // max(n, 1)))


def _take(rows: np.ndarray, vals: np.ndarray) -> np.ndarray:
    return np.take_along_axis(rows, vals[..., None], axis=-1)[..., 0]


def _log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


def _block_given_context(
    target: Any,
    ctx: np.ndarray,
    pos: np.ndarray,
    x_s: np.ndarray | None,
    *,
    limit: int,
    proposal: str = "mu",
    gen: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """``TV(mu_S, nu_S)`` and ``KL`` given each context; ``(tv, kl, exact)``.

    Exact when ``q**L <= limit``; otherwise unbiased estimates: with
    ``proposal="mu"`` from ``x_s ~ mu_S`` (given), TV ``= E_mu[(1 - nu/mu)_+]`` and
    the Rao-Blackwellised KL chain; with ``proposal="nu"`` from a fresh
    ``x_S ~ nu_S`` (drawn here with ``gen``), TV ``= E_nu[(1 - mu/nu)_+]`` (KL NaN).
    """
    B, L = pos.shape
    q = target.q
    n = ctx.shape[1]
    if L <= 1 or B == 0:
        z = np.zeros(B)
        return z, z.copy(), True
    nu_rows = _positional(target, ctx, pos, None)  # (B, L, q)
    if q**L <= limit:
        Q = q**L
        configs = np.stack(np.unravel_index(np.arange(Q), (q,) * L), axis=1).astype(np.int64)
        tv = np.empty(B)
        kl = np.empty(B)
        step = max(1, _CHUNK_CELLS // (Q * max(n, L)))
        for s in range(0, B, step):
            c = ctx[s : s + step]
            m = c.shape[0]
            rows = _positional(
                target,
                np.repeat(c, Q, axis=0),
                np.repeat(pos[s : s + step], Q, axis=0),
                np.tile(configs, (m, 1)),
            ).reshape(m, Q, L, q)
            cfg = np.broadcast_to(configs, (m, Q, L))
            log_mu = _log(_take(rows, cfg)).sum(axis=2)  # (m, Q)
            nur = nu_rows[s : s + step][:, None, :, :]
            log_nu = _log(_take(np.broadcast_to(nur, (m, Q, L, q)), cfg)).sum(axis=2)
            mu, nu = np.exp(log_mu), np.exp(log_nu)
            tv[s : s + step] = 0.5 * np.abs(mu - nu).sum(axis=1)
            with np.errstate(invalid="ignore"):
                term = np.where(mu > 0, mu * (log_mu - log_nu), 0.0)
            kl[s : s + step] = np.maximum(term.sum(axis=1), 0.0)
        return tv, kl, True
    if proposal == "nu":
        assert gen is not None
        cdf = np.cumsum(nu_rows, axis=2)
        u = gen.random((B, L, 1)) * cdf[..., -1:]
        x_s = np.minimum((cdf <= u).sum(axis=2), q - 1).astype(np.int64)
    assert x_s is not None
    tv = np.empty(B)
    kl = np.empty(B)
    step = max(1, _CHUNK_CELLS // (L * max(n, 1)))
    for s in range(0, B, step):
        sl = slice(s, s + step)
        rows = _positional(target, ctx[sl], pos[sl], x_s[sl])  # chain rule along x_S
        log_mu = _log(_take(rows, x_s[sl])).sum(axis=1)
        log_nu = _log(_take(nu_rows[sl], x_s[sl])).sum(axis=1)
        with np.errstate(invalid="ignore"):
            if proposal == "nu":
                d = np.where(np.isneginf(log_mu), -np.inf, log_mu - log_nu)
            else:
                d = np.where(np.isneginf(log_nu), -np.inf, log_nu - log_mu)
        tv[sl] = -np.expm1(np.minimum(d, 0.0))
        if proposal == "nu":
            kl[sl] = np.nan
        else:
            nr = nu_rows[sl]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.where(rows > 0, rows * (_log(rows) - _log(nr)), 0.0)
            kl[sl] = np.maximum(t.sum(axis=(1, 2)), 0.0)
    return tv, kl, False


def _mc_draws(target: Any, R: int, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if not callable(getattr(target, "sample", None)):
        raise ParameterError(
            "`target` must have sample(num, *, rng) for the Monte Carlo estimators; "
            f"got {type(target).__name__} without it."
        )
    x = np.asarray(target.sample(R, rng=gen), dtype=np.int64)
    if x.shape != (R, target.n):
        raise ParameterError(
            f"`target.sample({R})` must return shape ({R}, {target.n}); got {x.shape}."
        )
    return _random_orders(R, target.n, gen), x


def _prefix_context(x: np.ndarray, orders: np.ndarray, a: np.ndarray | int) -> np.ndarray:
    """Contexts revealing ``x`` on ``orders[:, :a]`` (``a`` scalar or per row)."""
    R, n = x.shape
    rank = np.empty_like(orders)
    rank[np.arange(R)[:, None], orders] = np.arange(n)[None, :]
    a_col = np.broadcast_to(np.asarray(a, dtype=np.int64).reshape(-1, 1), (R, 1))
    return np.where(rank < a_col, x, MASK).astype(np.int64)


def _mc_block(
    target: Any, a: int, b: int, R: int, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, bool]:
    orders, x = _mc_draws(target, R, gen)
    ctx = _prefix_context(x, orders, a)
    pos = orders[:, a:b]
    x_s = np.take_along_axis(x, pos, axis=1)
    return _block_given_context(target, ctx, pos, x_s, limit=enum_limit(target.n))


def _mc_method(exact: bool, R: int) -> str:
    inner = (
        "exact block TV given the context (enumerated q**|S|)"
        if exact
        else "importance sampling E_{x~mu_S}[(1 - nu_S/mu_S)_+] given the context"
    )
    return f"Monte Carlo over {R} draws of (sigma, x ~ mu); {inner}; 95% t-interval"


def _sampled_method(R: int) -> str:
    return f"{R} random orders, exact expectation over x (table); 95% t-interval"


_EXACT = "exact: all n! orders via set symmetry (subset marginals), exact over x"


# ====================================================================== public API
def entropy_profile(
    target: Any, *, orders: int | None = None, rng: Any = None
) -> EntropyProfileResult:
    """``h_t = E_sigma H(X_sigma(t+1) | X_sigma(1..t))`` for ``t = 0..n-1`` (nats).

    Parameters
    ----------
    target : DiscreteOracle
        ``Enumerable`` for the exact and sampled-order methods; otherwise needs
        ``sample`` and (preferably) ``conditionals_at``.
    orders : int, optional
        None: exact over all orders. An integer ``R >= 2``: ``R`` random orders
        (each exact over ``x`` for a table, otherwise one draw ``x ~ mu`` per order
        and the exact conditional entropies along it), with a 95% interval per ``t``.
    rng : seed or Generator, optional

    Returns
    -------
    EntropyProfileResult
    """
    n, q = _check_target(target)
    R = _resolve_orders(orders)
    table = _table_of(target)
    if R is None:
        if table is None or not _exact_ok(n, q):
            raise _exact_error(n, q, table)
        h = _exact_profile(_subsets_for(target, table))
        return EntropyProfileResult(h, (h.copy(), h.copy()), _EXACT, n, q, None)
    gen = np.random.default_rng(rng)
    if table is not None:
        vals = np.empty((R, n))
        for r, sigma in enumerate(_random_orders(R, n, gen)):
            ent = np.array([_xlogx_sum(M) for M in _prefix_marginals(table, sigma)])
            vals[r] = np.diff(ent)
        method = _sampled_method(R)
    else:
        order, x = _mc_draws(target, R, gen)
        vals = np.empty((R, n))
        step = max(1, _CHUNK_CELLS // (n * n))
        ctx0 = np.full((1, n), MASK, dtype=np.int64)
        for s in range(0, R, step):
            o = order[s : s + step]
            xs = np.take_along_axis(x[s : s + step], o, axis=1)
            rows = _positional(target, np.repeat(ctx0, o.shape[0], axis=0), o, xs)
            vals[s : s + step] = _entropy_rows(rows)
        method = (
            f"Monte Carlo over {R} draws of (sigma, x ~ mu), exact conditional entropies "
            "along the chain; 95% t-interval"
        )
    mean, lo, hi = _mean_ci(vals, nonneg=True)
    return EntropyProfileResult(mean, (lo, hi), method, n, q, R, vals)


def _block(target: Any, a: Any, b: Any, orders: Any, rng: Any, which: int) -> BlockResult:
    n, q = _check_target(target)
    a, b = _check_block(a, b, n)
    R = _resolve_orders(orders)
    name = ("tv", "kl")[which]
    table = _table_of(target)
    if R is None:
        if table is None or not _exact_ok(n, q):
            raise _exact_error(n, q, table)
        v = _exact_block(_subsets_for(target, table), a, b)[which]
        return BlockResult(v, (v, v), _EXACT, name, a, b, n, q, None)
    gen = np.random.default_rng(rng)
    if table is not None:
        vals = np.empty(R)
        for r, sigma in enumerate(_random_orders(R, n, gen)):
            M_b = _prefix_marginals(table, sigma)[b]
            vals[r] = _order_block(M_b, a, b, q)[which]
        method = _sampled_method(R)
    else:
        tv, kl, exact = _mc_block(target, a, b, R, gen)
        vals = (tv, kl)[which]
        method = _mc_method(exact, R)
        if which == 1 and not exact:
            method = method.replace(
                "importance sampling E_{x~mu_S}[(1 - nu_S/mu_S)_+]",
                "Rao-Blackwellised chain sum_j KL(mu(.|x_P,x_<j) || mu(.|x_P))",
            )
    mean, lo, hi = _mean_ci(vals, nonneg=True)
    return BlockResult(float(mean), (float(lo), float(hi)), method, name, a, b, n, q, R)


def expected_block_tv(
    target: Any, a: int, b: int, *, orders: int | None = None, rng: Any = None
) -> BlockResult:
    """``E_{sigma, x ~ mu} TV(mu_S, nu_S)`` with ``S = sigma(a+1..b)``, prefix ``sigma(1..a)``.

    Parameters
    ----------
    target : DiscreteOracle
    a, b : int
        ``0 <= a < b <= n``.
    orders : int, optional
        None: exact (Enumerable target); an integer: that many random orders (or
        ``(sigma, x)`` draws for a target without a table), 95% interval.
    rng : seed or Generator, optional

    Returns
    -------
    BlockResult
    """
    return _block(target, a, b, orders, rng, 0)


def expected_block_kl(
    target: Any, a: int, b: int, *, orders: int | None = None, rng: Any = None
) -> BlockResult:
    """``E_{sigma, x ~ mu} KL(mu_S || nu_S)`` (nats); arguments as :func:`expected_block_tv`."""
    return _block(target, a, b, orders, rng, 1)


def block_tv_grid(
    target: Any,
    *,
    prefix_lengths: Sequence[int],
    sizes: Sequence[int],
    orders: int | None = None,
    rng: Any = None,
) -> BlockTVGrid:
    """:func:`expected_block_tv` on every ``(a, a + s)`` of a grid (NaN past ``n``)."""
    n, q = _check_target(target)
    A = np.array([check_int("prefix_lengths[i]", a, low=0, high=n - 1) for a in prefix_lengths])
    Ss = np.array([check_int("sizes[j]", s, low=1, high=n) for s in sizes])
    gen = np.random.default_rng(rng)
    val = np.full((A.size, Ss.size), np.nan)
    lo, hi = val.copy(), val.copy()
    method = ""
    for i, a in enumerate(A):
        for j, s in enumerate(Ss):
            if a + s <= n:
                r = expected_block_tv(target, int(a), int(a + s), orders=orders, rng=gen)
                val[i, j], (lo[i, j], hi[i, j]) = r.value, r.interval
                method = r.method
    return BlockTVGrid(val, (lo, hi), method, A, Ss, n, q)


def recursion_levels(n: int) -> list[list[tuple[int, int]]]:
    """Blocks ``(a, b)`` of size >= 2 of the sampler's recursion tree, by depth.

    Root ``(0, n)``; ``mid = a + (b - a) // 2``; left ``(a, mid)``, right ``(mid, b)``.
    There are ``ceil(log2 n)`` such levels.
    """
    n = check_int("n", n, low=1)
    levels: list[list[tuple[int, int]]] = []
    cur = [(0, n)]
    while True:
        cur = [(a, b) for a, b in cur if b - a >= 2]
        if not cur:
            return levels
        levels.append(cur)
        nxt = []
        for a, b in cur:
            mid = a + (b - a) // 2
            nxt += [(a, mid), (mid, b)]
        cur = nxt


def tree_tv(target: Any, *, orders: int | None = None, rng: Any = None) -> TreeTVResult:
    """Per-level and whole-tree ``E sum_S TV(mu_S, nu_S)`` over the recursion tree.

    The expectation of a block's TV depends only on ``(a, b)``, so a level's sum is
    the sum of :func:`expected_block_tv` over its blocks.

    Parameters
    ----------
    target : DiscreteOracle
    orders : int, optional
        None: exact when the target is Enumerable and small (see the module
        docstring), otherwise :data:`DEFAULT_ORDERS` random orders. An integer:
        that many random orders / ``(sigma, x)`` replicates. For a target without
        a table each replicate evaluates all blocks of a level when there are at
        most :data:`MAX_BLOCKS_PER_LEVEL`, else a uniform sample of that many
        (scaled to the level size; unbiased).
    rng : seed or Generator, optional

    Returns
    -------
    TreeTVResult
    """
    n, q = _check_target(target)
    R = _resolve_orders(orders)
    table = _table_of(target)
    levels = recursion_levels(n)
    D = len(levels)
    level_bound = math.sqrt(n * math.log(q) / 2)
    tree_bound = math.ceil(math.log2(n)) * level_bound if n > 1 else 0.0
    nblocks = np.array([len(lv) for lv in levels], dtype=np.int64)
    if R is None and table is not None and _exact_ok(n, q):
        sub = _subsets_for(target, table)
        cache: dict[tuple[int, int], float] = {}
        blocks = []
        sums = np.zeros(D)
        for d, lv in enumerate(levels):
            for a, b in lv:
                if (a, b) not in cache:
                    cache[(a, b)] = _exact_block(sub, a, b)[0]
                blocks.append((d, a, b, cache[(a, b)]))
                sums[d] += cache[(a, b)]
        total = float(sums.sum())
        return TreeTVResult(
            total, (total, total), _EXACT, n, q, sums, np.stack([sums, sums], axis=1),
            nblocks, level_bound, tree_bound, tuple(blocks), None,
        )
    R = DEFAULT_ORDERS if R is None else R
    gen = np.random.default_rng(rng)
    blocks_out: tuple[tuple[int, int, int, float], ...] = ()
    if table is not None:
        flat = [(d, a, b) for d, lv in enumerate(levels) for a, b in lv]
        per = np.zeros((R, len(flat)))
        for r, sigma in enumerate(_random_orders(R, n, gen)):
            M = _prefix_marginals(table, sigma)
            for k, (_, a, b) in enumerate(flat):
                per[r, k] = _order_block(M[b], a, b, q)[0]
        depth = np.array([d for d, _, _ in flat])
        vals = np.stack([per[:, depth == d].sum(axis=1) for d in range(D)], axis=1)
        bmean = per.mean(axis=0)
        blocks_out = tuple((d, a, b, float(v)) for (d, a, b), v in zip(flat, bmean, strict=True))
        method = _sampled_method(R)
    else:
        vals, any_is = _mc_tree(target, levels, R, gen)
        method = (
            f"Monte Carlo over {R} draws of (sigma, x ~ mu); at most {MAX_BLOCKS_PER_LEVEL} "
            "uniformly sampled blocks per level and draw (scaled, unbiased); block TV exact "
            f"given the context when q**|S| <= {min(enum_limit(n), 16)}"
            + (", else importance sampling E_{x~mu_S}[(1 - nu_S/mu_S)_+]" if any_is else "")
            + "; 95% t-interval"
        )
    mean, lo, hi = _mean_ci(vals, nonneg=True)
    tmean, tlo, thi = _mean_ci(vals.sum(axis=1), nonneg=True)
    return TreeTVResult(
        float(tmean), (float(tlo), float(thi)), method, n, q, mean, np.stack([lo, hi], axis=1),
        nblocks, level_bound, tree_bound, blocks_out, R,
    )


def _mc_tree(
    target: Any, levels: list[list[tuple[int, int]]], R: int, gen: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """Per-replicate level sums, shape (R, D), and whether any block used IS."""
    n = target.n
    orders, x = _mc_draws(target, R, gen)
    vals = np.zeros((R, len(levels)))
    any_is = False
    # blocks are many and the level sum's variance comes mostly from which block and
    # which (sigma, x): enumerate only tiny blocks, spend the work on more blocks
    limit = min(enum_limit(n), 16)
    for d, lv in enumerate(levels):
        nb = len(lv)
        k = min(nb, MAX_BLOCKS_PER_LEVEL)
        if k == nb:
            pick = np.broadcast_to(np.arange(nb), (R, nb))
        else:
            pick = np.argsort(gen.random((R, nb)), axis=1)[:, :k]
        A = np.array([a for a, _ in lv])[pick]  # (R, k)
        Bv = np.array([b for _, b in lv])[pick]
        sizes = Bv - A
        est = np.zeros((R, k))
        for L in np.unique(sizes):
            if L < 2:
                continue
            rr, cc = np.nonzero(sizes == L)
            a_v = A[rr, cc]
            o = orders[rr]
            xv = x[rr]
            ctx = _prefix_context(xv, o, a_v)
            idx = np.arange(rr.size)[:, None]
            pos = o[idx, a_v[:, None] + np.arange(L)[None, :]]
            x_s = np.take_along_axis(xv, pos, axis=1)
            tv, _, exact = _block_given_context(target, ctx, pos, x_s, limit=limit)
            any_is |= not exact
            est[rr, cc] = tv
        vals[:, d] = est.sum(axis=1) * (nb / k)
    return vals, any_is


# ====================================================================== checks
def _worst(diff: np.ndarray) -> str:
    d = np.atleast_1d(diff)
    k = int(np.argmax(d))
    return f"largest violation lhs - rhs = {d[k]:.3g} at index {k}" if d.size > 1 else ""


def check_entropy_monotone(
    profile: EntropyProfileResult, *, tol: float = 1e-9, alpha: float = 0.01
) -> CheckResult:
    """``h_{t+1} <= h_t`` for every ``t`` (pinning never raises the entropy).

    Exact profiles are compared up to ``tol``. For an estimated profile with its
    per-draw values, each difference ``h_{t+1} - h_t > tol`` is tested one-sided
    (paired t-test over the draws: the same draw gives both; ``tol`` absorbs the
    rounding of per-draw entropies that are equal in exact arithmetic, as on a
    product target) and the family is
    Holm-corrected at ``alpha``; without draws it passes unless the interval of
    ``h_{t+1}`` lies wholly above that of ``h_t``.
    """
    tol = check_float("tol", tol, low=0.0)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    detail = ""
    if profile.exact:
        lhs, rhs = profile.value[1:], profile.value[:-1]
        diff = lhs - rhs - tol
        passed = bool((diff <= 0).all()) if diff.size else True
        if not passed:
            detail = _worst(diff)
    elif profile.draws is not None and profile.n > 1:
        from statsmodels.stats.multitest import multipletests

        lhs, rhs = profile.value[1:], profile.value[:-1]
        d = np.diff(profile.draws, axis=1)  # (R, n-1)
        R = d.shape[0]
        m = d.mean(axis=0) - tol  # rounding of the per-draw exact entropies
        se = d.std(axis=0, ddof=1) / math.sqrt(R)
        with np.errstate(divide="ignore", invalid="ignore"):
            tstat = np.where(se > 0, m / np.where(se > 0, se, 1.0), np.where(m > 0, np.inf, 0.0))
        pv = stats.t.sf(tstat, R - 1)
        reject = multipletests(pv, alpha=alpha, method="holm")[0]
        passed = not bool(reject.any())
        k = int(np.argmin(pv))
        detail = (
            f"paired one-sided t-tests of h_(t+1) - h_t > {tol:g} over {R} draws, Holm at alpha = "
            f"{alpha:g}; smallest p = {pv[k]:.3g} at t = {k}"
        )
    else:
        lhs, rhs = profile.interval[0][1:], profile.interval[1][:-1]
        diff = lhs - rhs
        passed = bool((diff <= 0).all()) if diff.size else True
        if not passed:
            detail = _worst(diff)
    return CheckResult(
        "h_t non-increasing", passed, lhs, rhs, "<=", tol,
        profile.method, detail,
    )


def check_entropy_sum(profile: EntropyProfileResult, *, tol: float = 1e-9) -> CheckResult:
    """``sum_t (h_t - h_{t+1}) = h_0 - h_{n-1} <= h_0 <= log q`` (up to ``tol``).

    For an estimated profile the sides are the interval ends (the largest
    plausible ``h_0 - h_{n-1}`` and the smallest plausible ``h_0``)."""
    tol = check_float("tol", tol, low=0.0)
    lo, hi = profile.interval
    if profile.exact:
        lhs = float(profile.value[0] - profile.value[-1])
        h0 = float(profile.value[0])
        ok = lhs <= math.log(profile.q) + tol and h0 <= math.log(profile.q) + tol
    else:
        lhs = float(lo[0] - hi[-1])
        h0 = float(lo[0])
        ok = lhs <= math.log(profile.q) + tol and h0 <= math.log(profile.q) + tol
    return CheckResult(
        "sum_t (h_t - h_{t+1}) <= log q", bool(ok), lhs, math.log(profile.q), "<=",
        tol, profile.method, f"h_0 = {h0:.6g}",
    )


def _exact_sub(target: Any) -> _Subsets:
    n, q = _check_target(target)
    table = _table_of(target)
    if table is None or not _exact_ok(n, q):
        raise ParameterError(
            "`target` must be Enumerable with n <= 12 for an exact identity check; "
            f"got {type(target).__name__} with n = {n}, q = {q}."
        )
    return _subsets_for(target, table)


def check_mutual_information_identity(target: Any, *, tol: float = 1e-9) -> CheckResult:
    """``h_t - h_{t+1}`` equals the average pairwise conditional mutual information.

    The right side, ``E_{|P| = t, i != j not in P} I(X_i; X_j | X_P)``, is computed
    directly from the joint tables of ``(X_P, X_i, X_j)`` (exact targets only).
    """
    tol = check_float("tol", tol, low=0.0)
    sub = _exact_sub(target)
    h = _exact_profile(sub)
    lhs = h[:-1] - h[1:]
    rhs = np.array([_exact_cmi(sub, t) for t in range(sub.n - 1)])
    diff = np.abs(lhs - rhs) - tol
    passed = bool((diff <= 0).all()) if diff.size else True
    return CheckResult(
        "h_t - h_{t+1} = mean pairwise CMI", passed, lhs, rhs, "==", tol, _EXACT,
        "" if passed else _worst(diff),
    )


def check_kl_identity(target: Any, a: int, b: int, *, tol: float = 1e-9) -> CheckResult:
    """``E KL(mu_S || nu_S) = sum_{j=a+1..b} (h_a - h_{j-1})`` (exact targets)."""
    tol = check_float("tol", tol, low=0.0)
    sub = _exact_sub(target)
    a, b = _check_block(a, b, sub.n)
    h = _exact_profile(sub)
    lhs = _exact_block(sub, a, b)[1]
    rhs = float(sum(h[a] - h[j - 1] for j in range(a + 1, b + 1)))
    passed = abs(lhs - rhs) <= tol
    return CheckResult(
        f"E KL(mu_S||nu_S) = sum_j (h_a - h_(j-1)), (a, b) = ({a}, {b})", passed, lhs, rhs,
        "==", tol, _EXACT, f"difference {lhs - rhs:.3g}",
    )


def check_kl_bound(
    target: Any, a: int, b: int, *, orders: int | None = None, rng: Any = None, tol: float = 1e-9
) -> CheckResult:
    """``E KL(mu_S || nu_S) <= |S| (h_a - h_b)`` (with ``h_n = 0``).

    Exact for ``orders=None``; with sampled orders it passes unless the KL
    interval lies wholly above the bound's interval.
    """
    tol = check_float("tol", tol, low=0.0)
    gen = np.random.default_rng(rng)
    kl = expected_block_kl(target, a, b, orders=orders, rng=gen)
    prof = entropy_profile(target, orders=orders, rng=gen)

    def h_at(arr: np.ndarray, t: int) -> float:
        return float(arr[t]) if t < prof.n else 0.0

    s = kl.b - kl.a
    rhs = s * (h_at(prof.value, kl.a) - h_at(prof.value, kl.b))
    if kl.exact:
        passed = kl.value <= rhs + tol
    else:
        lo, hi = prof.interval
        rhs_hi = s * (h_at(hi, kl.a) - h_at(lo, kl.b))
        passed = kl.interval[0] <= rhs_hi
    return CheckResult(
        f"E KL(mu_S||nu_S) <= |S|(h_a - h_b), (a, b) = ({kl.a}, {kl.b})", bool(passed),
        kl.value, rhs, "<=", tol if kl.exact else 0.0, kl.method,
    )


def check_level_bounds(tree: TreeTVResult) -> CheckResult:
    """Every level: ``sum over its blocks of E TV <= sqrt(n log q / 2)``."""
    passed = bool(tree.level_passed.all())
    lhs = tree.level_sums if tree.num_orders is None else tree.level_intervals[:, 0]
    return CheckResult(
        "per-level sum E TV <= sqrt(n log q / 2)", passed, tree.level_sums,
        tree.level_bound, "<=", 0.0, tree.method,
        "" if passed else _worst(lhs - tree.level_bound),
    )


def check_tree_bound(tree: TreeTVResult) -> CheckResult:
    """Whole tree: ``E sum_S TV <= ceil(log2 n) sqrt(n log q / 2)``."""
    passed = tree.interval[0] <= tree.tree_bound * (1 + 1e-12)
    return CheckResult(
        "tree sum E TV <= ceil(log2 n) sqrt(n log q / 2)", bool(passed), tree.value,
        tree.tree_bound, "<=", 0.0, tree.method,
    )


def pinning_checks(
    target: Any, *, orders: int | None = None, rng: Any = None, tol: float = 1e-9
) -> tuple[CheckResult, ...]:
    """Every check of issue 4 item 2 that applies to ``target``.

    Exact (``orders=None``): monotonicity and sum of ``h_t``, the CMI identity,
    the KL identity and bound for every ``0 <= a < b <= n``, the per-level and
    whole-tree TV bounds. With sampled orders the identities are skipped (they
    hold only in expectation over orders) and the KL bound is checked on the
    tree's blocks.
    """
    gen = np.random.default_rng(rng)
    n, _ = _check_target(target)
    prof = entropy_profile(target, orders=orders, rng=gen)
    out = [check_entropy_monotone(prof, tol=tol), check_entropy_sum(prof, tol=tol)]
    if orders is None:
        out.append(check_mutual_information_identity(target, tol=tol))
        pairs = [(a, b) for a in range(n) for b in range(a + 2, n + 1)]
        for a, b in pairs:
            out.append(check_kl_identity(target, a, b, tol=tol))
            out.append(check_kl_bound(target, a, b, tol=tol))
    else:
        pairs = sorted({(a, b) for lv in recursion_levels(n) for a, b in lv})
        for a, b in pairs:
            out.append(check_kl_bound(target, a, b, orders=orders, rng=gen, tol=tol))
    tree = tree_tv(target, orders=orders, rng=gen)
    out += [check_level_bounds(tree), check_tree_bound(tree)]
    return tuple(out)


# ====================================================================== round bound
def _spawn_pair(rng: Any) -> tuple[Any, np.random.Generator]:
    """(source for the sampler, independent generator for the estimators)."""
    seeds = int | np.integer | np.random.Generator | np.random.SeedSequence
    if rng is None or isinstance(rng, seeds):
        gen = np.random.default_rng(rng)
        a, b = gen.spawn(2)
        return a, b
    return rng, np.random.default_rng()


def trace_block_tv(target: Any, trace: Any, *, rng: Any = None) -> tuple[np.ndarray, bool]:
    """``TV(mu_S, nu_S)`` of every block call of a :class:`~samplers.base.SamplerTrace`.

    Given the recorded context; exact when ``q**|S|`` is small enough to
    enumerate, otherwise the unbiased estimate ``(1 - mu_S(x)/nu_S(x))_+`` at one
    fresh ``x ~ nu_S``. Returns ``(tv (K,), all_exact)``.
    """
    n, q = _check_target(target)
    gen = np.random.default_rng(rng)
    a = np.asarray(trace.block_a, dtype=np.int64)
    b = np.asarray(trace.block_b, dtype=np.int64)
    smp = np.asarray(trace.block_sample, dtype=np.int64)
    ctx_all = np.asarray(trace.block_context, dtype=np.int64)
    orders = np.asarray(trace.orders, dtype=np.int64)
    limit = min(enum_limit(n), 64)
    if _table_of(target) is not None and n <= MAX_EXACT_N:
        limit = max(limit, min(q**n, 4096))
    tv = np.zeros(a.shape[0])
    exact = True
    L_all = b - a
    for L in np.unique(L_all):
        if L < 2:
            continue
        idx = np.flatnonzero(L_all == L)
        pos = np.take_along_axis(orders[smp[idx]], a[idx, None] + np.arange(L)[None, :], axis=1)
        t, _, ex = _block_given_context(
            target, ctx_all[idx], pos, None, limit=limit, proposal="nu", gen=gen
        )
        tv[idx] = t
        exact &= ex
    return tv, exact


def check_round_bound(
    sampler: Any,
    target: Any,
    *,
    num_samples: int,
    rng: Any = None,
    alpha: float = 0.01,
    reference: RoundBoundResult | None = None,
    max_constant: float | None = None,
) -> RoundBoundResult:
    """Rounds of ``sampler`` against ``sum TV(mu_S, nu_S)`` over the blocks it visited.

    Runs ``sampler.sample(num_samples, rng=...)`` (it must record a trace, e.g.
    ``AutospeculativeSampler(..., trace=True)``), computes for every sample the
    sum over its block calls of ``TV(mu_S, nu_S)`` given the recorded context
    (:func:`trace_block_tv`), and fits ``E[rounds] = c (1 + E[sum TV]) log2 n``.

    Flagging (a sampler that spends rounds ``sum TV`` does not explain):

    - every block call's speculation is rejected with probability exactly
      ``TV(mu_S, nu_S)`` given its context, so for a correct sampler
      ``E[#rejections - sum TV] = 0`` (optional stopping); the excess is tested
      one-sided at ``alpha`` (t-test over samples);
    - with ``reference`` (the result of a trusted sampler on the same target),
      the mean rounds must not exceed the reference fit
      ``intercept + slope * E[sum TV]`` by more than the combined
      ``1 - alpha`` interval;
    - with ``max_constant``, the lower end of the constant's interval must not
      exceed it.

    Parameters
    ----------
    sampler : object with ``sample(num, *, rng) -> SampleResult`` and a trace
    target : DiscreteOracle
        The sampler's target (exact oracle).
    num_samples : int
        ``>= 2``.
    rng : seed, Generator or SeedSequence, optional
        Split into independent streams for the sampler and the estimators.
    alpha : float, default 0.01
    reference : RoundBoundResult, optional
    max_constant : float, optional

    Returns
    -------
    RoundBoundResult
    """
    n, q = _check_target(target)
    num = check_int("num_samples", num_samples, low=2)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    if max_constant is not None:
        max_constant = check_float("max_constant", max_constant, low=0.0, low_open=True)
    if getattr(sampler, "n", n) != n:
        raise ParameterError(f"`sampler.n` must equal `target.n` = {n}; got {sampler.n}.")
    src, gen = _spawn_pair(rng)
    res = sampler.sample(num, rng=src)
    trace = getattr(res, "trace", None)
    if trace is None:
        raise ParameterError(
            "`sampler` must record a trace (SampleResult.trace); build it with trace=True."
        )
    # the trace holds the block calls the algorithm ran (look-ahead trials that
    # the sampler discarded are not recorded; see SamplerTrace)
    tv_all, exact = trace_block_tv(target, trace, rng=gen)
    smp = np.asarray(trace.block_sample, dtype=np.int64)
    rounds = np.asarray(res.rounds, dtype=np.float64)
    sum_tv = np.bincount(smp, weights=tv_all, minlength=num).astype(np.float64)
    rejected = ~np.asarray(trace.block_first_accepted, bool)
    rej = np.bincount(smp, weights=rejected.astype(float), minlength=num)
    log_n = max(math.log2(n), 1.0)
    # constant c = mean(rounds) / ((1 + mean(sumTV)) log2 n), delta-method interval
    r_bar, s_bar = float(rounds.mean()), float(sum_tv.mean())
    ratio = r_bar / (1 + s_bar)
    z = rounds - ratio * (1 + sum_tv)
    se_ratio = float(z.std(ddof=1)) / math.sqrt(num) / (1 + s_bar)
    tq = float(stats.t.ppf(0.5 + CONFIDENCE / 2, num - 1))
    c = ratio / log_n
    c_int = ((ratio - tq * se_ratio) / log_n, (ratio + tq * se_ratio) / log_n)
    # least squares rounds_i = alpha0 + slope * sumTV_i with HC0 covariance
    X = np.stack([np.ones(num), sum_tv], axis=1)
    XtX_inv = np.linalg.pinv(X.T @ X)
    beta = XtX_inv @ X.T @ rounds
    resid = rounds - X @ beta
    cov = XtX_inv @ (X.T * resid**2) @ X @ XtX_inv
    se_slope = math.sqrt(max(float(cov[1, 1]), 0.0))
    # rejection excess
    d = rej - sum_tv
    d_mean, d_lo, d_hi = _mean_ci(d)
    d_se = float(d.std(ddof=1)) / math.sqrt(num)
    if d_se > 0:
        p_excess = float(stats.t.sf(float(d_mean) / d_se, num - 1))
    else:
        p_excess = 0.0 if d_mean > 0 else 1.0
    reasons: list[str] = []
    if p_excess < alpha:
        reasons.append(
            f"first-stage rejections exceed sum TV: mean excess {float(d_mean):.4g} per sample "
            f"(95% CI [{float(d_lo):.4g}, {float(d_hi):.4g}]), one-sided p = {p_excess:.3g} "
            f"< alpha = {alpha:g}"
        )
    ref_excess = ref_p = None
    if reference is not None:
        pred = reference.intercept + reference.slope * s_bar
        g = np.array([1.0, s_bar])
        cov_ref = np.asarray(reference.fit_covariance)
        se_pred = math.sqrt(max(float(g @ cov_ref @ g), 0.0))
        se_r = float(rounds.std(ddof=1)) / math.sqrt(num)
        zq = float(stats.norm.ppf(1 - alpha))
        ref_excess = r_bar - pred
        se_all = math.hypot(se_pred, se_r)
        if se_all > 0:
            ref_p = float(stats.norm.sf(ref_excess / se_all))
        else:
            ref_p = 0.0 if ref_excess > 0 else 1.0
        if ref_excess > zq * se_all:
            reasons.append(
                f"mean rounds {r_bar:.4g} exceed the reference relation {pred:.4g} by "
                f"{ref_excess:.4g} > {zq * math.hypot(se_pred, se_r):.4g} (its 1 - alpha interval)"
            )
    if max_constant is not None and c_int[0] > max_constant:
        reasons.append(f"constant {c:.4g} (low end {c_int[0]:.4g}) > max_constant {max_constant:g}")
    r_m, r_lo, r_hi = _mean_ci(rounds)
    s_m, s_lo, s_hi = _mean_ci(sum_tv, nonneg=True)
    how = (
        "exact given the recorded context"
        if exact
        else "exact given the recorded context when q**|S| <= enumeration limit, else "
        "importance sampling (1 - mu_S/nu_S)_+ at x ~ nu_S"
    )
    method = (
        f"sampler trace over {num} samples; block TV {how}; c from "
        "E[rounds] = c (1 + E[sum TV]) log2 n (delta method); rejection excess t-test"
    )
    return RoundBoundResult(
        value=float(c),
        interval=(float(c_int[0]), float(c_int[1])),
        method=method,
        n=n,
        num_samples=num,
        mean_rounds=float(r_m),
        rounds_interval=(float(r_lo), float(r_hi)),
        mean_sum_tv=float(s_m),
        sum_tv_interval=(float(s_lo), float(s_hi)),
        mean_rejections=float(rej.mean()),
        slope=float(beta[1]),
        intercept=float(beta[0]),
        slope_interval=(float(beta[1] - tq * se_slope), float(beta[1] + tq * se_slope)),
        excess_rejections=float(d_mean),
        excess_interval=(float(d_lo), float(d_hi)),
        excess_pvalue=p_excess,
        flagged=bool(reasons),
        reasons=tuple(reasons),
        alpha=alpha,
        rounds=rounds,
        sum_tv=sum_tv,
        rejections=rej,
        reference_excess=ref_excess,
        reference_pvalue=ref_p,
        fit_covariance=cov,
    )
