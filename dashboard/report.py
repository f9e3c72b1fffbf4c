"""One report per view: every count and sentence about a view's levels that a channel shows, computed once.

The page's summary panel and header, the slide's legend and counts panel, and the table's caption read a
:class:`ViewReport`; none of them counts, rounds or words these figures itself, so they cannot disagree (before
this module the slide counted its own panel under "any evidence" while its legend followed the evidence choice).
:func:`report_for` makes it once per view state and keeps it in the atlas service's bounded ``report`` cache.

Three kinds of "no level" are kept apart, because they mean different things to a reader:

- a level **set aside**: a source states it, but on a weaker claim than the evidence the user chose;
- **unknown**: no public source states the level at all;
- **outside the filter**: the CCG is not in the view (it is counted only as such).

Percentages follow one rule, :mod:`dashboard.numbers`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dashboard.numbers import percent
from dashboard.robust import headline, robust_for
from dashboard.service import AtlasService, View, level_codes
from dashboard.state import ViewState, describe
from dashboard.wording import plural
from geodata.vocabulary import (
    EVIDENCE_LABEL,
    LEVEL_LABEL,
    LEVEL_ORDER,
    LEVEL_WORDS,
    LEVELS,
    SET_ASIDE,
    SET_ASIDE_LABEL,
    UNKNOWN,
    YEAR_LABEL,
    YEARS,
)

SET_ASIDE_WORDS = "set aside (source weaker than the evidence chosen)"
NO_SOURCE_WORDS = "unknown (no source found)"


@dataclass(frozen=True)
class Row:
    """One line of the counts: a level, the set-aside levels or the unknown ones, in the filter and in England."""

    key: str  # a level of LEVEL_ORDER, or SET_ASIDE
    label: str  # as in a legend: "Delegated (level 3)"
    words: str  # in running text: "delegated"
    ccgs: int  # CCGs in the filter
    share_known: str  # of the filter's known levels ('' for set aside and unknown)
    england: int  # CCGs in England this atlas puts here, under the same evidence choice
    published: int | None  # the published national total in operation, where one exists


@dataclass(frozen=True)
class Selection:
    """The selected CCGs and what the view does with them: those outside the filter are listed but not framed."""

    inside: tuple[str, ...]  # GSS codes, in the order selected
    outside: tuple[str, ...]
    names_inside: tuple[str, ...]
    names_outside: tuple[str, ...]
    sentence: str  # '' without a selection

    @property
    def any(self) -> bool:
        return bool(self.inside or self.outside)


@dataclass(frozen=True)
class ViewReport:
    """What one view state says about its levels; see the module docstring."""

    year: int  # the year counted (2016/17 in the change view)
    evidence: str
    filtered: bool
    n: int  # CCGs in the filter
    outside: int  # CCGs outside it
    known: int
    set_aside: int
    no_source: int
    inferred: int  # known levels in the filter resting on an inferred claim (implied, area or rule)
    rows: tuple[Row, ...]  # LEVELS in order, then SET_ASIDE (only under a stricter evidence choice), then UNKNOWN
    coverage: str  # the page's sentence under the counts
    known_line: str  # the slide's first counts sentence
    unknown_line: str  # the slide's second
    header: str  # the page header's sentence on what is sourced, for the evidence chosen
    view_line: str  # the one line above the map: "Greater Manchester, 2016/17: 9 of 12 CCGs known, all delegated"
    selection: Selection

    def row(self, key: str) -> Row:
        return next(r for r in self.rows if r.key == key)

    @property
    def where(self) -> str:
        return "in the filter" if self.filtered else "in England"

    def national_words(self) -> str:
        """This atlas's England counts in running text ('65 delegated, 12 joint, ...'), under the evidence chosen."""
        return ", ".join(f"{r.england} {r.words}" for r in self.rows if r.england)


