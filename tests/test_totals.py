"""Constraints from the published totals, the exact bounds they imply for the unknowns, and the total-reached
rule: on the real totals and atlas, and on small constructed tables with answers worked out by hand."""

from __future__ import annotations

import itertools
import re

import pandas as pd
import pytest

from geodata import bounds, sources, totals
from geodata.totals import ENGLAND, GREATER_INVOLVEMENT_OR_NONE, NEWLY_DELEGATED, Constraint

# --- helpers ---------------------------------------------------------------------------------------------


def figure(source: str, date: str, period: str, scope: str, measure: str, level: str, count: str) -> dict:
    return {"source_id": source, "source_date": date, "period": period, "scope": scope, "measure": measure,
            "level": level, "count": count, "denominator": "", "note": ""}


def table(*specs: tuple[str, str, str, str]) -> pd.DataFrame:
    """A constructed atlas table: (ods_code, region, level_2015, level_2016) per CCG."""
    return pd.DataFrame(specs, columns=["ods_code", "region", "level_2015", "level_2016"])


def by_key(constraints: list[Constraint]) -> dict[tuple[int, str, str], Constraint]:
    return {(c.year, c.scope, c.level): c for c in constraints}


@pytest.fixture(scope="module")
def real_totals() -> pd.DataFrame:
    return sources.read_totals(sources.sources_dir())


@pytest.fixture(scope="module")
def real_constraints() -> list[Constraint]:
    return totals.read_constraints()


# --- constraints_from_totals ----------------------------------------------------------------------------


def test_real_constraints_golden(real_constraints):
    # Every range below is checked by hand against cocommissioning_aggregate_counts.csv.
    got = [(c.year, c.scope, c.level, c.lo, c.hi) for c in real_constraints]
    assert got == [
        (2015, "England", "delegated", 63, 63),  # 63 in operation (3 sources); the 64 approvals are not used
        (2015, "England", "joint", 86, 87),  # DAC Beachcroft 86, HSJ/NHSE/BJGP 87
        (2015, "North", "delegated", 21, 24),  # 24 approved - 1 drop-out - 2 for the Newcastle Gateshead merger
        (2015, "Midlands and East", "delegated", 25, 26),
        (2015, "London", "delegated", 5, 6),
        (2015, "South", "delegated", 7, 8),
        (2015, "Surrey and Sussex", GREATER_INVOLVEMENT_OR_NONE, 5, 12),  # GPonline: 5 of 12 did not apply
        (2016, "England", "delegated", 114, 115),  # 114 expected / in operation, 115 BJGP
        (2016, "England", "joint", 68, 69),  # BJGP's 68, + the one CCG on which 114 and 115 disagree
        (2016, "England", "greater_involvement", 26, 27),
        (2016, "England", "none", 0, 0),  # BJGP's 115 + 68 + 26 = 209, and no source reports one
        (2016, "England", NEWLY_DELEGATED, 51, 52),  # a further 51 (HSJ), 52 authorised (NHSE, Pulse)
    ]


def test_disagree_by_one_pairs_become_one_range_with_the_sources_used(real_constraints):
    keys = [(c.year, c.scope, c.level) for c in real_constraints]
    assert len(keys) == len(set(keys)), "one constraint per year, scope and level"
    c = by_key(real_constraints)
    assert set(c[(2015, ENGLAND, "delegated")].sources) == {"HSJ_5084097", "DACB_CASE_STUDY", "HSJ_7003641"}
    assert set(c[(2016, ENGLAND, NEWLY_DELEGATED)].sources) == {"HSJ_7003641", "NHSE_2015_12", "PULSE_2015_12"}
    for key in [(2015, ENGLAND, "joint"), (2016, ENGLAND, "delegated"), (2016, ENGLAND, NEWLY_DELEGATED)]:
        assert c[key].hi - c[key].lo == 1
    assert "differ by 1" in c[(2016, ENGLAND, NEWLY_DELEGATED)].note


