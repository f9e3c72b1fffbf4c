"""The page's layout: controls, map, summaries, analysis, table, sources. No callbacks here."""

from __future__ import annotations

from collections.abc import Sequence

from dash import dcc, html

from dashboard import figures, first_map, ids, urls
from dashboard.page import components, table
from dashboard.page.robust_view import PRIOR_CHECK_LABEL
from dashboard.report import report_for
from dashboard.service import AtlasService
from dashboard.state import MAP_CLICK, MAP_SELECT, REGION_HEADING, ViewState, filters_only, map_parts, to_store
from geodata.atlas import Atlas
from geodata.vocabulary import EVIDENCE_LABEL, LEVEL_LABEL

# The first view's map bounds: the map's fit (assets/mapfit.js) frames the figure for the browser's size from them
# on page load, before the graph's first draw.
MAP_HEIGHT_PX = 640  # the map's height (style.css makes it fill a laptop's first screen); mapfit.js reads the graph's
GRAPH_CONFIG = {
    "displaylogo": False,
    "scrollZoom": True,
    "modeBarButtonsToRemove": ["sendDataToCloud", "sendChartToCloud"],  # never upload anywhere
    # The camera button saves at slide size too.
    "toImageButtonOptions": {"format": "png", "width": 1920, "height": 1080, "filename": "ccg-cocommissioning-map"},
    # The geo map's toolbar calls its reset button "Reset"; "Reset view", as on the charts' and as the page's own
    # words say (the page's other button is "Clear filters and selection").
    "locale": "en-GB", "locales": {"en-GB": {"dictionary": {"Reset": "Reset view"}}},
}

# The charts' toolbar shows on hover (or a tap) only, so it never sits over a title on a phone.
CHART_CONFIG = {"displaylogo": False, "displayModeBar": "hover",
                "modeBarButtonsToRemove": ["sendDataToCloud", "sendChartToCloud"]}


def area_team_options(service: AtlasService, regions: Sequence[str] = ()) -> list[dict[str, object]]:
    """Area teams grouped by region: a disabled heading per region, then its teams (only the chosen regions')."""
    out: list[dict[str, object]] = []
    teams = service.table.groupby("region")["area_team"].unique()
    for region in sorted(teams.index):
        if regions and region not in regions:
            continue
        out.append({"label": f"— {region} —", "value": f"{REGION_HEADING}{region}", "disabled": True})
        for team in sorted(teams[region]):
            out.append({"label": team, "value": team})
    return out


def ccg_options(service: AtlasService) -> list[dict[str, str]]:
    """Search suggestions: the name people use (without 'NHS' and 'CCG'), with codes searchable too."""
    t = service.table.sort_values("ccg_name")
    return [{"label": f"{n.removeprefix('NHS ').removesuffix(' CCG')} ({o})", "value": c, "search": f"{n} {o} {c}"}
            for n, o, c in zip(t["ccg_name"], t["ods_code"], t["ccg_code"])]


def _control(label: str, component: object, group: bool = False) -> html.Div:
    """A labelled control. A group of radio buttons or a slider has no one element a ``<label>`` can name: its
    label gets an id (``<id>-label``) that ``assets/a11y.js`` points the group's ``aria-labelledby`` at."""
    cid = getattr(component, "id", None)
    head = (html.Div(label, id=f"{cid}-label", className="control-label") if group
            else html.Label(label, htmlFor=cid, id=f"{cid}-label"))
    return html.Div([head, component], className="control")


