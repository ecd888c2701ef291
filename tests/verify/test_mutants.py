"""Mutant catalogue and mutation matrix (issue 3, item 5)."""

from __future__ import annotations

import json

import pytest

from distributions.families import random_table
from samplers.autospec import AutospeculativeSampler
from tests.helpers import process_pool
from verify.mutants import (
    MUTANTS,
    SOURCE_MUTANT_DETECTION,
    SOURCE_MUTANTS,
    Mutant,
    mutation_matrix,
)

ALPHA = 1e-3


def test_catalogue_swaps_one_step_each():
    """Every mutant is the real sampler with a strategy overriding exactly one step,
    swapped in through the public ``steps=`` seam; the source mutants override
    ``sample`` only (and no step)."""
    steps = ("split", "log_probs", "first_log_accept", "residual_log_accept",
             "right_context", "left_rows", "residual")
    assert len(MUTANTS) >= 8 and set(SOURCE_MUTANT_DETECTION) == set(SOURCE_MUTANTS)
    assert not set(MUTANTS) & set(SOURCE_MUTANTS)
    d = random_table(3, 2, rng=0)
    for name, mutant in MUTANTS.items():
        assert isinstance(mutant, Mutant) and mutant.sampler is AutospeculativeSampler
        own = [h for h in steps if h in type(mutant.steps).__dict__]
        assert len(own) == 1, (name, own)
        sampler = mutant(d, order="identity")
        assert type(sampler) is AutospeculativeSampler and sampler.steps is mutant.steps
        assert mutant.description, name
    for name, cls in SOURCE_MUTANTS.items():
        assert issubclass(cls, AutospeculativeSampler)
        assert [h for h in (*steps, "sample") if h in cls.__dict__] == ["sample"], name


@pytest.mark.slow  # > 4 s in the fast lane
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


def test_source_mutants_caught_as_stated():
    """Issue 18 item 1: the source-wrapper mutants on a q = 3 target are caught by
    the checks SOURCE_MUTANT_DETECTION states: bernoulli-shortcut by its enumerated
    TV and the G-test at the planned size; own-generator and global-random (exact
    laws) by exact_law refusing them. The correct sampler is caught by nothing."""
    d = random_table(2, 3, rng=2)
    m = mutation_matrix(d, exact_target=d, mutants=SOURCE_MUTANTS, checks=("gtest", "exact-law"),
                        tv=0.05, alpha=ALPHA, power=0.99, order="identity", rng=11)
    for check in m.checks:
        assert not m.cell("correct", check).caught, m.cell("correct", check)
    assert m.cell("correct", "exact-law").statistic <= 1e-12
    for name, expected in SOURCE_MUTANT_DETECTION.items():
        for check in expected:
            assert m.cell(name, check).caught, (name, m.cell(name, check))
    assert m.cell("bernoulli-shortcut", "exact-law").statistic > 0.2  # 0.234 measured
    for name in ("own-generator", "global-random"):
        cell = m.cell(name, "exact-law")
        assert cell.detail.startswith("refused: exact_law cannot follow"), cell
    # (their G-test cells draw from OS entropy / numpy's global state, so they are not
    # asserted: their law is exact and the G-test passes them but for alpha)


def test_agr24_mutants_run_in_the_matrix():
    """The AGR24 negative controls run through mutation_matrix (correct=AGR24Sampler):
    both are caught by exact_law on a q = 3 target, the correct AGR24 is not; and the
    first-stage check, which reads the autospeculative trace, is refused up front."""
    from distributions.errors import ParameterError
    from samplers.agr24 import AGR24Sampler
    from verify.mutants import AGR24_MUTANTS

    d = random_table(3, 3, rng=2)
    m = mutation_matrix(d, exact_target=d, mutants=AGR24_MUTANTS, correct=AGR24Sampler,
                        checks=("exact-law",), exact_order="identity", rng=3)
    assert not m.cell("correct", "exact-law").caught, m.cell("correct", "exact-law")
    assert m.cell("correct", "exact-law").statistic <= 1e-12
    for name in AGR24_MUTANTS:
        assert m.cell(name, "exact-law").caught and m.cell(name, "exact-law").statistic > 1e-2
    with pytest.raises(ParameterError, match="'first-stage' needs autospeculative"):
        mutation_matrix(d, mutants=AGR24_MUTANTS, correct=AGR24Sampler,
                        checks=("first-stage",))


@pytest.mark.slow
def test_diffusion_mutants_run_in_their_matrix():
    """The diffusion negative controls run through diffusion_mutation_matrix: each is
    caught by the check DIFFUSION_MUTANT_CHECKS names (4,000 draws, each check at
    alpha 0.01); the correct samplers pass every check (3 cells: family-wise error
    <= 0.03, Bonferroni). Seed 20261202."""
    from verify.mutants import DIFFUSION_MUTANT_CHECKS, DIFFUSION_MUTANTS, diffusion_mutation_matrix

    seed = 20261202
    m = diffusion_mutation_matrix(num_samples=4000, alpha=0.01, rng=seed)
    assert set(DIFFUSION_MUTANT_CHECKS) == set(DIFFUSION_MUTANTS)
    for c in m.cells:
        if c.sampler.startswith("correct"):
            assert not c.caught, f"{c} (seed {seed}, N={c.num_samples})"
    for name, check in DIFFUSION_MUTANT_CHECKS.items():
        c = m.cell(name, check)
        assert c.caught, f"{name} not caught by {check}: p={c.pvalue:.3g}, N={c.num_samples}, " \
                         f"seed {seed}"
    assert "| diffusion-wrong-reflection |" in m.to_table()


@pytest.mark.slow  # a forkserver pool start-up (about 5 s)
def test_mutation_matrix_on_an_executor_is_the_in_process_matrix():
    """executor= (here a ProcessPoolExecutor of 2): the same cells, statistics and
    p-values as in process (the samplers are pickled; the timings differ)."""

    d = random_table(3, 2, rng=1)
    pick = {k: MUTANTS[k] for k in list(MUTANTS)[:1]}
    kw = dict(mutants=pick, checks=("gtest", "chain"), tv=0.1, alpha=ALPHA, rng=3)

    def cells(m):
        return [(c.sampler, c.check, c.caught, c.num_samples, repr(c.statistic),
                 repr(c.pvalue), c.detail) for c in m.cells]

    ref = mutation_matrix(d, **kw)
    with process_pool(2) as ex:
        assert cells(mutation_matrix(d, executor=ex, **kw)) == cells(ref)
