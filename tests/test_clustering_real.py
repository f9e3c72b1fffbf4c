"""Clustering statistics and the panel, through the same cached entry points the page uses.

What the panel says is tested on constructed atlases: the real CCGs, neighbours and area teams with levels the
test sets itself, so each expected sentence, count and p follows from the constructed levels, not from today's
gaps in the data. On the real atlas only checks that hold whatever levels a future ``import-levels`` adds remain
(structure, and counts the test reads from the atlas it is given).

The defect tests (issue 11) assert what the reader sees in the panel: a test that cannot be run says so, the
area-team ranking leaves out teams with too few known CCGs and shows its counts, p-values are graded, and the
technical terms are explained.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from dashboard.analysis import MIN_KNOWN, MIN_TEAM_KNOWN, PermutationTables
from dashboard.clustering_summary import cluster_table, summary_for
from dashboard.page.clustering_readings import evidence, readings
from dashboard.page.clustering_view import clustering_panel
from dashboard.service import AtlasService
from dashboard.state import ViewState
from geodata.atlas import Atlas

YEAR = 2016
D, J = "delegated", "joint"
UNTESTABLE_TITLES = ("Same-level neighbours (full levels)", "Same-level neighbours (delegated vs not delegated)",
                     "Area teams (full levels)", "Area teams (delegated vs not delegated)",
                     "Local clusters (full levels)", "Deprivation (full levels)",
                     "Deprivation (delegated vs not delegated)")


@pytest.fixture(scope="module")
def svc(atlas) -> AtlasService:  # noqa: ANN001
    """A service of its own, so that cache counts are this module's."""
    return AtlasService(atlas)


def constructed(atlas: Atlas, level_of: Callable[[str, int], str], year: int = YEAR) -> AtlasService:
    """A service for the real atlas with ``year``'s levels replaced by ``level_of(area_team, i)`` (``i``: the
    CCG's place within its team, by GSS code), stated by a constructed source, the same under every evidence
    choice. Geometry, neighbours, teams and deprivation stay real; the levels, and so the answers, are the test's."""
    t = atlas.table.copy()
    place = t.groupby("area_team").cumcount()
    lv = pd.Series([level_of(team, int(i)) for team, i in zip(t["area_team"], place)], index=t.index, dtype=object)
    known = lv != "unknown"
    for col in (f"level_{year}", f"level_{year}_approved", f"level_{year}_operating"):
        t[col] = lv
    t[f"source_{year}"] = np.where(known, "constructed for a test", "")
    t[f"evidence_{year}"] = np.where(known, "explicit", "")
    t[f"claim_{year}"] = np.where(known, "operating", "")
    return AtlasService(replace(atlas, table=t))


def team_sizes(atlas: Atlas) -> pd.Series:
    """CCGs per area team, largest first (ties by name), as the atlas's CSV gives them."""
    counts = atlas.table["area_team"].value_counts()
    return counts.sort_index().sort_values(ascending=False, kind="stable")


def texts(component: object) -> list[str]:
    """The text of every paragraph, heading and table row of the panel, as the reader sees it."""
    if isinstance(component, str | int | float):
        return [str(component)]
    if isinstance(component, list | tuple):
        return [t for c in component for t in texts(c)]
    children = getattr(component, "children", None)
    if children is None:
        return []
    if type(component).__name__ in ("P", "H3", "Tr", "Th", "Td"):
        return [" ".join(texts(children))]
    return texts(children)


def panel_text(svc: AtlasService, state: ViewState) -> list[str]:
    return texts(clustering_panel(svc, state))


def known(atlas, year: int, team: str | None = None):  # noqa: ANN001, ANN201
    t = atlas.table if team is None else atlas.table[atlas.table["area_team"] == team]
    return t[t[f"level_{year}"] != "unknown"]


# --- the real atlas: structure, and counts read from it ---------------------------------------------------------


