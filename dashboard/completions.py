"""Admissible completions of the unknown co-commissioning levels, drawn by a seeded exact sampler.

A *completion* gives every unknown and every ``not_delegated`` CCG-year a concrete level so that every
published total (:class:`geodata.totals.Constraint`, by region where regional, nationally otherwise) holds,
every known level is kept, ``not_delegated`` is never delegated, a CCG delegated in 2015/16 is delegated in
2016/17, the newly-delegated count holds and the CCGs in ``never_delegated_2015`` are not delegated in
2015/16. In 2015/16 no total separates greater involvement from no role, so a completion gives the one class
``greater_involvement_or_none`` there (a known 2015/16 greater involvement or none is kept as it is).

The prior (which admissible completions are how likely; ``prior=`` of :class:`CompletionSampler`, named in
:data:`PRIORS`):

* ``uniform-histories`` (the default): every admissible two-year history is equally likely. A history gives
  every open CCG-year of both years a level; it is admissible when it meets every total of both years and the
  rules linking the years (delegated in 2015/16 stays delegated; the CCGs newly authorised for April 2016 were
  not delegated in 2015/16; the newly-delegated count). So a history's probability is 1 / (number of
  admissible histories), :meth:`CompletionSampler.count_histories`.
* ``two-stage`` (the earlier scheme, kept as an option): the 2015/16 levels are drawn uniformly among the
  admissible 2015/16 completions (one is admissible when it meets the 2015/16 totals and at least one 2016/17
  completion goes with it), then the 2016/17 levels uniformly among those admissible given that draw. A pair's
  probability is 1 / (number of 2015/16 completions) x 1 / (number of 2016/17 completions given its 2015/16
  part). It favours 2015/16 completions that leave 2016/17 few options: for example it halves the chance that
  a CCG known delegated in 2016/17 but unknown in 2015/16 was already delegated in 2015/16.

Both are uniform over assignments of levels to CCG-years, not over count vectors. The number of 2016/17
completions that go with a 2015/16 completion depends only on its delegation counts (m, k) below, so the
uniform-histories prior is the two-stage one with each (m, k) reweighted by that number; given (m, k), both
draw alike.

How: CCGs in the same region and state are interchangeable, so the sampler works with counts. The number of
assignments realising a count vector is a product of binomial coefficients (exact Python integers, no
overflow). Delegation is decided first: per region, how many of the open CCGs are delegated in 2015/16, with a
dynamic programme over regions whose state is the running national count (split by whether the CCG is
delegated or unknown in 2016/17, which is what 2016/17 depends on, and by membership of the one area team with
a total, which is what its lower levels depend on); lower levels follow nationally from the remaining pool (two
pools, the area team's and the rest, when an area team has a total). Count vectors are drawn backwards through
the programme, then levels are placed on CCGs with random permutations from ``np.random.default_rng(seed)``.
The sampler supports the totals that are published: delegated by region and nationally in 2015/16, lower levels
and all 2016/17 totals nationally, 2015/16 lower levels for one area team (Surrey and Sussex's "did not
apply"); it refuses others with a ``ValueError`` (``geodata.bounds.implied_bounds`` handles any of them
exactly).

>>> import pandas as pd
>>> from geodata.totals import Constraint
>>> t = pd.DataFrame({"ods_code": ["00A", "00B"], "region": ["North"] * 2,
...                   "level_2015": ["unknown"] * 2, "level_2016": ["delegated"] * 2})
>>> s = CompletionSampler(t, [Constraint(2015, "England", "delegated", 1, 1, ("X",), "")])
>>> s.count()
4
>>> s.draw(2, seed=1).shape
(4, 4)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from geodata.bounds import check_feasible
from geodata.totals import (
    ENGLAND,
    GREATER_INVOLVEMENT_OR_NONE,
    NEWLY_DELEGATED,
    YEAR_LEVELS,
    Constraint,
    ccg_states,
)
from geodata.vocabulary import DELEGATED, GREATER_INVOLVEMENT, JOINT, NONE, NOT_DELEGATED, UNKNOWN, YEAR_LABEL

#: Level codes of :meth:`CompletionSampler.draw_array` (index into this tuple).
CODES: tuple[str, ...] = (DELEGATED, JOINT, GREATER_INVOLVEMENT, NONE, GREATER_INVOLVEMENT_OR_NONE)
_CODE = {level: i for i, level in enumerate(CODES)}
_D = _CODE[DELEGATED]
_LOWER = {2015: YEAR_LEVELS[2015][1:], 2016: YEAR_LEVELS[2016][1:]}
COMPLETION_COLUMNS = ["completion", "ods_code", "level_2015", "level_2016"]
#: Prior over the admissible completions: every admissible two-year history (2015/16 and 2016/17 levels of
#: every open CCG-year together) equally likely. The default.
UNIFORM_HISTORIES = "uniform-histories"
#: The earlier scheme: 2015/16 uniform among its admissible completions, then 2016/17 uniform given 2015/16.
TWO_STAGE = "two-stage"
#: The priors by name, with one sentence each (for ``--prior`` help and the JSON).
PRIORS: dict[str, str] = {
    UNIFORM_HISTORIES: "every admissible two-year history of the unknown levels equally likely",
    TWO_STAGE: "2015/16 levels equally likely among the admissible ones, then 2016/17 levels equally likely "
               "given them",
}


def _multinomial(n: int, parts: Iterable[int]) -> int:
    out, left = 1, n
    for k in parts:
        out *= math.comb(left, k)
        left -= k
    return out


def _probabilities(weights: Sequence[int]) -> np.ndarray:
    """Probabilities proportional to exact integer weights (each ratio taken exactly before rounding)."""
    total = sum(weights)
    p = np.array([w / total for w in weights])
    return p / p.sum()


def _pick(rng: np.random.Generator, weights: Sequence[int], p: np.ndarray | None = None) -> int:
    """Index drawn with probability proportional to exact integer weights (``p``: their probabilities, if known)."""
    if len(weights) == 1:
        return 0
    p = _probabilities(weights) if p is None else p
    return int(rng.choice(len(p), p=p))


def _ranges(constraints: Sequence[Constraint], regions: Sequence[str], n: int,
            areas: Sequence[str] = ()) -> dict[tuple, tuple[int, int]]:
    """(year, scope, level) -> intersected [lo, hi]; refuses totals the sampler does not handle.

    Handled: national totals; regional 2015/16 delegated; 2015/16 joint or greater-involvement-or-none totals
    for one area team (Surrey and Sussex's "did not apply").
    """
    out: dict[tuple, tuple[int, int]] = {}
    area_scopes = set()
    for c in constraints:
        if c.scope != ENGLAND and c.scope not in regions and c.scope not in areas:
            raise ValueError(f"{c.describe()}: scope {c.scope!r} is neither England nor a region or area team of "
                             "the table")
        regional_ok = c.year == 2015 and c.level == DELEGATED and c.scope in regions
        area_ok = c.year == 2015 and c.level in _LOWER[2015] and c.scope in areas and c.scope not in regions
        if c.scope != ENGLAND and not (regional_ok or area_ok):
            raise ValueError(f"{c.describe()}: the sampler handles regional totals only for delegated in 2015/16 "
                             "and area-team totals only for 2015/16's lower levels; use "
                             "geodata.bounds.implied_bounds for exact bounds with this total")
        if area_ok:
            area_scopes.add(c.scope)
            if len(area_scopes) > 1:
                raise ValueError(f"{c.describe()}: the sampler handles area-team totals for one area team only "
                                 f"({sorted(area_scopes)}); use geodata.bounds.implied_bounds")
        allowed = YEAR_LEVELS.get(c.year, ()) + ((NEWLY_DELEGATED,) if c.year == 2016 else ())
        if c.level not in allowed:
            raise ValueError(f"{c.describe()}: level {c.level!r} is not one the sampler can complete in "
                             f"{YEAR_LABEL.get(c.year, c.year)} ({allowed})")
        lo, hi = out.get((c.year, c.scope, c.level), (0, n))
        out[(c.year, c.scope, c.level)] = (max(lo, c.lo), min(hi, c.hi))
    return out


class _Lower:
    """A year's lower levels for the open CCGs not delegated: the count vectors the totals allow, weighted.

    Normally one pool, bounded by the national totals. With an area-team total (2015/16 only) two pools, the
    area's CCGs and the rest: an option then gives each pool its own counts of joint and greater involvement
    or none, meeting the area's bounds and, summed, the national ones.
    """

    def __init__(self, year: int, ranges: dict[tuple, tuple[int, int]], known: dict[str, int],
                 area: dict[str, tuple[int, int]] | None = None) -> None:
        self.levels = _LOWER[year]
        self.tracked = tuple(lvl for lvl in self.levels if (year, ENGLAND, lvl) in ranges)
        self.untracked = tuple(lvl for lvl in self.levels if lvl not in self.tracked)
        self.bounds = [(ranges[(year, ENGLAND, lvl)][0] - known[lvl], ranges[(year, ENGLAND, lvl)][1] - known[lvl])
                       for lvl in self.tracked]
        self.area = area  # level -> [lo, hi] for the area's pool, less the area's known CCGs at the level
        if area is not None and len(self.levels) != 2:
            raise ValueError("area-team totals are handled for 2015/16's two lower levels only")
        self._options: dict[tuple[int, ...], tuple[list, list[int]]] = {}
        self._p: dict[tuple[int, ...], np.ndarray] = {}

    def options(self, pools: tuple[int, ...]) -> tuple[list, list[int]]:
        """Count vectors for pools of these sizes and how many assignments realise each.

        One pool: vectors over the tracked levels (untracked levels share the rest). Two pools: per pool, the
        count of the first lower level (joint); the second level takes the rest of the pool.
        """
        if pools not in self._options:
            self._options[pools] = self._two(*pools) if self.area is not None else self._one(pools[0])
        return self._options[pools]

    def _one(self, pool: int) -> tuple[list, list[int]]:
        counts, weights, u = [], [], len(self.untracked)
        spans = [range(max(lo, 0), min(hi, pool) + 1) for lo, hi in self.bounds]
        for vec in itertools.product(*spans):
            rest = pool - sum(vec)
            if rest < 0 or (u == 0 and rest):
                continue
            counts.append(vec)
            weights.append(_multinomial(pool, vec) * u ** rest)
        return counts, weights

    def _two(self, in_area: int, rest: int) -> tuple[list, list[int]]:
        first, second = self.levels
        area = self.area or {}
        national = dict(zip(self.tracked, self.bounds))
        counts, weights = [], []
        for a in range(in_area + 1):
            alo, ahi = area.get(first, (0, in_area))
            blo, bhi = area.get(second, (0, in_area))
            if not (alo <= a <= ahi and blo <= in_area - a <= bhi):
                continue
            for r in range(rest + 1):
                flo, fhi = national.get(first, (0, in_area + rest))
                slo, shi = national.get(second, (0, in_area + rest))
                if flo <= a + r <= fhi and slo <= in_area + rest - a - r <= shi:
                    counts.append((a, r))
                    weights.append(math.comb(in_area, a) * math.comb(rest, r))
        return counts, weights

    def total(self, pools: tuple[int, ...]) -> int:
        return sum(self.options(pools)[1])

    def place(self, rng: np.random.Generator, pools: Sequence[np.ndarray], out: np.ndarray) -> None:
        """Give the pools' CCGs lower levels, uniformly among the assignments the totals allow."""
        key = tuple(len(p) for p in pools)
        counts, weights = self.options(key)
        if key not in self._p:
            self._p[key] = _probabilities(weights)
        vec = counts[_pick(rng, weights, self._p[key])]
        if self.area is not None:
            for pool, k in zip(pools, vec):
                order = rng.permutation(pool)
                out[order[:k]] = _CODE[self.levels[0]]
                out[order[k:]] = _CODE[self.levels[1]]
            return
        order = rng.permutation(pools[0])
        start = 0
        for level, k in zip(self.tracked, vec):
            out[order[start:start + k]] = _CODE[level]
            start += k
        rest = order[start:]
        if len(rest):
            codes = np.array([_CODE[lvl] for lvl in self.untracked])
            out[rest] = codes[rng.integers(len(codes), size=len(rest))] if len(codes) > 1 else codes[0]


class _Cells:
    """A region's open 2015/16 CCGs that may be delegated, split by 2016/17 state (delegated: ``a``, unknown:
    ``b``) and by membership of the area team with a total (``_in``, ``_out``), with the weights of each
    (m, k, s): m of ``a`` and k of ``b`` delegated, s of them in the area."""

    def __init__(self, a_in: np.ndarray, b_in: np.ndarray, a_out: np.ndarray, b_out: np.ndarray, known: int,
                 lo: int, hi: int) -> None:
        self.a_in, self.b_in, self.a_out, self.b_out = a_in, b_in, a_out, b_out
        sizes = [len(a_in), len(b_in), len(a_out), len(b_out)]
        weights: dict[tuple[int, int, int], int] = {}
        for m1, k1, m2, k2 in itertools.product(*(range(n + 1) for n in sizes)):
            if lo <= known + m1 + k1 + m2 + k2 <= hi:
                key = (m1 + m2, k1 + k2, m1 + k1)
                w = (math.comb(sizes[0], m1) * math.comb(sizes[1], k1) * math.comb(sizes[2], m2)
                     * math.comb(sizes[3], k2))
                weights[key] = weights.get(key, 0) + w
        self.weights = weights
        self._splits: dict[tuple[int, int, int], tuple[list[tuple[int, int, int, int]], np.ndarray]] = {}

    def split(self, rng: np.random.Generator, m: int, k: int, s: int) -> np.ndarray:
        """The CCGs delegated, uniformly among the assignments with these counts."""
        if (m, k, s) not in self._splits:
            options, weights = [], []
            for m1 in range(max(0, s - len(self.b_in)), min(s, len(self.a_in)) + 1):
                k1, m2 = s - m1, m - m1
                k2 = k - k1
                if 0 <= m2 <= len(self.a_out) and 0 <= k2 <= len(self.b_out):
                    options.append((m1, k1, m2, k2))
                    weights.append(math.comb(len(self.a_in), m1) * math.comb(len(self.b_in), k1)
                                   * math.comb(len(self.a_out), m2) * math.comb(len(self.b_out), k2))
            total = sum(weights)
            p = np.array([w / total for w in weights])
            self._splits[(m, k, s)] = (options, p / p.sum())
        options, p = self._splits[(m, k, s)]
        counts = options[0] if len(options) == 1 else options[int(rng.choice(len(options), p=p))]
        chosen = [_subset(rng, cell, n) for cell, n in zip((self.a_in, self.b_in, self.a_out, self.b_out), counts)
                  if n]
        return np.concatenate(chosen) if chosen else np.empty(0, dtype=np.intp)


def _subset(rng: np.random.Generator, cell: np.ndarray, n: int) -> np.ndarray:
    """``n`` of ``cell`` drawn uniformly without replacement (all of it without a draw)."""
    return cell if n == len(cell) else rng.choice(cell, size=n, replace=False)


class CompletionSampler:
    """Exact, seeded sampler of admissible completions (scheme in the module docstring).

    Parameters
    ----------
    table : DataFrame with ods_code (column or index), region, level_2015, level_2016 (and area_team when a
        total is for an area team); levels resting on evidence the caller does not accept should already be
        ``unknown``.
    constraints : the published totals (:func:`geodata.totals.constraints_from_totals`).
    never_delegated_2015 : CCGs newly authorised for April 2016, so not delegated in 2015/16.
    prior : :data:`UNIFORM_HISTORIES` (default: every admissible two-year history equally likely) or
        :data:`TWO_STAGE` (2015/16 uniform, then 2016/17 uniform given it); see :data:`PRIORS`.

    Raises ``ValueError`` naming the conflicting totals if no completion exists.

    >>> from geodata.totals import Constraint
    >>> t = pd.DataFrame({"ods_code": ["00A", "00B", "00C"], "region": ["North", "North", "South"],
    ...                   "level_2015": ["unknown", "delegated", "unknown"], "level_2016": ["unknown"] * 3})
    >>> s = CompletionSampler(t, [Constraint(2015, "North", "delegated", 2, 2, ("X",), "")], {"00C"})
    >>> s.draw(1, seed=0)["level_2015"].tolist()[:2]
    ['delegated', 'delegated']
    """

    def __init__(self, table: pd.DataFrame, constraints: Sequence[Constraint],
                 never_delegated_2015: Iterable[str] = (), prior: str = UNIFORM_HISTORIES, *,
                 explain: bool = True) -> None:
        if prior not in PRIORS:
            raise ValueError(f"prior {prior!r}: choose one of {', '.join(PRIORS)}")
        self.prior = prior
        never = set(never_delegated_2015)
        states = ccg_states(table, never)
        self.ods_codes: np.ndarray = states["ods_code"].to_numpy()
        self.regions: tuple[str, ...] = tuple(sorted(states["region"].unique()))
        areas = tuple(sorted(set(states["area_team"]) - {""}))
        n = len(states)
        self._ranges = _ranges(constraints, self.regions, n, areas)
        self._s15, self._s16 = states["state_2015"].to_numpy(), states["state_2016"].to_numpy()
        self._region = states["region"].to_numpy()
        area = next((scope for (_, scope, _) in self._ranges if scope in areas and scope not in self.regions), None)
        self.area: str | None = area
        self._in_area = (states["area_team"] == area).to_numpy() if area else np.zeros(n, dtype=bool)
        self._base15 = self._known_codes(table, 2015)
        self._base16 = self._known_codes(table, 2016)
        self._lower = {2015: _Lower(2015, self._ranges, self._known_lower(2015), self._area_bounds()),
                       2016: _Lower(2016, self._ranges, self._known_lower(2016))}
        open15 = np.isin(self._s15, [UNKNOWN, NOT_DELEGATED])
        self._pool_in, self._pool_out = int((open15 & self._in_area).sum()), int((open15 & ~self._in_area).sum())
        self._rcells = [self._region_cells(r) for r in self.regions]
        self._rprefix = self._national_programme()
        self._x16: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
        self._rfinal = self._final_weights()
        self._memo: dict[str, object] = {}
        self._final_p = _probabilities(self._rfinal[1]) if self._rfinal[1] else np.empty(0)
        self._x16_p: dict[tuple[int, int], np.ndarray] = {}
        self._open15 = np.isin(self._s15, [UNKNOWN, NOT_DELEGATED])
        self._unknown16, self._nd16 = self._s16 == UNKNOWN, self._s16 == NOT_DELEGATED
        self._cond: dict[tuple[int, int, int, int], tuple[list[tuple[int, int, int]], np.ndarray]] = {}
        if not self._rfinal[1]:
            if explain:
                check_feasible(table, constraints, never)  # raises, naming the conflicting totals
            raise ValueError("no admissible completion of the unknown levels meets these totals")

    # --- set-up ------------------------------------------------------------------------------------------

    def _known_codes(self, table: pd.DataFrame, year: int) -> np.ndarray:
        """Codes of the known levels as given (2015/16 greater involvement and none kept apart); -1 if open."""
        levels = table[f"level_{year}"].astype(str).to_numpy()
        return np.array([_CODE.get(lvl, -1) for lvl in levels], dtype=np.int8)

    def _known_lower(self, year: int) -> dict[str, int]:
        states = self._s15 if year == 2015 else self._s16
        return {lvl: int((states == lvl).sum()) for lvl in _LOWER[year]}

    def _area_bounds(self) -> dict[str, tuple[int, int]] | None:
        """The area team's 2015/16 lower-level bounds less its known CCGs at each level (None: no area total)."""
        if self.area is None:
            return None
        known = self._s15[self._in_area]
        return {lvl: (lo - int((known == lvl).sum()), hi - int((known == lvl).sum()))
                for (year, scope, lvl), (lo, hi) in self._ranges.items() if year == 2015 and scope == self.area}

    def _region_cells(self, region: str) -> _Cells:
        """Open CCGs that may be delegated in 2015/16 (delegated / unknown in 2016/17) and their count weights."""
        here = self._region == region
        a = here & (self._s15 == UNKNOWN) & (self._s16 == DELEGATED)
        b = here & (self._s15 == UNKNOWN) & (self._s16 == UNKNOWN)
        known = int((here & (self._s15 == DELEGATED)).sum())
        lo, hi = self._ranges.get((2015, region, DELEGATED), (0, len(self._s15)))
        inside = self._in_area
        return _Cells(np.flatnonzero(a & inside), np.flatnonzero(b & inside), np.flatnonzero(a & ~inside),
                      np.flatnonzero(b & ~inside), known, lo, hi)

    def _national_programme(self) -> list[dict[tuple[int, int, int], int]]:
        """prefix[i][(m, k, s)]: assignments of delegation in regions before i with those running counts."""
        lo, hi = self._ranges.get((2015, ENGLAND, DELEGATED), (0, len(self._s15)))
        cap = hi - int((self._s15 == DELEGATED).sum())
        prefix = [{(0, 0, 0): 1}]
        for cells in self._rcells:
            nxt: dict[tuple[int, int, int], int] = {}
            for (m0, k0, s0), w0 in prefix[-1].items():
                for (m, k, s), w in cells.weights.items():
                    if m0 + m + k0 + k <= cap:
                        key = (m0 + m, k0 + k, s0 + s)
                        nxt[key] = nxt.get(key, 0) + w0 * w
            prefix.append(nxt)
        return prefix

    def _options_2016(self, m: int, k: int) -> tuple[list[int], list[int]]:
        """Newly delegated among the free 2016/17 unknowns (x), weighted by the 2016/17 completions with it."""
        if (m, k) not in self._x16:
            s15, s16 = self._s15, self._s16
            d15 = int((s15 == DELEGATED).sum()) + m + k
            n_d16 = int((s16 == DELEGATED).sum())
            known_new = n_d16 - int(((s16 == DELEGATED) & (s15 == DELEGATED)).sum()) - m
            forced = int(((s16 == UNKNOWN) & (s15 == DELEGATED)).sum()) + k
            free = int((s16 == UNKNOWN).sum()) - forced
            nd = int((s16 == NOT_DELEGATED).sum())
            d_lo, d_hi = self._ranges.get((2016, ENGLAND, DELEGATED), (0, len(s15)))
            n_lo, n_hi = self._ranges.get((2016, ENGLAND, NEWLY_DELEGATED), (0, len(s15)))
            xs, weights = [], []
            for x in range(free + 1):
                if d_lo <= d15 + known_new + x <= d_hi and n_lo <= known_new + x <= n_hi:
                    w = math.comb(free, x) * self._lower[2016].total((free - x + nd,))
                    if w:
                        xs.append(x)
                        weights.append(w)
            self._x16[(m, k)] = (xs, weights)
        return self._x16[(m, k)]

    def _pools_2015(self, m: int, k: int, s: int) -> tuple[int, ...]:
        """Sizes of the 2015/16 lower-level pools once m + k open CCGs (s in the area) are delegated."""
        if self.area is None:
            return (self._pool_in + self._pool_out - m - k,)
        return (self._pool_in - s, self._pool_out - (m + k - s))

    def _final_weights(self) -> tuple[list[tuple[int, int, int]], list[int]]:
        """Admissible (m, k, s) with their weights under the prior (see :meth:`count` and the module docstring)."""
        lo, hi = self._ranges.get((2015, ENGLAND, DELEGATED), (0, len(self._s15)))
        known = int((self._s15 == DELEGATED).sum())
        keys, weights = [], []
        self._n15: dict[tuple[int, int, int], int] = {}
        for (m, k, s), w in sorted(self._rprefix[-1].items()):
            if not lo <= known + m + k <= hi or not self._options_2016(m, k)[0]:
                continue
            w *= self._lower[2015].total(self._pools_2015(m, k, s))
            if w:
                self._n15[(m, k, s)] = w
                keys.append((m, k, s))
                weights.append(w * (sum(self._options_2016(m, k)[1]) if self.prior == UNIFORM_HISTORIES else 1))
        return keys, weights

    # --- public ------------------------------------------------------------------------------------------

    def count(self) -> int:
        """Number of admissible 2015/16 completions (assignments of levels to the open 2015/16 CCG-years)."""
        return int(sum(self._n15.values()))

    def count_histories(self) -> int:
        """Number of admissible two-year histories (assignments of levels to every open CCG-year, both years).

        A 2015/16 completion with delegation counts (m, k) goes with exactly the 2016/17 completions counted by
        ``_options_2016(m, k)``, so this is the sum over (m, k, s) of the 2015/16 count times that count.
        """
        return int(sum(w * sum(self._options_2016(m, k)[1]) for (m, k, _), w in self._n15.items()))

    def draw_array(self, n: int, seed: int) -> np.ndarray:
        """``n`` completions as level codes (index into :data:`CODES`), shape (n, CCGs, 2): 2015/16, 2016/17.

        The same seed gives the same draws; CCGs are in the order of :attr:`ods_codes`.
        """
        rng = np.random.default_rng(seed)
        out = np.empty((n, len(self.ods_codes), 2), dtype=np.int8)
        for i in range(n):
            l15, m, k = self._draw_2015(rng)
            out[i, :, 0] = l15
            out[i, :, 1] = self._draw_2016(rng, l15, m, k)
        if (out < 0).any():  # every CCG-year must have been given a level
            raise RuntimeError("internal error: a drawn completion left a CCG-year without a level")
        return out

    def draw(self, n: int, seed: int) -> pd.DataFrame:
        """``n`` completions, one row per CCG per draw: completion (0..n-1), ods_code, level_2015, level_2016.

        >>> from geodata.totals import Constraint
        >>> t = pd.DataFrame({"ods_code": ["00A"], "region": ["North"], "level_2015": ["not_delegated"],
        ...                   "level_2016": ["joint"]})
        >>> d = CompletionSampler(t, [Constraint(2015, "England", "joint", 0, 0, ("X",), "")]).draw(1, seed=0)
        >>> d.loc[0, ["ods_code", "level_2015", "level_2016"]].tolist()
        ['00A', 'greater_involvement_or_none', 'joint']
        """
        codes = self.draw_array(n, seed)
        names = np.array(CODES, dtype=object)
        return pd.DataFrame({
            "completion": np.repeat(np.arange(n), len(self.ods_codes)),
            "ods_code": np.tile(self.ods_codes, n),
            "level_2015": names[codes[:, :, 0].ravel()],
            "level_2016": names[codes[:, :, 1].ravel()],
        }, columns=COMPLETION_COLUMNS)

    def delegation_structure(self) -> tuple[list, tuple[list[tuple[int, int]], list[int]], list[dict]] | None:
        """The 2015/16 delegation programme by (m, k) alone, for exact optimisation over completions; or None.

        Returns ``(cells, final, prefix)``: per region ``(a, b, weights)`` (open CCGs delegated / unknown in
        2016/17, and the weight of each (m, k) delegated from them within the regional quota), the admissible
        national (m, k) with weights, and the programme's running (m, k) weights by region. It is None when
        admissibility depends on more than (m, k), that is where an area team's total admits some ways of
        placing the same counts and not others (then an optimiser over (m, k) could pick an inadmissible one).
        Weights follow the prior; only which are non-zero matters for admissibility.
        """
        if "structure" not in self._memo:
            self._memo["structure"] = self._delegation_structure()
        return self._memo["structure"]

    def _delegation_structure(self) -> tuple[list, tuple[list[tuple[int, int]], list[int]], list[dict]] | None:
        admissible = set(self._rfinal[0])
        if any((m, k) in {(a, b) for a, b, _ in admissible} and (m, k, s) not in admissible
               for (m, k, s), w in self._rprefix[-1].items() if w):
            return None

        def project(weights: dict[tuple[int, int, int], int]) -> dict[tuple[int, int], int]:
            out: dict[tuple[int, int], int] = {}
            for (m, k, _), w in weights.items():
                out[(m, k)] = out.get((m, k), 0) + w
            return out

        cells = [(np.sort(np.concatenate([c.a_in, c.a_out])), np.sort(np.concatenate([c.b_in, c.b_out])),
                  project(c.weights)) for c in self._rcells]
        final = project(dict(zip(*self._rfinal)))
        return cells, (list(final), list(final.values())), [project(p) for p in self._rprefix]

    # Compatibility with callers that read the programme directly (dashboard.robust.extremes): None when
    # :meth:`delegation_structure` is.
    @property
    def _cells(self) -> list | None:
        structure = self.delegation_structure()
        return None if structure is None else structure[0]

    @property
    def _final(self) -> tuple[list[tuple[int, int]], list[int]] | None:
        structure = self.delegation_structure()
        return None if structure is None else structure[1]

    @property
    def _prefix(self) -> list[dict] | None:
        structure = self.delegation_structure()
        return None if structure is None else structure[2]

    # --- drawing -----------------------------------------------------------------------------------------

    def _conditional(self, r: int, m: int, k: int, s: int) -> tuple[list[tuple[int, int, int]], np.ndarray]:
        """Region r's (m_r, k_r, s_r) given national running counts (m, k, s) after it: drawn backwards."""
        if (r, m, k, s) not in self._cond:
            before = self._rprefix[r]
            keys, weights = [], []
            for (mr, kr, sr), w in self._rcells[r].weights.items():
                w0 = before.get((m - mr, k - kr, s - sr), 0)
                if w0:
                    keys.append((mr, kr, sr))
                    weights.append(w0 * w)
            total = sum(weights)
            p = np.array([w / total for w in weights])
            self._cond[(r, m, k, s)] = (keys, p / p.sum())
        return self._cond[(r, m, k, s)]

    def _draw_2015(self, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
        keys, weights = self._rfinal
        m, k, s = keys[_pick(rng, weights, self._final_p)]
        out = self._base15.copy()
        rm, rk, rs = m, k, s
        for r in range(len(self.regions) - 1, -1, -1):
            options, p = self._conditional(r, rm, rk, rs)
            mr, kr, sr = options[int(rng.choice(len(options), p=p))]
            out[self._rcells[r].split(rng, mr, kr, sr)] = _D
            rm, rk, rs = rm - mr, rk - kr, rs - sr
        pool = self._open15 & (out != _D)
        pools = ([np.flatnonzero(pool & self._in_area), np.flatnonzero(pool & ~self._in_area)]
                 if self.area is not None else [np.flatnonzero(pool)])
        self._lower[2015].place(rng, pools, out)
        return out, m, k

    def _draw_2016(self, rng: np.random.Generator, l15: np.ndarray, m: int, k: int) -> np.ndarray:
        out = self._base16.copy()
        unknown = self._unknown16
        d15 = l15 == _D
        out[unknown & d15] = _D
        free = np.flatnonzero(unknown & ~d15)
        xs, weights = self._options_2016(m, k)
        if (m, k) not in self._x16_p:
            self._x16_p[(m, k)] = _probabilities(weights)
        x = xs[_pick(rng, weights, self._x16_p[(m, k)])]
        order = rng.permutation(free)
        out[order[:x]] = _D
        pool = np.sort(np.concatenate([order[x:], np.flatnonzero(self._nd16)]))
        self._lower[2016].place(rng, [pool], out)
        return out


__all__ = ["CODES", "COMPLETION_COLUMNS", "PRIORS", "TWO_STAGE", "UNIFORM_HISTORIES", "CompletionSampler"]
