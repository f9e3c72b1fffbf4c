"""The public-host configuration (``make serve``: nginx in front of two gunicorn instances) under attack, on loopback.

One stack per module (``conftest.serve_stack``, as ``make serve`` starts it, with shorter client time limits so the
tests are quick: ``REQUEST_TIMEOUT=3``, ``CLIENT_TIMEOUT=3``), one worker per instance. In every attack a thread
asks ``/healthz`` through nginx all along; it must answer within 2 s every time, and the attack's own requests
must end quickly in a 4xx (or be closed at their time limit), never hold anything for 30 s.

- nginx's own refusals (400, 413, 414, 429, 431, 501) are one line of text with the app's headers.
- Oversized chunked bodies, oversized declared bodies, waves of half-sent requests, clients that never read,
  floods of layouts the cache cannot answer, an unknown transfer coding, a request pipelined behind an unread body.
- An instance killed under light load: requests go on, on the other instance; the launcher starts it again.
- Workers recycled every few requests (``MAX_REQUESTS``) under a replayed load: no request fails.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import PROJECT_ROOT, Stack, serve_stack

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
sys.path.insert(0, str(PROJECT_ROOT / "deploy"))
import serve as launcher  # noqa: E402  (deploy/serve.py, make serve's launcher)
from bench_load import Page  # noqa: E402  (the page's callback graph, as the load benchmark replays it)

NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")
pytestmark = pytest.mark.skipif(not Path(NGINX).exists() and not os.environ.get("CI"),
                                reason="Debian's nginx is not installed (make test installs it)")

REQUEST_TIMEOUT = 3  # the stack's client time limits in this module (defaults: 10 and 10)
CLIENT_TIMEOUT = 3
TEMPLATE = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text()


def conf_value(pattern: str) -> str:
    """A value from deploy/nginx.conf, so that the tests follow the configuration rather than copy it."""
    found = re.search(pattern, TEMPLATE)
    assert found, pattern
    return found.group(1)


@pytest.fixture(scope="module")
def stack(atlas_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve_stack(atlas_dir, tmp_path_factory.mktemp("host"), WORKERS="1", REQUEST_TIMEOUT=str(REQUEST_TIMEOUT),
                     CLIENT_TIMEOUT=str(CLIENT_TIMEOUT)) as s:
        yield s


# ---------------------------------------------------------------------------------------------------------------
# Raw HTTP and the /healthz probe


def connect(port: int, rcvbuf: int | None = None, timeout: float = 10) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_until_closed(s: socket.socket, timeout: float) -> bytes:
    """What the server sends until it closes the connection (or resets it), at most ``timeout`` seconds."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        out += chunk
    return out


def exchange(port: int, data: bytes, timeout: float = 10) -> tuple[bytes, float]:
    """Send raw bytes on a new connection; what comes back until the server closes it, and how long that took."""
    t0 = time.monotonic()
    with connect(port, timeout=timeout) as s:
        s.sendall(data)
        return read_until_closed(s, timeout), time.monotonic() - t0


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def get(port: int, path: str, timeout: float = 10, method: str = "GET", body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class HealthProbe:
    """Asks ``/healthz`` through nginx on a new connection, again and again, while the block runs."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.times: list[float] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                status, _, _ = get(self.port, "/healthz", timeout=2)
                if status != 200:
                    self.failures.append(f"status {status}")
            except OSError as exc:
                self.failures.append(f"{type(exc).__name__} after {time.monotonic() - t0:.2f} s")
            self.times.append(time.monotonic() - t0)
            self.stop.wait(0.1)

    def __enter__(self) -> HealthProbe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)

    def check(self, at_least: int = 5) -> None:
        assert not self.failures, self.failures
        assert len(self.times) >= at_least, f"only {len(self.times)} probes"
        assert max(self.times) < 2.0, f"slowest /healthz {max(self.times):.2f} s"


def wait_closed(socks: list[socket.socket], timeout: float) -> tuple[int, list[bytes]]:
    """Wait (on the sockets) until the server has closed or reset each; how many did within ``timeout``, and
    the first bytes each got (an answer, or nothing)."""
    sel = selectors.DefaultSelector()
    got: dict[int, bytes] = {}
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    closed = 0
    deadline = time.monotonic() + timeout
    try:
        while closed < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(max(0.01, deadline - time.monotonic())):
                s, i = key.fileobj, key.data
                try:
                    chunk = s.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    got[i] = got.get(i, b"") + chunk
                    continue
                sel.unregister(s)
                closed += 1
    finally:
        sel.close()
    return closed, [got.get(i, b"") for i in range(len(socks))]


def tcp_state(s: socket.socket) -> int:
    """The kernel's TCP state of ``s`` (1 established, 7 closed, 8 close-wait), without reading from it."""
    return struct.unpack("B", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]


APP_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "strict-origin-when-cross-origin",
               "x-frame-options": "SAMEORIGIN", "cache-control": "no-store"}


