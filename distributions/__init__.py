"""Targets with exact oracles (what is sampled). Imports no other package."""

from distributions.base import MASK, DiffusionOracle, DiscreteOracle, Enumerable, PositionalOracle
from distributions.table import TableDistribution

__all__ = [
    "MASK",
    "DiscreteOracle",
    "PositionalOracle",
    "Enumerable",
    "DiffusionOracle",
    "TableDistribution",
]
