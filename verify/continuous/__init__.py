"""Statistical checks of continuous (diffusion) samplers (DESIGN 6.2, continuous).

One module per check (:mod:`~verify.continuous.two_sample`,
:mod:`~verify.continuous.gaussian_chain`, :mod:`~verify.continuous.stein`,
:mod:`~verify.continuous.acceptance`), the records in
:mod:`~verify.continuous.results`; the public names are re-exported here.

- :func:`check_same_law`: two samplers, same output law? Energy distance with a
  permutation null, sliced Kolmogorov-Smirnov over random projections (exact
  two-sample KS per projection, Bonferroni over the projections), per-coordinate
  two-sample KS; Holm across the family.
- :func:`check_gaussian_chain`: for a single Gaussian target the Euler chain is
  linear-Gaussian; exact mean and covariance of ``x_N`` and of the output
  ``f(T, x_N)`` (:func:`gaussian_chain_moments`), Mahalanobis / chi-square and
  whitened KS tests.
- :func:`check_gaussian_ula`: for a Gaussian target the unadjusted Langevin chain
  is linear-Gaussian; exact mean and covariance of every step
  (:func:`ula_gaussian_moments`), the same tests on ``x_N``.
- :func:`check_stein_discrepancy`: kernel Stein discrepancy of samples against a
  target with a closed-form score (a :class:`~distributions.diffusion.GaussianMixture`),
  wild-bootstrap null.
- :func:`check_speculative_acceptance`: per-step acceptance of the speculative
  diffusion sampler against ``2 Phi(-|D| / 2)``.

Every check accepts a sampler (an object with ``sample(num, *, rng)`` returning a
:class:`~samplers.base.SampleResult`) or a callable ``(num, rng) -> array``, except
:func:`check_speculative_acceptance`, which reads the sampler's acceptance record
(``SampleResult.aux``) and refuses a callable; :func:`check_stein_discrepancy`
also takes an array of samples. Every argument is checked before any sample is
drawn, ``num_samples`` against ``max_samples`` (default
:data:`verify.planning.MAX_SAMPLES`) and, where every sample is kept, the memory cap
:data:`verify.sampling.MAX_SAMPLE_ENTRIES`. Every check states
its family-wise ``alpha`` and its power, and returns a frozen result with
``statistic`` / ``pvalue``, a ``status`` (``"pass"``, ``"fail"`` or ``"no-power"``;
``passed`` is True only for ``"pass"``), the ``pvalue_resolution`` and ``notes``.

p-values of 1 and their resolution
----------------------------------
A family p-value is the smallest Holm-adjusted p-value, ``min(1, m p_min)`` for ``m``
sub-tests: it is exactly 1 whenever every raw p-value is at least ``1 / m``, which
under the null happens often (e.g. ``m = 6``: probability about 0.3 for independent
sub-tests). That is the correction, not a degenerate statistic; a result with
``pvalue == 1`` says so in ``notes``. The statistics themselves are checked for
degeneracy: Monte Carlo sub-tests (energy-distance permutations, Stein wild
bootstrap) have p-values on the grid ``1 / (B + 1)``, reported as
``pvalue_resolution`` (0.0 when every sub-test has a continuous null distribution);
when that grid cannot reach the level a rejection needs, the sub-test cannot reject
and the result says so (status ``"no-power"`` when no sub-test can). Ties in the
samples (KS tests assume continuous laws; with ties they are conservative) are
counted in ``notes``; sub-tests that repeat another one exactly (the affine-invariant
path-end tests of :func:`check_gaussian_chain` when the output is the affine image
``f(T, x_N)`` of the path end) are dropped from the family instead of doubling it.
"""

from __future__ import annotations

from verify.continuous.acceptance import check_speculative_acceptance
from verify.continuous.gaussian_chain import check_gaussian_chain, gaussian_chain_moments
from verify.continuous.langevin_chain import check_gaussian_ula, ula_gaussian_moments
from verify.continuous.results import (
    AcceptanceResult,
    GaussianChainResult,
    SameLawResult,
    SteinResult,
    SubTest,
)
from verify.continuous.stein import check_stein_discrepancy
from verify.continuous.two_sample import check_same_law, energy_distance_test

__all__ = [
    "SubTest",
    "SameLawResult",
    "GaussianChainResult",
    "SteinResult",
    "AcceptanceResult",
    "check_same_law",
    "check_gaussian_chain",
    "gaussian_chain_moments",
    "check_gaussian_ula",
    "ula_gaussian_moments",
    "check_stein_discrepancy",
    "check_speculative_acceptance",
    "energy_distance_test",
]
