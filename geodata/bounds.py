"""What the published totals imply for the unknown CCG-years: exact bounds from a small integer programme.

CCGs whose two-year states are alike are interchangeable for every total, so the programme's variables are counts
per group of alike CCGs and per admissible level pair, not one per CCG; :func:`check_feasible` says which totals
conflict when no completion meets them all, and :func:`implied_bounds` gives, for each total, the least and most
unknown CCGs that can be at its level (each found by ``scipy.optimize.milp``, so exact, not sampled).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import LinearConstraint, milp

from geodata.totals import (
    BOUNDS_COLUMNS,
    ENGLAND,
    NEWLY_DELEGATED,
    TOTAL_WERE,
    TOTAL_WORDS,
    Constraint,
    at_level,
    ccg_states,
    check_constraint,
    check_not_above,
    known_and_unknown,
    level_pairs,
)
from geodata.vocabulary import DELEGATED


@dataclass(frozen=True)
class _Model:
    """Count variables x[group, (level 2015, level 2016)]; a group: the CCGs of one area team and state pair."""

    groups: tuple[tuple[str, str, str, str], ...]
    sizes: np.ndarray
    variables: tuple[tuple[int, str, str], ...]

    @classmethod
    def build(cls, states: pd.DataFrame) -> _Model:
        counts = states.groupby(["region", "area_team", "state_2015", "state_2016"]).size()
        groups = tuple((str(r), str(t), str(a), str(b)) for r, t, a, b in counts.index)
        variables = tuple((g, a, b) for g, (_, _, s15, s16) in enumerate(groups) for a, b in level_pairs(s15, s16))
        return cls(groups, counts.to_numpy(dtype=float), variables)

    def row(self, c: Constraint) -> np.ndarray:
        """Coefficients of the count of the constraint's scope at its level."""
        return np.array([float(c.scope in (ENGLAND, *self.groups[g][:2]) and at_level(c.year, c.level, a, b))
                         for g, a, b in self.variables])

    def solve(self, constraints: Sequence[Constraint], objective: np.ndarray | None = None) -> float | None:
        """Optimum of ``objective`` (minimised) over all completions meeting ``constraints``; None if none."""
        n = len(self.variables)
        member = np.zeros((len(self.groups), n))
        for j, (g, _, _) in enumerate(self.variables):
            member[g, j] = 1.0
        parts = [LinearConstraint(member, self.sizes, self.sizes)]
        if constraints:
            parts.append(LinearConstraint(np.array([self.row(c) for c in constraints]),
                                          [c.lo for c in constraints], [c.hi for c in constraints]))
        cost = np.zeros(n) if objective is None else objective
        res = milp(cost, constraints=parts, integrality=np.ones(n), bounds=(0, np.inf))
        return float(res.fun) if res.status == 0 else None


def _infeasible_subset(model: _Model, constraints: list[Constraint]) -> list[Constraint]:
    """A minimal set of constraints that no completion meets together (deletion filter)."""
    kept = list(constraints)
    for c in list(kept):
        trial = [k for k in kept if k is not c]
        if model.solve(trial) is None:
            kept = trial
    return kept


def check_feasible(table: pd.DataFrame, constraints: Sequence[Constraint],
                   never_delegated_2015: Iterable[str] = ()) -> pd.DataFrame:
    """Stop with a ``ValueError`` naming the constraints if no completion of the unknown levels meets them.

    Returns the per-CCG states (:func:`ccg_states`). First each constraint alone (known CCGs above its maximum,
    too few open CCGs for its minimum), then all together with the integer programme, naming a minimal
    conflicting set.

    >>> t = pd.DataFrame({"ods_code": ["00A"], "region": ["North"], "level_2015": ["delegated"],
    ...                   "level_2016": ["delegated"]})
    >>> check_feasible(t, [Constraint(2015, "England", "delegated", 0, 0, ("X",), "")])
    Traceback (most recent call last):
    ...
    ValueError: England, 2015/16: 0 delegated (X): 1 CCGs already known delegated, above the maximum 0
    """
    states = ccg_states(table, never_delegated_2015)
    constraints = list(constraints)
    for c in constraints:
        check_constraint(c, states)
        known, open_ = known_and_unknown(states, c)
        check_not_above(c, known)
        if known + open_ < c.lo:
            raise ValueError(f"{c.describe()}: only {known} known and {open_} open CCGs, below the minimum {c.lo}")
    model = _Model.build(states)
    if model.solve(constraints) is None:
        conflict = _infeasible_subset(model, constraints)
        raise ValueError("no completion of the unknown levels meets these totals together (with every known "
                         "level kept): " + "; ".join(c.describe() for c in conflict))
    return states


# --- implied bounds -----------------------------------------------------------------------------------------


def _sentence(c: Constraint, known: int, open_: int, low: int, high: int) -> str:
    open_words = "undecided" if c.level == NEWLY_DELEGATED else (
        "unknown" if c.level == DELEGATED else "unknown or not delegated (level not stated)")
    between = f"{low}" if low == high else f"between {low} and {high}"
    return (f"{c.describe()}; {known} known {TOTAL_WORDS[c.level]}, {open_} {open_words}: {between} of those {open_} "
            f"{TOTAL_WERE[c.level]}.")


def implied_bounds(table: pd.DataFrame, constraints: Sequence[Constraint],
                   never_delegated_2015: Iterable[str] = ()) -> pd.DataFrame:
    """For each constraint: how many of its scope's open CCGs can be at its level, given every constraint.

    Exact: the minimum and maximum of an integer programme over count variables per (region, 2015/16 state,
    2016/17 state, level pair), with every constraint of both years at once, each CCG one level a year,
    not_delegated never delegated and delegation in 2015/16 kept in 2016/17. Raises ``ValueError`` naming the
    constraints if none can hold.

    >>> t = pd.DataFrame({"ods_code": ["00A", "00B"], "region": ["North"] * 2,
    ...                   "level_2015": ["delegated", "unknown"], "level_2016": ["delegated", "unknown"]})
    >>> b = implied_bounds(t, [Constraint(2015, "North", "delegated", 1, 2, ("X",), "")])
    >>> b[["known", "unknown_in_scope", "min_unknown_at_level", "max_unknown_at_level"]].values.tolist()
    [[1, 1, 0, 1]]
    """
    constraints = list(constraints)
    states = check_feasible(table, constraints, never_delegated_2015)
    model = _Model.build(states)
    rows = []
    for c in constraints:
        row = model.row(c)
        low, high = round(model.solve(constraints, row)), round(-model.solve(constraints, -row))
        known, open_ = known_and_unknown(states, c)
        rows.append({"year": c.year, "scope": c.scope, "level": c.level, "lo": c.lo, "hi": c.hi, "known": known,
                     "unknown_in_scope": open_, "min_unknown_at_level": low - known,
                     "max_unknown_at_level": high - known, "sources": ", ".join(c.sources),
                     "sentence": _sentence(c, known, open_, low - known, high - known)})
    return pd.DataFrame(rows, columns=BOUNDS_COLUMNS)
