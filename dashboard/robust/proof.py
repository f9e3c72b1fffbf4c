"""Every admissible completion of a filter's open CCG-years, listed exactly when they are few (issue 19).

A statistic of the panel sees only the filter's CCGs and one year. So "whatever the unknown levels were" is
a statement about the *restricted* completions: the labellings of the filter's open CCGs (unknown, or
``not_delegated``) in that year that extend to at least one admissible completion of the whole country. When
the product of each open CCG's possible levels is small (:data:`CANDIDATE_LIMIT`), every candidate is listed
and kept if it is admissible. Admissibility depends only on how many of the filter's open CCGs of each
(region, 2015/16 state, 2016/17 state) take each level, so one integer programme per distinct count vector
decides it (``scipy.optimize.milp``; count variables per group and level pair, every published total, each CCG
one level a year, delegation kept from 2015/16 to 2016/17, ``not_delegated`` never delegated), the same model
as :func:`geodata.bounds.implied_bounds`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import LinearConstraint, milp

from dashboard.completions import CODES
from geodata.totals import ENGLAND, Constraint, at_level, ccg_states, level_pairs

#: List the candidates only when there are at most this many, and at most this many integer programmes.
CANDIDATE_LIMIT = 20_000
PROGRAMME_LIMIT = 256
_CODE = {level: i for i, level in enumerate(CODES)}


def _year_level(year: int, pair: tuple[str, str]) -> str:
    return pair[0] if year == 2015 else pair[1]


def scoped_states(states: pd.DataFrame, constraints: Sequence[Constraint]) -> pd.DataFrame:
    """``states`` with the CCGs of an area team that has its own total (Surrey and Sussex) in a group of their own:
    their ``region`` becomes "region | area team", so the programmes can count that total.

    >>> st = pd.DataFrame({"region": ["South", "South"], "area_team": ["Surrey and Sussex", "Wessex"]})
    >>> cs = [Constraint(2015, "Surrey and Sussex", "greater_involvement_or_none", 5, 12, (), "")]
    >>> scoped_states(st, cs)["region"].tolist()
    ['South | Surrey and Sussex', 'South']
    """
    areas = {c.scope for c in constraints} & set(states.get("area_team", pd.Series(dtype=str)).astype(str))
    if not areas:
        return states
    out = states.copy()
    inside = out["area_team"].astype(str).isin(areas)
    out["region"] = out["region"].where(~inside, out["region"].astype(str) + " | " + out["area_team"].astype(str))
    return out


def in_scope(group_region: str, scope: str) -> bool:
    """Whether a group (its ``region``, possibly "region | area team") counts towards a total of ``scope``."""
    region, _, area = group_region.partition(" | ")
    return scope in (ENGLAND, region, area)


class _Feasible:
    """Whether fixing the year's level of some open CCGs (as counts per group) leaves an admissible completion."""

    def __init__(self, states: pd.DataFrame, constraints: Sequence[Constraint], year: int) -> None:
        self.states, self.constraints, self.year = states, list(constraints), year
        self._seen: dict[tuple, bool] = {}
        self.programmes = 0

    def __call__(self, fixed: tuple[tuple[tuple[str, str, str], int, int], ...], rows: np.ndarray) -> bool:
        """``fixed``: ((region, s15, s16), code, how many) for the listed open CCGs ``rows``."""
        if fixed in self._seen:
            return self._seen[fixed]
        st = self.states
        free = np.ones(len(st), dtype=bool)
        free[rows] = False
        groups: list[tuple[tuple[str, str, str], int, int | None]] = []
        rest = st[free].groupby(["region", "state_2015", "state_2016"]).size()
        groups += [((str(r), str(a), str(b)), int(k), None) for (r, a, b), k in rest.items()]
        groups += [(g, k, code) for g, code, k in fixed]
        variables = []
        for gi, ((_, s15, s16), _, code) in enumerate(groups):
            for pair in level_pairs(s15, s16):
                if code is None or _CODE.get(_year_level(self.year, pair)) == code:
                    variables.append((gi, pair))
        member = np.zeros((len(groups), len(variables)))
        for j, (gi, _) in enumerate(variables):
            member[gi, j] = 1.0
        sizes = np.array([k for _, k, _ in groups], dtype=float)
        parts = [LinearConstraint(member, sizes, sizes)]
        if self.constraints:
            rows_c = np.array([[float(in_scope(groups[gi][0][0], c.scope) and at_level(c.year, c.level, *pair))
                                for gi, pair in variables]
                               for c in self.constraints])
            parts.append(LinearConstraint(rows_c, [c.lo for c in self.constraints],
                                          [c.hi for c in self.constraints]))
        self.programmes += 1
        ok = bool(len(variables)) and milp(np.zeros(len(variables)), constraints=parts,
                                           integrality=np.ones(len(variables)), bounds=(0, np.inf)).status == 0
        self._seen[fixed] = ok
        return ok


