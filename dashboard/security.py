"""Ready for public hosting: headers, caching, error pages and callback request checks.

``install(app, debug)`` is called last by ``app.create_app`` and adds, without touching the page or callbacks:

- **Security headers.** A Content-Security-Policy that names no outside host (Dash's one inline ``<script>`` is
  allowed by its hash, plotly's map workers by ``blob:``), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy``, and ``frame-ancestors`` from the ``FRAME_ANCESTORS`` environment variable (default
  ``'self'``; ``X-Frame-Options`` too where it can say the same). With ``debug`` the policy is report-only, so
  Dash's dev tools keep working and violations still show in the browser console.
- **Caching.** Fingerprinted scripts (``/_dash-component-suites/...v4_4_1m<mtime>...js``) and ``/assets/...?m=``
  files are ``immutable`` for a year and compressed once per process (brotli or gzip), not per request; every
  other response revalidates (``no-cache``) or is not stored (callbacks, errors). The layout (``/_dash-layout``,
  the same for every visitor while ``app.layout`` is a fixed tree) is serialised and compressed once per process
  and carries an ETag.
- **Errors.** 4xx and 5xx answers are one short line of plain text, or JSON on Dash's ``/_dash-*`` endpoints;
  never a stack trace or a file path (the traceback goes to the server log). A view that raises a value or type
  error (``INPUT_ERRORS``) on what it was sent answers 400, not 500.
- **Callbacks.** A ``/_dash-update-component`` body must be a JSON object of at most ``MAX_BODY`` bytes that
  names a registered callback with its registered inputs, state and outputs; anything else is a 400. A callback
  that still raises on values it did not expect answers 400 as well (logged with its traceback), never 500.
- **Production only** (``debug`` false): ``/_reload-hash`` and paths that are not a page of the app are 404s,
  and the page config names neither the Dash version-check host nor the exact Python build.

Settings are read from the environment when the app is created; nothing here keeps per-user state.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import pkgutil
import re
import threading
from collections.abc import Callable
from typing import Any

from dash import Dash
from dash.exceptions import DependencyException, InvalidResourceError, PreventUpdate
from dash.fingerprint import check_fingerprint
from flask import Flask, Response, request
from werkzeug.exceptions import BadRequest, HTTPException, NotFound, RequestEntityTooLarge

try:  # Flask-Compress depends on one of the two
    import brotli
except ImportError:  # pragma: no cover
    import brotlicffi as brotli  # type: ignore[no-redef]

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # bytes in a request body; a real callback body is a few kB
MAX_DEPTH = 64  # nesting of JSON values in a callback body; plotly events are about 6 deep
YEAR = 31536000
IMMUTABLE = f"public, max-age={YEAR}, immutable"
COMPRESSIBLE = frozenset({"application/javascript", "text/javascript", "text/css", "application/json"})
PRECOMPRESS_LIMIT = 96 * 1024 * 1024  # bytes of compressed scripts kept per process
BR_QUALITY = 5  # about 1.3 MB for plotly.min.js in 0.7 s, once per process
GZIP_LEVEL = 6

EXTENSION_KEY = "atlas_security"
LAYOUT_KEY = "_dash-layout"  # the precompressed layout's package name in the cache (no package is called so)
_FRAME_TOKEN = re.compile(r"^(?:'self'|(?:[a-z][a-z0-9+.-]*:)?(?://)?(?:\*\.)?[A-Za-z0-9.-]*(?::(?:\d{1,5}|\*))?"
                          r"(?:/[A-Za-z0-9._~/-]*)?)$")


# Exceptions that, escaping a view, mean the code met input it did not expect (a value it could not parse, a
# list where it wanted a string). They answer 400 and are logged with their traceback; anything else is a 500.
INPUT_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, LookupError, AttributeError, ArithmeticError,
                                             RecursionError)


class RequestRejected(BadRequest):
    """A 400 whose description is ours (short and safe to show)."""


# ---------------------------------------------------------------------------------------------------------------
# Policy


def frame_ancestors(value: str | None) -> tuple[str, str | None]:
    """The CSP ``frame-ancestors`` sources and the matching ``X-Frame-Options`` (None when it cannot say it).

    ``FRAME_ANCESTORS`` is a space-separated CSP source list: ``'self'`` (default), ``'none'``, or hosts such as
    ``'self' https://intranet.example.nhs.uk``. Quotes around self/none may be left out. Anything that is not a
    plain source falls back to ``'self'`` with a warning, so a typo cannot open the page to every framer.
    """
    text = (value or "").strip()
    if not text:
        return "'self'", "SAMEORIGIN"
    tokens = ["'self'" if t.lower() in ("self", "'self'") else "'none'" if t.lower() in ("none", "'none'") else t
              for t in text.split()]
    valid = all(t == "'none'" or (_FRAME_TOKEN.match(t) and t not in ("", "*", "//")) for t in tokens)
    if not valid or ("'none'" in tokens and len(tokens) > 1):
        log.warning("FRAME_ANCESTORS=%r is not a CSP source list; using 'self'", value)
        return "'self'", "SAMEORIGIN"
    joined = " ".join(dict.fromkeys(tokens))
    xfo = {"'self'": "SAMEORIGIN", "'none'": "DENY"}.get(joined)
    return joined, xfo


def content_security_policy(script_hashes: list[str] | tuple[str, ...], ancestors: str) -> str:
    """The page's policy: everything from this origin, nothing from anywhere else."""
    directives = {
        "default-src": "'self'",
        "script-src": " ".join(["'self'", *script_hashes]),
        # React, plotly and AG Grid set inline styles and insert <style> elements.
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data: blob:",
        "font-src": "'self' data:",
        "connect-src": "'self'",
        # The map (MapLibre inside plotly) runs its tile workers from blob: URLs; child-src for older Safari.
        "worker-src": "'self' blob:",
        "child-src": "'self' blob:",
        "frame-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "manifest-src": "'self'",
        "frame-ancestors": ancestors,
    }
    return "; ".join(f"{k} {v}" for k, v in directives.items())


