"""Thin callbacks: read inputs, call pure functions, write outputs. The atlas is passed in once."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, Patch, State, ctx, no_update
from plotly.utils import PlotlyJSONEncoder

from dashboard import figures, ids, summaries, urls
from dashboard.change import chart_state
from dashboard.clustering_summary import cluster_table
from dashboard.page import components, table
from dashboard.page.clustering_view import clustering_panel
from dashboard.page.layout import area_team_options, year_options
from dashboard.page.robust_view import prior_section, robust_section
from dashboard.report import report_for
from dashboard.service import AtlasService
from dashboard.state import (
    EVIDENCE,
    MAP_CLICK,
    MAP_SELECT,
    ViewState,
    filters_only,
    from_store,
    map_parts,
    next_state,
    normalise,
    slide_filename,
    to_store,
)

CONTROLS = ("year", "view", "region", "area-team", "imd-range", "ccg-search", "evidence", "show-clusters")


def register(app: Dash, service: AtlasService) -> None:
    """Every callback of the page, for one atlas service."""
    for part in (_state, _map, _panels, _statistics, _prior, _table):
        part(app, service)


def _as_json(component: object) -> str:
    return json.dumps(component, cls=PlotlyJSONEncoder, sort_keys=True)


def json_len(value: Any, memo: dict[int, int]) -> int:
    """``len(json.dumps(value))`` of a JSON value, from its parts' lengths, each counted once (``memo``, by id, for
    one diff while the value lives)."""
    key = id(value)
    if key in memo:
        return memo[key]
    if isinstance(value, dict):
        n = 2 + sum(len(json.dumps(k)) + 2 + json_len(v, memo) for k, v in value.items()) + 2 * max(len(value) - 1, 0)
    elif isinstance(value, list):
        n = 2 + sum(json_len(v, memo) for v in value) + 2 * max(len(value) - 1, 0)
    else:
        n = len(json.dumps(value))
    memo[key] = n
    return n


def _tree_ops(old: Any, new: Any, path: tuple) -> list[tuple[tuple, Any]]:
    """Assignments (path, value) that turn ``old`` into ``new`` (both JSON), each subtree sent whole where that is
    no longer than the assignments into it."""
    return [(p, v) for p, v, _ in _sized_ops(old, new, path, len(json.dumps(path)), {})]


def _sized_ops(old: Any, new: Any, path: tuple, path_len: int, memo: dict[int, int]) -> list[tuple[tuple, Any, int]]:
    """:func:`_tree_ops` with each assignment's ``len(json.dumps([path, value]))``. Each node is visited once and
    weighed once (containers of one shape are compared through their children; path and value lengths carried
    up, not dumped again at every level): comparing and dumping whole subtrees at each level took a panel's diff
    most of its 5-20 ms."""
    same_list = isinstance(old, list) and isinstance(new, list) and len(old) == len(new)
    same_dict = isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys()
    if not (same_list or same_dict):
        same = type(old) is type(new) and old == new
        return [] if same else [(path, new, path_len + json_len(new, memo) + 4)]
    keys = range(len(new)) if same_list else new.keys()
    ops = [op for k in keys for op in _sized_ops(old[k], new[k], (*path, k),
                                                  path_len + len(json.dumps(k)) + (2 if path else 0), memo)]
    if not ops:
        return []
    sent = 2 + sum(size for _, _, size in ops) + 2 * (len(ops) - 1)  # len(json.dumps(ops))
    whole = path_len + json_len(new, memo) + 4
    return ops if sent < whole - 4 else [(path, new, whole)]


def changed_tree(old: object, new: object) -> Any:
    """``new`` (components) as what the browser needs when it shows ``old``: ``no_update`` if the same, else a
    Patch of the parts that differ, at any depth (a table's head, a panel's hints are not sent again), if it
    compresses smaller than ``new`` whole."""
    old_json, new_json = json.loads(_as_json(old)), json.loads(_as_json(new))
    ops = _tree_ops(old_json, new_json, ())
    if not ops:
        return no_update
    if ops[0][0] == ():
        return new
    patch = Patch()
    for path, value in ops:
        target = patch
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = value
    smaller = len(gzip.compress(_as_json(patch.to_plotly_json()).encode())) < len(gzip.compress(_as_json(new).encode()))
    return patch if smaller else new


def stats_view(asked: object) -> tuple[dict | None, int]:
    """The view the browser passed on to the statistics (``stats-view``: ``{view, n}``, see ``assets/stats.js``)
    and its count; ``(None, 0)`` when none was (the statistics were never seen) or the store is malformed."""
    if not isinstance(asked, dict) or not isinstance(asked.get("view"), dict):
        return None, 0
    n = asked.get("n")
    return asked["view"], n if isinstance(n, int) and not isinstance(n, bool) else 0


def _cached(service: AtlasService, name: str, key: object, make: Callable[[], Any]) -> Any:
    """Outputs depend on the view state alone, so a state seen before is answered from the service's caches."""
    return service.cache(name).get_or_make(key, make)


