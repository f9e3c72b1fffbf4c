"""Failed requests as data until shown: one ``HttpProblem`` per 4xx/5xx, rendered in one place.

Every error answer is one short line: text/plain, or JSON on Dash's ``/_dash-*`` endpoints (its renderer reads
JSON there); never a stack trace or a file path, which go to the log. A view that raises one of
``INPUT_ERRORS`` on what it was sent answers 400, not 500.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from flask import Flask, Response, request
from werkzeug.exceptions import BadRequest, HTTPException

from dashboard import dash_internals

log = logging.getLogger(__name__)

# Exceptions that, escaping a view, mean the code met input it did not expect (a value it could not parse, a
# list where it wanted a string). They answer 400 and are logged with their traceback; anything else is a 500.
INPUT_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, LookupError, AttributeError, ArithmeticError,
                                             RecursionError)


class RequestRejected(BadRequest):
    """A 400 whose description is ours (short and safe to show)."""


@dataclass(frozen=True)
class HttpProblem:
    """What went wrong, as it may be shown: status, its reason phrase, and an optional detail of ours."""

    status: int
    reason: str
    detail: str | None = None

    @classmethod
    def of(cls, exc: HTTPException) -> HttpProblem:
        """Only our own descriptions are shown; Werkzeug's and other views' may say too much."""
        detail = exc.description if isinstance(exc, RequestRejected) else None
        return cls(exc.code or 500, exc.name, detail or None)

    @property
    def message(self) -> str:
        """The one line shown: ``400 Bad Request: detail``."""
        text = f"{self.status} {self.reason}"
        return f"{text}: {self.detail}" if self.detail else text

    def response(self, as_json: bool) -> Response:
        """The answer: never stored, since it describes this request only."""
        if as_json:
            resp = Response(json.dumps({"error": self.message}), status=self.status, mimetype="application/json")
        else:
            resp = Response(self.message + "\n", status=self.status, mimetype="text/plain")
        resp.headers["Cache-Control"] = "no-store"
        return resp


NOT_FOUND = HttpProblem(404, "Not Found")
INPUT_NOT_UNDERSTOOD = HttpProblem(400, "Bad Request", "request not understood")


def log_input_error(what: str, exc: BaseException) -> None:
    """Log, with its traceback, an exception raised on input the code did not expect (answered 400)."""
    log.error("%s raised %s; answered 400", what, type(exc).__name__, exc_info=exc)


def install(server: Flask, json_prefix: str, debug: bool) -> None:
    """Every error a view raises answers as an ``HttpProblem`` (JSON under ``json_prefix``)."""

    def show(problem: HttpProblem) -> Response:
        return problem.response(as_json=request.path.startswith(json_prefix))

    def on_http_error(exc: HTTPException) -> Response:
        return show(HttpProblem.of(exc))

    def on_missing_resource(_exc: Exception) -> Response:
        return show(NOT_FOUND)

    server.register_error_handler(HTTPException, on_http_error)
    for exc_type in dash_internals.MISSING_RESOURCE_ERRORS:
        server.register_error_handler(exc_type, on_missing_resource)
    if debug:  # Werkzeug's debugger and Dash's dev tools show these instead
        return

    def on_input_error(exc: Exception) -> Response:
        log_input_error(f"{request.method} {request.path[:200]}", exc)
        return show(INPUT_NOT_UNDERSTOOD)

    for exc_type in INPUT_ERRORS:
        server.register_error_handler(exc_type, on_input_error)