# ---------------------------------------------------------------------------------------------------------------
# Compressed scripts, once per process


class Precompressed:
    """Compressed bodies of fingerprinted files, keyed by (package, path, encoding); bounded in bytes."""

    def __init__(self, limit: int = PRECOMPRESS_LIMIT) -> None:
        self._data: dict[tuple[str, str, str], bytes] = {}
        self._size = 0
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str], raw: Callable[[], bytes]) -> bytes:
        """The compressed body, computed from ``raw()`` on first use (and not kept when the cache is full)."""
        body = self._data.get(key)
        if body is not None:
            return body
        body = compress(raw(), key[2])
        with self._lock:
            if key not in self._data:
                if self._size + len(body) > self._limit:
                    return body
                self._data[key] = body
                self._size += len(body)
            return self._data[key]

    def __len__(self) -> int:
        return len(self._data)


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "br":
        return brotli.compress(data, quality=BR_QUALITY)
    return gzip.compress(data, GZIP_LEVEL, mtime=0)


def choose_encoding(accept: str) -> str | None:
    """br, else gzip, if the client accepts it (q > 0); None for identity."""
    quality: dict[str, float] = {}
    for part in accept.lower().split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, val = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        quality[name.strip()] = q
    for enc in ("br", "gzip"):
        if quality.get(enc, quality.get("*", 0.0)) > 0:
            return enc
    return None


# ---------------------------------------------------------------------------------------------------------------
# Callback bodies


def _prop_key(item: dict[str, Any]) -> str:
    cid = item["id"]
    text = cid if isinstance(cid, str) else json.dumps(cid, sort_keys=True, separators=(",", ":"))
    return f"{text}.{item['property']}"


def _depth_exceeds(value: object, limit: int) -> bool:
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children)
    return False


def _matches(item: object, spec: dict[str, Any]) -> bool:
    """One input/state/output entry of a request against its registered dependency."""
    prop = spec.get("property")
    cid = spec.get("id")
    if isinstance(cid, dict):  # pattern-matching id: one entry (MATCH) or a list of entries (ALL, ALLSMALLER)
        entries = item if isinstance(item, list) else [item]
        return all(isinstance(e, dict) and isinstance(e.get("id"), dict) and e.get("property") == prop
                   and set(e["id"]) == set(cid) for e in entries)
    return isinstance(item, dict) and item.get("id") == cid and item.get("property") == prop