def test_2015_delegated_is_the_in_operation_count_and_says_what_64_means(real_constraints):
    c = by_key(real_constraints)[(2015, ENGLAND, "delegated")]
    assert (c.lo, c.hi) == (63, 63)
    assert "not used: 64 (approved, confirmed: HSJ_5082478, NHSE_2015_02_18, HSJ_5083057)" in c.note
    assert "did not take it up (HSJ_5084097)" in c.note


def test_in_operation_figures_make_the_national_range_on_constructed_totals():
    rows = pd.DataFrame([
        figure("A", "2015-02", "2015/16", "England", "approved", "delegated", "15"),
        figure("B", "2015-04", "2015/16", "England", "in_operation", "delegated", "13"),
        figure("C", "2016-01", "2015/16", "England", "in_operation", "delegated", "14"),
        figure("D", "2015-03", "2015/16", "England", "confirmed", "delegated", "14"),
    ])
    (c,) = totals.constraints_from_totals(rows)
    # the in-operation 13 and 14 make the range; 14 confirmed agrees and is cited; 15 approved is named unused
    assert (c.lo, c.hi, c.sources) == (13, 14, ("B", "C", "D"))
    assert "not used: 15 (approved: A)" in c.note and "2 approved CCG(s) did not take it up (B)" in c.note


def test_the_surrey_and_sussex_figure_is_a_lower_bound_on_the_area_team(real_constraints):
    c = by_key(real_constraints)[(2015, "Surrey and Sussex", GREATER_INVOLVEMENT_OR_NONE)]
    assert (c.lo, c.hi, c.sources) == (5, 12, ("GPONLINE_1332447",))
    assert "did not apply" in c.note
    rows = pd.DataFrame([figure("G", "2015", "2015/16", "Kent area team", "did_not_apply", "none", "3")])
    (sized,) = totals.constraints_from_totals(rows, scope_sizes={"Kent": 8})
    (unsized,) = totals.constraints_from_totals(rows, n_ccgs=20)
    assert (sized.scope, sized.level, sized.lo, sized.hi) == ("Kent", GREATER_INVOLVEMENT_OR_NONE, 3, 8)
    assert (unsized.lo, unsized.hi) == (3, 20)


def _2016_assignments(n: int, cs: list[Constraint]) -> list[tuple[str, ...]]:
    """Every 2016/17 assignment of n CCGs of unknown level meeting national constraints (own enumeration)."""
    levels_ = ("delegated", "joint", "greater_involvement", "none")
    return [a for a in itertools.product(levels_, repeat=n)
            if all(c.lo <= a.count(c.level) <= c.hi for c in cs if c.year == 2016)]


def test_a_partition_with_a_disagreeing_delegated_count_forces_no_unreported_level():
    # Source P partitions 6 CCGs: 3 delegated, 2 joint, 1 greater involvement (so 0 with no role); source Q
    # counts 2 delegated in operation. Mixing Q's 2 with P's exact 2 and 1 would force one CCG to no role.
    rows = pd.DataFrame([
        figure("P", "2018-01", "2016/17 (April 2016)", "England", "in_operation", "delegated", "3"),
        figure("P", "2018-01", "2016/17 (April 2016)", "England", "in_operation", "joint", "2"),
        figure("P", "2018-01", "2016/17 (April 2016)", "England", "in_operation", "greater_involvement", "1"),
        figure("Q", "2016-10", "2016/17", "England", "in_operation", "delegated", "2"),
    ])
    cs = totals.constraints_from_totals(rows, n_ccgs=6)
    got = by_key(cs)
    assert [(k[2], c.lo, c.hi) for k, c in got.items()] == [
        ("delegated", 2, 3), ("joint", 2, 3), ("greater_involvement", 1, 2), ("none", 0, 0)]
    completions = _2016_assignments(6, cs)
    for d in (2, 3):  # every delegated count the sources give is admissible, and no completion has no role
        assert any(a.count("delegated") == d for a in completions), d
    assert all(a.count("none") == 0 for a in completions)
    # the mixed reading the sources do not support: with 2 delegated, every completion has one CCG with no role
    mixed = [Constraint(2016, ENGLAND, "delegated", 2, 3, ("Q", "P"), ""),
             Constraint(2016, ENGLAND, "joint", 2, 2, ("P",), ""),
             Constraint(2016, ENGLAND, "greater_involvement", 1, 1, ("P",), "")]
    forced = [a for a in _2016_assignments(6, mixed) if a.count("delegated") == 2]
    assert forced and all(a.count("none") == 1 for a in forced)


