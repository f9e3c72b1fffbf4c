"""``/export.png`` and its siblings: admission control for slides rendered on a web worker.

A request never renders: it finds the slide in the service's slide cache, joins a job for the same slide, or
queues one; a full queue or a slide that does not come within the wait is refused (:class:`ExportBusy`), which
the route answers with 503 and ``Retry-After``. The rendering itself is :mod:`dashboard.slides.render`'s.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from dashboard.slides.render import RenderCancelled, cache_key, check_size, renderer_for, slide_bytes, slide_cache
from dashboard.state import ViewState

if TYPE_CHECKING:
    from dashboard.service import AtlasService

_QUEUES: weakref.WeakSet[ExportQueue] = weakref.WeakSet()  # fork bookkeeping, not a cache

class ExportBusy(Exception):
    """No slide now: the queue is full, or the slide did not come within the wait. Says when to try again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Job:
    """One slide to render, shared by every request that asked for it while it was queued or rendering."""

    __slots__ = ("key", "make", "waiters", "started", "done", "cancel", "result", "error")

    def __init__(self, key: tuple, make: Callable[[], bytes]) -> None:
        self.key, self.make = key, make
        self.waiters = 0
        self.started = False
        self.done = threading.Event()
        self.cancel = threading.Event()  # set when its last requester leaves while it renders
        self.result: bytes | None = None
        self.error: BaseException | None = None


