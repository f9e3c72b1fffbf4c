"""Join counts: do neighbouring CCGs share a level more (or less) often than random relabelling gives?"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from dashboard.analysis._selection import Mask, Selection, degrees, edges, encode, islands, select
from dashboard.analysis.permutations import (
    PermutationTables,
    Tables,
    check_permutations,
    p_lower,
    p_upper,
    tables_for,
    two_sided,
    z_score,
)
from dashboard.analysis.result import Coverage, JoinCountResult, NotRun, check_known

_COLUMNS = ["level", "n_ccgs", "observed", "expected", "expected_analytic", "z", "p_cluster", "p_dispersion",
            "p_two_sided"]


class JoinStat(NamedTuple):
    """Same-level pairs seen, their permutation mean and the two one-sided p-values."""

    observed: int
    expected: float
    p_cluster: float
    p_dispersion: float


def join_counts(
    levels: pd.Series,
    neighbours: Mapping[str, Sequence[str]],
    permutations: int = 999,
    seed: int = 0,
    mask: Mask = None,
    *,
    tables: PermutationTables | None = None,
) -> JoinCountResult:
    """Count neighbouring pairs of known CCGs at the same level and compare with random relabellings.

    The labels of the known CCGs are shuffled ``permutations`` times over the fixed graph, so the reference
    distribution keeps the observed level frequencies and the graph's shape. The graph is simple: a neighbour
    listed twice (or in one direction only) is one pair, as in queen contiguity. Unknown CCGs, and CCGs
    outside ``mask``, are left out with their edges (the induced sub-graph). The test is not run (see
    ``not_run``) with fewer than :data:`~dashboard.analysis.result.MIN_KNOWN` known CCGs, one level only, or
    no neighbouring pair; the observed count is still given.

    Parameters
    ----------
    levels : pd.Series
        Level per CCG code (unknown or missing = left out).
    neighbours : Mapping[str, Sequence[str]]
        CCG code -> neighbouring codes.
    permutations, seed : int
        Number of random relabellings and the seed of ``np.random.default_rng``.
    mask : boolean Series or array, optional
        The user's filter.
    tables : PermutationTables, optional
        Caller-owned store of relabellings to reuse; made on the fly when None.

    Returns
    -------
    JoinCountResult

    Examples
    --------
    >>> lv = pd.Series({"a": "joint", "b": "joint", "c": "delegated", "d": "delegated", "e": "joint"})
    >>> nb = {"a": ["b", "b"], "b": ["c"], "c": ["d"], "d": ["e"]}  # a-b listed twice: one pair
    >>> res = join_counts(lv, nb, permutations=99)
    >>> res.n_joins, res.total_observed
    (4, 2)
    """
    check_permutations(permutations)
    sel = select(levels, mask)
    return compute(sel, *edges(sel.codes, neighbours), int(permutations), int(seed), tables)


def same_level_pairs(lab: np.ndarray, ei: np.ndarray, ej: np.ndarray, k: int) -> np.ndarray:
    """Same-level pairs per level: ``lab`` (n,) gives (k,), node-major ``lab`` (n, P) gives (P, k)."""
    li, lj = lab[ei], lab[ej]
    same = li == lj
    return np.stack([np.count_nonzero(same & (li == c), axis=0) for c in range(k)], axis=-1)


def join_count_stat(lab: np.ndarray, ei: np.ndarray, ej: np.ndarray, tables: Tables) -> JoinStat:
    """Fast path: total same-level pairs and its p-values for integer labels, no DataFrame.

    For callers that evaluate many labellings of one set of CCGs (shared ``ei``/``ej`` and ``tables``).

    Examples
    --------
    >>> from dashboard.analysis.permutations import make_tables
    >>> lab = np.array([0, 0, 1, 1])
    >>> ei, ej = np.array([0, 1, 2]), np.array([1, 2, 3])
    >>> join_count_stat(lab, ei, ej, make_tables(4, 99, 0)).observed
    2
    """
    obs = int(np.count_nonzero(lab[ei] == lab[ej]))
    lt = lab[tables.perm_t]
    sims = np.count_nonzero(lt[ei] == lt[ej], axis=0)
    return JoinStat(obs, float(sims.mean()), p_upper(sims, obs), p_lower(sims, obs))


def _not_run(lab: np.ndarray, cats: list[str], m: int) -> NotRun | None:
    why = check_known(lab, cats)
    if why is None and m == 0:
        why = NotRun("no_pairs", {"n_known": len(lab)})
    return why


def compute(sel: Selection, ei: np.ndarray, ej: np.ndarray, permutations: int, seed: int,
            tables: PermutationTables | None) -> JoinCountResult:
    """:func:`join_counts` on a prepared selection and its edges (shared by both views of a summary)."""
    n, m = len(sel.codes), len(ei)
    lab, cats = encode(sel.labels)
    k = len(cats)
    sizes = np.bincount(lab, minlength=k)
    analytic = m * sizes * (sizes - 1) / (n * (n - 1)) if n > 1 else np.full(k, math.nan)
    lab8 = lab.astype(np.int8)
    obs = same_level_pairs(lab8, ei, ej, k) if m else np.zeros(k, dtype=np.int64)
    common = {"coverage": Coverage.of(n, sel.unknown, islands(sel.codes, degrees(n, ei, ej))), "n_joins": m,
              "total_observed": int(obs.sum()), "total_expected_analytic": float(analytic.sum()),
              "permutations": permutations, "seed": seed}
    why = _not_run(lab, cats, m)
    if why is not None:
        nan = math.nan
        rows = [[cats[c], int(sizes[c]), int(obs[c]), nan, float(analytic[c]), nan, nan, nan, nan]
                for c in range(k)]
        return JoinCountResult(**common, per_level=pd.DataFrame(rows, columns=_COLUMNS), total_expected=nan,
                               total_z=nan, total_p_cluster=nan, total_p_dispersion=nan, total_p_two_sided=nan,
                               not_run=why)

    sims = same_level_pairs(lab8[tables_for(tables, n, permutations, seed).perm_t], ei, ej, k)
    rows = []
    for c in range(k):
        pc, pd_ = p_upper(sims[:, c], obs[c]), p_lower(sims[:, c], obs[c])
        rows.append([cats[c], int(sizes[c]), int(obs[c]), float(sims[:, c].mean()), float(analytic[c]),
                     z_score(obs[c], sims[:, c]), pc, pd_, two_sided(pc, pd_)])
    tot_obs, tot_sims = int(obs.sum()), sims.sum(axis=1)
    pc, pd_ = p_upper(tot_sims, tot_obs), p_lower(tot_sims, tot_obs)
    return JoinCountResult(**common, per_level=pd.DataFrame(rows, columns=_COLUMNS),
                           total_expected=float(tot_sims.mean()), total_z=z_score(tot_obs, tot_sims),
                           total_p_cluster=pc, total_p_dispersion=pd_, total_p_two_sided=two_sided(pc, pd_))