def test_every_row_of_the_totals_file_is_used_or_its_exclusion_stated(real_totals, real_constraints):
    used = totals.totals_used(real_totals)
    assert len(used) == len(real_totals) and used["why"].str.len().min() > 10
    by_row = {(r.source_id, r.period, r.level, str(r["count"])): r for _, r in used.iterrows()}
    assert by_row[("GPONLINE_1332447", "2015/16", "none", "5")]["used"]
    assert not by_row[("NHSE_2015_02_18", "2015/16", "delegated", "64")]["used"]
    assert "63" in by_row[("NHSE_2015_02_18", "2015/16", "delegated", "64")]["why"]
    assert not by_row[("HSJ_5077706", "2015/16 (intention)", "no_joint_or_delegated", "6")]["used"]
    assert not by_row[("BMA_COCOMM", "2015/16 and 2016/17", "delegated", "63; +51")]["used"]
    cited = {s for c in real_constraints for s in c.sources}
    assert set(used.loc[used["used"], "source_id"]) == cited


def test_every_constraint_says_where_it_came_from(real_constraints):
    for c in real_constraints:
        assert c.sources and all(re.fullmatch(r"[A-Z0-9_]+", s) for s in c.sources)
        assert c.note.endswith(".") and str(c.lo) in c.note
        assert 0 <= c.lo <= c.hi <= 209


def test_regional_approvals_allow_the_drop_out_and_the_north_merger(real_constraints):
    c = by_key(real_constraints)
    north = c[(2015, "North", "delegated")]
    assert (north.lo, north.hi) == (21, 24)
    assert "HSJ_5084097" in north.sources and "13T" in north.note and "00F" in north.note
    for region, figure_ in (("Midlands and East", 26), ("London", 6), ("South", 8)):
        r = c[(2015, region, "delegated")]
        assert (r.lo, r.hi) == (figure_ - 1, figure_) and "13T" not in r.note


def test_merger_and_drop_out_on_constructed_totals():
    feb = [figure("R", "2015-02", "2015/16", "NHS England North region", "approved", "delegated", "10"),
           figure("R", "2015-02", "2015/16", "NHS England South region", "approved", "delegated", "5")]
    nat = [figure("A", "2015-02", "2015/16", "England", "approved", "delegated", "15"),
           figure("B", "2015-04", "2015/16", "England", "in_operation", "delegated", "13")]
    got = by_key(totals.constraints_from_totals(pd.DataFrame(feb + nat)))
    # two approved CCGs dropped out nationally: up to 2 fewer per region; the North also up to 2 for the merger
    assert (got[(2015, "North", "delegated")].lo, got[(2015, "North", "delegated")].hi) == (6, 10)
    assert (got[(2015, "South", "delegated")].lo, got[(2015, "South", "delegated")].hi) == (3, 5)
    alone = by_key(totals.constraints_from_totals(pd.DataFrame(feb)))  # no in-operation figure: no drop-out
    assert alone[(2015, "North", "delegated")].lo == 8 and alone[(2015, "South", "delegated")].lo == 5
    after = figure("R", "2015-06", "2015/16", "NHS England North region", "in_operation", "delegated", "10")
    late = by_key(totals.constraints_from_totals(pd.DataFrame([after])))  # after the merger: taken as exact
    assert late[(2015, "North", "delegated")].lo == 10


