"""Security headers and cache lifetimes on every response (one ``after_request`` hook).

A Content-Security-Policy on the page that names no outside host (Dash's one inline ``<script>`` is allowed by
its hash, plotly's map workers by ``blob:``), report-only with ``debug`` so Dash's dev tools keep working;
``frame-ancestors`` from ``FRAME_ANCESTORS``; ``nosniff``, ``Referrer-Policy``, ``Permissions-Policy``.
Fingerprinted scripts and ``/assets/…?m=`` files are ``immutable`` for a year; every other response revalidates
(``no-cache``) or is not stored (callbacks and errors).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence

from dash import Dash
from flask import Response, request

from dashboard.hosting import dash_internals
from dashboard.hosting.dash_internals import Routes

log = logging.getLogger(__name__)

YEAR = 31536000
IMMUTABLE = f"public, max-age={YEAR}, immutable"
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
#: One host source: an optional http(s) scheme, a named host (no wildcard), an optional port and path.
_HOST_SOURCE = re.compile(r"^(?:https?://)?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*"
                          r"[A-Za-z0-9])?)*(?::\d{1,5})?(?:/[A-Za-z0-9._~/-]*)?$")
_SCHEME_ONLY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?://)?$")


def frame_source_problem(token: str) -> str | None:
    """Why one ``FRAME_ANCESTORS`` source is refused, or None when it names one origin (or is 'self'/'none').

    >>> frame_source_problem("https:"), frame_source_problem("https://*.example")
    ('scheme-only: every site over https could frame the page', 'wildcard: any matching host could frame the page')
    >>> frame_source_problem("https://intranet.example.nhs.uk") is None
    True
    """
    if token in ("'self'", "'none'"):
        return None
    if "*" in token:
        return "wildcard: any matching host could frame the page"
    if _SCHEME_ONLY.match(token):
        return f"scheme-only: every site over {token.split(':', 1)[0].lower()} could frame the page"
    if not _HOST_SOURCE.match(token):
        return "not a host source such as https://intranet.example.nhs.uk"
    return None


def frame_ancestors(value: str | None) -> tuple[str, str | None]:
    """The CSP ``frame-ancestors`` sources and the matching ``X-Frame-Options`` (None when it cannot say it).

    ``FRAME_ANCESTORS`` is a space-separated CSP source list: ``'self'`` (default), ``'none'``, or named hosts
    such as ``'self' https://intranet.example.nhs.uk``. Quotes around self/none may be left out. A scheme-only
    source (``https:``) or a wildcard (``*``, ``https://*.example``) would let sites nobody named frame the page
    (clickjacking), so they are refused like anything else that is not a plain source: the whole setting falls
    back to ``'self'``, with a warning naming each refused source, so a typo cannot open the page to every framer.
    """
    text = (value or "").strip()
    if not text:
        return "'self'", "SAMEORIGIN"
    tokens = ["'self'" if t.lower() in ("self", "'self'") else "'none'" if t.lower() in ("none", "'none'") else t
              for t in text.split()]
    problems = [f"{t!r} ({why})" for t in tokens if (why := frame_source_problem(t))]
    if "'none'" in tokens and len(tokens) > 1:
        problems.append("'none' cannot be combined with other sources")
    if problems:
        log.warning("FRAME_ANCESTORS=%r refused, using 'self' instead: %s", value[:200] if value else value,
                    "; ".join(problems)[:1000])
        return "'self'", "SAMEORIGIN"
    joined = " ".join(dict.fromkeys(tokens))
    xfo = {"'self'": "SAMEORIGIN", "'none'": "DENY"}.get(joined)
    return joined, xfo


def content_security_policy(script_hashes: Sequence[str], ancestors: str) -> str:
    """The page's policy: everything from this origin, nothing from anywhere else."""
    directives = {
        "default-src": "'self'",
        "script-src": " ".join(["'self'", *script_hashes]),
        # React, plotly and AG Grid set inline styles and insert <style> elements.
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data: blob:",
        "font-src": "'self' data:",
        "connect-src": "'self'",
        # No workers from blob: URLs: the map is SVG paths (plotly geo); MapLibre, which needed them, is gone.
        "worker-src": "'self'",
        "child-src": "'self'",
        "frame-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "manifest-src": "'self'",
        "frame-ancestors": ancestors,
    }
    return "; ".join(f"{k} {v}" for k, v in directives.items())


class HeaderPolicy:
    """The ``after_request`` hook; the page's policy is computed on first use, once every callback exists."""

    def __init__(self, app: Dash, routes: Routes, debug: bool) -> None:
        self._app = app
        self._routes = routes
        self._ancestors, self._xfo = frame_ancestors(os.environ.get("FRAME_ANCESTORS"))
        self._csp_header = "Content-Security-Policy-Report-Only" if debug else "Content-Security-Policy"
        self._csp: str | None = None
        self._lock = threading.Lock()

    def page_policy(self) -> str:
        """Computed once: the inline-script hashes are known only after every callback is registered."""
        if self._csp is None:
            with self._lock:
                if self._csp is None:
                    self._csp = content_security_policy(dash_internals.csp_hashes(self._app), self._ancestors)
        return self._csp

    def __call__(self, resp: Response) -> Response:
        """Headers on every answer, errors included (they run after the error handlers)."""
        h = resp.headers
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "strict-origin-when-cross-origin"
        h.setdefault("Permissions-Policy", PERMISSIONS)
        if self._xfo:
            h["X-Frame-Options"] = self._xfo
        if resp.mimetype == "text/html":
            h[self._csp_header] = self.page_policy()
            h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h["Cache-Control"] = self.cache_control(resp)
        return resp

    def cache_control(self, resp: Response) -> str:
        """A year for URLs that change with their content; otherwise what the view set, revalidate or no-store."""
        if resp.status_code in (200, 304) and request.method in ("GET", "HEAD"):
            suite = dash_internals.component_suite(self._routes, request)
            # Lazily loaded chunks (plotly.min.js, async-graph.js) come without a fingerprint: revalidated by ETag.
            if (suite.fingerprinted if suite else dash_internals.is_fingerprinted_asset(self._routes, request)):
                return IMMUTABLE
        if "Cache-Control" in resp.headers:
            return resp.headers["Cache-Control"]
        return "no-store" if resp.status_code >= 400 or request.method == "POST" else "no-cache"


def install(app: Dash, routes: Routes, debug: bool) -> None:
    """Registered after Dash's Flask-Compress hook, so it runs before it (Flask runs them in reverse)."""
    app.server.after_request(HeaderPolicy(app, routes, debug))
