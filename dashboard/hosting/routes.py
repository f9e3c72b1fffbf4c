"""Plain HTTP endpoints beside the Dash app: ``/healthz`` and ``/export.png`` (and ``.svg``, ``.pdf``, ``.pptx``).

``/export.png`` goes through the service's :class:`dashboard.slides.queue.ExportQueue`: a request waits (with a
deadline) for a slide that a thread of its own renders; when the queue is full it is answered at once with 503
and ``Retry-After``, as it is when no browser can render (the user reads that export is unavailable for now, the
log says what to install). A view raises what went wrong (:class:`dashboard.hosting.errors.Problem`,
``RequestRejected``); the one handler of :mod:`dashboard.hosting.errors` answers it.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from flask import Flask, Response, jsonify, request

from dashboard import urls
from dashboard.hosting import downloads, errors
from dashboard.service import AtlasService
from dashboard.slides import pptx as slide_pptx
from dashboard.slides import queue as slide_queue
from dashboard.slides import render
from dashboard.state import QUERY_KEYS, parse_query, slide_filename

MAX_QUERY = 4000


def register(server: Flask, service: AtlasService) -> None:
    vocab = service.vocabulary

    @server.get(urls.HEALTHZ)
    def healthz() -> Response:
        """What this worker actually loaded (counted from the data, not the manifest's claims), and from where."""
        atlas = service.atlas
        m = atlas.manifest
        known = {str(y): int((atlas.table[f"level_{y}"] != "unknown").sum()) for y in (2015, 2016)}
        files = {name: {"rows": f["rows"], "sha256": str(f["sha256"])[:16]} for name, f in atlas.files.items()}
        return jsonify(status="ok", atlas_build=m["build_id"], built_at=m["built_at"], ccgs=len(atlas.table),
                       area_teams=int(atlas.table["area_team"].nunique()), known_levels=known,
                       folder=atlas.folder.rsplit("/", 1)[-1], fallback=atlas.fallback or None, files=files)

    @server.get(urls.SLIDE_ROUTE)
    def export_png(fmt: str = "png") -> Response:
        """The slide for the page's URL parameters, as PNG, SVG or PDF (map as vector paths) or PowerPoint.

        Other parameters (``utm_source``, ``download`` ...) are ignored, as the page ignores them, so a page URL
        works with ``/export.png`` in place of ``/``. A value the page would drop (year 2099, an unknown area
        team) gets a 400 instead: a slide must show exactly what was asked for.
        """
        raw = request.query_string.decode("utf-8", "replace")
        if len(raw) > MAX_QUERY:
            raise errors.RequestRejected("query string too long")
        params = [p for p in raw.split("&") if unquote_plus(p.split("=", 1)[0]) in QUERY_KEYS]
        state = parse_query("&".join(params), vocab)
        if state.notices:
            why = "; ".join(n.text() for n in state.notices)
            raise errors.RequestRejected(f"not understood, so no slide was made: {why}")
        try:
            drawn = "png" if fmt == "pptx" else fmt  # a PowerPoint file holds the PNG slide
            png = slide_queue.export_queue(service).slide(state, fmt=drawn, gone=client_gone(request.environ))
        except slide_queue.ExportBusy as exc:
            raise errors.Problem(errors.unavailable(str(exc), exc.retry_after)) from exc
        except render.RendererUnavailable as exc:  # the operator's remedy (install Chromium) goes to the log
            problem = errors.unavailable(exc.user_text, exc.retry_after, f"/export.{fmt}: {exc}")
            raise errors.Problem(problem) from exc
        if fmt == "pptx":
            resp = Response(slide_pptx.slide_pptx(service.view(state), png, 1920, 1080), mimetype=slide_pptx.PPTX_MIME)
        else:
            resp = Response(png, mimetype=render.MIMETYPES[fmt])
        name = slide_filename(state, fmt)
        # From the query as decoded above: ``request.args`` raises on bytes that are not UTF-8 (client input).
        download = any(k == "download" and v for k, v in parse_qsl(raw, keep_blank_values=True))
        disposition = "attachment" if download else "inline"
        resp.headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
        resp.headers["Cache-Control"] = "public, max-age=3600"
        return resp

    downloads.register(server, service)  # /export.csv and /export.zip: the table's data for the same parameters


def client_gone(environ: dict[str, Any]) -> Callable[[], bool] | None:
    """A check that the client of this request has closed its connection (gunicorn only; None elsewhere)."""
    sock = environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        return None

    def gone() -> bool:
        try:
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
            events = poller.poll(0)
            if not events:
                return False
            if events[0][1] & (select.POLLHUP | select.POLLERR):
                return True
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True

    return gone
