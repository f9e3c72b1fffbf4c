"""Failed requests as data until shown: one ``HttpProblem`` per 4xx/5xx, rendered in one place.

Every error answer is one short line: text/plain, or JSON on Dash's ``/_dash-*`` endpoints (its renderer reads
JSON there); never a stack trace or a file path, which go to the log. A view that raises one of
``INPUT_ERRORS`` on what it was sent answers 400, not 500. Every 503 carries ``Retry-After`` and, as its whole
line, a sentence for the person using the page (the page shows it as it is: ``assets/export.js``); what an
operator should do goes to the log (:func:`unavailable`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, request
from werkzeug.exceptions import BadRequest, HTTPException

from dashboard.hosting import dash_internals

log = logging.getLogger(__name__)

# Exceptions that, escaping a view, mean the code met input it did not expect (a value it could not parse, a
# list where it wanted a string). They answer 400 and are logged with their traceback; anything else is a 500.
INPUT_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, LookupError, AttributeError, ArithmeticError,
                                             RecursionError)


class RequestRejected(BadRequest):
    """A 400 whose description is ours (short and safe to show)."""


class Problem(HTTPException):
    """An :class:`HttpProblem` raised by a view: the one handler :func:`install` registers renders it, so a view
    says what went wrong and never builds an error response itself."""

    def __init__(self, problem: HttpProblem) -> None:
        super().__init__(description=problem.detail)
        self.code = problem.status
        self.problem = problem


#: Seconds a 503 asks the client to wait when the code refusing it gave no better estimate.
DEFAULT_RETRY_AFTER = 30
BUSY_TEXT = "The server is busy just now. Please try again in a moment."


@dataclass(frozen=True)
class HttpProblem:
    """What went wrong, as it may be shown: status, its reason phrase, an optional detail of ours, and for a 503
    the seconds after which a retry should work."""

    status: int
    reason: str
    detail: str | None = None
    retry_after: int | None = None

    @classmethod
    def of(cls, exc: HTTPException) -> HttpProblem:
        """Only our own descriptions are shown; Werkzeug's and other views' may say too much."""
        if isinstance(exc, Problem):
            return exc.problem
        detail = exc.description if isinstance(exc, RequestRejected) else None
        status = exc.code or 500
        if status == 503:
            retry = getattr(exc, "retry_after", None)
            seconds = retry if isinstance(retry, int) and retry > 0 else DEFAULT_RETRY_AFTER
            return cls(503, exc.name, detail or BUSY_TEXT, seconds)
        return cls(status, exc.name, detail or None)

    @property
    def message(self) -> str:
        """The one line shown: ``400 Bad Request: detail``; a 503's detail alone (a sentence for the user)."""
        if self.status == 503 and self.detail:
            return self.detail
        text = f"{self.status} {self.reason}"
        return f"{text}: {self.detail}" if self.detail else text

    def response(self, as_json: bool) -> Response:
        """The answer: never stored, since it describes this request only; a 503 says when to try again."""
        if as_json:
            resp = Response(json.dumps({"error": self.message}), status=self.status, mimetype="application/json")
        else:
            resp = Response(self.message + "\n", status=self.status, mimetype="text/plain")
        resp.headers["Cache-Control"] = "no-store"
        if self.status == 503:
            resp.headers["Retry-After"] = str(max(1, self.retry_after or DEFAULT_RETRY_AFTER))
        return resp


def bad_request(detail: str) -> HttpProblem:
    """A 400 with our own detail (short and safe to show)."""
    return HttpProblem(400, "Bad Request", detail)


def unavailable(user_text: str, retry_after: int, operator_text: str | None = None) -> HttpProblem:
    """A 503: ``user_text`` is what the person at the page reads, ``operator_text`` (what to install or fix) goes
    to the log as a warning, never to the client."""
    if operator_text:
        log.warning("answered 503: %s", operator_text)
    return HttpProblem(503, "Service Unavailable", user_text, retry_after)


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
    for exc_type in _unreadable_body_errors():
        server.register_error_handler(exc_type, lambda exc: on_unreadable_body(exc, show))
    if debug:  # Werkzeug's debugger and Dash's dev tools show these instead
        return

    def on_input_error(exc: Exception) -> Response:
        log_input_error(f"{request.method} {request.path[:200]}", exc)
        return show(INPUT_NOT_UNDERSTOOD)

    for exc_type in INPUT_ERRORS:
        server.register_error_handler(exc_type, on_input_error)


UNREADABLE_BODY = HttpProblem(400, "Bad Request", "request body not understood")


def _unreadable_body_errors() -> tuple[type[Exception], ...]:
    """gunicorn's exceptions for a body it cannot read (bad chunk size or terminator, cut off)."""
    try:
        from gunicorn.http.errors import NoMoreData, ParseException
    except ImportError:  # pragma: no cover - gunicorn is a pinned requirement
        return ()
    return ParseException, NoMoreData


def on_unreadable_body(exc: Exception, show: Callable[[HttpProblem], Response]) -> Response:
    """A body gunicorn cannot read raises inside the view that reads it; it is the client's fault: 400, one line,
    no traceback. gunicorn closes the connection after it (the body's framing is lost), though its header still
    says keep-alive: it ignores an app's ``Connection`` header."""
    log.warning("%s %s: unreadable body (%s); answered 400", request.method, request.path[:200], str(exc)[:200])
    return show(UNREADABLE_BODY)
