"""Would each finding of the clustering panel survive the unknown levels? (issue 11)

Over half the CCG-years have no known level, so every statistic of the clustering panel describes only the
known CCGs. For one view (year, filter, evidence choice) this module takes each statistic of the panel

* ``join_counts.full`` / ``join_counts.binary``: same-level neighbour pairs (one-sided p, clustering),
* ``concordance.full`` / ``concordance.binary``: area team and level (Cramér's V, permutation p),
* ``deprivation.binary``: mean IMD of delegated minus the rest (two-sided permutation p),
* ``deprivation.full``: Kruskal-Wallis across levels,

and reports (1) the known-only value and p exactly as the panel computes them (999 relabellings, seed 0);
(2) the statistic and its p over admissible completions of the unknown levels drawn by
:class:`~dashboard.completions.CompletionSampler` (every published total met, every known level kept), with
*all* CCGs in the filter (known and completed, ``not_delegated`` made concrete; in 2015/16 greater involvement
and no role are the one class ``greater_involvement_or_none``); (3) two extreme completions, the lowest and the
highest p found; (4) a verdict in plain words.

Extremes are found by a search that keeps every constraint: it swaps the (2015/16, 2016/17) level pairs of two
CCGs of the same constraint group (same region, same known / unknown / not-delegated state in both years, same
given levels), hill-climbing a smooth, exact-moment version of the statistic (standardised join count,
Wilson-Hilferty transform of chi-squared and H, standardised difference) up and down from several draws; every
end point, and every draw, is then tested with the permutation p, and the lowest and highest p are kept, so
``low.p <= every sampled p <= high.p`` by construction (``found_by = "search"``). For the difference in mean IMD
in 2015/16 the extremes are exact (``found_by = "exact"``, ``exact = True``) when the totals leave the structure
the sampler works with (regional quotas of delegation, national range): a dynamic programme over regions gives
delegation to the most (least) deprived open CCGs of each region's quota, for every count, and so finds the
largest and smallest difference, and standardised difference, of all admissible completions
(:attr:`StatisticResult.exact_range`; the standardised ones compete for ``low`` and ``high``).

Completions are tested with :data:`PERMUTATIONS` relabellings (199, one table per selection size, seeded with
the caller's seed), the known CCGs with the panel's 999. Seeded and deterministic; nothing is kept at module
level (the caller owns the caches: :func:`sampler_for`, :func:`robust_for`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from dashboard import analysis
from dashboard.analysis import MIN_KNOWN, NotRun, PermutationTables
from dashboard.analysis._selection import edges
from dashboard.analysis.concordance import concordance_stat
from dashboard.analysis.deprivation import difference_stat
from dashboard.analysis.join_counts import join_count_stat
from dashboard.analysis.permutations import Tables
from dashboard.analysis.summary import jsonable
from dashboard.clustering_readings import fmt_p, plural, why_not_run
from dashboard.completions import CODES, CompletionSampler
from dashboard.service import AtlasService, BoundedCache, level_column
from dashboard.state import ViewState, describe, filters_only
from geodata.levels import newly_authorised_2016
from geodata.totals import Constraint, ccg_states, read_constraints
from geodata.vocabulary import DELEGATED, GREATER_INVOLVEMENT, JOINT, NONE, NOT_DELEGATED, UNKNOWN, YEAR_LABEL

ALPHA = 0.05
#: Relabellings per completion (the panel uses 999 for the known CCGs).
PERMUTATIONS = 199
KNOWN_PERMUTATIONS, KNOWN_SEED = 999, 0  # the clustering panel's settings (dashboard.analysis.summarise)
RESTARTS = 3  # search starts per statistic and direction: the two most extreme draws and one other
SEARCH_STEPS, SEARCH_BATCH, PATIENCE = 120, 128, 2
STATISTICS: tuple[str, ...] = ("join_counts.full", "join_counts.binary", "concordance.full", "concordance.binary",
                               "deprivation.binary", "deprivation.full")
VERDICTS: dict[str, str] = {
    "holds": "holds whatever the unknown levels were",
    "most": "holds in most completions",
    "depends": "depends on the unknown levels",
    "not_run": "the known CCGs alone could not be tested",
    "untested": "no completion could be tested",
}
LABELS = {
    "join_counts.full": "Same-level neighbours (full levels)",
    "join_counts.binary": "Same-level neighbours (delegated vs not delegated)",
    "concordance.full": "Area teams (full levels)",
    "concordance.binary": "Area teams (delegated vs not delegated)",
    "deprivation.binary": "Deprivation (delegated vs not delegated)",
    "deprivation.full": "Deprivation (full levels)",
}
#: What ``value`` and ``p`` are, per statistic.
MEASURES = {
    "join_counts": ("same-level neighbour pairs", "one-sided p (more same-level pairs than chance)"),
    "concordance": ("Cramér's V", "permutation p"),
    "deprivation.binary": ("mean IMD score of delegated minus the rest", "two-sided permutation p"),
    "deprivation.full": ("Kruskal-Wallis H", "p (chi-squared approximation, as scipy.stats.kruskal)"),
}
_REASON_WORDS = {"too_few_known": "too few CCGs", "one_level": "every CCG at one level",
                 "no_pairs": "no neighbouring pair", "one_team": "one area team", "same_imd": "one IMD score"}
#: Sampler codes (D, J, GI, N, GIN) -> labels of the full-level view per year, and of the binary view.
_FULL = {2015: np.array([{DELEGATED: 0, JOINT: 1}.get(c, 2) for c in CODES], dtype=np.int8),
         2016: np.array([{DELEGATED: 0, JOINT: 1, GREATER_INVOLVEMENT: 2, NONE: 3}.get(c, 2) for c in CODES],
                        dtype=np.int8)}
_BINARY = np.array([int(c == DELEGATED) for c in CODES], dtype=np.int8)
_OPEN = (UNKNOWN, NOT_DELEGATED)


# --- results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownOnly:
    """The panel's test on the known CCGs: ``not_run`` is the reason code when it could not be run."""

    value: float
    p: float
    n: int
    not_run: str | None
    significant: bool | None
    direction: int = 0
    words_not_run: str | None = None


@dataclass(frozen=True)
class CompletionSummary:
    """The statistic over the completions tested (``n``); ``not_run`` completions could not be tested."""

    n: int
    n_ccgs: int
    median: float
    p5: float
    p95: float
    p_median: float
    p_p5: float
    p_p95: float
    share_p_below_05: float
    not_run: int
    not_run_reasons: dict[str, int] = field(default_factory=dict, hash=False)
    share_agree: float = math.nan


