"""Anytime-valid statistics: test martingales, calibrated e-values and the TV certificate.

Modules: :mod:`~verify.sequential.eprocess` (the mixture likelihood-ratio test
martingale of the full-table test), :mod:`~verify.sequential.pit` (the average of
PIT e-processes of the order-conditional test), :mod:`~verify.sequential.evalues` (checkpoint
schedules, the p-to-e calibrator of batched tests) and
:mod:`~verify.sequential.certificate` (the upper confidence bound on TV, its
confidence sequence and the size that certifies ``TV <= eps``). They are pure
kernels; ``check_exact(..., sequential=True, certify=eps)``
(:mod:`verify.exactness.sequential`) draws the samples and dispatches to them.

Figures (measured with the helpers of ``tests/verify/test_sequential.py``, which
re-checks them): on ``random_table(10, 2, rng=20261202)`` (1,024 cells) at ``alpha =
1e-3`` (rejection at ``E >= 2 / alpha``), a sampler at TV 0.1 (mass moved between
the two halves of the mass) is rejected after 5,647 samples on average (sd 1,438,
largest 8,184; 50 runs), 120x fewer than the fixed-size plan at TV 0.01 (680,726)
and fewer than the fixed plan at TV 0.1 (6,808); at TV 0.02 after 157,876 (sd
43,056, largest 243,800; 20 runs): 4.3x fewer than the plan at TV 0.01, and fewer
than the fixed plan at TV 0.02 (170,182). Continuous monitoring of a correct
sampler (16 cells, 5,000 samples, every sample looked at) crossed ``1 / alpha`` at
``alpha = 0.05`` in 5 of 200 seeds (2.5 %, 95 % interval 0.8-5.7 %); the whole
``check_exact(..., sequential=True, alpha=0.05)`` failed a correct sampler in 6 of
200 (3.0 %, 1.1-6.4 %).

The order-conditional test (:mod:`~verify.sequential.pit`; ``benchmarks/sequential.py``
re-measures every figure here): its e-process crossed ``1 / alpha`` at ``alpha =
0.05`` on 3 of 200 exact null streams (1.5 %, 95 % interval 0.3-4.3 %; 4 steps,
1,000 samples, every sample looked at); ``check_exact(SequentialSampler(o), o,
sequential=True, alpha=0.05)`` on an inconsistent oracle (``n = 5``, at most 400
samples) stopped on evidence in 1 of 200 seeds and failed in 4 of 200 (2.0 %,
0.5-5.0 %). A sampler whose first reveal step deviates by TV 0.1 (``n = 6``, alpha
1e-3) is rejected after 985 samples on average (sd 425, largest 1,813; 20 runs):
142x fewer than the fixed-size plan at TV 0.01 (139,672) and 1.4x fewer than the
fixed plan at TV 0.1 (1,397); at TV 0.02 after 29,595 (sd 11,158, largest 44,114;
10 runs): 4.7x fewer than the plan at TV 0.01, 1.2x fewer than the plan at TV 0.02
(34,918).
"""

from __future__ import annotations

from verify.sequential.certificate import cs_alpha, plan_certificate_size, tv_upper_bound
from verify.sequential.eprocess import CHI2_GRID, MAX_BET, TableEProcess
from verify.sequential.evalues import (
    CHECKPOINT_RATIO,
    FIRST_CHECKPOINT,
    checkpoint_schedule,
    p_to_e,
)
from verify.sequential.pit import SCORE_BETS, PITEProcess

__all__ = [
    "CHECKPOINT_RATIO",
    "CHI2_GRID",
    "FIRST_CHECKPOINT",
    "MAX_BET",
    "PITEProcess",
    "SCORE_BETS",
    "TableEProcess",
    "checkpoint_schedule",
    "cs_alpha",
    "p_to_e",
    "plan_certificate_size",
    "tv_upper_bound",
]
