"""Availability of the production server (``gunicorn -c gunicorn.conf.py app:server``) on loopback.

- Stalled, slow and idle connections wait in the worker's event loop, so ``/healthz`` keeps answering; an
  incomplete request is answered 408 at its deadline.
- gunicorn's own error answers (400, 414, 431) are one line of text with the app's headers; a bad chunk size in
  a body is a 400, with no traceback in the log.
- ``/export.png`` has a bounded queue per worker: when full it answers 503 with ``Retry-After`` at once; identical
  requests share one render; a queued slide nobody waits for any more is never rendered.
- The page's "Download slide (PNG)" shows the server's message on a 503 and saves the PNG otherwise.

Every server a test starts listens on 127.0.0.1 on a free port, logs to a file and is stopped in a ``finally``.
Waits are on outcomes, with deadlines.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import conftest
import pytest
from conftest import Server, serve

from dashboard import http_worker

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                    reason="Debian chromium is not installed (make test installs it)")


# ---------------------------------------------------------------------------------------------------------------
# A server of its own, and raw HTTP


free_port = conftest._free_port


def exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes on a new connection and read until the server closes it (or ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_until_closed(s, timeout)


def read_until_closed(s: socket.socket, timeout: float) -> bytes:
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


def get(port: int, path: str, timeout: float = 10.0, headers: dict[str, str] | None = None
        ) -> tuple[int, dict[str, str], bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


@pytest.fixture(scope="module")
def server(atlas_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The production configuration with two workers; incomplete requests get 5 s (default 10) to keep this quick,
    and a worker holds 100 connections (default 1000) so that a test can fill it."""
    with serve(atlas_dir, tmp_path_factory.mktemp("server"), WORKERS="2", REQUEST_TIMEOUT="5",
               WORKER_CONNECTIONS="100") as s:
        yield s


# ---------------------------------------------------------------------------------------------------------------
# Slow and idle clients


def test_healthz_answers_while_slow_and_idle_clients_hold_connections(server: Server) -> None:
    """16 half-sent request lines, 8 slow-body POSTs and 64 idle connections: /healthz answers within 2 s, every
    time (plain gthread with 2 x 4 threads stopped answering for 30 s)."""
    held: list[socket.socket] = []
    t_first = time.monotonic()
    try:
        for _ in range(16):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(b"GET /healthz HT")
            held.append(s)
        for _ in range(8):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(b"POST /_dash-update-component HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"output\":")
            held.append(s)
        for _ in range(64):
            held.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        slowest = 0.0
        for _ in range(20):
            t0 = time.monotonic()
            status, _, body = get(server.port, "/healthz", timeout=2)
            slowest = max(slowest, time.monotonic() - t0)
            assert status == 200 and b'"status":"ok"' in body.replace(b" ", b"")
        assert slowest < 2.0, slowest
        # The stalled requests were still open while /healthz answered (their deadline is 5 s from their first byte).
        if time.monotonic() - t_first < 4:
            for s in held[:24]:
                s.setblocking(False)
                with pytest.raises(BlockingIOError):
                    s.recv(1)
    finally:
        for s in held:
            s.close()


def test_idle_connections_beyond_the_limit_do_not_lock_out_new_clients(server: Server) -> None:
    """300 idle connections against 2 x 100 allowed: the oldest idle ones are closed to admit new clients (plain
    gthread stops accepting at its limit, so /healthz would wait in the backlog until idle ones time out)."""
    held: list[socket.socket] = []
    try:
        for _ in range(300):
            held.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        for _ in range(10):
            t0 = time.monotonic()
            assert get(server.port, "/healthz", timeout=2)[0] == 200
            assert time.monotonic() - t0 < 2
    finally:
        for s in held:
            s.close()


def test_incomplete_request_is_answered_408_at_its_deadline(server: Server) -> None:
    t0 = time.monotonic()
    raw = exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", timeout=15)
    waited = time.monotonic() - t0
    status, headers, body = parse(raw)
    assert status == 408 and 4 <= waited < 12, (status, waited)
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    assert body == b"408 Request Timeout: the request did not arrive within 5 s\n"


