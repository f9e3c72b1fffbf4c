"""Admissible completions of the unknown co-commissioning levels, drawn by a seeded exact sampler.

A *completion* gives every unknown and every ``not_delegated`` CCG-year a concrete level so that every
published total (:class:`geodata.totals.Constraint`, by region where regional, nationally otherwise) holds,
every known level is kept, ``not_delegated`` is never delegated, a CCG delegated in 2015/16 is delegated in
2016/17, the newly-delegated count holds and the CCGs in ``never_delegated_2015`` are not delegated in
2015/16. In 2015/16 no total separates greater involvement from no role, so a completion gives the one class
``greater_involvement_or_none`` there (a known 2015/16 greater involvement or none is kept as it is).

Sampling scheme: the 2015/16 levels are drawn uniformly among the admissible 2015/16 completions (uniform over
assignments of levels to CCG-years, not over count vectors; a 2015/16 completion is admissible when it meets
the 2015/16 totals and at least one 2016/17 completion goes with it); then the 2016/17 levels are drawn
uniformly among the 2016/17 completions admissible given that 2015/16 draw. So every admissible 2015/16
completion is equally likely, and a pair's probability is 1 / (number of 2015/16 completions) x 1 / (number of
2016/17 completions given its 2015/16 part).

How: CCGs in the same region and state are interchangeable, so the sampler works with counts. The number of
assignments realising a count vector is a product of binomial coefficients (exact Python integers, no
overflow). Delegation is decided first: per region, how many of the open CCGs are delegated in 2015/16, with a
dynamic programme over regions whose state is the running national count (split by whether the CCG is
delegated or unknown in 2016/17, which is what 2016/17 depends on); lower levels follow nationally from the
remaining pool. Count vectors are drawn backwards through the programme, then levels are placed on CCGs with
random permutations from ``np.random.default_rng(seed)``. The sampler supports the totals that are published:
delegated by region and nationally in 2015/16, lower levels and all 2016/17 totals nationally; it refuses
others with a ``ValueError`` (``geodata.totals.implied_bounds`` handles any of them exactly).

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

from geodata.totals import (
    ENGLAND,
    GREATER_INVOLVEMENT_OR_NONE,
    NEWLY_DELEGATED,
    YEAR_LEVELS,
    Constraint,
    ccg_states,
    check_feasible,
)
from geodata.vocabulary import DELEGATED, GREATER_INVOLVEMENT, JOINT, NONE, NOT_DELEGATED, UNKNOWN, YEAR_LABEL

#: Level codes of :meth:`CompletionSampler.draw_array` (index into this tuple).
CODES: tuple[str, ...] = (DELEGATED, JOINT, GREATER_INVOLVEMENT, NONE, GREATER_INVOLVEMENT_OR_NONE)
_CODE = {level: i for i, level in enumerate(CODES)}
_D = _CODE[DELEGATED]
_LOWER = {2015: YEAR_LEVELS[2015][1:], 2016: YEAR_LEVELS[2016][1:]}
COMPLETION_COLUMNS = ["completion", "ods_code", "level_2015", "level_2016"]


def _multinomial(n: int, parts: Iterable[int]) -> int:
    out, left = 1, n
    for k in parts:
        out *= math.comb(left, k)
        left -= k
    return out


def _pick(rng: np.random.Generator, weights: Sequence[int]) -> int:
    """Index drawn with probability proportional to exact integer weights."""
    total = sum(weights)
    p = np.array([w / total for w in weights])
    return int(rng.choice(len(p), p=p / p.sum()))


def _ranges(constraints: Sequence[Constraint], regions: Sequence[str], n: int) -> dict[tuple, tuple[int, int]]:
    """(year, scope, level) -> intersected [lo, hi]; refuses totals the sampler does not handle."""
    out: dict[tuple, tuple[int, int]] = {}
    for c in constraints:
        regional_ok = c.year == 2015 and c.level == DELEGATED
        if c.scope != ENGLAND and not regional_ok:
            raise ValueError(f"{c.describe()}: the sampler handles regional totals only for delegated in 2015/16; "
                             "use geodata.totals.implied_bounds for exact bounds with this total")
        if c.scope != ENGLAND and c.scope not in regions:
            raise ValueError(f"{c.describe()}: scope {c.scope!r} is neither England nor a region of the table")
        allowed = YEAR_LEVELS.get(c.year, ()) + ((NEWLY_DELEGATED,) if c.year == 2016 else ())
        if c.level not in allowed:
            raise ValueError(f"{c.describe()}: level {c.level!r} is not one the sampler can complete in "
                             f"{YEAR_LABEL.get(c.year, c.year)} ({allowed})")
        lo, hi = out.get((c.year, c.scope, c.level), (0, n))
        out[(c.year, c.scope, c.level)] = (max(lo, c.lo), min(hi, c.hi))
    return out


class _Lower:
    """A year's lower levels for a pool of interchangeable CCGs: the count vectors the totals allow, weighted."""

    def __init__(self, year: int, ranges: dict[tuple, tuple[int, int]], known: dict[str, int]) -> None:
        self.levels = _LOWER[year]
        self.tracked = tuple(lvl for lvl in self.levels if (year, ENGLAND, lvl) in ranges)
        self.untracked = tuple(lvl for lvl in self.levels if lvl not in self.tracked)
        self.bounds = [(ranges[(year, ENGLAND, lvl)][0] - known[lvl], ranges[(year, ENGLAND, lvl)][1] - known[lvl])
                       for lvl in self.tracked]
        self._options: dict[int, tuple[list[tuple[int, ...]], list[int]]] = {}

    def options(self, pool: int) -> tuple[list[tuple[int, ...]], list[int]]:
        """Count vectors of the tracked levels for ``pool`` CCGs and how many assignments realise each."""
        if pool not in self._options:
            counts, weights, u = [], [], len(self.untracked)
            spans = [range(max(lo, 0), min(hi, pool) + 1) for lo, hi in self.bounds]
            for vec in itertools.product(*spans):
                rest = pool - sum(vec)
                if rest < 0 or (u == 0 and rest):
                    continue
                counts.append(vec)
                weights.append(_multinomial(pool, vec) * u ** rest)
            self._options[pool] = (counts, weights)
        return self._options[pool]

    def total(self, pool: int) -> int:
        return sum(self.options(pool)[1])

    def place(self, rng: np.random.Generator, pool: np.ndarray, out: np.ndarray) -> None:
        """Give the pool's CCGs lower levels, uniformly among the assignments the totals allow."""
        counts, weights = self.options(len(pool))
        vec = counts[_pick(rng, weights)]
        order = rng.permutation(pool)
        start = 0
        for level, k in zip(self.tracked, vec):
            out[order[start:start + k]] = _CODE[level]
            start += k
        rest = order[start:]
        if len(rest):
            codes = np.array([_CODE[lvl] for lvl in self.untracked])
            out[rest] = codes[rng.integers(len(codes), size=len(rest))] if len(codes) > 1 else codes[0]


