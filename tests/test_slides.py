"""Briefing-grade slides: a London inset on England slides, a locator map on small areas, names on slides of 30
CCGs or fewer, the selected CCG outlined above its neighbours, three lines of sources, visible cluster marks.

Layout is checked on the figure (independently re-projecting every CCG into slide pixels from the map's own
centre and zoom); what must be seen is checked on real renders through Chromium (one warm browser per session).
"""

from __future__ import annotations

import io
import itertools
import os
import re
from pathlib import Path

import numpy as np
import pytest

from dashboard import figures
from dashboard.clustering_summary import cluster_table
from dashboard.slides import labels as slide_labels
from dashboard.slides import render, slide, slide_map
from dashboard.slides import text as slide_text
from dashboard.slides import words as slide_words
from dashboard.slides.place import MapFrame, clip, overlaps
from dashboard.state import ViewState
from geodata.vocabulary import FADED_COLOR, LEVEL_COLOR

no_chromium = pytest.mark.skipif(not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists()
                                 and not os.environ.get("CI"), reason="no Chromium here (in CI a failure)")

ENGLAND_2015 = ViewState(year=2015)
LONDON = ViewState(year=2016, regions=("London",))
GM = ViewState(year=2016, area_teams=("Greater Manchester",))
DEPRIVED_NORTH = ViewState(year=2016, regions=("North",), imd=(1, 1))


def frame_of(fig) -> MapFrame:  # noqa: ANN001
    meta = fig.layout.meta["slide"]
    m = meta["map_view"]
    lon, lat = fig.layout.geo.lonaxis.range, fig.layout.geo.lataxis.range
    frame = MapFrame(*meta["map_px"], m["lon"], m["lat"], m["zoom"])
    # the geo subplot draws exactly this frame: its ranges are the frame's edges in the same projection
    x0, y1 = frame.to_px(lon[0], lat[0])
    x1, y0 = frame.to_px(lon[1], lat[1])
    assert np.allclose([x0, y0, x1, y1], meta["map_px"], atol=0.5), ([x0, y0, x1, y1], meta["map_px"])
    assert (fig.layout.geo.center.lon, fig.layout.geo.center.lat) == (m["lon"], m["lat"])
    return frame


def shown_boxes(service, state: ViewState, fig) -> list:  # noqa: ANN001
    """Pixel boxes of the CCGs the slide shows, projected afresh from the map's centre and zoom."""
    view = service.view(state)
    f = frame_of(fig)
    codes = view.table.index[view.mask]
    return [b for b in (clip(f.bounds_px(service.bounds[c]), f.box) for c in codes) if b]


def rgb8(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


def drawn(level: str) -> np.ndarray:
    """A level's colour as the map draws it: at IN_OPACITY over the faded tone beneath the CCGs."""
    return figures.IN_OPACITY * rgb8(LEVEL_COLOR[level]) + (1 - figures.IN_OPACITY) * rgb8(FADED_COLOR)


def near(pixels: np.ndarray, color: np.ndarray, tol: float = 8) -> int:
    return int((np.abs(pixels.astype(float) - color).max(axis=-1) <= tol).sum())


def png(service, fig) -> np.ndarray:  # noqa: ANN001
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(render.renderer_for(service).render(fig))).convert("RGB"))


# ------------------------------------------------------------------------------------------------------------
# London inset
# ------------------------------------------------------------------------------------------------------------


def test_england_slide_repeats_london_in_an_inset_that_covers_no_shown_ccg(service) -> None:  # noqa: ANN001
    fig = slide.slide_figure(service.view(ENGLAND_2015))
    meta = fig.layout.meta["slide"]
    inset = meta["inset_px"]
    assert inset, "no London inset on the England slide"
    assert not [b for b in shown_boxes(service, ENGLAND_2015, fig) if overlaps(tuple(inset), b)]
    x0, y0, x1, y1 = meta["map_px"]
    assert x0 <= inset[0] < inset[2] <= x1 and y0 <= inset[1] < inset[3] <= y1, "the inset leaves the map's frame"
    assert inset[2] - inset[0] >= 250, "London at a readable scale needs room"
    # the inset is London's 32 CCGs (the atlas's London region), coloured like the main map
    table = service.table
    london = table.index[table["region"] == "London"]
    assert len(london) == 32
    main = fig.data[slide_map.S_CCG]
    ins = [t for t in fig.data if t.type == "choropleth" and t.geo == "geo2" and t.name.startswith("CCGs")]
    assert len(ins) == 2 and sorted([*ins[0].locations, *ins[1].locations]) == sorted(london)
    z = dict(zip(main.locations, main.z))
    shown = ins[1]
    assert len(shown.locations) == 32 and [z[c] for c in shown.locations] == list(shown.z)
    assert shown.colorscale == main.colorscale
    meta = fig.layout.meta["slide"]
    assert meta["inset_view"]["zoom"] > meta["map_view"]["zoom"] + 2
    assert any(a.text == "<b>London</b>" for a in fig.layout.annotations)


