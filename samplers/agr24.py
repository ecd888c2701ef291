"""AGR24-style baseline: parallel sampling by guessing and checking (DESIGN 4.3).

One *round-pair* of the sampler, for each sample with ``t`` coordinates fixed::

    S = sigma(t+1 .. t+L),  L = min(k, n - t)
    ROUND 1: prefix marginals p_j = mu(X_{S_j} | x_P)               (1 query)
    guesses  g_j = argmin_a E_ja / p_j(a)     (shared exponential clocks E_j)
    ROUND 2: chain-rule conditionals along the guesses
             c_j = mu(X_{S_j} | x_P, g_1 .. g_{j-1}),  j = 2..L       (L - 1 queries)
    truth    x_j = argmin_a E_ja / c_j(a)     (the same clocks; c_1 = p_1, so x_1 = g_1)
    keep x_1 .. x_{j*}, j* = first j with x_j != g_j (or L): the agreeing prefix
    and the first corrected coordinate.

Exactness: define ``y_j = argmin_a E_ja / mu(X_{S_j} = a | x_P, y_{<j})``; ``y`` is an
exact chain-rule draw, and by induction ``x_j = y_j`` for ``j <= j*`` (the guesses
agree with ``y`` before ``j*``, so ``c_j`` is the true conditional). ``j*`` is a
stopping time of the clocks, so restarting from ``x_P + y_{1..j*}`` with fresh
clocks is exact.

Distributional clocks
---------------------
All randomness goes through a :class:`~samplers.base.RandomSource` (so that an
enumerating source can compute the sampler's exact law), therefore the clocks are
never drawn. Instead ``g_j ~ p_j`` is drawn first and, once ``c_j`` is known,
``x_j ~ J[g_j, .] / p_j(g_j)`` where ``J = race_coupling(p_j, c_j)`` is the exact
joint law of the two argmins of the exponential race. Given the guesses, the pairs
``(g_j, x_j)`` are independent across ``j`` (each depends on its own clocks), so all
corrections of a round-pair are drawn in one call; those after ``j*`` are discarded.

Cost accounting (DESIGN 3.3), per sample as if it ran alone: a round-pair with
``L >= 2`` costs 2 rounds and ``L`` queries; a final group with ``L = 1`` costs one
round and one query (its guess is the exact draw).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from distributions.base import MASK, DiscreteOracle
from distributions.errors import ParameterError
from distributions.validation import check_int, check_probability_array
from samplers.base import Budget, RandomSource, SampleResult, as_random_source, check_budget
from samplers.oracle import CountingOracle
from samplers.sequential import resolve_orders

__all__ = ["AGR24Sampler", "AGR24Steps", "race_coupling", "default_block_size"]


# ---------------------------------------------------------------------- coupling
def race_coupling(p: Any, c: Any) -> np.ndarray:
    """Joint law of the two argmins of a shared exponential race.

    With ``E_1, ..., E_q`` iid ``Exp(1)``, ``A = argmin_i E_i / p_i`` and
    ``B = argmin_i E_i / c_i``, returns ``J[..., a, b] = P(A = a, B = b)``.
    Its row sums are ``p``, its column sums ``c``, and its diagonal mass (the
    agreement probability) is at least ``(1 - TV) / (1 + TV)``.

    Parameters
    ----------
    p, c : array_like, shape (..., q)
        Non-negative finite weights with positive sums over the last axis; they are
        normalised to probability vectors. A value of weight zero is never chosen.

    Returns
    -------
    J : ndarray, shape (..., q, q)

    Notes
    -----
    Closed forms (conditioning on ``E_a = e`` and integrating ``e`` out):

    * diagonal: ``J[a, a] = 1 / (1 + sum_{i != a} max(p_i / p_a, c_i / c_a))``;
    * off-diagonal ``a != b``: substituting ``E_b = s E_a``,
      ``J[a, b] = int_{p_b/p_a}^{c_b/c_a} ds / (1 + s + sum_{i != a,b}
      max(p_i/p_a, s c_i/c_b))^2`` (zero if the interval is empty). The integrand
      is ``1 / (alpha + beta s)^2`` between the breakpoints
      ``s_i = (p_i / p_a) (c_b / c_i)``; each piece is integrated exactly as
      ``(s_1 - s_0) / ((alpha + beta s_0) (alpha + beta s_1))`` (or
      ``1 / (beta (alpha + beta s_0))`` up to infinity when ``c_a = 0``).

    Examples
    --------
    >>> import numpy as np
    >>> J = race_coupling([0.5, 0.5], [0.8, 0.2])
    >>> np.round(J, 12)
    array([[0.5, 0. ],
           [0.3, 0.2]])
    """
    P, C = _race_iv(p, c)
    shape = P.shape
    q = shape[-1]
    P2 = P.reshape(-1, q)
    C2 = C.reshape(-1, q)
    m = P2.shape[0]
    a = np.tile(np.arange(q, dtype=np.int64), m)
    rows = _race_rows(np.repeat(P2, q, axis=0), np.repeat(C2, q, axis=0), a)
    return rows.reshape(*shape, q)


def _race_iv(p: Any, c: Any) -> tuple[np.ndarray, np.ndarray]:
    P = check_probability_array("p", p)
    C = check_probability_array("c", c)
    if P.shape != C.shape:
        raise ParameterError(
            f"`p` and `c` must have the same shape (..., q); got {P.shape} and {C.shape}."
        )
    if P.ndim < 1:
        raise ParameterError(f"`p` must have at least 1 axis; got shape {P.shape}.")
    for name, arr in (("p", P), ("c", C)):
        tot = arr.sum(axis=-1)
        if not (tot > 0).all():
            raise ParameterError(
                f"`{name}` must have a positive sum over its last axis; got a row summing "
                f"to {float(tot.reshape(-1)[np.argmin((tot > 0).reshape(-1))])!r}."
            )
    return P / P.sum(axis=-1, keepdims=True), C / C.sum(axis=-1, keepdims=True)


def _race_rows(p: np.ndarray, c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Row ``a[r]`` of ``race_coupling(p[r], c[r])`` for every ``r``; shape (m, q).

    ``p`` and ``c`` are probability rows (m, q); ``p[r, a[r]]`` may be zero (the row
    is then zero). Pure kernel, no validation.
    """
    m, q = p.shape
    r = np.arange(m)
    idx = np.arange(q)
    pa = p[r, a]
    ca = c[r, a]
    pa_pos = pa > 0
    ca_pos = ca > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u = p / np.where(pa_pos, pa, 1.0)[:, None]  # p_i / p_a, (m, i)
        w = c / np.where(ca_pos, ca, 1.0)[:, None]  # c_i / c_a, (m, i)
        other = idx[None, :] != a[:, None]
        M = np.where(other, np.maximum(u, w), 0.0).sum(axis=1)
        diag = np.where(pa_pos & ca_pos, 1.0 / (1.0 + M), 0.0)

        # off-diagonal entries b != a: arrays over (m, b, i)
        cb = c
        cb_pos = cb > 0
        v = c[:, None, :] / np.where(cb_pos, cb, 1.0)[:, :, None]  # c_i / c_b
        keep_i = other[:, None, :] & (idx[None, None, :] != idx[None, :, None])
        U = np.where(keep_i, u[:, None, :], 0.0)
        V = np.where(keep_i, v, 0.0)
        s0 = u  # p_b / p_a, (m, b)
        s1 = np.where(ca_pos[:, None], w, np.inf)  # c_b / c_a
        valid = pa_pos[:, None] & cb_pos & other & (s1 > s0)
        s0 = np.where(valid, s0, 0.0)
        s1 = np.where(valid, s1, 0.0)
        # breakpoint of term i: s v_i = u_i; a term with u_i = 0 is s v_i throughout,
        # one with v_i = 0 < u_i is u_i throughout (both-zero terms vanish).
        T = np.where(V > 0, U / np.where(V > 0, V, 1.0), np.where(U > 0, np.inf, 0.0))
        order = np.argsort(T, axis=-1)
        Ts = np.take_along_axis(T, order, axis=-1)
        Us = np.take_along_axis(U, order, axis=-1)
        Vs = np.take_along_axis(V, order, axis=-1)
        pts = np.clip(Ts, s0[..., None], s1[..., None])
        lo = np.concatenate([s0[..., None], pts], axis=-1)  # (m, b, q+1)
        hi = np.concatenate([pts, s1[..., None]], axis=-1)
        # piece r: sorted terms < r have s > T (slope v), terms >= r have s < T (const u)
        zero = np.zeros((m, q, 1))
        alpha = 1.0 + np.concatenate([np.cumsum(Us[..., ::-1], axis=-1)[..., ::-1], zero], -1)
        beta = 1.0 + np.concatenate([zero, np.cumsum(Vs, axis=-1)], axis=-1)
        den_lo = alpha + beta * lo
        finite = np.isfinite(hi)
        hi_f = np.where(finite, hi, 0.0)
        piece = np.where(
            finite,
            (hi_f - lo) / (den_lo * (alpha + beta * hi_f)),
            1.0 / (beta * den_lo),
        )
        piece = np.where(hi > lo, piece, 0.0)
        off = piece.sum(axis=-1)
    return np.where(other, np.where(valid, off, 0.0), diag[:, None])


