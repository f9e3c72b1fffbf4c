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

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.state import ViewState, filter_mask
from geodata.atlas import Atlas

# Okabe-Ito colours (safe for the common colour-vision deficiencies), fixed across years and views.
LEVEL_ORDER = ("delegated", "joint", "greater_involvement", "none", "not_delegated", "unknown")
LEVEL_LABEL = {
    "delegated": "Delegated (level 3)",
    "joint": "Joint (level 2)",
    "greater_involvement": "Greater involvement (level 1)",
    "none": "No co-commissioning role",
    "not_delegated": "Not delegated, level not stated",
    "unknown": "Unknown: no source found",
}
LEVEL_COLOR = {
    "delegated": "#0072B2",
    "joint": "#56B4E9",
    "greater_involvement": "#E69F00",
    "none": "#D55E00",
    "not_delegated": "#CC79A7",
    "unknown": "#E4E4E4",
}
CHANGE_ORDER = ("kept", "new", "new_maybe", "not_delegated", "unknown")
CHANGE_LABEL = {
    "kept": "Delegated in both years",
    "new": "Newly delegated in 2016/17",
    "new_maybe": "Delegated in 2016/17, 2015/16 unknown",
    "not_delegated": "Not delegated in 2016/17",
    "unknown": "Unknown in 2016/17",
}
CHANGE_COLOR = {
    "kept": "#0072B2",
    "new": "#009E73",
    "new_maybe": "#9AD0BF",
    "not_delegated": "#E69F00",
    "unknown": "#E4E4E4",
}
YEAR_LABEL = {2015: "2015/16", 2016: "2016/17"}
IN_OPACITY, OUT_OPACITY = 0.92, 0.18
LEGEND_PX = 200  # width of the map's legend column on wide screens (entries wrap to fit)
LINE_COLOR, SELECTED_COLOR = "#ffffff", "#111111"
LINE_WIDTH, SELECTED_WIDTH = 0.5, 3.0
FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
N_LEGEND = max(len(LEVEL_ORDER), len(CHANGE_ORDER))

# Trace indices in the map figure, which Patch updates address.
T_CCG, T_TEAMS, T_REGIONS, T_CLUSTERS, T_LEGEND = 0, 1, 2, 3, 4


def level_codes(levels: pd.Series) -> np.ndarray:
    """Position of each CCG's level in LEVEL_ORDER, for counting with ``np.bincount`` (fast on every filter)."""
    return pd.Categorical(levels, categories=LEVEL_ORDER).codes.astype(np.int64)


def level_label(level: str) -> str:
    return LEVEL_LABEL.get(level, level)


def transition(level_2015: str, level_2016: str) -> str:
    """Category of the 2015/16 -> 2016/17 change that the 'change' view colours by."""
    if level_2016 == "delegated":
        if level_2015 == "delegated":
            return "kept"
        return "new_maybe" if level_2015 == "unknown" else "new"
    return "unknown" if level_2016 == "unknown" else "not_delegated"


def categories(table: pd.DataFrame, state: ViewState) -> pd.Series:
    """The category each CCG is coloured by: its level in the year, or its change between years."""
    if state.view == "change":
        return pd.Series([transition(a, b) for a, b in zip(table["level_2015"], table["level_2016"])],
                         index=table.index)
    return table[f"level_{state.year}"]


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


def map_arrays(atlas: Atlas, state: ViewState) -> MapArrays:
    table = atlas.table
    order, labels, colors = palette(state)
    cats = categories(table, state)
    index = {c: i for i, c in enumerate(order)}
    mask = filter_mask(table, state)
    selected = table.index.isin(state.ccgs)
    counts = cats[mask].value_counts()
    names = [f"{labels[c]}: {int(counts.get(c, 0))}" for c in order]
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
    return MapArrays(
        z=[index[c] for c in cats],
        colorscale=discrete_colorscale(slots),
        opacity=[IN_OPACITY if m else OUT_OPACITY for m in mask],
        line_width=[SELECTED_WIDTH if s else LINE_WIDTH for s in selected],
        line_color=[SELECTED_COLOR if s else LINE_COLOR for s in selected],
        hovertemplate=hover,
        legend_names=names + [""] * pad,
        legend_colors=[colors[c] for c in order] + ["#ffffff"] * pad,
        legend_visible=[True] * len(order) + [False] * pad,
    )


def feature_bounds(geojson: dict) -> dict[str, tuple[float, float, float, float]]:
    """(west, south, east, north) of each feature, for fitting the map to a filter."""
    out = {}
    for f in geojson["features"]:
        polys = f["geometry"]["coordinates"]
        rings = [polys[0]] if f["geometry"]["type"] == "Polygon" else [p[0] for p in polys]
        xs = [x for ring in rings for x, _ in ring]
        ys = [y for ring in rings for _, y in ring]
        out[f["id"]] = (min(xs), min(ys), max(xs), max(ys))
    return out


_BOUNDS: dict[int, dict[str, tuple[float, float, float, float]]] = {}


def filter_bounds(atlas: Atlas, state: ViewState) -> list[float]:
    """Bounds of the CCGs in the filter (England when nothing is filtered out)."""
    key = id(atlas.ccgs_geojson)
    if key not in _BOUNDS:
        _BOUNDS[key] = feature_bounds(atlas.ccgs_geojson)
    bounds = _BOUNDS[key]
    mask = filter_mask(atlas.table, state)
    codes = atlas.table.index[mask] if mask.any() else atlas.table.index
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