def test_inset_only_where_london_is_among_other_ccgs(service) -> None:  # noqa: ANN001
    def has_inset(state: ViewState) -> bool:
        fig = slide.slide_figure(service.view(state))
        return bool(fig.layout.meta["slide"]["inset_px"]) and any(t.geo == "geo2" for t in fig.data)
    assert has_inset(ViewState(year=2016, regions=("London", "South")))
    assert has_inset(ViewState(year=2016, imd=(1, 2)))  # deprived CCGs across England, London's among them
    assert not has_inset(LONDON) and not has_inset(GM)


@pytest.mark.browser
@no_chromium
def test_rendered_inset_shows_londons_levels(service) -> None:  # noqa: ANN001
    fig = slide.slide_figure(service.view(ENGLAND_2015))
    x0, y0, x1, y1 = (round(v) for v in fig.layout.meta["slide"]["inset_map_px"])
    img = png(service, fig)
    inset = img[y0 + 3:y1 - 3, x0 + 3:x1 - 3]
    table, view = service.table, service.view(ENGLAND_2015)
    london = (table["region"] == "London").to_numpy()
    levels = {lv: int((view.level[london] == lv).sum()) for lv in set(view.level[london])}
    top = max(levels, key=levels.get)
    # London in 2015/16 is mostly one level: in the inset that colour fills a good part of the box, whereas
    # on the main map London is a few dozen pixels
    assert near(inset, drawn(top)) > 0.15 * inset.shape[0] * inset.shape[1], top


# ------------------------------------------------------------------------------------------------------------
# Names
# ------------------------------------------------------------------------------------------------------------


def test_short_names_drop_nhs_and_ccg() -> None:
    assert slide_labels.short_name("NHS Heywood, Middleton and Rochdale CCG") == "Heywood, Middleton & Rochdale"
    assert slide_labels.short_name("NHS Central London (Westminster) CCG") == "Central London"
    assert slide_labels.short_name("NHS Bolton CCG") == "Bolton"
    assert slide_labels.short_name("NHS South East Staffordshire and Seisdon Peninsula CCG") == \
        "SE Staffs & Seisdon Peninsula"


@pytest.mark.parametrize("state", [GM, DEPRIVED_NORTH, ViewState(year=2015, area_teams=("London",), imd=(1, 2))],
                         ids=["gm", "deprived-north", "deprived-london"])
def test_small_slides_name_every_ccg_without_overlaps(service, state: ViewState) -> None:  # noqa: ANN001
    view = service.view(state)
    assert 0 < view.n <= 30
    for width, height in ((1920, 1080), (1280, 720)):
        fig = slide.slide_figure(view, width, height)
        meta = fig.layout.meta["slide"]
        labels = meta["labels"]
        assert sorted(lab["code"] for lab in labels) == sorted(view.table.index[view.mask])
        for a, b in itertools.combinations(labels, 2):
            assert not overlaps(tuple(a["box"]), tuple(b["box"])), (a["text"], b["text"])
        frame = meta["map_px"]
        for lab in labels:
            x0, y0, x1, y1 = lab["box"]
            assert frame[0] <= x0 and x1 <= frame[2] and frame[1] <= y0 and y1 <= frame[3], lab["text"]
            for other in (meta["inset_px"], meta["locator_px"], meta["key_px"]):
                assert not other or not overlaps(tuple(lab["box"]), tuple(other)), lab["text"]
            assert "NHS" not in lab["text"] and "CCG" not in lab["text"]
        numbered = [lab for lab in labels if lab["number"]]
        assert [k.split(" ", 1)[0] for k in meta["key"]] == [str(lab["number"]) for lab in
                                                              sorted(numbered, key=lambda x: x["number"])]
        texts = " ".join(a.text for a in fig.layout.annotations).replace("&amp;", "&")
        for lab in labels:
            assert lab["text"].split(" ")[0] in texts
    london = service.view(LONDON)
    named = slide.slide_figure(london).layout.meta["slide"]["labels"]
    assert sorted(lab["code"] for lab in named) == sorted(london.table.index[london.mask]), "London's 32 named"


