"""Slides for print and for PowerPoint: ``/export.svg`` and ``/export.pdf`` hold the map as vector paths (no
picture of it), a PDF slide holds its words as text, ``/export.pptx`` and ``--format pptx`` give one slide with the
picture, its summary as alt text and the sources in the notes, and rendering a slide fetches nothing from outside
the machine (every request Chromium makes goes to a recording proxy on loopback, which must see none).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import threading
import zlib
from pathlib import Path

import pytest

from dashboard import export
from dashboard.slides import queue as slide_queue
from dashboard.slides import render, slide, slide_map
from dashboard.slides import words as slide_words
from dashboard.state import ViewState, normalise

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
no_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                 reason="no Chromium here (in CI a missing browser is a failure)")
GM = ViewState(year=2016, area_teams=("Greater Manchester",))


@pytest.fixture(scope="module")
def client(export_app):  # noqa: ANN001, ANN201
    return export_app.server.test_client()


def choropleth_paths(svg: str) -> list[str]:
    """The style of every path plotly drew for a choropleth location (a CCG, or the faded England beneath)."""
    return re.findall(r'<path class="choroplethlocation"[^>]*?style="([^"]*)"', svg)


def pdf_text(data: bytes) -> str:
    """The PDF's words: through ``pdftotext`` (poppler-utils) when it is installed, else the text-showing strings
    of its content streams decoded through its fonts' ToUnicode maps (enough for Chromium's PDFs)."""
    if shutil.which("pdftotext"):
        out = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, timeout=60, check=True)
        return out.stdout.decode("utf-8", "replace")
    streams = []
    for m in re.finditer(rb"stream\r?\n", data):
        end = data.find(b"endstream", m.end())
        try:
            streams.append(zlib.decompress(data[m.end():end]))
        except zlib.error:
            continue
    cmap: dict[int, str] = {}
    for s in streams:
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", s, re.S):
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                cmap[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be", "replace")
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", s, re.S):
            for lo, hi, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                start = int(dst, 16)
                for k, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                    cmap[code] = chr(start + k)
    words = []
    for s in streams:
        for run in re.findall(rb"<([0-9A-Fa-f]+)>\s*Tj|\[(.*?)\]\s*TJ", s, re.S):
            for hexes in re.findall(rb"<([0-9A-Fa-f]+)>", b"<" + run[0] + b">" if run[0] else run[1]):
                words.append("".join(cmap.get(int(hexes[i:i + 4], 16), "") for i in range(0, len(hexes), 4)))
    return " ".join(words)


# ------------------------------------------------------------------------------------------------------------
# SVG and PDF: the map as paths
# ------------------------------------------------------------------------------------------------------------


def test_slide_map_is_a_geo_subplot_framed_like_the_page(service) -> None:  # noqa: ANN001
    """No WebGL map on a slide: every trace is a geo trace, on one of the slide's geo subplots, and each subplot
    draws no base layer (which plotly would fetch from a CDN)."""
    fig = slide.slide_figure(service.view(ViewState(year=2016)))
    assert {t.type for t in fig.data} <= {"choropleth", "scattergeo"}
    for name in ("geo", "geo2"):  # England and its London inset
        geo = fig.layout[name]
        assert geo.projection.type == "mercator"
        for layer in slide_map.HIDDEN_BASE:
            assert geo[layer] is False, (name, layer)
        first = next(t for t in fig.data if t.geo == name)
        assert first.type == "scattergeo" and not first.locations, "a choropleth first would fetch topojson"


@pytest.mark.browser
@no_chromium
def test_svg_slide_holds_the_map_as_paths_not_a_picture(client) -> None:  # noqa: ANN001
    resp = client.get("/export.svg?year=2016&region=London&download=1")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "image/svg+xml"
    assert 'filename="ccg-cocommissioning-2016-london.svg"' in resp.headers["Content-Disposition"]
    svg = resp.data.decode("utf-8")
    assert "<image" not in svg, "a raster picture in the SVG"
    styles = choropleth_paths(svg)
    shown = [s for s in styles if re.search(r"(?<!-)opacity: 0\.92", s)]  # the filter's CCGs, at IN_OPACITY
    assert len(shown) >= 32, f"{len(shown)} paths for London's 32 CCGs"
    assert len(styles) >= 209, "every CCG (the others faded) is a path"
    assert "CCG primary care co-commissioning, 2016/17" in svg and "Barnet" in svg  # words and names as text


@pytest.mark.browser
@no_chromium
def test_pdf_slide_is_vector_with_its_words_as_text(client, export_app) -> None:  # noqa: ANN001
    resp = client.get("/export.pdf?year=2016&area_team=Greater+Manchester")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/pdf" and resp.data.startswith(b"%PDF-")
    assert b"/Subtype /Image" not in resp.data and b"/Subtype/Image" not in resp.data, "a raster picture in the PDF"
    text = re.sub(r"\s+", " ", pdf_text(resp.data))
    assert "CCG primary care co-commissioning, 2016/17" in text, text[:300]
    assert "Greater Manchester" in text and "Bolton" in text
    view = export_app.server.extensions["atlas_service"].view(normalise(export_app.server.extensions[
        "atlas_service"].vocabulary, year=2016, area_teams=["Greater Manchester"]))
    assert f"{view.n} CCGs shown" in text


@pytest.mark.parametrize("fmt", ["svg", "pdf", "pptx"])
def test_every_format_refuses_what_the_page_would_drop(client, fmt: str) -> None:  # noqa: ANN001
    bad = client.get(f"/export.{fmt}?year=2099")
    assert bad.status_code == 400 and "year '2099'" in bad.get_data(as_text=True)
    assert client.get(f"/export.{fmt}?area_team=Atlantis").status_code == 400
    assert client.get("/export.gif?year=2016").status_code == 404


def test_formats_without_a_browser_answer_503(export_app, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    def unavailable(*_args: object, **_kw: object) -> bytes:
        raise render.RendererUnavailable("no Chrome or Chromium browser found")

    monkeypatch.setattr(slide_queue.ExportQueue, "slide", unavailable)
    c = export_app.server.test_client()
    for fmt in ("svg", "pdf", "pptx"):
        resp = c.get(f"/export.{fmt}?year=2015&imd=1-1")
        assert resp.status_code == 503 and "not available" in resp.get_data(as_text=True), fmt
        assert resp.headers.get("Retry-After"), fmt


# ------------------------------------------------------------------------------------------------------------
# PowerPoint
# ------------------------------------------------------------------------------------------------------------


def check_pptx(data: bytes, view, png_size: tuple[int, int]) -> None:  # noqa: ANN001
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    deck = Presentation(io.BytesIO(data))
    assert len(deck.slides) == 1
    assert abs(deck.slide_width / deck.slide_height - png_size[0] / png_size[1]) < 1e-3
    [pic] = [s for s in deck.slides[0].shapes if s.shape_type == MSO_SHAPE_TYPE.PICTURE]
    assert (pic.left, pic.top, pic.width, pic.height) == (0, 0, deck.slide_width, deck.slide_height), "full-bleed"
    assert pic.image.content_type == "image/png" and pic.image.size == png_size
    alt = pic._element.nvPicPr.cNvPr.get("descr")
    assert slide_words.title_text(view.state) in alt
    assert f"level known for {view.n - int((view.level[view.mask] == 'unknown').sum())}" in alt
    for para in slide_words.counts_panel(view).paragraphs:
        assert slide_words.plain(para).strip() in alt
    notes = deck.slides[0].notes_slide.notes_text_frame.text
    assert notes.startswith("Finding: " + slide_words.finding_line(view))
    assert "Sources and licences: " in notes and "Open Government Licence v3.0" in notes
    assert f"Atlas build {view.atlas.build_id}" in notes


@pytest.mark.browser
@no_chromium
def test_pptx_download_is_the_slide_with_its_summary_and_sources(client, export_app) -> None:  # noqa: ANN001
    from PIL import Image

    service = export_app.server.extensions["atlas_service"]
    resp = client.get("/export.pptx?year=2016&area_team=Greater+Manchester&download=1")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    assert 'filename="ccg-cocommissioning-2016-greater-manchester.pptx"' in resp.headers["Content-Disposition"]
    png = client.get("/export.png?year=2016&area_team=Greater+Manchester")
    assert Image.open(io.BytesIO(png.data)).size == (1920, 1080)
    check_pptx(resp.data, service.view(GM), (1920, 1080))
    from pptx import Presentation

    pic = next(iter(Presentation(io.BytesIO(resp.data)).slides[0].shapes))
    assert pic.image.blob == png.data, "the deck holds the very slide of /export.png"


@pytest.mark.browser
@no_chromium
def test_cli_writes_pdf_and_pptx(atlas_dir: Path, service, tmp_path: Path) -> None:  # noqa: ANN001
    pdf, pptx = tmp_path / "gm.pdf", tmp_path / "gm.pptx"
    for out, extra in ((pdf, []), (pptx, ["--format", "pptx"])):
        code = export.main(["--atlas", str(atlas_dir), "--year", "2016", "--area-team", "Greater Manchester",
                            "--width", "960", "--height", "540", "--out", str(out), "--quiet", *extra])
        assert code == 0
    assert pdf.read_bytes().startswith(b"%PDF-")
    check_pptx(pptx.read_bytes(), service.view(GM), (960, 540))


# ------------------------------------------------------------------------------------------------------------
# Nothing fetched from outside
# ------------------------------------------------------------------------------------------------------------


# Chromium's own background calls (component update, network time, accounts, the default search engine's
# preconnect), made whatever page it shows; render.EXTRA_FLAGS keeps them from resolving.
CHROMIUM_SERVICES = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com", "duckduckgo.com")


class RecordingProxy:
    """A loopback 'proxy' that records the first line of every request made to it and answers 502."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    line = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                    if line:  # a connection closed before any byte (Chromium's preconnect) asked for nothing
                        self.requests.append(line)
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.browser
@no_chromium
def test_rendering_a_slide_requests_nothing_outside_the_machine(service, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Chromium sends every http(s) request through a recording proxy on loopback. Without the renderer's
    host-resolver rule, the England slide (London inset included) asks for nothing: the only requests are Chromium's
    own background services, and a geo map with land shown, as a control, does ask plotly's CDN for its topojson.
    With the renderer's flags as shipped (render.EXTRA_FLAGS), even that fetch never gets out of the browser."""
    import plotly.graph_objects as go

    control = go.Figure(go.Scattergeo(lon=[0], lat=[52]), layout={"geo": {"showland": True}})
    proxy = RecordingProxy()
    via_proxy = (f"--proxy-server=http://127.0.0.1:{proxy.port}", "--proxy-bypass-list=<-loopback>")
    shipped = render.EXTRA_FLAGS
    try:
        monkeypatch.setattr(render, "EXTRA_FLAGS", (*[f for f in shipped if "host-resolver" not in f], *via_proxy))
        with render.Renderer(timeout=30) as r:
            svg = r.render(slide.slide_figure(service.view(ViewState(year=2016)), 960, 540), "svg", 960, 540)
            assert b"choroplethlocation" in svg
            slide_requests = [q for q in proxy.requests if not any(h in q for h in CHROMIUM_SERVICES)]
            assert slide_requests == [], slide_requests
            with pytest.raises(render.RendererUnavailable):  # the proxy answers 502: the fetch fails
                r.render(control, "svg", 320, 200)
            assert [q for q in proxy.requests if "cdn.plot.ly" in q], "the control's fetch did not reach the proxy"
        proxy.requests.clear()
        monkeypatch.setattr(render, "EXTRA_FLAGS", (*shipped, *via_proxy))
        with render.Renderer(timeout=30) as r:
            with pytest.raises(render.RendererUnavailable):
                r.render(control, "svg", 320, 200)
            assert proxy.requests == [], "the shipped renderer let a request out"
    finally:
        proxy.close()
