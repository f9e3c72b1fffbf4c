"""Clustering statistics on the real atlas, through the same cached entry point the page uses."""

from __future__ import annotations

from dashboard import analysis
from dashboard.clustering_view import cluster_table, summary_for
from dashboard.state import ViewState


def test_every_ccg_is_used_or_counted_as_unknown(atlas) -> None:  # noqa: ANN001
    for year in (2015, 2016):
        s = summary_for(atlas, ViewState(year=year))
        unknown = int((atlas.table[f"level_{year}"] == "unknown").sum())
        assert s.n_excluded_unknown == unknown
        assert s.n_used + s.n_excluded_unknown == 209
        assert str(unknown) in s.readings["coverage"]


def test_area_teams_ranked_and_greater_manchester_uniform_in_2016(atlas) -> None:  # noqa: ANN001
    s = summary_for(atlas, ViewState(year=2016))
    teams = s.full.concordance.per_team.set_index("team")
    assert len(teams) == 25
    gm = atlas.table[(atlas.table["area_team"] == "Greater Manchester") & (atlas.table["level_2016"] != "unknown")]
    assert teams.at["Greater Manchester", "n_known"] == len(gm)
    expected = gm["level_2016"].value_counts().iloc[0] / len(gm)
    assert abs(teams.at["Greater Manchester", "modal_share"] - expected) < 1e-9
    shares = s.full.concordance.per_team["modal_share"].fillna(-1).tolist()
    assert shares == sorted(shares, reverse=True)


def test_isle_of_wight_is_never_a_neighbour(atlas) -> None:  # noqa: ANN001
    assert atlas.neighbours["E38000087"] == []
    table = cluster_table(atlas, ViewState(year=2016))
    if "E38000087" in table.index:
        assert bool(table.at["E38000087", "island"]) and table.at["E38000087", "n_neighbours"] == 0


def test_filtered_view_uses_only_the_filter_and_is_cached(atlas) -> None:  # noqa: ANN001
    state = ViewState(year=2016, regions=("London",))
    s = summary_for(atlas, state)
    assert s.n_selected == int((atlas.table["region"] == "London").sum())
    before = analysis.cache_info().hits
    summary_for(atlas, state)
    assert analysis.cache_info().hits == before + 1


def test_cluster_layer_marks_only_significant_known_ccgs(atlas) -> None:  # noqa: ANN001
    table = cluster_table(atlas, ViewState(year=2016))
    sig = table[table["significant"]]
    assert (sig["p_value"] <= 0.05).all() and (sig["n_same"] >= 1).all()
    assert set(sig.index) <= set(atlas.table.index[atlas.table["level_2016"] != "unknown"])
