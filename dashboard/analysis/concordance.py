"""Area-team concordance: did CCGs of the same NHS England area team choose the same level?"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import special

from dashboard.analysis._selection import Lookup, Mask, Selection, encode, lookup, select
from dashboard.analysis.permutations import PermutationTables, Tables, check_permutations, p_upper, tables_for
from dashboard.analysis.result import ConcordanceResult, Coverage, NotRun, check_known

#: Teams with fewer known CCGs than this are listed but not ranked: 1 of 1 is not "uniform".
MIN_TEAM_KNOWN = 3


class ConcordanceStat(NamedTuple):
    """Observed chi-squared and Cramér's V, V's permutation mean and the permutation p-value."""

    chi2: float
    cramers_v: float
    cramers_v_expected: float
    p_value: float


def area_team_concordance(
    levels: pd.Series,
    teams: Lookup,
    permutations: int = 999,
    seed: int = 0,
    mask: Mask = None,
    *,
    tables: PermutationTables | None = None,
) -> ConcordanceResult:
    """Tabulate level by area team: per-team uniformity, and a permutation test of Cramér's V.

    Levels are permuted across the known CCGs, which keeps both margins of the team x level table, so the
    test asks whether team predicts level beyond what team sizes and level frequencies give. Teams with fewer
    than :data:`MIN_TEAM_KNOWN` known CCGs are not ranked, because a share of one CCG says nothing about a
    team. Not run with too few known CCGs, one level or one team.

    Parameters
    ----------
    levels : pd.Series
        Level per CCG code (unknown or missing = left out).
    teams : pd.Series or Mapping
        CCG code -> area team; CCGs without one are left out and listed.
    permutations, seed, mask, tables
        As in :func:`~dashboard.analysis.join_counts.join_counts`.

    Returns
    -------
    ConcordanceResult

    Examples
    --------
    >>> lv = pd.Series({f"c{i}": ["joint", "delegated"][i % 2] for i in range(8)})
    >>> res = area_team_concordance(lv, {f"c{i}": f"T{i % 2}" for i in range(8)}, permutations=99)
    >>> round(res.cramers_v, 2), res.per_team["n_modal"].tolist()
    (1.0, [4, 4])
    """
    check_permutations(permutations)
    return compute(select(levels, mask), lookup(teams), int(permutations), int(seed), tables)


def _team_of(team_by_code: Mapping[str, Any], code: str) -> str | None:
    t = team_by_code.get(code)
    return None if t is None or pd.isna(t) else str(t)


def _sort_key(row: dict[str, Any]) -> tuple[bool, float, int, str]:
    """Ranked teams first, most uniform first, then larger teams, then by name; the others by known count."""
    ranked = bool(row["ranked"])
    return not ranked, -row["modal_share"] if ranked else 0.0, -row["n_known"], row["team"]


def _per_team(table: np.ndarray, known_teams: list[str], unknown_teams: list[str], cats: list[str]
              ) -> pd.DataFrame:
    """One row per team (teams with only unknown CCGs kept, so the reader sees them)."""
    k = len(cats)
    index = {t: i for i, t in enumerate(known_teams)}
    unk = Counter(unknown_teams)
    rows = []
    for t in sorted(set(known_teams) | set(unk)):
        counts = table[index[t]] if t in index else np.zeros(k, dtype=np.int64)
        nk = int(counts.sum())
        top = int(counts.max()) if nk else 0
        rows.append({
            "team": t, "n_known": nk, "n_unknown": int(unk.get(t, 0)),
            "modal_level": cats[int(np.argmax(counts))] if nk else None, "n_modal": top,
            "modal_share": top / nk if nk else math.nan, "modal_tie": bool(nk and (counts == top).sum() > 1),
            "ranked": nk >= MIN_TEAM_KNOWN, **{c: int(counts[j]) for j, c in enumerate(cats)},
        })
    rows.sort(key=_sort_key)  # in Python: sort_values on a 25-row frame cost more than the statistics
    return pd.DataFrame(rows, columns=["team", "n_known", "n_unknown", "modal_level", "n_modal", "modal_share",
                                       "modal_tie", "ranked", *cats])


def _bias_corrected_v(chi2: float, n: int, r: int, c: int) -> float:
    """Bergsma (2013) bias-corrected Cramér's V; NaN when undefined."""
    if n < 2:
        return math.nan
    phi2 = max(0.0, chi2 / n - (r - 1) * (c - 1) / (n - 1))
    rc, cc = r - (r - 1) ** 2 / (n - 1), c - (c - 1) ** 2 / (n - 1)
    denom = min(rc - 1, cc - 1)
    return math.sqrt(phi2 / denom) if denom > 0 else math.nan


