"""Gunicorn settings for serving the atlas: ``make run`` (``gunicorn -c gunicorn.conf.py app:server``) and each app
instance of ``make serve`` (``deploy/serve.py``, behind nginx).

Environment:

- ``HOST`` (default ``127.0.0.1``) and ``PORT`` (default ``8050``): where to listen. Behind a reverse proxy on
  the same machine keep the loopback default; in a container use ``HOST=0.0.0.0``. ``BIND`` (e.g.
  ``unix:/path/app.sock``; comma-separated for several), when set, replaces them: ``make serve`` binds each
  instance to a unix socket that only nginx connects to.
- ``WORKERS``: processes. Default: the CPUs this process may use (2 on a 2-core machine), at most 8. The work is
  CPU-bound Python (pandas filters, plotly JSON), so more processes than cores only adds memory: each worker holds
  the atlas and its caches (about 200-300 MB). In a container with a CPU quota set ``WORKERS`` to the quota.
- ``THREADS`` (default 8): request threads per worker; at most half of them wait on slide exports
  (``EXPORT_WAITERS``).
- ``WORKER_CONNECTIONS`` (default 1000): connections per worker.
- ``TIMEOUT`` (default 60 s), ``LOG_LEVEL`` (default ``info``), ``FORWARDED_ALLOW_IPS`` (proxies trusted for
  ``X-Forwarded-*``; default loopback only), ``MAX_REQUESTS`` (default 100000, 0 to turn off).
- ``REQUEST_TIMEOUT`` and ``CLIENT_TIMEOUT`` are nginx's now (``deploy/nginx.conf``: ``client_header_timeout``,
  ``client_body_timeout``, ``send_timeout``), filled in by ``deploy/serve.py``; gunicorn alone has no such limits.
- Slide exports: ``EXPORT_QUEUE``, ``EXPORT_WAIT``, ``EXPORT_WAITERS`` (``dashboard/slides/render.py``,
  ``docs/deployment.md``).

``preload_app = True``: ``app.py`` reads and checks the atlas at import. Loading it once in the master before
forking means (1) a missing or broken atlas stops the server at start, with one clear error, instead of
workers failing in a loop; (2) workers share the atlas pages copy-on-write, so N workers cost less than N loads;
(3) a worker recycled by ``max_requests`` is forked ready in milliseconds instead of reloading for seconds;
(4) ``on_starting`` below serves the page once and compresses the scripts once, in the master, for all workers.
The price: new code needs a restart (not ``HUP``), and nothing may start threads, subprocesses or sockets at
import time; the slide renderer must start Chromium lazily, inside a worker.

The worker class is gunicorn's stock ``gthread``. It reads a request in the thread that answers it, so on its
own (``make run``) a client that sends half a request holds a thread until it finishes or leaves: fine on a
workstation, not in public. In public (``make serve``) nginx reads every request whole and buffers every answer,
so a thread only ever sees complete requests on a local socket and hands its answer to nginx at once.
"""

from __future__ import annotations

import logging
import os
import sys

# gunicorn reads this file before it puts the working directory on sys.path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

log = logging.getLogger("gunicorn.error")


def int_env(name: str, default: int, lo: int = 0, hi: int = 10_000) -> int:
    """An integer setting from the environment, clamped to ``[lo, hi]``; a non-number is logged and ignored."""
    try:
        value = int(os.environ.get(name, "").strip() or default)
    except ValueError:
        log.warning("%s=%r is not a number; using %d", name, os.environ[name], default)
        value = default
    return max(lo, min(hi, value))


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


bind = ([b.strip() for b in os.environ["BIND"].split(",") if b.strip()] if os.environ.get("BIND", "").strip()
        else [f"{os.environ.get('HOST', '127.0.0.1')}:{int_env('PORT', 8050, 1, 65535)}"])
workers = int_env("WORKERS", min(_cpus(), 8), 1, 64)
threads = int_env("THREADS", 8, 2, 64)
worker_connections = int_env("WORKER_CONNECTIONS", 1000, 16, 10_000)
preload_app = True

timeout = int_env("TIMEOUT", 60, 10, 3600)  # a worker silent this long is restarted
graceful_timeout = 30  # time to finish in-flight requests on restart or shutdown
keepalive = 5  # seconds; keep above 0 so a proxy or browser can reuse connections

# Recycle workers now and then, in case a library leaks; the caches are bounded by bytes (CACHE_MB), so memory does
# not need frequent recycling, and each recycle starts the worker's caches cold.
max_requests = int_env("MAX_REQUESTS", 100_000, 0, 10_000_000)
max_requests_jitter = max_requests // 10  # ... but not all at once

# The request line may hold up to 8190 bytes (a 414 beyond; nginx in front allows 8 KiB as well).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = "-"  # stdout
errorlog = "-"  # stderr
loglevel = os.environ.get("LOG_LEVEL", "info")
# Behind nginx on a unix socket the peer has no address: log the client's, as nginx forwards it.
_client = "%({x-forwarded-for}i)s" if any(b.startswith("unix:") for b in bind) else "%(h)s"
access_log_format = _client + ' %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'

forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "ccg-atlas"
# Several servers may run on one machine (tests, benchmarks): no shared control socket in $HOME.
control_socket_disable = True
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"  # heartbeat files off a possibly slow or read-only disk


def on_starting(server) -> None:  # noqa: ANN001
    """With the app preloaded: finish Dash's first-request set-up and compress scripts before forking, and before
    listening: a socket appears only once the instance can answer at once (behind nginx, a restarting instance
    refuses connections until then, so nginx sends its requests to another instead of queueing them here)."""
    if not server.cfg.preload_app:
        return
    import time

    from dashboard.hosting import security
    from dashboard.robust import prepare
    from dashboard.shares import shares_for

    app = server.app.wsgi()
    count = security.warm(app)
    # The share view's exact counting (about 1-1.6 s of CPU) once here, shared copy-on-write by every worker.
    service = app.extensions["atlas_service"]
    shares_for(service)
    # The robustness panel's sampler, draws, fixed-seed extension and England views (about 3 s of CPU), likewise.
    t0 = time.perf_counter()
    prepare(service)
    server.log.info("warmed: page served once, %d compressed scripts, the share view and the robustness draws and "
                    "England views (%.1f s) shared by the workers", count, time.perf_counter() - t0)


def post_fork(server, worker) -> None:  # noqa: ANN001
    """The worker's effective thread count, for the export queue's default share of it (dashboard/slides/render.py)."""
    os.environ["THREADS"] = str(server.cfg.threads)


worker_class = "gthread"
