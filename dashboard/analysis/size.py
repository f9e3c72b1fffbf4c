"""Size by level: were larger (or smaller) CCGs more likely to take delegation? (HSJ's fourth question)

HSJ reported "no link between CCGs' size and their decision". Size is the CCG's resident population (ONS mid-2015,
the atlas's ``population`` column). Two tests, as for deprivation (:mod:`~dashboard.analysis.deprivation`):

* delegated or not: the difference in mean population, delegated minus the rest, with a two-sided permutation p;
* the full levels: Kruskal-Wallis H on population ranks (a few very large CCGs cannot dominate it), with a
  permutation p, not the chi-squared approximation, which is poor on a few CCGs.

Both p-values are exact where the distinct relabellings can be listed (at most :data:`EXACT_LIMIT`: every
labelling with the observed group sizes, each equally likely under relabelling), else the share of the caller's
relabellings at least as extreme (``(1 + k) / (1 + P)``). A test that no labelling of these CCGs with these group
sizes could make significant (smallest attainable p at least 0.05) is not run (``cannot_reject``), because "no
evidence" would then say nothing. Numbers and reason codes only: the words are chosen by
``dashboard.page.clustering_readings``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from dashboard.analysis._selection import Lookup, Mask, Selection, encode, lookup, numbers, select
from dashboard.analysis.permutations import PermutationTables, check_permutations, tables_for
from dashboard.analysis.result import Coverage, NotRun, check_known
from geodata.vocabulary import BINARY_LEVELS, DELEGATED, LEVELS, NOT_DELEGATED

#: Largest number of distinct labellings listed for an exact p (beyond it the relabellings are sampled).
EXACT_LIMIT = 20_000
ALPHA = 0.05


@dataclass(frozen=True, eq=False)
class SizeResult:
    """Population by level: full view (Kruskal-Wallis), binary view (difference in means), both permutation p.

    ``by_level`` / ``by_binary`` columns: level, n, median, mean, smallest, largest (people). ``diff`` = mean
    population of delegated minus that of the other known CCGs (filled whenever both groups exist; its sign says
    which were larger); ``*_exact`` says whether a p counted every distinct labelling; ``*_p_min`` is the smallest
    p any labelling with these group sizes could give. ``values`` holds the known CCGs' (code, level, population)
    for the chart.
    """

    coverage: Coverage
    missing_population: tuple[str, ...]
    by_level: pd.DataFrame
    by_binary: pd.DataFrame
    values: pd.DataFrame
    n_groups: int
    kruskal_h: float
    kruskal_p: float
    kruskal_exact: bool
    kruskal_p_min: float
    epsilon_squared: float
    n_delegated: int
    n_not_delegated: int
    diff: float
    diff_p_two_sided: float
    diff_exact: bool
    diff_p_min: float
    permutations: int
    seed: int
    kruskal_not_run: NotRun | None = None
    diff_not_run: NotRun | None = None

    @property
    def n_missing_population(self) -> int:
        return len(self.missing_population)

    @property
    def n_used(self) -> int:
        """Known CCGs with a population: the CCGs both tests describe."""
        return self.n_delegated + self.n_not_delegated


def size_by_level(levels: pd.Series, population: Lookup, permutations: int = 999, seed: int = 0,
                  mask: Mask = None, *, tables: PermutationTables | None = None) -> SizeResult:
    """Compare CCG populations across levels (Kruskal-Wallis) and delegated against the rest (difference in means).

    Parameters
    ----------
    levels : pd.Series
        Level per CCG code (unknown or missing = left out, and counted).
    population : pd.Series or Mapping
        CCG code -> resident population (known CCGs without one are left out and listed).
    permutations, seed, mask, tables
        As in :func:`~dashboard.analysis.join_counts.join_counts`; the relabellings serve only where the
        labellings are too many to list.

    Returns
    -------
    SizeResult

    Examples
    --------
    Three large delegated CCGs and four small others: every one of the C(7, 3) = 35 labellings is listed, and
    no other is as extreme, so the two-sided p is exact: 1 / 35.

    >>> lv = pd.Series({"a": "delegated", "b": "delegated", "c": "delegated", "d": "joint", "e": "joint",
    ...                 "f": "joint", "g": "joint"})
    >>> pop = {"a": 500_000, "b": 450_000, "c": 400_000, "d": 150_000, "e": 120_000, "f": 100_000, "g": 90_000}
    >>> res = size_by_level(lv, pop)
    >>> res.diff, res.diff_exact, res.diff_p_two_sided == 1 / 35, res.diff_not_run
    (335000.0, True, True, None)

    Kruskal-Wallis on the same two groups cannot reject: H is the same for the mirror labelling (the three
    smallest at one level), so no labelling gives p below 2 / 35 = 0.057.

    >>> res.kruskal_not_run.reason, round(res.kruskal_p_min, 3)
    ('cannot_reject', 0.057)
    """
    check_permutations(permutations)
    return compute(select(levels, mask), lookup(population), int(permutations), int(seed), tables)


def _table(labels: np.ndarray, x: np.ndarray, order: tuple[str, ...]) -> pd.DataFrame:
    rows = [{"level": lv, "n": int((labels == lv).sum()), "median": float(np.median(x[labels == lv])),
             "mean": float(x[labels == lv].mean()), "smallest": float(x[labels == lv].min()),
             "largest": float(x[labels == lv].max())} for lv in order if (labels == lv).any()]
    return pd.DataFrame(rows, columns=["level", "n", "median", "mean", "smallest", "largest"])


def labellings(lab: np.ndarray, k: int, limit: int = EXACT_LIMIT) -> np.ndarray | None:
    """Every distinct labelling with the same count of each label 0..k-1 as ``lab``, one per row; None when
    there are more than ``limit`` (the multinomial coefficient n! / (n_0! ... n_{k-1}!)).

    >>> labellings(np.array([1, 0, 0]), 2).tolist()
    [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    """
    n = len(lab)
    counts = np.bincount(lab, minlength=k)
    total, left = 1, n
    for c in counts:
        total *= math.comb(left, int(c))
        left -= int(c)
    if total > limit:
        return None

    def fill(m: int, label: int) -> np.ndarray:
        """Every assignment of labels ``label``.. to ``m`` free places, one per row."""
        if label == k - 1:
            return np.full((1, m), label, dtype=np.intp)
        c = int(counts[label])
        rest = fill(m - c, label + 1)
        chosen = np.array(list(combinations(range(m), c)), dtype=np.intp).reshape(-1, c)
        free = np.ones((len(chosen), m), dtype=bool)
        free[np.arange(len(chosen))[:, None], chosen] = False
        others = np.nonzero(free)[1].reshape(len(chosen), m - c)
        out = np.empty((len(chosen), len(rest), m), dtype=np.intp)
        a, b = np.arange(len(chosen))[:, None, None], np.arange(len(rest))[None, :, None]
        out[a, b, chosen[:, None, :]] = label
        out[a, b, others[:, None, :]] = rest[None, :, :]
        return out.reshape(-1, m)

    return fill(n, 0)


def permutation_p(lab: np.ndarray, k: int, stat: Callable[[np.ndarray], np.ndarray],
                  relabellings: Callable[[], np.ndarray] | None, tol: float) -> tuple[float, bool, float]:
    """p of ``stat`` (larger = more extreme) at ``lab``, whether it is exact, and the smallest attainable p.

    ``stat`` maps labellings (rows) to values. Exact over :func:`labellings` when they can be listed, else over
    ``lab[relabellings()]`` (sampled orderings, ``(1 + k) / (1 + P)``; the smallest attainable p is then at most
    1 / EXACT_LIMIT and is reported as 0).

    >>> p, exact, p_min = permutation_p(np.array([1, 1, 0, 0, 0]), 2, abs_difference(np.arange(5.0)), None, 1e-9)
    >>> p, exact, p_min  # 10 labellings: {0, 1} and its mirror {3, 4} are the most extreme
    (0.2, True, 0.2)
    """
    obs = float(stat(lab[None, :])[0])
    every = labellings(lab, k)
    if every is not None:
        sims = stat(every)
        p = float(np.count_nonzero(sims >= obs - tol) / len(sims))
        p_min = float(np.count_nonzero(sims >= sims.max() - tol) / len(sims))
        return p, True, p_min
    if relabellings is None:
        raise ValueError("too many labellings to list: give relabellings")
    sims = stat(lab[relabellings()])
    return float((1 + np.count_nonzero(sims >= obs - tol)) / (1 + len(sims))), False, 0.0


def abs_difference(x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """|mean of x where label 1 - mean where label 0|, per labelling (rows of 0/1 labels).

    >>> abs_difference(np.array([4.0, 2, 0]))(np.array([[1, 0, 0], [0, 0, 1]])).tolist()
    [3.0, 3.0]
    """
    n, total = len(x), float(x.sum())

    def stat(batch: np.ndarray) -> np.ndarray:
        is1 = (batch == 1).astype(float)
        n1 = is1.sum(1)
        s = is1 @ x
        return np.abs(s / n1 - (total - s) / (n - n1))

    return stat


def kruskal_h(x: np.ndarray, k: int) -> Callable[[np.ndarray], np.ndarray]:
    """Tie-corrected Kruskal-Wallis H of x (as ``scipy.stats.kruskal``) per labelling (rows of labels 0..k-1).

    >>> from scipy import stats
    >>> x = np.array([1.0, 5, 2, 8, 3, 3])
    >>> lab = np.array([0, 1, 0, 1, 2, 2])
    >>> bool(np.isclose(kruskal_h(x, 3)(lab[None, :])[0], stats.kruskal([1.0, 2], [5.0, 8], [3.0, 3]).statistic))
    True
    """
    n = float(len(x))
    ranks = pd.Series(x).rank().to_numpy()
    _, ties = np.unique(x, return_counts=True)
    tie = 1.0 - float((ties**3 - ties).sum()) / (n**3 - n)

    def stat(batch: np.ndarray) -> np.ndarray:
        onehot = batch[:, :, None] == np.arange(k)[None, None, :]
        sizes = onehot.sum(1)
        sums = np.einsum("cnk,n->ck", onehot, ranks)
        term = np.where(sizes > 0, sums**2 / np.maximum(sizes, 1), 0.0).sum(1)
        return (12.0 / (n * (n + 1)) * term - 3 * (n + 1)) / tie

    return stat


def _why(lab: np.ndarray, cats: list[str], x: np.ndarray) -> NotRun | None:
    why = check_known(lab, cats)
    if why is None and np.ptp(x) == 0:
        why = NotRun("same_population", {"n_known": len(x), "population": float(x[0])})  # type: ignore[arg-type]
    return why


def _cannot(p_min: float, n: int) -> NotRun | None:
    if p_min >= ALPHA - 1e-12:
        return NotRun("cannot_reject", {"n_known": n, "p_min": p_min})  # type: ignore[arg-type]
    return None


def compute(sel: Selection, pop_by_code: Mapping[str, Any], permutations: int, seed: int,
            tables: PermutationTables | None) -> SizeResult:
    """:func:`size_by_level` on a prepared selection and a code -> population look-up."""
    x_all = numbers(pop_by_code, sel.codes)
    ok = np.isfinite(x_all) & (x_all > 0)
    codes, labels, x = sel.codes[ok], sel.labels[ok], x_all[ok]
    binary = np.where(labels == DELEGATED, DELEGATED, NOT_DELEGATED).astype(object)
    n, nan = len(x), math.nan

    def relabellings() -> np.ndarray:
        return tables_for(tables, n, permutations, seed).perm

    lab, cats = encode(labels)
    kw_why = _why(lab, cats, x)
    h = p_kw = eps = p_kw_min = nan
    kw_exact = False
    if kw_why is None:
        stat = kruskal_h(x, len(cats))
        h = float(stat(lab[None, :])[0])
        p_kw, kw_exact, p_kw_min = permutation_p(lab, len(cats), stat, relabellings, 1e-9 * max(1.0, n))
        eps = h / (n - 1)
        kw_why = _cannot(p_kw_min, n)

    blab, bcats = encode(binary, BINARY_LEVELS)
    is_del = binary == DELEGATED
    n_del = int(is_del.sum())
    diff = float(x[is_del].mean() - x[~is_del].mean()) if 0 < n_del < n else nan
    diff_why = _why(blab, bcats, x)
    p2 = p_d_min = nan
    d_exact = False
    if diff_why is None:
        p2, d_exact, p_d_min = permutation_p(is_del.astype(np.intp), 2, abs_difference(x), relabellings,
                                             1e-9 * max(1.0, float(x.max())))
        diff_why = _cannot(p_d_min, n)

    values = pd.DataFrame({"ccg_code": codes.astype(str), "level": labels.astype(str), "population": x})
    return SizeResult(
        coverage=Coverage.of(n, sel.unknown), missing_population=tuple(str(c) for c in sel.codes[~ok]),
        by_level=_table(labels, x, LEVELS), by_binary=_table(binary, x, BINARY_LEVELS), values=values,
        n_groups=len(cats), kruskal_h=h, kruskal_p=p_kw, kruskal_exact=kw_exact, kruskal_p_min=p_kw_min,
        epsilon_squared=eps, n_delegated=n_del, n_not_delegated=n - n_del, diff=diff, diff_p_two_sided=p2,
        diff_exact=d_exact, diff_p_min=p_d_min, permutations=permutations, seed=seed,
        kruskal_not_run=kw_why, diff_not_run=diff_why,
    )


__all__ = ["EXACT_LIMIT", "SizeResult", "abs_difference", "kruskal_h", "labellings", "permutation_p",
           "size_by_level"]
