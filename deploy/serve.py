"""``make serve``: the public-host configuration on one machine, started and stopped as one.

Debian's nginx listens on ``HOST:PORT`` and passes requests to ``INSTANCES`` app instances (default 2), each a
gunicorn master with its stock ``gthread`` workers on a unix socket in the serve folder (``build/serve``, ignored
by git). nginx's configuration is ``deploy/nginx.conf``; this script only fills in the paths, the listening
address, the upstream lines and the time limits, and writes the result to ``build/serve/nginx.conf``.

Supervision: the instances start first; nginx starts once every instance answers ``/healthz``. Then

- nginx exiting, or an instance exiting before it was first ready (a broken atlas, say), stops everything (exit
  status 1);
- an instance exiting after that (killed, crashed; also while it restarts) is started again while nginx sends
  its requests to the others; more than ``RESTARTS`` (5) exits of one instance within 60 s stop everything;
- ``Ctrl-C`` or ``SIGTERM`` stops everything cleanly: nginx first (it finishes the answers in progress), then the
  instances (gunicorn's graceful stop, up to 30 s), and exits 0.

Environment (besides the app's and gunicorn's, see ``gunicorn.conf.py``): ``HOST``, ``PORT`` (nginx's address,
as ``make run``'s); ``INSTANCES`` (2); ``WORKERS`` (per instance; default the CPUs divided among the instances,
at least 1); ``REQUEST_TIMEOUT`` (10 s: a request's head, and each pause in its body); ``CLIENT_TIMEOUT`` (10 s: a
client that reads none of its answer for this long is dropped); ``CONNECTIONS`` (4096 per nginx worker process);
``SERVE_DIR`` (``build/serve``); ``NGINX`` (``/usr/sbin/nginx``).
"""

from __future__ import annotations

import grp
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "nginx.conf"