def check_own_error(raw: bytes, status: int, line: bytes) -> dict[str, str]:
    got, headers, body = parse(raw)
    assert got == status, raw[:300]
    for name, value in APP_HEADERS.items():
        assert headers.get(name) == value, (name, headers)
    assert "camera=()" in headers["permissions-policy"]
    assert headers["content-type"].startswith("text/plain")
    assert body == line, body
    return headers


# ---------------------------------------------------------------------------------------------------------------
# The configuration


def test_the_generated_configuration_is_the_repository_s_with_fields_filled_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/nginx.conf is used as written: only the fields between at-signs change, one upstream line per
    instance, and nginx accepts the result."""
    for name, value in {"PORT": "18999", "INSTANCES": "3", "REQUEST_TIMEOUT": "7", "CLIENT_TIMEOUT": "9",
                        "SERVE_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    settings = launcher.Settings.from_env()
    text = launcher.render_config(settings)
    assert not re.search(r"@[A-Z_]+@", text)
    upstreams = re.findall(r"server unix:(\S+) max_fails=0;", text)
    assert upstreams == [str(tmp_path / "run" / f"app-{i}.sock") for i in range(3)]
    assert "listen 127.0.0.1:18999 " in text and "client_header_timeout 7s;" in text and "send_timeout 9s;" in text
    template_lines = [line for line in TEMPLATE.splitlines() if "@" not in line or "@own" in line]
    assert all(line in text.splitlines() for line in template_lines)
    for sub in ("logs", "temp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "nginx.conf").write_text(text)
    os.chmod(tmp_path, 0o755)
    checked = subprocess.run([settings.nginx, "-t", "-p", str(tmp_path), "-e", "stderr", "-c",
                              str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


# ---------------------------------------------------------------------------------------------------------------
# nginx's own answers


CALLBACK_HEAD = (b"POST /_dash-update-component HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")


@pytest.mark.parametrize(("request_bytes", "status", "line"), [
    (b"GET /export.png?year=2016&area_team=" + b"x" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
     b"414 URI Too Long: request line longer than 8 KiB\n"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431,
     b"431 Request Header Fields Too Large: request headers too large\n"),
    (b"GARBAGE <script>\r\n\r\n", 400, b"400 Bad Request: request not understood\n"),
    (CALLBACK_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400,
     b"400 Bad Request: request not understood\n"),
    (CALLBACK_HEAD + b"Transfer-Encoding: xchunked\r\n\r\n", 501,
     b"501 Not Implemented: transfer coding not supported\n"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 413,
     b"413 Payload Too Large: request body too large\n"),
], ids=["414-long-area-team", "431-long-header", "400-garbage", "400-bad-chunk-size", "501-xchunked",
        "413-body-on-a-page"])
def test_nginx_refusals_are_one_line_with_the_app_headers(stack: Stack, request_bytes: bytes, status: int,
                                                         line: bytes) -> None:
    """Answered by nginx at once, before any app instance sees the request; nothing the client sent is echoed."""
    before = stack.log_text()
    raw, took = exchange(stack.port, request_bytes)
    headers = check_own_error(raw, status, line)
    assert "retry-after" not in headers
    assert took < 3, f"{took:.1f} s"
    new = stack.log_text()[len(before):]
    assert "Traceback" not in new and "ERROR" not in new, new[-2000:]
    assert get(stack.port, "/healthz")[0] == 200


def test_the_app_answers_its_own_errors_through_nginx(stack: Stack) -> None:
    """The app's 404 and 405 pass through unchanged (proxy_intercept_errors off), with its headers once."""
    status, headers, body = get(stack.port, "/no-such-page")
    assert status == 404 and body == b"404 Not Found\n" and headers["x-content-type-options"] == "nosniff"
    assert get(stack.port, "/healthz", method="DELETE")[0] == 405