def map_figure(atlas: Atlas, state: ViewState, clusters: pd.DataFrame | None = None, height: int = 640,
               width: int | None = None) -> go.Figure:
    """The choropleth with area-team and region borders, a clusters layer and a legend in words."""
    table = atlas.table
    arr = map_arrays(atlas, state)
    custom = list(zip(
        table["ccg_name"], table["area_team"], table["imd_score"],
        table["level_2015"].map(level_label), table["level_2016"].map(level_label),
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
    lon, lat, text = cluster_points(atlas, clusters)
    fig.add_trace(go.Scattermap(lon=lon, lat=lat, text=text, mode="markers", name="Same-level cluster (p ≤ 0.05)",
                                marker={"size": 9, "color": "#111111", "symbol": "circle"},
                                hovertemplate="%{text}<extra></extra>", showlegend=True, visible=True))
    for name, color, visible in zip(arr.legend_names, arr.legend_colors, arr.legend_visible):
        fig.add_trace(go.Scattermap(lon=[None], lat=[None], mode="markers", name=legend_entry(name), visible=visible,
                                    marker={"size": 14, "color": color, "symbol": "circle"}, showlegend=True,
                                    hoverinfo="skip"))
    # The legend sits in a right margin of its own, so it never hides a CCG. In the browser, assets/mapfit.js
    # moves it under the map instead when that leaves a bigger map (always on a phone).
    centre, zoom = fit_view(filter_bounds(atlas, state), (width or 700) - LEGEND_PX, height)
    fig.update_layout(
        map={"style": "white-bg", "center": centre, "zoom": zoom},
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


def cluster_points(atlas: Atlas, clusters: pd.DataFrame | None) -> tuple[list[float], list[float], list[str]]:
    """Marker positions for CCGs in a significant same-level cluster (columns: significant, n_same ...)."""
    if clusters is None or clusters.empty or "significant" not in clusters:
        return [], [], []
    sig = clusters[clusters["significant"]]
    rows = atlas.table.loc[atlas.table.index.intersection(sig.index)]
    text = [f"{r.ccg_name}: {int(sig.at[c, 'n_same'])} of {int(sig.at[c, 'n_neighbours'])} neighbours "
            f"share its level (p = {sig.at[c, 'p_value']:.3f})" for c, r in rows.iterrows()]
    return rows["lon"].tolist(), rows["lat"].tolist(), text


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


def team_share_figure(table: pd.DataFrame, mask: pd.Series, year: int) -> dict:
    """Share of each area team's CCGs at each level, most uniform team on top, unknown shown in grey.

    Returned as a plain figure dict: building it through ``go.Figure`` validation costs ten times more,
    and this runs on every filter change.
    """
    n = len(LEVEL_ORDER)
    m = np.asarray(mask, dtype=bool)
    title = _title(f"Area teams by level, {YEAR_LABEL[year]}", "share of each team's CCGs; most uniform at top")
    if not m.any():
        return _no_ccgs_figure(title)
    names, team_idx = np.unique(table["area_team"].to_numpy()[m], return_inverse=True)
    grid = np.bincount(team_idx * n + level_codes(table[f"level_{year}"])[m], minlength=len(names) * n)
    grid = grid.reshape(len(names), n)
    known = grid[:, :-1].sum(axis=1)  # the last level is unknown
    modal = np.where(known > 0, grid[:, :-1].max(axis=1) / np.maximum(known, 1), -1.0)
    order = np.lexsort((known, modal))  # least uniform first: plotly draws the last bar at the top
    grid, modal, teams = grid[order], modal[order], [str(t) for t in names[order]]
    totals = grid.sum(axis=1)
    data = []
    for i, level in enumerate(LEVEL_ORDER):
        data.append({
            "type": "bar", "orientation": "h", "y": teams, "x": np.round(grid[:, i] / totals, 4).tolist(),
            "name": LEVEL_LABEL[level], "marker": {"color": LEVEL_COLOR[level]},
            "customdata": [[int(c), int(t)] for c, t in zip(grid[:, i], totals)],
            "hovertemplate": "%{y}: %{customdata[0]} of %{customdata[1]} CCGs<extra>" + LEVEL_LABEL[level] + "</extra>",
        })
    labels = [f"{t} ({m:.0%} at modal level)" if m >= 0 else f"{t} (no known level)" for t, m in zip(teams, modal)]
    return {"data": data, "layout": {
        "barmode": "stack", "height": max(260, 24 * len(teams) + 110), "font": {"family": FONT},
        "margin": {"l": 10, "r": 28, "t": 60, "b": 30},  # room for the 100% tick label
        "xaxis": {"tickformat": ".0%", "range": [0, 1], "tickvals": [0, 0.25, 0.5, 0.75, 1]},
        "yaxis": {"automargin": True, "tickvals": teams, "ticktext": labels},
        "legend": {"orientation": "h", "y": -0.08 if len(teams) > 6 else -0.3},
        "title": title,
    }}


def imd_by_level_figure(table: pd.DataFrame, mask: pd.Series, year: int, selected: Sequence[str] = ()) -> dict:
    """IMD 2015 score of each CCG by level: box and points, so small groups are not hidden by a box.

    Selected CCGs are ringed, so a CCG picked on the map can be found among its peers.
    """
    sub = table[mask]
    col = f"level_{year}"
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