def controls(service: AtlasService, state: ViewState) -> html.Div:
    return html.Div([
        _control("Year", dcc.RadioItems(
            id=ids.YEAR, value=state.year, inline=True, className="radio", options=year_options(state.view)),
            group=True),
        _control("Colour the map by", dcc.RadioItems(
            id=ids.VIEW, value=state.view, inline=True, className="radio",
            options=[{"label": "Level", "value": "level"}, {"label": "Change 2015→2016", "value": "change"},
                     {"label": "Unknowns: share delegated", "value": "share"}]),
            group=True),
        _control("Region", dcc.Dropdown(
            id=ids.REGION, multi=True, value=list(state.regions), placeholder="All regions",
            options=[{"label": r, "value": r} for r in service.atlas.regions])),
        _control("NHS England area team (2013–15)", dcc.Dropdown(
            id=ids.AREA_TEAM, multi=True, value=list(state.area_teams), placeholder="All area teams",
            options=area_team_options(service, state.regions), maxHeight=360)),
        _control("Deprivation: Index of Multiple Deprivation (IMD) 2015, quintile among CCGs (1 = most deprived)",
                 dcc.RangeSlider(id=ids.IMD_RANGE, min=1, max=5, step=1, value=list(state.imd), allowCross=False,
                                 marks={i: str(i) for i in range(1, 6)}), group=True),
        _control("Evidence behind each level", dcc.RadioItems(
            id=ids.EVIDENCE, value=state.evidence, className="radio",
            options=[{"label": EVIDENCE_LABEL[k], "value": k} for k in EVIDENCE_LABEL]), group=True),
        html.P("A level resting on a weaker claim than the one chosen is set aside: grey with a dark dot on the "
               "map, counted apart from levels no source states.",
               className="hint"),
        _control("Find CCGs", dcc.Dropdown(
            id=ids.CCG_SEARCH, multi=True, value=list(state.ccgs), placeholder="Type a CCG name or code",
            options=ccg_options(service), searchable=True)),
        html.Div([
            html.A("Download slide (PNG)", id=ids.EXPORT_PNG, href=urls.slide_url(None, "png", download=True),
                   className="button primary", download="ccg-cocommissioning.png", role="button"),
            html.A("Open slide in a new tab", id=ids.EXPORT_LINK, href=urls.slide_url(None, "png"), target="_blank",
                   className="small-link"),
            # Not "Reset view": that is the map toolbar's button (it re-frames the map, this clears the filters).
            html.Button("Clear filters and selection", id=ids.RESET, className="button", n_clicks=0),
            # Prints the page with the view's slide in place of the live map (assets/print.js, style.css @media print).
            html.Button("Print this view", id=ids.PRINT_VIEW, className="button", n_clicks=0),
        ], className="buttons"),
    ], className="controls", role="search", **{"aria-label": "Filters"})


def filters(service: AtlasService, state: ViewState) -> html.Details:
    """The controls in a disclosure: open on a laptop; on a phone ``assets/a11y.js`` closes it on load, so a
    shared link shows its map first."""
    return html.Details([html.Summary(html.H2("Filters", id=ids.FILTERS_HEADING)), controls(service, state)],
                        id=ids.FILTERS, open=True, className="filters")


def zoom_buttons(service: AtlasService) -> html.Div:
    """Frame England or London's CCGs (``assets/mapfit.js`` fits the bounds each button carries to the map), or
    zoom in and out by steps (for a keyboard, and on a touch screen, where one finger scrolls the page)."""
    def bounds(**filters: tuple[str, ...]) -> str:
        return ",".join(f"{b:.5f}" for b in figures.filter_bounds(service.view(ViewState(**filters))))

    return html.Div([
        html.Button("England", id=ids.ZOOM_ENGLAND, className="button small", n_clicks=0,
                    **{"data-bounds": bounds(), "aria-label": "Zoom the map to England"}),
        html.Button("London", id=ids.ZOOM_LONDON, className="button small", n_clicks=0,
                    **{"data-bounds": bounds(regions=("London",)), "aria-label": "Zoom the map to London"}),
        html.Button("+", id=ids.ZOOM_IN, className="button small zoom-step", n_clicks=0,
                    **{"aria-label": "Zoom the map in"}),
        html.Button("−", id=ids.ZOOM_OUT, className="button small zoom-step", n_clicks=0,
                    **{"aria-label": "Zoom the map out"}),
    ], className="map-tools", role="group", **{"aria-label": "Zoom the map"})


