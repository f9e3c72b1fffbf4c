"""The palette for greyscale print and colour-vision deficiencies (issue 13).

Read from ``geodata.vocabulary`` (LEVEL_COLOR, CHANGE_COLOR, FADED_COLOR); every formula is written out here:

- CIE L*a*b* from sRGB: the sRGB transfer function (IEC 61966-2-1), linear sRGB to XYZ with the D65 matrix, then
  CIE 1976 L*a*b* with the D65 white (0.95047, 1, 1.08883).
- Greyscale print: what ``PIL.Image.convert("L")`` gives (ITU-R 601 luma, 299 R + 587 G + 114 B, of the
  8-bit sRGB values), the conversion issue 13 measured; a grey g is read as the L* of the sRGB grey (g, g, g).
- Colour-vision deficiency: Machado, Oliveira & Fernandes (2009), "A physiologically-based model for simulation
  of color vision deficiency", IEEE TVCG 15(6), severity 1.0 (protanopia, deuteranopia), applied to linear sRGB
  and clipped to [0, 1]. The criterion: every pair of a palette keeps CIEDE2000 (Sharma, Wu & Dalal 2005) at
  least 10 apart with normal vision and under both simulations.
"""

from __future__ import annotations

import io
import json
import math
import os
from itertools import combinations
from pathlib import Path

import pytest
from PIL import Image

from dashboard import figures
from geodata.vocabulary import CHANGE_COLOR, CHANGE_ORDER, FADED_COLOR, LEVEL_COLOR, LEVEL_ORDER

MIN_DL = 10.0  # CIE L* (0-100) between every pair of a palette, and between unknown and the faded tone
MIN_DL_FIRST = 20.0  # CIE L* between delegated and joint (and their change-view pair), the pair a briefing reads most
MIN_DE = 10.0  # CIEDE2000 between every pair, with normal vision and after each CVD simulation
WHITE = "#ffffff"

PROTANOPIA = ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998))
DEUTERANOPIA = ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881))
SRGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750), (0.0193339, 0.1191920, 0.9503041))
D65 = (0.95047, 1.0, 1.08883)

PALETTES = {
    "level": [LEVEL_COLOR[k] for k in LEVEL_ORDER],
    "change": [CHANGE_COLOR[k] for k in CHANGE_ORDER],
}


def rgb8(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def linear(color: str) -> tuple[float, ...]:
    """sRGB to linear light."""
    return tuple(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb8(color)))


def lab_of_linear(rgb: tuple[float, ...]) -> tuple[float, float, float]:
    xyz = [sum(m * c for m, c in zip(row, rgb)) for row in SRGB_TO_XYZ]

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = (f(v / n) for v, n in zip(xyz, D65))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def lab(color: str) -> tuple[float, float, float]:
    return lab_of_linear(linear(color))


def lightness(color: str) -> float:
    return lab(color)[0]


def simulate(color: str, matrix: tuple[tuple[float, ...], ...]) -> tuple[float, float, float]:
    """L*a*b* of the colour as seen with the deficiency (Machado et al. 2009, in linear sRGB)."""
    rgb = linear(color)
    seen = tuple(min(1.0, max(0.0, sum(m * c for m, c in zip(row, rgb)))) for row in matrix)
    return lab_of_linear(seen)


def ciede2000(lab1: tuple[float, float, float], lab2: tuple[float, float, float]) -> float:
    """CIEDE2000 colour difference (kL = kC = kH = 1), as in Sharma, Wu & Dalal (2005)."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_bar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_bar ** 7 / (c_bar ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = math.degrees(math.atan2(b2, a2p)) % 360 if c2p else 0.0
    dh = 0.0 if c1p * c2p == 0 else (h2p - h1p + 180) % 360 - 180
    d_lp, d_cp = l2 - l1, c2p - c1p
    d_hp = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    l_bar, cp_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(h_bar - 30)) + 0.24 * math.cos(math.radians(2 * h_bar))
         + 0.32 * math.cos(math.radians(3 * h_bar + 6)) - 0.20 * math.cos(math.radians(4 * h_bar - 63)))
    d_theta = 30 * math.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * math.sqrt(cp_bar ** 7 / (cp_bar ** 7 + 25 ** 7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / math.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -math.sin(math.radians(2 * d_theta)) * r_c
    return math.sqrt((d_lp / s_l) ** 2 + (d_cp / s_c) ** 2 + (d_hp / s_h) ** 2 + r_t * (d_cp / s_c) * (d_hp / s_h))


def over(color: str, opacity: float, background: str = WHITE) -> str:
    """The colour drawn at this opacity over the background (8-bit sRGB alpha blending, as the browser does)."""
    return "#" + "".join(f"{round(opacity * c + (1 - opacity) * b):02x}" for c, b in zip(rgb8(color), rgb8(background)))


def grey(color: str) -> int:
    """The greyscale print of a colour: PIL's own conversion to "L"."""
    return Image.new("RGB", (1, 1), rgb8(color)).convert("L").getpixel((0, 0))


