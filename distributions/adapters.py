"""Adapters between real diffusion parameterisations and the localization oracle.

The samplers of this project consume a :class:`~distributions.base.DiffusionOracle`,
the conditional mean ``f(t, x) = E[Y | t Y + B_t = x]`` of stochastic localization.
Trained networks come in other parameterisations; this module converts both ways.

Time maps (derivations)
-----------------------
Localization: ``x_t = t Y + B_t = t Y + sqrt(t) eps`` (``eps ~ N(0, I)``), so
``x_t / sqrt(t) = sqrt(t) Y + eps``: signal-to-noise ratio ``t``.

*Variance preserving (DDPM)*: ``x_s = sqrt(abar) Y + sqrt(1 - abar) eps``, so
``x_s / sqrt(1 - abar) = sqrt(abar / (1 - abar)) Y + eps``. Matching the two::

    t   = abar / (1 - abar)                 abar = t / (1 + t)
    x_t = x_s * sqrt(abar) / (1 - abar)     x_s  = x_t / sqrt(t (1 + t))

and ``E[Y | x_s] = f(t, x_t)``. Predictions (Ho et al. 2020; Salimans & Ho 2022,
``v = sqrt(abar) eps - sqrt(1 - abar) Y``) give the conditional mean as::

    epsilon: f = (x_s - sqrt(1 - abar) eps_hat) / sqrt(abar)
    x0:      f = x0_hat
    v:       f = sqrt(abar) x_s - sqrt(1 - abar) v_hat

*Flow matching* (rectified flow): ``x_tau = tau Y + (1 - tau) eps``, ``tau in [0, 1)``,
velocity target ``Y - eps``. Dividing by ``1 - tau``::

    t   = (tau / (1 - tau))**2              tau   = sqrt(t) / (1 + sqrt(t))
    x_t = x_tau * tau / (1 - tau)**2        x_tau = x_t / (sqrt(t) (1 + sqrt(t)))

and, since ``E[eps | x_tau] = (x_tau - tau f) / (1 - tau)``, the velocity
``u_hat = E[Y - eps | x_tau] = (f - x_tau) / (1 - tau)``, i.e.
``f = x_tau + (1 - tau) u_hat``. (Libraries that write ``x = (1 - sigma) Y + sigma eps``
with target ``eps - Y`` use ``tau = 1 - sigma`` and ``u_hat = -their output``.)

Ends of the schedule. ``t = 0`` is ``abar = 0`` / ``tau = 0``: the answer is the prior
mean ``E[Y]``. A flow network gives it exactly (``f = 0 + u_hat(0, 0)``, the state being
independent of ``Y``); a VP adapter returns the ``prior_mean`` it was given and raises
:class:`ParameterError` at ``t = 0`` without one (an epsilon network cannot give it:
``sqrt(abar) = 0`` divides). ``t = inf`` (``abar = 1``, ``tau = 1``) is outside every
map: a ``t`` so large that ``abar`` (or ``tau``) rounds to 1 in the network's dtype
(``t`` beyond about ``2 / eps`` of the dtype for VP, ``4 / eps**2`` for flow) raises
:class:`ParameterError`. A discrete ``alphas_cumprod`` covers only ``t`` between its end SNRs; the
network is called at the fractional timestep found by linear interpolation of the
timestep index in ``log t`` (exact at the grid's own timesteps; between them it relies
on the network accepting fractional timesteps, as continuous-time networks do), and a
query outside the range (beyond a slack of ``1e-12`` in ``log t``) raises
:class:`ParameterError` naming it.

Precision. The maps are computed in float64 whatever the input dtype; the network
is called with inputs cast to ``dtype`` (float32 for a float32 network) and its answer
is promoted to float64. An epsilon network's error is amplified by
``sqrt((1 - abar) / abar) = 1 / sqrt(t)`` in ``f``. With a float32 network the error in
``f`` is of the order of the float32 unit roundoff times
``(1 + |x| + |f|) / sqrt(min(t, 1))`` (tests/distributions/test_adapters.py asserts 16
ulps of that; float64 networks agree with closed forms to ``1e-10`` relative).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from distributions.diffusion import _check_t, _check_x
from distributions.errors import OracleError, ParameterError
from distributions.validation import check_choice, check_int

__all__ = [
    "VPNetworkOracle",
    "FlowMatchingOracle",
    "vp_time",
    "flow_time",
    "vp_prediction",
    "flow_velocity",
    "PREDICTIONS",
]

#: The VP network outputs understood by :class:`VPNetworkOracle`.
PREDICTIONS: tuple[str, ...] = ("epsilon", "x0", "v")

#: Slack on ``log t`` at the ends of a discrete schedule (rounding of ``abar -> t``).
_END_SLACK: float = 1e-12

Network = Callable[[np.ndarray, np.ndarray], Any]


def _unit_interval(name: str, value: Any) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"`{name}` must be an array of numbers in [0, 1); got "
                             f"{value!r}.") from exc
    bad = ~(np.isfinite(v) & (v >= 0) & (v < 1))
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0]) if v.ndim else ()
        raise ParameterError(f"`{name}` must be in [0, 1); got {float(v[i])!r}"
                             + (f" at index {i[0] if len(i) == 1 else i}." if i else "."))
    return v


def vp_time(alpha_bar: Any) -> np.ndarray:
    """Localization time ``t = abar / (1 - abar)`` of a VP noise level ``abar in [0, 1)``."""
    a = _unit_interval("alpha_bar", alpha_bar)
    return a / (1.0 - a)


def flow_time(tau: Any) -> np.ndarray:
    """Localization time ``t = (tau / (1 - tau))**2`` of a flow-matching time ``tau in [0, 1)``."""
    s = _unit_interval("tau", tau)
    return (s / (1.0 - s)) ** 2


def _check_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ParameterError(f"`dtype` must be a floating dtype; got {dtype!r}.") from exc
    if dt.kind != "f":
        raise ParameterError(f"`dtype` must be a floating dtype; got {dt}.")
    return dt


def _below_one(name: str, level: np.ndarray, t: np.ndarray, dtype: np.dtype) -> None:
    """Raise when the noise level rounds to 1 in the network's dtype (huge ``t``)."""
    top = level.astype(dtype) >= 1
    if top.any():
        i = int(np.argmax(top))
        raise ParameterError(
            f"`t` must be small enough that `{name}` stays below 1 in {dtype} (beyond, the "
            f"network is asked at the end of its schedule); got {float(t[i])!r} at index {i}.")


