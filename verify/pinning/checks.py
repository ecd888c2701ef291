"""Checks of the pinning lemma: the entropy profile, the identities and the TV bounds.

Each check returns a :class:`~verify.pinning.results.PinningCheckResult` with both
sides of its inequality or identity (issue 4 item 2); :func:`pinning_checks` runs
every check that applies to a target.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from distributions.base import DiscreteOracle
from distributions.errors import ParameterError
from distributions.validation import check_float
from verify.pinning.estimates import entropy_profile, expected_block_kl
from verify.pinning.exact import (
    _EXACT,
    _exact_block,
    _exact_cmi,
    _exact_profile,
    _Subsets,
    _subsets_for,
)
from verify.pinning.inputs import (
    SeedLike,
    _check_block,
    _check_target,
    _exact_ok,
    _seed_of,
    _table_of,
)
from verify.pinning.results import EntropyProfileResult, PinningCheckResult, TreeTVResult
from verify.pinning.tree import recursion_levels, tree_tv

__all__ = [
    "check_entropy_monotone",
    "check_entropy_sum",
    "check_mutual_information_identity",
    "check_kl_identity",
    "check_kl_bound",
    "check_level_bounds",
    "check_tree_bound",
    "pinning_checks",
]


def _worst(diff: np.ndarray) -> str:
    d = np.atleast_1d(diff)
    k = int(np.argmax(d))
    return f"largest violation lhs - rhs = {d[k]:.3g} at index {k}" if d.size > 1 else ""


def _deviation(lhs: Any, rhs: Any, relation: str) -> float:
    """``max(lhs - rhs)`` for ``"<="``, ``max |lhs - rhs|`` for ``"=="`` (NaN if empty)."""
    d = np.asarray(lhs, dtype=np.float64) - np.asarray(rhs, dtype=np.float64)
    if d.size == 0:
        return math.nan
    return float(np.max(np.abs(d)) if relation == "==" else np.max(d))


def _result(
    name: str,
    passed: bool,
    lhs: Any,
    rhs: Any,
    relation: str,
    tol: float,
    method: str,
    detail: str = "",
    *,
    num_samples: int | None = None,
    pvalue: float = math.nan,
    alpha: float = 0.0,
    seed: int | None = None,
) -> PinningCheckResult:
    """The check record, with the shared protocol's fields as documented on the class."""
    return PinningCheckResult(
        passed=bool(passed),
        statistic=_deviation(lhs, rhs, relation),
        pvalue=pvalue,
        alpha=alpha,
        num_samples=int(num_samples or 0),
        detectable_tv=float(tol),
        seed=seed,
        method=method,
        name=name,
        lhs=lhs,
        rhs=rhs,
        relation=relation,
        tolerance=tol,
        detail=detail,
    )


def check_entropy_monotone(
    profile: EntropyProfileResult, *, tol: float = 1e-9, alpha: float = 0.01
) -> PinningCheckResult:
    """``h_{t+1} <= h_t`` for every ``t`` (pinning never raises the entropy).

    Exact profiles are compared up to ``tol``. For an estimated profile with its
    per-draw values, each difference ``h_{t+1} - h_t > tol`` is tested one-sided
    (paired t-test over the draws: the same draw gives both; ``tol`` absorbs the
    rounding of per-draw entropies that are equal in exact arithmetic, as on a
    product target) and the family is Holm-corrected at ``alpha`` (the result's
    ``pvalue`` is the smallest Holm-adjusted p-value); without draws it passes
    unless the interval of ``h_{t+1}`` lies wholly above that of ``h_t``.

    Parameters
    ----------
    profile : EntropyProfileResult
    tol : float, default 1e-9
        ``>= 0``.
    alpha : float, default 0.01
        Level of the Holm-corrected family, in (0, 1).

    Returns
    -------
    PinningCheckResult
    """
    tol = check_float("tol", tol, low=0.0)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    detail = ""
    pvalue, level = math.nan, 0.0
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
        reject, adjusted = multipletests(pv, alpha=alpha, method="holm")[:2]
        passed = not bool(reject.any())
        pvalue, level = float(np.min(adjusted)), alpha
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
    return _result(
        "h_t non-increasing", passed, lhs, rhs, "<=", tol, profile.method, detail,
        num_samples=profile.num_orders, pvalue=pvalue, alpha=level,
    )


