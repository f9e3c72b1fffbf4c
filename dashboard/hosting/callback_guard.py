"""Callback requests checked before any callback runs, and callbacks that raise on odd input answered 400.

A ``/_dash-update-component`` body must be a JSON object of at most ``MAX_BODY`` bytes, nested at most
``MAX_DEPTH`` deep, that names a registered callback with its registered inputs, state and outputs; anything
else is a 400. A callback that still raises on values it did not expect answers 400 too (logged with its
traceback), never 500: the request is at fault, and a 500 would page someone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dash import Dash
from dash.exceptions import PreventUpdate
from flask import request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from dashboard.hosting import dash_internals, errors
from dashboard.hosting.dash_internals import CallbackSpec, Routes, View
from dashboard.hosting.errors import RequestRejected

MAX_BODY = 1024 * 1024  # bytes in a request body; a real callback body is a few kB
MAX_DEPTH = 64  # nesting of JSON values in a callback body; plotly events are about 6 deep


def _prop_key(item: dict[str, Any]) -> str:
    """The name Dash gives a property in ``changedPropIds`` (``id.property``, dict ids as sorted JSON)."""
    cid = item["id"]
    text = cid if isinstance(cid, str) else json.dumps(cid, sort_keys=True, separators=(",", ":"))
    return f"{text}.{item['property']}"


def _depth_exceeds(value: object, limit: int) -> bool:
    """Iterative, so a hostile body cannot exhaust the stack."""
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


def _dependencies_problem(cb: CallbackSpec, body: dict[str, Any]) -> str | None:
    """Inputs, state and outputs must be exactly the registered ones, or Dash fails deep inside (a 500)."""
    for key, specs in (("inputs", cb.inputs), ("state", cb.state)):
        got = body.get(key, None if specs else [])  # Dash reads a missing key as []; null breaks it
        if not isinstance(got, list) or len(got) != len(specs) or not all(map(_matches, got, specs)):
            return f"{key} do not match the callback"
    if cb.outputs is not None:
        got = body.get("outputs")
        if cb.multi:
            fits = isinstance(got, list) and len(got) == len(cb.outputs) and all(map(_matches, got, cb.outputs))
        else:
            fits = _matches(got, cb.outputs[0])
        if not fits:
            return "outputs do not match the callback"
    return None


def _names_unknown_input(cb: CallbackSpec, changed: list[str]) -> bool:
    """``changedPropIds`` naming something the callback has not got (callbacks branch on these names)."""
    if not all(isinstance(s.get("id"), str) for s in cb.inputs):  # pattern-matching ids: names vary
        return False
    known = {_prop_key(s) for s in cb.inputs}
    return bool(known) and not all(c in known for c in changed)


def check_callback_body(callback_map: Mapping[str, dict[str, Any]], body: object) -> str | None:
    """What is wrong with a ``/_dash-update-component`` body, or None when it fits a registered callback.

    Only the shape is checked (which callback, which inputs, state and outputs); values are the callback's own
    business, and the callbacks of this app normalise whatever they get.
    """
    if not isinstance(body, dict):
        return "body is not a JSON object"
    output = body.get("output")
    cb = dash_internals.server_callback(callback_map, output) if isinstance(output, str) else None
    if cb is None:
        return "unknown callback"
    problem = _dependencies_problem(cb, body)
    if problem:
        return problem
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) and len(c) <= 1000 for c in changed):
        return "changedPropIds is not a list of names"
    if _depth_exceeds(body, MAX_DEPTH):
        return "values nested too deeply"
    if _names_unknown_input(cb, changed):
        return "changedPropIds names an input the callback does not have"
    return None


def read_callback_body() -> object:
    """The parsed body, within the size limit, or a short 4xx (Dash then reads Flask's cached parse)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise RequestEntityTooLarge()
    if not request.is_json:
        raise RequestRejected("send the callback as application/json")
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None
    if body is None:
        raise RequestRejected("body is not valid JSON")
    return body


def guarded(app: Dash, dispatch: View, debug: bool) -> View:
    """Dash's dispatch view behind the body check; with ``debug`` Dash's dev tools show what a callback raised."""

    def checked_dispatch(*args: Any, **kwargs: Any) -> Any:
        problem = check_callback_body(dash_internals.callback_map(app), read_callback_body())
        if problem:
            raise RequestRejected(problem)
        if debug:
            return dispatch(*args, **kwargs)
        try:
            return dispatch(*args, **kwargs)
        except (HTTPException, PreventUpdate):
            raise
        except Exception as exc:  # a callback that raised on input it did not expect
            output = str(request.get_json(silent=True).get("output"))[:200]
            errors.log_input_error(f"callback {output}", exc)
            raise RequestRejected("callback input not understood") from None

    return checked_dispatch


def install(app: Dash, routes: Routes, debug: bool) -> None:
    """Check every callback request; bodies above ``MAX_BODY`` are refused before they are read."""
    app.server.config["MAX_CONTENT_LENGTH"] = app.server.config.get("MAX_CONTENT_LENGTH") or MAX_BODY
    dash_internals.replace_view(app.server, routes.dispatch, lambda dispatch: guarded(app, dispatch, debug))