def test_every_ccg_is_used_or_counted_as_unknown(svc: AtlasService) -> None:
    for year in (2015, 2016):
        s = summary_for(svc, ViewState(year=year))
        unknown = int((svc.table[f"level_{year}"] == "unknown").sum())
        assert s.coverage.n_excluded_unknown == unknown
        assert s.coverage.n_used + s.coverage.n_excluded_unknown == len(svc.table)
        assert str(unknown) in readings(s)["coverage"].text


def test_area_teams_are_ranked_on_their_known_ccgs(svc: AtlasService) -> None:
    for year in (2015, 2016):
        per_team = summary_for(svc, ViewState(year=year)).full.concordance.per_team
        if per_team.empty:  # the area-team test did not run (too few known levels): nothing to rank
            continue
        teams = per_team.set_index("team")
        assert set(teams.index) == set(svc.atlas.area_teams)  # every team of the CSV, ranked or not
        sizes = svc.table["area_team"].value_counts()
        for team, row in teams.iterrows():
            assert row["n_known"] + row["n_unknown"] == sizes[team], team
            lv = known(svc.atlas, year, team)[f"level_{year}"]
            assert row["n_known"] == len(lv), team
            if len(lv):
                assert abs(row["modal_share"] - lv.value_counts().iloc[0] / len(lv)) < 1e-9, team
            assert bool(row["ranked"]) == (len(lv) >= MIN_TEAM_KNOWN), team
        ranked = per_team[per_team["ranked"]]
        shares = ranked["modal_share"].tolist()
        assert shares == sorted(shares, reverse=True)
        assert per_team["ranked"].tolist() == sorted(per_team["ranked"].tolist(), reverse=True)  # ranked first


def test_isle_of_wight_is_never_a_neighbour(svc: AtlasService) -> None:
    assert svc.atlas.neighbours["E38000087"] == []
    table = cluster_table(svc, ViewState(year=2016))
    if "E38000087" in table.index:
        assert bool(table.at["E38000087", "island"]) and table.at["E38000087", "n_neighbours"] == 0


def test_filtered_view_uses_only_the_filter_and_is_cached(svc: AtlasService) -> None:
    state = ViewState(year=2016, regions=("London",))
    s = summary_for(svc, state)
    assert s.n_selected == int((svc.table["region"] == "London").sum())
    cache = svc.cache("summary")
    before = cache.hits
    assert summary_for(svc, state) is s
    assert cache.hits == before + 1


def test_relabellings_are_owned_by_the_service(svc: AtlasService) -> None:
    summary_for(svc, ViewState(year=2015))
    store = svc.derived("analysis.permutations", lambda: None)
    assert isinstance(store, PermutationTables) and store.misses >= 1 and len(store) <= store.max_entries
    other = AtlasService(svc.atlas)
    summary_for(other, ViewState(year=2015))
    assert other.derived("analysis.permutations", lambda: None) is not store


def test_cluster_layer_marks_only_significant_known_ccgs(svc: AtlasService) -> None:
    table = cluster_table(svc, ViewState(year=2016))
    sig = table[table["significant"]]
    assert (sig["p_value"] <= 0.05).all() and (sig["n_same"] >= 1).all()
    assert set(sig.index) <= set(svc.table.index[svc.table["level_2016"] != "unknown"])
    assert {"significant", "n_same", "n_neighbours", "p_value"} <= set(table.columns)


def test_p_values_are_graded(svc: AtlasService) -> None:
    """Whatever the levels: every test that ran states its p's grade; one that could not run says so."""
    for year in (2015, 2016):
        s = summary_for(svc, ViewState(year=year))
        r = readings(s)
        for key, p in (("join_counts.full", min(s.full.join_counts.total_p_cluster,
                                                s.full.join_counts.total_p_dispersion)),
                       ("concordance.full", s.full.concordance.p_value),
                       ("concordance.binary", s.binary.concordance.p_value),
                       ("deprivation.full", s.deprivation.kruskal_p),
                       ("deprivation.binary", s.deprivation.diff_p_two_sided)):
            if r[key].not_run:
                assert "cannot be tested" in r[key].text and "evidence" not in r[key].text, key
                continue
            assert math.isfinite(p)
            assert f": {evidence(p)} " in r[key].text, (key, p, r[key].text)


