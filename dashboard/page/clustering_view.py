"""The clustering panel and the map's cluster layer: cached calls into :mod:`dashboard.analysis`, rendered.

The statistics are computed once per filter state and service (``service.cache("summary")``), with the
service's own relabelling store; the words come from :mod:`dashboard.page.clustering_readings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
from dash import html

from dashboard import analysis, change
from dashboard.analysis import MIN_KNOWN
from dashboard.clustering_summary import _lookups, _tables, summary_for
from dashboard.page.clustering_readings import Reading, change_readings, explain, ranked_teams, readings
from dashboard.report import NO_CCGS
from dashboard.service import AtlasService
from dashboard.state import ViewState
from geodata.vocabulary import DELEGATED, LEVEL_LABEL, NOT_DELEGATED, YEAR_LABEL


def _cluster_hint(local: analysis.LocalClusterResult) -> str:
    if local.not_run is not None:
        return "The checkbox under the map marks no CCG: local clusters could not be tested for this filter."
    n, by_chance = local.n_significant, local.n_expected_false_positives
    if n == 0:
        return "No CCG is in a significant same-level cluster, so the checkbox under the map marks none."
    chance = f"about {by_chance:.0f}" if by_chance >= 0.5 else "fewer than one"
    return (f"Tick the box under the map to mark the {n} CCG{'s' if n != 1 else ''} in a significant same-level "
            f"cluster; {chance} could be flagged by chance alone.")


def _table(df: pd.DataFrame, columns: dict[str, str], formats: dict[str, str] | None = None) -> html.Table:
    formats = formats or {}
    head = html.Tr([html.Th(label) for label in columns.values()])
    rows = []
    for r in df.to_dict("records"):  # plain Python values; iterrows cost more than the statistics
        cells = []
        for col in columns:
            v = r[col]
            if isinstance(v, float) and pd.isna(v):
                text = ""
            elif col in formats:
                text = format(v, formats[col])
            else:
                text = LEVEL_LABEL.get(v, v) if isinstance(v, str) else v
            cells.append(html.Td(text, className="num" if isinstance(v, int | float) else None))
        rows.append(html.Tr(cells))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="summary-table")


def _section(title: str, shown: Sequence[Reading | None]) -> list[object]:
    """A heading, its readings, and one hint explaining the technical terms they use."""
    items = [r for r in shown if r is not None]
    out: list[object] = [html.H3(title), *(html.P(r.text, className="reading") for r in items)]
    hint = explain(items)
    if hint:
        out.append(html.P(hint, className="hint"))
    return out


def _neighbours(s: analysis.Summary, r: dict[str, Reading]) -> list[object]:
    out = _section("Do neighbouring CCGs share a level?",
                   [r["join_counts.full"], r["join_counts.binary"], r.get("join_counts.binary.delegated")])
    if "islands" in r:
        out.append(html.P(r["islands"].text, className="hint"))
    jc = s.full.join_counts
    if jc.enough_data and not jc.per_level.empty:
        out.append(_table(jc.per_level, {"level": "Level", "n_ccgs": "CCGs", "observed": "Same-level pairs seen",
                                         "expected": "Expected by chance", "p_cluster": "p (clustered, one-sided)"},
                          {"expected": ".1f", "p_cluster": ".3f"}))
    return out


def _teams(s: analysis.Summary, r: dict[str, Reading]) -> list[object]:
    out = _section("Do CCGs of the same area team share a level?",
                   [r["concordance.full"], r["concordance.binary"], r.get("concordance.most_uniform_team")])
    ranked = ranked_teams(s.full.concordance)
    if not ranked.empty:
        out.append(_table(ranked, {"team": "Area team (most uniform first)", "modal_level": "Most common level",
                                   "known_at_modal": "Known CCGs at it", "modal_share": "Share",
                                   "n_unknown": "Unknown level"}, {"modal_share": ".0%"}))
    if "concordance.unranked" in r:
        out.append(html.P(r["concordance.unranked"].text, className="hint"))
    return out


def _size(service: AtlasService, state: ViewState, s: analysis.Summary, r: dict[str, Reading]) -> list[object]:
    """HSJ's fourth question: the readings and the table of medians (its chart is with the other charts, as
    ``size-chart``: :func:`dashboard.figures.size_by_level_figure`)."""
    if s.size is None:
        return []
    out = _section("Were larger CCGs more likely to take delegation?",
                   [r.get("size.binary"), r.get("size.full"), r.get("size.missing")])
    if not s.size.by_level.empty:
        out.append(_table(s.size.by_level.assign(**{c: s.size.by_level[c] / 1000 for c in
                                                    ("median", "mean", "smallest", "largest")}),
                          {"level": "Level", "n": "CCGs", "median": "Median (thousands)", "mean": "Mean (thousands)",
                           "smallest": "Smallest (thousands)", "largest": "Largest (thousands)"},
                          {"median": ".0f", "mean": ".0f", "smallest": ".0f", "largest": ".0f"}))
    return out


def clustering_panel(service: AtlasService, state: ViewState) -> list[object]:
    """The panel's components for a view state: readings, hints and tables (of the change in the change view)."""
    if state.view == "change":
        return change_panel(service, state)
    s = summary_for(service, state)
    if s.n_selected == 0:
        return [html.P(NO_CCGS, className="notice")]
    r = readings(s, _lookups(service)["ccg_name"])
    out: list[object] = [
        html.P([html.Strong(f"{YEAR_LABEL[state.year]}, CCGs in the filter. "), r["coverage"].text],
               className="notice"),
        html.P(r["views"].text, className="hint"),
        *_neighbours(s, r),
        *_teams(s, r),
        *_section("Local clusters", [r["local.full"]]),
        html.P(_cluster_hint(s.full.local), className="hint"),
        *_section("Were delegated CCGs more deprived?",
                  [r["deprivation.binary"], r["deprivation.full"], r.get("deprivation.missing")]),
    ]
    dep = s.deprivation
    if not dep.by_level.empty:
        out.append(_table(dep.by_level, {"level": "Level", "n": "CCGs", "median": "Median IMD", "mean": "Mean IMD",
                                         "pop_weighted_mean": "Population-weighted mean"},
                          {"median": ".1f", "mean": ".1f", "pop_weighted_mean": ".1f"}))
    out += _size(service, state, s, r)
    out.append(html.P(f"Permutation tests with {s.permutations} random relabellings (seed {s.seed}). Evidence is "
                      "graded by p: below 0.01 strong, below 0.05 evidence, below 0.10 weak, otherwise none. A test "
                      f"needs at least {MIN_KNOWN} CCGs of known level and more than one level among them. Unknown "
                      "levels are left out, never guessed.", className="hint"))
    return out


