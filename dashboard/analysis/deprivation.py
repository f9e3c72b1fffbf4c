"""Deprivation by level: were more deprived CCGs more (or less) likely to take delegation?"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from dashboard.analysis._selection import Lookup, Mask, Selection, encode, lookup, numbers, select
from dashboard.analysis.permutations import PermutationTables, Tables, check_permutations, p_lower, p_upper, tables_for
from dashboard.analysis.result import Coverage, DeprivationResult, NotRun, check_known
from geodata.vocabulary import BINARY_LEVELS, DELEGATED, LEVELS, NOT_DELEGATED


class DifferenceStat(NamedTuple):
    """Mean IMD of delegated minus the rest, and its permutation p-values."""

    diff: float
    p_greater: float
    p_less: float
    p_two_sided: float


def deprivation_by_level(
    levels: pd.Series,
    imd_score: Lookup,
    population: Lookup = None,
    permutations: int = 999,
    seed: int = 0,
    mask: Mask = None,
    *,
    tables: PermutationTables | None = None,
) -> DeprivationResult:
    """Compare IMD scores across levels (Kruskal-Wallis) and delegated against the rest (permutation).

    Kruskal-Wallis works on ranks, so a few very deprived CCGs cannot dominate it; the binary view permutes
    the delegated label over the known CCGs with a score and compares the difference in means. Known CCGs
    without a score are left out and listed. Neither test is run with too few CCGs, one level or one score
    for all; the group summaries are always given.

    Parameters
    ----------
    levels : pd.Series
        Level per CCG code (unknown or missing = left out).
    imd_score : pd.Series or Mapping
        CCG code -> IMD 2015 score (higher = more deprived).
    population : pd.Series or Mapping, optional
        CCG code -> population, for the population-weighted means.
    permutations, seed, mask, tables
        As in :func:`~dashboard.analysis.join_counts.join_counts`.

    Returns
    -------
    DeprivationResult

    Examples
    --------
    >>> lv = pd.Series({"a": "delegated", "b": "delegated", "c": "joint", "d": "joint", "e": "joint"})
    >>> imd = {"a": 40.0, "b": 35.0, "c": 20.0, "d": 15.0, "e": 10.0}
    >>> res = deprivation_by_level(lv, imd, permutations=99)
    >>> res.diff, res.diff_p_greater < 0.2
    (22.5, True)
    """
    check_permutations(permutations)
    return compute(select(levels, mask), lookup(imd_score), lookup(population), int(permutations), int(seed),
                   tables)


def _level_table(labels: np.ndarray, x: np.ndarray, w: np.ndarray, order: Sequence[str]) -> pd.DataFrame:
    cols: dict[str, list[Any]] = {"level": [], "n": [], "median": [], "mean": [], "pop_weighted_mean": []}
    for lv in order:
        sel = labels == lv
        if not sel.any():
            continue
        xs, ws = x[sel], w[sel]
        ok = np.isfinite(ws) & (ws > 0)
        cols["level"].append(lv)
        cols["n"].append(int(sel.sum()))
        cols["median"].append(float(np.median(xs)))
        cols["mean"].append(float(xs.mean()))
        cols["pop_weighted_mean"].append(float((xs[ok] * ws[ok]).sum() / ws[ok].sum()) if ok.any() else math.nan)
    return pd.DataFrame({k: pd.Series(v, dtype=object if k == "level" else (int if k == "n" else float))
                         for k, v in cols.items()})


def kruskal_stat(lab: np.ndarray, x: np.ndarray, k: int) -> tuple[float, float, float]:
    """Kruskal-Wallis H (tie-corrected, ``scipy.stats.kruskal``), its p-value and epsilon-squared.

    ``lab`` in 0..k-1 with every level present (k >= 2) and ``x`` not all equal.

    Examples
    --------
    >>> h, p, eps = kruskal_stat(np.array([0, 0, 0, 1, 1, 1]), np.array([1.0, 2, 3, 4, 5, 6]), 2)
    >>> round(h, 2), round(eps, 2)
    (3.86, 0.77)
    """
    h, p = stats.kruskal(*(x[lab == c] for c in range(k)))
    n = len(x)
    return float(h), float(p), float(h) / (n - 1)


def difference_stat(is_delegated: np.ndarray, x: np.ndarray, tables: Tables) -> DifferenceStat:
    """Fast path: difference in mean IMD, delegated minus the rest, and its permutation p-values.

    Both groups must be non-empty.

    Examples
    --------
    >>> from dashboard.analysis.permutations import make_tables
    >>> d = difference_stat(np.array([True, True, False, False]), np.array([9.0, 7, 2, 2]), make_tables(4, 99, 0))
    >>> d.diff
    6.0
    """
    n, n_del = len(x), int(is_delegated.sum())
    total = float(x.sum())
    diff = float(x[is_delegated].mean() - x[~is_delegated].mean())
    s_del = is_delegated.astype(float)[tables.perm] @ x
    sims = s_del / n_del - (total - s_del) / (n - n_del)
    tol = 1e-9 * max(1.0, float(np.abs(x).max()))
    return DifferenceStat(diff, p_upper(sims, diff - tol), p_lower(sims, diff + tol),
                          p_upper(np.abs(sims), abs(diff) - tol))


def _not_run(lab: np.ndarray, cats: list[str], x: np.ndarray) -> NotRun | None:
    why = check_known(lab, cats)
    if why is None and np.ptp(x) == 0:
        why = NotRun("same_imd", {"n_known": len(x), "score": float(x[0])})
    return why


def compute(sel: Selection, imd_by_code: Mapping[str, Any], pop_by_code: Mapping[str, Any], permutations: int,
            seed: int, tables: PermutationTables | None) -> DeprivationResult:
    """:func:`deprivation_by_level` on a prepared selection and code -> score / population look-ups."""
    x_all = numbers(imd_by_code, sel.codes)
    ok = np.isfinite(x_all)
    codes, labels, x = sel.codes[ok], sel.labels[ok], x_all[ok]
    w = numbers(pop_by_code, codes)
    binary = np.where(labels == DELEGATED, DELEGATED, NOT_DELEGATED).astype(object)
    n, nan = len(x), math.nan

    lab, cats = encode(labels)
    kw_why = _not_run(lab, cats, x)
    h, kp, eps = kruskal_stat(lab, x, len(cats)) if kw_why is None else (nan, nan, nan)

    is_del = binary == DELEGATED
    n_del = int(is_del.sum())
    diff_why = _not_run(*encode(binary, BINARY_LEVELS), x)
    if diff_why is None:
        diff, pg, pl, p2 = difference_stat(is_del, x, tables_for(tables, n, permutations, seed))
    else:
        diff = float(x[is_del].mean() - x[~is_del].mean()) if 0 < n_del < n else nan
        pg = pl = p2 = nan

    return DeprivationResult(
        coverage=Coverage.of(n, sel.unknown), missing_imd=tuple(str(c) for c in sel.codes[~ok]),
        by_level=_level_table(labels, x, w, LEVELS), by_binary=_level_table(binary, x, w, BINARY_LEVELS),
        n_groups=len(cats), kruskal_h=h, kruskal_p=kp, epsilon_squared=eps, n_delegated=n_del,
        n_not_delegated=n - n_del, diff=diff, diff_p_two_sided=p2, diff_p_greater=pg, diff_p_less=pl,
        permutations=permutations, seed=seed, kruskal_not_run=kw_why, diff_not_run=diff_why,
    )
