"""``python -m dashboard.stats``: JSON with every statistic and the stable names, written completions that meet
every published total (checked here from the raw totals, independently of the sampler), evidence choices and
helpful exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dashboard import robust, stats
from dashboard.state import ViewState
from geodata import levels, totals
from geodata.totals import ENGLAND, NEWLY_DELEGATED

D = "delegated"
CONCRETE = {2015: {D, "joint", "greater_involvement", "none", "greater_involvement_or_none"},
            2016: {D, "joint", "greater_involvement", "none"}}
PROJECT = Path(__file__).resolve().parent.parent


def at_level(year: int, level: str, l15: pd.Series, l16: pd.Series) -> pd.Series:
    """Whether each row counts towards a published total of ``level`` in ``year`` (from the definitions)."""
    if level == NEWLY_DELEGATED:
        return (l16 == D) & (l15 != D)
    if year == 2015 and level == "greater_involvement_or_none":
        return l15.isin(["greater_involvement", "none", "greater_involvement_or_none"])
    return (l15 if year == 2015 else l16) == level


def problems(table: pd.DataFrame, draws: pd.DataFrame) -> list[str]:
    """Every published total, known level and stated rule that a written draw breaks."""
    given = table[["ods_code", "region", "area_team", "level_2015", "level_2016"]].rename(
        columns={"level_2015": "given_2015", "level_2016": "given_2016"})
    m = draws.merge(given, on="ods_code", how="left", validate="many_to_one")
    out = []
    for c in totals.read_constraints():
        hit = at_level(c.year, c.level, m["level_2015"], m["level_2016"])
        if c.scope != ENGLAND:  # a region, or an area team (Surrey and Sussex's "did not apply")
            hit &= (m["region"] == c.scope) | (m["area_team"] == c.scope)
        counts = hit.groupby(m["completion"]).sum()
        if not counts.between(c.lo, c.hi).all():
            out.append(f"{c.describe()}: counts {sorted(set(counts))}")
    for year in (2015, 2016):
        got, was = m[f"level_{year}"], m[f"given_{year}"]
        if not got.isin(CONCRETE[year]).all():
            out.append(f"{year}: a level that is not concrete")
        if (~was.isin(["unknown", "not_delegated"]) & (got != was)).any():
            out.append(f"{year}: a known level changed")
        if ((was == "not_delegated") & (got == D)).any():
            out.append(f"{year}: not delegated became delegated")
    if ((m["level_2015"] == D) & (m["level_2016"] != D)).any():
        out.append("delegated in 2015/16 but not in 2016/17")
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, atlas_dir: Path) -> tuple[dict, pd.DataFrame, str]:
    """The real command, as a user runs it: JSON on stdout and the draws in a CSV."""
    csv = tmp_path_factory.mktemp("stats") / "draws.csv"
    proc = subprocess.run([sys.executable, "-m", "dashboard.stats", "--year", "2015", "--completions", "60",
                           "--seed", "1", "--json", "--atlas", str(atlas_dir), "--write-completions", str(csv)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), pd.read_csv(csv, dtype=str, keep_default_na=False), proc.stderr


def test_written_completions_meet_every_published_total_and_keep_every_known_level(written, atlas):
    _, draws, err = written
    assert list(draws.columns) == ["completion", "ods_code", "level_2015", "level_2016"]
    assert len(draws) == 60 * len(atlas.table) and draws["completion"].nunique() == 60
    assert (draws.groupby("completion")["ods_code"].nunique() == len(atlas.table)).all()
    assert problems(atlas.table, draws) == []
    never = levels.newly_authorised_2016(atlas.level_rows)
    assert not ((draws["ods_code"].isin(never)) & (draws["level_2015"] == D)).any()
    assert "wrote 12540 rows" in err


def test_json_has_every_statistic_with_the_stable_names(written):
    out, _, _ = written
    assert out["year"] == 2015 and out["evidence"] == "any" and out["completions"] == 60 and out["seed"] == 1
    assert [s["name"] for s in out["statistics"]] == list(robust.STATISTICS)
    for s in out["statistics"]:
        assert set(s["known_only"]) >= {"value", "p", "n", "not_run"}
        assert set(s["completions"]) >= {"n", "median", "p5", "p95", "p_median", "p_p5", "p_p95",
                                         "share_p_below_05", "not_run"}
        for end in ("low", "high"):
            assert set(s["extremes"][end]) >= {"value", "p", "found_by"}
            assert s["extremes"][end]["found_by"] in ("search", "exact", "enumeration", "draw")
        assert s["extremes"]["low"]["p"] <= s["completions"]["p_p5"] <= s["completions"]["p_p95"] \
            <= s["extremes"]["high"]["p"]
        assert s["verdict"]["code"] in ("holds", "no_counterexample", "most", "depends", "not_run", "untested")
        assert s["verdict"]["words"]
    assert out["headline"].endswith(".")


def test_json_states_the_prior_and_every_open_ccg_years_shares(written, atlas):
    out, _, _ = written
    assert out["prior"]["name"] == "uniform-histories" and "equally likely" in out["prior"]["description"]
    t = atlas.table
    for year in (2015, 2016):  # every open CCG-year of the filter (England) has shares adding to 1, exactly counted
        open_ = set(t.loc[t[f"level_{year}"].isin(["unknown", "not_delegated"]), "ods_code"])
        got = {ods for ods, years in out["shares"].items() if str(year) in years}
        assert got == open_, year
        for ods in open_:
            entry = out["shares"][ods][str(year)]
            assert entry["exact"] is True and abs(sum(entry["levels"].values()) - 1) < 1e-3
    not_delegated = t.loc[t["level_2015"] == "not_delegated", "ods_code"].iloc[0]
    assert D not in out["shares"][not_delegated]["2015"]["levels"]


def test_prior_flag_changes_the_draws_and_is_stated(atlas_dir, capsys):
    shares = {}
    for prior in ("two-stage", "uniform-histories"):
        code, out, _ = run(["--year", "2015", "--region", "London", "--completions", "10", "--json",
                            "--prior", prior, "--atlas", str(atlas_dir)], capsys)
        assert code == 0
        js = json.loads(out)
        assert js["prior"]["name"] == prior
        shares[prior] = js["shares"]
        assert 0 < len(js["shares"]) <= 32  # London's open CCGs only: the filter's
    assert shares["two-stage"] != shares["uniform-histories"]
    code, _, err = run(["--year", "2015", "--prior", "flat", "--atlas", str(atlas_dir)], capsys)
    assert code == 2 and "uniform-histories" in err


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = stats.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_stricter_evidence_leaves_more_ccgs_open(atlas_dir, capsys):
    opened = {}
    for evidence in ("any", "operating"):
        code, out, _ = run(["--year", "2016", "--completions", "20", "--evidence", evidence, "--json",
                            "--atlas", str(atlas_dir)], capsys)
        assert code == 0
        opened[evidence] = json.loads(out)["n_open"]
    assert opened["operating"] > opened["any"]


def test_unknown_area_team_exits_2_with_close_matches(atlas_dir, capsys):
    code, out, err = run(["--year", "2015", "--area-team", "Greater Manchster", "--atlas", str(atlas_dir)], capsys)
    assert code == 2 and out == ""
    assert "unknown area team 'Greater Manchster'" in err and "Did you mean: 'Greater Manchester'?" in err


@pytest.mark.parametrize("argv, words", [
    (["--year", "2017"], "year '2017'"),
    (["--region", "Wales"], "unknown region 'Wales'"),
    (["--imd", "0-9"], "IMD range '0-9'"),
    (["--completions", "0"], "--completions 0"),
    (["--seed", "x"], "--seed 'x'"),
    (["--evidence", "rumour"], "invalid choice"),
])
def test_bad_arguments_exit_2(atlas_dir, capsys, argv, words):
    code, _, err = run([*argv, "--atlas", str(atlas_dir)], capsys)
    assert code == 2 and words in err


def test_missing_atlas_exits_1(tmp_path, capsys):
    code, _, err = run(["--atlas", str(tmp_path / "nowhere")], capsys)
    assert code == 1 and err.startswith("error:")


def test_json_answers_the_size_question_under_stable_names(written, atlas):
    """size.binary / size.full: population by level on the known CCGs (mean difference computed here from the
    atlas), over the completions, with a verdict and its sensitivity to the prior."""
    out, _, _ = written
    by = {s["name"]: s for s in out["statistics"]}
    t = atlas.table
    known = t[(t["level_2015"] != "unknown") & t["population"].notna()]
    is_del = known["level_2015"] == D
    s = by["size.binary"]
    assert s["known_only"]["n"] == len(known)
    assert s["known_only"]["value"] == pytest.approx(known.loc[is_del, "population"].mean()
                                                     - known.loc[~is_del, "population"].mean())
    assert by["size.full"]["known_only"]["n"] == len(known)
    for name in ("size.binary", "size.full"):
        assert by[name]["label"].startswith("Size (") and by[name]["completions"]["n"] > 0
        assert by[name]["verdict"]["code"] in ("holds", "no_counterexample", "most", "depends", "not_run")
    assert {x["name"] for x in out["sensitivity"]} >= {"size.binary", "size.full"}


def test_table_prints_every_statistic_and_a_verdict_line(atlas_dir, capsys):
    code, out, _ = run(["--year", "2016", "--region", "London", "--completions", "20", "--atlas", str(atlas_dir)],
                       capsys)
    assert code == 0
    assert out.startswith("Robust statistics: 2016/17, London region (evidence: any)")
    for name in robust.STATISTICS:
        assert f"\n{name} " in out and f"\n- {name}: " in out
    assert "\nHeadline: " in out


def test_json_says_whether_each_verdict_is_the_same_under_both_priors(written, service):
    """The sensitivity block: per statistic, its verdict under each prior, computed here again under each."""
    out, _, _ = written
    state = ViewState(year=2015)
    by_prior = {p: robust.robust_for(service, state, completions=60, seed=1, prior=p)
                for p in ("uniform-histories", "two-stage")}
    assert [s["name"] for s in out["sensitivity"]] == list(robust.STATISTICS)
    for s in out["sensitivity"]:
        want = {p: r.statistic(s["name"]).verdict.code for p, r in by_prior.items()}
        assert s["verdicts"] == want and s["same"] == (len(set(want.values())) == 1)
        if not s["same"]:
            assert s["words"].startswith("depends on the assumptions")