def _output_specs(cb: dict[str, Any]) -> list[dict[str, Any]]:
    outputs = cb.get("output")
    items = outputs if isinstance(outputs, list | tuple) else [outputs]
    return [{"id": o.component_id, "property": o.component_property} for o in items if o is not None]


def check_callback_body(callback_map: dict[str, dict[str, Any]], body: object) -> str | None:
    """What is wrong with a ``/_dash-update-component`` body, or None when it fits a registered callback.

    Only the shape is checked (which callback, which inputs, state and outputs); values are the callback's own
    business, and the callbacks of this app normalise whatever they get.
    """
    if not isinstance(body, dict):
        return "body is not a JSON object"
    output = body.get("output")
    cb = callback_map.get(output) if isinstance(output, str) else None
    if cb is None or not callable(cb.get("callback")):  # clientside callbacks are listed too, without one
        return "unknown callback"
    for key in ("inputs", "state"):
        specs = cb.get(key) or []
        got = body.get(key, None if specs else [])  # Dash reads a missing key as []; null breaks it
        if not isinstance(got, list) or len(got) != len(specs):
            return f"{key} do not match the callback"
        if not all(_matches(g, s) for g, s in zip(got, specs)):
            return f"{key} do not match the callback"
    if not cb.get("no_output"):
        specs = _output_specs(cb)
        got = body.get("outputs")
        multi = isinstance(cb.get("output"), list | tuple)
        if multi:
            if not isinstance(got, list) or len(got) != len(specs) or not all(map(_matches, got, specs)):
                return "outputs do not match the callback"
        elif not _matches(got, specs[0]):
            return "outputs do not match the callback"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) and len(c) <= 1000 for c in changed):
        return "changedPropIds is not a list of names"
    if _depth_exceeds(body, MAX_DEPTH):
        return "values nested too deeply"
    known = {_prop_key(s) for s in cb.get("inputs") or [] if isinstance(s.get("id"), str)}
    if known and not all(c in known for c in changed) and all(isinstance(s.get("id"), str) for s in cb["inputs"]):
        return "changedPropIds names an input the callback does not have"
    return None


def _read_callback_body() -> object:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise RequestEntityTooLarge()
    if not request.is_json:
        raise RequestRejected("send the callback as application/json")
    try:
        body = request.get_json(silent=True)  # parsed once; Dash reads the cached value
    except RecursionError:
        body = None
    if body is None:
        raise RequestRejected("body is not valid JSON")
    return body


# ---------------------------------------------------------------------------------------------------------------
# Installation


