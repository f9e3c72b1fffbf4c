"""Spatial and area-team statistics for CCG primary care co-commissioning levels.

Pure functions (no Dash) so that the numbers shown in the atlas can be tested and benchmarked on their own.

Conventions that hold for every function here:

* ``levels`` is a ``pd.Series`` indexed by CCG code holding one of :data:`LEVELS` or :data:`UNKNOWN`
  (missing values count as unknown).  CCGs whose level is unknown are left out of every statistic and
  reported (``n_excluded_unknown`` / ``excluded_unknown``) because coverage is partial and the reader must
  see how much of the country a figure describes.
* ``mask`` (optional, boolean, aligned on the CCG code) is the user's filter selection.  Only selected CCGs
  are analysed; neighbours outside the selection, or with unknown level, are ignored (the statistics use the
  sub-graph induced by the selected CCGs with known levels).
* CCGs with no neighbour in that analysed set are *islands*; they are listed (``islands``) rather than
  dropped silently, because an island cannot agree or disagree with anybody.
* Permutation tests use ``np.random.default_rng(seed)`` so a given input and seed always gives the same
  answer, and p-values are ``(1 + #{permuted >= observed}) / (1 + permutations)`` so they are never 0
  (two-sided = twice the smaller one-sided p, capped at 1).  The random relabellings depend only on
  (number of CCGs analysed, permutations, seed), so they are generated once and shared by all statistics.
* Results are frozen dataclasses (DataFrames inside) and ``enough_data``/``message`` fields say "not
  enough data" instead of raising on thin selections.

Caching (for the dashboard)::

    token = register_geography(neighbours, teams, imd_score, population)   # once, at start-up
    key = levels_key(levels_for_year, mask)                                   # cheap, hashable
    summary = summarise_cached(year, key, token)                              # memoised

``register_geography`` stores the static inputs under a content hash, so the token is stable across
restarts and changes whenever the geography does.  ``summarise_cached`` is an ``lru_cache`` keyed on
``(year, key, token, permutations, seed, alpha)``; each hit returns a deep copy so callers can never
corrupt the cached value.  ``cache_info()`` / ``clear_cache()`` expose the cache.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = [
    "DELEGATED",
    "LEVELS",
    "NOT_DELEGATED",
    "UNKNOWN",
    "ConcordanceResult",
    "DeprivationResult",
    "JoinCountResult",
    "LocalClusterResult",
    "Summary",
    "ViewResults",
    "area_team_concordance",
    "cache_info",
    "clear_cache",
    "delegation_binary",
    "deprivation_by_level",
    "join_counts",
    "levels_key",
    "local_clusters",
    "register_geography",
    "summarise",
    "summarise_cached",
]

UNKNOWN = "unknown"
DELEGATED = "delegated"
NOT_DELEGATED = "not_delegated"
#: Known levels in display order (most to least devolved; ``not_delegated`` = "lower, unspecified").
LEVELS: tuple[str, ...] = ("delegated", "joint", "greater_involvement", "none", "not_delegated")
BINARY_LEVELS: tuple[str, ...] = (DELEGATED, NOT_DELEGATED)

_VALID = frozenset(LEVELS) | {UNKNOWN}


# --------------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Selection:
    """Selected CCGs, known (sorted by code, so results do not depend on input order) and unknown."""

    codes: np.ndarray  # known codes, sorted
    labels: np.ndarray  # their levels (str)
    unknown: tuple[str, ...]
    n_selected: int


def _str_index(s: pd.Series) -> pd.Series:
    """CCG codes as str (without copying when they already are), so look-ups between inputs line up."""
    if s.index.inferred_type == "string" or len(s) == 0:
        return s
    out = s.copy()
    out.index = out.index.map(str)
    return out


def _normalise_levels(levels: pd.Series) -> pd.Series:
    """Map missing values to UNKNOWN and reject typos early: a misspelt level would form its own group."""
    if not isinstance(levels, pd.Series):
        raise TypeError("levels must be a pandas Series indexed by CCG code")
    if levels.index.has_duplicates:
        dup = sorted(map(str, levels.index[levels.index.duplicated()].unique()))
        raise ValueError(f"levels has duplicate CCG codes: {dup[:5]}")
    # Plain numpy, not Series.where: this runs several times per statistic and pandas overhead dominated it.
    values = levels.to_numpy(dtype=object)
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = UNKNOWN
    bad = sorted({str(v) for v in set(values.tolist())} - _VALID)
    if bad:
        raise ValueError(f"unrecognised level(s) {bad}; expected one of {sorted(_VALID)}")
    return _str_index(pd.Series(values, index=levels.index, dtype=object, name=levels.name))


def _apply_mask(levels: pd.Series, mask: pd.Series | Sequence[bool] | np.ndarray | None) -> pd.Series:
    """Restrict to the user's selection; a Series mask is aligned on code (missing codes = not selected)."""
    if mask is None:
        return levels
    if isinstance(mask, pd.Series):
        m = _str_index(mask).reindex(levels.index)
        keep = m.fillna(False).astype(bool).to_numpy()
    else:
        keep = np.asarray(mask, dtype=bool)
        if keep.shape != (len(levels),):
            raise ValueError("mask must have one entry per CCG in levels")
    return levels[keep]


def _select(levels: pd.Series, mask: pd.Series | Sequence[bool] | np.ndarray | None = None) -> _Selection:
    lv = _apply_mask(_normalise_levels(levels), mask)
    codes, labels = lv.index.to_numpy(dtype=object), lv.to_numpy(dtype=object)
    order = np.argsort(codes.astype(str), kind="stable")  # numpy, not sort_index: this runs once per view
    codes, labels = codes[order], labels[order]
    is_unknown = labels == UNKNOWN
    return _Selection(
        codes=codes[~is_unknown],
        labels=labels[~is_unknown],
        unknown=tuple(codes[is_unknown]),
        n_selected=len(codes),
    )


