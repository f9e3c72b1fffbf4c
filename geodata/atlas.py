"""The built atlas as the dashboard reads it: read once per app or CLI (see ``dashboard.service``), read-only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from geodata import store
from geodata.build import atlas_dir
from geodata.store import AtlasDamaged, AtlasMissing

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
    table = pd.read_csv(root / "table.csv", dtype={"ods_code": str, "ccg13_codes": str},
                        keep_default_na=False, na_values=[])
    _check_table(table, root / "table.csv")
    for col in ("imd_score",):
        table[col] = table[col].astype(float)
    for col in ("imd_rank", "imd_quintile", "population"):
        table[col] = table[col].astype(int)
    table = table.set_index("ccg_code", drop=False)
    table.index.name = None

    def geo(name: str) -> dict:
        return json.loads((root / f"{name}.geojson").read_text(encoding="utf-8"))

    return Atlas(
        table=table,
        ccgs_geojson=geo("ccgs"),
        area_teams_geojson=geo("area_teams"),
        regions_geojson=geo("regions"),
        neighbours=json.loads((root / "neighbours.json").read_text(encoding="utf-8")),
        level_rows=pd.read_csv(root / "level_rows.csv", dtype=str, keep_default_na=False),
        reconciliation=pd.read_csv(root / "reconciliation.csv", keep_default_na=False),
        manifest=json.loads((root / "manifest.json").read_text(encoding="utf-8")),
        bounds=pd.read_csv(root / "bounds.csv", keep_default_na=False),
        files=files, folder=str(root.resolve()), fallback=located.fallback,
    )


def _check_table(table: pd.DataFrame, path: Path) -> None:
    """What the dashboard relies on, checked again at load (a checksum says a file changed, this says how)."""
    from geodata.vocabulary import VOCABULARY

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
