"""Property-based fuzzing of what the public can send: callback bodies, page and export URL parameters.

Thousands of requests through Flask's test client against the production app (``app:server``), with fixed
seeds (``derandomize=True``) so CI sees the same inputs every run. Whatever comes in, the answer is below 500,
carries no stack trace or file path, and the server still answers ``/healthz`` afterwards. Callbacks that
raise on an input (the generic layer in ``dashboard/hosting/security.py`` turns that into a 400) are collected from
the log and reported as failures too, because a callback should ignore what it does not understand.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import warnings
from collections import Counter
from typing import Any
from urllib.parse import quote, urlencode

import plotly.utils
import pytest
from conftest import session_atlas_dir  # the one conftest module pytest loaded
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import app as app_module
from dashboard.hosting import security
from dashboard.page import layout
from dashboard.state import ViewState, parse_query

APP = app_module.create_app(atlas_dir=session_atlas_dir())  # strategies below are made from its callbacks
SERVER = APP.server
DISPATCH = "/_dash-update-component"
VOCAB = SERVER.extensions["atlas_service"].vocabulary
LEAKS = re.compile(r"Traceback|File \"|/work/|site-packages|\.py\b|Werkzeug Debugger", re.IGNORECASE)
SENT: Counter[str] = Counter()


def fuzz_settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def client():  # noqa: ANN201
    assert not SERVER.extensions[security.EXTENSION_KEY]["debug"], "run the tests without DASH_DEBUG=1"
    return SERVER.test_client()


@pytest.fixture(autouse=True)
def report_exceptions(caplog: pytest.LogCaptureFixture):  # noqa: ANN201
    """Views or callbacks that raised (answered 400 by the generic layer): a warning, or a failure in strict mode."""
    caplog.set_level(logging.ERROR, logger=security.log.name)
    yield
    raised = [r.getMessage() + "\n" + (r.exc_text or "") for r in caplog.get_records("call")
              if r.name == security.log.name and "raised" in r.getMessage()]
    if raised:  # strict by default: a callback should ignore what it does not understand, not raise
        report = summarise(raised)
        if os.environ.get("FUZZ_STRICT", "1") == "1":
            pytest.fail(report)
        warnings.warn(report, stacklevel=1)


def summarise(raised: list[str]) -> str:
    """One line per distinct failure: the project frame that raised and the exception."""
    kinds: Counter[str] = Counter()
    for text in raised:
        frames = [line.strip() for line in text.splitlines() if line.strip().startswith("File ")
                  and "security.py" not in line]
        frames = [f for f in frames if "site-packages" not in f] or frames
        last = text.strip().splitlines()[-1] if text.strip() else "?"
        kinds[f"{frames[-1] if frames else '?'}: {last}"] += 1
    lines = [f"{n} x {k}" for k, n in kinds.most_common()]
    return f"{len(raised)} exceptions on fuzzed input (answered 400 by the generic layer; FUZZ_STRICT=0 warns):\n" \
        + "\n".join(lines)


def check(resp: Any, what: str) -> None:
    SENT[what] += 1
    body = resp.get_data().decode("utf-8", "replace")
    assert resp.status_code < 500, f"{what}: {resp.status_code}\n{body[:2000]}"
    if resp.status_code >= 400:
        assert len(body) < 2000 and not LEAKS.search(body), f"{what}: error body says too much: {body[:500]}"


# ---------------------------------------------------------------------------------------------------------------
# Values

SCRIPTS = ["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "javascript:alert(1)", "'; DROP TABLE x;--",
           "{{7*7}}", "${jndi:ldap://x}", "../../etc/passwd", "%00", "\x00", "\u202e", "😀" * 30, "NaN", "-1", "1e999"]
NAMES = [*VOCAB.area_teams, *VOCAB.regions, *list(VOCAB.team_by_code), *sorted(VOCAB.ccgs)[:20],
         "Greater Manchester area team", "nhs england london region", "Atlantis", "E39000099", "E38999999", ""]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([2015, 2016, 2099, 0, -1, 1.5, "2016", "2015 ", "2099", "1-3", "5-1", "0-9", "level", "change"]),
    st.sampled_from(NAMES), st.sampled_from(SCRIPTS), st.text(max_size=40),
)
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=25)
long_lists = st.builds(lambda x, n: [x] * n, st.one_of(st.sampled_from(NAMES), scalars), st.integers(200, 3_000))
long_text = st.builds(lambda s, n: s * n, st.sampled_from(["a", "Greater Manchester,", "<b>", "é"]),
                      st.integers(1_000, 20_000))
deep = st.builds(lambda n, leaf: json.loads("[" * n + json.dumps(leaf) + "]" * n), st.integers(10, 400), scalars)
imd_values = st.one_of(st.lists(st.one_of(st.integers(-3, 9), st.floats(-1, 10), st.text(max_size=3)), max_size=4),
                       st.sampled_from([[1, 5], [5, 1], [2, 2], [1.0, 3.0], [1.5, 2], "1-3", "3", None]))
store = st.fixed_dictionaries({}, optional={
    "year": scalars, "area_teams": st.one_of(st.lists(st.sampled_from(NAMES), max_size=6), junk, long_lists),
    "regions": st.one_of(st.lists(st.sampled_from(NAMES), max_size=4), junk), "imd": imd_values,
    "ccgs": st.one_of(st.lists(st.sampled_from(NAMES), max_size=8), junk, long_lists),
    "view": st.one_of(st.sampled_from(["level", "change"]), scalars), "extra": junk,
})
map_event = st.one_of(
    st.none(), junk,
    st.fixed_dictionaries({"points": st.lists(st.fixed_dictionaries(
        {"curveNumber": st.sampled_from([0, 1, 2, -1, "0", None]),
         "location": st.one_of(st.sampled_from(NAMES), scalars)},
        optional={"pointNumber": scalars, "z": scalars, "customdata": junk}), max_size=12)},
        optional={"range": junk, "lassoPoints": junk}),
)
query_keys = st.sampled_from(["year", "area_team", "region", "imd", "ccg", "view", "download", "YEAR", "x", "",
                              "area_team[]", "year\x00", "<script>"])
query_values = st.one_of(st.sampled_from(NAMES + SCRIPTS), scalars.map(str), st.text(max_size=60))
queries = st.lists(st.tuples(query_keys, query_values), max_size=8).map(lambda pairs: urlencode(pairs))
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=200)
raw_queries = st.one_of(queries, text.map(lambda s: quote(s, safe="=&%+")),
                        st.binary(max_size=100).map(lambda b: quote(b, safe="=&")),
                        st.sampled_from(["%", "%%", "%ZZ", "a=%FF%FE", "&&&", "=", "year", "year=", "imd=%2D",
                                         "?year=2016", "year=2016;area_team=x"]))
any_value = st.one_of(junk, long_lists, long_text, deep, store, map_event, imd_values, queries.map(lambda q: "?" + q))


@functools.cache
def value_for(component: str, prop: str) -> st.SearchStrategy[Any]:
    """Values near what the browser sends for this component property, mixed with anything at all."""
    likely = {
        ("url", "search"): st.one_of(queries.map(lambda q: "?" + q), raw_queries),
        ("view-state", "data"): store, ("map-applied", "data"): st.one_of(junk, st.dictionaries(
            st.sampled_from(["colour", "filter", "selection", "clusters"]), junk)),
        ("imd-range", "value"): imd_values, ("map-click", "data"): map_event,
        ("map-select", "data"): map_event,
    }.get((component, prop))
    by_property = {"value": st.one_of(scalars, st.lists(st.sampled_from(NAMES), max_size=6)),
                   "n_clicks": st.one_of(st.integers(-5, 10**12), scalars)}.get(prop, junk)
    options = [s for s in (likely, by_property) if s is not None]
    return st.one_of(*options, any_value)


def initial_values() -> dict[tuple[str, str], Any]:
    """(id, property) -> the value the page starts with, as the browser would send it for an untouched control."""
    out: dict[tuple[str, str], Any] = {}
    page = layout.page(APP.server.extensions["atlas_service"], ViewState())  # the default page's first layout
    for component in page._traverse():
        cid = getattr(component, "id", None)
        if isinstance(cid, str):
            for prop in component._prop_names:
                value = getattr(component, prop, None)
                if value is not None and prop != "children":
                    out[(cid, prop)] = json.loads(json.dumps(value, cls=plotly.utils.PlotlyJSONEncoder))
    return out


INITIAL = initial_values()


def prop_id(spec: dict[str, str]) -> str:
    return f"{spec['id']}.{spec['property']}"


def output_specs(cb: dict[str, Any]) -> Any:
    outs = cb["output"]
    if isinstance(outs, list | tuple):
        return [{"id": o.component_id, "property": o.component_property} for o in outs]
    return {"id": outs.component_id, "property": outs.component_property}


@st.composite
def callback_body(draw: st.DrawFn, key: str) -> dict[str, Any]:
    """A body of the registered shape for one callback: one to three values fuzzed, the rest as on a fresh page."""
    cb = APP.callback_map[key]
    specs = [*cb["inputs"], *cb["state"]]
    fuzzed = draw(st.sets(st.integers(0, len(specs) - 1), min_size=1, max_size=min(3, len(specs))))
    entries = []
    for i, spec in enumerate(specs):
        item = {"id": spec["id"], "property": spec["property"]}
        if i in fuzzed:
            if draw(st.integers(0, 9)):  # a missing value is what the browser sends for an unset property
                item["value"] = draw(value_for(spec["id"], spec["property"]))
        elif (spec["id"], spec["property"]) in INITIAL:
            item["value"] = INITIAL[(spec["id"], spec["property"])]
        entries.append(item)
    n = len(cb["inputs"])
    changed = sorted({prop_id(specs[i]) for i in fuzzed if i < n}) or [prop_id(specs[0])]
    body = {"output": key, "outputs": output_specs(cb), "inputs": entries[:n],
            "changedPropIds": draw(st.sampled_from([changed, changed[:1], []]))}
    if cb["state"]:
        body["state"] = entries[n:]
    return body


def with_value(key: str, component: str, prop: str, value: Any) -> dict[str, Any]:
    """The fresh-page body of a callback with one value set (unchanged when it has no such input)."""
    cb = APP.callback_map[key]
    body: dict[str, Any] = {"output": key, "outputs": output_specs(cb), "changedPropIds": []}
    for part in ("inputs", "state"):
        entries = []
        for spec in cb[part]:
            item = {"id": spec["id"], "property": spec["property"]}
            if (spec["id"], spec["property"]) == (component, prop):
                item["value"] = value
                body["changedPropIds"] = [prop_id(spec)] if part == "inputs" else []
            elif (spec["id"], spec["property"]) in INITIAL:
                item["value"] = INITIAL[(spec["id"], spec["property"])]
            entries.append(item)
        if entries or part == "inputs":
            body[part] = entries
    return body


def post(client: Any, body: Any, what: str) -> Any:
    data = body if isinstance(body, bytes | str) else json.dumps(body, allow_nan=True)
    resp = client.post(DISPATCH, data=data, content_type="application/json")
    check(resp, what)
    return resp


# ---------------------------------------------------------------------------------------------------------------
# Callbacks: the registered shapes with fuzzed values


def _examples(key: str) -> int:
    """Cheap callbacks get many examples; the summaries (figures, about 80 ms each) fewer."""
    if "url.search" in key:
        return 600
    if "ccg-map.figure" in key:
        return 200
    if "level-summary" in key:
        return 20
    return 60


CALLBACKS = sorted(k for k, cb in APP.callback_map.items() if callable(cb.get("callback")))  # server-side ones


@pytest.mark.parametrize("key", CALLBACKS, ids=[k.strip(".").split(".")[0] for k in CALLBACKS])
def test_callback_values(client: Any, key: str) -> None:
    @fuzz_settings(_examples(key))
    @given(body=callback_body(key))
    @example(body=with_value(key, "url", "search", {"year": 2016}))  # a value of the wrong type
    @example(body=with_value(key, "url", "search", "?imd=\u00b9"))
    @example(body=with_value(key, "imd-range", "value", ["\u00b9", 3]))
    @example(body=with_value(key, "view-state", "data", {"imd": "\u00b9-3", "year": "\u0662\u0660\u0661\u0666"}))
    def run(body: dict[str, Any]) -> None:
        resp = post(client, body, "callback")
        if resp.status_code == 200:
            assert isinstance(json.loads(resp.get_data(as_text=True)), dict)
        else:  # the registered shape: only nesting past the limit (400) or a body over 1 MB (413) is refused
            assert resp.status_code in (204, 400, 413), resp.status_code

    run()


# ---------------------------------------------------------------------------------------------------------------
# Callbacks: malformed bodies


def mutate(body: dict[str, Any], how: str, junk_value: Any, pick: int) -> Any:
    b = json.loads(json.dumps(body))
    if how == "drop":
        b.pop(sorted(b)[pick % len(b)])
    elif how == "output":
        b["output"] = junk_value
    elif how == "outputs":
        b["outputs"] = junk_value
    elif how == "inputs":
        b["inputs"] = junk_value
    elif how == "input-id" and b["inputs"]:
        b["inputs"][0]["id"] = junk_value
    elif how == "truncate":
        b["inputs"] = b["inputs"][:-1]
    elif how == "extra":
        b["inputs"].append({"id": "nope", "property": "value", "value": junk_value})
    elif how == "changed":
        b["changedPropIds"] = junk_value
    elif how == "state":
        b["state"] = junk_value
    elif how == "wrap":
        return [b, junk_value]
    return b


malformed = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    junk.map(lambda v: json.dumps(v)),
    st.sampled_from(["", "null", "{}", "[]", "{\"output\": null}", "{\"output\": \"..\"}", "[" * 5000,
                     "{\"a\":" * 5000, "\"" + "x" * 10_000, "{\"output\": \"clustering.children\"}",
                     "{\"output\": \"clustering.children\", \"inputs\": {}}", "\ufeff{}", "NaN", "1e99999"]),
    st.tuples(st.sampled_from(CALLBACKS).flatmap(callback_body),
              st.sampled_from(["drop", "output", "outputs", "inputs", "input-id", "truncate", "extra", "changed",
                               "state", "wrap"]),
              junk, st.integers(0, 10)).map(lambda t: mutate(*t)),
)


@fuzz_settings(700)
@given(body=malformed)
def test_malformed_callback_bodies(client: Any, body: Any) -> None:
    resp = post(client, body, "malformed")
    assert resp.status_code in (200, 204, 400, 413, 415), resp.status_code


def test_oversized_and_wrong_type_bodies(client: Any) -> None:
    big = {"output": CALLBACKS[0], "inputs": [{"id": "x", "property": "y", "value": "a" * (2 * 1024 * 1024)}]}
    assert post(client, big, "malformed").status_code == 413
    resp = client.post(DISPATCH, data="{}", content_type="text/plain")
    check(resp, "malformed")
    assert resp.status_code in (400, 415)
    resp = client.get(DISPATCH)
    check(resp, "malformed")
    assert resp.status_code in (404, 405)


# ---------------------------------------------------------------------------------------------------------------
# URL parameters of the page and the export


@fuzz_settings(500)
@given(query=raw_queries, path=st.sampled_from(["/", "/", "/", "/index.html", "/x/y", "/%2e%2e/app.py"]))
def test_page_parameters(client: Any, query: str, path: str) -> None:
    resp = client.get(path, query_string=query)
    check(resp, "page")
    assert resp.status_code in (200, 404)


# Always one parameter that is not understood: these requests must take the 400 path and render nothing.
NOT_UNDERSTOOD = st.sampled_from([("year", "2099"), ("area_team", "Atlantis"), ("imd", "0-9"), ("ccg", "E38999999"),
                                  ("view", "map"), ("region", "<script>")])
# (A parameter name the page does not use, such as utm_source, is ignored by both; tests/test_export.py checks it.)


@fuzz_settings(500)
@example(pairs=[("imd", "\u00b9")], bad=("view", "map"), raw="")  # a digit to str.isdigit, not to int()
@given(pairs=st.lists(st.tuples(query_keys, query_values), max_size=6), bad=NOT_UNDERSTOOD,
       raw=st.sampled_from(["", "&%ZZ", "&a=%FF", "&&"]))
def test_export_parameters_not_understood(client: Any, pairs: list[tuple[str, str]], bad: tuple[str, str],
                                          raw: str) -> None:
    query = urlencode([*pairs, bad]) + raw  # last: a later year, imd or view would win over an earlier one
    try:
        assert parse_query(query, VOCAB).notices
    except ValueError:  # the parser itself fails on this query (reported by the fixture from the app's log)
        pass
    resp = client.get("/export.png", query_string=query)
    check(resp, "export")
    assert resp.status_code == 400, resp.status_code
    assert resp.mimetype == "text/plain"


def test_export_long_query(client: Any) -> None:
    resp = client.get("/export.png", query_string="year=2016&" + "area_team=x&" * 1000)
    check(resp, "export")
    assert resp.status_code == 400


def test_export_valid_view(client: Any) -> None:
    """One valid view only (a slide takes seconds): a PNG, or 503 where no renderer is installed."""
    resp = client.get("/export.png", query_string="year=2015&area_team=Greater%20Manchester&imd=1-2&download=1")
    check(resp, "export-valid")
    assert resp.status_code in (200, 503)
    if resp.status_code == 200:
        assert resp.mimetype == "image/png" and resp.data[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------------------------


def test_still_healthy_after_fuzzing(client: Any) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json()["status"] == "ok"
    total = sum(SENT.values())
    print(f"\nfuzz requests: {total} {dict(SENT)}")
    if total:  # when the whole module ran
        assert total >= 1000
