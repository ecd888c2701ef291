"""The speculative Gaussian-transition chain: draft a window, verify it in one round,
accept step by step with the reflection maximal coupling (Galashov et al. 2025).

One kernel, :func:`speculative_chain`, serves the speculative diffusion sampler
(:class:`samplers.diffusion.SpeculativeDiffusionSampler`) and the speculative
Langevin sampler (:class:`samplers.langevin.SpeculativeLangevinSampler`). Both
simulate a chain with Gaussian transitions

    x_{k+1} = x_k + h_k f(t_k, x_k) + sqrt(h_k) xi_k,

given ``x_s`` and the target drift ``m_s = f(t_s, x_s)`` at the start of a window
(for the unadjusted Langevin chain ``h = 2 gamma`` and ``f = grad log pi / 2``).

Draft. Step 0 of a window uses the known ``m_s`` (free and exact). Steps
``k >= 1`` use the draft drift ``g_k``: the frozen ``m_s`` (the training-free draft),
or an independent draft model evaluated at the drafted state, one draft call per
drafted step (sequential, counted as draft queries, not as rounds of the target).

Verification. The target drift is evaluated at every drafted state in one round.
Step ``k`` is accepted with probability ``min(1, exp(-<z, D> - |D|^2 / 2))``,
``z = xi_k``, ``D = sqrt(h_k) (g_k - f_k)``. At the first rejection the step is
replaced by ``x_k + h_k f_k + sqrt(h_k) (z - 2 <e, z> e)``, ``e = D / |D|`` (the
reflection coupling: given the past, the step has exactly the target transition
law ``N(x_k + h_k f_k, h_k I)``), and the next window starts there after one round
for the target drift at the new state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from distributions.errors import ParameterError
from samplers.base import Budget, RandomSource

__all__ = ["SpeculativeDiffusionSteps", "ChainRun", "speculative_chain", "check_steps"]

#: A counted drift ``(t of shape (B,), x of shape (B, d)) -> (B, d)``.
Drift = Callable[[np.ndarray, np.ndarray], np.ndarray]


class SpeculativeDiffusionSteps:
    """The steps of the speculative chain that a variant may change (the ``steps=``
    strategy of the speculative diffusion and Langevin samplers); the defaults are
    the exact algorithm."""

    def log_accept(self, z: np.ndarray, dvec: np.ndarray) -> np.ndarray:
        """``min(0, -<z, D> - |D|^2 / 2)``: log of the per-step acceptance probability."""
        return np.minimum(0.0, -(z * dvec).sum(axis=-1) - 0.5 * (dvec * dvec).sum(axis=-1))

    def reflect(self, z: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Householder reflection ``z - 2 <e, z> e`` of the rejected draft noise."""
        return z - 2.0 * (z * e).sum(axis=-1, keepdims=True) * e

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_steps(steps: object, kind: type) -> object:
    """``steps`` (default ``kind()``), checked to be a ``kind`` instance."""
    if steps is None:
        return kind()
    if not isinstance(steps, kind):
        raise ParameterError(
            f"`steps` must be a {kind.__name__} instance; got {type(steps).__name__}."
        )
    return steps


@dataclass(frozen=True, kw_only=True)
class ChainRun:
    """Result of :func:`speculative_chain` (per sample unless stated)."""

    x: np.ndarray
    drift: np.ndarray
    rounds: np.ndarray
    queries: np.ndarray
    draft_queries: np.ndarray
    records: dict[str, np.ndarray]


