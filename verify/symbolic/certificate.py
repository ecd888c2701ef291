"""The :class:`Certificate` record and :func:`certify`, which runs one symbolic proof
under a time limit.

A certificate is a statement checked by computer algebra (sympy) for *all* values of
its symbols: a construction computes a **residual** expression that is zero exactly
when the statement holds, and the certificate is ``"proved"`` only when sympy reduces
every residual to the literal ``0``. A residual sympy cannot reduce, an exception, or a
run over the time limit gives ``"not proved"`` with the residual (or the reason): never
``"proved"``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy as sp

from distributions.errors import ParameterError
from distributions.validation import check_float
from verify.results import ResultBase

__all__ = ["Certificate", "Finding", "certify", "MAX_SECONDS"]

#: The time limit of one certificate (the issue's constraint: each under 30 s).
MAX_SECONDS: float = 30.0


class _Timeout(BaseException):
    """Raised by the alarm inside a certificate (a BaseException: sympy code that
    catches ``Exception`` cannot swallow it)."""


@dataclass(frozen=True)
class Finding:
    """What a construction returns: its residuals (all zero when the statement holds)
    and, optionally, numeric cross-checks that must hold as well.

    Attributes
    ----------
    residuals : sequence of sympy expressions
        Each must be the literal ``0`` (after the construction's own simplification).
    numeric_ok : bool
        The numeric cross-checks of the construction (if any) held.
    detail : str
        What was checked (cases, figures of the numeric cross-checks).
    blocker : str
        Why the proof could not be completed although no residual is non-zero (e.g. a
        branch condition of the traced code that could not be proved); empty if none.
    """

    residuals: Sequence[sp.Expr]
    numeric_ok: bool = True
    detail: str = ""
    blocker: str = ""


@dataclass(frozen=True, kw_only=True)
class Certificate(ResultBase):
    """One symbolic certificate.

    ``statistic`` is 0 when proved, else 1; ``alpha`` is 0 (a proof has no false-failure
    rate); ``pvalue`` is nan. ``status`` is ``"pass"`` when proved, ``"fail"`` when a
    residual is not zero (or a numeric cross-check failed), ``"warn"`` when the proof did
    not finish (time limit or an error inside sympy): neither of the last two is a proof.

    Attributes
    ----------
    name : str
    proves : str
        The statement, in words.
    outcome : str
        ``"proved"`` or ``"not proved"``.
    residual : str
        ``"0"`` when proved; else the first non-zero residual (or the reason).
    seconds : float
        Wall time of the construction and its simplification.
    detail : str
    """

    name: str
    proves: str
    outcome: str
    residual: str
    seconds: float
    detail: str = ""


def _is_zero(expr: sp.Expr) -> bool:
    return sp.sympify(expr) == 0


def _run(fn: Callable[[], Finding], timeout: float) -> Finding:
    if threading.current_thread() is not threading.main_thread():
        return fn()  # no alarm off the main thread: the elapsed time is checked after

    def alarm(signum: int, frame: object) -> None:
        raise _Timeout

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, old)


def certify(
    name: str, proves: str, construction: Callable[[], Finding], *,
    timeout: float = MAX_SECONDS,
) -> Certificate:
    """Run ``construction`` and turn its finding into a :class:`Certificate`.

    Parameters
    ----------
    name, proves : str
        The certificate's name and statement.
    construction : callable
        ``construction() -> Finding``.
    timeout : float, default :data:`MAX_SECONDS`
        Time limit in seconds, in ``(0, 30]``; over it the certificate is "not
        proved". On the main thread the construction is interrupted (SIGALRM);
        elsewhere it runs to its end and is "not proved" when it took longer.

    Returns
    -------
    Certificate

    Examples
    --------
    >>> x = sp.Symbol("x")
    >>> certify("square", "(x+1)^2 = x^2+2x+1",
    ...         lambda: Finding([sp.expand((x + 1)**2 - x**2 - 2*x - 1)])).outcome
    'proved'
    >>> c = certify("wrong", "(x+1)^2 = x^2+1",
    ...             lambda: Finding([sp.expand((x + 1)**2 - x**2 - 1)]))
    >>> c.outcome, c.residual, c.status
    ('not proved', '2*x', 'fail')
    """
    timeout = check_float("timeout", timeout, low=0.0, high=MAX_SECONDS, low_open=True)
    if not callable(construction):
        raise ParameterError(
            f"`construction` must be a callable returning a Finding; got "
            f"{type(construction).__name__}."
        )
    start = time.perf_counter()
    status, residual, detail = "fail", "", ""
    try:
        finding = _run(construction, timeout)
        nonzero = [r for r in finding.residuals if not _is_zero(r)]
        detail = finding.detail
        if nonzero:
            residual = str(nonzero[0])
        elif finding.blocker:
            status, residual = "warn", finding.blocker
        elif not finding.residuals:
            residual = "no residual was computed"
        elif not finding.numeric_ok:
            residual = "0 (symbolic); the numeric cross-check failed"
        else:
            status, residual = "pass", "0"
    except _Timeout:
        status, residual = "warn", f"time limit of {timeout:g} s reached before a proof"
    except Exception as exc:  # noqa: BLE001 - sympy's failure is "not proved", with its reason
        status, residual = "warn", f"sympy failed: {type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    if status == "pass" and seconds > timeout:
        status = "warn"
        residual = f"finished after the time limit ({seconds:.1f} s > {timeout:g} s)"
    return Certificate(
        passed=status == "pass", status=status, statistic=0.0 if status == "pass" else 1.0,
        alpha=0.0, method="sympy", name=name, proves=proves,
        outcome="proved" if status == "pass" else "not proved",
        residual=residual, seconds=seconds, detail=detail,
    )
