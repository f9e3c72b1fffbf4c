"""The CCG table: its rows (sent once, with the page), its columns and what the browser filters it by.

A filter or year change must cost the browser a few kB, not the 209 rows again: the rows go out with the layout
and AG Grid filters them in the browser (an external filter, ``assets/grid.js``) by the CCG codes the table
callback sends. Levels are shown in words (the vocabulary's labels), the codes stay as extra columns named as in
``geodata export-csv`` (``level_2015``, ``level_2016``) for scripts reading the CSV; sources are links.
"""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import numpy as np

from dashboard import ids, urls
from dashboard.service import AtlasService, View
from dashboard.state import ViewState, slide_filename
from dashboard.summaries import records
from geodata.vocabulary import YEAR_LABEL, YEARS

#: The fields each row carries beyond ``summaries.TABLE_COLUMNS``: the levels in words (``summaries.WORD_COLUMNS``).
WORD_FIELD = "level_{year}_words"
#: Wrapped cells at text line height (AG Grid's own is the row's height, too loose for two lines).
WRAPPED = {"lineHeight": "1.35", "paddingTop": "9px", "paddingBottom": "9px", "wordBreak": "normal"}


def rows(service: AtlasService, evidence: str = "any") -> list[dict[str, object]]:
    """Every CCG's row for an evidence choice, levels in words beside their codes (``summaries.records``: the
    download rows' derivation, so the table and its CSV cannot disagree); made once per service."""
    return records(service, evidence)


def changed_rows(service: AtlasService, before: str, after: str) -> list[dict[str, object]]:
    """The rows whose levels or claims differ between two evidence choices (an evidence change sends only these)."""
    old, new = rows(service, before), rows(service, after)
    return [b for a, b in zip(old, new) if a != b]


def shown_codes(view: View) -> list[str]:
    """The CCGs the table lists: the selection when there is one, else the CCGs in the filter (in table order)."""
    if view.state.ccgs:
        return [c for c in view.state.ccgs if c in view.service.position]
    return view.table.index[np.flatnonzero(view.mask)].tolist()


def shown_rows(view: View) -> list[dict[str, object]]:
    """The rows the grid lists for a view (what its CSV holds): :func:`rows` of :func:`shown_codes`."""
    everyone, position = rows(view.service, view.state.evidence), view.service.position
    return [everyone[position[c]] for c in shown_codes(view)]


def shown(view: View) -> dict[str, object]:
    """What the browser filters the grid by (``table-shown`` store): codes, and the evidence its rows are for."""
    return {"codes": shown_codes(view), "evidence": view.state.evidence}


def csv_name(state: ViewState) -> str:
    """The table's CSV file name: named after the view like the slide (``ccg-cocommissioning-table-2016-....csv``)."""
    return slide_filename(state, "csv").replace("ccg-cocommissioning-", "ccg-cocommissioning-table-", 1)


def zip_name(state: ViewState) -> str:
    """The data download's file name (``ccg-cocommissioning-data-2016-....zip``): the CSV and its descriptor."""
    return slide_filename(state, "zip").replace("ccg-cocommissioning-", "ccg-cocommissioning-data-", 1)


def download_urls(state: ViewState) -> dict[str, str]:
    """Where the table's CSV and the data ZIP of a view are served (``dashboard/hosting/downloads.py``)."""
    return {fmt: urls.data_url(state, fmt) for fmt in urls.DATA_FORMATS}


def csv_export_params(state: ViewState) -> dict[str, object]:
    """The table download: named after the view like the slide, no cell a spreadsheet would run as a formula."""
    return {"fileName": csv_name(state), "processCellCallback": {"function": "escapeCsvCell(params)"}}


def column_defs() -> list[dict[str, Any]]:
    """CCG and its two levels first (what a phone shows without scrolling sideways), then the rest."""
    # Words wrap in their cell, so on a phone (assets/grid.js narrows these three) both levels fit beside the CCG.
    levels = [{"field": WORD_FIELD.format(year=y), "headerName": f"Level {YEAR_LABEL[y]}", "width": 180,
               "minWidth": 100, "wrapText": True, "autoHeight": True, "wrapHeaderText": True,
               "autoHeaderHeight": True, "cellStyle": WRAPPED} for y in YEARS]
    sources = [{"field": f"source_{y}", "headerName": f"Source {YEAR_LABEL[y]}", "minWidth": 260,
                "cellRenderer": "SourceLinks", "tooltipField": f"source_{y}"} for y in YEARS]
    codes = [{"field": f"level_{y}", "headerName": f"level_{y}", "maxWidth": 160,
              "headerTooltip": f"Level code {YEAR_LABEL[y]}, as in geodata export-csv"} for y in YEARS]
    return [
        {"field": "ccg_name", "headerName": "CCG", "pinned": "left", "width": 220, "minWidth": 100, "wrapText": True,
         "autoHeight": True, "cellStyle": WRAPPED},
        *levels,
        {"field": "area_team", "headerName": "Area team"},
        {"field": "region", "headerName": "Region"},
        {"field": "ods_code", "headerName": "ODS", "maxWidth": 90},
        {"field": "ccg_code", "headerName": "GSS code", "maxWidth": 130},
        {"field": "imd_score", "headerName": "IMD score", "filter": "agNumberColumnFilter", "maxWidth": 120},
        {"field": "imd_quintile", "headerName": "IMD quintile", "filter": "agNumberColumnFilter", "maxWidth": 120},
        {"field": "population", "headerName": "Population", "filter": "agNumberColumnFilter",
         "valueFormatter": {"function": "d3.format(',')(params.value)"},
         "useValueFormatterForExport": False},  # the CSV keeps plain numbers
        *sources,
        *codes,
    ]


def grid(service: AtlasService, state: ViewState) -> dag.AgGrid:
    """The table for the page's first view: all rows, filtered in the browser to the view's CCGs."""
    return dag.AgGrid(
        id=ids.CCG_TABLE, rowData=rows(service, state.evidence), getRowId="params.data.ccg_code",
        columnDefs=column_defs(),
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "minWidth": 110},
        dashGridOptions={
            "rowSelection": {"mode": "multiRow", "enableClickSelection": False, "checkboxes": False,
                             "headerCheckbox": False},
            "tooltipShowDelay": 300, "animateRows": False,
            "suppressColumnVirtualisation": True,  # every column of a shown row is in the page (screen readers)
            # The view's CCGs, from the table-shown store (assets/grid.js keeps the set per grid).
            "isExternalFilterPresent": {"function": "atlasTableFiltered(params)"},
            "doesExternalFilterPass": {"function": "atlasTableShows(params)"},
        },
        dangerously_allow_code=False,
        csvExportParams=csv_export_params(state),
        style={"height": "420px"}, className="ag-theme-quartz",
    )
