"""Robust statistics (dashboard.robust): constructed cases whose answer is known, the exact extremes against a
brute-force enumeration, the smooth scores against their definitions, and the real atlas (extremes bracket the
sampled p-values, search extremes keep every total, deterministic, cached, stable JSON names)."""

from __future__ import annotations

import itertools
import json

import brute
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dashboard import analysis, robust
from dashboard.analysis import PermutationTables
from dashboard.analysis.permutations import make_tables
from dashboard.completions import CompletionSampler
from dashboard.robust import extremes
from dashboard.robust import specs as specs_module
from dashboard.robust.over_completions import EXTENDED
from dashboard.state import ViewState
from geodata import levels, totals
from geodata.totals import ENGLAND, NEWLY_DELEGATED, Constraint

D, J, GIN = "delegated", "joint", "greater_involvement_or_none"


# --- constructed cases -----------------------------------------------------------------------------------


def frame(rows: list[tuple[str, str, str, float, str, str]]) -> pd.DataFrame:
    t = pd.DataFrame(rows, columns=["ods_code", "region", "area_team", "imd_score", "level_2015", "level_2016"])
    t.index = t["ods_code"].to_numpy()
    return t


def hub_case(west: tuple[int, int], east: tuple[int, int], joint: tuple[int, int] | None = None,
             extras: int = 0) -> tuple[pd.DataFrame, dict[str, list[str]], list[Constraint]]:
    """Two solid known blocks (6 delegated in the West, 6 joint in the East, joined by one edge) and three
    unknown 'hubs' per region, each next to every CCG of its region's block; ``extras`` unknown East CCGs
    without neighbours. The 2015/16 regional totals decide what the hubs can be."""
    rows: list[tuple[str, str, str, float, str, str]] = []
    nb: dict[str, list[str]] = {}

    def add(code: str, region: str, team: str, level: str, imd: float) -> None:
        rows.append((code, region, team, imd, level, "unknown"))
        nb[code] = []

    def link(a: str, b: str) -> None:
        nb[a].append(b)
        nb[b].append(a)

    for i in range(6):
        add(f"W{i}", "West", "TW", D, 30.0 + i)
        add(f"E{i}", "East", "TE", J, 10.0 + i)
    for i in range(3):
        add(f"UW{i}", "West", "TW", "unknown", 28.0 - i)
        add(f"UE{i}", "East", "TE", "unknown", 12.0 - i)
    for i in range(extras):
        add(f"X{i}", "East", "TX", "unknown", 20.0 + i)
    for i in range(5):
        link(f"W{i}", f"W{i + 1}")
        link(f"E{i}", f"E{i + 1}")
    link("W5", "E0")
    for u, i in itertools.product(range(3), range(6)):
        link(f"UW{u}", f"W{i}")
        link(f"UE{u}", f"E{i}")
    cs = [Constraint(2015, "West", D, *west, ("T",), ""), Constraint(2015, "East", D, *east, ("T",), "")]
    if joint:
        cs.append(Constraint(2015, ENGLAND, J, *joint, ("T",), ""))
    return frame(rows), nb, cs


