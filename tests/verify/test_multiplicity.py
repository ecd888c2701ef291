"""The one Holm adjustment (verify.multiplicity) against statsmodels."""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests

from verify.chain_tests.combine import holm_reject
from verify.multiplicity import holm


def test_holm_matches_statsmodels():
    # statsmodels runs gc.collect() on every call (about 0.3 s in a full test process),
    # the reason holm() exists: a few lengths, with ties, zeros and ones
    gen = np.random.default_rng(0)
    cases = [gen.random(m) ** 3 for m in (1, 300)]
    cases.append(np.array([0.01, 0.01, 0.04, 0.04, 0.5, 1.0]))
    cases.append(np.concatenate([gen.random(50) ** 3, [0.0, 1.0, 1e-9, 1e-9]]))
    for raw in cases:
        rej, adj, _, _ = multipletests(raw, alpha=0.05, method="holm")
        np.testing.assert_allclose(holm(raw), adj, rtol=1e-12, atol=0)
        got_rej, got_adj = holm_reject(raw, 0.05)
        assert np.array_equal(got_rej, rej) and np.array_equal(got_adj, holm(raw))