def _state(app: Dash, service: AtlasService) -> None:
    vocab = service.vocabulary

    @app.callback(
        Output(ids.URL, "search"), Output(ids.VIEW_STATE, "data"), Output(ids.NOTICES, "children"),
        Output(ids.YEAR, "options"), *[Output(c, "value") for c in CONTROLS],
        Input(ids.URL, "search"), *[Input(c, "value") for c in CONTROLS],
        Input(MAP_CLICK, "data"), Input(MAP_SELECT, "data"), Input(ids.RESET, "n_clicks"),
        State(ids.VIEW_STATE, "data"), State(ids.YEAR, "options")
    )
    def sync_state(search, year, view, regions, teams, imd, ccgs, evidence, marks, click, selected,  # noqa: ANN001
                   _reset, stored, shown_years):  # noqa: ANN001
        """URL and controls kept in step: a URL change sets the controls, a control change sets the URL.

        The page arrives showing the link's view (layout.page), so on load nothing changes: whatever already
        holds its value (the store, a control, the year choices) is left alone, and nothing downstream fires again.
        """
        trigger = next(iter(ctx.triggered_prop_ids), "") if ctx.triggered_id else ""
        state = next_state(vocab, trigger, search, year, view, regions, teams, imd, ccgs, click, selected,
                           evidence=evidence, clusters=marks)
        query, store, years = urls.page_query(state), to_store(state), year_options(state.view)
        controls = [state.year, state.view, list(state.regions), list(state.area_teams), list(state.imd),
                    list(state.ccgs), state.evidence, ["on"] if state.clusters else []]
        # A control already showing its value is left alone, so the callbacks it feeds (the area-team list) do
        # not fire again for nothing.
        shown = [year, view, regions, teams, imd, ccgs, evidence, marks]
        controls = [no_update if new == old else new for new, old in zip(controls, shown)]
        return (query if query != search else no_update, store if store != stored else no_update,
                components.notices(state.notices), years if years != shown_years else no_update, *controls)

    @app.callback(Output(ids.AREA_TEAM, "options"), Input(ids.REGION, "value"), prevent_initial_call=True)
    def update_team_options(regions):  # noqa: ANN001
        """Offer only the chosen regions' teams, so a team and a region that exclude each other cannot be picked."""
        chosen = normalise(vocab, regions=regions).regions
        return _cached(service, "team_options", chosen, lambda: area_team_options(service, chosen))