CO_COMMISSIONING = (
    "Before April 2015, NHS England alone held the contracts of England's GP practices, run through its area "
    "teams. Co-commissioning let each Clinical Commissioning Group (CCG), the local NHS body led by its member "
    "practices, take a part in that work. With greater involvement, a CCG worked more closely with its area team on "
    "decisions about local GP services; with joint commissioning, the two made those decisions together in a joint "
    "committee; with delegated commissioning, the CCG took them over: awarding and managing GP contracts, "
    "overseeing how practices performed against them (individual doctors stayed with NHS England), and designing "
    "local incentive schemes that pay practices for work beyond the national contract. NHS England stayed "
    "accountable and kept the national contract terms.")

GLOSSARY = (
    ("Area team", "NHS England's local offices from 2013 to 2015 (25 of them), which held GP contracts for their "
                  "area before co-commissioning; grouped here in four regions."),
    ("ODS code", "The three-character code the NHS gives each organisation (Organisation Data Service), for "
                 "example 02N."),
    ("GSS code", "The nine-character code the Office for National Statistics gives each area (Government "
                 "Statistical Service), for CCGs beginning E38."),
    ("Index of Multiple Deprivation (IMD)", "The government's measure of how deprived small areas are, combining "
                                            "income, jobs, health, education, housing, crime and living "
                                            "environment; here each CCG's average score and its quintile among "
                                            "the 209 CCGs."),
    (LEVEL_LABEL["not_delegated"], "A source says the CCG did not take delegated commissioning that year but not "
                                   "which lower level it took (joint, greater involvement or none)."),
    (LEVEL_LABEL["none"], "The CCG took none of the three levels: NHS England kept GP commissioning on its own."),
    (LEVEL_LABEL["unknown"], "No public source found states the CCG's level; it is counted as unknown and left "
                             "out of every statistic."),
)


def explainer() -> html.Section:
    """Plain words for the public: what co-commissioning changed, and the terms the page uses."""
    return html.Section([
        html.H2("What co-commissioning meant for GP services", id=ids.ABOUT_HEADING),
        html.P(CO_COMMISSIONING, className="about"),
        html.Details([html.Summary("Words used here"),
                      html.Dl([part for term, meaning in GLOSSARY for part in (html.Dt(term), html.Dd(meaning))],
                              className="glossary")], id=ids.GLOSSARY),
    ], className="about-section", **{"aria-labelledby": "about-heading"})


def chart(graph: dcc.Graph, name: str, caption: str) -> html.Figure:
    """A chart with a caption for screen readers; ``name`` prefixes its toolbar buttons' names (assets/a11y.js)."""
    return html.Figure([graph, html.Figcaption(caption, className="visually-hidden")], className="chart",
                       **{"data-a11y-name": name})


def year_options(view: str) -> list[dict[str, object]]:
    """The year choices; the change view shows both years, so there the year does not apply and says so."""
    change = view == "change"
    suffix = " · the change view shows both years" if change else ""
    return [{"label": "2015/16", "value": 2015, "disabled": change},
            {"label": "2016/17" + suffix, "value": 2016, "disabled": change}]


def stores(service: AtlasService, state: ViewState) -> list[object]:
    """The page's stores, already holding what the first callbacks would compute for ``state``."""
    view = service.view(state)
    return [
        dcc.Location(id=ids.URL, refresh="callback-nav"),
        dcc.Store(id=ids.VIEW_STATE, data=to_store(state)),
        dcc.Store(id=ids.MAP_APPLIED, data=map_parts(state, False)),  # what the figure shows: no cluster marks
        dcc.Store(id=ids.TABLE_SHOWN, data=table.shown(view)),
        dcc.Store(id=ids.FIRST_BOUNDS, data=figures.filter_bounds(view)),
        dcc.Store(id=ids.MAP_BOUNDS),
        dcc.Store(id=ids.MAP_PLOTLY_SELECTION),  # output slot of the clientside callback that clears Plotly's styling
        dcc.Store(id=MAP_CLICK), dcc.Store(id=MAP_SELECT),  # the map's clicks and selections (assets/mapfit.js)
        dcc.Store(id=ids.SIZE_CHART_WIRE),  # the size chart as sent, its names as map rows (assets/charts.js)
        dcc.Store(id=ids.IMD_CHART_WIRE),  # the deprivation chart as sent, its points as map rows (assets/charts.js)
        dcc.Store(id=ids.TEAM_CHART_WIRE),  # the team chart as sent, each team's names once (assets/charts.js)
        dcc.Store(id=ids.CLUSTERING_SHOWN),  # the view the clustering panel shows (dashboard/page/callbacks.py)
        dcc.Store(id=ids.COUNTS_SHOWN),
        dcc.Store(id=ids.ROBUST_SHOWN),
        # The statistics are worked out only while the reader can see them (assets/stats.js).
        dcc.Store(id=ids.STATS_SEEN, data=False),
        dcc.Store(id=ids.STATS_VIEW),
    ]


