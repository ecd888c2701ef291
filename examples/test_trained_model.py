"""Check samplers against a *trained* masked model: exactness relative to the oracle.

The model of ``trained_masked_model.py`` is a float32 MLP whose conditionals come from no
single joint law (its forward and backward chain-rule laws differ by TV 0.107), so there
is no target table to compare with. What a correct parallel sampler must output is the
**sequential chain-rule law of the same oracle** along the orders it uses; two tests check
that, each exactly calibrated whatever the oracle:

* the order-conditional test (``check_exact(..., method="order-conditional")``): every
  sample is revealed along its own reported order and each value is tested against the
  model's conditional given the revealed prefix;
* the closeness test (``closeness_test``): a two-sample test of the full 256-cell table
  against the sequential sampler on the same model (what ``check_exact`` runs by default
  on a model without a joint law when ``q**n <= 2**16``).

A wrong sampler from the mutant catalogue fails both on the same model. Every check runs
at alpha = 1e-3 (five checks of correct samplers: family-wise false-failure rate at most
5e-3) with the planned size for the stated TV and power 0.99. Run from the repository root::

    pytest examples/test_trained_model.py
"""

import pytest
from trained_masked_model import make_raw_model

from samplers import AGR24Sampler, AutospeculativeSampler, SequentialSampler
from verify import check_exact, closeness_test
from verify.mutants import MUTANTS

ALPHA = 1e-3
SAMPLERS = {"sequential": SequentialSampler, "autospeculative": AutospeculativeSampler,
            "agr24": AGR24Sampler}


@pytest.fixture(scope="module")
def model():
    """The trained network answering raw float32 rows (trained once, about 5 s)."""
    return make_raw_model()


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_sampler_is_exact_relative_to_the_model(model, name):
    res = check_exact(SAMPLERS[name](model), model, method="order-conditional", tv=0.05,
                      alpha=ALPHA, rng=1)
    assert res.passed, (res.status, res.pvalue, res.worst_cells[:3], res.seed)


@pytest.mark.parametrize("name", ["autospeculative", "agr24"])
def test_sampler_matches_the_sequential_sampler_on_the_model(model, name):
    res = closeness_test(SAMPLERS[name](model), model, tv=0.1, alpha=ALPHA, rng=2)
    assert res.passed, (res.status, res.pvalue, res.method, res.num_samples, res.seed)


def test_a_wrong_sampler_fails_both_tests(model):
    wrong = MUTANTS["wrong-first-stage-ratio"]
    oc = check_exact(wrong(model), model, method="order-conditional", tv=0.05, alpha=ALPHA,
                     rng=3)
    assert oc.status == "fail", (oc.pvalue, oc.seed)
    cl = closeness_test(wrong(model), model, tv=0.1, alpha=ALPHA, rng=4)
    assert cl.status == "fail", (cl.pvalue, cl.seed)
