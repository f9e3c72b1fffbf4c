"""The small maps of a slide and what is drawn over its map: a London inset, a locator map of England, and the
selected CCGs' outlines on top of their neighbours.

London's 32 CCGs are a few pixels each on an England slide, so, as on ONS and HSJ maps, a slide that shows
London among other CCGs repeats London in an inset at a readable scale: a second ``geo2`` subplot with the same
geometry, colours, fading and outlines as the main map. A slide of a small area gets a locator map (England's
outline with the area marked), drawn as layout shapes so it costs no second map. Geometry derived from the
atlas (London's features, simplified outlines) is made once per service (``AtlasService.derived``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import figures
from dashboard.service import AtlasService, View
from dashboard.slides.place import Box, merc

LONDON = "London"
LOCATOR_SHARE = 0.15  # a slide whose shown CCGs' box is under this share of England's box gets a locator map
OUTLINE_COLOR, CASING_COLOR = figures.SELECTED_COLOR, "#ffffff"


def london_mask(service: AtlasService) -> np.ndarray:
    """The London region's CCGs (the atlas table's region column)."""
    return (service.table["region"] == LONDON).to_numpy()


def needs_inset(view: View) -> bool:
    """The slide shows some of London's CCGs, and other CCGs too (London alone is already at a readable scale)."""
    london = london_mask(view.service)
    shown = view.mask if view.mask.any() else np.ones(len(view.mask), dtype=bool)
    return bool((shown & london).any() and (shown & ~london).any())


def _london_geo(service: AtlasService) -> dict:
    def make() -> dict:
        import shapely
        from shapely.geometry import mapping, shape

        codes = set(service.table.index[london_mask(service)])
        feats = [f for f in service.atlas.ccgs_geojson["features"] if f["id"] in codes]
        outline = shapely.union_all([shape(f["geometry"]) for f in feats])
        return {"ccgs": {"type": "FeatureCollection", "features": feats},
                "outline": {"type": "Feature", "properties": {}, "geometry": mapping(outline)},
                "border": _rings(mapping(outline)),
                "bounds": list(outline.bounds)}
    return service.derived("slide_london", make)


def _rings(geometry: dict) -> tuple[list[float | None], list[float | None]]:
    """A polygon's rings as one line trace's coordinates (None between rings)."""
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    lon: list[float | None] = []
    lat: list[float | None] = []
    for poly in polys:
        for ring in poly:
            lon += [float(p[0]) for p in ring] + [None]
            lat += [float(p[1]) for p in ring] + [None]
    return lon, lat


def london_bounds(service: AtlasService) -> list[float]:
    return _london_geo(service)["bounds"]


def inset_traces(view: View, scale: float, clusters: pd.DataFrame | None = None) -> list:
    """London's CCGs for the ``geo2`` subplot, drawn as the main map draws them (same z, colour scale, fading and
    outlines, :func:`dashboard.slides.slide_map.ccg_traces`) over London in the faded tone, the London border, the
    inferred-level dots, any cluster marks and the selection's outlines. The border comes first: a geo subplot
    whose first trace is a choropleth would make plotly fetch its base topojson (see dashboard.slides.slide_map)."""
    from dashboard.slides.slide_map import as_floats, base_trace, ccg_traces, cluster_marks, oriented

    service = view.service
    geo = _london_geo(service)
    table = view.table
    lon, lat = (as_floats(c) for c in geo["border"])
    traces: list = [  # traces and (choropleth, GeoJSON) pairs, for slide_map.add_layers
        go.Scattergeo(lon=lon, lat=lat, mode="lines", geo="geo2", hoverinfo="skip", showlegend=False,
                      line={"color": "#000000", "width": 2.0 * scale}, name="London border"),
        base_trace(service.derived("slide_london_oriented", lambda: oriented(geo["outline"]["geometry"])), "geo2",
                   "London, outside the filter"),
        *ccg_traces(view, np.flatnonzero(london_mask(service)), "geo2", geo["ccgs"], min_line=0.8),
    ]
    inferred = figures.dotted(view) & london_mask(service)
    rows = table[inferred]
    traces.append(go.Scattergeo(lon=rows["lon"].tolist(), lat=rows["lat"].tolist(), mode="markers",
                                geo="geo2", hoverinfo="skip", showlegend=False, name="inferred (London)",
                                marker={"size": 7 * scale, "color": figures.dot_style(view)[0], "line": {"width": 0}}))
    clon, clat, _ = figures.cluster_points(service, clusters)
    if clon:
        import shapely
        from shapely.geometry import shape

        inside = shapely.contains_xy(shape(geo["outline"]["geometry"]), np.asarray(clon, dtype=float),
                                     np.asarray(clat, dtype=float))
        traces.append(cluster_marks(view, clusters, scale, subplot="geo2", within=inside))
    traces += selection_traces(view, scale * 0.8, subplot="geo2", only=london_mask(service))
    return traces