def report_for(service: AtlasService, state: ViewState) -> ViewReport:
    """The report of a view state, made once per state and kept in the service's ``report`` cache."""
    return service.cache("report").get_or_make(state, lambda: build_report(service.view(state)))


def set_aside_mask(view: View, year: int) -> np.ndarray:
    """CCGs whose level for ``year`` a source states but the view's evidence choice sets aside."""
    stated = view.table[f"level_{year}"].to_numpy(dtype=object) != UNKNOWN
    return stated & (view.levels(year) == UNKNOWN)


def build_report(view: View) -> ViewReport:
    """The report of ``view`` (use :func:`report_for`, which caches it)."""
    state = view.state
    year = 2016 if state.view == "change" else state.year
    levels = view.levels(year)
    mask = view.mask
    codes = level_codes(levels)
    aside = set_aside_mask(view, year)
    in_filter = np.bincount(codes[mask & ~aside], minlength=len(LEVEL_ORDER))
    england = np.bincount(codes[~aside], minlength=len(LEVEL_ORDER))
    n = int(mask.sum())
    n_aside, england_aside = int((aside & mask).sum()), int(aside.sum())
    no_source = int(in_filter[-1])
    known = n - no_source - n_aside
    published = view.service.published.get(year, {})
    rows = [Row(level, LEVEL_LABEL[level], LEVEL_WORDS[level], int(in_filter[i]), percent(int(in_filter[i]), known),
                int(england[i]), published.get(level)) for i, level in enumerate(LEVELS)]
    if state.evidence != "any":
        rows.append(Row(SET_ASIDE, SET_ASIDE_LABEL, SET_ASIDE_WORDS, n_aside, "", england_aside, None))
    rows.append(Row(UNKNOWN, LEVEL_LABEL[UNKNOWN], NO_SOURCE_WORDS, no_source, "", int(england[-1]), None))
    inferred = int((view.table[f"claim_{year}"].isin(("implied", "area", "rule")).to_numpy()
                    & mask & ~aside & (levels != UNKNOWN)).sum())
    report = ViewReport(
        year=year, evidence=state.evidence, filtered=state.filtered, n=n, outside=len(levels) - n, known=known,
        set_aside=n_aside, no_source=no_source, inferred=inferred, rows=tuple(rows),
        coverage="", known_line="", unknown_line="", header=header_sentence(view), view_line=describe(state),
        selection=selection(view),
    )
    return _worded(report)


def _worded(r: ViewReport) -> ViewReport:
    """The sentences of a report, from its numbers alone."""
    ylab = YEAR_LABEL[r.year]
    place = r.view_line  # build_report puts the place's words here
    if r.n == 0:
        return replace(r, coverage=NO_CCGS, known_line=NO_CCGS, unknown_line="", view_line=f"{place}: {NO_CCGS}")
    evidence = "" if r.evidence == "any" else f" under the evidence chosen ({EVIDENCE_LABEL[r.evidence].lower()})"
    aside = f", {r.set_aside} set aside (their source is weaker than the evidence chosen)" if r.evidence != "any" \
        else ""
    coverage = (f"{plural(r.n, 'CCG')} {r.where}; {r.known} {'has' if r.known == 1 else 'have'} a level for {ylab}"
                f"{evidence}{aside}, {r.no_source} {'has' if r.no_source == 1 else 'have'} no source found. "
                "Shares of known levels depend on which CCGs could be sourced.")
    how = ("from a named public source" if r.inferred == 0 else
           f"{r.inferred} of them inferred (dotted on the map)" if r.inferred < r.known
           else "each inferred (dotted on the map)")
    shown = "shown" if r.filtered else "in England"
    known_line = f"{plural(r.n, 'CCG')} {shown}: level known for {r.known}{evidence}, {how}."
    parts = [f"no public source found for {r.no_source}"]
    if r.evidence != "any":
        parts.append(f"set aside for {r.set_aside} (source weaker than the evidence chosen)")
    unknown_line = f"Level not shown for {r.n - r.known} of {plural(r.n, 'CCG')} {shown}: " + "; ".join(parts)
    levels = [row for row in r.rows if row.key in LEVELS and row.ccgs]
    if not levels:
        makeup = "none known"
    elif len(levels) == 1:
        makeup = ("the one known " if r.known == 1 else "all ") + levels[0].words
    else:
        makeup = ", ".join(f"{row.ccgs} {row.words}" for row in levels)
    aside = f" ({r.set_aside} set aside)" if r.set_aside else ""
    joint = ": " if len(levels) > 1 else ", "
    view_line = f"{place}, {ylab}: {r.known} of {plural(r.n, 'CCG')} known{aside}{joint}{makeup}"
    return replace(r, coverage=coverage, known_line=known_line, unknown_line=unknown_line, view_line=view_line)