def test_ignored_rows_and_the_denominator():
    rows = pd.DataFrame([
        figure("A", "2015-01", "2015/16 (applications)", "England", "applied", "delegated", "77"),
        figure("B", "2017-10", "2017/18", "England", "in_operation", "delegated", "174"),
        figure("C", "n.d.", "2015/16 and 2016/17", "England", "in_operation", "delegated", "63; +51"),
        figure("E", "2014", "2014 (expressions of interest)", "England", "expressions_of_interest", "any", "196"),
        figure("F", "2016-03", "2016/17 (April 2016)", "England", "in_operation", "joint", "250"),
    ])
    got = totals.constraints_from_totals(rows, n_ccgs=209)
    assert [(c.year, c.level, c.lo, c.hi, c.sources) for c in got] == [(2016, "joint", 209, 209, ("F",))]
    assert "Capped at the 209 CCGs" in got[0].note


# --- implied_bounds -----------------------------------------------------------------------------------


def test_implied_bounds_on_a_constructed_case_worked_by_hand():
    t = table(("A1", "North", "delegated", "delegated"), ("A2", "North", "unknown", "unknown"),
              ("A3", "North", "unknown", "unknown"), ("B1", "South", "unknown", "unknown"),
              ("B2", "South", "not_delegated", "unknown"), ("B3", "South", "joint", "unknown"))
    cs = [Constraint(2015, ENGLAND, "delegated", 3, 3, ("N",), ""),
          Constraint(2015, "North", "delegated", 1, 3, ("R",), ""),
          Constraint(2015, "South", "delegated", 0, 1, ("S",), ""),
          Constraint(2015, ENGLAND, "joint", 2, 2, ("J",), "")]
    b = bounds.implied_bounds(t, cs).set_index(["scope", "level"])
    # England needs 3 delegated; South can give at most 1 (B1), so North gives 2 or 3: A2, A3 one or both.
    north = b.loc[("North", "delegated")]
    assert (north["known"], north["unknown_in_scope"]) == (1, 2)
    assert (north["min_unknown_at_level"], north["max_unknown_at_level"]) == (1, 2)
    assert north["sentence"] == ("North, 2015/16: 1 to 3 delegated (R); 1 known delegated, 2 unknown: between 1 "
                                 "and 2 of those 2 were delegated.")
    # Joint: B3 known; the open ones are A2, A3, B1 (unknown) and B2 (not delegated): exactly one more is joint.
    joint = b.loc[(ENGLAND, "joint")]
    assert (joint["known"], joint["unknown_in_scope"], joint["min_unknown_at_level"]) == (1, 4, 1)
    assert joint["sentence"].endswith("1 of those 4 were joint.")


def test_implied_bounds_use_the_link_between_the_years():
    # 2016: at most 1 newly delegated; A and B are both delegated in 2016/17 with 2015/16 unknown,
    # so at least one of them was already delegated in 2015/16.
    t = table(("A", "North", "unknown", "delegated"), ("B", "North", "unknown", "delegated"),
              ("C", "North", "joint", "unknown"))
    cs = [Constraint(2015, ENGLAND, "delegated", 0, 2, ("X",), ""),
          Constraint(2016, ENGLAND, NEWLY_DELEGATED, 0, 1, ("Y",), "")]
    b = bounds.implied_bounds(t, cs).set_index("level")
    assert (b.loc["delegated", "min_unknown_at_level"], b.loc["delegated", "max_unknown_at_level"]) == (1, 2)
    # C (joint in 2015/16, 2016/17 unknown) may be newly delegated only if A and B both were delegated already.
    assert (b.loc[NEWLY_DELEGATED, "known"], b.loc[NEWLY_DELEGATED, "unknown_in_scope"]) == (0, 3)
    assert b.loc[NEWLY_DELEGATED, "max_unknown_at_level"] == 1


