"""One way to start the production server from Python, for the tests, the benchmarks and ``docs/screenshots.py``.

Two configurations, as a user starts them:

- ``"run"``: gunicorn with ``gunicorn.conf.py`` (``make run``);
- ``"serve"``: ``deploy/serve.py``, nginx in front of two gunicorn instances (``make serve``), with a fresh serve
  folder under /tmp that nginx's workers may enter.

Either listens on a free loopback port; :func:`start` returns once ``/healthz`` answers 200 (polled, and woken at
once if the server exits first); the server's output goes to a log file, never to a pipe nobody reads (it would
fill and block the server); a failed start raises :class:`ServerFailed` with the end of that log. Stopping sends
SIGTERM to the server (gunicorn's graceful stop; ``serve.py`` stops nginx, then the instances), then SIGKILL to
whatever is left of its process group (a worker's Chromium, or everything after the grace period).

Why here and not in ``dashboard/``: it starts ``deploy/serve.py`` and ``gunicorn.conf.py`` from a checkout, and the
image (``Dockerfile``) ships neither ``deploy/`` nor the tests. Import it as ``from deploy import launch`` with the
repository root on ``sys.path``. Standard library only, so every benchmark can use it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from deploy.serve import answers_healthz  # the one readiness check, shared with make serve's supervisor

ROOT = Path(__file__).resolve().parents[1]
Kind = Literal["run", "serve"]
# Settings of the caller's shell that would change what is served or where: the launcher sets HOST and PORT itself.
DROPPED = ("DASH_DEBUG", "FRAME_ANCESTORS", "BIND", "SERVE_DIR")
LIMITS = {"run": 120.0, "serve": 180.0}  # seconds to the first /healthz: the atlas load, the page warm-up


class ServerFailed(RuntimeError):
    """The server exited before it answered ``/healthz``, or did not answer in time; the message ends with its log.

    ``server`` is the (stopped) server, for its log file and exit status.
    """

    def __init__(self, message: str, server: Server) -> None:
        super().__init__(message)
        self.server = server


def free_port() -> int:
    """A loopback TCP port free at the moment of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_gone(pgid: int, limit: float = 10.0) -> bool:
    """Wait (up to ``limit`` s) until no process is left in group ``pgid``; whether none is.

    Call it once the leader is reaped: the members left were orphaned to init, which reaps them as they end.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return True
        time.sleep(0.02)  # a process that is not our child sends us no signal when it ends
    return False


@dataclass
class Server:
    """A running server: its port, its log file, its process (the leader of its own process group)."""

    port: int
    log: Path
    proc: subprocess.Popen[bytes]
    kind: Kind = "run"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]

    def stop(self, grace: float = 60.0) -> int | None:
        """SIGTERM to the server, up to ``grace`` s for it to stop, then SIGKILL to what is left of its group.

        Returns the server's exit status (None if it had to be killed). Safe to call twice.
        """
        status: int | None = self.proc.poll()
        if status is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                status = self.proc.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left; the leader too if it outlived the grace
        self.proc.wait(timeout=30)
        group_gone(self.proc.pid)
        return status


@dataclass
class Stack(Server):
    """``make serve`` started by :func:`start`: nginx on ``port``; the instances' pid files, logs in ``serve_dir``."""

    serve_dir: Path = field(default_factory=Path)

    def instance_pid(self, index: int) -> int:
        """The gunicorn master of instance ``index`` (from its pid file)."""
        return int((self.serve_dir / "run" / f"app-{index}.pid").read_text().strip())

    def nginx_log(self, name: str = "error.log") -> str:
        path = self.serve_dir / "logs" / name
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, grace: float = 60.0) -> int | None:
        try:
            return super().stop(grace)
        finally:
            shutil.rmtree(self.serve_dir, ignore_errors=True)


def healthy(port: int, timeout: float = 2.0) -> bool:
    """Whether ``/healthz`` on the loopback ``port`` answers 200 within ``timeout`` s."""
    return answers_healthz(http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))


def wait_healthy(server: Server, limit: float) -> None:
    """Return when ``/healthz`` answers 200; raise :class:`ServerFailed` (with the log's end) if the server exits
    first or ``limit`` s pass. Between probes it waits on the process, so an exit is seen at once."""
    deadline = time.monotonic() + limit
    while not healthy(server.port):
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(timeout=0.1)
        if server.proc.returncode is not None:
            raise ServerFailed(f"{server.kind} exited with status {server.proc.returncode} before answering "
                               f"/healthz; its log {server.log} ends:\n{server.log_tail()}", server)
        if time.monotonic() > deadline:
            raise ServerFailed(f"{server.kind} did not answer /healthz within {limit:.0f} s; its log {server.log} "
                               f"ends:\n{server.log_tail()}", server)


def command(kind: Kind) -> list[str]:
    """The command ``make run`` or ``make serve`` runs, with this interpreter's environment."""
    if kind == "serve":
        return [sys.executable, "deploy/serve.py"]
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    return [gunicorn, "-c", "gunicorn.conf.py", "app:server"]


def start(kind: Kind = "run", atlas_dir: Path | None = None, log_dir: Path | None = None,
          limit: float | None = None, root: Path = ROOT, **env: str) -> Server:
    """Start ``make run`` (``kind="run"``) or ``make serve`` (``"serve"``) on a free loopback port and return once it
    answers ``/healthz``; the caller stops it (:meth:`Server.stop`), or use :func:`serve` / :func:`serve_stack`.

    ``atlas_dir`` sets ``CCG_ATLAS_DIR`` (default: the caller's, else ``build/atlas``); ``log_dir`` holds the log
    (default: a new temporary folder, kept for reading after the run); ``env`` adds or overrides settings
    (``WORKERS="1"``); ``root`` is the checkout to serve (another one for a before-and-after benchmark). A failed
    start stops what was started and raises :class:`ServerFailed`.
    """
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    full_env.update(HOST="127.0.0.1", PORT=str(port))
    if atlas_dir is not None:
        full_env["CCG_ATLAS_DIR"] = str(atlas_dir)
    serve_dir = None
    if kind == "serve":
        serve_dir = Path(tempfile.mkdtemp(prefix="ccg-serve-"))
        os.chmod(serve_dir, 0o755)  # nginx's workers (nobody, when started as root) reach the sockets through it
        full_env["SERVE_DIR"] = str(serve_dir)
    full_env.update(env)
    log_dir = Path(tempfile.mkdtemp(prefix="ccg-server-")) if log_dir is None else log_dir
    log_path = log_dir / f"{kind}-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command(kind), cwd=root, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = (Stack(port, log_path, proc, kind, serve_dir=serve_dir) if serve_dir is not None
              else Server(port, log_path, proc, kind))
    try:
        wait_healthy(server, LIMITS[kind] if limit is None else limit)
    except BaseException:
        server.stop(grace=30)
        raise
    return server


@contextlib.contextmanager
def serve(atlas_dir: Path | None = None, log_dir: Path | None = None, **env: str) -> Iterator[Server]:
    """``make run`` (gunicorn with ``gunicorn.conf.py``) on a free loopback port until the block ends."""
    server = start("run", atlas_dir, log_dir, **env)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def serve_stack(atlas_dir: Path | None = None, log_dir: Path | None = None, **env: str) -> Iterator[Stack]:
    """``make serve`` (nginx in front of two gunicorn instances) on a free loopback port until the block ends; stopped
    with SIGTERM as Ctrl-C would, its serve folder removed."""
    stack = start("serve", atlas_dir, log_dir, **env)
    assert isinstance(stack, Stack)
    try:
        yield stack
    finally:
        stack.stop()
