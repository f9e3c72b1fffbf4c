"""The built atlas on the real data: CCGs, area teams, local offices, IMD, population, the CSV export,
the web geometry, and a build that stops loudly on a broken input while keeping the previous atlas."""

from __future__ import annotations

import contextlib
import gzip
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from conftest import snapshot
from shapely.geometry import Polygon, shape

from geodata import build, geometry, levels, sources
from geodata.__main__ import main

CONTRACT_COLUMNS = [
    "ccg_code", "ods_code", "ccg_name", "area_team", "area_team_code", "region", "local_office",
    "imd_score", "imd_rank", "imd_quintile", "population", "level_2015", "level_2016", "source_2015", "source_2016",
]
REGIONS = {"North", "Midlands and East", "London", "South"}
ENGLAND_POPULATION = 54_786_327  # stated in deprivation/SOURCES.md and in the ONS sheet's England row
ISLE_OF_WIGHT = "E38000087"
IMD_CODE = "Clinical Commissioning Group Code (2015)"


# --- independent readings of the raw lookups (plain pandas, not geodata.sources) -------------------------

def raw_csv(root: Path, rel: str, **kwargs: object) -> pd.DataFrame:
    return pd.read_csv(root / rel, dtype=str, keep_default_na=False, **kwargs)


@pytest.fixture(scope="module")
def ods_to_area_team_2013(sources_root: Path) -> pd.DataFrame:
    """2013 lookup joined to the 2013 names file (cp1252) by GSS code, indexed by ODS code."""
    at = raw_csv(sources_root, sources.CCG13_TO_AT)
    codes = raw_csv(sources_root, sources.CCG13_CODES, encoding="cp1252")
    return at.merge(codes[["CCG13CD", "CCG13CDH"]], on="CCG13CD", validate="one_to_one").set_index("CCG13CDH")


@pytest.fixture(scope="module")
def open_ccgs_ods(sources_root: Path) -> pd.DataFrame:
    eccg = pd.read_csv(sources_root / sources.ODS_ECCG, header=None, dtype=str, keep_default_na=False)
    return eccg[(eccg[11] == "") & (eccg[13] == "C")].set_index(0)


def by_ods(atlas) -> pd.DataFrame:
    return atlas.table.set_index("ods_code")


# --- the table ---------------------------------------------------------------------------------------------

def test_counts_of_ccgs_area_teams_regions_and_local_offices(atlas):
    t = atlas.table
    assert len(t) == 209
    assert t["ccg_code"].is_unique and t["ods_code"].is_unique
    assert t["area_team_code"].nunique() == 25
    assert t["area_team"].nunique() == 25
    assert set(t["region"]) == REGIONS
    assert t["local_office"].nunique() == 13
    assert t["local_office_code"].nunique() == 13
    assert atlas.manifest["ccgs"] == 209 and atlas.manifest["area_teams"] == 25


def test_every_ccg_has_area_team_region_office_imd_and_population(atlas):
    t = atlas.table
    for col in ("ccg_name", "area_team", "area_team_code", "region", "local_office", "imd_score", "imd_rank",
                "imd_quintile", "population"):
        empty = t.loc[t[col].isna() | (t[col].astype(str).str.strip() == ""), "ccg_code"].tolist()
        assert not empty, f"{col} empty for {empty}"
    assert t["ccg_code"].str.fullmatch(r"E38\d{6}").all()
    assert t["ods_code"].str.fullmatch(r"[0-9A-Z]{3}").all()
    assert t["area_team_code"].str.fullmatch(r"E39\d{6}").all()
    assert (t["population"] > 0).all()
    assert t["imd_score"].between(5.652, 51.549).all()  # range stated in deprivation/SOURCES.md


