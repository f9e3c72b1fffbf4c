"""Every URL of a view that the app emits, built in one place.

The page's address bar, its slide and data download links, the print image and the data package's record of the
view all name the same view with the same query (:func:`dashboard.state.to_query`, the shortest query that
reproduces it), so a link copied from any of them opens the same view. The routes that answer these URLs take
their paths from here too.

>>> from dashboard.state import ViewState
>>> state = ViewState(year=2016, area_teams=("Greater Manchester",))
>>> page_url(state)
'/?year=2016&area_team=Greater+Manchester'
>>> slide_url(state, "svg", download=True)
'/export.svg?year=2016&area_team=Greater+Manchester&download=1'
>>> data_url(state, "zip")
'/export.zip?year=2016&area_team=Greater+Manchester'
"""

from __future__ import annotations

from dashboard.state import ViewState, to_query

HEALTHZ = "/healthz"
SLIDE_FORMATS = ("png", "svg", "pdf", "pptx")
DATA_FORMATS = ("csv", "zip")
SLIDE_ROUTE = f"/export.<any({', '.join(SLIDE_FORMATS)}):fmt>"  # a Flask route pattern
DATA_ROUTES = {fmt: f"/export.{fmt}" for fmt in DATA_FORMATS}


def page_query(state: ViewState) -> str:
    """The page's query string for a view (``?year=…``): what the address bar shows."""
    return to_query(state)


def page_url(state: ViewState) -> str:
    """The page of a view, as a path with its query."""
    return "/" + to_query(state)


def slide_url(state: ViewState | None, fmt: str = "png", download: bool = False) -> str:
    """The view's slide (``/export.png`` and its siblings); ``state=None`` gives the England default slide, which
    the page's first layout links before any callback has run. ``download`` asks for an attachment."""
    if fmt not in SLIDE_FORMATS:
        raise ValueError(f"no slide format {fmt!r}; one of {', '.join(SLIDE_FORMATS)}")
    query = to_query(state) if state is not None else ""
    if download:
        query += "&download=1" if query else "?download=1"
    return f"/export.{fmt}{query}"


def data_url(state: ViewState, fmt: str) -> str:
    """The view's table as CSV, or as a ZIP with its Frictionless Data Package descriptor."""
    if fmt not in DATA_FORMATS:
        raise ValueError(f"no data format {fmt!r}; one of {', '.join(DATA_FORMATS)}")
    return DATA_ROUTES[fmt] + to_query(state)
