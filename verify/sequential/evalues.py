"""Checkpoint schedules and the p-to-e calibrator of the batched sequential tests.

:func:`checkpoint_schedule` fixes, before any sample is drawn, where the test
martingale re-bets and where the confidence sequence is evaluated (a geometric grid,
so that the number of checkpoints, and the level the confidence sequence spends, is
logarithmic in the size).

:func:`p_to_e` is the mixture calibrator ``e(p) = int_0^1 k p**(k - 1) dk = (1 - p +
p log p) / (p log(p)**2)`` (Vovk and Wang 2021): for a p-value that is uniform or
super-uniform under the null, ``E e(p) <= 1``. The product of the e-values of
batches of independent samples is therefore a test supermartingale (the batches are
independent under the null that the sampler draws iid from the target), and Ville's
inequality bounds the probability that it ever exceeds ``1 / alpha`` by ``alpha``.
This is how the chain-rule family, which has a valid p-value but no likelihood ratio,
is monitored sequentially.
"""

from __future__ import annotations

import math

__all__ = ["FIRST_CHECKPOINT", "CHECKPOINT_RATIO", "checkpoint_schedule", "p_to_e"]

#: First checkpoint of the full-table e-process (samples).
FIRST_CHECKPOINT: int = 32
#: Growth of the checkpoints (each is ``ceil(1.25 x`` the previous one)).
CHECKPOINT_RATIO: float = 1.25


def checkpoint_schedule(max_size: int, first: int = FIRST_CHECKPOINT,
                        ratio: float = CHECKPOINT_RATIO) -> list[int]:
    """Increasing checkpoints ``first, ceil(first * ratio), ...`` ending at ``max_size``.

    Examples
    --------
    >>> checkpoint_schedule(100)
    [32, 40, 50, 63, 79, 99, 100]
    """
    out: list[int] = []
    c = min(first, max_size)
    while c < max_size:
        out.append(c)
        c = max(c + 1, math.ceil(c * ratio))
    out.append(max_size)
    return out


def p_to_e(pvalue: float) -> float:
    """Mixture calibrator from a p-value to an e-value (module docstring).

    Examples
    --------
    >>> round(p_to_e(1e-4), 1), round(p_to_e(0.5), 3), p_to_e(0.0)
    (117.8, 0.639, inf)
    """
    p = float(pvalue)
    if p <= 0.0:
        return math.inf
    if p >= 1.0:
        return 0.5
    lp = math.log(p)
    return float((1.0 - p + p * lp) / (p * lp * lp))

