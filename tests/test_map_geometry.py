"""The page map's geometry travels once, as a topology, and comes back whole (dashboard/figures/map_geometry.py).

Round trips on the real atlas, a small golden case, the errors, the route and the page's layout; and in real
Chromium, that the bundle's decoder (js/atlas-geometry.js) gives the very GeoJSON and borders Python has.
"""

from __future__ import annotations

import gzip
import json
import re

import pytest
from test_browser import browser, open_page  # noqa: F401

from dashboard import figures
from dashboard.figures import _line_coords, map_geometry
from dashboard.service import AtlasService
from dashboard.state import ViewState


def canonical_ring(ring: list[list[float]]) -> tuple:
    """A ring up to where it starts (the encoder starts rings at a junction); its direction is kept."""
    pts = [tuple(p) for p in ring[:-1]]
    k = pts.index(min(pts))
    return tuple(pts[k:] + pts[:k])


def canonical(collection: dict) -> list:
    out = []
    for f in collection["features"]:
        g = f["geometry"]
        polygons = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        out.append((f["id"], g["type"], f["properties"], [[canonical_ring(r) for r in p] for p in polygons]))
    return out


def segments(lon: list, lat: list) -> set[frozenset]:
    return {frozenset([(lon[i], lat[i]), (lon[i + 1], lat[i + 1])]) for i in range(len(lon) - 1)
            if lon[i] is not None and lon[i + 1] is not None}


def groups_of(atlas) -> dict:  # noqa: ANN001
    return {"teams": atlas.table["area_team"].to_dict(), "regions": atlas.table["region"].to_dict()}


@pytest.fixture(scope="module")
def real(atlas):  # noqa: ANN001, ANN201
    """The topology at the build's own precision (lossless), and the page's payload (in 1e-4 degree steps)."""
    service = AtlasService(atlas)
    lossless = map_geometry.encode(atlas.ccgs_geojson, groups_of(atlas), scale=map_geometry.SCALE)
    return service, map_geometry.for_service(service), map_geometry.decode(lossless)


def rounded(lon: float, lat: float) -> tuple[float, float]:
    """A built vertex (on the 1e-5 grid) to the nearest 1e-4 degrees, halves to even, as the encoder rounds."""
    div, step = map_geometry.SCALE // map_geometry.WEB_SCALE, map_geometry.WEB_SCALE
    return (round(round(lon * map_geometry.SCALE) / div) / step, round(round(lat * map_geometry.SCALE) / div) / step)


def test_the_real_ccgs_come_back_exactly(real, atlas) -> None:  # noqa: ANN001
    _, _, parts = real
    assert canonical(parts["ccgs"]) == canonical(atlas.ccgs_geojson)
    # Every coordinate is the very float the build wrote (integer steps / 1e5 give the nearest double).
    assert [f["id"] for f in parts["ccgs"]["features"]] == [f["id"] for f in atlas.ccgs_geojson["features"]]


@pytest.mark.parametrize(("part", "name"), [("teams", "area_teams_geojson"), ("regions", "regions_geojson")])
def test_borders_are_the_builds_borders(real, atlas, part: str, name: str) -> None:  # noqa: ANN001
    """Derived from arcs between CCGs of different groups, they cover exactly the build's internal borders."""
    _, _, parts = real
    mine = segments(parts[part]["lon"], parts[part]["lat"])
    theirs = segments(*_line_coords(getattr(atlas, name)))
    assert mine == theirs and len(mine) > 900