# --- defect 1: a test that cannot be run says so (constructed atlases) --------------------------------------------


def test_a_team_all_at_one_level_says_cannot_be_tested_not_no_evidence(atlas) -> None:  # noqa: ANN001
    """The largest area team, every CCG delegated but two of unknown level: nothing can be tested inside it."""
    team, size = team_sizes(atlas).index[0], int(team_sizes(atlas).iloc[0])
    n = size - 2
    assert n >= MIN_KNOWN  # the largest team of the CSV is big enough for the case
    service = constructed(atlas, lambda t, i: (D if i >= 2 else "unknown") if t == team else J)
    state = ViewState(year=YEAR, area_teams=(team,))
    lines = panel_text(service, state)
    why = f"cannot be tested: all {n} CCGs of known level are delegated"
    for title in UNTESTABLE_TITLES:
        assert f"{title}: {why}." in lines
    assert not any("evidence" in line and "cannot" not in line for line in lines if "graded" not in line)
    assert not any("expected by chance (p" in line for line in lines)
    assert any("the checkbox under the map marks no ccg" in line.lower() for line in lines)
    assert not cluster_table(service, state)["significant"].any()
    # nothing was tested, so no term needs explaining
    assert not any("Cramér's V measures" in line or "Kruskal-Wallis asks" in line for line in lines)


def test_the_same_team_at_two_levels_is_tested(atlas) -> None:  # noqa: ANN001
    """The counterpart: the same team's known CCGs alternate delegated and joint, so its tests run."""
    team = team_sizes(atlas).index[0]
    service = constructed(atlas, lambda t, i: (D if i % 2 else J) if t == team else "unknown")
    lines = panel_text(service, ViewState(year=YEAR, area_teams=(team,)))
    neighbours = next(line for line in lines if line.startswith("Same-level neighbours (full levels):"))
    assert "cannot be tested" not in neighbours and "expected by chance" in neighbours
    deprivation = next(line for line in lines if line.startswith("Deprivation (delegated vs not delegated):"))
    assert "cannot be tested" not in deprivation


@pytest.mark.parametrize("n", [0, 1, MIN_KNOWN - 1])
def test_too_few_known_ccgs_say_so(atlas, n: int) -> None:  # noqa: ANN001
    """A team with ``n`` CCGs of known level (of two levels, so only the count stops the tests)."""
    team = team_sizes(atlas).index[0]
    service = constructed(atlas, lambda t, i: (D if i % 2 else J) if t == team and i < n else "unknown")
    lines = panel_text(service, ViewState(year=YEAR, area_teams=(team,)))
    why = (f"cannot be tested: only {n} CCG{'s' if n != 1 else ''} of known level, fewer than the {MIN_KNOWN} a "
           "test needs") if n else "cannot be tested: no CCG in the filter has a known level"
    assert f"Same-level neighbours (full levels): {why}." in lines
    assert f"Deprivation (delegated vs not delegated): {why}." in lines


# --- defect 2: rank area teams on what is known, with counts, leaving thin teams out (constructed) ---------------


