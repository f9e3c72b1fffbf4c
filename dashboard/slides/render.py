"""Slides as PNG, SVG or PDF bytes: one warm Chromium per process (through kaleido) and a small cache.

Kaleido 1.x renders in a real browser. Starting one costs seconds, so a :class:`Renderer` keeps a single
``kaleido.Kaleido`` (one Chromium) open on a private asyncio loop in a daemon thread, started lazily on the
first render, and serialises renders with a lock, so it is safe from Flask's threads. Each process (each
gunicorn worker) gets its own browser: the renderer notices a fork by its process id and starts afresh.
Kaleido's own ``start_sync_server`` singleton is not used: its call queue is not safe for concurrent callers
and it waits forever if the browser failed to start. Kaleido reloads its page after every render (about a
third of a slide's CPU); here the page is reused and reloaded every ``RELOAD_EVERY`` renders (the output is
byte-identical). :meth:`Renderer.render_many` pipelines a batch: the next figure is built in Python while the
browser draws, with up to ``tabs`` pages drawing at once.

Chromium runs headless with ``--no-sandbox --disable-gpu --disable-component-update`` (choreographer's
defaults when not sandboxed) plus ``--disable-background-networking`` and a host-resolver rule that resolves no
name (nothing leaves the machine, see ``EXTRA_FLAGS``); the map is SVG paths (a ``geo`` subplot), so no WebGL is
needed. MathJax is disabled, so nothing is fetched from a CDN.

Without a browser, :class:`RendererUnavailable` says what to install instead of a stack trace (the CLI prints it and
exits 3; ``/export.png`` logs it and answers 503, ``Retry-After``, with its ``user_text``). :func:`slide_bytes` is
what ``/export.png`` calls: a thread-safe, bounded LRU (:class:`SlideCache`, one per
:class:`dashboard.service.AtlasService`) keyed on the atlas build, the view, the format and the size serves repeats,
and concurrent requests for the same slide render it once.

``/export.png`` and its siblings go through :mod:`dashboard.slides.queue` (one bounded queue per service, so
per gunicorn worker), which calls :func:`slide_bytes` from a thread of its own.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Coroutine, Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dashboard.caching import BytesLRU
from dashboard.clustering_summary import cluster_table
from dashboard.slides.slide import slide_figure
from dashboard.state import ViewState

if TYPE_CHECKING:
    from dashboard.service import AtlasService

INSTALL_HINT = ("install Chromium with `apt-get install chromium` (Debian/Ubuntu; `make chromium` does it), "
                "or set BROWSER_PATH to a Chrome or Chromium executable")
FORMATS = ("png", "svg", "pdf")  # what Kaleido renders; svg and pdf hold the map as vector paths
MIMETYPES = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
MIN_SIDE, MAX_SIDE = 160, 4096
START_TIMEOUT = 60.0
RENDER_TIMEOUT = 120.0
CANCEL_POLL = 0.1  # seconds between looks at a render's cancel flag
# No host name resolves in the renderer's browser, so nothing it asks for leaves the machine: a slide needs no
# network (plotly.js is loaded from a file, MathJax is off, the slide's maps draw no base topojson), and Debian's
# Chromium otherwise calls Google's update, time and account services and preconnects to its search engine.
EXTRA_FLAGS = ("--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND")


class RendererUnavailable(RuntimeError):
    """No slide can be rendered here (no browser, or it will not start or keeps failing); the message says what
    the operator should do, ``user_text`` what the person asking for the slide reads (a 503 with
    ``retry_after``)."""

    user_text = ("Slide export is not available on this server at the moment; the map, charts and table on the "
                 "page still work. Please try the download again later.")
    retry_after = 600  # an operator has to install or fix the browser


class RenderCancelled(Exception):
    """The render was stopped because nobody waits for its slide any more (every requester left)."""


class RenderFailed(RendererUnavailable):
    """The browser started but a render failed or timed out (twice, with a fresh browser in between)."""

    user_text = "The slide could not be made just now. Please try the download again in a minute."
    retry_after = 60  # the next request starts a fresh browser


RELOAD_EVERY = 16  # kaleido reloads its page after every render (~1.3 s of CPU); we do it every N renders


def _kaleido_class() -> type:
    import kaleido

    class SlideKaleido(kaleido.Kaleido):
        """Kaleido that reuses its page between renders and reloads it only every RELOAD_EVERY renders."""

        _since_reload = 0

        async def _return_kaleido_tab(self, tab: Any) -> None:
            self._since_reload += 1
            if self._since_reload >= RELOAD_EVERY or not hasattr(tab, "js_logger"):
                self._since_reload = 0
                await super()._return_kaleido_tab(tab)
                return
            tab.js_logger.reset()  # what a reload does besides reloading: drop the console log
            await self.tabs_ready.put(tab)

    return SlideKaleido


def figure_dict(fig: Any) -> dict:
    """The figure as a plain dict for kaleido without to_dict's deep copy of the geometry (~0.25 s)."""
    data, layout = getattr(fig, "_data", None), getattr(fig, "_layout", None)
    if isinstance(data, list) and isinstance(layout, dict):
        return {"data": data, "layout": layout}
    return fig.to_dict() if hasattr(fig, "to_dict") else fig


