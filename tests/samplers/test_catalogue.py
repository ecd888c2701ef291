"""The one declarative table of samplers and targets (samplers/catalogue.py, issue 11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distributions.errors import ParameterError
from samplers import catalogue as C

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("quick", [True, False])
def test_every_sampler_builds_and_draws_on_every_target(quick):
    for tname in C.TARGETS:
        target = C.make_target(tname, quick=quick)
        for sname in C.DISCRETE_SAMPLERS:
            x = np.asarray(C.make_sampler(sname, target).sample(3, rng=0).samples)
            assert x.shape == (3, target.n), (sname, tname)
            assert x.min() >= 0 and x.max() < target.q, (sname, tname)


def test_targets_are_fixed_by_the_catalogue_not_by_the_run():
    """Seeds of the targets are literals: two builds give the same law."""
    for name, entry in C.TARGETS.items():
        a, b = entry.build(True), entry.build(True)
        x = np.zeros((1, a.n), dtype=np.int64)
        assert np.array_equal(a.conditionals(x), b.conditionals(x)), name
        assert entry.kind in ("table", "scalable"), name


def test_names_options_and_refusals():
    assert C.parallel_samplers() == ["autospeculative", "agr24"]
    assert set(C.target_names(True)) == set(C.TARGETS)
    assert set(C.target_names(True, default_run=True)) == set(C.TARGETS) - C.QUICK_SKIP
    assert C.target_names(False, default_run=True) == list(C.TARGETS)
    assert C.sampler_class("agr24") is C.DISCRETE_SAMPLERS["agr24"].cls
    s = C.make_sampler("autospeculative", C.make_target("mixture"), order="identity")
    assert s.sample(2, rng=0).samples.shape == (2, 6)
    with pytest.raises(ParameterError, match="`sampler` must be one of .*; got 'nope'."):
        C.make_sampler("nope", C.make_target("mixture"))
    with pytest.raises(ParameterError, match="`target` must be one of .*; got 'nope'."):
        C.make_target("nope")
    with pytest.raises(ParameterError, match="`family` must be one of .*; got 'nope'."):
        C.make_family("nope", 4)
    with pytest.raises(ParameterError, match=r"`n` must be an integer in \[2, 20\]; got 21."):
        C.make_family("random-table", 21)
    with pytest.raises(ParameterError, match="`n` must be an integer >= 2; got 1."):
        C.make_family("product", 1)
    assert [C.k_sqrt(n) for n in (1, 2, 4, 5, 9, 10)] == [1, 2, 2, 3, 3, 4]


def test_small_tables_of_the_stages():
    assert C.batch_target(True)[1].n == 4 and C.batch_target(False)[1].n == 6
    assert C.mutants_target(True)[1].n == 4 and C.mutants_target(False)[1].n == 5
    for name, (_, build) in C.EXACT_LAW_TARGETS.items():
        t = build()
        assert t.q ** t.n <= 1024, name
    for name in C.PINNING_FAMILIES:
        assert C.make_family(name, 4).n == 4, name
    assert C.ROUNDS_TARGET.ns(True) == [8, 16, 32, 64]
    assert C.ROUNDS_TARGET.build(8).n == 8
    for d, (_, build) in C.DIFFUSION_TARGETS.items():
        target = build()
        for sname, make in C.DIFFUSION_SAMPLERS.items():
            from samplers.diffusion import LocalizationGrid

            res = make(target, LocalizationGrid.uniform(10.0, 8)).sample(2, rng=0)
            assert np.asarray(res.samples).shape == (2, 2), (d, sname)
    g = C.DIFFUSION_TARGETS["gaussian"][1]()
    assert np.allclose(g.means[0], C.GAUSSIAN_MEAN)


def test_no_module_may_be_missing_scaffolding():
    """Issue 11 item 4: the catalogue and the validation run import their modules
    plainly (no importlib registries, no module_present)."""
    files = [ROOT / "samplers" / "catalogue.py", *sorted((ROOT / "reports" / "validation")
                                                          .glob("*.py"))]
    for path in files:
        text = path.read_text()
        assert "importlib" not in text and "module_present" not in text, path
