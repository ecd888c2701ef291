"""Stage ``certificates`` (full run only): the symbolic certificates of
:mod:`verify.symbolic`, each "proved symbolically" or "not proved" with its residual.

Each certificate is one check record (status pass when proved; fail when a residual
is not zero or a numeric cross-check failed; warn when sympy did not finish within
the time limit). The section lists every identity, what it proves, the outcome and
the time. Too heavy for the quick run (about a minute and a half on one core).
"""

from __future__ import annotations

from collections.abc import Sequence

from reports.records import to_record
from reports.validation.config import StageContext, StageOutput
from verify.symbolic import CERTIFICATES, Certificate, run_certificates

__all__ = ["certificate_output", "stage_certificates"]


def stage_certificates(ctx: StageContext) -> StageOutput:
    """Run the certificates stage (see the module docstring)."""
    bar = ctx.progress(len(CERTIFICATES), "certificates")

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update()

    certs = run_certificates(progress=step)
    bar.close()
    return certificate_output(certs)


def certificate_output(certs: Sequence[Certificate]) -> StageOutput:
    """Check records and the section of the certificates (also ``certify``'s report)."""
    out = StageOutput()
    rows = []
    for c in certs:
        shown = "proved symbolically" if c.outcome == "proved" else f"not proved: {c.residual}"
        out.checks.append(to_record(
            c, stage="certificates", cid=c.name, name=c.name,
            severity="error" if c.status != "warn" else "warning",
            detail=f"{c.proves}. {shown}" + (f" ({c.detail})" if c.detail else "")))
        residual = c.residual if len(c.residual) <= 300 else c.residual[:297] + "..."
        rows.append([c.name, c.proves, c.outcome, residual, round(c.seconds, 2)])
    out.sections.append({
        "id": "certificates", "title": "Symbolic certificates (sympy)",
        "text": ("Each identity is proved by computer algebra for all values of its symbols: "
                 "a residual expression that must reduce to 0. A residual sympy cannot "
                 "reduce, or a run over the 30 s limit, is reported as not proved, never "
                 "as proved."),
        "tables": [{"title": "Certificates", "columns": ["certificate", "proves", "outcome",
                                                         "residual", "seconds"],
                    "rows": rows}]})
    return out
