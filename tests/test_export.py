"""Slide-ready export: the slide's content and layout (no browser), then real renders through Chromium:
exact pixel size and level colours, ``/export.png`` with its 400s and cache, SVG, a missing browser, and the
command line (bad names exit 2; one browser for the 25-slide batch).

The rendering tests share one warm browser per process; the batch runs the real CLI in a subprocess, started
at the beginning of the rendering tests so that it overlaps with them (a slide takes about 2-3 s of CPU).
"""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard import export, figures
from dashboard.slides import render, slide, slide_map
from dashboard.slides import text as slide_text
from dashboard.state import ViewState, Vocabulary, normalise
from geodata.atlas import Atlas
from geodata.vocabulary import FADED_COLOR

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
no_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                 reason="no Chromium here (in CI a missing browser is a failure)")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


def hex_rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def on_white(color: str, opacity: float) -> tuple[float, float, float]:
    return tuple(opacity * c + (1 - opacity) * 255 for c in hex_rgb(color))  # type: ignore[return-value]


def count_near(img, rgb: tuple[float, float, float], tol: float = 14) -> int:  # noqa: ANN001
    """Pixels within tol of rgb on every channel (antialiasing and blending tolerance)."""
    lo = [max(0, round(c - tol)) for c in rgb]
    hi = [min(255, round(c + tol)) for c in rgb]
    bands = [band.point(lambda v, a=a, b=b: 255 if a <= v <= b else 0) for band, a, b in zip(img.split(), lo, hi)]
    from PIL import ImageChops

    both = ImageChops.multiply(ImageChops.multiply(bands[0], bands[1]), bands[2])
    return both.histogram()[255]


@pytest.fixture(scope="module")
def vocab(atlas: Atlas) -> Vocabulary:
    return Vocabulary.from_table(atlas.table)


def annotations_text(fig) -> str:  # noqa: ANN001
    text = " ".join(a.text for a in fig.layout.annotations).replace("<br>", " ")
    return re.sub(r"<[^>]+>", "", text).replace("&amp;", "&")


# ------------------------------------------------------------------------------------------------------------
# The slide figure: words, layout, legibility (no browser)
# ------------------------------------------------------------------------------------------------------------


def test_slide_says_what_is_shown(atlas: Atlas, service, vocab: Vocabulary) -> None:  # noqa: ANN001
    state = normalise(vocab, year=2016, area_teams=["Greater Manchester"])
    fig = slide.slide_figure(service.view(state))
    text = annotations_text(fig)
    assert "CCG primary care co-commissioning, 2016/17 — Greater Manchester" in text
    gm = atlas.table[atlas.table["area_team"] == "Greater Manchester"]
    unknown = int((gm["level_2016"] == "unknown").sum())
    assert f"Level not shown for {unknown} of {len(gm)} CCGs shown: no public source found for {unknown}" in text
    assert "Published national totals 2016/17: 115 delegated, 68 joint, 26 greater involvement" in text
    # the legend in words is the page's own legend, with the page's counts for the filter
    for name, visible in zip(figures.map_arrays(service.view(state)).legend_names,
                             figures.map_arrays(service.view(state)).legend_visible):
        if visible:
            assert name in text
    assert f"Atlas build {atlas.build_id}" in text and "levels as of 2016/17" in text
    assert "Open Government Licence v3.0" in text and "Crown copyright" in text
    assert "Co-commissioning levels: NHS England" in text  # the level sources lead the attributions
    other = slide.slide_figure(service.view(normalise(vocab, year=2015, view="change", imd="1-2")))
    assert "change 2015/16 to 2016/17 — IMD quintiles 1-2" in annotations_text(other)
    assert "levels as of 2015/16 and 2016/17" in annotations_text(other)


