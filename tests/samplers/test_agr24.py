"""Tests of the AGR24 baseline (DESIGN 4.3) and its exponential-race coupling."""

from __future__ import annotations

import itertools
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from scipy import stats

from distributions.errors import BudgetExceededError, ParameterError
from distributions.scalable import CurieWeiss
from distributions.table import TableDistribution
from samplers.agr24 import AGR24Sampler, AGR24Steps, default_block_size, race_coupling
from tests.helpers import assert_exact_gtest, assert_family, gtest_table
from verify.mutants import AGR24_MUTANTS

ALPHA = 1e-3  # family-wise error rate of every statistical assertion in this file
NUM = 60_000  # samples per exactness check


# ---------------------------------------------------------------------- tables
def dirichlet_table(n: int, q: int, seed: int, conc: float = 1.0) -> TableDistribution:
    return TableDistribution(np.random.default_rng(seed).dirichlet(np.full(q**n, conc))
                             .reshape((q,) * n))


def ising_chain_table(n: int, coupling: float) -> TableDistribution:
    """Strongly coupled 1-D Ising chain: adjacent guesses disagree often."""
    s = 2 * np.stack(np.unravel_index(np.arange(2**n), (2,) * n), axis=1) - 1
    logw = coupling * (s[:, 1:] * s[:, :-1]).sum(axis=1) + 0.3 * s.sum(axis=1)
    w = np.exp(logw - logw.max())
    return TableDistribution(w.reshape((2,) * n))


def hardcore_cycle_table(n: int, fugacity: float) -> TableDistribution:
    """Independent sets of the n-cycle: many zero-probability contexts."""
    x = np.stack(np.unravel_index(np.arange(2**n), (2,) * n), axis=1)
    ok = ~((x == 1) & (np.roll(x, 1, axis=1) == 1)).any(axis=1)
    return TableDistribution((ok * fugacity ** x.sum(axis=1)).reshape((2,) * n))


def product_table(n: int, q: int, seed: int) -> TableDistribution:
    marg = np.random.default_rng(seed).dirichlet(np.ones(q), size=n)
    table = marg[0]
    for i in range(1, n):
        table = np.multiply.outer(table, marg[i])
    return TableDistribution(table)


# ---------------------------------------------------------------------- mutants
# the negative controls live in verify.mutants (AGR24_MUTANTS); this exact variant
# stays here: any coupling with the right marginals is exact
KeepGuessAGR24 = AGR24_MUTANTS["agr24-keep-guess"]
RestrictedCorrectionAGR24 = AGR24_MUTANTS["agr24-restricted-correction"]


class IndependentClocks(AGR24Steps):
    """Independent clocks: x ~ c independently of the guess. Still exact (any
    coupling with the right marginals is), but agrees less often."""

    def correct(self, source, p, c, g):
        live = c.sum(axis=1) > 0
        c = np.where(live[:, None], c, p)
        return source.categorical(c)


def IndependentClocksAGR24(oracle, **kw):  # noqa: N802 - stands for a sampler class
    return AGR24Sampler(oracle, steps=IndependentClocks(), **kw)


# ---------------------------------------------------------------------- coupling
def _random_pairs(q: int, m: int, seed: int, zeros: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(q, 0.7), size=m)
    c = rng.dirichlet(np.full(q, 0.7), size=m)
    if zeros:
        p[rng.random((m, q)) < 0.3] = 0.0
        c[rng.random((m, q)) < 0.3] = 0.0
        p[:, 0] += (p.sum(1) == 0)
        c[:, -1] += (c.sum(1) == 0)
        p /= p.sum(1, keepdims=True)
        c /= c.sum(1, keepdims=True)
    return p, c


@pytest.mark.parametrize("q", [2, 3, 4, 7])
@pytest.mark.parametrize("zeros", [False, True])
def test_race_coupling_marginals(q: int, zeros: bool) -> None:
    p, c = _random_pairs(q, 2000, seed=31 + q, zeros=zeros)
    J = race_coupling(p, c)
    assert J.shape == (2000, q, q)
    assert (J >= 0).all()
    np.testing.assert_allclose(J.sum(axis=2), p, atol=1e-13, rtol=0)
    np.testing.assert_allclose(J.sum(axis=1), c, atol=1e-13, rtol=0)
    # an impossible value is never chosen by either argmin
    assert (J[np.broadcast_to(p[:, :, None] == 0, J.shape)] == 0).all()
    assert (J[np.broadcast_to(c[:, None, :] == 0, J.shape)] == 0).all()