def _map(app: Dash, service: AtlasService) -> None:
    vocab = service.vocabulary

    @app.callback(
        Output(ids.CCG_MAP, "figure"), Output(ids.MAP_APPLIED, "data"), Output(ids.MAP_BOUNDS, "data"),
        Input(ids.VIEW_STATE, "data"), State(ids.MAP_APPLIED, "data"),
    )
    def update_map(data, applied):  # noqa: ANN001
        """Patch only the arrays that changed: geometry is sent once, with the page."""
        state = from_store(data, vocab)
        show_clusters = state.clusters
        applied = applied if isinstance(applied, dict) else {}
        now = map_parts(state, show_clusters)
        view = service.view(state)
        clusters = cluster_table(service, state) if show_clusters and applied.get("clusters") != now["clusters"] \
            else None
        patch = figures.map_patch(Patch(), service, view, applied, now, clusters)
        bounds = figures.filter_bounds(view) if applied.get("filter") != now["filter"] else no_update
        return patch, now, bounds

    # Framing depends on the graph's size, which only the browser knows: fitted there, sent as a Patch. The first
    # view's bounds have a store of their own: map-bounds is also the map callback's output, and a callback waits
    # on load for the callbacks that write its inputs, so a fit from map-bounds would come after the first draw.
    for bounds in ("map-bounds", ids.FIRST_BOUNDS):
        app.clientside_callback(
            ClientsideFunction(namespace="atlas", function_name="fitMap"),
            Output(ids.CCG_MAP, "figure", allow_duplicate=True), Input(bounds, "data"),
            prevent_initial_call="initial_duplicate",
        )
    app.clientside_callback(
        ClientsideFunction(namespace="atlas", function_name="clearPlotlySelection"),
        Output(ids.MAP_PLOTLY_SELECTION, "data"), Input(MAP_SELECT, "data"), prevent_initial_call=True,
    )


def _panels(app: Dash, service: AtlasService) -> None:
    vocab = service.vocabulary

    def counts_for(state: ViewState) -> tuple[object, object, object, object]:
        report = report_for(service, state)
        return (components.level_summary(report),
                components.transition_table(summaries.transition_counts(service.view(state))),
                report.header, report.view_line)

    def cached(name: str, key: object, make: Callable[[], Any]) -> Any:
        return _cached(service, name, key, make)

    def shown_patch(name: str, key: Callable[[ViewState], ViewState], make: Callable[[ViewState], Any],
                    diff: Callable[[Any, Any], Any], data: Any, shown: Any) -> tuple[Any, Any]:
        return _shown_patch(service, name, key, make, diff, data, shown)

    def diff_each(old: tuple, new: tuple) -> tuple:
        return tuple(changed_tree(a, b) for a, b in zip(old, new))

    # Separate callbacks, so the browser asks for them in parallel and each stays small and fast. A change sends
    # only what differs from what the browser shows (the transitions, both years, do not change with the year).
    @app.callback(Output(ids.LEVEL_SUMMARY, "children"), Output(ids.TRANSITION_SUMMARY, "children"),
                  Output(ids.COVERAGE_HEADER, "children"), Output(ids.VIEW_LINE, "children"),
                  Output(ids.COUNTS_SHOWN, "data"), Input(ids.VIEW_STATE, "data"), State(ids.COUNTS_SHOWN, "data"))
    def update_counts(data, shown):  # noqa: ANN001
        counts, now = shown_patch("counts", filters_only, counts_for, diff_each, data, shown)
        return (*counts, now) if isinstance(counts, tuple) else (no_update, no_update, no_update, no_update, now)

    @app.callback(Output(ids.TEAM_CHART_WIRE, "data"), Input(ids.VIEW_STATE, "data"))
    def update_team_chart(data):  # noqa: ANN001
        """The team chart with each team's names once, which the browser puts back on every bar."""
        state = chart_state(from_store(data, vocab))
        return cached("team_chart", state, lambda: figures.team_wire(figures.team_share_figure(service.view(state))))

    app.clientside_callback(
        ClientsideFunction(namespace="atlasCharts", function_name="teamChart"),
        Output(ids.TEAM_CHART, "figure"), Input(ids.TEAM_CHART_WIRE, "data"),
    )

    @app.callback(Output(ids.IMD_CHART_WIRE, "data"), Input(ids.VIEW_STATE, "data"))
    def update_imd_chart(data):  # noqa: ANN001
        """The deprivation chart with its points as rows of the map's customdata, which the browser fills in."""
        state = from_store(data, vocab)
        key = (chart_state(state), state.ccgs)
        return cached("imd_chart", key,
                      lambda: figures.imd_by_level_figure(service.view(key[0]), state.ccgs, wire=True))

    app.clientside_callback(
        ClientsideFunction(namespace="atlasCharts", function_name="fromMap"),
        Output(ids.IMD_CHART, "figure"), Input(ids.IMD_CHART_WIRE, "data"), State(ids.CCG_MAP, "figure"),
    )
    _size_chart(app, service, cached)


