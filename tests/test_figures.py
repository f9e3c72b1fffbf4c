"""Figure functions on the real atlas: what the map and charts show for a view."""

from __future__ import annotations

import json

from dashboard import figures, summaries
from dashboard.state import ViewState, Vocabulary, normalise


def test_map_has_all_ccgs_coloured_by_year(atlas) -> None:  # noqa: ANN001
    fig = figures.map_figure(atlas, ViewState(year=2016))
    ccg = fig.data[figures.T_CCG]
    assert len(ccg.locations) == 209 and len(ccg.geojson["features"]) == 209
    assert fig.layout.map.style == "white-bg"  # no tiles, nothing fetched
    order = list(figures.LEVEL_ORDER)
    assert list(ccg.z) == [order.index(v) for v in atlas.table["level_2016"]]
    a15 = figures.map_arrays(atlas, ViewState(year=2015))
    assert a15.z != list(ccg.z)


def test_colours_are_fixed_and_unknown_differs_from_none() -> None:
    colours = [figures.LEVEL_COLOR[level] for level in figures.LEVEL_ORDER]
    assert len(set(colours)) == len(colours)
    assert figures.LEVEL_COLOR["unknown"] != figures.LEVEL_COLOR["none"]
    scale = figures.discrete_colorscale(colours)
    assert scale[0][1] == colours[0] and scale[-1][1] == colours[-1]


def test_filter_fades_outside_and_legend_counts_the_filter(atlas) -> None:  # noqa: ANN001
    vocab = Vocabulary.from_table(atlas.table)
    state = normalise(vocab, 2016, ["Greater Manchester"])
    arr = figures.map_arrays(atlas, state)
    assert sum(o == figures.IN_OPACITY for o in arr.opacity) == 12
    gm = atlas.table[atlas.table["area_team"] == "Greater Manchester"]
    delegated = int((gm["level_2016"] == "delegated").sum())
    assert arr.legend_names[0] == f"{figures.LEVEL_LABEL['delegated']}: {delegated}"
    assert sum(int(n.rsplit(": ", 1)[1]) for n in arr.legend_names if n) == 12


def test_selection_outlines_only_selected(atlas) -> None:  # noqa: ANN001
    arr = figures.map_arrays(atlas, ViewState(ccgs=("E38000024",)))
    assert sorted(arr.line_width)[-1] == figures.SELECTED_WIDTH
    assert sorted(arr.line_width)[-2] == figures.LINE_WIDTH


def test_change_view_names_new_delegations(atlas) -> None:  # noqa: ANN001
    arr = figures.map_arrays(atlas, ViewState(view="change"))
    t = atlas.table
    new = ((t["level_2016"] == "delegated") & t["level_2015"].isin(
        ["joint", "greater_involvement", "none", "not_delegated"])).sum()
    assert arr.z.count(figures.CHANGE_ORDER.index("new")) == new > 0
    assert figures.transition("delegated", "delegated") == "kept"
    assert figures.transition("unknown", "delegated") == "new_maybe"


def test_filter_patch_is_small_against_the_full_figure(atlas) -> None:  # noqa: ANN001
    full = len(figures.map_figure(atlas, ViewState()).to_json())
    arr = figures.map_arrays(atlas, ViewState(regions=("London",)))
    patch = len(json.dumps({"opacity": arr.opacity, "names": arr.legend_names}))
    assert patch < 0.01 * full


def test_summary_counts_and_published_totals(atlas) -> None:  # noqa: ANN001
    counts = summaries.level_counts(atlas, ViewState(year=2016)).set_index("level")
    assert counts["ccgs"].sum() == 209
    assert counts.at["delegated", "england_published"] == 115
    assert counts.at["unknown", "ccgs"] == (atlas.table["level_2016"] == "unknown").sum()
    tab = summaries.transition_counts(atlas, ViewState())
    assert tab.values.sum() == 209


def test_team_chart_puts_uniform_teams_on_top(atlas) -> None:  # noqa: ANN001
    import pandas as pd

    fig = figures.team_share_figure(atlas.table, pd.Series(True, index=atlas.table.index), 2016)
    teams = list(fig["data"][0]["y"])
    assert len(teams) == 25
    # plotly draws the last category at the top: it must be a team whose known CCGs all share one level
    top = atlas.table[atlas.table["area_team"] == teams[-1]]["level_2016"]
    known = top[top != "unknown"]
    assert len(known) and known.nunique() == 1


def test_details_name_every_source(atlas) -> None:  # noqa: ANN001
    known = atlas.table[atlas.table["source_2016"] != ""].index[0]
    d = summaries.details(atlas, known)
    assert d is not None and d["years"][1][2]
    assert summaries.details(atlas, "E38999999") is None


def test_imd_chart_rings_selected_ccgs(atlas) -> None:  # noqa: ANN001
    import pandas as pd

    everyone = pd.Series(True, index=atlas.table.index)
    plain = figures.imd_by_level_figure(atlas.table, everyone, 2016)
    ringed = figures.imd_by_level_figure(atlas.table, everyone, 2016, ["E38000024"])
    assert len(ringed["data"]) == len(plain["data"]) + 1
    mark = ringed["data"][-1]
    assert mark["x"] == [atlas.table.at["E38000024", "imd_score"]]
    assert mark["y"][0] in [trace["name"] for trace in plain["data"]]  # on its level's row


def test_filters_that_match_no_ccg_say_so_everywhere(atlas) -> None:  # noqa: ANN001
    """Thames Valley has no CCG in the most deprived quintile: charts, summary and clustering say why they are empty."""
    from dashboard.clustering_view import clustering_panel
    from dashboard.state import filter_mask

    state = ViewState(area_teams=("Thames Valley",), imd=(1, 1))
    mask = filter_mask(atlas.table, state)
    assert mask.sum() == 0
    charts = (figures.team_share_figure(atlas.table, mask, 2016), figures.imd_by_level_figure(atlas.table, mask, 2016))
    for fig in charts:
        assert fig["data"] == [] and fig["layout"]["annotations"][0]["text"].startswith("No CCG matches")
    assert summaries.coverage_sentence(atlas, state) == figures.NO_CCGS
    assert figures.NO_CCGS in str(clustering_panel(atlas, state))


def test_table_caption_says_when_the_selection_narrows_the_table(atlas) -> None:  # noqa: ANN001
    state = ViewState(regions=("London",), ccgs=("E38000011",))
    rows = summaries.table_rows(atlas, state)
    caption = summaries.table_caption(atlas, state, len(rows))
    assert len(rows) == 1 and "1 selected CCG only, not all 32 in the filter" in caption
    assert summaries.table_caption(atlas, ViewState(regions=("London",)), 32) == "Showing the 32 CCGs in the filter."


def test_slide_names_only_outlined_ccgs_inside_the_filter(atlas) -> None:  # noqa: ANN001
    from dashboard.slide import counts_panel

    bexley, bury = "E38000011", "E38000024"  # London; Greater Manchester
    panel = counts_panel(atlas, ViewState(regions=("London",), ccgs=(bexley, bury)))
    text = " ".join(t for para in panel.paragraphs for t, _ in para)
    assert "NHS Bexley CCG" in text and "NHS Bury CCG" not in text
    assert "1 selected CCG outside the filter not shown" in text
