"""Data a user can rely on: the table's CSV, the ZIP with its data package and ``geodata export-csv`` say what
every column means, tell a level set aside from one with no source, give each source its own title and URL
columns, validate as a Frictionless Data Package, and hold the same rows whichever channel wrote them."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import zipfile
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import pytest
from frictionless import validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import shares as shares_cli
from dashboard.page import layout, table
from dashboard.state import ViewState
from dashboard.summaries import flat
from geodata.__main__ import main
from geodata.table_export import (
    IDENTITY,
    NO_SOURCE,
    SET_ASIDE,
    SET_ASIDE_LABEL,
    SHARES_FILE,
    TRAILING,
    columns,
    flat_table,
    split_sources,
)
from geodata.vocabulary import EVIDENCE_CHOICES, LEVEL_LABEL, UNKNOWN, YEARS

PROJECT_LEVELS = Path(__file__).resolve().parent.parent / "geodata" / "levels.csv"


def _read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


# -- the project's own level rows ---------------------------------------------------------------------------------


def test_every_source_url_in_the_projects_levels_is_a_whole_web_address() -> None:
    rows = pd.read_csv(PROJECT_LEVELS, dtype=str, keep_default_na=False)
    urls = rows.loc[rows["source_url"] != "", "source_url"]
    assert urls.str.fullmatch(r"https?://\S+").all(), urls[~urls.str.fullmatch(r"https?://\S+")].tolist()
    cut = urls[urls.str.endswith(("...", "\u2026"))]
    assert cut.empty, f"source URLs cut short: {cut.tolist()}"
    # A row whose link was dropped keeps its title and says so, so a reader can still find the document.
    linkless = rows[rows["source_url"] == ""]
    assert (linkless["source_title"].str.strip() != "").all()
    assert linkless["note"].str.contains("Link dropped").all(), linkless["note"].tolist()


# -- the derivation, on a constructed atlas whose answer is written out here ----------------------------------------


def _constructed() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four CCGs, 2015/16: stated operating (A), approved only (B), no source (C), joint implied with a stated
    'not delegated' approved (D). 2016/17: A delegated with two sources, one a rule; the rest unknown."""
    codes = ["E38000901", "E38000902", "E38000903", "E38000904"]
    t = pd.DataFrame({c: [f"{c}-{i}" for i in range(4)] for c in IDENTITY + TRAILING})
    t["ccg_code"], t["ods_code"] = codes, ["0A1", "0B2", "0C3", "0D4"]
    t["imd_score"], t["imd_rank"], t["imd_quintile"], t["population"] = [1.5] * 4, [1, 2, 3, 4], [1] * 4, [10] * 4
    t["level_2015"] = ["delegated", "delegated", UNKNOWN, "joint"]
    t["claim_2015"] = ["operating", "approved", "", "implied"]
    t["source_2015"] = ["S1 (2015) <https://a.example/1>", "S2 <https://b.example/2>", "",
                        "S4 joint (2016-01) <https://d.example/4> | S5 not delegated <https://d.example/5>"]
    t["level_2015_approved"] = ["delegated", "delegated", UNKNOWN, "not_delegated"]
    t["level_2015_operating"] = ["delegated", UNKNOWN, UNKNOWN, UNKNOWN]
    t["level_2016"] = ["delegated", UNKNOWN, UNKNOWN, UNKNOWN]
    t["claim_2016"] = ["rule", "", "", ""]
    t["source_2016"] = ["X (2015-12) <http://x.example> | rule:delegated_persists: Y <https://y.example>", "", "", ""]
    for choice in ("approved", "operating"):
        t[f"level_2016_{choice}"] = [UNKNOWN] * 4
    level_rows = pd.DataFrame({"ods_code": ["0D4", "0D4"], "year": ["2015", "2015"],
                               "level": ["joint", "not_delegated"], "claim": ["implied", "approved"]})
    return t.set_index("ccg_code", drop=False), level_rows


