"""The slide's maps as vector paths: plotly ``geo`` subplots in a Mercator projection, framed like the page's map.

The page draws its map as a ``choroplethmap`` trace (MapLibre in WebGL), which Kaleido can only hand back as a
picture: an SVG or PDF slide held the map as an embedded PNG, and a headless Chromium draws WebGL in software,
seconds per slide. A slide needs none of MapLibre's interaction, so it draws the same per-CCG colours, fading,
outlines, borders, dots and rings (:func:`dashboard.figures.map_arrays`, :func:`~dashboard.figures.dot_style`,
:func:`~dashboard.figures.dotted`, :func:`~dashboard.figures.cluster_points`) as ``choropleth`` and ``scattergeo``
traces on a ``geo`` subplot: SVG paths, so SVG and PDF slides are vector, and a slide renders several times faster.

Framing: a :class:`dashboard.slides.place.MapFrame` (pixel box, centre, web-Mercator zoom) becomes a geo subplot
whose domain is the box and whose longitude and latitude ranges are the box's edges in that same projection.
Plotly fits the range box to the domain and puts ``center`` (the frame's centre) in its middle; the two have the
same Mercator aspect, so plotly's pixel mapping is the frame's, and every label, inset and key that
:mod:`dashboard.slides.place` places lands where it was meant (tests/test_slides.py checks it on a render).

Offline: no base layer is drawn (land, coasts, countries, lakes, ocean, rivers, frame all off), and every geo
subplot's first trace is a ``scattergeo`` line with plain lon/lat: plotly.js fetches its base topojson from a CDN
when the first trace of a geo subplot has a ``locationmode`` (as a ``choropleth`` always has) or a base layer is
shown, so with this order nothing is fetched (tests/test_slide_formats.py checks through a recording proxy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import figures
from dashboard.service import AtlasService, View
from dashboard.slides.place import MapFrame, merc
from geodata.vocabulary import FADED_COLOR

# Trace indices of the main map (subplot "geo"). The first is a scattergeo (see the module's docstring); plotly
# draws every choropleth beneath every scattergeo of the same subplot, whatever their order in the figure.
S_TEAMS, S_BASE, S_FADED, S_CCG, S_REGIONS, S_INFERRED, S_CLUSTERS = 0, 1, 2, 3, 4, 5, 6
Layer = tuple[go.Choropleth, dict]  # a choropleth and its GeoJSON, which add_layers sets once the trace is added
HIDDEN_BASE = {f"show{layer}": False for layer in
               ("land", "coastlines", "countries", "lakes", "ocean", "rivers", "subunits", "frame")}


def unmerc(y: float) -> float:
    """Latitude (degrees) of a web-Mercator y (the inverse of :func:`dashboard.slides.place.merc`)."""
    return math.degrees(2 * math.atan(math.exp(y)) - math.pi / 2)


def frame_ranges(frame: MapFrame) -> tuple[list[float], list[float]]:
    """The frame's west/east longitudes and south/north latitudes: its pixel box at its centre and zoom."""
    world = 512 * 2 ** frame.zoom
    half_lon = (frame.x1 - frame.x0) / 2 * 360 / world
    half_y = (frame.y1 - frame.y0) / 2 * 2 * math.pi / world
    y = merc(frame.lat)
    return [frame.lon - half_lon, frame.lon + half_lon], [unmerc(y - half_y), unmerc(y + half_y)]


def geo_layout(frame: MapFrame, width: float, height: float, bgcolor: str = "rgba(0,0,0,0)") -> dict:
    """A geo subplot drawing exactly the frame: domain = its box (paper fractions), ranges = its edges."""
    lon, lat = frame_ranges(frame)
    return {
        **HIDDEN_BASE, "visible": False, "bgcolor": bgcolor, "fitbounds": False,
        "projection": {"type": "mercator", "scale": 1},
        # plotly puts its centre in the middle of the domain, by default the middle of the ranges in degrees; in
        # Mercator the frame's middle is a little further north (about 20 px on the England slide)
        "center": {"lon": frame.lon, "lat": frame.lat},
        "lonaxis": {"range": lon, "showgrid": False}, "lataxis": {"range": lat, "showgrid": False},
        "domain": {"x": [frame.x0 / width, frame.x1 / width], "y": [1 - frame.y1 / height, 1 - frame.y0 / height]},
    }


def oriented(geometry: dict) -> dict:
    """A (multi)polygon with clockwise outer rings, as the atlas's CCGs have them: d3-geo (plotly's geo) reads a
    counter-clockwise ring as the whole sphere but the polygon."""
    from shapely.geometry import mapping, shape
    from shapely.geometry.polygon import orient

    geom = shape(geometry)
    parts = [orient(p, sign=-1.0) for p in getattr(geom, "geoms", [geom])]
    from shapely.geometry import MultiPolygon

    return dict(mapping(MultiPolygon(parts)))


def base_trace(geometry: dict, subplot: str, name: str) -> Layer:
    """One polygon (clockwise, :func:`oriented`) filled in FADED_COLOR beneath the CCGs, as on the page: what shows
    through the CCGs' IN_OPACITY and between them."""
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


def features(geojson: dict, codes: Sequence[str]) -> dict:
    """The collection's features with these ids, in this order (each choropleth is sent only its own shapes)."""
    by_id = {f["id"]: f for f in geojson["features"]}
    return {"type": "FeatureCollection", "features": [by_id[c] for c in codes if c in by_id]}