def test_slide_map_is_the_page_map_zoomed_to_the_filter(atlas: Atlas, service, vocab: Vocabulary) -> None:  # noqa: ANN001
    state = normalise(vocab, year=2016, area_teams=["Greater Manchester"], ccgs=["E38000024"])
    fig = slide.slide_figure(service.view(state))
    view = service.view(state)
    arr = figures.map_arrays(view)
    ccg, faded = fig.data[slide_map.S_CCG], fig.data[slide_map.S_FADED]
    # the filter's CCGs in the page's colours and outlines; every other CCG in the faded tone, as on the page
    codes = list(view.table["ccg_code"])
    rows = [codes.index(c) for c in ccg.locations]
    assert sorted(ccg.locations) == sorted(view.table.index[view.mask])
    assert sorted(faded.locations) == sorted(view.table.index[~view.mask])
    assert list(ccg.z) == [arr.z[i] for i in rows] and ccg.marker.opacity == figures.IN_OPACITY
    assert list(ccg.marker.line.width) == [arr.line_width[i] for i in rows]
    assert faded.colorscale[0][1] == faded.colorscale[-1][1] == FADED_COLOR
    gm = atlas.table[atlas.table["area_team"] == "Greater Manchester"]
    here = fig.layout.meta["slide"]["map_view"]
    assert gm["lon"].min() < here["lon"] < gm["lon"].max() and gm["lat"].min() < here["lat"] < gm["lat"].max()
    england = slide.slide_figure(service.view(ViewState())).layout.meta["slide"]["map_view"]
    assert here["zoom"] > england["zoom"] + 2
    assert 51.5 < england["lat"] < 54 and -3 < england["lon"] < 0
    dom = fig.layout.geo.domain
    assert dom.x[0] >= 0 and 0.5 <= dom.x[1] <= 0.62 and 0 < dom.y[0] < dom.y[1] < 1


VIEWS = [
    {},
    {"area_teams": ["Greater Manchester"]},
    {"area_teams": ["Bristol, North Somerset, Somerset and South Gloucestershire"], "imd": "3-5", "view": "change",
     "ccgs": ["E38000001", "E38000002"]},
    {"area_teams": ["London", "Essex", "Kent and Medway", "Thames Valley", "Wessex", "Surrey and Sussex"],
     "regions": ["South", "London"], "imd": "2-4", "view": "change",
     "ccgs": ["E38000001", "E38000002", "E38000003", "E38000004", "E38000005", "E38000006"]},
]


@pytest.mark.parametrize("kw", VIEWS, ids=["england", "gm", "long-team-change", "crowded"])
def test_slide_is_legible_and_nothing_is_cut_off(atlas: Atlas, service, vocab: Vocabulary, kw: dict) -> None:  # noqa: ANN001
    for width, height in ((1920, 1080), (1280, 720), (3840, 2160)):
        fig = slide.slide_figure(service.view(normalise(vocab, **kw)), width, height)
        meta = fig.layout.meta["slide"]
        s = width / 1920
        sizes = [a.font.size for a in fig.layout.annotations]
        # text read from the back of the room (title, legend, counts, finding) at 20 px or more of 1080; the
        # sources and map names no less than 11 px on a 1600x900 projector
        body = [a.font.size for a in fig.layout.annotations if not a.bgcolor and "Sources and licences" not in a.text]
        assert max(sizes) >= 40 * s - 0.01 and min(body) >= 20 * s - 0.01, (width, sorted(set(sizes)))
        assert min(sizes) * 1600 / width >= 11, (width, sorted(set(sizes)))
        top, bottom = meta["panel_px"]
        assert bottom <= meta["body_px"][1] + 1e-6, "the panel runs into the footer"
        for a in fig.layout.annotations:
            assert 0 <= a.x <= 1 and 0 <= a.y <= 1
            lines = a.text.split("<br>")
            widest = max(slide_text.html_width(line, a.font.size) for line in lines)
            h = len(lines) * a.font.size * slide.LINE
            x = a.x * width + (a.ax if a.showarrow else 0)
            left = x - (widest / 2 if a.xanchor == "center" else 0)
            assert left >= 0 and left + widest <= width - 20 * s, f"too wide: {a.text[:60]}"
            y_top = (1 - a.y) * height + (a.ay if a.showarrow else 0) - (h / 2 if a.yanchor == "middle" else 0)
            assert y_top >= 0 and y_top + h <= height, f"off the slide: {a.text[:60]}"


