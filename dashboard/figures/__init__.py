"""Pure figure functions: atlas and view state in, plotly figure (or the parts of one that change) out.

The page, ``/export.png`` and the command-line export all draw from these, so a slide shows what the page
shows. The map is one ``choroplethmap`` trace on a blank style (no tiles, nothing fetched); a change of
year or filter only rewrites a few per-CCG arrays (:func:`map_arrays`), which the page sends as a Patch.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import change
from dashboard.report import NO_CCGS, report_for, set_aside_mask
from dashboard.service import AtlasService, View, level_codes, transition
from dashboard.shares import shares_for
from dashboard.state import ViewState
from geodata.vocabulary import (
    CHANGE_COLOR,
    CHANGE_LABEL,
    CHANGE_ORDER,
    DELEGATED,
    FADED_COLOR,
    LEVEL_COLOR,
    LEVEL_LABEL,
    LEVEL_ORDER,
    LEVEL_WORDS,
    NOT_DELEGATED,
    SET_ASIDE_LABEL,
    SHARE_BINS,
    SHARE_COLOR,
    SHARE_LABEL,
    SHARE_ORDER,
    YEAR_LABEL,
    level_label,
)

__all__ = ["CHANGE_ORDER", "LEVEL_COLOR", "LEVEL_LABEL", "LEVEL_ORDER", "YEAR_LABEL", "transition"]

# A CCG outside the filter is not drawn in its level's colour: at opacity 0 the England layer beneath every CCG
# (:func:`faded_layer`, one neutral tone that no level uses) shows through, so every faded CCG has the same tone
# and a filter change still re-sends only the opacities.
IN_OPACITY, OUT_OPACITY = 0.92, 0.0
LEGEND_PX = 200  # width of the map's legend column on wide screens (entries wrap to fit)
LINE_COLOR, SELECTED_COLOR, SELECTED_ON_DARK = "#ffffff", "#111111", "#ffffff"
LINE_WIDTH, SELECTED_WIDTH = 0.5, 3.0
FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
N_LEGEND = max(len(LEVEL_ORDER), len(CHANGE_ORDER), len(SHARE_ORDER))

# Trace indices in the map figure, which Patch updates address.
T_CCG, T_TEAMS, T_REGIONS, T_INFERRED, T_CLUSTERS, T_LEGEND = 0, 1, 2, 3, 4, 5
INFERRED_COLOR = "#FFFFFF"  # white: on every level colour (L* 27 to 73), never on unknown (nothing inferred)
INFERRED_NAME = "Dot: level inferred (implied, group or rule), not stated"
SET_ASIDE_COLOR = "#333333"  # dark on the unknown grey (L* 84) that a set-aside level is drawn in
SET_ASIDE_NAME = "Dark dot on grey: " + SET_ASIDE_LABEL[0].lower() + SET_ASIDE_LABEL[1:]
CLUSTER_SIZE, CLUSTER_RING = 17, 4  # pixels: a cluster mark's diameter and the dark ring's width


def palette(state: ViewState) -> tuple[tuple[str, ...], dict[str, str], dict[str, str]]:
    if state.view == "change":
        return CHANGE_ORDER, CHANGE_LABEL, CHANGE_COLOR
    if state.view == "share":
        return SHARE_ORDER, SHARE_LABEL, SHARE_COLOR
    return LEVEL_ORDER, LEVEL_LABEL, LEVEL_COLOR


def categories(view: View) -> np.ndarray:
    """What the map colours each CCG by, as positions in the view's palette order: the view's own categories,
    or in the share view each CCG's share bin (:func:`share_categories`)."""
    return share_categories(view) if view.state.view == "share" else view.category


def share_categories(view: View) -> np.ndarray:
    """Per CCG, its position in SHARE_ORDER for the view's year: known delegated, known not delegated, or (an
    open CCG-year) the bin of its share of admissible histories in which it was delegated (dashboard/shares.py).

    A "not delegated, level not stated" CCG is open for its lower level only: it is known not delegated here."""
    year = view.state.year
    table = shares_for(view.service, view.state.evidence)
    open_ = table[(table["year"] == year)]
    delegated = open_[open_["level"] == DELEGATED].set_index("ods_code")["share"]
    open_codes = set(open_["ods_code"])
    index = {c: i for i, c in enumerate(SHARE_ORDER)}
    out = np.empty(len(view.table), dtype=np.int64)
    for i, (ods, level) in enumerate(zip(view.table["ods_code"], view.levels(year))):
        if level == DELEGATED:
            out[i] = index["known_delegated"]
        elif ods in open_codes and level != NOT_DELEGATED:
            share = float(delegated.get(ods, 0.0))
            out[i] = index[next(key for key, low in SHARE_BINS if share >= low)]
        else:
            out[i] = index["known_not_delegated"]
    return out


