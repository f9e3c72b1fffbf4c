"""Import an official list of CCG levels (CSV or XLSX) into the project's ``geodata/levels.csv``.

NHS England lists name CCGs loosely: with or without "NHS" and "CCG", "&" for "and", hyphens, capitals,
and sometimes names from before the April 2015 mergers. Names are matched to ODS codes through every
name the lookups know; nothing is dropped silently: unmatched names and conflicts are reported.

An import is all or nothing: a file with any bad row (a name no lookup knows, a level not understood, a CCG
listed at two levels, a level contradicting another source) writes nothing, and each bad row is named by its
row number in the file (the header is row 1), so the list can be fixed and imported again. A source URL must be
an ``http`` or ``https`` address (it becomes a link on the page); without one the rows name the file instead.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from geodata import levels, sources
from geodata.build import MERGED_CCG
from geodata.csv_safe import safe_frame

_DROP = re.compile(r"\b(nhs|ccg|clinical commissioning group|the)\b")
LEVEL_WORDS = {
    "delegated": "delegated", "full delegation": "delegated", "fully delegated": "delegated",
    "level 3": "delegated", "3": "delegated", "delegated commissioning": "delegated",
    "joint": "joint", "joint commissioning": "joint", "level 2": "joint", "2": "joint",
    "greater involvement": "greater_involvement", "greater_involvement": "greater_involvement",
    "level 1": "greater_involvement", "1": "greater_involvement",
    "none": "none", "no role": "none", "not delegated": "not_delegated", "not_delegated": "not_delegated",
}


def normalise(name: str) -> str:
    """Comparable form of a CCG name: lower case, '&' as 'and', no 'NHS'/'CCG', no punctuation."""
    s = str(name).lower().replace("&", " and ").replace("\u2019", "'")
    s = re.sub(r"[-\u2013\u2014/,.()']", " ", s)
    s = _DROP.sub(" ", s)
    return re.sub(r"\s+", " ", s).strip()


def name_index(root: Path) -> dict[str, str]:
    """Normalised name (2015 ONS, 2013 ONS, ODS) -> ODS code of the 2015/16 CCG it denotes."""
    index: dict[str, str] = {}
    successor = {old: new for new, olds in MERGED_CCG.items() for old in olds}
    ccg15 = sources.read_ccg15_codes(root)
    for ods, name in zip(ccg15["ods_code"], ccg15["ccg_name"]):
        index[normalise(name)] = ods
    codes13 = sources.read_csv(root, sources.CCG13_CODES, ["CCG13CDH", "CCG13NM"], encoding="cp1252")
    valid = set(ccg15["ods_code"])
    for ods, name in zip(codes13["CCG13CDH"], codes13["CCG13NM"]):
        target = successor.get(ods, ods)
        if target in valid:
            index.setdefault(normalise(name), target)
    eccg = pd.read_csv(sources._path(root, sources.ODS_ECCG), header=None, dtype=str, keep_default_na=False)
    for ods, name in zip(eccg[0], eccg[1]):
        target = successor.get(ods, ods)
        if target in valid:
            index.setdefault(normalise(name), target)
    return index


@dataclass
class ImportResult:
    rows: list[dict[str, str]] = field(default_factory=list)
    approximate: list[tuple[str, str]] = field(default_factory=list)  # (name in file, name matched)
    unmatched: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    #: Each bad row of the file as (row number, the header being row 1; what is wrong with it).
    bad: list[tuple[int, str]] = field(default_factory=list)
    #: ODS code -> the file's row numbers that name it (empty for a CCG given the ``rest`` level).
    file_rows: dict[str, list[int]] = field(default_factory=dict)


def file_row(index: int) -> int:
    """The row number a spreadsheet shows for the frame's row ``index`` (the header is row 1)."""
    return index + 2


def check_source_url(url: str | None) -> str:
    """``url`` stripped, when it is an absolute ``http``/``https`` address with a host; "" for none.

    The page links a level's source, so ``javascript:``, ``data:``, ``file:`` or a relative path would be a link
    nobody should follow: refused (ValueError) before anything is written.

    >>> check_source_url(" https://www.england.nhs.uk/commissioning/ ")
    'https://www.england.nhs.uk/commissioning/'
    >>> check_source_url("javascript:alert(1)")
    Traceback (most recent call last):
    ...
    ValueError: --source-url must be an http:// or https:// address, not 'javascript:alert(1)'
    """
    text = (url or "").strip()
    if not text:
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if (parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname
            or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text)):
        raise ValueError(f"--source-url must be an http:// or https:// address, not {text[:200]!r}")
    return text


