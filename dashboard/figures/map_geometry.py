"""The page map's geometry, sent once per build as a small topology instead of inside every page's layout.

The map figure carries the CCG polygons (about 185 kB compressed as GeoJSON), the area-team and region borders
(another 30 kB) and, beneath them, England in the faded tone (34 kB). All of them are made of the same CCG
edges, and every edge is shared by two CCGs. Here each edge is kept once: the CCG rings are cut into arcs at the
points where three or more edges meet, each arc is stored once as integer steps of 1e-5 degrees (the grid the build
rounds the web geometry to, ``geodata.store.GRID_DEG``), and polygons and borders become lists of arc numbers,
as in TopoJSON (``~i`` is arc ``i`` reversed). The arcs are then sent in steps of 1e-4 degrees (``WEB_SCALE``:
at most 6 m east-west and 11 m north-south, a thirtieth of the 300 m the build simplifies the boundaries by, and
less than a pixel at any zoom the page frames); as neighbours share the very same arcs, rounding them leaves no
gap or overlap between CCGs.

The payload is served at a content-hashed URL with a year's ``Cache-Control``, so a second view, a reload or a
visitor's next day costs nothing, and the page's layout (one per view) no longer repeats the geometry. In the
browser ``js/atlas-geometry.js`` (inside the plotly.js partial bundle) decodes it and puts the GeoJSON and border
coordinates back into the figure before plotly draws it; :func:`decode` is the same decoder in Python, used to
check that the round trip is exact. Without the partial bundle (no npm where the app was built) the page keeps
the figure whole.

Slides, ``/export.png`` and the CLI draw :func:`dashboard.figures.map_figure` itself and never see this form.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dash import Dash
from flask import Response, abort

from dashboard.figures import geo_map
from dashboard.hosting import compression
from dashboard.hosting.headers import IMMUTABLE
from dashboard.service import AtlasService
from geodata.store import GRID_DEG

FORMAT = "atlas-topology/1"
SCALE = round(1 / GRID_DEG)  # integer steps per degree of the build's web geometry
WEB_SCALE = 10_000  # integer steps per degree of what is sent (see the module docstring)
ROUTE = "/_atlas/geometry.<digest>.json"
#: The parts a figure can refer to, as ``<url>#<part>``: the CCG FeatureCollection, and the borders as lines.
PARTS = ("ccgs", "teams", "regions")

Point = tuple[int, int]


def _rings(geometry: Mapping[str, Any]) -> list[list[list[list[float]]]]:
    """A Polygon or MultiPolygon's coordinates as a list of polygons (each a list of rings)."""
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["coordinates"]
    raise ValueError(f"CCG geometry must be a Polygon or MultiPolygon, not {geometry['type']}")


def _grid(ring: Sequence[Sequence[float]]) -> list[Point]:
    points = [(round(x * SCALE), round(y * SCALE)) for x, y in ring]
    for (x, y), (gx, gy) in zip(ring, points):
        if gx / SCALE != x or gy / SCALE != y:
            raise ValueError(f"coordinate ({x}, {y}) is not on the {GRID_DEG} degree grid of the web geometry")
    if points[0] != points[-1]:
        raise ValueError("a ring is not closed")
    return points


class _Arcs:
    """Arcs kept once each, whichever way round a ring runs along them."""

    def __init__(self) -> None:
        self.points: list[tuple[Point, ...]] = []
        self._index: dict[tuple[Point, ...], int] = {}

    def ref(self, arc: tuple[Point, ...]) -> int:
        if arc in self._index:
            return self._index[arc]
        back = arc[::-1]
        if back in self._index:
            return ~self._index[back]
        self._index[arc] = len(self.points)
        self.points.append(arc)
        return self._index[arc]


def _junctions(rings: Iterable[list[Point]]) -> set[Point]:
    """Points where the rings' edges do not simply continue: three or more edges meet (or one ring touches another).

    A point with exactly two distinct neighbours lies inside one stretch of edge shared by the same CCGs on both
    sides, so cutting only at the other points gives arcs that two neighbouring rings share whole. A ring with no
    such point (an island, or a CCG wholly inside another) is cut at its smallest point, which the ring around it
    has too.
    """
    rings = list(rings)
    near: dict[Point, set[Point]] = defaultdict(set)
    for ring in rings:
        for a, b in zip(ring, ring[1:]):
            near[a].add(b)
            near[b].add(a)
    cuts = {p for p, ns in near.items() if len(ns) != 2}
    for ring in rings:
        if not cuts.intersection(ring):
            cuts.add(min(ring))
    return cuts