def install(app: Dash, debug: bool = False) -> None:
    """Headers, caching, error handling and callback checks on ``app`` (see the module docstring)."""
    server: Flask = app.server
    prefix = app.config.routes_pathname_prefix or "/"
    dash_prefix = prefix + "_dash-"
    dispatch_endpoint = prefix + "_dash-update-component"
    suites_endpoint = prefix + "_dash-component-suites/<string:package_name>/<path:fingerprinted_path>"
    catchall_rule = prefix + "<path:path>"
    reload_endpoint = prefix + "_reload-hash"
    assets_prefix = app.get_asset_url("")

    ancestors, xfo = frame_ancestors(os.environ.get("FRAME_ANCESTORS"))
    csp_header = "Content-Security-Policy-Report-Only" if debug else "Content-Security-Policy"
    state: dict[str, Any] = {"csp": None, "precompressed": Precompressed()}
    lock = threading.Lock()

    server.config["MAX_CONTENT_LENGTH"] = server.config.get("MAX_CONTENT_LENGTH") or MAX_BODY
    server.extensions[EXTENSION_KEY] = {"app": app, "precompressed": state["precompressed"], "debug": debug}

    def page_policy() -> str:
        if state["csp"] is None:
            with lock:
                if state["csp"] is None:
                    state["csp"] = content_security_policy(list(app.csp_hashes()), ancestors)
        return state["csp"]

    # -- errors ----------------------------------------------------------------------------------------------

    def error_response(code: int, message: str) -> Response:
        if request.path.startswith(dash_prefix):
            resp = Response(json.dumps({"error": message}), status=code, mimetype="application/json")
        else:
            resp = Response(message + "\n", status=code, mimetype="text/plain")
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def on_http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        message = f"{code} {exc.name}"
        if isinstance(exc, RequestRejected) and exc.description:
            message += f": {exc.description}"
        return error_response(code, message)

    def on_missing_resource(_exc: Exception) -> Response:
        return error_response(404, "404 Not Found")

    server.register_error_handler(HTTPException, on_http_error)
    server.register_error_handler(InvalidResourceError, on_missing_resource)
    server.register_error_handler(DependencyException, on_missing_resource)

    if not debug:  # with debug, Werkzeug's debugger and Dash's dev tools show these instead

        def on_input_error(exc: Exception) -> Response:
            """A view that raised a value or type error on what it was sent: the request is at fault."""
            log.error("%s %s raised %s; answered 400", request.method, request.path[:200], type(exc).__name__,
                      exc_info=exc)
            return error_response(400, "400 Bad Request: request not understood")

        for exc_type in INPUT_ERRORS:
            server.register_error_handler(exc_type, on_input_error)

    # -- callbacks ---------------------------------------------------------------------------------------------

    dispatch = server.view_functions.get(dispatch_endpoint)
    if dispatch is not None:

        def checked_dispatch(*args: Any, **kwargs: Any) -> Any:
            problem = check_callback_body(app.callback_map, _read_callback_body())
            if problem:
                raise RequestRejected(problem)
            if debug:  # Dash's dev tools show the traceback
                return dispatch(*args, **kwargs)
            try:
                return dispatch(*args, **kwargs)
            except (HTTPException, PreventUpdate):
                raise
            except Exception:  # a callback that raised on input it did not expect
                output = str(request.get_json(silent=True).get("output"))[:200]
                log.exception("callback %s raised; answered 400", output)
                raise RequestRejected("callback input not understood") from None

        for attr in ("__name__", "__qualname__", "__module__"):
            setattr(checked_dispatch, attr, getattr(dispatch, attr, None) or getattr(checked_dispatch, attr))
        server.view_functions[dispatch_endpoint] = checked_dispatch

    # -- the layout: static here, so serialised and compressed once per process ----------------------------------

    layout_endpoint = prefix + "_dash-layout"
    serve_layout = server.view_functions.get(layout_endpoint)
    if serve_layout is not None and not debug:

        def cached_layout(*args: Any, **kwargs: Any) -> Any:
            """Dash serialises the whole layout (the map's geometry included: ~750 kB, ~200 ms) on every page load;
            when the layout is a fixed component tree, do it once, compress it once, and let browsers revalidate."""
            layout = app.layout
            if callable(layout) or _has_layout_hooks(app):
                return serve_layout(*args, **kwargs)
            entry = state.get("layout")
            if entry is None or entry[0] is not layout:
                resp = serve_layout(*args, **kwargs)
                if getattr(resp, "status_code", 200) != 200 or not isinstance(resp, Response):
                    return resp
                data = resp.get_data()
                entry = (layout, data, hashlib.sha256(data).hexdigest()[:32])
                state["layout"] = entry
            _, data, tag = entry
            resp = Response(data, mimetype="application/json")
            resp.set_etag(tag)
            _precompress(resp, state["precompressed"], (LAYOUT_KEY, tag), etag=True)
            return resp.make_conditional(request)

        server.view_functions[layout_endpoint] = cached_layout

    # -- production: no dev routes, no catch-all, nothing outside named in the page ----------------------------

    if not debug:

        @server.before_request
        def only_app_routes() -> None:
            rule = request.url_rule.rule if request.url_rule is not None else None
            if rule == reload_endpoint or (rule == catchall_rule and not getattr(app, "use_pages", False)):
                raise NotFound()

        config = getattr(app, "_config", None)
        if callable(config):

            def production_config() -> dict[str, Any]:
                cfg = config()
                cfg["dash_version_url"] = ""
                cfg["disable_version_check"] = True
                if "python_version" in cfg:
                    cfg["python_version"] = ""
                return cfg

            app._config = production_config  # type: ignore[method-assign]

    # -- headers and caching -------------------------------------------------------------------------------------

    @server.after_request
    def harden(resp: Response) -> Response:
        h = resp.headers
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "strict-origin-when-cross-origin"
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
        if xfo:
            h["X-Frame-Options"] = xfo
        if resp.mimetype == "text/html":
            h[csp_header] = page_policy()
            h.setdefault("Cross-Origin-Opener-Policy", "same-origin")

        endpoint = request.url_rule.rule if request.url_rule is not None else None
        fingerprinted = False
        if resp.status_code in (200, 304) and request.method in ("GET", "HEAD"):
            if endpoint == suites_endpoint:
                path = (request.view_args or {}).get("fingerprinted_path", "")
                path_in_pkg, fingerprinted = check_fingerprint(path)
                if resp.status_code == 200:
                    # Lazily loaded chunks (plotly.min.js, async-graph.js) come without a fingerprint: they are
                    # compressed once all the same, and revalidated by ETag instead of cached for a year.
                    package = (request.view_args or {}).get("package_name", "")
                    _precompress(resp, state["precompressed"], (package, path_in_pkg), etag=not fingerprinted)
            elif request.path.startswith(assets_prefix) and request.args.get("m"):
                fingerprinted = True  # Dash links assets as /assets/file?m=<mtime>
        if fingerprinted:
            h["Cache-Control"] = IMMUTABLE
        elif "Cache-Control" not in h:
            h["Cache-Control"] = "no-store" if resp.status_code >= 400 or request.method == "POST" else "no-cache"
        return resp