def test_real_implied_bounds_are_sensible(atlas, real_constraints):
    b = bounds.implied_bounds(atlas.table, real_constraints)
    assert list(b.columns) == totals.BOUNDS_COLUMNS and len(b) == len(real_constraints)
    assert (b["min_unknown_at_level"] >= 0).all()
    assert (b["min_unknown_at_level"] <= b["max_unknown_at_level"]).all()
    assert (b["max_unknown_at_level"] <= b["unknown_in_scope"]).all()
    assert (b["known"] + b["min_unknown_at_level"] >= b["lo"]).all()
    assert (b["known"] + b["max_unknown_at_level"] <= b["hi"]).all()


def test_real_north_2015_delegated_bounds_by_hand(atlas, real_constraints):
    # England 2015/16 had at least 63 delegated; the other regions at most 26 + 6 + 8 = 40 (each can reach its
    # maximum with its unknowns), so the North had at least 63 - 40 = 23, above its own minimum 21; at most 24.
    # With the atlas of November 2026 (12 known delegated, 31 unknown) that is 11 to 12 of the 31; the regional
    # figure alone would have said 9 to 12.
    t = atlas.table
    north = t[t["region"] == "North"]
    known, open_ = int((north["level_2015"] == "delegated").sum()), int((north["level_2015"] == "unknown").sum())
    row = bounds.implied_bounds(t, real_constraints).set_index(["year", "scope", "level"]).loc[
        (2015, "North", "delegated")]
    assert (row["known"], row["unknown_in_scope"]) == (known, open_)
    assert row["min_unknown_at_level"] == max(23, 21) - known
    assert row["max_unknown_at_level"] == min(24, known + open_) - known
    assert row["sentence"].startswith("North, 2015/16: 21 to 24 delegated (HSJ_5082478, HSJ_5084097); ")


def test_known_above_a_maximum_names_the_constraint():
    t = table(("A", "North", "delegated", "delegated"), ("B", "North", "delegated", "delegated"))
    with pytest.raises(ValueError, match=r"North, 2015/16: 0 to 1 delegated \(HSJ_X\): 2 CCGs already known"):
        bounds.implied_bounds(t, [Constraint(2015, "North", "delegated", 0, 1, ("HSJ_X",), "")])


def test_jointly_infeasible_totals_name_the_conflicting_set():
    t = table(("A", "North", "unknown", "unknown"), ("B", "South", "unknown", "unknown"),
              ("C", "South", "joint", "joint"))
    cs = [Constraint(2015, "North", "delegated", 0, 0, ("R1",), ""),
          Constraint(2015, "South", "delegated", 0, 0, ("R2",), ""),
          Constraint(2015, ENGLAND, "joint", 1, 3, ("J",), ""),
          Constraint(2015, ENGLAND, "delegated", 1, 2, ("N",), "")]
    with pytest.raises(ValueError) as err:
        bounds.implied_bounds(t, cs)
    message = str(err.value)
    assert "together" in message and "(R1)" in message and "(R2)" in message and "(N)" in message
    assert "(J)" not in message  # not part of the conflict


def test_bad_inputs_are_refused():
    t = table(("A", "North", "unknown", "unknown"))
    with pytest.raises(ValueError, match="greater_involvement_or_none"):
        bounds.implied_bounds(t, [Constraint(2015, ENGLAND, "none", 0, 1, ("X",), "")])
    with pytest.raises(ValueError, match="neither England nor a region"):
        bounds.implied_bounds(t, [Constraint(2015, "Wales", "delegated", 0, 1, ("X",), "")])
    with pytest.raises(ValueError, match="not in 2016/17"):
        totals.ccg_states(table(("A", "North", "delegated", "joint")))
    with pytest.raises(ValueError, match="newly authorised"):
        totals.ccg_states(table(("A", "North", "delegated", "delegated")), {"A"})


def test_a_2015_greater_involvement_or_none_total_counts_both():
    t = table(("A", "North", "greater_involvement", "unknown"), ("B", "North", "none", "unknown"),
              ("C", "North", "unknown", "unknown"))
    b = bounds.implied_bounds(t, [Constraint(2015, ENGLAND, GREATER_INVOLVEMENT_OR_NONE, 2, 2, ("X",), "")])
    assert b[["known", "min_unknown_at_level", "max_unknown_at_level"]].values.tolist() == [[2, 0, 0]]


