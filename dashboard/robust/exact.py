"""Permutation p-values precise enough for the verdicts they feed (issue 19).

Under random relabelling of a fixed set of CCGs, the distribution of every statistic of the panel depends on the
labels only through how many CCGs carry each label (the *count vector*): relabelling any labelling with the
same counts gives the same null distribution. So one null distribution per count vector serves every
completion that has it, and every completion is evaluated at once with numpy.

* **Exact** where the distinct labellings are few (:data:`ENUMERATE_LIMIT`): all of them are enumerated and
  ``p = #{labellings with a statistic at least as extreme} / #{labellings}``; the smallest attainable p
  (``p_min``, the share of labellings at the maximum) comes with it, so a test that cannot reject is known.
* Otherwise **sequential Monte Carlo** (Besag and Clifford 1991): every completion first meets 199 relabellings
  (a Besag-Clifford stop at :data:`H_EXCEED` relabellings at least as extreme); one whose count is not clearly
  away from what p = 0.05 gives (binomial tests at 0.001) goes on through :data:`PRECISE_STAGES` (999, then 9,999
  relabellings) when its count vector is among those with most undecided completions (a budget per statistic);
  a single p that decides on its own (the known CCGs, an extreme, a proof) always does. The Monte Carlo error
  is kept with the value.

Seeded: the relabellings of ``n`` CCGs come from ``np.random.default_rng([seed, n])``; nothing is kept at
module level (a :class:`Relabellings` lives for one call).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

ALPHA = 0.05
#: Enumerate the distinct labellings when there are at most this many (and at most ENUMERATE_CELLS labels).
ENUMERATE_LIMIT = 30_000
ENUMERATE_CELLS = 1_500_000
#: Labels (int8, so bytes) of listed labellings one Relabellings keeps for reuse within a call.
LISTED_CELLS = 12_000_000
#: Besag-Clifford: stop after this many relabellings at least as extreme as observed.
H_EXCEED = 10
#: Relabellings drawn in total after each stage: for each of the drawn completions (whose p feeds a count with a
#: 95% interval: one stage, then the precise stages for the count vectors with most undecided completions), and
#: for a single p that decides alone (the known CCGs, an extreme, a proof).
STAGES = (199,)
PRECISE_STAGES = (99, 999, 9999)
#: Budget (count vectors x CCGs x the last precise stage) of the precise stages given to the count vectors with the
#: most completions the first stage leaves undecided: the cost is per count vector, not per completion.
FEW_CELLS = 2_500_000
#: A Monte Carlo p decides when it is this many Monte Carlo errors away from 0.05.
MARGIN_SE = 3.0


def multinomial(counts: tuple[int, ...]) -> int:
    """Number of distinct labellings with these label counts (exact integer)."""
    out, left = 1, sum(counts)
    for c in counts:
        out *= math.comb(left, c)
        left -= c
    return out


def enumerable(counts: tuple[int, ...]) -> bool:
    """Whether every distinct labelling with these counts can be listed within the limits."""
    m = multinomial(counts)
    return m <= ENUMERATE_LIMIT and m * sum(counts) <= ENUMERATE_CELLS


def labellings(counts: tuple[int, ...]) -> np.ndarray:
    """Every distinct labelling with ``counts[l]`` CCGs at label ``l``, shape (M, n), int8.

    >>> labellings((2, 1)).tolist()
    [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    """
    n, k = sum(counts), len(counts)
    rows = np.full((1, n), k - 1, dtype=np.int8)
    free = np.arange(n, dtype=np.intp)[None, :]
    for level, c in enumerate(counts[:-1]):
        nf = free.shape[1]
        combos = np.array(list(itertools.combinations(range(nf), c)), dtype=np.intp).reshape(-1, c)
        chosen = np.zeros((len(combos), nf), dtype=bool)
        chosen[np.arange(len(combos))[:, None], combos] = True
        r = rows.shape[0]
        rows = np.repeat(rows, len(combos), axis=0)
        fr = np.repeat(free, len(combos), axis=0)
        ch = np.tile(chosen, (r, 1))
        picked = fr[ch].reshape(len(rows), c)
        rows[np.arange(len(rows))[:, None], picked] = level
        free = fr[~ch].reshape(len(rows), nf - c)
    return rows


class Relabellings:
    """Random orderings of ``range(n)`` drawn in stages from ``default_rng([seed, n])``, kept for one call; and
    the distinct labellings of each count vector listed so far (:meth:`listing`), shared by every statistic on
    ``n`` CCGs in that call (the same-level neighbours and the area teams list the same ones)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = int(n)
        self._rng = np.random.default_rng([int(seed), self.n])
        self._perm = np.empty((0, self.n), dtype=np.int16 if self.n < 32_000 else np.intp)
        self._listed: dict[tuple[int, ...], np.ndarray] = {}
        self._listed_cells = 0

    def listing(self, present: tuple[int, ...]) -> np.ndarray:
        """``labellings(present)``, listed once per call (read-only: callers index it, never write to it)."""
        if present in self._listed:
            return self._listed[present]
        rows = labellings(present)
        rows.flags.writeable = False
        if self._listed_cells + rows.size <= LISTED_CELLS:  # bounded: a call keeps at most LISTED_CELLS labels
            self._listed[present] = rows
            self._listed_cells += rows.size
        return rows

    def first(self, count: int) -> np.ndarray:
        """The first ``count`` orderings (drawing more when needed): the same for every count vector."""
        have = self._perm.shape[0]
        if count > have:
            more = self._rng.permuted(np.tile(np.arange(self.n, dtype=self._perm.dtype), (count - have, 1)), axis=1)
            self._perm = np.concatenate([self._perm, more])
        return self._perm[:count]


@dataclass(frozen=True)
class PValues:
    """Per row: p, its Monte Carlo error (0 when exact), whether exact, relabellings used, smallest attainable p
    (NaN when it is not known: more labellings than can be listed)."""

    p: np.ndarray
    se: np.ndarray
    exact: np.ndarray
    used: np.ndarray
    p_min: np.ndarray


class NullCache:
    """Null distributions of one statistic on one set of CCGs, per count vector, for one call."""

    def __init__(self, stat: Callable[[np.ndarray], np.ndarray], n: int, k: int, relabellings: Relabellings,
                 tol: float, budget: int = FEW_CELLS) -> None:
        self.stat, self.n, self.k, self.rel, self.tol, self.budget = stat, n, k, relabellings, tol, budget
        self._exact: dict[tuple[int, ...], np.ndarray] = {}
        self._mc: dict[tuple[int, ...], np.ndarray] = {}

    def counts(self, lab: np.ndarray) -> tuple[int, ...]:
        return tuple(int(c) for c in np.bincount(lab.astype(np.intp), minlength=self.k))

    def exact_sims(self, counts: tuple[int, ...]) -> np.ndarray | None:
        """Sorted statistic of every distinct labelling, or None when too many."""
        if counts not in self._exact:
            present = tuple(c for c in counts if c)
            if not enumerable(present):
                return None
            levels = np.array([lv for lv, c in enumerate(counts) if c], dtype=np.int8)
            self._exact[counts] = np.sort(self.stat(levels[self.rel.listing(present)]))
        return self._exact[counts]

    def mc_sims(self, counts: tuple[int, ...], count: int) -> np.ndarray:
        """The statistic of the first ``count`` relabellings of a labelling with these counts (in draw order)."""
        have = self._mc.get(counts, np.zeros(0))
        if len(have) < count:
            canon = np.repeat(np.arange(self.k, dtype=np.int8), counts)
            perm = self.rel.first(count)[len(have):]
            have = np.concatenate([have, self.stat(canon[perm])])
            self._mc[counts] = have
        return have[:count]

    def prefetch(self, keys: list[tuple[int, ...]], count: int) -> None:
        """The first ``count`` relabellings of several count vectors in one evaluation (less overhead)."""
        need = [k for k in keys if len(self._mc.get(k, ())) < count and k not in self._exact]
        if len(need) < 2:
            return
        perm = self.rel.first(count)
        canon = np.stack([np.repeat(np.arange(self.k, dtype=np.int8), k) for k in need])
        sims = self.stat(canon[:, perm].reshape(len(need) * count, self.n)).reshape(len(need), count)
        for k, row in zip(need, sims):
            self._mc[k] = row

    def p_min(self, counts: tuple[int, ...]) -> float:
        """Smallest p any labelling with these counts can give (exact), NaN when they cannot be listed."""
        sims = self.exact_sims(counts)
        if sims is None:
            return math.nan
        top = sims[-1]
        return float(np.count_nonzero(sims >= top - self.tol)) / len(sims)

    def p_values(self, batch: np.ndarray, precise: bool = False) -> PValues:
        """p of every row of ``batch`` (labellings of the n CCGs), one null per count vector; ``precise`` takes
        the Monte Carlo further (:data:`PRECISE_STAGES`) for a p that decides on its own."""
        stages = PRECISE_STAGES if precise else STAGES
        obs = self.stat(batch)
        out = {k: np.full(len(batch), np.nan) for k in ("p", "se", "used", "p_min")}
        exact = np.zeros(len(batch), dtype=bool)
        c = len(batch)
        offs = batch.astype(np.intp) + self.k * np.arange(c, dtype=np.intp)[:, None]
        counts = np.bincount(offs.ravel(), minlength=c * self.k).reshape(c, self.k)
        uniq, inverse = np.unique(counts, axis=0, return_inverse=True)
        inverse = np.ravel(inverse)
        keys = [tuple(int(c) for c in vec) for vec in uniq]
        mc = [u for u, k in enumerate(keys) if not enumerable(tuple(c for c in k if c))]
        in_mc = set(mc)
        self.prefetch([keys[u] for u in mc], stages[0])
        undecided: list[int] = []
        precise_keys: set[int] = set()
        if mc:  # the first stage for every Monte Carlo row at once
            first = np.stack([self.mc_sims(keys[u], stages[0]) for u in mc])
            slot = np.full(len(keys), -1)
            slot[mc] = np.arange(len(mc))
            rows = np.flatnonzero(slot[inverse] >= 0)
            ge = first[slot[inverse[rows]]] >= (obs[rows] - self.tol)[:, None]
            g = ge.sum(1)
            bc = g >= H_EXCEED
            used = np.where(bc, np.argmax(np.cumsum(ge, axis=1) >= H_EXCEED, axis=1) + 1, stages[0])
            p = np.where(bc, H_EXCEED / used, (g + 1) / (stages[0] + 1))
            se = np.where(bc, p * np.sqrt(np.clip(1 - p, 0, None) / H_EXCEED), np.sqrt(p * (1 - p) / stages[0]))
            # decided only when the count of relabellings at least as extreme is itself clearly away from what
            # p = 0.05 would give (two one-sided binomial tests at 0.001: 200 completions are decided at once)
            n_seen = np.where(bc, used, stages[0])
            g_seen = np.where(bc, H_EXCEED, g)
            far = (binom.cdf(g_seen, n_seen, ALPHA) < 1e-3) | (binom.sf(g_seen - 1, n_seen, ALPHA) < 1e-3)
            # a p that decides alone must also be MARGIN_SE errors from 0.05, as a proof requires of it
            done = far & ((p > ALPHA) | (not precise)) & ((not precise) | (np.abs(p - ALPHA) > MARGIN_SE * se))
            left = Counter(inverse[rows[~done]].tolist())
            undecided = sorted(left)
            # the count vectors with the most undecided completions get the precise stages (their completions
            # share one null sample, so its error would move them all at once), within a budget; the others keep
            # the first stage's estimate and its error
            budget = max(1, self.budget // (max(self.n, 1) * PRECISE_STAGES[-1]))
            precise_keys = {u for u, _ in left.most_common(budget)} if not precise else set(undecided)
            keep = done | ~np.isin(inverse[rows], list(precise_keys))
            out["p"][rows[keep]], out["se"][rows[keep]], out["used"][rows[keep]] = p[keep], se[keep], used[keep]
            undecided = sorted(precise_keys)
            self.prefetch([keys[u] for u in undecided], PRECISE_STAGES[1])
        for u, key in enumerate(keys):
            rows = np.flatnonzero(inverse == u)
            sims = self.exact_sims(key) if u not in in_mc else None
            if sims is not None:
                ge = len(sims) - np.searchsorted(sims, obs[rows] - self.tol, side="left")
                out["p"][rows] = ge / len(sims)
                out["se"][rows] = 0.0
                out["used"][rows] = len(sims)
                out["p_min"][rows] = self.p_min(key)
                exact[rows] = True
            elif u in undecided:
                rows = rows[np.isnan(out["p"][rows])]
                out["p"][rows], out["se"][rows], out["used"][rows] = self._sequential(key, obs[rows], PRECISE_STAGES)
        return PValues(out["p"], out["se"], exact, out["used"], out["p_min"])

    def _sequential(self, key: tuple[int, ...], obs: np.ndarray, stages: tuple[int, ...] = STAGES
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Besag-Clifford with a decision check at each stage (see the module docstring), for every value of
        ``obs`` at once (they share the relabellings of this count vector)."""
        values, back = np.unique(obs, return_inverse=True)
        p, se, used = np.full(len(values), np.nan), np.full(len(values), np.nan), np.zeros(len(values))
        todo = np.ones(len(values), dtype=bool)
        for total in stages:
            last = total == stages[-1]
            idx = np.flatnonzero(todo)
            if not len(idx):
                break
            sims = self.mc_sims(key, total)
            ge = sims[None, :] >= (values[idx] - self.tol)[:, None]
            g = ge.sum(1)
            stop = (g >= H_EXCEED) & (not last)
            if stop.any():
                first = np.argmax(np.cumsum(ge[stop], axis=1) >= H_EXCEED, axis=1) + 1
                pb = H_EXCEED / first
                seb = pb * np.sqrt(np.clip(1 - pb, 0, None) / H_EXCEED)
                decided = np.abs(pb - ALPHA) > MARGIN_SE * seb
                i = idx[stop]
                p[i[decided]], se[i[decided]], used[i[decided]] = pb[decided], seb[decided], first[decided]
                todo[i[decided]] = False
                # undecided by Besag-Clifford: straight to the last stage, a fixed number of relabellings
                jump = i[~decided]
                if len(jump):
                    big = self.mc_sims(key, stages[-1])
                    gj = (big[None, :] >= (values[jump] - self.tol)[:, None]).sum(1)
                    pj = (gj + 1) / (stages[-1] + 1)
                    p[jump], se[jump], used[jump] = pj, np.sqrt(pj * (1 - pj) / stages[-1]), stages[-1]
                    todo[jump] = False
            rest = idx[~stop]
            pf = (g[~stop] + 1) / (total + 1)
            sef = np.sqrt(pf * (1 - pf) / total)
            # a single p that decides alone (precise) is not settled below 0.05 before the last stage, so an
            # extreme is resolved to 1 / (last stage + 1), not to the first stage's 1 / 100
            done = ((np.abs(pf - ALPHA) > MARGIN_SE * sef) & ((pf > ALPHA) | (stages != PRECISE_STAGES))) | last
            p[rest[done]], se[rest[done]], used[rest[done]] = pf[done], sef[done], total
            todo[rest[done]] = False
        return p[back], se[back], used[back]
