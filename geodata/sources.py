"""Readers for the raw inputs in ``$CCG_SOURCES`` (default ``../shared/data/raw``).

Each reader knows one file's quirks (encoding, header row, line endings) as ``SOURCES.md`` documents them,
checks the columns it relies on, and returns a tidy DataFrame. Any surprise raises :class:`SourceError`
naming the file, the column and the offending values, so a broken input stops the build loudly.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import geopandas as gpd

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES = PROJECT_ROOT.parent / "shared" / "data" / "raw"

# Paths relative to the sources folder, one constant per input so that tests and errors name them alike.
CCG_BOUNDARIES = "boundaries/ccg_2015_bsc/ccg_2015_bsc.shp"
CCG13_TO_AT = "lookups/ons_ccg13_to_nhsat13_to_nhscr13_lookup_apr2013.csv"
CCG13_CODES = "lookups/ons_ccg13_names_codes_apr2013.csv"
AT_CODES = "lookups/nhsat13_ons_to_ods_codes.csv"
LSOA_CCG15 = "lookups/ons_lsoa11_to_ccg15_to_lad15_lookup_jul2015.csv"
ODS_ECCG = "lookups/ods_eccg_2016-02.csv"
ODS_EAUTH = "lookups/ods_eauth_2017-08.csv"
IMD = "deprivation/dclg_imd2015_file13_ccg_summaries_imd_sheet.csv"
POPULATION = "deprivation/ons_sape18dt5_mid2015_ccg_population_syoa.xls"
LEVELS = "cocommissioning/levels_by_ccg.csv"
TOTALS = "cocommissioning/cocommissioning_aggregate_counts.csv"
SOURCES_MD = (
    "boundaries/SOURCES.md",
    "lookups/SOURCES.md",
    "deprivation/SOURCES.md",
    "cocommissioning/SOURCES.md",
)

LEVEL_COLUMNS = [
    "ods_code", "ccg_name", "year", "level", "evidence", "source_title", "source_url", "source_date", "note", "claim",
]

SUPERSEDES = "supersedes"  # optional column: "yes" on a row from an official list that replaces contradicting rows

# ODS national groupings (eccg column 2) to the region names the contract uses.
REGION_BY_ODS = {"Y54": "North", "Y55": "Midlands and East", "Y56": "London", "Y57": "South"}
REGION_BY_ONS13 = {
    "North of England": "North",
    "Midlands and East of England": "Midlands and East",
    "London": "London",
    "South of England": "South",
}


class SourceError(ValueError):
    """A raw input is missing or not as documented; the message names file, column and values."""

    def __init__(self, file: str | Path, problem: str, column: str | None = None,
                 values: Iterable[object] | None = None) -> None:
        self.file = str(file)
        self.column = column
        self.values = [] if values is None else list(values)
        where = f"{self.file}" + (f", column '{column}'" if column else "")
        shown = ""
        if self.values:
            head = ", ".join(repr(v) for v in self.values[:12])
            more = f" (+{len(self.values) - 12} more)" if len(self.values) > 12 else ""
            shown = f": {head}{more}"
        super().__init__(f"{where}: {problem}{shown}")


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn any failure to read ``path`` (a truncated spreadsheet, a damaged shapefile, an empty file) into a
    :class:`SourceError` that names the file, instead of a library traceback."""
    try:
        yield
    except SourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - pandas, xlrd, pyogrio and GDAL raise many kinds
        size = Path(path).stat().st_size if Path(path).exists() else 0
        empty = " (the file is empty)" if size == 0 else ""
        raise SourceError(path, f"cannot be read{empty}: {type(exc).__name__}: {str(exc)[:200]}; the file may be "
                                "truncated or damaged, so copy it again from its source") from exc


def sources_dir(path: str | Path | None = None) -> Path:
    """The raw-data folder: the argument, else ``$CCG_SOURCES``, else ``../shared/data/raw``."""
    chosen = path or os.environ.get("CCG_SOURCES") or DEFAULT_SOURCES
    return Path(chosen).resolve()


def _path(root: Path, rel: str) -> Path:
    p = root / rel
    if not p.exists():
        raise SourceError(p, "file is missing (set CCG_SOURCES to the raw data folder)")
    return p