def speculative_chain(
    target: Drift,
    draft: Drift | None,
    times: np.ndarray,
    hs: np.ndarray,
    x0: np.ndarray,
    m0: np.ndarray,
    *,
    window: int,
    src: RandomSource,
    budget: Budget,
    steps: SpeculativeDiffusionSteps,
    positions: np.ndarray,
) -> ChainRun:
    """Run the speculative chain from ``x0`` (drift ``m0`` known) to step ``N``.

    Parameters
    ----------
    target, draft : callable ``(t, x) -> drift``
        The counted target drift and the draft drift (``None``: frozen draft).
    times : ndarray, shape (N + 1,)
        ``t_k`` passed to the drifts.
    hs : ndarray, shape (N,)
        Step sizes ``h_k``.
    x0, m0 : ndarray, shape (num, d)
        Start and its target drift (the caller charges the round that computed it).
    window, src, budget, steps
        Drafted steps per window, the random source, the budget, the strategy.
    positions : ndarray of int, shape (num,)
        Updated in place (the budget's diagnosis reads it).

    Returns
    -------
    ChainRun
        End points, their drifts, rounds and target queries (excluding ``m0``'s),
        draft queries and the per-step records ``step_dnorm``, ``step_accepted``,
        ``step_sample``, ``step_index`` (evaluated steps with ``D != 0`` up to and
        including a window's first rejection).
    """
    num, d = x0.shape
    n_steps, w = hs.shape[0], window
    pos = positions
    x, m = x0.copy(), m0.copy()
    rounds = np.zeros(num, dtype=np.int64)
    queries = np.zeros(num, dtype=np.int64)
    dq = np.zeros(num, dtype=np.int64)
    rec: dict[str, list[np.ndarray]] = {"d": [], "a": [], "s": [], "k": []}
    while True:
        idx = np.flatnonzero(pos < n_steps)
        if not idx.size:
            break
        budget.check_time()
        s = pos[idx]
        lens = np.minimum(w, n_steps - s)
        lmax = int(lens.max())
        kk = np.arange(lmax)
        valid = kk[None, :] < lens[:, None]
        step = np.minimum(s[:, None] + kk[None, :], n_steps - 1)
        h = np.where(valid, hs[step], 0.0)
        sh = np.sqrt(h)
        xi = src.normal((idx.size, lmax, d))
        ms = m[idx]
        g = np.broadcast_to(ms[:, None, :], (idx.size, lmax, d)).copy()  # draft drifts
        if draft is None:
            delta = h[:, :, None] * g + sh[:, :, None] * xi
            path = x[idx][:, None, :] + np.cumsum(delta, axis=1)  # x_{s+1..s+lmax}
        else:
            path = np.zeros((idx.size, lmax, d))
            cur = x[idx]
            for k in range(lmax):
                if k:
                    rows = np.flatnonzero(valid[:, k])
                    g[rows, k] = draft(times[s[rows] + k], cur[rows])
                    dq[idx[rows]] += 1
                cur = cur + h[:, k, None] * g[:, k] + sh[:, k, None] * xi[:, k]
                path[:, k] = cur
        fv = np.zeros((idx.size, lmax, d))
        tq = times[np.minimum(s[:, None] + kk[None, :] + 1, n_steps)]
        fv[valid] = target(tq[valid], path[valid])
        rounds[idx] += 1
        queries[idx] += lens
        targets = np.concatenate([ms[:, None, :], fv[:, :-1]], axis=1)  # f at x_{s+k}
        dvec = sh[:, :, None] * (g - targets)
        logp = np.where(valid, steps.log_accept(xi, dvec), 0.0)
        acc = src.coin(logp.reshape(-1)).reshape(idx.size, lmax) | ~valid
        rejected = ~acc.all(axis=1)
        kstar = np.where(rejected, np.argmax(~acc, axis=1), lens)
        dn = np.sqrt((dvec * dvec).sum(axis=2))
        seen = valid & (kk[None, :] <= kstar[:, None]) & (dn > 0)
        rec["d"].append(dn[seen])
        rec["a"].append(acc[seen])
        rec["s"].append(np.broadcast_to(idx[:, None], seen.shape)[seen])
        rec["k"].append((s[:, None] + kk[None, :])[seen])
        # all accepted: move to the window end, drift already known
        rows = np.flatnonzero(~rejected)
        last = lens[rows] - 1
        x[idx[rows]] = path[rows, last]
        m[idx[rows]] = fv[rows, last]
        pos[idx[rows]] = s[rows] + lens[rows]
        # first rejection at kstar: reflect, restart there
        rows = np.flatnonzero(rejected)
        if rows.size:
            k = kstar[rows]
            xk = np.where((k == 0)[:, None], x[idx[rows]], path[rows, np.maximum(k - 1, 0)])
            hk = h[rows, k]
            dk = dvec[rows, k]
            e = dk / np.sqrt((dk * dk).sum(axis=1, keepdims=True))
            zr = steps.reflect(xi[rows, k], e)
            xnew = xk + hk[:, None] * targets[rows, k] + np.sqrt(hk)[:, None] * zr
            newpos = s[rows] + k + 1
            x[idx[rows]] = xnew
            pos[idx[rows]] = newpos
            m[idx[rows]] = target(times[newpos], xnew)
            rounds[idx[rows]] += 1
            queries[idx[rows]] += 1
        if budget.max_rounds is not None:
            worst = int(idx[np.argmax(rounds[idx])])
            budget.check_rounds(int(rounds[worst]) + 1, f"sample {worst}")
    cat = {
        "step_dnorm": (rec["d"], np.float64), "step_accepted": (rec["a"], bool),
        "step_sample": (rec["s"], np.int64), "step_index": (rec["k"], np.int64),
    }
    records = {k: np.concatenate(v) if v else np.zeros(0, dtype=dt) for k, (v, dt) in cat.items()}
    return ChainRun(x=x, drift=m, rounds=rounds, queries=queries, draft_queries=dq,
                    records=records)