def _shown_patch(service: AtlasService, name: str, key: Callable[[ViewState], ViewState],
                 make: Callable[[ViewState], Any], diff: Callable[[Any, Any], Any], data: Any,
                 shown: Any) -> tuple[Any, Any]:
    """A panel (``make`` of the view's ``key``) as what the browser needs when it shows the one of ``shown`` (the
    key it was made for, as stored): whole at first, then only what ``diff`` finds changed."""
    vocab = service.vocabulary
    state = key(from_store(data, vocab))
    now = to_store(state)
    panel = _cached(service, name, state, lambda: make(state))
    if not isinstance(shown, dict):
        return panel, now
    before = key(from_store(shown, vocab))
    if before == state:
        return no_update, no_update
    old = _cached(service, name, before, lambda: make(before))
    return _cached(service, f"{name}_patch", (before, state), lambda: diff(old, panel)), now


def _seen_panel(service: AtlasService, name: str, make: Callable[[ViewState], Any], asked: Any,
                shown: Any) -> tuple[Any, Any, Any]:
    """A statistics panel for the view passed on (``stats-view``): what differs from the one shown, the view it
    now shows, and ``data-done`` (the count of the view answered); nothing when none was passed on."""
    data, n = stats_view(asked)
    if data is None:
        return no_update, no_update, no_update
    panel, now = _shown_patch(service, name, chart_state, make, changed_tree, data, shown)
    return panel, now, str(n)


def _statistics(app: Dash, service: AtlasService) -> None:
    """The clustering panel and its robustness check, worked out only while the reader can see them: the browser
    passes the view on to them (``stats-view``: ``{view, n}``, ``assets/stats.js``) while they are open and near
    the screen, and when they come into sight."""
    app.clientside_callback(
        ClientsideFunction(namespace="atlasStats", function_name="forward"),
        Output(ids.STATS_VIEW, "data"), Output(ids.STATISTICS, "data-asked"), Output(ids.STATISTICS, "data-pending"),
        Input(ids.VIEW_STATE, "data"), Input(ids.STATS_SEEN, "data"), State(ids.STATS_VIEW, "data"),
    )

    @app.callback(Output(ids.CLUSTERING, "children"), Output(ids.CLUSTERING_SHOWN, "data"),
                  Output(ids.STATISTICS, "data-done"),
                  Input(ids.STATS_VIEW, "data"), State(ids.CLUSTERING_SHOWN, "data"), prevent_initial_call=True)
    def update_clustering(asked, shown):  # noqa: ANN001
        """Only the parts of the panel that differ from the one the browser shows (``shown``: its view); and which
        view passed on it answers (``data-done``: the page's signal that the panel shows the page's view)."""
        return _seen_panel(service, "clustering", lambda state: clustering_panel(service, state), asked, shown)

    # Its own callback: the known-only panel above shows at once, the completions (about 0.1 to 0.6 s) after.
    @app.callback(Output(ids.CLUSTERING_ROBUST, "children"), Output(ids.ROBUST_SHOWN, "data"),
                  Output(ids.CLUSTERING_ROBUST, "data-done"),
                  Input(ids.STATS_VIEW, "data"), State(ids.ROBUST_SHOWN, "data"), prevent_initial_call=True)
    def update_robust(asked, shown):  # noqa: ANN001
        return _seen_panel(service, "robust_panel", lambda state: robust_section(service, state), asked, shown)