def selection_traces(view: View, scale: float, subplot: str = "geo", only: np.ndarray | None = None,
                     thin: bool = False) -> list[go.BaseTraceType]:
    """The selected CCGs in the filter outlined on top of every neighbour: a white casing under a dark line,
    so the outline reads on dark and light colours alike (``thin`` for CCGs a few pixels across, which a
    full-width line would fill)."""
    picked = view.selected & view.mask
    if only is not None:
        picked &= only
    if not picked.any():
        return []
    codes = set(view.table.index[picked])
    lon: list[float | None] = []
    lat: list[float | None] = []
    for f in view.atlas.ccgs_geojson["features"]:
        if f["id"] in codes:
            a, b = _rings(f["geometry"])
            lon += a
            lat += b
    from dashboard.slides.slide_map import as_floats

    lon_a, lat_a = as_floats(lon), as_floats(lat)
    return [go.Scattergeo(lon=lon_a, lat=lat_a, mode="lines", geo=subplot, hoverinfo="skip", showlegend=False,
                          name=name, line={"color": color, "width": width * scale * (0.6 if thin else 1.0)})
            for name, color, width in (("selected (casing)", CASING_COLOR, 7.0),
                                       ("selected outline", OUTLINE_COLOR, 4.0))]


# ------------------------------------------------------------------------------------------------------------
# Locator map
# ------------------------------------------------------------------------------------------------------------


def needs_locator(view: View, shown_bounds: Sequence[float]) -> bool:
    """The shown CCGs span a small part of England, so a reader needs to be told where they are."""
    west, south, east, north = _england(view.service)["bounds"]
    w, s, e, n = shown_bounds
    share_x = (e - w) / (east - west)
    share_y = (merc(n) - merc(s)) / (merc(north) - merc(south))
    return share_x * share_y < LOCATOR_SHARE


def _england(service: AtlasService) -> dict:
    def make() -> dict:
        from shapely.geometry import shape

        outline = shape(service.derived("england_outline",
                                        lambda: figures.england_outline(service.atlas.ccgs_geojson))["geometry"])
        simple = outline.simplify(0.03)
        polys = [p for p in getattr(simple, "geoms", [simple]) if p.area > 0.01]
        return {"rings": [[(float(x), float(y)) for x, y in p.exterior.coords] for p in polys],
                "bounds": list(outline.bounds)}
    return service.derived("slide_england_outline", make)


def locator_size(service: AtlasService, height: float) -> tuple[float, float]:
    """Pixel width and height of a locator map of the given height (England's mercator aspect)."""
    west, south, east, north = _england(service)["bounds"]
    aspect = (np.radians(east - west)) / (merc(north) - merc(south))
    return height * aspect, height


def locator_rings(service: AtlasService, box: Box, shown_bounds: Sequence[float]
                  ) -> tuple[list[list[tuple[float, float]]], Box]:
    """England's outline as rings of slide pixels inside box, and the shown area's box on it (at least a few
    pixels, so a small area stays visible)."""
    eng = _england(service)
    west, south, east, north = eng["bounds"]
    x0, y0, x1, y1 = box
    kx = (x1 - x0) / np.radians(east - west)
    ky = (y1 - y0) / (merc(north) - merc(south))
    k = min(kx, ky)

    def px(lon: float, lat: float) -> tuple[float, float]:
        return x0 + np.radians(lon - west) * k, y0 + (merc(north) - merc(lat)) * k

    rings = [[px(x, y) for x, y in ring] for ring in eng["rings"]]
    w, s, e, n = shown_bounds
    ax0, ay1 = px(w, s)
    ax1, ay0 = px(e, n)
    cx, cy, half = (ax0 + ax1) / 2, (ay0 + ay1) / 2, 3.0
    area = (min(ax0, cx - half), min(ay0, cy - half), max(ax1, cx + half), max(ay1, cy + half))
    return rings, area
