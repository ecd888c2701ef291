"""Symbolic certificates (sympy): identities the samplers and checks rely on, proved
for all parameter values (issue 17).

Each certificate is a :class:`Certificate` record (a :class:`~verify.results.ResultBase`)
with its name, the statement it proves, ``outcome`` "proved" or "not proved" with the
residual expression, and its time; a certificate over its time limit (30 s) or that
sympy cannot reduce is "not proved", never "proved" (:func:`certify`).

========================================  ==============================================
module                                    certificates
========================================  ==============================================
:mod:`~verify.symbolic.speculative`       one speculative step (q = 2, 3, 4, every sign
                                          pattern; rules traced from the real steps),
                                          the block recursion (n = 2, 3)
:mod:`~verify.symbolic.exact_weights`     exact law over irrational Ising weights
:mod:`~verify.symbolic.coupling`          reflection coupling acceptance, reflection,
                                          discrete Girsanov
:mod:`~verify.symbolic.oracles`           closed-form diffusion oracles and Tweedie
:mod:`~verify.symbolic.gaussian_chain`    Euler chain moments and the bias floor
:mod:`~verify.symbolic.pinning`           pinning identities on n = 3
:mod:`~verify.symbolic.catalogue`         :data:`CERTIFICATES`, :func:`run_certificates`
========================================  ==============================================
"""

from __future__ import annotations

from verify.symbolic.catalogue import CERTIFICATES, run_certificates
from verify.symbolic.certificate import MAX_SECONDS, Certificate, Finding, certify
from verify.symbolic.coupling import (
    acceptance_certificate,
    girsanov_certificate,
    reflection_certificate,
)
from verify.symbolic.exact_weights import exact_law_certificate
from verify.symbolic.gaussian_chain import bias_floor, chain_certificate
from verify.symbolic.oracles import oracle_certificate
from verify.symbolic.pinning import pinning_certificate
from verify.symbolic.speculative import recursion_certificate, step_certificate

__all__ = [
    "CERTIFICATES",
    "MAX_SECONDS",
    "Certificate",
    "Finding",
    "acceptance_certificate",
    "bias_floor",
    "certify",
    "chain_certificate",
    "exact_law_certificate",
    "girsanov_certificate",
    "oracle_certificate",
    "pinning_certificate",
    "recursion_certificate",
    "reflection_certificate",
    "run_certificates",
    "step_certificate",
]
