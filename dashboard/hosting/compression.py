"""Bodies that are the same for every visitor compressed once per process, by Flask-Compress, from its cache.

``Dash(compress=True)`` installs Flask-Compress, which picks the encoding from ``Accept-Encoding`` and compresses
each response as it leaves. Component-suite scripts (plotly.min.js alone is 4.8 MB) and the cached layout are
the same bytes for everyone, so its cache (what ``COMPRESS_CACHE_BACKEND`` and ``COMPRESS_CACHE_KEY`` set up)
is given ``CompressedBodies``: a store bounded in bytes, keyed by what identifies a body (package and file, or
the layout's ETag) and ignoring every other response (the page carries a fresh token; callbacks differ).
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import brotli
from dash import Dash
from flask import Request, Response, g, request

try:  # Python 3.14's compression.zstd, else the backport Flask-Compress itself depends on
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd

from dashboard.caching import BytesLRU
from dashboard.hosting import dash_internals
from dashboard.hosting.dash_internals import Routes

LIMIT = 96 * 1024 * 1024  # bytes of compressed bodies kept per process; the scripts take about 15 MB
WARM_ENCODINGS = ("zstd", "br", "gzip")  # what browsers get: Flask-Compress prefers zstd, then br, then gzip
UNCACHED = "\0"  # the key of a body that must not be kept
#: Encodings of :class:`Precompressed` bodies, smallest first at the slow, tight settings a body made once can
#: afford (brotli 11, zstd 19, gzip 9: for the plotly.js bundle 638, 671 and 785 kB).
ENCODINGS = ("br", "zstd", "gzip")
SUFFIX = {"zstd": ".zst", "br": ".br", "gzip": ".gz"}

log = logging.getLogger(__name__)
_MARK = "atlas_compress_key"  # where a view says under which key its body may be kept (flask.g)


class CompressedBodies:
    """Flask-Compress's cache backend (``get``/``set``): least recently used bodies go first past ``limit``."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._store = BytesLRU(limit)

    def get(self, key: str) -> bytes | None:
        """A kept body (now the most recently used), or None: Flask-Compress then compresses and calls ``set``."""
        return self._store.get(key)

    def set(self, key: str, value: bytes) -> None:
        """Keep ``value`` unless its key says not to (Flask-Compress's key ends with ours) or it cannot fit."""
        if not key.endswith(UNCACHED):
            self._store.put(key, value)

    @property
    def size(self) -> int:
        return self._store.size

    def __len__(self) -> int:
        return len(self._store)


def keep_compressed(key: str) -> None:
    """Called by a view whose body is fully identified by ``key``: its compressed forms may be reused."""
    setattr(g, _MARK, f"view:{key}")


def cache_key(routes: Routes, request: Request) -> str:
    """Flask-Compress's ``COMPRESS_CACHE_KEY``: the body's identity, or ``UNCACHED``."""
    marked = g.get(_MARK)
    if marked:
        return marked
    suite = dash_internals.component_suite(routes, request)
    if suite is not None and request.method in ("GET", "HEAD"):
        return f"suite:{suite.package}/{suite.path}"  # the same file with or without a fingerprint
    return UNCACHED


def install(app: Dash, routes: Routes) -> CompressedBodies | None:
    """Give Dash's Flask-Compress a bounded cache (Dash ran its ``init_app`` before we could configure one)."""
    compress = dash_internals.compressor(app.server)
    if compress is None:  # Dash(compress=False): nothing is compressed, so nothing to keep
        return None
    bodies = CompressedBodies()
    compress.cache = bodies
    compress.cache_key = lambda request: cache_key(routes, request)
    return bodies


def warm(client: Any, urls: list[str], bodies: CompressedBodies) -> int:
    """Request each URL once per encoding browsers ask for, so its compressed forms are kept; the count held."""
    for url in urls:
        for encoding in WARM_ENCODINGS:
            client.get(url, headers={"Accept-Encoding": encoding})
    return len(bodies)


def compress_best(data: bytes, encoding: str) -> bytes:
    """``data`` as small as ``encoding`` makes it (seconds for a few MB: for bodies made once)."""
    if encoding == "zstd":
        return zstd.compress(data, 19)
    if encoding == "br":
        return brotli.compress(data, quality=11)
    if encoding == "gzip":
        return gzip.compress(data, 9, mtime=0)  # no time stamp: the same bytes on every build
    raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")


def decompress(data: bytes, encoding: str) -> bytes:
    if encoding == "zstd":
        return zstd.decompress(data)
    if encoding == "br":
        return brotli.decompress(data)
    if encoding == "gzip":
        return gzip.decompress(data)
    raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")


def accepted(accept_encoding: str) -> str | None:
    """The best of :data:`ENCODINGS` that an ``Accept-Encoding`` header allows (``q=0`` refuses; ``*`` is any)."""
    q: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name:
            q[name.strip().lower()] = weight
    for encoding in ENCODINGS:
        if q.get(encoding, q.get("*", 0.0)) > 0:
            return encoding
    return None


def precompress(path: Path) -> list[Path]:
    """Write ``path``'s best encodings beside it (``.zst``, ``.br``, ``.gz``), as ``make js`` does for the bundle."""
    data = path.read_bytes()
    out = []
    for encoding in ENCODINGS:
        target = path.with_name(path.name + SUFFIX[encoding])
        target.write_bytes(compress_best(data, encoding))
        out.append(target)
    return out


class Precompressed:
    """One immutable body and its smallest encodings, sent as the request allows, bypassing Flask-Compress.

    Flask-Compress compresses every response with fast settings (zstd 3, brotli 4, gzip 6), right for callbacks.
    A body that never changes (the plotly.js bundle, the map's geometry) is worth its tightest encodings: for the
    bundle brotli 11 is 20% smaller than zstd 3. They come from files written at build time (:func:`precompress`),
    each used only if it decodes to the very body, else are made on first use, once per process.
    """

    def __init__(self, body: bytes, files: Mapping[str, Path] | None = None) -> None:
        self.body = body
        self._encoded: dict[str, bytes] = {}
        self._lock = threading.Lock()
        for encoding, path in (files or {}).items():
            try:
                data = path.read_bytes()
                same = decompress(data, encoding) == body
            except (OSError, ValueError, zstd.ZstdError, brotli.error, EOFError) as exc:
                log.warning("precompressed %s not used (%s); it is made on first use", path, exc)
                continue
            if same:
                self._encoded[encoding] = data
            else:
                log.warning("precompressed %s is of another build (run `make js`); it is made on first use", path)

    def encoded(self, encoding: str) -> bytes:
        with self._lock:
            if encoding not in self._encoded:
                self._encoded[encoding] = compress_best(self.body, encoding)
            return self._encoded[encoding]

    def response(self, mimetype: str, cache_control: str) -> Response:
        """The body for the current request: its best accepted encoding, or as it is."""
        encoding = accepted(request.headers.get("Accept-Encoding", ""))
        resp = Response(self.encoded(encoding) if encoding else self.body, mimetype=mimetype)
        if encoding:
            resp.headers["Content-Encoding"] = encoding  # Flask-Compress leaves an encoded response alone
        resp.headers["Vary"] = "Accept-Encoding"
        resp.headers["Cache-Control"] = cache_control
        return resp


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Write a file's tightest zstd, brotli and gzip encodings beside it")
    parser.add_argument("paths", nargs="+", type=Path)
    for written in (p for path in parser.parse_args().paths for p in precompress(path)):
        print(f"wrote {written} ({written.stat().st_size:,} bytes)")