def test_race_coupling_closed_forms() -> None:
    # q = 2: the race coupling is the maximal coupling
    p, c = _random_pairs(2, 500, seed=5, zeros=False)
    J = race_coupling(p, c)
    np.testing.assert_allclose(J[:, 0, 0], np.minimum(p[:, 0], c[:, 0]), atol=1e-14)
    np.testing.assert_allclose(J[:, 1, 1], np.minimum(p[:, 1], c[:, 1]), atol=1e-14)
    # p == c: diagonal; unnormalised weights are normalised; leading axes kept
    w = np.array([[[2.0, 1.0, 1.0]], [[0.0, 3.0, 1.0]]])
    J = race_coupling(w, w)
    assert J.shape == (2, 1, 3, 3)
    np.testing.assert_allclose(J[1, 0], np.diag([0.0, 0.75, 0.25]), atol=1e-15)
    # a hand-computed q = 3 diagonal: 1 / (1 + max(p1/p0, c1/c0) + max(p2/p0, c2/c0))
    p3, c3 = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.2, 0.6])
    J = race_coupling(p3, c3)
    assert J[0, 0] == pytest.approx(1 / (1 + 1.0 + 3.0), abs=1e-15)
    assert J[1, 1] == pytest.approx(1 / (1 + 0.5 / 0.3 + 3.0), abs=1e-15)


def test_race_coupling_matches_exponential_clocks() -> None:
    """G-test of real exponential races against J (all q*q cells, zeros included)."""
    seed = 20241
    rng = np.random.default_rng(seed)
    cases = {
        "q3": (np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.2, 0.6])),
        "q4-zeros": (np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.1, 0.0, 0.3, 0.6])),
        "q5-close": (np.array([0.3, 0.25, 0.2, 0.15, 0.1]),
                     np.array([0.25, 0.3, 0.15, 0.2, 0.1])),
    }
    m = 200_000
    pvalues = {}
    for name, (p, c) in cases.items():
        q = p.size
        E = rng.exponential(size=(m, q))
        with np.errstate(divide="ignore"):
            A = np.argmin(E / p, axis=1)
            B = np.argmin(E / c, axis=1)
        res = gtest_table(np.stack([A, B], axis=1), race_coupling(p, c).reshape(-1), q)
        assert res.impossible_hits == 0, name
        pvalues[name] = res.pvalue
    assert_family(pvalues, alpha=ALPHA, seed=seed, sizes=f"{m} races per case")


def test_race_coupling_agreement_bound() -> None:
    """P(agree) >= (1 - TV) / (1 + TV); the independent coupling breaks it."""
    for q in (2, 3, 5, 9):
        p, c = _random_pairs(q, 3000, seed=70 + q, zeros=q > 3)
        tv = 0.5 * np.abs(p - c).sum(axis=1)
        bound = (1 - tv) / (1 + tv)
        agree = np.trace(race_coupling(p, c), axis1=1, axis2=2)
        assert (agree >= bound - 1e-12).all(), q
        assert (agree <= 1 - tv + 1e-12).all(), q  # never beats the maximal coupling
        indep = (p * c).sum(axis=1)
        assert (indep < bound - 1e-3).any(), q  # the bound can fail: it tests something