def test_a_request_pipelined_behind_an_unread_body_is_answered(stack: Stack) -> None:
    """A POST to /healthz (the app reads no body there: 405) with a body, and a GET pipelined behind it on the same
    connection: both are answered, in order (the old worker dropped the second unanswered)."""
    raw, took = exchange(stack.port, b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
                                     b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]
    assert statuses == [405, 200], raw[:500]
    assert took < 3


def test_a_request_arriving_slowly_within_its_time_limit_is_served(stack: Stack) -> None:
    """A request line and headers sent in pieces, within REQUEST_TIMEOUT, are answered; keep-alive and
    pipelining work through nginx."""
    with connect(stack.port) as s:
        for piece in (b"GET /heal", b"thz HTTP/1.1\r\nHo", b"st: x\r\n", b"\r\n"):
            s.sendall(piece)
            time.sleep(0.1)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:100]
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        rest = read_until_closed(s, 10)
    assert rest.count(b"HTTP/1.1 200") == 2, rest[:300]


def test_expect_100_continue_gets_one_interim_answer(stack: Stack) -> None:
    body = b'{"not": "a callback"}'
    with connect(stack.port) as s:
        s.sendall(CALLBACK_HEAD + b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
                  % len(body))
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        raw = read_until_closed(s, 10)
    assert raw.startswith(b"HTTP/1.1 400") and b"100 Continue" not in raw, raw[:200]


# ---------------------------------------------------------------------------------------------------------------
# Attacks