def header(service: AtlasService, state: ViewState) -> html.Header:
    report = report_for(service, filters_only(state))
    return html.Header([
        html.H1("CCG primary care co-commissioning atlas, England 2015/16 and 2016/17"),
        html.P(report.view_line, id=ids.VIEW_LINE, className="view-line"),
        html.P([
            "From April 2015 each of the 209 Clinical Commissioning Groups chose a level of primary care "
            "co-commissioning with NHS England: greater involvement (1), joint (2) or delegated (3). ",
            html.Strong(report.header, id=ids.COVERAGE_HEADER),
            " Every level names its source.",
        ]),
        html.Div(components.notices(state.notices), id=ids.NOTICES, role="status", **{"aria-live": "polite"}),
    ])


#: The map names its CCGs when this many or fewer are in view (assets/mapnames.js), unless the visitor hides names.
NAMES_UP_TO = 40


def map_section(service: AtlasService, state: ViewState, initial_map: object) -> html.Section:
    """The map with its zoom buttons, the control that hides its CCG names, and the selected CCGs' details."""
    return html.Section([
        html.Div([html.H2("Map", id=ids.MAP_HEADING), zoom_buttons(service)], className="map-head"),
        html.P("On a touch screen, scroll the page with one finger and move the map with two; zoom the map "
               "with the + and − buttons above it (pinching does not zoom this map).",
               className="hint touch-only"),
        html.Div([
            dcc.Loading(dcc.Graph(id=ids.CCG_MAP, figure=initial_map, config=GRAPH_CONFIG, className="map",
                                  style={"height": f"{MAP_HEIGHT_PX}px"}), delay_show=400),
            # The CCGs' names over the map, drawn by assets/mapnames.js when NAMES_UP_TO or fewer are in view.
            html.Div(id=ids.MAP_NAME_LAYER, className="map-names-layer", **{"aria-hidden": "true"}),
        ], id=ids.MAP_FRAME, className="map-frame",
            **{"data-a11y-name": "Map", "data-map-height": str(MAP_HEIGHT_PX), "data-names-up-to": str(NAMES_UP_TO)}),
        # The map in print: the view's slide (map, legend and counts) in its place. No src until a print
        # (assets/print.js fills it from the page's query), so it costs nothing before.
        html.Img(id=ids.PRINT_MAP, className="print-only", alt="The map of this view (its slide: map, legend "
                 "and counts)"),
        # In print only, under the map: the headline findings (the statistics' first readings, which
        # assets/print.js copies here for a print).
        html.Div(id=ids.PRINT_FINDINGS, className="print-only print-findings"),
        html.Div("Use two fingers to move the map", id=ids.MAP_GESTURE_HINT, className="gesture-hint",
                 **{"aria-hidden": "true"}),
        dcc.Checklist(id=ids.SHOW_CLUSTERS, value=["on"] if state.clusters else [], className="cluster-toggle",
                      options=[{"label": " Mark CCGs in a significant same-level cluster (see Clustering below)",
                                "value": "on"}]),
        dcc.Checklist(id=ids.MAP_NAMES, value=["on"], className="cluster-toggle names-toggle",
                      options=[{"label": f" Name the CCGs on the map when {NAMES_UP_TO} or fewer are in view "
                                         "(an area team, London)", "value": "on"}]),
        html.P("Click a CCG to select it (click again to unselect), or use the box or lasso select tool "
               "for several. CCGs outside the filters stay visible, faded.", className="hint"),
        html.Div(id=ids.CCG_DETAILS, className="details", **{"aria-live": "polite"}),
    ], className="map-column", **{"aria-labelledby": "map-heading", "aria-describedby": "map-summary"})