def test_export_csv_cli_writes_209_complete_contract_rows(atlas_dir, atlas, tmp_path, capsys):
    out = tmp_path / "atlas.csv"
    assert main(["--atlas", str(atlas_dir), "export-csv", str(out)]) == 0
    assert "209 rows" in capsys.readouterr().out
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(df) == 209
    assert not set(CONTRACT_COLUMNS) - set(df.columns)
    assert set(df["ccg_code"]) == set(atlas.table["ccg_code"])
    for col in CONTRACT_COLUMNS:
        if col.startswith("source_"):
            continue
        assert (df[col].str.strip() != "").all(), f"export column {col} has empty cells"
    for year in levels.YEARS:
        assert set(df[f"level_{year}"]) <= set(levels.VOCABULARY)
        unknown = df[f"level_{year}"] == levels.UNKNOWN
        no_source = df[f"source_{year}"].str.strip() == ""
        assert (unknown == no_source).all(), f"source_{year} must be empty exactly where level_{year} is unknown"
        assert (~unknown).sum() > 0  # the export really carries sourced levels
    # ODS codes such as '00C' stay text, ranks and populations stay whole numbers
    assert df["ods_code"].str.len().eq(3).all()
    assert df["imd_rank"].str.fullmatch(r"\d+").all() and df["population"].str.fullmatch(r"\d+").all()


def test_area_teams_follow_the_2013_lookup_by_ods_code(atlas, ods_to_area_team_2013):
    t = by_ods(atlas)
    in_lookup = [o for o in t.index if o in ods_to_area_team_2013.index]
    assert sorted(set(t.index) - set(in_lookup)) == ["13T"]  # only the 2015 merger lacks a 2013 row
    for ods in in_lookup:
        assert t.at[ods, "area_team_code"] == ods_to_area_team_2013.at[ods, "NHSAT13CD"], ods
        assert t.at[ods, "area_team"] == ods_to_area_team_2013.at[ods, "NHSAT13NM"], ods


def test_newcastle_gateshead_gets_the_area_team_of_its_three_predecessors(atlas, ods_to_area_team_2013):
    row = by_ods(atlas).loc["13T"]
    assert row["ccg_code"] == "E38000212"
    preds = ods_to_area_team_2013.loc[["00F", "00G", "00H"]]
    assert set(preds["NHSAT13NM"]) == {"Cumbria, Northumberland, Tyne and Wear"}
    assert row["area_team"] == "Cumbria, Northumberland, Tyne and Wear"
    assert row["area_team_code"] == preds["NHSAT13CD"].iloc[0]
    assert row["region"] == "North"
    assert row["local_office"] == "Cumbria and North East"
    assert set(row["ccg13_codes"].split(";")) == set(preds["CCG13CD"])
    # the three old CCGs are not in the 2015/16 atlas
    assert not {"00F", "00G", "00H"} & set(atlas.table["ods_code"])


@pytest.mark.parametrize(("ods", "new_code", "old_code"), [("09G", "E38000213", "E38000036"),
                                                             ("09N", "E38000214", "E38000067")])
def test_recoded_ccgs_get_their_area_team_via_ods_code(atlas, ods_to_area_team_2013, ods, new_code, old_code):
    row = by_ods(atlas).loc[ods]
    assert row["ccg_code"] == new_code
    assert ods_to_area_team_2013.at[ods, "CCG13CD"] == old_code
    assert row["area_team"] == "Surrey and Sussex"
    assert row["area_team_code"] == ods_to_area_team_2013.at[ods, "NHSAT13CD"]
    assert row["region"] == "South"
    assert old_code not in atlas.table["ccg_code"].values


def test_derbyshire_and_nottinghamshire_holds_its_real_ccgs(atlas, ods_to_area_team_2013):
    team = "Derbyshire and Nottinghamshire"
    expected = set(ods_to_area_team_2013.index[ods_to_area_team_2013["NHSAT13NM"] == team])
    t = atlas.table
    got = set(t.loc[t["area_team"] == team, "ods_code"])
    assert got == expected
    names = " ".join(t.loc[t["area_team"] == team, "ccg_name"])
    for place in ("Erewash", "Hardwick", "Mansfield", "Newark", "Nottingham City", "Nottingham North",
                  "Nottingham West", "Rushcliffe", "North Derbyshire", "Southern Derbyshire"):
        assert place in names
    assert len(got) == 10
    # Bassetlaw is in Nottinghamshire but the 2013 lookup puts it in South Yorkshire and Bassetlaw
    assert ods_to_area_team_2013.at["02Q", "NHSAT13NM"] == "South Yorkshire and Bassetlaw"
    assert by_ods(atlas).at["02Q", "area_team"] == "South Yorkshire and Bassetlaw"


