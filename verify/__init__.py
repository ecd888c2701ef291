"""The checks: tests, estimates, exact laws and audits (is it exact, what bound holds).

Every check is a function returning a typed result (:mod:`verify.results`); nothing
here writes files, draws figures or builds reports. The validation run, the reports
and the command line are downstream, in :mod:`reports` (``ValidationConfig``,
``run_validation`` and ``available_stages`` moved to :mod:`reports.validation`).
"""

from verify import errors, pinning
from verify.audit import AuditResult, Finding, audit_oracle
from verify.chain_tests import ChainTestResult, chain_test, plan_chain_sample_size
from verify.continuous import (
    AcceptanceResult,
    GaussianChainResult,
    SameLawResult,
    SteinResult,
    check_gaussian_chain,
    check_same_law,
    check_speculative_acceptance,
    check_stein_discrepancy,
    gaussian_chain_moments,
)
from verify.exact_law import EnumeratingSource, ExactLawResult, exact_law
from verify.exactness import (
    BatchInvarianceResult,
    ClosenessResult,
    ExactnessResult,
    OrderConditionalResult,
    WorstCell,
    check_batch_invariance,
    check_exact,
    closeness_test,
    order_conditional_test,
    plan_closeness_size,
    plan_order_conditional_size,
    plan_sample_size,
)
from verify.mutants import (
    AGR24_MUTANTS,
    DIFFUSION_MUTANTS,
    MUTANTS,
    SOURCE_MUTANTS,
    Mutant,
    MutationCell,
    MutationMatrix,
    diffusion_mutation_matrix,
    first_stage_test,
    mutation_matrix,
)
from verify.rounds import rounds_scaling

__all__ = [
    "errors",
    "pinning",
    "check_exact",
    "check_batch_invariance",
    "BatchInvarianceResult",
    "closeness_test",
    "ClosenessResult",
    "order_conditional_test",
    "OrderConditionalResult",
    "plan_closeness_size",
    "plan_order_conditional_size",
    "plan_sample_size",
    "ExactnessResult",
    "WorstCell",
    "exact_law",
    "ExactLawResult",
    "EnumeratingSource",
    "mutation_matrix",
    "MutationMatrix",
    "MutationCell",
    "MUTANTS",
    "AGR24_MUTANTS",
    "DIFFUSION_MUTANTS",
    "SOURCE_MUTANTS",
    "Mutant",
    "diffusion_mutation_matrix",
    "first_stage_test",
    "plan_chain_sample_size",
    "rounds_scaling",
    "chain_test",
    "ChainTestResult",
    "audit_oracle",
    "AuditResult",
    "Finding",
    "check_same_law",
    "check_gaussian_chain",
    "gaussian_chain_moments",
    "check_stein_discrepancy",
    "check_speculative_acceptance",
    "SameLawResult",
    "GaussianChainResult",
    "SteinResult",
    "AcceptanceResult",
]
