"""Build the atlas: one validated table of the 209 CCGs plus web geometry, written atomically.

Sources -> tidy frames (``sources``) -> joins by ODS code -> levels (``levels``) -> geometry (``geometry``)
-> checks -> files in a temporary folder -> swapped in place of the old atlas only when all checks pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata import bounds, geometry, levels, sources, store, totals
from geodata.sources import SourceError
from geodata.store import DEFAULT_ATLAS_DIR, TABLE_COLUMNS, atlas_dir  # noqa: F401  (re-exported: build.atlas_dir)

PROJECT_LEVELS = sources.PROJECT_ROOT / "geodata" / "levels.csv"
MERGED_CCG = {"13T": ("00F", "00G", "00H")}  # Newcastle Gateshead, formed 1 April 2015

EXTRA_ATTRIBUTIONS = [
    "Contains public sector information licensed under the Open Government Licence v3.0 "
    "(ONS and NHS Digital Organisation Data Service lookups).",
    "English indices of deprivation 2015, Department for Communities and Local Government (OGL v3.0); "
    "ONS mid-2015 CCG population estimates (OGL v3.0).",
    "Co-commissioning levels: NHS England, Pulse, HSJ, CCG papers and other public sources named for each CCG.",
]


class BuildError(RuntimeError):
    """The build found problems; the previous atlas was left untouched."""


@dataclass
class BuildResult:
    path: Path
    manifest: dict
    reconciliation: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def imd_quintile(rank: pd.Series, n: int) -> pd.Series:
    """Quintile among CCGs by IMD rank, 1 = most deprived fifth (41 or 42 CCGs each for 209)."""
    return np.ceil(rank * 5 / n).astype(int)


def assemble_table(root: Path, level_files: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The flat table (one row per CCG), the raw level rows, and the England population total."""
    ccg = sources.read_ccg15_codes(root)
    if len(ccg) != 209:
        raise SourceError(root / sources.LSOA_CCG15, f"expected 209 CCGs, found {len(ccg)}", "CCG15CD")
    at13 = sources.read_ccg13_area_teams(root)
    at13 = at13.merge(sources.read_area_team_ods(root), on="area_team_code", how="left")

    # 2015 CCGs take their area team by ODS code; a merged CCG takes the (single) team of its predecessors.
    rows = []
    by_ods = at13.set_index("ods_code")
    for ods in ccg["ods_code"]:
        olds = MERGED_CCG.get(ods, (ods,))
        missing = [o for o in olds if o not in by_ods.index]
        if missing:
            raise SourceError(root / sources.CCG13_TO_AT, "2015/16 CCG without a 2013 area team",
                              "CCG13CDH", [ods])
        pred = by_ods.loc[list(olds)]
        teams = set(pred["area_team_code"])
        if len(teams) != 1:
            raise SourceError(root / sources.CCG13_TO_AT, f"{ods} predecessors span area teams {teams}",
                              "NHSAT13CD", list(olds))
        first = pred.iloc[0]
        rows.append({"ods_code": ods, "area_team_code": first["area_team_code"], "area_team": first["area_team"],
                     "area_team_ods": first["area_team_ods"], "region": first["region"],
                     "ccg13_codes": ";".join(pred["ccg13_code"])})
    table = ccg.merge(pd.DataFrame(rows), on="ods_code", how="left")

    offices = sources.read_local_offices(root)
    table = _merge_checked(table, offices, "ods_code", root / sources.ODS_ECCG, "col0")
    wrong_region = table.loc[table["region"] != table["ods_region"], "ods_code"]
    if len(wrong_region):
        raise SourceError(root / sources.ODS_ECCG, "region disagrees with the ONS 2013 lookup", "col2", wrong_region)
    # Lancashire and Greater Manchester split into two local offices on 1 April 2016 (ODS Q83, Q84).
    split = {"Greater Manchester": "Greater Manchester", "Lancashire": "Lancashire"}
    table["local_office_2016"] = np.where(table["local_office_code"] == "Q73",
                                          table["area_team"].map(split), table["local_office"])

    imd = sources.read_imd(root)
    table = _merge_checked(table, imd, "ccg_code", root / sources.IMD, "Clinical Commissioning Group Code (2015)")
    table["imd_quintile"] = imd_quintile(table["imd_rank"], len(table))
    population, england = sources.read_population(root)
    table = _merge_checked(table, population, "ccg_code", root / sources.POPULATION, "Area Codes")

    raw = pd.concat([sources.read_levels_file(p) for p in level_files], ignore_index=True)
    raw = levels.validate_rows(raw, table["ods_code"])
    resolved = levels.resolve_levels(raw, table["ods_code"])
    table = table.merge(levels.wide_levels(resolved), on="ods_code", how="left")
    table = apply_total_rule(table, totals.read_constraints(root))
    table = table.merge(levels.levels_by_evidence(raw, table["ods_code"]), on="ods_code", how="left")
    return table.sort_values("ccg_code").reset_index(drop=True), raw, england