def _cut(ring: list[Point], cuts: set[Point], arcs: _Arcs) -> list[int]:
    open_ring = ring[:-1]
    start = next(i for i, p in enumerate(open_ring) if p in cuts)
    turned = open_ring[start:] + open_ring[:start] + [open_ring[start]]
    refs, begin = [], 0
    for i in range(1, len(turned)):
        if turned[i] in cuts:
            refs.append(arcs.ref(tuple(turned[begin:i + 1])))
            begin = i
    return refs


def _chains(refs: Sequence[int], arcs: _Arcs) -> list[list[int]]:
    """Border arcs joined end to end where only two of them meet, so a border is drawn as few lines as possible."""
    def ends(r: int) -> tuple[Point, Point]:
        pts = arcs.points[~r if r < 0 else r]
        return (pts[-1], pts[0]) if r < 0 else (pts[0], pts[-1])

    at: dict[Point, list[int]] = defaultdict(list)
    for r in refs:
        a, b = ends(r)
        at[a].append(r)
        at[b].append(r)
    used: set[int] = set()

    def walk(r: int) -> list[int]:
        chain = [r]
        while True:
            end = ends(chain[-1])[1]
            nxt = [n for n in at[end] if n not in used and len(at[end]) == 2]
            if not nxt:
                return chain
            n = nxt[0]
            used.add(n)
            chain.append(n if ends(n)[0] == end else ~n)

    out = []
    # Start at the ends of open borders first (points where other than two border arcs meet), then close loops.
    starts = sorted(refs, key=lambda r: (len(at[ends(r)[0]]) == 2, len(at[ends(r)[1]]) == 2))
    for r in starts:
        if r in used:
            continue
        used.add(r)
        a, b = ends(r)
        if len(at[a]) == 2 and len(at[b]) != 2:
            r = ~r  # walk away from the open end
        out.append(walk(r))
    return out


def _rescaled(pts: Sequence[Point], scale: int) -> list[Point]:
    """An arc's points in ``scale`` steps per degree, without the repeats that rounding makes (ends kept)."""
    div = SCALE // scale
    out: list[Point] = []
    for x, y in pts:
        p = (round(x / div), round(y / div))
        if not out or p != out[-1]:
            out.append(p)
    last = (round(pts[-1][0] / div), round(pts[-1][1] / div))
    return out if len(out) > 1 else [out[0], last]


def encode(ccgs_geojson: Mapping[str, Any], groups: Mapping[str, Mapping[str, str]],
           scale: int = WEB_SCALE) -> dict[str, Any]:
    """The topology of the CCG FeatureCollection, with the borders between CCGs of different ``groups``, its arcs
    in ``scale`` steps per degree (``SCALE`` keeps every coordinate as built; it must divide ``SCALE``).

    ``groups`` maps a line name (``"teams"``, ``"regions"``) to each CCG code's group; a border is an arc with a
    CCG of one group on one side and of another on the other (the coast is no border, as in
    ``geodata.geometry.internal_borders``).
    """
    features = ccgs_geojson["features"]
    gridded = [[[_grid(r) for r in polygon] for polygon in _rings(f["geometry"])] for f in features]
    cuts = _junctions(r for polygons in gridded for polygon in polygons for r in polygon)
    arcs = _Arcs()
    users: dict[int, set[str]] = defaultdict(set)
    polygons_out = []
    for f, polygons in zip(features, gridded):
        coded = [[_cut(r, cuts, arcs) for r in polygon] for polygon in polygons]
        for polygon in coded:
            for ring in polygon:
                for ref in ring:
                    users[~ref if ref < 0 else ref].add(str(f["id"]))
        polygons_out.append(coded)
    lines = {}
    for name, group_of in groups.items():
        border = [i for i, who in users.items() if len(who) == 2 and len({group_of[c] for c in who}) == 2]
        lines[name] = _chains(sorted(border), arcs)
    if scale <= 0 or SCALE % scale:
        raise ValueError(f"scale must divide {SCALE}, not {scale}")
    flat_arcs = []
    for pts in (_rescaled(a, scale) for a in arcs.points):
        flat = [pts[0][0], pts[0][1]]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            flat += [x1 - x0, y1 - y0]
        flat_arcs.append(flat)
    return {
        "format": FORMAT, "scale": scale, "arcs": flat_arcs,
        "ccgs": {"ids": [f["id"] for f in features],
                 "multi": [int(f["geometry"]["type"] == "MultiPolygon") for f in features],
                 "polygons": polygons_out},
        "lines": lines,
    }


def _arc_points(arcs: Sequence[Sequence[int]], ref: int) -> list[Point]:
    flat = arcs[~ref if ref < 0 else ref]
    x, y = flat[0], flat[1]
    pts = [(x, y)]
    for i in range(2, len(flat), 2):
        x, y = x + flat[i], y + flat[i + 1]
        pts.append((x, y))
    return pts[::-1] if ref < 0 else pts


