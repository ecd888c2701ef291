"""Tests, estimates, audits and the CLI (is it exact, what bound holds)."""

from verify import errors

__all__ = ["errors"]