def check_entropy_sum(profile: EntropyProfileResult, *, tol: float = 1e-9) -> PinningCheckResult:
    """``sum_t (h_t - h_{t+1}) = h_0 - h_{n-1} <= h_0 <= log q`` (up to ``tol``).

    For an estimated profile the sides are the interval ends (the largest
    plausible ``h_0 - h_{n-1}`` and the smallest plausible ``h_0``).

    Parameters
    ----------
    profile : EntropyProfileResult
    tol : float, default 1e-9
        ``>= 0``; the rounding allowed on exact values.

    Returns
    -------
    PinningCheckResult
    """
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
    return _result(
        "sum_t (h_t - h_{t+1}) <= log q", bool(ok), lhs, math.log(profile.q), "<=",
        tol, profile.method, f"h_0 = {h0:.6g}", num_samples=profile.num_orders,
    )


def _exact_sub(target: DiscreteOracle) -> _Subsets:
    n, q = _check_target(target)
    table = _table_of(target)
    if table is None or not _exact_ok(n, q):
        raise ParameterError(
            "`target` must be Enumerable with n <= 12 for an exact identity check; "
            f"got {type(target).__name__} with n = {n}, q = {q}."
        )
    return _subsets_for(target, table)


def check_mutual_information_identity(
    target: DiscreteOracle, *, tol: float = 1e-9
) -> PinningCheckResult:
    """``h_t - h_{t+1}`` equals the average pairwise conditional mutual information.

    The right side, ``E_{|P| = t, i != j not in P} I(X_i; X_j | X_P)``, is computed
    directly from the joint tables of ``(X_P, X_i, X_j)`` (exact targets only).

    Parameters
    ----------
    target : DiscreteOracle
        Enumerable, with :func:`~verify.pinning.exact_available` true.
    tol : float, default 1e-9
        ``>= 0``; the rounding allowed on exact values.

    Returns
    -------
    PinningCheckResult

    Examples
    --------
    >>> from distributions.families import random_table
    >>> res = check_mutual_information_identity(random_table(4, 2, rng=0))
    >>> res.passed, res.status, res.relation
    (True, 'pass', '==')
    """
    tol = check_float("tol", tol, low=0.0)
    sub = _exact_sub(target)
    h = _exact_profile(sub)
    lhs = h[:-1] - h[1:]
    rhs = np.array([_exact_cmi(sub, t) for t in range(sub.n - 1)])
    diff = np.abs(lhs - rhs) - tol
    passed = bool((diff <= 0).all()) if diff.size else True
    return _result(
        "h_t - h_{t+1} = mean pairwise CMI", passed, lhs, rhs, "==", tol, _EXACT,
        "" if passed else _worst(diff),
    )


def check_kl_identity(
    target: DiscreteOracle, a: int, b: int, *, tol: float = 1e-9
) -> PinningCheckResult:
    """``E KL(mu_S || nu_S) = sum_{j=a+1..b} (h_a - h_{j-1})`` (exact targets).

    Parameters
    ----------
    target : DiscreteOracle
        Enumerable, with :func:`~verify.pinning.exact_available` true.
    a, b : int
        ``0 <= a < b <= n``.
    tol : float, default 1e-9
        ``>= 0``; the rounding allowed on exact values.

    Returns
    -------
    PinningCheckResult
    """
    tol = check_float("tol", tol, low=0.0)
    sub = _exact_sub(target)
    a, b = _check_block(a, b, sub.n)
    h = _exact_profile(sub)
    lhs = _exact_block(sub, a, b)[1]
    rhs = float(sum(h[a] - h[j - 1] for j in range(a + 1, b + 1)))
    passed = abs(lhs - rhs) <= tol
    return _result(
        f"E KL(mu_S||nu_S) = sum_j (h_a - h_(j-1)), (a, b) = ({a}, {b})", passed, lhs, rhs,
        "==", tol, _EXACT, f"difference {lhs - rhs:.3g}",
    )