def _browser_class(nice: int = 0) -> type:
    """Chromium with the extra flags; with ``nice`` > 0, started through ``nice -n`` (its processes inherit it)."""
    import shutil

    from choreographer.browsers.chromium import Chromium

    prefix = ["nice", "-n", str(min(19, nice))] if nice > 0 and shutil.which("nice") else []

    class SlideChromium(Chromium):
        def get_cli(self):  # noqa: ANN202
            return [*prefix, *super().get_cli(), *EXTRA_FLAGS]

    return SlideChromium


_RENDERERS: weakref.WeakSet[Renderer] = weakref.WeakSet()  # fork bookkeeping, not a cache
_CACHES: weakref.WeakSet[SlideCache] = weakref.WeakSet()


class Renderer:
    """One browser for many renders; lazy, thread-safe, fork-aware. Use as a context manager in scripts."""

    def __init__(self, browser_path: str | None = None, timeout: float = RENDER_TIMEOUT, tabs: int = 1) -> None:
        self.browser_path = browser_path
        self.timeout = timeout
        self.tabs = max(1, int(tabs))  # pages in the browser; render_many keeps this many renders in flight
        self.launches = 0  # browsers started by this renderer (a batch should show 1)
        self.renders = 0
        self.last_start_seconds: float | None = None
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido: Any = None
        #: Niceness of the browser's processes (0: as this process). The server's export queue sets it, so
        #: Chromium yields the CPU to the page and callbacks when the machine is busy (POSIX ``nice``).
        self.nice = 0
        _RENDERERS.add(self)

    def _forget(self) -> None:
        """After a fork: the parent's browser, loop thread and lock state are not this process's."""
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._loop = self._thread = self._kaleido = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._kaleido is not None and self._pid == os.getpid()

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float, cancel: threading.Event | None = None) -> Any:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    return future.result(CANCEL_POLL if cancel is not None else timeout)
                except FutureTimeout:
                    if cancel is None or time.monotonic() >= deadline:
                        raise
                    if cancel.is_set():
                        self._reload_next()
                        raise RenderCancelled("nobody waits for this slide") from None
        except BaseException:
            future.cancel()
            raise

    def _reload_next(self) -> None:
        """The next returned page is reloaded (not reused), which ends whatever it was still drawing."""
        if self._kaleido is not None and hasattr(self._kaleido, "_since_reload"):
            self._kaleido._since_reload = RELOAD_EVERY

    def start(self) -> None:
        """Start the browser now (otherwise the first render does)."""
        with self._lock:
            if self._pid != os.getpid():  # forked without the at-fork hook (should not happen)
                self._forget()
            if self._kaleido is not None:
                return
            try:
                from choreographer.errors import BrowserDepsError, BrowserFailedError, ChromeNotFoundError

                kaleido_cls = _kaleido_class()
            except ImportError as exc:  # pragma: no cover - kaleido is a pinned requirement
                raise RendererUnavailable(f"slide export needs the kaleido package ({exc})") from exc
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="slide-renderer", daemon=True)
                self._thread.start()

            async def open_browser() -> Any:
                kwargs: dict[str, Any] = {"n": self.tabs, "mathjax": False, "timeout": self.timeout,
                                          "browser_cls": _browser_class(self.nice)}
                if self.browser_path:
                    kwargs["path"] = self.browser_path
                k = kaleido_cls(**kwargs)
                try:
                    await k.open()
                except BaseException:
                    await _quiet_close(k)
                    raise
                return k

            t0 = time.perf_counter()
            try:
                self._kaleido = self._run(open_browser(), START_TIMEOUT)
            except ChromeNotFoundError as exc:
                path = self.browser_path or os.environ.get("BROWSER_PATH")
                where = f" at {path}" if path else ""
                raise RendererUnavailable(f"no Chrome or Chromium browser found{where}: {INSTALL_HINT}") from exc
            except (BrowserFailedError, BrowserDepsError, FutureTimeout, OSError) as exc:
                raise RendererUnavailable(f"Chromium would not start ({type(exc).__name__}): {INSTALL_HINT}") from exc
            self.launches += 1
            self.last_start_seconds = time.perf_counter() - t0

    def close(self) -> None:
        """Close the browser and stop the loop thread (safe to call twice; a later render starts again)."""
        with self._lock:
            if self._pid != os.getpid():
                self._forget()
                return
            if self._kaleido is not None and self._loop is not None:
                try:
                    self._run(_quiet_close(self._kaleido), 20)
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
            self._kaleido = None
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                if self._thread is not None:
                    self._thread.join(5)
                if not self._loop.is_running():
                    self._loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> Renderer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rendering -------------------------------------------------------------------------------------------

    def render(self, fig: Any, fmt: str = "png", width: int = 1920, height: int = 1080,
               cancel: threading.Event | None = None) -> bytes:
        """Bytes of the figure as PNG, SVG or PDF at exactly width x height pixels (scale 1).

        ``cancel`` set while the browser draws stops the render (:class:`RenderCancelled`): its page is reloaded
        before the next render, so the browser drops the abandoned drawing instead of finishing it.
        """
        check_size(fmt, width, height)
        spec = figure_dict(fig)
        opts = {"format": fmt, "width": width, "height": height, "scale": 1}
        with self._lock:
            for attempt in (1, 2):
                if cancel is not None and cancel.is_set():
                    raise RenderCancelled("nobody waits for this slide")
                self.start()
                try:
                    data = self._run(self._kaleido.calc_fig(spec, opts=opts), self.timeout + 5, cancel)
                except RenderCancelled:
                    raise
                except Exception as exc:  # noqa: BLE001 - any browser-side failure: restart once
                    self.close()
                    if attempt == 2:
                        raise RenderFailed(f"slide rendering failed twice ({type(exc).__name__}: {exc}); "
                                           f"if Chromium is broken, reinstall it: {INSTALL_HINT}") from exc
                    continue
                self.renders += 1
                return bytes(data)
        raise AssertionError("unreachable")


    def render_many(self, figs: Iterable[Any], fmt: str = "png", width: int = 1920,
                    height: int = 1080) -> Iterator[bytes]:
        """Render figures in this one browser, yielding bytes in order. ``figs`` may be a lazy iterable: the
        next figure is built while the browser draws the current one (and up to ``tabs`` are drawn at once).
        A failed render is retried once through :meth:`render` (with a fresh browser). For one thread."""
        check_size(fmt, width, height)
        opts = {"format": fmt, "width": width, "height": height, "scale": 1}
        pending: deque[tuple[Any, Future]] = deque()
        for fig in figs:
            if len(pending) >= self.tabs:
                yield self._finish(*pending.popleft(), fmt, width, height)
            with self._lock:
                self.start()
                future = asyncio.run_coroutine_threadsafe(self._kaleido.calc_fig(figure_dict(fig), opts=opts),
                                                          self._loop)
            pending.append((fig, future))
        while pending:
            yield self._finish(*pending.popleft(), fmt, width, height)

    def _finish(self, fig: Any, future: Future, fmt: str, width: int, height: int) -> bytes:
        try:
            data = future.result(self.timeout + 5)
        except Exception:  # noqa: BLE001 - retried with a fresh browser, which raises if it fails again
            future.cancel()
            with self._lock:
                self.close()
            return self.render(fig, fmt, width, height)
        with self._lock:
            self.renders += 1
        return bytes(data)


