"""The page's plotly.js: a partial bundle with only the traces the page draws, built by ``make js``.

Dash's graphs load the full plotly.min.js (4.8 MB, 1.1 MB compressed) unless ``window.Plotly`` is already
defined. The partial bundle holds the geo map's traces and the charts' (no MapLibre, no WebGL): 1.3 MB, about
370 kB brotli. The partial bundle (``build/js/plotly-atlas.min.js``, from the pinned npm package: ``package.json``,
``package-lock.json``, ``js/``) is put in the page as a script of this server, under a URL carrying its content
hash, so it is cached for a year and a rebuilt bundle gets a new URL. Without it (no npm where the app was
built) the page falls back to Dash's full bundle and the log says so. ``make js`` also writes its zstd, brotli and
gzip encodings at their tightest settings (``python -m dashboard.hosting.compression``), which the route
sends as they are.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from dash import Dash
from flask import Response, abort

from dashboard.hosting import compression
from dashboard.hosting.headers import IMMUTABLE

log = logging.getLogger(__name__)

BUNDLE = Path(os.environ.get("PLOTLY_BUNDLE", Path(__file__).resolve().parents[2] / "build/js/plotly-atlas.min.js"))
ROUTE = "/_atlas/plotly-atlas.<digest>.min.js"
#: The trace types the bundle holds (js/plotly-atlas.js); tests check the page's figures use no other.
TRACES = ("choropleth", "scattergeo", "bar", "box", "scatter")


def install(app: Dash, bundle: Path = BUNDLE) -> str | None:
    """Serve ``bundle`` and load it before Dash's graphs; its URL, or None (full bundle, logged) if it is absent."""
    try:
        body = bundle.read_bytes()
    except OSError:
        log.warning("no plotly.js partial bundle at %s (run `make js`): the page loads Dash's full plotly.js",
                    bundle)
        return None
    digest = hashlib.sha256(body).hexdigest()[:16]
    url = app.get_relative_path(ROUTE.replace("<digest>", digest))
    # Its tightest encodings, written beside it by `make js`; one missing or stale is made when first asked for.
    encoded = compression.Precompressed(body, {e: bundle.with_name(bundle.name + compression.SUFFIX[e])
                                               for e in compression.ENCODINGS})

    def plotly_js(digest: str) -> Response:
        if digest != url.rsplit("/", 1)[-1].split(".")[1]:
            abort(404)
        return encoded.response("text/javascript", IMMUTABLE)  # the URL changes with the content

    app.server.add_url_rule(app.get_relative_path(ROUTE), "atlas_plotly_bundle", plotly_js)
    app.config.external_scripts = [*app.config.external_scripts, url]
    return url