def test_wrap_keeps_words_and_spaces() -> None:
    lines = slide_text.wrap([("Sources: ", True), ("one two three four five six", False)], 20, 150)
    assert lines[0].startswith("<b>Sources:</b> one") and len(lines) > 1
    assert re.sub(r"<[^>]+>", "", " ".join(lines)) == "Sources: one two three four five six"
    assert all(slide_text.html_width(line, 20) <= 150 for line in lines)
    assert slide_text.html_width("<b>ab</b> c", 20) > slide_text.html_width("ab c", 20)


# ------------------------------------------------------------------------------------------------------------
# Cache and renderer plumbing (no browser)
# ------------------------------------------------------------------------------------------------------------


def test_cache_is_bounded_lru_and_renders_once_per_key() -> None:
    cache = render.SlideCache(max_entries=2, max_bytes=10)
    calls = []

    def make(key: str):  # noqa: ANN202
        def inner() -> bytes:
            calls.append(key)
            time.sleep(0.05)
            return key.encode()
        return inner

    threads = [threading.Thread(target=cache.get_or_make, args=(("a",), make("a"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["a"] and cache.stats.misses == 1 and cache.stats.hits == 7
    cache.get_or_make(("b",), make("b"))
    cache.get_or_make(("a",), make("a"))  # a is now the most recent
    cache.get_or_make(("c",), make("c"))  # evicts b
    assert cache.get(("b",)) is None and cache.get(("a",)) == b"a" and len(cache) == 2
    cache.get_or_make(("big",), lambda: b"x" * 11)  # over the byte bound: returned, not kept
    assert cache.get(("big",)) is None


def test_cache_key_ignores_notices_but_not_the_view(service) -> None:  # noqa: ANN001
    a = ViewState(year=2016, area_teams=("London",))
    assert render.cache_key(service, a, "png", 1920, 1080) == render.cache_key(
        service, a.with_notices(["x"]), "png", 1920, 1080)
    assert render.cache_key(service, a, "png", 1920, 1080) != render.cache_key(
        service, ViewState(year=2015, area_teams=("London",)), "png", 1920, 1080)
    assert render.cache_key(service, a, "png", 1920, 1080) != render.cache_key(service, a, "svg", 1920, 1080)
    with pytest.raises(ValueError):
        render.check_size("gif", 1920, 1080)
    with pytest.raises(ValueError):
        render.check_size("png", 10, 1080)


def test_missing_browser_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              atlas_dir: Path, capsys: pytest.CaptureFixture) -> None:
    r = render.Renderer(browser_path=str(tmp_path / "no-chromium"))
    with pytest.raises(render.RendererUnavailable, match=r"apt-get install chromium"):
        r.start()
    r.close()
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chromium"))
    code = export.main(["--atlas", str(atlas_dir), "--out", str(tmp_path / "x.png"), "--width", "640",
                        "--height", "360"])
    err = capsys.readouterr().err
    assert code == 3 and "apt-get install chromium" in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


# ------------------------------------------------------------------------------------------------------------
# Command line: arguments (no browser)
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, expected", [
    (["--area-team", "Greater Manchster"],
     r"unknown area team 'Greater Manchster'\. Did you mean: 'Greater Manchester'"),
    (["--area-team", "Yorkshire"], r"'North Yorkshire and Humber'; 'South Yorkshire and Bassetlaw'; 'West Yorkshire'"),
    (["--area-team", "Atlantis"],
     r"Valid area teams \(25\): Arden, Herefordshire and Worcestershire; .*West Yorkshire"),
    (["--region", "Nort"], r"unknown region 'Nort'\. Did you mean: 'North'"),
    (["--year", "2099"], r"year '2099': choose 2015 or 2016"),
    (["--imd", "0-9"], r"IMD range '0-9'"),
    (["--ccg", "E38999999"], r"unknown CCG code 'E38999999'"),
    (["--width", "20"], r"width must be a whole number of pixels"),
    (["--by", "area-team"], r"--by area-team needs --out-dir"),
])
def test_bad_arguments_exit_2_with_a_clear_message(atlas_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                  args: list[str], expected: str) -> None:
    out = [] if "--by" in args else ["--out", str(tmp_path / "x.png")]
    code = export.main(["--atlas", str(atlas_dir), *out, *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert re.search(expected, err), err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


def test_batch_plan_is_one_slide_per_area_team(atlas: Atlas, service, tmp_path: Path) -> None:  # noqa: ANN001
    args = export.build_parser().parse_args(["--by", "area-team", "--out-dir", str(tmp_path), "--year", "2015"])
    jobs = export.plan(args, service)
    assert len(jobs) == 25 == len({p for _, p in jobs})
    assert all(s.area_teams == (t,) and s.year == 2015 for (s, _), t in zip(jobs, sorted(atlas.area_teams)))
    args = export.build_parser().parse_args(["--by", "area-team", "--out-dir", str(tmp_path), "--region", "London"])
    assert [s.area_teams for s, _ in export.plan(args, service)] == [("London",)]


# ------------------------------------------------------------------------------------------------------------
# Real renders
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch(atlas_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The 25-slide batch through the real CLI, started now and collected by the test that needs it."""
    out = tmp_path_factory.mktemp("batch")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.export", "--atlas", str(atlas_dir), "--year", "2016", "--by", "area-team",
         "--out-dir", str(out), "--width", "640", "--height", "360"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    info = {"proc": proc, "out": out}
    yield info
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module", autouse=True)
def _batch_starts_first(request: pytest.FixtureRequest) -> None:
    """Start the batch with the module when its test is selected, so it overlaps with the other tests."""
    selected = any(item.name.startswith("test_batch_writes") for item in request.session.items)
    if selected and (Path(CHROMIUM).exists() or os.environ.get("CI")):
        request.getfixturevalue("batch")


@pytest.fixture(scope="module")
def client(export_app):  # noqa: ANN001, ANN201
    return export_app.server.test_client()


@pytest.mark.browser
@no_chromium
def test_export_png_over_http_is_the_slide_and_is_cached(client, export_app) -> None:  # noqa: ANN001
    from PIL import Image

    exporting = export_app.server.extensions["atlas_service"]
    cache = render.slide_cache(exporting)
    cache.clear()
    t0 = time.perf_counter()
    resp = client.get("/export.png?year=2016&download=1")
    first = time.perf_counter() - t0
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "image/png"
    assert 'filename="ccg-cocommissioning-2016.png"' in resp.headers["Content-Disposition"]
    assert png_size(resp.data) == (1920, 1080)
    stats = (cache.stats.hits, cache.stats.renders)
    assert stats == (0, 1)
    again = client.get("/export.png?year=2016")
    assert again.status_code == 200 and again.data == resp.data
    assert (cache.stats.hits, cache.stats.renders) == (1, 1), "second request was rendered again"
    bad = client.get("/export.png?year=2099")
    assert bad.status_code == 400 and "year '2099'" in bad.get_data(as_text=True)
    assert client.get("/export.png?area_team=Atlantis").status_code == 400
    # A page URL with tracking parameters works as the page does: they are ignored, and the cached slide served.
    tracked = client.get("/export.png?year=2016&utm_source=newsletter&fbclid=x")
    assert tracked.status_code == 200 and tracked.data == resp.data

    # The picture: not blank, with the level colours inside the map (not only in the legend swatches).
    img = Image.open(io.BytesIO(resp.data)).convert("RGB")
    assert img.size == (1920, 1080)
    fig = slide.slide_figure(exporting.view(ViewState(year=2016)))
    dom = fig.layout.geo.domain
    box = (round(dom.x[0] * 1920) + 4, round((1 - dom.y[1]) * 1080) + 4,
           round(dom.x[1] * 1920) - 4, round((1 - dom.y[0]) * 1080) - 4)
    map_area = img.crop(box)
    white = count_near(map_area, (255, 255, 255), 3)
    assert white < 0.9 * map_area.width * map_area.height, "the map is blank"
    for level in ("delegated", "joint", "unknown"):
        found = count_near(map_area, on_white(figures.LEVEL_COLOR[level], figures.IN_OPACITY))
        assert found > 500, f"{level} colour {figures.LEVEL_COLOR[level]} found on {found} map pixels"
    assert len(img.resize((480, 270)).getcolors(maxcolors=100_000) or []) > 200  # not a flat image
    print(f"\n/export.png 1920x1080: {len(resp.data) / 1024:.0f} KiB, first request {first:.1f} s")


@pytest.mark.browser
@no_chromium
def test_svg_for_print(export_app, vocab: Vocabulary) -> None:  # noqa: ANN001
    exporting = export_app.server.extensions["atlas_service"]
    state = normalise(vocab, year=2016, area_teams=["London"], view="change")
    data = render.slide_bytes(exporting, state, fmt="svg", width=640, height=360)
    head = data[:200].lstrip()
    assert head.startswith(b"<svg") or head.startswith(b"<?xml"), head[:80]
    text = data.decode("utf-8")
    assert 'width="640"' in text and 'height="360"' in text
    assert "co-commissioning" in text and "London" in text  # the words are text, not pixels
    assert render.renderer_for(exporting).launches == 1, "the app's renderer started more than one browser"


@pytest.mark.browser
@no_chromium
def test_batch_writes_one_slide_per_area_team_with_one_browser(batch: dict, atlas: Atlas) -> None:
    proc = batch["proc"]
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the 25-slide batch took more than 4 minutes")
    assert proc.returncode == 0, stderr[-3000:]
    files = sorted(batch["out"].glob("*.png"))
    assert len(files) == 25, [f.name for f in files]
    expected = {f"ccg-cocommissioning-2016-{'-'.join(re.sub(r'[^a-z0-9]+', ' ', t.lower()).split())}.png"
                for t in atlas.area_teams}
    assert {f.name for f in files} == expected
    for f in files:
        data = f.read_bytes()
        assert png_size(data) == (640, 360) and len(data) > 20_000, f.name
    assert "browser launches: 1, renders: 25" in stderr, stderr[-2000:]
    bars = [line for line in stderr.splitlines() if line.startswith("[")]
    assert len(bars) >= 25 and "25/25" in bars[-1] and "#" * 30 in bars[-1]
    assert "Traceback" not in stderr


def test_titles_wrap_into_balanced_lines_without_an_orphaned_word() -> None:
    title = "CCG primary care co-commissioning, 2016/17 — Birmingham, Solihull and the Black Country; IMD quintile 1"
    greedy = slide_text.wrap([(title, True)], 46, 1848)
    balanced = slide_text.balanced_wrap([(title, True)], 46, 1848)
    assert len(balanced) == len(greedy) == 2
    widths = [slide_text.html_width(line, 46) for line in balanced]
    assert min(widths) > 0.6 * max(widths), balanced  # greedy leaves a short last line
    assert " ".join(balanced).replace("<b>", "").replace("</b>", "") == title


def test_cluster_marks_reach_the_exported_slide(client, export_app) -> None:  # noqa: ANN001
    """``/export.png?clusters=1`` (the page's link when the box is ticked) and ``--clusters`` draw the rings: the
    slide differs from the unmarked one over many pixels and its legend explains the ring."""
    from PIL import Image, ImageChops

    plain = client.get("/export.png?year=2016")
    marked = client.get("/export.png?year=2016&clusters=1")
    assert plain.status_code == marked.status_code == 200, marked.get_data(as_text=True)[:200]
    a = Image.open(io.BytesIO(plain.data)).convert("RGB")
    b = Image.open(io.BytesIO(marked.data)).convert("RGB")
    changed = sum(ImageChops.difference(a, b).convert("L").histogram()[41:])  # pixels more than 40 grey levels apart
    assert changed > 800, f"only {changed} pixels differ with cluster marks"
    assert client.get("/export.png?year=2016&clusters=maybe").status_code == 400
    service = export_app.server.extensions["atlas_service"]
    args = export.build_parser().parse_args(["--year", "2016", "--clusters", "--out", "x.png"])
    [(state, _path)] = export.plan(args, service)
    assert state.clusters and state == normalise(service.vocabulary, year=2016, clusters=True)
