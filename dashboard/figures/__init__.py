"""Pure figure functions: atlas and view state in, plotly figure (or the parts of one that change) out.

The page, ``/export.png|svg|pdf`` and the command-line export all draw from these, so a slide shows what the page
shows. The map is one definition for page and slide (:mod:`dashboard.figures.geo_map`: a ``choropleth`` on a
``geo`` subplot, SVG paths, nothing fetched); its names are re-exported here. This module holds the charts.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dashboard import change
from dashboard.figures.geo_map import (
    CLUSTER_RING,
    CLUSTER_SIZE,
    FADED_SLOT,
    FONT,
    HIDDEN_BASE,
    IN_OPACITY,
    INFERRED_COLOR,
    INFERRED_NAME,
    LAT_AT,
    LEGEND_PX,
    LINE_COLOR,
    LINE_WIDTH,
    LON_AT,
    N_LEGEND,
    OUT_OPACITY,
    POPULATION_AT,
    REGION_LINE,
    SELECTED_COLOR,
    SELECTED_ON_DARK,
    SELECTED_WIDTH,
    SET_ASIDE_COLOR,
    SET_ASIDE_NAME,
    T_BASE,
    T_CCG,
    T_CLUSTERS,
    T_INFERRED,
    T_LEGEND,
    T_REGIONS,
    T_TEAMS,
    TEAM_LINE,
    Layer,
    MapArrays,
    _line_coords,
    add_layers,
    as_floats,
    base_trace,
    border_lines,
    borders,
    categories,
    cluster_points,
    discrete_colorscale,
    dot_style,
    dotted,
    england_feature,
    england_outline,
    filter_bounds,
    fit_view,
    geo_layout,
    geo_ranges,
    inferred_points,
    legend_entry,
    legend_title,
    map_arrays,
    map_figure,
    map_patch,
    merc,
    oriented,
    outline_colors,
    palette,
    relative_luminance,
    share_categories,
    short_source,
    unmerc,
)
from dashboard.report import NO_CCGS
from dashboard.service import View, level_codes, transition
from geodata.vocabulary import (
    CHANGE_COLOR,
    CHANGE_LABEL,
    CHANGE_ORDER,
    LEVEL_COLOR,
    LEVEL_LABEL,
    LEVEL_ORDER,
    LEVEL_WORDS,
    UNKNOWN,
    YEAR_LABEL,
)

__all__ = [
    "CHANGE_ORDER", "CLUSTER_RING", "CLUSTER_SIZE", "FONT", "HIDDEN_BASE", "IN_OPACITY", "INFERRED_COLOR",
    "INFERRED_NAME", "LAT_AT", "LEGEND_PX", "LEVEL_COLOR", "LEVEL_LABEL", "LEVEL_ORDER", "LINE_COLOR", "LINE_WIDTH",
    "LON_AT", "Layer", "FADED_SLOT", "N_LEGEND", "OUT_OPACITY", "REGION_LINE", "SELECTED_COLOR", "SELECTED_ON_DARK",
    "SELECTED_WIDTH",
    "SET_ASIDE_COLOR", "SET_ASIDE_NAME", "TEAM_LINE", "T_BASE", "T_CCG", "T_CLUSTERS", "T_INFERRED", "T_LEGEND",
    "T_REGIONS", "T_TEAMS", "YEAR_LABEL", "MapArrays", "_line_coords", "add_layers", "as_floats", "base_trace",
    "border_lines", "borders", "categories", "cluster_points", "discrete_colorscale", "dot_style", "dotted",
    "england_feature", "england_outline", "filter_bounds", "fit_view", "geo_layout", "geo_ranges",
    "inferred_points", "legend_entry", "legend_title", "map_arrays", "map_figure", "map_patch", "merc", "oriented",
    "outline_colors", "palette", "relative_luminance", "share_categories", "short_source", "transition", "unmerc",
]

# The charts' toolbar (top right) takes the first TOOLBAR_PX of the chart, so titles start below it; the tools a
# bar or box chart has no use for are dropped, which keeps the toolbar short on a phone.
TOOLBAR_PX = 30
TITLE_PX = 44  # a two-line title
CHART_TOP = TOOLBAR_PX + TITLE_PX + 12
CHART_MODEBAR = {"remove": ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]}
TICK_FONT = {"size": 11}
LINE_PX = 12  # height of one line of an 11 px tick label
LABEL_WIDTH = 24  # characters per line of a wrapped category label: about 150 px, which leaves a phone bars
# Shortenings tried in turn, only for a label that would otherwise need more than two lines (the hover keeps it whole).
SHORTENINGS = ((" and ", " & "), ("North ", "N "), ("South ", "S "), ("Gloucestershire", "Glos"))
COUNT_STYLE = "font-size:10px;color:#555555"


def _title(text: str, sub: str) -> dict:
    """A left-aligned two-line chart title under the toolbar's row, so the toolbar never covers it.

    Keep ``text`` within about 40 characters and ``sub`` within about 60, so both fit a phone's width."""
    return {"text": f"{text}<br><sup>{sub}</sup>", "x": 0, "xref": "container", "xanchor": "left",
            "y": 1, "yref": "paper", "yanchor": "bottom", "pad": {"l": 8, "b": 12}, "automargin": True,
            "font": {"size": 14}}