def test_a_request_arriving_slowly_within_its_deadline_is_served(server: Server) -> None:
    """A request line, headers and body sent in pieces is answered once it is whole; keep-alive and pipelining
    work through the loop."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        for piece in (b"GET /heal", b"thz HTTP/1.1\r\nHo", b"st: x\r\n", b"\r\n"):
            s.sendall(piece)
            time.sleep(0.1)
        s.settimeout(10)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:100]
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        rest = read_until_closed(s, 10)
    assert rest.count(b"HTTP/1.1 200") == 2, rest[:300]


def test_expect_100_continue_gets_one_interim_answer(server: Server) -> None:
    body = b'{"not": "a callback"}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /_dash-update-component HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        raw = read_until_closed(s, 10)
    assert raw.startswith(b"HTTP/1.1 400") and b"100 Continue" not in raw, raw[:200]


# ---------------------------------------------------------------------------------------------------------------
# Errors gunicorn answers itself, and bodies it cannot read


def check_app_headers(headers: dict[str, str]) -> None:
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert "camera=()" in headers["permissions-policy"]
    assert headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(("request_bytes", "status", "line"), [
    (b"GET /export.png?year=2016&area_team=" + b"x" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
     b"414 URI Too Long: request line longer than 8190 bytes\n"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431,
     b"431 Request Header Fields Too Large: request headers too large\n"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: zzzzzzzz\r\n" * 3000 + b"\r\n", 431,
     b"431 Request Header Fields Too Large: request headers too large\n"),
    (b"GARBAGE <script>\r\n\r\n", 400, b"400 Bad Request: request not understood\n"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
     b"400 Bad Request: request not understood\n"),
], ids=["414-long-area-team", "431-long-header", "431-many-headers", "400-garbage", "400-coding"])
def test_server_errors_are_one_line_with_the_app_headers(server: Server, request_bytes: bytes, status: int,
                                                         line: bytes) -> None:
    got, headers, body = parse(exchange(server.port, request_bytes))
    assert got == status
    check_app_headers(headers)
    assert body == line
    assert get(server.port, "/healthz")[0] == 200


def test_bad_chunk_size_is_a_400_without_traceback(server: Server) -> None:
    mark = f"chunk-test-{time.time_ns()}"
    before = len(server.log_text())
    raw = exchange(server.port, (f"POST /_dash-update-component?{mark} HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "zz\r\n{}\r\n0\r\n\r\n").encode())
    status, headers, body = parse(raw)
    assert status == 400, raw[:300]
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    assert b"500" not in body and b"Traceback" not in body
    deadline = time.monotonic() + 5
    while "unreadable body" not in server.log_text()[before:] and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log_text()[before:]
    assert "unreadable body" in log and "Traceback" not in log, log[-2000:]


def test_scan_request_decides_when_a_request_is_whole() -> None:
    scan = http_worker.scan_request
    more, ready, cont, large = http_worker.MORE, http_worker.READY, http_worker.CONTINUE, http_worker.TOO_LARGE
    assert scan(b"").state == more
    assert scan(b"GET / HT").state == more
    assert scan(b"GET / HTTP/1.1\r\nHost: x\r\n").state == more
    assert scan(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").state == ready
    assert scan(b"\r\nGET / HTTP/1.1\r\n\r\n").state == ready
    assert scan(b"GET /\nHost").state == ready  # bare LF: the parser refuses it at once
    assert scan(b"GET " + b"x" * 9000).state == ready  # over the line limit: the parser's 414
    assert scan(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 10_000).state == large
    post = b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
    assert scan(post + b"abc").state == more and scan(post + b"abcde").state == ready
    assert scan(b"POST /x HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n").state == ready  # too big: the app's 413
    assert scan(b"POST /x HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n").state == cont
    chunked = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert scan(chunked + b"3\r\nabc\r\n").state == more
    assert scan(chunked + b"3\r\nabc\r\n0\r\n\r\n").state == ready
    assert scan(chunked + b"3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n").state == ready
    assert scan(chunked + b"zz\r\n").state == ready  # a bad size: the app answers 400
    assert scan(chunked + b"3\r\nabcXY").state == ready  # missing CRLF after the data
    assert scan(b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").state == ready
    expecting = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nA: b\r\nContent-Length: 4\r\n\r\nbody"
    assert http_worker.without_expect(expecting, scan(expecting).head_end) == \
        b"POST / HTTP/1.1\r\nA: b\r\nContent-Length: 4\r\n\r\nbody"


# ---------------------------------------------------------------------------------------------------------------
# /export.png admission control, in-process with a slide maker that waits for the test


@pytest.fixture(scope="module")
def queue_app(atlas_dir: Path):  # noqa: ANN201
    import app as app_module

    return app_module.create_app(atlas_dir=atlas_dir)


class FakeSlides:
    """Stands in for Chromium: each slide is made only when the test releases it."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.started = threading.Condition()
        self.release = threading.Event()
        self.cancelled: list[Any] = []

    def __call__(self, state: Any, fmt: str, width: int, height: int, cancel: threading.Event) -> bytes:
        from dashboard import render

        with self.started:
            self.calls.append(state)
            self.started.notify_all()
        deadline = time.monotonic() + 30
        while not self.release.wait(0.02):
            if cancel.is_set():
                self.cancelled.append(state)
                raise render.RenderCancelled("stopped")
            assert time.monotonic() < deadline, "the test never released the slide"
        return b"\x89PNG\r\n\x1a\n" + repr(state).encode()

    def wait_calls(self, n: int, timeout: float = 10) -> None:
        with self.started:
            assert self.started.wait_for(lambda: len(self.calls) >= n, timeout), self.calls


