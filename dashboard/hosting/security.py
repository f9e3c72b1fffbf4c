"""Ready for public hosting: ``install(app, debug)`` puts the pieces on the app, ``warm(server)`` primes them.

Called last by ``app.create_app``; nothing here touches the page or the callbacks, and nothing keeps per-user
state. Each piece has one job:

- ``headers``: CSP (report-only with ``debug``), ``FRAME_ANCESTORS``, security headers, cache lifetimes.
- ``errors``: every 4xx/5xx as one short line, never a traceback or path; input errors in views are 400s.
- ``callback_guard``: callback bodies checked before any callback runs; a callback raising on odd input is a 400.
- ``compression``: scripts and the layout compressed once per process, in a bounded store.
- ``layout_cache``: ``/_dash-layout`` serialised once per layout, with an ETag (not with ``debug``).
- ``dash_internals``: the one place that knows Dash's internals.

Production only (``debug`` false, below): ``/_reload-hash`` and paths that are not a page of the app are 404s,
and the page config names neither the Dash version-check host nor the exact Python build.
"""

from __future__ import annotations

from dash import Dash
from flask import Flask, request
from werkzeug.exceptions import NotFound

from dashboard.hosting import callback_guard, compression, dash_internals, errors, headers, layout_cache
from dashboard.hosting.callback_guard import MAX_BODY, MAX_DEPTH, check_callback_body
from dashboard.hosting.dash_internals import Routes
from dashboard.hosting.errors import INPUT_ERRORS, RequestRejected, log
from dashboard.hosting.headers import IMMUTABLE, content_security_policy, frame_ancestors

__all__ = ["EXTENSION_KEY", "IMMUTABLE", "INPUT_ERRORS", "MAX_BODY", "MAX_DEPTH", "RequestRejected",
           "check_callback_body", "content_security_policy", "frame_ancestors", "install", "log", "warm"]

EXTENSION_KEY = "atlas_security"


def install(app: Dash, debug: bool = False) -> None:
    """Headers, caching, compression, error answers and callback checks on ``app`` (see the module docstring)."""
    server: Flask = app.server
    routes = Routes.of(app)
    errors.install(server, routes.dash_api, debug)
    callback_guard.install(app, routes, debug)
    compressed = compression.install(app, routes)
    layout = None if debug else layout_cache.install(app, routes)  # with debug, layout edits show at once
    if not debug:
        _production_only(app, routes)
    headers.install(app, routes, debug)
    server.extensions[EXTENSION_KEY] = {"app": app, "debug": debug, "routes": routes, "compressed": compressed,
                                        "layout": layout}


def _production_only(app: Dash, routes: Routes) -> None:
    """No dev routes, no catch-all page for every path, nothing outside named in the page config."""

    def only_app_routes() -> None:
        if dash_internals.is_dev_route(app, routes, request):
            raise NotFound()

    app.server.before_request(only_app_routes)
    dash_internals.hide_versions(app)


def warm(server: Flask) -> int:
    """Serve the page once in-process and compress every registered script and the layout, before forking.

    Dash finishes its set-up on the first request (assets, scripts, layout check); doing it here means forked
    workers start with it done (no first-request race between threads) and share the compressed bodies.
    Returns the number of compressed bodies held.
    """
    ext = server.extensions.get(EXTENSION_KEY)
    if not ext:
        return 0
    app: Dash = ext["app"]
    routes: Routes = ext["routes"]
    client = server.test_client()
    client.get(routes.index)
    if ext["compressed"] is None:
        return 0
    urls = [routes.layout, *(routes.suite_url(p, q) for p, q in dash_internals.registered_scripts(app))]
    return compression.warm(client, urls, ext["compressed"])