def _env_number(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    try:
        value = float(env.get(name, "").strip() or default)
    except ValueError:
        value = default
    return max(lo, min(hi, value))


class ExportQueue:
    """Slides for ``/export.png``, rendered one at a time by a thread of their own, from a bounded queue.

    A request thread never renders: it finds the slide in the cache, or joins the job for the same slide if one
    is queued or rendering (identical requests share one render), or queues a new job, and waits for the result
    for at most ``wait`` seconds. It is refused at once (:class:`ExportBusy`, answered 503 with ``Retry-After``)
    when ``max_queued`` slides are already waiting to render, or when ``max_waiters`` requests of this process are
    already waiting on slides (so most request threads stay free for the page, ``/healthz`` and callbacks). A
    queued job whose every requester gave up waiting (deadline reached, or the client disconnected) is dropped
    unrendered. A render already started is cancelled (:class:`RenderCancelled`) when its last requester
    disconnected, so the browser moves on to slides somebody still waits for; when that requester only ran out
    of ``wait`` it finishes into the cache, so the retry its ``Retry-After`` asks for gets it at once.
    ``make`` (for tests) stands in for the browser: it is called as ``make(state, fmt, width, height, cancel)``
    and should stop with RenderCancelled once ``cancel`` is set.
    """

    def __init__(self, service: AtlasService, max_queued: int = 3, wait: float = 30.0, max_waiters: int = 4,
                 make: Callable[[ViewState, str, int, int, threading.Event], bytes] | None = None,
                 nice: int = 0) -> None:
        self.service = service
        self.max_queued = max(0, int(max_queued))
        self.wait = float(wait)
        self.max_waiters = max(1, int(max_waiters))
        self.nice = nice
        self._make = make
        self.avg_seconds = 4.0  # a warm 1920x1080 slide; updated from each render
        self.rendered = self.refused = self.dropped = self.cancelled = self.timed_out = 0
        self._forget()
        _QUEUES.add(self)

    @classmethod
    def from_env(cls, service: AtlasService, env: Mapping[str, str] | None = None) -> ExportQueue:
        """``EXPORT_QUEUE`` (default 3) slides waiting to render besides the one rendering, per worker;
        ``EXPORT_WAIT`` (default 30 s) the longest a request waits for its slide; ``EXPORT_WAITERS`` (default half
        of ``THREADS``, the request threads per worker) requests waiting on slides at once, per worker;
        ``EXPORT_NICE`` (default 10) added to Chromium's niceness."""
        env = os.environ if env is None else env
        threads = int(_env_number(env, "THREADS", 8, 1, 64))
        return cls(service, max_queued=int(_env_number(env, "EXPORT_QUEUE", 3, 0, 64)),
                   wait=_env_number(env, "EXPORT_WAIT", 30, 1, 600),
                   max_waiters=int(_env_number(env, "EXPORT_WAITERS", max(1, threads // 2), 1, 64)),
                   nice=int(_env_number(env, "EXPORT_NICE", 10, 0, 19)))

    def _forget(self) -> None:
        """New state (also after a fork, from the at-fork hook: the parent's thread and jobs are not this
        process's)."""
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[_Job] = deque()
        self._jobs: dict[tuple, _Job] = {}
        self._waiting = 0
        self._running: _Job | None = None
        self._thread: threading.Thread | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def waiting(self) -> int:
        return self._waiting

    def retry_after(self) -> int:
        """Seconds until the queue has probably moved on: the slides ahead of a new one, plus one."""
        return max(1, min(300, round((len(self._queue) + (self._running is not None) + 1) * self.avg_seconds)))

    def slide(self, state: ViewState, fmt: str = "png", width: int = 1920, height: int = 1080,
              gone: Callable[[], bool] | None = None) -> bytes:
        """The slide's bytes; raises :class:`ExportBusy` (try later) or :class:`RendererUnavailable`.

        ``gone`` is polled while waiting: once it is true (the client disconnected) the request stops waiting.
        """
        check_size(fmt, width, height)
        key = cache_key(self.service, state, fmt, width, height)
        cache = slide_cache(self.service)
        data = cache.lookup(key)
        if data is not None:
            return data
        with self._lock:
            data = cache.get(key)  # rendered between the look-up and the lock
            if data is not None:
                return data
            job = self._jobs.get(key)
            if job is not None and job.cancel.is_set():
                job = None  # its render is being stopped: this request starts the slide again
            ahead = len(self._queue) + (self._running is not None)  # the new slide would wait behind these
            if self._waiting >= self.max_waiters or (job is None and ahead > self.max_queued):
                self.refused += 1
                raise ExportBusy(f"Slide export is busy ({ahead} slides in hand on this server); "
                                 f"try again in {self.retry_after()} s.", self.retry_after())
            if job is None:
                job = _Job(key, lambda: b"")
                job.make = partial(self._render, state, fmt, width, height, job.cancel)
                self._jobs[key] = job
                self._queue.append(job)
                self._start_thread()
                self._wake.notify()
            job.waiters += 1
            self._waiting += 1
        left = False  # the client disconnected (a timed-out client will retry: its render goes on)
        try:
            deadline = time.monotonic() + self.wait
            while not job.done.wait(min(0.25, max(0.0, deadline - time.monotonic()))):
                if gone is not None and gone():
                    left = True
                    raise ExportBusy("The client went away.", self.retry_after())
                if time.monotonic() >= deadline:
                    self.timed_out += 1
                    raise ExportBusy(f"Slide export is busy: the slide was not ready within {self.wait:g} s; "
                                     f"try again in {self.retry_after()} s.", self.retry_after())
        finally:
            with self._lock:
                job.waiters -= 1
                self._waiting -= 1
                if job.waiters == 0 and not job.done.is_set():
                    if not job.started:
                        try:  # nobody waits for it any more: drop it unrendered
                            self._queue.remove(job)
                        except ValueError:
                            pass
                        if self._jobs.get(key) is job:
                            del self._jobs[key]
                        self.dropped += 1
                    elif left and not job.cancel.is_set():
                        job.cancel.set()  # rendering for nobody: stop it
                        self.cancelled += 1
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="slide-export", daemon=True)
            self._thread.start()

    def _render(self, state: ViewState, fmt: str, width: int, height: int, cancel: threading.Event) -> bytes:
        if self._make is not None:
            return self._make(state, fmt, width, height, cancel)
        renderer = renderer_for(self.service)
        if self.nice and not renderer.running:
            renderer.nice = self.nice
        return slide_bytes(self.service, state, fmt=fmt, width=width, height=height, renderer=renderer,
                           use_cache=False, cancel=cancel)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    self._wake.wait()
                job = self._queue.popleft()
                job.started = True
                self._running = job
            t0 = time.perf_counter()
            try:
                job.result = slide_cache(self.service).get_or_make(job.key, job.make)
            except RenderCancelled as exc:
                job.error = exc  # nobody is left to hand it to; the slide is not cached
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting requests
                job.error = exc
            else:
                seconds = time.perf_counter() - t0
                self.avg_seconds = 0.7 * self.avg_seconds + 0.3 * seconds if self.rendered else seconds
                self.rendered += 1
            with self._lock:
                self._running = None
                if self._jobs.get(job.key) is job:
                    del self._jobs[job.key]
            job.done.set()

    def info(self) -> dict[str, Any]:
        """Counters and settings, for logs, benchmarks and tests."""
        return {"queued": len(self._queue), "rendering": self._running is not None, "waiting": self._waiting,
                "max_queued": self.max_queued, "max_waiters": self.max_waiters, "wait_s": self.wait,
                "rendered": self.rendered, "refused": self.refused, "dropped": self.dropped,
                "cancelled": self.cancelled,
                "timed_out": self.timed_out, "avg_render_s": round(self.avg_seconds, 2)}


def export_queue(service: AtlasService) -> ExportQueue:
    """The service's export queue (one per service, so one per worker process), made from the environment."""
    return service.derived("export-queue", lambda: ExportQueue.from_env(service))


def _after_fork_in_child() -> None:
    """A forked worker starts with no render thread and fresh locks in each queue."""
    for q in list(_QUEUES):
        q._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