class CompletionSampler:
    """Exact, seeded sampler of admissible completions (scheme in the module docstring).

    Parameters
    ----------
    table : DataFrame with ods_code (column or index), region, level_2015, level_2016; levels resting on evidence
        the caller does not accept should already be ``unknown``.
    constraints : the published totals (:func:`geodata.totals.constraints_from_totals`).
    never_delegated_2015 : CCGs newly authorised for April 2016, so not delegated in 2015/16.

    Raises ``ValueError`` naming the conflicting totals if no completion exists.

    >>> from geodata.totals import Constraint
    >>> t = pd.DataFrame({"ods_code": ["00A", "00B", "00C"], "region": ["North", "North", "South"],
    ...                   "level_2015": ["unknown", "delegated", "unknown"], "level_2016": ["unknown"] * 3})
    >>> s = CompletionSampler(t, [Constraint(2015, "North", "delegated", 2, 2, ("X",), "")], {"00C"})
    >>> s.draw(1, seed=0)["level_2015"].tolist()
    ['delegated', 'delegated', 'joint']
    """

    def __init__(self, table: pd.DataFrame, constraints: Sequence[Constraint],
                 never_delegated_2015: Iterable[str] = ()) -> None:
        never = set(never_delegated_2015)
        states = ccg_states(table, never)
        self.ods_codes: np.ndarray = states["ods_code"].to_numpy()
        self.regions: tuple[str, ...] = tuple(sorted(states["region"].unique()))
        n = len(states)
        self._ranges = _ranges(constraints, self.regions, n)
        self._s15, self._s16 = states["state_2015"].to_numpy(), states["state_2016"].to_numpy()
        self._region = states["region"].to_numpy()
        self._base15 = self._known_codes(table, 2015)
        self._base16 = self._known_codes(table, 2016)
        self._lower = {year: _Lower(year, self._ranges, self._known_lower(year)) for year in (2015, 2016)}
        self._cells = [self._region_cells(r) for r in self.regions]
        self._prefix = self._national_programme()
        self._x16: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
        self._final = self._final_weights()
        self._cond: dict[tuple[int, int, int], tuple[list[tuple[int, int]], np.ndarray]] = {}
        if not self._final[1]:
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

    def _region_cells(self, region: str) -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], int]]:
        """Open CCGs that may be delegated in 2015/16 (delegated / unknown in 2016/17) and their count weights."""
        here = self._region == region
        a = np.flatnonzero(here & (self._s15 == UNKNOWN) & (self._s16 == DELEGATED))
        b = np.flatnonzero(here & (self._s15 == UNKNOWN) & (self._s16 == UNKNOWN))
        known = int((here & (self._s15 == DELEGATED)).sum())
        lo, hi = self._ranges.get((2015, region, DELEGATED), (0, len(self._s15)))
        weights = {(m, k): math.comb(len(a), m) * math.comb(len(b), k)
                   for m in range(len(a) + 1) for k in range(len(b) + 1) if lo <= known + m + k <= hi}
        return a, b, weights

    def _national_programme(self) -> list[dict[tuple[int, int], int]]:
        """prefix[i][(m, k)]: assignments of delegation in regions before i with those running counts."""
        lo, hi = self._ranges.get((2015, ENGLAND, DELEGATED), (0, len(self._s15)))
        cap = hi - int((self._s15 == DELEGATED).sum())
        prefix = [{(0, 0): 1}]
        for _, _, weights in self._cells:
            nxt: dict[tuple[int, int], int] = {}
            for (m0, k0), w0 in prefix[-1].items():
                for (m, k), w in weights.items():
                    if m0 + m + k0 + k <= cap:
                        nxt[(m0 + m, k0 + k)] = nxt.get((m0 + m, k0 + k), 0) + w0 * w
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
                    w = math.comb(free, x) * self._lower[2016].total(free - x + nd)
                    if w:
                        xs.append(x)
                        weights.append(w)
            self._x16[(m, k)] = (xs, weights)
        return self._x16[(m, k)]

    def _final_weights(self) -> tuple[list[tuple[int, int]], list[int]]:
        """Admissible (m, k) with the number of admissible 2015/16 completions having them."""
        lo, hi = self._ranges.get((2015, ENGLAND, DELEGATED), (0, len(self._s15)))
        known = int((self._s15 == DELEGATED).sum())
        pool = int(np.isin(self._s15, [UNKNOWN, NOT_DELEGATED]).sum())
        keys, weights = [], []
        for (m, k), w in sorted(self._prefix[-1].items()):
            if not lo <= known + m + k <= hi or not self._options_2016(m, k)[0]:
                continue
            w *= self._lower[2015].total(pool - m - k)
            if w:
                keys.append((m, k))
                weights.append(w)
        return keys, weights

    # --- public ------------------------------------------------------------------------------------------

    def count(self) -> int:
        """Number of admissible 2015/16 completions (assignments of levels to the open 2015/16 CCG-years)."""
        return int(sum(self._final[1]))

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

    # --- drawing -----------------------------------------------------------------------------------------

    def _conditional(self, r: int, m: int, k: int) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Region r's (m_r, k_r) given national running counts (m, k) after it: drawn backwards."""
        if (r, m, k) not in self._cond:
            before = self._prefix[r]
            keys, weights = [], []
            for (mr, kr), w in self._cells[r][2].items():
                w0 = before.get((m - mr, k - kr), 0)
                if w0:
                    keys.append((mr, kr))
                    weights.append(w0 * w)
            total = sum(weights)
            p = np.array([w / total for w in weights])
            self._cond[(r, m, k)] = (keys, p / p.sum())
        return self._cond[(r, m, k)]

    def _draw_2015(self, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
        keys, weights = self._final
        m, k = keys[_pick(rng, weights)]
        out = self._base15.copy()
        rm, rk = m, k
        for r in range(len(self.regions) - 1, -1, -1):
            options, p = self._conditional(r, rm, rk)
            mr, kr = options[int(rng.choice(len(options), p=p))]
            a, b = self._cells[r][0], self._cells[r][1]
            out[rng.choice(a, size=mr, replace=False)] = _D
            out[rng.choice(b, size=kr, replace=False)] = _D
            rm, rk = rm - mr, rk - kr
        pool = np.flatnonzero(np.isin(self._s15, [UNKNOWN, NOT_DELEGATED]) & (out != _D))
        self._lower[2015].place(rng, pool, out)
        return out, m, k

    def _draw_2016(self, rng: np.random.Generator, l15: np.ndarray, m: int, k: int) -> np.ndarray:
        out = self._base16.copy()
        unknown = self._s16 == UNKNOWN
        out[unknown & (l15 == _D)] = _D
        free = np.flatnonzero(unknown & (l15 != _D))
        xs, weights = self._options_2016(m, k)
        x = xs[_pick(rng, weights)]
        chosen = rng.choice(free, size=x, replace=False)
        out[chosen] = _D
        rest = np.setdiff1d(free, chosen)
        pool = np.union1d(rest, np.flatnonzero(self._s16 == NOT_DELEGATED))
        self._lower[2016].place(rng, pool, out)
        return out


__all__ = ["CODES", "COMPLETION_COLUMNS", "CompletionSampler"]