def test_local_offices_and_regions_follow_ods(atlas, open_ccgs_ods):
    t = by_ods(atlas)
    assert set(open_ccgs_ods.index) == set(t.index)
    assert (t["local_office_code"] == open_ccgs_ods.loc[t.index, 3]).all()
    region = open_ccgs_ods.loc[t.index, 2].map({"Y54": "North", "Y55": "Midlands and East", "Y56": "London",
                                                "Y57": "South"})
    assert (t["region"] == region).all()
    # sizes stated in lookups/SOURCES.md
    assert t["local_office"].value_counts().to_dict() == {
        "Wessex": 9, "London": 32, "Yorkshire and Humber": 23, "Lancashire and Greater Manchester": 20,
        "Cumbria and North East": 11, "Cheshire and Merseyside": 12, "North Midlands": 18, "West Midlands": 14,
        "Central Midlands": 14, "East": 15, "South West": 7, "South East": 20, "South Central": 14,
    }
    # from April 2016 Lancashire and Greater Manchester split along the old area teams
    split = t[t["local_office_code"] == "Q73"]
    assert (split["local_office_2016"] == split["area_team"]).all()
    assert split["local_office_2016"].value_counts().to_dict() == {"Greater Manchester": 12, "Lancashire": 8}


def test_imd_ranks_and_quintiles(atlas, sources_root):
    t = atlas.table
    assert sorted(t["imd_rank"]) == list(range(1, 210))
    ordered = t.sort_values("imd_rank")
    assert ordered["imd_score"].is_monotonic_decreasing  # rank 1 = highest score = most deprived
    assert ordered.iloc[0]["ccg_name"] == "NHS Bradford City CCG"
    assert t["imd_quintile"].value_counts().sort_index().tolist() == [41, 42, 42, 42, 42]
    for q in range(1, 5):  # every CCG of quintile q is more deprived than every CCG of quintile q + 1
        assert t.loc[t["imd_quintile"] == q, "imd_score"].min() > t.loc[t["imd_quintile"] == q + 1, "imd_score"].max()
    raw = raw_csv(sources_root, sources.IMD).set_index(IMD_CODE)
    assert (t["imd_score"] == raw.loc[t.index, "IMD - Average score"].astype(float)).all()
    assert (t["imd_rank"] == raw.loc[t.index, "IMD - Rank of average score"].astype(int)).all()


def test_population_sums_to_the_england_total(atlas, sources_root):
    t = atlas.table
    assert int(t["population"].sum()) == ENGLAND_POPULATION
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sheet = pd.read_excel(sources_root / sources.POPULATION, sheet_name="Mid-2015 Persons", header=None,
                              usecols=range(5))
    codes = sheet[0].astype(str).str.strip()
    assert int(sheet.loc[codes == "E92000001", 4].iloc[0]) == ENGLAND_POPULATION
    ons = dict(zip(codes[codes.str.startswith("E38")], sheet.loc[codes.str.startswith("E38"), 4].astype(int)))
    assert t["population"].to_dict() == ons


# --- geometry ----------------------------------------------------------------------------------------------

def shapes(fc: dict) -> tuple[list[str], list[shapely.Geometry]]:
    return [f["id"] for f in fc["features"]], [shape(f["geometry"]) for f in fc["features"]]


@pytest.fixture(scope="module")
def source_boundaries(sources_root: Path) -> gpd.GeoDataFrame:
    return sources.read_boundaries(sources_root).set_index("ccg_code")


def test_web_geometry_fits_the_size_budget(atlas_dir):
    zipped = sum(len(gzip.compress((atlas_dir / f"{n}.geojson").read_bytes())) for n in ("ccgs", "area_teams"))
    assert zipped <= 250_000, f"ccgs + area_teams gzip to {zipped} bytes"