def fetch_async(client: Any, path: str) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        out["resp"] = client.get(path)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_export_queue_refuses_when_full_and_shares_identical_slides(queue_app) -> None:  # noqa: ANN001
    from dashboard import render

    service = queue_app.server.extensions["atlas_service"]
    fake = FakeSlides()
    queue = render.ExportQueue(service, max_queued=1, wait=20, max_waiters=3, make=fake)
    assert service.derived("export-queue", lambda: queue) is queue  # what the route will use
    assert render.export_queue(service) is queue
    client = queue_app.server.test_client()
    try:
        a, out_a = fetch_async(client, "/export.png?year=2016")
        fake.wait_calls(1)  # the first slide is rendering
        b, out_b = fetch_async(client, "/export.png?year=2015")
        wait_for(lambda: queue.queued == 1)  # the second waits in the queue
        t0 = time.monotonic()
        full = client.get("/export.png?year=2016&region=London")  # a third distinct slide: the queue is full
        assert time.monotonic() - t0 < 2
        assert full.status_code == 503 and int(full.headers["Retry-After"]) >= 1
        assert full.headers["Cache-Control"] == "no-store" and full.headers["X-Content-Type-Options"] == "nosniff"
        assert full.mimetype == "text/plain" and "busy" in full.get_data(as_text=True)
        same, out_same = fetch_async(client, "/export.png?year=2016&download=1")  # joins the first render
        wait_for(lambda: queue.waiting == 3)
        crowded = client.get("/export.png?year=2016")  # three requests already wait: refused too
        assert crowded.status_code == 503 and "Retry-After" in crowded.headers
        assert client.get("/healthz").status_code == 200
        fake.release.set()
        for t in (a, b, same):
            t.join(20)
        assert out_a["resp"].status_code == out_same["resp"].status_code == out_b["resp"].status_code == 200
        assert out_a["resp"].data == out_same["resp"].data != out_b["resp"].data
        assert len(fake.calls) == 2, "identical requests rendered more than once, or a refused one was rendered"
        again = client.get("/export.png?year=2016")  # from the cache, without the queue
        assert again.status_code == 200 and again.data == out_a["resp"].data and len(fake.calls) == 2
    finally:
        fake.release.set()
        service._derived.pop("export-queue", None)