def apply_total_rule(table: pd.DataFrame, constraints: list[totals.Constraint]) -> pd.DataFrame:
    """Fill unknown levels that ``totals.rule_total_reached`` infers (a scope whose known CCGs reach a total)."""
    try:
        inferred = totals.rule_total_reached(table, constraints)
    except ValueError:
        return table  # known counts above a total: check_ceilings reports it with the numbers
    table = table.copy()
    index = {o: i for i, o in enumerate(table["ods_code"])}
    for r in inferred.itertuples():
        i, year = index[r.ods_code], int(r.year)
        if table.at[i, f"level_{year}"] not in (levels.UNKNOWN, "not_delegated"):
            continue  # a sourced level says more than the rule
        table.loc[i, [f"level_{year}", f"source_{year}", f"evidence_{year}", f"claim_{year}"]] = [
            r.level, r.source, "rule", "rule"]
    return table


def _merge_checked(left: pd.DataFrame, right: pd.DataFrame, key: str, file: Path,
                   column: str | None = None) -> pd.DataFrame:
    """Left join that stops on codes present on one side only: an unmatched code is a data error.

    ``column`` is the file's own name for the key, so the message points at what to fix in that file; the
    codes the file has but should not come first, as they are usually the typo.
    """
    only_left = sorted(set(left[key]) - set(right[key]))
    only_right = sorted(set(right[key]) - set(left[key]))
    if only_left or only_right:
        parts = []
        if only_right:
            parts.append(f"codes not among the 209 CCGs {only_right}")
        if only_left:
            parts.append(f"CCGs missing from this file {only_left}")
        raise SourceError(file, "; ".join(parts), column or key, only_right + only_left)
    return left.merge(right, on=key, how="left")


def validate_table(table: pd.DataFrame, england_population: int) -> list[str]:
    """Everything the dashboard relies on; each problem names the column and values."""
    problems = []
    if len(table) != 209:
        problems.append(f"expected 209 CCGs, found {len(table)}")
    for col in ("ccg_code", "ods_code"):
        dup = table.loc[table[col].duplicated(), col].tolist()
        if dup:
            problems.append(f"column {col}: duplicate codes {dup}")
    required = [c for c in TABLE_COLUMNS if not c.startswith(("source_", "evidence_", "claim_"))]
    for col in required:
        empty = table.loc[table[col].isna() | (table[col].astype(str) == ""), "ccg_code"].tolist()
        if empty:
            problems.append(f"column {col}: empty for {empty[:10]}")
    expected_counts = {"area_team_code": 25, "region": 4, "local_office_code": 13, "local_office_2016": 14}
    for col, n in expected_counts.items():
        if table[col].nunique() != n:
            problems.append(f"column {col}: expected {n} distinct values, found {table[col].nunique()}")
    if sorted(table["imd_rank"]) != list(range(1, len(table) + 1)):
        problems.append("column imd_rank: ranks are not 1..209")
    if int(table["population"].sum()) != england_population:
        problems.append(f"column population: sums to {table['population'].sum()}, England total is "
                        f"{england_population}")
    for year in levels.YEARS:
        bad = sorted(set(table[f"level_{year}"]) - set(levels.VOCABULARY))
        if bad:
            problems.append(f"column level_{year}: values outside the vocabulary {bad}")
        known = table[f"level_{year}"] != levels.UNKNOWN
        unsourced = table.loc[known & (table[f"source_{year}"] == ""), "ccg_code"].tolist()
        if unsourced:
            problems.append(f"column source_{year}: known level without a source for {unsourced}")
        unclaimed = table.loc[known != (table[f"claim_{year}"] != ""), "ccg_code"].tolist()
        if unclaimed:
            problems.append(f"column claim_{year}: a claim exactly where the level is known, not for {unclaimed}")
        for choice in ("approved", "operating"):
            col = f"level_{year}_{choice}"
            bad = sorted(set(table[col]) - set(levels.VOCABULARY))
            if bad:
                problems.append(f"column {col}: values outside the vocabulary {bad}")
    return problems