def test_crowded_labels_fall_back_to_numbers_and_a_key() -> None:
    items = [(f"C{i}", f"Place number {i}", (200 + i % 3, 200 + i // 3)) for i in range(12)]
    placed = slide_labels.place_labels(items, 15, (150, 150, 420, 260), [], slide_text.text_width)
    boxes = [lab.box for lab in placed.labels]
    assert all(not overlaps(a, b) for a, b in itertools.combinations(boxes, 2))
    numbered = [lab for lab in placed.labels if lab.number]
    assert numbered and len(placed.key) == len(numbered)
    assert {lab.code for lab in placed.labels} == {c for c, _, _ in items}


# ------------------------------------------------------------------------------------------------------------
# Locator map
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [GM, LONDON, DEPRIVED_NORTH], ids=["gm", "london", "deprived-north"])
def test_small_areas_get_a_locator_map_clear_of_the_shown_ccgs(service, state: ViewState) -> None:  # noqa: ANN001
    fig = slide.slide_figure(service.view(state))
    meta = fig.layout.meta["slide"]
    box, area = meta["locator_px"], meta["locator_area_px"]
    assert box, "no locator map"
    assert not [b for b in shown_boxes(service, state, fig) if overlaps(tuple(box), b)]
    assert box[0] <= area[0] < area[2] <= box[2] and box[1] <= area[1] < area[3] <= box[3]
    # England's outline is drawn in the box, and the area marked in a dark tone
    paths = [sh for sh in fig.layout.shapes if sh.type == "path"]
    assert paths and len(re.findall(r"[ML]", paths[0].path)) > 50
    assert [sh for sh in fig.layout.shapes if sh.type == "rect" and str(sh.fillcolor).startswith("rgba(17,17,17")]


def test_england_and_regions_need_no_locator(service) -> None:  # noqa: ANN001
    for state in (ENGLAND_2015, ViewState(year=2016, regions=("South",))):
        assert slide.slide_figure(service.view(state)).layout.meta["slide"]["locator_px"] is None


# ------------------------------------------------------------------------------------------------------------
# Selection outline, sources, clusters
# ------------------------------------------------------------------------------------------------------------


def test_selected_ccg_is_outlined_on_top_of_its_neighbours(service) -> None:  # noqa: ANN001
    state = ViewState(year=2016, ccgs=("E38000024",))
    fig = slide.slide_figure(service.view(state))
    lines = [t for t in fig.data if t.type == "scattergeo" and t.name in ("selected (casing)", "selected outline")]
    assert [t.name for t in lines] == ["selected (casing)", "selected outline"]
    assert fig.data.index(lines[0]) > slide_map.S_CLUSTERS, "drawn after (above) every CCG and border"
    assert lines[1].line.color == figures.SELECTED_COLOR and lines[1].line.width >= 2
    assert lines[0].line.width > lines[1].line.width  # a pale casing shows it on dark colours too
    # Bury is a few pixels across on the England slide: named beside it, the label clear of its outline
    labels = fig.layout.meta["slide"]["labels"]
    assert [(lab["code"], lab["text"], lab["leader"]) for lab in labels] == [("E38000024", "Bury", True)]
    frame = frame_of(fig)
    assert not overlaps(tuple(labels[0]["box"]), frame.bounds_px(service.bounds["E38000024"]))
    gm = slide.slide_figure(service.view(ViewState(year=2016, area_teams=GM.area_teams, ccgs=("E38000024",))))
    assert [t.line.width for t in gm.data if t.name == "selected outline"] == [4.0], "full width at GM scale"
    assert not [t for t in slide.slide_figure(service.view(ViewState(year=2016))).data if t.name == "selected outline"]


@pytest.mark.parametrize("size", [(1920, 1080), (1600, 900), (1280, 720)])
def test_sources_fit_three_lines_readable_when_projected(service, size: tuple[int, int]) -> None:  # noqa: ANN001
    for state in (ENGLAND_2015, GM, ViewState(year=2015, view="change", imd=(1, 2))):
        fig = slide.slide_figure(service.view(state), *size)
        meta = fig.layout.meta["slide"]
        assert meta["source_lines"] <= 3
        assert meta["source_font_px"] * 1600 / size[0] >= 11
        src = next(a.text for a in fig.layout.annotations if "Sources and licences" in a.text)
        assert src.count("<br>") <= 2
        text = re.sub(r"<[^>]+>", "", src.replace("<br>", " "))
        for words in ("Co-commissioning levels: NHS England", "Source: Office for National Statistics",
                      "contains public sector information licensed under the Open Government Licence v3.0",
                      "English indices of deprivation 2015", "ONS mid-2015 CCG population estimates",
                      "NHS Digital", "Contains National Statistics and OS data © Crown copyright and database "
                      "right 2016", "levels as of", "Atlas build"):
            assert words in text, words


def test_page_cluster_marks_are_rings_sized_in_pixels(service) -> None:  # noqa: ANN001
    state = ViewState(year=2016)
    clusters = cluster_table(service, state)
    n = int(clusters["significant"].sum())
    fig = figures.map_figure(service.view(state), clusters=clusters)
    marks = fig.data[figures.T_CLUSTERS]
    assert len(marks.lon) == 2 * n, "each marked CCG is a disc and a centre"
    sizes, colors = list(marks.marker.size)[:2 * n], list(marks.marker.color)[:2 * n]
    assert sizes[0::2] == [figures.CLUSTER_SIZE] * n and max(sizes[1::2]) <= figures.CLUSTER_SIZE - 6
    assert figures.CLUSTER_SIZE >= 15 and set(colors[0::2]) == {figures.SELECTED_COLOR} and \
        set(colors[1::2]) == {"#ffffff"}


@pytest.mark.browser
@no_chromium
def test_cluster_marks_are_visible_on_the_england_slide(service) -> None:  # noqa: ANN001
    state = ViewState(year=2016)
    clusters = cluster_table(service, state)
    assert clusters["significant"].sum() >= 5
    plain = png(service, slide.slide_figure(service.view(state)))
    marked_fig = slide.slide_figure(service.view(state), clusters=clusters)
    marked = png(service, marked_fig)
    x0, y0, x1, y1 = (round(v) for v in marked_fig.layout.meta["slide"]["map_px"])
    changed = np.abs(marked.astype(int) - plain.astype(int)).max(axis=-1) > 40
    assert changed[y0:y1, x0:x1].sum() >= 800, int(changed[y0:y1, x0:x1].sum())
    text = " ".join(a.text for a in marked_fig.layout.annotations)
    assert slide.CLUSTER_NAME.split(":")[0] in text, "the legend explains the rings"


def test_every_area_team_slide_is_named_and_located_without_overlaps(service) -> None:  # noqa: ANN001
    """The 25 slides of ``--by area-team``: names (where 40 CCGs or fewer), locator and key never collide."""
    for team in sorted(set(service.table["area_team"])):
        state = ViewState(year=2016, area_teams=(team,))
        view = service.view(state)
        meta = slide.slide_figure(view).layout.meta["slide"]
        boxes = [tuple(lab["box"]) for lab in meta["labels"]]
        boxes += [tuple(b) for b in (meta["locator_px"], meta["key_px"], meta["inset_px"]) if b]
        for a, b in itertools.combinations(boxes, 2):
            assert not overlaps(a, b), (team, a, b)
        if view.n <= 30:
            assert len(meta["labels"]) == view.n, team
        assert meta["locator_px"], f"{team}: no locator map"
        assert not [b for b in shown_boxes(service, state, slide.slide_figure(view))
                    if overlaps(tuple(meta["locator_px"]), b)], team


def test_change_slide_finding_says_which_years_levels_it_tested(service) -> None:  # noqa: ANN001
    """A change slide's title names two years; the clustering finding in its footer is of one year's levels."""
    change = slide_words.finding_line(service.view(ViewState(view="change", regions=("London",))))
    level = slide_words.finding_line(service.view(ViewState(year=2016, regions=("London",))))
    assert change == f"2016/17: {level}"
    assert not level.startswith("2016/17")


@pytest.mark.browser
@no_chromium
def test_rendered_map_lies_where_the_placement_maths_puts_it(service) -> None:  # noqa: ANN001
    """The slide's geo subplot projects as its MapFrame does (web Mercator at the frame's centre and zoom), so the
    labels, inset, locator and key placed with that maths land where intended: at each CCG's point, projected
    afresh, the rendered pixel (or one beside it) has the colour of the CCG's level."""
    view = service.view(ENGLAND_2015)
    fig = slide.slide_figure(view)
    frame = frame_of(fig)
    img = png(service, fig)
    meta = fig.layout.meta["slide"]
    covered = [tuple(b) for b in (meta["inset_px"], meta["locator_px"], meta["key_px"]) if b]
    dotted = figures.dotted(view)
    hits = tried = 0
    for i, (_code, row) in enumerate(view.table.iterrows()):
        x, y = frame.to_px(row.lon, row.lat)
        if dotted[i] or any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in covered):
            continue  # a dot sits on the point, or an inset covers it
        tried += 1
        patch = img[round(y) - 1:round(y) + 2, round(x) - 1:round(x) + 2]
        hits += near(patch, drawn(view.level[i]), tol=10) > 0
    assert tried > 100 and hits >= 0.9 * tried, (hits, tried)