def int_env(name: str, default: int, lo: int, hi: int) -> int:
    """An integer setting from the environment, clamped to ``[lo, hi]``; a non-number stops the launcher."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return max(lo, min(hi, int(raw)))
    except ValueError:
        sys.exit(f"serve: {name}={raw!r} is not a number")


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def log(msg: str) -> None:
    print(f"[serve] {msg}", file=sys.stderr, flush=True)


@dataclass
class Settings:
    """What the launcher fills in; read once from the environment."""

    host: str
    port: int
    instances: int
    workers: int
    request_timeout: int
    client_timeout: int
    connections: int
    serve_dir: Path
    nginx: str

    @classmethod
    def from_env(cls) -> Settings:
        instances = int_env("INSTANCES", 2, 1, 16)
        return cls(host=os.environ.get("HOST", "127.0.0.1"), port=int_env("PORT", 8050, 1, 65535),
                   instances=instances, workers=int_env("WORKERS", max(1, cpus() // instances), 1, 64),
                   request_timeout=int_env("REQUEST_TIMEOUT", 10, 1, 300),
                   client_timeout=int_env("CLIENT_TIMEOUT", 10, 1, 600),
                   connections=int_env("CONNECTIONS", 4096, 64, 65536),
                   serve_dir=Path(os.environ.get("SERVE_DIR") or ROOT / "build" / "serve").resolve(),
                   nginx=os.environ.get("NGINX") or shutil.which("nginx", path="/usr/sbin:/usr/bin:"
                                                                  + os.environ.get("PATH", "")) or "nginx")

    def socket_path(self, i: int) -> Path:
        return self.serve_dir / "run" / f"app-{i}.sock"

    def pid_path(self, i: int) -> Path:
        return self.serve_dir / "run" / f"app-{i}.pid"


def nginx_user_line() -> str:
    """As root, nginx's workers run as ``nobody`` (they only need the sockets, which are world-connectable in a
    traversable folder); as anyone else nginx cannot change user and the line is left out."""
    if os.geteuid() != 0:
        return "# not root: nginx's workers run as the launching user"
    try:
        group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    except KeyError:
        return "user root;  # no 'nobody' user on this machine"
    return f"user nobody {group};"


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def render_config(s: Settings, template: str | None = None) -> str:
    """``deploy/nginx.conf`` with its ``@NAME@`` fields filled in; a field left unfilled is an error."""
    text = TEMPLATE.read_text() if template is None else template
    upstreams = "\n".join(f"        server unix:{s.socket_path(i)} max_fails=0;" for i in range(s.instances))
    soft, hard = _nofile()
    rlimit = 2 * s.connections + 64
    if os.geteuid() != 0 and hard > 0:
        rlimit = min(rlimit, hard)
    fields = {"USER": nginx_user_line(), "WORKER_PROCESSES": str(max(1, min(cpus(), 4))), "RLIMIT": str(rlimit),
              "PREFIX": str(s.serve_dir), "CONNECTIONS": str(s.connections), "LISTEN": listen_address(s.host, s.port),
              "UPSTREAMS": upstreams, "REQUEST_TIMEOUT": str(s.request_timeout),
              "CLIENT_TIMEOUT": str(s.client_timeout)}
    for name, value in fields.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"deploy/nginx.conf has fields the launcher does not fill in: {sorted(set(left))}")
    return text


def _nofile() -> tuple[int, int]:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, (hard if hard != resource.RLIM_INFINITY else 1 << 20)


def healthz_on_socket(path: Path, timeout: float = 2.0) -> bool:
    """Whether the instance on the unix socket ``path`` answers ``/healthz`` with 200."""

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(str(path))

    return answers_healthz(UnixConnection("localhost", timeout=timeout))


def answers_healthz(conn: http.client.HTTPConnection) -> bool:
    """Whether the server behind ``conn`` answers ``/healthz`` with 200 (the one check of readiness, over a unix
    socket here and over loopback TCP in ``deploy/launch.py``); ``conn`` is closed."""
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@dataclass
class Instance:
    """One app instance: a gunicorn master (in a process group of its own) and its restarts."""

    index: int
    settings: Settings
    proc: subprocess.Popen[bytes] | None = None
    ready: bool = False  # the running process answers /healthz
    ever_ready: bool = False  # some process of this instance once did: a later exit is a crash, not a bad start
    exits: list[float] = field(default_factory=list)

    def start(self) -> None:
        s = self.settings
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        env = {**os.environ, "BIND": f"unix:{s.socket_path(self.index)}", "WORKERS": str(s.workers),
               "INSTANCE": str(self.index)}
        self.ready = False
        self.proc = subprocess.Popen([gunicorn, "-c", "gunicorn.conf.py", "--pid", str(s.pid_path(self.index)),
                                      "app:server"], cwd=ROOT, env=env, start_new_session=True)
        log(f"instance {self.index}: gunicorn master {self.proc.pid} on unix:{s.socket_path(self.index)}")

    def check_ready(self) -> bool:
        if not self.ready and self.proc is not None and self.proc.poll() is None:
            self.ready = healthz_on_socket(self.settings.socket_path(self.index))
            self.ever_ready |= self.ready
        return self.ready


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int, wait: float, group: bool) -> None:
    """Signal ``proc`` (its process group when ``group``), wait up to ``wait`` s, then kill the group."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        log(f"process {proc.pid} did not stop within {wait:.0f} s: killed")
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