def test_no_freedom_gives_one_completion_equal_to_the_truth():
    # A 3 x 4 grid; the truth in 2016/17 is delegated in the two left columns, joint elsewhere. Four delegated
    # CCGs are hidden; the national total of delegated CCGs then leaves no choice but the truth.
    codes = [f"C{r}{c}" for r in range(3) for c in range(4)]
    truth = {code: D if int(code[2]) < 2 else J for code in codes}
    hidden = {"C00", "C11", "C20", "C21"}
    nb = {a: [b for b in codes if abs(int(a[1]) - int(b[1])) + abs(int(a[2]) - int(b[2])) == 1] for a in codes}
    rows = [(c, "North" if int(c[2]) < 2 else "South", f"T{c[1]}", 10.0 + 3 * int(c[2]) + int(c[1]), J,
             "unknown" if c in hidden else truth[c]) for c in codes]
    t = frame(rows)
    cs = [Constraint(2016, ENGLAND, D, 6, 6, ("T",), "")]
    sampler = CompletionSampler(t, cs)
    assert sampler.count() == 1
    draws = sampler.draw(20, seed=4)
    assert (draws.groupby("ods_code")["level_2016"].nunique() == 1).all()
    assert dict(zip(draws["ods_code"], draws["level_2016"])) == truth

    seed, perms = 4, 199
    r = robust.robust_statistics(t, nb, cs, 2016, completions=20, seed=seed, permutations=perms)
    true_levels = pd.Series(truth)
    s = analysis.summarise(true_levels, nb, t["area_team"], t["imd_score"], permutations=perms, seed=seed,
                           tables=PermutationTables())
    # the exact p of the whole truth: every one of the 924 distinct relabellings listed by the test
    lab = [int(truth[c] == D) for c in codes]
    pairs = [(i, j) for i, a in enumerate(codes) for j, b in enumerate(codes) if i < j and b in nb[a]]
    teams = [int(c[1]) for c in codes]
    x = t.loc[codes, "imd_score"].tolist()
    join_p = brute.exact_p(lab, lambda lv: brute.same_pairs(lv, pairs))[0]
    v_p = brute.exact_p(lab, lambda lv: brute.chi2(lv, teams))[0]
    expected = {
        "join_counts.full": (s.full.join_counts.total_observed, join_p),
        "join_counts.binary": (s.binary.join_counts.total_observed, join_p),
        "concordance.full": (s.full.concordance.cramers_v, v_p),
        "concordance.binary": (s.binary.concordance.cramers_v, v_p),
        "deprivation.binary": (s.deprivation.diff, brute.exact_p(lab, lambda lv: brute.abs_diff(lv, x))[0]),
        "deprivation.full": (s.deprivation.kruskal_h, brute.exact_p(lab, lambda lv: brute.kruskal_h(lv, x))[0]),
    }
    for st in r.statistics:
        if st.name.startswith("size."):  # this table has no population: the size tests cannot run
            assert st.known_only.not_run is not None and st.completions.n == 0, st.name
            continue
        value, p = expected[st.name]
        c = st.completions
        assert c.n == 20 and c.not_run == 0, st.name
        for got in (c.median, c.p5, c.p95, st.low.value, st.high.value):
            assert got == pytest.approx(value, rel=1e-9), st.name
        for got in (c.p_median, c.p_p5, c.p_p95, st.low.p, st.high.p):
            assert got == pytest.approx(p, rel=1e-9), st.name


def test_known_blocks_broken_by_forced_unknowns_depend_on_the_unknowns():
    # West may have only its 6 known delegated CCGs, East must delegate its 3 hubs: every completion puts a
    # level next to the opposite block, so the known-only clustering does not survive.
    t, nb, cs = hub_case(west=(6, 6), east=(3, 3))
    r = robust.robust_statistics(t, nb, cs, 2015, completions=60, seed=2)
    for name in ("join_counts.full", "join_counts.binary"):
        s = r.statistic(name)
        assert s.known_only.significant is True and s.known_only.p < 0.01
        assert s.completions.share_p_below_05 == 0.0
        assert s.verdict.code == "depends"
        assert s.verdict.words.startswith("depends on the unknown levels")
        assert s.high.p > 0.5


def test_every_admissible_completion_keeps_the_clustering_so_it_holds():
    # The hubs must join their block's level (West delegates all 9, East none, at most 11 joint nationally);
    # the hubs' and the extra CCGs' lower levels are still free (16 admissible completions).
    t, nb, cs = hub_case(west=(9, 9), east=(0, 0), joint=(9, 11), extras=2)
    assert CompletionSampler(t, cs).count() > 1
    r = robust.robust_statistics(t, nb, cs, 2015, completions=60, seed=2)
    n = CompletionSampler(t, cs).count()  # the filter is every CCG: its admissible completions are the sampler's
    for name in ("join_counts.full", "join_counts.binary"):
        s = r.statistic(name)
        assert s.known_only.significant is True
        assert s.completions.p_p95 < 0.05 and s.high.p < 0.05 and s.high.exact
        assert s.verdict.code == "holds"
        assert s.verdict.words.startswith(
            f"holds whatever the unknown levels were: significant in every admissible completion (all {n} "
            "admissible completions of the filter's open CCGs listed")
    top = r.statistic("join_counts.full")
    assert robust.headline(r, "join_counts.full") == (
        f"Neighbouring CCGs chose the same level more often than chance (known CCGs: "
        f"{robust.fmt_p(top.known_only.p)}): {top.verdict.words}.")


