"""Importing an official list of CCG levels: name matching in NHS England's styles, provenance of the rows,
``--rest``, conflicts with existing sources, CSV and XLSX. Every import goes to a temporary ``--into`` file;
the project's ``geodata/levels.csv`` is swapped for a temporary stand-in so that no test can write to it."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest

from geodata import build, importer, levels, sources
from geodata.__main__ import main
from geodata.atlas import read_atlas

HALTON_ROW = {"ods_code": "01F", "ccg_name": "NHS Halton CCG", "year": "2016", "level": "delegated",
              "evidence": "dated_document", "source_title": "Halton Primary Care Committee",
              "source_url": "https://example.org/halton", "source_date": "2016-04-01", "note": "test",
              "claim": "implied"}

# (name as an NHS England list might print it, level cell, ODS code it must match or None)
LIST = [
    ("NHS Bradford Districts CCG", "Delegated", "02R"),
    ("Bradford Districts", "delegated", "02R"),
    ("Airedale, Wharfedale & Craven", "Joint", "02N"),
    ("Hartlepool and Stockton-on-Tees CCG", "delegated", "00K"),
    ("Hartlepool & Stockton on Tees", "Level 3", "00K"),
    ("NHS GATESHEAD CCG", "joint", "13T"),  # pre-2015 name: merged into Newcastle Gateshead
    ("Newcastle North and East", "Joint commissioning", "13T"),
    ("NHS SHEFFIELD CCG", "joint", "03N"),  # conflict: the shared file says delegated in 2016
    ("NHS Halton CCG", "joint", "01F"),  # conflict: the project's own table says delegated in 2016
    ("NHS Havering CCG", "not delegated", "08F"),  # conflict: delegated in 2015, and delegation persists
    ("Made Up Nowhere Health Board", "delegated", None),
    ("NHS Darlington CCG", "Wibble", "00C"),  # level not understood
]
WRITTEN_2016 = {"02R": "delegated", "02N": "joint", "00K": "delegated", "13T": "joint"}
CONFLICTS_2016 = {"03N", "01F", "08F"}


@pytest.fixture(autouse=True)
def project_levels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for geodata/levels.csv holding one known row; the real file is never the default target."""
    stand_in = tmp_path / "project_levels.csv"
    pd.DataFrame([HALTON_ROW], columns=sources.LEVEL_COLUMNS).to_csv(stand_in, index=False)
    monkeypatch.setattr(build, "PROJECT_LEVELS", stand_in)
    return stand_in


def write_list(path: Path) -> Path:
    df = pd.DataFrame([(n, lvl) for n, lvl, _ in LIST], columns=["CCG name", "Co-commissioning level"])
    if path.suffix == ".xlsx":
        df.to_excel(path, index=False)
    else:
        df.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
    return path


def run_import(capsys, *args: str) -> tuple[int, str]:
    rc = main(["import-levels", *args])
    return rc, capsys.readouterr().out


def written(into: Path) -> pd.DataFrame:
    return sources.read_levels_file(into)


# --- matching ------------------------------------------------------------------------------------------------

def test_names_in_nhs_england_styles_match_their_ccg(sources_root):
    index = importer.name_index(sources_root)
    official = sources.read_ccg15_codes(sources_root).set_index("ccg_name")["ods_code"]
    assert official["NHS Bradford Districts CCG"] == "02R"  # the expectations above are the ONS codes
    assert official["NHS Hartlepool and Stockton-on-Tees CCG"] == "00K"
    assert official["NHS Newcastle Gateshead CCG"] == "13T"
    df = pd.DataFrame({"name": [n for n, _, _ in LIST] + ["NHS Bradford Distrcts CCG"]})
    matched, approximate, unmatched = importer.match_names(df, index, "name")
    got = {df.at[i, "name"]: ods for i, ods in matched}
    for name, _, ods in LIST:
        if ods is None:
            assert name in unmatched
        else:
            assert got.get(name) == ods, name
    assert got["NHS Bradford Distrcts CCG"] == "02R"
    assert [raw for raw, _ in approximate] == ["NHS Bradford Distrcts CCG"]  # typo matched, but flagged
    assert unmatched == ["Made Up Nowhere Health Board"]


# --- the command -----------------------------------------------------------------------------------------

