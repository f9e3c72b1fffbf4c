"""The CCG co-commissioning atlas as a Dash app. ``gunicorn app:server`` serves it; ``python app.py`` runs it
for development.

``create_app(atlas_dir=...)`` reads one atlas, builds the one :class:`dashboard.service.AtlasService` that owns
its derived data and caches, and hands it to the layout, callbacks and routes. The module attributes ``app`` and
``server`` (what gunicorn loads) are created on first access, so importing this module in a test or a script
does not read ``build/atlas``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dash_ag_grid as dag
from dash import Dash, dash_table
from flask import has_request_context, request

from dashboard.figures import map_geometry
from dashboard.hosting import dash_internals, layout_cache, plotly_bundle, routes, security
from dashboard.hosting.layout_cache import KeyedLayout
from dashboard.page import callbacks, layout
from dashboard.service import AtlasService
from dashboard.state import ViewState, parse_query, to_query
from geodata.atlas import read_atlas


def create_app(debug: bool = False, atlas_dir: str | Path | None = None) -> Dash:
    """The app for the atlas in ``atlas_dir`` (default ``$CCG_ATLAS_DIR`` or ``build/atlas``)."""
    service = AtlasService(read_atlas(atlas_dir))
    app = Dash(
        __name__,
        title="CCG co-commissioning atlas 2015-2016",
        serve_locally=True,  # every script from this server: no CDN
        compress=True,
        update_title=None,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"},
                   {"name": "description", "content": "Primary care co-commissioning levels of England's 209 CCGs, "
                                                      "2015/16 and 2016/17, with sources."}],
    )
    app.index_string = app.index_string.replace("<html>", '<html lang="en">', 1)  # screen readers pick the language
    # With the partial bundle (which decodes it), the map's geometry is sent once, not in every view's layout.
    geometry = map_geometry.install(app, map_geometry.for_service(service)) if plotly_bundle.install(app) else None
    dash_internals.load_on_demand(dag, "dash_ag_grid.min.js")  # assets/grid-lazy.js loads it near the table
    dash_internals.load_on_demand(dash_table, "dash_table/bundle.js")  # Dash always adds it; no DataTable here
    # Set first, so Dash does not take the whole default page (1 MB) as the validation layout in every page.
    app.validation_layout = layout_cache.skeleton(layout.page(service, ViewState(), geometry))
    app.layout = KeyedLayout(lambda: layout.page(service, page_state(request_state(service)), geometry),
                             lambda: layout_key(request_state(service)), service.cache("layout"))
    callbacks.register(app, service)
    routes.register(app.server, service)
    security.install(app, debug=debug)
    app.server.extensions["atlas_service"] = service
    return app


def request_state(service: AtlasService) -> ViewState:
    """The view a layout request is for: its own query string, else that of the page it was sent from.

    Dash's renderer asks for ``/_dash-layout`` without the page's query string; the browser names the page in
    ``Referer`` (same origin: ``Referrer-Policy: strict-origin-when-cross-origin``). Without either, England.
    A ``Referer`` that is not a URL (``http://[::1``, stray bytes) is client input like any other: it names no
    view, so England, and nothing is logged as an error.
    """
    if not has_request_context():
        return ViewState()
    query = request.query_string.decode("utf-8", "replace")
    if not query:
        query = referrer_query(request.headers.get("Referer", ""))
    return parse_query(query, service.vocabulary)


def referrer_query(referrer: str) -> str:
    """The query string of a ``Referer`` header, or "" when the header is not a URL urllib can split."""
    if not referrer:
        return ""
    try:
        return urlsplit(referrer).query
    except ValueError:  # an unclosed IPv6 bracket, a bad port ...
        return ""


def layout_key(state: ViewState) -> str:
    """Layouts are kept per canonical view (``to_query``): a parameter or value the page drops (``utm_source``,
    a junk region) is not part of the key, so such links share the view's one layout and the cache stays bounded
    by the number of views, not of links. The layout itself carries no notices for the same reason: the page's
    first callback (``sync_state``, which reads the address bar) shows them."""
    return to_query(state)


def page_state(state: ViewState) -> ViewState:
    """The state a layout is built from: the view without its notices (see :func:`layout_key`)."""
    return state.with_notices(())


_DEFAULT: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``app`` and ``server``: the app for the default atlas, created once on first use (gunicorn's ``app:server``)."""
    if name in ("app", "server"):
        if "app" not in _DEFAULT:
            _DEFAULT["app"] = create_app(debug=os.environ.get("DASH_DEBUG") == "1")
        return _DEFAULT["app"] if name == "app" else _DEFAULT["app"].server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the atlas with Dash's development server")
    parser.add_argument("--debug", action="store_true", help="Dash dev tools and reloading (development only)")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8050")))
    parser.add_argument("--atlas", help="atlas folder (default $CCG_ATLAS_DIR or build/atlas)")
    args = parser.parse_args()
    create_app(debug=args.debug, atlas_dir=args.atlas).run(host=args.host, port=args.port, debug=args.debug)