def _size_chart(app: Dash, service: AtlasService, cached: Callable[[str, object, Callable[[], Any]], Any]) -> None:
    """The size chart with its names as rows of the map's customdata, which the browser fills in (as the
    deprivation chart's), so a change sends populations and row numbers, not 209 names."""
    vocab = service.vocabulary

    @app.callback(Output(ids.SIZE_CHART_WIRE, "data"), Input(ids.VIEW_STATE, "data"))
    def update_size_chart(data):  # noqa: ANN001
        state = chart_state(from_store(data, vocab))
        return cached("size_chart", state, lambda: figures.size_by_level_figure(service.view(state), wire=True))

    app.clientside_callback(
        ClientsideFunction(namespace="atlasCharts", function_name="fromMap"),
        Output(ids.SIZE_CHART, "figure"), Input(ids.SIZE_CHART_WIRE, "data"), State(ids.CCG_MAP, "figure"),
    )


def _prior(app: Dash, service: AtlasService) -> None:
    """Asked for: the robustness check under the other prior costs about as much again, so it runs only when the
    reader ticks its box (``prior-check``), for each view from then on."""
    vocab = service.vocabulary

    @app.callback(Output(ids.PRIOR_SENSITIVITY, "children"), Input(ids.STATS_VIEW, "data"),
                  Input(ids.PRIOR_CHECK, "value"), prevent_initial_call=True)
    def update_prior(asked, wanted):  # noqa: ANN001
        data, _ = stats_view(asked)
        if not isinstance(wanted, list) or "on" not in wanted or data is None:
            return [] if ctx.triggered_id == ids.PRIOR_CHECK else no_update
        state = chart_state(from_store(data, vocab))
        return _cached(service, "prior_panel", state, lambda: prior_section(service, state))


def _table(app: Dash, service: AtlasService) -> None:
    vocab = service.vocabulary

    @app.callback(
        Output(ids.TABLE_SHOWN, "data"), Output(ids.CCG_TABLE, "rowTransaction"), Output(ids.CCG_TABLE, "selectedRows"),
        Output(ids.CCG_DETAILS, "children"), Output(ids.EXPORT_PNG, "href"), Output(ids.EXPORT_PNG, "download"),
        Output(ids.EXPORT_LINK, "href"), Output(ids.TABLE_CAPTION, "children"),
        Output(ids.CCG_TABLE, "csvExportParams"),
        Output(ids.TABLE_CSV, "data-href"), Output(ids.TABLE_ZIP, "href"), Output(ids.TABLE_ZIP, "download"),
        Input(ids.VIEW_STATE, "data"), State(ids.TABLE_SHOWN, "data"),
    )
    def update_table(data, shown):  # noqa: ANN001
        """The rows are in the page: send which to show (codes), and only the rows another evidence choice changes."""
        state = from_store(data, vocab)
        view = service.view(state)
        now = table.shown(view)
        had = shown.get("evidence") if isinstance(shown, dict) else None
        changed = table.changed_rows(service, had, state.evidence) if had in EVIDENCE and had != state.evidence \
            else None
        return (
            now if now != shown else no_update,
            {"update": changed} if changed else no_update,
            {"ids": list(state.ccgs)},
            components.details_panel([d for c in state.ccgs if (d := summaries.details(service, c))],
                                     report_for(service, state).selection.sentence),
            urls.slide_url(state, "png", download=True),
            slide_filename(state),
            urls.slide_url(state, "png"),
            summaries.table_caption(view, len(now["codes"])),
            table.csv_export_params(state),
            table.download_urls(state)["csv"], table.download_urls(state)["zip"], table.zip_name(state),
        )

    # The grid filters its rows in the browser by the shown codes (assets/grid.js).
    app.clientside_callback(
        ClientsideFunction(namespace="atlasTable", function_name="show"), Input(ids.TABLE_SHOWN, "data"),
    )

    # The CSV is the server's (/export.csv, the rows of the ZIP and of geodata export-csv), saved by the browser.
    app.clientside_callback(
        ClientsideFunction(namespace="atlasTable", function_name="exportCsv"),
        Output(ids.TABLE_CSV, "data-exported"), Input(ids.TABLE_CSV, "n_clicks"), State(ids.TABLE_CSV, "data-href"),
        State(ids.CCG_TABLE, "csvExportParams"), prevent_initial_call=True,
    )
