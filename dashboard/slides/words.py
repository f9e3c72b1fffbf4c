"""A slide's words: its title, subtitle, counts panel, finding, sources and date, and the same as plain text for
a PowerPoint slide's alt text and notes. The counts and sentences come from the view's report
(:mod:`dashboard.report`) and the finding from the robustness check's headline; this module only arranges them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from dashboard.report import finding_for, report_for
from dashboard.service import View
from dashboard.slides.text import Segment
from dashboard.state import ViewState, describe
from geodata.atlas import Atlas
from geodata.vocabulary import EVIDENCE_LABEL, LEVEL_WORDS, YEAR_LABEL

PUBLISHED_SOURCE = "NHS England board paper, March 2016; BJGP 2018"
TITLE_BASE = "CCG primary care co-commissioning"


def title_text(state: ViewState) -> str:
    """'CCG primary care co-commissioning, 2016/17 — Greater Manchester'."""
    if state.view == "change":
        what = f"{TITLE_BASE}: change {YEAR_LABEL[2015]} to {YEAR_LABEL[2016]}"
    else:
        what = f"{TITLE_BASE}, {YEAR_LABEL[state.year]}"
    return f"{what} — {describe(state)}"


def filter_words(state: ViewState, max_teams: int | None = None) -> str:
    """Every filter in words, in full unless max_teams is given (the title shortens long lists of teams)."""
    parts = []
    if state.regions:
        parts.append(("Region" if len(state.regions) == 1 else "Regions") + ": " + ", ".join(state.regions))
    if state.area_teams:
        word = "Area team" if len(state.area_teams) == 1 else "Area teams"
        teams = list(state.area_teams)
        if max_teams is not None and len(teams) > max_teams:
            teams = teams[:max_teams] + [f"and {len(teams) - max_teams} more"]
        parts.append(f"{word} (NHS England, 2013–15): " + "; ".join(teams))
    if state.imd != (1, 5):
        lo, hi = state.imd
        q = f"quintile {lo}" if lo == hi else f"quintiles {lo}–{hi}"
        parts.append(f"Deprivation: IMD 2015 {q} of 5 (1 = most deprived)")
    return " · ".join(parts)


def subtitle_text(view: View, max_teams: int | None = None) -> str:
    state = view.state
    n_all = len(view.table)
    n = view.n
    colour = ("Colour: change in delegated commissioning between the two years" if state.view == "change"
              else f"Colour: co-commissioning level in {YEAR_LABEL[state.year]}")
    if state.evidence != "any":
        colour += f" · evidence: {EVIDENCE_LABEL[state.evidence].lower()} (weaker claims set aside)"
    if not state.filtered:
        return f"{colour} · all {n_all} CCGs in England"
    return f"{colour} · {filter_words(state, max_teams)} · {n} of {n_all} CCGs; the others in a neutral tone"


def _fmt_list(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items())


_SHORT = LEVEL_WORDS


@dataclass
class CountsPanel:
    """The counts panel as paragraphs of (text, bold) segments, plus the numbers for tests and the CLI."""

    paragraphs: list[list[Segment]] = field(default_factory=list)
    shown: int = 0
    unknown: int = 0


def counts_panel(view: View, brief: bool = False, england: bool = True) -> CountsPanel:
    """The view's report (dashboard/report.py) as the slide's counts panel; ``brief`` drops the caveat sentence,
    ``england=False`` the atlas's England counts (both only when the panel would not fit otherwise)."""
    state, table = view.state, view.table
    report = report_for(view.service, state)
    year, ylab = report.year, YEAR_LABEL[report.year]
    published_by_year = view.service.published
    paras: list[list[Segment]] = [_lead(report.known_line)]
    if report.n:
        caveat = "" if brief else " Shares of known levels depend on which CCGs could be sourced."
        paras.append([*_lead(report.unknown_line), (" (light grey on the map)." + caveat, False)])
    if state.view == "change":
        prev = published_by_year.get(2015, {}).get("delegated")
        now = published_by_year.get(2016, {}).get("delegated")
        paras.append([("Published national totals, delegated: ", True),
                      (f"{prev} CCGs in {YEAR_LABEL[2015]}, {now} in {YEAR_LABEL[2016]} "
                       f"(of {len(table)}; {PUBLISHED_SOURCE}).", False)])
    else:
        published = {_SHORT.get(k, k): v for k, v in published_by_year.get(year, {}).items()}
        paras.append([(f"Published national totals {ylab}: ", True),
                      (f"{_fmt_list(published)}, of {len(table)} CCGs in operation from 1 April {year} "
                       f"({PUBLISHED_SOURCE}).", False)])
    if england and (state.filtered or state.view == "change"):
        paras.append([(f"This atlas, all England {ylab}: ", True), (report.national_words() + ".", False)])
    if report.selection.sentence:
        paras.append(_lead(report.selection.sentence))
    return CountsPanel(paragraphs=paras, shown=report.n, unknown=report.n - report.known)