def charts_section() -> html.Section:
    return html.Section([
        chart(dcc.Graph(id=ids.TEAM_CHART, config=CHART_CONFIG), "Area team chart",
              "Stacked bar chart: for each NHS England area team with CCGs in the filter, the share of its CCGs "
              "at each level in the chosen year, the teams most uniform in level on top. The table of CCGs "
              "below lists the same CCGs with their levels."),
        chart(dcc.Graph(id=ids.IMD_CHART, config=CHART_CONFIG), "Deprivation chart",
              "Box plot: the Index of Multiple Deprivation 2015 score of each CCG in the filter, one row per "
              "level in the chosen year, each CCG a dot; a higher score is more deprived. The table of CCGs "
              "below gives each CCG's score."),
        chart(dcc.Graph(id=ids.SIZE_CHART, config=CHART_CONFIG), "Size chart",
              "Box plot: the population (ONS mid-2015) of each CCG in the filter, one row per level in the chosen "
              "year, each CCG a dot. The statistics below test whether larger CCGs were more likely to take "
              "delegation."),
    ], className="charts", **{"aria-label": "Charts"})


def table_section(service: AtlasService, state: ViewState) -> html.Section:
    return html.Section([
        html.Div([html.H2("CCGs"), html.Div([
            html.Button("Download CSV of the table as shown", id=ids.TABLE_CSV, className="button", n_clicks=0,
                        **{"data-href": table.download_urls(state)["csv"]}),
            # The same rows plus datapackage.json: what each column means, licence, view and atlas build.
            html.A("Download data (ZIP)", id=ids.TABLE_ZIP, href=table.download_urls(state)["zip"],
                   download=table.zip_name(state), className="button"),
        ], className="buttons")], className="table-head"),
        html.P(id=ids.TABLE_CAPTION, className="hint", **{"aria-live": "polite"}),
        # The table is one Tab stop (arrow keys inside; assets/grid.js); this link skips it altogether.
        html.A("Skip past the table", href="#after-table", className="skip-inline", id=ids.SKIP_TABLE),
        table.grid(service, state),
    ], className="table")


def page(service: AtlasService, state: ViewState, geometry_url: str | None = None) -> html.Div:
    """The page as a shared link shows it: its stores already hold what the first callbacks would compute, so
    those callbacks change nothing and the first painted map is the link's view, drawn once and framed for the
    browser's size (the clientside fit reads its bounds from ``first-bounds``). With ``geometry_url`` the map
    refers to its geometry there (:mod:`dashboard.figures.map_geometry`) instead of carrying it."""
    initial_map = first_map.page_map(service.view(state), geometry_url)  # England's map patched to the view
    return html.Div([
        # The first thing a keyboard reaches: past the filters and the map's toolbar, to what the map shows in words.
        html.A("Skip to summary", href="#summary", className="skip-link"),
        *stores(service, state),
        header(service, state),
        html.Main([
            filters(service, state),
            map_section(service, state, initial_map),
            html.Section([
                html.H2("Levels in the filter", id=ids.SUMMARY, tabIndex="-1"),
                html.Div(id=ids.LEVEL_SUMMARY),
                html.H2("Change from 2015/16 to 2016/17"),
                html.Div(id=ids.TRANSITION_SUMMARY),
            ], className="summary-column", **{"aria-label": "Summary"}),
        ], className="grid"),
        explainer(),
        charts_section(),
        html.Section([
            html.H2("Clustering and deprivation", id=ids.STATISTICS_HEADING),
            statistics(service.atlas),
        ], className="analysis", **{"aria-labelledby": "statistics-heading"}),
        table_section(service, state),
        html.Footer(footer(service.atlas)),
    ], className="page")


