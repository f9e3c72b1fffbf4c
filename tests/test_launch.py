"""The one server launcher (``deploy/launch.py``) that the tests, the benchmarks and ``docs/screenshots.py`` use:
it starts the production configuration on loopback, returns once it answers, keeps its log, stops all of it, and
says why when a start fails. ``make serve``'s stack through it is exercised by tests/test_host.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from deploy import launch


def group_members(pgid: int) -> list[psutil.Process]:
    """The live (not zombie) processes of process group ``pgid``."""
    out = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return out


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_make_run_starts_answers_and_stops_with_its_whole_process_group(atlas_dir: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # a developer's shell with DASH_DEBUG=1 or a BIND would otherwise change what tests and benchmarks serve
    monkeypatch.setenv("DASH_DEBUG", "1")
    monkeypatch.setenv("BIND", "unix:/nonexistent/app.sock")
    with launch.serve(atlas_dir, tmp_path, WORKERS="1") as server:
        environ = psutil.Process(server.proc.pid).environ()
        assert "DASH_DEBUG" not in environ and "BIND" not in environ
        assert (environ["HOST"], environ["PORT"]) == ("127.0.0.1", str(server.port))
        assert environ["CCG_ATLAS_DIR"] == str(atlas_dir)
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
        page = requests.get(server.url + "/?year=2016", timeout=60)
        assert page.status_code == 200 and "<html" in page.text.lower()
        pgid = server.proc.pid
        members = group_members(pgid)
        assert len(members) >= 2  # gunicorn's master and its one worker, in a group of their own
        assert os.getpgid(os.getpid()) != pgid
        # the production configuration, its output in the log file it names
        log = server.log_text()
        assert server.log.parent == tmp_path and f"Listening at: http://127.0.0.1:{server.port}" in log
        assert "Using worker: gthread" in log
    assert server.proc.returncode == 0  # gunicorn's graceful stop, not a kill
    assert group_members(pgid) == [] and refused(server.port)
    assert "Shutting down" in server.log_text()


def test_a_start_that_fails_raises_with_the_servers_own_words(tmp_path: Path) -> None:
    empty = tmp_path / "no-atlas"
    empty.mkdir()
    with pytest.raises(launch.ServerFailed) as failed:
        launch.start("run", empty, tmp_path, WORKERS="1")
    message = str(failed.value)
    assert "exited with status" in message and str(failed.value.server.log) in message
    assert f"no atlas in {empty}" in message  # the app's error, from gunicorn's log
    assert failed.value.server.proc.returncode not in (None, 0)
    assert group_members(failed.value.server.proc.pid) == []


# A stand-in server whose /healthz never answers 200: the launcher must give up at its limit, stop it, and show
# what the server logged (its request log, on stderr). It says "ready" on stdout once it listens.
NEVER_HEALTHY = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503); self.end_headers()
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("ready", flush=True)
server.serve_forever()
"""


def test_a_server_that_never_answers_is_stopped_at_the_limit_with_its_log(tmp_path: Path) -> None:
    port = launch.free_port()
    log_path = tmp_path / "never.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", NEVER_HEALTHY, str(port)], stdout=subprocess.PIPE,
                                stderr=log, start_new_session=True)
    server = launch.Server(port, log_path, proc)
    try:
        assert proc.stdout.readline() == b"ready\n"  # listening: the first probe is answered (503) and logged
        with pytest.raises(launch.ServerFailed) as failed:
            launch.wait_healthy(server, limit=1)
    finally:
        proc.stdout.close()
        server.stop(grace=10)
    assert "did not answer /healthz within 1 s" in str(failed.value)
    assert '"GET /healthz HTTP/1.1" 503' in str(failed.value)  # the server's own log line
    assert group_members(proc.pid) == []


# A stand-in server with a child that outlives it (as a worker's Chromium might): it ignores SIGTERM.
LEAVES_A_CHILD = """
import signal, subprocess, sys
child = subprocess.Popen([sys.executable, "-c",
    "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); signal.pause()"],
    stdout=subprocess.PIPE)
child.stdout.readline()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(child.pid, flush=True)
signal.pause()
"""


def test_stop_leaves_nothing_of_the_process_group(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", LEAVES_A_CHILD], stdout=subprocess.PIPE, start_new_session=True)
    child = int(proc.stdout.readline())  # written once the child ignores SIGTERM and the leader obeys it
    proc.stdout.close()
    server = launch.Server(launch.free_port(), tmp_path / "none.log", proc)
    assert {p.pid for p in group_members(proc.pid)} == {proc.pid, child}
    assert server.stop(grace=10) == 0  # the leader stopped on SIGTERM...
    assert group_members(proc.pid) == []  # ... and its child, which ignored it, was killed
    assert server.stop(grace=10) == 0  # stopping twice is harmless
