"""Figure functions on the real atlas: what the map and charts show for a view."""

from __future__ import annotations

import json

from dashboard import figures, summaries
from dashboard.page import components, table
from dashboard.report import report_for
from dashboard.state import ViewState, normalise


def test_map_has_all_ccgs_coloured_by_year(atlas, service) -> None:  # noqa: ANN001
    fig = figures.map_figure(service.view(ViewState(year=2016)))
    ccg = fig.data[figures.T_CCG]
    assert len(ccg.locations) == 209 and len(ccg.geojson["features"]) == 209
    assert ccg.type == "choropleth" and ccg.geo == "geo"  # SVG paths on a geo subplot, not MapLibre's WebGL
    geo = fig.layout.geo
    # nothing fetched: no base layer shown, and the subplot's first trace a line without a locationmode
    assert geo.visible is False and not any(geo[k] for k in figures.HIDDEN_BASE)
    assert fig.data[0].type == "scattergeo" and fig.data[0].locationmode is None
    order = list(figures.LEVEL_ORDER)
    assert list(ccg.z) == [order.index(v) for v in atlas.table["level_2016"]]  # England: nothing faded
    a15 = figures.map_arrays(service.view(ViewState(year=2015)))
    assert a15.z != list(ccg.z)


def test_colours_are_fixed_and_unknown_differs_from_none() -> None:
    colours = [figures.LEVEL_COLOR[level] for level in figures.LEVEL_ORDER]
    assert len(set(colours)) == len(colours)
    assert figures.LEVEL_COLOR["unknown"] != figures.LEVEL_COLOR["none"]
    scale = figures.discrete_colorscale(colours)
    assert scale[0][1] == colours[0] and scale[-1][1] == colours[-1]


def test_filter_fades_outside_and_legend_counts_the_filter(atlas, service) -> None:  # noqa: ANN001
    state = normalise(service.vocabulary, 2016, ["Greater Manchester"])
    arr = figures.map_arrays(service.view(state))
    assert sum(o == figures.IN_OPACITY for o in arr.opacity) == 12
    gm = atlas.table[atlas.table["area_team"] == "Greater Manchester"]
    delegated = int((gm["level_2016"] == "delegated").sum())
    assert arr.legend_names[0] == f"{figures.LEVEL_LABEL['delegated']}: {delegated}"
    assert sum(int(n.rsplit(": ", 1)[1]) for n in arr.legend_names if n) == 12


def test_selection_outlines_only_selected(atlas, service) -> None:  # noqa: ANN001
    arr = figures.map_arrays(service.view(ViewState(ccgs=("E38000024",))))
    assert sorted(arr.line_width)[-1] == figures.SELECTED_WIDTH
    assert sorted(arr.line_width)[-2] == figures.LINE_WIDTH


def test_change_view_names_new_delegations(atlas, service) -> None:  # noqa: ANN001
    arr = figures.map_arrays(service.view(ViewState(view="change")))
    t = atlas.table
    new = ((t["level_2016"] == "delegated") & t["level_2015"].isin(
        ["joint", "greater_involvement", "none", "not_delegated"])).sum()
    assert arr.z.count(figures.CHANGE_ORDER.index("new")) == new > 0
    assert figures.transition("delegated", "delegated") == "kept"
    assert figures.transition("unknown", "delegated") == "new_maybe"


def test_filter_patch_is_small_against_the_full_figure(atlas, service) -> None:  # noqa: ANN001
    full = len(figures.map_figure(service.view(ViewState())).to_json())
    arr = figures.map_arrays(service.view(ViewState(regions=("London",))))
    patch = len(json.dumps({"z": arr.fill, "names": arr.legend_names}))
    assert patch < 0.01 * full


def test_summary_counts_and_published_totals(atlas, service) -> None:  # noqa: ANN001
    counts = summaries.level_counts(service.view(ViewState(year=2016))).set_index("level")
    assert counts["ccgs"].sum() == 209
    assert counts.at["delegated", "england_published"] == 115
    assert counts.at["unknown", "ccgs"] == (atlas.table["level_2016"] == "unknown").sum()
    tab = summaries.transition_counts(service.view(ViewState()))
    assert tab.values.sum() == 209


