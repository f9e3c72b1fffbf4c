"""Constraints from published totals, and what they imply for the CCG-years whose level is unknown.

The published totals (national, by NHS England region and, for one figure, by area team; see
``cocommissioning/SOURCES.md``) are counts, not lists, so they cannot name a CCG's level; they bound how many of
the unknown CCGs can be at each level. This module turns the in-force totals into :class:`Constraint` ranges
(one per year, scope and level, with the source ids and a note on how the range was formed; which figure is
used and why: :func:`constraints_from_totals`; every row of the totals file with its use: :func:`totals_used`),
computes exact bounds for the unknowns in each scope with a small
integer programme over groups of interchangeable CCGs (:func:`geodata.bounds.implied_bounds`), and states one
rule of inference
(:func:`rule_total_reached`). Pure functions; nothing here reads files except :func:`read_constraints`.

>>> c = Constraint(2016, "England", "joint", 68, 68, ("BJGP_2018",), "one figure")
>>> c.describe()
'England, 2016/17: 68 joint (BJGP_2018)'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geodata.levels import IN_FORCE_MEASURES, SCOPE_REGION
from geodata.vocabulary import (
    DELEGATED,
    GREATER_INVOLVEMENT,
    JOINT,
    LEVEL_WORDS,
    LEVELS,
    LOWER_LEVELS,
    NONE,
    NOT_DELEGATED,
    UNKNOWN,
    YEAR_LABEL,
    YEARS,
)

ENGLAND = "England"
#: CCGs delegated in 2016/17 that were not delegated in 2015/16 (a constraint level, not a CCG level).
NEWLY_DELEGATED = "newly_delegated"
#: 2015/16 class: no published total separates greater involvement from no role, so they are one class there.
GREATER_INVOLVEMENT_OR_NONE = "greater_involvement_or_none"
#: The levels a completion or a bound distinguishes in each year (most to least devolved).
YEAR_LEVELS: dict[int, tuple[str, ...]] = {
    2015: (DELEGATED, JOINT, GREATER_INVOLVEMENT_OR_NONE),
    2016: (DELEGATED, JOINT, GREATER_INVOLVEMENT, NONE),
}
CONSTRAINT_LEVELS: dict[int, tuple[str, ...]] = {2015: YEAR_LEVELS[2015], 2016: YEAR_LEVELS[2016] + (NEWLY_DELEGATED,)}
SCOPE_ORDER: tuple[str, ...] = (ENGLAND, "North", "Midlands and East", "London", "South")

#: Measures counting CCGs newly delegated from April 2016 (the "further 51" / "52 more").
NEWLY_MEASURES = frozenset({"approved_additional", "authorised_additional"})
#: Measures saying how many CCGs of an area team did not apply for joint or delegated commissioning.
DID_NOT_APPLY_MEASURES = frozenset({"did_not_apply"})
#: The source saying one CCG approved in February 2015 did not take delegation up; cited with regional approvals.
DROPOUT_SOURCE = "HSJ_5084097"
#: Mergers on 1 April 2015: successor ODS code -> (region, predecessor codes). Same facts as
#: ``geodata.build.MERGED_CCG``, kept here so that the build can import this module without a cycle.
MERGERS: dict[str, tuple[str, tuple[str, ...]]] = {"13T": ("North", ("00F", "00G", "00H"))}
MERGER_DATE = "2015-04"

RULE_TOTAL_REACHED = "rule:total_reached"
RULE_SOURCES: dict[str, tuple[str, str]] = {
    RULE_TOTAL_REACHED: (
        "Published totals (cocommissioning_aggregate_counts.csv, sources named in each row): where the CCGs known "
        "at a level already reach a total's maximum, no other CCG of that scope held that level",
        "",
    ),
}

#: Columns of :func:`rule_total_reached`'s rows: the layout of ``geodata.levels``' merged and rule rows.
RULE_COLUMNS = ["ods_code", "year", "level", "source", "evidence", "claim", "n_sources"]
BOUNDS_COLUMNS = [
    "year", "scope", "level", "lo", "hi", "known", "unknown_in_scope", "min_unknown_at_level",
    "max_unknown_at_level", "sources", "sentence",
]
TOTAL_WORDS = {**LEVEL_WORDS, GREATER_INVOLVEMENT_OR_NONE: "greater involvement or no role",
          NEWLY_DELEGATED: "newly delegated"}
TOTAL_WERE = {DELEGATED: "were delegated", JOINT: "were joint", GREATER_INVOLVEMENT: "had greater involvement",
         NONE: "had no co-commissioning role", GREATER_INVOLVEMENT_OR_NONE: "had greater involvement or no role",
         NEWLY_DELEGATED: "were newly delegated"}
# Options of each state: 2015 states are D, J, GIN, not_delegated, unknown; 2016 states the levels plus those two.
_OPTIONS = {
    2015: {DELEGATED: (DELEGATED,), JOINT: (JOINT,), GREATER_INVOLVEMENT_OR_NONE: (GREATER_INVOLVEMENT_OR_NONE,),
           NOT_DELEGATED: (JOINT, GREATER_INVOLVEMENT_OR_NONE), UNKNOWN: YEAR_LEVELS[2015]},
    2016: {**{lvl: (lvl,) for lvl in YEAR_LEVELS[2016]}, NOT_DELEGATED: (JOINT, GREATER_INVOLVEMENT, NONE),
           UNKNOWN: YEAR_LEVELS[2016]},
}


@dataclass(frozen=True)
class Constraint:
    """How many CCGs of ``scope`` held ``level`` in ``year``: between ``lo`` and ``hi`` inclusive.

    ``scope`` is ``"England"``, a region or an area team (a table's ``area_team``); ``level`` is a level of
    :data:`CONSTRAINT_LEVELS` (2015/16 lower levels other than joint only as
    :data:`GREATER_INVOLVEMENT_OR_NONE`). ``sources`` are the source ids of the totals file; ``note`` says how
    the range was formed, so a reader can check it.

    >>> Constraint(2015, "North", "delegated", 21, 24, ("HSJ_5082478",), "").describe()
    'North, 2015/16: 21 to 24 delegated (HSJ_5082478)'
    """

    year: int
    scope: str
    level: str
    lo: int
    hi: int
    sources: tuple[str, ...]
    note: str

    def describe(self) -> str:
        """One line naming year, scope, range, level and sources (for messages and sentences)."""
        count = f"{self.lo}" if self.lo == self.hi else f"{self.lo} to {self.hi}"
        return f"{self.scope}, {YEAR_LABEL[self.year]}: {count} {TOTAL_WORDS[self.level]} ({', '.join(self.sources)})"


# --- constraints from the totals file --------------------------------------------------------------------


def _period_year(period: str) -> int | None:
    """2015 or 2016 for '2015/16' or '2015/16 (April 2015)'; None for applications, intentions, other years."""
    match = re.fullmatch(r"(\d{4}/\d{2})(?: \(([^)]*)\))?", period.strip())
    if not match or re.search(r"application|intention|interest", match.group(2) or "", re.I):
        return None
    return next((y for y, label in YEAR_LABEL.items() if label == match.group(1)), None)


def _area_team(scope: str) -> str | None:
    """'Surrey and Sussex' for 'Surrey and Sussex area team'; None for any other scope."""
    match = re.fullmatch(r"(.+) area team", scope.strip())
    return match.group(1) if match else None


def _figures(totals: pd.DataFrame) -> pd.DataFrame:
    """The numeric in-force national and regional figures for 2015/16 and 2016/17, one row per figure, and the
    area teams' 2015/16 "did not apply" counts (as at least that many greater involvement or none)."""
    rows = []
    for _, t in totals.iterrows():
        year, scope, measure = _period_year(str(t["period"])), str(t["scope"]), str(t["measure"])
        if year is None or not str(t["count"]).strip().isdigit():
            continue
        area = _area_team(scope)
        if area is not None and measure in DID_NOT_APPLY_MEASURES and year == 2015:
            rows.append({"year": year, "scope": area, "level": GREATER_INVOLVEMENT_OR_NONE,
                         "count": int(t["count"]), "measure": measure, "source_id": str(t["source_id"]),
                         "date": str(t["source_date"])})
            continue
        if scope not in SCOPE_REGION:
            continue
        if measure in NEWLY_MEASURES and t["level"] == DELEGATED and year == 2016:
            level = NEWLY_DELEGATED
        elif measure in IN_FORCE_MEASURES and t["level"] in LEVELS:
            level = str(t["level"])
        else:
            continue
        rows.append({"year": year, "scope": SCOPE_REGION[scope] or ENGLAND, "level": level,
                     "count": int(t["count"]), "measure": measure, "source_id": str(t["source_id"]),
                     "date": str(t["source_date"])})
    return pd.DataFrame(rows, columns=["year", "scope", "level", "count", "measure", "source_id", "date"])


def _approvals_only(group: pd.DataFrame, year: int) -> bool:
    """All figures are approvals published before the year began (some approved CCGs may not have taken it up)."""
    return bool(((group["measure"] == "approved") & (group["date"] < f"{year}-04")).all())


def _dropouts(figures: pd.DataFrame, year: int, level: str) -> tuple[int, tuple[str, ...]]:
    """National approvals less CCGs in operation, and the earliest dated in-operation source saying so."""
    nat = figures[(figures["year"] == year) & (figures["scope"] == ENGLAND) & (figures["level"] == level)]
    approved = nat.loc[nat["measure"] == "approved", "count"]
    operating = nat[nat["measure"].str.startswith("in_operation")]
    if approved.empty or operating.empty:
        return 0, ()
    low = operating[operating["count"] == operating["count"].min()]
    ids = (DROPOUT_SOURCE,) if DROPOUT_SOURCE in set(low["source_id"]) else (low.sort_values("date")["source_id"]
                                                                           .iloc[0],)
    return max(0, int(approved.max()) - int(operating["count"].min())), ids


def _merger_allowance(scope: str, dates: pd.Series) -> tuple[int, str]:
    """How many fewer CCGs a pre-merger regional figure can mean among today's CCGs, and why."""
    if not (dates < MERGER_DATE).all():
        return 0, ""
    fewer, notes = 0, []
    for new, (region, olds) in MERGERS.items():
        if region == scope:
            fewer += len(olds) - 1
            notes.append(f"it predates the April 2015 merger of {', '.join(olds)} into {new}, so if all "
                         f"{len(olds)} were counted the region has {len(olds) - 1} fewer among today's CCGs")
    return fewer, "; ".join(notes)


def _listed(group: pd.DataFrame) -> str:
    """'63 (in_operation: HSJ_5084097, DACB_CASE_STUDY); 64 (approved: NHSE_2015_02_18)' for a group of figures."""
    return "; ".join(f"{c} ({', '.join(dict.fromkeys(group.loc[group['count'] == c, 'measure']))}: "
                     f"{', '.join(dict.fromkeys(group.loc[group['count'] == c, 'source_id']))})"
                     for c in sorted(set(group["count"])))


def _did_not_apply(group: pd.DataFrame, key: tuple[int, str, str], size: int
                   ) -> tuple[int, int, tuple[str, ...], str]:
    """An area team's "did not apply": at least that many of its CCGs held neither joint nor delegated."""
    count = int(group["count"].max())
    note = (f"{_listed(group)}: a CCG that did not apply for joint or delegated commissioning held neither in "
            f"{YEAR_LABEL[key[0]]}, so at least {count} of the area team's {size} CCGs had greater involvement or "
            f"no role; an applicant may still have been refused, so no other bound: {count} to {size}.")
    return count, size, tuple(dict.fromkeys(group["source_id"])), note


def _range_and_note(figures: pd.DataFrame, group: pd.DataFrame, key: tuple[int, str, str]
                    ) -> tuple[int, int, tuple[str, ...], str]:
    """One [lo, hi] for the figures of a year, scope and level, with the sources used and how it was formed.

    National figures: when any source counts the CCGs in operation in the year, those figures make the range
    and figures outside it (approvals before the year began) are named as not used, with the reason.
    """
    year, scope, level = key
    operating = group[group["measure"].str.startswith("in_operation")]
    if scope == ENGLAND and len(operating) and len(operating) < len(group):
        lo, hi = int(operating["count"].min()), int(operating["count"].max())
        inside = group[group["count"].between(lo, hi)]
        outside = group[~group["count"].between(lo, hi)]
        note = f"{_listed(inside)}: counted in operation in the year, so the range spans these"
        if len(outside):
            dropped, dropped_ids = _dropouts(figures, year, level)
            why = (f"approved or confirmed before April {year}: {dropped} approved CCG(s) did not take it up "
                   f"({', '.join(dropped_ids)})" if dropped else "not a count of CCGs in operation")
            note += f"; not used: {_listed(outside)}, {why}"
        ids = tuple(dict.fromkeys(inside["source_id"]))
        return lo, hi, ids, f"{note}: {lo} to {hi}." if lo != hi else f"{note}: {lo}."
    counts = sorted(set(group["count"]))
    ids = tuple(dict.fromkeys(group["source_id"]))
    listed = _listed(group)
    lo, hi = counts[0], counts[-1]
    if scope != ENGLAND and _approvals_only(group, year):
        dropped, dropped_ids = _dropouts(figures, year, level)
        fewer, merger_note = _merger_allowance(scope, group["date"])
        lo = max(0, lo - dropped - fewer)
        ids = ids + tuple(i for i in dropped_ids if i not in ids)
        note = (f"{listed}: approvals before April {year}; {dropped} approved CCG(s) nationally did not take it up "
                f"({', '.join(dropped_ids) or 'no in-operation figure'}), so up to {dropped} fewer here")
        note += f"; {merger_note}" if merger_note else ""
    elif len(counts) == 1:
        note = f"{listed}: one figure, taken as exact"
    else:
        note = f"{listed}: the figures differ by {hi - lo}, so the range spans them (never two exact totals)"
    return lo, hi, ids, f"{note}: {lo} to {hi}." if lo != hi else f"{note}: {lo}."


def _partitions(figures: pd.DataFrame, out: list[Constraint], n_ccgs: int) -> list[Constraint]:
    """Make a source's partition of all CCGs agree with the national delegated range, forcing no level.

    A source giving national delegated, joint and greater involvement counts for a year (BJGP_2018 for
    2016/17: 115, 68, 26, 209 in all) implies the no-role count (209 - 115 - 68 - 26 = 0), which stays exact:
    no source reports a CCG with no role that year. Its joint and greater involvement counts were counted with
    its own delegated figure: where other sources count fewer delegated (114: HSJ_7003641,
    NHSE_2017_18_CHECKLIST), the CCGs it counted delegated in excess held a level it reports but not which, so
    each of joint and greater involvement may be up to that difference (``slack``) above its count. Mixing the
    other sources' 114 with its exact 68 and 26 instead would force one CCG to have no role, a level no source
    reports for that year; letting no role take the slack too would not force it but would give it to one CCG
    in about nine completions of ten (one CCG with no role can be chosen in far more ways than one more of 68
    joint), a level still no source reports.
    """
    by_key = {(c.year, c.scope, c.level): c for c in out}
    nat = figures[(figures["scope"] == ENGLAND) & figures["level"].isin([DELEGATED, JOINT, GREATER_INVOLVEMENT])]
    for (year, source), f in nat.groupby(["year", "source_id"], sort=True):
        counts = f.groupby("level")["count"].max().to_dict()
        d = by_key.get((year, ENGLAND, DELEGATED))
        if len(counts) < 3 or sum(counts.values()) > n_ccgs or year != 2016 or d is None:
            continue
        slack = max(0, counts[DELEGATED] - d.lo)
        none = n_ccgs - sum(counts.values())
        why = (f"{source} counts {counts[DELEGATED]} delegated, {counts[JOINT]} joint and "
               f"{counts[GREATER_INVOLVEMENT]} greater involvement ({sum(counts.values())} of {n_ccgs})")
        if slack:
            why += (f"; with {d.lo} delegated (the lowest count in operation), {slack} CCG(s) it counted delegated "
                    f"held joint or greater involvement, it does not say which, so each may be up to {slack} above "
                    "its count; no role stays as the source implies, as no source reports a CCG with no role")
        for level, base in ((JOINT, counts[JOINT]), (GREATER_INVOLVEMENT, counts[GREATER_INVOLVEMENT]), (NONE, none)):
            c = by_key.get((year, ENGLAND, level))
            extra = 0 if level == NONE else slack
            lo = base if c is None else min(c.lo, base)
            hi = min(n_ccgs, base + extra if c is None else max(c.hi, base + extra))
            sources_ = (source,) if c is None else tuple(dict.fromkeys((*c.sources, source)))
            first = f"{base} ({'implied, not published' if level == NONE else source})"
            count = f"{lo}" if lo == hi else f"{lo} to {hi}"
            by_key[(year, ENGLAND, level)] = Constraint(year, ENGLAND, level, lo, hi, sources_,
                                                        f"{first}: {why}: {count}.")
    return list(by_key.values())


def constraints_from_totals(totals: pd.DataFrame, n_ccgs: int = 209,
                            scope_sizes: Mapping[str, int] | None = None) -> list[Constraint]:
    """Ranges that the published in-force totals put on the count of CCGs at each level, year and scope.

    Which figure is used, and why (each constraint's ``note`` says it for its own figures):

    * Nationally, where a source counts CCGs *in operation* in the year, those figures make the range. 2015/16
      delegated is 63 (HSJ_5084097, DACB_CASE_STUDY, HSJ_7003641, all in operation); the 64 of February and
      March 2015 (NHSE_2015_02_18, HSJ_5082478, HSJ_5083057) counted approvals before the year began, and one
      approved CCG did not take delegation up (HSJ_5084097), so 64 is not a count of delegated CCGs. 2015/16
      joint is 86 to 87 (DAC Beachcroft 86; HSJ, NHS England and BJGP 87). 2016/17 delegated is 114 to 115
      (NHSE_2017_18_CHECKLIST 114 in operation, HSJ_7003641 114 expected; BJGP_2018 115).
    * 2016/17 lower levels come from BJGP_2018's partition of the 209 CCGs (115 delegated, 68 joint, 26 greater
      involvement, so 0 with no role), widened by the one CCG the sources disagree on (:func:`_partitions`):
      joint 68 to 69, greater involvement 26 to 27, no role 0 (no source reports one). No completion has a
      level no source reports.
    * Other figures for the same year, scope and level become one range [min, max]: they describe one count.
    * Regional approvals from February 2015 (HSJ_5082478) allow for the approved CCG that did not take it up
      and for the CCGs that merged in April 2015 (so North 21 to 24, Midlands and East 25 to 26, London 5 to
      6, South 7 to 8).
    * 2016/17 newly delegated: 51 (HSJ_7003641) to 52 (NHSE_2015_12, PULSE_2015_12), approvals for April 2016;
      with 63 in 2015/16 it agrees with 114 to 115 in all.
    * An area team's 2015/16 "did not apply" (GPONLINE_1332447: 5 of the 12 Surrey and Sussex CCGs, because of
      LMC opposition) means at least that many of its CCGs had greater involvement or no role; its upper
      bound is the area team's size from ``scope_sizes`` (else ``n_ccgs``).
    * Not used: applications and intentions (HSJ_5081424, PULSE_2015_01, HSJ_5077706), later years
      (GPONLINE_1448228, NHSE_CCGS_ARRANGEMENTS), counts that are not one number (BMA_COCOMM "63; +51") and
      expressions of interest (PSNC_COCOMM); :func:`totals_used` lists every row with its use.

    >>> t = pd.DataFrame({"source_id": ["A", "B"], "source_date": ["2016-03", "2018-01"],
    ...                   "period": ["2016/17", "2016/17"], "scope": ["England", "England"],
    ...                   "measure": ["total_expected", "in_operation"], "level": ["delegated"] * 2,
    ...                   "count": ["114", "115"], "denominator": ["", ""], "note": ["", ""]})
    >>> [(c.lo, c.hi, c.sources) for c in constraints_from_totals(t)]
    [(115, 115, ('B',))]
    """
    figures = _figures(totals)
    sizes = dict(scope_sizes or {})
    out = []
    for key, group in figures.groupby(["year", "scope", "level"], sort=False):
        if key[2] == GREATER_INVOLVEMENT_OR_NONE and key[1] not in SCOPE_ORDER:
            lo, hi, ids, note = _did_not_apply(group, key, min(sizes.get(str(key[1]), n_ccgs), n_ccgs))
        else:
            lo, hi, ids, note = _range_and_note(figures, group, key)
        if hi > n_ccgs:
            hi, note = n_ccgs, f"{note} Capped at the {n_ccgs} CCGs."
        out.append(Constraint(int(key[0]), str(key[1]), str(key[2]), min(lo, hi), hi, ids, note))
    return sorted(_partitions(figures, out, n_ccgs), key=_constraint_order)


def _constraint_order(c: Constraint) -> tuple[int, int, int]:
    scope = SCOPE_ORDER.index(c.scope) if c.scope in SCOPE_ORDER else len(SCOPE_ORDER)
    return c.year, scope, CONSTRAINT_LEVELS[c.year].index(c.level) if c.level in CONSTRAINT_LEVELS[c.year] else 9


def read_constraints(root: str | Path | None = None, n_ccgs: int = 209) -> list[Constraint]:
    """The constraints from the raw totals file (``$CCG_SOURCES`` or the default raw folder); area teams' sizes
    from the CCG to area team lookup (2013 CCGs: Surrey and Sussex had no merger)."""
    from geodata import sources

    root_ = sources.sources_dir(root)
    sizes = sources.read_ccg13_area_teams(root_).groupby("area_team").size().astype(int).to_dict()
    return constraints_from_totals(sources.read_totals(root_), n_ccgs=n_ccgs, scope_sizes=sizes)


def totals_used(totals: pd.DataFrame, n_ccgs: int = 209, scope_sizes: Mapping[str, int] | None = None
                ) -> pd.DataFrame:
    """Every row of the totals file with how it is used: ``used`` (bool), ``constraint`` and ``why``.

    For the README and the page's list of totals. A row is used when the constraint of its year, scope and level
    cites its source (``constraint``: that constraint's one-line description); otherwise ``why`` says why not:
    an application, intention or expression of interest; a figure for two years at once or another year; a
    count that is not one number; or a figure the constraint's note names as not used (the 64 approvals).

    >>> t = pd.DataFrame({"source_id": ["A", "B"], "source_date": ["2015-02", "2015-04"],
    ...                   "period": ["2015/16"] * 2, "scope": ["England"] * 2,
    ...                   "measure": ["approved", "in_operation"], "level": ["delegated"] * 2,
    ...                   "count": ["64", "63"], "denominator": ["", ""], "note": ["", ""]})
    >>> totals_used(t)[["source_id", "used"]].values.tolist()
    [['A', False], ['B', True]]
    """
    constraints = {(c.year, c.scope, c.level): c
                   for c in constraints_from_totals(totals, n_ccgs, scope_sizes)}
    rows = []
    for _, t in totals.iterrows():
        period, count, measure = str(t["period"]), str(t["count"]).strip(), str(t["measure"])
        year, scope = _period_year(period), str(t["scope"])
        c = None
        if year is None:
            why = ("an application, intention or expression of interest, not a level held"
                   if re.search(r"application|intention|interest", period, re.I) else
                   "one figure for two years" if " and " in period else "a year other than 2015/16 and 2016/17")
        elif not count.isdigit():
            why = f"the count {count!r} is not one number"
        else:
            area = _area_team(scope)
            where = SCOPE_REGION.get(scope, area) or (ENGLAND if scope in SCOPE_REGION else None)
            level = (NEWLY_DELEGATED if measure in NEWLY_MEASURES and year == 2016 else
                     GREATER_INVOLVEMENT_OR_NONE if measure in DID_NOT_APPLY_MEASURES else str(t["level"]))
            c = constraints.get((year, where, level))
            why = "not a count of CCGs at a level in the year" if c is None else (
                c.describe() if str(t["source_id"]) in c.sources else f"not used: {c.note}")
        used = c is not None and str(t["source_id"]) in c.sources
        rows.append({"source_id": t["source_id"], "period": period, "scope": scope, "measure": measure,
                     "level": t["level"], "count": t["count"], "used": used,
                     "constraint": c.describe() if c is not None else "", "why": why})
    return pd.DataFrame(rows, columns=["source_id", "period", "scope", "measure", "level", "count", "used",
                                       "constraint", "why"])


# --- per-CCG states ------------------------------------------------------------------------------------------


def ccg_states(table: pd.DataFrame, never_delegated_2015: Iterable[str] = ()) -> pd.DataFrame:
    """Per CCG: ods_code, region, area_team, state_2015, state_2016: the classes the bounds and sampler use.

    ``area_team`` is the table's (empty if it has none): a total can be for an area team (Surrey and Sussex).

    2015/16 greater involvement and none become :data:`GREATER_INVOLVEMENT_OR_NONE`; an unknown 2015/16 level of
    a CCG in ``never_delegated_2015`` becomes ``not_delegated``. Contradictions (delegated in 2015/16 but not in
    2016/17; in ``never_delegated_2015`` but delegated) raise ``ValueError`` naming the CCGs.

    >>> t = pd.DataFrame({"ods_code": ["00A"], "region": ["North"], "level_2015": ["none"],
    ...                   "level_2016": ["unknown"]})
    >>> ccg_states(t)["state_2015"].tolist()
    ['greater_involvement_or_none']
    """
    frame = table.reset_index() if "ods_code" not in table.columns else table
    if "ods_code" not in frame.columns:
        frame = frame.rename(columns={frame.columns[0]: "ods_code"})
    missing = [c for c in ("region", "level_2015", "level_2016") if c not in frame.columns]
    if missing:
        raise ValueError(f"table needs columns region, level_2015, level_2016: missing {missing}")
    out = pd.DataFrame({"ods_code": frame["ods_code"].astype(str).to_numpy(),
                        "region": frame["region"].astype(str).to_numpy(),
                        "area_team": (frame["area_team"].astype(str).to_numpy() if "area_team" in frame.columns
                                      else "")})
    lower_2015 = {GREATER_INVOLVEMENT: GREATER_INVOLVEMENT_OR_NONE, NONE: GREATER_INVOLVEMENT_OR_NONE}
    out["state_2015"] = frame["level_2015"].astype(str).replace(lower_2015).to_numpy()
    out["state_2016"] = frame["level_2016"].astype(str).to_numpy()
    for year in YEARS:
        bad = sorted(set(out[f"state_{year}"]) - set(_OPTIONS[year]))
        if bad:
            raise ValueError(f"level_{year} values outside the vocabulary: {bad}")
    never = out["ods_code"].isin(set(never_delegated_2015))
    clash = out.loc[never & (out["state_2015"] == DELEGATED), "ods_code"].tolist()
    if clash:
        raise ValueError(f"CCGs newly authorised for April 2016 but delegated in 2015/16: {clash}")
    out.loc[never & (out["state_2015"] == UNKNOWN), "state_2015"] = NOT_DELEGATED
    dropped = out.loc[(out["state_2015"] == DELEGATED) & ~out["state_2016"].isin([DELEGATED, UNKNOWN]), "ods_code"]
    if len(dropped):
        raise ValueError(f"CCGs delegated in 2015/16 but not in 2016/17, against delegation persisting: "
                         f"{dropped.tolist()}")
    return out


def level_pairs(state_2015: str, state_2016: str) -> list[tuple[str, str]]:
    """The (2015/16, 2016/17) level pairs a CCG in these states can have: delegated in 2015/16 stays delegated."""
    return [(a, b) for a in _OPTIONS[2015][state_2015] for b in _OPTIONS[2016][state_2016]
            if a != DELEGATED or b == DELEGATED]


def at_level(year: int, level: str, l2015: str, l2016: str) -> bool:
    """Whether a CCG with these concrete levels counts towards a constraint's level in that year."""
    if level == NEWLY_DELEGATED:
        return l2016 == DELEGATED and l2015 != DELEGATED
    return (l2015 if year == 2015 else l2016) == level


def scope_mask(states: pd.DataFrame, scope: str) -> np.ndarray:
    """Which CCGs (rows of :func:`ccg_states`) a scope covers: England, a region, or an area team."""
    if scope == ENGLAND:
        return np.ones(len(states), dtype=bool)
    mask = (states["region"] == scope).to_numpy()
    if not mask.any() and "area_team" in states.columns:
        mask = (states["area_team"] == scope).to_numpy()
    return mask


def check_constraint(c: Constraint, states: pd.DataFrame) -> None:
    if c.year not in YEARS or c.level not in CONSTRAINT_LEVELS[c.year]:
        raise ValueError(f"{c}: level {c.level!r} is not a {YEAR_LABEL.get(c.year, c.year)} constraint level "
                         f"{CONSTRAINT_LEVELS.get(c.year)} (2015/16 totals for greater involvement or none "
                         f"must be given as {GREATER_INVOLVEMENT_OR_NONE})")
    if c.scope != ENGLAND and not scope_mask(states, c.scope).any():
        raise ValueError(f"{c.describe()}: scope {c.scope!r} is neither England nor a region or area team of "
                         "the table")
    if c.lo > c.hi:
        raise ValueError(f"{c.describe()}: empty range (lo {c.lo} > hi {c.hi})")


def check_not_above(c: Constraint, known: int) -> None:
    """Refuse a total that the known levels already exceed: no completion can meet it, so the sources disagree."""
    if known > c.hi:
        raise ValueError(f"{c.describe()}: {known} CCGs already known {TOTAL_WORDS[c.level]}, above the maximum {c.hi}")


def known_and_unknown(states: pd.DataFrame, c: Constraint) -> tuple[int, int]:
    """CCGs of the scope known at the constraint's level, and those whose membership is still open.

    Open means: level unknown; for a lower level also ``not_delegated`` (it may be any lower level); for
    newly delegated, CCGs whose 2015/16 or 2016/17 level leaves it undecided.
    """
    s = states[scope_mask(states, c.scope)]
    s15, s16 = s["state_2015"], s["state_2016"]
    if c.level == NEWLY_DELEGATED:
        not_d15 = s15.isin([JOINT, GREATER_INVOLVEMENT_OR_NONE, NOT_DELEGATED])
        known = int(((s16 == DELEGATED) & not_d15).sum())
        decided_no = (s15 == DELEGATED) | s16.isin(list(LOWER_LEVELS | {NOT_DELEGATED}))
        return known, int(len(s) - known - decided_no.sum())
    col = s15 if c.year == 2015 else s16
    open_states = [UNKNOWN] if c.level == DELEGATED else [UNKNOWN, NOT_DELEGATED]
    return int((col == c.level).sum()), int(col.isin(open_states).sum())


# --- the rule ----------------------------------------------------------------------------------------------


_REAL_LEVELS = frozenset({DELEGATED, JOINT, GREATER_INVOLVEMENT, NONE})
_AS_REAL = {GREATER_INVOLVEMENT_OR_NONE: {GREATER_INVOLVEMENT, NONE}}


def _exclusions(states: pd.DataFrame, c: Constraint) -> list[tuple[int, int, frozenset[str]]]:
    """(row position, year, real levels ruled out) for each open CCG-year of a constraint whose maximum is reached."""
    s15, s16 = states["state_2015"].to_numpy(), states["state_2016"].to_numpy()
    in_scope = scope_mask(states, c.scope)
    out = []
    for pos in np.flatnonzero(in_scope):
        if c.level == NEWLY_DELEGATED:
            if s16[pos] == UNKNOWN and s15[pos] in (JOINT, GREATER_INVOLVEMENT_OR_NONE, NOT_DELEGATED):
                out.append((pos, 2016, frozenset({DELEGATED})))
            elif s16[pos] == DELEGATED and s15[pos] == UNKNOWN:  # delegated, not newly: already in 2015/16
                out.append((pos, 2015, frozenset(_REAL_LEVELS - {DELEGATED})))
            continue
        state = (s15 if c.year == 2015 else s16)[pos]
        if state == UNKNOWN or (state == NOT_DELEGATED and c.level != DELEGATED):
            out.append((pos, c.year, frozenset(_AS_REAL.get(c.level, {c.level}))))
    return out


def _inferred_level(state: str, left: set[str]) -> str | None:
    """The most specific vocabulary level for a CCG-year with ``left`` levels still possible, if it says more."""
    if len(left) == 1:
        return next(iter(left))
    if state == UNKNOWN and DELEGATED not in left:
        return NOT_DELEGATED
    return None


def rule_total_reached(table: pd.DataFrame, constraints: Sequence[Constraint]) -> pd.DataFrame:
    """Rule: where a scope's known CCGs already reach a total's maximum, its other CCGs are not at that level.

    For delegated an unknown CCG becomes ``not_delegated``; where every level but one is excluded it becomes
    that level; newly delegated reached means a CCG known not delegated in 2015/16 was not delegated in
    2016/17, and one delegated in 2016/17 was already delegated in 2015/16. Returns :data:`RULE_COLUMNS` rows
    (ods_code, year, level, source, evidence, claim, n_sources, as ``geodata.levels``' rule rows); empty if
    nothing follows.

    >>> t = pd.DataFrame({"ods_code": ["00A", "00B"], "region": ["North"] * 2,
    ...                   "level_2015": ["delegated", "unknown"], "level_2016": ["delegated", "delegated"]})
    >>> rule_total_reached(t, [Constraint(2015, "North", "delegated", 0, 1, ("X",), "")])[["ods_code", "level"]]
      ods_code          level
    0      00B  not_delegated
    """
    states = ccg_states(table)
    ruled_out: dict[tuple[int, int], tuple[set[str], list[str]]] = {}
    for c in constraints:
        check_constraint(c, states)
        known, _ = known_and_unknown(states, c)
        check_not_above(c, known)
        if known < c.hi:
            continue
        why = (f"{RULE_TOTAL_REACHED}: {c.describe()}: {known} already known {TOTAL_WORDS[c.level]}, so no other CCG "
               f"of {c.scope} {TOTAL_WERE[c.level]}")
        for pos, year, levels_out in _exclusions(states, c):
            out, reasons = ruled_out.setdefault((int(pos), year), (set(), []))
            out |= levels_out
            reasons.append(why)
    rows = []
    for (pos, year), (levels_out, reasons) in sorted(ruled_out.items()):
        state = states[f"state_{year}"].iat[pos]
        other = states[f"state_{2015 if year == 2016 else 2016}"].iat[pos]
        options = {DELEGATED} if year == 2016 and other == DELEGATED else (
            _REAL_LEVELS - ({DELEGATED} if state == NOT_DELEGATED else set()))
        left = set(options) - levels_out
        if not left:
            raise ValueError(f"{states['ods_code'].iat[pos]} {YEAR_LABEL[year]}: every level is ruled out by "
                             + " | ".join(reasons))
        level = _inferred_level(state, left)
        if level is not None:
            rows.append({"ods_code": states["ods_code"].iat[pos], "year": year, "level": level,
                         "source": " | ".join(dict.fromkeys(reasons)), "evidence": "rule", "claim": "rule",
                         "n_sources": len(reasons)})
    return pd.DataFrame(rows, columns=RULE_COLUMNS)