def grey_lightness(color: str) -> float:
    g = grey(color)
    return lightness(f"#{g:02x}{g:02x}{g:02x}")


def test_formulas_match_published_values() -> None:
    """The formulas above reproduce published numbers, so the thresholds below mean what they say."""
    assert lab("#ffffff") == pytest.approx((100, 0, 0), abs=0.01)
    assert lab("#808080")[0] == pytest.approx(53.585, abs=0.01)
    assert lab("#ff0000") == pytest.approx((53.24, 80.09, 67.20), abs=0.02)
    # Sharma, Wu & Dalal (2005), table 1: pairs 1, 7, 17 and 25
    for lab1, lab2, expected in [((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
                                 ((50, 0, 0), (50, -1, 2), 2.3669),
                                 ((50, 2.5, 0), (73, 25, -18), 27.1492),
                                 ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644)]:
        assert ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    # Machado et al. rows sum to 1: grey stays grey under every simulation
    for matrix in (PROTANOPIA, DEUTERANOPIA):
        assert simulate("#777777", matrix) == pytest.approx(lab("#777777"), abs=0.05)
    assert grey("#56B4E9") == 158 and grey("#E69F00") == 162  # the numbers for the old joint and GI


@pytest.mark.parametrize("name", PALETTES)
def test_palette_is_ordered_by_lightness_and_every_pair_differs(name: str) -> None:
    colors = PALETTES[name]
    ls = [lightness(c) for c in colors]
    assert ls == sorted(ls), f"{name}: not darkest first ({[round(v, 1) for v in ls]})"
    close = [(a, b, round(abs(lightness(a) - lightness(b)), 1)) for a, b in combinations(colors, 2)
             if abs(lightness(a) - lightness(b)) < MIN_DL]
    assert not close, f"{name}: pairs less than {MIN_DL} apart in L*: {close}"


def test_levels_read_in_order_and_the_unstated_stand_apart() -> None:
    """Darkest = most devolved; not delegated and unknown clearly apart from every real level; unknown lightest."""
    assert list(LEVEL_ORDER[:4]) == ["delegated", "joint", "greater_involvement", "none"]
    ls = {k: lightness(LEVEL_COLOR[k]) for k in LEVEL_ORDER}
    assert ls["unknown"] == max(ls.values()) and ls["unknown"] == max(lightness(c) for c in CHANGE_COLOR.values())
    assert lightness(WHITE) - ls["unknown"] >= MIN_DL, "unknown too close to the white map background"
    for odd in ("not_delegated", "unknown"):
        for level in ("delegated", "joint", "greater_involvement", "none"):
            assert ciede2000(lab(LEVEL_COLOR[odd]), lab(LEVEL_COLOR[level])) >= 2 * MIN_DE, (odd, level)


@pytest.mark.parametrize("background", [WHITE, FADED_COLOR])
@pytest.mark.parametrize(("palette", "first", "second"), [
    (LEVEL_COLOR, "delegated", "joint"), (CHANGE_COLOR, "kept", "new")])
def test_delegated_stands_20_apart_from_the_next_level(palette: dict[str, str], first: str, second: str,
                                                       background: str) -> None:
    """Issue 20: delegated and joint printed 28 greys apart (50 and 78 of 255), too close to match a printed map
    to its legend. Now at least 20 in CIE L*, as colours and as printed in grey at the map's opacity."""
    a, b = palette[first], palette[second]
    assert lightness(b) - lightness(a) >= MIN_DL_FIRST, (first, second, lightness(a), lightness(b))
    printed = [grey_lightness(over(c, figures.IN_OPACITY, background)) for c in (a, b)]
    assert printed[1] - printed[0] >= MIN_DL_FIRST, (first, second, printed)


def test_change_view_light_categories_print_apart() -> None:
    """Issue 20: "delegated in 2016/17, 2015/16 unknown", "not delegated" and "unknown" blurred in grey (138, 171,
    208 of 255). Each pair of the three now at least MIN_DL apart in printed L*, over white and the faded tone."""
    keys = ("new_maybe", "not_delegated", "unknown")
    for background in (WHITE, FADED_COLOR):
        printed = {k: grey_lightness(over(CHANGE_COLOR[k], figures.IN_OPACITY, background)) for k in keys}
        for a, b in combinations(keys, 2):
            assert abs(printed[a] - printed[b]) >= MIN_DL, (a, b, printed)
        assert printed["not_delegated"] - printed["new_maybe"] >= 15, printed


def test_map_dots_stand_out_from_the_fill_they_mark() -> None:
    """The dark set-aside dot sits on the unknown grey (a set-aside level is drawn as unknown) and the white
    inferred-level dot on any known level's colour: each at least 2 x MIN_DL from its fill in printed L*."""
    dot = grey_lightness(figures.SET_ASIDE_COLOR)
    fill = grey_lightness(over(LEVEL_COLOR["unknown"], figures.IN_OPACITY))
    assert fill - dot >= 2 * MIN_DL, (dot, fill)
    white = grey_lightness(figures.INFERRED_COLOR)
    for level in ("delegated", "joint", "greater_involvement", "none", "not_delegated"):
        assert white - grey_lightness(over(LEVEL_COLOR[level], figures.IN_OPACITY)) >= 2 * MIN_DL, level


def test_faded_tone_is_one_neutral_tone_that_no_level_uses() -> None:
    palette = set(LEVEL_COLOR.values()) | set(CHANGE_COLOR.values())
    assert FADED_COLOR.lower() not in {c.lower() for c in palette}
    _, a, b = lab(FADED_COLOR)
    assert math.hypot(a, b) < 5, "the faded tone should be a near-neutral grey"
    unknown = LEVEL_COLOR["unknown"]
    assert lightness(FADED_COLOR) - lightness(unknown) >= MIN_DL
    assert lightness(WHITE) - lightness(FADED_COLOR) >= 3, "faded CCGs must still show against the white background"
    for color in palette:  # no level colour, drawn in the filter, reads as faded in a greyscale print either
        assert grey_lightness(FADED_COLOR) - grey_lightness(over(color, figures.IN_OPACITY)) >= MIN_DL, color


@pytest.mark.parametrize("name", PALETTES)
def test_every_pair_stays_apart_under_protanopia_and_deuteranopia(name: str) -> None:
    colors = PALETTES[name]
    for vision, see in [("normal", lab), ("protanopia", lambda c: simulate(c, PROTANOPIA)),
                        ("deuteranopia", lambda c: simulate(c, DEUTERANOPIA))]:
        worst = min((ciede2000(see(a), see(b)), a, b) for a, b in combinations(colors, 2))
        assert worst[0] >= MIN_DE, f"{name}, {vision}: {worst[1]} and {worst[2]} only {worst[0]:.1f} apart (CIEDE2000)"


@pytest.mark.parametrize("name", PALETTES)
@pytest.mark.parametrize("background", [WHITE, FADED_COLOR])
def test_greyscale_print_of_the_map_keeps_order_and_separation(name: str, background: str) -> None:
    """As printed in grey: each colour at the map's IN_OPACITY over the white background (and over the faded layer
    beneath the CCGs) keeps the L* order of the palette and at least MIN_DL between every pair."""
    colors = PALETTES[name]
    greys = [grey_lightness(over(c, figures.IN_OPACITY, background)) for c in colors]
    assert greys == sorted(greys) and len(set(greys)) == len(greys), f"{name}: greyscale order {greys}"
    close = [(a, b) for (a, ga), (b, gb) in combinations(zip(colors, greys), 2) if abs(ga - gb) < MIN_DL]
    assert not close, f"{name}: too close in a greyscale print: {close} ({[round(g, 1) for g in greys]})"
    faded = grey_lightness(FADED_COLOR)
    assert faded - max(greys) >= MIN_DL, "unknown too close to the faded tone in a greyscale print"


def test_map_draws_faded_ccgs_in_the_one_faded_tone(atlas, service) -> None:  # noqa: ANN001
    """Outside the filter a CCG is drawn in FADED_COLOR over one layer of FADED_COLOR that covers every CCG."""
    import shapely
    from shapely.geometry import shape

    from dashboard.state import ViewState

    view = service.view(ViewState(year=2016, regions=("London",)))
    arr = figures.map_arrays(view)
    assert {o for o, inside in zip(arr.opacity, view.mask) if not inside} == {figures.OUT_OPACITY} == {0.0}
    assert {o for o, inside in zip(arr.opacity, view.mask) if inside} == {figures.IN_OPACITY}
    assert {z for z, inside in zip(arr.fill, view.mask) if not inside} == {figures.FADED_SLOT}
    assert arr.fill_colorscale[-1][1] == FADED_COLOR
    fig = figures.map_figure(view)
    base = fig.data[figures.T_BASE]
    assert base.type == "choropleth" and set(base.colorscale[0][1:] + base.colorscale[-1][1:]) == {FADED_COLOR}
    assert base.marker.line.width == 0, "no outline in another colour round England"
    england = shape(base.geojson["features"][0]["geometry"])
    points = shapely.points(atlas.table["lon"].to_numpy(), atlas.table["lat"].to_numpy())
    assert shapely.contains(england, points).all(), "a CCG is not covered by the faded layer"
    assert england.area == pytest.approx(sum(shape(f["geometry"]).area for f in atlas.ccgs_geojson["features"]),
                                         rel=1e-3)
    layer_bytes, ccg_bytes = (len(json.dumps(x, separators=(",", ":"))) for x in (base.geojson, atlas.ccgs_geojson))
    assert layer_bytes < 0.25 * ccg_bytes, "the faded layer should cost a fraction of the CCG geometry"
    from dashboard.service import AtlasService

    service = AtlasService(atlas)
    assert figures.england_feature(service) is figures.england_feature(service), "made once per atlas"



def test_slide_legend_shows_the_faded_tone(service) -> None:  # noqa: ANN001
    from dashboard.slides import slide
    from dashboard.state import ViewState

    fig = slide.slide_figure(service.view(ViewState(year=2016, regions=("London",))))
    swatches = [s for s in fig.layout.shapes if s.type == "rect" and s.fillcolor == FADED_COLOR]
    assert len(swatches) == 1 and swatches[0].opacity == 1
    text = " ".join(a.text for a in fig.layout.annotations)
    assert "Outside the filter" in text and "Paler" not in text
    england = slide.slide_figure(service.view(ViewState(year=2016)))
    assert not [s for s in england.layout.shapes if s.fillcolor == FADED_COLOR], "no faded row without a filter"


@pytest.mark.browser
@pytest.mark.skipif(not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists() and not os.environ.get("CI"),
                    reason="no Chromium here (in CI a missing browser is a failure)")
def test_rendered_slide_draws_faded_ccgs_in_the_faded_tone(service) -> None:  # noqa: ANN001
    """In the rendered London slide the CCGs outside the filter are the faded tone, not paler level colours."""
    from dashboard.slides import render, slide
    from dashboard.state import ViewState

    state = ViewState(year=2016, regions=("London",))
    img = Image.open(io.BytesIO(render.slide_bytes(service, state))).convert("RGB")
    x0, y0, x1, y1 = slide.slide_figure(service.view(state)).layout.meta["slide"]["map_px"]
    area = img.crop((round(x0) + 4, round(y0) + 4, round(x1) - 4, round(y1) - 4))
    counts = {rgb: n for n, rgb in area.getcolors(maxcolors=1_000_000)}

    def near(color: str, tol: int = 3) -> int:
        want = rgb8(color)
        return sum(n for rgb, n in counts.items() if max(abs(a - b) for a, b in zip(rgb, want)) <= tol)

    total = area.width * area.height
    assert near(FADED_COLOR) > 0.1 * total, "the CCGs around London are not drawn in the faded tone"
    assert near(over(LEVEL_COLOR["unknown"], figures.IN_OPACITY)) > 0.02 * total, "London's unknown CCGs missing"
    # The old look: a level colour at low opacity over whole CCGs. The CCG names' boxes (white at 0.82 over a CCG)
    # tint their few pixels alike, under 1% of the map, so the bound is 1.5%: a faded CCG in a paler colour alone
    # covers more (delegated's near-black navy at low opacity is a blue-grey like the boxes over grey: joint and not
    # delegated carry the check).
    for level in ("joint", "not_delegated"):
        assert near(over(LEVEL_COLOR[level], 0.18), 6) < 0.015 * total, f"paler {level} CCGs drawn outside the filter"


@pytest.mark.browser
@pytest.mark.skipif(not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists() and not os.environ.get("CI"),
                    reason="no Chromium here (in CI a missing browser is a failure)")
def test_rendered_slide_in_greyscale_keeps_delegated_and_joint_apart(service) -> None:  # noqa: ANN001
    """The England slide as rendered, printed in grey (PIL ``convert("L")``): the pixels drawn in delegated's colour
    and those in joint's colour (found in the colour image) are at least MIN_DL_FIRST apart in L*, and both differ
    from the unknown grey by at least MIN_DL, so a greyscale print can be matched to its legend."""
    from dashboard.slides import render
    from dashboard.state import ViewState

    img = Image.open(io.BytesIO(render.slide_bytes(service, ViewState(year=2016)))).convert("RGB")
    grey_img = img.convert("L")
    rgb, lum = img.get_flattened_data(), grey_img.get_flattened_data()

    def printed(level: str, tol: int = 4) -> float:
        want = rgb8(over(LEVEL_COLOR[level], figures.IN_OPACITY))
        found = [g for c, g in zip(rgb, lum) if max(abs(a - b) for a, b in zip(c, want)) <= tol]
        assert len(found) > 500, f"no {level} area found on the slide"
        mean = round(sum(found) / len(found))
        return lightness(f"#{mean:02x}{mean:02x}{mean:02x}")

    delegated, joint, unknown = printed("delegated"), printed("joint"), printed("unknown")
    assert joint - delegated >= MIN_DL_FIRST, (delegated, joint)
    assert unknown - joint >= MIN_DL, (joint, unknown)
