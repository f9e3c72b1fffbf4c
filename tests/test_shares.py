"""Per-CCG shares of admissible completions: on constructed atlases the test enumerates every admissible two-year
history itself and checks each share exactly; on the real atlas the shares add up to what the totals say."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from dashboard.completions import TWO_STAGE, UNIFORM_HISTORIES
from dashboard.shares import completion_shares, shares_json
from geodata import levels, totals
from geodata.totals import ENGLAND, NEWLY_DELEGATED, Constraint

D, J, GI, N, GIN = "delegated", "joint", "greater_involvement", "none", "greater_involvement_or_none"


def _options(level: str, year: int, never: bool) -> tuple[str, ...]:
    if level == "unknown":
        return ((J, GIN) if never else (D, J, GIN)) if year == 2015 else (D, J, GI, N)
    if level == "not_delegated":
        return (J, GIN) if year == 2015 else (J, GI, N)
    return (GIN,) if year == 2015 and level in (GI, N) else (level,)


def _hits(c: Constraint, l15: str, l16: str) -> bool:
    if c.level == NEWLY_DELEGATED:
        return l16 == D and l15 != D
    return (l15 if c.year == 2015 else l16) == c.level


def histories(t: pd.DataFrame, cs: list[Constraint], never: set[str]) -> dict[tuple, list[tuple]]:
    """Every admissible 2015/16 assignment -> its admissible 2016/17 assignments (written from the definitions)."""
    rows = t.to_dict("records")
    scopes = [(ENGLAND, r["region"], r.get("area_team", "")) for r in rows]
    out: dict[tuple, list[tuple]] = {}

    def ok(year_cs: list[Constraint], a15: tuple, a16: tuple) -> bool:
        return all(c.lo <= sum(_hits(c, x, y) for x, y, sc in zip(a15, a16, scopes) if c.scope in sc) <= c.hi
                   for c in year_cs)

    for a15 in itertools.product(*(_options(r["level_2015"], 2015, r["ods_code"] in never) for r in rows)):
        if not ok([c for c in cs if c.year == 2015], a15, ("",) * len(rows)):
            continue
        opts = [tuple(o for o in _options(r["level_2016"], 2016, False) if x != D or o == D)
                for x, r in zip(a15, rows)]
        ext = [a16 for a16 in itertools.product(*opts) if ok([c for c in cs if c.year == 2016], a15, a16)]
        if ext:
            out[a15] = ext
    return out


CASE = pd.DataFrame([
    ("A1", "South", "unknown", "unknown", "Sx"), ("A2", "South", "not_delegated", "unknown", "Sx"),
    ("A3", "South", "unknown", D, "Sx"), ("A4", "South", GI, GI, "Sx"),
    ("B1", "South", "unknown", "unknown", "Kx"), ("B2", "South", D, "unknown", "Kx"),
    ("N1", "North", "unknown", D, "Nx"), ("N2", "North", "unknown", "not_delegated", "Nx"),
], columns=["ods_code", "region", "level_2015", "level_2016", "area_team"])
NEVER = {"N2"}
CONSTRAINTS = [
    Constraint(2015, ENGLAND, D, 2, 3, ("a",), ""), Constraint(2015, "South", D, 1, 2, ("b",), ""),
    Constraint(2015, "Sx", GIN, 2, 4, ("c",), ""),  # an area team's "did not apply"
    Constraint(2015, ENGLAND, J, 1, 3, ("d",), ""),
    Constraint(2016, ENGLAND, D, 4, 5, ("e",), ""), Constraint(2016, ENGLAND, NEWLY_DELEGATED, 1, 2, ("f",), ""),
    Constraint(2016, ENGLAND, N, 0, 1, ("g",), ""),
]


def _share_table(shares: pd.DataFrame) -> dict[tuple[str, int, str], float]:
    return {(r.ods_code, int(r.year), r.level): float(r.share) for r in shares.itertuples(index=False)}


def _open(t: pd.DataFrame, never: set[str]) -> list[tuple[int, str, int]]:
    """(row, ods, year) of every open CCG-year (unknown or only 'not delegated'; never-delegated counts as open)."""
    return [(i, r["ods_code"], y) for i, r in enumerate(t.to_dict("records")) for y in (2015, 2016)
            if r[f"level_{y}"] in ("unknown", "not_delegated")]


def test_uniform_history_shares_equal_the_enumeration_exactly():
    enum = histories(CASE, CONSTRAINTS, NEVER)
    pairs = [(a15, a16) for a15, ext in enum.items() for a16 in ext]
    assert len(pairs) > 20 and len({a15 for a15, _ in pairs}) > 3  # not a degenerate case
    got = _share_table(completion_shares(CASE, CONSTRAINTS, NEVER))
    expected = {}
    for i, ods, year in _open(CASE, NEVER):
        for level in _options(CASE.iloc[i][f"level_{year}"], year, ods in NEVER):
            hits = sum((a15 if year == 2015 else a16)[i] == level for a15, a16 in pairs)
            expected[(ods, year, level)] = float(Fraction(hits, len(pairs)))
    assert set(got) == set(expected)
    assert max(abs(got[k] - expected[k]) for k in expected) < 1e-12
    # the area team's bound shows: A1 is 'greater involvement or none' more often than B1 in the other area
    assert got[("A1", 2015, GIN)] > got[("B1", 2015, GIN)]


def test_two_stage_shares_exact_for_2015_and_estimated_for_2016():
    enum = histories(CASE, CONSTRAINTS, NEVER)
    shares = completion_shares(CASE, CONSTRAINTS, NEVER, prior=TWO_STAGE, draws=20_000, seed=3)
    got = _share_table(shares)
    for i, ods, year in _open(CASE, NEVER):
        for level in _options(CASE.iloc[i][f"level_{year}"], year, ods in NEVER):
            if year == 2015:
                want = sum(a15[i] == level for a15 in enum) / len(enum)
                assert abs(got[(ods, year, level)] - want) < 1e-12
            else:  # P(a16) = 1/|2015 completions| x 1/|its extensions|
                want = sum(sum(a16[i] == level for a16 in ext) / len(ext) for ext in enum.values()) / len(enum)
                assert abs(got[(ods, year, level)] - want) < 4 * np.sqrt(want * (1 - want) / 20_000) + 1e-9
    assert shares.loc[shares["year"] == 2015, "exact"].all()
    assert not shares.loc[shares["year"] == 2016, "exact"].any()
    assert shares.loc[shares["year"] == 2016, "method"].str.contains("20000 seeded draws").all()


def test_json_form_and_refusals():
    shares = completion_shares(CASE, CONSTRAINTS, NEVER)
    js = shares_json(shares, ["A1", "N2"])
    assert set(js) == {"A1", "N2"} and set(js["A1"]) == {"2015", "2016"} and set(js["N2"]) == {"2015", "2016"}
    assert js["A1"]["2015"]["exact"] is True and set(js["A1"]["2015"]["levels"]) == {D, J, GIN}
    assert set(js["N2"]["2015"]["levels"]) == {J, GIN}  # newly authorised for 2016: never delegated in 2015/16
    assert abs(sum(js["A1"]["2016"]["levels"].values()) - 1) < 1e-3
    with pytest.raises(ValueError, match="uniform-histories"):
        completion_shares(CASE, CONSTRAINTS, NEVER, prior="flat")
    assert UNIFORM_HISTORIES in str(completion_shares.__defaults__)


def test_real_shares_add_up_to_the_published_totals(atlas):
    t, cs = atlas.table, totals.read_constraints()
    never = levels.newly_authorised_2016(atlas.level_rows)
    shares = completion_shares(t, cs, never)
    assert shares["exact"].all()
    per_ccg_year = shares.groupby(["ods_code", "year"])["share"].sum()
    assert np.allclose(per_ccg_year, 1.0)
    # 2015/16 delegated is exactly 63 in every completion, so the unknowns' delegated shares add up to 63 less
    # the CCGs known delegated; likewise the Surrey and Sussex CCGs' expected number with neither joint nor
    # delegated (known ones included) is at least the 5 that did not apply.
    known_d = int((t["level_2015"] == D).sum())
    assert shares.query("year == 2015 and level == @D")["share"].sum() == pytest.approx(63 - known_d)
    sx = set(t.loc[t["area_team"] == "Surrey and Sussex", "ods_code"])
    known_gin = int(t.loc[t["area_team"] == "Surrey and Sussex", "level_2015"].isin([GI, N]).sum())
    in_sx = shares[shares["ods_code"].isin(sx)]
    expected_gin = in_sx.query("year == 2015 and level == @GIN")["share"].sum()
    assert expected_gin + known_gin >= 5 - 1e-9
    # no source reports a CCG with no role in 2016/17, and no completion gives one (BJGP's partition)
    assert (shares.query("year == 2016 and level == @N")["share"] == 0).all()
    # the CCG on which 114 (HSJ, NHS England) and 115 (BJGP) delegated disagree is joint or greater involvement
    expected = {lvl: shares.query("year == 2016 and level == @lvl")["share"].sum()
                + int((t["level_2016"] == lvl).sum()) for lvl in (D, J, GI)}
    assert 114 <= expected[D] <= 115 and 68 <= expected[J] <= 69 and 26 <= expected[GI] <= 27
    assert sum(expected.values()) == pytest.approx(209)
