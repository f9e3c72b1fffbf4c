"""The statistics (six of clustering and deprivation, two of size) on integer labels, exact (permutation p)
and smooth (for the search), and the problem of one view: which CCGs, which constraint groups may swap levels."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.analysis import MIN_KNOWN
from dashboard.analysis._selection import edges
from dashboard.completions import CODES
from dashboard.robust.exact import ALPHA, FEW_CELLS, MARGIN_SE, NullCache, Relabellings
from dashboard.robust.terms import _OPEN, _REASON_WORDS


@dataclass(frozen=True)
class _Eval:
    """One labelling's statistic: value, p (with its Monte Carlo error ``se``, 0 when ``exact``), direction,
    the reason it could not be tested (``cannot_reject``: no labelling with these counts gives p < 0.05) and
    the smallest attainable p (NaN when the labellings are too many to list)."""

    value: float
    p: float
    sign: int = 0
    reason: str | None = None
    se: float = 0.0
    exact: bool = False
    p_min: float = math.nan


_NOT = {r: _Eval(math.nan, math.nan, 0, r) for r in _REASON_WORDS}


class Evals:
    """Every row of a batch evaluated at once: arrays of value, p, se, exact, p_min, sign and reasons."""

    def __init__(self, n: int) -> None:
        nan = np.full(n, np.nan)
        self.value, self.p, self.se, self.p_min = nan.copy(), nan.copy(), nan.copy(), nan.copy()
        self.exact = np.zeros(n, dtype=bool)
        self.sign = np.zeros(n, dtype=np.int64)
        self.reason: list[str | None] = [None] * n

    def __len__(self) -> int:
        return len(self.reason)

    @property
    def tested(self) -> np.ndarray:
        return np.array([r is None for r in self.reason], dtype=bool)

    def extend(self, other: Evals) -> Evals:
        """These rows followed by ``other``'s."""
        out = Evals(0)
        for name in ("value", "p", "se", "p_min", "exact", "sign"):
            setattr(out, name, np.concatenate([getattr(self, name), getattr(other, name)]))
        out.reason = self.reason + other.reason
        return out

    def row(self, i: int) -> _Eval:
        return _Eval(float(self.value[i]), float(self.p[i]), int(self.sign[i]), self.reason[i], float(self.se[i]),
                     bool(self.exact[i]), float(self.p_min[i]))


