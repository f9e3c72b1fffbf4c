"""Every statistic for one year and filter, in the full-level and the binary view, and its JSON form."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from dashboard.analysis._selection import Lookup, Mask, Selection, apply_mask, edges, lookup, normalise_levels, select
from dashboard.analysis.concordance import compute as compute_concordance
from dashboard.analysis.deprivation import compute as compute_deprivation
from dashboard.analysis.join_counts import compute as compute_join_counts
from dashboard.analysis.local_clusters import compute as compute_local_clusters
from dashboard.analysis.permutations import PermutationTables, check_permutations
from dashboard.analysis.result import (
    ConcordanceResult,
    Coverage,
    DeprivationResult,
    JoinCountResult,
    LocalClusterResult,
)
from dashboard.analysis.size import SizeResult
from dashboard.analysis.size import compute as compute_size

View = Literal["full", "binary"]


@dataclass(frozen=True, eq=False)
class ViewResults:
    """Join counts, area-team concordance and local clusters for one view."""

    view: View
    join_counts: JoinCountResult
    concordance: ConcordanceResult
    local: LocalClusterResult


@dataclass(frozen=True, eq=False)
class Summary:
    """Everything the clustering panel shows for one year and filter: numbers only, no sentences.

    ``n_selected`` CCGs were in the filter; ``coverage`` says how many had a known level and which known
    CCGs had no known neighbour (islands).
    """

    year: Hashable | None
    n_selected: int
    coverage: Coverage
    full: ViewResults
    binary: ViewResults
    deprivation: DeprivationResult
    permutations: int = 999
    seed: int = 0
    alpha: float = 0.05
    size: SizeResult | None = None  # population by level (HSJ's size question); None when built without it

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (DataFrames as lists of records, NaN as None), e.g. for a ``dcc.Store``."""
        return jsonable(self)


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: dataclasses and mappings as dicts, frames as records, NaN as None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, pd.DataFrame):
        return [{str(k): jsonable(v) for k, v in rec.items()} for rec in obj.to_dict(orient="records")]
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if pd.isna(obj):
        return None
    return str(obj)


def summarise(
    levels: pd.Series,
    neighbours: Mapping[str, Sequence[str]],
    teams: Lookup,
    imd_score: Lookup,
    population: Lookup = None,
    *,
    mask: Mask = None,
    year: Hashable | None = None,
    permutations: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
    tables: PermutationTables | None = None,
) -> Summary:
    """All statistics for one selection, in both views, sharing its edges and relabellings.

    Both views are given because ``not_delegated`` hides which lower level a CCG chose: the binary view
    (delegated or not) compares like with like, the full view keeps the detail where it is known. With
    ``tables=None`` the relabellings are made for this call only; pass a :class:`PermutationTables` to
    reuse them across calls.

    Parameters
    ----------
    levels : pd.Series
        Level per CCG code (unknown or missing = left out, and counted).
    neighbours : Mapping[str, Sequence[str]]
        CCG code -> neighbouring codes.
    teams, imd_score, population : pd.Series or Mapping
        CCG code -> area team, IMD score, population (optional).
    mask, year, permutations, seed, alpha, tables
        Filter, label of the year, permutation settings, local significance level, relabelling store.

    Returns
    -------
    Summary

    Examples
    --------
    >>> codes = [f"c{i}" for i in range(6)]
    >>> lv = pd.Series(["joint"] * 3 + ["delegated"] * 3, index=codes)
    >>> nb = {c: [d for d in codes if abs(int(c[1]) - int(d[1])) == 1] for c in codes}
    >>> s = summarise(lv, nb, {c: "T" for c in codes}, {c: 20.0 for c in codes}, permutations=99)
    >>> s.full.join_counts.total_observed, s.full.concordance.not_run.reason, s.deprivation.diff_not_run.reason
    (4, 'one_team', 'same_imd')
    """
    permutations = check_permutations(permutations)
    tables = PermutationTables() if tables is None else tables
    lv = apply_mask(normalise_levels(levels), mask)
    sel = select(lv, normalised=True)
    team_by_code = lookup(teams)
    edge = edges(sel.codes, neighbours)
    seed = int(seed)
    full_v, bin_v = (_view(s, edge, team_by_code, v, permutations, seed, float(alpha), tables)
                     for s, v in ((sel, "full"), (sel.binary(), "binary")))
    dep = compute_deprivation(sel, lookup(imd_score), lookup(population), permutations, seed, tables)
    size = compute_size(sel, lookup(population), permutations, seed, tables)
    return Summary(year=year, n_selected=len(lv), coverage=full_v.join_counts.coverage, full=full_v,
                   binary=bin_v, deprivation=dep, permutations=permutations, seed=seed, alpha=float(alpha),
                   size=size)


def _view(sel: Selection, edge: tuple[np.ndarray, np.ndarray], team_by_code: Mapping[str, Any], view: View,
          permutations: int, seed: int, alpha: float, tables: PermutationTables) -> ViewResults:
    return ViewResults(
        view=view,
        join_counts=compute_join_counts(sel, *edge, permutations, seed, tables),
        concordance=compute_concordance(sel, team_by_code, permutations, seed, tables),
        local=compute_local_clusters(sel, *edge, permutations, seed, alpha, tables),
    )
