"""Co-commissioning levels: validation, merging of sourced rows, the two stated rules, and the published
totals the atlas must never exceed (on the real data and on small constructed tables)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import snapshot

from geodata import build, levels, sources

# --- helpers for constructed level rows ---------------------------------------------------------------------


def rows(*specs: tuple, file: str = "test.csv") -> pd.DataFrame:
    """Raw level rows as ``read_levels_file`` returns them: (ods, year, level, source title[, url])."""
    out = []
    for n, spec in enumerate(specs):
        ods, year, level, title, *url = spec
        out.append({"ods_code": ods, "ccg_name": f"NHS {ods} CCG", "year": str(year), "level": level,
                    "evidence": "explicit", "source_title": title, "source_url": url[0] if url else "",
                    "source_date": "2015-03", "note": "", "claim": "approved", "file": file, "row": n + 2})
    return pd.DataFrame(out)


def merged(*specs: tuple) -> pd.DataFrame:
    """Merged levels (one per CCG and year) in the layout the rules take."""
    return pd.DataFrame([{"ods_code": o, "year": y, "level": lvl, "source": "a source", "evidence": "explicit",
                          "claim": "approved", "n_sources": 1} for o, y, lvl in specs], columns=levels.MERGED_COLUMNS)


def level_of(frame: pd.DataFrame, ods: str, year: int) -> pd.Series:
    hit = frame[(frame["ods_code"] == ods) & (frame["year"] == year)]
    assert len(hit) == 1, f"{ods} {year}: {len(hit)} rows"
    return hit.iloc[0]


# --- the real levels ----------------------------------------------------------------------------------------

def test_every_level_row_names_one_of_the_209_ccgs(atlas):
    lr = atlas.level_rows
    assert len(lr) >= 163  # the shared file's rows, plus the project's own
    assert set(lr["ods_code"]) <= set(atlas.table["ods_code"])
    assert set(lr["level"]) <= set(levels.LEVELS)
    assert set(lr["year"]) <= {"2015", "2016"}
    assert (lr["source_title"].str.strip() + lr["source_url"].str.strip() != "").all()
    assert "levels_by_ccg.csv" in {Path(f).name for f in lr["file"]}


def test_atlas_levels_are_in_the_vocabulary_with_a_source_where_known(atlas):
    t = atlas.table
    for year in levels.YEARS:
        assert set(t[f"level_{year}"]) <= set(levels.VOCABULARY)
        known = t[f"level_{year}"] != levels.UNKNOWN
        assert (t.loc[known, f"source_{year}"].str.strip() != "").all()
        assert (t.loc[~known, f"source_{year}"] == "").all()
        assert known.sum() >= 78  # at least the CCGs the shared file covers for the year
    assert atlas.manifest["coverage"]["2016"]["delegated"] == int((t["level_2016"] == "delegated").sum())


def test_one_level_per_ccg_and_year_that_every_row_agrees_with(atlas):
    """No CCG has two levels in a year, and the atlas level is what each of its rows says (or more precise)."""
    lr = atlas.level_rows.assign(row=0)
    m = levels.merge_levels(levels.validate_rows(lr, atlas.table["ods_code"]))
    assert not m.duplicated(["ods_code", "year"]).any()
    t = atlas.table.set_index("ods_code")
    for _, r in lr.iterrows():
        got = t.at[r["ods_code"], f"level_{r['year']}"]
        if r["level"] == "not_delegated":
            assert got in levels.LOWER_LEVELS | {"not_delegated"}, (r["ods_code"], r["year"], got)
        else:
            assert got == r["level"], (r["ods_code"], r["year"], got)
        assert r["source_title"].strip() in t.at[r["ods_code"], f"source_{r['year']}"]


def test_real_not_delegated_rows_give_way_to_the_specific_level_keeping_both_sources(atlas):
    lr = atlas.level_rows
    groups = lr.groupby(["ods_code", "year"])["level"].apply(set)
    mixed = groups[groups.map(lambda s: "not_delegated" in s and len(s) == 2)]
    assert len(mixed) >= 2  # 11J Dorset 2015 (joint), 09D Brighton and Hove 2016 (greater involvement)
    t = atlas.table.set_index("ods_code")
    for (ods, year), lvls in mixed.items():
        assert t.at[ods, f"level_{year}"] == (lvls - {"not_delegated"}).pop()
        titles = lr.loc[(lr["ods_code"] == ods) & (lr["year"] == year), "source_title"]
        for title in titles:
            assert title.strip() in t.at[ods, f"source_{year}"]
        assert " | " in t.at[ods, f"source_{year}"]


# --- validation, merging ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("bad", "column", "value"), [
    ({"ods_code": "ZZZ"}, "ods_code", "'ZZZ'"),
    ({"level": "full"}, "level", "'full'"),
    ({"year": "2017"}, "year", "'2017'"),
    ({"evidence": "hearsay"}, "evidence", "'hearsay'"),
    ({"source_title": " ", "source_url": ""}, "source_title", "row 3"),
])
def test_validate_rows_names_file_column_and_values(bad, column, value):
    raw = rows(("00C", 2015, "joint", "Title A"), ("00D", 2016, "delegated", "Title B"), file="mine.csv")
    for k, v in bad.items():
        raw.loc[1, k] = v
    with pytest.raises(sources.SourceError) as err:
        levels.validate_rows(raw, ["00C", "00D"])
    msg = str(err.value)
    assert "mine.csv" in msg and f"column '{column}'" in msg and value in msg
    assert "row 3" in msg


def test_contradicting_rows_stop_naming_both_sources():
    raw = pd.concat([rows(("00C", 2016, "delegated", "Pulse list", "https://pulse.example/1"), file="a.csv"),
                     rows(("00C", 2016, "joint", "CCG board paper", "https://ccg.example/2"), file="b.csv")])
    with pytest.raises(sources.SourceError) as err:
        levels.merge_levels(levels.validate_rows(raw, ["00C"]))
    msg = str(err.value)
    for part in ("00C", "2016", "Pulse list", "CCG board paper", "a.csv", "b.csv", "delegated", "joint"):
        assert part in msg


def test_delegated_and_not_delegated_contradict():
    raw = rows(("00C", 2015, "delegated", "Source A"), ("00C", 2015, "not_delegated", "Source B"))
    with pytest.raises(sources.SourceError, match="Source A.*Source B"):
        levels.merge_levels(levels.validate_rows(raw, ["00C"]))


def test_agreeing_rows_keep_both_sources():
    raw = rows(("00C", 2015, "joint", "Source A", "https://a.example"), ("00C", 2015, "joint", "Source B"))
    m = levels.merge_levels(levels.validate_rows(raw, ["00C"]))
    r = level_of(m, "00C", 2015)
    assert r["level"] == "joint" and r["n_sources"] == 2
    assert "Source A" in r["source"] and "Source B" in r["source"] and "https://a.example" in r["source"]


@pytest.mark.parametrize("specific", ["joint", "greater_involvement", "none"])
def test_not_delegated_and_a_lower_level_merge_to_the_lower_level(specific):
    raw = rows(("00C", 2015, "not_delegated", "Source A"), ("00C", 2015, specific, "Source B"))
    r = level_of(levels.merge_levels(levels.validate_rows(raw, ["00C"])), "00C", 2015)
    assert r["level"] == specific
    assert "Source A" in r["source"] and "Source B" in r["source"]


def test_contradicting_rows_stop_the_real_build(tmp_path, sources_root):
    """A project file saying joint where Pulse says delegated (00C Darlington 2016) stops the build."""
    extra = tmp_path / "extra.csv"
    extra.write_text(",".join(sources.LEVEL_COLUMNS) + "\n"
                     "00C,NHS Darlington CCG,2016,joint,explicit,Darlington CCG board minutes,"
                     "https://example.org/minutes,2016-05,test,operating\n", encoding="utf-8")
    out = tmp_path / "atlas"
    with pytest.raises(sources.SourceError) as err:
        build.build(root=sources_root, out=out, extra_levels=[extra])
    msg = str(err.value)
    assert "contradicting levels for 00C in 2016" in msg
    assert "Over 50 more CCGs to commission GP services from April (Pulse)" in msg
    assert "Darlington CCG board minutes" in msg and str(extra) in msg and "levels_by_ccg.csv" in msg
    assert not out.exists()


# --- the rules ----------------------------------------------------------------------------------------------

def test_rule_delegated_persists():
    m = merged(("AAA", 2015, "delegated"), ("BBB", 2015, "delegated"), ("BBB", 2016, "delegated"),
               ("CCC", 2015, "joint"), ("DDD", 2016, "delegated"))
    new = levels.rule_delegated_persists(m)
    assert new["ods_code"].tolist() == ["AAA"]
    r = new.iloc[0]
    assert (r["year"], r["level"], r["evidence"]) == (2016, "delegated", "rule")
    assert r["source"].startswith(levels.RULE_DELEGATED_PERSISTS)
    assert "england.nhs.uk" in r["source"]


def test_rule_delegated_persists_stops_on_a_source_saying_otherwise():
    m = merged(("AAA", 2015, "delegated"), ("AAA", 2016, "joint"))
    with pytest.raises(sources.SourceError, match=f"AAA.*{levels.RULE_DELEGATED_PERSISTS}"):
        levels.rule_delegated_persists(m)


def test_rule_newly_authorised():
    m = merged(("AAA", 2016, "delegated"), ("BBB", 2016, "delegated"), ("BBB", 2015, "joint"),
               ("CCC", 2016, "delegated"))
    new = levels.rule_newly_authorised(m, {"AAA", "BBB"})
    assert new["ods_code"].tolist() == ["AAA"]  # BBB has a sourced 2015 level; CCC is not on the list
    r = new.iloc[0]
    assert (r["year"], r["level"], r["evidence"]) == (2015, "not_delegated", "rule")
    assert r["source"].startswith(levels.RULE_NEWLY_AUTHORISED)
    with pytest.raises(sources.SourceError, match=levels.RULE_NEWLY_AUTHORISED):
        levels.rule_newly_authorised(merged(("AAA", 2015, "delegated")), {"AAA"})


def test_newly_authorised_comes_from_the_december_2015_lists_only():
    raw = levels.validate_rows(rows(
        ("AAA", 2016, "delegated", "Pulse", "https://www.pulsetoday.co.uk/news/x/20030779.article"),
        ("BBB", 2016, "delegated", "CCG paper", "https://bbb.example/paper"),
        ("CCC", 2015, "delegated", "Pulse", "https://www.pulsetoday.co.uk/news/x/20030779.article"),
    ), ["AAA", "BBB", "CCC"])
    assert levels.newly_authorised_2016(raw) == {"AAA"}


def test_resolve_levels_applies_the_rules_and_leaves_the_rest_unknown():
    raw = levels.validate_rows(rows(
        ("AAA", 2015, "delegated", "HSJ"),
        ("BBB", 2016, "delegated", "Pulse", "https://www.pulsetoday.co.uk/news/x/20030779.article"),
    ), ["AAA", "BBB", "CCC"])
    full = levels.resolve_levels(raw, ["AAA", "BBB", "CCC"])
    assert len(full) == 6
    assert level_of(full, "AAA", 2016)["level"] == "delegated"
    assert "rule:delegated_persists" in level_of(full, "AAA", 2016)["source"]
    assert level_of(full, "BBB", 2015)["level"] == "not_delegated"
    assert "rule:newly_authorised_2016" in level_of(full, "BBB", 2015)["source"]
    for year in levels.YEARS:
        r = level_of(full, "CCC", year)
        assert r["level"] == levels.UNKNOWN and r["source"] == ""
    wide = levels.wide_levels(full).set_index("ods_code")
    assert wide.at["AAA", "level_2015"] == "delegated" and wide.at["BBB", "evidence_2015"] == "rule"


def test_rule_inferences_in_the_atlas_say_which_rule(atlas):
    t = atlas.table
    for year in levels.YEARS:
        ruled = t[t[f"evidence_{year}"] == "rule"]
        assert ruled[f"source_{year}"].str.startswith("rule:").all()
    persists = t[t["source_2016"].str.startswith(levels.RULE_DELEGATED_PERSISTS)]
    assert len(persists) > 0
    assert (persists["level_2015"] == "delegated").all() and (persists["level_2016"] == "delegated").all()


# --- published totals ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def totals(sources_root: Path) -> pd.DataFrame:
    return sources.read_totals(sources_root)


def test_no_atlas_count_exceeds_a_published_total(atlas, totals):
    assert levels.check_ceilings(atlas.reconciliation, atlas.table) == []
    rec = levels.reconcile(atlas.table, totals)
    assert levels.check_ceilings(rec, atlas.table) == []
    assert (rec["atlas"] <= rec["ceiling"]).all()


def _with_levels(table: pd.DataFrame, year: int, level: str, n: int, region: str | None = None) -> pd.DataFrame:
    t = table.copy()
    idx = t.index if region is None else t.index[t["region"] == region]
    t[f"level_{year}"] = levels.UNKNOWN
    t.loc[idx[:n], f"level_{year}"] = level
    return t


def test_seventy_delegated_in_2015_breaks_the_england_ceiling(atlas, totals):
    t = _with_levels(atlas.table, 2015, "delegated", 70)
    problems = levels.check_ceilings(levels.reconcile(t, totals), t)
    assert any("2015/16 England" in p and "70 delegated" in p and "64" in p for p in problems), problems
    # 64, the largest published figure, is allowed
    t = _with_levels(atlas.table, 2015, "delegated", 64)
    assert not [p for p in levels.check_ceilings(levels.reconcile(t, totals), t) if "England" in p]


def test_regional_ceiling_and_not_delegated_bound(atlas, totals):
    t = _with_levels(atlas.table, 2015, "delegated", 7, region="London")  # HSJ: 6 in London
    problems = levels.check_ceilings(levels.reconcile(t, totals), t)
    assert any("London" in p and "7 delegated" in p for p in problems), problems
    t = _with_levels(atlas.table, 2016, "not_delegated", 100)  # at least 114 of 209 delegated in 2016/17
    problems = levels.check_ceilings(levels.reconcile(t, totals), t)
    assert any("2016/17 England" in p and "100 CCGs not delegated" in p for p in problems), problems


def test_reconciliation_has_each_national_and_regional_total_beside_the_atlas_count(atlas, totals):
    rec = atlas.reconciliation
    scopes = {"England": None, "NHS England North region": "North",
              "NHS England Midlands and East region": "Midlands and East", "NHS England South region": "South",
              "NHS England London region": "London"}
    # published totals of CCGs at a level in 2015/16 or 2016/17 (not applications, intentions or increments)
    want = totals[totals["scope"].isin(scopes) & totals["period"].str.match(r"^(2015/16|2016/17)")
                  & ~totals["period"].str.contains("applications|intention| and ")
                  & totals["count"].str.fullmatch(r"\d+") & totals["level"].isin(levels.LEVELS)
                  & ~totals["measure"].str.endswith("_additional")]
    assert len(want) == 19
    got = {(r["source_id"], r["year"], r["scope"], r["level"], int(r["published"])) for _, r in rec.iterrows()}
    expected = {(r["source_id"], int(r["period"][:4]), scopes[r["scope"]] or "England", r["level"],
                 int(r["count"])) for _, r in want.iterrows()}
    assert got == expected
    assert {"North", "Midlands and East", "South", "London"} <= set(rec["scope"])
    t = atlas.table
    for _, r in rec.iterrows():
        scope = t if r["scope"] == "England" else t[t["region"] == r["scope"]]
        assert r["atlas"] == (scope[f"level_{r['year']}"] == r["level"]).sum()
        assert r["ccgs_in_scope"] == len(scope)


def test_reconcile_without_usable_totals_still_checks(atlas, totals):
    rec = levels.reconcile(atlas.table, totals[totals["period"].str.contains("applications")])
    assert rec.empty and "ceiling" in rec.columns
    assert levels.check_ceilings(rec, atlas.table) == []


def test_build_exceeding_a_published_total_fails_and_keeps_the_previous_atlas(atlas, existing_atlas, sources_root,
                                                                             tmp_path, fast_geometry):
    t = atlas.table
    free = t[(t["level_2015"] == levels.UNKNOWN) & (t["level_2016"] == levels.UNKNOWN)]["ods_code"][:70]
    assert len(free) == 70
    extra = tmp_path / "seventy.csv"
    pd.DataFrame([{"ods_code": o, "ccg_name": "x", "year": "2015", "level": "delegated", "evidence": "explicit",
                   "source_title": "Made-up list", "source_url": "", "source_date": "", "note": "", "claim": "approved"}
                  for o in free], columns=sources.LEVEL_COLUMNS).to_csv(extra, index=False)
    before = snapshot(existing_atlas)
    with pytest.raises(build.BuildError) as err:
        build.build(root=sources_root, out=existing_atlas, extra_levels=[extra])
    msg = str(err.value)
    assert "previous atlas kept" in msg
    found = re.search(r"2015/16 England: atlas has (\d+) delegated, published at most 64", msg)
    assert found and int(found.group(1)) >= 70, msg
    assert snapshot(existing_atlas) == before
    assert not list(existing_atlas.parent.glob(".atlas-*"))
