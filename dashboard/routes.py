"""Plain HTTP endpoints beside the Dash app: ``/healthz`` and ``/export.png``."""

from __future__ import annotations

from urllib.parse import unquote_plus

from flask import Flask, Response, jsonify, request

from dashboard import render
from dashboard.service import AtlasService
from dashboard.state import QUERY_KEYS, parse_query, slide_filename

MAX_QUERY = 4000


def register(server: Flask, service: AtlasService) -> None:
    vocab = service.vocabulary

    @server.get("/healthz")
    def healthz() -> Response:
        m = service.atlas.manifest
        return jsonify(status="ok", atlas_build=m["build_id"], built_at=m["built_at"], ccgs=m["ccgs"])

    @server.get("/export.png")
    def export_png() -> Response:
        """The slide for the page's URL parameters.

        Other parameters (``utm_source``, ``download`` ...) are ignored, as the page ignores them, so a page URL
        works with ``/export.png`` in place of ``/``. A value the page would drop (year 2099, an unknown area
        team) gets a 400 instead: a slide must show exactly what was asked for.
        """
        raw = request.query_string.decode("utf-8", "replace")
        if len(raw) > MAX_QUERY:
            return _bad("query string too long")
        params = [p for p in raw.split("&") if unquote_plus(p.split("=", 1)[0]) in QUERY_KEYS]
        state = parse_query("&".join(params), vocab)
        if state.notices:
            return _bad("not understood, so no slide was made: "
                        + "; ".join(n.removeprefix("Ignored ") for n in state.notices))
        try:
            png = render.slide_bytes(service, state, fmt="png")
        except render.RendererUnavailable as exc:
            return Response(f"Slide export is unavailable on this server: {exc}\n", status=503,
                            mimetype="text/plain")
        resp = Response(png, mimetype="image/png")
        name = slide_filename(state)
        disposition = "attachment" if request.args.get("download") else "inline"
        resp.headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
        resp.headers["Cache-Control"] = "public, max-age=3600"
        return resp


def _bad(message: str) -> Response:
    return Response(f"Bad request: {message}\n", status=400, mimetype="text/plain")