def test_most_uniform_team_is_ranked_on_known_ccgs_with_counts(atlas) -> None:  # noqa: ANN001
    """Three teams: A all known, all delegated but one joint; B all known, alternating; C uniform but thin
    (one CCG short of being ranked), so it must not be called the most uniform. Every other team unknown."""
    sizes = team_sizes(atlas)
    a, b, c = sizes.index[:3]
    thin = MIN_TEAM_KNOWN - 1

    def level(t: str, i: int) -> str:
        if t == a:
            return J if i == 0 else D
        if t == b:
            return D if i % 2 else J
        return D if t == c and i < thin else "unknown"

    service = constructed(atlas, level)
    lines = panel_text(service, ViewState(year=YEAR))
    known_of = {t: (sizes[t] if t in (a, b) else thin if t == c else 0) for t in sizes.index}
    n_a, n_b = int(sizes[a]), int(sizes[b])
    assert (n_a - 1) / n_a > (n_b - n_b // 2) / n_b  # A is the most uniform ranked team, by the test's own count
    uniform = next(line for line in lines if line.startswith("Most uniform area team:"))
    assert uniform.startswith(f"Most uniform area team: {a} ({n_a - 1} of {n_a} known CCGs chose")
    unranked = next(line for line in lines
                    if line.startswith(f"Not ranked, fewer than {MIN_TEAM_KNOWN} CCGs of known level:"))
    for team, k in known_of.items():
        assert (f"{team} ({k} of {sizes[team]})" in unranked) == (k < MIN_TEAM_KNOWN), team
    rows = {t: line for line in lines for t in sizes.index if line.startswith(t + " ")}  # the per-team table
    assert set(rows) == {a, b}
    assert f" {n_a - 1} of {n_a} " in rows[a]
    assert f" {max(n_b // 2, n_b - n_b // 2)} of {n_b} " in rows[b]


# --- defect 3: graded evidence, and terms explained ------------------------------------------------------------------


def test_teams_each_at_one_level_are_strong_evidence_at_the_smallest_p(atlas) -> None:  # noqa: ANN001
    """Every CCG at its team's level (teams take delegated, joint, delegated, ... by name): Cramér's V is 1, the
    largest possible, and a relabelling reaches it only by keeping every team pure. The test bounds that chance
    itself (at most one labelling per choice of a level for each team, of all distinct labellings), so p is the
    smallest a permutation test gives, 1 / (1 + relabellings)."""
    teams = sorted(atlas.area_teams)
    level_of_team = {t: (D if k % 2 == 0 else J) for k, t in enumerate(teams)}
    service = constructed(atlas, lambda t, i: level_of_team[t])
    s = summary_for(service, ViewState(year=YEAR))
    counts = atlas.table["area_team"].map(level_of_team).value_counts()
    distinct = math.factorial(len(atlas.table)) // math.prod(math.factorial(int(k)) for k in counts)
    assert 2 ** len(teams) * s.permutations / distinct < 1e-9  # chance that any relabelling ties the observed V
    p = 1 / (1 + s.permutations)
    assert s.full.concordance.p_value == pytest.approx(p)
    line = next(x for x in panel_text(service, ViewState(year=YEAR)) if x.startswith("Area teams (full levels)"))
    assert "Cramér's V = 1.00" in line and "100% of CCGs chose their area team's most common level" in line
    assert f"{evidence(p)} that CCGs in the same NHS England area team chose the same level" in line


TERMS = (("Cramér's V", "Cramér's V measures"), ("Kruskal-Wallis", "Kruskal-Wallis asks"),
         ("epsilon-squared", "Epsilon-squared is"), ("one-sided", "One-sided p:"))


def test_technical_terms_are_explained_where_they_appear(atlas) -> None:  # noqa: ANN001
    """Every CCG known, delegated and joint alternating within each team: every test runs, every term appears and
    is explained once."""
    lines = panel_text(constructed(atlas, lambda t, i: D if i % 2 else J), ViewState(year=YEAR))
    for term, start in TERMS:
        assert any(term in line for line in lines), term
        assert sum(start in line for line in lines) == 1, term


def test_technical_terms_on_the_real_atlas_are_explained_once_where_they_appear(svc: AtlasService) -> None:
    for year in (2015, 2016):
        lines = panel_text(svc, ViewState(year=year))
        for term, start in TERMS:
            used = any(term in line and start not in line for line in lines)
            assert sum(start in line for line in lines) == int(used), (year, term)