def _call_network(network: Network, x: np.ndarray, time: np.ndarray, dtype: np.dtype,
                  what: str) -> np.ndarray:
    out = network(x.astype(dtype), time.astype(dtype))
    arr = np.asarray(out, dtype=np.float64)
    if arr.shape != x.shape:
        raise OracleError(f"the {what} network must return shape {x.shape} for a batch of "
                          f"{x.shape[0]}; got {arr.shape}.")
    if not np.isfinite(arr).all():
        raise OracleError(f"the {what} network returned a non-finite value.")
    return arr


class VPNetworkOracle:
    """The localization oracle of a variance-preserving (DDPM) network.

    ``denoise(t, x)`` maps ``t -> abar = t / (1 + t)`` and ``x -> x_s = x / sqrt(t (1 + t))``
    (see the module docstring), calls ``network(x_s, time)`` and converts its
    prediction into ``E[Y | x_s]``.

    Parameters
    ----------
    network : callable ``(x_s, time) -> array``
        ``x_s`` of shape (B, dim), ``time`` of shape (B,); returns shape (B, dim).
    dim : int
        Dimension, ``>= 1``.
    prediction : {"epsilon", "x0", "v"}, default "epsilon"
    alphas_cumprod : array_like, optional
        Discrete schedule ``abar[0] > abar[1] > ...`` in (0, 1), indexed by timestep;
        ``time`` is then the (fractional) timestep, interpolated in ``log t``.
    time_of_alpha_bar : callable, optional
        Continuous schedule: maps ``abar`` (B,) to the network's time. Default (and
        neither schedule given): the network takes ``abar`` itself.
    prior_mean : array_like, shape (dim,), optional
        ``E[Y]``, the answer at ``t = 0``; without it a query at ``t = 0`` raises.
    dtype : floating dtype, default float64
        dtype of the network's inputs.
    """

    def __init__(self, network: Network, dim: int, *, prediction: str = "epsilon",
                 alphas_cumprod: Any = None,
                 time_of_alpha_bar: Callable[[np.ndarray], Any] | None = None,
                 prior_mean: Any = None, dtype: Any = np.float64) -> None:
        if not callable(network):
            raise ParameterError(f"`network` must be callable; got {type(network).__name__}.")
        self.dim = check_int("dim", dim, low=1)
        self.prediction = check_choice("prediction", prediction, PREDICTIONS)
        if alphas_cumprod is not None and time_of_alpha_bar is not None:
            raise ParameterError("`alphas_cumprod` and `time_of_alpha_bar` are exclusive; "
                                 "got both.")
        if time_of_alpha_bar is not None and not callable(time_of_alpha_bar):
            raise ParameterError(f"`time_of_alpha_bar` must be callable; got "
                                 f"{type(time_of_alpha_bar).__name__}.")
        self._log_t: np.ndarray | None = None
        if alphas_cumprod is not None:
            a = np.asarray(alphas_cumprod, dtype=np.float64)
            if a.ndim != 1 or a.size < 2:
                raise ParameterError(f"`alphas_cumprod` must be a 1-d array of >= 2 levels; "
                                     f"got shape {a.shape}.")
            if not (np.isfinite(a).all() and (a > 0).all() and (a < 1).all()):
                raise ParameterError("`alphas_cumprod` must lie in (0, 1); got a value outside.")
            if not (np.diff(a) < 0).all():
                raise ParameterError("`alphas_cumprod` must be strictly decreasing; got "
                                     f"an increase at index {int(np.argmax(np.diff(a) >= 0))}.")
            self._log_t = np.log(a) - np.log1p(-a)
        self.alphas_cumprod = None if alphas_cumprod is None else a
        self._time_of = time_of_alpha_bar
        if prior_mean is not None:
            pm = np.asarray(prior_mean, dtype=np.float64)
            if pm.shape != (self.dim,) or not np.isfinite(pm).all():
                raise ParameterError(f"`prior_mean` must be finite with shape ({self.dim},); "
                                     f"got shape {pm.shape}.")
            prior_mean = pm
        self.prior_mean = prior_mean
        self.network = network
        self.dtype = _check_dtype(dtype)

    def _network_time(self, t: np.ndarray, abar: np.ndarray) -> np.ndarray:
        if self._log_t is not None:
            lt, lo, hi = np.log(t), self._log_t[-1], self._log_t[0]
            # float64 rounding of abar -> t at the ends is forgiven (then clipped)
            out = (lt < lo - _END_SLACK) | (lt > hi + _END_SLACK)
            if out.any():
                i = int(np.argmax(out))
                raise ParameterError(
                    f"`t` must be 0 or within the schedule's SNR range [{np.exp(lo):.6g}, "
                    f"{np.exp(hi):.6g}] (alphas_cumprod ends); got {float(t[i])!r} at index {i}.")
            steps = np.arange(self._log_t.size, dtype=np.float64)
            return np.interp(lt, self._log_t[::-1], steps[::-1])
        if self._time_of is not None:
            return np.asarray(self._time_of(abar), dtype=np.float64).reshape(abar.shape)
        return abar

    def denoise(self, t: Any, x: Any) -> np.ndarray:
        """``E[Y | t Y + B_t = x]`` from the network; shape (B, dim), float64."""
        x = _check_x(x, self.dim)
        t = _check_t(t, x.shape[0])
        zero = t == 0
        if zero.any() and self.prior_mean is None:
            raise ParameterError(f"`t` = 0 (index {int(np.argmax(zero))}) needs the prior mean: "
                                 "pass `prior_mean` to VPNetworkOracle.")
        out = np.empty_like(x)
        out[zero] = self.prior_mean if self.prior_mean is not None else 0.0
        pos = ~zero
        if pos.any():
            tp, xp = t[pos], x[pos]
            abar = tp / (1.0 + tp)
            _below_one("alpha_bar", abar, tp, self.dtype)
            x_s = xp / np.sqrt(tp * (1.0 + tp))[:, None]
            pred = _call_network(self.network, x_s, self._network_time(tp, abar), self.dtype,
                                 self.prediction)
            sa, sn = np.sqrt(abar)[:, None], np.sqrt(1.0 / (1.0 + tp))[:, None]
            if self.prediction == "epsilon":
                out[pos] = (x_s - sn * pred) / sa
            elif self.prediction == "x0":
                out[pos] = pred
            else:
                out[pos] = sa * x_s - sn * pred
        return out


