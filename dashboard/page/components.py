"""Small HTML renderings of the summary tables and the details panel (presentation only)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from dash import html

from dashboard import ids
from dashboard.report import ViewReport
from dashboard.state import Notice
from geodata.vocabulary import LEVEL_COLOR, LEVEL_LABEL, LEVEL_ORDER, LEVEL_SHORT, SET_ASIDE, UNKNOWN, YEAR_LABEL


def swatch(level: str) -> html.Span:
    return html.Span(className="swatch", style={"background": LEVEL_COLOR.get(level, "#fff")},
                     **{"aria-hidden": "true"})


def level_summary(report: ViewReport) -> html.Div:
    """The view's report (dashboard/report.py) as the page's counts table, its coverage sentence and the map's
    text alternative."""
    head = html.Tr([html.Th("Level"), html.Th("CCGs"), html.Th("% of known"),
                    html.Th("England: atlas", title="CCGs in England this atlas names at the level, under the "
                                                    "evidence chosen"),
                    html.Th("England: published", title="Published national total")])
    rows = []
    for r in report.rows:
        mark = swatch(r.key) if r.key != SET_ASIDE else html.Span(className="swatch set-aside",
                                                                  **{"aria-hidden": "true"})
        rows.append(html.Tr([
            html.Td([mark, r.label]), html.Td(r.ccgs, className="num"), html.Td(r.share_known, className="num"),
            html.Td(r.england, className="num"),
            html.Td("" if r.published is None else r.published, className="num"),
        ], className="unknown-row" if r.key in (UNKNOWN, SET_ASIDE) else None))
    return html.Div([
        html.P(map_sentence(report), id=ids.MAP_SUMMARY, className="visually-hidden"),
        html.Table([html.Caption(f"CCGs by level, {YEAR_LABEL[report.year]}"), html.Thead(head), html.Tbody(rows)],
                   className="summary-table"),
        html.P(report.coverage, className="coverage"),
        html.P("Published: national totals in operation from 1 April (NHS England board paper, March 2016; "
               "BJGP 2018). Blank where no total was published.", className="hint"),
    ])


def map_sentence(report: ViewReport) -> str:
    """The map in words, for screen readers (the map section's description): it is a picture of these counts."""
    parts = [f"{r.ccgs} {r.words}" for r in report.rows if r.ccgs]
    inside = "; ".join(parts) if parts else "no CCG matches the filters"
    return (f"The map shows England's 209 CCGs coloured by their co-commissioning level in {YEAR_LABEL[report.year]}, "
            f"those outside the filters faded. In the filter: {inside}.")


def transition_table(tab: pd.DataFrame) -> html.Table:
    short = LEVEL_SHORT
    cols = [c for c in LEVEL_ORDER if tab[c].sum() > 0]
    rows = [html.Tr([html.Th("2015/16 ↓  2016/17 →"), *[html.Th(short[c]) for c in cols]])]
    for level in LEVEL_ORDER:
        if tab.loc[level].sum() == 0:
            continue
        rows.append(html.Tr([html.Th(short[level]), *[
            html.Td(int(tab.at[level, c]) or "", className="num" + (" newly" if c == "delegated" and level not in
                                                                      ("delegated", "unknown") else ""))
            for c in cols]]))
    return html.Table(rows, className="summary-table transitions")


def details_panel(items: list[dict[str, object]], note: str = "") -> list[object]:
    """The selected CCGs' details (the last three), after ``note``: the view report's sentence on the selection,
    which says when a selected CCG is outside the filter and so not counted in the view."""
    if not items:
        return [html.P("Select a CCG on the map or with “Find CCGs” to see its codes, levels and sources.",
                       className="hint")]
    out: list[object] = [html.P(note, className="selection-note")] if note else []
    for d in items[-3:]:
        years = []
        for label, level, sources, claim in d["years"]:  # type: ignore[union-attr]
            links = [html.Li(html.A(text, href=url, target="_blank", rel="noopener noreferrer") if url else text)
                     for text, url in sources] or [html.Li("No source found: unknown")]
            head = [html.Strong(f"{label}: {level}")] + ([html.Span(f" ({claim})", className="claim")] if claim else [])
            years.append(html.Div([*head, html.Ul(links)]))
        out.append(html.Article([
            html.H3(d["name"]),
            html.Dl([
                html.Dt("Codes"), html.Dd(f"{d['ccg_code']} (ONS) · {d['ods_code']} (ODS)"),
                html.Dt("Area team"), html.Dd(d["area_team"]),
                html.Dt("Region · local office"), html.Dd(f"{d['region']} · {d['local_office']}"),
                html.Dt("IMD 2015"), html.Dd(d["imd"]),
                html.Dt("Population"), html.Dd(d["population"]),
            ]),
            *years,
        ], className="ccg-card", **{"data-ccg": d["ccg_code"]}))  # assets/phone.js scrolls a tapped CCG's card to view
    if len(items) > 3:
        more = len(items) - 3
        out.append(html.P(f"{more} more selected CCG{' is' if more == 1 else 's are'} listed in the table.",
                          className="hint"))
    return out


#: The published totals' measures (reconciliation.csv's ``measure``, from the raw aggregate counts) in words.
MEASURE_WORDS: dict[str, str] = {
    "in_operation_1Apr2015": "in operation from 1 April 2015",
    "in_operation": "in operation from 1 April",
    "approved": "approved by NHS England",
    "approved_additional": "newly approved by NHS England",
    "authorised_additional": "newly authorised by NHS England",
    "confirmed": "confirmed by NHS England",
    "total_expected": "expected in total",
}


def measure_words(measure: str) -> str:
    """A measure id in words; an id not listed above reads with spaces for underscores (never the raw id)."""
    return MEASURE_WORDS.get(measure, str(measure).replace("_", " "))


PUBLISHERS = {"HSJ": "HSJ", "NHSE": "NHS England", "PULSE": "Pulse", "BJGP": "BJGP"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def source_words(source_id: str) -> str:
    """A source the atlas holds no title for, in words from its id's parts: "HSJ article 5084097" for
    ``HSJ_5084097`` (HSJ numbers its articles), "NHS England, December 2015" for ``NHSE_2015_12`` (publisher,
    year, month), else the id with spaces for underscores; "title not recorded" says a title is missing, not
    hidden.

    >>> source_words("NHSE_2015_12"), source_words("HSJ_5084097"), source_words("PULSE_2015_12")
    ('NHS England, December 2015 (title not recorded)', 'HSJ article 5084097 (title not recorded)', \
'Pulse, December 2015 (title not recorded)')
    """
    head, *rest = str(source_id).split("_")
    publisher = PUBLISHERS.get(head)
    if publisher == "HSJ" and len(rest) == 1 and rest[0].isdigit():
        words = f"HSJ article {rest[0]}"
    elif publisher and rest and rest[0].isdigit() and len(rest[0]) == 4:
        month = MONTHS[int(rest[1]) - 1] + " " if len(rest) > 1 and rest[1].isdigit() and 1 <= int(rest[1]) <= 12 \
            else ""
        words = f"{publisher}, {month}{rest[0]}"
    else:
        return str(source_id).replace("_", " ")
    return f"{words} (title not recorded)"


def source_titles(rec: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Each published total's source id -> (title, URL) from reconciliation.csv's source_title and source_url
    columns, so every place that names a total's source (the table and the bounds) shows the same words; a source
    without a title gets :func:`source_words`, one without an http(s) URL an empty URL."""
    out: dict[str, tuple[str, str]] = {}
    for sid, title, url in zip(rec["source_id"], rec.get("source_title", rec["source_id"]),
                               rec.get("source_url", [""] * len(rec)), strict=True):
        title = title if isinstance(title, str) and title.strip() and title != sid else source_words(sid)
        url = url if isinstance(url, str) and url.startswith(("https://", "http://")) else ""
        out.setdefault(str(sid), (title, url))
    return out


def source_link(title: str, url: str) -> object:
    """A source's title, linked when it has a URL."""
    return html.A(title, href=url, target="_blank", rel="noopener noreferrer") if url else title


def source_cell(r: object) -> object:
    """A published total's source by its title, linked, where the atlas has them; else its id in words."""
    sid = str(getattr(r, "source_id", ""))
    title, url = source_titles(pd.DataFrame({"source_id": [sid], "source_title": [getattr(r, "source_title", None)],
                                             "source_url": [getattr(r, "source_url", None)]}))[sid]
    return source_link(title, url)


def reconciliation_table(rec: pd.DataFrame) -> html.Div:
    """The published totals beside the atlas's counts, measures and sources in words. Wider than a phone: it
    scrolls sideways inside its own frame, a focusable, named region (so the keyboard can scroll it too)."""
    head = html.Tr([html.Th(h) for h in ("Year", "Scope", "Level", "Published", "This atlas", "Unknown in scope",
                                         "Measure", "Source")])
    rows = [html.Tr([html.Td(r.period), html.Td(r.scope), html.Td(LEVEL_LABEL.get(r.level, r.level)),
                     html.Td(r.published, className="num"), html.Td(r.atlas, className="num"),
                     html.Td(r.atlas_unknown, className="num"), html.Td(measure_words(r.measure)),
                     html.Td(source_cell(r))])
            for r in rec.itertuples()]
    return scroll_frame(html.Table([html.Thead(head), html.Tbody(rows)],
                                   className="summary-table reconciliation-table"),
                        "Published totals beside this atlas (scrolls sideways)")


def scroll_frame(child: object, label: str) -> html.Div:
    """A wide table in a frame of its own that scrolls sideways (a phone's column is narrower than the table):
    focusable (Tab, then the arrow keys scroll it) and named, as a scrollable region should be."""
    return html.Div(child, className="scroll-frame", tabIndex="0", role="region", **{"aria-label": label})


def bounds_list(bounds: pd.DataFrame, rec: pd.DataFrame) -> list[html.Li]:
    """What the published totals imply, one item per scope, year and level: geodata/totals.py's sentence with its
    parenthesised source ids taken out and the sources named after it by title (the ids are for scripts). Titles
    only: the table of published totals links each source once per total, and twenty repeated links here would be
    twenty more Tab stops."""
    titles = source_titles(rec)
    items = []
    for sentence, sources in zip(bounds["sentence"], bounds["sources"], strict=True):
        ids = [s.strip() for s in str(sources).split(",") if s.strip()]
        text = str(sentence).replace(f" ({sources})", "")
        named = "; ".join(titles.get(sid, (source_words(sid), ""))[0] for sid in ids)
        items.append(html.Li([text, " ", html.Span(f"Sources: {named}.", className="bound-sources")] if ids else text))
    return items


def notices(messages: Sequence[Notice]) -> list[object]:
    """The values a link or control gave that were not applied, in words."""
    if not messages:
        return []
    return [html.Div([html.Strong("Not applied: "), "; ".join(n.text() for n in messages)], className="notice")]
