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

import app as app_module
from dashboard import security

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
    assert "blob:" in csp["worker-src"]
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
    ("https://*.example.org", "https://*.example.org", None),
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


def test_precompressed_cache_is_bounded() -> None:
    cache = security.Precompressed(limit=1000)
    body = cache.get(("pkg", "a.js", "gzip"), lambda: b"x" * 5000)
    assert gzip.decompress(body) == b"x" * 5000 and len(cache) == 1
    cache.get(("pkg", "b.js", "br"), lambda: os.urandom(5000))  # does not fit: served, not kept
    assert len(cache) == 1


@pytest.mark.parametrize(("accept", "chosen"), [
    ("gzip, deflate, br, zstd", "br"), ("gzip", "gzip"), ("br;q=0, gzip", "gzip"), ("identity", None), ("", None),
    ("*", "br"), ("gzip;q=0.5, br;q=0", "gzip"), ("GZIP", "gzip"), ("br;q=x", None),
])
def test_choose_encoding(accept: str, chosen: str | None) -> None:
    assert security.choose_encoding(accept) == chosen


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
    assert any("raised" in r.getMessage() and r.exc_info for r in caplog.records)  # the traceback is logged
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
# Gunicorn settings


def load_gunicorn_conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in ("HOST", "PORT", "WORKERS", "THREADS", "TIMEOUT", "MAX_REQUESTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load_gunicorn_conf(monkeypatch)
    assert conf["bind"] == ["127.0.0.1:8050"]
    assert conf["worker_class"] == "gthread" and conf["threads"] >= 2
    assert 1 <= conf["workers"] <= 8
    assert conf["preload_app"] is True
    assert conf["accesslog"] == "-"
    assert conf["max_requests"] > 0 and 0 < conf["max_requests_jitter"] < conf["max_requests"]
    assert conf["timeout"] >= 30
    conf = load_gunicorn_conf(monkeypatch, HOST="0.0.0.0", PORT="9000", WORKERS="3", THREADS="8")
    assert conf["bind"] == ["0.0.0.0:9000"] and conf["workers"] == 3 and conf["threads"] == 8
    conf = load_gunicorn_conf(monkeypatch, WORKERS="many")
    assert conf["workers"] >= 1


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
            page.wait_for_selector("#ccg-map .js-plotly-plot .maplibregl-canvas, #ccg-map .js-plotly-plot canvas",
                                   timeout=30_000)
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