def _no_ccgs_figure(title: dict) -> dict:
    """An empty chart that says why it is empty, instead of bare axes."""
    hidden = {"visible": False}
    return {"data": [], "layout": {
        "height": 200, "font": {"family": FONT}, "margin": {"l": 10, "r": 10, "t": CHART_TOP, "b": 10},
        "title": title, "xaxis": hidden, "yaxis": hidden, "modebar": CHART_MODEBAR,
        "annotations": [{"text": NO_CCGS.replace(": ", ":<br>").replace(", or ", ",<br>or "), "showarrow": False,
                         "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}],
    }}


def wrap_label(text: str, width: int = LABEL_WIDTH, max_lines: int = 2) -> list[str]:
    """A category label as lines of at most ``width`` characters, shortened (:data:`SHORTENINGS`) only where it
    would need more than ``max_lines``; never cut, so a long name may still take more lines."""
    lines = textwrap.wrap(text, width)
    for old, new in SHORTENINGS:
        if len(lines) <= max_lines:
            break
        text = text.replace(old, new)
        lines = textwrap.wrap(text, width)
    return lines


def tick_label(name: str, count: str, width: int = LABEL_WIDTH) -> str:
    """A wrapped category name with its count on a line of its own, in smaller grey type."""
    return "<br>".join([*wrap_label(name, width), f'<span style="{COUNT_STYLE}">{count}</span>'])


def hover_name(name: str, width: int = 32) -> str:
    """A full name on short lines for a hover label, which must fit a phone's width too."""
    return "<br>".join(textwrap.wrap(name, width))


def _rows_px(labels: Sequence[str]) -> int:
    """Height of one category row that fits the tallest label (one line per ``<br>``) with a gap."""
    lines = max((label.count("<br>") + 1 for label in labels), default=1)
    return max(24, LINE_PX * lines + 8)


def _bar_layout(labels: Sequence[str], values: Sequence[str], xaxis: dict, title: dict, n_legend: int) -> dict:
    """Layout of a horizontal stacked bar chart with wrapped category labels and the legend under it."""
    row = _rows_px(labels)
    plot = row * len(values)
    legend_px = 22 * n_legend  # a phone stacks the legend's entries; a laptop puts two or three on a line
    return {
        "barmode": "stack", "bargap": 0.3, "height": CHART_TOP + plot + 60 + legend_px, "font": {"family": FONT},
        "margin": {"l": 8, "r": 28, "t": CHART_TOP, "b": 40 + legend_px},  # r: room for the last x tick label
        "xaxis": {"automargin": True, "tickfont": TICK_FONT, **xaxis},
        "yaxis": {"automargin": True, "tickvals": list(values), "ticktext": list(labels), "tickfont": TICK_FONT,
                  "categoryorder": "array", "categoryarray": list(values)},
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": -40 / max(plot, 1), "yanchor": "top",
                   "traceorder": "normal"},
        "title": title, "modebar": CHART_MODEBAR, "hoverlabel": {"align": "left"},
    }


MIN_RANKED = 3  # an area team with fewer CCGs of known level is shown but not ranked


def team_share_figure(view: View) -> dict:
    """Share of each area team's CCGs at each level; teams with at least MIN_RANKED known CCGs ranked by the share
    of their known CCGs at the team's most common level (most uniform on top), the rest below, unranked.

    In the change view, the CCGs of each team by change 2015/16 -> 2016/17 instead (:func:`team_change_figure`).
    Returned as a plain figure dict: building it through ``go.Figure`` validation costs ten times more,
    and this runs on every filter change.
    """
    if view.state.view == "change":
        return team_change_figure(view)
    n = len(LEVEL_ORDER)
    m = view.mask
    year = view.year
    title = _title(f"Area teams by level, {YEAR_LABEL[year]}",
                   f"most uniform at top, among teams with {MIN_RANKED}+ known CCGs")
    if not m.any():
        return _no_ccgs_figure(title)
    names, team_idx = np.unique(view.table["area_team"].to_numpy()[m], return_inverse=True)
    grid = np.bincount(team_idx * n + view.codes[m], minlength=len(names) * n).reshape(len(names), n)
    known = grid[:, :-1].sum(axis=1)  # the last level is unknown
    top = grid[:, :-1].max(axis=1)
    ranked = known >= MIN_RANKED
    modal = np.where(ranked, top / np.maximum(known, 1), -1.0)
    order = np.lexsort((known, modal))  # least uniform first: plotly draws the last bar at the top
    grid, modal, teams = grid[order], modal[order], [str(t) for t in names[order]]
    known, top = known[order], top[order]
    totals = grid.sum(axis=1)
    data = []
    for i, level in enumerate(LEVEL_ORDER):
        data.append({
            # counts, drawn as shares of each bar by the layout's barnorm: x is then customdata[0] (team_wire)
            "type": "bar", "orientation": "h", "y": teams, "x": grid[:, i].tolist(),
            "name": LEVEL_LABEL[level], "marker": {"color": LEVEL_COLOR[level]},
            "customdata": [[int(c), int(t), hover_name(team)] for c, t, team in zip(grid[:, i], totals, teams)],
            # %{y} would show the wrapped tick label: the full name comes from customdata
            "hovertemplate": ("<b>%{customdata[2]}</b><br>%{customdata[0]} of %{customdata[1]} CCGs<extra>"
                              + LEVEL_LABEL[level] + "</extra>"),
        })
    labels = [tick_label(t, f"{tp} of {k} known alike" if r >= 0 else f"{k} known: not ranked")
              for t, tp, k, r in zip(teams, top, known, modal)]
    # three ticks: five did not fit beside the labels on a phone
    xaxis = {"tickformat": ".0%", "range": [0, 1], "tickvals": [0, 0.5, 1]}
    layout = _bar_layout(labels, teams, xaxis, title, len(LEVEL_ORDER))
    return {"data": data, "layout": {**layout, "barnorm": "fraction"}}


def team_wire(fig: dict) -> dict:
    """The team chart (:func:`team_share_figure`) as the page's callback sends it: the team names (each trace's
    ``y``, the y axis's categories) and the hover names (each trace's last ``customdata`` item) once, and no ``x``,
    which is each point's ``customdata[0]``; assets/charts.js (``teamChart``) rebuilds ``fig`` exactly. A chart
    without bars is sent as it is."""
    if not fig["data"]:
        return fig
    first = fig["data"][0]
    data = [{**{k: v for k, v in trace.items() if k not in ("x", "y")},
             "customdata": [row[:-1] for row in trace["customdata"]]} for trace in fig["data"]]
    yaxis = {k: v for k, v in fig["layout"]["yaxis"].items() if k not in ("tickvals", "categoryarray")}
    return {"data": data, "layout": {**fig["layout"], "yaxis": yaxis},
            "teams": list(first["y"]), "hover": [row[-1] for row in first["customdata"]]}


def imd_by_level_figure(view: View, selected: Sequence[str] = (), wire: bool = False) -> dict:
    """IMD 2015 score of each CCG by level: box and points, so small groups are not hidden by a box.

    Selected CCGs are ringed, so a CCG picked on the map can be found among its peers. In the change view, by
    change group instead (:func:`imd_by_change_figure`). ``wire``: the page's compact form (:func:`wire_points`).
    """
    if view.state.view == "change":
        return imd_by_change_figure(view, selected, wire)
    title = _title(f"Deprivation by level, {YEAR_LABEL[view.year]}", "IMD 2015 score of each CCG in the filter")
    groups = pd.Series(view.level, index=view.table.index)
    return _imd_boxes(view, groups, LEVEL_ORDER, LEVEL_LABEL, LEVEL_COLOR, title, selected, wire)


IMD_AXIS_TITLE = "IMD 2015 average score<br>(higher = more deprived)"
#: Where each CCG's name and IMD score sit in the map's per-CCG ``customdata`` (:func:`map_figure`, rows in table
#: order), which the page already holds: the deprivation chart's points are sent as row numbers into it.
MAP_CUSTOM_FIELDS = {"text": 0, "x": 2}


def wire_points(trace: dict, rows: Sequence[int]) -> dict:
    """A trace whose per-CCG ``text`` (names) and ``x`` (IMD scores) the browser fills in from the map's customdata
    (assets/charts.js): only the row numbers travel, so a change does not re-send 209 names and scores."""
    out = {k: v for k, v in trace.items() if k not in MAP_CUSTOM_FIELDS}
    out["rows"] = [int(r) for r in rows]
    return out


def _imd_boxes(view: View, groups: pd.Series, order: Sequence[str], labels: dict[str, str], colors: dict[str, str],
               title: dict, selected: Sequence[str], wire: bool = False) -> dict:
    """Box and points of IMD score per group of CCGs in the filter (groups not in ``order`` are not drawn).

    ``wire``: each trace carries ``rows`` (its CCGs' rows in the table) in place of ``x`` and ``text``, and the
    figure ``fromMap`` (:data:`MAP_CUSTOM_FIELDS`), for the page to fill in; the figure drawn is the same."""
    # Only the columns drawn: the table has dozens, and each would be copied for the filter (half the time).
    sub = view.table.loc[view.mask, ["imd_score", "ccg_name"]].assign(_group=groups[view.mask].to_numpy(),
                                                                      _row=np.flatnonzero(view.mask))
    if sub.empty:
        return _no_ccgs_figure(title)
    counts = sub["_group"].value_counts()
    names = {g: tick_label(labels[g], _plural(int(counts.get(g, 0)), "CCG"), 20) for g in order}
    data = []
    for g in order:
        part = sub[sub["_group"] == g]
        if part.empty:
            continue
        trace = {
            "type": "box", "x": part["imd_score"].tolist(), "name": names[g],
            "marker": {"color": colors[g]}, "boxpoints": "all", "jitter": 0.4, "pointpos": 0,
            "hoveron": "points",  # the box's own hover (five numbers, each naming the group) piled up on a phone
            "text": part["ccg_name"].tolist(), "line": {"width": 1.5},
            "hovertemplate": "<b>%{text}</b><br>IMD %{x:.1f}<br>" + labels[g] + "<extra></extra>",
            **({"fillcolor": "rgba(0,0,0,0)"} if g == "unknown" else {}),
        }
        data.append(wire_points(trace, part["_row"]) if wire else trace)
    picked = sub[sub.index.isin(list(selected)) & sub["_group"].isin(list(order))]
    if len(picked):
        trace = {
            "type": "scatter", "mode": "markers", "x": picked["imd_score"].tolist(),
            "y": [names[g] for g in picked["_group"]], "text": picked["ccg_name"].tolist(), "name": "Selected",
            "marker": {"size": 16, "color": "rgba(0,0,0,0)", "line": {"width": 2.5, "color": SELECTED_COLOR}},
            "hovertemplate": "%{text} (selected): IMD %{x:.1f}<extra></extra>",
        }
        data.append(wire_points(trace, picked["_row"]) if wire else trace)
    shown = [names[g] for g in order if (sub["_group"] == g).any()]
    plot = _rows_px(shown) * max(len(shown), 1)
    return {**({"fromMap": MAP_CUSTOM_FIELDS} if wire else {}), "data": data, "layout": {
        "height": max(300, CHART_TOP + plot + 70), "showlegend": False, "font": {"family": FONT},
        "margin": {"l": 8, "r": 16, "t": CHART_TOP, "b": 60},
        "xaxis": {"title": {"text": IMD_AXIS_TITLE}, "automargin": True, "tickfont": TICK_FONT, "nticks": 6},
        "yaxis": {"automargin": True, "tickfont": TICK_FONT},
        "title": title, "modebar": CHART_MODEBAR, "hoverlabel": {"align": "left"},
    }}


def _plural(n: int, one: str) -> str:
    return f"{n} {one}{'' if n == 1 else 's'}"


def team_change_figure(view: View) -> dict:
    """CCGs of each area team by change 2015/16 -> 2016/17, in the map's change categories (unknown included):
    teams with the most newly delegated CCGs at the top. The hover breaks each bar down by both years' levels."""
    title = _title(f"Area teams by change, {change.SPAN}", "number of CCGs per team; most newly delegated at top")
    m = view.mask
    if not m.any():
        return _no_ccgs_figure(title)
    k, n = len(CHANGE_ORDER), len(LEVEL_ORDER)
    category = np.fromiter((CHANGE_ORDER.index(transition(a, b)) for a, b in
                            zip(view.levels_2015[m], view.levels_2016[m])), dtype=np.int64, count=int(m.sum()))
    names, team_idx = np.unique(view.table["area_team"].to_numpy()[m], return_inverse=True)
    grid = np.bincount(team_idx * k + category, minlength=len(names) * k).reshape(len(names), k)
    pairs = level_codes(view.levels_2015[m]) * n + level_codes(view.levels_2016[m])
    by_pair = np.bincount(team_idx * n * n + pairs, minlength=len(names) * n * n).reshape(len(names), n * n)
    new, kept = grid[:, CHANGE_ORDER.index("new")], grid[:, CHANGE_ORDER.index("kept")]
    order = np.lexsort((-np.arange(len(names)), kept, new))  # fewest new first: plotly draws the last at the top
    grid, by_pair, teams = grid[order], by_pair[order], [str(t) for t in names[order]]
    totals = grid.sum(axis=1)
    pair_category = [CHANGE_ORDER.index(transition(a, b)) for a in LEVEL_ORDER for b in LEVEL_ORDER]

    def breakdown(row: np.ndarray, c: int) -> str:
        parts = [f"{LEVEL_WORDS[LEVEL_ORDER[p // n]]} → {LEVEL_WORDS[LEVEL_ORDER[p % n]]}: {int(row[p])}"
                 for p in range(n * n) if row[p] and pair_category[p] == c]
        return "<br>".join(parts)

    data = []
    for c, cat in enumerate(CHANGE_ORDER):
        data.append({
            "type": "bar", "orientation": "h", "y": teams, "x": grid[:, c].tolist(), "name": CHANGE_LABEL[cat],
            "marker": {"color": CHANGE_COLOR[cat]},
            "customdata": [[int(v), int(t), breakdown(row, c), hover_name(team)]
                           for v, t, row, team in zip(grid[:, c], totals, by_pair, teams)],
            "hovertemplate": ("<b>%{customdata[3]}</b><br>%{customdata[0]} of %{customdata[1]} CCGs "
                              f"({YEAR_LABEL[2015]} → {YEAR_LABEL[2016]}):<br>%{{customdata[2]}}<extra>"
                              f"{CHANGE_LABEL[cat]}</extra>"),
        })
    labels = [tick_label(t, f"{int(g[CHANGE_ORDER.index('new')])} of {int(tot)} newly delegated")
              for t, g, tot in zip(teams, grid, totals)]
    xaxis = {"nticks": 5, "rangemode": "tozero"}  # the subtitle says the bars count CCGs
    return {"data": data, "layout": _bar_layout(labels, teams, xaxis, title, len(CHANGE_ORDER))}


def imd_by_change_figure(view: View, selected: Sequence[str] = (), wire: bool = False) -> dict:
    """IMD 2015 score of the CCGs that became delegated in 2016/17 against those delegated in both years and those
    not delegated in either; CCGs with an unknown level in either year are left out, and the subtitle says how many."""
    groups = pd.Series(change.view_groups(view), index=view.table.index)
    unknown = int((groups[view.mask] == change.UNKNOWN_EITHER).sum())
    sub = (f"IMD 2015 score; {_plural(unknown, 'CCG')} unknown in either year left out" if unknown
           else "IMD 2015 score of each CCG in the filter")
    title = _title(f"Deprivation by change, {change.SPAN}", sub)
    return _imd_boxes(view, groups, change.GROUP_ORDER, change.GROUP_LABEL, change.GROUP_COLOR, title, selected,
                      wire)


#: The size chart's points travel as map rows: their names and populations come from the map's customdata.
SIZE_FROM_MAP = {"text": MAP_CUSTOM_FIELDS["text"], "x": POPULATION_AT}


def size_by_level_figure(view: View, wire: bool = False) -> dict:
    """Population (ONS mid-2015, thousands) of each CCG in the filter by level: box and points, as the deprivation
    chart, unknown levels included (their sizes are what the completions move); in the change view, by 2016/17
    level. ``wire``: the traces without their names and populations, which the page fills in from the map
    (:data:`SIZE_FROM_MAP`, assets/charts.js), and ``rowTrace``, one character per table row naming the trace it
    is in ("." for none), so a year or filter change sends 209 characters, not 209 names and numbers."""
    t = view.table
    year = 2016 if view.state.view == "change" else view.year
    pop = pd.to_numeric(t["population"], errors="coerce").to_numpy(dtype=float) / 1000
    keep = view.mask & np.isfinite(pop)
    level = np.asarray(view.levels(year), dtype=object)
    data = []
    row_trace = np.full(len(t), ".", dtype="<U1")  # the wire's rowTrace: each row's trace, "." for none
    for g in LEVEL_ORDER:
        sel = keep & (level == g)
        if not sel.any():
            continue
        row_trace[sel] = str(len(data))
        trace = {
            "type": "box", "x": np.round(pop[sel], 1).tolist(), "text": t["ccg_name"].to_numpy()[sel].tolist(),
            "name": tick_label(LEVEL_LABEL[g], _plural(int(sel.sum()), "CCG"), 20),
            "marker": {"color": LEVEL_COLOR[g]}, "boxpoints": "all", "jitter": 0.4, "pointpos": 0,
            "hoveron": "points", "line": {"width": 1.5},
            "hovertemplate": "<b>%{text}</b><br>%{x:,.0f} thousand residents<br>" + LEVEL_LABEL[g] + "<extra></extra>",
            **({"fillcolor": "rgba(0,0,0,0)"} if g == UNKNOWN else {}),
        }
        data.append({k: v for k, v in trace.items() if k not in SIZE_FROM_MAP} if wire else trace)
    title = _title(f"Size by level, {YEAR_LABEL[year]}", "residents (ONS mid-2015) of each CCG in the filter")
    if not data:
        return _no_ccgs_figure(title)
    compact = {"fromMap": SIZE_FROM_MAP, "rowTrace": "".join(row_trace)} if wire else {}
    return {**compact, "data": data, "layout": {
        "height": max(300, CHART_TOP + 44 * len(data) + 70), "showlegend": False, "font": {"family": FONT},
        "margin": {"l": 8, "r": 16, "t": CHART_TOP, "b": 60}, "title": title, "modebar": CHART_MODEBAR,
        "xaxis": {"title": {"text": "Residents, thousands"}, "automargin": True, "tickfont": TICK_FONT,
                  "nticks": 6},
        "yaxis": {"automargin": True, "tickfont": TICK_FONT}, "hoverlabel": {"align": "left"},
    }}
