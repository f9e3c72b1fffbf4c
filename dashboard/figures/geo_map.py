"""The atlas map as one definition for the page and the slides: a plotly ``choropleth`` on a ``geo`` subplot.

The page (``dcc.Graph`` ``ccg-map``), ``/export.png|svg|pdf`` and the command-line export draw the map as SVG
paths on a geo subplot in a Mercator projection. The page used a ``choroplethmap`` trace (MapLibre in WebGL),
which a browser without a GPU draws in software, seconds per view, and which prints and exports as a picture.
Here :func:`map_figure` builds the page's figure and :mod:`dashboard.slides.slide_map` builds the slide's traces
from the same parts (:func:`map_arrays`, :func:`geo_layout`, :func:`base_trace`, :func:`borders`,
:func:`inferred_points`, :func:`cluster_points`).

Offline: no base layer is drawn (land, coasts, countries, lakes, ocean, rivers, frame all off), and the first trace
of every geo subplot is a ``scattergeo`` line without ``locationmode``: plotly.js fetches its base topojson from a
CDN only when a base layer is shown or that first trace has a ``locationmode``, so nothing is fetched.

Framing: a filter's bounds become a web-Mercator centre and zoom (:func:`fit_view`, 5% margin on each side of the
tighter dimension) and then the longitude and latitude ranges of the whole plot area at that zoom
(:func:`geo_ranges`); plotly fits the range box to the plot area, which has the same aspect, so the filter is framed
with its margin and the map fills the area. The browser does the same for the graph's real size (assets/mapfit.js).
A change of year or filter only rewrites a few per-CCG arrays (:func:`map_patch`), which the page sends as a Patch.
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

from dashboard.report import report_for, set_aside_mask
from dashboard.service import AtlasService, View
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
    NOT_DELEGATED,
    SET_ASIDE_LABEL,
    SHARE_BINS,
    SHARE_COLOR,
    SHARE_LABEL,
    SHARE_ORDER,
    YEAR_LABEL,
    level_label,
)

# A CCG outside the filter is not drawn in its level's colour but in one neutral tone that no level uses, the tone
# of England beneath every CCG (trace T_BASE): on a slide it is transparent there (OUT_OPACITY), on the page it is
# drawn in that tone (MapArrays.fill); either way every faded CCG has the same tone.
IN_OPACITY, OUT_OPACITY = 0.92, 0.0
LEGEND_PX = 200  # width of the map's legend column on wide screens (entries wrap to fit)
LINE_COLOR, SELECTED_COLOR, SELECTED_ON_DARK = "#ffffff", "#111111", "#ffffff"
LINE_WIDTH, SELECTED_WIDTH = 0.5, 3.0
FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
N_LEGEND = max(len(LEVEL_ORDER), len(CHANGE_ORDER), len(SHARE_ORDER))
FADED_SLOT = N_LEGEND  # the page map's colour for a CCG outside the filter (MapArrays.fill)

# Trace indices in the map figure, which Patch updates address. The first trace of a geo subplot must have no
# ``locationmode`` (a choropleth always has one), or plotly.js fetches its base topojson from a CDN: so a border
# line comes first. Plotly draws every choropleth beneath every scattergeo of a subplot, whatever their order.
T_TEAMS, T_BASE, T_CCG, T_REGIONS, T_INFERRED, T_CLUSTERS, T_LEGEND = 0, 1, 2, 3, 4, 5, 6
#: Where each CCG's label point sits in the CCG trace's customdata rows (the page's names, assets/mapnames.js).
LON_AT, LAT_AT = 9, 10
#: Where each CCG's population (ONS mid-2015, thousands) sits in those rows (the size chart's points).
POPULATION_AT = 11
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
    #: What the map draws: ``z`` where ``opacity`` is IN_OPACITY, FADED_SLOT (FADED_COLOR, the last slot of
    #: ``fill_colorscale``) where it is OUT_OPACITY. A geo choropleth has one opacity per trace (plotly.js sets it on
    #: every path alike), so the fading is a colour of its own; drawn at IN_OPACITY over England in the faded tone it
    #: is that tone exactly.
    fill: list[int]
    fill_colorscale: list[list[object]]


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
    shown = view.mask | selected
    return MapArrays(
        z=category.tolist(),
        colorscale=discrete_colorscale(slots),
        # a selected CCG outside the filter is drawn in full too, so its outline (and level) can be seen
        opacity=np.where(shown, IN_OPACITY, OUT_OPACITY).tolist(),
        line_width=np.where(selected, SELECTED_WIDTH, LINE_WIDTH).tolist(),
        line_color=np.where(selected, outline_colors(slots, category), LINE_COLOR).tolist(),
        hovertemplate=hover,
        legend_names=names + [""] * pad,
        legend_colors=[colors[c] for c in order] + ["#ffffff"] * pad,
        legend_visible=[True] * len(order) + [False] * pad,
        fill=np.where(shown, category, FADED_SLOT).tolist(),
        fill_colorscale=discrete_colorscale([*slots, FADED_COLOR]),
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


HIDDEN_BASE = {f"show{layer}": False for layer in
               ("land", "coastlines", "countries", "lakes", "ocean", "rivers", "subunits", "frame")}
Layer = tuple[go.Choropleth, dict]  # a choropleth and its GeoJSON, which add_layers sets once the trace is added


def merc(lat: float) -> float:
    """Web-Mercator y (radians) of a latitude in degrees."""
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def unmerc(y: float) -> float:
    """Latitude (degrees) of a web-Mercator y (the inverse of :func:`merc`)."""
    return math.degrees(2 * math.atan(math.exp(y)) - math.pi / 2)


def geo_ranges(centre: dict[str, float], zoom: float, width: float, height: float
               ) -> tuple[list[float], list[float]]:
    """West/east longitudes and south/north latitudes of a ``width`` x ``height`` pixel map at this web-Mercator
    centre and zoom (512-pixel tiles): the range box plotly's geo subplot fits to its plot area.

    >>> lon, lat = geo_ranges({"lon": 0.0, "lat": 0.0}, 0.0, 512, 512)
    >>> [round(v) for v in lon], [round(v, 2) for v in lat]
    ([-180, 180], [-85.05, 85.05])
    """
    world = 512 * 2 ** zoom
    half_lon = width / 2 * 360 / world
    half_y = height / 2 * 2 * math.pi / world
    y = merc(centre["lat"])
    return [centre["lon"] - half_lon, centre["lon"] + half_lon], [unmerc(y - half_y), unmerc(y + half_y)]


def geo_layout(centre: dict[str, float], zoom: float, width: float, height: float,
               domain: dict[str, list[float]] | None = None, bgcolor: str = "rgba(0,0,0,0)") -> dict:
    """A geo subplot drawing the ``width`` x ``height`` pixels of its plot area (or ``domain``) at this centre
    and zoom, base layers hidden. ``center`` is given too: plotly would otherwise put the middle of the ranges in
    degrees in the middle, which in Mercator is a little south of the frame's middle."""
    lon, lat = geo_ranges(centre, zoom, width, height)
    return {
        **HIDDEN_BASE, "visible": False, "bgcolor": bgcolor, "fitbounds": False,
        "projection": {"type": "mercator", "scale": 1, "rotation": {"lon": centre["lon"], "lat": 0, "roll": 0}},
        "center": dict(centre), "lonaxis": {"range": lon, "showgrid": False},
        "lataxis": {"range": lat, "showgrid": False}, **({"domain": domain} if domain else {}),
    }


