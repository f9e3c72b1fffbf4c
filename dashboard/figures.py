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

from dashboard.service import AtlasService, View, transition
from dashboard.state import ViewState
from geodata.vocabulary import (
    CHANGE_COLOR,
    CHANGE_LABEL,
    CHANGE_ORDER,
    FADED_COLOR,
    LEVEL_COLOR,
    LEVEL_LABEL,
    LEVEL_ORDER,
    YEAR_LABEL,
    level_label,
)

__all__ = ["CHANGE_ORDER", "LEVEL_COLOR", "LEVEL_LABEL", "LEVEL_ORDER", "YEAR_LABEL", "transition"]

# A CCG outside the filter is not drawn in its level's colour: at opacity 0 the England layer beneath every CCG
# (:func:`faded_layer`, one neutral tone that no level uses) shows through, so every faded CCG has the same tone
# and a filter change still re-sends only the opacities.
IN_OPACITY, OUT_OPACITY = 0.92, 0.0
LEGEND_PX = 200  # width of the map's legend column on wide screens (entries wrap to fit)
LINE_COLOR, SELECTED_COLOR = "#ffffff", "#111111"
LINE_WIDTH, SELECTED_WIDTH = 0.5, 3.0
FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
N_LEGEND = max(len(LEVEL_ORDER), len(CHANGE_ORDER))

# Trace indices in the map figure, which Patch updates address.
T_CCG, T_TEAMS, T_REGIONS, T_INFERRED, T_CLUSTERS, T_LEGEND = 0, 1, 2, 3, 4, 5
INFERRED_COLOR = "#FFFFFF"  # white: on every level colour (L* 27 to 73), never on unknown (nothing inferred)
INFERRED_NAME = "Dot: level inferred (implied, group or rule), not stated"
CLUSTER_SIZE, CLUSTER_RING = 17, 4  # pixels: a cluster mark's diameter and the dark ring's width