def test_known_test_not_run_is_said_and_the_completions_still_summarised():
    t, nb, cs = hub_case(west=(6, 9), east=(0, 3))
    r = robust.robust_statistics(t, nb, cs, 2015, mask=t["region"].eq("West").to_numpy(), completions=30, seed=1)
    s = r.statistic("join_counts.binary")  # the known West CCGs are all delegated
    assert s.known_only.not_run == "one_level" and s.verdict.code == "not_run"
    assert "cannot be tested on the known CCGs alone (all 6 CCGs of known level are delegated)" in s.verdict.words
    assert s.completions.n + s.completions.not_run == 30
    c = r.statistic("concordance.full")  # one area team in the West
    assert c.completions.not_run == 30 and c.completions.n == 0
    assert sum(c.completions.not_run_reasons.values()) == 30 and "one_team" in c.completions.not_run_reasons
    assert "nor on any of the 30 completions (" in c.verdict.words
    assert c.low is None and c.high is None


# --- the exact extremes of the difference in mean IMD ----------------------------------------------------


def brute_force(t: pd.DataFrame, cs: list[Constraint], spec: specs_module._Difference) -> tuple[float, ...]:
    """Largest and smallest standardised difference and difference in mean IMD over every 2015/16 delegation the
    totals allow."""
    l15, l16, region = (t[c].tolist() for c in ("level_2015", "level_2016", "region"))
    open_ = [i for i, lv in enumerate(l15) if lv == "unknown" and l16[i] in (D, "unknown")]
    z_all, d_all = [], []
    for bits in itertools.product([False, True], repeat=len(open_)):
        d = np.array([lv == D for lv in l15])
        d[open_] = bits
        counts = {c: int(d.sum() if c.scope == ENGLAND else d[np.array(region) == c.scope].sum()) for c in cs}
        lab = d[spec.positions]
        if all(c.lo <= counts[c] <= c.hi for c in cs) and 0 < lab.sum() < len(lab):
            z_all.append(spec.z(lab.astype(np.int8)[None, :])[0])
            d_all.append(spec.x[lab].mean() - spec.x[~lab].mean())
    return max(z_all), min(z_all), max(d_all), min(d_all)


@pytest.mark.parametrize("case", range(4))
def test_exact_extremes_match_brute_force(case):
    rng = np.random.default_rng(100 + case)
    n = 14
    codes = [f"E{i:02d}" for i in range(n)]
    l15 = [D, D, J, J] + ["unknown"] * 10
    l16 = [D, D, "unknown", J] + ["unknown"] * 6 + [D, D, "unknown", J]
    t = frame([(c, "North" if i < 7 else "South", "A", round(float(rng.normal(20, 8)), 1), l15[i], l16[i])
               for i, c in enumerate(codes)])
    cs = [Constraint(2015, "North", D, 3, 5, ("X",), ""), Constraint(2015, "South", D, 1, 3, ("X",), ""),
          Constraint(2015, ENGLAND, D, 5, 6 + case % 2, ("X",), "")]
    mask = rng.random(n) < 0.7 if case else np.ones(n, dtype=bool)
    spec = specs_module._specs(t, {}, mask, {}, 1)[4]
    exact = extremes._exact_delegation(CompletionSampler(t, cs), spec, np.arange(n))
    z = [spec.z(lab[None, :])[0] for lab in exact.z[::-1]]
    diff = [float(spec.x[lab == 1].mean() - spec.x[lab == 0].mean()) for lab in exact.diff[::-1]]
    z_max, z_min, d_max, d_min = brute_force(t, cs, spec)
    assert z == pytest.approx([z_max, z_min], abs=1e-9)
    assert diff == pytest.approx([d_max, d_min], abs=1e-9)


# --- the smooth scores and the fast Kruskal-Wallis ---------------------------------------------------------


