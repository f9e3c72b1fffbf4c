"""Slide exports on the app server (``gunicorn -c gunicorn.conf.py app:server``, as ``make run``) on loopback.

Slow, stalled and malformed clients are nginx's to refuse: ``tests/test_host.py`` attacks the ``make serve`` stack.

- ``/export.png`` has a bounded queue per worker: when full it answers 503 with ``Retry-After`` at once; identical
  requests share one render; a queued slide nobody waits for any more is never rendered.
- The page's "Download slide (PNG)" shows the server's message on a 503 and saves the PNG otherwise.

Every server a test starts listens on 127.0.0.1 on a free port, logs to a file and is stopped in a ``finally``.
Waits are on outcomes, with deadlines.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Server, serve

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                    reason="Debian chromium is not installed (make test installs it)")


# ---------------------------------------------------------------------------------------------------------------
# A server of its own



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


def check_app_headers(headers: dict[str, str]) -> None:
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert "camera=()" in headers["permissions-policy"]
    assert headers["content-type"].startswith("text/plain")


@pytest.fixture(scope="module")
def server(atlas_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app server as ``make run`` starts it, with two workers."""
    with serve(atlas_dir, tmp_path_factory.mktemp("server"), WORKERS="2") as s:
        yield s


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
        from dashboard.slides import render

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
    from dashboard.slides import queue as slide_queue

    service = queue_app.server.extensions["atlas_service"]
    fake = FakeSlides()
    queue = slide_queue.ExportQueue(service, max_queued=1, wait=20, max_waiters=3, make=fake)
    assert service.derived("export-queue", lambda: queue) is queue  # what the route will use
    assert slide_queue.export_queue(service) is queue
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
    from dashboard.slides import queue as slide_queue
    from dashboard.slides import render
    from dashboard.state import ViewState

    service = queue_app.server.extensions["atlas_service"]
    render.slide_cache(service).clear()
    fake = FakeSlides()
    queue = slide_queue.ExportQueue(service, max_queued=2, wait=0.5, max_waiters=4, make=fake)
    try:
        def first_request() -> None:
            with contextlib.suppress(slide_queue.ExportBusy):  # it too stops waiting after 0.5 s; its render goes on
                queue.slide(ViewState(year=2016, view="change"))

        first = threading.Thread(target=first_request, daemon=True)
        first.start()
        fake.wait_calls(1)
        with pytest.raises(slide_queue.ExportBusy) as waited:  # queued behind the first, gives up after 0.5 s
            queue.slide(ViewState(year=2015, view="change"))
        assert "not ready within" in str(waited.value) and waited.value.retry_after >= 1
        with pytest.raises(slide_queue.ExportBusy):  # a client that has gone stops waiting at once
            queue.slide(ViewState(year=2015, imd=(1, 2)), gone=lambda: True)
        assert queue.queued == 0 and queue.dropped == 2
        fake.release.set()
        first.join(10)
        wait_for(lambda: not queue.info()["rendering"])
        assert len(fake.calls) == 1, "a slide nobody waited for was rendered"
        assert queue.cancelled == 0 and not fake.cancelled, "a render whose client only timed out was stopped"
        key = render.cache_key(service, ViewState(year=2016, view="change"), "png", 1920, 1080)
        assert render.slide_cache(service).get(key) is not None, "the timed-out client's slide did not reach the cache"
    finally:
        fake.release.set()


def test_a_render_whose_client_disconnected_is_cancelled(queue_app) -> None:  # noqa: ANN001
    from dashboard.slides import queue as slide_queue
    from dashboard.slides import render
    from dashboard.state import ViewState

    service = queue_app.server.extensions["atlas_service"]
    render.slide_cache(service).clear()
    fake = FakeSlides()
    queue = slide_queue.ExportQueue(service, max_queued=2, wait=20, max_waiters=4, make=fake)
    state = ViewState(year=2015, regions=("London",))
    left = threading.Event()
    try:
        out: dict[str, BaseException] = {}

        def leaving_client() -> None:
            try:
                queue.slide(state, gone=left.is_set)
            except slide_queue.ExportBusy as exc:
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
        assert render.slide_cache(service).get(key) is None
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
    from dashboard.slides import render
    from dashboard.slides.slide import slide_figure
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
