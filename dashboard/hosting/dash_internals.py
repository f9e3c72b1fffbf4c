"""The one adapter to Dash's internals: everything the hosting layer needs that Dash 4 has no public API for.

Endpoint names of Dash's own views and the catch-all rule, replacing a view in ``server.view_functions``, the
page config (``app._config``), layout hooks (``app._hooks``), the shape of ``app.callback_map``,
``app.csp_hashes()``, ``app.registered_paths``, the fingerprint format (``dash.fingerprint``) and the
Flask-Compress instance that ``Dash(compress=True)`` creates and does not keep. A Dash upgrade that moves one of
them breaks here, and ``tests/test_security.py`` names the one that moved; the other modules only call this one.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dash import Dash
from dash.exceptions import DependencyException, InvalidResourceError
from dash.fingerprint import check_fingerprint
from flask import Flask, Request
from flask_compress import Compress

log = logging.getLogger(__name__)

View = Callable[..., Any]

# What Dash raises, escaping a view, for a script or dependency it does not have: a 404, not a 500.
MISSING_RESOURCE_ERRORS: tuple[type[Exception], ...] = (InvalidResourceError, DependencyException)
# Page-config keys that name the Dash version-check host and the Python build.
VERSION_KEYS = ("dash_version_url", "disable_version_check", "python_version")


@dataclass(frozen=True)
class Routes:
    """Dash's URL rules under the app's prefix (each is also its view's endpoint name)."""

    index: str
    dispatch: str
    layout: str
    suites: str
    reload: str
    catchall: str
    dash_api: str  # what every Dash endpoint starts with; its renderer reads JSON there
    assets: str

    @classmethod
    def of(cls, app: Dash) -> Routes:
        p = app.config.routes_pathname_prefix or "/"
        return cls(index=p, dispatch=p + "_dash-update-component", layout=p + "_dash-layout",
                   suites=p + "_dash-component-suites/<string:package_name>/<path:fingerprinted_path>",
                   reload=p + "_reload-hash", catchall=p + "<path:path>", dash_api=p + "_dash-",
                   assets=app.get_asset_url(""))

    def suite_url(self, package: str, path: str) -> str:
        """A component-suite script's URL without a fingerprint (Dash serves both forms)."""
        return f"{self.index}_dash-component-suites/{package}/{path}"


@dataclass(frozen=True)
class Suite:
    """A request for a component-suite file: which package, which file, and whether the URL is fingerprinted."""

    package: str
    path: str
    fingerprinted: bool


@dataclass(frozen=True)
class CallbackSpec:
    """A server-side callback as registered: the ``{"id", "property"}`` entries a request must name."""

    inputs: list[dict[str, Any]]
    state: list[dict[str, Any]]
    outputs: list[dict[str, Any]] | None  # None: the callback has no outputs
    multi: bool  # outputs are sent as a list


def rule(request: Request) -> str | None:
    """The URL rule the request matched (None for a 404 or 405)."""
    return request.url_rule.rule if request.url_rule is not None else None


def component_suite(routes: Routes, request: Request) -> Suite | None:
    """The component-suite file a request asks for, or None for any other request."""
    if rule(request) != routes.suites:
        return None
    args = request.view_args or {}
    path, fingerprinted = check_fingerprint(args.get("fingerprinted_path", ""))
    return Suite(args.get("package_name", ""), path, fingerprinted)


def is_fingerprinted_asset(routes: Routes, request: Request) -> bool:
    """Dash links ``assets/`` files as ``/assets/file?m=<mtime>``: a new file gets a new URL."""
    return request.path.startswith(routes.assets) and bool(request.args.get("m"))


def is_dev_route(app: Dash, routes: Routes, request: Request) -> bool:
    """Hot reload's ``/_reload-hash``, or the catch-all that answers every other path with the page."""
    matched = rule(request)
    return matched == routes.reload or (matched == routes.catchall and not getattr(app, "use_pages", False))


def replace_view(server: Flask, endpoint: str, wrap: Callable[[View], View]) -> bool:
    """Serve ``endpoint`` with ``wrap(Dash's view)``, keeping the view's name (integrations key on it)."""
    view = server.view_functions.get(endpoint)
    if view is None:
        log.warning("Dash has no view %r; it is served unchanged", endpoint)
        return False
    wrapped = wrap(view)
    for attr in ("__name__", "__qualname__", "__module__"):
        setattr(wrapped, attr, getattr(view, attr, None) or getattr(wrapped, attr))
    server.view_functions[endpoint] = wrapped
    return True


def hide_versions(app: Dash) -> None:
    """The page config names neither the version-check host nor the exact Python build."""
    config = getattr(app, "_config", None)
    if not callable(config):
        log.warning("Dash has no app._config; the page config is unchanged")
        return

    @functools.wraps(config)
    def production_config() -> dict[str, Any]:
        cfg = config()
        cfg["dash_version_url"] = ""
        cfg["disable_version_check"] = True
        if "python_version" in cfg:
            cfg["python_version"] = ""
        return cfg

    app._config = production_config  # type: ignore[method-assign]


def has_layout_hooks(app: Dash) -> bool:
    """Whether plugins rewrite the layout per request (then it cannot be cached)."""
    try:
        return bool(app._hooks.get_hooks("layout"))
    except AttributeError:  # another Dash version: assume there may be hooks
        return True


def callback_map(app: Dash) -> Mapping[str, dict[str, Any]]:
    """Dash's registry of callbacks, keyed by the ``output`` string a request names."""
    return app.callback_map


def server_callback(registry: Mapping[str, dict[str, Any]], output: str) -> CallbackSpec | None:
    """The server-side callback registered for ``output`` (clientside ones are listed too, without one)."""
    cb = registry.get(output)
    if cb is None or not callable(cb.get("callback")):
        return None
    declared = cb.get("output")
    multi = isinstance(declared, list | tuple)
    items = declared if multi else [declared]
    outputs = None if cb.get("no_output") else [
        {"id": o.component_id, "property": o.component_property} for o in items if o is not None]
    return CallbackSpec(list(cb.get("inputs") or []), list(cb.get("state") or []), outputs, multi)


def csp_hashes(app: Dash) -> list[str]:
    """CSP sources (``'sha256-…'``) of the inline scripts Dash puts in the page."""
    return list(app.csp_hashes())


def registered_scripts(app: Dash) -> list[tuple[str, str]]:
    """(package, path) of every component-suite script Dash serves, once the page has been rendered."""
    return [(package, path) for package, paths in list(app.registered_paths.items())
            for path in sorted(paths) if path.endswith(".js")]


def compressor(server: Flask) -> Compress | None:
    """The Flask-Compress instance ``Dash(compress=True)`` registered as an ``after_request`` hook."""
    for hook in server.after_request_funcs.get(None, []):
        owner = getattr(hook, "__self__", None)
        if isinstance(owner, Compress):
            return owner
    return None


def load_on_demand(package: Any, path: str) -> bool:
    """Leave a component library's script out of the page (Dash still serves it): ``assets/grid-lazy.js`` loads
    it when its first component comes into view. Dash's resources take ``"dynamic": True`` for that (its source
    maps and async chunks use it). False, and the script stays in the page, if the entry is not where it was."""
    for entry in getattr(package, "_js_dist", []):
        if entry.get("relative_package_path") == path and not entry.get("async"):
            entry["dynamic"] = True
            return True
    log.warning("%s has no script %r; it is loaded with the page", getattr(package, "__name__", package), path)
    return False


def full_plotly_entry() -> dict[str, Any] | None:
    """The ``dcc._js_dist`` entry of Dash's full plotly.js, which graphs load unless ``window.Plotly`` exists."""
    from dash import dcc

    return next((e for e in dcc._js_dist if e.get("namespace") == "plotly"), None)
