"""Scalable exact targets: exact conditionals without a table (DESIGN 3.1).

Four families, each a full :class:`~distributions.base.PositionalOracle` with exact
``conditionals``, ``conditionals_at`` (with and without ``chain_values``),
``log_pmf``, exact iid ``sample`` and, when ``q**n <= 2**20`` (the table cap of the
checks), ``pmf`` (tabulated in ``O(q**n)``):

* :class:`Product` -- independent coordinates.
* :class:`MixtureOfProducts` -- ``sum_k w_k prod_i p_k(x_i)``.
* :class:`CurieWeiss` -- mean-field Ising model, critical at ``beta = 1``.
* :class:`IsingChain` -- 1-D nearest-neighbour Ising chain (transfer matrices).

Everything is computed in log space and vectorised over the batch; nothing
underflows at ``n = 10**5`` (an ``exp`` of a log weight below ``-708`` is the
correctly rounded 0 and silent, see :mod:`distributions._numerics`). Parameters
whose log weights float64 cannot resolve to ``1e-8`` (e.g. ``IsingChain(coupling=
1e308)``, ``CurieWeiss(beta=1e308)``) are refused with :class:`ParameterError`
(bounds in each class's ``_check_resolvable``); products and mixtures normalise
in log space and accept any finite weights.

Costs per context row (``L`` = number of requested positions):

========================  ==============  ==============================
family                    ``conditionals``  ``conditionals_at`` (chain)
========================  ==============  ==============================
Product                   O(n q)          O(n + L q)
MixtureOfProducts         O(n K q)        O(n K + L K q)
CurieWeiss                O(n)            O(n + L c) [#]_
IsingChain                O(n)            O(n + L log L)
========================  ==============  ==============================

.. [#] Curie-Weiss chains read a table of ``log sum_u C(m, u) g(p + u)`` stored at
   every ``c``-th level ``m`` with ``c = ceil((n+1)**2 / 2**22)`` (at most 2**22
   entries; ``c = 1`` up to ``n = 2047``, ``c = 4`` at 4096, ``c = 64`` at 16384), built
   once, lazily (when the direct ``O(n)``-per-step work done so far would have paid
   for it), by an ``O(n**2)`` log-space Pascal recursion: 0.5 s at ``n = 4096`` and
   7 s at ``n = 16384`` on a loaded 2-core machine.
   Beyond ``n = 2**15`` the table is not built and each chain step costs ``O(n)``.
"""

from distributions.scalable._common import MAX_PMF_SIZE
from distributions.scalable.curie_weiss import CurieWeiss
from distributions.scalable.ising_chain import IsingChain
from distributions.scalable.mixture import MixtureOfProducts, Product

__all__ = ["Product", "MixtureOfProducts", "CurieWeiss", "IsingChain", "MAX_PMF_SIZE"]