def check_kl_bound(
    target: DiscreteOracle,
    a: int,
    b: int,
    *,
    orders: int | None = None,
    rng: SeedLike = None,
    tol: float = 1e-9,
) -> PinningCheckResult:
    """``E KL(mu_S || nu_S) <= |S| (h_a - h_b)`` (with ``h_n = 0``).

    Exact for ``orders=None``; with sampled orders it passes unless the KL
    interval lies wholly above the bound's interval.

    Parameters
    ----------
    target : DiscreteOracle
    a, b : int
        ``0 <= a < b <= n``.
    orders : int, optional
        None: exact; an integer ``>= 2``: that many random orders (or draws).
    rng : seed or Generator, optional
        An integer seed is recorded in the result.
    tol : float, default 1e-9
        ``>= 0``; the rounding allowed on exact values.

    Returns
    -------
    PinningCheckResult
    """
    tol = check_float("tol", tol, low=0.0)
    seed = _seed_of(rng)
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
    return _result(
        f"E KL(mu_S||nu_S) <= |S|(h_a - h_b), (a, b) = ({kl.a}, {kl.b})", bool(passed),
        kl.value, rhs, "<=", tol if kl.exact else 0.0, kl.method,
        num_samples=kl.num_orders, seed=seed,
    )


def check_level_bounds(tree: TreeTVResult) -> PinningCheckResult:
    """Every level: ``sum over its blocks of E TV <= sqrt(n log q / 2)``.

    Estimated sums pass unless a level's interval lies wholly above the bound.

    Parameters
    ----------
    tree : TreeTVResult

    Returns
    -------
    PinningCheckResult
    """
    passed = bool(tree.level_passed.all())
    lhs = tree.level_sums if tree.num_orders is None else tree.level_intervals[:, 0]
    return _result(
        "per-level sum E TV <= sqrt(n log q / 2)", passed, tree.level_sums,
        tree.level_bound, "<=", 0.0, tree.method,
        "" if passed else _worst(lhs - tree.level_bound), num_samples=tree.num_orders,
    )


def check_tree_bound(tree: TreeTVResult) -> PinningCheckResult:
    """Whole tree: ``E sum_S TV <= ceil(log2 n) sqrt(n log q / 2)``.

    An estimated sum passes unless its interval lies wholly above the bound.

    Parameters
    ----------
    tree : TreeTVResult

    Returns
    -------
    PinningCheckResult
    """
    passed = tree.interval[0] <= tree.tree_bound * (1 + 1e-12)
    return _result(
        "tree sum E TV <= ceil(log2 n) sqrt(n log q / 2)", bool(passed), tree.value,
        tree.tree_bound, "<=", 0.0, tree.method, num_samples=tree.num_orders,
    )


def pinning_checks(
    target: DiscreteOracle,
    *,
    orders: int | None = None,
    rng: SeedLike = None,
    tol: float = 1e-9,
) -> tuple[PinningCheckResult, ...]:
    """Every check of issue 4 item 2 that applies to ``target``.

    Exact (``orders=None``): monotonicity and sum of ``h_t``, the CMI identity,
    the KL identity and bound for every ``0 <= a < b <= n``, the per-level and
    whole-tree TV bounds. With sampled orders the identities are skipped (they
    hold only in expectation over orders) and the KL bound is checked on the
    tree's blocks.

    Parameters
    ----------
    target : DiscreteOracle
    orders : int, optional
        None: exact (Enumerable target); an integer ``>= 2``: random orders.
    rng : seed or Generator, optional
    tol : float, default 1e-9
        ``>= 0``; the rounding allowed on exact values.

    Returns
    -------
    tuple of PinningCheckResult
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
