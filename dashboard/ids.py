"""Every Dash component id of the page, in one place.

Callbacks, layout and components name components by these constants; browser tests, `assets/*.js` and
`../shared/CONTRACT.md` name them by their string (the public names; keep them stable). A test checks that
every id the page renders is declared here (tests/test_structure.py).
"""

from __future__ import annotations

ABOUT_HEADING = "about-heading"
AFTER_TABLE = "after-table"
AREA_TEAM = "area-team"
BOUNDS_HEADING = "bounds-heading"
CCG_DETAILS = "ccg-details"
CCG_MAP = "ccg-map"
CCG_SEARCH = "ccg-search"
CCG_TABLE = "ccg-table"
CLUSTERING = "clustering"
CLUSTERING_ROBUST = "clustering-robust"
CLUSTERING_SHOWN = "clustering-shown"  # the view the clustering panel shows, so a change patches only what differs
COUNTS_SHOWN = "counts-shown"  # the filters the level and transition summaries show (the same for a change)
COVERAGE_HEADER = "coverage-header"  # the header's sentence on what is sourced, for the evidence chosen
EVIDENCE = "evidence"
EXPORT_LINK = "export-link"
EXPORT_PNG = "export-png"
FILTERS = "filters"
FILTERS_HEADING = "filters-heading"
FIRST_BOUNDS = "first-bounds"
GLOSSARY = "glossary"
IMD_CHART = "imd-chart"
IMD_CHART_WIRE = "imd-chart-wire"  # the deprivation chart as the server sends it (dashboard/figures wire_points)
IMD_RANGE = "imd-range"
LEVEL_SUMMARY = "level-summary"
MAP_APPLIED = "map-applied"
MAP_BOUNDS = "map-bounds"
MAP_CLICK = "map-click"
MAP_FRAME = "map-frame"
MAP_GESTURE_HINT = "map-gesture-hint"
MAP_HEADING = "map-heading"
MAP_NAME_LAYER = "map-name-layer"
MAP_NAMES = "map-names"
MAP_PLOTLY_SELECTION = "map-plotly-selection"
MAP_SELECT = "map-select"
MAP_SUMMARY = "map-summary"
NOTICES = "notices"
PRINT_FINDINGS = "print-findings"
PRIOR_CHECK = "prior-check"  # ticked: each verdict checked under the other prior too (costs a robust check more)
PRIOR_SENSITIVITY = "prior-sensitivity"  # what that check found
PRINT_MAP = "print-map"
PRINT_VIEW = "print-view"
RECONCILIATION = "reconciliation"
REGION = "region"
RESET = "reset"
ROBUST_SHOWN = "robust-shown"  # the view the clustering panel's robustness section shows
SHOW_CLUSTERS = "show-clusters"
SIZE_CHART = "size-chart"
SIZE_CHART_WIRE = "size-chart-wire"  # the size chart as the server sends it, its names as map rows
SKIP_TABLE = "skip-table"
STATISTICS = "statistics"  # the statistics' disclosure; data-asked / data-done: views passed on and answered
STATISTICS_HEADING = "statistics-heading"
STATISTICS_SUMMARY = "statistics-summary"
STATS_SEEN = "stats-seen"  # whether the statistics are open and on or near the screen (assets/stats.js)
STATS_VIEW = "stats-view"  # the view passed on to the statistics' callbacks while seen: {view, n}
SUMMARY = "summary"
TABLE_CAPTION = "table-caption"
TABLE_CSV = "table-csv"
TABLE_SHOWN = "table-shown"  # the store of the codes the grid shows, and the evidence choice its rows are for
TABLE_ZIP = "table-zip"
TEAM_CHART = "team-chart"
TEAM_CHART_WIRE = "team-chart-wire"  # the team chart as the server sends it, names once (dashboard/figures team_wire)
TOTAL_BOUNDS = "total-bounds"
TOTALS_HEADING = "totals-heading"
TRANSITION_SUMMARY = "transition-summary"
URL = "url"
VIEW = "view"
VIEW_LINE = "view-line"  # what the view shows, in one line above everything else (a phone's first screen)
VIEW_STATE = "view-state"
YEAR = "year"
ZOOM_ENGLAND = "zoom-england"
ZOOM_IN = "zoom-in"
ZOOM_LONDON = "zoom-london"
ZOOM_OUT = "zoom-out"


def label_of(component_id: str) -> str:
    """The id of a control's visible label (for ``aria-labelledby`` and ``htmlFor``)."""
    return f"{component_id}-label"
