"""Map benchmark: how soon a shared link's map is drawn at its fit, how big the page's plotly.js is, and what a
shared link's first load costs; one JSON line each. Reports, never asserts.

Run from the repository root: ``python bench/bench_map.py`` (this tree), or ``python bench/bench_map.py --root
DIR`` to measure another checkout with its own ``build/`` (say commit 924212a, unpacked with ``git archive``, for
a before-and-after in the same run). Each root is served by gunicorn with its ``gunicorn.conf.py`` on a free
loopback port (as ``make run`` does) and opened in Debian's Chromium (Playwright) with an empty cache.

- ``map_at_fit``: a shared link (an area team, London) on the laptop viewport (1440x1000): milliseconds from
  navigation until the map is drawn at the frame the page's clientside fit chose (sampled each animation frame;
  for a MapLibre map, as before 7 December 2026: loaded, idle, tiles drawn, at the fit's zoom; for the geo map:
  plotly has drawn the fit's uirevision and the CCG paths are in the page), five runs each, median and all,
  against the 2.0 s target.
- ``bundle``: the page's plotly.js partial bundle, raw and as its brotli file (``make js``), against 450 KB.
- ``first_load``: bytes on the wire (Chromium's ``encodedDataLength``) of a shared area-team link's cold load until
  the page is idle, against 0.8 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_firstload as fl  # noqa: E402  (the wire accounting, shared)

from deploy import launch  # noqa: E402  the one server launcher (bench_firstload put the root on sys.path)

ROOT = Path(__file__).resolve().parents[1]
LAPTOP = {"width": 1440, "height": 1000}
MAP_TARGET_MS, BUNDLE_TARGET, FIRST_LOAD_TARGET = 2000, 450 * 1024, 800_000
LINKS = ("?year=2016&area_team=Greater%20Manchester", "?year=2016&region=London")
RUNS = 5

# Sampled each animation frame from the page's start: when the map was first drawn at the fit's frame.
AT_FIT = """
(() => {
  const tick = () => {
    const g = document.querySelector('#ccg-map .js-plotly-plot');
    const frame = document.getElementById('map-frame');
    const L = g && g._fullLayout;
    let fitted = false;
    if (L && L.map && L.map._subplot && L.map._subplot.map) {  /* MapLibre (before the geo map) */
      const m = L.map._subplot.map, fit = Number(frame && frame.dataset.fitZoom);
      fitted = Number.isFinite(fit) && Math.abs(m.getZoom() - fit) < 0.01 && m.loaded() && !m.isMoving()
               && m.areTilesLoaded();
    } else if (L && L.geo && frame && frame.dataset.fitRevision) {
      fitted = L.uirevision === frame.dataset.fitRevision && !!g.querySelector('.choroplethlocation');
    }
    if (fitted) { window.__atFit = performance.now(); } else { requestAnimationFrame(tick); }
  };
  requestAnimationFrame(tick);
})();
"""


def map_at_fit(browser: Any, base: str) -> list[dict[str, Any]]:
    out = []
    for query in LINKS:
        times = []
        for _ in range(RUNS):
            ctx = browser.new_context(viewport=LAPTOP)
            ctx.add_init_script(AT_FIT)
            page = ctx.new_page()
            page.goto(base + "/" + query)
            page.wait_for_function("() => window.__atFit !== undefined", timeout=60000, polling=100)
            times.append(round(page.evaluate("() => window.__atFit")))
            ctx.close()
        median = statistics.median(times)
        out.append({"bench": "map_at_fit", "viewport": "1440x1000", "query": query, "median_ms": median,
                    "runs_ms": times, "target_ms": MAP_TARGET_MS, "within_target": median <= MAP_TARGET_MS})
    return out


def bundle(root: Path) -> dict[str, Any]:
    js = root / "build/js/plotly-atlas.min.js"
    br = js.with_name(js.name + ".br")
    size = br.stat().st_size if br.exists() else None
    raw = js.stat().st_size if js.exists() else None
    return {"bench": "bundle", "file": str(js.relative_to(root)), "raw_bytes": raw, "brotli_bytes": size,
            "target_bytes": BUNDLE_TARGET,
            "within_target": size is not None and size <= BUNDLE_TARGET}


def first_load(browser: Any, base: str, query: str) -> dict[str, Any]:
    ctx = browser.new_context(viewport=LAPTOP)
    ctx.add_init_script(fl.COUNT_FETCHES)
    page = ctx.new_page()
    wire = fl.Wire(page)
    page.goto(base + "/" + query, wait_until="networkidle")
    page.wait_for_function("() => window.__inflight === 0 && !document.querySelector('[data-dash-is-loading]')",
                           timeout=60000)
    wire.drain()
    got = wire.since(set())
    total = sum(n for _, n in got)
    ctx.close()
    return {"bench": "first_load", "query": query, "viewport": "1440x1000", "requests": len(got), "bytes": total,
            "target_bytes": FIRST_LOAD_TARGET, "within_target": total <= FIRST_LOAD_TARGET,
            "largest": [[fl.short(u), n] for u, n in sorted(got, key=lambda x: -x[1])[:5]]}


def run(root: Path, label: str) -> None:
    from playwright.sync_api import sync_playwright

    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    server = launch.start("run", log_dir=Path(tempfile.mkdtemp(prefix="bench-map-")), root=root, WORKERS="1")
    base = f"http://127.0.0.1:{server.port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=fl.CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            lines = [*map_at_fit(browser, base), bundle(root), first_load(browser, base, LINKS[0])]
            browser.close()
        for line in lines:
            print(json.dumps({**line, "tree": label, "machine": machine}), flush=True)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, action="append",
                        help="a checkout to serve and measure (repeatable; default: this one)")
    args = parser.parse_args()
    for root in args.root or [ROOT]:
        run(root.resolve(), str(root))


if __name__ == "__main__":
    main()
