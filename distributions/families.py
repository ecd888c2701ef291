"""Small-graph target families with exact tables (DESIGN 3.1, issue 2 item 3).

Every function returns a :class:`~distributions.table.TableDistribution`. Log
weights are accumulated in log space over the full ``(q,)*n`` grid (one broadcast
add per edge) and normalised with log-sum-exp
(:meth:`TableDistribution.from_log_weights`), so no weight overflows.

Extreme parameters (issue 18 item 18). A log weight summed from ``k`` terms of
total magnitude ``S`` is off by at most ``(k + 3) * 2**-53 * S`` (first order,
products and the normalisation included); when that bound exceeds
:data:`~distributions._numerics.LOG_WEIGHT_TOL` (``1e-8``) float64 can no longer
resolve the law (e.g. ``couplings = 1e20`` with a unit field: the field is lost in
the rounding of the coupling terms) and :func:`ising` and :func:`potts` raise
:class:`ParameterError` naming the parameters and the bound. Accepted parameters
give probabilities and conditionals correct to a relative ``~2e-8`` at worst
(typically ``1e-15``). :func:`hardcore` is always resolvable (``|log fugacity| <=
745`` and ``n <= 20``) and :func:`random_table` draws its Gamma variates in a scaled
log space, so neither refuses a finite parameter.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from distributions._numerics import LOG_WEIGHT_TOL, UNIT_ROUNDOFF, fmt_log, log_abs_sum
from distributions.errors import ParameterError
from distributions.table import MAX_TABLE_SIZE, TableDistribution
from distributions.validation import check_float, check_int, short_repr

__all__ = ["random_table", "ising", "potts", "hardcore"]


# ---------------------------------------------------------------------- validation
def _check_table_size(n: int, q: int) -> None:
    size = q**n
    if size > MAX_TABLE_SIZE:
        raise ParameterError(
            f"the table size q**n must be <= {MAX_TABLE_SIZE} (2**20); got {q}**{n} = {size}."
        )


def _check_square(name: str, value: Any, *, symmetric: bool = True) -> np.ndarray:
    """A finite, symmetric ``(n, n)`` float matrix with ``n >= 1``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"`{name}` must be a real (n, n) matrix; got {short_repr(value)}."
        ) from exc
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise ParameterError(f"`{name}` must have shape (n, n) with n >= 1; got shape {arr.shape}.")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ParameterError(
            f"`{name}` must be finite; got {float(arr[where])!r} at index {where}."
        )
    if symmetric:
        asym = arr != arr.T
        if asym.any():
            i, j = (int(k) for k in np.argwhere(asym)[0])
            raise ParameterError(
                f"`{name}` must be symmetric; got {float(arr[i, j])!r} at ({i}, {j}) "
                f"but {float(arr[j, i])!r} at ({j}, {i})."
            )
    return arr


def _log_table(
    n: int, q: int, unary: np.ndarray | None, pairs: list[tuple[int, int, np.ndarray]]
) -> np.ndarray:
    """``sum_i unary[i, x_i] + sum_(i,j) M_ij[x_i, x_j]`` on the grid ``(q,)*n``."""
    logw = np.zeros((q,) * n)
    if unary is not None:
        for i in range(n):
            shape = [1] * n
            shape[i] = q
            logw += unary[i].reshape(shape)
    for i, j, mat in pairs:
        shape = [1] * n
        shape[i] = q
        shape[j] = q
        logw += mat.reshape(shape)  # i < j, so mat's axes line up in order
    return logw


def _from_log(logw: np.ndarray) -> TableDistribution:
    return TableDistribution.from_log_weights(logw)


