"""Statistical checks of continuous (diffusion) samplers (DESIGN 6.2, continuous).

- :func:`check_same_law`: two samplers, same output law? Energy distance with a
  permutation null, sliced Kolmogorov-Smirnov over random projections (exact
  two-sample KS per projection, Bonferroni over the projections), per-coordinate
  two-sample KS; Holm across the family.
- :func:`check_gaussian_chain`: for a single Gaussian target the Euler chain is
  linear-Gaussian; exact mean and covariance of ``x_N`` and of the output
  ``f(T, x_N)`` (:func:`gaussian_chain_moments`), Mahalanobis / chi-square and
  whitened KS tests.
- :func:`check_stein_discrepancy`: kernel Stein discrepancy of samples against a
  target with a closed-form score (a :class:`~distributions.diffusion.GaussianMixture`),
  wild-bootstrap null.
- :func:`check_speculative_acceptance`: per-step acceptance of the speculative
  diffusion sampler against ``2 Phi(-|D| / 2)``.

Every check accepts a sampler (an object with ``sample(num, *, rng)`` returning a
:class:`~samplers.base.SampleResult`) or a callable ``(num, rng) -> array``, states
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

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats
from scipy.spatial.distance import cdist
from statsmodels.stats.multitest import multipletests

from distributions._validation import check_float, check_int
from distributions.errors import ParameterError
from samplers.diffusion import LocalizationGrid

__all__ = [
    "SubTest",
    "SameLawResult",
    "GaussianChainResult",
    "SteinResult",
    "AcceptanceResult",
    "check_same_law",
    "check_gaussian_chain",
    "gaussian_chain_moments",
    "check_stein_discrepancy",
    "check_speculative_acceptance",
]


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class SubTest:
    """One hypothesis of a family: raw and Holm-adjusted p-values.

    ``resolution`` is the grid step of the raw p-value (``1 / (B + 1)`` for a Monte
    Carlo null with ``B`` draws, 0.0 for a continuous null distribution).
    """

    name: str
    statistic: float
    pvalue: float
    adjusted_pvalue: float
    rejected: bool
    resolution: float = 0.0


@dataclass(frozen=True)
class SameLawResult:
    """Result of :func:`check_same_law`.

    Attributes
    ----------
    statistic : float
        Energy distance between the two samples.
    pvalue : float
        Family p-value: the smallest Holm-adjusted p-value.
    passed : bool
        No hypothesis of the family rejected at ``alpha`` (FWER, Holm).
    tests : tuple of SubTest
    detectable_ks_distance : float
        A KS distance between one coordinate's marginals that the family detects
        with probability at least ``1 - beta`` (DKW bound, Bonferroni level).
    detectable_mean_shift : float
        The same in units of the marginal standard deviation for a mean shift of a
        Gaussian-shaped marginal: ``2 Phi(delta / 2) - 1 = detectable_ks_distance``.
    status : {"pass", "fail", "no-power"}
        ``"no-power"``: no rejection and ``detectable_ks_distance >= 1``.
    pvalue_resolution : float
        ``1 / (num_permutations + 1)``, the grid of the energy test's p-value.
    num_permutations : int
    notes : tuple of str
        Ties, a p-value of 1 explained, a sub-test that cannot reject.
    """

    statistic: float
    pvalue: float
    passed: bool
    alpha: float
    beta: float
    num_samples: int
    tests: tuple[SubTest, ...]
    detectable_ks_distance: float
    detectable_mean_shift: float
    status: str = "pass"
    pvalue_resolution: float = 0.0
    num_permutations: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GaussianChainResult:
    """Result of :func:`check_gaussian_chain`.

    ``detectable_mahalanobis_shift`` is the mean shift (in Mahalanobis units of the
    exact covariance) that the mean test detects with probability ``1 - beta`` at
    the Bonferroni level of the family. ``pvalue_resolution`` is 0.0 (every sub-test
    has a continuous null); ``notes`` lists dropped duplicate sub-tests, ties and a
    p-value of 1 explained.
    """

    statistic: float
    pvalue: float
    passed: bool
    alpha: float
    beta: float
    num_samples: int
    tests: tuple[SubTest, ...]
    output_mean: np.ndarray
    output_cov: np.ndarray
    end_mean: np.ndarray
    end_cov: np.ndarray
    detectable_mahalanobis_shift: float
    status: str = "pass"
    pvalue_resolution: float = 0.0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SteinResult:
    """Result of :func:`check_stein_discrepancy` (U-statistic KSD^2, wild bootstrap).

    ``pvalue_resolution`` is ``1 / (num_bootstrap + 1)``; when it exceeds ``alpha``
    the test cannot reject and ``status`` is ``"no-power"``.
    """

    statistic: float
    pvalue: float
    passed: bool
    alpha: float
    num_samples: int
    bandwidth: float
    critical_value: float
    status: str = "pass"
    pvalue_resolution: float = 0.0
    num_bootstrap: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AcceptanceResult:
    """Result of :func:`check_speculative_acceptance`.

    ``statistic`` is the martingale z-score ``sum(A_k - p_k) / sqrt(sum p_k (1 - p_k))``
    of the accept indicators ``A_k`` against ``p_k = 2 Phi(-|D_k| / 2)``.
    ``detectable_rate_shift`` is the shift of the mean acceptance rate detected with
    probability ``1 - beta`` (``"no-power"`` status when it is 1 or more and the family
    does not reject). ``pvalue_resolution`` is 0.0 (continuous nulls).
    """

    statistic: float
    pvalue: float
    passed: bool
    alpha: float
    beta: float
    num_steps: int
    observed_rate: float
    predicted_rate: float
    tests: tuple[SubTest, ...]
    detectable_rate_shift: float
    bins: dict[str, np.ndarray] = field(default_factory=dict)
    status: str = "pass"
    pvalue_resolution: float = 0.0
    notes: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- helpers
def _draw(sampler: Any, num: int, rng: Any, name: str) -> tuple[np.ndarray, Any]:
    """Samples (num, dim) float and the SampleResult (or None) of a sampler/callable."""
    if hasattr(sampler, "sample") and callable(sampler.sample):
        res = sampler.sample(num, rng=rng)
        arr = res.samples if hasattr(res, "samples") else res
    elif callable(sampler):
        res = None
        arr = sampler(num, rng)
    else:
        raise ParameterError(
            f"`{name}` must be a sampler (with .sample) or a callable (num, rng) -> array; "
            f"got {type(sampler).__name__}."
        )
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != num:
        raise ParameterError(
            f"`{name}` must return an array of shape ({num}, dim); got {arr.shape}."
        )
    if not np.isfinite(arr).all():
        raise ParameterError(f"`{name}` returned non-finite samples.")
    return arr, res


def _holm(names: list[str], stats_: list[float], pvals: list[float], alpha: float,
          resolutions: list[float] | None = None
          ) -> tuple[tuple[SubTest, ...], float, bool]:
    p = np.clip(np.asarray(pvals, dtype=np.float64), 0.0, 1.0)
    res = resolutions if resolutions is not None else [0.0] * len(names)
    reject, adj, _, _ = multipletests(p, alpha=alpha, method="holm")
    tests = tuple(
        SubTest(n, float(s), float(pv), float(a), bool(r), float(g))
        for n, s, pv, a, r, g in zip(names, stats_, p, adj, reject, res, strict=True)
    )
    return tests, float(adj.min()), not bool(reject.any())


def _status(passed: bool, no_power: bool) -> str:
    return "pass" if passed and not no_power else ("fail" if not passed else "no-power")


def _family_notes(tests: tuple[SubTest, ...], fam_p: float, alpha: float) -> list[str]:
    """A family p-value of 1 explained; Monte Carlo sub-tests that cannot reject."""
    notes = []
    m = len(tests)
    if fam_p >= 1.0:
        pmin = min(t.pvalue for t in tests)
        notes.append(
            f"family p-value 1: Holm's adjustment min(1, m p_min) with m = {m} and smallest "
            f"raw p-value {pmin:.3g} >= 1/m (the correction, not a degenerate statistic)"
        )
    for t in tests:
        if t.resolution > alpha / m:
            notes.append(
                f"{t.name}: p-value resolution {t.resolution:.3g} > alpha / m = "
                f"{alpha / m:.3g}; this sub-test alone cannot reject the family"
            )
    return notes


def _tie_notes(label: str, x: np.ndarray) -> list[str]:
    """Tied values per coordinate (the KS nulls assume continuous laws)."""
    notes = []
    for j in range(x.shape[1]):
        ties = x.shape[0] - np.unique(x[:, j]).size
        if ties:
            notes.append(f"{label} coordinate {j}: {ties} tied values of {x.shape[0]} "
                         "(KS p-values are conservative with ties)")
    return notes


def _check_alpha(alpha: Any, name: str = "alpha") -> float:
    return check_float(name, alpha, low=0.0, high=1.0, low_open=True, high_open=True)


def _dkw_const(n: int, m: int) -> float:
    """``c = nm / (sqrt n + sqrt m)^2``: P(sup|F_n - G_m| > e) <= 4 exp(-2 c e^2) under H0."""
    return n * m / (math.sqrt(n) + math.sqrt(m)) ** 2


def energy_distance_test(
    x: np.ndarray, y: np.ndarray, *, num_permutations: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Energy distance ``2 E|X-Y| - E|X-X'| - E|Y-Y'|`` with a permutation p-value."""
    n, m = x.shape[0], y.shape[0]
    z = np.concatenate([x, y])
    dist = cdist(z, z)
    base = np.concatenate([np.ones(n), np.zeros(m)])
    perms = np.argsort(rng.random((num_permutations, n + m)), axis=1)
    labels = np.concatenate([base[:, None], base[perms].T], axis=1)
    dl = dist @ labels
    total = dist.sum()
    s_xx = (labels * dl).sum(axis=0)
    s_xy = ((1.0 - labels) * dl).sum(axis=0)
    s_yy = total - 2.0 * s_xy - s_xx
    e = 2.0 * s_xy / (n * m) - s_xx / n**2 - s_yy / m**2
    pval = (1.0 + np.sum(e[1:] >= e[0] - 1e-12 * abs(e[0]))) / (num_permutations + 1.0)
    return float(e[0]), float(pval)