def test_oversized_chunked_bodies_are_refused_at_once(stack: Stack) -> None:
    """32 connections of about 150 bytes: 16 declare a chunk far over 1 MiB, 16 a chunk-size line of 20 hex digits.
    Each is answered 413 or 400 at once, or 429 beyond the route's 16 requests in progress per address (the old
    worker handed them to a thread that then waited 30 s)."""
    socks = []
    with HealthProbe(stack.port) as probe:
        t0 = time.monotonic()
        for i in range(32):
            s = connect(stack.port)
            size = b"fffffffff" if i % 2 == 0 else b"0" * 19 + b"1"
            s.sendall(CALLBACK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\n{\"output\":")
            socks.append(s)
        closed, answers = wait_closed(socks, timeout=10)
        took = time.monotonic() - t0
        for s in socks:
            s.close()
        probe.stop.wait(1)  # keep probing a second after the attack
    probe.check()
    assert closed == 32 and took < 5, (closed, took)
    statuses = [parse(a)[0] for a in answers]
    # 413 (too large) or 400 (a size nginx cannot read); or 429 once 16 callbacks from the address are in progress
    assert set(statuses[0::2]) <= {413, 429} and set(statuses[1::2]) <= {400, 429}, statuses
    assert statuses.count(429) <= 16, statuses


def test_oversized_declared_bodies_are_refused_at_once(stack: Stack) -> None:
    """32 callback POSTs declaring 2 MB (over the 1 MiB limit), each having sent a few bytes of it: 413 at once,
    the connection closed within nginx's lingering limit, no app thread involved."""
    socks = []
    with HealthProbe(stack.port) as probe:
        t0 = time.monotonic()
        for _ in range(32):
            s = connect(stack.port)
            s.sendall(CALLBACK_HEAD + b"Content-Length: 2000000\r\n\r\n" + b"{" * 1000)
            socks.append(s)
        closed, answers = wait_closed(socks, timeout=15)
        took = time.monotonic() - t0
        for s in socks:
            s.close()
    probe.check()
    lingering = int(conf_value(r"lingering_time (\d+)s;"))
    assert closed == 32 and took < lingering + 3, (closed, took)
    for a in answers:
        check_own_error(a, 413, b"413 Payload Too Large: request body too large\n")


def test_waves_of_half_sent_requests_do_not_lock_out_new_clients(stack: Stack) -> None:
    """Three waves of 2,200 connections that send half a request line and stop (the old worker's limit was
    2 x 1,000 connections; its newcomers were evicted): /healthz answers within 2 s throughout, and nginx closes
    each half-sent request at REQUEST_TIMEOUT."""
    waves, per_wave = 3, 2200
    closed_in: list[float] = []
    with HealthProbe(stack.port) as probe:
        for _ in range(waves):
            socks = []
            t0 = time.monotonic()
            for _ in range(per_wave):
                s = connect(stack.port)
                s.sendall(b"GET /healthz HT")
                socks.append(s)
            closed, answers = wait_closed(socks, timeout=REQUEST_TIMEOUT + 10)
            closed_in.append(time.monotonic() - t0)
            for s in socks:
                s.close()
            assert closed == per_wave, f"{per_wave - closed} half-sent requests still open"
            assert all(a == b"" or a.startswith(b"HTTP/1.1 408") for a in answers)
    probe.check(at_least=waves * REQUEST_TIMEOUT * 3)
    assert max(closed_in) < REQUEST_TIMEOUT + 5, closed_in


def test_slow_and_idle_clients_hold_no_app_thread(stack: Stack) -> None:
    """16 half-sent request lines, 16 callback POSTs that send half their declared body and stop, and 64 idle
    connections (plain gthread, as under ``make run``, stopped answering for 30 s under half of this): /healthz
    answers within 2 s throughout, and nginx closes each stalled request at REQUEST_TIMEOUT (nginx has not passed
    them on, so no thread of the app waits on them)."""
    stalled, idle = [], []
    with HealthProbe(stack.port) as probe:
        t0 = time.monotonic()
        for _ in range(16):
            s = connect(stack.port)
            s.sendall(b"GET /healthz HT")
            stalled.append(s)
        for _ in range(16):
            s = connect(stack.port)
            s.sendall(CALLBACK_HEAD + b"Content-Length: 1000\r\n\r\n" + b"{" * 500)
            stalled.append(s)
        for _ in range(64):
            idle.append(connect(stack.port))
        closed, _ = wait_closed(stalled, timeout=REQUEST_TIMEOUT + 10)
        took = time.monotonic() - t0
        for s in stalled + idle:
            s.close()
    probe.check()
    assert closed == 32 and REQUEST_TIMEOUT - 0.5 < took < REQUEST_TIMEOUT + 5, (closed, took)


def largest_script(stack: Stack) -> tuple[str, int]:
    """The page's largest script (path, bytes uncompressed)."""
    status, _, html = get(stack.port, "/")
    assert status == 200
    best = ("", 0)
    for src in set(re.findall(rb'<script src="(/[^"]+)"', html)):
        status, _, body = get(stack.port, src.decode())
        if status == 200 and len(body) > best[1]:
            best = (src.decode(), len(body))
    assert best[1] > 500_000, best
    return best


def test_clients_that_never_read_hold_no_app_thread(stack: Stack) -> None:
    """20 connections, each pipelining 20 requests for the page's largest script and never reading (a small
    receive buffer, so they stall at once): /healthz answers within 2 s throughout (nginx buffers the answers;
    the app's threads are free), and nginx resets each stalled connection CLIENT_TIMEOUT after its last progress
    (the old worker held 20 of them for 45 s)."""
    path, size = largest_script(stack)
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    socks = []
    with HealthProbe(stack.port) as probe:
        t0 = time.monotonic()
        for _ in range(20):
            s = connect(stack.port, rcvbuf=4096)
            s.sendall(request * 20)
            socks.append(s)
        deadline = t0 + 2 * CLIENT_TIMEOUT + 15
        while time.monotonic() < deadline and any(tcp_state(s) == 1 for s in socks):
            probe.stop.wait(0.1)  # the probe keeps going meanwhile
        took = time.monotonic() - t0
        states = [tcp_state(s) for s in socks]
        for s in socks:
            s.close()
    probe.check()
    assert 1 not in states, f"{states.count(1)} stalled connections still open after {took:.1f} s"
    assert took < 2 * CLIENT_TIMEOUT + 10, took


def test_a_flood_of_uncached_layouts_is_limited_per_client(stack: Stack) -> None:
    """4 clients ask layouts with a parameter the page ignores (``utm_source=N``) as fast as they can for 8 s
    (before the app dropped such parameters from its cache key, each cost it up to a second of CPU): /healthz
    answers within 2 s throughout; nginx passes on at most the route's burst plus its rate, two at a time, and
    refuses the rest with 429 at once."""
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    flood_for = 8.0
    t_start = time.monotonic()

    def client(n: int) -> None:
        i = 0
        while time.monotonic() - t_start < flood_for:
            i += 1
            t0 = time.monotonic()
            try:
                status = get(stack.port, f"/_dash-layout?utm_source={n * 100_000 + i}", timeout=10,
                             headers={"Referer": f"{stack.url}/?year=2016&utm_source={i}"})[0]
            except OSError:
                status = 0
            with lock:
                results.append((status, time.monotonic() - t0))

    with HealthProbe(stack.port) as probe:
        clients = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(4)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(60)
        took = time.monotonic() - t_start
    probe.check()
    statuses = [s for s, _ in results]
    assert set(statuses) <= {200, 429}, sorted(set(statuses))
    rate = int(conf_value(r"zone=req_layout:10m rate=(\d+)r/s"))
    burst = int(conf_value(r"zone=req_layout burst=(\d+) nodelay"))
    assert statuses.count(200) <= burst + rate * (took + 1), (statuses.count(200), took)
    assert statuses.count(429) >= 100, f"only {statuses.count(429)} of {len(statuses)} refused"
    assert max(t for s, t in results if s == 429) < 1.0
    assert max(t for _, t in results) < 10 and took < flood_for + 10, took
    refused = get(stack.port, "/_dash-layout?utm_source=x")
    if refused[0] == 429:
        check_own_error(b"HTTP/1.1 429 x\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in refused[1].items())
                        + b"\r\n" + refused[2], 429,
                        b"429 Too Many Requests: too many requests from your address; try again in a few seconds\n")
        assert int(refused[1]["retry-after"]) >= 1


def test_slide_exports_are_limited_per_client(stack: Stack) -> None:
    """Slides cost seconds of Chromium: beyond the route's burst (10) and rate (30 a minute) per address, nginx
    answers 429 with Retry-After at once. (Asked with a view the app refuses at once, 400, so that nothing is
    rendered: the limit applies before the app.)"""
    burst = int(conf_value(r"zone=req_export burst=(\d+) nodelay"))
    statuses = []
    for _ in range(burst + 5):
        t0 = time.monotonic()
        status, headers, _ = get(stack.port, "/export.png?year=" + "9" * 5000)
        statuses.append(status)
        assert time.monotonic() - t0 < 2
    assert set(statuses[:burst]) == {400}, statuses
    assert statuses[-3:] == [429] * 3, statuses
    assert int(headers["retry-after"]) >= 1


# ---------------------------------------------------------------------------------------------------------------
# Instances dying and recycling


class LightLoad:
    """``clients`` threads doing what the page does (page, dependencies, callbacks, scripts, /healthz), paced to
    ``rate`` requests per second in all (under every route's limit), recording each request's outcome."""

    def __init__(self, port: int, clients: int = 4, rate: float = 30) -> None:
        self.port = port
        self.clients = clients
        self.interval = clients / rate
        self.stop = threading.Event()
        self.outcomes: list[tuple[float, float, str, int, str]] = []  # start, end, kind, status, error
        self.lock = threading.Lock()
        self.in_flight = 0
        _, _, deps = get(port, "/_dash-dependencies")
        # The layout route may still be refusing this address after an attack: wait for its rate to refill.
        layout = wait_until(lambda: (r := get(port, "/_dash-layout"))[0] == 200 and r[2], 20, "no layout")
        self.page = Page(json.loads(deps), json.loads(layout))
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def _callback(self, rng: random.Random) -> tuple[str, str, bytes]:
        props = {k: v for k, v in self.page.initial.items() if k[1] != "multi"}
        key = rng.choice(self.page.controls)
        props[key] = self.page.random_value(rng, key)
        changed = f"{key[0]}.{key[1]}"
        cb = rng.choice(self.page.triggered_by({changed}))
        return "callback", "/_dash-update-component", self.page.body(cb, props, [changed])

    def _run(self, n: int) -> None:
        rng = random.Random(n)
        kinds = ["callback"] * 6 + ["healthz", "dependencies", "page", "script"]
        next_at = time.monotonic()
        while not self.stop.is_set():
            kind = rng.choice(kinds)
            method, body = "GET", None
            if kind == "callback":
                _, path, body = self._callback(rng)
                method = "POST"
            else:
                path = {"healthz": "/healthz", "dependencies": "/_dash-dependencies",
                        "page": f"/?year={rng.choice([2015, 2016])}",
                        "script": "/assets/export.js"}[kind]
            t0 = time.monotonic()
            status, error = 0, ""
            with self.lock:
                self.in_flight += 1
            try:
                status = get(self.port, path, timeout=30, method=method, body=body,
                             headers={"Content-Type": "application/json"} if body else None)[0]
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, cut short
                error = type(exc).__name__
            with self.lock:
                self.in_flight -= 1
                self.outcomes.append((t0, time.monotonic(), kind, status, error))
            next_at = max(next_at + self.interval, time.monotonic())
            self.stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> LightLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(40)

    def failed(self) -> list[tuple[float, float, str, int, str]]:
        return [o for o in self.outcomes if o[3] != 200]

    def wait_for(self, count: int, timeout: float = 60) -> None:
        """Wait until ``count`` more requests have ended."""
        target = len(self.outcomes) + count
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < target:
            assert time.monotonic() < deadline, "the load stopped making progress"
            self.stop.wait(0.05)


def instance_processes(stack: Stack, index: int) -> list[psutil.Process]:
    master = psutil.Process(stack.instance_pid(index))
    return [master, *master.children(recursive=True)]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_killing_an_instance_fails_only_requests_in_flight(stack: Stack) -> None:
    """Under light load (4 clients, 30 requests/s), instance 0 hangs (its worker is stopped, SIGSTOP) until every
    client waits on it, then its master and workers are killed outright (SIGKILL). Only the requests in flight on
    it may fail: nginx re-sends each whose answer had not begun to instance 1 (GETs, and callback POSTs, which are
    pure functions of their bodies); one whose answer's head had already gone to the client cannot be re-sent and
    is cut short. Every other request succeeds, and the launcher starts instance 0 again."""
    victims = instance_processes(stack, 0)
    old_master = victims[0].pid
    workers = victims[1:]
    assert workers
    with LightLoad(stack.port) as load:
        load.wait_for(60)
        for w in workers:
            w.send_signal(signal.SIGSTOP)
        wait_until(lambda: load.in_flight == load.clients, 20, "the clients did not all wait on instance 0")
        in_flight = load.in_flight
        killed_at = time.monotonic()
        for p in victims:
            p.send_signal(signal.SIGKILL)
        load.wait_for(120)
        wait_until(lambda: "instance 0 exited" in stack.log_text(), 10, "the launcher did not notice the kill")
        wait_until(lambda: stack.instance_pid(0) != old_master, 30, "instance 0 was not started again")
        wait_until(lambda: launcher.healthz_on_socket(stack.serve_dir / "run" / "app-0.sock"), 60,
                   "instance 0 did not answer again")
        load.wait_for(60)
    failed = load.failed()
    resent = [o for o in load.outcomes if o[0] <= killed_at <= o[1]]
    after = [o[1] - max(o[0], killed_at) for o in load.outcomes if o[1] >= killed_at]
    print(f"kill: {len(load.outcomes)} requests, {in_flight} in flight on the killed instance, "
          f"{len(resent)} ended after the kill, {len(failed)} failed, slowest after the kill {max(after):.2f} s")
    assert in_flight == 4 and len(resent) == in_flight
    assert all(o in resent for o in failed), f"requests not in flight at the kill failed: {failed}"
    assert all(o[4] == "IncompleteRead" for o in failed), failed  # answers cut short, nothing refused
    assert len(failed) <= in_flight
    assert len(load.outcomes) >= 240
    assert "instance 0 exited" in stack.log_text()
    assert get(stack.port, "/healthz")[0] == 200


def test_with_no_instance_reachable_nginx_answers_503_for_the_user(stack: Stack) -> None:
    """Both instances killed at once: until the launcher has them back, nginx answers 503 with Retry-After and a
    line for the user (not nginx's HTML page); then the stack serves again."""
    old = [stack.instance_pid(i) for i in range(2)]
    for i in range(2):
        for p in instance_processes(stack, i):
            p.send_signal(signal.SIGKILL)
    t0 = time.monotonic()
    status, headers, body = get(stack.port, "/healthz", timeout=10)
    assert time.monotonic() - t0 < 2
    check_own_error(b"HTTP/1.1 503 x\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
                    + b"\r\n" + body, 503, b"503 Service Unavailable: the atlas is busy; try again in a few seconds\n")
    assert int(headers["retry-after"]) >= 1
    wait_until(lambda: all(stack.instance_pid(i) != old[i] for i in range(2)), 30, "the instances were not restarted")

    def healthy() -> bool:
        """Answered fast either way: 503 while no instance listens, 200 once one does (an instance listens only
        once it can answer: gunicorn.conf.py warms it before it binds its socket)."""
        t0 = time.monotonic()
        status = get(stack.port, "/healthz", timeout=5)[0]
        assert time.monotonic() - t0 < 2 and status in (200, 503), (status, time.monotonic() - t0)
        return status == 200

    wait_until(healthy, 120, "the stack did not serve again")


def stack_processes(stack: Stack) -> list[psutil.Process]:
    """Every process of the stack: the launcher's descendants (nginx, the gunicorn masters and their workers)."""
    return psutil.Process(stack.proc.pid).children(recursive=True)


def test_sigterm_stops_the_whole_stack_cleanly(stack: Stack) -> None:
    """SIGTERM (as Ctrl-C) to the launcher: nginx and every instance stop, the launcher exits 0 (the last test on
    this module's stack)."""
    procs = stack_processes(stack)
    assert {p.name() for p in procs} >= {"nginx"} and len(procs) >= 5, [p.name() for p in procs]
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(timeout=60) == 0
    gone, alive = psutil.wait_procs(procs, timeout=10)
    assert alive == [], alive
    assert "SIGTERM: stopping" in stack.log_text()


def test_recycling_workers_loses_no_request(atlas_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each instance's one worker is replaced every 20 requests (MAX_REQUESTS=20, jitter 2) under a replayed load
    of 4 clients at 30 requests/s for 300 requests (about 15 recycles): no request fails. nginx opens a fresh
    connection per request, so a worker leaving never closes one nginx is about to reuse, and a request a leaving
    worker accepted but did not answer is re-sent to the other instance.

    Then nginx is killed: the launcher stops the instances and exits 1 (one part dying stops the rest)."""
    with serve_stack(atlas_dir, tmp_path_factory.mktemp("recycle"), WORKERS="1", MAX_REQUESTS="20") as s:
        with LightLoad(s.port) as load:
            load.wait_for(300, timeout=90)
        recycles = s.log_text().count("Autorestarting worker")
        failed = load.failed()
        print(f"recycle: {len(load.outcomes)} requests, {recycles} workers replaced, {len(failed)} failed")
        assert recycles >= 8, recycles
        assert failed == [], f"{len(failed)} of {len(load.outcomes)} failed: {failed[:5]}"

        procs = stack_processes(s)
        nginx = [p for p in procs if p.name() == "nginx" and p.ppid() == s.proc.pid]
        assert len(nginx) == 1
        nginx[0].send_signal(signal.SIGKILL)
        assert s.proc.wait(timeout=60) == 1
        gone, alive = psutil.wait_procs(procs, timeout=10)
        assert alive == [], alive
        assert "nginx exited" in s.log_text()