def discrete_colorscale(colors: list[str]) -> list[list[object]]:
    """Stepped colour scale so that integer z = i is drawn exactly in colors[i]."""
    n = len(colors)
    scale: list[list[object]] = []
    for i, c in enumerate(colors):
        scale += [[i / n, c], [(i + 1) / n, c]]
    return scale


def short_source(source: str) -> str:
    """First source's title for hover text; the details panel shows them all in full."""
    if not source:
        return "none found"
    parts = source.split(" | ")
    first = parts[0].split(" <")[0]
    first = first if len(first) <= 70 else first[:67] + "..."
    return first + (f" (+{len(parts) - 1} more)" if len(parts) > 1 else "")


@dataclass(frozen=True)
class MapArrays:
    """Everything about the map that depends on the view state; the rest never changes."""

    z: list[int]
    colorscale: list[list[object]]
    opacity: list[float]
    line_width: list[float]
    line_color: list[str]
    hovertemplate: str
    legend_names: list[str]
    legend_colors: list[str]
    legend_visible: list[bool]


def map_arrays(view: View) -> MapArrays:
    """The per-CCG arrays and legend of the map for one view (what a Patch re-sends)."""
    state = view.state
    order, labels, colors = palette(state)
    category = categories(view)
    if state.view != "level":
        counts = np.bincount(category[view.mask], minlength=len(order))
        names = [f"{labels[c]}: {int(counts[i])}" for i, c in enumerate(order)]
    else:  # the view's report: set-aside levels are counted apart from "no source found" (their dot's entry)
        rows = {r.key: r for r in report_for(view.service, state).rows}
        names = [f"{labels[c]}: {rows[c].ccgs}" for c in order]
    pad = N_LEGEND - len(order)
    if state.view == "change":
        year_lines = ("Level 2015/16: %{customdata[3]}<br>Level 2016/17: %{customdata[4]}<br>"
                      "Source 2016/17: %{customdata[6]}")
    else:
        k = 3 if state.year == 2015 else 4
        year_lines = (f"Level {YEAR_LABEL[state.year]}: %{{customdata[{k}]}}<br>"
                      f"Source: %{{customdata[{k + 2}]}}")
    hover = ("<b>%{customdata[0]}</b><br>Area team: %{customdata[1]}<br>" + year_lines +
             "<br>IMD 2015 score: %{customdata[2]:.1f} (quintile %{customdata[7]})<extra></extra>")
    slots = [colors[c] for c in order] + [colors[order[-1]]] * pad  # same z range in every view
    selected = view.selected
    return MapArrays(
        z=category.tolist(),
        colorscale=discrete_colorscale(slots),
        # a selected CCG outside the filter is drawn in full too, so its outline (and level) can be seen
        opacity=np.where(view.mask | selected, IN_OPACITY, OUT_OPACITY).tolist(),
        line_width=np.where(selected, SELECTED_WIDTH, LINE_WIDTH).tolist(),
        line_color=np.where(selected, outline_colors(slots, category), LINE_COLOR).tolist(),
        hovertemplate=hover,
        legend_names=names + [""] * pad,
        legend_colors=[colors[c] for c in order] + ["#ffffff"] * pad,
        legend_visible=[True] * len(order) + [False] * pad,
    )


def outline_colors(slots: list[str], category: np.ndarray) -> np.ndarray:
    """The selection outline for each CCG's fill: near-black on light fills, white on dark ones (delegated is
    near-black itself, where a black outline vanished)."""
    dark = np.array([relative_luminance(c) < 0.18 for c in slots])
    return np.where(dark[category], SELECTED_ON_DARK, SELECTED_COLOR)


