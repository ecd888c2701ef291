"""Targets with exact oracles (what is sampled). Imports no other package.

Hypothesis strategies live in :mod:`distributions.strategies` (imported on demand:
hypothesis is a test dependency).
"""

from distributions.adapters import (
    FlowMatchingOracle,
    VPNetworkOracle,
    flow_time,
    flow_velocity,
    vp_prediction,
    vp_time,
)
from distributions.base import (
    MASK,
    DiffusionOracle,
    DiscreteOracle,
    Enumerable,
    PositionalOracle,
    ScoreTarget,
)
from distributions.diffusion import FiniteSet, GaussianMixture
from distributions.families import hardcore, ising, potts, random_table
from distributions.hypercube import HypercubeMixture
from distributions.scalable import CurieWeiss, IsingChain, MixtureOfProducts, Product
from distributions.table import TableDistribution
from distributions.trained import TrainedMaskedModel, train_masked_mlp

__all__ = [
    "MASK",
    "DiscreteOracle",
    "PositionalOracle",
    "Enumerable",
    "DiffusionOracle",
    "ScoreTarget",
    "HypercubeMixture",
    "TableDistribution",
    "TrainedMaskedModel",
    "train_masked_mlp",
    "VPNetworkOracle",
    "FlowMatchingOracle",
    "vp_prediction",
    "vp_time",
    "flow_velocity",
    "flow_time",
    "random_table",
    "ising",
    "potts",
    "hardcore",
    "Product",
    "MixtureOfProducts",
    "CurieWeiss",
    "IsingChain",
    "GaussianMixture",
    "FiniteSet",
]
