"""Clustering statistics and the panel on the real atlas, through the same cached entry points the page uses.

The defect tests (issue 11) assert what the reader sees in the panel: a test that cannot be run says so, the
area-team ranking leaves out teams with too few known CCGs and shows its counts, p-values are graded, and the
technical terms are explained.
"""

from __future__ import annotations

import math

import pytest

from dashboard.analysis import MIN_KNOWN, MIN_TEAM_KNOWN, PermutationTables
from dashboard.clustering_summary import cluster_table, summary_for
from dashboard.page.clustering_readings import evidence, readings
from dashboard.page.clustering_view import clustering_panel
from dashboard.service import AtlasService
from dashboard.state import ViewState

GM_2016 = ViewState(year=2016, area_teams=("Greater Manchester",))


@pytest.fixture(scope="module")
def svc(atlas) -> AtlasService:  # noqa: ANN001
    """A service of its own, so that cache counts are this module's."""
    return AtlasService(atlas)


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


def test_every_ccg_is_used_or_counted_as_unknown(svc: AtlasService) -> None:
    for year in (2015, 2016):
        s = summary_for(svc, ViewState(year=year))
        unknown = int((svc.table[f"level_{year}"] == "unknown").sum())
        assert s.coverage.n_excluded_unknown == unknown
        assert s.coverage.n_used + s.coverage.n_excluded_unknown == 209
        assert str(unknown) in readings(s)["coverage"].text


def test_area_teams_ranked_and_greater_manchester_uniform_in_2016(svc: AtlasService) -> None:
    s = summary_for(svc, ViewState(year=2016))
    per_team = s.full.concordance.per_team
    teams = per_team.set_index("team")
    assert len(teams) == 25
    gm = known(svc.atlas, 2016, "Greater Manchester")
    assert teams.at["Greater Manchester", "n_known"] == len(gm)
    expected = gm["level_2016"].value_counts().iloc[0] / len(gm)
    assert abs(teams.at["Greater Manchester", "modal_share"] - expected) < 1e-9
    ranked = per_team[per_team["ranked"]]
    assert (ranked["n_known"] >= MIN_TEAM_KNOWN).all() and (per_team[~per_team["ranked"]]["n_known"] < 3).all()
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


# --- defect 1: a test that cannot be run says so ----------------------------------------------------------------


def test_greater_manchester_2016_says_cannot_be_tested_not_no_evidence(svc: AtlasService) -> None:
    gm = known(svc.atlas, 2016, "Greater Manchester")
    assert len(gm) >= MIN_KNOWN and set(gm["level_2016"]) == {"delegated"}  # the case of the issue
    lines = panel_text(svc, GM_2016)
    why = f"cannot be tested: all {len(gm)} CCGs of known level are delegated"
    for title in ("Same-level neighbours (full levels)", "Same-level neighbours (delegated vs not delegated)",
                  "Area teams (full levels)", "Area teams (delegated vs not delegated)", "Local clusters (full levels)",
                  "Deprivation (full levels)", "Deprivation (delegated vs not delegated)"):
        assert f"{title}: {why}." in lines
    assert not any("evidence" in line and "cannot" not in line for line in lines if "graded" not in line)
    assert not any("expected by chance (p" in line for line in lines)
    assert any("the checkbox under the map marks no ccg" in line.lower() for line in lines)
    assert not cluster_table(svc, GM_2016)["significant"].any()


def test_too_few_known_ccgs_say_so(svc: AtlasService) -> None:
    lancs = known(svc.atlas, 2016, "Lancashire")
    assert len(lancs) < MIN_KNOWN
    lines = panel_text(svc, ViewState(year=2016, area_teams=("Lancashire",)))
    n = len(lancs)
    why = (f"cannot be tested: only {n} CCG{'s' if n != 1 else ''} of known level, fewer than the {MIN_KNOWN} a "
           "test needs") if n else "cannot be tested: no CCG in the filter has a known level"
    assert f"Same-level neighbours (full levels): {why}." in lines
    assert f"Deprivation (delegated vs not delegated): {why}." in lines


# --- defect 2: rank area teams on what is known, with counts, leaving thin teams out --------------------------------


def test_most_uniform_team_is_ranked_on_known_ccgs_with_counts(svc: AtlasService) -> None:
    atlas = svc.atlas
    lines = panel_text(svc, ViewState(year=2016))
    per_team = {team: (len(known(atlas, 2016, team)), int((atlas.table["area_team"] == team).sum()))
                for team in atlas.area_teams}
    thin = {t for t, (k, _) in per_team.items() if k < MIN_TEAM_KNOWN}
    assert "Lancashire" in thin and "West Yorkshire" not in thin  # the teams of the issue
    uniform = next(line for line in lines if line.startswith("Most uniform area team:"))
    assert not any(t in uniform for t in thin)
    unranked = next(line for line in lines if line.startswith("Not ranked, fewer than 3 CCGs of known level:"))
    for team in thin:
        k, n = per_team[team]
        assert f"{team} ({k} of {n})" in unranked
    rows = {t: line for line in lines for t in per_team if line.startswith(t + " ")}  # the per-team table
    assert "West Yorkshire" in rows and not thin & set(rows)
    wy = known(atlas, 2016, "West Yorkshire")["level_2016"].value_counts()
    assert f" {wy.iloc[0]} of {wy.sum()} " in rows["West Yorkshire"]


# --- defect 3: graded evidence, and terms explained ------------------------------------------------------------------


def test_p_values_are_graded(svc: AtlasService) -> None:
    for year in (2015, 2016):
        s = summary_for(svc, ViewState(year=year))
        r = readings(s)
        for key, p in (("join_counts.full", min(s.full.join_counts.total_p_cluster,
                                                s.full.join_counts.total_p_dispersion)),
                       ("concordance.full", s.full.concordance.p_value),
                       ("concordance.binary", s.binary.concordance.p_value),
                       ("deprivation.full", s.deprivation.kruskal_p),
                       ("deprivation.binary", s.deprivation.diff_p_two_sided)):
            assert math.isfinite(p)
            assert f": {evidence(p)} " in r[key].text, (key, p, r[key].text)
    s = summary_for(svc, ViewState(year=2016))
    p = s.full.concordance.p_value
    assert 0.05 <= p < 0.10  # the real case: area team and full level in 2016/17
    line = next(x for x in panel_text(svc, ViewState(year=2016)) if x.startswith("Area teams (full levels)"))
    assert "weak evidence that CCGs in the same NHS England area team chose the same level" in line
    assert "no evidence" not in line


def test_technical_terms_are_explained_where_they_appear(svc: AtlasService) -> None:
    lines = panel_text(svc, ViewState(year=2016))
    for term, start in (("Cramér's V", "Cramér's V measures"), ("Kruskal-Wallis", "Kruskal-Wallis asks"),
                        ("epsilon-squared", "Epsilon-squared is"), ("one-sided", "One-sided p:")):
        assert any(term in line for line in lines)
        assert sum(start in line for line in lines) == 1, term
    gm = panel_text(svc, GM_2016)  # nothing was tested, so nothing to explain
    assert not any("Cramér's V measures" in line or "Kruskal-Wallis asks" in line for line in gm)
