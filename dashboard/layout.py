"""The page's layout: controls, map, summaries, analysis, table, sources. No callbacks here."""

from __future__ import annotations

from collections.abc import Sequence

from dash import dcc, html

from dashboard import components, figures, table
from dashboard.service import AtlasService
from dashboard.state import REGION_HEADING, ViewState, slide_filename
from geodata.atlas import Atlas
from geodata.vocabulary import EVIDENCE_LABEL

GRAPH_CONFIG = {
    "displaylogo": False,
    "scrollZoom": True,
    "modeBarButtonsToRemove": ["sendDataToCloud", "sendChartToCloud"],  # never upload anywhere
    # The camera button saves at slide size too.
    "toImageButtonOptions": {"format": "png", "width": 1920, "height": 1080, "filename": "ccg-cocommissioning-map"},
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


def _control(label: str, component: object) -> html.Div:
    return html.Div([html.Label(label, htmlFor=getattr(component, "id", None)), component], className="control")


def controls(service: AtlasService, state: ViewState) -> html.Div:
    return html.Div([
        _control("Year", dcc.RadioItems(
            id="year", value=state.year, inline=True, className="radio", options=year_options(state.view))),
        _control("Colour the map by", dcc.RadioItems(
            id="view", value=state.view, inline=True, className="radio",
            options=[{"label": "Level", "value": "level"}, {"label": "Change 2015→2016", "value": "change"}])),
        _control("Region", dcc.Dropdown(
            id="region", multi=True, value=list(state.regions), placeholder="All regions",
            options=[{"label": r, "value": r} for r in service.atlas.regions])),
        _control("NHS England area team (2013–15)", dcc.Dropdown(
            id="area-team", multi=True, value=list(state.area_teams), placeholder="All area teams",
            options=area_team_options(service, state.regions), maxHeight=360)),
        _control("Deprivation: IMD 2015 quintile among CCGs (1 = most deprived)", dcc.RangeSlider(
            id="imd-range", min=1, max=5, step=1, value=list(state.imd), allowCross=False,
            marks={i: str(i) for i in range(1, 6)})),
        _control("Evidence behind each level", dcc.RadioItems(
            id="evidence", value=state.evidence, className="radio",
            options=[{"label": EVIDENCE_LABEL[k], "value": k} for k in EVIDENCE_LABEL])),
        html.P("A level resting on a weaker claim than the one chosen is shown and counted as unknown.",
               className="hint"),
        _control("Find CCGs", dcc.Dropdown(
            id="ccg-search", multi=True, value=list(state.ccgs), placeholder="Type a CCG name or code",
            options=ccg_options(service), searchable=True)),
        html.Div([
            html.A("Download slide (PNG)", id="export-png", href="/export.png?download=1", className="button primary",
                   download="ccg-cocommissioning.png", role="button"),
            html.A("Open slide in a new tab", id="export-link", href="/export.png", target="_blank",
                   className="small-link"),
            html.Button("Reset view", id="reset", className="button", n_clicks=0),
        ], className="buttons"),
    ], className="controls", role="search", **{"aria-label": "Filters"})


def year_options(view: str) -> list[dict[str, object]]:
    """The year choices; the change view shows both years, so there the year does not apply and says so."""
    change = view == "change"
    suffix = " · the change view shows both years" if change else ""
    return [{"label": "2015/16", "value": 2015, "disabled": change},
            {"label": "2016/17" + suffix, "value": 2016, "disabled": change}]


def csv_export_params(state: ViewState) -> dict[str, object]:
    """The table download: named after the view like the slide, no cell a spreadsheet would run as a formula."""
    name = slide_filename(state, "csv").replace("ccg-cocommissioning-", "ccg-cocommissioning-table-", 1)
    return {"fileName": name, "processCellCallback": {"function": "escapeCsvCell(params)"}}


def page(service: AtlasService, state: ViewState) -> html.Div:
    """The whole page for an initial state (the URL's, applied again by the first callback)."""
    atlas = service.atlas
    initial_map = figures.map_figure(service.view(state))
    cov = atlas.manifest["coverage"]
    known = {y: 209 - cov[y]["unknown"] for y in cov}
    return html.Div([
        dcc.Location(id="url", refresh="callback-nav"),
        dcc.Store(id="view-state"),
        dcc.Store(id="map-applied"),
        dcc.Store(id="map-bounds"),
        dcc.Store(id="map-plotly-selection"),  # output slot of the clientside callback that clears Plotly's styling
        html.Header([
            html.H1("CCG primary care co-commissioning atlas, England 2015/16 and 2016/17"),
            html.P([
                "From April 2015 each of the 209 Clinical Commissioning Groups chose a level of primary care "
                "co-commissioning with NHS England: greater involvement (1), joint (2) or delegated (3). ",
                html.Strong(f"Levels are sourced for {known['2015']} CCGs in 2015/16 and {known['2016']} in "
                            "2016/17; the rest are shown as unknown."),
                " Every level names its source.",
            ]),
            html.Div(id="notices", role="status", **{"aria-live": "polite"}),
        ]),
        html.Main([
            controls(service, state),
            html.Section([
                dcc.Loading(dcc.Graph(id="ccg-map", figure=initial_map, config=GRAPH_CONFIG,
                                      className="map", style={"height": "640px"}), delay_show=400),
                dcc.Checklist(id="show-clusters", value=[], className="cluster-toggle", options=[
                    {"label": " Mark CCGs in a significant same-level cluster (see Clustering below)", "value": "on"}]),
                html.P("Click a CCG to select it (click again to unselect), or use the box or lasso select tool "
                       "for several. CCGs outside the filters stay visible, faded.", className="hint"),
                html.Div(id="ccg-details", className="details", **{"aria-live": "polite"}),
            ], className="map-column", **{"aria-label": "Map"}),
            html.Section([
                html.H2("Levels in the filter"),
                html.Div(id="level-summary"),
                html.H2("Change from 2015/16 to 2016/17"),
                html.Div(id="transition-summary"),
            ], className="summary-column", **{"aria-label": "Summary"}),
        ], className="grid"),
        html.Section([
            dcc.Graph(id="team-chart", config=CHART_CONFIG),
            dcc.Graph(id="imd-chart", config=CHART_CONFIG),
        ], className="charts"),
        html.Section([
            html.H2("Clustering and deprivation"),
            dcc.Loading(html.Div(id="clustering", className="clustering")),
            dcc.Loading(html.Div(id="clustering-robust", className="clustering robust"), delay_show=300),
        ], className="analysis"),
        html.Section([
            html.Div([html.H2("CCGs"), html.Button("Download CSV of the table as shown", id="table-csv",
                                                   className="button", n_clicks=0)], className="table-head"),
            html.P(id="table-caption", className="hint", **{"aria-live": "polite"}),
            table.grid(service, state),
        ], className="table"),
        html.Section([
            html.H2("Published totals beside this atlas"),
            html.P("Each published national or regional count for the year, beside how many CCGs this atlas can "
                   "name at that level, and how many in that scope are still unknown. The atlas never claims more "
                   "than a published total (the build checks this).", className="hint"),
            html.Div(components.reconciliation_table(atlas.reconciliation), id="reconciliation"),
        ], className="reconciliation"),
        html.Section([
            html.H2("What the published totals imply for the unknown levels"),
            html.P("Each total is a range where sources differ by one (63 in operation against 64 approved), and "
                   "the February 2015 regional figures allow for one approved CCG that dropped out and for the "
                   "three CCGs that merged into Newcastle Gateshead. The bounds are exact: the smallest and "
                   "largest number of a scope's unknown CCGs at the level that leaves every published total, "
                   "national and regional, both years, satisfiable.", className="hint"),
            html.Ul([html.Li(sentence) for sentence in atlas.bounds["sentence"]], id="total-bounds"),
        ], className="reconciliation"),
        html.Footer(footer(atlas)),
    ], className="page")


def footer(atlas: Atlas) -> list[object]:
    m = atlas.manifest
    return [
        html.H2("Sources and licence"),
        html.Ul([html.Li(a) for a in atlas.attributions], className="attributions"),
        html.P(["Boundaries: ONS Clinical Commissioning Groups (July 2015), super-generalised clipped; area teams "
                "2013–15 and regions from the ONS lookups. Deprivation: English indices of deprivation 2015, CCG "
                "summaries. Levels: compiled per CCG from public pages, each with its source; see the details "
                "panel and the table. ",
                f"Atlas build {m['build_id']}, built {m['built_at']}."]),
    ]
