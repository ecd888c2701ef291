"""SequentialSampler is exact on every target family (full-table G-tests, Holm), and the
same test rejects a subtly wrong (tempered) oracle at the same sizes."""

from __future__ import annotations

import re
import signal
import threading
import time
import warnings

import numpy as np
import pytest

from distributions.base import MASK
from distributions.errors import BudgetExceededError, ParameterError
from distributions.families import hardcore, ising, potts, random_table
from distributions.scalable import CurieWeiss, IsingChain, MixtureOfProducts, Product
from samplers.sequential import SequentialSampler
from tests.helpers import assert_family, gtest_table

ALPHA = 0.01  # family-wise error rate of each family of G-tests (Holm)
NUM = 20000  # samples per target
SEED = 20261122
TEMPERATURE = 1.3


def _targets() -> dict[str, object]:
    rng = np.random.default_rng(51)
    J4 = np.triu(rng.uniform(-1.0, 1.0, (4, 4)), 1)
    J3 = np.triu(rng.uniform(0.0, 1.5, (3, 3)), 1)
    path = np.eye(5, k=1, dtype=int) + np.eye(5, k=-1, dtype=int)
    return {
        "random_table(4, 2)": random_table(4, 2, concentration=0.7, rng=rng),
        "random_table(3, 3)": random_table(3, 3, rng=rng),
        "ising(4)": ising(J4 + J4.T, rng.uniform(-0.5, 0.5, 4), beta=1.0),
        "potts(3, q=3)": potts(J3 + J3.T, 3, beta=1.0),
        "hardcore(path 5)": hardcore(path, 1.5),
        "product(4, 3)": Product(rng.random((4, 3)) ** 2),
        "mixture(K=3, 4)": MixtureOfProducts([0.5, 0.3, 0.2], rng.random((3, 4, 2)) ** 3),
        "curie_weiss(5, beta=1.5)": CurieWeiss(5, 1.5, 0.1),
        "ising_chain(5, J=0.8)": IsingChain(5, 0.8, -0.3),
    }


TARGETS = _targets()


class Tempered:
    """A subtly wrong oracle: conditionals raised to the power 1/T and renormalised
    (zero rows stay zero). At T = 1 it is exact."""

    def __init__(self, inner: object, temperature: float) -> None:
        self.inner, self.n, self.q = inner, inner.n, inner.q  # type: ignore[attr-defined]
        self.temperature = temperature

    def _temper(self, probs: np.ndarray) -> np.ndarray:
        out = probs ** (1.0 / self.temperature)
        tot = out.sum(axis=-1, keepdims=True)
        return out / np.where(tot > 0, tot, 1.0)

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        return self._temper(self.inner.conditionals(x))  # type: ignore[attr-defined]

    def conditionals_at(self, x: np.ndarray, positions: np.ndarray,
                        chain_values: np.ndarray | None = None) -> np.ndarray:
        return self._temper(
            self.inner.conditionals_at(x, positions, chain_values)  # type: ignore[attr-defined]
        )


def _gtest_pvalues(wrap: object, order: str = "random") -> dict[str, float]:
    rng = np.random.default_rng(SEED)
    pvalues = {}
    for name, target in TARGETS.items():
        oracle = target if wrap is None else wrap(target)  # type: ignore[operator]
        res = SequentialSampler(oracle, order=order).sample(NUM, rng=rng)
        assert res.samples.shape == (NUM, target.n)  # type: ignore[attr-defined]
        g = gtest_table(res.samples, target.pmf(), target.q)  # type: ignore[attr-defined]
        pvalues[name] = g.pvalue
    return pvalues


SIZES = f"{NUM} samples per target, {len(TARGETS)} targets"


def test_sequential_sampler_exact_on_all_families() -> None:
    assert_family(_gtest_pvalues(None), alpha=ALPHA, seed=SEED, sizes=SIZES)


def test_sequential_sampler_exact_in_identity_order() -> None:
    assert_family(_gtest_pvalues(None, order="identity"), alpha=ALPHA, seed=SEED, sizes=SIZES)


def test_tempering_passes_at_temperature_one() -> None:
    """Control for the wrapper itself: T = 1 changes nothing, so the test passes."""
    assert_family(_gtest_pvalues(lambda t: Tempered(t, 1.0)), alpha=ALPHA, seed=SEED,
                  sizes=SIZES)


