"""Exactness, cost accounting and negative controls of the autospeculative sampler.

Statistical tests use literal seeds and alpha = 1e-3 per family (Holm-corrected);
negative controls must fail the very same test at the same size.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from scipy import stats

from distributions.base import MASK
from distributions.errors import BudgetExceededError, OracleError, ParameterError
from distributions.families import hardcore, ising, potts
from distributions.scalable import CurieWeiss, IsingChain, MixtureOfProducts
from distributions.table import TableDistribution
from samplers.autospec import AutospeculativeSampler, default_rho
from samplers.sequential import SequentialSampler
from tests.helpers import assert_exact_gtest, assert_family, gtest_table
from verify.mutants import (
    LeftRowsFromRightHalf,
    ResidualSkipped,
    RightConditionedOnProposal,
    SwappedResidualRatio,
)

ALPHA = 1e-3


def dirichlet_table(n: int, q: int, seed: int, *, zeros: float = 0.0) -> TableDistribution:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(q**n))
    if zeros:
        w[rng.random(q**n) < zeros] = 0.0
    return TableDistribution(w.reshape((q,) * n))


def product_marginals_tv(target: TableDistribution) -> float:
    """Exact TV(mu, nu) at the root: nu is the product of the one-site marginals."""
    n = target.n
    nu = np.ones(())
    for i in range(n):
        nu = np.multiply.outer(nu, target.marginal([i]))
    return 0.5 * float(np.abs(target.pmf() - nu.reshape(-1)).sum())


# ---------------------------------------------------------------------- exactness
@pytest.mark.parametrize(
    ("n", "q", "seed"), [(10, 2, 11), (8, 2, 12), (6, 3, 13), (5, 4, 14), (4, 3, 15)]
)
@pytest.mark.slow
def test_exact_on_random_tables(n: int, q: int, seed: int) -> None:
    target = dirichlet_table(n, q, seed)
    num = 100_000
    res = AutospeculativeSampler(target).sample(num, rng=np.random.default_rng(seed + 1000))
    assert_exact_gtest(res.samples, target.pmf(), q, alpha=ALPHA, seed=seed + 1000,
                       label=f"autospec on Dirichlet table n={n} q={q}")


def _family_targets() -> dict[str, object]:
    rng = np.random.default_rng(2026)
    J8 = np.triu(rng.uniform(-1.0, 1.0, (8, 8)), 1)
    J6 = np.triu(rng.uniform(0.0, 1.2, (6, 6)), 1)
    grid = np.zeros((9, 9), dtype=int)  # 3 x 3 grid graph
    for i in range(9):
        if i % 3 < 2:
            grid[i, i + 1] = grid[i + 1, i] = 1
        if i < 6:
            grid[i, i + 3] = grid[i + 3, i] = 1
    return {
        "ising(8)": ising(J8 + J8.T, rng.uniform(-0.5, 0.5, 8), beta=1.0),
        "potts(6, q=3)": potts(J6 + J6.T, 3, beta=1.0),
        "hardcore(3x3 grid)": hardcore(grid, 2.0),
        "mixture(K=3, n=10)": MixtureOfProducts([0.5, 0.3, 0.2], rng.random((3, 10, 2)) ** 3),
        "curie_weiss(10, beta=1)": CurieWeiss(10, 1.0, 0.05),
        "ising_chain(10, J=2)": IsingChain(10, 2.0, 0.1),
    }


@pytest.mark.slow
def test_exact_on_target_families() -> None:
    num, seed = 100_000, 2027
    gen = np.random.default_rng(seed)
    pvalues = {}
    for name, target in _family_targets().items():
        res = AutospeculativeSampler(target).sample(num, rng=gen)
        g = gtest_table(res.samples, target.pmf(), target.q)
        assert g.impossible_hits == 0, f"{name}: sampled a zero-probability configuration"
        pvalues[name] = g.pvalue
    assert_family(pvalues, alpha=ALPHA, seed=seed,
                  sizes=f"{num} samples per target, {len(pvalues)} targets")


def test_exact_with_zero_probability_cells() -> None:
    target = dirichlet_table(7, 2, 21, zeros=0.5)
    res = AutospeculativeSampler(target).sample(100_000, rng=np.random.default_rng(22))
    out = assert_exact_gtest(res.samples, target.pmf(), 2, alpha=ALPHA, seed=22,
                             label="autospec on a table with zero cells")
    assert out.impossible_hits == 0


@pytest.mark.slow
def test_exact_across_rho_and_orders() -> None:
    target = dirichlet_table(6, 2, 31)
    num = 60_000
    pvalues = {}
    configs: list[tuple[str, dict]] = [
        ("rho=0.05", {"rho": 0.05}),
        ("rho=1", {"rho": 1.0}),
        ("rho=3", {"rho": 3.0}),
        ("order=identity", {"order": "identity"}),
        ("order=fixed perm", {"order": np.array([3, 0, 5, 1, 4, 2])}),
        ("no look-ahead", {}),
    ]
    for i, (name, kw) in enumerate(configs):
        sampler = AutospeculativeSampler(target, **kw)
        if name == "no look-ahead":
            sampler.lookahead_rows = 0
        res = sampler.sample(num, rng=np.random.default_rng(3100 + i))
        pvalues[name] = gtest_table(res.samples, target.pmf(), 2).pvalue
    assert_family(pvalues, alpha=ALPHA, seed=3100, sizes=f"{num} samples each, n=6, q=2")


# ---------------------------------------------------------------------- first stage
def test_root_first_stage_acceptance_equals_one_minus_tv() -> None:
    pvalues = {}
    num = 20_000
    for seed, (n, q) in zip((41, 42, 43), ((6, 2), (4, 3), (3, 4)), strict=True):
        target = dirichlet_table(n, q, seed)
        tv = product_marginals_tv(target)
        sampler = AutospeculativeSampler(target, trace=True)
        res = sampler.sample(num, rng=np.random.default_rng(seed))
        tr = res.trace
        root = tr.block_parent == -1
        assert root.sum() == num
        accepted = int(tr.block_first_accepted[root].sum())
        pvalues[f"n={n} q={q} TV={tv:.4f}"] = stats.binomtest(accepted, num, 1 - tv).pvalue
        # with n >= 2, a sample costs exactly 2 rounds iff its root accepted the proposal
        assert np.array_equal(res.rounds == 2, tr.block_first_accepted[root][np.argsort(
            tr.block_sample[root])])
    assert_family(pvalues, alpha=ALPHA, seed=41, sizes=f"{num} samples each (binomial tests)")


# ---------------------------------------------------------------------- cost accounting
class ScriptedSource:
    """A RandomSource that replays prescribed draws (identity orders)."""

    def __init__(self, categorical: list[list[int]], coins: list[list[bool]]) -> None:
        self.cats = list(categorical)
        self.coins = list(coins)

    def categorical(self, probs: np.ndarray) -> np.ndarray:
        out = np.array(self.cats.pop(0), dtype=np.int64)
        assert out.shape == (probs.shape[0],)
        assert (probs[np.arange(out.size), out] > 0).all()
        return out

    def coin(self, log_p: np.ndarray) -> np.ndarray:
        out = np.array(self.coins.pop(0), dtype=bool)
        assert out.shape == log_p.shape
        assert (log_p[out] > -np.inf).all(), "scripted an acceptance of probability 0"
        return out

    def permutations(self, m: int, n: int) -> np.ndarray:
        return np.broadcast_to(np.arange(n), (m, n)).copy()

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        raise AssertionError("not used")


TWO_SITE = TableDistribution(np.array([[0.4, 0.1], [0.1, 0.4]]))


@pytest.mark.parametrize(
    ("cats", "coins", "rounds", "queries", "sample"),
    [
        # proposal (0, 1) accepted: speculation round + chain round, 1 + 1 queries
        ([[0, 1]], [[True]], 2, 2, [0, 1]),
        # rejected; batch I_0 = {1}: left reuses the rows (0 rounds), right child
        # fetches its row (1 round, 1 query); accepted
        ([[0, 1], [1], [1]], [[False], [True]], 3, 3, [1, 1]),
        # rejected; I_0 = {1} rejected; I_1 = {2, 3} (rho = 1): one round, two
        # queries; trial 3 is the first accepted
        ([[0, 1], [0], [0], [1, 0], [1, 0]], [[False], [False], [False, True]], 4, 5, [0, 0]),
    ],
)
def test_hand_computed_costs_two_sites(cats, coins, rounds, queries, sample) -> None:
    sampler = AutospeculativeSampler(TWO_SITE, order="identity")
    assert sampler.rho == 1.0
    sampler.lookahead_rows = 0
    src = ScriptedSource(cats, coins)
    res = sampler.sample(1, rng=src)
    assert (res.rounds[0], res.queries[0]) == (rounds, queries)
    assert res.samples[0].tolist() == sample
    assert not src.cats and not src.coins, "sampler made fewer draws than scripted"


def test_two_site_round_law_is_exact() -> None:
    """On n = 2 with rho = 1: rounds = 2 + J and queries = 1 + 2^J, where J is the
    first successful residual batch (sizes 1, 2, 4, ...); P(root rejects) = TV and
    a trial is accepted with probability TV, so the law of J is known exactly."""
    target = TableDistribution(np.array([[0.5, 0.05], [0.15, 0.3]]))
    tv = product_marginals_tv(target)
    num, seed = 50_000, 51
    res = AutospeculativeSampler(target).sample(num, rng=np.random.default_rng(seed))
    J = res.rounds - 2
    assert np.array_equal(res.queries, np.where(J == 0, 2, 1 + 2**J))
    jmax = 6
    probs = [1 - tv]
    fail = 1.0
    for j in range(1, jmax):
        size = 2 ** (j - 1)
        probs.append(tv * fail * (1 - (1 - tv) ** size))
        fail *= (1 - tv) ** size
    probs.append(1 - sum(probs))  # tail bin J >= jmax, kept with its exact mass
    counts = np.bincount(np.minimum(J, jmax), minlength=jmax + 1)
    p = stats.chisquare(counts, np.array(probs) * num).pvalue
    assert p >= ALPHA, f"round law deviates: p={p:.3g}, counts={counts.tolist()}, seed={seed}"


def test_product_target_costs_two_rounds_and_n_queries() -> None:
    n = 8
    probs = np.random.default_rng(61).dirichlet(np.ones(3), size=n)
    table = probs[0]
    for i in range(1, n):
        table = np.multiply.outer(table, probs[i])
    target = TableDistribution(table)
    res = AutospeculativeSampler(target).sample(2000, rng=np.random.default_rng(62))
    assert (res.rounds == 2).all() and (res.queries == n).all()
    seq = SequentialSampler(target).sample(50, rng=np.random.default_rng(63))
    assert (seq.rounds == n).all() and (seq.queries == n).all()


def test_per_sample_cost_does_not_depend_on_batch_size() -> None:
    target = dirichlet_table(8, 2, 71)
    sampler = AutospeculativeSampler(target)
    gen = np.random.default_rng(72)
    alone = [sampler.sample(1, rng=gen) for _ in range(400)]
    r1 = np.array([r.rounds[0] for r in alone])
    q1 = np.array([r.queries[0] for r in alone])
    batch = sampler.sample(4000, rng=gen)
    edges = [2, 3, 6, 10, 20, np.inf]
    h1 = np.histogram(r1, bins=edges)[0]
    h2 = np.histogram(batch.rounds, bins=edges)[0]
    table = np.array([h1, h2])
    p_rounds = stats.chi2_contingency(table[:, table.sum(axis=0) > 0]).pvalue
    p_queries = stats.mannwhitneyu(q1, batch.queries).pvalue
    assert_family({"rounds": p_rounds, "queries": p_queries}, alpha=ALPHA, seed=72,
                  sizes="400 samples one at a time vs 4000 in one batch")


def test_lookahead_does_not_change_the_cost_law() -> None:
    target = dirichlet_table(8, 2, 75)
    fast = AutospeculativeSampler(target)
    slow = AutospeculativeSampler(target)
    slow.lookahead_rows = 0
    num = 20_000
    a = fast.sample(num, rng=np.random.default_rng(76))
    b = slow.sample(num, rng=np.random.default_rng(77))
    edges = [2, 3, 5, 8, 12, 20, 40, np.inf]
    table = np.array([np.histogram(a.rounds, bins=edges)[0], np.histogram(b.rounds, bins=edges)[0]])
    table = table[:, table.sum(axis=0) > 0]  # bins no sample can reach carry no data
    pvalues = {
        "rounds (chi-square, binned)": stats.chi2_contingency(table).pvalue,
        "queries (Mann-Whitney)": stats.mannwhitneyu(a.queries, b.queries).pvalue,
    }
    assert_family(pvalues, alpha=ALPHA, seed=76, sizes=f"{num} samples with and without look-ahead")


def test_trace_records_every_block_call() -> None:
    target = dirichlet_table(6, 2, 81)
    res = AutospeculativeSampler(target, trace=True).sample(300, rng=np.random.default_rng(82))
    tr = res.trace
    roots = np.flatnonzero(tr.block_parent == -1)
    assert sorted(tr.block_sample[roots].tolist()) == list(range(300))
    assert np.array_equal(res.rounds[tr.block_sample[roots]], tr.block_rounds[roots])
    assert np.array_equal(res.queries[tr.block_sample[roots]], tr.block_queries[roots])
    child = tr.block_parent >= 0
    par = tr.block_parent[child]
    assert (tr.block_depth[child] == tr.block_depth[par] + 1).all()
    assert (~tr.block_first_accepted[par]).all() and (tr.block_trials[par] >= 1).all()
    # only trials the algorithm ran (no discarded look-ahead) are recorded
    assert (tr.block_trial[child] <= tr.block_trials[par]).all()
    trial_calls = {(int(p), int(t), int(r)) for p, t, r in zip(
        par, tr.block_trial[child], tr.block_role[child], strict=True)}
    expected = {(int(p), t, r) for p in np.unique(par) for t in range(1, tr.block_trials[p] + 1)
                for r in (1, 2)}
    assert trial_calls == expected
    # every block's context holds exactly its prefix
    for k in range(tr.num_blocks):
        s, a = tr.block_sample[k], tr.block_a[k]
        revealed = np.flatnonzero(tr.block_context[k] != MASK)
        assert sorted(revealed.tolist()) == sorted(tr.orders[s, :a].tolist())


# ---------------------------------------------------------------------- negative controls
# the wrong variants of issue 7, from the mutant catalogue of verify.mutants
@pytest.mark.parametrize(
    "mutant",
    [SwappedResidualRatio, RightConditionedOnProposal, ResidualSkipped, LeftRowsFromRightHalf],
)
@pytest.mark.slow  # > 4 s in the fast lane
def test_negative_controls_fail_the_same_check(mutant) -> None:
    target = dirichlet_table(6, 2, 91)
    num, seed = 100_000, 92
    good = AutospeculativeSampler(target).sample(num, rng=np.random.default_rng(seed))
    assert_exact_gtest(good.samples, target.pmf(), 2, alpha=ALPHA, seed=seed,
                       label="correct sampler (control)")
    bad = AutospeculativeSampler(target, steps=mutant()).sample(num,
                                                                rng=np.random.default_rng(seed))
    res = gtest_table(bad.samples, target.pmf(), 2)
    assert res.pvalue < ALPHA, (
        f"{mutant.__name__} was not caught: G={res.statistic:.1f}, dof={res.dof}, "
        f"p={res.pvalue:.3g}, num_samples={num}, seed={seed}"
    )


# ---------------------------------------------------------------------- arguments
def test_bad_arguments() -> None:
    target = dirichlet_table(3, 2, 1)
    with pytest.raises(ParameterError, match=r"`rho` must be a finite number > 0; got -1"):
        AutospeculativeSampler(target, rho=-1)
    with pytest.raises(ParameterError, match=r"`order` must be"):
        AutospeculativeSampler(target, order=[0, 0, 1])
    with pytest.raises(ParameterError, match=r"`num` must be an integer >= 0; got -2"):
        AutospeculativeSampler(target).sample(-2)
    assert default_rho(1024) == pytest.approx(0.1)


def test_batches_partition_trials() -> None:
    for rho in (0.05, 0.3, 1.0, 3.0):
        sampler = AutospeculativeSampler(dirichlet_table(3, 2, 1), rho=rho)
        t, seen = 1, []
        while t <= 500:
            lo, hi = sampler._next_batch(t)
            assert lo == t <= hi
            seen.append((lo, hi))
            t = hi + 1
        # the same partition as the definition I_r = [ceil(g^r), ceil(g^(r+1)) - 1]
        g = 1 + rho
        direct = []
        for r in itertools.count():
            lo, hi = int(np.ceil(g**r)), int(np.ceil(g ** (r + 1))) - 1
            if lo > 500:
                break
            if hi >= lo:
                direct.append((lo, hi))
        assert seen[: len(direct)] == direct


# ---------------------------------------------------------------------- budgets
class ChainDisagrees:
    """A broken masked model on {0, 1}^2: its chain-rule answers (``chain_values``
    given) put 0.9 on value 0, its plain answers for the very same contexts are
    uniform. The speculation x ~ nu_S is rejected with probability 0.4; every residual
    trial (left half from the plain rows, right half from a plain call) then has
    mu_S(y) = nu_S(y), so its acceptance probability is exactly 0 and the residual
    loop of block (0, 2) never ends. ``delay`` seconds are slept in each chain call
    (a slow oracle call)."""

    n = 2
    q = 2

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        out = np.full((x.shape[0], self.n, self.q), 0.5)
        b, i = np.nonzero(x != MASK)
        out[b, i] = np.eye(self.q)[x[b, i]]
        return out

    def conditionals_at(self, x, positions, chain_values=None) -> np.ndarray:  # noqa: ANN001
        x, positions = np.asarray(x), np.asarray(positions)
        if chain_values is None:
            full = self.conditionals(x)
            return full[np.arange(x.shape[0])[:, None], positions]
        if self.delay:
            time.sleep(self.delay)
        return np.broadcast_to(np.array([0.9, 0.1]), (*positions.shape, self.q)).copy()


def _runaway_sampler(oracle: ChainDisagrees, **kw: object) -> AutospeculativeSampler:
    """A sampler on ``oracle`` that asks chain rows in the chain form (``flat_cells = 0``).

    The round scheduler's flat layout asks chain rows as plain rows of their chain
    contexts, where :class:`ChainDisagrees` agrees with itself (the contract requires the
    two forms to agree): its runaway residual loop needs the chain form.
    """
    sampler = AutospeculativeSampler(oracle, **kw)  # type: ignore[arg-type]
    sampler.flat_cells = 0
    return sampler


def _alarm_free() -> bool:
    return (signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))


def test_runaway_residual_loop_stops_at_the_round_budget() -> None:
    """Without a budget this loop only ends at the safety cap of 10**7 trials; with
    max_rounds = 12 it stops after 13 residual batches (one round each, 8191 trials), naming the
    budget, the block, the trials run and the acceptance rate seen (exactly 0)."""
    sampler = _runaway_sampler(ChainDisagrees(), order="identity", max_rounds=12)
    start = time.monotonic()
    with pytest.raises(BudgetExceededError) as info:
        sampler.sample(20, rng=np.random.default_rng(5))
    msg = str(info.value)
    assert time.monotonic() - start < 30, msg
    assert "`max_rounds` = 12 exceeded: a call of block (0, 2) reached 13 rounds" in msg, msg
    assert "residual loop of block (0, 2)" in msg, msg
    assert "still rejected after 8191 residual trials each" in msg, msg
    assert "acceptance rate seen there 0 (0 of " in msg, msg
    assert _alarm_free()


def test_runaway_residual_loop_stops_at_the_timeout() -> None:
    """The same runaway loop stops at a 0.5 s timeout (main thread: the interval
    timer), with the block, the residual trials and the acceptance rate named; the
    SIGALRM handler and timer are restored afterwards."""
    sampler = _runaway_sampler(ChainDisagrees(), order="identity", timeout=0.5)
    start = time.monotonic()
    with pytest.raises(BudgetExceededError) as info:
        sampler.sample(20, rng=np.random.default_rng(5))
    elapsed = time.monotonic() - start
    msg = str(info.value)
    assert 0.5 <= elapsed < 10, (elapsed, msg)
    assert msg.startswith("`timeout` = 0.5 s exceeded: "), msg
    assert "wall time elapsed in AutospeculativeSampler.sample()" in msg, msg
    assert "residual loop of block (0, 2)" in msg and "residual trials each" in msg, msg
    assert "acceptance rate seen there 0 (0 of " in msg, msg
    assert _alarm_free()


def test_timeout_is_checked_between_batches_off_the_main_thread() -> None:
    """Off the main thread no interval timer can be used: the timeout is checked at
    every block call and residual batch, and still stops the runaway loop."""
    sampler = _runaway_sampler(ChainDisagrees(), order="identity", timeout=0.3)
    caught: list[BaseException] = []

    def run() -> None:
        try:
            sampler.sample(20, rng=np.random.default_rng(5))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            caught.append(exc)

    start = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    assert not thread.is_alive()
    assert len(caught) == 1 and isinstance(caught[0], BudgetExceededError), caught
    msg = str(caught[0])
    assert msg.startswith("`timeout` = 0.3 s exceeded: "), msg
    assert "residual loop of block (0, 2)" in msg, msg
    assert time.monotonic() - start < 60, msg
    assert _alarm_free()


def test_timeout_interrupts_a_long_oracle_call() -> None:
    """An oracle call that would take 60 s is interrupted at the 0.5 s deadline (the
    interval timer on the main thread); the message names the block entered."""
    sampler = _runaway_sampler(ChainDisagrees(delay=60.0), order="identity", timeout=0.5)
    start = time.monotonic()
    with pytest.raises(BudgetExceededError, match=r"`timeout` = 0.5 s exceeded") as info:
        sampler.sample(1, rng=np.random.default_rng(5))
    assert time.monotonic() - start < 10, str(info.value)
    assert "last block entered: (0, 2); no residual trial run yet" in str(info.value)
    assert _alarm_free()


def test_residual_safety_cap_is_a_budget_error() -> None:
    sampler = _runaway_sampler(ChainDisagrees(), order="identity")
    sampler.max_trials = 1000
    with pytest.raises(BudgetExceededError, match=r"`max_trials` = 1000 exceeded: the residual "
                       r"loop of block \(0, 2\) ran 1023 residual trials per call without an "
                       r"acceptance .*acceptance rate seen 0 \(0 of \d+ trials accepted\)"):
        sampler.sample(20, rng=np.random.default_rng(5))
    assert issubclass(BudgetExceededError, RuntimeError)


def test_round_budget_bounds_every_returned_sample_and_draws_no_randomness() -> None:
    """Budgets change nothing within them (same seed, same samples and costs); the
    round budget passes at the largest rounds seen and fails one below it."""
    target = dirichlet_table(8, 2, 31)
    free = AutospeculativeSampler(target).sample(3000, rng=np.random.default_rng(32))
    top = int(free.rounds.max())
    within = AutospeculativeSampler(target, max_rounds=top, timeout=600.0).sample(
        3000, rng=np.random.default_rng(32))
    np.testing.assert_array_equal(within.samples, free.samples)
    np.testing.assert_array_equal(within.rounds, free.rounds)
    np.testing.assert_array_equal(within.queries, free.queries)
    with pytest.raises(BudgetExceededError, match=rf"`max_rounds` = {top - 1} exceeded: .* "
                       rf"reached {top} rounds"):
        AutospeculativeSampler(target, max_rounds=top - 1).sample(
            3000, rng=np.random.default_rng(32))
    assert _alarm_free()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"max_rounds": 0}, r"`max_rounds` must be an integer >= 1; got 0\."),
        ({"max_rounds": 2.5}, r"`max_rounds` must be an integer >= 1; got 2.5\."),
        ({"max_rounds": True}, r"`max_rounds` must be an integer >= 1; got True\."),
        ({"timeout": -1}, r"`timeout` must be a finite number > 0; got -1\."),
        ({"timeout": 0}, r"`timeout` must be a finite number > 0; got 0\."),
        ({"timeout": "x"}, r"`timeout` must be a finite number > 0; got 'x'\."),
        ({"timeout": float("inf")}, r"`timeout` must be a finite number > 0; got inf\."),
    ],
)
def test_budget_arguments_are_checked_before_any_work(kw: dict, match: str) -> None:
    """Checked first, in the constructor: even before the oracle is looked at."""
    with pytest.raises(ParameterError, match=match):
        AutospeculativeSampler(object(), **kw)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=match):
        AutospeculativeSampler(ChainDisagrees(), **kw)


def test_curie_weiss_at_n_1e5_raises_no_warning_and_stops_at_the_timeout() -> None:
    """Issue 18 item 21: one sample of CurieWeiss(100000, beta=1) (its root chain
    round alone takes minutes) stops at a 2 s timeout with a BudgetExceededError,
    and no RuntimeWarning (underflow included) is raised on the way."""
    with warnings.catch_warnings(), np.errstate(all="warn"):
        warnings.simplefilter("error")
        target = CurieWeiss(100_000, beta=1.0)
        sampler = AutospeculativeSampler(target, timeout=2.0)
        start = time.monotonic()
        with pytest.raises(BudgetExceededError, match=r"`timeout` = 2 s exceeded"):
            sampler.sample(1, rng=np.random.default_rng(21))
    assert time.monotonic() - start < 30
    assert _alarm_free()


class _Broken(ChainDisagrees):
    """Its chain-rule rows do not sum to 1: the sampler stops with an OracleError."""

    def conditionals_at(self, x, positions, chain_values=None) -> np.ndarray:  # noqa: ANN001
        out = super().conditionals_at(x, positions, chain_values)
        return out * 0.5 if chain_values is not None else out


def test_timer_is_disarmed_after_any_error() -> None:
    with pytest.raises(OracleError, match="sum to 1"):
        _runaway_sampler(_Broken(), timeout=30.0).sample(5, rng=0)
    assert _alarm_free()


def test_a_foreign_sigalrm_handler_is_left_alone() -> None:
    """With SIGALRM already in use the budget arms no timer and leaves the handler
    in place; the timeout is then enforced by the checks between batches."""
    fired: list[int] = []

    def foreign(signum: int, frame: object) -> None:
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, foreign)
    try:
        sampler = _runaway_sampler(ChainDisagrees(), order="identity", timeout=0.3)
        with pytest.raises(BudgetExceededError, match=r"`timeout` = 0.3 s exceeded.*residual "
                           r"loop of block \(0, 2\)"):
            sampler.sample(20, rng=np.random.default_rng(5))
        assert signal.getsignal(signal.SIGALRM) is foreign
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and not fired
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert _alarm_free()


# ---------------------------------------------------------------------- round scheduler
def _layouts() -> dict[str, dict[str, object]]:
    """The sampler's call layouts: attribute overrides of AutospeculativeSampler."""
    return {
        "rounds, one flat call per round": {},
        "rounds, padded calls per form": {"flat_cells": 0},
        "rounds, one call per form and length": {"flat_cells": 0, "pad_cells": 0},
        "nested lock-step kernel": {"schedule": "nested"},
    }