def simulated_tables(lab: np.ndarray, tidx: np.ndarray, r: int, k: int, tables: Tables) -> np.ndarray:
    """Team x level tables of every relabelling, (P, r, k)."""
    p = tables.permutations
    offs = (tidx * k)[None, :] + lab[tables.perm] + (r * k) * np.arange(p)[:, None]
    return np.bincount(offs.ravel(), minlength=p * r * k).reshape(p, r, k)


def concordance_stat(lab: np.ndarray, tidx: np.ndarray, r: int, k: int, tables: Tables,
                     sims: np.ndarray | None = None) -> ConcordanceStat:
    """Fast path: chi-squared, Cramér's V and its permutation p for integer levels and teams, no DataFrame.

    ``lab`` in 0..k-1 and ``tidx`` in 0..r-1 (r, k >= 2, every level and team present); ``sims`` are the
    simulated tables when already made.

    Examples
    --------
    >>> from dashboard.analysis.permutations import make_tables
    >>> lab = tidx = np.array([0, 0, 0, 1, 1, 1])
    >>> round(concordance_stat(lab, tidx, 2, 2, make_tables(6, 99, 0)).cramers_v, 2)
    1.0
    """
    n = len(lab)
    table = np.bincount(tidx * k + lab, minlength=r * k).reshape(r, k)
    expected = table.sum(axis=1)[:, None] * table.sum(axis=0)[None, :] / n  # margins fixed under permutation
    chi2_obs = float((table**2 / expected).sum() - n)
    sims = simulated_tables(lab, tidx, r, k, tables) if sims is None else sims
    flat = sims.reshape(sims.shape[0], r * k).astype(float)
    chi2_sims = (flat * flat) @ (1.0 / expected).ravel() - n
    denom = n * (min(r, k) - 1)
    tol = 1e-9 * max(1.0, abs(chi2_obs))
    return ConcordanceStat(chi2_obs, math.sqrt(max(chi2_obs, 0.0) / denom),
                           float(np.sqrt(np.clip(chi2_sims, 0, None) / denom).mean()),
                           p_upper(chi2_sims, chi2_obs - tol))


def compute(sel: Selection, team_by_code: Mapping[str, Any], permutations: int, seed: int,
            tables: PermutationTables | None) -> ConcordanceResult:
    """:func:`area_team_concordance` on a prepared selection and code -> team look-up."""
    team_all = np.array([_team_of(team_by_code, c) for c in sel.codes], dtype=object)
    has_team = np.array([t is not None for t in team_all], dtype=bool)
    labels, team_vals = sel.labels[has_team], team_all[has_team]
    n = len(labels)
    lab, cats = encode(labels)
    k = len(cats)
    known_teams = sorted(set(team_vals.tolist()))
    t_index = {t: i for i, t in enumerate(known_teams)}
    tidx = np.fromiter((t_index[t] for t in team_vals), dtype=np.int64, count=n)
    r = len(known_teams)
    table = np.bincount(tidx * k + lab, minlength=r * k).reshape(r, k) if n else np.zeros((0, k), np.int64)
    unknown_teams = [t for t in (_team_of(team_by_code, c) for c in sel.unknown) if t is not None]
    modal_obs = int(table.max(axis=1).sum()) if n else 0

    nan = math.nan
    common = {"coverage": Coverage.of(n, sel.unknown), "excluded_no_team": tuple(map(str, sel.codes[~has_team])),
              "n_teams": r, "per_team": _per_team(table, known_teams, unknown_teams, cats),
              "modal_agreement": modal_obs / n if n else nan, "permutations": permutations, "seed": seed}
    why = check_known(lab, cats)
    if why is None and r < 2:
        why = NotRun("one_team", {"team": known_teams[0], "n_known": n})
    if why is not None:
        return ConcordanceResult(**common, cramers_v=nan, cramers_v_expected=nan, cramers_v_corrected=nan,
                                 p_value=nan, chi2=nan, chi2_dof=0, chi2_p_asymptotic=nan,
                                 modal_agreement_expected=nan, modal_agreement_p=nan, not_run=why)

    perms = tables_for(tables, n, permutations, seed)
    sims = simulated_tables(lab, tidx, r, k, perms)
    # Element-wise maximum over the (few) level columns: much faster than a strided max(axis=2).
    modal_sims = np.maximum.reduce([sims[:, :, j] for j in range(k)]).sum(axis=1)
    stat = concordance_stat(lab, tidx, r, k, perms, sims)
    dof = (r - 1) * (k - 1)
    return ConcordanceResult(
        **common, cramers_v=stat.cramers_v, cramers_v_expected=stat.cramers_v_expected,
        cramers_v_corrected=_bias_corrected_v(stat.chi2, n, r, k), p_value=stat.p_value, chi2=stat.chi2,
        chi2_dof=dof, chi2_p_asymptotic=float(special.chdtrc(dof, stat.chi2)),
        modal_agreement_expected=float(modal_sims.mean()) / n, modal_agreement_p=p_upper(modal_sims, modal_obs),
    )