def _path(arcs: Sequence[Sequence[int]], refs: Sequence[int], scale: int) -> list[list[float]]:
    pts: list[Point] = []
    for ref in refs:
        step = _arc_points(arcs, ref)
        pts.extend(step if not pts else step[1:])
    return [[x / scale, y / scale] for x, y in pts]


def decode(topology: Mapping[str, Any]) -> dict[str, Any]:
    """The GeoJSON FeatureCollection (``"ccgs"``) and border lines (``"teams"``, ``"regions"``: lon and lat with
    ``None`` between lines, as a scatter trace takes them) of an :func:`encode` payload; js/atlas-geometry.js does
    the same in the browser."""
    if topology.get("format") != FORMAT:
        raise ValueError(f"not an {FORMAT} payload")
    arcs, scale, ccgs = topology["arcs"], topology["scale"], topology["ccgs"]
    features = []
    for code, multi, polygons in zip(ccgs["ids"], ccgs["multi"], ccgs["polygons"]):
        coords = [[_path(arcs, ring, scale) for ring in polygon] for polygon in polygons]
        geometry = {"type": "MultiPolygon", "coordinates": coords} if multi else {"type": "Polygon",
                                                                                   "coordinates": coords[0]}
        features.append({"type": "Feature", "id": code, "properties": {}, "geometry": geometry})
    out: dict[str, Any] = {"ccgs": {"type": "FeatureCollection", "features": features}}
    for name, chains in topology["lines"].items():
        lon: list[float | None] = []
        lat: list[float | None] = []
        for chain in chains:
            for x, y in _path(arcs, chain, scale):
                lon.append(x)
                lat.append(y)
            lon.append(None)
            lat.append(None)
        out[name] = {"lon": lon, "lat": lat}
    return out


def payload(ccgs_geojson: Mapping[str, Any], groups: Mapping[str, Mapping[str, str]]) -> bytes:
    """:func:`encode` as compact JSON bytes: what the route serves and what its digest is taken of."""
    return json.dumps(encode(ccgs_geojson, groups), separators=(",", ":")).encode()


def for_service(service: AtlasService) -> bytes:
    """The payload of the service's atlas, made once per service: borders between area teams and between regions."""
    table = service.table
    groups = {"teams": table["area_team"].to_dict(), "regions": table["region"].to_dict()}
    return service.derived("map_geometry", lambda: payload(service.atlas.ccgs_geojson, groups))


def on_the_wire(figure: Any, url: str) -> dict[str, Any]:
    """The page map (``figures.map_figure``) as sent to the browser: its geometry replaced by ``<url>#<part>``.

    The CCG trace's GeoJSON refers to ``#ccgs``; so does England in the faded tone beneath it (trace ``T_BASE``),
    drawn as the CCGs themselves filled alike, which costs no geometry of its own; the border traces' lon and lat
    refer to ``#teams`` and ``#regions``. Everything else is unchanged.
    """
    fig = figure.to_plotly_json() if hasattr(figure, "to_plotly_json") else dict(figure)
    data = [dict(t) for t in fig["data"]]
    data[geo_map.T_CCG]["geojson"] = f"{url}#ccgs"
    codes = list(data[geo_map.T_CCG]["locations"])
    base = dict(data[geo_map.T_BASE])
    base.update(geojson=f"{url}#ccgs", locations=codes, z=[0] * len(codes),
                marker={"line": {"width": 0.6, "color": base["marker"]["line"]["color"]}})
    data[geo_map.T_BASE] = base
    for index, part in ((geo_map.T_TEAMS, "teams"), (geo_map.T_REGIONS, "regions")):
        data[index]["lon"] = data[index]["lat"] = f"{url}#{part}"
    return {**fig, "data": data}


def install(app: Dash, body: bytes) -> str:
    """Serve ``body`` (:func:`payload`) under a URL carrying its hash, preloaded by the page; the URL."""
    digest = hashlib.sha256(body).hexdigest()[:16]
    url = app.get_relative_path(ROUTE.replace("<digest>", digest))

    encoded = compression.Precompressed(body)  # its tight encodings are made when first asked for (0.5 s)

    def geometry(digest: str) -> Response:
        if digest != url.rsplit("/", 1)[-1].split(".")[1]:
            abort(404)
        return encoded.response("application/json", IMMUTABLE)  # the URL changes with the content

    app.server.add_url_rule(app.get_relative_path(ROUTE), "atlas_map_geometry", geometry)
    # Fetched from the head while the scripts load, so the map need not wait for it after the layout arrives.
    link = f'<link rel="preload" href="{url}" as="fetch" crossorigin="anonymous">'
    app.index_string = app.index_string.replace("{%css%}", link + "\n        {%css%}", 1)
    return url