class Stack:
    """nginx and the instances, supervised until a signal or a failure."""

    RESTARTS = 5

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.instances = [Instance(i, settings) for i in range(settings.instances)]
        self.nginx: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def prepare(self) -> Path:
        s = self.s
        if os.geteuid() == 0:
            closed = [str(d) for d in [s.serve_dir, *s.serve_dir.parents]
                      if d.exists() and not d.stat().st_mode & 0o001]
            if closed:
                raise SystemExit(f"serve: nginx's workers (user nobody) cannot pass through {closed[0]}: choose a "
                                 "SERVE_DIR whose folders others may enter (chmod o+x)")
        for sub in ("logs", "run", "temp"):
            (s.serve_dir / sub).mkdir(parents=True, exist_ok=True)
        # nginx's workers (nobody, when started as root) connect to the sockets and write the temp files.
        os.chmod(s.serve_dir / "run", 0o755)
        conf = s.serve_dir / "nginx.conf"
        conf.write_text(render_config(s))
        test = subprocess.run([s.nginx, "-t", "-q", "-p", str(s.serve_dir), "-e", "stderr", "-c", str(conf)],
                              capture_output=True, text=True)
        if test.returncode != 0:
            raise SystemExit(f"serve: nginx rejects {conf}:\n{test.stderr.strip()}")
        return conf

    def run(self) -> int:
        conf = self.prepare()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            for inst in self.instances:
                inst.start()
            if not self._wait_ready(deadline=time.monotonic() + 180):
                return 1
            self.nginx = subprocess.Popen([self.s.nginx, "-p", str(self.s.serve_dir), "-e", "stderr", "-c", str(conf)],
                                          start_new_session=True)
            log(f"nginx {self.nginx.pid} on http://{listen_address(self.s.host, self.s.port)} "
                f"({self.s.instances} instances x {self.s.workers} workers; config {conf})")
            return self._supervise()
        finally:
            self.stop()

    def _wait_ready(self, deadline: float) -> bool:
        while not self.stopping:
            for inst in self.instances:
                if inst.proc is not None and inst.proc.poll() is not None:
                    log(f"instance {inst.index} exited with {inst.proc.returncode} before it was ready: stopping")
                    return False
            if all(inst.check_ready() for inst in self.instances):
                return True
            if time.monotonic() > deadline:
                log("the instances did not answer /healthz within 180 s: stopping")
                return False
            time.sleep(0.2)
        return False

    def _supervise(self) -> int:
        while not self.stopping:
            if self.nginx is not None and self.nginx.poll() is not None:
                log(f"nginx exited with {self.nginx.returncode}: stopping")
                return 1
            for inst in self.instances:
                if inst.proc is None or inst.proc.poll() is None:
                    inst.check_ready()
                    continue
                if not inst.ever_ready:
                    log(f"instance {inst.index} exited with {inst.proc.returncode} before it was ready: stopping")
                    return 1
                now = time.monotonic()
                inst.exits = [t for t in inst.exits if now - t < 60] + [now]
                if len(inst.exits) > self.RESTARTS:
                    log(f"instance {inst.index} exited {len(inst.exits)} times within 60 s: stopping")
                    return 1
                log(f"instance {inst.index} exited with {inst.proc.returncode}; the others serve; starting it again")
                _kill_leftovers(inst.proc.pid)
                inst.start()
            time.sleep(0.2)
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            log(f"{signal.Signals(signum).name}: stopping nginx and the instances")
        self.stopping = True

    def stop(self) -> None:
        self.stopping = True
        # nginx first (SIGQUIT: finish the answers in progress), so nothing new reaches a stopping instance.
        stop_process(self.nginx, signal.SIGQUIT, 15, group=True)
        if self.nginx is not None:
            _kill_leftovers(self.nginx.pid)  # the workers of a master that was killed outright live on
        for inst in self.instances:
            if inst.proc is not None and inst.proc.poll() is None:
                inst.proc.send_signal(signal.SIGTERM)  # gunicorn: graceful stop of its workers (up to 30 s)
        for inst in self.instances:
            stop_process(inst.proc, signal.SIGTERM, 40, group=False)
            if inst.proc is not None:
                _kill_leftovers(inst.proc.pid)


def _kill_leftovers(pgid: int) -> None:
    """Workers of a master that was killed outright are left in its process group: end them."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> int:
    settings = Settings.from_env()
    if not Path(settings.nginx).exists() and not shutil.which(settings.nginx):
        log("nginx is not installed: run `make nginx` as root, or `sudo apt-get install nginx`")
        return 1
    return Stack(settings).run()


if __name__ == "__main__":
    sys.exit(main())
