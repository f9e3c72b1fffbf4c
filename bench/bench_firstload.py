"""Bytes benchmark: what a cold page load and one filter change cost the browser, compressed; one JSON line each.

Run from the repository root: ``python bench/bench_firstload.py``. It starts gunicorn with ``gunicorn.conf.py``
(as ``make run`` does) on a free loopback port, opens the page in Debian's Chromium (Playwright) with an empty
cache, sums the bytes on the wire of every response (Chromium's ``encodedDataLength``: compressed bodies plus
headers) and stops the server. Reports, never asserts.

- ``first_load``: every request of a cold load of ``/`` (and of a shared area-team link) until the page is idle,
  against the 1.2 MB target, with the largest responses; ``get_bodies_br``/``_zstd``: the same GET bodies asked
  again with that encoding only (Chromium 156 offers gzip, deflate, br and zstd even on loopback http, where the
  server picks br for the bundle and the geometry and zstd for the rest; other browsers may offer less).
- ``table_on_demand``: what scrolling to the table adds (its grid library is loaded only then).
- ``map_first_frame``: on a laptop (1400x1000) and a phone-sized (390x844) window, for England and a London
  link: milliseconds from navigation until the map is first drawn, and until it is drawn at its clientside fit;
  how many times Plotly drew the map, and at which frames (one draw, at the fit, is the goal): a zoom for the
  MapLibre map before 7 December 2026, the frame's west edge for the geo map.
- ``filter_change``: all callback answers of one change together (the England year change, an area-team change):
  their compressed bodies against the 10 kB target, and with their response headers.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from deploy import launch  # noqa: E402  the one server launcher

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FIRST_LOAD_TARGET = 1_200_000
CHANGE_TARGET = 10 * 1024
IDLE = ("() => { const g = document.querySelector('#ccg-map .js-plotly-plot');"
        " return !!(g && g.data && g.data.some((t) => t.locations && t.locations.length)) && window.__inflight === 0"
        " && !document.querySelector('[data-dash-is-loading]'); }")
COUNT_FETCHES = """
window.__inflight = 0;
const fetch0 = window.fetch;
window.fetch = function (url) {
  const counted = String(url).includes('_dash-update-component');
  if (counted) window.__inflight += 1;
  const out = fetch0.apply(this, arguments);
  if (counted) out.finally(() => { window.__inflight -= 1; });
  return out;
};
"""
# Every Plotly draw of the map (its zoom) and, sampled each frame, when MapLibre first drew and when it was first
# idle at the zoom the clientside fit chose (data-fit-zoom on #map-frame; #ccg-map before 2 December 2026).
RECORD_FRAMES = """
(() => {
  window.__draws = [];
  const wrap = (P) => {
    ['newPlot', 'react'].forEach((name) => {
      const original = P[name];
      if (typeof original !== 'function' || original.__benched) return;
      P[name] = function (gd, a, b) {
        const el = typeof gd === 'string' ? document.getElementById(gd) : gd;
        const layout = a && !Array.isArray(a) ? a.layout : b;
        const geo = (layout || {}).geo;  /* the geo map: its frame's west edge; MapLibre's: its zoom */
        if (el && el.closest && el.closest('#ccg-map')) window.__draws.push(geo ? ((geo.lonaxis || {}).range || [])[0]
                                                                                : ((layout || {}).map || {}).zoom);
        return original.apply(this, arguments);
      };
      P[name].__benched = true;
    });
    return P;
  };
  let plotly;
  Object.defineProperty(window, 'Plotly', {configurable: true, get: () => plotly, set: (v) => { plotly = wrap(v); }});
  const tick = () => {
    const g = document.querySelector('#ccg-map .js-plotly-plot');
    const m = g && g._fullLayout && g._fullLayout.map && g._fullLayout.map._subplot && g._fullLayout.map._subplot.map;
    const holder = document.getElementById('map-frame') || document.getElementById('ccg-map');
    const fit = Number(holder && holder.dataset.fitZoom);
    if (m && window.__firstDrawn === undefined && m.loaded()) window.__firstDrawn = performance.now();
    if (m && window.__fitted === undefined && Number.isFinite(fit) && Math.abs(m.getZoom() - fit) < 0.01
        && m.loaded() && !m.isMoving() && m.areTilesLoaded()) window.__fitted = performance.now();
    /* The geo map (from 7 December 2026): drawn once its CCG paths are in the page; at its fit once plotly has
       drawn the fit's uirevision. */
    const drawn = !m && g && g._fullLayout && g._fullLayout.geo && g.querySelector('.choroplethlocation');
    if (drawn && window.__firstDrawn === undefined) window.__firstDrawn = performance.now();
    if (drawn && window.__fitted === undefined && holder.dataset.fitRevision
        && g._fullLayout.uirevision === holder.dataset.fitRevision) window.__fitted = performance.now();
    if (window.__fitted === undefined) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""


class Wire:
    """Bytes on the wire per request, from Chromium's network events (CDP)."""

    def __init__(self, page: Any) -> None:
        self.urls: dict[str, str] = {}
        self.bytes: dict[str, int] = {}
        self.body: dict[str, int] = {}
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        self.posts: dict[str, str] = {}
        cdp.on("Network.requestWillBeSent", lambda e: (
            self.urls.__setitem__(e["requestId"], e["request"]["url"]),
            self.posts.__setitem__(e["requestId"], e["request"].get("postData", "")[:400])))
        cdp.on("Network.loadingFinished", lambda e: self.bytes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
        cdp.on("Network.dataReceived", lambda e: self.body.__setitem__(
            e["requestId"], self.body.get(e["requestId"], 0) + int(e.get("encodedDataLength", 0))))
        cdp.on("Network.loadingFailed", lambda e: self.bytes.__setitem__(e["requestId"], 0))
        self.page = page

    def drain(self, timeout: float = 15.0) -> None:
        """Until every request sent has finished (a fetch resolves on its headers, before its body is in)."""
        deadline = time.monotonic() + timeout
        while set(self.urls) - set(self.bytes) and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)

    def mark(self) -> set[str]:
        return set(self.bytes)

    def since(self, mark: set[str], only: str = "") -> list[tuple[str, int]]:
        return [(self.urls.get(k, "?"), n) for k, n in self.bytes.items()
                if k not in mark and only in self.urls.get(k, "")]


def self_output(wire: Wire, key: str) -> str:
    """The outputs a callback request names (its ``output`` field), shortened."""
    try:
        return json.loads(wire.posts.get(key, "") or "{}").get("output", "?")[:60]
    except ValueError:
        text = wire.posts.get(key, "")
        return text[text.find('"output":"') + 10:][:60]


def short(url: str) -> str:
    path = url.split("//", 1)[-1].split("/", 1)[-1]
    return "/" + path.split("?")[0][-70:]


def replayed(urls: list[str], encoding: str) -> int:
    """Body bytes of the same requests asked again with ``Accept-Encoding: encoding`` (what a browser that
    offers only that one gets)."""
    total = 0
    for url in urls:
        req = urllib.request.Request(url, headers={"Accept-Encoding": encoding})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                total += len(resp.read())
        except OSError:
            pass
    return total


def first_load(browser: Any, base: str, query: str) -> list[dict[str, Any]]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.add_init_script(COUNT_FETCHES)
    page = ctx.new_page()
    wire = Wire(page)
    page.goto(base + "/" + query, wait_until="networkidle")
    page.wait_for_function(IDLE, timeout=60000)
    wire.drain()
    got = wire.since(set())
    mark = wire.mark()
    page.locator("#ccg-table").scroll_into_view_if_needed()  # the table's library loads near the table
    page.wait_for_function("() => document.querySelectorAll('#ccg-table .ag-row').length > 0", timeout=60000)
    page.wait_for_function(IDLE, timeout=60000)
    wire.drain()
    table = wire.since(mark)
    total = sum(n for _, n in got)
    gets = [u for u, _ in got if "_dash-update-component" not in u]
    out = [{"bench": "first_load", "query": query or "/", "requests": len(got), "bytes": total,
            "target_bytes": FIRST_LOAD_TARGET, "within_target": total <= FIRST_LOAD_TARGET,
            "get_bodies_br": replayed(gets, "br"), "get_bodies_zstd": replayed(gets, "zstd"),
            "largest": [[short(u), n] for u, n in sorted(got, key=lambda x: -x[1])[:8]]},
           {"bench": "table_on_demand", "query": query or "/", "requests": len(table),
            "bytes": sum(n for _, n in table), "files": [[short(u), n] for u, n in table]}]
    ctx.close()
    return out


def change(browser: Any, base: str) -> list[dict[str, Any]]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.add_init_script(COUNT_FETCHES)
    page = ctx.new_page()
    wire = Wire(page)
    page.goto(base + "/", wait_until="networkidle")
    page.wait_for_function(IDLE, timeout=60000)
    wire.drain()
    results = []

    def measure(name: str, act: Any, selector: str, text: str) -> None:
        mark = wire.mark()
        act()
        page.wait_for_function("([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)",
                               arg=[selector, text], timeout=60000)
        page.wait_for_function(IDLE, timeout=60000)
        wire.drain()
        got = wire.since(mark, "_dash-update-component")
        total = sum(n for _, n in got)
        bodies = sum(wire.body.get(k, 0) for k in set(wire.bytes) - mark if "_dash-update" in wire.urls.get(k, ""))
        results.append({"bench": "filter_change", "change": name, "callbacks": len(got), "body_bytes": bodies,
                        "bytes_with_headers": total, "target_bytes": CHANGE_TARGET,
                        "within_target": bodies <= CHANGE_TARGET,
                        "largest": sorted([[self_output(wire, k), wire.body.get(k, 0)] for k in set(wire.bytes) - mark
                                           if "_dash-update" in wire.urls.get(k, "")], key=lambda x: -x[1])[:8]})

    measure("england_year_2016_to_2015", lambda: page.get_by_label("2015/16").check(), "#level-summary", "2015/16")

    def team() -> None:
        page.click("#area-team")
        page.keyboard.type("Greater Manch")
        page.keyboard.press("Enter")

    measure("area_team_greater_manchester", team, "#table-caption", "CCGs in the filter")
    ctx.close()
    return results


def map_first_frame(browser: Any, base: str) -> list[dict[str, Any]]:
    out = []
    for device, viewport in (("laptop", {"width": 1400, "height": 1000}), ("phone", {"width": 390, "height": 844})):
        for query in ("?year=2016", "?year=2016&region=London"):
            ctx = browser.new_context(viewport=viewport)
            ctx.add_init_script(RECORD_FRAMES)
            page = ctx.new_page()
            page.goto(base + "/" + query)
            page.wait_for_function("() => window.__fitted !== undefined", timeout=60000, polling=100)
            got = page.evaluate("() => ({first: window.__firstDrawn, fitted: window.__fitted, draws: window.__draws})")
            out.append({"bench": "map_first_frame", "device": device, "query": query,
                        "first_draw_ms": round(got["first"] or 0), "fitted_ms": round(got["fitted"]),
                        "plotly_draws": len(got["draws"]), "draw_zooms": [round(z, 3) for z in got["draws"] if z]})
            ctx.close()
    return out


def main() -> None:
    from playwright.sync_api import sync_playwright

    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    server = launch.start("run", log_dir=Path(tempfile.mkdtemp(prefix="bench-firstload-")), WORKERS="1")
    base = server.url
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            for query in ("", "?year=2015&area_team=Greater%20Manchester"):
                for line in first_load(browser, base, query):
                    print(json.dumps({**line, "machine": machine}), flush=True)
            for line in map_first_frame(browser, base):
                print(json.dumps({**line, "machine": machine}), flush=True)
            for line in change(browser, base):
                print(json.dumps({**line, "machine": machine}), flush=True)
            browser.close()
    finally:
        server.stop(grace=30)


if __name__ == "__main__":
    main()
