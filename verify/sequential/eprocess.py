"""The test martingale of the sequential full-table test (a predictable plug-in
likelihood ratio, mixed over bet sizes).

For samples ``x_1, x_2, ...`` with cell indices in ``0..K-1`` and the target's cell
probabilities ``p``, let ``c`` be the counts of the samples *before* the current
checkpoint (``m`` of them) and, for a sample ``x`` after it,

    g(x) = c(x) / (m p(x)) - 1        (g = 0 while m = 0).

Under the null (the samples are iid ``p``) and given the past, ``E g(x) = sum_x
p(x) c(x) / (m p(x)) - 1 = 0`` and ``g >= -1``; so for any bet ``lam`` in ``[0, 1)``
fixed by the past, ``prod (1 + lam g(x_t))`` is a nonnegative martingale with mean
1, and so is the average of such products over a fixed grid of bets. It is the
likelihood ratio of ``p`` against the predictable mixture ``(1 - lam) p + lam
c / m``. Ville's inequality gives ``P(sup_t E_t >= 1 / alpha) <= alpha`` under the
null: the level holds at every stopping time, however often the process is looked
at (continuous monitoring).

Under an alternative ``s``, ``E g`` is about ``sum_x s(x)**2 / p(x) - 1 =
chi2(s || p)`` (the U-statistic form of Pearson's statistic) and the null variance
of ``g`` is ``v = sum_x c(x)**2 / (m**2 p(x)) - 1`` (about ``(K - 1) / m``); the
growth-optimal bet is about ``d / (v + d**2)`` for a deviation ``chi2 = d``. The
grid :data:`CHI2_GRID` of hypothesised ``d`` (``2**0 ... 2**-20``) makes the
mixture adapt to the unknown deviation at the cost of ``log(len(grid))`` nats.
A sample on a zero-probability cell makes the process infinite (the likelihood
ratio of any law that puts mass there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CHI2_GRID", "MAX_BET", "TableEProcess"]

#: Hypothesised chi-square deviations ``d`` of the mixture (one bet per value).
CHI2_GRID: np.ndarray = 2.0 ** -np.arange(0, 21, dtype=np.float64)
#: Largest bet (keeps ``1 + lam g > 0`` on cells not seen before the checkpoint).
MAX_BET: float = 0.5
_CHUNK = 1 << 15


@dataclass
class TableEProcess:
    """Running state of the mixture test martingale against the cell law ``p``.

    ``update(cells)`` feeds samples (cell indices, in order) and returns the running
    ``log E`` after every one of them; :meth:`checkpoint` moves the reference counts
    to everything seen so far (call it only between updates: the bets of a batch
    depend on the samples before it only).

    Attributes
    ----------
    p : ndarray
        Cell probabilities (sum 1; zeros allowed).
    log_e : float
        ``log`` of the current e-value (``inf`` after an impossible cell).
    seen : int
        Samples fed.
    """

    p: np.ndarray
    log_e: float = 0.0
    seen: int = 0
    _ref: np.ndarray = field(init=False, repr=False)
    _m: int = field(init=False, default=0, repr=False)
    _counts: np.ndarray = field(init=False, repr=False)
    _log_comp: np.ndarray = field(init=False, repr=False)
    _bets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.p = np.asarray(self.p, dtype=np.float64)
        self._ref = np.zeros(self.p.size, dtype=np.float64)
        self._counts = np.zeros(self.p.size, dtype=np.float64)
        self._log_comp = np.zeros(CHI2_GRID.size, dtype=np.float64)
        self._bets = np.zeros(CHI2_GRID.size, dtype=np.float64)

    @property
    def counts(self) -> np.ndarray:
        """Counts of every cell over the samples fed so far."""
        return self._counts

    def checkpoint(self) -> None:
        """Make the reference counts those of all samples fed so far (and re-bet)."""
        self._ref = self._counts.copy()
        self._m = self.seen
        if self._m == 0:
            self._bets[:] = 0.0
            return
        pos = self.p > 0
        v = float(np.sum(self._ref[pos] ** 2 / self.p[pos])) / self._m**2 - 1.0
        v = max(v, 0.0)
        d = CHI2_GRID
        self._bets = np.minimum(MAX_BET, d / (v + d * d))

    def update(self, cells: np.ndarray) -> np.ndarray:
        """Feed samples (cell indices); the running ``log E`` after each of them."""
        cells = np.asarray(cells, dtype=np.int64)
        if cells.size > _CHUNK:
            return np.concatenate([self.update(cells[i:i + _CHUNK])
                                   for i in range(0, cells.size, _CHUNK)])
        out = np.empty(cells.size, dtype=np.float64)
        if cells.size == 0:
            return out
        np.add.at(self._counts, cells, 1.0)
        self.seen += int(cells.size)
        if not math.isfinite(self.log_e):
            out[:] = self.log_e
            return out
        pc = self.p[cells]
        bad = pc <= 0
        first_bad = int(np.argmax(bad)) if bad.any() else cells.size
        if self._m == 0:
            out[:first_bad] = self.log_e
        else:
            g = self._ref[cells[:first_bad]] / (self._m * pc[:first_bad]) - 1.0
            steps = np.log1p(np.multiply.outer(g, self._bets))  # (t, grid)
            paths = self._log_comp + np.cumsum(steps, axis=0)
            if first_bad:
                top = paths.max(axis=1)
                out[:first_bad] = (top + np.log(np.exp(paths - top[:, None]).sum(axis=1))
                                   - math.log(CHI2_GRID.size))
                self._log_comp = paths[-1].copy()
        if first_bad < cells.size:
            out[first_bad:] = math.inf
            self.log_e = math.inf
        elif cells.size:
            self.log_e = float(out[-1])
        return out