# ----------------------------------------------------------------------------- same law
def check_same_law(
    sampler_a: Any,
    sampler_b: Any,
    *,
    num_samples: int,
    alpha: float = 0.01,
    rng: Any = None,
    beta: float = 0.1,
    num_permutations: int | None = None,
    num_projections: int = 32,
    max_energy_samples: int = 1000,
) -> SameLawResult:
    """Two-sample test that two samplers have the same output law.

    Parameters
    ----------
    sampler_a, sampler_b : sampler or callable ``(num, rng) -> array (num, dim)``
    num_samples : int
        Samples drawn from each (independent streams spawned from ``rng``).
    alpha : float
        Family-wise error rate (Holm over all hypotheses).
    rng : seed or Generator
    beta : float
        Type-II error used in the stated power.
    num_permutations : int, optional
        Permutations of the energy-distance null; default
        ``max(199, ceil(2 m / alpha))`` for a family of ``m`` hypotheses, so that the
        smallest attainable permutation p-value can survive Holm's correction.
    num_projections : int
        Random unit directions of the sliced KS test; its p-value is Bonferroni over
        the ``K`` projections of the exact two-sample KS p-values,
        ``min(1, K min_k p_k)``, valid for any continuous law (conservative with
        ties). (The former DKW union bound ``min(1, 4 K exp(-2 c D^2))`` was 1 for
        every sample of the sizes used: a sub-test with no power.)
    max_energy_samples : int
        The energy test uses the first ``min(num_samples, max_energy_samples)``
        samples of each (its cost is quadratic).

    Returns
    -------
    SameLawResult
    """
    num = check_int("num_samples", num_samples, low=10)
    alpha = _check_alpha(alpha)
    beta = _check_alpha(beta, "beta")
    num_projections = check_int("num_projections", num_projections, low=1)
    max_energy_samples = check_int("max_energy_samples", max_energy_samples, low=10)
    gen = np.random.default_rng(rng)
    s_a, s_b, s_t = gen.spawn(3)
    x, _ = _draw(sampler_a, num, s_a, "sampler_a")
    y, _ = _draw(sampler_b, num, s_b, "sampler_b")
    if x.shape[1] != y.shape[1]:
        raise ParameterError(
            f"the samplers must have the same dimension; got {x.shape[1]} and {y.shape[1]}."
        )
    d = x.shape[1]
    if num_permutations is None:
        num_permutations = max(199, math.ceil(2.0 * (d + 2) / alpha))
    num_permutations = check_int("num_permutations", num_permutations, low=19)
    names: list[str] = []
    st: list[float] = []
    pv: list[float] = []
    ne = min(num, max_energy_samples)
    e, pe = energy_distance_test(x[:ne], y[:ne], num_permutations=num_permutations, rng=s_t)
    names.append("energy distance (permutation)")
    st.append(e)
    pv.append(pe)
    dirs = s_t.standard_normal((num_projections, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    px, py = x @ dirs.T, y @ dirs.T
    ks = [stats.ks_2samp(px[:, k], py[:, k]) for k in range(num_projections)]
    c = _dkw_const(num, num)
    names.append(f"sliced KS over {num_projections} projections (exact KS, Bonferroni)")
    st.append(max(float(r.statistic) for r in ks))
    pv.append(min(1.0, num_projections * min(float(r.pvalue) for r in ks)))
    for j in range(d):
        r = stats.ks_2samp(x[:, j], y[:, j])
        names.append(f"KS coordinate {j}")
        st.append(float(r.statistic))
        pv.append(float(r.pvalue))
    resolution = 1.0 / (num_permutations + 1.0)
    tests, fam_p, passed = _holm(names, st, pv, alpha,
                                 [resolution] + [0.0] * (len(names) - 1))
    m_tests = len(tests)
    # DKW bounds the exact two-sample KS tails: the stated distance is conservative
    eps_crit = math.sqrt(math.log(4.0 * m_tests / alpha) / (2.0 * c))
    eps_beta = math.sqrt(math.log(4.0 / beta) / (2.0 * c))
    delta_ks = min(1.0, eps_crit + eps_beta)
    shift = 2.0 * stats.norm.ppf((1.0 + delta_ks) / 2.0) if delta_ks < 1 else math.inf
    notes = _family_notes(tests, fam_p, alpha) + _tie_notes("sampler_a", x) + _tie_notes(
        "sampler_b", y)
    return SameLawResult(
        statistic=e, pvalue=fam_p, passed=passed and delta_ks < 1.0, alpha=alpha, beta=beta,
        num_samples=num, tests=tests, detectable_ks_distance=delta_ks,
        detectable_mean_shift=float(shift), status=_status(passed, delta_ks >= 1.0),
        pvalue_resolution=resolution, num_permutations=num_permutations, notes=tuple(notes),
    )


# ----------------------------------------------------------------------------- gaussian chain
def gaussian_chain_moments(
    mean: Any, cov: Any, grid: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact law of the Euler localization chain for ``Y ~ N(mean, cov)``.

    The drift ``f(t, x) = (S^{-1} + t I)^{-1} (S^{-1} m + x)`` is affine, so every
    ``x_k`` is Gaussian. In the eigenbasis of ``S`` the coordinates are
    independent scalar recursions
    ``mu' = (1 + h a_k) mu + h b_k``, ``v' = (1 + h a_k)^2 v + h`` with
    ``a_k = lam / (1 + t_k lam)``, ``b_k = m_rot / (1 + t_k lam)``.

    Parameters
    ----------
    mean : array_like, shape (dim,)
    cov : array_like, shape (dim, dim), symmetric positive definite
    grid : LocalizationGrid or array_like of times

    Returns
    -------
    end_mean, end_cov, out_mean, out_cov : ndarrays
        Mean and covariance of ``x_N`` and of the output ``f(T, x_N)``.
    """
    g = grid if isinstance(grid, LocalizationGrid) else LocalizationGrid(grid)
    m = np.asarray(mean, dtype=np.float64)
    s = np.asarray(cov, dtype=np.float64)
    if m.ndim != 1 or s.shape != (m.shape[0], m.shape[0]):
        raise ParameterError(
            f"`mean` must have shape (dim,) and `cov` (dim, dim); got {m.shape} and {s.shape}."
        )
    if not (np.isfinite(m).all() and np.isfinite(s).all()) or not np.allclose(s, s.T):
        raise ParameterError("`cov` must be finite and symmetric (and `mean` finite).")
    lam, u = np.linalg.eigh(0.5 * (s + s.T))
    if not (lam > 0).all():
        raise ParameterError(
            f"`cov` must be positive definite; got smallest eigenvalue {float(lam.min())!r}."
        )
    mrot = u.T @ m
    mu = np.zeros_like(m)
    v = np.zeros_like(m)
    for k in range(g.num_steps):
        t, h = g.times[k], g.steps[k]
        a = lam / (1.0 + t * lam)
        b = mrot / (1.0 + t * lam)
        mu = (1.0 + h * a) * mu + h * b
        v = (1.0 + h * a) ** 2 * v + h
    a_t = lam / (1.0 + g.T * lam)
    b_t = mrot / (1.0 + g.T * lam)
    end_mean, end_cov = u @ mu, (u * v) @ u.T
    out_mean, out_cov = u @ (a_t * mu + b_t), (u * (a_t**2 * v)) @ u.T
    return end_mean, 0.5 * (end_cov + end_cov.T), out_mean, 0.5 * (out_cov + out_cov.T)


def _gauss_tests(z: np.ndarray, mean: np.ndarray, cov: np.ndarray, label: str
                 ) -> tuple[list[str], list[float], list[float]]:
    n, d = z.shape
    chol = np.linalg.cholesky(cov)
    w = np.linalg.solve(chol, (z - mean).T).T
    names, st, pv = [], [], []
    t_mean = float(n * (w.mean(axis=0) ** 2).sum())
    names.append(f"{label}: Mahalanobis mean (chi2_{d})")
    st.append(t_mean)
    pv.append(float(stats.chi2.sf(t_mean, d)))
    r2 = (w * w).sum(axis=1)
    r = stats.kstest(r2, stats.chi2(d).cdf)
    names.append(f"{label}: KS of squared Mahalanobis radius vs chi2_{d}")
    st.append(float(r.statistic))
    pv.append(float(r.pvalue))
    for j in range(d):
        r = stats.kstest(w[:, j], stats.norm.cdf)
        names.append(f"{label}: whitened KS coordinate {j}")
        st.append(float(r.statistic))
        pv.append(float(r.pvalue))
    return names, st, pv


def check_gaussian_chain(
    sampler: Any,
    mean: Any,
    cov: Any,
    grid: Any,
    *,
    num_samples: int,
    alpha: float = 0.01,
    rng: Any = None,
    beta: float = 0.1,
) -> GaussianChainResult:
    """Test a diffusion sampler against the exact Euler-chain law for ``N(mean, cov)``.

    The output samples (and ``aux["path_end"]`` when the sampler returns a
    :class:`~samplers.base.SampleResult`) are whitened with the exact covariance and
    tested with the Mahalanobis mean test (``n |w_bar|^2 ~ chi2_d``), a KS test of
    ``|w|^2`` against ``chi2_d`` and per-coordinate KS tests against ``N(0, 1)``;
    Holm across the family.
    """
    num = check_int("num_samples", num_samples, low=10)
    alpha = _check_alpha(alpha)
    beta = _check_alpha(beta, "beta")
    end_mean, end_cov, out_mean, out_cov = gaussian_chain_moments(mean, cov, grid)
    gen = np.random.default_rng(rng)
    x, res = _draw(sampler, num, gen, "sampler")
    d = out_mean.shape[0]
    if x.shape[1] != d:
        raise ParameterError(f"the sampler must return dimension {d}; got {x.shape[1]}.")
    names, st, pv = _gauss_tests(x, out_mean, out_cov, "output f(T, x_N)")
    notes = _tie_notes("output", x)
    aux = getattr(res, "aux", None) or {}
    if "path_end" in aux:
        end = np.asarray(aux["path_end"], dtype=np.float64)
        n2, s2, p2 = _gauss_tests(end, end_mean, end_cov, "path end x_N")
        for name, s_, p_ in zip(n2, s2, p2, strict=True):
            twin = name.replace("path end x_N", "output f(T, x_N)")
            if "whitened" not in name and twin in names and math.isclose(
                    s_, st[names.index(twin)], rel_tol=1e-9, abs_tol=1e-12):
                # affine-invariant statistic of an output that is the affine image of
                # the path end: the same hypothesis twice, kept once
                notes.append(f"'{name}' dropped: it equals '{twin}' (the output is the "
                             "affine image f(T, x_N) of the path end)")
                continue
            names.append(name)
            st.append(s_)
            pv.append(p_)
    tests, fam_p, passed = _holm(names, st, pv, alpha)
    crit = stats.chi2.isf(alpha / len(tests), d)

    def power_gap(delta: float) -> float:
        return float(stats.ncx2.sf(crit, d, num * delta**2)) - (1.0 - beta)

    shift = float(optimize.brentq(power_gap, 1e-9, 100.0))
    notes = _family_notes(tests, fam_p, alpha) + notes
    return GaussianChainResult(
        statistic=tests[0].statistic, pvalue=fam_p, passed=passed, alpha=alpha, beta=beta,
        num_samples=num, tests=tests, output_mean=out_mean, output_cov=out_cov,
        end_mean=end_mean, end_cov=end_cov, detectable_mahalanobis_shift=shift,
        status=_status(passed, False), pvalue_resolution=0.0, notes=tuple(notes),
    )


# ----------------------------------------------------------------------------- Stein
def check_stein_discrepancy(
    sampler: Any,
    target: Any,
    *,
    num_samples: int,
    alpha: float = 0.01,
    rng: Any = None,
    num_bootstrap: int = 999,
    bandwidth: float | None = None,
) -> SteinResult:
    """Kernel Stein discrepancy test of samples against ``target``'s closed-form score.

    Gaussian kernel ``k(x, y) = exp(-|x - y|^2 / (2 l^2))``; the Stein kernel is
    ``u = k [s_x.s_y + (s_x - s_y).(x - y) / l^2 + d / l^2 - |x - y|^2 / l^4]`` with
    ``s = target.grad_logpdf``. Statistic: the U-statistic ``KSD^2``; null: the wild
    (Rademacher) bootstrap ``w^T U w / (n (n - 1))``. The bandwidth defaults to the
    median pairwise distance of an independent sample of the target (so it does not
    depend on the data tested).

    Like every score-based test, it is nearly blind to wrong mixing weights of
    well-separated components (the score barely depends on them away from the
    valleys); use :func:`check_same_law` against an exact sampler for those.

    Parameters
    ----------
    sampler : sampler, callable ``(num, rng) -> array`` or array (num, dim) of samples
    target : object with ``dim``, ``grad_logpdf(y)`` and ``sample(num, *, rng)``
    """
    alpha = _check_alpha(alpha)
    num_bootstrap = check_int("num_bootstrap", num_bootstrap, low=19)
    if not callable(getattr(target, "grad_logpdf", None)):
        raise ParameterError(
            f"`target` must have a closed-form score `grad_logpdf`; got {type(target).__name__}."
        )
    gen = np.random.default_rng(rng)
    s_x, s_bw, s_boot = gen.spawn(3)
    if isinstance(sampler, np.ndarray):
        x = np.asarray(sampler, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        num = x.shape[0]
    else:
        num = check_int("num_samples", num_samples, low=10)
        x, _ = _draw(sampler, num, s_x, "sampler")
    n, d = x.shape
    if bandwidth is None:
        ref = target.sample(min(n, 500), rng=s_bw)
        dd = cdist(ref, ref)
        bandwidth = float(np.median(dd[np.triu_indices_from(dd, 1)]))
    bw = check_float("bandwidth", bandwidth, low=0.0, low_open=True)
    sc = target.grad_logpdf(x)
    diff = x[:, None, :] - x[None, :, :]
    r2 = (diff * diff).sum(axis=2)
    k = np.exp(-r2 / (2.0 * bw**2))
    t1 = sc @ sc.T
    t2 = (np.einsum("id,ijd->ij", sc, diff) - np.einsum("jd,ijd->ij", sc, diff)) / bw**2
    u = k * (t1 + t2 + d / bw**2 - r2 / bw**4)
    np.fill_diagonal(u, 0.0)
    norm = n * (n - 1)
    stat = float(u.sum() / norm)
    w = s_boot.choice([-1.0, 1.0], size=(num_bootstrap, n))
    boot = np.einsum("bi,ij,bj->b", w, u, w) / norm
    pval = float((1.0 + np.sum(boot >= stat)) / (num_bootstrap + 1.0))
    crit = float(np.quantile(boot, 1.0 - alpha))
    resolution = 1.0 / (num_bootstrap + 1.0)
    no_power = resolution > alpha  # the smallest attainable p-value cannot reject
    notes = []
    if no_power:
        notes.append(f"p-value resolution 1/(num_bootstrap + 1) = {resolution:.3g} > alpha = "
                     f"{alpha:.3g}: the test cannot reject; use num_bootstrap >= "
                     f"{math.ceil(1.0 / alpha)}")
    notes += _tie_notes("samples", x)
    return SteinResult(
        statistic=stat, pvalue=pval, passed=pval > alpha and not no_power, alpha=alpha,
        num_samples=n, bandwidth=bw, critical_value=crit,
        status=_status(pval > alpha, no_power), pvalue_resolution=resolution,
        num_bootstrap=num_bootstrap, notes=tuple(notes),
    )


# ----------------------------------------------------------------------------- acceptance
def check_speculative_acceptance(
    sampler: Any,
    *,
    num_samples: int,
    alpha: float = 0.01,
    rng: Any = None,
    beta: float = 0.1,
    num_bins: int = 8,
) -> AcceptanceResult:
    """Per-step acceptance of a speculative diffusion sampler against ``2 Phi(-|D|/2)``.

    The sampler must return ``aux["step_dnorm"]`` (``|D_k|``) and
    ``aux["step_accepted"]`` for every evaluated step (up to and including each
    window's first rejection). Given the past, step ``k`` is accepted with
    probability ``p_k = 2 Phi(-|D_k| / 2)`` exactly, so ``sum (A_k - p_k)`` is a
    martingale: tested with its z-score (both sides) and a binned chi-square over
    quantile bins of ``p_k`` (each bin's sum is a martingale too); Holm.
    """
    num = check_int("num_samples", num_samples, low=1)
    alpha = _check_alpha(alpha)
    beta = _check_alpha(beta, "beta")
    num_bins = check_int("num_bins", num_bins, low=1)
    res = sampler.sample(num, rng=np.random.default_rng(rng))
    aux = getattr(res, "aux", {}) or {}
    if "step_dnorm" not in aux or "step_accepted" not in aux:
        raise ParameterError(
            "`sampler` must expose aux['step_dnorm'] and aux['step_accepted'] "
            "(SpeculativeDiffusionSampler does)."
        )
    dn = np.asarray(aux["step_dnorm"], dtype=np.float64)
    acc = np.asarray(aux["step_accepted"], dtype=bool)
    if dn.size < 2:
        raise ParameterError(f"too few non-trivial steps to test; got {dn.size}.")
    p = 2.0 * stats.norm.sf(dn / 2.0)
    var = p * (1.0 - p)
    resid = acc.astype(np.float64) - p
    z = float(resid.sum() / math.sqrt(max(var.sum(), 1e-300)))
    names = ["martingale z-score of accepts"]
    st = [z]
    pv = [float(2.0 * stats.norm.sf(abs(z)))]
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, num_bins + 1)))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(edges.size - 2, 0))
    nb = int(which.max()) + 1
    o = np.bincount(which, weights=acc.astype(np.float64), minlength=nb)
    e = np.bincount(which, weights=p, minlength=nb)
    v = np.bincount(which, weights=var, minlength=nb)
    keep = v > 0
    chi = float((((o - e) ** 2)[keep] / v[keep]).sum())
    names.append(f"binned chi-square ({int(keep.sum())} bins of p)")
    st.append(chi)
    pv.append(float(stats.chi2.sf(chi, max(int(keep.sum()), 1))))
    tests, fam_p, passed = _holm(names, st, pv, alpha)
    zc = stats.norm.isf(alpha / (2.0 * len(tests))) + stats.norm.isf(beta)
    shift = float(zc * math.sqrt(var.sum()) / dn.size)
    no_power = shift >= 1.0
    return AcceptanceResult(
        statistic=z, pvalue=fam_p, passed=passed and not no_power, alpha=alpha, beta=beta,
        num_steps=int(dn.size), observed_rate=float(acc.mean()),
        predicted_rate=float(p.mean()), tests=tests, detectable_rate_shift=shift,
        bins={"observed": o, "expected": e, "variance": v},
        status=_status(passed, no_power), pvalue_resolution=0.0,
        notes=tuple(_family_notes(tests, fam_p, alpha)),
    )
