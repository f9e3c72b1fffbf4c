"""Availability benchmark: the public-host stack under slow clients, half-sent waves and an export burst.

Run from the repository root: ``python bench/bench_server.py [--views 36] [--baseline]``. It starts ``make serve``'s
stack (``deploy/serve.py``: nginx in front of two gunicorn instances) on a free loopback port, measures, stops it;
one JSON line per measurement. Loopback only, bounded (about 2 minutes), never asserts.

- ``server_slow_clients``: ``/healthz`` latency (p50, max, failures at a 2 s timeout) over 40 requests while 16
  half-sent request lines, 8 slow-body POSTs and 64 idle connections are held open.
- ``server_half_sent_waves``: three waves of 2,200 connections that send half a request line: ``/healthz``
  latency throughout, and how long nginx took to close each wave (``REQUEST_TIMEOUT``).
- ``server_export_burst``: ``--views`` distinct ``/export.png`` views asked at once from one address (one client
  each, 120 s timeout): how many were answered (200), refused by the app's queue (503 with ``Retry-After``) or by
  nginx's per-address limit (429), or failed; the slowest and median answered, the slowest refusal, and
  ``/healthz`` latency sampled during the burst.
- ``--baseline`` also measures the slow-client figure against plain gunicorn (``make run``: stock ``gthread``, no
  nginx), for comparison (adds about a minute).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from deploy import launch  # noqa: E402  the one server launcher


def healthz(port: int, timeout: float) -> float | None:
    """Seconds for one /healthz on a new connection, or None if it failed or took longer than ``timeout``."""
    t0 = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        resp.read()
        conn.close()
    except OSError:
        return None
    return time.perf_counter() - t0 if resp.status == 200 else None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def ms(x: float | None) -> float | None:
    return None if x is None else round(1000 * x, 1)


def common() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_1m": round(os.getloadavg()[0], 2)}


# ---------------------------------------------------------------------------------------------------------------


def slow_clients(port: int, samples: int = 40) -> dict[str, Any]:
    held: list[socket.socket] = []
    try:
        for _ in range(16):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /healthz HT")
            held.append(s)
        for _ in range(8):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /_dash-update-component HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{")
            held.append(s)
        for _ in range(64):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        times, failures = [], 0
        t_end = time.monotonic() + 8  # inside the default 10 s request deadline of the stalled requests
        for _ in range(samples):
            if time.monotonic() > t_end:
                break
            t = healthz(port, 2.0)
            if t is None:
                failures += 1
            else:
                times.append(t)
            time.sleep(0.05)
        return {"held": {"half_request_lines": 16, "slow_bodies": 8, "idle": 64},
                "healthz_requests": len(times) + failures, "healthz_failed_2s": failures,
                "healthz_p50_ms": ms(percentile(times, 50)), "healthz_max_ms": ms(max(times, default=None))}
    finally:
        for s in held:
            s.close()


def half_sent_waves(port: int, waves: int = 3, per_wave: int = 2200) -> dict[str, Any]:
    """Waves of connections that send half a request line; /healthz probed from a thread meanwhile."""
    import selectors

    times: list[float] = []
    failures = [0]
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            h = healthz(port, 2.0)
            if h is None:
                failures[0] += 1
            else:
                times.append(h)
            stop.wait(0.1)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    closed_after: list[float] = []
    try:
        for _ in range(waves):
            socks = []
            t0 = time.monotonic()
            for _ in range(per_wave):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET /healthz HT")
                s.setblocking(False)
                socks.append(s)
            sel = selectors.DefaultSelector()
            for s in socks:
                sel.register(s, selectors.EVENT_READ)
            open_ = len(socks)
            while open_ and time.monotonic() - t0 < 60:
                for key, _ in sel.select(1.0):
                    try:
                        data = key.fileobj.recv(4096)  # type: ignore[union-attr]
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        sel.unregister(key.fileobj)
                        open_ -= 1
            closed_after.append(round(time.monotonic() - t0, 1))
            sel.close()
            for s in socks:
                s.close()
    finally:
        stop.set()
        prober.join(5)
    return {"waves": waves, "connections_per_wave": per_wave, "wave_closed_after_s": closed_after,
            "healthz_requests": len(times) + failures[0], "healthz_failed_2s": failures[0],
            "healthz_p50_ms": ms(percentile(times, 50)), "healthz_max_ms": ms(max(times, default=None))}


def views(n: int) -> list[str]:
    out = []
    for year in (2016, 2015):
        for view in ("level", "change"):
            for lo in range(1, 6):
                for hi in range(lo, 6):
                    out.append(f"/export.png?year={year}&imd={lo}-{hi}&view={view}")
    return out[:n]


def export_burst(port: int, n: int) -> dict[str, Any]:
    results: list[tuple[int, float, str | None]] = []
    lock = threading.Lock()
    go = threading.Event()

    def ask(path: str) -> None:
        go.wait()
        t0 = time.perf_counter()
        status, retry = 0, None
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            status, retry = resp.status, resp.getheader("Retry-After")
            conn.close()
        except OSError:
            pass
        with lock:
            results.append((status, time.perf_counter() - t0, retry))

    threads = [threading.Thread(target=ask, args=(p,), daemon=True) for p in views(n)]
    for t in threads:
        t.start()
    health: list[float] = []
    health_failed = 0
    t0 = time.monotonic()
    go.set()
    while any(t.is_alive() for t in threads) and time.monotonic() - t0 < 150:
        h = healthz(port, 2.0)
        if h is None:
            health_failed += 1
        else:
            health.append(h)
        time.sleep(0.5)
    for t in threads:
        t.join(5)
    ok = [s for code, s, _ in results if code == 200]
    refused = [s for code, s, _ in results if code in (429, 503)]
    return {"views": n, "answered": len(ok), "refused_503": len([1 for code, _, _ in results if code == 503]),
            "refused_429": len([1 for code, _, _ in results if code == 429]),
            "failed": len([1 for code, _, _ in results if code not in (200, 429, 503)]),
            "refusals_with_retry_after": len([1 for code, _, r in results if code in (429, 503) and r]),
            "answered_p50_s": round(percentile(ok, 50), 1) if ok else None,
            "answered_max_s": round(max(ok), 1) if ok else None,
            "refused_max_s": round(max(refused), 2) if refused else None,
            "burst_s": round(time.monotonic() - t0, 1),
            "healthz_during_p50_ms": ms(percentile(health, 50)), "healthz_during_max_ms": ms(max(health, default=None)),
            "healthz_during_failed_2s": health_failed}


def run(label: str, stack: bool, env: dict[str, str], log_dir: Path, burst: int | None) -> None:
    """``make serve``'s stack (``stack``) or plain gunicorn as ``make run`` starts it, measured, then stopped."""
    server = launch.start("serve" if stack else "run", log_dir=log_dir, **env)
    port = server.port
    try:
        record = {"benchmark": "server_slow_clients", "server": label, **slow_clients(port), **common()}
        print(json.dumps(record), flush=True)
        if stack:
            record = {"benchmark": "server_half_sent_waves", "server": label, **half_sent_waves(port), **common()}
            print(json.dumps(record), flush=True)
        if burst:
            record = {"benchmark": "server_export_burst", "server": label, **export_burst(port, burst), **common()}
            print(json.dumps(record), flush=True)
    finally:
        server.stop(grace=40)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=36, help="distinct slides in the export burst (at most 60)")
    ap.add_argument("--workers", type=int, default=None, help="WORKERS per instance (default: the launcher's)")
    ap.add_argument("--baseline", action="store_true", help="also measure plain gunicorn, make run (slow clients)")
    args = ap.parse_args()
    env = {"WORKERS": str(args.workers)} if args.workers else {}
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        run("make serve", True, env, Path(tmp), max(1, min(args.views, 60)))
        if args.baseline:
            run("make run", False, env, Path(tmp), None)


if __name__ == "__main__":
    main()