def test_the_page_gets_them_rounded_to_1e4_degrees_with_no_gaps(real, atlas) -> None:  # noqa: ANN001
    """What is sent: each vertex is a built vertex rounded to 1e-4 degrees (at most 11 m), each CCG keeps its area,
    and neighbours still meet without gap or overlap, since they share the rounded arcs."""
    import shapely
    from shapely.geometry import shape

    _, body, _ = real
    sent = map_geometry.decode(json.loads(body))
    built = {f["id"]: f for f in atlas.ccgs_geojson["features"]}
    shapes = []
    for f in sent["ccgs"]["features"]:
        g = f["geometry"]
        polygons = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        original = built[f["id"]]["geometry"]
        allowed = {rounded(x, y) for p in ([original["coordinates"]] if original["type"] == "Polygon"
                                           else original["coordinates"]) for r in p for x, y in r}
        assert {(x, y) for p in polygons for r in p for x, y in r} <= allowed, f["id"]
        here, there = shape(g), shape(original)
        assert abs(here.area - there.area) < 0.002 * there.area, f["id"]
        # Rounding can fold a coastal spike a few metres wide onto itself (4 CCGs): drawn alike, measured mended.
        shapes.append(here if here.is_valid else shapely.make_valid(here))
    union = shapely.union_all(shapes).area
    assert abs(sum(s.area for s in shapes) - union) < 1e-6 * union  # no overlaps
    england = shapely.union_all([shape(f["geometry"]) for f in atlas.ccgs_geojson["features"]])
    assert abs(union - england.area) < 1e-3 * england.area  # no gaps
    for part, name in (("teams", "area_teams_geojson"), ("regions", "regions_geojson")):
        lon, lat = _line_coords(getattr(atlas, name))
        allowed = {rounded(x, y) for x, y in zip(lon, lat) if x is not None}
        assert {(x, y) for x, y in zip(sent[part]["lon"], sent[part]["lat"]) if x is not None} <= allowed


def test_each_shared_edge_is_sent_once_and_the_payload_is_small(real) -> None:  # noqa: ANN001
    service, body, _ = real
    fig = figures.map_figure(service.view(ViewState())).to_plotly_json()
    replaced = json.dumps([fig["data"][figures.T_CCG]["geojson"], fig["data"][figures.T_TEAMS]["lon"],
                           fig["data"][figures.T_TEAMS]["lat"], fig["data"][figures.T_REGIONS]["lon"],
                           fig["data"][figures.T_REGIONS]["lat"], fig["data"][figures.T_BASE]["geojson"]],
                          separators=(",", ":")).encode()
    topology = json.loads(body)
    n_points = sum(len(a) // 2 for a in topology["arcs"])
    n_ring_points = sum(len(r) - 1 for f in service.atlas.ccgs_geojson["features"]
                        for p in ([f["geometry"]["coordinates"]] if f["geometry"]["type"] == "Polygon"
                                  else f["geometry"]["coordinates"]) for r in p)
    assert n_points < 0.7 * n_ring_points  # shared edges once, not twice
    assert len(gzip.compress(body, 6)) < 0.4 * len(gzip.compress(replaced, 6))


def test_two_squares_share_one_arc() -> None:
    """Golden case: squares A and B share the edge x = 1; the border between their teams is that edge alone."""
    a = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
    b = [[1.0, 0.0], [2.0, 0.0], [2.0, 1.0], [1.0, 1.0], [1.0, 0.0]]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "A", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [a]}},
        {"type": "Feature", "id": "B", "properties": {}, "geometry": {"type": "MultiPolygon", "coordinates": [[b]]}},
    ]}
    topology = map_geometry.encode(fc, {"teams": {"A": "x", "B": "y"}, "regions": {"A": "r", "B": "r"}},
                                   scale=map_geometry.SCALE)
    assert len(topology["arcs"]) == 3
    assert topology["arcs"][0] == [100000, 0, 0, 100000]  # the shared edge, in steps of 1e-5 degrees
    assert topology["ccgs"]["polygons"][1] == [[[2, ~0]]]  # B runs along it the other way
    assert topology["lines"] == {"teams": [[0]], "regions": []}
    parts = map_geometry.decode(topology)
    assert canonical(parts["ccgs"]) == canonical(fc)
    assert parts["teams"] == {"lon": [1.0, 1.0, None], "lat": [0.0, 1.0, None]}