@pytest.mark.slow
def test_exact_on_every_call_layout() -> None:
    target = dirichlet_table(6, 3, 141)
    num = 60_000
    pvalues = {}
    for i, (name, attrs) in enumerate(_layouts().items()):
        sampler = AutospeculativeSampler(target)
        for key, value in attrs.items():
            setattr(sampler, key, value)
        res = sampler.sample(num, rng=np.random.default_rng(1410 + i))
        g = gtest_table(res.samples, target.pmf(), target.q)
        assert g.impossible_hits == 0, f"{name}: sampled a zero-probability configuration"
        pvalues[name] = g.pvalue
    assert_family(pvalues, alpha=ALPHA, seed=1410,
                  sizes=f"{num} samples per layout, Dirichlet table n=6 q=3")


def test_round_scheduler_calls_track_the_slowest_sample() -> None:
    """One oracle call per global round on a small table: calls within 1.5x of the
    largest per-sample rounds (the nested kernel makes several times more)."""
    target = dirichlet_table(8, 2, 143)
    out = {}
    for schedule in ("rounds", "nested"):
        sampler = AutospeculativeSampler(target)
        sampler.schedule = schedule
        res = sampler.sample(5000, rng=np.random.default_rng(144))
        out[schedule] = (int(res.aux["oracle_calls"]), int(res.rounds.max()))
    calls, worst = out["rounds"]
    assert calls <= 1.5 * worst, f"round scheduler: {calls} calls, max rounds {worst}"
    assert out["nested"][0] > 2 * calls, f"nested kernel vs round scheduler: {out}"


