"""Gunicorn settings for serving the atlas (``make run``: ``gunicorn -c gunicorn.conf.py app:server``).

Environment:

- ``HOST`` (default ``127.0.0.1``) and ``PORT`` (default ``8050``): where to listen. Behind a reverse proxy on
  the same machine keep the loopback default; in a container use ``HOST=0.0.0.0``.
- ``WORKERS``: processes. Default: the CPUs this process may use (2 on a 2-core machine), at most 8. The work is
  CPU-bound Python (pandas filters, plotly JSON), so more processes than cores only adds memory: each worker holds
  the atlas and its caches (about 200-300 MB). In a container with a CPU quota set ``WORKERS`` to the quota.
- ``THREADS`` (default 8): request threads per worker. A thread is taken only by a request that has fully
  arrived (see :class:`AtlasWorker`); at most half of them wait on slide exports (``EXPORT_WAITERS``).
- ``REQUEST_TIMEOUT`` (default 10 s): a request must arrive whole (line, headers and body) within this time of
  its first byte, else it is answered 408 and closed. A connection may sit idle for ``keepalive`` (5 s).
- ``CLIENT_TIMEOUT`` (default 30 s): the longest a request thread waits on a client that stops reading its
  response; the connection is then closed.
- ``WORKER_CONNECTIONS`` (default 1000): connections per worker; at the limit the oldest idle or incomplete
  connection is closed to admit a new one.
- ``TIMEOUT`` (default 60 s), ``LOG_LEVEL`` (default ``info``), ``FORWARDED_ALLOW_IPS`` (proxies trusted for
  ``X-Forwarded-*``; default loopback only), ``MAX_REQUESTS`` (default 5000, 0 to turn off).
- Slide exports: ``EXPORT_QUEUE``, ``EXPORT_WAIT``, ``EXPORT_WAITERS`` (``dashboard/render.py``,
  ``docs/deployment.md``).

``preload_app = True``: ``app.py`` reads and checks the atlas at import. Loading it once in the master before
forking means (1) a missing or broken atlas stops the server at start, with one clear error, instead of
workers failing in a loop; (2) workers share the atlas pages copy-on-write, so N workers cost less than N loads;
(3) a worker recycled by ``max_requests`` is forked ready in milliseconds instead of reloading for seconds;
(4) ``when_ready`` below serves the page once and compresses the scripts once, in the master, for all workers.
The price: new code needs a restart (not ``HUP``), and nothing may start threads, subprocesses or sockets at
import time; the slide renderer must start Chromium lazily, inside a worker.

The worker class is :class:`dashboard.http_worker.AtlasWorker`: ``gthread`` whose event loop reads every
request whole before a request thread sees it, so slow or idle clients cost no thread. It also answers
gunicorn's own errors (400, 408, 414, 431, ...) with the app's headers and one line of text.
"""

from __future__ import annotations

import os
import sys

# gunicorn reads this file before it puts the working directory on sys.path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dashboard.http_worker import (  # noqa: E402
    BODY_LIMIT,
    BUFFER_BUDGET,
    CLIENT_TIMEOUT,
    HEAD_LIMIT,
    LINE_LIMIT,
    REQUEST_TIMEOUT,
    AtlasWorker,
    int_env,
)

# The worker's limits, read from the environment by dashboard/http_worker.py, named here for readers and tests.
__all__ = ["BODY_LIMIT", "BUFFER_BUDGET", "CLIENT_TIMEOUT", "HEAD_LIMIT", "LINE_LIMIT", "REQUEST_TIMEOUT"]


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{int_env('PORT', 8050, 1, 65535)}"]
workers = int_env("WORKERS", min(_cpus(), 8), 1, 64)
threads = int_env("THREADS", 8, 2, 64)
worker_connections = int_env("WORKER_CONNECTIONS", 1000, 16, 10_000)
preload_app = True

timeout = int_env("TIMEOUT", 60, 10, 3600)  # a worker silent this long is restarted
graceful_timeout = 30  # time to finish in-flight requests on restart or shutdown
keepalive = 5  # seconds; keep above 0 so a proxy or browser can reuse connections

max_requests = int_env("MAX_REQUESTS", 5000)  # recycle workers to bound memory growth ...
max_requests_jitter = max_requests // 10  # ... but not all at once

# The request line may hold up to 8190 bytes (a 414 beyond); the whole head at most HEAD_LIMIT bytes (a 431
# beyond): see dashboard/http_worker.py.
limit_request_line = LINE_LIMIT
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = "-"  # stdout
errorlog = "-"  # stderr
loglevel = os.environ.get("LOG_LEVEL", "info")
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'

forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "ccg-atlas"
# Several servers may run on one machine (tests, benchmarks): no shared control socket in $HOME.
control_socket_disable = True
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"  # heartbeat files off a possibly slow or read-only disk


def when_ready(server) -> None:  # noqa: ANN001
    """With the app preloaded: finish Dash's first-request set-up and compress scripts before forking."""
    if not server.cfg.preload_app:
        return
    from dashboard import security

    count = security.warm(server.app.wsgi())
    server.log.info("warmed: page served once, %d compressed scripts shared by the workers", count)


def post_fork(server, worker) -> None:  # noqa: ANN001
    """The worker's effective thread count, for the export queue's default share of it (dashboard/render.py)."""
    os.environ["THREADS"] = str(server.cfg.threads)


worker_class = AtlasWorker
