"""Remake the README's screenshots: the page on a laptop, the page on a phone, and two slides.

Run from the repository root: ``python docs/screenshots.py`` (``make screenshots``). It starts the production server
(``gunicorn.conf.py``) on a free loopback port with the built atlas, drives Debian's Chromium with Playwright,
waits for the page's own signals (the map drawn, the panels above the statistics arrived: the statistics are worked
out only when the reader reaches them, below these screens), writes ``docs/img/*.png`` and stops the server.
Nothing is fetched from outside loopback.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dashboard.page.page_signals import MAP_IDLE_AT_FIT, PANELS_ARRIVED, RESET_MAP_IDLE  # noqa: E402
from deploy import launch  # noqa: E402  the one server launcher

OUT = ROOT / "docs" / "img"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
READY = ("() => { const g = document.querySelector('#ccg-map .js-plotly-plot');"
         " return g && g.data && g.data.some((t) => t.locations && t.locations.length > 0); }")


def _page(browser, url: str, path: Path, **context: object) -> None:  # noqa: ANN001
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    page.goto(url, wait_until="networkidle")
    page.wait_for_function(READY, timeout=60000)
    page.wait_for_function(PANELS_ARRIVED, timeout=60000)
    page.wait_for_function("() => !document.querySelector('[data-dash-is-loading]')", timeout=60000)
    page.wait_for_load_state("networkidle")
    page.evaluate(RESET_MAP_IDLE)  # then the map has its fit and MapLibre has drawn it (the browser tests' wait)
    page.wait_for_function(MAP_IDLE_AT_FIT, timeout=60000, polling="raf")
    page.screenshot(path=str(path))
    ctx.close()
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        server = launch.start("run", WORKERS="1")
    except launch.ServerFailed as failed:
        raise SystemExit(str(failed)) from None
    base = server.url
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            _page(browser, f"{base}/?year=2016", OUT / "page.png", viewport={"width": 1400, "height": 1000})
            _page(browser, f"{base}/?year=2016&region=London", OUT / "phone.png",
                  viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
            browser.close()
        for name, query in (("slide-england.png", "year=2016"),
                            ("slide-area-team.png", "year=2016&area_team=Greater+Manchester")):
            with urllib.request.urlopen(f"{base}/export.png?{query}", timeout=180) as r:
                (OUT / name).write_bytes(r.read())
            print(f"wrote {(OUT / name).relative_to(ROOT)}")
        # The England slide as a greyscale print shows it: each level must still match its legend swatch.
        from PIL import Image

        Image.open(OUT / "slide-england.png").convert("L").save(OUT / "slide-england-grey.png", optimize=True)
        print(f"wrote {(OUT / 'slide-england-grey.png').relative_to(ROOT)}")
    finally:
        server.stop(grace=30)
        print(f"server log: {server.log}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