def test_team_chart_ranks_teams_with_enough_known_ccgs_and_says_counts(atlas, service) -> None:  # noqa: ANN001
    fig = figures.team_share_figure(service.view(ViewState(year=2016)))
    teams = list(fig["data"][0]["y"])
    labels = list(fig["layout"]["yaxis"]["ticktext"])
    assert len(teams) == 25
    known = {t: int(((atlas.table["area_team"] == t) & (atlas.table["level_2016"] != "unknown")).sum()) for t in teams}
    # plotly draws the last category at the top: the top team has at least MIN_RANKED known CCGs, all alike
    top = atlas.table[atlas.table["area_team"] == teams[-1]]["level_2016"]
    assert known[teams[-1]] >= figures.MIN_RANKED and top[top != "unknown"].nunique() == 1
    # every team with too few known CCGs sits below every ranked team, and its label says it is not ranked
    ranked = [known[t] >= figures.MIN_RANKED for t in teams]
    assert ranked == sorted(ranked), "an unranked team sits above a ranked one"
    for t, label in zip(teams, labels):
        assert (f"{known[t]} known: not ranked" in label) == (known[t] < figures.MIN_RANKED), label
        if known[t] >= figures.MIN_RANKED:
            assert f"of {known[t]} known alike" in label, label


def test_details_name_every_source(atlas, service) -> None:  # noqa: ANN001
    known = atlas.table[atlas.table["source_2016"] != ""].index[0]
    d = summaries.details(service, known)
    assert d is not None and d["years"][1][2]
    assert summaries.details(service, "E38999999") is None


def test_imd_chart_rings_selected_ccgs(atlas, service) -> None:  # noqa: ANN001
    plain = figures.imd_by_level_figure(service.view(ViewState()))
    ringed = figures.imd_by_level_figure(service.view(ViewState()), ["E38000024"])
    assert len(ringed["data"]) == len(plain["data"]) + 1
    mark = ringed["data"][-1]
    assert mark["x"] == [atlas.table.at["E38000024", "imd_score"]]
    assert mark["y"][0] in [trace["name"] for trace in plain["data"]]  # on its level's row


def _filled_from_map(wire: dict, map_json: dict) -> dict:
    """What assets/charts.js draws from a wire figure: each trace's rows looked up in the map's customdata."""
    custom = map_json["data"][figures.T_CCG]["customdata"]
    data = []
    for trace in wire["data"]:
        out = {k: v for k, v in trace.items() if k != "rows"}
        if "rows" in trace:
            out.update({k: [custom[r][i] for r in trace["rows"]] for k, i in wire["fromMap"].items()})
        data.append(out)
    return {"data": data, "layout": wire["layout"]}


def test_imd_chart_as_sent_draws_the_same_figure_from_the_map(service) -> None:  # noqa: ANN001
    """The page gets the deprivation chart's points as map rows (names and scores are in the map's customdata):
    filled in, it is the full figure, for every view kind, with a filter and with a selection."""
    import plotly.io as pio
    from plotly.utils import PlotlyJSONEncoder

    def as_sent(fig: dict) -> dict:
        return json.loads(json.dumps(fig, cls=PlotlyJSONEncoder))

    map_json = json.loads(pio.to_json(figures.map_figure(service.view(ViewState()))))
    for state in (ViewState(), ViewState(year=2015), ViewState(view="change"),
                  ViewState(area_teams=("Greater Manchester",), ccgs=("E38000024",)),
                  ViewState(area_teams=("Thames Valley",), imd=(1, 1))):
        view = service.view(state)
        full = as_sent(figures.imd_by_level_figure(view, state.ccgs))
        wire = as_sent(figures.imd_by_level_figure(view, state.ccgs, wire=True))
        assert not any("x" in t or "text" in t for t in wire["data"]), "names and scores are not sent again"
        assert _filled_from_map(wire, map_json) == full, state