# --- rule_total_reached -------------------------------------------------------------------------------


def test_rule_regional_delegated_total_reached():
    t = table(("A1", "North", "delegated", "delegated"), ("A2", "North", "delegated", "delegated"),
              ("A3", "North", "unknown", "unknown"), ("A4", "North", "not_delegated", "unknown"),
              ("B1", "South", "unknown", "unknown"))
    rows = totals.rule_total_reached(t, [Constraint(2015, "North", "delegated", 1, 2, ("HSJ_5082478",), "")])
    assert rows[["ods_code", "year", "level"]].values.tolist() == [["A3", 2015, "not_delegated"]]
    source = rows["source"].iloc[0]
    assert source.startswith("rule:total_reached: North, 2015/16: 1 to 2 delegated (HSJ_5082478)")
    assert source.startswith(totals.RULE_TOTAL_REACHED + ":")
    assert (rows["evidence"] == "rule").all()


def test_rule_lower_levels_reached_leave_one_level():
    # 2016/17: joint and greater involvement both reached nationally; a not-delegated CCG can only be 'none';
    # an unknown one can still be delegated or none, so nothing follows for it.
    t = table(("A", "North", "joint", "joint"), ("B", "North", "joint", "greater_involvement"),
              ("C", "South", "joint", "not_delegated"), ("D", "South", "joint", "unknown"))
    cs = [Constraint(2016, ENGLAND, "joint", 0, 1, ("J",), ""),
          Constraint(2016, ENGLAND, "greater_involvement", 1, 1, ("G",), "")]
    rows = totals.rule_total_reached(t, cs)
    assert rows[["ods_code", "year", "level", "n_sources"]].values.tolist() == [["C", 2016, "none", 2]]
    assert "(J)" in rows["source"].iloc[0] and "(G)" in rows["source"].iloc[0]


def test_rule_newly_delegated_reached():
    # Two newly delegated already known (B, C): D, joint in 2015/16, was not delegated in 2016/17; E, delegated
    # in 2016/17 but not newly, was delegated in 2015/16 already.
    t = table(("B", "North", "not_delegated", "delegated"), ("C", "North", "joint", "delegated"),
              ("D", "South", "joint", "unknown"), ("E", "South", "unknown", "delegated"),
              ("F", "South", "delegated", "delegated"))
    rows = totals.rule_total_reached(t, [Constraint(2016, ENGLAND, NEWLY_DELEGATED, 1, 2, ("NHSE",), "")])
    assert rows[["ods_code", "year", "level"]].values.tolist() == [["D", 2016, "not_delegated"],
                                                                  ["E", 2015, "delegated"]]


def test_rule_refuses_known_above_a_maximum():
    t = table(("A", "North", "delegated", "delegated"), ("B", "North", "delegated", "delegated"))
    with pytest.raises(ValueError, match="above the maximum 1"):
        totals.rule_total_reached(t, [Constraint(2015, ENGLAND, "delegated", 0, 1, ("X",), "")])


def test_rule_on_the_real_data_keeps_the_atlas_feasible(atlas, real_constraints):
    rows = totals.rule_total_reached(atlas.table, real_constraints)
    assert set(rows.columns) >= {"ods_code", "year", "level", "source"}
    assert rows["source"].str.startswith("rule:total_reached: ").all()
    t = atlas.table.copy()
    for _, r in rows.iterrows():
        t.loc[t["ods_code"] == r["ods_code"], f"level_{r['year']}"] = r["level"]
    bounds.check_feasible(t, real_constraints)


def test_rule_has_a_one_line_source_description():
    text, url = totals.RULE_SOURCES[totals.RULE_TOTAL_REACHED]
    assert "\n" not in text and "maximum" in text and isinstance(url, str)