def build_geometry(root: Path, table: pd.DataFrame) -> tuple[dict[str, object], dict[str, list[str]], list[str]]:
    """Web layers and the contiguity graph from the source boundaries, with topology checks."""
    src = sources.read_boundaries(root)
    only = sorted(set(src["ccg_code"]) ^ set(table["ccg_code"]))
    if only:
        raise SourceError(root / sources.CCG_BOUNDARIES, "codes do not match the CCG table", "ccg15cd", only)
    src = src.merge(table[["ccg_code", "area_team", "region"]], on="ccg_code").sort_values("ccg_code")
    src = src.reset_index(drop=True)
    # A point inside each CCG (not the centroid, which can fall outside a crescent), for markers and labels.
    inside = gpd.GeoSeries(src.geometry.representative_point(), crs=src.crs).to_crs(4326)
    table["lon"] = table["ccg_code"].map(dict(zip(src["ccg_code"], inside.x.round(5))))
    table["lat"] = table["ccg_code"].map(dict(zip(src["ccg_code"], inside.y.round(5))))
    codes = src["ccg_code"].tolist()
    neighbours = geometry.neighbours_by_code(codes, src.geometry.values)
    simple = geometry.simplify_coverage(src)
    problems = geometry.coverage_problems(src, simple, codes)
    layers = {
        "ccgs": geometry.feature_collection(simple, "ccg_code"),
        "area_teams": geometry.feature_collection(geometry.internal_borders(simple, "area_team"), "area_team"),
        "regions": geometry.feature_collection(geometry.internal_borders(simple, "region"), "region"),
    }
    return layers, neighbours, problems


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def input_files(root: Path) -> list[Path]:
    """Every file the build reads, for the manifest and the staleness check."""
    rels = [sources.CCG_BOUNDARIES, sources.CCG13_TO_AT, sources.CCG13_CODES, sources.AT_CODES,
            sources.LSOA_CCG15, sources.ODS_ECCG, sources.ODS_EAUTH, sources.IMD, sources.POPULATION,
            sources.LEVELS, sources.TOTALS]
    files = [root / r for r in rels]
    shp = root / sources.CCG_BOUNDARIES
    files += [shp.with_suffix(s) for s in (".dbf", ".shx", ".prj")]
    return files


def needs_build(root: Path | None = None, out: Path | None = None) -> bool:
    """True when the atlas is missing or older than any input, the project's levels or the build code."""
    root, out = sources.sources_dir(root), atlas_dir(out)
    manifest = out / "manifest.json"
    if not manifest.exists():
        return True
    try:
        store.verify(out.resolve())
        store.read_manifest(out.resolve())
    except store.AtlasDamaged:
        return True  # a damaged atlas (or one from an older build, its manifest short of keys) is rebuilt
    built = manifest.stat().st_mtime
    code = list((sources.PROJECT_ROOT / "geodata").glob("*.py")) + [PROJECT_LEVELS]
    return any(p.exists() and p.stat().st_mtime > built for p in input_files(root) + code)


def fewer_levels(out: Path, coverage: dict[int, dict[str, int]]) -> list[str]:
    """Years whose known levels would fall below the atlas in ``out`` (a truncated input looks just like this)."""
    old = out / "manifest.json"
    if not old.exists():
        return []
    try:
        before = json.loads(old.read_text(encoding="utf-8"))["coverage"]
    except (ValueError, KeyError):
        return []
    problems = []
    for year, counts in coverage.items():
        was = before.get(str(year))
        if not was:
            continue
        known_then = sum(v for k, v in was.items() if k != levels.UNKNOWN)
        known_now = sum(v for k, v in counts.items() if k != levels.UNKNOWN)
        if known_now < known_then:
            problems.append(f"{levels.PERIOD_BY_YEAR[year]}: known levels would fall from {known_then} to {known_now} "
                            f"(by {known_then - known_now}); check the level files for truncation, or pass "
                            "--allow-fewer-levels if the drop is intended")
    return problems