def plain(segments: list[Segment]) -> str:
    """A paragraph's segments as plain text (no bold)."""
    return "".join(text for text, _bold in segments)


def summary_text(view: View) -> str:
    """What the slide says, in words: its title and the counts panel's sentences. A PowerPoint slide carries it
    as the picture's alt text, so a screen reader (or a search) gets the numbers the picture shows."""
    paras = [title_text(view.state) + "."] + [plain(p) for p in counts_panel(view).paragraphs]
    return " ".join(p.strip() for p in paras)


def notes_text(view: View) -> str:
    """The speaker notes of a PowerPoint slide: the clustering finding, then the sources, licences and the date of
    the data, in full (on the picture they may be in small type)."""
    sources = condensed_attributions(view.atlas.attributions)
    return (f"Finding: {finding_line(view)}\n\nSources and licences: {sources}\n\n"
            f"{date_text(view.atlas, view.state)}")


def _lead(sentence: str) -> list[Segment]:
    """A sentence with its lead (up to the first colon) in bold."""
    head, sep, rest = sentence.partition(": ")
    return [(head + sep, True), (rest, False)] if sep else [(sentence, False)]


def finding_line(view: View) -> str:
    """The view's headline finding, as its report states it (:func:`dashboard.report.finding_for`)."""
    return finding_for(view.service, view.state)


_OGL = r"(?:the )?(?:Open Government Licence v3\.0|OGL v3\.0)"
_ABBREVIATIONS = {"Department for Communities and Local Government": "DCLG",
                  "NHS Digital Organisation Data Service": "NHS Digital ODS"}


def condensed_attributions(attributions: list[str]) -> str:
    """The build's attribution statements in as few words as keep them all: the level sources first, then every
    source under the Open Government Licence in one list that names the licence once, in full, then the Crown
    copyright lines merged. A statement of another form is kept as it is."""
    crown: dict[str, list[str]] = {}
    ogl: list[str] = []
    rest: list[str] = []
    for a in (s.strip().rstrip(".") for s in attributions):
        if not a:
            continue
        for long, short in _ABBREVIATIONS.items():
            a = a.replace(long, short)
        if m := re.fullmatch(r"Contains (.+?) data © Crown copyright and database right (\d{4})", a):
            crown.setdefault(m.group(2), []).append(m.group(1))
        elif m := re.fullmatch(rf"Source: (.+?),? licensed under {_OGL}", a):
            ogl.append(m.group(1))
        elif m := re.fullmatch(rf"Contains public sector information licensed under {_OGL} \((.+)\)", a):
            ogl.append(m.group(1))
        elif all(re.search(rf"\({_OGL}\)$", part) for part in a.split("; ")):
            ogl += [re.sub(rf"\s*\({_OGL}\)$", "", part) for part in a.split("; ")]
        else:
            rest.append(a + ".")
    rest.sort(key=lambda s: not s.lower().startswith("co-commissioning"))
    if ogl:
        rest.append("Source: " + "; ".join(dict.fromkeys(ogl)) + ": contains public sector information licensed "
                    "under the Open Government Licence v3.0 (OGL).")
    for year, what in crown.items():
        joined = ", ".join(what[:-1]) + " and " + what[-1] if len(what) > 1 else what[0]
        rest.append(f"Contains {joined} data © Crown copyright and database right {year}.")
    return " ".join(rest)


def built_date(atlas: Atlas) -> str:
    raw = str(atlas.manifest.get("built_at", ""))
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return raw or "unknown date"
    return f"{when.day} {when:%B %Y}"


def date_text(atlas: Atlas, state: ViewState) -> str:
    if state.view == "change":
        levels = (f"levels as of {YEAR_LABEL[2015]} and {YEAR_LABEL[2016]} "
                  "(in operation from 1 April 2015 and 2016)")
    else:
        levels = f"levels as of {YEAR_LABEL[state.year]} (in operation from 1 April {state.year})"
    return (f"Data: {levels}; {len(atlas.table)} CCGs of 2015/16, IMD 2015. "
            f"Atlas build {atlas.build_id}, built {built_date(atlas)}.")