def test_scores_use_the_exact_moments_and_scipy_h(atlas):
    t = atlas.table
    specs = specs_module._specs(t, atlas.neighbours, np.ones(len(t), bool), {}, 1)
    rng = np.random.default_rng(3)
    lab = rng.choice(4, size=len(t), p=[0.4, 0.3, 0.2, 0.1]).astype(np.int8)
    join, diff, kw = specs[0], specs[4], specs[5]
    many = make_tables(join.n, 20000, 5)
    lt = lab[join.positions][many.perm_t]
    sims = np.count_nonzero(lt[join.ei] == lt[join.ej], axis=0)
    obs = np.count_nonzero(lab[join.positions][join.ei] == lab[join.positions][join.ej])
    assert join.score(lab[join.positions][None, :])[0] == pytest.approx((obs - sims.mean()) / sims.std(), rel=0.03)
    b = (lab[diff.positions] == 0).astype(np.int8)
    s = b.astype(float)[many.perm] @ diff.x
    nd = b.sum()
    perm = s / nd - (diff.total - s) / (diff.n - nd)
    d = diff.x[b == 1].mean() - diff.x[b == 0].mean()
    assert diff.z(b[None, :])[0] == pytest.approx(d / perm.std(), rel=0.03)
    e = kw.evaluate(lab[kw.positions])
    h, p = stats.kruskal(*(kw.x[lab[kw.positions] == c] for c in range(4)))
    assert e.value == pytest.approx(h, rel=1e-10)
    # a permutation p now (209 CCGs: sequential Monte Carlo), not the chi-squared one; within its error of it
    assert not e.exact and e.se > 0 and abs(e.p - p) < 4 * e.se + 0.01


# --- the real atlas ----------------------------------------------------------------------------------------


def _counts_towards(c: Constraint, l15: str, l16: str) -> bool:
    if c.level == NEWLY_DELEGATED:
        return l16 == D and l15 != D
    if c.year == 2015 and c.level == GIN:
        return l15 in ("greater_involvement", "none", GIN)
    return (l15 if c.year == 2015 else l16) == c.level


def meets_totals(table: pd.DataFrame, completion: pd.DataFrame, cs: list[Constraint]) -> list[str]:
    m = completion.merge(table[["ods_code", "region", "area_team", "level_2015", "level_2016"]], on="ods_code",
                         suffixes=("", "_given"))
    wrong = [c.describe() for c in cs if not c.lo <= sum(
        _counts_towards(c, a, b) for a, b, r, t in zip(m["level_2015"], m["level_2016"], m["region"], m["area_team"])
        if c.scope in (ENGLAND, r, t)) <= c.hi]
    for year in (2015, 2016):
        given, got = m[f"level_{year}_given"], m[f"level_{year}"]
        if (~given.isin(["unknown", "not_delegated"]) & (given != got)).any():
            wrong.append(f"a known {year} level changed")
    return wrong


@pytest.fixture(scope="module")
def england_2015(service):
    return robust.robust_for(service, ViewState(year=2015))


def test_real_extremes_bracket_every_sampled_p_and_search_extremes_keep_every_total(service, atlas, england_2015):
    cs = totals.read_constraints()
    for s in england_2015.statistics:
        p = np.array(s.p_values)
        p = p[np.isfinite(p)]
        assert len(p) in (200, EXTENDED), s.name  # the fixed-seed extension decides a verdict near one half
        # the extremes bracket the draws up to Monte Carlo error (the draws are less precise than an extreme)
        assert s.low.p <= p.min() + 3 * s.low.se and p.max() <= s.high.p + 3 * s.high.se + 0.02, s.name
        # "draw": the fixed-seed extension's own lowest or highest p (no completion is kept for it)
        assert s.low.found_by in ("search", "exact", "draw") and s.high.found_by in ("search", "exact", "draw")
        for ext in (s.low, s.high):
            if ext.found_by == "search":
                assert len(ext.completion) == len(atlas.table)
                assert meets_totals(atlas.table, ext.completion, cs) == [], s.name
    dep = england_2015.statistic("deprivation.binary")
    assert dep.low.found_by == "exact" and dep.low.exact  # the largest standardised difference, exactly
    lowest, highest = dep.exact_range
    values = np.array(dep.values)
    assert lowest.value <= values.min() and values.max() <= highest.value