def _team_chart_from_wire(wire: dict) -> dict:
    """What assets/charts.js (teamChart) draws from the team chart as sent: names put back on every bar."""
    if "teams" not in wire:
        return wire
    teams, hover = wire["teams"], wire["hover"]
    data = [{**trace, "y": teams, "x": [row[0] for row in trace["customdata"]],
             "customdata": [[*row, h] for row, h in zip(trace["customdata"], hover)]} for trace in wire["data"]]
    return {"data": data, "layout": {**wire["layout"], "yaxis": {**wire["layout"]["yaxis"], "tickvals": teams,
                                                                  "categoryarray": teams}}}


def test_team_chart_as_sent_draws_the_same_figure_with_each_name_once(service) -> None:  # noqa: ANN001
    """The page gets the team chart with each team's name and hover name once: put back, it is the full figure,
    for both views, a filter and no CCGs at all; the bars are counts drawn as shares of each team (barnorm)."""
    from plotly.utils import PlotlyJSONEncoder

    def as_sent(fig: dict) -> str:
        return json.dumps(fig, cls=PlotlyJSONEncoder, sort_keys=True)

    for state in (ViewState(), ViewState(year=2015), ViewState(view="change"),
                  ViewState(area_teams=("Greater Manchester",)), ViewState(area_teams=("Thames Valley",), imd=(1, 1))):
        full = figures.team_share_figure(service.view(state))
        wire = figures.team_wire(full)
        assert as_sent(_team_chart_from_wire(json.loads(as_sent(wire)))) == as_sent(full), state
        if full["data"]:
            names = full["data"][0]["y"]
            assert not any(json.dumps(name) in as_sent(wire["data"]) for name in names), "names are sent once"
            assert all(trace["y"] == names for trace in full["data"])
    level = figures.team_share_figure(service.view(ViewState()))
    assert level["layout"]["barnorm"] == "fraction" and level["layout"]["xaxis"]["range"] == [0, 1]


def test_filters_that_match_no_ccg_say_so_everywhere(atlas, service) -> None:  # noqa: ANN001
    """Thames Valley has no CCG in the most deprived quintile: charts, summary and clustering say why they are empty."""
    from dashboard.page.clustering_view import clustering_panel

    state = ViewState(area_teams=("Thames Valley",), imd=(1, 1))
    view = service.view(state)
    assert view.n == 0
    charts = (figures.team_share_figure(view), figures.imd_by_level_figure(view))
    for fig in charts:
        assert fig["data"] == [] and fig["layout"]["annotations"][0]["text"].startswith("No CCG matches")
    assert summaries.coverage_sentence(view) == figures.NO_CCGS
    assert figures.NO_CCGS in str(clustering_panel(service, state))


def test_table_caption_says_when_the_selection_narrows_the_table(atlas, service) -> None:  # noqa: ANN001
    state = ViewState(regions=("London",), ccgs=("E38000011",))
    rows = table.shown_rows(service.view(state))
    caption = summaries.table_caption(service.view(state), len(rows))
    assert len(rows) == 1 and "1 selected CCG only, not all 32 in the filter" in caption
    london = service.view(ViewState(regions=("London",)))
    assert summaries.table_caption(london, 32) == "Showing the 32 CCGs in the filter."


def test_slide_names_only_outlined_ccgs_inside_the_filter(atlas, service) -> None:  # noqa: ANN001
    from dashboard.slides.words import counts_panel

    bexley, bury = "E38000011", "E38000024"  # London; Greater Manchester
    panel = counts_panel(service.view(ViewState(regions=("London",), ccgs=(bexley, bury))))
    text = " ".join("".join(t for t, _ in para) for para in panel.paragraphs)
    assert "Selected (outlined on the map): NHS Bexley CCG." in text
    assert "Selected but outside the filter, so not counted in this view: NHS Bury CCG" in text