def _row_counts(batch: np.ndarray, k: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Per row of ``batch`` (C, n) the count (or weight sum) of each label 0..k-1: (C, k)."""
    c = batch.shape[0]
    offs = batch.astype(np.intp)  # a copy, offset in place: one (C, n) array fewer
    offs += k * np.arange(c, dtype=np.intp)[:, None]
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
    #: Cells (count vectors x CCGs x relabellings) of precise Monte Carlo this statistic may spend (exact.FEW_CELLS)
    budget = FEW_CELLS

    def __init__(self, name: str, binary: bool, positions: np.ndarray, tables: Relabellings | None) -> None:
        self.name, self.binary, self.positions, self.tables = name, binary, positions, tables
        self.n = len(positions)
        self.k = 2 if binary else 4
        self.floor = 0.0
        self._null: NullCache | None = None

    def check(self, lab: np.ndarray) -> str | None:
        if self.n < MIN_KNOWN:
            return "too_few_known"
        if lab.min() == lab.max():
            return "one_level"
        return None

    def check_all(self, batch: np.ndarray) -> list[str | None]:
        """:meth:`check` of every row at once. A row's reason depends on the row only through whether it has one
        level (the others are the statistic's own), so ``check`` is asked of one row of each kind; a statistic
        whose ``check`` looks further into a row must override this."""
        if not batch.shape[1]:  # no CCG to label (a size test on a table without populations): no kinds
            return [self.check(row) for row in batch]
        one = (batch.min(axis=1) == batch.max(axis=1)).tolist()
        words = {kind: self.check(batch[one.index(kind)]) for kind in set(one)}
        return [words[kind] for kind in one]

    def stat(self, batch: np.ndarray) -> np.ndarray:
        """The test statistic of every row (larger = more extreme), for the permutation p."""
        raise NotImplementedError

    def value(self, batch: np.ndarray) -> np.ndarray:
        """The reported value of every row (the statistic unless a subclass says otherwise)."""
        return self.stat(batch)

    def tolerance(self) -> float:
        return 1e-9

    def null(self) -> NullCache:
        """This call's null distributions (one per count vector), made on first use."""
        if self._null is None:
            rel = self.tables if self.tables is not None else Relabellings(self.n, 0)
            self._null = NullCache(self.stat, self.n, self.k, rel, self.tolerance(), self.budget)
        return self._null

    def evaluate_all(self, batch: np.ndarray, precise: bool = False) -> Evals:
        """Value, p and smallest attainable p of every row of ``batch`` (C, n), at once (``precise``: see
        :meth:`dashboard.robust.exact.NullCache.p_values`)."""
        out = Evals(len(batch))
        if not len(batch):
            return out
        reasons = self.check_all(batch) if self.n else ["too_few_known"] * len(batch)
        ok = np.array([r is None for r in reasons], dtype=bool)
        out.reason = reasons
        if ok.any():
            rows = batch[ok]
            pv = self.null().p_values(rows, precise)
            out.value[ok], out.p[ok], out.se[ok], out.exact[ok], out.p_min[ok] = (
                self.value(rows), pv.p, pv.se, pv.exact, pv.p_min)
            out.sign[ok] = self.signs(rows)
            for i in np.flatnonzero(ok)[pv.p_min >= ALPHA - 1e-12]:
                out.reason[i] = "cannot_reject"
        return out

    def signs(self, batch: np.ndarray) -> np.ndarray:
        return np.ones(len(batch), dtype=np.int64)

    def evaluate(self, lab: np.ndarray) -> _Eval:
        """One labelling, with a precise p (it decides on its own: the known CCGs, an extreme, a proof)."""
        return self.evaluate_all(np.asarray(lab)[None, :], precise=True).row(0)

    def score(self, batch: np.ndarray) -> np.ndarray:
        """Higher = stronger evidence (lower p); NaN where the test cannot be run."""
        raise NotImplementedError


class _Join(_Spec):
    kind = "join_counts"

    def __init__(self, name: str, binary: bool, positions: np.ndarray, tables: Relabellings | None,
                 ei: np.ndarray, ej: np.ndarray) -> None:
        super().__init__(name, binary, positions, tables)
        self.ei, self.ej = ei, ej
        deg = np.bincount(np.concatenate([ei, ej]), minlength=self.n).astype(float)
        self.m, self.s2 = float(len(ei)), float((deg * (deg - 1)).sum())

    def check(self, lab: np.ndarray) -> str | None:
        return super().check(lab) or ("no_pairs" if self.m == 0 else None)

    def stat(self, batch: np.ndarray) -> np.ndarray:
        """Same-level neighbour pairs (one-sided: more pairs = stronger clustering)."""
        return np.count_nonzero(batch[:, self.ei] == batch[:, self.ej], axis=1).astype(float)

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

    def __init__(self, name: str, binary: bool, positions: np.ndarray, tables: Relabellings | None,
                 tidx: np.ndarray, r: int) -> None:
        super().__init__(name, binary, positions, tables)
        self.tidx, self.r = tidx, r
        self.rows = np.bincount(tidx, minlength=r).astype(float)


    def check(self, lab: np.ndarray) -> str | None:
        return super().check(lab) or ("one_team" if self.r < 2 else None)

    def _chi2(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, k, r = batch.shape[0], self.k, self.r
        tab = _row_counts(self.tidx[None, :] * k + batch, r * k).reshape(c, r, k).astype(float)
        col = tab.sum(1)
        expected = self.rows[None, :, None] * col[:, None, :] / self.n
        with np.errstate(divide="ignore", invalid="ignore"):
            chi2 = np.where(expected > 0, tab**2 / expected, 0.0).sum((1, 2)) - self.n
        return chi2, (col > 0).sum(1)

    def stat(self, batch: np.ndarray) -> np.ndarray:
        """Chi-squared of the team x level table (V is a fixed increasing function of it per count vector)."""
        return self._chi2(batch)[0]

    def value(self, batch: np.ndarray) -> np.ndarray:
        """Cramér's V."""
        chi2, levels = self._chi2(batch)
        denom = self.n * (np.minimum(self.r, levels) - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(np.clip(chi2, 0, None) / denom)

    def tolerance(self) -> float:
        return 1e-9 * max(1.0, float(self.n))

    def score(self, batch: np.ndarray) -> np.ndarray:
        if self.n < MIN_KNOWN or self.r < 2:
            return np.full(batch.shape[0], np.nan)
        chi2, levels = self._chi2(batch)
        return _wilson_hilferty(chi2, (self.r - 1) * (levels - 1))


class _Difference(_Spec):
    kind = "deprivation.binary"
    directional = True
    budget = 6 * FEW_CELLS  # a matrix product per relabelling: cheap, and its few count vectors hold many draws

    def __init__(self, name: str, positions: np.ndarray, tables: Relabellings | None, x: np.ndarray) -> None:
        super().__init__(name, True, positions, tables)
        self.x, self.total = x, float(x.sum())
        self.var = float(x.var()) if len(x) else 0.0

    def check(self, lab: np.ndarray) -> str | None:
        return super().check(lab) or ("same_imd" if np.ptp(self.x) == 0 else None)

    def value(self, batch: np.ndarray) -> np.ndarray:
        """Mean IMD of delegated minus the rest (signed)."""
        is_del = (batch == 1).astype(float)
        nd = is_del.sum(1)
        s = is_del @ self.x
        with np.errstate(divide="ignore", invalid="ignore"):
            return s / nd - (self.total - s) / (self.n - nd)

    def stat(self, batch: np.ndarray) -> np.ndarray:
        """|difference| (two-sided)."""
        return np.abs(self.value(batch))

    def signs(self, batch: np.ndarray) -> np.ndarray:
        return np.sign(self.value(batch)).astype(np.int64)

    def tolerance(self) -> float:
        return 1e-9 * max(1.0, float(np.abs(self.x).max()) if len(self.x) else 1.0)

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

    def __init__(self, name: str, positions: np.ndarray, tables: Relabellings | None, x: np.ndarray) -> None:
        super().__init__(name, False, positions, tables)
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

    def stat(self, batch: np.ndarray) -> np.ndarray:
        """Tie-corrected H; its p is a permutation p (exact where the labellings can be listed), not the
        chi-squared approximation, which is poor on a few CCGs."""
        return self.h(batch)[0]

    def tolerance(self) -> float:
        return 1e-9 * max(1.0, float(self.n))

    def score(self, batch: np.ndarray) -> np.ndarray:
        if self.n < MIN_KNOWN or self.tie <= 0:
            return np.full(len(batch), np.nan)
        h, dof = self.h(batch)
        return _wilson_hilferty(h, dof)


#: Relabellings for a single decisive p (the known CCGs, an extreme, a proof's end) that the sequential stages
#: left within (MARGIN_SE + 1) Monte Carlo errors of 0.05, counted in chunks of SHARPEN_CHUNK.
SHARPEN, SHARPEN_CHUNK = 99_999, 10_000


class _Sharpened(_Spec):
    """A statistic whose single decisive p is taken to :data:`SHARPEN` relabellings when it is still near 0.05,
    so its decision (and the verdict it feeds) does not move with the seed: at p = 0.04 the error is 0.0006."""

    def evaluate(self, lab: np.ndarray) -> _Eval:
        e = super().evaluate(lab)
        if e.reason is not None or e.exact or abs(e.p - ALPHA) > (MARGIN_SE + 1) * e.se or self.tables is None:
            return e
        lab = np.asarray(lab)
        obs = float(self.stat(lab[None, :])[0])
        perm = self.tables.first(SHARPEN)
        ge = sum(int(np.count_nonzero(self.stat(lab[perm[i:i + SHARPEN_CHUNK]]) >= obs - self.tolerance()))
                 for i in range(0, SHARPEN, SHARPEN_CHUNK))
        p = (ge + 1) / (SHARPEN + 1)
        return _Eval(e.value, p, e.sign, None, math.sqrt(p * (1 - p) / SHARPEN), False, e.p_min)


class _SizeDifference(_Sharpened, _Difference):
    """Mean population of delegated minus the rest (HSJ's size question): the deprivation difference on another
    variable, so the exact extremes and the optimisation proof of 2015/16 apply to it unchanged."""

    kind = "size.binary"

    def check(self, lab: np.ndarray) -> str | None:
        return _Spec.check(self, lab) or ("same_population" if np.ptp(self.x) == 0 else None)


class _SizeKruskal(_Sharpened, _Kruskal):
    """Kruskal-Wallis H of population across levels (permutation p, exact where the labellings can be listed)."""

    kind = "size.full"

    def check(self, lab: np.ndarray) -> str | None:
        return _Spec.check(self, lab) or ("same_population" if np.ptp(self.x) == 0 else None)


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
           store: dict[int, Relabellings] | None, seed: int) -> tuple[_Spec, ...]:
    """The statistics on the CCGs of ``mask`` (size: those with a population); ``store`` holds this call's
    relabellings per number of CCGs."""
    store = {} if store is None else store

    def rel(n: int) -> Relabellings:
        if n not in store:
            store[n] = Relabellings(n, seed)
        return store[n]

    pos = _sorted_positions(table, mask)
    codes = table.index.to_numpy().astype(str)[pos]
    ei, ej = edges(codes, neighbours)
    teams = table["area_team"].astype(str).to_numpy()[pos]
    names, tidx = np.unique(teams, return_inverse=True)
    x_all = pd.to_numeric(table["imd_score"], errors="coerce").to_numpy(dtype=float)
    dep = _sorted_positions(table, mask & np.isfinite(x_all))
    x = x_all[dep]
    tab, tab_dep = rel(len(pos)), rel(len(dep))
    tidx = tidx.astype(np.int64)
    pop_all = (pd.to_numeric(table["population"], errors="coerce").to_numpy(dtype=float)
               if "population" in table.columns else np.full(len(table), np.nan))
    size = _sorted_positions(table, mask & np.isfinite(pop_all) & (pop_all > 0))
    return (
        _Join("join_counts.full", False, pos, tab, ei, ej),
        _Join("join_counts.binary", True, pos, tab, ei, ej),
        _Concordance("concordance.full", False, pos, tab, tidx, len(names)),
        _Concordance("concordance.binary", True, pos, tab, tidx, len(names)),
        _Difference("deprivation.binary", dep, tab_dep, x),
        _Kruskal("deprivation.full", dep, tab_dep, x),
        _SizeDifference("size.binary", size, rel(len(size)), pop_all[size]),
        _SizeKruskal("size.full", size, rel(len(size)), pop_all[size]),
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