def test_csv_import_writes_sourced_rows_and_reports_the_rest(tmp_path, capsys, project_levels, sources_root):
    src = write_list(tmp_path / "nhse_2016.csv")
    into = tmp_path / "imported.csv"
    before = project_levels.read_bytes()
    rc, out = run_import(capsys, str(src), "--year", "2016", "--into", str(into), "--no-build")
    assert rc == 3  # something was not matched or conflicted: the user must look
    rows = written(into)
    assert dict(zip(rows["ods_code"], rows["level"])) == WRITTEN_2016
    assert (rows["year"] == "2016").all()
    assert (rows["evidence"] == "imported").all()
    assert (rows["source_title"] == "Imported list nhse_2016.csv").all()
    assert (rows["source_url"] == "nhse_2016.csv").all()
    assert rows["note"].str.contains("nhse_2016.csv").all()
    assert rows.set_index("ods_code").at["13T", "ccg_name"] == "NHS Newcastle Gateshead CCG"
    # the nonsense name is listed, not dropped; so is the level nobody understands
    assert "NOT MATCHED: 'Made Up Nowhere Health Board'" in out
    assert "NHS Darlington CCG (level not understood: 'Wibble')" in out
    # conflicts are reported with what each side says, and not written
    conflict_lines = [line for line in out.splitlines() if "CONFLICT" in line]
    assert {line.split("CONFLICT (not written): ")[1].split()[0] for line in conflict_lines} == CONFLICTS_2016
    assert any("03N" in line and "file says joint" in line and "delegated" in line for line in conflict_lines)
    assert any("08F" in line and levels.RULE_DELEGATED_PERSISTS in line for line in conflict_lines)
    assert not CONFLICTS_2016 & set(rows["ods_code"])
    assert "00C" not in set(rows["ods_code"])
    # the written file is a valid levels table; the project's table was not touched
    levels.validate_rows(rows, sources.read_ccg15_codes(sources_root)["ods_code"])
    assert project_levels.read_bytes() == before


def test_xlsx_import_gives_the_same_rows(tmp_path, capsys):
    src = write_list(tmp_path / "nhse_2016.xlsx")
    into = tmp_path / "imported.csv"
    rc, out = run_import(capsys, str(src), "--year", "2016", "--into", str(into), "--no-build",
                         "--source-title", "NHS England list (xlsx)", "--source-date", "2015-12-17")
    assert rc == 3
    rows = written(into)
    assert dict(zip(rows["ods_code"], rows["level"])) == WRITTEN_2016
    assert (rows["source_title"] == "NHS England list (xlsx)").all()
    assert (rows["source_date"] == "2015-12-17").all()
    assert (rows["evidence"] == "imported").all()
    assert "NOT MATCHED: 'Made Up Nowhere Health Board'" in out


def test_rest_fills_every_unlisted_ccg_but_not_listed_ones(tmp_path, capsys, sources_root):
    src = tmp_path / "joint_2015.csv"
    pd.DataFrame({"CCG": ["Airedale, Wharfedale & Craven", "NHS Darlington CCG"],
                  "Level": ["joint", "Wibble"]}).to_csv(src, index=False)
    into = tmp_path / "imported.csv"
    rc, out = run_import(capsys, str(src), "--year", "2015", "--rest", "none", "--into", str(into), "--no-build")
    assert rc == 3
    rows = written(into).set_index("ods_code")
    conflicted = {line.split("CONFLICT (not written): ")[1].split()[0] for line in out.splitlines()
                  if "CONFLICT" in line}
    all_ods = set(sources.read_ccg15_codes(sources_root)["ods_code"])
    assert set(rows.index) | conflicted | {"00C"} == all_ods
    assert not set(rows.index) & conflicted
    assert "00C" not in rows.index  # listed with a level nobody understands: not given the --rest level
    assert rows.at["02N", "level"] == "joint" and "not listed" not in rows.at["02N", "note"]
    unlisted = rows.drop(index="02N")
    assert (unlisted["level"] == "none").all()
    assert unlisted["note"].str.endswith("not listed, so none").all()
    # a sourced 2015 level other than none conflicts; a bare 'not delegated' agrees with none
    assert "02R" in conflicted  # delegated in 2015 per HSJ
    assert rows.at["00K", "level"] == "none"  # Pulse: not delegated in 2015


def test_import_then_build_uses_the_imported_rows(tmp_path, capsys, sources_root, fast_geometry):
    """Without --no-build the atlas is rebuilt with the --into table, and it builds: no conflict got through."""
    src = write_list(tmp_path / "nhse_2016.csv")
    into = tmp_path / "imported.csv"
    out_dir = tmp_path / "atlas"
    rc = main(["--sources", str(sources_root), "--atlas", str(out_dir), "import-levels", str(src), "--year", "2016",
               "--into", str(into)])
    assert rc == 3
    assert "atlas " in capsys.readouterr().out
    t = read_atlas(out_dir).table.set_index("ods_code")
    assert t.at["02N", "level_2016"] == "joint"
    assert "Imported list nhse_2016.csv" in t.at["02N", "source_2016"]
    assert t.at["13T", "level_2016"] == "joint"
    assert "Imported list nhse_2016.csv" in t.at["00K", "source_2016"]  # agrees with Pulse: both sources kept
    assert "Over 50 more CCGs" in t.at["00K", "source_2016"]
    assert t.at["03N", "level_2016"] == "delegated"  # the conflicting row was not written
    assert t.at["01F", "level_2016"] == "delegated"