def header_sentence(view: View) -> str:
    """The page header's sentence on how many levels are sourced, for the evidence chosen (all England)."""
    known = {}
    aside = {}
    for y in YEARS:
        stated = view.table[f"level_{y}"].to_numpy(dtype=object) != UNKNOWN
        kept = view.levels(y) != UNKNOWN
        known[y], aside[y] = int(kept.sum()), int((stated & ~kept).sum())
    if view.state.evidence == "any":
        return (f"Levels are sourced for {known[2015]} CCGs in 2015/16 and {known[2016]} in 2016/17; the rest are "
                "shown as unknown.")
    choice = EVIDENCE_LABEL[view.state.evidence].lower()
    return (f"With evidence “{choice}”, levels are shown for {known[2015]} CCGs in 2015/16 and {known[2016]} in "
            f"2016/17; {aside[2015]} and {aside[2016]} levels resting on weaker evidence are set aside, and the "
            "rest have no source.")


def selection(view: View) -> Selection:
    """The selected CCGs, split by whether the filter holds them, with the sentence every channel shows."""
    table, position, mask = view.table, view.service.position, view.mask
    picked = [c for c in view.state.ccgs if c in position]
    inside = tuple(c for c in picked if mask[position[c]])
    outside = tuple(c for c in picked if not mask[position[c]])
    names_in = tuple(str(table.at[c, "ccg_name"]) for c in inside)
    names_out = tuple(str(table.at[c, "ccg_name"]) for c in outside)
    parts = []
    if names_in:
        parts.append("Selected (outlined on the map): " + _names(names_in) + ".")
    if len(names_out) > 2:
        parts.append(f"{len(names_out)} selected CCGs are outside the filter, so not counted in this view.")
    elif names_out:
        parts.append(f"Selected but outside the filter, so not counted in this view: {_names(names_out)}.")
    return Selection(inside, outside, names_in, names_out, " ".join(parts))


def _names(names: tuple[str, ...], at_most: int = 4) -> str:
    shown = "; ".join(names[:at_most])
    return shown + (f" and {len(names) - at_most} more" if len(names) > at_most else "")


NO_CCGS = "No CCG matches these filters: widen the deprivation range, or choose other regions or area teams."


def finding_for(service: AtlasService, state: ViewState) -> str:
    """The view's headline clustering finding and whether it survives the unknown levels, in the robustness
    check's own words (:func:`dashboard.robust.headline`: a test that cannot be run, or cannot reject, is never
    the headline); kept in the service's ``finding`` cache. The tests are of one year's levels; a change view
    names two years, so its finding says which."""
    return service.cache("finding").get_or_make(state, lambda: _finding(service, state))


def _finding(service: AtlasService, state: ViewState) -> str:
    year = 2016 if state.view == "change" else state.year
    result = robust_for(service, ViewState(year=year, area_teams=state.area_teams, regions=state.regions,
                                           imd=state.imd, evidence=state.evidence))
    if not result.n_selected:
        return "No CCG matches these filters."
    line = headline(result).rstrip(".") + "."
    return f"{YEAR_LABEL[year]}: {line}" if state.view == "change" else line
