"""The slide's maps as vector paths: the page's map definition (:mod:`dashboard.figures.geo_map`, a ``choropleth``
on a ``geo`` subplot in a Mercator projection) placed in a slide's frames.

The slide draws the page's per-CCG colours, fading, outlines, borders, dots and rings
(:func:`dashboard.figures.map_arrays`, :func:`~dashboard.figures.dot_style`, :func:`~dashboard.figures.dotted`,
:func:`~dashboard.figures.cluster_points`) with the page's geo helpers (:func:`~dashboard.figures.geo_layout`,
:func:`~dashboard.figures.base_trace`, :func:`~dashboard.figures.borders`): SVG paths, so SVG and PDF slides are
vector. Its own look where a slide needs one: the CCGs outside the filter are a choropleth of their own in the
faded tone (a print has no hover to find them by), and lines and marks are scaled to the slide.

Framing: a :class:`dashboard.slides.place.MapFrame` (pixel box, centre, web-Mercator zoom) becomes a geo subplot
whose domain is the box and whose longitude and latitude ranges are the box's edges in that same projection, so
every label, inset and key that :mod:`dashboard.slides.place` places lands where it was meant
(tests/test_slides.py checks it on a render).

Offline: base layers hidden and a ``scattergeo`` line first in every subplot, so plotly.js fetches no topojson
(tests/test_slide_formats.py checks through a recording proxy).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import figures
from dashboard.service import View
from dashboard.slides.place import MapFrame
from geodata.vocabulary import FADED_COLOR

# Trace indices of the main map (subplot "geo"): the page's order (dashboard.figures.geo_map), the CCGs split in two.
S_TEAMS, S_BASE, S_FADED, S_CCG, S_REGIONS, S_INFERRED, S_CLUSTERS = 0, 1, 2, 3, 4, 5, 6
Layer = figures.Layer
HIDDEN_BASE = figures.HIDDEN_BASE
unmerc = figures.unmerc
oriented, base_trace, add_layers = figures.oriented, figures.base_trace, figures.add_layers
england_feature, as_floats, borders = figures.england_feature, figures.as_floats, figures.borders


def frame_ranges(frame: MapFrame) -> tuple[list[float], list[float]]:
    """The frame's west/east longitudes and south/north latitudes: its pixel box at its centre and zoom."""
    return figures.geo_ranges({"lon": frame.lon, "lat": frame.lat}, frame.zoom, frame.x1 - frame.x0,
                              frame.y1 - frame.y0)


def geo_layout(frame: MapFrame, width: float, height: float, bgcolor: str = "rgba(0,0,0,0)") -> dict:
    """A geo subplot drawing exactly the frame: domain = its box (paper fractions), ranges = its edges (the page's
    :func:`dashboard.figures.geo_layout`)."""
    domain = {"x": [frame.x0 / width, frame.x1 / width], "y": [1 - frame.y1 / height, 1 - frame.y0 / height]}
    return figures.geo_layout({"lon": frame.lon, "lat": frame.lat}, frame.zoom, frame.x1 - frame.x0,
                              frame.y1 - frame.y0, domain=domain, bgcolor=bgcolor)


def features(geojson: dict, codes: Sequence[str]) -> dict:
    """The collection's features with these ids, in this order (each choropleth is sent only its own shapes)."""
    by_id = {f["id"]: f for f in geojson["features"]}
    return {"type": "FeatureCollection", "features": [by_id[c] for c in codes if c in by_id]}


def _lines(lon: Sequence[float | None], lat: Sequence[float | None], subplot: str, color: str, width: float,
           name: str) -> go.Scattergeo:
    return figures.border_lines(lon, lat, subplot, color, width, name)


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
        _lines(team_lon, team_lat, "geo", figures.TEAM_LINE[0], figures.TEAM_LINE[1] * max(scale, 0.5),
               "Area team border"),
        base_trace(england_feature(view.service), "geo", "outside the filter"),
        *ccg_traces(view, np.arange(len(view.table)), "geo", atlas.ccgs_geojson),
        _lines(reg_lon, reg_lat, "geo", figures.REGION_LINE[0], figures.REGION_LINE[1] * max(scale, 0.5),
               "Region border"),
        go.Scattergeo(lon=ilon, lat=ilat, mode="markers", geo="geo", hoverinfo="skip", showlegend=False,
                      name=dot_name, marker={"size": 6 * scale, "color": dot_color, "line": {"width": 0}}),
        cluster_marks(view, clusters, scale),
    ]
