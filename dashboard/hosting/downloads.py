"""The view's data as files: ``/export.csv`` (the table's "Download CSV") and ``/export.zip`` ("Download data (ZIP)":
the same CSV plus its ``datapackage.json``), for the page's URL parameters.

Both are rendered on the server from ``summaries.flat`` (``geodata.table_export``), the derivation the table's
rows and ``python -m geodata export-csv`` use, so the page's table, its CSV, the ZIP and the command line show one
set of rows. They list what the table lists: the selected CCGs when there is a selection, else the CCGs in the
filter. A parameter value the page would drop answers 400 naming it, as ``/export.png`` does: a download must hold
exactly the view that was asked for.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

import pandas as pd
from flask import Flask, Response, request

from dashboard import urls
from dashboard.hosting.errors import RequestRejected
from dashboard.page import table
from dashboard.service import AtlasService
from dashboard.shares import shares_for
from dashboard.state import QUERY_KEYS, ViewState, describe, parse_query
from dashboard.summaries import flat
from geodata import datapackage
from geodata.table_export import add_shares

MAX_QUERY = 4000


def view_frame(service: AtlasService, state: ViewState) -> pd.DataFrame:
    """The download rows of a view: :func:`summaries.flat` for its evidence choice, the table's CCGs in its order,
    with each open CCG-year's share of admissible histories delegated (:mod:`dashboard.shares`)."""
    frame = flat(service, state.evidence).loc[table.shown_codes(service.view(state))]
    return add_shares(frame, shares_for(service, state.evidence))  # as export-csv fills them


def view_description(state: ViewState, rows: int) -> dict[str, object]:
    """What the descriptor records of the view: its page query, filters, selection, year and evidence choice."""
    where = describe(state)
    if state.ccgs:
        where += f"; the {rows} selected CCG{'s' if rows != 1 else ''}"
    return {
        "description": where, "query": urls.page_query(state), "year": state.year, "view": state.view,
        "area_teams": list(state.area_teams), "regions": list(state.regions), "imd": f"{state.imd[0]}-{state.imd[1]}",
        "ccgs": list(state.ccgs), "evidence": state.evidence,
    }


def package_meta(service: AtlasService, state: ViewState, rows: int) -> dict[str, object]:
    """The keyword arguments of ``geodata.datapackage`` for a view: atlas build, attributions, the view."""
    m = service.atlas.manifest
    return {"build_id": service.build_id, "built_at": str(m.get("built_at", "")),
            "attributions": service.atlas.attributions, "view": view_description(state, rows)}


def _state(service: AtlasService) -> ViewState:
    raw = request.query_string.decode("utf-8", "replace")
    if len(raw) > MAX_QUERY:
        raise RequestRejected("query string too long")
    params = [p for p in raw.split("&") if unquote_plus(p.split("=", 1)[0]) in QUERY_KEYS]
    state = parse_query("&".join(params), service.vocabulary)
    if state.notices:
        raise RequestRejected("not understood, so no file was made: " + "; ".join(n.text() for n in state.notices))
    return state


def _attachment(body: str | bytes, mimetype: str, name: str) -> Response:
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "no-cache"  # the atlas may be rebuilt under the same URL
    return resp


def register(server: Flask, service: AtlasService) -> None:
    """Add ``/export.csv`` and ``/export.zip`` to the app's server."""

    @server.get(urls.DATA_ROUTES["csv"])
    def export_csv() -> Response:
        """The table's CSV for the page's URL parameters (UTF-8; the page's button adds a byte-order mark)."""
        state = _state(service)
        return _attachment(datapackage.csv_text(view_frame(service, state)), "text/csv", table.csv_name(state))

    @server.get(urls.DATA_ROUTES["zip"])
    def export_zip() -> Response:
        """The CSV and its Frictionless Data Package descriptor, zipped."""
        state = _state(service)
        frame = view_frame(service, state)
        body = datapackage.zip_bytes(frame, table.csv_name(state), **package_meta(service, state, len(frame)))
        return _attachment(body, "application/zip", table.zip_name(state))