# ---------------------------------------------------------------------- sampler
def default_block_size(n: int) -> int:
    """Default guess block ``k = ceil(n^(1/3))`` (exact integer cube root)."""
    n = check_int("n", n, low=1)
    k = max(1, round(n ** (1.0 / 3.0)))
    while k**3 < n:
        k += 1
    while k > 1 and (k - 1) ** 3 >= n:
        k -= 1
    return k


class AGR24Steps:
    """The correction steps of :class:`AGR24Sampler`: the sampler's strategy.

    :class:`AGR24Sampler` takes an instance as ``steps=``; the defaults are the
    exact algorithm. A subclass overriding one method is a variant of the sampler
    (the wrong ones of :mod:`verify.mutants` are built that way). A strategy keeps
    no state from one call to the next.
    """

    def coupling_rows(self, p: np.ndarray, c: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Row ``g[r]`` of ``race_coupling(p[r], c[r])`` for every ``r``; shape (m, q)."""
        return _race_rows(p, c, g)

    def correct(self, source: RandomSource, p: np.ndarray, c: np.ndarray,
                g: np.ndarray) -> np.ndarray:
        """Draw ``x ~ J[g, .] / p(g)`` with ``J = race_coupling(p, c)``, row-wise.

        A zero ``c`` row (its context has probability zero, so an earlier guess was
        already corrected and this draw is discarded) is replaced by ``p``, which
        makes the draw deterministic (``x = g``).
        """
        live = c.sum(axis=1) > 0
        c = np.where(live[:, None], c, p)
        J = self.coupling_rows(p, c, g)
        return source.categorical(J / J.sum(axis=1, keepdims=True))

    def finish(self, g: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values to write and how many to keep (m,): the agreeing prefix and the
        first corrected coordinate (``vals`` equals ``g`` before it)."""
        dis = vals != g
        keep = np.where(dis.any(axis=1), np.argmax(dis, axis=1) + 1, g.shape[1])
        return vals, keep

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AGR24Sampler:
    """Guess ``k`` coordinates from prefix marginals, check them with the chain rule.

    Parameters
    ----------
    oracle : DiscreteOracle
        Wrapped in a :class:`~samplers.oracle.CountingOracle`.
    k : int, optional
        Coordinates guessed per round-pair, ``k >= 1`` (clipped to ``n``). Default
        ``ceil(n^(1/3))`` (:func:`default_block_size`). ``k = 1`` is the sequential
        sampler.
    order : {"random", "identity"} or permutation of range(n), default "random"
        ``"random"`` draws one uniform order per sample.
    validate : bool, default True
        Check every oracle answer (see :class:`~samplers.oracle.CountingOracle`).
    max_rounds : int, optional
        Round budget, ``>= 1``: :meth:`sample` raises
        :class:`~distributions.errors.BudgetExceededError` as soon as one sample's
        rounds exceed it (checked after every round-pair), so every returned sample
        has ``rounds <= max_rounds``. Default ``None``: no round budget.
    timeout : float, optional
        Seconds of wall time allowed per :meth:`sample` call, ``> 0``; checked
        before every round-pair and, on the main thread of a POSIX system, enforced
        by an interval timer that also interrupts a long oracle call (see
        :class:`~samplers.base.Budget`). Default ``None``: no time limit.
    steps : AGR24Steps, optional
        The correction steps (default: the exact ones, ``AGR24Steps()``).

    Notes
    -----
    Exact for every ``k`` (module docstring). Vectorised across samples: each loop
    iteration runs one round-pair for every unfinished sample, with one oracle call
    per distinct block length (at most two in practice). Per-sample ``rounds`` are
    2 per round-pair with ``L >= 2`` and 1 for a final single coordinate;
    ``queries`` add ``L`` per round-pair (1 speculation row + ``L - 1`` chain rows).

    Examples
    --------
    >>> import numpy as np
    >>> from distributions.table import TableDistribution
    >>> d = TableDistribution(np.full((2,) * 4, 1 / 16))
    >>> res = AGR24Sampler(d, k=2).sample(3, rng=0)
    >>> res.rounds.tolist(), res.queries.tolist()
    ([4, 4, 4], [4, 4, 4])
    """

    def __init__(
        self,
        oracle: DiscreteOracle,
        *,
        k: int | None = None,
        order: Any = "random",
        validate: bool = True,
        max_rounds: int | None = None,
        timeout: float | None = None,
        steps: AGR24Steps | None = None,
    ) -> None:
        self.max_rounds, self.timeout = check_budget(max_rounds, timeout)
        if steps is None:
            steps = AGR24Steps()
        elif not isinstance(steps, AGR24Steps):
            raise ParameterError(
                f"`steps` must be an AGR24Steps instance; got {type(steps).__name__}."
            )
        self.steps: AGR24Steps = steps
        self.oracle = CountingOracle(oracle, validate=validate)
        self.n, self.q = self.oracle.n, self.oracle.q
        self.k = default_block_size(self.n) if k is None else check_int("k", k, low=1)
        resolve_orders(order, 1, self.n, as_random_source(0))  # validate eagerly
        self.order = order

    def sample(self, num: int, *, rng: Any = None) -> SampleResult:
        """Draw ``num`` exact samples; see :class:`~samplers.base.SampleResult`.

        Raises
        ------
        BudgetExceededError
            When ``max_rounds`` or ``timeout`` is exceeded; the message names the
            rounds reached and the coordinates fixed so far.
        """
        num = check_int("num", num, low=0)
        source = as_random_source(rng)
        n, k = self.n, min(self.k, self.n)
        t = np.zeros(num, dtype=np.int64)
        rounds = np.zeros(num, dtype=np.int64)

        def describe() -> str:
            left = t < n
            least = int(t.min()) if num else n
            most = int(rounds.max()) if num else 0
            return (f"k = {k}; {num - int(left.sum())} of {num} samples complete, the least "
                    f"advanced has {least} of n = {n} coordinates fixed; most rounds used by "
                    f"a sample: {most}")

        before = self.oracle.record()
        with Budget(type(self).__name__, self.max_rounds, self.timeout, describe) as budget:
            orders = resolve_orders(self.order, num, n, source)
            x = np.full((num, n), MASK, dtype=np.int64)
            queries = np.zeros(num, dtype=np.int64)
            while True:
                active = np.flatnonzero(t < n)
                if active.size == 0:
                    break
                budget.check_time()
                lengths = np.minimum(k, n - t[active])
                for L in np.unique(lengths):
                    sel = active[lengths == L]
                    self._round_pair(x, orders, t, sel, int(L), source, rounds, queries)
                if budget.max_rounds is not None:
                    worst = int(active[np.argmax(rounds[active])])
                    budget.check_rounds(int(rounds[worst]), f"sample {worst}")
        return SampleResult(samples=x, rounds=rounds, queries=queries, orders=orders,
                            aux=self.oracle.record_since(before))

    # ------------------------------------------------------------------ kernel
    def _round_pair(
        self,
        x: np.ndarray,
        orders: np.ndarray,
        t: np.ndarray,
        sel: np.ndarray,
        L: int,
        source: RandomSource,
        rounds: np.ndarray,
        queries: np.ndarray,
    ) -> None:
        m, q = sel.size, self.q
        rows = np.arange(m)
        pos = orders[sel[:, None], t[sel][:, None] + np.arange(L)]  # (m, L)
        xs = x[sel]
        p = self.oracle.conditionals_at(xs, pos)  # (m, L, q), one round, m rows
        g = source.categorical(p.reshape(m * L, q)).reshape(m, L)
        if L == 1:
            x[sel, pos[:, 0]] = g[:, 0]
            t[sel] += 1
            rounds[sel] += 1
            queries[sel] += 1
            return
        xg = xs.copy()
        xg[rows, pos[:, 0]] = g[:, 0]
        # one round, m * (L - 1) rows: c_j given the prefix and g_1 .. g_{j-1}
        c = self.oracle.conditionals_at(xg, pos[:, 1:], chain_values=g[:, 1:])
        corr = self.steps.correct(source, p[:, 1:].reshape(-1, q), c.reshape(-1, q),
                             g[:, 1:].reshape(-1)).reshape(m, L - 1)
        vals, keep = self.steps.finish(g, np.concatenate([g[:, :1], corr], axis=1))
        mask = np.arange(L)[None, :] < keep[:, None]
        x[np.broadcast_to(sel[:, None], (m, L))[mask], pos[mask]] = vals[mask]
        t[sel] += keep
        rounds[sel] += 2
        queries[sel] += L

    def __repr__(self) -> str:
        return f"AGR24Sampler(n={self.n}, q={self.q}, k={self.k}, order={self.order!r})"