class FlowMatchingOracle:
    """The localization oracle of a flow-matching velocity network.

    ``denoise(t, x)`` maps ``t -> tau = sqrt(t) / (1 + sqrt(t))`` and
    ``x -> x_tau = x / (sqrt(t) (1 + sqrt(t)))``, calls ``network(x_tau, time)`` and
    returns ``x_tau + (1 - tau) u_hat``; at ``t = 0`` it returns ``u_hat(0, 0)`` (the
    prior mean).

    Parameters
    ----------
    network : callable ``(x_tau, time) -> array``
        Velocity ``E[Y - eps | x_tau]`` for ``x_tau = tau Y + (1 - tau) eps``.
    dim : int
    time_of_tau : callable, optional
        Maps ``tau`` (B,) to the network's time; default identity.
    dtype : floating dtype, default float64
        dtype of the network's inputs.
    """

    def __init__(self, network: Network, dim: int, *,
                 time_of_tau: Callable[[np.ndarray], Any] | None = None,
                 dtype: Any = np.float64) -> None:
        if not callable(network):
            raise ParameterError(f"`network` must be callable; got {type(network).__name__}.")
        if time_of_tau is not None and not callable(time_of_tau):
            raise ParameterError(f"`time_of_tau` must be callable; got "
                                 f"{type(time_of_tau).__name__}.")
        self.dim = check_int("dim", dim, low=1)
        self.network = network
        self._time_of = time_of_tau
        self.dtype = _check_dtype(dtype)

    def denoise(self, t: Any, x: Any) -> np.ndarray:
        """``E[Y | t Y + B_t = x]`` from the velocity network; shape (B, dim), float64."""
        x = _check_x(x, self.dim)
        t = _check_t(t, x.shape[0])
        r = np.sqrt(t)
        tau = r / (1.0 + r)
        _below_one("tau", tau, t, self.dtype)
        zero = t == 0
        x_tau = np.zeros_like(x)
        x_tau[~zero] = x[~zero] / (r * (1.0 + r))[~zero, None]
        time = tau if self._time_of is None else np.asarray(
            self._time_of(tau), dtype=np.float64).reshape(tau.shape)
        u = _call_network(self.network, x_tau, time, self.dtype, "velocity")
        return x_tau + (1.0 / (1.0 + r))[:, None] * u