def test_a_queued_slide_nobody_waits_for_is_dropped(queue_app) -> None:  # noqa: ANN001
    from dashboard import render
    from dashboard.state import ViewState

    service = queue_app.server.extensions["atlas_service"]
    service.slides.clear()
    fake = FakeSlides()
    queue = render.ExportQueue(service, max_queued=2, wait=0.5, max_waiters=4, make=fake)
    try:
        def first_request() -> None:
            with contextlib.suppress(render.ExportBusy):  # it too stops waiting after 0.5 s; its render goes on
                queue.slide(ViewState(year=2016, view="change"))

        first = threading.Thread(target=first_request, daemon=True)
        first.start()
        fake.wait_calls(1)
        with pytest.raises(render.ExportBusy) as waited:  # queued behind the first, gives up after 0.5 s
            queue.slide(ViewState(year=2015, view="change"))
        assert "not ready within" in str(waited.value) and waited.value.retry_after >= 1
        with pytest.raises(render.ExportBusy):  # a client that has gone stops waiting at once
            queue.slide(ViewState(year=2015, imd=(1, 2)), gone=lambda: True)
        assert queue.queued == 0 and queue.dropped == 2
        fake.release.set()
        first.join(10)
        wait_for(lambda: not queue.info()["rendering"])
        assert len(fake.calls) == 1, "a slide nobody waited for was rendered"
        assert queue.cancelled == 0 and not fake.cancelled, "a render whose client only timed out was stopped"
        key = render.cache_key(service, ViewState(year=2016, view="change"), "png", 1920, 1080)
        assert service.slides.get(key) is not None, "the timed-out client's slide did not reach the cache"
    finally:
        fake.release.set()


def test_a_render_whose_client_disconnected_is_cancelled(queue_app) -> None:  # noqa: ANN001
    from dashboard import render
    from dashboard.state import ViewState

    service = queue_app.server.extensions["atlas_service"]
    service.slides.clear()
    fake = FakeSlides()
    queue = render.ExportQueue(service, max_queued=2, wait=20, max_waiters=4, make=fake)
    state = ViewState(year=2015, regions=("London",))
    left = threading.Event()
    try:
        out: dict[str, BaseException] = {}

        def leaving_client() -> None:
            try:
                queue.slide(state, gone=left.is_set)
            except render.ExportBusy as exc:
                out["error"] = exc

        t = threading.Thread(target=leaving_client, daemon=True)
        t.start()
        fake.wait_calls(1)  # rendering now
        left.set()  # ... and its only client disconnects
        t.join(10)
        assert "went away" in str(out["error"])
        wait_for(lambda: not queue.info()["rendering"])
        assert fake.cancelled == [state] and queue.cancelled == 1, "the render went on for nobody"
        key = render.cache_key(service, state, "png", 1920, 1080)
        assert service.slides.get(key) is None
        fake.release.set()  # a new request for the same slide starts it again and gets it
        assert queue.slide(state).startswith(b"\x89PNG") and len(fake.calls) == 2
    finally:
        fake.release.set()


# ---------------------------------------------------------------------------------------------------------------
# /export.png on the real server, with Chromium