def _has_layout_hooks(app: Dash) -> bool:
    try:
        return bool(app._hooks.get_hooks("layout"))
    except AttributeError:  # pragma: no cover - another Dash version: assume there may be hooks
        return True


def _precompress(resp: Response, cache: Precompressed, key: tuple[str, str], etag: bool) -> None:
    """Serve a package file compressed from the per-process cache (Flask-Compress then leaves it alone)."""
    if resp.mimetype not in COMPRESSIBLE or "Content-Encoding" in resp.headers or resp.direct_passthrough:
        return
    vary = resp.headers.get("Vary", "")
    if "accept-encoding" not in vary.lower():
        resp.headers["Vary"] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"
    encoding = choose_encoding(request.headers.get("Accept-Encoding", ""))
    if encoding is None:
        return
    body = cache.get((*key, encoding), resp.get_data)
    tag, weak = resp.get_etag()
    resp.set_data(body)
    resp.headers["Content-Encoding"] = encoding
    if etag and tag:
        resp.set_etag(f"{tag}:{encoding}", weak=weak)  # one validator per encoding
        if resp.status_code == 200:
            resp.make_conditional(request)


def warm(server: Flask, encodings: tuple[str, ...] = ("br", "gzip")) -> int:
    """Serve the page once in-process and compress every registered script, before workers are forked.

    Dash finishes its set-up on the first request (assets, scripts, layout check); doing it here means forked
    workers start with it done (no first-request race between threads) and share the compressed scripts.
    Returns the number of compressed bodies held.
    """
    ext = server.extensions.get(EXTENSION_KEY)
    if not ext:
        return 0
    app: Dash = ext["app"]
    cache: Precompressed = ext["precompressed"]
    client = server.test_client()
    prefix = app.config.routes_pathname_prefix or "/"
    client.get(prefix)
    for enc in ("identity", *encodings):
        client.get(prefix + "_dash-layout", headers={"Accept-Encoding": enc})
    for package, paths in list(app.registered_paths.items()):
        for path in sorted(paths):
            if not path.endswith(".js"):
                continue
            for enc in encodings:
                cache.get((package, path, enc), lambda p=package, q=path: pkgutil.get_data(p, q) or b"")
    return len(cache)
