"""Benchmark: the server's CPU per new view over the tour of 21 filter changes, in Chromium against gunicorn.

The issue's own measurement (issue 19, "cheaper, not dearer"): the production server (``gunicorn.conf.py``, one
worker, the built atlas with its store) and Debian's Chromium; each change of :data:`bench_callbacks.TOUR` made as
a link inside the page makes it (the URL pushed, Dash's location told), then waited for until every callback it
fires has been answered (and, for a reader at the statistics, until they show the new view), on a server of
its own for each reader. Measured: the
server's processes' CPU time (``utime + stime`` from ``/proc``, 10 ms ticks) across each change, so HTTP,
compression and Dash's own work count too, unlike ``bench_callbacks.py`` (the callbacks alone, in process).
Two readers: at the map (the top of the page: the statistics are not asked for) and at the statistics (scrolled
to them: clustering, robustness and prior callbacks too). Run from the repository root:
``python bench/bench_tour.py`` (``make bench`` runs it). Reports; never asserts.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_callbacks import TARGET_CPU_MS_PER_VIEW, TOUR, fired_by  # noqa: E402

from dashboard import urls  # noqa: E402
from dashboard.page.page_signals import PANELS_ARRIVED, STATISTICS_SHOWN  # noqa: E402
from deploy import launch  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
TICK = os.sysconf("SC_CLK_TCK")
#: Callback requests in flight, counted in the page (as tests/test_firstview.py counts them).
INFLIGHT = """(() => { window.__inflight = 0; window.__sent = 0; const f0 = window.fetch;
  window.fetch = function (u) { const c = String(u).includes('_dash-update-component');
    if (c) { window.__inflight += 1; window.__sent += 1; }
    const out = f0.apply(this, arguments);
    if (c) out.finally(() => { window.__inflight -= 1; });
    return out; }; })();"""
#: A change made as a link inside the page makes it (dcc.Link's way): the URL pushed, Dash's location told.
FOLLOW = ("(q) => { window.history.pushState({}, '', q);"
          " window.dispatchEvent(new CustomEvent('_dashprivate_pushstate')); }")
IDLE = "(n) => window.__sent >= n && window.__inflight === 0 && !document.querySelector('[data-dash-is-loading]')"


def server_cpu_s(group: int) -> float:
    """CPU seconds of every process of the server's process group (the gunicorn master and its worker)."""
    pids = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True).stdout.split()
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def tour(browser, server: launch.Server, reader: str) -> dict[str, object]:  # noqa: ANN001
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    ctx.add_init_script(INFLIGHT)
    page = ctx.new_page()
    page.goto(server.url + "/?year=2016", wait_until="networkidle")
    page.wait_for_function(PANELS_ARRIVED, timeout=60000)
    if reader == "statistics":
        page.locator("#clustering").scroll_into_view_if_needed()
        page.wait_for_function(STATISTICS_SHOWN, timeout=120000)
    fired = len(fired_by(reader)) + 1  # and the controls' callback
    cpu = []
    for state in TOUR:
        page.wait_for_function(IDLE, arg=0, timeout=60000)
        sent = page.evaluate("() => window.__sent")
        c0 = server_cpu_s(server.proc.pid)
        page.evaluate(FOLLOW, urls.page_url(state))
        page.wait_for_function(IDLE, arg=sent + fired, timeout=120000)
        if reader == "statistics":
            page.wait_for_function(STATISTICS_SHOWN, timeout=120000)
        cpu.append((server_cpu_s(server.proc.pid) - c0) * 1000)
    ctx.close()
    return {"benchmark": "tour_in_chromium", "reader": reader, "views": len(cpu), "callbacks_per_view": fired,
            "server_cpu_ms_per_view_mean": round(statistics.fmean(cpu), 1),
            "server_cpu_ms_p50": round(statistics.median(cpu), 1), "server_cpu_ms_max": round(max(cpu), 1),
            "target_cpu_ms_per_view": TARGET_CPU_MS_PER_VIEW, "clock_tick_ms": round(1000 / TICK, 1),
            "loadavg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
            "python": platform.python_version()}


def main() -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        print(json.dumps({"benchmark": "tour_in_chromium", "skipped": f"no Chromium at {CHROMIUM}"}))
        return
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for reader in ("map", "statistics"):  # each on a server of its own: nothing cached by the other
            server = launch.start("run", WORKERS="1")
            try:
                print(json.dumps(tour(browser, server, reader)), flush=True)
            finally:
                server.stop()
        browser.close()


if __name__ == "__main__":
    main()
