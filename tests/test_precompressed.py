"""Bodies made once (the plotly.js bundle, the map's geometry) go out in their tightest encodings.

``make js`` writes the bundle's brotli, zstd and gzip files; the server sends whichever the browser accepts, as
they are, and never one that belongs to another build.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import brotli
import pytest
from flask import Flask

from dashboard.hosting import compression, plotly_bundle
from dashboard.hosting.headers import IMMUTABLE


@pytest.mark.parametrize(("header", "chosen"), [
    ("gzip, deflate, br, zstd", "br"), ("gzip, zstd", "zstd"), ("gzip", "gzip"), ("identity", None), ("", None),
    ("br;q=0, gzip", "gzip"), ("*", "br"), ("*;q=0.5, br;q=0", "zstd"), ("BR; q=0.8", "br"),
    ("br;q=oops, gzip", "gzip"),
])
def test_the_encoding_follows_accept_encoding(header: str, chosen: str | None) -> None:
    assert compression.accepted(header) == chosen


Precompressed = compression.Precompressed


def serve(body: Precompressed, header: str):  # noqa: ANN201
    app = Flask(__name__)
    app.add_url_rule("/x", "x", lambda: body.response("text/javascript", IMMUTABLE))
    return app.test_client().get("/x", headers={"Accept-Encoding": header})


def test_each_encoding_decodes_to_the_body_and_is_tighter_than_on_the_fly() -> None:
    body = Path(compression.__file__).read_bytes() * 20  # some real text
    pre = Precompressed(body)
    for header, decode in (("br", brotli.decompress), ("zstd", lambda d: compression.decompress(d, "zstd")),
                           ("gzip", gzip.decompress)):
        resp = serve(pre, header)
        assert resp.headers["Content-Encoding"] == header and resp.headers["Vary"] == "Accept-Encoding"
        assert resp.headers["Cache-Control"] == IMMUTABLE
        assert decode(resp.get_data()) == body
    fast = len(compression.zstd.compress(body, 3))
    assert len(serve(pre, "zstd").get_data()) < fast
    plain = serve(pre, "identity")
    assert "Content-Encoding" not in plain.headers and plain.get_data() == body


def test_build_files_are_used_only_when_they_are_of_this_body(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    bundle = tmp_path / "bundle.js"
    bundle.write_bytes(b"var a = 1;\n" * 5000)
    written = compression.precompress(bundle)
    assert sorted(p.name for p in written) == ["bundle.js.br", "bundle.js.gz", "bundle.js.zst"]
    files = {e: bundle.with_name(bundle.name + compression.SUFFIX[e]) for e in compression.ENCODINGS}
    assert Precompressed(bundle.read_bytes(), files).encoded("br") == files["br"].read_bytes()
    # A rebuilt bundle whose encodings were not rewritten: they are not sent, and the log says so.
    bundle.write_bytes(b"var b = 2;\n" * 5000)
    files["gzip"].write_bytes(b"not gzip")
    with caplog.at_level(logging.WARNING):
        pre = Precompressed(bundle.read_bytes(), files)
    assert "of another build" in caplog.text and "bundle.js.gz not used" in caplog.text
    for encoding in compression.ENCODINGS:
        assert compression.decompress(pre.encoded(encoding), encoding) == bundle.read_bytes()


def test_the_served_bundle_is_the_build_files_own_encoding(dash_app) -> None:  # noqa: ANN001
    if not plotly_bundle.BUNDLE.exists():
        pytest.skip("no partial bundle built (make js)")
    url = next(u for u in dash_app.config.external_scripts if "plotly-atlas" in u)
    client = dash_app.server.test_client()
    for encoding in compression.ENCODINGS:
        resp = client.get(url, headers={"Accept-Encoding": encoding})
        assert resp.headers["Content-Encoding"] == encoding
        assert compression.decompress(resp.get_data(), encoding) == plotly_bundle.BUNDLE.read_bytes()
        built = plotly_bundle.BUNDLE.with_name(plotly_bundle.BUNDLE.name + compression.SUFFIX[encoding])
        if built.exists():  # make js wrote it: sent as it is
            assert resp.get_data() == built.read_bytes()