def read_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        return pd.read_excel(path, dtype=str).fillna("")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError:  # saved from Excel on Windows: "Queen’s Park" is byte 0x92 in cp1252
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="cp1252")


def _pick(df: pd.DataFrame, wanted: str | None, hints: tuple[str, ...], what: str) -> str | None:
    if wanted:
        if wanted not in df.columns:
            raise sources.SourceError("import file", f"no {what} column '{wanted}'", wanted, list(df.columns))
        return wanted
    for col in df.columns:
        if any(h in str(col).lower() for h in hints):
            return col
    return None


def parse_level(text: str) -> str | None:
    return LEVEL_WORDS.get(re.sub(r"\s+", " ", str(text).strip().lower()))


def match_names(df: pd.DataFrame, index: dict[str, str], name_col: str) -> tuple[list, list, list]:
    """(row number, ods) for each matched row, approximate matches, and unmatched names."""
    matched, approximate, unmatched = [], [], []
    keys = list(index)
    for i, raw in enumerate(df[name_col]):
        if not str(raw).strip():
            continue
        key = normalise(raw)
        if key in index:
            matched.append((i, index[key]))
            continue
        close = difflib.get_close_matches(key, keys, n=2, cutoff=0.9)
        if len(close) == 1 or (len(close) == 2 and index[close[0]] == index[close[1]]):
            matched.append((i, index[close[0]]))
            approximate.append((str(raw), close[0]))
        else:
            unmatched.append(str(raw))
    return matched, approximate, unmatched


def import_levels(path: Path, year: int, root: Path, level: str | None = None, name_column: str | None = None,
                  level_column: str | None = None, source_title: str | None = None,
                  source_url: str | None = None, source_date: str | None = None,
                  rest: str | None = None, claim: str = "approved") -> ImportResult:
    """Rows for ``geodata/levels.csv`` from an official list; ``rest`` gives every unlisted CCG a level.

    ``claim`` grades what the list says (``approved``: NHS England approved the levels for the year;
    ``operating``: the list states the levels in force). ``bad`` lists the file's bad rows: a caller must write
    none of ``rows`` while it is not empty (the module docstring). ``source_url`` must be http(s)
    (:func:`check_source_url`); without it the rows name the file in their title and note.
    """
    if year not in levels.YEARS:
        raise ValueError(f"year must be one of {levels.YEARS}")
    if claim not in ("approved", "operating"):
        raise ValueError("claim of an official list must be 'approved' or 'operating'")
    url = check_source_url(source_url)
    df = read_table(path)
    name_col = _pick(df, name_column, ("ccg", "name", "organisation", "commissioner"), "name")
    if name_col is None:
        name_col = df.columns[0]
    level_col = _pick(df, level_column, ("level", "status", "option", "model"), "level") if not level else None
    if level is None and level_col is None:
        raise ValueError("the file has no level column: give --level for a list of CCGs at one level")
    index = name_index(root)
    names15 = sources.read_ccg15_codes(root).set_index("ods_code")["ccg_name"]
    matched, approx, unmatched = match_names(df, index, name_col)
    date = source_date or dt.date.fromtimestamp(path.stat().st_mtime).isoformat()
    title = source_title or f"Imported list {path.name}"
    result = ImportResult(approximate=approx, unmatched=unmatched)
    found = {i for i, _ in matched}
    for i, raw in enumerate(df[name_col]):
        if str(raw).strip() and i not in found:
            result.bad.append((file_row(i), f"NOT MATCHED: {str(raw)!r} is no CCG the lookups know"))
    seen: dict[str, str] = {}
    listed = {ods for _, ods in matched}  # named in the file, whatever their level: never given ``rest``
    for i, ods in matched:
        result.file_rows.setdefault(ods, []).append(file_row(i))
        lvl = level or parse_level(df.iloc[i][level_col])
        if lvl is None:
            result.unmatched.append(f"{df.iloc[i][name_col]} (level not understood: {df.iloc[i][level_col]!r})")
            result.bad.append((file_row(i), f"LEVEL NOT UNDERSTOOD: {df.iloc[i][name_col]!r} has level "
                                            f"{df.iloc[i][level_col]!r}"))
            continue
        if ods in seen and seen[ods] != lvl:
            result.conflicts.append(f"{ods} listed as both {seen[ods]} and {lvl} in {path.name}")
            result.bad.append((file_row(i), f"LISTED TWICE: {ods} {names15[ods]} as both {seen[ods]} and {lvl}"))
            continue
        seen[ods] = lvl
    for ods in sorted(set(names15.index) - listed) if rest else []:
        seen[ods] = rest
    for ods, lvl in sorted(seen.items()):
        note = f"Imported from {path.name}" + ("" if ods in listed else f"; not listed, so {rest}")
        result.rows.append({"ods_code": ods, "ccg_name": names15[ods], "year": str(year), "level": lvl,
                            "evidence": "imported", "source_title": title, "source_url": url,
                            "source_date": date, "note": note, "claim": claim})
    result.bad.sort()
    return result


