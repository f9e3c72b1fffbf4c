"""The built atlas as the dashboard reads it: read once per app or CLI (see ``dashboard.service``), read-only.

A load checks more than checksums (``geodata.store.verify``): a file edited with ``files.json`` updated to match
still has to mean what the build wrote. The manifest must hold every key (``store.read_manifest``); the table's
levels and claims must be in the vocabulary (``geodata.vocabulary``), a known level must name its source and
claim and rest on a level row saying it (or on a stated rule), a stricter evidence choice may only set a level
aside, and the manifest's coverage must count the table's levels; the neighbours must name known CCGs,
symmetrically, with no CCG alone but the manifest's islands. Each refusal is one line naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from geodata import store
from geodata.store import TABLE_COLUMNS, AtlasDamaged, AtlasMissing, atlas_dir

__all__ = ["Atlas", "AtlasDamaged", "AtlasMissing", "read_atlas"]



@dataclass(frozen=True)
class Atlas:
    """One validated CCG table (indexed by GSS code, sorted) plus geometry and provenance."""

    table: pd.DataFrame
    ccgs_geojson: dict
    area_teams_geojson: dict
    regions_geojson: dict
    neighbours: dict[str, list[str]]
    level_rows: pd.DataFrame
    reconciliation: pd.DataFrame
    manifest: dict
    bounds: pd.DataFrame  # what each published total implies for the unknowns in its scope (geodata.totals)
    files: dict  # what was loaded: each file's SHA-256, bytes and rows, checked against the build's files.json
    folder: str = ""
    fallback: str = ""  # why this is not the requested atlas (empty when it is)

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    @property
    def attributions(self) -> list[str]:
        return list(self.manifest.get("attributions", []))

    @property
    def area_teams(self) -> list[str]:
        return sorted(self.table["area_team"].unique())

    @property
    def regions(self) -> list[str]:
        return sorted(self.table["region"].unique())


def read_atlas(path: str | Path | None = None) -> Atlas:
    """Read and verify the atlas at ``path`` (default: the build link or ``$CCG_ATLAS_DIR``).

    Raises :class:`AtlasMissing` when there is none and :class:`AtlasDamaged` naming the file when any file
    differs from what the build wrote (truncated, edited, duplicated rows) or breaks the table's invariants.
    """
    located = store.locate(atlas_dir(path))
    root = located.folder
    files = store.verify(root)
    manifest = store.read_manifest(root)
    table = _csv(root / "table.csv", dtype={"ods_code": str, "ccg13_codes": str}, na_values=[])
    level_rows = _csv(root / "level_rows.csv", dtype=str)
    _check_table(table, root / "table.csv")
    _check_meaning(table, level_rows, manifest, root)
    for col in ("imd_score",):
        table[col] = table[col].astype(float)
    for col in ("imd_rank", "imd_quintile", "population"):
        table[col] = table[col].astype(int)
    table = table.set_index("ccg_code", drop=False)
    table.index.name = None

    def geo(name: str) -> dict:
        return _json(root / f"{name}.geojson")

    neighbours = _json(root / "neighbours.json")
    _check_neighbours(neighbours, list(table.index), manifest["islands"], root / "neighbours.json")

    return Atlas(
        table=table,
        ccgs_geojson=geo("ccgs"),
        area_teams_geojson=geo("area_teams"),
        regions_geojson=geo("regions"),
        neighbours=neighbours,
        level_rows=level_rows,
        reconciliation=_csv(root / "reconciliation.csv"),
        manifest=manifest,
        bounds=_csv(root / "bounds.csv"),
        files=files, folder=str(root.resolve()), fallback=located.fallback,
    )


def _check_table(table: pd.DataFrame, path: Path) -> None:
    """What the dashboard relies on, checked again at load (a checksum says a file changed, this says how)."""
    from geodata.vocabulary import VOCABULARY

    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise AtlasDamaged(path, f"missing columns {missing}")
    if len(table) != 209 or table["ccg_code"].duplicated().any():
        raise AtlasDamaged(path, f"{len(table)} rows, {int(table['ccg_code'].duplicated().sum())} duplicate codes; "
                                 "expected 209 distinct CCGs")
    for col in ("level_2015", "level_2016"):
        bad = sorted(set(table[col]) - set(VOCABULARY))
        if bad:
            raise AtlasDamaged(path, f"column {col} has values outside the vocabulary: {bad}")
    population = pd.to_numeric(table["population"], errors="coerce")
    if population.isna().any() or (population < 0).any():
        raise AtlasDamaged(path, "column population has missing or negative values")
    for col, lo, hi in (("imd_score", 0, 100), ("imd_rank", 1, 209), ("imd_quintile", 1, 5)):
        values = pd.to_numeric(table[col], errors="coerce")
        if values.isna().any() or (values < lo).any() or (values > hi).any() \
                or (col != "imd_score" and (values != values.round()).any()):
            raise AtlasDamaged(path, f"column {col} has values that are missing or outside {lo}-{hi}")


def _csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False, **kwargs)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AtlasDamaged(path, f"not readable CSV ({type(exc).__name__})") from exc


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AtlasDamaged(path, f"not readable JSON ({type(exc).__name__})") from exc


def _check_meaning(table: pd.DataFrame, level_rows: pd.DataFrame, manifest: dict, root: Path) -> None:
    """Levels and claims in the vocabulary and consistent with each other, the level rows and the manifest."""
    from geodata import vocabulary as v

    path = root / "table.csv"
    for year in v.YEARS:
        level, claim, source = table[f"level_{year}"], table[f"claim_{year}"], table[f"source_{year}"]
        for col in (f"level_{year}_approved", f"level_{year}_operating"):
            bad = sorted(set(table[col]) - set(v.LEVEL_ORDER))
            if bad:
                raise AtlasDamaged(path, f"column {col} has values outside the vocabulary: {bad}")
        bad = sorted(set(claim) - set(v.CLAIMS) - {""})
        if bad:
            raise AtlasDamaged(path, f"column claim_{year} has values outside the vocabulary: {bad}")
        known = level != v.UNKNOWN
        odd = table.index[known & ((claim == "") | (source.str.strip() == ""))].tolist() \
            + table.index[~known & (claim != "")].tolist()
        if odd:
            raise AtlasDamaged(path, f"{year} levels without their source and claim (or a claim without a level) "
                                     f"for {_codes(table, odd)}")
        approved, operating = table[f"level_{year}_approved"], table[f"level_{year}_operating"]
        odd = table.index[((approved != level) & (approved != v.UNKNOWN))
                          | ((operating != approved) & (operating != v.UNKNOWN))
                          | (claim.isin(v.EVIDENCE_CHOICES["approved"]) != (approved != v.UNKNOWN))
                          | (claim.isin(v.EVIDENCE_CHOICES["operating"]) != (operating != v.UNKNOWN))].tolist()
        if odd:
            raise AtlasDamaged(path, f"{year} levels under a stricter evidence choice disagree with the level and its "
                                     f"claim for {_codes(table, odd)}")
        said = set(zip(level_rows["ods_code"], level_rows["year"], level_rows["level"]))
        odd = [i for i, ods, lv, c in zip(table.index, table["ods_code"], level, claim)
               if lv != v.UNKNOWN and c != "rule" and (ods, str(year), lv) not in said]
        if odd:
            raise AtlasDamaged(path, f"{year} levels that no row of level_rows.csv gives for {_codes(table, odd)}")
        counted = {lv: int((level == lv).sum()) for lv in v.LEVEL_ORDER}
        claimed = manifest["coverage"].get(str(year))
        if not isinstance(claimed, dict) or {k: claimed.get(k, 0) for k in v.LEVEL_ORDER} != counted \
                or set(claimed) - set(v.LEVEL_ORDER):
            raise AtlasDamaged(path, f"{year} levels {counted} differ from the coverage manifest.json records "
                                     f"({claimed})")
    rows = root / "level_rows.csv"
    for col, allowed in (("level", v.LEVELS), ("claim", v.SOURCE_CLAIMS), ("year", tuple(map(str, v.YEARS)))):
        bad = sorted(set(level_rows[col]) - set(allowed)) if col in level_rows else ["(column missing)"]
        if bad:
            raise AtlasDamaged(rows, f"column {col} has values outside the vocabulary: {bad[:5]}")


def _codes(table: pd.DataFrame, index: list[Any]) -> str:
    names = [str(table.at[i, "ccg_code"]) for i in index[:5]]
    return ", ".join(names) + (f" and {len(index) - 5} more" if len(index) > 5 else "")


def _check_neighbours(neighbours: Any, codes: list[str], islands: list[str], path: Path) -> None:
    """Every CCG, and only those, with a list of other known CCGs; symmetric; empty only for the islands."""
    if not isinstance(neighbours, dict) or set(neighbours) != set(codes):
        raise AtlasDamaged(path, "not one entry for each of the table's CCGs")
    known = set(codes)
    for code, near in neighbours.items():
        if not isinstance(near, list) or not set(near) <= known or code in near or len(set(near)) != len(near):
            raise AtlasDamaged(path, f"{code}: neighbours are not a list of other known CCGs")
        for other in near:
            if code not in neighbours[other]:
                raise AtlasDamaged(path, f"{code} lists {other} as a neighbour but not the other way round")
    alone = sorted(c for c, near in neighbours.items() if not near)
    if alone != sorted(islands):
        raise AtlasDamaged(path, f"CCGs without neighbours {alone} are not the islands manifest.json records "
                                 f"({sorted(islands)})")