async def _quiet_close(k: Any) -> None:
    try:
        await asyncio.wait_for(k.close(), 15)
    except Exception:  # noqa: BLE001 - the browser may already be gone
        pass


def check_size(fmt: str, width: int, height: int) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, int) or isinstance(v, bool) or not MIN_SIDE <= v <= MAX_SIDE:
            raise ValueError(f"{name} must be a whole number of pixels from {MIN_SIDE} to {MAX_SIDE}, not {v!r}")


# ------------------------------------------------------------------------------------------------------------
# The process's renderer and slide cache
# ------------------------------------------------------------------------------------------------------------

@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    renders: int = 0


class SlideCache:
    """A thread-safe LRU of rendered slides, bounded by entries and bytes; one render per key at a time."""

    def __init__(self, max_entries: int = 48, max_bytes: int = 64 * 2**20) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.stats = CacheStats()
        self._store = BytesLRU(max_bytes, max_entries)
        self._lock = threading.Lock()
        self._inflight: dict[tuple, threading.Lock] = {}
        _CACHES.add(self)

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key: tuple) -> bytes | None:
        return self._store.get(key)

    def put(self, key: tuple, data: bytes) -> None:
        self._store.put(key, data)

    def clear(self) -> None:
        with self._lock:
            self._store.clear()
            self.stats = CacheStats()

    def _hit(self, key: tuple) -> bytes | None:
        data = self.get(key)
        if data is not None:
            with self._lock:
                self.stats.hits += 1
        return data

    def lookup(self, key: tuple) -> bytes | None:
        """The cached bytes for key (counted as a hit), or None."""
        return self._hit(key)

    def get_or_make(self, key: tuple, make: Any) -> bytes:
        """The cached bytes for key, or make() them once even when several threads ask at the same time.

        The in-flight gate is dropped only after the result is in the cache, so a thread arriving in between
        finds either the gate (and waits for the result) or the result itself, never a gap that renders twice.
        """
        data = self._hit(key)
        if data is not None:
            return data
        with self._lock:
            gate = self._inflight.setdefault(key, threading.Lock())
        with gate:
            data = self._hit(key)  # another thread may have made it while this one waited
            if data is not None:
                return data
            with self._lock:
                self.stats.misses += 1
            try:
                data = make()
                self.put(key, data)
                with self._lock:
                    self.stats.renders += 1
            finally:
                with self._lock:
                    if self._inflight.get(key) is gate:
                        del self._inflight[key]
            return data


