"""The test martingale of the sequential order-conditional test (an average of
e-processes on the probability-integral transforms of each sample's reveal steps).

Each sample ``b`` comes with the order it was revealed along; at its reveal step
``t`` the oracle's conditional given the revealed prefix is ``p_{b,t}`` and the
randomised PIT ``U_{b,t}`` of the revealed value (:mod:`verify.exactness.order_conditional`).
Under the null (every sample, given its order, follows the oracle's chain rule along
that order; samples independent) each ``U_{b,t}`` is Uniform(0, 1) **given
everything revealed before it** (the earlier samples and the prefix of its own
sample), and the revealed value ``v`` has law ``p_{b,t}`` given the prefix. Every
process below is therefore a nonnegative martingale with mean 1 on the filtration of
the reveal steps taken in the order ``(b, t)``, and so is their average:

``step[t]`` (``t = 1..n``)
    The mixture test martingale of :class:`~verify.sequential.eprocess.TableEProcess`
    against the uniform law on ``bins`` equiprobable PIT bins, fed the binned PIT of
    step ``t`` of every sample (the sequential counterpart of the fixed-size
    ``step[t]`` sub-test).
``pooled``
    The same against all ``n`` PITs of every sample, fed in reveal order.
``score``
    A mixture over fixed bets ``lam`` in :data:`SCORE_BETS` of ``prod (1 + lam d)``
    with the sharpness increment ``d = p_{b,t}(v) - sum_w p_{b,t}(w)**2`` (mean 0
    given the prefix, in ``[-1, 1]``; ``|lam| <= 1/2`` keeps every factor
    ``>= 1/2``). Positive bets grow on a sharpened sampler (values of high
    conditional probability too often), negative ones on a tempered one: the
    sequential counterpart of the fixed-size ``score`` sub-test.

The e-value is the equal-weight average of these ``n + 2`` processes (an average of
test martingales on one filtration is one: the multiplicity costs ``log(n + 2)``
nats, as Bonferroni would). It is looked at after every sample; by Ville's
inequality ``P(sup_b E_b >= 1 / alpha) <= alpha`` under the null, at any stopping
time. A revealed value of conditional probability 0 makes it infinite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from verify.sequential.eprocess import TableEProcess

__all__ = ["PITEProcess", "SCORE_BETS"]

#: Bets of the score process: ``+-2**-j``, ``j = 1..12``.
SCORE_BETS: np.ndarray = np.concatenate([2.0 ** -np.arange(1, 13), -(2.0 ** -np.arange(1, 13))])
#: Elements of one block of score increments (rows x n x bets).
_CHUNK_ELEMS: int = 2**21


def _logmeanexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return (np.log(np.mean(np.exp(a - top), axis=axis)) + np.squeeze(top, axis=axis))


@dataclass
class PITEProcess:
    """Running state of the average test martingale on the PITs (module docstring).

    ``update(cells, sharp, bad)`` feeds a batch of samples in order and returns the
    running ``log E`` after every one; :meth:`checkpoint` re-bets the ``step`` and
    ``pooled`` processes on everything seen so far (call it between updates only).

    Attributes
    ----------
    n : int
        Reveal steps per sample.
    bins : int
        Equiprobable PIT bins of the ``step`` and ``pooled`` processes.
    log_e : float
        ``log`` of the current e-value (``inf`` after an impossible value).
    seen : int
        Samples fed.

    Examples
    --------
    >>> ep = PITEProcess(3, bins=4)
    >>> cells = np.array([[0, 1, 2], [3, 3, 0]])
    >>> ep.update(cells, np.zeros((2, 3)), np.zeros(2, bool)).tolist()
    [0.0, 0.0]
    >>> ep.update(cells[:1], np.zeros((1, 3)), np.array([True])).tolist()
    [inf]
    """

    n: int
    bins: int = 10
    log_e: float = 0.0
    seen: int = 0
    _steps: list[TableEProcess] = field(init=False, repr=False)
    _pooled: TableEProcess = field(init=False, repr=False)
    _score: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        uniform = np.full(self.bins, 1.0 / self.bins)
        self._steps = [TableEProcess(uniform) for _ in range(self.n)]
        self._pooled = TableEProcess(uniform)
        self._score = np.zeros(SCORE_BETS.size)

    def checkpoint(self) -> None:
        """Re-bet the ``step`` and ``pooled`` processes on all samples fed so far."""
        for ep in self._steps:
            ep.checkpoint()
        self._pooled.checkpoint()

    def components(self) -> dict[str, float]:
        """Current ``log`` e-value of every component process."""
        out = {f"step[{t + 1}]": float(ep.log_e) for t, ep in enumerate(self._steps)}
        out["pooled"] = float(self._pooled.log_e)
        out["score"] = float(_logmeanexp(self._score, axis=0))
        return out

    def update(self, cells: np.ndarray, sharp: np.ndarray, bad: np.ndarray) -> np.ndarray:
        """Feed samples; the running ``log E`` after each of them.

        Parameters
        ----------
        cells : ndarray of int, shape (B, n)
            PIT bin (``0..bins-1``) of every reveal step.
        sharp : ndarray of float, shape (B, n)
            Sharpness increments ``p(v) - sum p**2`` in ``[-1, 1]``.
        bad : ndarray of bool, shape (B,)
            Samples with a revealed value of conditional probability 0.
        """
        cells = np.asarray(cells, dtype=np.int64)
        B = cells.shape[0]
        out = np.full(B, math.inf)
        if B == 0 or not math.isfinite(self.log_e):
            self.seen += B
            return out if B else np.empty(0)
        first_bad = int(np.argmax(bad)) if np.any(bad) else B
        good = cells[:first_bad]
        if first_bad:
            comp = np.empty((self.n + 2, first_bad))
            for t, ep in enumerate(self._steps):
                comp[t] = ep.update(good[:, t])
            comp[self.n] = self._pooled.update(good.ravel())[self.n - 1::self.n]
            inc = np.empty((first_bad, SCORE_BETS.size))
            rows = max(1, _CHUNK_ELEMS // (self.n * SCORE_BETS.size))
            for i in range(0, first_bad, rows):
                d = np.asarray(sharp[i:min(first_bad, i + rows)], dtype=np.float64)
                inc[i:i + d.shape[0]] = np.log1p(d[:, :, None] * SCORE_BETS).sum(axis=1)
            paths = self._score + np.cumsum(inc, axis=0)
            self._score = paths[-1].copy()
            comp[self.n + 1] = _logmeanexp(paths, axis=1)
            out[:first_bad] = _logmeanexp(comp, axis=0)
            self.log_e = float(out[first_bad - 1])
        if first_bad < B:
            self.log_e = math.inf
        self.seen += B
        return out