def change_summary_for(service: AtlasService, state: ViewState) -> analysis.Summary:
    """Statistics of "became delegated in 2016/17" (:func:`dashboard.change.became_delegated`) for the filters;
    cached beside the level summaries under the change view's state."""
    key = change.chart_state(replace(state, view="change"))

    def make() -> analysis.Summary:
        view, look = service.view(key), _lookups(service)
        return analysis.summarise(change.became_delegated(view), service.atlas.neighbours, look["area_team"],
                                  look["imd_score"], look["population"], mask=view.mask, year=change.SPAN,
                                  tables=_tables(service))

    return service.cache("summary").get_or_make(key, make)


def _change_teams(s: analysis.Summary) -> html.Table | None:
    """Per area team: CCGs that became delegated, that did not, and that the tests left out."""
    teams = s.binary.concordance.per_team
    if teams.empty:
        return None
    frame = pd.DataFrame({
        "team": teams["team"],
        "became": teams.get(DELEGATED, pd.Series(0, index=teams.index)).astype(int),
        "stayed": teams.get(NOT_DELEGATED, pd.Series(0, index=teams.index)).astype(int),
        "left_out": teams["n_unknown"].astype(int),
    }).sort_values(["became", "stayed", "team"], ascending=[False, True, True])
    frame = frame[(frame["became"] + frame["stayed"]) > 0]  # a team with no CCG tested has nothing to show
    if frame.empty:
        return None
    return _table(frame, {"team": "Area team (most newly delegated first)", "became": "Became delegated",
                          "stayed": "Stayed not delegated", "left_out": "Left out"})


def change_panel(service: AtlasService, state: ViewState) -> list[object]:
    """The panel in the change view: what each test asks about the change and what it found (or why it cannot)."""
    key = change.chart_state(replace(state, view="change"))
    view = service.view(key)
    if view.n == 0:
        return [html.P(NO_CCGS, className="notice")]
    s = change_summary_for(service, key)
    r = change_readings(s, change.group_counts(view))
    out: list[object] = [
        html.P([html.Strong(f"Change {change.SPAN}, CCGs in the filter. "), r["change.coverage"].text],
               className="notice"),
        html.P(r["change.question"].text, className="hint"),
        *_section("Did newly delegated CCGs neighbour each other?", [r["change.neighbours"]]),
        *_section("Did CCGs become delegated by area team?", [r["change.teams"]]),
    ]
    teams = _change_teams(s)
    if teams is not None:
        out.append(teams)
    out += [
        *_section("Were newly delegated CCGs more deprived?", [r["change.deprivation"], r.get("change.missing")]),
        html.P(f"Permutation tests with {s.permutations} random relabellings (seed {s.seed}) of 'became delegated' "
               f"over the CCGs tested. Evidence is graded by p: below 0.01 strong, below 0.05 evidence, below 0.10 "
               f"weak, otherwise none. A test needs at least {MIN_KNOWN} such CCGs, some that became delegated and "
               "some that did not. Unknown levels are left out, never guessed. The map's cluster marks show "
               "same-level clusters of one year, not of the change.", className="hint"),
    ]
    return out
