"""The built atlas as the dashboard reads it: loaded once per process, read-only afterwards."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from geodata.build import atlas_dir


class AtlasMissing(FileNotFoundError):
    """No built atlas where one was expected: run ``python -m geodata build``."""


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
    """Read the atlas files from ``path`` (default: the build folder or ``$CCG_ATLAS_DIR``)."""
    root = atlas_dir(path)
    if not (root / "manifest.json").exists():
        raise AtlasMissing(f"no atlas in {root}: run 'python -m geodata build' (or 'make run')")
    table = pd.read_csv(root / "table.csv", dtype={"ods_code": str, "ccg13_codes": str},
                        keep_default_na=False, na_values=[])
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
    )


@lru_cache(maxsize=1)
def load_atlas() -> Atlas:
    """The process-wide atlas: read on first use, then shared by every request."""
    return read_atlas()