@dataclass(frozen=True)
class Extreme:
    """One extreme completion: its statistic, p, and how it was found (``search`` or ``exact``).

    ``completion`` (not in the JSON) holds its levels, one row per CCG (ods_code, level_2015, level_2016), for a
    completion found by search; an exact extreme gives only the year's delegation, so it has none.
    """

    value: float
    p: float
    found_by: str
    exact: bool = False
    completion: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """value, p, found_by, exact (the completion itself is left out)."""
        return {"value": jsonable(self.value), "p": jsonable(self.p), "found_by": self.found_by,
                "exact": self.exact}


@dataclass(frozen=True)
class Verdict:
    """A code (:data:`VERDICTS`) and the words for the reader."""

    code: str
    words: str


@dataclass(frozen=True)
class StatisticResult:
    """Known-only value, completion summary, extremes and verdict of one statistic of the panel."""

    name: str
    label: str
    finding: str
    known_only: KnownOnly
    completions: CompletionSummary
    low: Extreme | None
    high: Extreme | None
    verdict: Verdict
    exact_range: tuple[Extreme, Extreme] | None = None
    values: tuple[float, ...] = field(default=(), repr=False)
    p_values: tuple[float, ...] = field(default=(), repr=False)

    def to_dict(self, samples: bool = False) -> dict[str, Any]:
        """JSON-ready (stable names); ``samples`` adds every completion's value and p."""
        value_name, p_name = MEASURES.get(self.name, MEASURES.get(self.name.split(".")[0], ("", "")))
        out = {"name": self.name, "label": self.label, "finding": self.finding, "value_name": value_name,
               "p_name": p_name, "known_only": jsonable(self.known_only),
               "completions": jsonable(self.completions),
               "extremes": {"low": self.low and self.low.to_dict(), "high": self.high and self.high.to_dict()},
               "verdict": jsonable(self.verdict),
               "exact_range": None if self.exact_range is None else {
                   "low": self.exact_range[0].to_dict(), "high": self.exact_range[1].to_dict(),
                   "by": "the smallest and largest difference over every admissible completion"}}
        if samples:
            out["samples"] = {"value": jsonable(self.values), "p": jsonable(self.p_values)}
        return out


@dataclass(frozen=True)
class RobustResult:
    """Every statistic of the clustering panel for one view, with its robustness to the unknown levels."""

    year: int
    evidence: str
    description: str
    filters: dict[str, Any]
    n_selected: int
    n_known: int
    n_unknown: int
    n_not_delegated: int
    completions: int
    seed: int
    permutations: int
    known_permutations: int
    statistics: tuple[StatisticResult, ...]

    @property
    def n_open(self) -> int:
        """CCGs in the filter whose level in the year a completion fills (unknown or not delegated)."""
        return self.n_unknown + self.n_not_delegated

    def statistic(self, name: str) -> StatisticResult:
        """The result of one statistic by name (:data:`STATISTICS`)."""
        for s in self.statistics:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_dict(self, samples: bool = False) -> dict[str, Any]:
        """JSON-ready, with the stable names of ``../shared/CONTRACT.md`` (NaN as None)."""
        return {"year": self.year, "year_label": YEAR_LABEL.get(self.year, str(self.year)),
                "evidence": self.evidence, "description": self.description, "filters": jsonable(self.filters),
                "n_selected": self.n_selected, "n_known": self.n_known, "n_unknown": self.n_unknown,
                "n_not_delegated": self.n_not_delegated, "n_open": self.n_open, "completions": self.completions,
                "seed": self.seed, "permutations": self.permutations,
                "known_permutations": self.known_permutations, "alpha": ALPHA, "headline": headline(self),
                "statistics": [s.to_dict(samples) for s in self.statistics]}


# --- statistics on integer labels: exact (permutation p) and smooth (for the search) -----------------------


@dataclass(frozen=True)
class _Eval:
    value: float
    p: float
    sign: int = 0
    reason: str | None = None


_NOT = {r: _Eval(math.nan, math.nan, 0, r) for r in _REASON_WORDS}