def test_real_result_is_deterministic_cached_and_has_the_stable_names(service, england_2015):
    assert robust.robust_for(service, ViewState(year=2015, view="change", ccgs=("E38000001",))) is england_2015
    again = robust.robust_statistics(
        robust.evidence_table(service, "any"), service.atlas.neighbours, robust.constraints_of(service), 2015,
        never_delegated_2015=levels.newly_authorised_2016(service.atlas.level_rows), completions=200, seed=1,
        description="England", filters={"area_teams": [], "regions": [], "imd": [1, 5]})
    assert json.dumps(again.to_dict()) == json.dumps(england_2015.to_dict())
    d = england_2015.to_dict()
    assert [s["name"] for s in d["statistics"]] == list(robust.STATISTICS)
    for s in d["statistics"]:
        assert {"name", "label", "known_only", "completions", "extremes", "verdict"} <= set(s)
        assert {"value", "p", "n", "not_run"} <= set(s["known_only"])
        assert {"n", "median", "p5", "p95", "p_median", "p_p5", "p_p95", "share_p_below_05",
                "not_run"} <= set(s["completions"])
        assert set(s["extremes"]) == {"low", "high"}
        assert {"value", "p", "found_by"} <= set(s["extremes"]["low"])
        assert s["verdict"]["code"] in robust.VERDICTS and s["verdict"]["words"]
    assert d["n_selected"] == 209 and d["completions"] == 200 and d["permutations"] == robust.PERMUTATIONS


def test_real_constraints_from_the_atlas_are_the_published_totals(service):
    key = [(c.year, c.scope, c.level, c.lo, c.hi) for c in totals.read_constraints()]
    assert [(c.year, c.scope, c.level, c.lo, c.hi) for c in robust.constraints_of(service)] == key


def test_headline_names_the_finding_its_p_and_the_verdict(england_2015):
    line = robust.headline(england_2015)
    top = england_2015.statistic("join_counts.full")
    assert line == f"{top.finding} (known CCGs: {robust.fmt_p(top.known_only.p)}): {top.verdict.words}."


def test_known_only_values_are_the_panels(service):
    from dashboard.clustering_summary import summary_for

    for state in (ViewState(year=2016, regions=("London",)), ViewState(year=2015, imd=(1, 2), evidence="approved")):
        panel = summary_for(service, state)
        r = robust.robust_for(service, state, completions=20)
        got = {s.name: s.known_only for s in r.statistics}
        jc = panel.full.join_counts
        panel_values = {"join_counts.full": (jc.total_observed, jc.total_p_cluster),
                        "concordance.binary": (panel.binary.concordance.cramers_v, panel.binary.concordance.p_value),
                        "deprivation.binary": (panel.deprivation.diff, panel.deprivation.diff_p_two_sided)}
        for name, (value, p) in panel_values.items():
            k = got[name]
            if k.not_run is not None:  # not run on the panel either (e.g. one area team)
                assert np.isnan(value) and np.isnan(p), name
                continue
            assert k.value == value, name
            # the robust check's p is exact or sequential (with its error); the panel's from 999 relabellings
            assert abs(k.p - p) <= 4 * (k.se + (p * (1 - p) / 999) ** 0.5) + 1e-9, name
        assert got["deprivation.full"].value == panel.deprivation.kruskal_h
        assert r.n_known == panel.coverage.n_used and r.n_selected == panel.n_selected


def test_a_p_value_between_005_and_010_is_worded_weak_evidence_not_no_evidence() -> None:
    from dashboard.robust import KnownOnly, finding

    weak = KnownOnly(value=1.0, p=0.059, n=20, not_run=None, significant=False)
    none = KnownOnly(value=1.0, p=0.40, n=20, not_run=None, significant=False)
    assert finding("join_counts.binary", weak).startswith("Only weak evidence")
    assert finding("join_counts.binary", none).startswith("No evidence")
    assert finding("deprivation.binary", weak).startswith("Only weak evidence")
