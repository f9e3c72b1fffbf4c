"""``/_dash-layout`` serialised once per layout object, with an ETag, and compressed once (by ``compression``).

Dash serialises the whole layout (the map's geometry included: ~750 kB, ~200 ms) on every page load. While
``app.layout`` is one component tree and no plugin rewrites it, that answer is the same for every visitor: it
is kept per process for the layout object it was made from, and browsers revalidate it (304). A layout function
(say one built from the query string) or layout hooks are served by Dash unchanged, per request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from dash import Dash
from flask import Response, request

from dashboard import compression, dash_internals
from dashboard.dash_internals import Routes, View


@dataclass(frozen=True)
class Serialised:
    """Dash's answer for one layout object, and its validator."""

    layout: object
    body: bytes
    etag: str


class LayoutCache:
    """The last layout answer; replaced (not added to) when ``app.layout`` is another object."""

    def __init__(self, app: Dash) -> None:
        self._app = app
        self.entry: Serialised | None = None

    def cacheable(self) -> bool:
        """A layout function or layout hooks may answer each request differently."""
        return not callable(self._app.layout) and not dash_internals.has_layout_hooks(self._app)

    def wrap(self, serve_layout: View) -> View:
        """Dash's layout view, answered from the kept serialisation when the layout is a fixed tree."""

        def cached_layout(*args: Any, **kwargs: Any) -> Any:
            if not self.cacheable():
                return serve_layout(*args, **kwargs)
            layout = self._app.layout
            entry = self.entry
            if entry is None or entry.layout is not layout:
                resp = serve_layout(*args, **kwargs)
                if not isinstance(resp, Response) or resp.status_code != 200:
                    return resp
                data = resp.get_data()
                entry = self.entry = Serialised(layout, data, hashlib.sha256(data).hexdigest()[:32])
            return self.answer(entry)

        return cached_layout

    @staticmethod
    def answer(entry: Serialised) -> Response:
        """The kept body with its ETag (a 304 when the browser has it); compressed forms are kept under it."""
        resp = Response(entry.body, mimetype="application/json")
        resp.set_etag(entry.etag)
        compression.keep_compressed(f"layout:{entry.etag}")
        return resp.make_conditional(request)


def install(app: Dash, routes: Routes) -> LayoutCache:
    """Serve Dash's layout view through a ``LayoutCache`` (returned, for ``server.extensions``)."""
    cache = LayoutCache(app)
    dash_internals.replace_view(app.server, routes.layout, cache.wrap)
    return cache