def test_all_web_geometries_are_valid(atlas):
    codes, geoms = shapes(atlas.ccgs_geojson)
    assert sorted(codes) == sorted(atlas.table["ccg_code"])
    bad = [c for c, g in zip(codes, geoms) if not g.is_valid or g.is_empty or g.area == 0]
    assert not bad
    for layer in (atlas.area_teams_geojson, atlas.regions_geojson):
        for g in shapes(layer)[1]:
            assert g.is_valid and not g.is_empty


def test_simplified_layer_keeps_the_source_neighbour_graph(atlas, source_boundaries):
    codes, geoms = shapes(atlas.ccgs_geojson)
    before = geometry.neighbour_pairs(source_boundaries.loc[codes].geometry.values)
    after = geometry.neighbour_pairs(geoms)
    lost = sorted((codes[a], codes[b]) for a, b in before - after)
    gained = sorted((codes[a], codes[b]) for a, b in after - before)
    assert not lost and not gained
    assert len(after) > 500
    # the shipped neighbours.json is that same graph
    shipped = {tuple(sorted((a, b))) for a, nbs in atlas.neighbours.items() for b in nbs}
    assert shipped == {tuple(sorted((codes[a], codes[b]))) for a, b in after}
    assert geometry.symmetric(atlas.neighbours)


def test_isle_of_wight_is_an_island_and_still_present(atlas):
    codes, geoms = shapes(atlas.ccgs_geojson)
    assert ISLE_OF_WIGHT in codes and ISLE_OF_WIGHT in atlas.table.index
    assert "Isle of Wight" in atlas.table.at[ISLE_OF_WIGHT, "ccg_name"]
    iow = geoms[codes.index(ISLE_OF_WIGHT)]
    assert iow.area > 0
    assert atlas.neighbours[ISLE_OF_WIGHT] == []
    assert not any(iow.intersects(g) for c, g in zip(codes, geoms) if c != ISLE_OF_WIGHT)
    assert ISLE_OF_WIGHT in atlas.manifest["islands"]


def _overlaps(geoms: list[shapely.Geometry], codes: list[str]) -> dict[tuple[str, str], float]:
    out = {}
    for a, b in geometry.neighbour_pairs(geoms):
        area = shapely.intersection(geoms[a], geoms[b]).area
        if area > 1.0:  # m2
            out[(codes[a], codes[b])] = area
    return out


def test_simplification_adds_no_overlaps(atlas, source_boundaries):
    codes, geoms = shapes(atlas.ccgs_geojson)
    projected = list(gpd.GeoSeries(geoms, crs=4326).to_crs(27700).values)
    web = _overlaps(projected, codes)
    src = _overlaps(list(source_boundaries.loc[codes].geometry.values), codes)
    # The ONS source itself has one sliver (Lincolnshire East / South Lincolnshire, ~260 m2); nothing may be added.
    assert set(web) <= set(src), f"new overlaps {sorted(set(web) - set(src))}"
    assert sum(web.values()) < 1_000, web
    england = shapely.union_all(source_boundaries.geometry.values).area
    assert abs(shapely.union_all(projected).area - england) / england < 0.01


# --- a broken input stops the build and keeps the previous atlas -----------------------------------------

@contextlib.contextmanager
def restored(folder: Path) -> Iterator[None]:
    """Put ``folder`` back exactly as it was after the block (files changed, removed or added)."""
    before = snapshot(folder)
    try:
        yield
    finally:
        for p in folder.rglob("*"):
            if p.is_file() and str(p.relative_to(folder)) not in before:
                p.unlink()
        for rel, data in before.items():
            (folder / rel).write_bytes(data)


