"""A bounded-support diffusion target in any dimension: a mixture of product laws on
the hypercube ``{-1, +1}^dim`` (every point on the sphere of radius ``sqrt(dim)``).

``Y`` picks component ``c`` with probability ``w_c``, then independent coordinates
with ``P(Y_i = +1) = p_{c,i}``. Stochastic localization observes
``x_t = t Y + B_t``; since ``|y|^2 = dim`` for every ``y``, the posterior is

    P(c | x) ~ w_c prod_i (p_{c,i} e^{x_i} + (1 - p_{c,i}) e^{-x_i}),
    E[Y_i | x, c] = tanh(x_i + b_{c,i}),   b_{c,i} = atanh(2 p_{c,i} - 1),

and the oracle ``f(t, x) = sum_c P(c | x) tanh(x + b_c)`` costs ``O(K dim)`` per row
(it does not depend on ``t``: the factor ``e^{-t/2}`` is common to both values of
every coordinate). Responsibilities are computed in log space (``logaddexp``,
log-sum-exp), so no intermediate overflows for ``|x| <= 1e100``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from distributions._numerics import softmax
from distributions.diffusion import _check_t, _check_weights, _check_x
from distributions.errors import ParameterError
from distributions.validation import check_int

__all__ = ["HypercubeMixture"]


class HypercubeMixture:
    """Mixture of product laws on ``{-1, +1}^dim`` with an exact denoiser.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Non-negative, summing to 1 within 1e-9.
    probs : array_like, shape (K, dim)
        ``P(Y_i = +1 | c)``, each in ``[1e-12, 1 - 1e-12]``.

    Examples
    --------
    >>> import numpy as np
    >>> cube = HypercubeMixture([1.0], [[0.5, 0.9]])
    >>> np.round(cube.denoise(np.array([0.0]), np.zeros((1, 2))), 6)
    array([[0. , 0.8]])
    """

    def __init__(self, weights: Any, probs: Any) -> None:
        w = _check_weights(weights)
        try:
            p = np.array(probs, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"`probs` must be a (K, dim) array of numbers; got "
                                 f"{probs!r}.") from exc
        if p.ndim != 2 or p.shape[0] != w.shape[0] or p.shape[1] < 1:
            raise ParameterError(f"`probs` must have shape (K, dim) with K = {w.shape[0]} "
                                 f"(one row per weight) and dim >= 1; got {p.shape}.")
        bad = ~(np.isfinite(p) & (p >= 1e-12) & (p <= 1.0 - 1e-12))
        if bad.any():
            c, i = (int(v) for v in np.argwhere(bad)[0])
            raise ParameterError(f"`probs` entries must lie in [1e-12, 1 - 1e-12]; got "
                                 f"probs[{c}, {i}] = {p[c, i]!r}.")
        self.weights = w
        self.probs = p
        self.dim: int = int(p.shape[1])
        self._logw = np.log(np.where(w > 0, w, 1.0)) + np.where(w > 0, 0.0, -np.inf)
        self._logp = np.log(p)
        self._logq = np.log1p(-p)
        self._bias = 0.5 * (self._logp - self._logq)  # atanh(2p - 1)

    @property
    def prior_mean(self) -> np.ndarray:
        """``E[Y]``, shape (dim,)."""
        return self.weights @ (2.0 * self.probs - 1.0)

    def denoise(self, t: Any, x: Any) -> np.ndarray:
        """Posterior mean ``E[Y | t Y + B_t = x]`` (B, dim); ``t = 0`` gives the prior mean."""
        x = _check_x(x, self.dim)
        t = _check_t(t, x.shape[0])
        xx = np.where((t == 0)[:, None], 0.0, x)  # x_0 = 0 almost surely: the prior
        ll = np.logaddexp(self._logp[None] + xx[:, None, :], self._logq[None] - xx[:, None, :])
        resp = softmax(self._logw[None, :] + ll.sum(axis=2), axis=1)  # (B, K)
        return np.einsum("bk,bkd->bd", resp, np.tanh(xx[:, None, :] + self._bias[None]))

    def sample(self, num: int, *, rng: Any = None) -> np.ndarray:
        """``num`` independent draws of ``Y``, shape (num, dim), entries +-1."""
        num = check_int("num", num, low=0)
        gen = np.random.default_rng(rng)
        comp = gen.choice(self.weights.shape[0], size=num, p=self.weights)
        return np.where(gen.random((num, self.dim)) < self.probs[comp], 1.0, -1.0)

    def __repr__(self) -> str:
        return f"HypercubeMixture(K={self.weights.shape[0]}, dim={self.dim})"