def admissible_restricted(table: pd.DataFrame, constraints: Sequence[Constraint], year: int, mask: np.ndarray,
                          never_delegated_2015: Iterable[str] = ()) -> np.ndarray | None:
    """Every admissible labelling of the year's levels of the filter's CCGs, as sampler codes (N, table rows).

    Known CCGs keep their given level (its code); CCGs outside the filter get -1. None when the candidates or
    the integer programmes would be too many to list exactly.

    >>> t = pd.DataFrame({"ods_code": ["A", "B", "C"], "region": ["N"] * 3,
    ...                   "level_2015": ["unknown"] * 3, "level_2016": ["delegated"] * 3})
    >>> cs = [Constraint(2015, "England", "delegated", 1, 1, ("X",), "")]
    >>> got = admissible_restricted(t, cs, 2015, np.ones(3, bool))
    >>> len(got), sorted({tuple((row == 0).astype(int).tolist()) for row in got})
    (12, [(0, 0, 1), (0, 1, 0), (1, 0, 0)])
    """
    states = scoped_states(ccg_states(table, never_delegated_2015), constraints)
    state_col = states[f"state_{year}"].to_numpy()
    given = table[f"level_{year}"].astype(str).to_numpy()
    open_rows = np.flatnonzero(mask & np.isin(state_col, ["unknown", "not_delegated"]))
    options: list[list[int]] = []
    for r in open_rows:
        levels = {_year_level(year, pair) for pair in level_pairs(states["state_2015"].iat[r],
                                                                    states["state_2016"].iat[r])}
        options.append(sorted(_CODE[lv] for lv in levels))
    total = 1
    for o in options:
        total *= len(o)
        if total > CANDIDATE_LIMIT:
            return None
    base = np.array([_CODE.get(g, -1) for g in given], dtype=np.int8)
    base[~mask] = -1
    cands = np.array(list(itertools.product(*options)), dtype=np.int8).reshape(-1, len(open_rows))
    group = list(zip(states["region"].to_numpy()[open_rows], states["state_2015"].to_numpy()[open_rows],
                     states["state_2016"].to_numpy()[open_rows]))
    keys = sorted(set(group))
    gidx = np.array([keys.index(g) for g in group], dtype=np.intp)
    counts = np.zeros((len(cands), len(keys), len(CODES)), dtype=np.int64)
    for j in range(len(open_rows)):
        counts[np.arange(len(cands)), gidx[j], cands[:, j]] += 1
    flat = counts.reshape(len(cands), -1)
    uniq, inverse = np.unique(flat, axis=0, return_inverse=True)
    if len(uniq) > PROGRAMME_LIMIT:
        return None
    feasible = _Feasible(states, constraints, year)
    ok = np.zeros(len(uniq), dtype=bool)
    for u, vec in enumerate(uniq):
        v = vec.reshape(len(keys), len(CODES))
        fixed = tuple((tuple(map(str, keys[g])), int(c), int(v[g, c])) for g in range(len(keys))
                      for c in range(len(CODES)) if v[g, c])
        ok[u] = feasible(fixed, open_rows)
    keep = ok[np.ravel(inverse)]
    out = np.repeat(base[None, :], int(keep.sum()), axis=0)
    out[:, open_rows] = cands[keep]
    return out