def _edit(rel: str, change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        p = root / rel
        p.write_bytes(change(p.read_bytes()))
    return apply


def _remove(rel: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).unlink()


def _repeat_row(n: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        body = data if data.endswith(b"\n") else data + b"\n"
        return body + data.splitlines()[n] + b"\n"
    return change


def _replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        assert old in data, old
        return data.replace(old, new, 1)
    return change


def _bowtie(root: Path) -> None:
    """Give E38000001 a self-intersecting outline in a rewritten copy of the shapefile."""
    p = root / sources.CCG_BOUNDARIES
    gdf = gpd.read_file(p)
    x, y = gdf.geometry.iloc[0].representative_point().coords[0]
    gdf.loc[0, "geometry"] = Polygon([(x, y), (x + 500, y + 500), (x + 500, y), (x, y + 500)])
    assert gdf.loc[0, "ccg15cd"] == "E38000001"
    gdf.to_file(p, driver="ESRI Shapefile")


def _truncate(rel: str, fraction: float) -> Callable[[Path], None]:
    """Cut a file at ``fraction`` of its bytes, as a failed copy or download leaves it."""
    def apply(root: Path) -> None:
        p = root / rel
        data = p.read_bytes()
        p.write_bytes(data[:int(len(data) * fraction)])
    return apply


def _mid_row(rel: str, fraction: float) -> Callable[[Path], None]:
    """Cut a CSV at ``fraction`` of its bytes, then a little further so the cut falls inside a row, not at its end."""
    def apply(root: Path) -> None:
        p = root / rel
        data = p.read_bytes()
        cut = int(len(data) * fraction)
        while data[cut - 1:cut] in (b"\n", b",", b'"'):
            cut += 1
        p.write_bytes(data[:cut])
    return apply


LEVEL_ROW = "{ods},NHS Test CCG,2015,{level},explicit,A test source,https://example.org/test,2015-04-01,test,operating\n"

BREAKAGES = {
    "missing file": (_remove(sources.IMD), [Path(sources.IMD).name, "missing"]),
    "missing shapefile part": (_remove("boundaries/ccg_2015_bsc/ccg_2015_bsc.dbf"), ["ccg_2015_bsc.dbf", "missing"]),
    "renamed column": (_edit(sources.IMD, _replace(b"IMD - Average score,", b"IMD Average Score,")),
                       [Path(sources.IMD).name, "'IMD - Average score'", "IMD Average Score"]),
    "duplicate code": (_edit(sources.IMD, _repeat_row(1)),
                       [Path(sources.IMD).name, IMD_CODE, "duplicate", "E38000001"]),
    "duplicate code in the area team lookup": (_edit(sources.CCG13_TO_AT, _repeat_row(2)),
                                               [Path(sources.CCG13_TO_AT).name, "CCG13CD", "E38000002"]),
    "duplicate CCG in the ODS file": (_edit(sources.ODS_ECCG, _repeat_row(0)),
                                      [Path(sources.ODS_ECCG).name, "column 'col0'", "duplicate", "'00C'"]),
    "unmatched code": (_edit(sources.IMD, _replace(b",E38000002", b",E38999999")),
                       [Path(sources.IMD).name, IMD_CODE, "E38999999", "E38000002"]),
    "level outside the vocabulary": (_edit(sources.LEVELS, _replace(b",2015,joint,", b",2015,jointly,")),
                                     ["levels_by_ccg.csv", "column 'level'", "'jointly'", "row "]),
    "level row for an unknown CCG": (_edit(sources.LEVELS, lambda d: d + LEVEL_ROW.format(
        ods="ZZZ", level="joint").encode()), ["levels_by_ccg.csv", "column 'ods_code'", "'ZZZ'"]),
    "invalid geometry": (_bowtie, ["ccg_2015_bsc.shp", "column 'geometry'", "invalid", "E38000001"]),
    "levels cut mid-row": (_mid_row(sources.LEVELS, 0.6), ["levels_by_ccg.csv", "missing fields", "truncated"]),
    "population sheet truncated": (_truncate(sources.POPULATION, 0.5), [Path(sources.POPULATION).name, "truncated"]),
    "IMD file empty": (_truncate(sources.IMD, 0.0), [Path(sources.IMD).name, "the file is empty"]),
    "ODS file cut inside a row": (_mid_row(sources.ODS_ECCG, 0.5), [Path(sources.ODS_ECCG).name]),
    "boundary attributes damaged": (_truncate(str(Path(sources.CCG_BOUNDARIES).with_suffix(".dbf")), 0.3),
                                    ["ccg_2015_bsc", "cannot be read"]),
    "boundary shapes cut short": (_truncate(sources.CCG_BOUNDARIES, 0.3), ["ccg_2015_bsc.shp", "empty geometry"]),
}


@pytest.mark.parametrize("case", list(BREAKAGES))
def test_broken_input_fails_loudly_and_keeps_the_previous_atlas(case, raw_copy, existing_atlas):
    breakage, expected = BREAKAGES[case]
    before = snapshot(existing_atlas)
    with restored(raw_copy):
        breakage(raw_copy)
        with pytest.raises(sources.SourceError) as err:
            build.build(root=raw_copy, out=existing_atlas)
    message = str(err.value)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert snapshot(existing_atlas) == before
    assert not list(existing_atlas.parent.glob(".atlas-*")), "a temporary build folder was left behind"


def test_cli_build_reports_the_broken_file_and_exits_non_zero(raw_copy, existing_atlas, capsys):
    before = snapshot(existing_atlas)
    with restored(raw_copy):
        _edit(sources.IMD, _replace(b"IMD - Average score,", b"IMD Average Score,"))(raw_copy)
        rc = main(["--sources", str(raw_copy), "--atlas", str(existing_atlas), "build"])
    err = capsys.readouterr().err
    assert rc != 0
    assert re.search(r"error: .*dclg_imd2015_file13_ccg_summaries_imd_sheet\.csv.*'IMD - Average score'", err)
    assert snapshot(existing_atlas) == before


def test_restored_copy_still_builds_the_same_table(raw_copy, atlas):
    """The breakages above are undone, and a copy of the sources builds what the real folder builds."""
    table, _raw, england = build.assemble_table(raw_copy, [raw_copy / sources.LEVELS, build.PROJECT_LEVELS])
    assert england == ENGLAND_POPULATION
    cols = ["ccg_code", "ods_code", "area_team", "local_office", "imd_rank", "population"]
    expected = atlas.table[cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(table[cols].reset_index(drop=True), expected, check_dtype=False)


def test_published_totals_name_their_sources_with_titles_and_links(atlas, sources_root):
    """The page links each published total to its source by title: ids such as HSJ_5082478 mean nothing to
    the public. Titles and URLs come from the table in cocommissioning/SOURCES.md, read at build time."""
    named = sources.read_total_sources(sources_root)
    assert len(named) >= 15 and named["source_id"].is_unique
    hsj = named.set_index("source_id").loc["HSJ_5082478"]
    assert hsj["title"] == 'HSJ, "CCGs taking on full primary care co-commissioning powers revealed" (Feb 2015)'
    assert hsj["url"].startswith("https://www.hsj.co.uk/") and hsj["url"].endswith("5082478.article")
    assert not named["title"].str.contains(r"\. [A-Z].*could not", regex=True).any(), "a note leaked into a title"
    rec = atlas.reconciliation
    assert {"source_title", "source_url"} <= set(rec.columns)
    listed = rec["source_id"].isin(named["source_id"])
    assert listed.mean() > 0.8
    assert (rec.loc[listed, "source_url"].str.startswith("http")).all()
    assert (rec.loc[listed, "source_title"] != rec.loc[listed, "source_id"]).all()
    assert (rec.loc[~listed, "source_title"] == rec.loc[~listed, "source_id"]).all()  # unlisted: the id, no link
    assert (rec.loc[~listed, "source_url"] == "").all()


def test_short_citation_keeps_publisher_title_and_date_only():
    cell = 'Pulse, "Almost half of CCGs apply" (Jan 2015). A note of ours'
    assert sources.short_citation(cell) == 'Pulse, "Almost half of CCGs apply" (Jan 2015)'
    assert sources.short_citation('A B. "T". J 2018;68(666):37') == 'A B. "T"'
    assert sources.short_citation("No quotes here. More") == "No quotes here"