def test_any_evidence_keeps_every_sourced_level_and_marks_the_inferred_ones() -> None:
    t, rows = _constructed()
    f = flat_table(t, "any", rows)
    assert f["level_2015"].tolist() == ["delegated", "delegated", UNKNOWN, "joint"]
    assert f["level_2015_status"].tolist() == ["known", "known", NO_SOURCE, "known"]
    assert f["level_2015_words"].tolist() == [LEVEL_LABEL["delegated"]] * 2 + [LEVEL_LABEL[UNKNOWN],
                                                                              LEVEL_LABEL["joint"]]
    assert f["inferred_2015"].tolist() == [False, False, False, True]
    assert f["inferred_2016"].tolist() == [True, False, False, False]  # the rule
    assert (f["set_aside_level_2015"] == "").all() and (f["evidence_choice"] == "any").all()


def test_operating_only_sets_aside_what_it_does_not_admit_and_says_so_apart_from_no_source() -> None:
    t, rows = _constructed()
    f = flat_table(t, "operating", rows)
    assert f["level_2015"].tolist() == ["delegated", UNKNOWN, UNKNOWN, UNKNOWN]
    assert f["level_2015_status"].tolist() == ["known", SET_ASIDE, NO_SOURCE, SET_ASIDE]
    assert f["level_2015_words"].tolist() == [LEVEL_LABEL["delegated"], SET_ASIDE_LABEL, "Unknown: no source found",
                                              SET_ASIDE_LABEL]
    assert f["claim_2015"].tolist() == ["operating", "", "", ""]
    assert f["set_aside_level_2015"].tolist() == ["", "delegated", "", "joint"]
    assert f["set_aside_claim_2015"].tolist() == ["", "approved", "", "implied"]
    assert f["level_2016_status"].tolist() == [SET_ASIDE, NO_SOURCE, NO_SOURCE, NO_SOURCE]
    assert not f["inferred_2016"].any()


def test_approved_narrows_a_level_to_what_its_stated_source_says_with_that_sources_claim() -> None:
    t, rows = _constructed()
    d = flat_table(t, "approved", rows).loc["E38000904"]
    assert (d["level_2015"], d["level_2015_status"], d["claim_2015"]) == ("not_delegated", "known", "approved")
    assert (d["set_aside_level_2015"], d["set_aside_claim_2015"]) == ("joint", "implied")
    assert d["level_2015_words"] == LEVEL_LABEL["not_delegated"] and not d["inferred_2015"]


def test_each_source_gets_its_own_title_and_url_columns() -> None:
    t, rows = _constructed()
    f = flat_table(t, "any", rows)
    assert [c for c in f.columns if c.startswith("source_2016_")] == [
        "source_2016_1_title", "source_2016_1_url", "source_2016_2_title", "source_2016_2_url"]
    a = f.loc["E38000901"]
    assert (a["source_2016_1_title"], a["source_2016_1_url"]) == ("X (2015-12)", "http://x.example")
    assert (a["source_2016_2_title"], a["source_2016_2_url"]) == ("rule:delegated_persists: Y", "https://y.example")
    assert (f.loc["E38000902", ["source_2015_2_title", "source_2015_2_url"]] == "").all()
    with pytest.raises(ValueError, match="evidence"):
        flat_table(t, "hearsay", rows)


# -- the real atlas: every channel, one set of rows ------------------------------------------------------------------


@pytest.mark.parametrize("evidence", list(EVIDENCE_CHOICES))
def test_no_source_found_is_said_only_where_no_source_is_cited(service, evidence) -> None:  # noqa: ANN001
    f = flat(service, evidence)
    t = service.table
    for y in YEARS:
        said_none = f[f"level_{y}_words"] == LEVEL_LABEL[UNKNOWN]
        assert (t.loc[said_none, f"source_{y}"] == "").all(), "a CCG with a source called 'no source found'"
        set_aside = (t[f"level_{y}"] != UNKNOWN) & (f[f"level_{y}"] == UNKNOWN)
        assert (f[f"level_{y}_status"] == SET_ASIDE).equals(set_aside)
        assert (f.loc[set_aside, f"level_{y}_words"] == SET_ASIDE_LABEL).all()
        if evidence == "any":
            assert not set_aside.any()
    if evidence == "operating":
        assert (f["level_2016_status"] == SET_ASIDE).sum() > 0  # the real atlas has levels this choice sets aside