STATISTICS_SUMMARY = ("Statistics: do neighbouring CCGs choose the same level? Does deprivation matter? Would it "
                      "hold whatever the unknown levels were? What do the published national totals imply?")


#: What the clustering panel says until the reader reaches it (the statistics are worked out for a reader who sees
#: them: ``assets/stats.js``).
STATISTICS_WAITING = "The statistics of this view are worked out when you reach them."


def statistics(atlas: Atlas) -> html.Details:
    """The statistics in one disclosure whose summary says what is inside in plain words: the clustering panel, its
    robustness over the unknown levels, then what the published totals imply for those unknown levels (the bounds
    the robustness panel's completions respect) and the totals themselves. Open on a laptop; on a phone
    ``assets/a11y.js`` folds it on load, so a shared link is the map and its counts, not 12,000 px of statistics.
    Its panels are worked out for the view only while they are open and near the screen (``assets/stats.js``)."""
    return html.Details([
        html.Summary(STATISTICS_SUMMARY, id=ids.STATISTICS_SUMMARY),
        dcc.Loading(html.Div(html.P(STATISTICS_WAITING, className="hint"), id=ids.CLUSTERING,
                             className="clustering")),
        # Its table is wider than a phone's column: it scrolls sideways in its own focusable, named frame
        # (dashboard/page/robust_view.py's .table-scroll region; style.css).
        dcc.Loading(html.Div(id=ids.CLUSTERING_ROBUST, className="clustering robust", **{"data-done": ""}),
                    delay_show=300),
        dcc.Checklist(id=ids.PRIOR_CHECK, options=[{"label": PRIOR_CHECK_LABEL, "value": "on"}], value=[],
                      className="prior-check"),
        dcc.Loading(html.Div(id=ids.PRIOR_SENSITIVITY, className="clustering robust", **{"aria-live": "polite"}),
                    delay_show=300),
        html.Div([
            html.H3("What the published totals imply for the unknown levels", id=ids.BOUNDS_HEADING),
            html.P("Each total is a range where sources differ by one (63 in operation against 64 approved), and "
                   "the February 2015 regional figures allow for one approved CCG that dropped out and for the "
                   "three CCGs that merged into Newcastle Gateshead. The bounds are exact: the smallest and "
                   "largest number of a scope's unknown CCGs at the level that leaves every published total, "
                   "national and regional, both years, satisfiable.", className="hint"),
            html.Ul(components.bounds_list(atlas.bounds, atlas.reconciliation), id=ids.TOTAL_BOUNDS),
            html.P("Each source is linked in the table of published totals below.", className="hint"),
        ], className="bounds", role="region", **{"aria-labelledby": "bounds-heading"}),
        html.Div([
            html.H3("Published totals beside this atlas", id=ids.TOTALS_HEADING),
            html.P("Each published national or regional count for the year, beside how many CCGs this atlas can "
                   "name at that level, and how many in that scope are still unknown. The atlas never claims more "
                   "than a published total (the build checks this).", className="hint"),
            html.Div(components.reconciliation_table(atlas.reconciliation), id=ids.RECONCILIATION),
        ], className="reconciliation", role="region", **{"aria-labelledby": "totals-heading"}),
    ], id=ids.STATISTICS, open=True, className="statistics", **{"data-asked": "", "data-done": "", "data-pending": "1"})


def footer(atlas: Atlas) -> list[object]:
    m = atlas.manifest
    return [
        html.H2("Sources and licence", id=ids.AFTER_TABLE, tabIndex="-1"),  # the table's skip link leads here
        html.Ul([html.Li(a) for a in atlas.attributions], className="attributions"),
        html.P(["Boundaries: ONS Clinical Commissioning Groups (July 2015), super-generalised clipped; area teams "
                "2013–15 and regions from the ONS lookups. Deprivation: English indices of deprivation 2015, CCG "
                "summaries. Levels: compiled per CCG from public pages, each with its source; see the details "
                "panel and the table. ",
                f"Atlas build {m['build_id']}, built {m['built_at']}."]),
    ]
