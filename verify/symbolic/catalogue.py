"""The catalogue of symbolic certificates (:data:`CERTIFICATES`) and
:func:`run_certificates`, which the validation run and ``autospeculation certify`` use."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from distributions.diffusion import FiniteSet, GaussianMixture
from distributions.errors import ParameterError
from verify.symbolic.certificate import Certificate
from verify.symbolic.coupling import (
    acceptance_certificate,
    girsanov_certificate,
    reflection_certificate,
)
from verify.symbolic.exact_weights import exact_law_certificate
from verify.symbolic.gaussian_chain import chain_certificate
from verify.symbolic.oracles import oracle_certificate
from verify.symbolic.pinning import pinning_certificate
from verify.symbolic.speculative import recursion_certificate, step_certificate

__all__ = ["CERTIFICATES", "run_certificates"]


def _gm_1d() -> Certificate:
    gm = GaussianMixture([0.25, 0.75], [[-1.0], [2.0]], [0.5, 1.5])
    return oracle_certificate(gm, name="oracle-gaussian-mixture-1d")


def _gm_2d() -> Certificate:
    gm = GaussianMixture([0.5, 0.5], [[-1.0, 0.5], [1.0, -0.5]],
                         [[[1.0, 0.25], [0.25, 0.5]], [[0.5, 0.0], [0.0, 1.0]]])
    return oracle_certificate(gm, name="oracle-gaussian-mixture-2d")


def _finite() -> Certificate:
    fs = FiniteSet([[0.0, 1.0], [1.0, -1.0], [-0.5, 0.5]], [0.5, 0.25, 0.25])
    return oracle_certificate(fs, name="oracle-finite-set")


#: name -> certificate (each runs in under 30 s on one core; item of issue 17).
CERTIFICATES: dict[str, Callable[[], Certificate]] = {
    "speculative-step-q2": lambda: step_certificate(2),
    "speculative-step-q3": lambda: step_certificate(3),
    "speculative-step-q4": lambda: step_certificate(4),
    "block-recursion-n2": lambda: recursion_certificate(2),
    "block-recursion-n3": lambda: recursion_certificate(3),
    "exact-law-ising-irrational": exact_law_certificate,
    "reflection-coupling-acceptance": acceptance_certificate,
    "reflection-determinant": reflection_certificate,
    "discrete-girsanov": girsanov_certificate,
    "oracle-gaussian-mixture-1d": _gm_1d,
    "oracle-gaussian-mixture-2d": _gm_2d,
    "oracle-finite-set": _finite,
    "gaussian-chain-moments": chain_certificate,
    "pinning-identities": pinning_certificate,
}


def run_certificates(
    names: Sequence[str] | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[Certificate]:
    """Run the named certificates (default all), in catalogue order.

    Parameters
    ----------
    names : sequence of str, optional
        Names of :data:`CERTIFICATES`; checked before any work.
    progress : callable, optional
        ``progress(name)`` is called before each certificate.

    Returns
    -------
    list of Certificate

    Raises
    ------
    ParameterError
        An unknown name.
    """
    if names is None:
        chosen = list(CERTIFICATES)
    else:
        names = list(names)
        for n in names:
            if n not in CERTIFICATES:
                raise ParameterError(
                    f"certificate names must be among {', '.join(CERTIFICATES)}; got {n!r}."
                )
        chosen = [n for n in CERTIFICATES if n in names]
    out = []
    for n in chosen:
        if progress is not None:
            progress(n)
        out.append(CERTIFICATES[n]())
    return out