def test_source_columns_hold_exactly_the_sources_of_the_merged_cell(service) -> None:  # noqa: ANN001
    f = flat(service, "any")
    slots = sum(1 for c in f.columns if re.fullmatch(r"source_2016_\d+_title", c))
    for y in YEARS:
        for _, r in f.iterrows():
            pairs = [(r[f"source_{y}_{n}_title"], r[f"source_{y}_{n}_url"] or None) for n in range(1, slots + 1)]
            assert [p for p in pairs if p != ("", None)] == split_sources(r[f"source_{y}"])
            assert all(" | " not in str(p[0]) for p in pairs)


def test_the_tables_rows_are_the_downloads_rows(service) -> None:  # noqa: ANN001
    for evidence in EVIDENCE_CHOICES:
        f = flat(service, evidence)
        for row in table.rows(service, evidence):
            for key, value in row.items():
                assert f.at[row["ccg_code"], key] == value, (evidence, row["ccg_code"], key)


def _validate(descriptor: Path) -> None:
    report = validate(str(descriptor))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]


def test_export_csv_datapackage_validates_and_describes_every_column(atlas_dir, atlas, tmp_path,
                                                                     capsys) -> None:  # noqa: ANN001
    out, folder = tmp_path / "atlas.csv", tmp_path / "pkg"
    assert main(["--atlas", str(atlas_dir), "export-csv", str(out), "--evidence", "operating",
                 "--datapackage", str(folder)]) == 0
    assert "datapackage.json" in capsys.readouterr().out
    assert (folder / "atlas.csv").read_bytes() == out.read_bytes()
    _validate(folder / "datapackage.json")
    desc = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    assert desc["licenses"][0]["name"] == "OGL-UK-3.0"
    assert desc["attributions"] == atlas.attributions and any("Crown copyright" in a for a in desc["attributions"])
    assert desc["atlas"] == {"build_id": atlas.build_id, "built_at": atlas.manifest["built_at"]}
    assert desc["view"]["evidence"] == "operating" and desc["view"]["rows"] == 209
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    fields = desc["resources"][0]["schema"]["fields"]
    assert [f["name"] for f in fields] == list(df.columns)
    assert all(f["description"].strip() for f in fields)
    codes = next(f for f in fields if f["name"] == "level_2016")
    assert all(f"{c} = {LEVEL_LABEL[c]}" in codes["description"] for c in LEVEL_LABEL)  # both vocabularies said
    assert (df["evidence_choice"] == "operating").all()
    assert desc["vocabularies"]["level"] == LEVEL_LABEL and set(desc["vocabularies"]["level_status"]) == {
        "known", SET_ASIDE, NO_SOURCE}


def test_a_damaged_package_fails_validation(atlas_dir, tmp_path) -> None:  # noqa: ANN001
    """The validation above can fail: a level outside the codes, or a CSV changed after its descriptor was made."""
    folder = tmp_path / "pkg"
    assert main(["--atlas", str(atlas_dir), "export-csv", str(tmp_path / "a.csv"), "--datapackage", str(folder)]) == 0
    path = folder / "a.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(",delegated,", ",devolved,", 1), encoding="utf-8")
    report = validate(str(folder / "datapackage.json"))
    assert not report.valid
    kinds = {e[0] for e in report.flatten(["type"])}
    assert "constraint-error" in kinds or "hash-count" in kinds, kinds