def test_tempered_oracle_fails_the_same_test() -> None:
    """The other side: with T = 1.3 the same G-test family (same sizes, seed, alpha)
    rejects, and it rejects on every target that is not uniform on its support."""
    pvalues = _gtest_pvalues(lambda t: Tempered(t, TEMPERATURE))
    with pytest.raises(AssertionError, match=r"rejects"):
        assert_family(pvalues, alpha=ALPHA, seed=SEED, sizes=SIZES)
    detected = {k: p for k, p in pvalues.items() if p < ALPHA / len(pvalues)}
    assert len(detected) == len(pvalues), (
        f"tempered oracle (T={TEMPERATURE}) not detected on "
        f"{sorted(set(pvalues) - set(detected))}; p-values {pvalues}; seed={SEED}"
    )


def test_cost_is_n_rounds_and_n_queries_per_sample() -> None:
    target = TARGETS["ising_chain(5, J=0.8)"]
    sampler = SequentialSampler(target)
    res = sampler.sample(7, rng=1)
    np.testing.assert_array_equal(res.rounds, 5)
    np.testing.assert_array_equal(res.queries, 5)
    assert sampler.oracle.calls == 5 and sampler.oracle.rows == 5 * 7
    assert (res.samples != MASK).all()


# ---------------------------------------------------------------------- budgets
class Slow:
    """An exact oracle whose every call sleeps ``delay`` seconds."""

    def __init__(self, inner: object, delay: float) -> None:
        self.inner, self.n, self.q = inner, inner.n, inner.q  # type: ignore[attr-defined]
        self.delay = delay
        self.calls = 0

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        time.sleep(self.delay)
        return self.inner.conditionals(x)  # type: ignore[attr-defined]


def _alarm_free() -> bool:
    return (signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))


def test_round_budget_below_n_fails_before_any_oracle_call() -> None:
    target = TARGETS["random_table(4, 2)"]
    spy = Slow(target, 0.0)
    with pytest.raises(BudgetExceededError, match=r"`max_rounds` = 3 exceeded: every sample of "
                       r"SequentialSampler.sample\(\) takes n = 4 rounds"):
        SequentialSampler(spy, max_rounds=3).sample(10, rng=0)
    assert spy.calls == 0
    free = SequentialSampler(target).sample(500, rng=np.random.default_rng(7))
    within = SequentialSampler(target, max_rounds=4, timeout=600.0).sample(
        500, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(within.samples, free.samples)  # budgets draw nothing
    assert _alarm_free()


def test_timeout_stops_a_slow_oracle() -> None:
    """50 rounds of 0.2 s each (10 s) stop at the 0.5 s timeout, naming the rounds done;
    off the main thread (no interval timer) the per-round check stops it too."""
    product = Product(np.random.default_rng(3).random((50, 2)) + 0.1)
    sampler = SequentialSampler(Slow(product, 0.2), timeout=0.5)
    start = time.monotonic()
    with pytest.raises(BudgetExceededError, match=r"`timeout` = 0.5 s exceeded: .* elapsed in "
                       r"SequentialSampler.sample\(\); \d+ of n = 50 rounds done\."):
        sampler.sample(2, rng=0)
    assert time.monotonic() - start < 5
    assert _alarm_free()


def test_timeout_off_the_main_thread() -> None:
    product = Product(np.random.default_rng(3).random((200, 2)) + 0.1)
    sampler = SequentialSampler(Slow(product, 0.05), timeout=0.3)
    caught: list[BaseException] = []

    def run() -> None:
        try:
            sampler.sample(2, rng=0)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            caught.append(exc)

    start = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert len(caught) == 1 and isinstance(caught[0], BudgetExceededError), caught
    assert re.search(r"`timeout` = 0.3 s exceeded: .*; \d+ of n = 200 rounds done", str(caught[0]))
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"max_rounds": 0}, r"`max_rounds` must be an integer >= 1; got 0\."),
        ({"max_rounds": "3"}, r"`max_rounds` must be an integer >= 1; got '3'\."),
        ({"timeout": -1}, r"`timeout` must be a finite number > 0; got -1\."),
        ({"timeout": "x"}, r"`timeout` must be a finite number > 0; got 'x'\."),
        ({"timeout": float("nan")}, r"`timeout` must be a finite number > 0; got nan\."),
    ],
)
def test_budget_arguments_are_checked_first(kw: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        SequentialSampler(object(), **kw)  # type: ignore[arg-type]


def test_curie_weiss_at_n_1e5_raises_no_warning() -> None:
    """Issue 18 item 21: sampling CurieWeiss(100000, beta=1) one round after another
    raises no RuntimeWarning (underflow included) until the 2 s timeout stops it."""
    with warnings.catch_warnings(), np.errstate(all="warn"):
        warnings.simplefilter("error")
        sampler = SequentialSampler(CurieWeiss(100_000, beta=1.0), timeout=2.0)
        with pytest.raises(BudgetExceededError, match=r"of n = 100000 rounds done"):
            sampler.sample(1, rng=np.random.default_rng(21))
    assert _alarm_free()
