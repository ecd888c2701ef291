"""A user's test file using the autospeculation pytest plugin.

Run from the repository root (the plugin is enabled by its entry point once the
package is installed; ``-p autospeculation_pytest`` enables it explicitly)::

    pytest examples/test_my_sampler.py -p autospeculation_pytest --autospec-report exactness-report
"""

import pytest
from my_masked_model import make_model, make_reference

from samplers.autospec import AutospeculativeSampler
from samplers.sequential import SequentialSampler


@pytest.mark.exactness(tv=0.1)
def test_sequential_sampler_is_exact_on_my_model(exactness):
    exactness.check(SequentialSampler(make_model()), make_reference())


@pytest.mark.exactness(tv=0.1, checks=2)
def test_autospeculative_sampler_is_exact_in_both_orders(exactness):
    model, reference = make_model(), make_reference()
    exactness.check(AutospeculativeSampler(model, order="random"), reference, label="random order")
    exactness.check(AutospeculativeSampler(model, order="identity"), reference,
                    label="left-to-right order")