# ----------------------------------------------------------------------------- and back
def _state(name: str, value: Any, batch: int | None, dim: int) -> np.ndarray:
    arr = _check_x(value, dim, name)
    if batch is not None and arr.shape[0] != batch:
        raise ParameterError(f"`{name}` must have {batch} rows; got {arr.shape[0]}.")
    return arr


def _level(name: str, value: Any, batch: int) -> np.ndarray:
    v = _unit_interval(name, value)
    if v.ndim == 0:
        v = np.full(batch, float(v))
    if v.shape != (batch,):
        raise ParameterError(f"`{name}` must be a scalar or have shape ({batch},); got {v.shape}.")
    return v


def vp_prediction(oracle: Any, x_s: Any, alpha_bar: Any, *,
                  prediction: str = "epsilon") -> np.ndarray:
    """A VP network's prediction at ``(x_s, abar)`` from a localization oracle.

    ``f = oracle.denoise(abar / (1 - abar), x_s sqrt(abar) / (1 - abar))`` is
    ``E[Y | x_s]``; returns ``f`` ("x0"), ``(x_s - sqrt(abar) f) / sqrt(1 - abar)``
    ("epsilon") or ``sqrt(abar) eps_hat - sqrt(1 - abar) f`` ("v"). ``abar in [0, 1)``;
    at ``abar = 0`` the oracle is asked at ``t = 0`` (the prior mean).
    """
    prediction = check_choice("prediction", prediction, PREDICTIONS)
    dim = int(oracle.dim)
    x = _state("x_s", x_s, None, dim)
    a = _level("alpha_bar", alpha_bar, x.shape[0])
    t = a / (1.0 - a)
    f = np.asarray(oracle.denoise(t, x * (np.sqrt(a) / (1.0 - a))[:, None]), dtype=np.float64)
    if prediction == "x0":
        return f
    eps = (x - np.sqrt(a)[:, None] * f) / np.sqrt(1.0 - a)[:, None]
    if prediction == "epsilon":
        return eps
    return np.sqrt(a)[:, None] * eps - np.sqrt(1.0 - a)[:, None] * f


def flow_velocity(oracle: Any, x_tau: Any, tau: Any) -> np.ndarray:
    """A flow-matching velocity ``E[Y - eps | x_tau] = (f - x_tau) / (1 - tau)`` from a
    localization oracle, ``f = oracle.denoise((tau / (1 - tau))**2, x_tau tau / (1 - tau)**2)``;
    ``tau in [0, 1)``."""
    dim = int(oracle.dim)
    x = _state("x_tau", x_tau, None, dim)
    s = _level("tau", tau, x.shape[0])
    t = (s / (1.0 - s)) ** 2
    f = np.asarray(oracle.denoise(t, x * (s / (1.0 - s) ** 2)[:, None]), dtype=np.float64)
    return (f - x) / (1.0 - s)[:, None]