def _check_resolvable(names: str, k: int, beta: float, parts: dict[str, np.ndarray]) -> None:
    """Refuse log weights float64 cannot resolve: ``(k + 3) u |beta| sum |terms|``."""
    logs = {name: log_abs_sum(v) for name, v in parts.items()}
    finite = [v for v in logs.values() if math.isfinite(v)]
    if beta == 0.0 or not finite:
        return
    top = max(finite)
    log_sum = top + math.log(sum(math.exp(v - top) for v in finite))
    log_bound = math.log((k + 3) * UNIT_ROUNDOFF) + math.log(abs(beta)) + log_sum
    if log_bound > math.log(LOG_WEIGHT_TOL):
        got = ", ".join(f"{name} = {fmt_log(v)}"
                        for name, v in logs.items())
        raise ParameterError(
            f"{names} must keep the log weights resolvable in float64: (k + 3) * 2**-53 * "
            f"|beta| * ({' + '.join(parts)}) must be <= {LOG_WEIGHT_TOL:g} (k = {k} terms); "
            f"got |beta| = {abs(beta):.3g}, {got} (bound {fmt_log(log_bound)})."
        )


# ---------------------------------------------------------------------- families
def random_table(
    n: int, q: int, *, concentration: float = 1.0, rng: Any = None
) -> TableDistribution:
    """A law on ``[q]^n`` drawn from the symmetric Dirichlet(``concentration``).

    Parameters
    ----------
    n : int
        Sequence length, ``n >= 1``.
    q : int
        Alphabet size, ``q >= 2``; ``q**n <= 2**20``.
    concentration : float, default 1.0
        Dirichlet parameter ``> 0``; small values give spiky tables.
    rng : seed, Generator or SeedSequence, optional

    Returns
    -------
    TableDistribution

    Notes
    -----
    Gamma variates are drawn in log space (``log G(a) = log G(a+1) + log(U)/a``),
    so tiny concentrations do not underflow every cell to zero; for ``a < 1`` the
    log weights are formed as ``(a log G(a+1) + log U - top) / a`` so that even a
    subnormal concentration does not overflow (the law is then a point mass up to
    rounding, as the Dirichlet is).
    """
    n = check_int("n", n, low=1)
    q = check_int("q", q, low=2)
    _check_table_size(n, q)
    a = check_float("concentration", concentration, low=0.0, low_open=True)
    gen = np.random.default_rng(rng)
    size = q**n
    log_g1 = np.log(gen.gamma(a + 1.0, size=size))
    log_u = np.log1p(-gen.random(size))
    # terms that underflow are negligible next to the others (correctly rounded)
    with np.errstate(under="ignore", over="ignore"):
        if a >= 1.0:
            log_g = log_g1 + log_u / a  # |log_u / a| <= 745
        else:
            # log(u) / a overflows for tiny a: scale by a, subtract the top, then
            # divide; a difference overflowing to -inf is a weight that rounds to 0
            scaled = a * log_g1 + log_u
            log_g = (scaled - scaled.max()) / a
    return _from_log(log_g.reshape((q,) * n))


def ising(
    couplings: Any, field: Any = None, *, beta: float = 1.0
) -> TableDistribution:
    """Ising model on a small graph.

    ``mu(x) ∝ exp(beta * (sum_{i<j} J_ij s_i s_j + sum_i h_i s_i))`` with spins
    ``s = 2x - 1``.

    Parameters
    ----------
    couplings : array_like, shape (n, n)
        Symmetric finite matrix ``J``; its diagonal is ignored. ``2**n <= 2**20``.
    field : array_like, shape (n,), optional
        Finite external field ``h`` (default zero).
    beta : float, default 1.0
        Finite inverse temperature.

    Returns
    -------
    TableDistribution

    Raises
    ------
    ParameterError
        Also when ``(k + 3) * 2**-53 * |beta| * (sum_{i<j} |J_ij| + sum_i |h_i|)``
        exceeds ``1e-8`` (``k`` = non-zero couplings + ``n``): float64 cannot
        resolve such log weights (see the module notes).
    """
    J = _check_square("couplings", couplings)
    n = J.shape[0]
    _check_table_size(n, 2)
    if field is None:
        h = np.zeros(n)
    else:
        try:
            h = np.asarray(field, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"`field` must be a real array of shape ({n},); "
                                 f"got {short_repr(field)}.") from exc
        if h.shape != (n,):
            raise ParameterError(f"`field` must have shape ({n},); got shape {h.shape}.")
        if not np.isfinite(h).all():
            k = int(np.argmin(np.isfinite(h)))
            raise ParameterError(f"`field` must be finite; got {float(h[k])!r} at index {k}.")
    beta = check_float("beta", beta)
    upper = J[np.triu_indices(n, 1)]
    k = int(np.count_nonzero(upper)) + n
    _check_resolvable("`couplings`, `field` and `beta`", k, beta,
                      {"sum_{i<j} |J_ij|": upper, "sum_i |h_i|": h})
    spin = np.array([-1.0, 1.0])
    with np.errstate(under="ignore"):  # a log-weight term below 1e-308 is negligible
        unary = beta * h[:, None] * spin[None, :]
        ss = np.outer(spin, spin)
        pairs = [(i, j, beta * J[i, j] * ss) for i in range(n) for j in range(i + 1, n)
                 if J[i, j]]
        logw = _log_table(n, 2, unary, pairs)
    return _from_log(logw)


