"""Item 6: the identities :mod:`verify.pinning` checks numerically, proved symbolically
on ``n = 3`` binary sites with eight symbolic positive weights ``w_x`` (law ``w / Z``).

With ``Hbar_k`` the mean entropy of ``X_A`` over ``|A| = k`` and the profile
``h_k = Hbar_{k+1} - Hbar_k`` (as in :func:`verify.entropy_profile`):

* **entropy sum**: ``sum_k h_k = H(X)``;
* **mutual-information identity** (``check_mutual_information_identity``):
  ``h_t - h_{t+1}`` is the mean of ``I(X_i; X_j | X_P)`` over ``|P| = t`` and pairs
  ``i < j`` outside ``P``, for ``t = 0, 1``;
* **KL identity** (``check_kl_identity``, the ingredient of the level and tree
  bounds): the mean over splits ``P`` (``|P| = a``), ``S`` (``|S| = b - a``) of
  ``E KL(mu_S || nu_S)`` equals ``sum_{j=a+1..b} (h_a - h_{j-1})``, for every block;
* **KL bound's slack** (``check_kl_bound``: ``E KL <= |S| (h_a - h_b)``): the slack
  ``|S| (h_a - h_b) - E KL`` equals ``sum_{j=a+1..b} sum_{t=j-1..b-1} (h_t - h_{t+1})``,
  a sum of mean conditional mutual informations (each >= 0; the term ``t = n - 1`` is
  ``h_{n-1} - h_n = h_{n-1}``, a mean conditional entropy, also >= 0), which is the
  bound.

Each residual is reduced by expanding the logarithms (``log(u/v) = log u - log v``
for the positive marginal sums), replacing each ``log`` of a distinct sum by its own
symbol, and cancelling the rational coefficient of each: all zero is a proof.
``variant`` builds a broken identity (a negative control): ``"kl-off-by-one"`` sums
the KL identity's right side to ``b - 1``; ``"mi-missing-pair"`` leaves one pair
out of the mutual-information average.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import sympy as sp

from distributions.errors import ParameterError
from verify.symbolic.certificate import Certificate, Finding, certify

__all__ = ["pinning_certificate", "VARIANTS"]

#: Identity variants: the exact one and two broken ones (negative controls).
VARIANTS: tuple[str, ...] = ("exact", "kl-off-by-one", "mi-missing-pair")

_N = 3


class _Law:
    def __init__(self) -> None:
        self.w = {x: sp.Symbol("w" + "".join(map(str, x)), positive=True)
                  for x in itertools.product((0, 1), repeat=_N)}
        self.z = sum(self.w.values())

    def p(self, fixed: dict[int, int]) -> sp.Expr:
        """``P(X_i = fixed[i] for i in fixed)``."""
        return sum((w for x, w in self.w.items() if all(x[i] == v for i, v in fixed.items())),
                   sp.Integer(0)) / self.z

    def entropy(self, A: Sequence[int]) -> sp.Expr:
        out = sp.Integer(0)
        for vals in itertools.product((0, 1), repeat=len(A)):
            p = self.p(dict(zip(A, vals, strict=True)))
            out -= p * sp.log(p)
        return out

    def cmi(self, i: int, j: int, P: Sequence[int]) -> sp.Expr:
        out = sp.Integer(0)
        for vp in itertools.product((0, 1), repeat=len(P)):
            fp = dict(zip(P, vp, strict=True))
            for vi, vj in itertools.product((0, 1), repeat=2):
                pij = self.p(fp | {i: vi, j: vj})
                den = self.p(fp | {i: vi}) * self.p(fp | {j: vj})
                out += pij * sp.log(pij * self.p(fp) / den)
        return out

    def block_kl(self, P: Sequence[int], S: Sequence[int]) -> sp.Expr:
        """``E_{x_P} KL(mu_S(. | x_P) || prod_{i in S} mu(x_i | x_P))``."""
        out = sp.Integer(0)
        for vp in itertools.product((0, 1), repeat=len(P)):
            fp = dict(zip(P, vp, strict=True))
            for vs in itertools.product((0, 1), repeat=len(S)):
                joint = self.p(fp | dict(zip(S, vs, strict=True)))
                prod = sp.Mul(*(self.p(fp | {i: v}) / self.p(fp) for i, v in zip(S, vs,
                                                                                 strict=True)))
                out += joint * sp.log(joint / self.p(fp) / prod)
        return out


def _reduce(e: sp.Expr) -> sp.Expr:
    """Zero iff the coefficient of every distinct logarithm cancels (see the module)."""
    e = sp.expand(sp.expand_log(e, force=True))
    logs = sorted(e.atoms(sp.log), key=sp.default_sort_key)
    ls = sp.symbols(f"L0:{len(logs)}")
    e = e.xreplace(dict(zip(logs, ls, strict=True)))
    poly = sp.Poly(e, *ls) if ls else None
    if poly is None:
        return sp.cancel(e)
    out = sp.Integer(0)
    for mon, coeff in poly.terms():
        c = sp.cancel(sp.together(coeff))
        if c != 0:
            out += c * sp.Mul(*(lg**k for lg, k in zip(logs, mon, strict=True)))
    return out


def _mean(terms: list[sp.Expr]) -> sp.Expr:
    return sp.Add(*terms) / len(terms)


def _pinning_finding(variant: str) -> Finding:
    law = _Law()
    sites = range(_N)
    hbar = [_mean([law.entropy(A) for A in itertools.combinations(sites, k)])
            for k in range(_N + 1)]
    h = [hbar[k + 1] - hbar[k] for k in range(_N)] + [sp.Integer(0)]  # h_n = 0
    names, residuals = [], []
    names.append("entropy sum")
    residuals.append(_reduce(sum(h[:_N]) - law.entropy(tuple(sites))))
    cmi_mean = {}
    for t in range(_N - 1):
        terms = [law.cmi(i, j, P) for P in itertools.combinations(sites, t)
                 for i, j in itertools.combinations([c for c in sites if c not in P], 2)]
        cmi_mean[t] = _mean(terms)
        if variant == "mi-missing-pair" and len(terms) > 1:
            terms = terms[:-1]
        names.append(f"MI identity t = {t}")
        residuals.append(_reduce(h[t] - h[t + 1] - _mean(terms)))
    for a, b in [(lo, hi) for lo in range(_N) for hi in range(lo + 2, _N + 1)]:
        pairs = [(P, tuple(c for c in U if c not in P))
                 for U in itertools.combinations(sites, b) for P in itertools.combinations(U, a)]
        ekl = _mean([law.block_kl(P, S) for P, S in pairs])
        top = b if variant != "kl-off-by-one" else b - 1
        names.append(f"KL identity (a, b) = ({a}, {b})")
        residuals.append(_reduce(ekl - sum(h[a] - h[j - 1] for j in range(a + 1, top + 1))))
        slack = sum(cmi_mean.get(t, sp.Integer(0)) if t < _N - 1 else h[t] - h[t + 1]
                    for j in range(a + 1, b + 1) for t in range(j - 1, b))
        names.append(f"KL bound slack (a, b) = ({a}, {b})")
        residuals.append(_reduce((b - a) * (h[a] - h[b]) - ekl - slack))
    bad = [n for n, r in zip(names, residuals, strict=True) if r != 0]
    return Finding(residuals, detail=(f"{len(names)} identities on n = {_N}, q = 2 with 8 "
                                      "symbolic weights" + (f"; failing: {', '.join(bad)}"
                                                            if bad else "")))


def pinning_certificate(variant: str = "exact") -> Certificate:
    """Certificate: the pinning identities of :mod:`verify.pinning` on ``n = 3`` with
    symbolic weights (see the module docstring).

    Parameters
    ----------
    variant : {"exact", "kl-off-by-one", "mi-missing-pair"}
        ``"exact"`` is the statement; the others are broken identities.

    Examples
    --------
    >>> pinning_certificate().outcome  # doctest: +SKIP
    'proved'
    """
    if variant not in VARIANTS:
        raise ParameterError(f"`variant` must be one of {', '.join(VARIANTS)}; got {variant!r}.")
    return certify(
        "pinning-identities" + ("" if variant == "exact" else f"-{variant}"),
        "entropy sum, h_t - h_{t+1} = mean CMI, E KL(mu_S||nu_S) = sum_j (h_a - h_{j-1}) and "
        "the KL bound's slack as a sum of mean CMIs, for all weights on 3 binary sites",
        lambda: _pinning_finding(variant),
    )
