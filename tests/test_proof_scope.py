"""Proofs by listing count an area team's own total (Surrey and Sussex's "5 of 12 did not apply"): the admissible
labellings the proof lists are exactly those the test finds by trying every labelling against every total."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from dashboard.completions import CODES
from dashboard.robust.proof import admissible_restricted
from geodata.totals import GREATER_INVOLVEMENT_OR_NONE, Constraint

LEVELS_2015 = ("delegated", "joint", GREATER_INVOLVEMENT_OR_NONE)


def test_listing_respects_an_area_team_total() -> None:
    table = pd.DataFrame({
        "ods_code": list("ABCDE"), "region": ["South"] * 5,
        "area_team": ["Surrey and Sussex"] * 3 + ["Wessex"] * 2,
        "level_2015": ["unknown"] * 5, "level_2016": ["unknown"] * 5,
    })
    constraints = [
        Constraint(2015, "England", "delegated", 1, 2, ("X",), ""),
        Constraint(2015, "Surrey and Sussex", GREATER_INVOLVEMENT_OR_NONE, 2, 3, ("Y",), ""),
    ]
    got = admissible_restricted(table, constraints, 2015, np.ones(5, dtype=bool))
    assert got is not None
    listed = {tuple(CODES[c] for c in row) for row in got}

    def admissible(levels: tuple[str, ...]) -> bool:
        delegated = sum(lv == "delegated" for lv in levels)
        surrey_gi = sum(lv == GREATER_INVOLVEMENT_OR_NONE for lv in levels[:3])
        return 1 <= delegated <= 2 and 2 <= surrey_gi <= 3

    want = {levels for levels in itertools.product(LEVELS_2015, repeat=5) if admissible(levels)}
    assert want and listed == want
