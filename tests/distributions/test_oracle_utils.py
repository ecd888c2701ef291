"""distributions.oracle_utils: the chain contexts against their definition."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from distributions.base import MASK
from distributions.oracle_utils import build_chain_contexts, positional_conditionals
from distributions.table import TableDistribution


@settings(max_examples=60, deadline=None)
@given(B=st.integers(0, 6), n=st.integers(1, 9), q=st.integers(2, 4),
       seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from([np.int8, np.int64]))
def test_chain_contexts_reveal_the_first_j_values_in_step_j(
    B: int, n: int, q: int, seed: int, dtype: type
) -> None:
    """Context ``b * L + j`` is ``x[b]`` with ``positions[b, :j]`` set to
    ``chain_values[b, :j]`` (row by row, the docstring's definition); the context
    type is kept and ``x`` is left unchanged."""
    rng = np.random.default_rng(seed)
    L = int(rng.integers(0, n + 1))
    x = np.where(rng.random((B, n)) < 0.5, rng.integers(0, q, (B, n)), MASK).astype(dtype)
    pos = np.array([rng.permutation(n)[:L] for _ in range(B)], dtype=np.int64).reshape(B, L)
    x[np.arange(B)[:, None], pos] = MASK
    vals = rng.integers(0, q, (B, L))
    before = x.copy()
    got = build_chain_contexts(x, pos, vals)
    want = np.empty((B * L, n), dtype=dtype)
    for b in range(B):
        for j in range(L):
            row = x[b].copy()
            row[pos[b, :j]] = vals[b, :j]
            want[b * L + j] = row
    assert got.dtype == dtype and got.shape == (B * L, n)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(x, before)


def test_positional_conditionals_of_empty_queries() -> None:
    """No rows (B = 0) or no positions (L = 0): empty answers of shape (B, L, q), with
    and without chain values (a reshape with -1 failed on them)."""
    d = TableDistribution(np.arange(1.0, 9.0).reshape(2, 2, 2))
    for B, L in ((0, 2), (3, 0), (0, 0)):
        x = np.full((B, 3), MASK)
        pos = np.zeros((B, L), dtype=np.int64)
        for vals in (None, np.zeros((B, L), dtype=np.int64)):
            out = positional_conditionals(d.conditionals, x, pos, vals)
            assert out.shape == (B, L, 2)
