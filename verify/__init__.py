"""Tests, estimates, audits and the CLI (is it exact, what bound holds)."""

from verify import errors, pinning
from verify.audit import AuditResult, Finding, audit_oracle
from verify.chain_tests import ChainTestResult, chain_test
from verify.exactness import ExactnessResult, check_exact, plan_sample_size

__all__ = [
    "errors",
    "pinning",
    "check_exact",
    "plan_sample_size",
    "ExactnessResult",
    "chain_test",
    "ChainTestResult",
    "audit_oracle",
    "AuditResult",
    "Finding",
]