def palette(state: ViewState) -> tuple[tuple[str, ...], dict[str, str], dict[str, str]]:
    if state.view == "change":
        return CHANGE_ORDER, CHANGE_LABEL, CHANGE_COLOR
    return LEVEL_ORDER, LEVEL_LABEL, LEVEL_COLOR


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
    counts = np.bincount(view.category[view.mask], minlength=len(order))
    names = [f"{labels[c]}: {int(counts[i])}" for i, c in enumerate(order)]
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
        z=view.category.tolist(),
        colorscale=discrete_colorscale(slots),
        # a selected CCG outside the filter is drawn in full too, so its outline (and level) can be seen
        opacity=np.where(view.mask | selected, IN_OPACITY, OUT_OPACITY).tolist(),
        line_width=np.where(selected, SELECTED_WIDTH, LINE_WIDTH).tolist(),
        line_color=np.where(selected, SELECTED_COLOR, LINE_COLOR).tolist(),
        hovertemplate=hover,
        legend_names=names + [""] * pad,
        legend_colors=[colors[c] for c in order] + ["#ffffff"] * pad,
        legend_visible=[True] * len(order) + [False] * pad,
    )


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
    fig.add_trace(go.Scattermap(lon=ilon, lat=ilat, mode="markers", name=legend_entry(INFERRED_NAME),
                                marker={"size": 5, "color": INFERRED_COLOR, "symbol": "circle"},
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
    return f"<b>Level {YEAR_LABEL[state.year]}</b><br>CCGs in filter"


def legend_entry(name: str, width: int = 22) -> str:
    """A legend name wrapped onto short lines, so the page's legend column stays narrow and the map wide."""
    return "<br>".join(textwrap.wrap(name, width)) if name else name


def inferred_points(view: View) -> tuple[list[float], list[float]]:
    """A dot inside each CCG in the filter whose level rests on an inferred claim, so stated levels read apart."""
    rows = view.table[view.inferred & view.mask]
    return rows["lon"].tolist(), rows["lat"].tolist()


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


NO_CCGS = "No CCG matches these filters: widen the deprivation range, or choose other regions or area teams."


def _title(text: str, sub: str) -> dict:
    """A left-aligned two-line chart title: short enough for a phone, clear of the toolbar on the right."""
    return {"text": f"{text}<br><sup>{sub}</sup>", "x": 0.01, "xanchor": "left", "xref": "container",
            "font": {"size": 14}}


def _no_ccgs_figure(title: dict) -> dict:
    """An empty chart that says why it is empty, instead of bare axes."""
    hidden = {"visible": False}
    return {"data": [], "layout": {
        "height": 160, "font": {"family": FONT}, "margin": {"l": 10, "r": 10, "t": 60, "b": 10}, "title": title,
        "xaxis": hidden, "yaxis": hidden,
        "annotations": [{"text": NO_CCGS.replace(": ", ":<br>").replace(", or ", ",<br>or "), "showarrow": False,
                         "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}],
    }}


MIN_RANKED = 3  # an area team with fewer CCGs of known level is shown but not ranked


def team_share_figure(view: View) -> dict:
    """Share of each area team's CCGs at each level; teams with at least MIN_RANKED known CCGs ranked by the share
    of their known CCGs at the team's most common level (most uniform on top), the rest below, unranked.

    Returned as a plain figure dict: building it through ``go.Figure`` validation costs ten times more,
    and this runs on every filter change.
    """
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
            "type": "bar", "orientation": "h", "y": teams, "x": np.round(grid[:, i] / totals, 4).tolist(),
            "name": LEVEL_LABEL[level], "marker": {"color": LEVEL_COLOR[level]},
            "customdata": [[int(c), int(t)] for c, t in zip(grid[:, i], totals)],
            "hovertemplate": "%{y}: %{customdata[0]} of %{customdata[1]} CCGs<extra>" + LEVEL_LABEL[level] + "</extra>",
        })
    labels = [f"{t} ({tp} of {k} known alike)" if r >= 0 else f"{t} ({k} known: not ranked)"
              for t, tp, k, r in zip(teams, top, known, modal)]
    return {"data": data, "layout": {
        "barmode": "stack", "height": max(260, 24 * len(teams) + 110), "font": {"family": FONT},
        "margin": {"l": 10, "r": 28, "t": 60, "b": 30},  # room for the 100% tick label
        "xaxis": {"tickformat": ".0%", "range": [0, 1], "tickvals": [0, 0.25, 0.5, 0.75, 1]},
        "yaxis": {"automargin": True, "tickvals": teams, "ticktext": labels},
        "legend": {"orientation": "h", "y": -0.08 if len(teams) > 6 else -0.3},
        "title": title,
    }}


def imd_by_level_figure(view: View, selected: Sequence[str] = ()) -> dict:
    """IMD 2015 score of each CCG by level: box and points, so small groups are not hidden by a box.

    Selected CCGs are ringed, so a CCG picked on the map can be found among its peers.
    """
    year = view.year
    sub = view.table[view.mask].assign(_level=view.level[view.mask])
    col = "_level"
    title = _title(f"Deprivation by level, {YEAR_LABEL[year]}", "IMD 2015 score of each CCG in the filter")
    if sub.empty:
        return _no_ccgs_figure(title)
    data = []
    names = {level: f"{LEVEL_LABEL[level]} ({int((sub[col] == level).sum())})" for level in LEVEL_ORDER}
    for level in LEVEL_ORDER:
        part = sub[sub[col] == level]
        if part.empty:
            continue
        data.append({
            "type": "box", "x": part["imd_score"].tolist(), "name": names[level],
            "marker": {"color": LEVEL_COLOR[level]}, "boxpoints": "all", "jitter": 0.4, "pointpos": 0,
            "text": part["ccg_name"].tolist(), "line": {"width": 1.5},
            "hovertemplate": "%{text}: IMD %{x:.1f}<extra></extra>",
            **({"fillcolor": "rgba(0,0,0,0)"} if level == "unknown" else {}),
        })
    picked = sub[sub.index.isin(list(selected))]
    if len(picked):
        data.append({
            "type": "scatter", "mode": "markers", "x": picked["imd_score"].tolist(),
            "y": [names[lv] for lv in picked[col]], "text": picked["ccg_name"].tolist(), "name": "Selected",
            "marker": {"size": 16, "color": "rgba(0,0,0,0)", "line": {"width": 2.5, "color": SELECTED_COLOR}},
            "hovertemplate": "%{text} (selected): IMD %{x:.1f}<extra></extra>",
        })
    return {"data": data, "layout": {
        "height": 340, "showlegend": False, "font": {"family": FONT}, "margin": {"l": 10, "r": 10, "t": 60, "b": 40},
        "xaxis": {"title": {"text": "IMD 2015 average score (higher = more deprived)"}}, "yaxis": {"automargin": True},
        "title": title,
    }}
