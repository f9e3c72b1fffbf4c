"""The gunicorn worker that serves the atlas: ``gthread`` whose event loop reads every request whole first.

Plain ``gthread`` hands a connection to a request thread as soon as it is readable; the thread then blocks
reading a request that has only begun to arrive, so a few slow or idle clients can take every thread. Here the
worker's main thread (its event loop) reads without blocking until a request is complete; idle keep-alive
connections, half-sent request lines and slow bodies wait in the loop's selector, cost no thread, and are
closed at their deadline. gunicorn's own errors (400, 408, 414, 431, ...) are answered with the app's headers
and one line of text. ``gunicorn.conf.py`` selects this class; the limits below are read from the environment
once, at import (see that file's docstring and ``docs/deployment.md``).
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import selectors
import socket
import time
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

log = logging.getLogger("gunicorn.error")


def int_env(name: str, default: int, lo: int = 0, hi: int = 10_000) -> int:
    """An integer setting from the environment, clamped to ``[lo, hi]``; a non-number is logged and ignored."""
    try:
        value = int(os.environ.get(name, "").strip() or default)
    except ValueError:
        log.warning("%s=%r is not a number; using %d", name, os.environ[name], default)
        value = default
    return max(lo, min(hi, value))


REQUEST_TIMEOUT = int_env("REQUEST_TIMEOUT", 10, 1, 300)  # first byte to last byte of a request
CLIENT_TIMEOUT = int_env("CLIENT_TIMEOUT", 30, 1, 600)  # a request thread blocked on one client
# /export.png allows query strings up to 4000 characters (dashboard/routes.py, a 400 beyond); the request line
# may hold more, up to 8190 bytes (a 414 beyond). The whole head (line and headers) is at most HEAD_LIMIT bytes
# (a 431 beyond: nginx's default large_client_header_buffers is 4 x 8k, the same 32 KiB).
LINE_LIMIT = 8190  # gunicorn.conf.py sets limit_request_line to this
HEAD_LIMIT = 32 * 1024
BODY_LIMIT = 1024 * 1024  # callback bodies (dashboard/callback_guard.py MAX_BODY); larger ones the app refuses
BUFFER_BUDGET = 64 * 2**20  # bytes of incomplete requests one worker holds at most


# ------------------------------------------------------------------------------------------------------------
# Is a request complete? (read by the event loop; gunicorn's own parser still parses and judges it)
# ------------------------------------------------------------------------------------------------------------

MORE, READY, CONTINUE, TOO_LARGE = "more", "ready", "continue", "too large"
_HEX = frozenset(b"0123456789abcdefABCDEF")


class Scan(NamedTuple):
    """What the loop does with a connection's bytes: wait for ``MORE``, hand a ``READY`` request to a thread,
    send ``100 Continue`` first (``CONTINUE``: the client waits for it before its body), or answer 431."""

    state: str
    head_end: int = -1  # index of the blank line ending the head, when found


def scan_request(buf: bytes | bytearray, head_limit: int = HEAD_LIMIT, body_limit: int = BODY_LIMIT,
                 line_limit: int = LINE_LIMIT) -> Scan:
    """Whether ``buf`` holds the whole first request: its head and, by Content-Length or chunked framing, its body.

    Deliberately lenient: anything gunicorn's parser will refuse (a bare LF, an odd framing header, a bad chunk
    size, a line over the limit) is ``READY`` as soon as it shows, so the parser answers it at once from the bytes
    already read, without waiting for more. A body larger than ``body_limit`` is ``READY`` at the end of the head
    (the app refuses it by its Content-Length without reading it).
    """
    start = 2 if buf[:2] == b"\r\n" else 0  # one empty line before the request line is ignored (RFC 9112 2.2)
    eol = buf.find(b"\r\n", start)
    if buf.find(b"\n", start, eol if eol >= 0 else len(buf)) >= 0:
        return Scan(READY)  # a bare LF: refused by the parser
    if eol < 0:
        return Scan(READY if len(buf) - start > line_limit + 2 else MORE)  # too long: the parser's 414
    line = bytes(buf[start:eol])
    if eol - start > line_limit or not line.rsplit(b" ", 1)[-1].startswith(b"HTTP/"):
        return Scan(READY)  # 414, or not an HTTP/1 request line: the parser's 400
    end = buf.find(b"\r\n\r\n", eol)
    if end < 0:
        if buf.count(b"\n", eol) != buf.count(b"\r\n", eol):
            return Scan(READY)
        return Scan(TOO_LARGE if len(buf) > head_limit else MORE)
    if end + 4 > head_limit:
        return Scan(TOO_LARGE)
    lengths, codings, expect = [], [], False
    for field in bytes(buf[eol + 2:end]).split(b"\r\n"):
        name, _, value = field.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            codings += [c.strip().lower() for c in value.split(b",")]
        elif name == b"expect" and value.lower() == b"100-continue":
            expect = line.endswith(b"HTTP/1.1")
    body = end + 4
    if codings:
        if lengths or codings[-1] != b"chunked":
            return Scan(READY, end)  # ambiguous or unsupported framing: the parser's 400 or 501
        state = _scan_chunked(buf, body, body_limit)
    elif not lengths:
        return Scan(READY, end)  # no body
    elif len(lengths) > 1 or not lengths[0].isdigit() or len(lengths[0]) > 12:
        return Scan(READY, end)
    elif int(lengths[0]) > body_limit:
        return Scan(READY, end)
    else:
        state = READY if len(buf) - body >= int(lengths[0]) else MORE
    if state == MORE and expect and len(buf) == body:
        return Scan(CONTINUE, end)
    return Scan(state, end)


def _scan_chunked(buf: bytes | bytearray, pos: int, limit: int) -> str:
    """``READY`` once the chunked body (and its trailers) is complete, or at the first sign the parser will refuse
    it (a bad chunk size, a missing CRLF) or that it is larger than ``limit``; else ``MORE``."""
    start = pos
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return MORE if len(buf) - pos <= 1024 else READY
        size = bytes(buf[pos:eol]).split(b";", 1)[0].strip(b" \t")
        if not size or len(size) > 16 or not _HEX.issuperset(size):
            return READY  # InvalidChunkSize: the app answers 400
        n = int(size, 16)
        if n == 0:
            if buf.find(b"\r\n\r\n", eol) >= 0:
                return READY
            return MORE if len(buf) - eol <= 8192 else READY
        pos = eol + 2 + n + 2
        if pos - start > limit:
            return READY
        if pos > len(buf):
            return MORE
        if buf[pos - 2:pos] != b"\r\n":
            return READY  # ChunkMissingTerminator


def without_expect(buf: bytes, head_end: int) -> bytes:
    """The request with its ``Expect`` header removed (the loop has already answered ``100 Continue``)."""
    head = buf[:head_end].split(b"\r\n")
    kept = [head[0], *(f for f in head[1:] if f.partition(b":")[0].strip().lower() != b"expect")]
    return b"\r\n".join(kept) + buf[head_end:]


# ------------------------------------------------------------------------------------------------------------
# Error answers written by the server itself, with the app's headers
# ------------------------------------------------------------------------------------------------------------

#: Used when the app's own headers cannot be read (the app is not Flask): what dashboard/headers.py sets.
FALLBACK_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "strict-origin-when-cross-origin"),
                    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
                    ("X-Frame-Options", "SAMEORIGIN"), ("Cache-Control", "no-store"))
_NOT_COPIED = frozenset({"content-type", "content-length", "content-encoding", "vary", "etag", "date", "server",
                         "connection", "set-cookie"})


def app_error_headers(wsgi: Any) -> tuple[tuple[str, str], ...]:
    """The headers the app puts on an error answer (its ``after_request`` hooks), to put on the server's own."""
    try:
        from flask import Flask
        from flask import Response as FlaskResponse

        if isinstance(wsgi, Flask):
            with wsgi.test_request_context("/"):
                resp = wsgi.process_response(FlaskResponse("x\n", status=400, mimetype="text/plain"))
            found = tuple((k, v) for k, v in resp.headers.items() if k.lower() not in _NOT_COPIED)
            if any(k.lower() == "x-content-type-options" for k, _ in found):
                return found
    except Exception:  # noqa: BLE001 - fall back to the documented set
        log.exception("could not read the app's error headers; using the built-in set")
    return FALLBACK_HEADERS