def test_page_zip_validates_and_holds_the_csv_of_the_view(dash_app, atlas_dir, tmp_path) -> None:  # noqa: ANN001
    client = dash_app.server.test_client()
    query = "?year=2016&region=London&evidence=approved"
    resp = client.get(f"/export.zip{query}")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert 'filename="ccg-cocommissioning-data-2016-london-approved-only.zip"' in resp.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(resp.get_data())) as z:
        assert sorted(z.namelist()) == ["ccg-cocommissioning-table-2016-london-approved-only.csv", "datapackage.json"]
        z.extractall(tmp_path)
    _validate(tmp_path / "datapackage.json")
    desc = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    assert desc["view"]["query"] == query and desc["view"]["regions"] == ["London"]
    assert desc["view"]["evidence"] == "approved"
    zipped = (tmp_path / "ccg-cocommissioning-table-2016-london-approved-only.csv").read_text(encoding="utf-8")
    page_csv = client.get(f"/export.csv{query}")
    assert page_csv.status_code == 200 and page_csv.get_data(as_text=True) == zipped
    rows = _read(zipped)
    assert len(rows) == desc["view"]["rows"] == 32 and set(rows["region"]) == {"London"}
    out = tmp_path / "all.csv"
    assert main(["--atlas", str(atlas_dir), "export-csv", str(out), "--evidence", "approved"]) == 0
    everyone = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("ccg_code", drop=False)
    # The command line writes the same rows for the same evidence choice; the page adds the sampler's shares.
    shares = [c for c in rows.columns if c.startswith("share_delegated_")]
    assert shares == ["share_delegated_2015", "share_delegated_2016"]
    assert everyone.loc[rows["ccg_code"]].reset_index(drop=True).equals(rows.drop(columns=shares))
    stated = rows["level_2016_status"] == "known"
    assert (rows.loc[stated, "share_delegated_2016"] == "").all()
    assert (rows.loc[~stated, "share_delegated_2016"] != "").all()


def test_downloads_refuse_a_view_they_cannot_make(dash_app) -> None:  # noqa: ANN001
    client = dash_app.server.test_client()
    for path in ("/export.csv", "/export.zip"):
        resp = client.get(f"{path}?year=2099&region=London")
        assert resp.status_code == 400 and "year '2099'" in resp.get_data(as_text=True)
    selected = _read(client.get("/export.csv?year=2016&area_team=Greater%20Manchester&imd=1-2&ccg=E38000024")
                     .get_data(as_text=True))
    assert selected["ccg_code"].tolist() == ["E38000024"]  # what the table lists: the selection


def test_page_offers_the_zip_beside_the_csv_for_its_view(service) -> None:  # noqa: ANN001
    state = ViewState(year=2015, regions=("London",), evidence="operating")
    page = layout.page(service, state)
    link, button = page["table-zip"], page["table-csv"]
    assert link.children == "Download data (ZIP)"
    assert link.href == "/export.zip?year=2015&region=London&evidence=operating"
    assert link.download == "ccg-cocommissioning-data-2015-london-operating-only.zip"
    assert getattr(button, "data-href") == "/export.csv?year=2015&region=London&evidence=operating"


def test_download_columns_are_described_once() -> None:
    names = [c.name for c in columns(2)]
    assert len(names) == len(set(names))
    contract = ["ccg_code", "ods_code", "ccg_name", "area_team", "area_team_code", "region", "local_office",
                "imd_score", "imd_rank", "imd_quintile", "population", "level_2015", "level_2016", "source_2015",
                "source_2016", "claim_2015", "claim_2016"]
    assert not set(contract) - set(names)


def test_csv_cells_cannot_run_as_formulas_in_the_page_download(dash_app) -> None:  # noqa: ANN001
    text = dash_app.server.test_client().get("/export.csv?year=2016").get_data(as_text=True)
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert len(cells) > 209 and not [c for c in cells if c[:1] in ("=", "+", "@")]