def build(root: str | Path | None = None, out: str | Path | None = None,
          extra_levels: list[Path] | None = None, allow_fewer_levels: bool = False,
          project_levels: Path | None = None) -> BuildResult:
    """Build and atomically install the atlas; raise BuildError/SourceError leaving the old one in place.

    ``project_levels`` reads a staged copy in place of ``geodata/levels.csv`` (``import-levels`` builds from
    it before replacing the real file); the manifest still names the real file.
    """
    root, out = sources.sources_dir(root), atlas_dir(out)
    if not root.is_dir():
        raise SourceError(root, "sources folder is missing (set CCG_SOURCES)")
    level_files = [root / sources.LEVELS]
    if project_levels is not None:
        level_files.append(Path(project_levels))
    elif PROJECT_LEVELS.exists():
        level_files.append(PROJECT_LEVELS)
    level_files += list(extra_levels or [])

    table, raw_levels, england = assemble_table(root, level_files)
    layers, neighbours, geo_problems = build_geometry(root, table)
    table = table[TABLE_COLUMNS]
    problems = validate_table(table, england) + geo_problems
    rec = levels.reconcile(table, sources.read_totals(root))
    problems += levels.check_ceilings(rec, table)
    rec = levels.cite_totals(rec, sources.read_total_sources(root))
    implied = pd.DataFrame(columns=totals.BOUNDS_COLUMNS)
    if not problems:
        try:
            implied = bounds.implied_bounds(table, totals.read_constraints(root),
                                            levels.newly_authorised_2016(raw_levels))
        except ValueError as exc:  # the published totals cannot all hold with the known levels
            problems.append(f"published totals: {exc}")
    if not allow_fewer_levels:
        problems += fewer_levels(out, levels.coverage(table))
    if problems:
        raise BuildError("atlas build failed, previous atlas kept:\n- " + "\n- ".join(problems))

    inputs = {str(p.relative_to(root)): _sha256(p) for p in input_files(root)}
    named = {Path(project_levels): PROJECT_LEVELS} if project_levels is not None else {}
    inputs.update({str(named.get(p, p)): _sha256(p) for p in level_files[1:]})
    build_id = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]
    payload = {name: geometry.compact_json(layer) for name, layer in layers.items()}
    manifest = {
        "build_id": build_id,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sources_dir": str(root),
        "inputs": inputs,
        "ccgs": len(table),
        "area_teams": int(table["area_team_code"].nunique()),
        "coverage": {str(k): v for k, v in levels.coverage(table).items()},
        "level_files": [str(named.get(p, p)) for p in level_files],
        "attributions": sources.attributions(root) + EXTRA_ATTRIBUTIONS,
        "geometry": {"simplify_tolerance_m": geometry.SIMPLIFY_TOLERANCE_M, "grid_deg": geometry.GRID_DEG,
                     "bytes": {k: len(v.encode()) for k, v in payload.items()}},
        "islands": sorted(c for c, nb in neighbours.items() if not nb),
    }

    out.parent.mkdir(parents=True, exist_ok=True)
    store.remove_stale_builds(out.parent)  # what killed builds left behind; never a running build's folder
    tmp = store.build_folder(out.parent)
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the atlas is read by the app, maybe as another user
    try:
        table.to_csv(tmp / "table.csv", index=False)
        raw_levels.drop(columns=["row"]).to_csv(tmp / "level_rows.csv", index=False)
        rec.to_csv(tmp / "reconciliation.csv", index=False)
        implied.to_csv(tmp / "bounds.csv", index=False)
        for name, text in payload.items():
            (tmp / f"{name}.geojson").write_text(text, encoding="utf-8")
        (tmp / "neighbours.json").write_text(json.dumps(neighbours, indent=0), encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        store.write_files_manifest(tmp)  # last: a folder without it is incomplete
        final = store.version_folder(out, build_id)
        os.replace(tmp, final)
        store.switch(out, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return BuildResult(out, manifest, rec)

