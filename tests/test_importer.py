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


#: The rows of LIST that can be written: matched, understood, contradicting nothing.
GOOD = [(n, lvl, ods) for n, lvl, ods in LIST if ods in WRITTEN_2016]
#: Row numbers (the header is row 1) of LIST's bad rows, and what is wrong with each.
BAD_ROWS = {i + 2: ("CONFLICT" if ods in CONFLICTS_2016 else "NOT MATCHED" if ods is None else "LEVEL NOT UNDERSTOOD")
            for i, (_, _, ods) in enumerate(LIST) if ods not in WRITTEN_2016}


def write_list(path: Path, rows: list[tuple] = LIST) -> Path:
    df = pd.DataFrame([(n, lvl) for n, lvl, _ in rows], columns=["CCG name", "Co-commissioning level"])
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

def test_a_partly_bad_list_writes_nothing_and_names_each_bad_row(tmp_path, capsys, project_levels):
    src = write_list(tmp_path / "nhse_2016.csv")
    into = tmp_path / "imported.csv"
    before = project_levels.read_bytes()
    rc, out = run_import(capsys, str(src), "--year", "2016", "--into", str(into), "--no-build")
    assert rc == 3  # the user must look
    assert not into.exists(), "a partly bad list wrote rows"
    assert project_levels.read_bytes() == before
    reported = {int(m.group(1)): m.group(2) for m in re.finditer(r"^  row (\d+): ([A-Z ]+):", out, re.M)}
    assert reported == BAD_ROWS
    assert "'Made Up Nowhere Health Board'" in out and "'Wibble'" in out
    assert any("03N" in line and "file says joint" in line and "delegated" in line for line in out.splitlines())
    assert any("08F" in line and levels.RULE_DELEGATED_PERSISTS in line for line in out.splitlines())
    assert f"nothing written: {len(BAD_ROWS)} problems with nhse_2016.csv" in out and "unchanged" in out


def test_csv_import_of_a_clean_list_writes_sourced_rows(tmp_path, capsys, project_levels, sources_root):
    src = write_list(tmp_path / "nhse_2016.csv", GOOD)
    into = tmp_path / "imported.csv"
    before = project_levels.read_bytes()
    rc, out = run_import(capsys, str(src), "--year", "2016", "--into", str(into), "--no-build")
    assert rc == 0, out
    rows = written(into)
    assert dict(zip(rows["ods_code"], rows["level"])) == WRITTEN_2016
    assert (rows["year"] == "2016").all()
    assert (rows["evidence"] == "imported").all()
    assert (rows["source_title"] == "Imported list nhse_2016.csv").all()
    assert (rows["source_url"] == "").all()  # no address given: the title and note name the file
    assert rows["note"].str.contains("nhse_2016.csv").all()
    assert rows.set_index("ods_code").at["13T", "ccg_name"] == "NHS Newcastle Gateshead CCG"
    # the written file is a valid levels table; the project's table was not touched
    levels.validate_rows(rows, sources.read_ccg15_codes(sources_root)["ods_code"])
    assert project_levels.read_bytes() == before


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", "data:text/html,<script>x</script>",
                                 "file:///etc/passwd", "nhse_2016.csv", "/lists/2016.csv", "//evil.example/x",
                                 "https://", "https://exa mple.org/", "ftp://example.org/list.csv"])
def test_a_source_url_must_be_http_or_https(tmp_path, capsys, url):
    src = write_list(tmp_path / "nhse_2016.csv", GOOD)
    into = tmp_path / "imported.csv"
    rc = main(["import-levels", str(src), "--year", "2016", "--into", str(into), "--no-build", "--source-url", url])
    err = capsys.readouterr().err
    assert rc == 2 and "--source-url must be an http:// or https:// address" in err
    assert not into.exists()


def test_an_http_source_url_is_kept(tmp_path, capsys):
    src = write_list(tmp_path / "nhse_2016.csv", GOOD)
    into = tmp_path / "imported.csv"
    url = "https://www.england.nhs.uk/commissioning/pc-co-comms/"
    rc, _ = run_import(capsys, str(src), "--year", "2016", "--into", str(into), "--no-build", "--source-url", url)
    assert rc == 0 and (written(into)["source_url"] == url).all()


def test_xlsx_import_gives_the_same_rows(tmp_path, capsys):
    into = tmp_path / "imported.csv"
    rc, out = run_import(capsys, str(write_list(tmp_path / "bad.xlsx")), "--year", "2016", "--into", str(into),
                         "--no-build")
    assert rc == 3 and not into.exists()
    assert {int(n) for n in re.findall(r"^  row (\d+):", out, re.M)} == set(BAD_ROWS)  # spreadsheet rows
    src = write_list(tmp_path / "nhse_2016.xlsx", GOOD)
    rc, out = run_import(capsys, str(src), "--year", "2016", "--into", str(into), "--no-build",
                         "--source-title", "NHS England list (xlsx)", "--source-date", "2015-12-17")
    assert rc == 0, out
    rows = written(into)
    assert dict(zip(rows["ods_code"], rows["level"])) == WRITTEN_2016
    assert (rows["source_title"] == "NHS England list (xlsx)").all()
    assert (rows["source_date"] == "2015-12-17").all()
    assert (rows["evidence"] == "imported").all()


def test_rest_that_contradicts_a_source_writes_nothing(tmp_path, capsys, sources_root):
    src = tmp_path / "joint_2015.csv"
    pd.DataFrame({"CCG": ["Airedale, Wharfedale & Craven"], "Level": ["joint"]}).to_csv(src, index=False)
    into = tmp_path / "imported.csv"
    rc, out = run_import(capsys, str(src), "--year", "2015", "--rest", "none", "--into", str(into), "--no-build")
    assert rc == 3 and not into.exists()
    conflicted = {line.split("CONFLICT (--rest none): ")[1].split()[0] for line in out.splitlines()
                  if "CONFLICT (--rest none)" in line}
    assert "02R" in conflicted  # delegated in 2015 per HSJ, so not 'none'
    assert "00K" not in conflicted  # Pulse: not delegated in 2015, which agrees with none
    assert "02N" not in conflicted  # listed, so never given the --rest level


def test_import_then_build_uses_the_imported_rows(tmp_path, capsys, sources_root, fast_geometry):
    """Without --no-build the atlas is rebuilt with the --into table, and it builds: no conflict got through."""
    src = write_list(tmp_path / "nhse_2016.csv", GOOD)
    into = tmp_path / "imported.csv"
    out_dir = tmp_path / "atlas"
    rc = main(["--sources", str(sources_root), "--atlas", str(out_dir), "import-levels", str(src), "--year", "2016",
               "--into", str(into)])
    assert rc == 0
    assert "atlas " in capsys.readouterr().out
    t = read_atlas(out_dir).table.set_index("ods_code")
    assert t.at["02N", "level_2016"] == "joint"
    assert "Imported list nhse_2016.csv" in t.at["02N", "source_2016"]
    assert t.at["13T", "level_2016"] == "joint"
    assert "Imported list nhse_2016.csv" in t.at["00K", "source_2016"]  # agrees with Pulse: both sources kept
    assert "Over 50 more CCGs" in t.at["00K", "source_2016"]
    assert t.at["03N", "level_2016"] == "delegated"
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