def oriented(geometry: dict) -> dict:
    """A (multi)polygon with clockwise outer rings, as the atlas's CCGs have them: d3-geo (plotly's geo) reads a
    counter-clockwise ring as the whole sphere but the polygon."""
    from shapely.geometry import MultiPolygon, mapping, shape
    from shapely.geometry.polygon import orient

    geom = shape(geometry)
    return dict(mapping(MultiPolygon([orient(p, sign=-1.0) for p in getattr(geom, "geoms", [geom])])))


def england_feature(service: AtlasService) -> dict:
    """England's outline (:func:`england_outline`) as a clockwise geometry, made once per service."""
    def make() -> dict:
        outline = service.derived("england_outline", lambda: england_outline(service.atlas.ccgs_geojson))
        return oriented(outline["geometry"])
    return service.derived("slide_england_oriented", make)


def base_trace(geometry: dict, subplot: str, name: str) -> Layer:
    """One polygon (clockwise, :func:`oriented`) filled in FADED_COLOR beneath the CCGs: what shows through the
    CCGs outside the filter (opacity 0) and, a little, through those inside (IN_OPACITY)."""
    geojson = {"type": "FeatureCollection",
               "features": [{"type": "Feature", "id": name, "properties": {}, "geometry": geometry}]}
    return go.Choropleth(featureidkey="id", locations=[name], z=[0], zmin=0, zmax=1,
                         colorscale=[[0, FADED_COLOR], [1, FADED_COLOR]], showscale=False, geo=subplot,
                         marker={"line": {"width": 0, "color": FADED_COLOR}}, hoverinfo="skip", name=name,
                         showlegend=False), geojson