def test_round_scheduler_with_padding_and_trace_on_a_long_target() -> None:
    """Padded calls (masked positions after the block) on IsingChain(64): the trace
    still records every block call with its prefix, and the costs match it."""
    target = IsingChain(64, 2.0)
    sampler = AutospeculativeSampler(target, trace=True)
    sampler.flat_cells = 0
    res = sampler.sample(12, rng=np.random.default_rng(145))
    tr = res.trace
    roots = np.flatnonzero(tr.block_parent == -1)
    assert np.array_equal(res.rounds[tr.block_sample[roots]], tr.block_rounds[roots])
    assert np.array_equal(res.queries[tr.block_sample[roots]], tr.block_queries[roots])
    for k in range(tr.num_blocks):
        s, a = tr.block_sample[k], tr.block_a[k]
        revealed = np.flatnonzero(tr.block_context[k] != MASK)
        assert sorted(revealed.tolist()) == sorted(tr.orders[s, :a].tolist())
    assert int(res.aux["oracle_calls"]) <= 1.5 * int(res.rounds.max())


def test_bad_schedule_is_refused_before_any_work() -> None:
    sampler = AutospeculativeSampler(dirichlet_table(3, 2, 1))
    sampler.schedule = "fast"
    with pytest.raises(ParameterError,
                       match=r"`schedule` must be 'rounds' or 'nested'; got 'fast'"):
        sampler.sample(5, rng=0)
    assert sampler.oracle.calls == 0
