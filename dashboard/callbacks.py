"""Thin callbacks: read inputs, call pure functions, write outputs. The atlas is passed in once."""

from __future__ import annotations

from functools import lru_cache

from dash import ClientsideFunction, Dash, Input, Output, Patch, State, ctx, no_update

from dashboard import components, figures, summaries
from dashboard.clustering_view import cluster_table, clustering_panel
from dashboard.layout import area_team_options
from dashboard.state import (
    ViewState,
    Vocabulary,
    filter_mask,
    filters_only,
    from_store,
    map_parts,
    next_state,
    normalise,
    slide_filename,
    to_query,
    to_store,
)
from geodata.atlas import Atlas

CONTROLS = ("year", "view", "region", "area-team", "imd-range", "ccg-search")


def register(app: Dash, atlas: Atlas) -> None:
    vocab = Vocabulary.from_table(atlas.table)

    @app.callback(
        Output("url", "search"), Output("view-state", "data"), Output("notices", "children"),
        *[Output(c, "value") for c in CONTROLS],
        Input("url", "search"), *[Input(c, "value") for c in CONTROLS],
        Input("ccg-map", "clickData"), Input("ccg-map", "selectedData"), Input("reset", "n_clicks"),
    )
    def sync_state(search, year, view, regions, teams, imd, ccgs, click, selected, _reset):  # noqa: ANN001
        """URL and controls kept in step: a URL change sets the controls, a control change sets the URL."""
        trigger = next(iter(ctx.triggered_prop_ids), "") if ctx.triggered_id else ""
        state = next_state(vocab, trigger, search, year, view, regions, teams, imd, ccgs, click, selected)
        query = to_query(state)
        controls = [state.year, state.view, list(state.regions), list(state.area_teams), list(state.imd),
                    list(state.ccgs)]
        # A control already showing its value is left alone, so the callbacks it feeds (the area-team list) do
        # not fire again for nothing.
        shown = [year, view, regions, teams, imd, ccgs]
        controls = [no_update if new == old else new for new, old in zip(controls, shown)]
        return (query if query != search else no_update, to_store(state), components.notices(state.notices),
                *controls)

    @app.callback(
        Output("ccg-map", "figure"), Output("map-applied", "data"), Output("map-bounds", "data"),
        Input("view-state", "data"), Input("show-clusters", "value"), State("map-applied", "data"),
    )
    def update_map(data, show_clusters, applied):  # noqa: ANN001
        """Patch only the arrays that changed: geometry is sent once, with the page."""
        state = from_store(data, vocab)
        arr = figures.map_arrays(atlas, state)
        applied = applied if isinstance(applied, dict) else {}
        now = map_parts(state, bool(show_clusters))
        patch = Patch()
        if applied.get("colour") != now["colour"]:
            patch["data"][0]["z"] = arr.z
            patch["data"][0]["colorscale"] = arr.colorscale
            patch["data"][0]["hovertemplate"] = arr.hovertemplate
            patch["layout"]["legend"]["title"]["text"] = figures.legend_title(state)
            for i, (color, visible) in enumerate(zip(arr.legend_colors, arr.legend_visible)):
                patch["data"][figures.T_LEGEND + i]["marker"]["color"] = color
                patch["data"][figures.T_LEGEND + i]["visible"] = visible
        if applied.get("filter") != now["filter"]:
            patch["data"][0]["marker"]["opacity"] = arr.opacity
            for i, name in enumerate(arr.legend_names):
                patch["data"][figures.T_LEGEND + i]["name"] = figures.legend_entry(name)
        if applied.get("selection") != now["selection"]:
            patch["data"][0]["marker"]["line"]["width"] = arr.line_width
            patch["data"][0]["marker"]["line"]["color"] = arr.line_color
            patch["data"][0]["selectedpoints"] = None
        if applied.get("clusters") != now["clusters"]:
            clusters = cluster_table(atlas, state) if show_clusters else None
            lon, lat, text = figures.cluster_points(atlas, clusters)
            patch["data"][figures.T_CLUSTERS]["lon"] = lon
            patch["data"][figures.T_CLUSTERS]["lat"] = lat
            patch["data"][figures.T_CLUSTERS]["text"] = text
        bounds = figures.filter_bounds(atlas, state) if applied.get("filter") != now["filter"] else no_update
        return patch, now, bounds

    # Outputs depend on the view state alone, so a state seen before is answered from a per-process cache.
    @lru_cache(maxsize=512)
    def counts_for(state: ViewState) -> tuple[object, object]:
        return (components.level_summary(summaries.level_counts(atlas, state), state.year,
                                         summaries.coverage_sentence(atlas, state)),
                components.transition_table(summaries.transition_counts(atlas, state)))

    @lru_cache(maxsize=512)
    def team_chart_for(state: ViewState) -> dict:
        return figures.team_share_figure(atlas.table, filter_mask(atlas.table, state), state.year)

    @lru_cache(maxsize=512)
    def imd_chart_for(state: ViewState, selected: tuple[str, ...]) -> dict:
        return figures.imd_by_level_figure(atlas.table, filter_mask(atlas.table, state), state.year, selected)

    @lru_cache(maxsize=256)
    def clustering_for(state: ViewState) -> list[object]:
        return clustering_panel(atlas, state)

    # Separate callbacks, so the browser asks for them in parallel and each stays small and fast.
    @app.callback(Output("level-summary", "children"), Output("transition-summary", "children"),
                  Input("view-state", "data"))
    def update_counts(data):  # noqa: ANN001
        return counts_for(filters_only(from_store(data, vocab)))

    @app.callback(Output("team-chart", "figure"), Input("view-state", "data"))
    def update_team_chart(data):  # noqa: ANN001
        return team_chart_for(filters_only(from_store(data, vocab)))

    @app.callback(Output("imd-chart", "figure"), Input("view-state", "data"))
    def update_imd_chart(data):  # noqa: ANN001
        state = from_store(data, vocab)
        return imd_chart_for(filters_only(state), state.ccgs)

    @app.callback(
        Output("ccg-table", "rowData"), Output("ccg-table", "selectedRows"), Output("ccg-details", "children"),
        Output("export-png", "href"), Output("export-png", "download"), Output("export-link", "href"),
        Output("table-caption", "children"), Input("view-state", "data"),
    )
    def update_table(data):  # noqa: ANN001
        state = from_store(data, vocab)
        query = to_query(state)
        rows = summaries.table_rows(atlas, state)
        return (
            rows,
            {"ids": list(state.ccgs)},
            components.details_panel([d for c in state.ccgs if (d := summaries.details(atlas, c))]),
            f"/export.png{query}&download=1",
            slide_filename(state),
            f"/export.png{query}",
            summaries.table_caption(atlas, state, len(rows)),
        )

    # Framing depends on the graph's size, which only the browser knows: fitted there, sent as a Patch.
    app.clientside_callback(
        ClientsideFunction(namespace="atlas", function_name="fitMap"),
        Output("ccg-map", "figure", allow_duplicate=True), Input("map-bounds", "data"),
        prevent_initial_call="initial_duplicate",
    )

    @lru_cache(maxsize=32)
    def team_options_for(regions: tuple[str, ...]) -> list[dict[str, object]]:
        return area_team_options(atlas, regions)

    @app.callback(Output("area-team", "options"), Input("region", "value"), prevent_initial_call=True)
    def update_team_options(regions):  # noqa: ANN001
        """Offer only the chosen regions' teams, so a team and a region that exclude each other cannot be picked."""
        return team_options_for(normalise(vocab, regions=regions).regions)

    app.clientside_callback(
        ClientsideFunction(namespace="atlas", function_name="clearPlotlySelection"),
        Output("map-plotly-selection", "data"), Input("ccg-map", "selectedData"), prevent_initial_call=True,
    )

    @app.callback(Output("clustering", "children"), Input("view-state", "data"))
    def update_clustering(data):  # noqa: ANN001
        return clustering_for(filters_only(from_store(data, vocab)))

    @app.callback(Output("ccg-table", "exportDataAsCsv"), Input("table-csv", "n_clicks"), prevent_initial_call=True)
    def export_table(_n):  # noqa: ANN001
        return True

