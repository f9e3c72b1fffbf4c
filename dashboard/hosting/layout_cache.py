"""``/_dash-layout`` serialised once per view (or per layout object), with an ETag, and compressed once.

Dash serialises the whole layout (the map's geometry included: ~750 kB, ~200 ms) on every page load. The atlas's
layout is a :class:`KeyedLayout`: a function of the request (the shared link's view), which also says under which
key its answer may be kept (the canonical view, so parameters the page ignores share the view's entry; None for a
request it must answer afresh). Its serialisations are kept in a bounded cache of the app's service, so a link seen
before, the default page included, costs a dictionary look-up. A fixed component tree is kept per process for the
layout object it was made from. Browsers revalidate either (304). Layout hooks (a plugin rewriting the layout per
request) are served by Dash unchanged.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from dash import Dash
from dash.development.base_component import Component
from flask import Response, request

from dashboard.caching import BoundedCache
from dashboard.hosting import compression, dash_internals
from dashboard.hosting.dash_internals import Routes, View


@dataclass(frozen=True)
class Serialised:
    """Dash's answer for one layout, and its validator."""

    layout: object
    body: bytes
    etag: str


class KeyedLayout:
    """``app.layout`` as a function of the request, with the key (or None) its serialisation is kept under."""

    def __init__(self, make: Callable[[], Any], key: Callable[[], Hashable | None],
                 cache: BoundedCache[Serialised]) -> None:
        self.make, self.key, self.cache = make, key, cache

    def __call__(self) -> Any:
        return self.make()


class LayoutCache:
    """Serialised layouts: per key for a :class:`KeyedLayout`, else the last fixed layout object."""

    def __init__(self, app: Dash) -> None:
        self._app = app
        self.entry: Serialised | None = None

    def cacheable(self) -> bool:
        """A plain layout function or layout hooks may answer each request differently."""
        layout = self._app.layout
        return (isinstance(layout, KeyedLayout) or not callable(layout)) \
            and not dash_internals.has_layout_hooks(self._app)

    def wrap(self, serve_layout: View) -> View:
        """Dash's layout view, answered from a kept serialisation where the layout allows it."""

        def serialise(layout: object) -> Serialised | Response:
            resp = serve_layout()
            if not isinstance(resp, Response) or resp.status_code != 200:
                return resp
            data = resp.get_data()
            return Serialised(layout, data, hashlib.sha256(data).hexdigest()[:32])

        def cached_layout(*args: Any, **kwargs: Any) -> Any:
            if not self.cacheable():
                return serve_layout(*args, **kwargs)
            layout = self._app.layout
            if isinstance(layout, KeyedLayout):
                key = layout.key()
                if key is None:
                    return serve_layout(*args, **kwargs)
                made: list[Response] = []

                def make() -> Serialised:
                    out = serialise(layout)
                    if isinstance(out, Response):
                        made.append(out)
                        raise _NotKept
                    return out

                try:
                    return self.answer(layout.cache.get_or_make(key, make))
                except _NotKept:
                    return made[0]
            entry = self.entry
            if entry is None or entry.layout is not layout:
                out = serialise(layout)
                if isinstance(out, Response):
                    return out
                entry = self.entry = out
            return self.answer(entry)

        return cached_layout

    @staticmethod
    def answer(entry: Serialised) -> Response:
        """The kept body with its ETag (a 304 when the browser has it); compressed forms are kept under it."""
        resp = Response(entry.body, mimetype="application/json")
        resp.set_etag(entry.etag)
        resp.vary.add("Referer")  # the view comes from the page's address (see app.request_state)
        compression.keep_compressed(f"layout:{entry.etag}")
        return resp.make_conditional(request)


#: Props that carry data, not structure: left out of the validation layout (it only needs ids and types).
DATA_PROPS = ("figure", "rowData", "options", "data", "columnDefs", "marks", "children")


def skeleton(tree: Component) -> Component:
    """A copy of ``tree`` with every component's id and type but none of its data, for ``app.validation_layout``
    (the page config carries it: the whole page there would double the first load)."""
    def strip(node: Any) -> Any:
        if isinstance(node, list | tuple):
            return [strip(n) for n in node if isinstance(n, Component)]
        if not isinstance(node, Component):
            return None
        kept = copy.copy(node)
        for prop in DATA_PROPS:
            kept.__dict__.pop(prop, None)
        children = getattr(node, "children", None)
        if isinstance(children, Component | list | tuple):
            kept.children = strip(children)
        return kept

    return strip(tree)


class _NotKept(Exception):
    """Dash answered the layout with an error: pass it on, keep nothing."""


def install(app: Dash, routes: Routes) -> LayoutCache:
    """Serve Dash's layout view through a ``LayoutCache`` (returned, for ``server.extensions``)."""
    cache = LayoutCache(app)
    dash_internals.replace_view(app.server, routes.layout, cache.wrap)
    return cache
