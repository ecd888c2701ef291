"""Calibrated goodness-of-fit tests of a sampler against its target, with stated power.

The package is split by concept: :mod:`~verify.exactness.check` (:func:`check_exact`),
:mod:`~verify.exactness.full_table` (G, Pearson and the dispatch to Monte Carlo),
:mod:`~verify.exactness.montecarlo` (sparse-regime statistics and simulated power),
:mod:`~verify.exactness.batch_invariance` and :mod:`~verify.exactness.results`; the
planner is :mod:`verify.planning` and the drawer :mod:`verify.sampling`. The public
names are re-exported here.

:func:`check_exact` draws samples from a sampler and tests them against the exact
law of the target (DESIGN 6.2):

* an :class:`~distributions.base.Enumerable` target (has ``pmf``) gets a
  **full-table test** over all ``q**n`` configurations: a G-test with Williams'
  correction and ``dof = |support| - 1`` in the dense regime, or an exact
  multinomial **Monte Carlo test** of the bias-corrected chi-square statistic of
  Acharya-Daskalakis-Kamath form (``sum ((N_i - N p_i)**2 - N_i) / (N p_i)``) when
  some expected count is below 5 (``method="auto"`` chooses). No cell is ever
  dropped; a sample that lands on a zero-probability cell is an immediate failure,
  reported in ``worst_cells``.
* a :class:`~distributions.base.DiscreteOracle` with a joint law (``log_pmf``) but
  no tabulated ``pmf`` gets the **chain-rule tests** of :mod:`verify.chain_tests` (no
  table needed; large ``n``);
* an oracle **without a joint law** (a trained network, consistent or not) is tested
  **relative to itself** (:mod:`~verify.exactness.relative`): the sequential
  chain-rule law of the same oracle is the reference, by the two-sample
  :func:`closeness_test` (full table, ``q**n <= 2**16``) or the
  :func:`order_conditional_test` along the orders the sampler reports; the result's
  ``reference`` says which. So does an
  ``Enumerable`` target of more than ``AUTO_TABLE = 2**16`` cells under
  ``method="auto"``: its full-table test (up to ``MAX_TABLE = 2**20`` cells) runs
  only when asked for by name (``method="gtest"``, ``"pearson"`` or
  ``"montecarlo"``), because in the sparse regime its Monte Carlo null over up to a
  million cells costs minutes.

Power and planning (worst case over alternatives at TV ``eps``)
----------------------------------------------------------------
For a law ``s`` at total variation ``eps`` from ``p`` (on the support of ``p``), the
chi-square divergence obeys ``chi2(s || p) >= 4 eps**2`` (Cauchy-Schwarz; equality
for ``s - p = +-2 eps p`` on two halves of the mass). The G and Pearson statistics
at sample size ``N`` are asymptotically noncentral chi-square with ``dof = k - 1``
and noncentrality ``lambda = N chi2(s || p) >= 4 N eps**2``, and the power is
increasing in ``lambda``; hence the worst-case power at TV ``eps`` is
``ncx2.sf(chi2.isf(alpha, k-1), k-1, 4 N eps**2)``. :func:`plan_sample_size` returns
the smallest ``N`` whose worst-case power is at least ``power``. Mass moved off the
support is easier to detect (one hit fails the test), so it never is the worst case.
Figures (``alpha = 1e-3``, ``power = 0.99``, support size ``k``)::

    k        tv = 0.01    tv = 0.02    tv = 0.05
    2            78,874       19,719        3,155
    16          137,904       34,476        5,517
    64          217,496       54,374        8,700
    256         372,851       93,213       14,915
    1024        680,726      170,182       27,230
    4096      1,294,450      323,613       51,778

The planner is cross-checked by simulation in ``tests/verify/test_exactness.py`` (the
rejection rate of the G-test against a worst-case alternative at the planned size is
at least ``power`` within a binomial interval). This statement is asymptotic: it is
the power of the G-test and Pearson's test in the **dense regime** (every expected
count >= 5), checked against every two-block alternative in
``tests/verify/test_power_meta.py``.

Power in the sparse regime (what is actually tested)
----------------------------------------------------
With an expected count below 5 the noncentral chi-square figure overstates the
power (the variance of the statistic under a finite deviation is larger than the
local approximation says): on a Potts table of 729 cells at ``N = 400`` it stated TV
0.382 at power 0.99 while the Monte Carlo test had power 0.95 there. There, the
result's ``detectable_tv`` is computed for the test as run: the smallest TV at which
the simulated power of its rejection rule (Monte Carlo: its ``resamples``; a
G-test or Pearson test forced into this regime: its chi-square critical value)
against every alternative of :func:`two_block_alternatives` (mass moved
proportionally between the least likely cells, of mass 2 % ... 98 %, and the rest,
both ways; it contains the least-chi-square split in halves and the hardest
deviations of the sparse regime, a little more mass on many rare cells) is at least
``power`` plus one binomial standard error of the simulation. The alternatives the
normal approximation ranks hardest are simulated in a bisection (up to 1,000 draws
each, common random numbers), and the result is verified on every alternative. It is
the worst case over that family, not over every law at that TV; it is ``1.0``
(status ``"no-power"`` unless the test rejects) when no TV below 1 is detected, e.g.
with a single sample. The Potts case now states TV 0.435 (simulated worst power
0.996 there; ``tests/verify/test_power_meta.py`` re-checks every alternative with
independent draws). When :func:`check_exact` plans the size itself and the plan lands
in this regime, the size is grown (about 10-30 % on Dirichlet tables) until the
stated TV is at most the requested ``tv``: the size a normal approximation screens
(:func:`~verify.exactness.montecarlo.screened_size`) is simulated first and taken
when the simulated figure holds there, else the noncentral chi-square size is grown
step by step, each step simulated. A planned size is judged at the requested ``tv``
first (every alternative simulated there): when it holds, the result states
``detectable_tv = tv`` and the smallest simulated power there, without the bisection.

Bounded cost
------------
Every argument is checked before any work. A plan or ``num_samples`` above
``max_samples`` (default :data:`MAX_SAMPLES` = ``10**8``) is refused with the size.
Monte Carlo tests use ``20 / alpha`` resamples, at least 999 and at most
``max_resamples`` (default :data:`MAX_RESAMPLES` = ``10**5``; the p-value
resolution ``1 / (resamples + 1)`` is in ``details``); a level below the resolution
is refused. The null is drawn sequentially (Besag and Clifford 1991): once
``max(10, ceil(alpha (resamples + 1)))`` null statistics reach the observed one the
test cannot reject and stops, with the valid p-value ``h / draws``; a correct
sampler's p-value then costs about ``h (1 + ln((resamples + 1) / h))`` draws
(``details["resamples_drawn"]``). Chain tests and :func:`check_batch_invariance`
keep every sample and refuse ``N x n`` above :data:`MAX_SAMPLE_ENTRIES` (``2**30``, 8 GiB).
``alpha`` is at least :data:`MIN_ALPHA` = ``1e-12`` and ``power``
exceeds ``alpha``. ``timeout`` bounds the wall time (checked between sampler calls
and Monte Carlo chunks). Counts are accumulated per call, so memory is ``O(q**n)``
for full-table tests whatever ``N``.

Batch size
----------
Samples are drawn in calls of ``batch_size`` rows (default: the sampler's own
``batch_size`` attribute, else ``2**17``), stated in the result.
:func:`check_batch_invariance` compares the laws drawn at two batch sizes (default 1
and the production size) with a two-sample test, so a sampler that is exact only in
small calls is caught.

Confidence bound on TV
----------------------
``tv_upper`` is a rigorous one-sided upper confidence bound at level ``1 - alpha``
on ``TV(sampler law, target)``: with ``K = q**n`` cells and empirical law ``p_hat``,
``TV(s, p) <= TV(p_hat, p) + TV(p_hat, s)``, ``E TV(p_hat, s) <= sqrt((K-1)/N) / 2``
(Cauchy-Schwarz) and McDiarmid's inequality (``TV(p_hat, s)`` moves by at most
``1/N`` per sample) gives ``TV(p_hat, s) <= E + sqrt(log(1/alpha) / (2N))`` with
probability ``>= 1 - alpha``. ``tv_estimate`` is the plug-in ``TV(p_hat, p)`` minus
its expectation under the null (normal approximation), clipped at 0.
"""