def test_race_coupling_input_validation() -> None:
    with pytest.raises(ParameterError, match="same shape"):
        race_coupling([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ParameterError, match="non-negative"):
        race_coupling([1.5, -0.5], [0.5, 0.5])
    with pytest.raises(ParameterError, match="positive sum"):
        race_coupling([[0.5, 0.5], [0.0, 0.0]], [[0.5, 0.5], [0.5, 0.5]])


# ---------------------------------------------------------------------- exactness
def _exactness_cases() -> dict[str, tuple[TableDistribution, dict]]:
    t2 = dirichlet_table(6, 2, seed=11)
    t3 = dirichlet_table(4, 3, seed=12, conc=0.5)
    chain = ising_chain_table(6, 1.5)
    hard = hardcore_cycle_table(7, 2.0)
    cases: dict[str, tuple[TableDistribution, dict]] = {}
    for name, d in (("table-q2-n6", t2), ("table-q3-n4", t3)):
        for k in (1, 2, 3, d.n):
            cases[f"{name}-k{k}"] = (d, {"k": k})
    cases["ising-chain-n6-k6"] = (chain, {"k": 6})
    cases["ising-chain-n6-k3-identity"] = (chain, {"k": 3, "order": "identity"})
    cases["hardcore-C7-k4"] = (hard, {"k": 4})
    cases["hardcore-C7-k7-fixed-order"] = (hard, {"k": 7, "order": np.array([3, 0, 6, 1, 5, 2, 4])})
    return cases


@pytest.mark.slow
def test_exact_on_tables() -> None:
    """Full-table G-test of every case; Holm over the family."""
    seed = 8808
    seeds = np.random.SeedSequence(seed).spawn(len(_exactness_cases()))
    pvalues = {}
    for ss, (name, (d, kw)) in zip(seeds, _exactness_cases().items(), strict=True):
        res = AGR24Sampler(d, **kw).sample(NUM, rng=np.random.default_rng(ss))
        g = gtest_table(res.samples, d.pmf(), d.q)
        assert g.impossible_hits == 0, f"{name}: hit a zero-probability configuration"
        pvalues[name] = g.pvalue
    assert_family(pvalues, alpha=ALPHA, seed=seed, sizes=f"{NUM} samples per case")


@pytest.mark.parametrize(
    ("mutant", "table", "k"),
    [
        (KeepGuessAGR24, "table-q2-n6", 6),
        (KeepGuessAGR24, "table-q3-n4", 4),
        (RestrictedCorrectionAGR24, "table-q3-n4", 4),
    ],
)
def test_negative_controls_fail(mutant: type, table: str, k: int) -> None:
    """Wrong variants fail the same G-test at the same size and alpha."""
    seed = 4242
    d = _exactness_cases()[f"{table}-k{k}"][0]
    res = mutant(d, k=k).sample(NUM, rng=np.random.default_rng(seed))
    with pytest.raises(AssertionError, match="G-test rejects"):
        assert_exact_gtest(res.samples, d.pmf(), d.q, alpha=ALPHA, seed=seed,
                           label=type(mutant.steps).__name__)


@pytest.mark.parametrize(
    ("name", "cls", "kw", "exact"),
    [
        ("q2-n4", AGR24Sampler, {"k": 4, "order": "identity"}, True),
        ("q3-n3", AGR24Sampler, {"k": 3, "order": "identity"}, True),
        ("hardcore-C5", AGR24Sampler, {"k": 5, "order": "identity"}, True),
        ("q2-n3", AGR24Sampler, {"k": 3, "order": "random"}, True),
        ("q2-n4", KeepGuessAGR24, {"k": 4, "order": "identity"}, False),
        ("q3-n3", RestrictedCorrectionAGR24, {"k": 3, "order": "identity"}, False),
    ],
)
def test_exact_law_by_enumeration(name: str, cls: type, kw: dict, exact: bool) -> None:
    """Exact output law (every random choice enumerated, DESIGN 6.1): TV to the
    target is float round-off for the sampler and clearly positive for mutants."""
    exact_law = pytest.importorskip("verify.exact_law").exact_law
    target = {"q2-n4": dirichlet_table(4, 2, seed=1), "q3-n3": dirichlet_table(3, 3, seed=2),
              "q2-n3": dirichlet_table(3, 2, seed=3),
              "hardcore-C5": hardcore_cycle_table(5, 2.0)}[name]
    res = exact_law(lambda o: cls(o, **kw), target, rational=False)
    assert res.truncated_mass == 0.0
    if exact:
        assert res.tv < 1e-12, f"{cls!r} on {name}: exact TV {res.tv:.3g}"
    else:
        assert res.tv > 1e-2, f"mutant {cls!r} on {name} not caught: TV {res.tv:.3g}"


def test_independent_clocks_exact_but_slower() -> None:
    """Any coupling with the right marginals is exact; shared clocks buy agreement
    (fewer rounds). Welch z-test on mean rounds at alpha."""
    seed = 777
    d = ising_chain_table(6, 1.5)
    rng = np.random.default_rng(seed)
    indep = IndependentClocksAGR24(d, k=6).sample(NUM, rng=rng)
    assert_exact_gtest(indep.samples, d.pmf(), 2, alpha=ALPHA, seed=seed, label="indep")
    race = AGR24Sampler(d, k=6).sample(NUM, rng=rng)
    diff = indep.rounds.mean() - race.rounds.mean()
    se = np.sqrt(indep.rounds.var() / NUM + race.rounds.var() / NUM)
    assert stats.norm.sf(diff / se) < ALPHA, (
        f"shared clocks not cheaper: mean rounds {race.rounds.mean():.3f} vs independent "
        f"{indep.rounds.mean():.3f} (z={diff / se:.2f}); num={NUM}, seed={seed}"
    )


# ---------------------------------------------------------------------- cost
@pytest.mark.parametrize(("n", "k", "rounds"), [(7, 1, 7), (7, 2, 7), (7, 3, 5), (7, 7, 2),
                                                (7, 9, 2), (8, 3, 6)])
def test_cost_on_product_distribution(n: int, k: int, rounds: int) -> None:
    """nu = mu: every guess agrees, so a sample costs 2 rounds per full group of k
    (1 for a final single coordinate) and exactly n queries."""
    d = product_table(n, 2, seed=n + k)
    sampler = AGR24Sampler(d, k=k)
    res = sampler.sample(500, rng=np.random.default_rng(3))
    assert (res.rounds == rounds).all(), np.unique(res.rounds)
    assert (res.queries == n).all(), np.unique(res.queries)
    assert sampler.oracle.rows == res.queries.sum()


def _hand_table() -> TableDistribution:
    """x1 ~ Bern(1/2); x2 | x1=0: P(0)=0.9, x2 | x1=1: P(0)=0.2; x3 uniform, indep."""
    t12 = np.array([[0.5 * 0.9, 0.5 * 0.1], [0.5 * 0.2, 0.5 * 0.8]])
    return TableDistribution(np.multiply.outer(t12, [0.5, 0.5]))


def test_cost_hand_computed() -> None:
    """Hand-computed costs.

    n = 2, k = 2: x1 = g1 always and x2 is kept (agreeing or corrected): exactly
    2 rounds, 2 queries. n = 3, k = 3, identity order: p2 = (0.55, 0.45) and
    c2 = (0.9, 0.1) or (0.2, 0.8), TV = 0.35 either way, so (q = 2, maximal coupling)
    g2 is kept w.p. 0.65: 2 rounds, 3 queries; else x3 needs a third round:
    3 rounds, 4 queries. Binomial test of P(2 rounds) = 0.65 at alpha.
    """
    two = TableDistribution(np.array([[0.45, 0.05], [0.1, 0.4]]))
    res = AGR24Sampler(two, k=2).sample(1000, rng=np.random.default_rng(1))
    assert (res.rounds == 2).all() and (res.queries == 2).all()

    seed, num = 99, 20_000
    sampler = AGR24Sampler(_hand_table(), k=3, order="identity")
    res = sampler.sample(num, rng=np.random.default_rng(seed))
    assert set(np.unique(res.rounds)) <= {2, 3}
    np.testing.assert_array_equal(res.queries, res.rounds + 1)
    assert sampler.oracle.rows == res.queries.sum()
    hits = int((res.rounds == 2).sum())
    pval = stats.binomtest(hits, num, 0.65).pvalue
    assert pval >= ALPHA, f"P(2 rounds): {hits}/{num} vs 0.65, p={pval:.3g}, seed={seed}"


def test_rounds_independent_of_batch_size() -> None:
    """One call of 4000 samples vs 400 calls of one sample: same cost law
    (chi-square homogeneity test of the joint (rounds, queries) counts at alpha)."""
    seed = 2027
    d = ising_chain_table(6, 1.5)
    sampler = AGR24Sampler(d, k=3)
    batch = sampler.sample(4000, rng=np.random.default_rng(seed))
    singles = [sampler.sample(1, rng=np.random.default_rng(s))
               for s in np.random.SeedSequence(seed + 1).spawn(400)]
    single_cost = np.array([(r.rounds[0], r.queries[0]) for r in singles])
    batch_cost = np.stack([batch.rounds, batch.queries], axis=1)
    keys = sorted({tuple(v) for v in np.concatenate([single_cost, batch_cost]).tolist()})
    table = np.array([[int((np.all(cost == key, axis=1)).sum()) for key in keys]
                      for cost in (batch_cost, single_cost)])
    table = table[:, table.sum(axis=0) >= 10]  # chi-square validity: drop cells seen < 10 times
    pval = stats.chi2_contingency(table).pvalue
    assert pval >= ALPHA, f"cost law depends on batch size: p={pval:.3g}, seed={seed}"


# ---------------------------------------------------------------------- misc
def test_default_block_size_and_parameters() -> None:
    assert [default_block_size(n) for n in (1, 7, 8, 9, 27, 28, 1000, 1001)] == \
        [1, 2, 2, 3, 3, 4, 10, 11]
    d = dirichlet_table(4, 2, seed=0)
    assert AGR24Sampler(d).k == 2
    with pytest.raises(ParameterError, match="`k` must be an integer >= 1"):
        AGR24Sampler(d, k=0)
    with pytest.raises(ParameterError, match="`order`"):
        AGR24Sampler(d, order="backwards")
    res = AGR24Sampler(d).sample(0, rng=0)
    assert res.samples.shape == (0, 4) and res.rounds.shape == (0,)


def test_k1_is_sequential_and_all_values_reachable() -> None:
    d = dirichlet_table(3, 3, seed=4)
    res = AGR24Sampler(d, k=1).sample(5000, rng=np.random.default_rng(8))
    assert (res.rounds == 3).all() and (res.queries == 3).all()
    seen = {tuple(r) for r in res.samples.tolist()}
    assert seen == set(itertools.product(range(3), repeat=3))


# ---------------------------------------------------------------------- budgets
def _alarm_free() -> bool:
    return (signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))


