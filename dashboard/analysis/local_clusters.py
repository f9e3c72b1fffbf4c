"""Local clusters: which CCGs sit among neighbours that share their level more than chance would give?"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from dashboard.analysis._selection import Mask, Selection, degrees, edges, encode, islands, select
from dashboard.analysis.permutations import PermutationTables, Tables, check_permutations, tables_for
from dashboard.analysis.result import Coverage, LocalClusterResult, NotRun, check_known


class LocalStat(NamedTuple):
    """Per CCG: analysed neighbours, same-level neighbours, one-sided permutation p (NaN for islands)."""

    n_neighbours: np.ndarray
    n_same: np.ndarray
    p_value: np.ndarray


def local_clusters(
    levels: pd.Series,
    neighbours: Mapping[str, Sequence[str]],
    permutations: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
    mask: Mask = None,
    *,
    tables: PermutationTables | None = None,
) -> LocalClusterResult:
    """Test each known CCG for more same-level neighbours than chance (conditional permutation).

    Each CCG keeps its own level and number of neighbours; its neighbours' levels are drawn without
    replacement from the other known CCGs. As in PySAL, one set of draws serves every CCG (each p-value is
    still valid on its own, but with many CCGs some pass by chance: ``n_expected_false_positives`` says how
    many). Not run with too few known CCGs, one level, or no neighbouring pair.

    Parameters
    ----------
    levels, neighbours, permutations, seed, mask, tables
        As in :func:`~dashboard.analysis.join_counts.join_counts`.
    alpha : float
        A CCG is ``significant`` when its p <= alpha and it has a same-level neighbour.

    Returns
    -------
    LocalClusterResult

    Examples
    --------
    >>> lv = pd.Series({"a": "joint", "b": "joint", "c": "joint", "d": "delegated", "e": "delegated"})
    >>> nb = {"a": ["b", "c"], "b": ["c"], "c": ["d"], "d": ["e"]}
    >>> local_clusters(lv, nb, permutations=99).table["n_same"].tolist()
    [2, 2, 2, 1, 1]
    """
    check_permutations(permutations)
    sel = select(levels, mask)
    return compute(sel, *edges(sel.codes, neighbours), int(permutations), int(seed), float(alpha), tables)


def neighbour_counts(lab: np.ndarray, ei: np.ndarray, ej: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per CCG: analysed neighbours and same-level neighbours."""
    n = len(lab)
    same_edge = (lab[ei] == lab[ej]).astype(np.int64)
    n_same = np.bincount(ei, weights=same_edge, minlength=n) + np.bincount(ej, weights=same_edge, minlength=n)
    return degrees(n, ei, ej), n_same.astype(np.int64)


def local_stat(lab: np.ndarray, ei: np.ndarray, ej: np.ndarray, tables: Tables) -> LocalStat:
    """Fast path: every CCG's same-level neighbour count and p-value for integer labels, no DataFrame.

    CCG i's neighbours in permutation p are the first ``n_neighbours`` entries of the ordering ``perm[p]``
    once i itself is skipped, so prefix counts of each level along ``perm[p]`` give every CCG's simulated
    count at once.

    Examples
    --------
    >>> from dashboard.analysis.permutations import make_tables
    >>> lab = np.array([0, 0, 1, 1, 1])
    >>> local_stat(lab, np.array([0, 1, 2, 3]), np.array([1, 2, 3, 4]), make_tables(5, 99, 0)).n_same.tolist()
    [1, 1, 1, 2, 1]
    """
    n, k = len(lab), int(lab.max()) + 1 if len(lab) else 0
    deg, n_same = neighbour_counts(lab, ei, ej)
    p = np.full(n, math.nan)
    tested = np.flatnonzero(deg > 0)
    if len(tested):
        dmax = int(deg.max())  # <= n - 1, so dmax + 1 prefix entries always exist
        prefix_lab = lab[tables.perm[:, : dmax + 1]]  # (P, dmax + 1)
        # counts[c, t, p] = number of level-c CCGs among the first t entries of perm[p]
        counts = np.zeros((k, dmax + 2, tables.permutations), dtype=np.int32)
        onehot = prefix_lab[None, :, :] == np.arange(k)[:, None, None]  # (k, P, dmax + 1)
        counts[:, 1:, :] = np.cumsum(onehot, axis=2, dtype=np.int32).transpose(0, 2, 1)
        lt, dt = lab[tested], deg[tested]
        without_self = counts[lt, dt]  # i not among the first d entries
        with_self = counts[lt, dt + 1] - 1  # i among them: take one more entry and drop i (same level)
        sims = np.where(tables.inv[:, tested].T < dt[:, None], with_self, without_self)
        p[tested] = (1 + (sims >= n_same[tested][:, None]).sum(axis=1)) / (1 + tables.permutations)
    return LocalStat(deg, n_same, p)


def compute(sel: Selection, ei: np.ndarray, ej: np.ndarray, permutations: int, seed: int, alpha: float,
            tables: PermutationTables | None) -> LocalClusterResult:
    """:func:`local_clusters` on a prepared selection and its edges (shared by both views of a summary)."""
    n = len(sel.codes)
    lab, cats = encode(sel.labels)
    why = check_known(lab, cats)
    if why is None and len(ei) == 0:
        why = NotRun("no_pairs", {"n_known": n})
    if why is None:
        deg, n_same, p = local_stat(lab, ei, ej, tables_for(tables, n, permutations, seed))
    else:  # counts only: with one level every neighbour is "same", which tests nothing
        (deg, n_same), p = neighbour_counts(lab, ei, ej), np.full(n, math.nan)
    sizes = np.bincount(lab, minlength=len(cats))
    expected_same = deg * (sizes[lab] - 1) / (n - 1) if n > 1 else np.full(n, math.nan)
    share = np.where(deg > 0, n_same / np.maximum(deg, 1), math.nan)
    table = pd.DataFrame({
        "ccg_code": sel.codes.astype(str), "level": sel.labels.astype(str), "n_neighbours": deg.astype(int),
        "n_same": n_same.astype(int), "share_same": share, "expected_same": expected_same, "p_value": p,
        "significant": (p <= alpha) & (n_same >= 1), "island": deg == 0,
    })
    n_tested = int(np.count_nonzero(np.isfinite(p)))
    return LocalClusterResult(
        coverage=Coverage.of(n, sel.unknown, islands(sel.codes, deg)), n_tested=n_tested,
        n_significant=int(table["significant"].sum()), n_expected_false_positives=alpha * n_tested,
        alpha=alpha, table=table, permutations=permutations, seed=seed, not_run=why,
    )