def potts(couplings: Any, q: int, *, beta: float = 1.0) -> TableDistribution:
    """Potts model on a small graph: ``mu(x) ∝ exp(beta * sum_{i<j} J_ij [x_i == x_j])``.

    Parameters
    ----------
    couplings : array_like, shape (n, n)
        Symmetric finite matrix ``J``; its diagonal is ignored.
    q : int
        Number of colours, ``q >= 2``; ``q**n <= 2**20``.
    beta : float, default 1.0
        Finite inverse temperature.

    Returns
    -------
    TableDistribution

    Raises
    ------
    ParameterError
        Also when ``(k + 3) * 2**-53 * |beta| * sum_{i<j} |J_ij|`` exceeds ``1e-8``
        (``k`` = non-zero couplings): float64 cannot resolve such log weights.
    """
    J = _check_square("couplings", couplings)
    n = J.shape[0]
    q = check_int("q", q, low=2)
    _check_table_size(n, q)
    beta = check_float("beta", beta)
    upper = J[np.triu_indices(n, 1)]
    _check_resolvable("`couplings` and `beta`", int(np.count_nonzero(upper)), beta,
                      {"sum_{i<j} |J_ij|": upper})
    eye = np.eye(q)
    with np.errstate(under="ignore"):  # a log-weight term below 1e-308 is negligible
        pairs = [(i, j, beta * J[i, j] * eye) for i in range(n) for j in range(i + 1, n)
                 if J[i, j]]
        logw = _log_table(n, q, None, pairs)
    return _from_log(logw)


def hardcore(adjacency: Any, fugacity: float) -> TableDistribution:
    """Hard-core model: independent sets of a graph, weight ``fugacity**|set|``.

    ``x_i = 1`` means vertex ``i`` is in the set. Configurations that are not
    independent sets have probability exactly 0, so this family has
    zero-probability contexts.

    Parameters
    ----------
    adjacency : array_like of {0, 1} or bool, shape (n, n)
        Symmetric adjacency matrix with a zero diagonal; ``2**n <= 2**20``.
    fugacity : float
        Finite ``> 0``.

    Returns
    -------
    TableDistribution
    """
    A = _check_square("adjacency", adjacency)
    n = A.shape[0]
    if not np.isin(A, (0.0, 1.0)).all():
        i, j = (int(k) for k in np.argwhere(~np.isin(A, (0.0, 1.0)))[0])
        raise ParameterError(
            f"`adjacency` entries must be 0 or 1; got {float(A[i, j])!r} at ({i}, {j})."
        )
    if np.diag(A).any():
        i = int(np.argmax(np.diag(A) != 0))
        raise ParameterError(f"`adjacency` must have a zero diagonal; got 1 at ({i}, {i}).")
    _check_table_size(n, 2)
    lam = check_float("fugacity", fugacity, low=0.0, low_open=True)
    unary = np.tile(np.array([0.0, np.log(lam)]), (n, 1))
    block = np.array([[0.0, 0.0], [0.0, -np.inf]])
    pairs = [(i, j, block) for i in range(n) for j in range(i + 1, n) if A[i, j]]
    return _from_log(_log_table(n, 2, unary, pairs))