def add_layers(fig: go.Figure, layers: Sequence[Layer | go.BaseTraceType]) -> None:
    """Add traces to the figure, each choropleth's geometry only after it is in the figure: plotly deep-copies and
    validates a trace's properties when it is added (about 0.5 s for the CCGs' GeoJSON), not when one is set."""
    items = [layer if isinstance(layer, tuple) else (layer, None) for layer in layers]
    start = len(fig.data)
    fig.add_traces([trace for trace, _ in items])
    for i, (_, geojson) in enumerate(items):
        if geojson is not None:
            fig.data[start + i].geojson = geojson


def as_floats(values: Sequence[float | None]) -> np.ndarray:
    """Coordinates with None (a break between lines) as NaN, which plotly sends as null: a float array is validated
    at numpy speed, a list of ten thousand points one by one (0.3 s a figure)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def borders(service: AtlasService) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The area teams' and regions' borders as line coordinates, made once per service."""
    def make() -> tuple:
        atlas = service.atlas
        return tuple(tuple(as_floats(c) for c in _line_coords(g))
                     for g in (atlas.area_teams_geojson, atlas.regions_geojson))
    return service.derived("slide_borders", make)


def border_lines(lon: Sequence[float | None], lat: Sequence[float | None], subplot: str, color: str, width: float,
                 name: str, legend: bool = False) -> go.Scattergeo:
    """A border as a line trace (no ``locationmode``, so it may be a geo subplot's first trace)."""
    return go.Scattergeo(lon=lon, lat=lat, mode="lines", geo=subplot, hoverinfo="skip", showlegend=legend,
                         name=name, line={"color": color, "width": width})


TEAM_LINE, REGION_LINE = ("#333333", 1.4), ("#000000", 3.0)