def relative_luminance(color: str) -> float:
    """WCAG relative luminance of a #rrggbb colour (0 black, 1 white).

    >>> round(relative_luminance("#ffffff"), 3), round(relative_luminance("#000000"), 3)
    (1.0, 0.0)
    """
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(color[i:i + 2], 16) / 255) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def england_outline(ccgs_geojson: dict) -> dict:
    """England (the union of the CCGs) as one GeoJSON feature, rounded to 1e-4 degrees (about 10 m), which keeps
    it at about a fifth of the CCGs' bytes. Made once per atlas: ``AtlasService.derived("england_outline")``."""
    import shapely
    from shapely.geometry import shape

    england = shapely.union_all([shape(f["geometry"]) for f in ccgs_geojson["features"]])

    def ring(coords: Sequence[tuple[float, float]]) -> list[list[float]]:
        out: list[list[float]] = []
        for x, y in coords:
            point = [round(x, 4), round(y, 4)]
            if point != (out[-1] if out else None):
                out.append(point)
        return out if len(out) >= 4 else []  # a speck of an island rounds away

    polygons = []
    for poly in getattr(england, "geoms", [england]):
        outer = ring(poly.exterior.coords)
        if outer:
            polygons.append([outer, *filter(None, (ring(hole.coords) for hole in poly.interiors))])
    return {"type": "Feature", "properties": {}, "geometry": {"type": "MultiPolygon", "coordinates": polygons}}


def faded_layer(service: AtlasService) -> dict:
    """A map layer beneath the CCGs filling England in FADED_COLOR: what CCGs outside the filter show."""
    outline = service.derived("england_outline", lambda: england_outline(service.atlas.ccgs_geojson))
    return {"sourcetype": "geojson", "source": outline, "type": "fill", "below": "traces", "name": "outside the filter",
            "color": FADED_COLOR, "opacity": 1, "fill": {"outlinecolor": FADED_COLOR}}