def _lookup(s: pd.Series | None) -> dict[str, Any]:
    """Code -> value for fast per-CCG look-ups (a dict beats ``reindex`` by ~10x on 209 rows)."""
    if s is None:
        return {}
    return dict(zip(map(str, s.index), s.to_numpy(dtype=object)))


def _numbers(lookup: Mapping[str, Any], codes: np.ndarray) -> np.ndarray:
    """Values for ``codes`` as floats; missing or non-numeric values become NaN."""
    raw = np.array([lookup.get(c) for c in codes], dtype=object)
    return np.asarray(pd.to_numeric(raw, errors="coerce"), dtype=float) if len(raw) else np.zeros(0)


def _encode(labels: np.ndarray, order: Sequence[str] = LEVELS) -> tuple[np.ndarray, list[str]]:
    """Integer-code labels in canonical level order (only the levels present)."""
    present = set(labels.tolist())
    cats = [lv for lv in order if lv in present]
    lookup = {lv: k for k, lv in enumerate(cats)}
    return np.fromiter((lookup[x] for x in labels), dtype=np.int64, count=len(labels)), cats


def _edges(codes: np.ndarray, neighbours: Mapping[str, Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges (i < j) of the sub-graph induced by ``codes``; asymmetric input is symmetrised."""
    pos = {c: i for i, c in enumerate(codes)}
    src: list[int] = []
    dst: list[int] = []
    for c, i in pos.items():
        for nb in neighbours.get(c, ()) or ():
            j = pos.get(nb if isinstance(nb, str) else str(nb))
            if j is not None and j != i:
                src.append(i)
                dst.append(j)
    if not src:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    a, b = np.asarray(src, dtype=np.intp), np.asarray(dst, dtype=np.intp)
    keys = np.unique(np.minimum(a, b) * len(codes) + np.maximum(a, b))
    return keys // len(codes), keys % len(codes)


def _check_permutations(permutations: int) -> None:
    if int(permutations) < 1:
        raise ValueError("permutations must be >= 1")


@lru_cache(maxsize=4)
def _permutation_matrices(n: int, permutations: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random relabellings shared by every statistic: (perm, perm transposed, inverse), read-only.

    Row ``p`` of ``perm`` is a uniformly random ordering of ``range(n)``; relabelled data are ``x[perm]``.
    They depend only on (n, permutations, seed), so they are cached and reused across statistics and views:
    results stay reproducible and the shuffling cost is paid once per selection size.
    """
    rng = np.random.default_rng(seed)
    perm = rng.permuted(np.tile(np.arange(n, dtype=np.intp), (permutations, 1)), axis=1)
    inv = np.empty_like(perm)
    np.put_along_axis(inv, perm, np.broadcast_to(np.arange(n, dtype=np.intp), perm.shape), axis=1)
    perm_t = np.ascontiguousarray(perm.T)
    for arr in (perm, perm_t, inv):
        arr.flags.writeable = False
    return perm, perm_t, inv


def _p_upper(sims: np.ndarray, obs: float) -> float:
    return float((1 + np.count_nonzero(sims >= obs)) / (1 + sims.shape[0]))


def _p_lower(sims: np.ndarray, obs: float) -> float:
    return float((1 + np.count_nonzero(sims <= obs)) / (1 + sims.shape[0]))


def _z(obs: float, sims: np.ndarray) -> float:
    sd = float(sims.std(ddof=1)) if sims.size > 1 else 0.0
    return (obs - float(sims.mean())) / sd if sd > 0 else math.nan


def delegation_binary(levels: pd.Series) -> pd.Series:
    """Collapse to delegated / not_delegated (unknown kept) because some sources only say "not delegated".

    The full-level view cannot tell a ``not_delegated`` CCG's real lower level, so the binary view is the one
    where every known CCG is comparable.
    """
    lv = _normalise_levels(levels)
    out = lv.where(lv.isin([DELEGATED, UNKNOWN]), NOT_DELEGATED)
    out.name = levels.name
    return out


# --------------------------------------------------------------------------------------------------------
# Join counts
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class JoinCountResult:
    """Same-level neighbour pairs vs random relabelling of the known CCGs (multi-category join counts).

    ``per_level`` columns: level, n_ccgs, observed (same-level pairs), expected (permutation mean),
    expected_analytic, z, p_cluster (one-sided, more than chance), p_dispersion (fewer than chance),
    p_two_sided.  ``total_*`` are the same figures for same-level pairs summed over all levels.
    """

    n_used: int
    n_excluded_unknown: int
    excluded_unknown: tuple[str, ...]
    n_islands: int
    islands: tuple[str, ...]
    n_joins: int
    per_level: pd.DataFrame
    total_observed: int
    total_expected: float
    total_expected_analytic: float
    total_z: float
    total_p_cluster: float
    total_p_dispersion: float
    total_p_two_sided: float
    permutations: int
    seed: int
    enough_data: bool
    message: str


def _islands(codes: np.ndarray, ei: np.ndarray, ej: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    deg = np.bincount(np.concatenate([ei, ej]), minlength=len(codes)).astype(np.int64)
    return deg, tuple(str(c) for c in codes[deg == 0])


def join_counts(
    levels: pd.Series,
    neighbours: Mapping[str, Sequence[str]],
    permutations: int = 999,
    seed: int = 0,
    mask: pd.Series | Sequence[bool] | np.ndarray | None = None,
) -> JoinCountResult:
    """Do neighbouring CCGs share a level more (or less) often than random relabelling would give?

    Labels of the known CCGs are shuffled ``permutations`` times over the fixed graph, so the reference
    distribution keeps the observed level frequencies and the graph's shape.
    """
    _check_permutations(permutations)
    sel = _select(levels, mask)
    return _join_counts(sel, *_edges(sel.codes, neighbours), int(permutations), int(seed))


def _join_counts(sel: _Selection, ei: np.ndarray, ej: np.ndarray, permutations: int, seed: int
                 ) -> JoinCountResult:
    n = len(sel.codes)
    _, islands = _islands(sel.codes, ei, ej)
    m = len(ei)
    lab, cats = _encode(sel.labels)
    k = len(cats)
    cols = ["level", "n_ccgs", "observed", "expected", "expected_analytic", "z",
            "p_cluster", "p_dispersion", "p_two_sided"]
    common: dict[str, Any] = {
        "n_used": n, "n_excluded_unknown": len(sel.unknown), "excluded_unknown": sel.unknown,
        "n_islands": len(islands), "islands": islands, "n_joins": m, "permutations": int(permutations),
        "seed": int(seed),
    }
    if m == 0 or k == 0:
        nan = math.nan
        return JoinCountResult(
            **common, per_level=pd.DataFrame(columns=cols), total_observed=0, total_expected=nan,
            total_expected_analytic=nan, total_z=nan, total_p_cluster=nan, total_p_dispersion=nan,
            total_p_two_sided=nan, enough_data=False,
            message="not enough data: no neighbouring pairs among the selected CCGs with known levels",
        )

    sizes = np.bincount(lab, minlength=k)
    analytic = m * sizes * (sizes - 1) / (n * (n - 1))

    lab8 = lab.astype(np.int8)

    def bb(lab_t: np.ndarray) -> np.ndarray:
        """Same-level pairs per level for node-major label columns (n, reps) -> (reps, k)."""
        li, lj = lab_t[ei], lab_t[ej]
        same = li == lj
        return np.stack([np.count_nonzero(same & (li == c), axis=0) for c in range(k)], axis=1)

    obs = bb(lab8[:, None])[0]
    sims = bb(lab8[_permutation_matrices(n, int(permutations), int(seed))[1]])
    rows = []
    for c in range(k):
        pc, pd_ = _p_upper(sims[:, c], obs[c]), _p_lower(sims[:, c], obs[c])
        rows.append([cats[c], int(sizes[c]), int(obs[c]), float(sims[:, c].mean()), float(analytic[c]),
                     _z(obs[c], sims[:, c]), pc, pd_, min(1.0, 2 * min(pc, pd_))])
    tot_obs, tot_sims = int(obs.sum()), sims.sum(axis=1)
    pc, pd_ = _p_upper(tot_sims, tot_obs), _p_lower(tot_sims, tot_obs)
    return JoinCountResult(
        **common, per_level=pd.DataFrame(rows, columns=cols), total_observed=tot_obs,
        total_expected=float(tot_sims.mean()), total_expected_analytic=float(analytic.sum()),
        total_z=_z(tot_obs, tot_sims), total_p_cluster=pc, total_p_dispersion=pd_,
        total_p_two_sided=min(1.0, 2 * min(pc, pd_)), enough_data=True, message="",
    )


# --------------------------------------------------------------------------------------------------------
# Area-team concordance
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ConcordanceResult:
    """How uniform each NHS England area team was, and whether team predicts level beyond chance.

    ``per_team`` columns: team, n_known, n_unknown, modal_level, modal_share (share of the team's known CCGs
    at its most common level), modal_tie (several levels share the top count; the first in LEVELS order is
    shown), then one count column per level.  Sorted most to least uniform, ties by n_known descending.

    ``cramers_v`` is from the team x level table; ``cramers_v_expected`` is its mean under permutation (V is
    biased upwards when teams are small, so compare against this, or use the bias-corrected
    ``cramers_v_corrected``).  ``p_value`` permutes levels across CCGs.  ``chi2``/``chi2_dof``/
    ``chi2_p_asymptotic`` are the classical test (unreliable with small expected counts).
    ``modal_agreement`` is the share of CCGs that chose their team's most common level.
    """

    n_used: int
    n_excluded_unknown: int
    excluded_unknown: tuple[str, ...]
    n_excluded_no_team: int
    excluded_no_team: tuple[str, ...]
    n_teams: int
    per_team: pd.DataFrame
    cramers_v: float
    cramers_v_expected: float
    cramers_v_corrected: float
    p_value: float
    chi2: float
    chi2_dof: int
    chi2_p_asymptotic: float
    modal_agreement: float
    modal_agreement_expected: float
    modal_agreement_p: float
    permutations: int
    seed: int
    enough_data: bool
    message: str


def _bias_corrected_v(chi2: float, n: int, r: int, c: int) -> float:
    """Bergsma (2013) bias-corrected Cramér's V; NaN when undefined."""
    if n < 2:
        return math.nan
    phi2 = max(0.0, chi2 / n - (r - 1) * (c - 1) / (n - 1))
    rc, cc = r - (r - 1) ** 2 / (n - 1), c - (c - 1) ** 2 / (n - 1)
    denom = min(rc - 1, cc - 1)
    return math.sqrt(phi2 / denom) if denom > 0 else math.nan


def area_team_concordance(
    levels: pd.Series,
    teams: pd.Series,
    permutations: int = 999,
    seed: int = 0,
    mask: pd.Series | Sequence[bool] | np.ndarray | None = None,
) -> ConcordanceResult:
    """Did CCGs of the same area team choose the same level?  Per-team uniformity plus a global test."""
    _check_permutations(permutations)
    return _concordance(_select(levels, mask), _lookup(teams), int(permutations), int(seed))


def _team_of(team_by_code: Mapping[str, Any], code: str) -> str | None:
    t = team_by_code.get(code)
    return None if t is None or pd.isna(t) else str(t)


def _sort_key(row: dict[str, Any]) -> tuple[bool, float, int, str]:
    """Most uniform first, then larger teams, then by name; teams with no known CCG last."""
    share = row["modal_share"]
    missing = bool(math.isnan(share))
    return missing, 0.0 if missing else -share, -row["n_known"], row["team"]


def _concordance(sel: _Selection, team_by_code: Mapping[str, Any], permutations: int, seed: int
                 ) -> ConcordanceResult:
    team_all = np.array([_team_of(team_by_code, c) for c in sel.codes], dtype=object)
    has_team = np.array([t is not None for t in team_all], dtype=bool)
    no_team = tuple(str(c) for c in sel.codes[~has_team])
    labels = sel.labels[has_team]
    team_vals = team_all[has_team]
    team_unknown = [t for t in (_team_of(team_by_code, c) for c in sel.unknown) if t is not None]
    n = len(labels)

    lab, cats = _encode(labels)
    k = len(cats)
    all_teams = sorted(set(team_vals.tolist()) | set(team_unknown))
    known_teams = sorted(set(team_vals.tolist()))
    t_lookup = {t: i for i, t in enumerate(known_teams)}
    tidx = np.fromiter((t_lookup[t] for t in team_vals), dtype=np.int64, count=n)
    r = len(known_teams)
    table = np.bincount(tidx * k + lab, minlength=r * k).reshape(r, k) if n else np.zeros((0, k), int)

    # Per-team table (teams with only unknown CCGs are kept, so the reader sees them).
    unk_counts = Counter(team_unknown)
    rows = []
    for t in all_teams:
        counts = table[t_lookup[t]] if t in t_lookup else np.zeros(k, dtype=np.int64)
        nk = int(counts.sum())
        top = int(counts.max()) if nk else 0
        modal = cats[int(np.argmax(counts))] if nk else None
        rows.append({
            "team": t, "n_known": nk, "n_unknown": int(unk_counts.get(t, 0)), "modal_level": modal,
            "modal_share": top / nk if nk else math.nan, "modal_tie": bool(nk and (counts == top).sum() > 1),
            **{c: int(counts[j]) for j, c in enumerate(cats)},
        })
    rows.sort(key=_sort_key)  # in Python: sort_values on a 25-row frame cost more than the statistics
    per_team = pd.DataFrame(rows, columns=["team", "n_known", "n_unknown", "modal_level", "modal_share",
                                           "modal_tie", *cats])

    nan = math.nan
    common: dict[str, Any] = {
        "n_used": n, "n_excluded_unknown": len(sel.unknown), "excluded_unknown": sel.unknown,
        "n_excluded_no_team": len(no_team), "excluded_no_team": no_team, "n_teams": r, "per_team": per_team,
        "permutations": int(permutations), "seed": int(seed),
    }
    if n == 0:
        return ConcordanceResult(**common, cramers_v=nan, cramers_v_expected=nan, cramers_v_corrected=nan,
                                 p_value=nan, chi2=nan, chi2_dof=0, chi2_p_asymptotic=nan,
                                 modal_agreement=nan, modal_agreement_expected=nan, modal_agreement_p=nan,
                                 enough_data=False, message="not enough data: no CCG with a known level")

    sims_lab = lab[_permutation_matrices(n, int(permutations), int(seed))[0]]
    offs = (tidx * k)[None, :] + sims_lab + (r * k) * np.arange(permutations)[:, None]
    sim_tables = np.bincount(offs.ravel(), minlength=permutations * r * k).reshape(permutations, r, k)

    modal_obs = int(table.max(axis=1).sum())
    # Element-wise maximum over the (few) level columns: much faster than a strided max(axis=2).
    modal_sims = np.maximum.reduce([sim_tables[:, :, j] for j in range(k)]).sum(axis=1)
    ma = {"modal_agreement": modal_obs / n, "modal_agreement_expected": float(modal_sims.mean()) / n,
          "modal_agreement_p": _p_upper(modal_sims, modal_obs)}

    if r < 2 or k < 2:
        why = "only one area team" if r < 2 else "all known CCGs chose the same level"
        return ConcordanceResult(**common, cramers_v=nan, cramers_v_expected=nan, cramers_v_corrected=nan,
                                 p_value=nan, chi2=nan, chi2_dof=0, chi2_p_asymptotic=nan, **ma,
                                 enough_data=False, message=f"not enough data for Cramér's V: {why}")

    expected = table.sum(axis=1)[:, None] * table.sum(axis=0)[None, :] / n  # margins fixed under permutation
    chi2_obs = float((table**2 / expected).sum() - n)
    flat = sim_tables.reshape(permutations, r * k).astype(float)
    chi2_sims = (flat * flat) @ (1.0 / expected).ravel() - n
    denom = n * (min(r, k) - 1)
    tol = 1e-9 * max(1.0, abs(chi2_obs))
    dof = (r - 1) * (k - 1)
    return ConcordanceResult(
        **common, cramers_v=math.sqrt(max(chi2_obs, 0.0) / denom),
        cramers_v_expected=float(np.sqrt(np.clip(chi2_sims, 0, None) / denom).mean()),
        cramers_v_corrected=_bias_corrected_v(chi2_obs, n, r, k),
        p_value=_p_upper(chi2_sims, chi2_obs - tol), chi2=chi2_obs, chi2_dof=dof,
        chi2_p_asymptotic=float(special.chdtrc(dof, chi2_obs)), **ma, enough_data=True, message="",
    )


# --------------------------------------------------------------------------------------------------------
# Local clusters
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LocalClusterResult:
    """Per-CCG local same-level clustering (conditional permutation), one row per known CCG.

    ``table`` columns: ccg_code, level, n_neighbours (known, selected), n_same, share_same, expected_same,
    p_value, significant (p <= alpha and n_same >= 1), island.  Islands have NaN share/p and are not tested.
    ``n_expected_false_positives`` = alpha x number of tested CCGs: the count of "significant" CCGs that
    chance alone would give.
    """

    n_used: int
    n_excluded_unknown: int
    excluded_unknown: tuple[str, ...]
    n_islands: int
    islands: tuple[str, ...]
    n_tested: int
    n_significant: int
    n_expected_false_positives: float
    alpha: float
    table: pd.DataFrame
    permutations: int
    seed: int
    enough_data: bool
    message: str


def local_clusters(
    levels: pd.Series,
    neighbours: Mapping[str, Sequence[str]],
    permutations: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
    mask: pd.Series | Sequence[bool] | np.ndarray | None = None,
) -> LocalClusterResult:
    """Which CCGs sit among neighbours that share their level more than chance would give?

    Conditional permutation: each CCG keeps its own level and its number of neighbours, and its neighbours'
    labels are drawn without replacement from the other known CCGs.  As in PySAL, one set of draws is
    shared by all CCGs (cheap, and each CCG's p-value is still valid on its own): CCG i's neighbours in
    permutation p are the first ``n_neighbours`` entries of the random ordering ``perm[p]`` once i itself is
    skipped, so prefix counts of each level along ``perm[p]`` give every CCG's simulated count at once.
    """
    _check_permutations(permutations)
    sel = _select(levels, mask)
    return _local_clusters(sel, *_edges(sel.codes, neighbours), int(permutations), int(seed), float(alpha))


def _local_clusters(sel: _Selection, ei: np.ndarray, ej: np.ndarray, permutations: int, seed: int,
                    alpha: float) -> LocalClusterResult:
    n = len(sel.codes)
    deg, islands = _islands(sel.codes, ei, ej)
    lab, cats = _encode(sel.labels)
    same_edge = (lab[ei] == lab[ej]).astype(np.int64) if len(ei) else np.zeros(0, np.int64)
    n_same = (np.bincount(ei, weights=same_edge, minlength=n)
              + np.bincount(ej, weights=same_edge, minlength=n)).astype(np.int64)
    sizes = np.bincount(lab, minlength=len(cats))
    expected_same = deg * (sizes[lab] - 1) / (n - 1) if n > 1 else np.full(n, math.nan)

    p = np.full(n, math.nan)
    tested = np.flatnonzero(deg > 0)
    if len(tested):
        dmax = int(deg.max())  # <= n - 1, so dmax + 1 prefix entries always exist
        perm, _, inv = _permutation_matrices(n, int(permutations), int(seed))
        prefix_lab = lab[perm[:, : dmax + 1]]  # (P, dmax + 1)
        # counts[c, t, p] = number of level-c CCGs among the first t entries of perm[p]
        counts = np.zeros((len(cats), dmax + 2, permutations), dtype=np.int32)
        onehot = prefix_lab[None, :, :] == np.arange(len(cats))[:, None, None]  # (k, P, dmax + 1)
        counts[:, 1:, :] = np.cumsum(onehot, axis=2, dtype=np.int32).transpose(0, 2, 1)
        lt, dt = lab[tested], deg[tested]
        without_self = counts[lt, dt]  # i not among the first d entries
        with_self = counts[lt, dt + 1] - 1  # i among them: take one more entry and drop i (same level)
        sims = np.where(inv[:, tested].T < dt[:, None], with_self, without_self)
        p[tested] = (1 + (sims >= n_same[tested][:, None]).sum(axis=1)) / (1 + permutations)

    share = np.where(deg > 0, n_same / np.maximum(deg, 1), math.nan)
    table = pd.DataFrame({
        "ccg_code": sel.codes.astype(str), "level": sel.labels.astype(str), "n_neighbours": deg.astype(int),
        "n_same": n_same.astype(int), "share_same": share, "expected_same": expected_same, "p_value": p,
        "significant": (p <= alpha) & (n_same >= 1), "island": deg == 0,
    })
    n_sig = int(table["significant"].sum())
    return LocalClusterResult(
        n_used=n, n_excluded_unknown=len(sel.unknown), excluded_unknown=sel.unknown, n_islands=len(islands),
        islands=islands, n_tested=len(tested), n_significant=n_sig,
        n_expected_false_positives=alpha * len(tested), alpha=float(alpha), table=table,
        permutations=int(permutations), seed=int(seed), enough_data=len(tested) > 0,
        message="" if len(tested) else
        "not enough data: no selected CCG with a known level has a known neighbour",
    )


# --------------------------------------------------------------------------------------------------------
# Deprivation
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DeprivationResult:
    """IMD score (higher = more deprived) by level, full view (Kruskal-Wallis) and binary view (permutation).

    ``by_level`` / ``by_binary`` columns: level, n, median, mean, pop_weighted_mean.
    ``diff`` = mean IMD of delegated minus mean IMD of the other known CCGs; ``diff_p_greater`` tests
    "delegated more deprived", ``diff_p_less`` the reverse, ``diff_p_two_sided`` uses |difference|.
    """

    n_used: int
    n_excluded_unknown: int
    excluded_unknown: tuple[str, ...]
    n_missing_imd: int
    missing_imd: tuple[str, ...]
    by_level: pd.DataFrame
    by_binary: pd.DataFrame
    n_groups: int
    kruskal_h: float
    kruskal_p: float
    epsilon_squared: float
    kruskal_enough_data: bool
    kruskal_message: str
    n_delegated: int
    n_not_delegated: int
    diff: float
    diff_p_two_sided: float
    diff_p_greater: float
    diff_p_less: float
    diff_enough_data: bool
    diff_message: str
    permutations: int
    seed: int


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


def _kruskal(groups: list[np.ndarray]) -> tuple[float, float]:
    """Kruskal-Wallis H with the tie correction, and its chi-squared p-value (as ``scipy.stats.kruskal``).

    Written out because scipy's wrapper costs more than the test itself on 200 values; tests check the two agree.
    """
    x = np.concatenate(groups)
    n = len(x)
    ranks = stats.rankdata(x)
    _, ties = np.unique(x, return_counts=True)
    correction = 1.0 - float((ties**3 - ties).sum()) / (n**3 - n)
    if correction == 0:
        return math.nan, math.nan
    bounds = np.cumsum([0] + [len(g) for g in groups])
    h = 12.0 / (n * (n + 1)) * sum(ranks[a:b].sum() ** 2 / (b - a) for a, b in zip(bounds[:-1], bounds[1:]))
    h = (h - 3 * (n + 1)) / correction
    return float(h), float(special.chdtrc(len(groups) - 1, h))


def deprivation_by_level(
    levels: pd.Series,
    imd_score: pd.Series,
    population: pd.Series | None = None,
    permutations: int = 999,
    seed: int = 0,
    mask: pd.Series | Sequence[bool] | np.ndarray | None = None,
) -> DeprivationResult:
    """Were more deprived CCGs more likely to take delegation?  Never raises on thin data: says so instead."""
    _check_permutations(permutations)
    return _deprivation(_select(levels, mask), _lookup(imd_score), _lookup(population), int(permutations),
                        int(seed))


def _deprivation(sel: _Selection, imd_by_code: Mapping[str, Any], pop_by_code: Mapping[str, Any],
                 permutations: int, seed: int) -> DeprivationResult:
    x_all = _numbers(imd_by_code, sel.codes)
    ok = np.isfinite(x_all)
    missing = tuple(str(c) for c in sel.codes[~ok])
    codes, labels, x = sel.codes[ok], sel.labels[ok], x_all[ok]
    w = _numbers(pop_by_code, codes)
    binary = np.where(labels == DELEGATED, DELEGATED, NOT_DELEGATED).astype(object)
    n = len(x)
    nan = math.nan

    # Full view: Kruskal-Wallis across levels.
    groups = [x[labels == lv] for lv in LEVELS if (labels == lv).any()]
    h = kp = eps = nan
    if len(groups) < 2:
        kw_msg = "not enough data: fewer than two levels with an IMD score"
    elif np.ptp(x) == 0:
        kw_msg = "not enough data: every CCG has the same IMD score"
    else:
        h, kp = _kruskal(groups)
        eps = h / (n - 1) if n > 1 else nan
        kw_msg = ""
    kw_ok = math.isfinite(h)
    if not kw_ok and not kw_msg:
        kw_msg = "not enough data: Kruskal-Wallis undefined for these values"

    # Binary view: permutation test of the difference in means.
    is_del = binary == DELEGATED
    n_del = int(is_del.sum())
    n_oth = n - n_del
    diff = p2 = pg = pl = nan
    if n_del == 0 or n_oth == 0:
        diff_msg = "not enough data: need both delegated and not-delegated CCGs with an IMD score"
    else:
        total = float(x.sum())
        diff = float(x[is_del].mean() - x[~is_del].mean())
        s_del = is_del.astype(float)[_permutation_matrices(n, int(permutations), int(seed))[0]] @ x
        sims = s_del / n_del - (total - s_del) / n_oth
        tol = 1e-9 * max(1.0, float(np.abs(x).max()))
        pg = _p_upper(sims, diff - tol)
        pl = _p_lower(sims, diff + tol)
        p2 = _p_upper(np.abs(sims), abs(diff) - tol)
        diff_msg = ""

    return DeprivationResult(
        n_used=n, n_excluded_unknown=len(sel.unknown), excluded_unknown=sel.unknown,
        n_missing_imd=len(missing), missing_imd=missing, by_level=_level_table(labels, x, w, LEVELS),
        by_binary=_level_table(binary, x, w, BINARY_LEVELS), n_groups=len(groups), kruskal_h=h, kruskal_p=kp,
        epsilon_squared=eps, kruskal_enough_data=kw_ok, kruskal_message=kw_msg, n_delegated=n_del,
        n_not_delegated=n_oth, diff=diff, diff_p_two_sided=p2, diff_p_greater=pg, diff_p_less=pl,
        diff_enough_data=math.isfinite(diff), diff_message=diff_msg, permutations=int(permutations),
        seed=int(seed),
    )


# --------------------------------------------------------------------------------------------------------
# Summary with plain-language readings
# --------------------------------------------------------------------------------------------------------

_VIEW_NAMES = {"full": "full levels", "binary": "delegated vs not delegated"}


@dataclass(frozen=True, eq=False)
class ViewResults:
    """Join counts, area-team concordance and local clusters for one view ("full" or "binary")."""

    view: str
    join_counts: JoinCountResult
    concordance: ConcordanceResult
    local: LocalClusterResult


@dataclass(frozen=True, eq=False)
class Summary:
    """Everything the dashboard shows for one year and filter selection, with readings beside the numbers.

    ``readings`` maps a key (e.g. ``"coverage"``, ``"join_counts.full"``, ``"deprivation.binary"``) to a
    plain-language sentence; insertion order is the suggested display order.
    """

    year: Hashable | None
    n_selected: int
    n_used: int
    n_excluded_unknown: int
    excluded_unknown: tuple[str, ...]
    n_islands: int
    islands: tuple[str, ...]
    full: ViewResults
    binary: ViewResults
    deprivation: DeprivationResult
    readings: dict[str, str] = field(default_factory=dict)
    permutations: int = 999
    seed: int = 0
    alpha: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (DataFrames as lists of records, NaN as None), e.g. for a ``dcc.Store``."""
        return _jsonable(self)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, pd.DataFrame):
        return [{str(k): _jsonable(v) for k, v in rec.items()} for rec in obj.to_dict(orient="records")]
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
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


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "p not available"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _label(level: str) -> str:
    return level.replace("_", " ")


def _list_codes(codes: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(codes[:limit])
    return shown + (f" and {len(codes) - limit} more" if len(codes) > limit else "")


def _read_join(res: JoinCountResult, view: str, alpha: float) -> str:
    name = _VIEW_NAMES[view]
    if not res.enough_data:
        return f"Same-level neighbours ({name}): cannot be assessed, {res.message}."
    head = (f"Same-level neighbours ({name}): {_plural(res.total_observed, 'pair')} seen, "
            f"{res.total_expected:.0f} expected by chance")
    if res.total_p_cluster <= alpha:
        return (f"{head} ({_fmt_p(res.total_p_cluster)}): CCGs next to each other chose the same level more "
                "often than chance.")
    if res.total_p_dispersion <= alpha:
        return (f"{head} ({_fmt_p(res.total_p_dispersion)}, fewer than chance): neighbouring CCGs tended to "
                "choose different levels.")
    return (f"{head} ({_fmt_p(res.total_p_cluster)}): no evidence of clustering; neighbours chose the same "
            "level about as often as chance would give.")


def _read_join_level(row: pd.Series, alpha: float) -> str:
    lv = _label(str(row["level"]))
    head = (f"{lv.capitalize()}-{lv} neighbour pairs: {int(row['observed'])} seen, {row['expected']:.1f} "
            "expected by chance")
    if row["p_cluster"] <= alpha:
        return f"{head} ({_fmt_p(row['p_cluster'])}): {lv} CCGs were grouped together more than chance."
    if row["p_dispersion"] <= alpha:
        return f"{head} ({_fmt_p(row['p_dispersion'])}, fewer than chance): {lv} CCGs were spread apart."
    return f"{head} ({_fmt_p(row['p_cluster'])}): no evidence that {lv} CCGs clustered."


def _read_concordance(res: ConcordanceResult, view: str, alpha: float) -> str:
    name = _VIEW_NAMES[view]
    if not math.isfinite(res.modal_agreement):
        return f"Area teams ({name}): cannot be assessed, {res.message}."
    agree = (f"{res.modal_agreement:.0%} of CCGs chose their area team's most common level "
             f"({res.modal_agreement_expected:.0%} expected by chance)")
    if not res.enough_data:
        why = res.message.removeprefix("not enough data")
        return f"Area teams ({name}): {agree}; no test possible{why}."
    head = (f"Area teams ({name}): Cramér's V = {res.cramers_v:.2f} ({res.cramers_v_expected:.2f} expected "
            f"by chance, {_fmt_p(res.p_value)}); {agree}")
    if res.p_value <= alpha:
        return f"{head}: CCGs in the same NHS England area team chose the same level more often than chance."
    return f"{head}: no evidence that area team predicted the level chosen."


def _read_uniform_team(res: ConcordanceResult) -> str | None:
    known = res.per_team[res.per_team["n_known"] > 0]
    if known.empty:
        return None
    top = known.iloc[0]
    lv = _label(str(top["modal_level"]))
    count = round(top["modal_share"] * top["n_known"])
    return (f"Most uniform area team: {top['team']} ({count} of {_plural(int(top['n_known']), 'known CCG')} "
            f"chose {lv}).")


def _read_local(res: LocalClusterResult, view: str) -> str:
    name = _VIEW_NAMES[view]
    if not res.enough_data:
        return f"Local clusters ({name}): cannot be assessed, {res.message}."
    fp = res.n_expected_false_positives
    by_chance = f"about {fp:.0f}" if fp >= 0.5 else "fewer than 1"
    return (f"Local clusters ({name}): {res.n_significant} of {res.n_tested} CCGs had more same-level "
            f"neighbours than chance (p <= {res.alpha:g}); {by_chance} would pass by chance alone, so read "
            "individual CCGs with caution.")


def _read_deprivation(res: DeprivationResult, alpha: float) -> tuple[str, str]:
    if res.kruskal_enough_data:
        head = (f"Deprivation (full levels): Kruskal-Wallis H = {res.kruskal_h:.1f} "
                f"({_fmt_p(res.kruskal_p)}, epsilon-squared = {res.epsilon_squared:.2f})")
        full = (f"{head}: IMD scores differed between levels." if res.kruskal_p <= alpha else
                f"{head}: no evidence that deprivation differed between levels.")
    else:
        full = f"Deprivation (full levels): cannot be assessed, {res.kruskal_message}."
    if res.diff_enough_data:
        t = res.by_binary.set_index("level")["mean"]
        head = (f"Deprivation (delegated vs not delegated): mean IMD score {t[DELEGATED]:.1f} for "
                f"delegated vs {t[NOT_DELEGATED]:.1f} for the rest (difference {res.diff:+.1f}, "
                f"{_fmt_p(res.diff_p_two_sided)})")
        if res.diff_p_two_sided <= alpha:
            more = "more" if res.diff > 0 else "less"
            binary = f"{head}: delegated CCGs were {more} deprived on average than chance would explain."
        else:
            binary = f"{head}: no evidence that deprivation differed between delegated and other CCGs."
    else:
        binary = f"Deprivation (delegated vs not delegated): cannot be assessed, {res.diff_message}."
    return full, binary


def _view(sel: _Selection, edges: tuple[np.ndarray, np.ndarray], team_by_code: Mapping[str, Any], view: str,
          permutations: int, seed: int, alpha: float) -> ViewResults:
    return ViewResults(
        view=view,
        join_counts=_join_counts(sel, *edges, permutations, seed),
        concordance=_concordance(sel, team_by_code, permutations, seed),
        local=_local_clusters(sel, *edges, permutations, seed, alpha),
    )


def summarise(
    levels: pd.Series,
    neighbours: Mapping[str, Sequence[str]],
    teams: pd.Series,
    imd_score: pd.Series,
    population: pd.Series | None = None,
    *,
    mask: pd.Series | Sequence[bool] | np.ndarray | None = None,
    year: Hashable | None = None,
    permutations: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
) -> Summary:
    """All statistics for one year and filter selection, in both the full-level and the binary view.

    Both views are given because ``not_delegated`` hides which lower level a CCG chose: the binary view
    compares like with like, the full view keeps the detail where it is known.
    """
    _check_permutations(permutations)
    return _summarise(_apply_mask(_normalise_levels(levels), mask), neighbours, _lookup(teams), _lookup(imd_score),
                      _lookup(population), year, int(permutations), int(seed), float(alpha))


def _summarise(lv: pd.Series, neighbours: Mapping[str, Sequence[str]], team_by_code: Mapping[str, Any],
               imd_by_code: Mapping[str, Any], pop_by_code: Mapping[str, Any], year: Hashable | None,
               permutations: int, seed: int, alpha: float) -> Summary:
    sel = _select(lv)
    # The binary view relabels the same known CCGs (unknown stays unknown), so codes and edges are shared.
    binary_sel = dataclasses.replace(sel, labels=np.where(sel.labels == DELEGATED, DELEGATED, NOT_DELEGATED)
                                     .astype(object))
    edges = _edges(sel.codes, neighbours)
    full_v = _view(sel, edges, team_by_code, "full", permutations, seed, alpha)
    bin_v = _view(binary_sel, edges, team_by_code, "binary", permutations, seed, alpha)
    dep = _deprivation(sel, imd_by_code, pop_by_code, permutations, seed)
    jc = full_v.join_counts

    readings: dict[str, str] = {}
    n_sel, n_unk = len(lv), jc.n_excluded_unknown
    when = f" in {year}" if year is not None else ""
    readings["coverage"] = (
        f"{_plural(n_unk, 'CCG')} of {n_sel} analysed{when} {'was' if n_unk == 1 else 'were'} left out "
        f"because the co-commissioning level is unknown; every figure describes only the {jc.n_used} CCGs "
        "with a known level, so results depend on which CCGs are covered."
    )
    if jc.n_islands:
        readings["islands"] = (
            f"{_plural(jc.n_islands, 'CCG')} with a known level {'has' if jc.n_islands == 1 else 'have'} no "
            f"neighbour with a known level in the selection and {'is' if jc.n_islands == 1 else 'are'} not "
            f"counted in the neighbour statistics: {_list_codes(jc.islands)}."
        )
    readings["views"] = ("The full-level view treats 'not delegated' (a source that does not say which lower "
                         "level) as its own level; the binary view compares delegated with all other known "
                         "levels.")
    for v in (full_v, bin_v):
        readings[f"join_counts.{v.view}"] = _read_join(v.join_counts, v.view, alpha)
    if bin_v.join_counts.enough_data:
        per_level = bin_v.join_counts.per_level
        hit = per_level[per_level["level"] == DELEGATED]
        if len(hit):
            readings["join_counts.binary.delegated"] = _read_join_level(hit.iloc[0], alpha)
    for v in (full_v, bin_v):
        readings[f"concordance.{v.view}"] = _read_concordance(v.concordance, v.view, alpha)
    uniform = _read_uniform_team(full_v.concordance)
    if uniform:
        readings["concordance.most_uniform_team"] = uniform
    for v in (full_v, bin_v):
        readings[f"local.{v.view}"] = _read_local(v.local, v.view)
    readings["deprivation.full"], readings["deprivation.binary"] = _read_deprivation(dep, alpha)
    if dep.n_missing_imd:
        readings["deprivation.missing"] = (f"{_plural(dep.n_missing_imd, 'CCG')} with a known level had no "
                                           "IMD score and were left out of the deprivation figures.")

    return Summary(
        year=year, n_selected=n_sel, n_used=jc.n_used, n_excluded_unknown=n_unk,
        excluded_unknown=jc.excluded_unknown, n_islands=jc.n_islands, islands=jc.islands, full=full_v,
        binary=bin_v, deprivation=dep, readings=readings, permutations=int(permutations), seed=int(seed),
        alpha=float(alpha),
    )


# --------------------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Geography:
    neighbours: dict[str, tuple[str, ...]]
    teams: dict[str, Any]  # code -> value, read by _summarise
    imd_score: dict[str, Any]
    population: dict[str, Any]


_GEOGRAPHIES: dict[str, _Geography] = {}


def _series_items(s: pd.Series | None) -> tuple[tuple[str, str], ...]:
    if s is None:
        return ()
    return tuple(sorted((str(k), repr(v)) for k, v in s.items()))


def register_geography(
    neighbours: Mapping[str, Sequence[str]],
    teams: pd.Series,
    imd_score: pd.Series,
    population: pd.Series | None = None,
) -> str:
    """Store the year-independent inputs once and return their token (a content hash) for the cache key.

    Hashing the content rather than using ``id()`` means a re-loaded but identical geography reuses cached
    results, and any change to it gives a new token, so stale results are never served.
    """
    nb = {str(k): tuple(sorted(str(x) for x in v)) for k, v in neighbours.items()}
    h = hashlib.sha256()
    h.update(repr(sorted(nb.items())).encode())
    for s in (teams, imd_score, population):
        h.update(b"|" + repr(_series_items(s)).encode())
    token = h.hexdigest()[:20]
    if token not in _GEOGRAPHIES:
        _GEOGRAPHIES[token] = _Geography(nb, _lookup(teams), _lookup(imd_score), _lookup(population))
    return token


def levels_key(
    levels: pd.Series, mask: pd.Series | Sequence[bool] | np.ndarray | None = None
) -> tuple[tuple[str, str], ...]:
    """Hashable, order-independent key of the selected CCGs' levels (unknowns kept, so they are counted)."""
    lv = _apply_mask(_normalise_levels(levels), mask)
    return tuple(sorted(zip(lv.index, lv.astype(str))))


@lru_cache(maxsize=256)
def _summarise_cached(year_key: Hashable, levels_items: tuple[tuple[str, str], ...], geography_token: str,
                      permutations: int, seed: int, alpha: float) -> Summary:
    geo = _GEOGRAPHIES.get(geography_token)
    if geo is None:
        raise KeyError(f"unknown geography token {geography_token!r}; call register_geography first")
    codes = [c for c, _ in levels_items]
    levels = pd.Series([lv for _, lv in levels_items], index=pd.Index(codes, dtype=object), dtype=object)
    return _summarise(_normalise_levels(levels), geo.neighbours, geo.teams, geo.imd_score, geo.population,
                      year_key, permutations, seed, alpha)


def summarise_cached(
    year_key: Hashable,
    levels_items: tuple[tuple[str, str], ...],
    geography_token: str,
    permutations: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
) -> Summary:
    """Memoised :func:`summarise` for the dashboard callbacks.

    ``levels_items`` comes from :func:`levels_key` (the already-filtered selection) and ``geography_token``
    from :func:`register_geography`.  Hits return a deep copy, so a caller editing a DataFrame in place
    cannot change what later callers see.
    """
    return copy.deepcopy(_summarise_cached(year_key, tuple(levels_items), geography_token, int(permutations),
                                           int(seed), float(alpha)))


def cache_info() -> Any:
    """``functools`` cache statistics of :func:`summarise_cached` (hits, misses, size)."""
    return _summarise_cached.cache_info()


def clear_cache() -> None:
    """Empty the summary cache (registered geographies are kept)."""
    _summarise_cached.cache_clear()
