"""The precision floor: the chain-rule-law TV that rounding of the conditionals alone causes.

A low-precision oracle (float32, float16, bfloat16 answers) cannot define its chain-rule
law more exactly than its rows are rounded; a test asked to detect a TV below that is
asking about rounding, not about the sampler. :func:`precision_floor` states it two ways.

Bound (from the per-row errors seen)
    For each row ``r`` the oracle answered (at a masked position), the L1 error
    ``e(r) = |s - 1| + s u`` with ``s = sum_v r_v`` (computed in float64) and ``u = eps /
    2`` the unit roundoff of the answer's dtype: the normalisation defect the row shows,
    plus the representation rounding of its own entries. With ``e`` the largest seen,
    the hybrid argument (replace one step's row at a time; the prefix masses are at most
    ``(1 + e)**(t - 1)``, the suffix ones 1) gives, for the chain-rule laws ``P`` of the
    rows as answered and ``P*`` of any rows within ``e`` of them in L1, along any order,
    ``TV(P, P*) <= ((1 + e)**n - 1) / 2`` (about ``n e / 2``). It is a bound from the
    rows *seen* (all the chain rows of the measured orders when ``q**n`` is small,
    else ``num_contexts`` random contexts), not a certificate over every context.
Measured (small targets, ``q**n <= PRECISION_TABLE``)
    ``P_raw(x) = prod_t r_t(x_sigma(t))`` with the raw rows (float32 values, product in
    float64) against ``P_64(x) = prod_t r_t(x_sigma(t)) / s_t`` with the rows
    renormalised in float64, over the full table, for each order in ``orders``; the
    figure is ``max_sigma (1/2) sum_x |P_raw - P_64|``.
A float64 oracle has a floor of order ``n * 1e-16``; :func:`answer_eps` tells whether an
oracle answers below float64 (the probe :func:`verify.check_exact` and
:func:`verify.plan_sample_size` use before warning).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from distributions.base import MASK, DiscreteOracle
from distributions.errors import ParameterError
from distributions.oracle_utils import build_chain_contexts
from distributions.validation import check_discrete_oracle, check_float, check_int, short_repr
from samplers.arrays import to_host
from verify.results import ResultBase

__all__ = ["PRECISION_TABLE", "PrecisionFloorResult", "PrecisionWarning", "answer_eps",
           "precision_floor", "rounding_bound", "row_errors", "warn_below_floor"]

#: Largest ``q**n`` on which the floor is also measured over the full table.
PRECISION_TABLE: int = 2**12
_F64_EPS = float(np.finfo(np.float64).eps)


class PrecisionWarning(UserWarning):
    """The requested ``tv`` is below the oracle's precision floor."""


@dataclass(frozen=True, kw_only=True)
class PrecisionFloorResult(ResultBase):
    """Outcome of :func:`precision_floor` (a measurement: ``status`` is "pass", or
    "warn" when a requested ``tv`` is below the floor).

    Attributes
    ----------
    statistic : float
        ``floor``.
    floor : float
        ``max(bound, measured)`` (``bound`` alone when nothing was measured).
    bound : float
        ``((1 + max_row_error)**n - 1) / 2``, capped at 1.
    measured : float
        Largest TV between the raw-row and renormalised-row chain-rule laws over the
        measured orders (``nan`` when ``q**n > PRECISION_TABLE``).
    max_row_error : float
        Largest L1 row error ``|s - 1| + s u`` seen.
    max_sum_defect : float
        Largest ``|s - 1|`` seen.
    dtype : str
        The dtype the oracle answered with.
    eps : float
        Its machine epsilon.
    rows_seen : int
    orders : tuple of str
        The measured orders.
    tv : float
        The TV the caller asked about (``nan`` if none).
    """

    floor: float = math.nan
    bound: float = math.nan
    measured: float = math.nan
    max_row_error: float = math.nan
    max_sum_defect: float = math.nan
    dtype: str = ""
    eps: float = math.nan
    rows_seen: int = 0
    orders: tuple[str, ...] = ()
    tv: float = math.nan


def answer_eps(oracle: DiscreteOracle) -> tuple[str, float]:
    """The dtype and machine epsilon of the oracle's answer to the all-masked context."""
    ans = to_host(oracle.conditionals(np.full((1, int(oracle.n)), MASK, dtype=np.int64)))
    return ans.dtype, float(ans.eps)


def _order_array(order: Any, n: int) -> tuple[np.ndarray, str]:
    if isinstance(order, str) and order in ("identity", "reverse"):
        arr = np.arange(n) if order == "identity" else np.arange(n)[::-1].copy()
        return arr, order
    arr = np.asarray(order)
    if arr.shape != (n,) or arr.dtype.kind not in "iu" or not np.array_equal(np.sort(arr),
                                                                           np.arange(n)):
        raise ParameterError(
            f"`orders` entries must be 'identity', 'reverse' or a permutation of range({n}); "
            f"got {short_repr(order)}.")
    return arr.astype(np.int64), str(arr.tolist())


def row_errors(r: np.ndarray, u: float) -> tuple[float, float]:
    """Largest L1 row error ``|s - 1| + s u`` and largest sum defect ``|s - 1|`` of the
    rows ``r`` (``s`` their sums in float64, ``u`` the unit roundoff); ``(0, 0)`` without
    rows. All-zero rows (contexts of probability 0, the contract's zero-context rule)
    are not rounded rows and are left out."""
    s = np.asarray(r, dtype=np.float64).sum(axis=-1).reshape(-1)
    s = s[s > 0]
    if s.size == 0:
        return 0.0, 0.0
    return float(np.max(np.abs(s - 1.0) + s * u)), float(np.max(np.abs(s - 1.0)))