def test_map_patch_sends_only_the_parts_that_changed(service) -> None:  # noqa: ANN001
    from dashboard.state import map_parts

    def tree() -> dict:
        from collections import defaultdict

        def node():  # noqa: ANN202
            return defaultdict(node)
        return node()

    before, after = ViewState(year=2016), ViewState(year=2016, regions=("London",))
    patch = figures.map_patch(tree(), service, service.view(after), map_parts(before, False),
                              map_parts(after, False), None)
    ccg = patch["data"][figures.T_CCG]
    assert set(ccg) == {"z"} and "colorscale" not in ccg, "a filter change re-sends which CCGs are faded only"
    assert sum(z != figures.FADED_SLOT for z in ccg["z"]) == 32
    year = figures.map_patch(tree(), service, service.view(ViewState(year=2015)), map_parts(before, False),
                             map_parts(ViewState(year=2015), False), None)
    assert "z" in year["data"][figures.T_CCG], "a year change re-sends the colours"
    picked = ViewState(year=2016, ccgs=("E38000024",))
    sel = figures.map_patch(tree(), service, service.view(picked), map_parts(before, False),
                            map_parts(picked, False), None)["data"][figures.T_CCG]
    assert set(sel) == {"marker", "selectedpoints", "z"} and set(sel["marker"]) == {"line"}, \
        "a click re-sends outlines (and which CCGs are drawn in full) only"


def test_a_selected_ccg_outside_the_filter_is_drawn_with_its_outline(service) -> None:  # noqa: ANN001
    bury = "E38000024"  # Greater Manchester, outside a London filter
    view = service.view(ViewState(regions=("London",), ccgs=(bury,)))
    arr = figures.map_arrays(view)
    i = service.position[bury]
    assert arr.opacity[i] == figures.IN_OPACITY and arr.line_width[i] == figures.SELECTED_WIDTH
    assert sum(o == figures.IN_OPACITY for o in arr.opacity) == 33
    assert arr.fill[i] == arr.z[i] != figures.FADED_SLOT, "the page map draws it in its level's colour"
    assert sum(z != figures.FADED_SLOT for z in arr.fill) == 33


def test_a_view_is_computed_once_per_state(service) -> None:  # noqa: ANN001
    state = ViewState(year=2015, area_teams=("Greater Manchester",))
    first = service.view(state)
    assert service.view(ViewState(year=2015, area_teams=("Greater Manchester",))) is first
    assert not first.mask.flags.writeable, "a view's arrays are shared, so they must be read-only"


def test_the_year_control_says_it_does_not_apply_to_the_change_view() -> None:
    from dashboard.page.layout import year_options

    assert not any(o["disabled"] for o in year_options("level"))
    change = year_options("change")
    assert all(o["disabled"] for o in change) and "both years" in change[-1]["label"]


def _patched(shown: object, sent: object) -> object:
    """What the browser shows after ``sent`` (a callback's answer: a value, ``no_update`` or a Patch of assignments)."""
    from dash import Patch, no_update

    if sent is no_update:
        return shown
    if not isinstance(sent, Patch):
        return sent
    shown = json.loads(_as_json(shown))
    for op in sent.to_plotly_json()["operations"]:
        assert op["operation"] == "Assign"
        *path, last = op["location"]
        target = shown
        for k in path:
            target = target[k]
        target[last] = op["params"]["value"]
    return shown


def _as_json(value: object) -> str:
    from dashboard.page.callbacks import _as_json as as_json

    return as_json(value)