from __future__ import annotations

from verify.exactness.batch_invariance import check_batch_invariance
from verify.exactness.check import AUTO_TABLE, check_exact
from verify.exactness.closeness import CLOSENESS_TABLE, closeness_test, plan_closeness_size
from verify.exactness.full_table import MIN_EXPECTED, full_table_test
from verify.exactness.montecarlo import two_block_alternatives
from verify.exactness.order_conditional import (
    order_conditional_detectable_tv,
    order_conditional_test,
    plan_order_conditional_size,
)
from verify.exactness.results import (
    BatchInvarianceResult,
    ClosenessResult,
    ExactnessResult,
    OrderConditionalResult,
)
from verify.planning import (
    MAX_RESAMPLES,
    MAX_SAMPLES,
    MAX_TABLE,
    MIN_ALPHA,
    detectable_tv,
    plan_sample_size,
)
from verify.results import STATUSES, WorstCell
from verify.sampling import MAX_SAMPLE_ENTRIES, draw_samples

__all__ = [
    "ExactnessResult",
    "BatchInvarianceResult",
    "WorstCell",
    "check_exact",
    "check_batch_invariance",
    "closeness_test",
    "order_conditional_test",
    "order_conditional_detectable_tv",
    "plan_closeness_size",
    "plan_order_conditional_size",
    "ClosenessResult",
    "OrderConditionalResult",
    "CLOSENESS_TABLE",
    "plan_sample_size",
    "detectable_tv",
    "draw_samples",
    "full_table_test",
    "AUTO_TABLE",
    "MIN_EXPECTED",
    "MAX_SAMPLES",
    "MAX_RESAMPLES",
    "MAX_TABLE",
    "MIN_ALPHA",
    "MAX_SAMPLE_ENTRIES",
    "STATUSES",
    "two_block_alternatives",
]
