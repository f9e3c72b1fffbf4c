"""Every 503 says when to try again (``Retry-After``) and, in words for the person at the page, what happened;
what the operator should do (install Chromium, set BROWSER_PATH) goes to the log, never to the client."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, abort

from dashboard.hosting import errors
from dashboard.slides import queue as slide_queue
from dashboard.slides import render
from dashboard.state import ViewState

OPERATOR_WORDS = ("apt-get", "BROWSER_PATH", "make chromium", "Traceback", "kaleido")


@pytest.fixture(scope="module")
def app_and_service(atlas_dir: Path) -> tuple[Any, Any]:
    """An app of its own: its export queue is replaced by one whose 'browser' fails as the test says."""
    import app as app_module

    dash_app = app_module.create_app(atlas_dir=atlas_dir)
    return dash_app, dash_app.server.extensions["atlas_service"]


def failing_queue(service: Any, exc: Exception) -> slide_queue.ExportQueue:
    def make(_state: ViewState, _fmt: str, _w: int, _h: int, _cancel: threading.Event) -> bytes:
        raise exc

    queue = slide_queue.ExportQueue(service, make=make)
    service._derived["export-queue"] = queue  # what slide_queue.export_queue(service) hands the route
    return queue


@pytest.mark.parametrize("exc, retry", [
    (render.RenderFailed("slide rendering failed twice (TimeoutError: ); " + render.INSTALL_HINT), 60),
    (render.RendererUnavailable("no Chrome or Chromium browser found: " + render.INSTALL_HINT), 600),
])
def test_a_browser_failure_is_a_503_for_the_user_and_a_log_line_for_the_operator(
        app_and_service: tuple[Any, Any], exc: Exception, retry: int, caplog: pytest.LogCaptureFixture) -> None:
    dash_app, service = app_and_service
    failing_queue(service, exc)
    client = dash_app.server.test_client()
    with caplog.at_level(logging.INFO):
        for _ in range(2):  # twice in a row: the same answer each time
            resp = client.get("/export.png?year=2015&region=London")
            body = resp.get_data(as_text=True)
            assert resp.status_code == 503
            assert resp.headers["Retry-After"] == str(retry)
            assert body.strip() == type(exc).user_text
            assert not any(word in body for word in OPERATOR_WORDS), body
            assert resp.headers["Cache-Control"] == "no-store"
    logged = [r for r in caplog.records if "apt-get install chromium" in r.getMessage()]
    assert len(logged) == 2 and all(r.levelno == logging.WARNING and not r.exc_info for r in logged)


def test_a_503_from_any_view_says_when_to_retry_in_plain_words() -> None:
    server = Flask("tiny")
    errors.install(server, "/_dash-", debug=False)

    @server.get("/busy")
    def busy() -> str:
        abort(503)

    @server.get("/_dash-busy")
    def dash_busy() -> str:
        abort(503)

    client = server.test_client()
    plain = client.get("/busy")
    assert plain.status_code == 503 and plain.headers["Retry-After"] == str(errors.DEFAULT_RETRY_AFTER)
    assert plain.get_data(as_text=True).strip() == errors.BUSY_TEXT
    as_json = client.get("/_dash-busy")
    assert as_json.status_code == 503 and int(as_json.headers["Retry-After"]) >= 1
    assert json.loads(as_json.get_data()) == {"error": errors.BUSY_TEXT}


def test_a_400_keeps_its_one_line_with_our_detail(app_and_service: tuple[Any, Any]) -> None:
    dash_app, _ = app_and_service
    resp = dash_app.server.test_client().get("/export.png?year=2099")
    assert resp.status_code == 400 and "Retry-After" not in resp.headers
    assert resp.get_data(as_text=True).startswith("400 Bad Request: not understood, so no slide was made: year")


def test_export_query_bytes_that_are_not_utf8_are_client_input_not_an_error(
        app_and_service: tuple[Any, Any], caplog: pytest.LogCaptureFixture) -> None:
    dash_app, service = app_and_service

    def make(_state: ViewState, _fmt: str, _w: int, _h: int, _cancel: threading.Event) -> bytes:
        return b"\x89PNG stand-in"

    service._derived["export-queue"] = slide_queue.ExportQueue(service, make=make)
    client = dash_app.server.test_client()
    with caplog.at_level(logging.INFO):
        saved = client.get("/export.png", environ_overrides={"QUERY_STRING": "year=2015&utm_\xff=1&download=1"})
        shown = client.get("/export.png", environ_overrides={"QUERY_STRING": "year=2015&\xfe\xff&download="})
    assert saved.status_code == shown.status_code == 200
    assert saved.headers["Content-Disposition"].startswith("attachment")
    assert shown.headers["Content-Disposition"].startswith("inline")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