def require_columns(df: pd.DataFrame, columns: Iterable[str], file: str | Path) -> None:
    """Stop with the missing column names: a renamed column must not turn into silent NaNs."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SourceError(file, f"expected columns are missing (found {list(df.columns)[:15]})",
                          column=missing[0], values=missing)


def require_unique(df: pd.DataFrame, column: str, file: str | Path) -> None:
    dup = df.loc[df[column].duplicated(keep=False), column]
    if len(dup):
        raise SourceError(file, "duplicate codes", column=column, values=sorted(set(dup)))


def read_csv(root: Path, rel: str, columns: Iterable[str], **kwargs: object) -> pd.DataFrame:
    p = _path(root, rel)
    with reading(p):
        df = pd.read_csv(p, dtype=str, keep_default_na=False, **kwargs)
    require_columns(df, columns, p)
    return df


def read_boundaries(root: Path) -> gpd.GeoDataFrame:
    """CCG July 2015 BSC boundaries in British National Grid, one row per GSS code."""
    p = _path(root, CCG_BOUNDARIES)
    for sidecar in (".dbf", ".shx", ".prj"):  # without them GDAL reads no attributes or CRS, quietly
        _path(root, str(Path(CCG_BOUNDARIES).with_suffix(sidecar)))
    with reading(p):
        import geopandas as gpd  # only the build reads shapefiles: serving the page never loads geopandas

        gdf = gpd.read_file(p)
    require_columns(gdf, ["ccg15cd", "ccg15nm"], p)
    require_unique(gdf, "ccg15cd", p)
    if gdf.crs is None or gdf.crs.to_epsg() != 27700:
        raise SourceError(p, f"expected EPSG:27700, found {gdf.crs}")
    bad = gdf.loc[~gdf.geometry.is_valid | gdf.geometry.is_empty, "ccg15cd"]
    if len(bad):
        raise SourceError(p, "invalid or empty geometry", column="geometry", values=bad)
    return gdf.rename(columns={"ccg15cd": "ccg_code", "ccg15nm": "boundary_name"})[
        ["ccg_code", "boundary_name", "geometry"]]


def read_ccg15_codes(root: Path) -> pd.DataFrame:
    """GSS code, ODS code and name of the 209 CCGs of July 2015 (distinct rows of the LSOA lookup)."""
    p = root / LSOA_CCG15
    df = read_csv(root, LSOA_CCG15, ["CCG15CD", "CCG15CDH", "CCG15NM"])
    ccg = df[["CCG15CD", "CCG15CDH", "CCG15NM"]].drop_duplicates()
    require_unique(ccg, "CCG15CD", p)
    require_unique(ccg, "CCG15CDH", p)
    ccg.columns = ["ccg_code", "ods_code", "ccg_name"]
    return ccg.reset_index(drop=True)


def read_ccg13_area_teams(root: Path) -> pd.DataFrame:
    """2013 CCGs with ODS code, area team (E39 code, name) and region, joined on the 2013 GSS code."""
    at = read_csv(root, CCG13_TO_AT, ["CCG13CD", "NHSAT13CD", "NHSAT13NM", "NHSCR13NM"])
    codes = read_csv(root, CCG13_CODES, ["CCG13CD", "CCG13CDH", "CCG13NM"], encoding="cp1252")
    # Check each file on its own column: a duplicate in either would otherwise surface after the join,
    # blamed on the wrong file, or not at all.
    require_unique(at, "CCG13CD", root / CCG13_TO_AT)
    require_unique(codes, "CCG13CD", root / CCG13_CODES)
    require_unique(codes, "CCG13CDH", root / CCG13_CODES)
    merged = at.merge(codes[["CCG13CD", "CCG13CDH"]], on="CCG13CD", how="left", indicator=True)
    unmatched = merged.loc[merged["_merge"] != "both", "CCG13CD"]
    if len(unmatched):
        raise SourceError(root / CCG13_CODES, "2013 CCGs without an ODS code", "CCG13CD", unmatched)
    unknown_regions = set(merged["NHSCR13NM"]) - set(REGION_BY_ONS13)
    if unknown_regions:
        raise SourceError(root / CCG13_TO_AT, "unknown commissioning region", "NHSCR13NM", unknown_regions)
    out = pd.DataFrame({
        "ods_code": merged["CCG13CDH"],
        "ccg13_code": merged["CCG13CD"],
        "area_team_code": merged["NHSAT13CD"],
        "area_team": merged["NHSAT13NM"],
        "region": merged["NHSCR13NM"].map(REGION_BY_ONS13),
    })
    return out


def read_area_team_ods(root: Path) -> pd.DataFrame:
    """Area team GSS code to ODS Q code (the file has old-Mac CR line endings; pandas copes)."""
    df = read_csv(root, AT_CODES, ["ons_code", "hscic_code", "name"])
    require_unique(df, "ons_code", root / AT_CODES)
    require_unique(df, "hscic_code", root / AT_CODES)
    return df.rename(columns={"ons_code": "area_team_code", "hscic_code": "area_team_ods"})[
        ["area_team_code", "area_team_ods"]]


def _read_ods(root: Path, rel: str) -> pd.DataFrame:
    p = _path(root, rel)
    with reading(p):
        df = pd.read_csv(p, header=None, dtype=str, keep_default_na=False)
    if df.shape[1] != 27:
        raise SourceError(p, f"expected the 27-column ODS layout, found {df.shape[1]} columns")
    return df


def read_local_offices(root: Path) -> pd.DataFrame:
    """Open CCGs from ODS eccg (early 2016) with their 2015/16 local office Q code and its name."""
    eccg = _read_ods(root, ODS_ECCG)
    eauth = _read_ods(root, ODS_EAUTH)
    open_ccg = eccg[(eccg[11] == "") & (eccg[13] == "C")]
    dup = open_ccg.loc[open_ccg[0].duplicated(keep=False), 0]
    if len(dup):
        raise SourceError(root / ODS_ECCG, "duplicate codes", "col0", sorted(set(dup)))
    names = dict(zip(eauth[0], eauth[1]))
    out = pd.DataFrame({
        "ods_code": open_ccg[0].values,
        "local_office_code": open_ccg[3].values,
        "ods_region": open_ccg[2].map(REGION_BY_ODS).values,
    })
    missing = sorted(set(out["local_office_code"]) - set(names))
    if missing:
        raise SourceError(root / ODS_EAUTH, "local office codes without a name", "col0", missing)
    out["local_office"] = out["local_office_code"].map(names).map(_office_name)
    return out


def _office_name(raw: str) -> str:
    """'NHS ENGLAND NORTH (CHESHIRE AND MERSEYSIDE)' -> 'Cheshire and Merseyside'; 'NHS ENGLAND LONDON' -> 'London'."""
    inner = raw.split("(", 1)[1].rstrip(")") if "(" in raw else raw.replace("NHS ENGLAND", "")
    words = inner.strip().title().split()
    small = {"And", "Of", "The"}
    return " ".join(w.lower() if w in small and i else w for i, w in enumerate(words))


def read_imd(root: Path) -> pd.DataFrame:
    """IMD 2015 CCG average score and its rank (1 = most deprived), keyed by GSS code."""
    code, score, rank = ("Clinical Commissioning Group Code (2015)", "IMD - Average score",
                         "IMD - Rank of average score")
    df = read_csv(root, IMD, [code, score, rank])
    p = root / IMD
    require_unique(df, code, p)
    out = pd.DataFrame({"ccg_code": df[code]})
    for col, name in ((score, "imd_score"), (rank, "imd_rank")):
        values = pd.to_numeric(df[col], errors="coerce")
        if values.isna().any():
            raise SourceError(p, "non-numeric values", col, df.loc[values.isna(), col])
        out[name] = values
    out["imd_rank"] = out["imd_rank"].astype(int)
    return out


def read_population(root: Path) -> tuple[pd.DataFrame, int]:
    """ONS mid-2015 population per CCG (GSS code) and the England total the sheet states."""
    p = _path(root, POPULATION)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with reading(p):
            raw = pd.read_excel(p, sheet_name="Mid-2015 Persons", header=None, usecols=range(5))
    if len(raw) < 6:
        raise SourceError(p, f"sheet 'Mid-2015 Persons' has {len(raw)} rows, fewer than its header; the file may "
                             "be truncated")
    header = [str(h).strip() for h in raw.iloc[4].tolist()]
    if header[0] != "Area Codes" or header[4] != "All Ages":
        raise SourceError(p, f"header row 4 is not as documented: {header}", column="All Ages")
    codes = raw[0].astype(str).str.strip()
    england = raw.loc[codes == "E92000001", 4]
    if len(england) != 1:
        raise SourceError(p, "no single England (E92000001) row", column="Area Codes")
    rows = raw[codes.str.startswith("E38")]
    out = pd.DataFrame({"ccg_code": codes[rows.index].values,
                        "population": pd.to_numeric(rows[4], errors="coerce").values})
    if out["population"].isna().any():
        raise SourceError(p, "non-numeric population", "All Ages", out.loc[out["population"].isna(), "ccg_code"])
    out["population"] = out["population"].astype(int)
    dup = out.loc[out["ccg_code"].duplicated(keep=False), "ccg_code"]
    if len(dup):
        raise SourceError(p, "duplicate codes", "Area Codes", sorted(set(dup)))
    return out, int(england.iloc[0])


def read_levels_file(path: Path) -> pd.DataFrame:
    """A per-CCG levels table in the shared ``levels_by_ccg.csv`` layout (also the project's own table).

    Every row must have every field: a file cut off mid-row (a failed copy) otherwise loads with its last row's
    missing fields read as empty, and the atlas silently loses levels.
    """
    if not path.exists():
        raise SourceError(path, "file is missing")
    with reading(path):
        with path.open(newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    require_columns(df, LEVEL_COLUMNS, path)
    width = len(lines[0]) if lines else 0
    short = [f"row {i}: {len(r)} of {width} fields" for i, r in enumerate(lines[1:], 2) if r and len(r) < width]
    if short:
        raise SourceError(path, "rows with missing fields (the file may be truncated)", values=short)
    df = df[LEVEL_COLUMNS + ([SUPERSEDES] if SUPERSEDES in df.columns else [])].copy()
    if SUPERSEDES not in df.columns:
        df[SUPERSEDES] = ""
    df["file"] = str(path)
    df["row"] = range(2, len(df) + 2)  # line number in the file, header being line 1
    return df


def read_totals(root: Path) -> pd.DataFrame:
    """Published totals by level, kept with their source (they differ slightly between sources)."""
    return read_csv(root, TOTALS, ["source_id", "source_date", "period", "scope", "measure", "level", "count",
                                   "denominator", "note"])


TOTAL_SOURCES_HEADING = "## Sources of the published totals"
_CITATION = re.compile(r'^(?P<who>[^"]*)"(?P<title>[^"]+)"(?P<when>\s*\([^)]*\))?')


def short_citation(cell: str) -> str:
    """Publisher, quoted title and date of a source-table cell, without the note that follows them."""
    m = _CITATION.match(cell.strip())
    if not m:
        return cell.strip().split(". ")[0]
    return f'{m["who"]}"{m["title"]}"{m["when"] or ""}'.strip()


def read_total_sources(root: Path) -> pd.DataFrame:
    """``source_id``, ``title`` and ``url`` of each published total's source, from the table under
    "Sources of the published totals" in ``cocommissioning/SOURCES.md``, so the page can link a total to its
    source by name. A missing file or table gives an empty frame (the page then shows the ids)."""
    columns = ["source_id", "title", "url"]
    path = root / "cocommissioning/SOURCES.md"
    if not path.exists():
        return pd.DataFrame(columns=columns)
    rows, inside = [], False
    with reading(path):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("## "):
                inside = line.strip() == TOTAL_SOURCES_HEADING
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not inside or len(cells) != 3 or cells[0] in ("source_id", "") or set(cells[0]) <= {"-", " "}:
                continue
            url = cells[2] if cells[2].startswith(("https://", "http://")) else ""
            rows.append({"source_id": cells[0], "title": short_citation(cells[1]), "url": url})
    return pd.DataFrame(rows, columns=columns).drop_duplicates("source_id")


def attributions(root: Path) -> list[str]:
    """OGL attribution lines quoted in each SOURCES.md (the '> ' block under the licence heading)."""
    lines: list[str] = []
    for rel in SOURCES_MD:
        p = root / rel
        if not p.exists():
            continue
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.startswith("> "):
                text = line[2:].strip()
                if text and text not in lines:
                    lines.append(text)
    return lines
