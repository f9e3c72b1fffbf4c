"""Bodies that are the same for every visitor compressed once per process, by Flask-Compress, from its cache.

``Dash(compress=True)`` installs Flask-Compress, which picks the encoding from ``Accept-Encoding`` and compresses
each response as it leaves. Component-suite scripts (plotly.min.js alone is 4.8 MB) and the cached layout are
the same bytes for everyone, so its cache (what ``COMPRESS_CACHE_BACKEND`` and ``COMPRESS_CACHE_KEY`` set up)
is given ``CompressedBodies``: a store bounded in bytes, keyed by what identifies a body (package and file, or
the layout's ETag) and ignoring every other response (the page carries a fresh token; callbacks differ).
"""

from __future__ import annotations

from typing import Any

from dash import Dash
from flask import Request, g

from dashboard import dash_internals
from dashboard.caching import BytesLRU
from dashboard.dash_internals import Routes

LIMIT = 96 * 1024 * 1024  # bytes of compressed bodies kept per process; the scripts take about 15 MB
WARM_ENCODINGS = ("zstd", "br", "gzip")  # what browsers get: Flask-Compress prefers zstd, then br, then gzip
UNCACHED = "\0"  # the key of a body that must not be kept
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