def map_figure(view: View, clusters: pd.DataFrame | None = None, height: int = 640,
               width: int | None = None) -> go.Figure:
    """The page's map: the CCGs coloured by the view over England in the faded tone, area-team and region
    borders, dots, cluster rings and a legend in words, framed on the filter for a ``width`` x ``height`` graph
    (700 px wide when not given; the browser frames it again for its real size)."""
    service, state, table = view.service, view.state, view.table
    arr = map_arrays(view)
    custom = list(zip(
        table["ccg_name"], table["area_team"], table["imd_score"],
        map(level_label, view.levels_2015), map(level_label, view.levels_2016),
        table["source_2015"].map(short_source), table["source_2016"].map(short_source),
        table["imd_quintile"], table["ccg_code"], table["lon"].round(4), table["lat"].round(4),
        (pd.to_numeric(table["population"], errors="coerce") / 1000).round(1),
    ))
    (team_lon, team_lat), (reg_lon, reg_lat) = borders(service)
    ccgs = go.Choropleth(
        featureidkey="id", locations=table["ccg_code"].tolist(), z=arr.fill, geo="geo",
        zmin=-0.5, zmax=FADED_SLOT + 0.5, colorscale=arr.fill_colorscale, showscale=False,
        marker={"opacity": IN_OPACITY, "line": {"width": arr.line_width, "color": arr.line_color}},
        customdata=custom, hovertemplate=arr.hovertemplate, name="CCGs", showlegend=False,
    )
    ilon, ilat = inferred_points(view)
    dot_color, dot_name = dot_style(view)
    lon, lat, text = cluster_points(service, clusters)
    # Each marked CCG is two points (see cluster_points): a dark disc and a white centre, i.e. a ring that reads on
    # every level colour and on a region border, and is unlike the small white inferred-level dot.
    n_marks = len(table)
    fig = go.Figure()
    add_layers(fig, [
        border_lines(team_lon, team_lat, "geo", *TEAM_LINE, "Area team border", legend=True),
        base_trace(england_feature(service), "geo", "outside the filter"),
        (ccgs, view.atlas.ccgs_geojson),
        border_lines(reg_lon, reg_lat, "geo", *REGION_LINE, "Region border", legend=True),
        go.Scattergeo(lon=ilon, lat=ilat, mode="markers", name=legend_entry(dot_name), geo="geo",
                      # a dark rim, so the white dot shows on the legend's white and on the lightest fills
                      marker={"size": 6, "color": dot_color, "symbol": "circle",
                              "line": {"width": 0.8, "color": SET_ASIDE_COLOR}},
                      hoverinfo="skip", showlegend=True),
        go.Scattergeo(lon=lon, lat=lat, text=text, mode="markers", name="Same-level cluster (p ≤ 0.05)", geo="geo",
                      marker={"size": [CLUSTER_SIZE, CLUSTER_SIZE - 2 * CLUSTER_RING] * n_marks,
                              "color": [SELECTED_COLOR, "#ffffff"] * n_marks, "symbol": "circle", "opacity": 1,
                              "line": {"width": 0}},
                      hovertemplate="%{text}<extra></extra>", showlegend=True, visible=True),
        *[go.Scattergeo(lon=[None], lat=[None], mode="markers", name=legend_entry(name), visible=visible, geo="geo",
                        marker={"size": 14, "color": color, "symbol": "circle"}, showlegend=True, hoverinfo="skip")
          for name, color, visible in zip(arr.legend_names, arr.legend_colors, arr.legend_visible)],
    ])
    # The legend sits in a right margin of its own, so it never hides a CCG. In the browser, assets/mapfit.js
    # moves it under the map instead on a narrow screen (a phone).
    plot_w = (width or 700) - LEGEND_PX
    centre, zoom = fit_view(filter_bounds(view), plot_w, height)
    fig.update_layout(
        geo=geo_layout(centre, zoom, plot_w, height),
        margin={"l": 0, "r": LEGEND_PX, "t": 0, "b": 0}, font={"family": FONT},
        legend={"x": 1.0, "xanchor": "left", "y": 0.94, "yanchor": "top", "bgcolor": "rgba(255,255,255,0.85)",
                "itemclick": False, "itemdoubleclick": False, "title": {"text": legend_title(state)}},
        # clickmode "event": a click only reports the CCG (the app toggles it in the selection); with "select"
        # Plotly would also select it itself, fading every other CCG and replacing the selection on each click.
        # uirevision: the user's zoom and pan survive a Patch; each fit in the browser sets a new one.
        uirevision="england", clickmode="event", dragmode="pan",
    )
    if width:  # a figure of a given size; the page's has none and fills its graph, sized by style.css
        fig.update_layout(width=width, height=height)
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
    ccg = patch["data"][T_CCG]
    if any(applied.get(part) != now[part] for part in ("colour", "filter", "selection")):
        ccg["z"] = arr.fill
    if applied.get("colour") != now["colour"]:
        ccg["colorscale"] = arr.fill_colorscale
        ccg["hovertemplate"] = arr.hovertemplate
        patch["layout"]["legend"]["title"]["text"] = legend_title(view.state)
        for i, (color, visible) in enumerate(zip(arr.legend_colors, arr.legend_visible)):
            patch["data"][T_LEGEND + i]["marker"]["color"] = color
            patch["data"][T_LEGEND + i]["visible"] = visible
    if applied.get("filter") != now["filter"]:
        for i, name in enumerate(arr.legend_names):
            patch["data"][T_LEGEND + i]["name"] = legend_entry(name)
        patch["data"][T_INFERRED]["lon"], patch["data"][T_INFERRED]["lat"] = inferred_points(view)
        dot_color, dot_name = dot_style(view)
        patch["data"][T_INFERRED]["marker"]["color"] = dot_color
        patch["data"][T_INFERRED]["name"] = legend_entry(dot_name)
    if applied.get("selection") != now["selection"]:
        ccg["marker"]["line"]["width"] = arr.line_width
        ccg["marker"]["line"]["color"] = arr.line_color
        ccg["selectedpoints"] = None
    if applied.get("clusters") != now["clusters"]:
        lon, lat, text = cluster_points(service, clusters)
        patch["data"][T_CLUSTERS]["lon"] = lon
        patch["data"][T_CLUSTERS]["lat"] = lat
        patch["data"][T_CLUSTERS]["text"] = text
    return patch
