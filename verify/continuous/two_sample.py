""":func:`check_same_law`: do two samplers have the same output law? (energy distance,
sliced and per-coordinate KS, Holm)."""

from __future__ import annotations

import math
from concurrent.futures import Executor

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist

from distributions.errors import ParameterError
from distributions.validation import check_int
from verify.continuous.common import (
    MEMORY_ADVICE,
    _check_alpha,
    _family_notes,
    _holm,
    _status,
    _tie_notes,
    check_continuous_size,
    sample_array,
)
from verify.continuous.results import (
    SameLawResult,
)
from verify.continuous.sharded import draw_real_sharded
from verify.execution import check_executor, ship_sampler
from verify.planning import MAX_SAMPLES
from verify.sampling import SamplerLike, SeedLike, check_memory, int_seed


def _dkw_const(n: int, m: int) -> float:
    """``c = nm / (sqrt n + sqrt m)^2``: P(sup|F_n - G_m| > e) <= 4 exp(-2 c e^2) under H0."""
    return n * m / (math.sqrt(n) + math.sqrt(m)) ** 2


def energy_distance_test(
    x: np.ndarray, y: np.ndarray, *, num_permutations: int, rng: SeedLike
) -> tuple[float, float]:
    """Energy distance ``2 E|X-Y| - E|X-X'| - E|Y-Y'|`` with a permutation p-value.

    ``x`` and ``y`` are finite ``(n, dim)`` and ``(m, dim)`` arrays (a 1-d array is
    one coordinate), ``n, m >= 2``; ``num_permutations >= 1``; ``rng`` a seed or
    Generator (normalised by ``numpy.random.default_rng``). The ``(n + m)`` square
    distance matrix and the ``(n + m) x (num_permutations + 1)`` labels are held to
    the memory cap :data:`verify.sampling.MAX_SAMPLE_ENTRIES`. All checked before
    any work (:class:`ParameterError`).
    """
    x, y = sample_array(x, "`x`", min_rows=2), sample_array(y, "`y`", min_rows=2)
    if x.shape[1] != y.shape[1]:
        raise ParameterError(
            f"`x` and `y` must have the same dimension; got {x.shape[1]} and {y.shape[1]}.")
    num_permutations = check_int("num_permutations", num_permutations, low=1)
    n, m = x.shape[0], y.shape[0]
    check_memory(n + m, n + m + num_permutations + 1, "energy_distance_test",
                 width="(n + m + num_permutations + 1)", advice=MEMORY_ADVICE)
    rng = np.random.default_rng(rng)
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
    sampler_a: SamplerLike,
    sampler_b: SamplerLike,
    *,
    num_samples: int,
    alpha: float = 0.01,
    rng: SeedLike = None,
    beta: float = 0.1,
    num_permutations: int | None = None,
    num_projections: int = 32,
    max_energy_samples: int = 1000,
    executor: Executor | None = None,
    max_samples: int | None = MAX_SAMPLES,
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
    executor : concurrent.futures.Executor, optional
        Where the samples of both samplers are drawn, in shards of
        :data:`verify.continuous.sharded.REAL_SHARD` (:mod:`verify.execution`);
        ``None``: in process. The result is the same for every executor and number
        of workers. The shards return the raw samples: every sub-test here is a
        function of all of them, not of sums.
    max_samples : int >= 10 or None, default :data:`verify.planning.MAX_SAMPLES`
        Cap on ``num_samples``, checked before any work. The memory cap
        :data:`verify.sampling.MAX_SAMPLE_ENTRIES` on the ``2 num_samples x (dim +
        num_projections)`` floats kept is checked before any work with ``dim = 1``
        and again when the first shard of ``sampler_a`` shows ``dim``.

    Returns
    -------
    SameLawResult
    """
    num = check_continuous_size(num_samples, max_samples, "check_same_law")
    alpha = _check_alpha(alpha)
    beta = _check_alpha(beta, "beta")
    num_projections = check_int("num_projections", num_projections, low=1)
    max_energy_samples = check_int("max_energy_samples", max_energy_samples, low=10)

    if num_permutations is not None:
        num_permutations = check_int("num_permutations", num_permutations, low=19)
    ne = min(num, max_energy_samples)

    def perms(dim: int) -> int:
        return num_permutations or max(199, math.ceil(2.0 * (dim + 2) / alpha))

    def memory(dim: int) -> None:
        # x, y and their projections: 2 num (dim + K) floats; the energy test: its
        # (2 ne)^2 distances and 2 ne x (permutations + 1) labels
        check_memory(2 * num, dim + num_projections,
                     f"check_same_law (both samples and their {num_projections} projections)",
                     width="(dim + num_projections)", advice=MEMORY_ADVICE)
        check_memory(2 * ne, 2 * ne + perms(dim) + 1,
                     "check_same_law's energy test (distances and permutation labels)",
                     width="(2 ne + num_permutations + 1)", advice=MEMORY_ADVICE)

    memory(1)  # before any work, with the smallest dimension; again at the first shard
    executor = check_executor(executor)
    ship_a, ship_b = ship_sampler(sampler_a, executor), ship_sampler(sampler_b, executor)
    gen = np.random.default_rng(rng)
    s_a, s_b, s_t = gen.spawn(3)
    x, _ = draw_real_sharded(ship_a, num, s_a, "sampler_a", executor=executor,
                             check_dim=memory)
    y, _ = draw_real_sharded(ship_b, num, s_b, "sampler_b", executor=executor)
    if x.shape[1] != y.shape[1]:
        raise ParameterError(
            f"the samplers must have the same dimension; got {x.shape[1]} and {y.shape[1]}."
        )
    d = x.shape[1]
    num_permutations = perms(d)
    names: list[str] = []
    st: list[float] = []
    pv: list[float] = []
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
        method="energy-ks-holm", detectable_tv=delta_ks, seed=int_seed(rng),
        effect="KS distance between one coordinate's marginals (power 1 - beta)",
        statistic=e, pvalue=fam_p, passed=passed and delta_ks < 1.0, alpha=alpha, beta=beta,
        num_samples=num, tests=tests, detectable_ks_distance=delta_ks,
        detectable_mean_shift=float(shift), status=_status(passed, delta_ks >= 1.0),
        pvalue_resolution=resolution, num_permutations=num_permutations, notes=tuple(notes),
    )