def filter_bounds(view: View) -> list[float]:
    """Bounds of the CCGs in the filter (England when nothing is filtered out)."""
    bounds = view.service.bounds
    codes = view.table.index[view.mask] if view.mask.any() else view.table.index
    boxes = [bounds[c] for c in codes]
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def fit_view(bounds: list[float], width: int, height: int, pad: float = 0.9) -> tuple[dict[str, float], float]:
    """Centre and zoom that fit ``bounds`` in a web-mercator map of this many pixels (512-pixel tiles).

    The same formula runs in the browser (assets/mapfit.js), so the page and the slide frame a filter alike.
    """
    west, south, east, north = bounds

    def merc(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    zx = math.log2(pad * width * 360 / (512 * max(east - west, 1e-3)))
    zy = math.log2(pad * height * 2 * math.pi / (512 * max(merc(north) - merc(south), 1e-4)))
    y = (merc(north) + merc(south)) / 2
    centre_lat = math.degrees(2 * math.atan(math.exp(y)) - math.pi / 2)
    return {"lon": (west + east) / 2, "lat": centre_lat}, round(min(zx, zy, 11.0), 2)


def _line_coords(geojson: dict) -> tuple[list[float | None], list[float | None]]:
    lon: list[float | None] = []
    lat: list[float | None] = []
    for feature in geojson["features"]:
        geom = feature["geometry"]
        lines = [geom["coordinates"]] if geom["type"] == "LineString" else geom["coordinates"]
        for line in lines:
            for x, y in line:
                lon.append(x)
                lat.append(y)
            lon.append(None)
            lat.append(None)
    return lon, lat


def map_figure(view: View, clusters: pd.DataFrame | None = None, height: int = 640,
               width: int | None = None) -> go.Figure:
    """The choropleth with area-team and region borders, a clusters layer and a legend in words."""
    atlas, state, table = view.atlas, view.state, view.table
    arr = map_arrays(view)
    custom = list(zip(
        table["ccg_name"], table["area_team"], table["imd_score"],
        map(level_label, view.levels_2015), map(level_label, view.levels_2016),
        table["source_2015"].map(short_source), table["source_2016"].map(short_source),
        table["imd_quintile"], table["ccg_code"],
    ))
    fig = go.Figure()
    fig.add_trace(go.Choroplethmap(
        geojson=atlas.ccgs_geojson, featureidkey="id", locations=table["ccg_code"].tolist(), z=arr.z,
        zmin=-0.5, zmax=N_LEGEND - 0.5, colorscale=arr.colorscale, showscale=False,
        marker={"opacity": arr.opacity, "line": {"width": arr.line_width, "color": arr.line_color}},
        customdata=custom, hovertemplate=arr.hovertemplate, name="CCGs", showlegend=False,
    ))
    team_lon, team_lat = _line_coords(atlas.area_teams_geojson)
    fig.add_trace(go.Scattermap(lon=team_lon, lat=team_lat, mode="lines", name="Area team border",
                                line={"color": "#333333", "width": 1.4}, hoverinfo="skip", showlegend=True))
    reg_lon, reg_lat = _line_coords(atlas.regions_geojson)
    fig.add_trace(go.Scattermap(lon=reg_lon, lat=reg_lat, mode="lines", name="Region border",
                                line={"color": "#000000", "width": 3}, hoverinfo="skip", showlegend=True))
    ilon, ilat = inferred_points(view)
    dot_color, dot_name = dot_style(view)
    fig.add_trace(go.Scattermap(lon=ilon, lat=ilat, mode="markers", name=legend_entry(dot_name),
                                marker={"size": 5, "color": dot_color, "symbol": "circle"},
                                hoverinfo="skip", showlegend=True))
    lon, lat, text = cluster_points(view.service, clusters)
    # Each marked CCG is two points (see cluster_points): a dark disc and a white centre, i.e. a ring that reads on
    # every level colour and on a region border, and is unlike the small white inferred-level dot.
    n_marks = len(table)
    fig.add_trace(go.Scattermap(lon=lon, lat=lat, text=text, mode="markers", name="Same-level cluster (p ≤ 0.05)",
                                marker={"size": [CLUSTER_SIZE, CLUSTER_SIZE - 2 * CLUSTER_RING] * n_marks,
                                        "color": [SELECTED_COLOR, "#ffffff"] * n_marks, "symbol": "circle",
                                        "opacity": 1},
                                hovertemplate="%{text}<extra></extra>", showlegend=True, visible=True))
    for name, color, visible in zip(arr.legend_names, arr.legend_colors, arr.legend_visible):
        fig.add_trace(go.Scattermap(lon=[None], lat=[None], mode="markers", name=legend_entry(name), visible=visible,
                                    marker={"size": 14, "color": color, "symbol": "circle"}, showlegend=True,
                                    hoverinfo="skip"))
    # The legend sits in a right margin of its own, so it never hides a CCG. In the browser, assets/mapfit.js
    # moves it under the map instead when that leaves a bigger map (always on a phone).
    centre, zoom = fit_view(filter_bounds(view), (width or 700) - LEGEND_PX, height)
    fig.update_layout(
        map={"style": "white-bg", "center": centre, "zoom": zoom, "layers": [faded_layer(view.service)]},
        margin={"l": 0, "r": LEGEND_PX, "t": 0, "b": 0}, height=height, font={"family": FONT},
        legend={"x": 1.0, "xanchor": "left", "y": 0.94, "yanchor": "top", "bgcolor": "rgba(255,255,255,0.85)",
                "itemclick": False, "itemdoubleclick": False, "title": {"text": legend_title(state)}},
        # clickmode "event": a click only reports the CCG (the app toggles it in the selection); with "select"
        # Plotly would also select it itself, fading every other CCG and replacing the selection on each click.
        uirevision="england", clickmode="event", dragmode="pan",
    )
    if width:
        fig.update_layout(width=width)
    return fig


def legend_title(state: ViewState) -> str:
    if state.view == "change":
        return "<b>Change 2015/16 to 2016/17</b><br>CCGs in filter"
    if state.view == "share":
        return f"<b>Delegated {YEAR_LABEL[state.year]}?</b><br>CCGs in filter"
    return f"<b>Level {YEAR_LABEL[state.year]}</b><br>CCGs in filter"


def legend_entry(name: str, width: int = 22) -> str:
    """A legend name wrapped onto short lines, so the page's legend column stays narrow and the map wide."""
    return "<br>".join(textwrap.wrap(name, width)) if name else name


def inferred_points(view: View) -> tuple[list[float], list[float]]:
    """The map's dots: under "any evidence", one inside each CCG in the filter whose level rests on an inferred
    claim (so stated levels read apart); under a stricter choice, which keeps no inferred level, one inside each
    CCG whose level is set aside (drawn in the unknown grey, the dot tells it from "no source found")."""
    rows = view.table[dotted(view)]
    return rows["lon"].tolist(), rows["lat"].tolist()


def dotted(view: View) -> np.ndarray:
    """CCGs in the filter that the map marks with a dot (see :func:`inferred_points`)."""
    if view.state.evidence == "any":
        return view.inferred & view.mask
    year = 2016 if view.state.view == "change" else view.state.year
    return set_aside_mask(view, year) & view.mask


def dot_style(view: View) -> tuple[str, str]:
    """The dot's colour and legend name for the view: white for inferred levels, dark for set-aside ones."""
    if view.state.evidence == "any":
        return INFERRED_COLOR, INFERRED_NAME
    return SET_ASIDE_COLOR, f"{SET_ASIDE_NAME}: {int(dotted(view).sum())}"


def cluster_points(service: AtlasService, clusters: pd.DataFrame | None
                   ) -> tuple[list[float], list[float], list[str]]:
    """Marker positions for CCGs in a significant same-level cluster (columns: significant, n_same ...).

    Each CCG comes twice in a row, for the two markers of its ring (the trace's per-point sizes and colours
    alternate, disc then centre), so a Patch that re-sends only the positions keeps the rings.
    """
    if clusters is None or clusters.empty or "significant" not in clusters:
        return [], [], []
    sig = clusters[clusters["significant"]]
    rows = service.table.loc[service.table.index.intersection(sig.index)]
    text = [f"{r.ccg_name}: {int(sig.at[c, 'n_same'])} of {int(sig.at[c, 'n_neighbours'])} neighbours "
            f"share its level (p = {sig.at[c, 'p_value']:.3f})" for c, r in rows.iterrows()]

    def twice(values: list) -> list:
        return [v for v in values for _ in (0, 1)]

    return twice(rows["lon"].tolist()), twice(rows["lat"].tolist()), twice(text)


def map_patch(patch: Any, service: AtlasService, view: View, applied: dict[str, object], now: dict[str, object],
              clusters: pd.DataFrame | None) -> Any:
    """Write into ``patch`` (a ``dash.Patch``, or any nested-dict stand-in) only the parts of the map whose inputs
    differ between ``applied`` (what the browser shows) and ``now`` (see :func:`dashboard.state.map_parts`).

    Geometry never changes, so a filter change re-sends a few per-CCG arrays, not the 700 kB figure.
    """
    arr = map_arrays(view)
    if applied.get("colour") != now["colour"]:
        patch["data"][T_CCG]["z"] = arr.z
        patch["data"][T_CCG]["colorscale"] = arr.colorscale
        patch["data"][T_CCG]["hovertemplate"] = arr.hovertemplate
        patch["layout"]["legend"]["title"]["text"] = legend_title(view.state)
        for i, (color, visible) in enumerate(zip(arr.legend_colors, arr.legend_visible)):
            patch["data"][T_LEGEND + i]["marker"]["color"] = color
            patch["data"][T_LEGEND + i]["visible"] = visible
    if applied.get("filter") != now["filter"]:
        patch["data"][T_CCG]["marker"]["opacity"] = arr.opacity
        for i, name in enumerate(arr.legend_names):
            patch["data"][T_LEGEND + i]["name"] = legend_entry(name)
        patch["data"][T_INFERRED]["lon"], patch["data"][T_INFERRED]["lat"] = inferred_points(view)
        dot_color, dot_name = dot_style(view)
        patch["data"][T_INFERRED]["marker"]["color"] = dot_color
        patch["data"][T_INFERRED]["name"] = legend_entry(dot_name)
    if applied.get("selection") != now["selection"]:
        patch["data"][T_CCG]["marker"]["line"]["width"] = arr.line_width
        patch["data"][T_CCG]["marker"]["line"]["color"] = arr.line_color
        patch["data"][T_CCG]["marker"]["opacity"] = arr.opacity
        patch["data"][T_CCG]["selectedpoints"] = None
    if applied.get("clusters") != now["clusters"]:
        lon, lat, text = cluster_points(service, clusters)
        patch["data"][T_CLUSTERS]["lon"] = lon
        patch["data"][T_CLUSTERS]["lat"] = lat
        patch["data"][T_CLUSTERS]["text"] = text
    return patch




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
    sub = view.table[view.mask].assign(_group=groups[view.mask].to_numpy(), _row=np.flatnonzero(view.mask))
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