def error_page(status: int, reason: str, detail: str | None,
               headers: tuple[tuple[str, str], ...] = FALLBACK_HEADERS) -> bytes:
    """A complete HTTP/1.1 answer: one line of text, as the app's own errors (``dashboard/errors.py``)."""
    body = (f"{status} {reason}: {detail}\n" if detail else f"{status} {reason}\n").encode()
    lines = [f"HTTP/1.1 {status} {reason}", "Connection: close", "Content-Type: text/plain; charset=utf-8",
             f"Content-Length: {len(body)}", f"Date: {util.http_date()}",
             *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def classify(exc: BaseException) -> tuple[int, str, str | None]:
    """Status, reason and the short detail shown for an error gunicorn raised while reading a request."""
    e = http_errors
    if isinstance(exc, (e.InvalidResponseHeader, e.InvalidResponseHeaderName, e.ConfigurationProblem)):
        return 500, "Internal Server Error", None  # the app's or the configuration's fault, not the client's
    table: tuple[tuple[type[BaseException], int, str, str], ...] = (
        (e.LimitRequestLine, 414, "URI Too Long", f"request line longer than {LINE_LIMIT} bytes"),
        (e.LimitRequestHeaders, 431, "Request Header Fields Too Large", "request headers too large"),
        (e.UnsupportedTransferCoding, 501, "Not Implemented", "transfer coding not supported"),
        (e.ExpectationFailed, 417, "Expectation Failed", "only 'Expect: 100-continue' is understood"),
        (e.ForbiddenProxyRequest, 403, "Forbidden", "request forbidden"),
        (e.ParseException, 400, "Bad Request", "request not understood"),
    )
    for cls, status, reason, detail in table:
        if isinstance(exc, cls):
            return status, reason, detail
    import ssl

    if isinstance(exc, ssl.SSLError):
        return 403, "Forbidden", None
    return 500, "Internal Server Error", None


# ------------------------------------------------------------------------------------------------------------
# The worker
# ------------------------------------------------------------------------------------------------------------

class ClientStalled(http_errors.NoMoreData):
    """The client stopped sending or reading for ``CLIENT_TIMEOUT`` seconds (handled as a disconnection)."""

    def __str__(self) -> str:
        return f"client made no progress for {CLIENT_TIMEOUT} s"


class ClientSocket(socket.socket):
    """A client connection. Blocking mode (in a request thread) means a ``CLIENT_TIMEOUT`` timeout, never forever;
    a timeout surfaces as :class:`ClientStalled`, which gunicorn treats as a client that went away."""

    __slots__ = ()

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(float(CLIENT_TIMEOUT))
        else:
            super().setblocking(False)

    def _stalled(self, what: str, exc: BaseException) -> ClientStalled:
        log.warning("closing a connection whose client stopped %s for %s s", what, CLIENT_TIMEOUT)
        return ClientStalled()

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        try:
            return super().recv(bufsize, flags)
        except TimeoutError as exc:
            raise self._stalled("sending", exc) from exc

    def send(self, data: Any, flags: int = 0) -> int:
        try:
            return super().send(data, flags)
        except TimeoutError as exc:
            raise self._stalled("reading", exc) from exc

    def sendall(self, data: Any, flags: int = 0) -> None:
        try:
            super().sendall(data, flags)
        except TimeoutError as exc:
            raise self._stalled("reading", exc) from exc

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        try:
            return super().sendfile(file, offset, count)
        except TimeoutError as exc:
            raise self._stalled("reading", exc) from exc


class ParkedConn(TConn):
    """A connection and what the loop knows of it while no thread has it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.buf = bytearray()  # bytes of the next request read so far
        self.deadline = 0.0
        self.since = 0.0  # when it was parked (the oldest is evicted first)
        self.closing = False  # answered and half-closed: waiting for the client's FIN
        self.continued = False  # "100 Continue" sent for this request
        self.drained = 0


class AtlasWorker(ThreadWorker):
    """gthread, except that the event loop reads each request whole before a request thread takes it.

    Connections wait in the loop's selector while idle (up to ``keepalive``) or while their request arrives (up
    to ``REQUEST_TIMEOUT`` from its first byte; then 408). A request thread gets a connection only with a complete
    request in its buffer, so it never blocks reading; writing to a client that stops reading blocks it for at most
    ``CLIENT_TIMEOUT``. Connections are also closed from the loop (half-close, then a short wait for the client's
    FIN) rather than in gthread's blocking way. At ``worker_connections`` the oldest parked connection is closed
    to admit a new one, so new clients are never locked out by idle ones. HTTP/1.1 over plain TCP only: TLS and
    HTTP/2 end at the reverse proxy.
    """

    def init_process(self) -> None:
        if self.cfg.is_ssl or "h2" in (self.cfg.http_protocols or ()):
            raise RuntimeError("AtlasWorker serves plain HTTP/1.1; terminate TLS and HTTP/2 at the proxy")
        self.parked: dict[ParkedConn, None] = {}
        self.buffered = 0
        self._next_expiry = 0.0
        self.error_headers = FALLBACK_HEADERS
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = self.worker_connections + 256  # clients, plus Chromium's pipes, files and logs
        if soft != resource.RLIM_INFINITY and soft < want:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
            except (ValueError, OSError):
                pass
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            if soft < want:
                self.worker_connections = max(16, soft - 256)
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.error_headers = app_error_headers(self.wsgi)

    # -- connections arrive, wait, and leave in the loop -------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            raw, addr = listener.accept()
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE):
                self._evict_one()
            elif e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        sock = ClientSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
        self.nr_conns += 1
        self._park(ParkedConn(self.cfg, sock, addr, listener.getsockname()), b"")

    def _park(self, conn: ParkedConn, data: bytes) -> None:
        """Wait in the loop for (the rest of) the next request on ``conn``; ``data`` is what is already here."""
        now = time.monotonic()
        conn.buf = bytearray(data)
        conn.continued = False
        conn.since = now
        conn.deadline = now + (REQUEST_TIMEOUT if data else (self.cfg.keepalive or REQUEST_TIMEOUT))
        if not self.alive:
            conn.deadline = min(conn.deadline, now + STOP_KEEPALIVE_LINGER)
        self.buffered += len(conn.buf)
        if not self._watch(conn):
            return
        if data:
            self._advance(conn)

    def _unpark(self, conn: ParkedConn) -> None:
        self.parked.pop(conn, None)
        self.buffered -= len(conn.buf)
        try:
            self.poller.unregister(conn.sock)
        except (OSError, ValueError, KeyError):
            pass

    def _drop(self, conn: ParkedConn) -> None:
        """Close now (the client has gone, or the connection expired idle)."""
        if conn in self.parked:
            self._unpark(conn)
        conn.buf = bytearray()
        self.nr_conns -= 1
        util.close(conn.sock)

    def _on_readable(self, conn: ParkedConn, _fileobj: Any = None) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if not data:
            self._drop(conn)  # the client closed its side
            return
        if conn.closing:
            conn.drained += len(data)
            if conn.drained > 65536:
                self._drop(conn)
            return
        if not conn.buf:
            conn.deadline = time.monotonic() + REQUEST_TIMEOUT  # the request has begun: it has this long
            if not self.alive:
                conn.deadline = min(conn.deadline, time.monotonic() + STOP_KEEPALIVE_LINGER)
        conn.buf += data
        self.buffered += len(data)
        if self.buffered > BUFFER_BUDGET:
            self._reject(conn, 503, "Service Unavailable", "server busy; try again shortly")
            return
        self._advance(conn)

    def _advance(self, conn: ParkedConn) -> None:
        scan = scan_request(conn.buf, HEAD_LIMIT, BODY_LIMIT, self.cfg.limit_request_line)
        if scan.state == MORE:
            return
        if scan.state == TOO_LARGE:
            self._reject(conn, 431, "Request Header Fields Too Large", "request headers too large")
        elif scan.state == CONTINUE:
            if not conn.continued:
                conn.continued = True
                self._send_quietly(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
        else:
            self._dispatch(conn, scan)

    def _dispatch(self, conn: ParkedConn, scan: Scan) -> None:
        """Hand a connection with a complete request to a request thread."""
        data = bytes(conn.buf)
        if conn.continued and scan.head_end >= 0:
            data = without_expect(data, scan.head_end)  # or gunicorn would send a second 100 Continue
        self._unpark(conn)
        conn.buf = bytearray()
        try:
            conn.init()  # the HTTP/1 parser over the socket (plain TCP: nothing is read here)
        except Exception:  # noqa: BLE001
            self._drop(conn)
            return
        conn.parser.unreader.unread(data)
        conn.data_ready = True
        self.enqueue_req(conn)

    def finish_request(self, conn: ParkedConn, fs: Any) -> None:
        """A request thread is done with ``conn`` (run on the loop): keep it for the next request, or close it."""
        try:
            keep = bool(fs.result()) if not fs.cancelled() else False
        except Exception:  # noqa: BLE001
            keep = False
        if keep and conn.parser is not None:
            # A pipelined next request may already be in the parser's buffer.
            self._park(conn, conn.parser.unreader.take_buffered())
        else:
            self._close_gracefully(conn)

    def _close_gracefully(self, conn: ParkedConn) -> None:
        """Send FIN and wait (in the loop, briefly) for the client's, so the last answer is not cut by a reset."""
        if conn in self.parked:
            self._unpark(conn)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.nr_conns -= 1
            util.close(conn.sock)
            return
        conn.closing, conn.drained = True, 0
        conn.buf = bytearray()
        conn.since = time.monotonic()
        conn.deadline = conn.since + 2.0
        self._watch(conn)

    def _watch(self, conn: ParkedConn) -> bool:
        """Park a connection in the event loop until it is readable; False (and dropped) if its socket is gone."""
        self.parked[conn] = None
        try:
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        except (OSError, ValueError, KeyError):
            self._drop(conn)
            return False
        return True

    def _send_quietly(self, conn: ParkedConn, data: bytes) -> None:
        try:
            conn.sock.send(data)  # non-blocking; these answers are small enough for any socket buffer
        except OSError:
            pass

    def _reject(self, conn: ParkedConn, status: int, reason: str, detail: str) -> None:
        """Answer from the loop (408, 431, 503) and close."""
        ip = conn.client[0] if isinstance(conn.client, tuple) else conn.client
        self.log.warning("Invalid request from ip=%s: %d %s (%s)", ip, status, reason, detail)
        self._send_quietly(conn, error_page(status, reason, detail, self.error_headers))
        self._close_gracefully(conn)

    def _evict_one(self) -> bool:
        """Close the parked connection that matters least (closing, then idle, then incomplete; oldest first)."""
        if not self.parked:
            return False
        victim = min(self.parked, key=lambda c: (not c.closing, bool(c.buf), c.since))
        self._drop(victim)
        return True

    def set_accept_enabled(self, enabled: bool) -> None:
        if not enabled and self.alive and self._evict_one():
            return  # a connection slot is free again: keep accepting
        super().set_accept_enabled(enabled)

    def murder_keepalived(self, force: bool = False) -> None:
        """Expire parked connections: idle ones are closed, incomplete requests answered 408 (checked at most
        every quarter second: the loop comes here after every event)."""
        super().murder_keepalived(force)
        now = time.monotonic()
        if not force and now < self._next_expiry:
            return
        self._next_expiry = now + 0.25
        for conn in [c for c in self.parked if force or c.deadline <= now]:
            if conn.buf and not conn.closing and not force:
                self._reject(conn, 408, "Request Timeout", f"the request did not arrive within {REQUEST_TIMEOUT} s")
            else:
                self._drop(conn)

    def _cap_keepalive(self, deadline: float) -> None:
        """Stopping: a parked connection gets a moment for a request it may be sending, no more."""
        super()._cap_keepalive(deadline)
        for conn in self.parked:
            conn.deadline = min(conn.deadline, deadline)

    # -- gunicorn's own error answers ---------------------------------------------------------------------------

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """As gunicorn's, but the answer is one line of text with the app's headers, and echoes nothing sent."""
        request_start = datetime.now()
        addr = addr or ("", -1)
        status, reason, detail = classify(exc)
        if status < 500:
            self.log.warning("Invalid request from ip=%s: %s", addr[0], str(exc)[:300])
        elif hasattr(req, "uri"):
            self.log.exception("Error handling request %s %s", getattr(req, "method", ""), req.uri)
        else:
            self.log.exception("Error handling request (no URI read)")
        if req is None:
            req = getattr(exc, "req", None)
        page = error_page(status, reason, detail, self.error_headers)
        if req is not None:
            try:
                environ = default_environ(req, client, self.cfg)
                environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
                resp = Response(req, client, self.cfg)
                resp.status = f"{status} {reason}"
                resp.response_length = resp.sent = len(page)
                self.log.access(resp, req, environ, datetime.now() - request_start)
            except Exception:  # noqa: BLE001 - logging is best effort
                pass
        try:
            client.sendall(page)
        except Exception:  # noqa: BLE001
            self.log.debug("Failed to send error message.")
