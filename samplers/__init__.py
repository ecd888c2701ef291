"""Sequential and parallel samplers (how it is sampled, what it costs)."""

from samplers.agr24 import AGR24Sampler, AGR24Steps, default_block_size, race_coupling
from samplers.autospec import (
    AutospeculativeSampler,
    BlockCall,
    BlockMemo,
    ResidualCall,
    SpeculativeSteps,
    default_rho,
)
from samplers.base import (
    Budget,
    NumpySource,
    RandomSource,
    Sampler,
    SampleResult,
    SamplerTrace,
    as_random_source,
    check_budget,
)
from samplers.diffusion import (
    AutospecDiffusionSteps,
    AutospeculativeDiffusionSampler,
    EulerLocalizationSampler,
    LocalizationGrid,
    SpeculativeDiffusionSampler,
    SpeculativeDiffusionSteps,
)
from samplers.langevin import LangevinSampler, SpeculativeLangevinSampler
from samplers.oracle import CountingOracle
from samplers.sequential import SequentialSampler

__all__ = [
    "Sampler",
    "SampleResult",
    "SamplerTrace",
    "RandomSource",
    "NumpySource",
    "as_random_source",
    "Budget",
    "check_budget",
    "CountingOracle",
    "SequentialSampler",
    "AutospeculativeSampler",
    "default_rho",
    "SpeculativeSteps",
    "BlockMemo",
    "BlockCall",
    "ResidualCall",
    "AGR24Steps",
    "AutospecDiffusionSteps",
    "SpeculativeDiffusionSteps",
    "AGR24Sampler",
    "race_coupling",
    "default_block_size",
    "LocalizationGrid",
    "EulerLocalizationSampler",
    "AutospeculativeDiffusionSampler",
    "SpeculativeDiffusionSampler",
    "LangevinSampler",
    "SpeculativeLangevinSampler",
]
