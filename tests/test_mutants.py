"""Mutant catalogue and mutation matrix (issue 3, item 5)."""

from __future__ import annotations

import json

from distributions.families import random_table
from samplers.autospec import AutospeculativeSampler
from verify.mutants import MUTANTS, mutation_matrix

ALPHA = 1e-3


def test_catalogue_overrides_one_hook_each():
    hooks = ("_split", "_log_probs", "_first_log_accept", "_residual_log_accept",
             "_right_context", "_left_rows", "_residual")
    assert len(MUTANTS) >= 8
    for name, cls in MUTANTS.items():
        assert issubclass(cls, AutospeculativeSampler)
        own = [h for h in hooks if h in cls.__dict__]
        assert len(own) == 1, (name, own)


def test_mutation_matrix_small_model():
    """Every mutant caught by exact_law, the big ones by the G-test at the planned
    size, the first-stage ratio bug by the first-stage binomial test; the correct
    sampler caught by nothing."""
    d = random_table(3, 2, rng=1)
    m = mutation_matrix(d, exact_target=d, checks=("gtest", "first-stage", "exact-law"),
                        tv=0.05, alpha=ALPHA, power=0.99, order="identity", rng=7)
    for check in m.checks:
        assert not m.cell("correct", check).caught, m.cell("correct", check)
    assert m.cell("correct", "exact-law").statistic <= 1e-12
    for name in MUTANTS:
        law = m.cell(name, "exact-law")
        assert law.caught, law
        if law.statistic >= 0.05:  # exact TV of the mutant >= planned TV
            assert m.cell(name, "gtest").caught, (name, m.cell(name, "gtest"))
    assert m.cell("wrong-first-stage-ratio", "first-stage").caught
    assert "| correct |" in m.to_table()
    json.dumps(m.to_dict())