class SlowChain:
    """An exact positional oracle (a product law) whose chain-rule calls sleep."""

    def __init__(self, n: int, delay: float) -> None:
        self.n, self.q, self.delay = n, 2, delay

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        out = np.full((x.shape[0], self.n, 2), 0.5)
        b, i = np.nonzero(x >= 0)
        out[b, i] = np.eye(2)[x[b, i]]
        return out

    def conditionals_at(self, x, positions, chain_values=None) -> np.ndarray:  # noqa: ANN001
        if chain_values is not None:
            time.sleep(self.delay)
        full = self.conditionals(x)
        return full[np.arange(full.shape[0])[:, None], np.asarray(positions)]


def test_round_budget_bounds_every_sample_and_draws_no_randomness() -> None:
    """Within the budget nothing changes (same seed, same samples and costs); one
    round below the largest rounds seen it stops, naming the rounds reached."""
    target = ising_chain_table(8, 1.2)
    free = AGR24Sampler(target, k=3).sample(2000, rng=np.random.default_rng(41))
    top = int(free.rounds.max())
    within = AGR24Sampler(target, k=3, max_rounds=top, timeout=600.0).sample(
        2000, rng=np.random.default_rng(41))
    np.testing.assert_array_equal(within.samples, free.samples)
    np.testing.assert_array_equal(within.rounds, free.rounds)
    with pytest.raises(BudgetExceededError, match=rf"`max_rounds` = {top - 1} exceeded: sample "
                       rf"\d+ reached {top} rounds in AGR24Sampler.sample\(\); k = 3; "):
        AGR24Sampler(target, k=3, max_rounds=top - 1).sample(2000, rng=np.random.default_rng(41))
    assert _alarm_free()