def rounding_bound(err: float, steps: int) -> float:
    """``min(1, ((1 + err)**steps - 1) / 2)``: the TV by which a chain-rule law of
    ``steps`` rows can move when each row moves by ``err`` in L1 (module docstring)."""
    return float(min(1.0, 0.5 * math.expm1(steps * math.log1p(err))))


def precision_floor(
    oracle: DiscreteOracle,
    *,
    orders: tuple[Any, ...] = ("identity", "reverse"),
    num_contexts: int = 512,
    tv: float | None = None,
    rng: Any = None,
) -> PrecisionFloorResult:
    """The TV on the chain-rule law that rounding of the oracle's rows alone can cause.

    Parameters
    ----------
    oracle : DiscreteOracle
        Called directly (raw answers, no guard, no renormalisation).
    orders : tuple of {"identity", "reverse"} or permutations, default both
        Orders of the measured figure (``q**n <= PRECISION_TABLE``).
    num_contexts : int >= 1, default 512
        Random contexts (each position masked with probability ``t ~ U(0, 1)``) whose
        masked rows give the row errors when ``q**n > PRECISION_TABLE``.
    tv : float in (0, 1), optional
        A TV a test is asked to detect: status "warn" when it is below the floor.
    rng : seed, Generator or SeedSequence
        The random contexts.

    Returns
    -------
    PrecisionFloorResult

    Examples
    --------
    >>> from distributions import random_table
    >>> r = precision_floor(random_table(4, 2, rng=0))
    >>> r.dtype, r.floor < 1e-14
    ('float64', True)
    """
    check_discrete_oracle("oracle", oracle)
    n, q = int(oracle.n), int(oracle.q)
    num_contexts = check_int("num_contexts", num_contexts, low=1)
    if not isinstance(orders, tuple | list) or not orders:
        raise ParameterError(f"`orders` must be a non-empty tuple; got {short_repr(orders)}.")
    arrs = [_order_array(o, n) for o in orders]
    if tv is not None:
        tv = check_float("tv", tv, low=0.0, high=1.0, low_open=True, high_open=True)
    small = n * math.log2(q) <= math.log2(PRECISION_TABLE) + 1e-12
    dtype, eps, worst, defect, rows, measured = "", math.nan, 0.0, 0.0, 0, math.nan
    if small:
        x = np.array(np.unravel_index(np.arange(q**n), (q,) * n)).T.astype(np.int64)
        measured = 0.0
        for order, _ in arrs:
            pos = np.broadcast_to(order, x.shape)
            vals = np.take_along_axis(x, pos, axis=1)
            ctx = build_chain_contexts(np.full_like(x, MASK), pos, vals)
            ans = to_host(oracle.conditionals(ctx))
            dtype, eps = ans.dtype, ans.eps
            r = ans.values[np.arange(ctx.shape[0]), pos.reshape(-1)].reshape(x.shape[0], n, q)
            e, d = row_errors(r, eps / 2)
            worst, defect, rows = max(worst, e), max(defect, d), rows + r.shape[0] * n
            pv = np.take_along_axis(r, vals[..., None], axis=2)[..., 0]
            p_raw = np.prod(pv, axis=1)
            p_64 = np.prod(pv / r.sum(axis=2), axis=1)
            measured = max(measured, 0.5 * float(np.abs(p_raw - p_64).sum()))
    else:
        gen = np.random.default_rng(rng)
        t = gen.random((num_contexts, 1))
        ctx = np.where(gen.random((num_contexts, n)) < t, MASK,
                       gen.integers(0, q, (num_contexts, n)))
        ctx[:, 0] = MASK  # at least one masked row per context
        ans = to_host(oracle.conditionals(ctx))
        dtype, eps = ans.dtype, ans.eps
        r = ans.values[ctx == MASK]
        e, d = row_errors(r, eps / 2)
        worst, defect, rows = e, d, int(r.shape[0])
    bound = rounding_bound(worst, n)
    floor = bound if math.isnan(measured) else max(bound, measured)
    status = "warn" if tv is not None and tv < floor else "pass"
    return PrecisionFloorResult(
        passed=status == "pass", status=status, statistic=floor, method="precision-floor",
        floor=floor, bound=bound, measured=measured, max_row_error=worst,
        max_sum_defect=defect, dtype=dtype, eps=eps, rows_seen=rows,
        orders=tuple(name for _, name in arrs), tv=math.nan if tv is None else tv)


def warn_below_floor(oracle: Any, tv: float) -> tuple[float, str]:
    """The floor of an oracle answering below float64 and a note (and a
    :class:`PrecisionWarning`) when ``tv`` is below it; ``(nan, "")`` for float64 answers
    or an oracle that cannot be probed."""
    try:
        _, eps = answer_eps(oracle)
    except Exception:  # the check itself reports a broken oracle, with its query
        return math.nan, ""
    if not eps > _F64_EPS:
        return math.nan, ""
    floor = precision_floor(oracle, rng=0).floor
    if tv < floor:
        note = (f"the requested tv = {tv:g} is below the oracle's precision floor {floor:.3g} "
                "(the chain-rule-law TV its rounding alone can cause): a deviation that "
                "small is not distinguishable from rounding")
        warnings.warn(note, PrecisionWarning, stacklevel=3)
        return floor, note
    return floor, ""