@needs_chromium
def test_real_server_refuses_a_second_slide_while_one_renders(atlas_dir: Path,
                                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    """One worker, no queue beyond the slide rendering: of two distinct slides asked at once, one is rendered
    and the other refused at once with 503 and Retry-After; /healthz answers meanwhile."""
    with serve(atlas_dir, tmp_path_factory.mktemp("export-server"), WORKERS="1", EXPORT_QUEUE="0") as srv:
        results: dict[str, tuple[int, dict[str, str], bytes, float]] = {}

        def ask(name: str, path: str) -> None:
            t0 = time.monotonic()
            status, headers, body = get(srv.port, path, timeout=120)
            results[name] = (status, headers, body, time.monotonic() - t0)

        threads = [threading.Thread(target=ask, args=(n, p), daemon=True)
                   for n, p in (("a", "/export.png?year=2016"), ("b", "/export.png?year=2015"))]
        for t in threads:
            t.start()
        wait_for(lambda: len(results) >= 1, timeout=60)
        t0 = time.monotonic()
        assert get(srv.port, "/healthz", timeout=2)[0] == 200 and time.monotonic() - t0 < 2
        for t in threads:
            t.join(120)
        statuses = sorted(r[0] for r in results.values())
        assert statuses == [200, 503], {k: (v[0], v[2][:200]) for k, v in results.items()}
        ok = next(r for r in results.values() if r[0] == 200)
        refused = next(r for r in results.values() if r[0] == 503)
        assert ok[2][:8] == b"\x89PNG\r\n\x1a\n"
        assert refused[3] < 5, f"the refusal took {refused[3]:.1f} s"
        assert int(refused[1]["retry-after"]) >= 1
        check_app_headers(refused[1])
        assert b"busy" in refused[2]


# ---------------------------------------------------------------------------------------------------------------
# The page's download button


@pytest.mark.browser
@needs_chromium
def test_download_button_shows_a_refusal_and_saves_the_slide(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            ctx = browser.new_context(accept_downloads=True)
            page = ctx.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/?year=2015&area_team=London", wait_until="networkidle")
            link = page.locator("#export-png")
            link.wait_for()
            page.wait_for_function("() => document.querySelector('#export-png').href.includes('year=2015')")

            busy = "Slide export is busy (3 slides in hand on this server); try again in 7 s."
            page.route("**/export.png*", lambda route: route.fulfill(
                status=503, body=busy + "\n", content_type="text/plain", headers={"Retry-After": "7"}))
            link.click()
            status = page.locator("#export-png-status[role=status]")
            status.wait_for()
            page.wait_for_function("() => document.querySelector('#export-png-status').dataset.state"
                                   " === 'busy-refused'")
            assert status.inner_text() == busy
            assert page.evaluate("() => document.querySelector('#export-png').nextElementSibling.id") \
                == "export-png-status"

            page.unroute("**/export.png*")
            name = link.get_attribute("download")
            with page.expect_download(timeout=90_000) as dl:
                link.click()
            assert dl.value.suggested_filename == name and name.endswith(".png")
            with open(dl.value.path(), "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n"
            page.wait_for_function("() => document.querySelector('#export-png-status').dataset.state === 'ok'")
            # Chromium logs every failed load, the 503 above included; nothing else may be logged.
            assert [e for e in errors if "status of 503" not in e] == [], errors
        finally:
            browser.close()


class _SetAfterFirstLook(threading.Event):
    """A cancel flag that reads unset once (so the render starts) and set from then on (while Chromium draws)."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def is_set(self) -> bool:
        self.looks += 1
        return self.looks > 1


@needs_chromium
def test_cancelling_a_render_stops_it_and_the_browser_draws_the_next(service) -> None:  # noqa: ANN001
    """The cancel path in Chromium: the render stops within a poll and the same browser (no relaunch) then
    draws the next slide whole (the abandoned page is reloaded, not reused)."""
    from dashboard import render
    from dashboard.slide import slide_figure
    from dashboard.state import ViewState

    fig = slide_figure(service.view(ViewState(year=2016)), width=1600, height=900)
    with render.Renderer(CHROMIUM) as r:
        r.render(fig, width=1600, height=900)  # warm: the browser is up
        launches = r.launches
        cancel = _SetAfterFirstLook()
        t0 = time.monotonic()
        with pytest.raises(render.RenderCancelled):
            r.render(fig, width=1600, height=900, cancel=cancel)
        assert time.monotonic() - t0 < 1.5 and cancel.looks >= 2
        data = r.render(fig, width=1600, height=900)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and r.launches == launches
        assert r.renders == 2, "the cancelled render was counted as drawn"