def test_timeout_stops_slow_round_pairs() -> None:
    """40 round-pairs of 0.2 s each stop at the 0.5 s timeout (main thread: the
    interval timer; off it: the check before every round-pair)."""
    start = time.monotonic()
    with pytest.raises(BudgetExceededError, match=r"`timeout` = 0.5 s exceeded: .*AGR24Sampler"
                       r".*of n = 80 coordinates fixed"):
        AGR24Sampler(SlowChain(80, 0.2), k=2, timeout=0.5).sample(3, rng=0)
    assert time.monotonic() - start < 5
    assert _alarm_free()
    caught: list[BaseException] = []

    def run() -> None:
        try:
            AGR24Sampler(SlowChain(80, 0.05), k=2, timeout=0.3).sample(3, rng=0)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            caught.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert len(caught) == 1 and isinstance(caught[0], BudgetExceededError), caught
    assert "`timeout` = 0.3 s exceeded" in str(caught[0])


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"max_rounds": 0}, r"`max_rounds` must be an integer >= 1; got 0\."),
        ({"max_rounds": -5}, r"`max_rounds` must be an integer >= 1; got -5\."),
        ({"timeout": -1}, r"`timeout` must be a finite number > 0; got -1\."),
        ({"timeout": "x"}, r"`timeout` must be a finite number > 0; got 'x'\."),
    ],
)
def test_budget_arguments_are_checked_first(kw: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        AGR24Sampler(object(), **kw)  # type: ignore[arg-type]


def test_curie_weiss_at_n_1e5_raises_no_warning() -> None:
    """Issue 18 item 21: AGR24 round-pairs on CurieWeiss(100000, beta=1) raise no
    RuntimeWarning (underflow included) until the 2 s timeout stops the sample."""
    with warnings.catch_warnings(), np.errstate(all="warn"):
        warnings.simplefilter("error")
        sampler = AGR24Sampler(CurieWeiss(100_000, beta=1.0), timeout=2.0)
        with pytest.raises(BudgetExceededError, match=r"of n = 100000 coordinates fixed"):
            sampler.sample(1, rng=np.random.default_rng(21))
    assert _alarm_free()