def test_reimport_replaces_the_same_year_and_keeps_the_other(tmp_path, capsys):
    src = tmp_path / "list.csv"
    pd.DataFrame({"Organisation": ["NHS Airedale, Wharfedale and Craven CCG"]}).to_csv(src, index=False)
    into = tmp_path / "imported.csv"
    for year, level in (("2016", "joint"), ("2015", "joint"), ("2016", "greater_involvement")):
        rc, _ = run_import(capsys, str(src), "--year", year, "--level", level, "--into", str(into), "--no-build")
        assert rc == 0
    rows = written(into)
    assert sorted(zip(rows["ods_code"], rows["year"], rows["level"])) == [
        ("02N", "2015", "joint"), ("02N", "2016", "greater_involvement")]


def test_import_levels_api_keeps_listed_ccgs_out_of_rest(tmp_path, sources_root):
    src = tmp_path / "list.csv"
    pd.DataFrame({"CCG": ["NHS Darlington CCG", "NHS Bolton CCG", "NHS Bolton CCG"],
                  "Status": ["???", "joint", "delegated"]}).to_csv(src, index=False)
    res = importer.import_levels(src, 2016, sources_root, rest="delegated")
    by = {r["ods_code"]: r for r in res.rows}
    assert "00C" not in by
    assert any("Darlington" in u and "not understood" in u for u in res.unmatched)
    assert res.conflicts == ["00T listed as both joint and delegated in list.csv"]
    assert len(by) == 208


# --- conflicts with existing sources -------------------------------------------------------------------

def _existing(*specs: tuple) -> pd.DataFrame:
    return pd.DataFrame([{"ods_code": o, "ccg_name": o, "year": y, "level": lvl, "evidence": "explicit",
                          "source_title": "t", "source_url": url, "source_date": "", "note": "", "claim": "approved"}
                         for o, y, lvl, url in specs], columns=sources.LEVEL_COLUMNS)


def _new(ods: str, year: str, level: str) -> dict[str, str]:
    return {"ods_code": ods, "ccg_name": f"NHS {ods} CCG", "year": year, "level": level}


def test_find_conflicts():
    existing = _existing(("AAA", "2016", "delegated", ""), ("BBB", "2015", "not_delegated", ""),
                         ("CCC", "2015", "delegated", ""), ("DDD", "2016", "joint", ""),
                         ("EEE", "2016", "delegated", "https://www.pulsetoday.co.uk/x/20030779.article"))
    new = [_new("AAA", "2016", "joint"),  # contradicts a source
           _new("AAA", "2015", "joint"),  # other year: fine
           _new("BBB", "2015", "none"),  # not_delegated agrees with none
           _new("BBB", "2015", "delegated"),  # contradicts not_delegated
           _new("CCC", "2016", "not_delegated"),  # delegated in 2015 persists
           _new("DDD", "2015", "delegated"),  # would persist into 2016, where a source says joint
           _new("EEE", "2015", "delegated"),  # newly authorised for 2016, so not delegated in 2015
           _new("FFF", "2016", "delegated")]  # nothing known
    out = importer.find_conflicts(new, existing).conflicts
    assert [re.match(r"(\S+) .* (\d{4}): file says", c).group(1, 2) for c in out] == [
        ("AAA", "2016"), ("BBB", "2015"), ("CCC", "2016"), ("DDD", "2015"), ("EEE", "2015")]
    assert "existing sources say ['delegated']" in out[0]
    assert levels.RULE_NEWLY_AUTHORISED in out[-1]


def test_csv_saved_by_excel_in_cp1252_is_read(tmp_path, capsys):
    src = tmp_path / "windows.csv"
    src.write_bytes("CCG name,Level\r\n"
                    "\"NHS West London (Kensington and Chelsea, Queen\u2019s Park and Paddington) CCG\",joint\r\n"
                    .encode("cp1252"))
    into = tmp_path / "imported.csv"
    rc, out = run_import(capsys, str(src), "--year", "2015", "--into", str(into), "--no-build")
    assert rc == 0, out
    assert written(into)[["ods_code", "level"]].values.tolist() == [["08Y", "joint"]]
