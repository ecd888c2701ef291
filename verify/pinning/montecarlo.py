"""Monte Carlo pinning estimators for oracles without a table (the scalable families).

``R`` independent pairs ``(sigma, x)`` with ``x ~ mu`` drawn by the target's
``sample``. Given the context ``x_P`` the block TV is exact when ``q**|S|`` is at
most :func:`enum_limit` (chain-rule conditionals of every ``x_S``), and otherwise
the unbiased importance-sampling estimate ``E_{x_S ~ mu_S}[(1 - nu_S(x_S) /
mu_S(x_S))_+] = TV`` with ``x_S`` the block of the exact sample ``x``; the KL is
the Rao-Blackwellised chain ``sum_j KL(mu(. | x_P, x_S<j) || mu(. | x_P))``.
"""

from __future__ import annotations

import numpy as np

from distributions.base import MASK, DiscreteOracle
from distributions.errors import ParameterError
from distributions.oracle_utils import positional_conditionals
from verify.pinning.numerics import _CHUNK_CELLS
from verify.pinning.sampled import _random_orders

__all__ = ["MAX_BLOCKS_PER_LEVEL", "enum_limit"]

#: Blocks evaluated per level and replicate by the Monte Carlo tree estimator; the
#: rest of the level is represented by a uniform sample of blocks (unbiased).
MAX_BLOCKS_PER_LEVEL: int = 64


def _positional(
    target: DiscreteOracle, ctx: np.ndarray, pos: np.ndarray, chain: np.ndarray | None
) -> np.ndarray:
    if hasattr(target, "conditionals_at"):
        return np.asarray(target.conditionals_at(ctx, pos, chain), dtype=np.float64)
    return positional_conditionals(target.conditionals, ctx, pos, chain)


def enum_limit(n: int) -> int:
    """Largest ``q**|S|`` enumerated exactly by the Monte Carlo estimators at length ``n``.

    Above it a block's TV given its context is estimated by importance sampling.

    Parameters
    ----------
    n : int
        Sequence length.

    Returns
    -------
    int
        ``max(4, min(1024, 65536 // n))``.

    Examples
    --------
    >>> enum_limit(16), enum_limit(1024)
    (1024, 64)
    """
    return max(4, min(1024, 65536 // max(n, 1)))


def _take(rows: np.ndarray, vals: np.ndarray) -> np.ndarray:
    return np.take_along_axis(rows, vals[..., None], axis=-1)[..., 0]


def _log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


def _block_given_context(
    target: DiscreteOracle,
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


def _mc_draws(
    target: DiscreteOracle, R: int, gen: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
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
    target: DiscreteOracle, a: int, b: int, R: int, gen: np.random.Generator
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




def _mc_tree(
    target: DiscreteOracle, levels: list[list[tuple[int, int]]], R: int, gen: np.random.Generator
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

