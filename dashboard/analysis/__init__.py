"""Spatial and area-team statistics of CCG co-commissioning levels: pure functions, no Dash, no sentences.

One module per statistic, as in esda: :mod:`~dashboard.analysis.join_counts` (do neighbours share a level?),
:mod:`~dashboard.analysis.concordance` (do area teams?), :mod:`~dashboard.analysis.local_clusters` (which
CCGs sit in a same-level cluster?), :mod:`~dashboard.analysis.deprivation` (were delegated CCGs more
deprived?), :mod:`~dashboard.analysis.size` (were they larger?); :mod:`~dashboard.analysis.summary` runs them
all for one filter in both views.

Conventions:

* ``levels`` is a ``pd.Series`` indexed by CCG code; unknown (or missing) levels are left out of every
  statistic and counted in its :class:`Coverage`, because coverage is partial and the reader must see how
  much of the country a figure describes. ``mask`` restricts to the user's filter; the neighbour statistics
  use the sub-graph induced by the selected known CCGs, and known CCGs without a known neighbour are listed
  as islands.
* Permutation tests draw their relabellings from ``np.random.default_rng(seed)``, so a given input and seed
  always give the same answer; the relabellings come from a caller-owned :class:`PermutationTables` (or are
  made per call) and no state is kept at module level.
* A test that cannot be run says why in ``not_run`` (:class:`NotRun`, a reason code and figures) instead of
  reporting a meaningless p-value; the words are chosen by ``dashboard.page.clustering_readings``.

Each statistic also has a fast path on integer labels and shared edges / relabellings, for many labellings
of one selection: ``join_counts.join_count_stat``, ``concordance.concordance_stat``,
``local_clusters.local_stat``, ``deprivation.difference_stat`` / ``kruskal_stat``.
"""

from __future__ import annotations

from dashboard.analysis._selection import delegation_binary, levels_key
from dashboard.analysis.concordance import MIN_TEAM_KNOWN, area_team_concordance
from dashboard.analysis.deprivation import deprivation_by_level
from dashboard.analysis.join_counts import join_counts
from dashboard.analysis.local_clusters import local_clusters
from dashboard.analysis.permutations import PermutationTables, Tables, make_tables
from dashboard.analysis.result import (
    MIN_KNOWN,
    ConcordanceResult,
    Coverage,
    DeprivationResult,
    JoinCountResult,
    LocalClusterResult,
    NotRun,
)
from dashboard.analysis.size import SizeResult, size_by_level
from dashboard.analysis.summary import Summary, ViewResults, summarise

__all__ = [
    "MIN_KNOWN",
    "MIN_TEAM_KNOWN",
    "ConcordanceResult",
    "Coverage",
    "DeprivationResult",
    "JoinCountResult",
    "LocalClusterResult",
    "NotRun",
    "PermutationTables",
    "SizeResult",
    "Summary",
    "Tables",
    "ViewResults",
    "area_team_concordance",
    "delegation_binary",
    "deprivation_by_level",
    "join_counts",
    "levels_key",
    "local_clusters",
    "make_tables",
    "size_by_level",
    "summarise",
]
