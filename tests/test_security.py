"""Ready for public hosting: headers, caching, compression, error answers and dev tools, checked on the
production app (``app:server``) and on a tiny Dash app for the generic paths; one real-Chromium check that the
page works under its Content-Security-Policy."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import os
import re
import runpy
from pathlib import Path
from typing import Any

import brotli
import pytest
from dash import Dash, Input, Output, html
from dash import _get_app as dash_get_app
from dash.exceptions import PreventUpdate
from flask import Flask
from flask_compress import Compress

import app as app_module
from dashboard.hosting import compression, dash_internals, security

ROOT = Path(__file__).resolve().parent.parent
APP = app_module.app
SERVER = app_module.server
LEAKS = re.compile(r"Traceback|File \"|/work/|site-packages|\.py\b|Werkzeug Debugger", re.IGNORECASE)
EXTERNAL = re.compile(r"(?:https?:)?//(?!127\.0\.0\.1|localhost)[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def client():  # noqa: ANN201
    assert not SERVER.extensions[security.EXTENSION_KEY]["debug"], "run the tests without DASH_DEBUG=1"
    return SERVER.test_client()


@pytest.fixture(scope="module")
def page(client: Any) -> tuple[Any, str]:
    resp = client.get("/?year=2016", headers={"Accept-Encoding": "identity"})
    assert resp.status_code == 200
    return resp, resp.get_data(as_text=True)


def directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def scripts(html_text: str) -> tuple[list[str], list[str]]:
    """(src of every external script, body of every inline script the browser would run)."""
    srcs, inline = [], []
    html_text = re.sub(r"<!--.*?-->", "", html_text, flags=re.S)  # e.g. Dash's IE notice, never run
    for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html_text, flags=re.S):
        src = re.search(r'src="([^"]*)"', attrs)
        kind = re.search(r'type="([^"]*)"', attrs)
        if src:
            srcs.append(src.group(1))
        elif not kind or "javascript" in kind.group(1):
            inline.append(body)
    return srcs, inline


def fingerprinted_script(html_text: str) -> str:
    srcs, _ = scripts(html_text)
    return next(s for s in srcs if "dash_renderer" in s)


def decoded(resp: Any) -> bytes:
    enc = resp.headers.get("Content-Encoding")
    data = resp.get_data()
    return {"gzip": gzip.decompress, "br": brotli.decompress}.get(enc, lambda d: d)(data)


def fresh_body(key_part: str) -> dict[str, Any]:
    """A callback body as a fresh page sends it, for the callback whose output key contains ``key_part``."""
    key = next(k for k, cb in APP.callback_map.items() if key_part in k and callable(cb.get("callback")))
    cb = APP.callback_map[key]
    outs = cb["output"]
    outputs = ([{"id": o.component_id, "property": o.component_property} for o in outs]
               if isinstance(outs, list | tuple) else {"id": outs.component_id, "property": outs.component_property})
    entries = [{"id": s["id"], "property": s["property"]} for s in cb["inputs"]]
    for e in entries:
        if (e["id"], e["property"]) == ("url", "search"):
            e["value"] = "?year=2016&area_team=Greater%20Manchester"
        if (e["id"], e["property"]) == ("view-state", "data"):
            e["value"] = {"year": 2016, "area_teams": ["Greater Manchester"], "regions": [], "imd": [1, 5],
                          "ccgs": [], "view": "level"}
    body = {"output": key, "outputs": outputs, "inputs": entries,
            "changedPropIds": [f"{entries[0]['id']}.{entries[0]['property']}"]}
    if cb["state"]:
        body["state"] = [{"id": s["id"], "property": s["property"]} for s in cb["state"]]
    return body


def assert_short_error(resp: Any, code: int) -> None:
    body = resp.get_data(as_text=True)
    assert resp.status_code == code, (resp.status_code, body[:300])
    assert resp.mimetype in ("text/plain", "application/json")
    assert len(body) < 300 and not LEAKS.search(body), body
    assert resp.headers["Cache-Control"] == "no-store"


# ---------------------------------------------------------------------------------------------------------------
# Headers


def test_page_security_headers(page: tuple[Any, str]) -> None:
    resp, _ = page
    h = resp.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] in ("strict-origin-when-cross-origin", "same-origin", "no-referrer")
    assert h["X-Frame-Options"] == "SAMEORIGIN"
    csp = directives(h["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["worker-src"] == ["'self'"] and csp["child-src"] == ["'self'"]  # no blob: workers since MapLibre left
    assert {"data:", "blob:"} <= set(csp["img-src"])
    assert "'unsafe-eval'" not in csp["script-src"] and "'unsafe-inline'" not in csp["script-src"]
    assert not EXTERNAL.search(h["Content-Security-Policy"])
    assert "Content-Security-Policy-Report-Only" not in h


def test_csp_hashes_cover_the_inline_scripts(page: tuple[Any, str]) -> None:
    resp, text = page
    allowed = set(directives(resp.headers["Content-Security-Policy"])["script-src"])
    _, inline = scripts(text)
    assert inline, "Dash renders one inline script"
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed, body[:80]


def test_headers_on_every_response(client: Any) -> None:
    for url in ("/healthz", "/_dash-layout", "/no/such/page"):
        h = client.get(url).headers
        assert h["X-Content-Type-Options"] == "nosniff" and "Referrer-Policy" in h and "X-Frame-Options" in h


def test_page_references_no_external_host(page: tuple[Any, str]) -> None:
    _, text = page
    srcs, _ = scripts(text)
    links = re.findall(r'(?:href|src)="([^"]*)"', text)
    assert srcs and all(s.startswith("/") and not s.startswith("//") for s in srcs + links), srcs + links
    assert not EXTERNAL.search(text), EXTERNAL.search(text)


@pytest.mark.parametrize(("value", "ancestors", "xfo"), [
    (None, "'self'", "SAMEORIGIN"),
    ("", "'self'", "SAMEORIGIN"),
    ("self", "'self'", "SAMEORIGIN"),
    ("'none'", "'none'", "DENY"),
    ("'self' https://intranet.example.nhs.uk", "'self' https://intranet.example.nhs.uk", None),
    ("https://*.example.org", "'self'", "SAMEORIGIN"),  # a wildcard host: refused (tests/test_frame_ancestors.py)
    ("'self'; script-src *", "'self'", "SAMEORIGIN"),  # an injection attempt falls back
    ("*", "'self'", "SAMEORIGIN"),
    ("'none' https://a.example", "'self'", "SAMEORIGIN"),
    ("'unsafe-inline'", "'self'", "SAMEORIGIN"),
])
def test_frame_ancestors_setting(value: str | None, ancestors: str, xfo: str | None) -> None:
    assert security.frame_ancestors(value) == (ancestors, xfo)


# ---------------------------------------------------------------------------------------------------------------
# Production: no dev tools


def test_dev_tools_off_in_production(client: Any, page: tuple[Any, str]) -> None:
    _, text = page
    config = json.loads(re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', text,
                                  flags=re.S).group(1))
    assert config["ui"] is False and config["props_check"] is False
    assert "hot_reload" not in config
    assert config["dash_version_url"] == "" and config["python_version"] == ""
    assert not SERVER.debug
    assert_short_error(client.get("/_reload-hash"), 404)
    assert "Werkzeug" not in text and "dash-debug-menu" not in text


# ---------------------------------------------------------------------------------------------------------------
# Compression and caching


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_compressed_responses(client: Any, page: tuple[Any, str], encoding: str) -> None:
    _, text = page
    js = fingerprinted_script(text)
    for method, url, body in [("GET", "/", None), ("GET", js, None), ("GET", "/_dash-layout", None),
                              ("POST", "/_dash-update-component", fresh_body("level-summary"))]:
        kwargs: dict[str, Any] = {"json": body} if body else {}
        plain = client.open(url, method=method, headers={"Accept-Encoding": "identity"}, **kwargs)
        packed = client.open(url, method=method, headers={"Accept-Encoding": encoding}, **kwargs)
        assert plain.status_code == packed.status_code == 200, url
        assert packed.headers.get("Content-Encoding") == encoding, url
        assert "Accept-Encoding" in packed.headers.get("Vary", ""), url
        assert len(packed.get_data()) < len(plain.get_data()), url
        if url != "/":  # the page carries a fresh signed token each time
            assert decoded(packed) == plain.get_data(), url


def test_cache_lifetimes(client: Any, page: tuple[Any, str]) -> None:
    resp, text = page
    assert resp.headers["Cache-Control"] == "no-cache"
    js = client.get(fingerprinted_script(text))
    assert js.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    css = re.search(r'<link rel="stylesheet" href="(/assets/[^"]+\?m=[^"]+)"', text)
    if css:
        assert client.get(css.group(1)).headers["Cache-Control"] == "public, max-age=31536000, immutable"
    # Lazily loaded chunks have no fingerprint: revalidated by ETag, compressed the same way.
    chunk = "/_dash-component-suites/dash/dcc/async-graph.js"
    first = client.get(chunk, headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-cache" and first.headers["ETag"]
    again = client.get(chunk, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    layout = client.get("/_dash-layout", headers={"Accept-Encoding": "br"})
    assert layout.headers["Cache-Control"] == "no-cache" and layout.headers["ETag"]
    again = client.get("/_dash-layout", headers={"Accept-Encoding": "br", "If-None-Match": layout.headers["ETag"]})
    assert again.status_code == 304 and not again.get_data()
    callback = client.post("/_dash-update-component", json=fresh_body("url.search"))
    assert callback.status_code == 200 and callback.headers["Cache-Control"] == "no-store"


def test_compressed_store_is_bounded() -> None:
    store = compression.CompressedBodies(limit=1000)
    store.set("gzip;a", b"a" * 600)
    assert store.get("gzip;a") == b"a" * 600 and len(store) == 1
    store.set("br;b", b"b" * 600)  # over the limit: the least recently used goes
    assert store.get("gzip;a") is None and store.get("br;b") == b"b" * 600 and store.size == 600
    store.set("br;c", b"c" * 5000)  # larger than the whole store: served, never kept
    store.set("gzip;" + compression.UNCACHED, b"page")  # a body that must not be kept
    assert len(store) == 1 and store.size == 600


def test_compressed_bodies_kept_once(client: Any, page: tuple[Any, str]) -> None:
    store = SERVER.extensions[security.EXTENSION_KEY]["compressed"]
    assert isinstance(store, compression.CompressedBodies)
    _, text = page
    js = fingerprinted_script(text)
    first = client.get(js, headers={"Accept-Encoding": "gzip"})
    held = len(store)
    again = client.get(js, headers={"Accept-Encoding": "gzip"})
    assert again.get_data() == first.get_data() and len(store) == held
    # The page (a fresh token each time) and callbacks (each its own answer) are compressed but never kept.
    client.get("/", headers={"Accept-Encoding": "gzip"})
    client.post("/_dash-update-component", json=fresh_body("level-summary"), headers={"Accept-Encoding": "br"})
    assert len(store) == held


@pytest.mark.parametrize(("accept", "chosen"), [
    ("gzip, deflate, br", "br"), ("gzip", "gzip"), ("br;q=0, gzip", "gzip"), ("gzip;q=0.5, br;q=0", "gzip"),
    ("GZIP", "gzip"), ("br;q=0.5, gzip;q=0.9", "gzip"), ("identity", None), ("", None), ("*;q=0", None),
    ("compress", None), ("identity, br;q=0.1", None),
])
def test_encoding_follows_accept_encoding(client: Any, page: tuple[Any, str], accept: str,
                                          chosen: str | None) -> None:
    _, text = page
    for url in (fingerprinted_script(text), "/_dash-layout"):
        plain = client.get(url, headers={"Accept-Encoding": "identity"}).get_data()
        resp = client.get(url, headers={"Accept-Encoding": accept})
        assert resp.status_code == 200 and resp.headers.get("Content-Encoding") == chosen, (url, accept)
        assert decoded(resp) == plain, (url, accept)


def test_any_encoding(client: Any, page: tuple[Any, str]) -> None:
    _, text = page
    resp = client.get(fingerprinted_script(text), headers={"Accept-Encoding": "*"})
    assert resp.headers.get("Content-Encoding") in ("zstd", "br", "gzip")


def test_warm_compresses_scripts_before_forking() -> None:
    app = tiny_app(debug=False)
    store = app.server.extensions[security.EXTENSION_KEY]["compressed"]
    count = security.warm(app.server)
    assert count == len(store) > 0
    c = app.server.test_client()
    page = c.get("/").get_data(as_text=True)
    for src in scripts(page)[0]:
        if "_dash-component-suites" in src:
            for enc in compression.WARM_ENCODINGS:
                c.get(src, headers={"Accept-Encoding": enc})
    assert len(store) == count, "a script was compressed after warm()"
    assert security.warm(Flask(__name__)) == 0  # not installed: nothing to do


# ---------------------------------------------------------------------------------------------------------------
# Errors


def test_errors_are_short_and_say_nothing_inside(client: Any) -> None:
    assert_short_error(client.get("/no/such/page"), 404)
    assert_short_error(client.get("/app.py"), 404)
    assert_short_error(client.put("/healthz"), 405)
    assert_short_error(client.get("/_dash-component-suites/nope/x.js"), 404)
    assert_short_error(client.get("/_dash-component-suites/dash/../../app.py"), 404)
    assert_short_error(client.get("/_dash-component-suites/dash/nope.v1_0m1.js"), 404)
    d = "/_dash-update-component"
    assert_short_error(client.post(d, data="{", content_type="application/json"), 400)
    assert_short_error(client.post(d, data="[" * 100_000, content_type="application/json"), 400)
    assert_short_error(client.post(d, data="{}", content_type="text/plain"), 400)
    assert_short_error(client.post(d, json={"output": "nope..x"}), 400)
    assert_short_error(client.post(d, json=[1, 2]), 400)
    body = fresh_body("level-summary")
    body["inputs"][0]["id"] = "something-else"
    assert_short_error(client.post(d, json=body), 400)
    body = fresh_body("level-summary")
    body["inputs"].append({"id": "x", "property": "y", "value": 1})
    assert_short_error(client.post(d, json=body), 400)
    body = fresh_body("level-summary")
    body["outputs"] = body["outputs"][:-1]
    assert_short_error(client.post(d, json=body), 400)
    body = fresh_body("level-summary")
    body["inputs"][0]["value"] = json.loads("[" * 200 + "]" * 200)
    assert_short_error(client.post(d, json=body), 400)
    body = fresh_body("level-summary")
    body["inputs"][0]["value"] = "x" * (2 * 1024 * 1024)
    assert_short_error(client.post(d, json=body), 413)


def test_check_callback_body_accepts_what_the_browser_sends() -> None:
    for key, cb in APP.callback_map.items():
        if not callable(cb.get("callback")):  # clientside: the browser never posts it
            continue
        assert security.check_callback_body(APP.callback_map, fresh_body(key)) is None, key
    body = fresh_body("ccg-map.figure")
    body["state"] = None
    assert security.check_callback_body(APP.callback_map, body)
    body = fresh_body("ccg-map.figure")
    body["changedPropIds"] = ["reset.n_clicks"]
    assert security.check_callback_body(APP.callback_map, body)
    for key, cb in APP.callback_map.items():
        if not callable(cb.get("callback")):
            body = {"output": key, "outputs": {"id": "x", "property": "y"}, "inputs": [], "changedPropIds": []}
            assert security.check_callback_body(APP.callback_map, body) == "unknown callback"


# ---------------------------------------------------------------------------------------------------------------
# The generic layer on a tiny app: raising views and callbacks, debug mode


def tiny_app(debug: bool) -> Dash:
    previous = dash_get_app.APP
    app = Dash(__name__, compress=True, serve_locally=True)
    dash_get_app.APP = previous  # leave dash.get_app() pointing at the atlas
    app.layout = html.Div([html.Button(id="b", n_clicks=0), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("b", "n_clicks"))
    def clicked(n):  # noqa: ANN001, ANN202
        if n == "prevent":
            raise PreventUpdate
        if not isinstance(n, int):
            raise ValueError(f"not a count: {n!r} /secret/path.py")
        return f"{n} clicks"

    @app.server.get("/boom")
    def boom() -> str:
        raise RuntimeError("/secret/path.py went wrong")

    @app.server.get("/parse")
    def parse() -> str:
        return str(int("not a number"))

    security.install(app, debug=debug)
    return app


def click(n: Any) -> dict[str, Any]:
    return {"output": "out.children", "outputs": {"id": "out", "property": "children"},
            "inputs": [{"id": "b", "property": "n_clicks", "value": n}], "changedPropIds": ["b.n_clicks"]}


def test_generic_layer_turns_input_errors_into_400(caplog: pytest.LogCaptureFixture) -> None:
    c = tiny_app(debug=False).server.test_client()
    caplog.set_level(logging.ERROR)
    ok = c.post("/_dash-update-component", json=click(3))
    assert ok.status_code == 200 and "3 clicks" in ok.get_data(as_text=True)
    assert c.post("/_dash-update-component", json=click("prevent")).status_code == 204
    assert_short_error(c.post("/_dash-update-component", json=click("junk")), 400)
    assert any(r.name == security.log.name and "raised" in r.getMessage() and r.exc_info
               for r in caplog.records)  # the traceback is logged where tests/test_fuzz.py looks
    assert_short_error(c.get("/parse?x=1"), 400)
    assert_short_error(c.get("/boom"), 500)
    assert_short_error(c.get("/anything/else"), 404)


def test_debug_mode_keeps_dev_routes_and_reports_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAME_ANCESTORS", "'self' https://intranet.example.nhs.uk")
    c = tiny_app(debug=True).server.test_client()
    resp = c.get("/")
    assert "Content-Security-Policy" not in resp.headers
    policy = directives(resp.headers["Content-Security-Policy-Report-Only"])
    assert policy["frame-ancestors"] == ["'self'", "https://intranet.example.nhs.uk"]
    assert "X-Frame-Options" not in resp.headers  # it cannot name another host
    assert c.get("/_reload-hash").status_code == 200


def test_frame_ancestors_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAME_ANCESTORS", "'none'")
    resp = tiny_app(debug=False).server.test_client().get("/")
    assert directives(resp.headers["Content-Security-Policy"])["frame-ancestors"] == ["'none'"]
    assert resp.headers["X-Frame-Options"] == "DENY"


# ---------------------------------------------------------------------------------------------------------------
# Dash internals the adapter (dashboard/hosting/dash_internals.py) relies on: a Dash upgrade that moves one fails here


def moved(what: str) -> str:
    return f"Dash internal moved: {what}; update dashboard/hosting/dash_internals.py"


def test_dash_routes_exist(page: tuple[Any, str]) -> None:
    routes = dash_internals.Routes.of(APP)
    rules = {r.rule: r for r in SERVER.url_map.iter_rules()}
    for name in ("dispatch", "layout", "suites", "reload", "catchall"):
        rule = getattr(routes, name)
        assert rule in rules, moved(f"no URL rule {rule!r} (Routes.{name})")
        assert rules[rule].endpoint == rule, moved(f"the view of {rule!r} is named {rules[rule].endpoint!r}")
        assert rule in SERVER.view_functions, moved(f"no view function {rule!r}")
    assert "POST" in rules[routes.dispatch].methods, moved("callbacks are not POSTed to /_dash-update-component")
    assert set(rules[routes.suites].arguments) == {"package_name", "fingerprinted_path"}, \
        moved("the component-suite rule's arguments")
    assert routes.assets == "/assets/", moved("app.get_asset_url")
    assert isinstance(getattr(APP, "use_pages", None), bool), moved("app.use_pages (the catch-all serves pages)")


def test_dash_views_are_replaced() -> None:
    routes = dash_internals.Routes.of(APP)
    dispatch = SERVER.view_functions[routes.dispatch]
    layout = SERVER.view_functions[routes.layout]
    assert dispatch.__code__.co_name == "checked_dispatch", moved("the dispatch view was not replaced")
    assert layout.__code__.co_name == "cached_layout", moved("the layout view was not replaced")
    assert dispatch.__module__.startswith("dash"), "the guarded dispatch keeps Dash's view name"


def test_dash_page_config() -> None:
    with SERVER.test_request_context("/"):
        original = Dash._config(APP)
        served = APP._config()
    assert isinstance(original, dict), moved("app._config() does not return a dict")
    for key in dash_internals.VERSION_KEYS:
        assert key in original, moved(f"app._config() has no {key!r}")
        assert served[key] in ("", True), key
    assert original["python_version"] and original["dash_version_url"]


def test_dash_layout_hooks() -> None:
    hooks = getattr(APP, "_hooks", None)
    assert callable(getattr(hooks, "get_hooks", None)), moved("app._hooks.get_hooks")
    assert isinstance(hooks.get_hooks("layout"), list), moved("app._hooks.get_hooks('layout') is not a list")
    assert not dash_internals.has_layout_hooks(APP), "a plugin rewrites the layout: it is no longer cached"


def test_dash_callback_map_shape() -> None:
    registry = dash_internals.callback_map(APP)
    server_side = [k for k, cb in registry.items() if callable(cb.get("callback"))]
    assert server_side, moved("app.callback_map has no entry with a callable 'callback'")
    for key in server_side:
        cb = registry[key]
        assert {"inputs", "state", "output"} <= set(cb), moved(f"callback_map[{key!r}] keys: {sorted(cb)}")
        outputs = cb["output"] if isinstance(cb["output"], list | tuple) else [cb["output"]]
        assert all(hasattr(o, "component_id") and hasattr(o, "component_property") for o in outputs), \
            moved("callback_map outputs have no component_id/component_property")
        assert all({"id", "property"} <= set(s) for s in cb["inputs"] + cb["state"]), \
            moved("callback_map inputs/state are not {'id', 'property'} entries")
        spec = dash_internals.server_callback(registry, key)
        assert spec is not None and spec.outputs, key


def test_dash_csp_hashes_registered_paths_and_fingerprints(page: tuple[Any, str]) -> None:
    hashes = dash_internals.csp_hashes(APP)
    assert hashes and all(re.fullmatch(r"'sha256-[A-Za-z0-9+/=]+'", h) for h in hashes), \
        moved(f"app.csp_hashes() returns {hashes!r}")
    paths = APP.registered_paths
    assert paths and all(isinstance(p, str) and isinstance(v, set) for p, v in paths.items()), \
        moved("app.registered_paths is not {package: set of paths}")
    scripts_ = dash_internals.registered_scripts(APP)
    assert ("dash", "dcc/async-graph.js") in scripts_, moved("registered_paths lacks dash's async-graph.js")
    assert dash_internals.check_fingerprint("dash/x.v4_4_1m1700000000.min.js") == ("dash/x.min.js", True), \
        moved("dash.fingerprint.check_fingerprint")
    assert dash_internals.check_fingerprint("dcc/async-graph.js") == ("dcc/async-graph.js", False), \
        moved("dash.fingerprint.check_fingerprint")


def test_dash_flask_compress_instance() -> None:
    compress = dash_internals.compressor(SERVER)
    assert isinstance(compress, Compress), moved("Dash(compress=True) no longer registers Compress.after_request")
    assert isinstance(compress.cache, compression.CompressedBodies), "Flask-Compress does not use the store"
    assert callable(compress.cache_key), "Flask-Compress has no cache key"


# ---------------------------------------------------------------------------------------------------------------
# Gunicorn settings


def load_gunicorn_conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in ("HOST", "PORT", "BIND", "WORKERS", "THREADS", "TIMEOUT", "MAX_REQUESTS", "WORKER_CONNECTIONS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load_gunicorn_conf(monkeypatch)
    assert conf["bind"] == ["127.0.0.1:8050"]
    # gunicorn's stock threaded worker: slow clients are nginx's to handle (make serve, tests/test_host.py)
    assert conf["worker_class"] == "gthread"
    assert not (ROOT / "dashboard" / "http_worker.py").exists()
    assert conf["threads"] >= 2
    assert 1 <= conf["workers"] <= 8
    assert conf["preload_app"] is True
    assert conf["accesslog"] == "-" and conf["access_log_format"].startswith("%(h)s ")
    assert conf["max_requests"] > 0 and 0 < conf["max_requests_jitter"] < conf["max_requests"]
    assert conf["timeout"] >= 30
    conf = load_gunicorn_conf(monkeypatch, HOST="0.0.0.0", PORT="9000", WORKERS="3", THREADS="8")
    assert conf["bind"] == ["0.0.0.0:9000"] and conf["workers"] == 3 and conf["threads"] == 8
    conf = load_gunicorn_conf(monkeypatch, WORKERS="many")
    assert conf["workers"] >= 1
    # make serve: each instance on a unix socket, logging the client's address as nginx forwards it
    conf = load_gunicorn_conf(monkeypatch, BIND="unix:/tmp/a.sock", PORT="9000")
    assert conf["bind"] == ["unix:/tmp/a.sock"]
    assert conf["access_log_format"].startswith("%({x-forwarded-for}i)s ")


# ---------------------------------------------------------------------------------------------------------------
# The page under its policy in a real Chromium


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                    reason="Debian chromium is not installed (make test installs it)")
def test_page_works_under_its_policy(live_server: str) -> None:
    from playwright.sync_api import sync_playwright

    url = live_server + "/?year=2016&area_team=Greater%20Manchester"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            hosts: set[str] = set()
            page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                                 "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]) if r.url.startswith("http") else None)
            main = page.goto(url)
            assert main is not None and "Content-Security-Policy" in {k.title() for k in main.headers}
            page.wait_for_selector("#ccg-map .js-plotly-plot", timeout=60_000)
            page.wait_for_selector("#ccg-map .js-plotly-plot .choroplethlocation", state="attached", timeout=30_000)
            with page.expect_response(lambda r: "_dash-update-component" in r.url and r.status == 200,
                                      timeout=30_000):
                page.click("#year input[value='2015']")
            page.wait_for_timeout(1500)
            violations = page.evaluate("window.__csp")
        finally:
            browser.close()
    assert violations == [], violations
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    assert errors == [], errors
    assert hosts == {live_server.split("/")[2]}, hosts
