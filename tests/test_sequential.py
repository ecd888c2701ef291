"""SequentialSampler is exact on every target family (full-table G-tests, Holm), and the
same test rejects a subtly wrong (tempered) oracle at the same sizes."""

from __future__ import annotations

import numpy as np
import pytest

from distributions.base import MASK
from distributions.families import hardcore, ising, potts, random_table
from distributions.scalable import CurieWeiss, IsingChain, MixtureOfProducts, Product
from samplers.sequential import SequentialSampler
from tests._stats import assert_family, gtest_table

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