def test_panel_patches_turn_the_panel_shown_into_the_new_one(service) -> None:  # noqa: ANN001
    """A change patches only the parts of a panel that differ, at any depth; applied to the panel shown, it gives
    the new panel: the clustering panel, its robustness section and the level and transition summaries."""
    from dash import no_update

    from dashboard.page.callbacks import changed_tree
    from dashboard.page.clustering_view import clustering_panel
    from dashboard.page.robust_view import robust_section

    def counts(state: ViewState) -> tuple[object, object]:
        return (components.level_summary(report_for(service, state)),
                components.transition_table(summaries.transition_counts(service.view(state))))

    panels = (lambda s: clustering_panel(service, s), lambda s: robust_section(service, s),
              lambda s: counts(s)[0], lambda s: counts(s)[1])
    patched = 0
    for before, after in ((ViewState(year=2016), ViewState(year=2015)),
                          (ViewState(year=2015), ViewState(year=2015, area_teams=("Greater Manchester",))),
                          (ViewState(), ViewState(view="change", year=2016)),
                          (ViewState(area_teams=("Thames Valley",), imd=(1, 1)), ViewState())):
        for make in panels:
            old, new = make(before), make(after)
            sent = changed_tree(old, new)
            patched += sent is not new and sent is not no_update
            assert _as_json(_patched(old, sent)) == _as_json(new), (before, after)
    assert patched >= 4, "no change was sent as a patch"
    for make in panels:
        assert changed_tree(make(ViewState()), make(ViewState())) is no_update
    # the transitions count both years: a year change does not send them again
    assert changed_tree(counts(ViewState())[1], counts(ViewState(year=2015))[1]) is no_update


def test_the_diff_weighs_and_chooses_as_dumping_every_subtree_would() -> None:
    """The diff carries lengths up instead of dumping each subtree again: its lengths are json.dumps's, and its
    assignments are those of the plain rule (dump the assignments and the whole subtree at every level, send the
    shorter), computed here directly on constructed trees; except that values Python calls equal but JSON writes
    differently (1 and 1.0, True and 1) are sent, where the plain rule kept the old one."""
    import json

    from dashboard.page.callbacks import _tree_ops, json_len

    def plain(old, new, path):  # noqa: ANN001, ANN202
        if old == new:
            return []
        if not ((isinstance(old, list) and isinstance(new, list) and len(old) == len(new))
                or (isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys())):
            return [(path, new)]
        keys = range(len(new)) if isinstance(new, list) else new.keys()
        ops = [op for k in keys for op in plain(old[k], new[k], (*path, k))]
        return ops if len(json.dumps(ops)) < len(json.dumps(new)) + len(json.dumps(path)) else [(path, new)]

    base = {"props": {"children": [{"props": {"children": "Écosse – 0.25", "id": "x"}, "type": "P"},
                                   [1, 2.5, None, True, {"a": []}], "text"], "className": "c"}, "type": "Div"}
    changes = [("props", "className", "d"), ("props", "children", 0, "props", "children", "other"),
               ("props", "children", 1, 4, "a", [1]), ("props", "children", 1, 2, 0.1), ("type", "Span")]
    for values in (base, *changes[:1]):
        assert json_len(values, {}) == len(json.dumps(values))
    for n in range(1, len(changes) + 1):
        new = json.loads(json.dumps(base))
        for *where, key, value in changes[:n]:
            target = new
            for k in where:
                target = target[k]
            target[key] = value
        assert json_len(new, {}) == len(json.dumps(new))
        assert _tree_ops(base, new, ()) == plain(base, new, ()), n
    assert _tree_ops(base, json.loads(json.dumps(base)), ()) == []
    assert _tree_ops(1, 1.0, ()) == [((), 1.0)] and _tree_ops([1], [True], ()) == [((), [True])]


def test_the_selection_outline_shows_on_dark_and_light_fills(service) -> None:  # noqa: ANN001
    """A selected CCG's outline contrasts with its own fill: white on delegated (near-black), dark on unknown."""
    t = service.table
    dark, light = t[t["level_2016"] == "delegated"].index[0], t[t["level_2016"] == "unknown"].index[0]
    arr = figures.map_arrays(service.view(ViewState(year=2016, ccgs=(dark, light))))
    pos = service.position
    fill = {c: figures.LEVEL_COLOR[t.at[c, "level_2016"]] for c in (dark, light)}
    for code in (dark, light):
        outline = arr.line_color[pos[code]]
        gap = abs(figures.relative_luminance(outline) - figures.relative_luminance(fill[code]))
        assert gap > 0.3 and arr.line_width[pos[code]] >= 2, (code, outline, fill[code])