def _after_fork_in_child() -> None:
    """A forked worker (gunicorn) starts its own browser on its first slide, with fresh locks."""
    for r in list(_RENDERERS):
        r._forget()
    for c in list(_CACHES):
        c._lock = threading.Lock()
        c._inflight = {}
        c._store._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def cache_key(service: AtlasService, state: ViewState, fmt: str, width: int, height: int) -> tuple:
    """Everything a slide depends on: the atlas build, the view (not its notices), format and size."""
    return (service.build_id, state, fmt, width, height)


def release_memory() -> None:
    """Hand the megabytes a slide's figure JSON used back to the OS, so a worker's resident size stays flat."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def slide_cache(service: AtlasService) -> SlideCache:
    """The service's slide cache (one per atlas service, made on first use)."""
    return service.derived("slides.cache", SlideCache)


def renderer_for(service: AtlasService) -> Renderer:
    """The service's slide renderer (one Chromium per atlas service, started on first use, closed with it)."""
    def start() -> Renderer:
        r = Renderer()
        service.on_close(r.close)
        return r

    return service.derived("slides.renderer", start)


def cache_info(service: AtlasService) -> dict[str, int]:
    cache = slide_cache(service)
    r = service.peek("slides.renderer")
    return {"hits": cache.stats.hits, "misses": cache.stats.misses, "renders": cache.stats.renders,
            "entries": len(cache), "browser_launches": r.launches if r else 0}


def slide_bytes(service: AtlasService, state: ViewState, fmt: str = "png", width: int = 1920, height: int = 1080,
                renderer: Renderer | None = None, use_cache: bool = True,
                cancel: threading.Event | None = None) -> bytes:
    """The slide for this view as PNG, SVG or PDF bytes, from the service's cache when the same view was rendered.

    Raises ValueError for a bad format or size, RendererUnavailable when no browser can render it and
    RenderCancelled when ``cancel`` is set before the slide is done (checked before and after building the
    figure, and while the browser draws).
    """
    check_size(fmt, width, height)
    r = renderer or renderer_for(service)

    def make() -> bytes:
        try:
            if cancel is not None and cancel.is_set():
                raise RenderCancelled("nobody waits for this slide")
            marks = cluster_table(service, state) if state.clusters else None
            fig = slide_figure(service.view(state), width=width, height=height, clusters=marks)
            return r.render(fig, fmt=fmt, width=width, height=height, cancel=cancel)
        finally:
            release_memory()

    if not use_cache:
        return make()
    return slide_cache(service).get_or_make(cache_key(service, state, fmt, width, height), make)