def _row_counts(batch: np.ndarray, k: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Per row of ``batch`` (C, n) the count (or weight sum) of each label 0..k-1: (C, k)."""
    c = batch.shape[0]
    offs = batch.astype(np.intp) + k * np.arange(c, dtype=np.intp)[:, None]
    w = None if weights is None else np.broadcast_to(weights, batch.shape).ravel()
    return np.bincount(offs.ravel(), weights=w, minlength=c * k).reshape(c, k)


def _wilson_hilferty(chi2: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """Chi-squared on ``dof`` degrees of freedom as an approximately standard normal score (NaN if dof < 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(dof >= 1, dof, np.nan).astype(float)
        v = 2.0 / (9.0 * d)
        return (np.cbrt(np.clip(chi2, 0, None) / d) - (1 - v)) / np.sqrt(v)


class _Spec:
    """One statistic on the CCGs at ``positions`` (table rows, sorted by code) with one relabelling table."""

    kind = ""
    directional = False

    def __init__(self, name: str, binary: bool, positions: np.ndarray, tables: Tables | None) -> None:
        self.name, self.binary, self.positions, self.tables = name, binary, positions, tables
        self.n = len(positions)
        self.k = 2 if binary else 4
        self.floor = 1.0 / (1 + tables.permutations) if tables is not None else 0.0

    def check(self, lab: np.ndarray) -> str | None:
        if self.n < MIN_KNOWN:
            return "too_few_known"
        if lab.min() == lab.max():
            return "one_level"
        return None

    def evaluate(self, lab: np.ndarray) -> _Eval:
        raise NotImplementedError

    def score(self, batch: np.ndarray) -> np.ndarray:
        """Higher = stronger evidence (lower p); NaN where the test cannot be run."""
        raise NotImplementedError


class _Join(_Spec):
    kind = "join_counts"

    def __init__(self, name: str, binary: bool, positions: np.ndarray, tables: Tables | None,
                 ei: np.ndarray, ej: np.ndarray) -> None:
        super().__init__(name, binary, positions, tables)
        self.ei, self.ej = ei, ej
        deg = np.bincount(np.concatenate([ei, ej]), minlength=self.n).astype(float)
        self.m, self.s2 = float(len(ei)), float((deg * (deg - 1)).sum())

    def check(self, lab: np.ndarray) -> str | None:
        return super().check(lab) or ("no_pairs" if self.m == 0 else None)

    def evaluate(self, lab: np.ndarray) -> _Eval:
        why = self.check(lab)
        if why is not None:
            return _NOT[why]
        st = join_count_stat(lab, self.ei, self.ej, self.tables)
        return _Eval(float(st.observed), st.p_cluster, 1)

    def score(self, batch: np.ndarray) -> np.ndarray:
        """Same-level pairs standardised by their exact mean and variance under relabelling."""
        n, m = float(self.n), self.m
        if self.n < 4 or m == 0:
            return np.full(len(batch), np.nan)
        obs = np.count_nonzero(batch[:, self.ei] == batch[:, self.ej], axis=1)
        c = _row_counts(batch, self.k).astype(float)
        f2 = c * (c - 1)
        p2 = f2.sum(1) / (n * (n - 1))
        p3 = (f2 * (c - 2)).sum(1) / (n * (n - 1) * (n - 2))
        p4 = ((f2 * (c - 2) * (c - 3)).sum(1) + f2.sum(1) ** 2 - (f2**2).sum(1)) / (n * (n - 1) * (n - 2) * (n - 3))
        mean = m * p2
        var = m * p2 + self.s2 * p3 + (m * m - m - self.s2) * p4 - mean**2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(var > 1e-12, (obs - mean) / np.sqrt(np.abs(var)), np.nan)


class _Concordance(_Spec):
    kind = "concordance"

    def __init__(self, name: str, binary: bool, positions: np.ndarray, tables: Tables | None,
                 tidx: np.ndarray, r: int) -> None:
        super().__init__(name, binary, positions, tables)
        self.tidx, self.r = tidx, r
        self.rows = np.bincount(tidx, minlength=r).astype(float)

    def check(self, lab: np.ndarray) -> str | None:
        return super().check(lab) or ("one_team" if self.r < 2 else None)

    def evaluate(self, lab: np.ndarray) -> _Eval:
        why = self.check(lab)
        if why is not None:
            return _NOT[why]
        present, inv = np.unique(lab, return_inverse=True)
        st = concordance_stat(inv.astype(np.int64), self.tidx, self.r, len(present), self.tables)
        return _Eval(st.cramers_v, st.p_value)

    def score(self, batch: np.ndarray) -> np.ndarray:
        c, k, r = batch.shape[0], self.k, self.r
        if self.n < MIN_KNOWN or r < 2:
            return np.full(c, np.nan)
        tab = _row_counts(self.tidx[None, :] * k + batch, r * k).reshape(c, r, k).astype(float)
        col = tab.sum(1)
        expected = self.rows[None, :, None] * col[:, None, :] / self.n
        with np.errstate(divide="ignore", invalid="ignore"):
            chi2 = np.where(expected > 0, tab**2 / expected, 0.0).sum((1, 2)) - self.n
        dof = (r - 1) * ((col > 0).sum(1) - 1)
        return _wilson_hilferty(chi2, dof)


class _Difference(_Spec):
    kind = "deprivation.binary"
    directional = True

    def __init__(self, name: str, positions: np.ndarray, tables: Tables | None, x: np.ndarray) -> None:
        super().__init__(name, True, positions, tables)
        self.x, self.total = x, float(x.sum())
        self.var = float(x.var()) if len(x) else 0.0

    def check(self, lab: np.ndarray) -> str | None:
        return super().check(lab) or ("same_imd" if np.ptp(self.x) == 0 else None)

    def evaluate(self, lab: np.ndarray) -> _Eval:
        why = self.check(lab)
        if why is not None:
            return _NOT[why]
        st = difference_stat(lab == 1, self.x, self.tables)
        return _Eval(st.diff, st.p_two_sided, int(np.sign(st.diff)))

    def z(self, batch: np.ndarray) -> np.ndarray:
        """Difference in means over its exact permutation standard deviation (signed)."""
        n = float(self.n)
        is_del = (batch == 1).astype(float)
        nd = is_del.sum(1)
        s = is_del @ self.x
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = s / nd - (self.total - s) / (n - nd)
            sd = np.sqrt(n * n * self.var / (nd * (n - nd) * (n - 1)))
            return np.where((nd > 0) & (nd < n) & (self.var > 0), diff / sd, np.nan)

    def score(self, batch: np.ndarray) -> np.ndarray:
        return np.abs(self.z(batch)) if self.n >= MIN_KNOWN else np.full(len(batch), np.nan)


class _Kruskal(_Spec):
    kind = "deprivation.full"

    def __init__(self, name: str, positions: np.ndarray, x: np.ndarray) -> None:
        super().__init__(name, False, positions, None)
        self.x = x
        self.ranks = pd.Series(x).rank().to_numpy() if len(x) else np.zeros(0)
        _, ties = np.unique(x, return_counts=True)
        n = float(len(x))
        self.tie = 1.0 - float((ties**3 - ties).sum()) / (n**3 - n) if n > 1 else 1.0

    def check(self, lab: np.ndarray) -> str | None:
        return super().check(lab) or ("same_imd" if np.ptp(self.x) == 0 else None)

    def h(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tie-corrected H (as ``scipy.stats.kruskal``) and its degrees of freedom, per row."""
        n = float(self.n)
        sums = _row_counts(batch, self.k, self.ranks)
        sizes = _row_counts(batch, self.k)
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(sizes > 0, sums**2 / np.maximum(sizes, 1), 0.0).sum(1)
        h = (12.0 / (n * (n + 1)) * term - 3 * (n + 1)) / self.tie
        return h, (sizes > 0).sum(1) - 1

    def evaluate(self, lab: np.ndarray) -> _Eval:
        why = self.check(lab)
        if why is not None:
            return _NOT[why]
        h, dof = self.h(lab[None, :])
        return _Eval(float(h[0]), float(special.chdtrc(dof[0], h[0])))

    def score(self, batch: np.ndarray) -> np.ndarray:
        if self.n < MIN_KNOWN or self.tie <= 0:
            return np.full(len(batch), np.nan)
        h, dof = self.h(batch)
        return _wilson_hilferty(h, dof)


# --- the problem of one view ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Problem:
    """Everything one view needs, made once: specs, swap pairs, draws in table order, the year."""

    year: int
    specs: tuple[_Spec, ...]
    codes: np.ndarray  # (draws, CCGs, 2) sampler codes of 2015/16 and 2016/17, table order
    pair_i: np.ndarray
    pair_j: np.ndarray
    order: np.ndarray  # table position of each sampler CCG
    ods_codes: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """(draws, CCGs) codes of the year analysed."""
        return self.codes[:, :, 0 if self.year == 2015 else 1]

    def completion(self, draw: int, who: np.ndarray) -> pd.DataFrame:
        """Levels of draw ``draw`` after the swaps ``who`` (CCG i takes the pair of CCG ``who[i]``)."""
        names = np.array(CODES, dtype=object)
        pair = self.codes[draw][who]
        return pd.DataFrame({"ods_code": self.ods_codes, "level_2015": names[pair[:, 0]],
                             "level_2016": names[pair[:, 1]]})


def _sorted_positions(table: pd.DataFrame, keep: np.ndarray) -> np.ndarray:
    """Table rows kept, sorted by CCG code like ``dashboard.analysis`` (so its relabellings line up)."""
    pos = np.flatnonzero(keep)
    codes = table.index.to_numpy().astype(str)[pos]
    return pos[np.argsort(codes, kind="stable")]


def _specs(table: pd.DataFrame, neighbours: Mapping[str, Sequence[str]], mask: np.ndarray,
           store: PermutationTables, permutations: int, seed: int) -> tuple[_Spec, ...]:
    pos = _sorted_positions(table, mask)
    codes = table.index.to_numpy().astype(str)[pos]
    ei, ej = edges(codes, neighbours)
    teams = table["area_team"].astype(str).to_numpy()[pos]
    names, tidx = np.unique(teams, return_inverse=True)
    x_all = pd.to_numeric(table["imd_score"], errors="coerce").to_numpy(dtype=float)
    dep = _sorted_positions(table, mask & np.isfinite(x_all))
    x = x_all[dep]
    tab = store.get(len(pos), permutations, seed) if len(pos) else None
    tab_dep = store.get(len(dep), permutations, seed) if len(dep) else None
    tidx = tidx.astype(np.int64)
    return (
        _Join("join_counts.full", False, pos, tab, ei, ej),
        _Join("join_counts.binary", True, pos, tab, ei, ej),
        _Concordance("concordance.full", False, pos, tab, tidx, len(names)),
        _Concordance("concordance.binary", True, pos, tab, tidx, len(names)),
        _Difference("deprivation.binary", dep, tab_dep, x),
        _Kruskal("deprivation.full", dep, x),
    )


def swap_groups(states: pd.DataFrame, given: pd.DataFrame) -> np.ndarray:
    """Constraint group of each CCG: same region, same state in both years and same given levels.

    Two CCGs of a group may exchange their (2015/16, 2016/17) level pairs without breaking any total, known
    level or rule. The given levels are part of the key because a known 2015/16 greater involvement and a known
    none share one state (``greater_involvement_or_none``) but must keep their own level. -1: nothing to swap.
    """
    key = pd.MultiIndex.from_arrays([states["region"], states["state_2015"], states["state_2016"],
                                     given["level_2015"].astype(str).to_numpy(),
                                     given["level_2016"].astype(str).to_numpy()])
    group = pd.factorize(key)[0]
    is_open = states["state_2015"].isin(_OPEN).to_numpy() | states["state_2016"].isin(_OPEN).to_numpy()
    return np.where(is_open, group, -1)


def _pairs(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j), i < j, of CCGs in the same open group."""
    out_i, out_j = [], []
    for g in np.unique(groups[groups >= 0]):
        members = np.flatnonzero(groups == g)
        if len(members) > 1:
            a, b = np.triu_indices(len(members), k=1)
            out_i.append(members[a])
            out_j.append(members[b])
    if not out_i:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    return np.concatenate(out_i), np.concatenate(out_j)


# --- search and exact extremes ----------------------------------------------------------------------------


def _climb(spec: _Spec, f0: np.ndarray, prob: _Problem, direction: int, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """Hill-climb the smooth score (``direction`` +1: up, -1: down) by swaps within constraint groups.

    ``f0`` holds the statistic's labels of every CCG of the table; returns the labels at the end point and
    which CCG's level pair each CCG took.
    """
    f = f0.copy()
    who = np.arange(len(f))
    index = np.full(len(f), -1, dtype=np.intp)
    index[spec.positions] = np.arange(spec.n)
    keep = (index[prob.pair_i] >= 0) | (index[prob.pair_j] >= 0)
    big_i, big_j = prob.pair_i[keep], prob.pair_j[keep]
    pi, pj = index[big_i], index[big_j]
    current = direction * spec.score(f[spec.positions][None, :])[0]
    if not np.isfinite(current):
        return f, who
    stale = 0
    for _ in range(SEARCH_STEPS):
        ok = np.flatnonzero(f[big_i] != f[big_j])
        if not ok.size:
            break
        every = ok.size <= SEARCH_BATCH
        pick = ok if every else rng.choice(ok, SEARCH_BATCH, replace=False)
        batch = np.repeat(f[spec.positions][None, :], len(pick), axis=0)
        rows, a, b = np.arange(len(pick)), pi[pick] >= 0, pj[pick] >= 0
        batch[rows[a], pi[pick][a]] = f[big_j[pick][a]]
        batch[rows[b], pj[pick][b]] = f[big_i[pick][b]]
        s = direction * spec.score(batch)
        s = np.where(np.isfinite(s), s, -np.inf)
        best = int(np.argmax(s))
        if s[best] > current + 1e-9:
            q = pick[best]
            f[big_i[q]], f[big_j[q]] = f[big_j[q]], f[big_i[q]]
            who[big_i[q]], who[big_j[q]] = who[big_j[q]], who[big_i[q]]
            current, stale = s[best], 0
        elif every:
            break
        else:
            stale += 1
            if stale >= PATIENCE:
                break
    return f, who


def _reduced_structure(sampler: CompletionSampler) -> tuple[list, set[int]] | None:
    """Regions' delegation cells and the admissible national counts, if admissibility depends on the total only.

    Uses the sampler's programme (its cells and admissible counts); None where that structure is not there.
    """
    cells, final, prefix = (getattr(sampler, name, None) for name in ("_cells", "_final", "_prefix"))
    if cells is None or final is None or prefix is None:
        return None
    keys = {key for key, w in zip(*final) if w}
    sums = {m + k for m, k in keys}
    if any(m + k in sums and (m, k) not in keys for (m, k), w in prefix[-1].items() if w):
        return None  # admissibility depends on more than the count delegated: no exact answer here
    return list(cells), sums


def _region_options(a: np.ndarray, b: np.ndarray, weights: Mapping[tuple[int, int], int], index: np.ndarray,
                    y: np.ndarray) -> dict[tuple[int, int], tuple[float, int, int]]:
    """(delegated in region, of them analysed) -> best sum of y and how many from each cell (a, b)."""
    out: dict[tuple[int, int], tuple[float, int, int]] = {}
    tops = []
    for cell in (a, b):
        inside = cell[index[cell] >= 0]
        vals = np.sort(y[index[inside]])[::-1]
        tops.append((np.concatenate([[0.0], np.cumsum(vals)]), len(cell) - len(inside)))
    (top_a, out_a), (top_b, out_b) = tops
    for (m, k), w in weights.items():
        if not w:
            continue
        for ca in range(max(0, m - out_a), min(m, len(top_a) - 1) + 1):
            for cb in range(max(0, k - out_b), min(k, len(top_b) - 1) + 1):
                key, val = (m + k, ca + cb), float(top_a[ca] + top_b[cb])
                if key not in out or val > out[key][0]:
                    out[key] = (val, ca, cb)
    return out


@dataclass(frozen=True, eq=False)
class _Exact:
    """Binary labellings of the smallest and largest standardised difference (``z``) and difference (``diff``)."""

    z: tuple[np.ndarray, np.ndarray]
    diff: tuple[np.ndarray, np.ndarray]


def _exact_delegation(sampler: CompletionSampler, spec: _Difference, order: np.ndarray) -> _Exact | None:
    """The exact extremes of the difference in mean IMD over all completions (2015/16); None when not exact.

    For every count of delegated CCGs in each region's quota, the analysed CCGs given delegation are the least
    (most) deprived open ones; a programme over regions keeps the national range and gives the best sum for
    every count, so both the difference and its standardised form are optimised exactly.
    """
    structure = _reduced_structure(sampler)
    s15 = getattr(sampler, "_s15", None)
    if structure is None or s15 is None or spec.n < MIN_KNOWN or spec.var <= 0:
        return None
    cells, sums = structure
    where = np.full(len(order), -1, dtype=np.intp)  # table row -> position in the statistic
    where[spec.positions] = np.arange(spec.n)
    index = where[order]  # sampler CCG -> position in the statistic (-1: not analysed)
    base = np.zeros(spec.n, dtype=np.int8)
    base[index[(np.asarray(s15) == DELEGATED) & (index >= 0)]] = 1
    out: dict[str, list[np.ndarray]] = {"z": [], "diff": []}
    for sign in (-1.0, 1.0):
        best, back = _programme(cells, sums, index, sign * spec.x)
        for key in out:
            choice = _choose(best, sums, base, spec, sign, key)
            if choice is None:
                return None
            out[key].append(_labelling(cells, back, choice, index, sign * spec.x, base))
    return _Exact(z=(out["z"][0], out["z"][1]), diff=(out["diff"][0], out["diff"][1]))


def _programme(cells: list, sums: set[int], index: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list]:
    """best[s, c]: the largest sum of ``y`` over analysed open CCGs delegated, with s delegated open CCGs in all
    (c of them analysed), over the regions' quotas; and the choices, to follow back."""
    options = [_region_options(a, b, w, index, y) for a, b, w in cells]
    top_s = max(sums)
    top_c = sum(int((index[a] >= 0).sum() + (index[b] >= 0).sum()) for a, b, _ in cells)
    best = np.full((top_s + 1, top_c + 1), -np.inf)
    best[0, 0] = 0.0
    back = []
    for opts in options:
        items = [(key, val) for key, val in opts.items() if key[0] <= top_s]
        new = np.full_like(best, -np.inf)
        arg = np.full(best.shape, -1, dtype=np.intp)
        for i, ((s, c), (val, _, _)) in enumerate(items):
            cand = best[:top_s + 1 - s, :top_c + 1 - c] + val
            target, targ = new[s:, c:], arg[s:, c:]
            better = cand > target
            target[better], targ[better] = cand[better], i
        back.append((items, arg))
        best = new
    return best, back


def _choose(best: np.ndarray, sums: set[int], base: np.ndarray, spec: _Difference, sign: float,
            key: str) -> tuple[int, int] | None:
    """The (s, c) of the programme with the largest (sign +1) or smallest (-1) difference or z."""
    n_known, s_known = int(base.sum()), float(spec.x[base == 1].sum())
    choice, chosen = None, -np.inf
    for s in sorted(sums):
        for c in np.flatnonzero(np.isfinite(best[s])):
            nd, total = n_known + int(c), s_known + sign * float(best[s, c])
            if not 0 < nd < spec.n:
                continue
            diff = total / nd - (spec.total - total) / (spec.n - nd)
            value = diff / math.sqrt(spec.n**2 * spec.var / (nd * (spec.n - nd) * (spec.n - 1))) if key == "z" \
                else diff
            if sign * value > chosen:
                choice, chosen = (s, int(c)), sign * value
    return choice


def _labelling(cells: list, back: list, choice: tuple[int, int], index: np.ndarray, y: np.ndarray,
               base: np.ndarray) -> np.ndarray:
    """Follow the programme back: each region's analysed CCGs given delegation, best first."""
    lab = base.copy()
    s, c = choice
    for (a, b, _), (items, arg) in zip(reversed(cells), reversed(back)):
        (ds, dc), (_, ca, cb) = items[int(arg[s, c])]
        for cell, k in ((a, ca), (b, cb)):
            inside = cell[index[cell] >= 0]
            top = inside[np.argsort(-y[index[inside]], kind="stable")][:k]
            lab[index[top]] = 1
        s, c = s - ds, c - dc
    return lab


# --- one statistic over the completions -------------------------------------------------------------------


def _summary(evals: list[_Eval], n_ccgs: int, agree: np.ndarray) -> CompletionSummary:
    ran = [e for e in evals if e.reason is None]
    reasons: dict[str, int] = {}
    for e in evals:
        if e.reason is not None:
            reasons[e.reason] = reasons.get(e.reason, 0) + 1
    if not ran:
        nan = math.nan
        return CompletionSummary(0, n_ccgs, nan, nan, nan, nan, nan, nan, nan, len(evals), reasons, nan)
    v = np.array([e.value for e in ran])
    p = np.array([e.p for e in ran])
    q = np.percentile(v, [50, 5, 95])
    qp = np.percentile(p, [50, 5, 95])
    return CompletionSummary(len(ran), n_ccgs, float(q[0]), float(q[1]), float(q[2]), float(qp[0]), float(qp[1]),
                             float(qp[2]), float((p < ALPHA).mean()), len(evals) - len(ran), reasons,
                             float(agree.mean()) if len(agree) else math.nan)


def _agrees(e: _Eval, known: KnownOnly, directional: bool) -> bool:
    if e.reason is not None or known.significant is None:
        return False
    sig = e.p < ALPHA
    return sig == known.significant and not (directional and sig and e.sign != known.direction)


@dataclass(frozen=True, eq=False)
class _Candidate:
    eval: _Eval
    score: float
    found_by: str
    draw: int | None = None
    who: np.ndarray | None = None


def _pick(cands: list[_Candidate], low: bool) -> _Candidate | None:
    ran = [c for c in cands if c.eval.reason is None]
    if not ran:
        return None

    def key(c: _Candidate) -> tuple[float, float, int]:
        score = c.score if math.isfinite(c.score) else -math.inf
        exact = int(c.found_by == "exact")
        return (c.eval.p, -score, -exact) if low else (-c.eval.p, score, -exact)

    return min(ran, key=key)


def _searched(spec: _Spec, prob: _Problem, fmap: np.ndarray, evals: list[_Eval], scores: np.ndarray,
              rng: np.random.Generator) -> list[_Candidate]:
    """End points of the climbs, down and up, from the most extreme draws and one other draw each way."""
    ran = [i for i, e in enumerate(evals) if e.reason is None]
    if not ran or not len(prob.pair_i):
        return []
    p = np.array([evals[i].p for i in ran])
    s = np.nan_to_num(scores[ran], nan=-np.inf)
    out = []
    for direction in (1, -1):
        if (direction == 1 and p.min() <= spec.floor + 1e-12) or (direction == -1 and p.max() >= 1 - 1e-12):
            continue  # the p-value cannot go further that way
        order = np.lexsort((-s, p)) if direction == 1 else np.lexsort((s, -p))
        starts = [ran[i] for i in order[: RESTARTS - 1]]
        rest = [ran[i] for i in order[RESTARTS - 1:]]
        if rest:
            starts.append(rest[int(rng.integers(len(rest)))])
        for d in dict.fromkeys(starts):
            f, who = _climb(spec, fmap[prob.labels[d]], prob, direction, rng)
            lab = f[spec.positions]
            out.append(_Candidate(spec.evaluate(lab), float(spec.score(lab[None, :])[0]), "search", d, who))
    return out


def _extreme(c: _Candidate | None, prob: _Problem) -> Extreme | None:
    if c is None:
        return None
    levels = None
    if c.draw is not None:
        levels = prob.completion(c.draw, c.who if c.who is not None else np.arange(prob.codes.shape[1]))
    return Extreme(c.eval.value, c.eval.p, c.found_by, c.found_by == "exact", levels)


def _one(spec: _Spec, known: KnownOnly, prob: _Problem, sampler: CompletionSampler, seed: int) -> StatisticResult:
    fmap = _BINARY if spec.binary else _FULL[prob.year]
    labs = fmap[prob.labels][:, spec.positions]
    evals = [spec.evaluate(lab) for lab in labs]
    scores = spec.score(labs) if len(labs) and spec.n else np.full(len(labs), np.nan)
    tested = np.array([e.reason is None for e in evals], dtype=bool)
    agree = np.array([_agrees(e, known, spec.directional) for e, t in zip(evals, tested)
                      if t and known.significant is not None], dtype=bool)
    rng = np.random.default_rng([int(seed), STATISTICS.index(spec.name)])
    cands = [_Candidate(e, float(sc), "search", d) for d, (e, sc) in enumerate(zip(evals, scores))]
    cands += _searched(spec, prob, fmap, evals, scores, rng)
    exact = _exact_delegation(sampler, spec, prob.order) if isinstance(spec, _Difference) and prob.year == 2015 \
        else None
    bounds = None
    if exact is not None:
        found = [_Candidate(spec.evaluate(lab), float(spec.score(lab[None, :])[0]), "exact")
                 for lab in (*exact.z, *exact.diff)]
        cands += [c for c in found if c.eval.reason is None]
        bounds = (found[2], found[3])
    low, high = _pick(cands, low=True), _pick(cands, low=False)
    extra = [c for c in cands[len(evals):] if c.eval.reason is None]
    extremes_agree = all(_agrees(c.eval, known, spec.directional) for c in [low, high, *extra] if c is not None)
    summary = _summary(evals, spec.n, agree)
    span = (low.eval.p, high.eval.p) if low is not None and high is not None else None
    verdict = _verdict(known, summary, extremes_agree, span, len(evals))
    return StatisticResult(
        name=spec.name, label=LABELS[spec.name], finding=finding(spec.name, known), known_only=known,
        completions=summary, low=_extreme(low, prob), high=_extreme(high, prob), verdict=verdict,
        exact_range=None if bounds is None or any(c.eval.reason for c in bounds) else (
            _extreme(bounds[0], prob), _extreme(bounds[1], prob)),
        values=tuple(e.value for e in evals), p_values=tuple(e.p for e in evals))


# --- words --------------------------------------------------------------------------------------------------

_FINDINGS = {
    "join_counts.full": ("Neighbouring CCGs chose the same level more often than chance",
                         "No evidence that neighbouring CCGs chose the same level more often than chance"),
    "join_counts.binary": ("Neighbouring CCGs shared delegation (or its absence) more often than chance",
                           "No evidence that neighbouring CCGs shared delegation more often than chance"),
    "concordance.full": ("CCGs of the same area team chose the same level more often than chance",
                         "No evidence that area team predicted the level chosen"),
    "concordance.binary": ("CCGs of the same area team shared delegation more often than chance",
                           "No evidence that area team predicted delegation"),
    "deprivation.full": ("Deprivation differed between levels",
                         "No evidence that deprivation differed between levels"),
}


def finding(name: str, known: KnownOnly) -> str:
    """The known-only finding in words: what the panel would say, significant at 0.05 or not."""
    if known.not_run is not None:
        return f"{LABELS[name]}: not testable on the known CCGs alone"
    if name == "deprivation.binary":
        if known.significant:
            return f"Delegated CCGs were {'more' if known.direction > 0 else 'less'} deprived than the others"
        no = "No evidence that delegated CCGs differed in deprivation from the others"
    else:
        yes, no = _FINDINGS[name]
        if known.significant:
            return yes
    # graded as the panel grades it: p from 0.05 to 0.10 is weak evidence, not "no evidence"
    if math.isfinite(known.p) and known.p < 0.10:
        return no.replace("No evidence", "Only weak evidence (not significant at 0.05)", 1)
    return no


def _reasons(summary: CompletionSummary) -> str:
    return ", ".join(f"{_REASON_WORDS.get(r, r)}: {k}" for r, k in sorted(summary.not_run_reasons.items()))


def percent(share: float) -> str:
    """A share as a whole percentage that never rounds to 100% (or 0%) unless it is exactly that."""
    pct = 100 * share
    return f"{math.floor(pct) if pct > 50 else math.ceil(pct)}%"


def _verdict(known: KnownOnly, s: CompletionSummary, extremes_agree: bool, span: tuple[float, float] | None,
             drawn: int) -> Verdict:
    """A code and plain words; percentages are of the completions tested, ``span`` the extremes' p."""
    untested = f"; {plural(s.not_run, 'completion')} could not be tested ({_reasons(s)})" if s.not_run else ""
    extremes = f"extremes: {fmt_p(span[0])} and {fmt_p(span[1])}" if span else "no extremes"
    share, what = s.share_agree, f"{s.n} completions" if not s.not_run else f"{s.n} of {drawn} completions"
    if known.not_run is not None:
        head = f"cannot be tested on the known CCGs alone ({known.words_not_run})"
        if not s.n:
            return Verdict("not_run", f"{head}, nor on any of the {drawn} completions ({_reasons(s)})")
        return Verdict("not_run", f"{head}; p < 0.05 in {percent(s.share_p_below_05)} of the {s.n} completions "
                                  f"tested ({extremes}){untested}")
    if s.n == 0:
        return Verdict("untested", f"{VERDICTS['untested']} (of {drawn}: {_reasons(s)})")
    if share == 1.0 and extremes_agree and span is not None:
        return Verdict("holds", f"{VERDICTS['holds']} ({what} and both extremes){untested}")
    if share == 1.0:
        return Verdict("most", f"{VERDICTS['most']} (100% of {what}) but not in every admissible one "
                               f"({extremes}){untested}")
    if share >= 0.5:
        return Verdict("most", f"{VERDICTS['most']} ({percent(share)} of {what}), but not in all ({extremes})"
                               f"{untested}")
    return Verdict("depends", f"{VERDICTS['depends']} (holds in {percent(share)} of {what}; {extremes})"
                              f"{untested}")


def headline(result: RobustResult, name: str | None = None) -> str:
    """One line for a slide: a finding, its known-only p and its verdict.

    Without ``name``, the strongest known-only finding that was tested (significant ones first, lowest p).
    """
    stats = [s for s in result.statistics if name is None or s.name == name]
    if not stats:
        raise KeyError(name)
    tested = [s for s in stats if s.known_only.not_run is None] or stats
    s = min(tested, key=lambda r: (not r.known_only.significant,
                                   r.known_only.p if math.isfinite(r.known_only.p) else 2.0))
    if s.known_only.not_run is not None:
        return f"{s.label}: {s.verdict.words}."
    return f"{s.finding} (known CCGs: {fmt_p(s.known_only.p)}): {s.verdict.words}."


# --- known-only results, as the panel computes them ---------------------------------------------------------


def _known_only(summary: analysis.Summary) -> dict[str, KnownOnly]:
    """The panel's values for each statistic, with p and the reason when not run."""
    def make(value: float, p: float, n: int, why: NotRun | None, view: str, direction: int = 0,
             subject: str = "CCGs of known level") -> KnownOnly:
        if why is not None:
            return KnownOnly(float(value), math.nan, int(n), why.reason, None, 0, why_not_run(why, view, subject))
        return KnownOnly(float(value), float(p), int(n), None, bool(p < ALPHA), direction)

    f, b, d = summary.full, summary.binary, summary.deprivation
    dep_n = d.n_delegated + d.n_not_delegated
    subject = "CCGs of known level with an IMD score" if d.n_missing_imd else "CCGs of known level"
    sign = int(np.sign(d.diff)) if math.isfinite(d.diff) else 0
    return {
        "join_counts.full": make(f.join_counts.total_observed, f.join_counts.total_p_cluster,
                                 f.join_counts.coverage.n_used, f.join_counts.not_run, "full"),
        "join_counts.binary": make(b.join_counts.total_observed, b.join_counts.total_p_cluster,
                                   b.join_counts.coverage.n_used, b.join_counts.not_run, "binary"),
        "concordance.full": make(f.concordance.cramers_v, f.concordance.p_value, f.concordance.coverage.n_used,
                                 f.concordance.not_run, "full"),
        "concordance.binary": make(b.concordance.cramers_v, b.concordance.p_value, b.concordance.coverage.n_used,
                                   b.concordance.not_run, "binary"),
        "deprivation.binary": make(d.diff, d.diff_p_two_sided, dep_n, d.diff_not_run, "binary", sign, subject),
        "deprivation.full": make(d.kruskal_h, d.kruskal_p, dep_n, d.kruskal_not_run, "full", 0, subject),
    }


# --- the pure entry point -----------------------------------------------------------------------------------


def _levels_table(table: pd.DataFrame) -> pd.DataFrame:
    need = ["ods_code", "region", "area_team", "imd_score", "level_2015", "level_2016"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ValueError(f"table needs columns {need}: missing {missing}")
    if table["ods_code"].duplicated().any():
        raise ValueError("table has duplicate ods_code values")
    out = table.copy()
    out.index = out.index.map(str)
    return out


def _draws_in_table_order(table: pd.DataFrame, sampler: CompletionSampler, draws: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """The draws (draws, CCGs, 2) with CCGs in table order, and the table row of each sampler CCG."""
    pos = {str(o): i for i, o in enumerate(table["ods_code"].astype(str))}
    if sorted(pos) != sorted(map(str, sampler.ods_codes)):
        raise ValueError("the sampler was built for other CCGs than the table's")
    order = np.array([pos[str(o)] for o in sampler.ods_codes], dtype=np.intp)
    codes = np.empty((draws.shape[0], len(table), 2), dtype=np.int8)
    codes[:, order, :] = draws
    return codes, order


def robust_statistics(
    table: pd.DataFrame,
    neighbours: Mapping[str, Sequence[str]],
    constraints: Sequence[Constraint],
    year: int,
    *,
    mask: np.ndarray | None = None,
    never_delegated_2015: Iterable[str] = (),
    completions: int = 200,
    seed: int = 1,
    permutations: int = PERMUTATIONS,
    evidence: str = "any",
    description: str = "England",
    filters: Mapping[str, Any] | None = None,
    sampler: CompletionSampler | None = None,
    draws: np.ndarray | None = None,
    tables: PermutationTables | None = None,
    known_tables: PermutationTables | None = None,
) -> RobustResult:
    """Every statistic of the clustering panel for one view, on the known CCGs and over admissible completions.

    Parameters
    ----------
    table : DataFrame indexed by CCG code with ods_code, region, area_team, imd_score, level_2015, level_2016
        (levels as the evidence choice admits them, others ``unknown``) and optionally population.
    neighbours : CCG code -> neighbouring codes.
    constraints : published totals (:func:`geodata.totals.read_constraints`).
    year : 2015 or 2016.
    mask : boolean per row of ``table``: the filter (default: every CCG).
    never_delegated_2015 : ODS codes newly authorised for April 2016.
    completions, seed : how many completions to draw and the seed of the draws, search and relabellings.
    permutations : relabellings per completion.
    sampler, draws, tables, known_tables : the caller's cached sampler, ``sampler.draw_array(completions,
        seed)``, and relabelling stores (made here when None).

    Returns
    -------
    RobustResult

    Examples
    --------
    >>> codes = [f"E{i:02d}" for i in range(8)]
    >>> t = pd.DataFrame({"ods_code": codes, "region": ["North"] * 8, "area_team": ["A"] * 4 + ["B"] * 4,
    ...                   "imd_score": [30.0, 28, 26, 24, 12, 10, 8, 6],
    ...                   "level_2015": ["joint"] * 8, "level_2016": ["delegated"] * 3 + ["unknown"] + ["joint"] * 4},
    ...                  index=codes)
    >>> nb = {c: [d for d in codes if abs(int(c[1:]) - int(d[1:])) == 1] for c in codes}
    >>> cs = [Constraint(2016, "England", "delegated", 4, 4, ("X",), "")]
    >>> r = robust_statistics(t, nb, cs, 2016, completions=20)
    >>> r.statistic("deprivation.binary").completions.median
    18.0
    >>> r.statistic("deprivation.binary").low.found_by
    'search'
    """
    table = _levels_table(table)
    mask = np.ones(len(table), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != (len(table),):
        raise ValueError("mask must have one entry per row of table")
    never = set(never_delegated_2015)
    sampler = sampler if sampler is not None else CompletionSampler(table, constraints, never)
    draws = draws if draws is not None else sampler.draw_array(int(completions), int(seed))
    tables = tables if tables is not None else PermutationTables(max_entries=2)
    known = analysis.summarise(
        table[f"level_{year}"], neighbours, table["area_team"], table["imd_score"],
        table["population"] if "population" in table.columns else None, mask=mask, year=year,
        permutations=KNOWN_PERMUTATIONS, seed=KNOWN_SEED,
        tables=known_tables if known_tables is not None else PermutationTables(max_entries=2))
    codes, order = _draws_in_table_order(table, sampler, draws)
    pair_i, pair_j = _pairs(swap_groups(ccg_states(table, never), table))
    prob = _Problem(year, _specs(table, neighbours, mask, tables, int(permutations), int(seed)), codes,
                    pair_i, pair_j, order, table["ods_code"].astype(str).to_numpy())
    known_only = _known_only(known)
    stats = tuple(_one(spec, known_only[spec.name], prob, sampler, int(seed)) for spec in prob.specs)
    given = table.loc[mask, f"level_{year}"].astype(str)
    counts = {"n_selected": int(mask.sum()), "n_known": int((given != UNKNOWN).sum()),
              "n_unknown": int((given == UNKNOWN).sum()), "n_not_delegated": int((given == NOT_DELEGATED).sum())}
    return RobustResult(year=int(year), evidence=evidence, description=description, filters=dict(filters or {}),
                        **counts, completions=int(draws.shape[0]), seed=int(seed), permutations=int(permutations),
                        known_permutations=KNOWN_PERMUTATIONS, statistics=stats)


# --- the service: cached sampler, draws and results ---------------------------------------------------------


def constraints_of(service: AtlasService) -> list[Constraint]:
    """The published totals as the atlas build reconciled them (``atlas.bounds``), else from the raw sources."""
    def make() -> list[Constraint]:
        b = service.atlas.bounds
        if b is None or b.empty:
            return read_constraints()
        return [Constraint(int(r.year), str(r.scope), str(r.level), int(r.lo), int(r.hi),
                           tuple(s.strip() for s in str(r.sources).split(",") if s.strip()), "")
                for r in b.itertuples(index=False)]

    return service.derived("robust.constraints", make)


def evidence_table(service: AtlasService, evidence: str) -> pd.DataFrame:
    """The atlas table with ``level_2015`` / ``level_2016`` as the evidence choice admits them (made once)."""
    def make() -> pd.DataFrame:
        t = service.table
        cols = [c for c in ("ods_code", "region", "area_team", "imd_score", "population") if c in t.columns]
        out = t[cols].copy()
        for year in (2015, 2016):
            out[f"level_{year}"] = t[level_column(year, evidence)].astype(str).to_numpy()
        return out

    return service.derived(f"robust.table.{evidence}", make)


def never_delegated(service: AtlasService) -> frozenset[str]:
    """CCGs newly authorised for April 2016 (so not delegated in 2015/16), from the atlas's level rows."""
    return service.derived("robust.never", lambda: frozenset(newly_authorised_2016(service.atlas.level_rows)))


def sampler_for(service: AtlasService, evidence: str = "any") -> CompletionSampler:
    """The completion sampler of an atlas and evidence choice, built once per service."""
    return service.derived(f"robust.sampler.{evidence}", lambda: CompletionSampler(
        evidence_table(service, evidence), constraints_of(service), never_delegated(service)))


def draws_for(service: AtlasService, evidence: str, completions: int, seed: int) -> np.ndarray:
    """``sampler_for(...).draw_array(completions, seed)``, cached per service (a few, bounded)."""
    cache = service.derived("robust.draws", lambda: BoundedCache(8))
    return cache.get_or_make((evidence, int(completions), int(seed)),
                             lambda: sampler_for(service, evidence).draw_array(int(completions), int(seed)))


def results_cache(service: AtlasService) -> BoundedCache[RobustResult]:
    """The service's cache of robust results: its own named cache when it has one, else a derived one."""
    if "robust" in service.caches:
        return service.cache("robust")
    return service.derived("robust.cache", lambda: BoundedCache(128))


def robust_for(service: AtlasService, state: ViewState, completions: int = 200, seed: int = 1) -> RobustResult:
    """Robust statistics for a view state's year, filters and evidence; repeated states come from the cache."""
    key = filters_only(state)

    def make() -> RobustResult:
        view = service.view(key)
        filters = {"area_teams": list(key.area_teams), "regions": list(key.regions), "imd": list(key.imd)}
        return robust_statistics(
            evidence_table(service, key.evidence), service.atlas.neighbours, constraints_of(service), key.year,
            mask=view.mask, never_delegated_2015=never_delegated(service), completions=completions, seed=seed,
            evidence=key.evidence, description=describe(key), filters=filters,
            sampler=sampler_for(service, key.evidence), draws=draws_for(service, key.evidence, completions, seed),
            tables=service.derived("robust.permutations", lambda: PermutationTables(max_entries=8)),
            known_tables=service.derived("analysis.permutations", lambda: PermutationTables()))

    return results_cache(service).get_or_make((key, int(completions), int(seed)), make)


__all__ = [
    "ALPHA", "PERMUTATIONS", "STATISTICS", "VERDICTS", "CompletionSummary", "Extreme", "KnownOnly",
    "RobustResult", "StatisticResult", "Verdict", "constraints_of", "draws_for", "evidence_table", "finding",
    "headline", "never_delegated", "percent", "results_cache", "robust_for", "robust_statistics", "sampler_for",
    "swap_groups",
]
