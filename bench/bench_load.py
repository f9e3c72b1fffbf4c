"""Load benchmark: the production server (gunicorn with ``gunicorn.conf.py``) under concurrent clients.

Run from the repository root: ``python bench/bench_load.py [--clients 32] [--duration 30] [--exports 3]``.
It starts gunicorn on a free loopback port, drives it with N client threads (one keep-alive connection each)
for a fixed time, measures worker memory, stops the server and prints ONE JSON line. Loopback only, bounded in
time (``--duration``) and count (``--max-requests``); it reports and never asserts.

What a client does, like a browser on the page (bodies are built from the server's own ``/_dash-dependencies``
and ``/_dash-layout``, so they match the registered callbacks):

- 80 %: a filter change. A random value for one control (year, view, region, area team, IMD range, CCG search,
  clusters), sent to the callback it triggers; the props that callback returns (the view-state store, the URL)
  are kept and the callbacks they trigger are sent next (map patch with its applied-state, summaries,
  clustering), as Dash's renderer does.
- 15 %: a page load: ``/`` with a query, ``/_dash-layout``, ``/_dash-dependencies``, then the initial
  callbacks.
- 5 %: a first visit's fingerprinted script (compressed, from the per-process cache).
- At most ``--exports`` ``/export.png`` requests in all, spread over the run (a 503, from a server without
  Chromium or with its export queue full, is counted apart, not as an error; ``bench/bench_server.py`` measures
  the export queue under a burst).

Figures: ``requests_per_s`` (all requests), ``callbacks_per_s`` (callback responses), ``p50_ms``/``p95_ms``
(all requests) and ``callback_p50_ms``/``callback_p95_ms``, ``errors`` (HTTP >= 400 other than the export
503, and failed connections), ``rss_mb`` / ``pss_mb`` per worker after the load (PSS shares the preloaded
atlas pages between workers), and Chromium's memory under the workers when an export ran. Targets (reported,
not asserted): >= 200 callback responses/s with zero errors at 32 clients, <= 300 MB per worker.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import platform
import random
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import brotli
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from deploy import launch  # noqa: E402  the one server launcher

TARGET_CALLBACKS_PER_S = 200
TARGET_MB_PER_WORKER = 300
DISPATCH = "/_dash-update-component"
HEADERS = {"Accept-Encoding": "gzip, br", "User-Agent": "bench_load"}


# ---------------------------------------------------------------------------------------------------------------
# Server


def server_cpu(master_pid: int) -> float:
    """CPU seconds of the master, its live workers (and their Chromium) and the workers it has reaped."""
    master = psutil.Process(master_pid)
    t = master.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for proc in master.children(recursive=True):
        try:
            c = proc.cpu_times()
            total += c.user + c.system
        except psutil.Error:
            continue
    return total


def worker_memory(master_pid: int) -> dict[str, Any]:
    """RSS and PSS (MB) of each gunicorn worker, and of the Chromium processes under them."""
    master = psutil.Process(master_pid)
    rss, pss, browser = [], [], 0.0
    for worker in master.children(recursive=False):
        try:
            info = worker.memory_full_info()
            rss.append(round(info.rss / 2**20, 1))
            pss.append(round(getattr(info, "pss", info.rss) / 2**20, 1))
            for child in worker.children(recursive=True):
                browser += child.memory_info().rss / 2**20
        except psutil.Error:
            continue
    return {"rss_mb": sorted(rss), "pss_mb": sorted(pss), "max_rss_mb": max(rss, default=None),
            "chromium_rss_mb": round(browser, 1)}


# ---------------------------------------------------------------------------------------------------------------
# What the page does: callbacks from /_dash-dependencies, starting values and choices from /_dash-layout


def outputs_of(key: str) -> list[dict[str, str]]:
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    out = []
    for part in parts:
        cid, _, prop = part.rpartition(".")
        out.append({"id": cid, "property": prop})
    return out


class Page:
    """The callback graph and the controls a user can change, read from the running server."""

    def __init__(self, deps: list[dict[str, Any]], layout: dict[str, Any]) -> None:
        self.callbacks = [d for d in deps if not d.get("clientside_function")]
        self.initial: dict[tuple[str, str], Any] = {}
        self.choices: dict[tuple[str, str], list[Any]] = {}
        self._walk(layout)
        inputs = {(i["id"], i["property"]) for cb in self.callbacks for i in cb["inputs"]}
        self.controls = sorted(k for k in self.choices if k in inputs)

    def _walk(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self._walk(item)
            return
        if not isinstance(node, dict) or "props" not in node:
            return
        props = node["props"]
        cid = props.get("id")
        if isinstance(cid, str):
            for prop, value in props.items():
                if prop not in ("children", "id", "options", "figure", "columnDefs", "rowData") and value is not None:
                    self.initial[(cid, prop)] = value
            options = props.get("options")
            if isinstance(options, list) and options and "value" in props:
                values = [o.get("value") if isinstance(o, dict) else o for o in options
                          if not (isinstance(o, dict) and o.get("disabled"))]
                self.choices[(cid, "value")] = values
                self.initial[(cid, "multi")] = props.get("multi") or node.get("type") == "Checklist"
            elif node.get("type") == "RangeSlider":
                lo, hi = int(props.get("min", 0)), int(props.get("max", 1))
                self.choices[(cid, "value")] = [[a, b] for a in range(lo, hi + 1) for b in range(a, hi + 1)]
        self._walk(props.get("children"))

    def random_value(self, rng: random.Random, key: tuple[str, str]) -> Any:
        values = self.choices[key]
        if self.initial.get((key[0], "multi")):
            return rng.sample(values, k=min(len(values), rng.choice([0, 1, 1, 2, 3])))
        return rng.choice(values)

    def triggered_by(self, changed: set[str], exclude: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [cb for cb in self.callbacks if cb is not exclude
                and any(f"{i['id']}.{i['property']}" in changed for i in cb["inputs"])]

    def body(self, cb: dict[str, Any], props: dict[tuple[str, str], Any], changed: list[str]) -> bytes:
        def entries(specs: list[dict[str, str]]) -> list[dict[str, Any]]:
            out = []
            for s in specs:
                item = {"id": s["id"], "property": s["property"]}
                if (s["id"], s["property"]) in props:
                    item["value"] = props[(s["id"], s["property"])]
                out.append(item)
            return out

        outs = outputs_of(cb["output"])
        body = {"output": cb["output"], "outputs": outs if cb["output"].startswith("..") else outs[0],
                "inputs": entries(cb["inputs"]), "changedPropIds": changed}
        if cb["state"]:
            body["state"] = entries(cb["state"])
        return json.dumps(body).encode()


# ---------------------------------------------------------------------------------------------------------------
# Clients


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {}
        self.status: dict[str, dict[int, int]] = {}
        self.failures = 0
        self.reconnects = 0
        self.requests = 0
        self.named: dict[str, list[float]] = {}

    def add(self, kind: str, status: int, ms: float) -> None:
        with self.lock:
            self.requests += 1
            self.latency.setdefault(kind, []).append(ms)
            counts = self.status.setdefault(kind, {})
            counts[status] = counts.get(status, 0) + 1


class Client(threading.Thread):
    def __init__(self, n: int, port: int, page: Page, stats: Stats, stop: threading.Event, budget: threading.Semaphore,
                 exports: list[float], scripts: list[str], queries: list[str]) -> None:
        super().__init__(daemon=True, name=f"client-{n}")
        self.port, self.page, self.stats, self.stop, self.budget = port, page, stats, stop, budget
        self.exports, self.scripts, self.queries = exports, scripts, queries
        self.rng = random.Random(1000 + n)
        self.conn: http.client.HTTPConnection | None = None
        self.props: dict[tuple[str, str], Any] = {}

    def request(self, kind: str, method: str, path: str, body: bytes | None = None,
                name: str | None = None) -> tuple[int, bytes]:
        if not self.budget.acquire(blocking=False):
            self.stop.set()
            return 0, b""
        headers = dict(HEADERS)
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):  # a keep-alive connection closed by a recycled worker is retried once, like browsers
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            t0 = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1 and not fresh:
                    with self.stats.lock:
                        self.stats.reconnects += 1
                    continue
                with self.stats.lock:
                    self.stats.failures += 1
                return 0, b""
            ms = (time.perf_counter() - t0) * 1000
            if resp.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            self.stats.add(kind, resp.status, ms)
            if name:
                with self.stats.lock:
                    self.stats.named.setdefault(name, []).append(ms)
            enc = resp.getheader("Content-Encoding")
            if enc == "gzip":
                data = gzip.decompress(data)
            elif enc == "br":
                data = brotli.decompress(data)
            return resp.status, data
        return 0, b""

    def callback(self, cb: dict[str, Any], changed: list[str]) -> set[str]:
        status, data = self.request("callback", "POST", DISPATCH, self.page.body(cb, self.props, changed),
                                    name=outputs_of(cb["output"])[0]["id"])
        if status != 200:
            return set()
        try:
            response = json.loads(data).get("response", {})
        except ValueError:
            return set()
        out = set()
        for cid, props in response.items():
            for prop, value in props.items():
                if not (isinstance(value, dict) and "__dash_patch_update" in value):
                    self.props[(cid, prop)] = value
                out.add(f"{cid}.{prop}")
        return out

    def cascade(self, first: list[dict[str, Any]], changed: set[str]) -> None:
        """Send the triggered callbacks, then the ones their outputs trigger (one level, as the renderer does)."""
        produced: set[str] = set()
        for cb in first:
            produced |= self.callback(cb, sorted(changed & {f"{i['id']}.{i['property']}" for i in cb["inputs"]}))
        for cb in self.page.triggered_by(produced):
            if cb not in first and not self.stop.is_set():
                self.callback(cb, sorted(produced & {f"{i['id']}.{i['property']}" for i in cb["inputs"]}))

    def page_load(self) -> None:
        query = self.rng.choice(self.queries)
        self.request("page", "GET", "/" + query)
        self.request("layout", "GET", "/_dash-layout")
        self.request("dependencies", "GET", "/_dash-dependencies")
        self.props = {k: v for k, v in self.page.initial.items() if k[1] != "multi"}
        self.props[("url", "search")] = query
        self.props[("url", "pathname")] = "/"
        initial = [cb for cb in self.page.callbacks if not cb.get("prevent_initial_call")
                   and any(i["id"] == "url" for i in cb["inputs"])]
        self.cascade(initial, {"url.search"})

    def filter_change(self) -> None:
        key = self.rng.choice(self.page.controls)
        self.props[key] = self.page.random_value(self.rng, key)
        changed = {f"{key[0]}.{key[1]}"}
        self.cascade(self.page.triggered_by(changed), changed)

    def run(self) -> None:
        self.page_load()
        while not self.stop.is_set():
            if self.exports and self.exports[0] <= time.monotonic():
                try:
                    self.exports.pop(0)
                except IndexError:
                    pass
                else:
                    self.request("export", "GET", "/export.png" + self.rng.choice(self.queries))
                    continue
            roll = self.rng.random()
            if roll < 0.80:
                self.filter_change()
            elif roll < 0.95:
                self.page_load()
            else:
                self.request("script", "GET", self.rng.choice(self.scripts))
        if self.conn is not None:
            self.conn.close()


# ---------------------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))], 1)


def fetch(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"GET {path}: {resp.status}")
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of load (at most 300)")
    ap.add_argument("--exports", type=int, default=3, help="slide exports in the whole run (at most 10)")
    ap.add_argument("--workers", type=int, default=None, help="WORKERS for gunicorn (default: its config)")
    ap.add_argument("--max-requests", type=int, default=200_000, help="stop after this many requests")
    args = ap.parse_args()
    clients = max(1, min(args.clients, 256))
    duration = max(1.0, min(args.duration, 300.0))
    exports = max(0, min(args.exports, 10))

    # Let the machine settle first (make bench runs this straight after the slide batch, whose Chromium
    # takes a while to exit): a load test that starts on a busy machine measures the previous benchmark.
    settle_until = time.monotonic() + 60
    while os.getloadavg()[0] > 1.0 and time.monotonic() < settle_until:
        time.sleep(2)
    loadavg_before = round(os.getloadavg()[0], 2)

    t_start = time.monotonic()
    server = launch.start("run", limit=180, **({"WORKERS": str(args.workers)} if args.workers else {}))
    port, proc = server.port, server.proc
    try:
        startup_s = round(time.monotonic() - t_start, 1)
        page = Page(json.loads(fetch(port, "/_dash-dependencies")), json.loads(fetch(port, "/_dash-layout")))
        html = fetch(port, "/").decode()
        scripts = [s for s in _script_srcs(html) if s.startswith("/_dash-component-suites/")]
        queries = ["?year=2016", "?year=2015", "?year=2016&area_team=Greater%20Manchester&imd=1-2",
                   "?year=2015&region=London", "?year=2016&region=North&imd=1-3", "?year=2016&view=change"]

        stats = Stats()
        stop = threading.Event()
        budget = threading.Semaphore(args.max_requests)
        t0 = time.monotonic()
        export_times = [t0 + duration * (i + 1) / (exports + 1) for i in range(exports)]
        threads = [Client(n, port, page, stats, stop, budget, export_times, scripts, queries)
                   for n in range(clients)]
        cpu_before = psutil.Process().cpu_times()
        server_before = server_cpu(proc.pid)
        for t in threads:
            t.start()
        stop.wait(duration)
        stop.set()
        for t in threads:
            t.join(timeout=150)
        elapsed = time.monotonic() - t0
        cpu_after = psutil.Process().cpu_times()
        server_s = server_cpu(proc.pid) - server_before
        memory = worker_memory(proc.pid)
    finally:
        server.stop(grace=40)

    all_ms = [ms for kind, values in stats.latency.items() if kind != "export" for ms in values]
    cb_ms = stats.latency.get("callback", [])
    cb_status = stats.status.get("callback", {})
    export_status = stats.status.get("export", {})
    errors = stats.failures + sum(n for kind, counts in stats.status.items() for code, n in counts.items()
                                  if code >= 400 and not (kind == "export" and code == 503))
    callbacks_ok = cb_status.get(200, 0) + cb_status.get(204, 0)
    cps = callbacks_ok / elapsed
    record = {
        "benchmark": f"load_{clients}_clients",
        "clients": clients, "duration_s": round(elapsed, 1), "workers": len(memory["rss_mb"]),
        "cpus": os.cpu_count(), "python": platform.python_version(), "startup_s": startup_s,
        "loadavg_1m_before": loadavg_before, "loadavg_1m": round(os.getloadavg()[0], 2),
        "requests": stats.requests, "requests_per_s": round(stats.requests / elapsed, 1),
        "callbacks": sum(cb_status.values()), "callbacks_per_s": round(cps, 1),
        "p50_ms": percentile(all_ms, 50), "p95_ms": percentile(all_ms, 95),
        "callback_p50_ms": percentile(cb_ms, 50), "callback_p95_ms": percentile(cb_ms, 95),
        "by_kind": {kind: {"n": len(v), "p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95)}
                    for kind, v in sorted(stats.latency.items())},
        "callback_by_output": {name: {"n": len(v), "p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95)}
                               for name, v in sorted(stats.named.items())},
        "status": {kind: {str(k): v for k, v in sorted(c.items())} for kind, c in sorted(stats.status.items())},
        "errors": errors, "connection_failures": stats.failures, "reconnects": stats.reconnects,
        "exports_ok": export_status.get(200, 0), "exports_unavailable": export_status.get(503, 0),
        "export_ms": [round(x) for x in stats.latency.get("export", [])],
        **memory,
        "server_cpu_s": round(server_s, 1),
        "server_cpu_ms_per_request": round(1000 * server_s / max(1, stats.requests), 2),
        "client_cpu_s": round((cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system), 1),
        "target_callbacks_per_s": TARGET_CALLBACKS_PER_S, "target_mb_per_worker": TARGET_MB_PER_WORKER,
        "meets_targets": bool(cps >= TARGET_CALLBACKS_PER_S and errors == 0 and memory["max_rss_mb"] is not None
                              and memory["max_rss_mb"] <= TARGET_MB_PER_WORKER),
    }
    print(json.dumps(record))


def _script_srcs(html: str) -> list[str]:
    return re.findall(r'<script src="([^"]+)"', html)


if __name__ == "__main__":
    main()
