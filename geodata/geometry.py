"""Web geometry: a small, topology-preserving CCG layer, area-team outlines and the contiguity graph.

Simplification uses ``shapely.coverage_simplify``, which moves shared edges once for both neighbours,
so the simplified layer has no gaps or overlaps and keeps every junction where three CCGs meet. The
neighbour graph is computed on the source boundaries and checked to be unchanged after simplification.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import shapely

from geodata.store import GRID_DEG

SIMPLIFY_TOLERANCE_M = 300.0  # metres in EPSG:27700; the source is already generalised to 200 m


def neighbour_pairs(geoms: Sequence[shapely.Geometry]) -> set[tuple[int, int]]:
    """Index pairs of polygons that share at least a point (queen contiguity)."""
    arr = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    return {(int(a), int(b)) for a, b in zip(left, right) if a < b}


def neighbours_by_code(codes: Sequence[str], geoms: Sequence[shapely.Geometry]) -> dict[str, list[str]]:
    """Queen contiguity as code -> sorted neighbour codes; islands map to an empty list (kept, not dropped)."""
    out: dict[str, list[str]] = {c: [] for c in codes}
    for a, b in neighbour_pairs(geoms):
        out[codes[a]].append(codes[b])
        out[codes[b]].append(codes[a])
    return {c: sorted(v) for c, v in out.items()}


def simplify_coverage(gdf: gpd.GeoDataFrame, tolerance: float = SIMPLIFY_TOLERANCE_M,
                      grid: float = GRID_DEG) -> gpd.GeoDataFrame:
    """Simplify a polygon coverage in its projected CRS, then reproject to WGS84 and round to ``grid``.

    Rounding maps a shared vertex to the same point on both sides, so topology survives it; any geometry
    it makes invalid is repaired and reported by :func:`coverage_problems`.
    """
    simple = shapely.coverage_simplify(gdf.geometry.values, tolerance)
    out = gdf.copy()
    out["geometry"] = simple
    out = out.set_geometry("geometry").to_crs(4326)
    out["geometry"] = shapely.set_precision(out.geometry.values, grid)
    return out


def coverage_problems(source: gpd.GeoDataFrame, simple: gpd.GeoDataFrame, codes: Sequence[str]) -> list[str]:
    """What makes the simplified layer unfit: invalid shapes, overlaps, or a changed neighbour graph."""
    problems = []
    bad = [c for c, ok in zip(codes, shapely.is_valid(simple.geometry.values)) if not ok]
    if bad:
        problems.append(f"invalid simplified geometry: {bad}")
    empty = [c for c, e in zip(codes, shapely.is_empty(simple.geometry.values)) if e]
    if empty:
        problems.append(f"empty simplified geometry: {empty}")
    before = neighbour_pairs(source.geometry.values)
    after = neighbour_pairs(simple.geometry.values)
    if before != after:
        lost = sorted((codes[a], codes[b]) for a, b in before - after)
        gained = sorted((codes[a], codes[b]) for a, b in after - before)
        problems.append(f"neighbour graph changed: lost {lost[:10]}, gained {gained[:10]}")
    projected = simple.to_crs(27700)
    overlap = _overlap_area(projected.geometry.values)
    if overlap > 1.0e4:  # 1 hectare in total over England; rounding leaves slivers far below this
        problems.append(f"simplified CCGs overlap by {overlap:.0f} m2")
    gap = abs(shapely.union_all(projected.geometry.values).area - shapely.union_all(
        source.geometry.values).area) / shapely.union_all(source.geometry.values).area
    if gap > 0.01:
        problems.append(f"simplified England area differs from the source by {gap:.2%}")
    return problems


def _overlap_area(geoms: Sequence[shapely.Geometry]) -> float:
    arr = np.asarray(geoms, dtype=object)
    total = 0.0
    for a, b in neighbour_pairs(arr):
        total += shapely.intersection(arr[a], arr[b]).area
    return total


def internal_borders(gdf: gpd.GeoDataFrame, by: str) -> gpd.GeoDataFrame:
    """Borders between groups (area teams, regions), each drawn once and without the coastline.

    Dissolved from the simplified CCGs, so the lines coincide with CCG edges; a border shared by two
    groups is kept once, which roughly halves the bytes sent for the overlay.
    """
    groups = gdf.dissolve(by=by, as_index=False)
    lines = shapely.union_all(groups.geometry.boundary.values)
    outline = shapely.union_all(groups.geometry.values).boundary
    internal = shapely.line_merge(shapely.difference(lines, outline))
    internal = shapely.set_precision(internal, GRID_DEG)
    return gpd.GeoDataFrame({by: ["internal borders"], "geometry": [internal]}, crs=gdf.crs)


def feature_collection(gdf: gpd.GeoDataFrame, id_column: str, properties: Sequence[str] = ()) -> dict:
    """GeoJSON FeatureCollection with ``id`` set, as plotly's ``featureidkey='id'`` expects."""
    features = []
    for _, row in gdf.iterrows():
        features.append({
            "type": "Feature",
            "id": row[id_column],
            "properties": {p: row[p] for p in properties},
            "geometry": json.loads(shapely.to_geojson(row.geometry)),
        })
    return {"type": "FeatureCollection", "features": features}


def compact_json(obj: object) -> str:
    """JSON with no spaces: what is sent to the browser."""
    return json.dumps(obj, separators=(",", ":"))


def symmetric(neighbours: Mapping[str, Sequence[str]]) -> bool:
    return all(a in neighbours[b] for a, bs in neighbours.items() for b in bs)