def england_feature(service: AtlasService) -> dict:
    """England's outline as a clockwise geometry, made once per service."""
    def make() -> dict:
        outline = service.derived("england_outline", lambda: figures.england_outline(service.atlas.ccgs_geojson))
        return oriented(outline["geometry"])
    return service.derived("slide_england_oriented", make)


def as_floats(values: Sequence[float | None]) -> np.ndarray:
    """Coordinates with None (a break between lines) as NaN, which plotly sends as null: a float array is validated
    at numpy speed, a list of ten thousand points one by one (0.3 s a slide)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def borders(service: AtlasService) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The area teams' and regions' borders as line coordinates, made once per service."""
    def make() -> tuple:
        atlas = service.atlas
        return tuple(tuple(as_floats(c) for c in figures._line_coords(g))
                     for g in (atlas.area_teams_geojson, atlas.regions_geojson))
    return service.derived("slide_borders", make)


def _lines(lon: Sequence[float | None], lat: Sequence[float | None], subplot: str, color: str, width: float,
           name: str) -> go.Scattergeo:
    return go.Scattergeo(lon=lon, lat=lat, mode="lines", geo=subplot, hoverinfo="skip",
                         showlegend=False, name=name, line={"color": color, "width": width})


def cluster_marks(view: View, clusters: pd.DataFrame | None, scale: float, subplot: str = "geo",
                  within: np.ndarray | None = None) -> go.Scattergeo:
    """The page's cluster rings (a dark disc under a white centre per CCG, :func:`figures.cluster_points`),
    sized for the slide; ``within`` keeps only the points where it is true."""
    lon, lat, _text = figures.cluster_points(view.service, clusters)
    n = len(lon) // 2
    size = [figures.CLUSTER_SIZE * scale, (figures.CLUSTER_SIZE - 2 * figures.CLUSTER_RING) * scale] * n
    color = [figures.SELECTED_COLOR, "#ffffff"] * n
    keep = np.ones(len(lon), dtype=bool) if within is None else within
    pick = np.flatnonzero(keep)
    return go.Scattergeo(lon=[lon[i] for i in pick], lat=[lat[i] for i in pick], mode="markers", geo=subplot,
                         marker={"size": [size[i] for i in pick], "color": [color[i] for i in pick], "opacity": 1,
                                 "line": {"width": 0}},
                         hoverinfo="skip", showlegend=False, name="Same-level cluster (p ≤ 0.05)")


def ccg_traces(view: View, rows: np.ndarray, subplot: str, geojson: dict, min_line: float = 0.0) -> list[Layer]:
    """Two choropleths of the CCGs at positions ``rows`` of the table: those outside the filter in the faded tone
    (the page leaves them at opacity 0 over the faded England beneath; plotly's geo choropleth has one opacity per
    trace, not per CCG), then those in the filter in their level's colour at the page's IN_OPACITY, with the
    page's outlines (:func:`dashboard.figures.map_arrays`), over :func:`base_trace`."""
    arr = figures.map_arrays(view)
    codes = view.table["ccg_code"].to_numpy()
    inside = view.mask[rows]
    out_rows, in_rows = rows[~inside], rows[inside]
    out_codes, in_codes = codes[out_rows].tolist(), codes[in_rows].tolist()
    faded = go.Choropleth(
        featureidkey="id", locations=out_codes, z=[0] * len(out_rows), zmin=0,
        zmax=1, colorscale=[[0, FADED_COLOR], [1, FADED_COLOR]], showscale=False, geo=subplot,
        marker={"opacity": 1, "line": {"width": max(figures.LINE_WIDTH, min_line), "color": figures.LINE_COLOR}},
        hoverinfo="skip", name="CCGs outside the filter", showlegend=False)
    shown = go.Choropleth(
        featureidkey="id", locations=in_codes, z=[arr.z[i] for i in in_rows],
        zmin=-0.5, zmax=figures.N_LEGEND - 0.5, colorscale=arr.colorscale, showscale=False, geo=subplot,
        marker={"opacity": figures.IN_OPACITY,
                "line": {"width": [max(arr.line_width[i], min_line) for i in in_rows],
                         "color": [arr.line_color[i] for i in in_rows]}},
        hoverinfo="skip", name="CCGs", showlegend=False)
    return [(faded, features(geojson, out_codes)), (shown, features(geojson, in_codes))]


def map_traces(view: View, scale: float, clusters: pd.DataFrame | None) -> list[Layer | go.BaseTraceType]:
    """The main map's traces (indices S_*; add them with :func:`add_layers`): the page's colours, outlines,
    borders, dots and rings on ``geo``."""
    atlas = view.atlas
    (team_lon, team_lat), (reg_lon, reg_lat) = borders(view.service)
    ilon, ilat = figures.inferred_points(view)
    dot_color, dot_name = figures.dot_style(view)
    return [
        _lines(team_lon, team_lat, "geo", "#333333", 1.4 * max(scale, 0.5), "Area team border"),
        base_trace(england_feature(view.service), "geo", "outside the filter"),
        *ccg_traces(view, np.arange(len(view.table)), "geo", atlas.ccgs_geojson),
        _lines(reg_lon, reg_lat, "geo", "#000000", 3 * max(scale, 0.5), "Region border"),
        go.Scattergeo(lon=ilon, lat=ilat, mode="markers", geo="geo", hoverinfo="skip", showlegend=False,
                      name=dot_name, marker={"size": 6 * scale, "color": dot_color, "line": {"width": 0}}),
        cluster_marks(view, clusters, scale),
    ]