def test_geometry_off_the_grid_or_not_a_polygon_is_refused() -> None:
    def fc(geometry: dict) -> dict:
        return {"type": "FeatureCollection", "features": [{"type": "Feature", "id": "A", "properties": {},
                                                           "geometry": geometry}]}

    square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match="not on the 1e-05 degree grid"):
        map_geometry.encode(fc({"type": "Polygon", "coordinates": [[[0.000001, 0.0], *square[1:3], [0.000001, 0.0]]]}),
                            {})
    with pytest.raises(ValueError, match="Polygon or MultiPolygon, not LineString"):
        map_geometry.encode(fc({"type": "LineString", "coordinates": square}), {})
    with pytest.raises(ValueError, match="scale must divide 100000, not 3"):
        map_geometry.encode(fc({"type": "Polygon", "coordinates": [square]}), {}, scale=3)
    with pytest.raises(ValueError, match="not an atlas-topology/1 payload"):
        map_geometry.decode({"format": "topojson"})


def map_figure_in(node: object) -> dict | None:
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == "ccg-map":
            return node["props"]["figure"]
        node = list(node.values())
    for child in node if isinstance(node, list) else []:
        found = map_figure_in(child)
        if found:
            return found
    return None


def test_the_page_layout_refers_to_the_geometry_served_once(dash_app) -> None:  # noqa: ANN001
    client = dash_app.server.test_client()
    html = client.get("/").get_data(as_text=True)
    (url,) = re.findall(r'<link rel="preload" href="([^"]+)" as="fetch" crossorigin="anonymous">', html)
    layout = client.get("/_dash-layout?area_team=Greater%20Manchester", headers={"Accept-Encoding": "identity"})
    body = layout.get_data(as_text=True)
    fig = map_figure_in(json.loads(body))
    assert fig["data"][figures.T_CCG]["geojson"] == fig["data"][figures.T_BASE]["geojson"] == f"{url}#ccgs"
    assert fig["data"][figures.T_TEAMS]["lon"] == f"{url}#teams"
    assert fig["data"][figures.T_REGIONS]["lat"] == f"{url}#regions"
    assert '"coordinates"' not in body
    assert len(gzip.compress(layout.data, 6)) < 60_000  # it was about 285 kB with the geometry
    geometry = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert geometry.status_code == 200 and geometry.headers["Content-Encoding"] == "gzip"
    assert "immutable" in geometry.headers["Cache-Control"]
    assert json.loads(gzip.decompress(geometry.data))["format"] == "atlas-topology/1"
    assert client.get(url.replace(url.split(".")[-2], "0" * 16)).status_code == 404


def test_the_browser_decodes_the_same_geometry(open_page, atlas) -> None:  # noqa: ANN001, F811
    """The map in Chromium holds what decode() makes of the payload (the bundle's decoder agrees with Python's)."""
    p = open_page("?area_team=Greater%20Manchester")
    shown = p.js("""() => { const g = document.querySelector('#ccg-map .js-plotly-plot');
        const [teams, base, ccgs, regions] = g.data;
        return {ccgs: ccgs.geojson, teams: [teams.lon, teams.lat], regions: [regions.lon, regions.lat],
                layer: base.geojson === ccgs.geojson}; }""")
    python = map_geometry.decode(json.loads(map_geometry.payload(atlas.ccgs_geojson, groups_of(atlas))))
    assert shown["ccgs"] == python["ccgs"]  # the very same floats, feature by feature
    assert shown["teams"] == [python["teams"]["lon"], python["teams"]["lat"]]
    assert shown["regions"] == [python["regions"]["lon"], python["regions"]["lat"]]
    assert shown["layer"] is True  # the faded England beneath is the same decoded CCGs, not a second copy
    assert sum("/_atlas/geometry." in u for u in p.requests) == 1