def test_claim_words_are_the_details_panels(service) -> None:  # noqa: ANN001
    from dashboard.summaries import details

    f = flat(service, "any")
    for code in f.index[f["claim_2016"] == "rule"][:3].tolist() + f.index[f["claim_2015"] == "approved"][:3].tolist():
        panel = {year: words for year, _, _, words in details(service, code)["years"]}
        assert (f.at[code, "claim_2015_words"], f.at[code, "claim_2016_words"]) == (panel["2015/16"], panel["2016/17"])


QUERY_VALUES = st.sampled_from(["2015", "2016", "2099", "London", "North", "Greater Manchester", "E39000018",
                                "Atlantis", "1-2", "3-3", "0-9", "E38000024", "E38000001", "E38999999", "level",
                                "change", "share", "map", "any", "approved", "operating", "hearsay", "", "%FF"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(st.sampled_from(["year", "area_team", "region", "imd", "ccg", "view", "evidence",
                                                 "utm_source"]), QUERY_VALUES), max_size=5),
       path=st.sampled_from(["/export.csv", "/export.zip"]))
def test_downloads_answer_a_file_or_a_400_naming_the_value_never_a_500(dash_app, pairs, path) -> None:  # noqa: ANN001
    from dashboard.state import parse_query

    query = urlencode(pairs)
    resp = dash_app.server.test_client().get(path, query_string=query)
    kept = urlencode([(k, v) for k, v in pairs if k != "utm_source"])  # a parameter the page does not use is ignored
    refused = bool(parse_query(kept, dash_app.server.extensions["atlas_service"].vocabulary).notices)
    assert resp.status_code == (400 if refused else 200), (query, resp.get_data(as_text=True)[:200])


@pytest.mark.parametrize("evidence", ["any", "operating"])
def test_export_csv_gives_the_pages_shares_once_they_are_written_beside_the_atlas(
        dash_app, atlas_dir, atlas, tmp_path, capsys, evidence) -> None:  # noqa: ANN001
    """``python -m dashboard.shares`` writes the counted shares beside (a copy of) the atlas; ``export-csv`` then
    has the page CSV's ``share_delegated_*`` columns, cell for cell; a file of another build is not used."""
    copy = tmp_path / "atlas"
    shutil.copytree(atlas_dir, copy)
    out = tmp_path / "all.csv"
    assert main(["--atlas", str(copy), "export-csv", str(out), "--evidence", evidence]) == 0
    assert "no share_delegated_* columns" in capsys.readouterr().err
    assert not any(c.startswith("share_") for c in pd.read_csv(out, nrows=0).columns)
    assert shares_cli.main(["--atlas", str(copy)]) == 0
    assert shares_cli.main(["--atlas", str(copy), "--ensure"]) == 0 and "is current" in capsys.readouterr().out
    assert main(["--atlas", str(copy), "export-csv", str(out), "--evidence", evidence,
                 "--datapackage", str(tmp_path / "pkg")]) == 0
    _validate(tmp_path / "pkg" / "datapackage.json")  # the share columns are described and within 0..1
    cli = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("ccg_code", drop=False)
    page = _read(dash_app.server.test_client().get(f"/export.csv?evidence={evidence}").get_data(as_text=True))
    assert len(page) == len(cli) == 209
    assert cli.loc[page["ccg_code"]].reset_index(drop=True).equals(page)
    opened = page["level_2015_status"] != "known"
    assert (page.loc[opened, "share_delegated_2015"] != "").all() and opened.any()
    # a shares file counted for another build is stale: export-csv leaves the columns out and says why
    stale = (copy / SHARES_FILE).read_text(encoding="utf-8").replace(str(atlas.build_id), "other-build")
    (copy / SHARES_FILE).write_text(stale, encoding="utf-8")
    assert main(["--atlas", str(copy), "export-csv", str(out), "--evidence", evidence]) == 0
    assert "counted for another build" in capsys.readouterr().err
    assert not any(c.startswith("share_") for c in pd.read_csv(out, nrows=0).columns)

