"""Printing the page (issue 20): Chromium prints it to an A4 landscape PDF whose first page holds the view's title,
its view line, the map (the view's slide, since the WebGL map canvas prints blank), the counts and the headline
findings, without the filters. Rasterised with poppler's pdftoppm, read with pdftotext."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import test_browser
from PIL import Image, ImageStat
from test_a11y import open_loaded
from test_browser import pytestmark  # noqa: F401  (the page tests' marks)

browser = test_browser.browser  # the page tests' fixture: a fresh Chromium per test (tests ask for it by name)

POPPLER = shutil.which("pdftoppm") and shutil.which("pdftotext")
needs_poppler = pytest.mark.skipif(not POPPLER and not os.environ.get("CI"),
                                   reason="poppler-utils (pdftoppm, pdftotext) not installed")


def first_page(pdf: Path, out: Path) -> tuple[Image.Image, str, int]:
    """Page 1 as a greyscale image (60 dpi) and as text, and the PDF's page count."""
    subprocess.run(["pdftoppm", "-r", "60", "-gray", "-png", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(out / "page1")], check=True, timeout=60)
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=60).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    return Image.open(out / "page1.png").convert("L"), text, pages


@needs_poppler
@pytest.mark.parametrize("query", ["?year=2016&region=London", "?year=2015"], ids=["london", "england"])
def test_printed_first_page_shows_title_view_line_map_and_counts(request: pytest.FixtureRequest, live_server: str,
                                                                  tmp_path: Path, query: str) -> None:
    p = open_loaded(request, live_server + "/" + query, statistics=False)
    # Nothing is fetched for the print before a print: not the image, not the statistics (never seen).
    assert not p.js("() => document.getElementById('statistics').dataset.asked")
    assert p.js("() => document.getElementById('print-map').getAttribute('src')") is None
    assert not [u for u in p.requests if "/export.png" in u and "download" not in u]
    title = p.page.inner_text("h1")
    view_line = p.page.inner_text("#view-line")
    # "Print this view" fills the image from the page's query, waits for it, then prints (window.print: caught).
    p.js("() => { window.print = () => { window.__printed = (window.__printed || 0) + 1; }; }")
    p.page.click("#print-view")
    p.page.wait_for_function("() => window.__printed === 1", timeout=60000)
    img = p.js("""() => { const i = document.getElementById('print-map');
        return {src: i.getAttribute('src'), w: i.naturalWidth, h: i.naturalHeight}; }""")
    assert img["src"] == "/export.png" + query or img["src"].endswith("/export.png" + query), img
    assert img["w"] == 1920 and img["h"] == 1080, img
    pdf = tmp_path / "page.pdf"
    p.page.pdf(path=str(pdf), format="A4", landscape=True, print_background=True)
    p.close()
    page, text, pages = first_page(pdf, tmp_path)
    flat = " ".join(text.split())
    assert title in flat, f"page 1 lacks the title: {flat[:300]}"
    assert " ".join(view_line.split()) in flat, f"page 1 lacks the view line {view_line!r}: {flat[:300]}"
    assert "Levels in the filter" in flat and "Headline findings" in flat, flat[:600]
    assert "Evidence behind each level" not in flat and "Find CCGs" not in flat, "the filters were printed"
    # The map: the slide image fills the left of the page under the header. Blank (the WebGL canvas) would be
    # white: the area has ink and many tones.
    w, h = page.size
    area = page.crop((int(0.04 * w), int(0.30 * h), int(0.56 * w), int(0.70 * h)))
    stat = ImageStat.Stat(area)
    inked = sum(n for level, n in enumerate(area.histogram()) if level < 235) / (area.width * area.height)
    assert stat.stddev[0] > 30 and inked > 0.25, f"the map area is blank: stddev {stat.stddev[0]:.1f}, ink {inked:.2f}"
    assert len([n for n in area.histogram() if n > 20]) > 30, "the map area has too few tones for a map"
    assert pages <= 8, pages


def test_print_stylesheet_hides_the_filters_and_keeps_the_image_off_screen(request: pytest.FixtureRequest,
                                                                            live_server: str) -> None:
    """On screen the print image takes no room; in print media the filters, the live map and the table are gone and
    the image shows in their place."""
    p = open_loaded(request, live_server + "/?year=2016")
    shown = "(s) => getComputedStyle(document.querySelector(s)).display"
    assert p.page.evaluate(shown, "#print-map") == "none"
    p.page.emulate_media(media="print")
    for hidden in ("#filters", "#map-frame", ".table", ".skip-link"):
        assert p.page.evaluate(shown, hidden) == "none", hidden
    assert p.page.evaluate(shown, "#print-map") == "block"
    p.page.emulate_media(media="screen")
    p.close()
