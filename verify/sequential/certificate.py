"""The TV certificate: an upper confidence bound on ``TV(sampler law, target)``, at a
fixed size or as a confidence sequence, and the size that certifies ``TV <= eps``.

The bound (``K`` cells of the table, ``N`` samples, empirical law ``p_hat``)::

    TV(s, p) <= TV(p_hat, p) + sqrt((K - 1) / N) / 2 + sqrt(log(1 / alpha) / (2 N))

holds with probability at least ``1 - alpha`` whatever the sampler's law ``s``:
``TV(s, p) <= TV(p_hat, p) + TV(p_hat, s)``, ``E TV(p_hat, s) <= sum_x sqrt(s(x) (1 -
s(x)) / N) / 2 <= sqrt((K - 1) / N) / 2`` (Cauchy-Schwarz) and ``TV(p_hat, s)`` moves
by at most ``1 / N`` when one sample changes (McDiarmid).

**Confidence sequence.** At the checkpoints ``N_1 < N_2 < ...`` of a fixed schedule
the bound is computed at level ``alpha_j = alpha / (j (j + 1))`` (``sum_j alpha_j =
alpha``); by the union bound all of them hold at once with probability ``1 - alpha``,
so their running minimum is a valid bound at every checkpoint, in particular at a
data-dependent stopping time.

**Size that certifies.** For a correct sampler (``s = p``) ``E TV(p_hat, p) <=
sum_x sqrt(p(x) (1 - p(x))) / (2 sqrt N)`` and McDiarmid again bounds its excess
with probability ``power``; :func:`plan_certificate_size` is the smallest ``N`` at
which the bound is then at most ``eps``::

    N = ceil(((S / 2 + sqrt(K - 1) / 2 + sqrt(log(1 / alpha) / 2)
               + sqrt(log(1 / (1 - power)) / 2)) / eps) ** 2),  S = sum_x sqrt(p (1 - p))

(``S <= sqrt(k - 1)`` for ``k`` support cells; the figures below take ``K = k`` and
that worst case). The test's size grows like ``sqrt(k) / eps**2``, the certificate's
like ``k / eps**2``: they differ by about ``sqrt(k)``. Figures (``alpha = 1e-3``,
``power = 0.99``; test = :func:`verify.planning.plan_sample_size` at ``tv = eps``)::

    k      eps     certificate       test     ratio
    64     0.05         51,195      8,700      5.9
    64     0.01      1,279,872    217,496      5.9
    1024   0.05        500,140     27,230     18.4
    1024   0.01     12,503,480    680,726     18.4
"""

from __future__ import annotations

import math

import numpy as np

from distributions.validation import check_float, check_int

__all__ = ["cs_alpha", "plan_certificate_size", "tv_upper_bound"]


def tv_upper_bound(tv_plugin: float, num_cells: int, num_samples: int, alpha: float) -> float:
    """Upper confidence bound at level ``1 - alpha`` on the TV (module docstring).

    Parameters
    ----------
    tv_plugin : float
        ``TV(p_hat, p)`` of the empirical law of ``num_samples`` samples.
    num_cells : int >= 1
        ``K``, every cell the sampler could hit (the whole table, not the support).
    num_samples : int >= 1
    alpha : float in (0, 1)

    Returns
    -------
    float
        The bound, clipped at 1.

    Examples
    --------
    >>> round(tv_upper_bound(0.0, 64, 10**6, 1e-3), 5)
    0.00583
    """
    k = check_int("num_cells", num_cells, low=1)
    n = check_int("num_samples", num_samples, low=1)
    a = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    b = tv_plugin + 0.5 * math.sqrt((k - 1) / n) + math.sqrt(math.log(1.0 / a) / (2.0 * n))
    return float(min(1.0, b))


def cs_alpha(alpha: float, j: int) -> float:
    """Level spent at the ``j``-th checkpoint (``j >= 1``) of the confidence sequence."""
    return alpha / (j * (j + 1.0))


def plan_certificate_size(pmf_or_k: np.ndarray | int, eps: float, alpha: float,
                          power: float, num_cells: int | None = None) -> int:
    """Smallest size at which a correct sampler's bound is ``<= eps`` w.p. ``power``.

    Parameters
    ----------
    pmf_or_k : ndarray or int
        The target's cell probabilities, or a support size ``k`` (worst case
        ``S = sqrt(k - 1)``).
    eps : float in (0, 1)
    alpha : float in (0, 1)
        Level of the bound (for a confidence sequence, that of its last checkpoint).
    power : float in (0, 1)
    num_cells : int, optional
        ``K`` (default: the pmf's length, or ``k``).

    Examples
    --------
    >>> plan_certificate_size(64, 0.01, 1e-3, 0.99)
    1279872
    """
    eps = check_float("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    power = check_float("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    if isinstance(pmf_or_k, np.ndarray):
        p = pmf_or_k / pmf_or_k.sum()
        s = float(np.sum(np.sqrt(p * (1.0 - p))))
        cells = p.size
    else:
        k = check_int("k", pmf_or_k, low=1)
        s, cells = math.sqrt(k - 1.0), k
    if num_cells is not None:
        cells = check_int("num_cells", num_cells, low=1)
    total = (0.5 * s + 0.5 * math.sqrt(cells - 1.0) + math.sqrt(math.log(1.0 / alpha) / 2.0)
             + math.sqrt(-math.log1p(-power) / 2.0))
    return max(1, math.ceil((total / eps) ** 2))