@dataclass
class Conflicts:
    """New rows refused (``conflicts``) and, with ``supersede``, the existing levels they replace."""

    conflicts: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)


def find_conflicts(new_rows: list[dict[str, str]], existing: pd.DataFrame, supersede: bool = False) -> Conflicts:
    """New rows that would contradict a level another source already gives (the build would stop).

    That includes a contradiction through the stated rules: delegated in 2015/16 stays delegated in 2016/17,
    and a CCG a source lists as newly authorised for April 2016 was not delegated in 2015/16. With
    ``supersede`` a contradiction for the same CCG and year is not refused: the row is marked to supersede
    the other sources' rows (``supersedes`` column) and the level it replaces is listed. Contradictions through
    a rule are still refused, since they involve the other year.
    """
    out = Conflicts()
    years = existing["year"].astype(str)
    known = existing.assign(year=years).groupby(["ods_code", "year"])["level"].apply(set).to_dict()
    newly = levels.newly_authorised_2016(existing) if len(existing) else set()
    for r in new_rows:
        ods, year, lvl = r["ods_code"], str(r["year"]), r["level"]
        have = known.get((ods, year), set())
        head = f"{ods} {r['ccg_name']} {year}: file says {lvl}"
        if levels.conflicting(have | {lvl}):
            if supersede:
                r["supersedes"] = "yes"
                out.superseded.append(f"{head}, replacing {sorted(have)}")
            else:
                out.conflicts.append(f"{head}, existing sources say {sorted(have)}")
        elif year == "2016" and lvl != "delegated" and "delegated" in known.get((ods, "2015"), set()):
            out.conflicts.append(f"{head}, existing sources say delegated in 2015 ({levels.RULE_DELEGATED_PERSISTS})")
        elif year == "2015" and lvl == "delegated" and (known.get((ods, "2016"), set()) - {"delegated"}):
            out.conflicts.append(f"{head}, existing sources say {sorted(known[(ods, '2016')])} in 2016 "
                                 f"({levels.RULE_DELEGATED_PERSISTS})")
        elif year == "2015" and lvl == "delegated" and ods in newly:
            out.conflicts.append(f"{head}, existing sources list it as newly authorised for 2016 "
                                 f"({levels.RULE_NEWLY_AUTHORISED})")
    return out


def write_rows(rows: list[dict[str, str]], target: Path, source_title: str, year: int | None = None) -> None:
    """Add rows to the project's levels table, replacing rows from an earlier import of the same source.

    Only that source's rows for the same year are replaced (``year``, else the years of ``rows``): importing
    a list for 2016 must not delete what the same file gave for 2015.
    """
    current = pd.read_csv(target, dtype=str, keep_default_na=False) if target.exists() else pd.DataFrame(
        columns=sources.LEVEL_COLUMNS)
    years = {str(year)} if year is not None else {str(r["year"]) for r in rows}
    keep = current[~((current["source_title"] == source_title) & current["year"].isin(years))]
    columns = sources.LEVEL_COLUMNS + [sources.SUPERSEDES]
    current = current.reindex(columns=columns, fill_value="")
    new = pd.DataFrame(rows, columns=columns).astype(object).fillna("")
    out = pd.concat([keep.reindex(columns=columns, fill_value=""), new], ignore_index=True)
    if not (out[sources.SUPERSEDES] != "").any():
        out = out.drop(columns=[sources.SUPERSEDES])  # the column appears only once a row supersedes
    out = out.sort_values(["ods_code", "year", "source_title"], kind="stable")
    safe_frame(out).to_csv(target, index=False, quoting=csv.QUOTE_MINIMAL)
