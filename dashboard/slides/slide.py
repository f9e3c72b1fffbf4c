"""A slide-ready figure: the page's map plus everything a slide needs to stand on its own.

:func:`slide_figure` draws the page's map (the colours, fading and outlines of :func:`dashboard.figures.map_arrays`)
as vector paths on a ``geo`` subplot (:mod:`dashboard.slides.slide_map`), on the left of a 16:9 canvas, zoomed to the
CCGs in the filter, and adds a title and subtitle that say what is shown, the legend in words with counts, a
counts panel (how many CCGs have no known level, and the published national totals), the sources and licences,
and the date of the data. Where the view needs them it adds a London inset (:mod:`dashboard.slides.inset`), a
locator map, the CCGs' names (:mod:`dashboard.slides.labels`) and the selected CCGs' outlines on top, each placed
in pixels where it covers no CCG the slide shows (:mod:`dashboard.slides.place`). :func:`summary_text` and
:func:`notes_text` say the same in words (a PowerPoint slide's alt text and notes, :mod:`dashboard.slides.pptx`).

Everything is laid out in pixels for the requested size and converted to paper coordinates, so nothing is
cut off at any size; text is wrapped with DejaVu Sans metrics (the font the figures ask for first) instead of
being left to overflow. Fonts scale with the canvas: at 1920x1080 the title is 46 px and body text 20-26 px.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import figures
from dashboard.service import View
from dashboard.slides import inset as slide_inset
from dashboard.slides import labels as slide_labels
from dashboard.slides import slide_map
from dashboard.slides.place import Box, MapFrame, clip, free_spot
from dashboard.slides.text import Segment, balanced_wrap, text_width, wrap
from dashboard.slides.words import (
    condensed_attributions,
    counts_panel,
    date_text,
    finding_line,
    subtitle_text,
    title_text,
)
from dashboard.state import ViewState
from geodata.atlas import Atlas
from geodata.vocabulary import FADED_COLOR, YEAR_LABEL

REF_WIDTH, REF_HEIGHT = 1920, 1080
MAP_SHARE = 0.60  # of the width, for the map (the panel takes the rest)
TITLE_PX, SUBTITLE_PX, LEGEND_TITLE_PX, LEGEND_PX, BODY_PX, FOOTER_PX = 46, 25, 26, 24, 22, 20
SOURCES_MIN = 0.8  # the sources' font may shrink to 16 px (at 1920x1080) to stay within three lines
LABEL_PX, INSET_LABEL_PX = 15, 20  # CCG names on the map; the "London" over the inset
SMALL_CCG_PX = 40  # a selected CCG narrower than this (pixels at 1920x1080) gets a thinner outline and a name
CLUSTER_NAME = "Ring: in a significant same-level cluster (p ≤ 0.05)"
INSET_W, LOCATOR_H = 360, 190  # pixels at 1920x1080: the London inset's width, the locator map's height
LINE = 1.3  # plotly's line spacing for multi-line text
TEXT_COLOR, MUTED_COLOR, FRAME_COLOR = "#111111", "#333333", "#bbbbbb"
# Ways to fit the right panel above the footer, tried in turn: (map share of the width, panel font factor,
# brief counts, England counts, legend rows with a count of 0). The factor 0.91 keeps body text at 20 px on
# a 1080 px slide; only the last plan, for unusual shapes, goes below.
PANEL_PLANS = (
    (MAP_SHARE, 1.0, False, True, True), (MAP_SHARE, 0.91, False, True, True), (MAP_SHARE, 0.91, True, True, True),
    (MAP_SHARE, 0.91, True, False, True), (MAP_SHARE, 0.91, True, False, False), (0.54, 0.91, True, False, False),
    (0.54, 0.8, True, False, False),
)

# ------------------------------------------------------------------------------------------------------------
# The slide
# ------------------------------------------------------------------------------------------------------------


def font_scale(width: int, height: int) -> float:
    return min(width / REF_WIDTH, height / REF_HEIGHT)


class _Canvas:
    """Pixel layout helper: text blocks and shapes placed in pixels, kept as paper-coordinate dicts and added
    to the figure in one go (one validation instead of one per annotation)."""

    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.annotations: list[dict] = []
        self.shapes: list[dict] = []

    def px(self, x: float, y: float) -> tuple[float, float]:
        return x / self.w, 1 - y / self.h

    def text(self, lines: list[str], x: float, y: float, size: float, color: str = TEXT_COLOR,
             valign: str = "top") -> float:
        """Lines of text from (x, y) (left edge, top or middle, in pixels); returns the height used."""
        px, py = self.px(x, y)
        self.annotations.append({
            "text": "<br>".join(lines), "x": px, "y": py, "xref": "paper", "yref": "paper", "xanchor": "left",
            "yanchor": valign, "align": "left", "showarrow": False, "borderpad": 0,
            "font": {"size": round(size, 2), "color": color, "family": figures.FONT},
        })
        return len(lines) * size * LINE

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: str, line: str = "rgba(0,0,0,0)",
             width: float = 0, opacity: float = 1.0) -> None:
        a, b = self.px(x0, y0)
        c, d = self.px(x1, y1)
        self.shapes.append({"type": "rect", "xref": "paper", "yref": "paper", "x0": a, "y0": d, "x1": c, "y1": b,
                            "fillcolor": fill, "opacity": opacity, "line": {"color": line, "width": width},
                            "layer": "above"})

    def dot(self, x: float, y: float, r: float, color: str, edge: str = "rgba(0,0,0,0)", width: float = 1) -> None:
        a, b = self.px(x - r, y - r)
        c, d = self.px(x + r, y + r)
        self.shapes.append({"type": "circle", "xref": "paper", "yref": "paper", "x0": a, "y0": d, "x1": c, "y1": b,
                            "fillcolor": color, "line": {"color": edge, "width": width}, "layer": "above"})

    def path(self, rings: list[list[tuple[float, float]]], fill: str, line: str, width: float) -> None:
        """Closed polygons given in pixels, drawn as one SVG path above the maps."""
        parts = []
        for ring in rings:
            pts = [self.px(x, y) for x, y in ring]
            parts.append("M" + "L".join(f"{a:.5f},{b:.5f}" for a, b in pts) + "Z")
        self.shapes.append({"type": "path", "xref": "paper", "yref": "paper", "path": " ".join(parts),
                            "fillcolor": fill, "line": {"color": line, "width": width}, "layer": "above"})

    def label(self, lines: list[str], box: Box, size: float, anchor: tuple[float, float] | None = None,
              scale: float = 1.0) -> None:
        """A map label centred in box (pixels) on a pale halo; with ``anchor``, a leader line to that point."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        x, y = self.px(*(anchor or (cx, cy)))
        a = {"text": "<br>".join(html.escape(t, quote=False) for t in lines), "x": x, "y": y, "xref": "paper",
             "yref": "paper", "xanchor": "center", "yanchor": "middle", "align": "center", "showarrow": False,
             "borderpad": 1, "bgcolor": "rgba(255,255,255,0.82)",
             "font": {"size": round(size, 2), "color": TEXT_COLOR, "family": figures.FONT}}
        if anchor is not None:
            a.update(showarrow=True, ax=cx - anchor[0], ay=cy - anchor[1], axref="pixel", ayref="pixel",
                     arrowhead=6, arrowsize=0.7, arrowwidth=max(1.0, 1.2 * scale), arrowcolor="#222222",
                     standoff=0, startstandoff=0)
        self.annotations.append(a)

    def hline(self, x0: float, x1: float, y: float, color: str, width: float) -> None:
        a, b = self.px(x0, y)
        c, _ = self.px(x1, y)
        self.shapes.append({"type": "line", "xref": "paper", "yref": "paper", "x0": a, "y0": b, "x1": c, "y1": b,
                            "line": {"color": color, "width": width}, "layer": "above"})


def slide_figure(view: View, width: int = REF_WIDTH, height: int = REF_HEIGHT,
                 clusters: pd.DataFrame | None = None) -> go.Figure:
    """The page's map (vector paths, dashboard/slides/slide_map.py) with title, filters, legend and counts, sources and
    data date; a London inset, a locator map and CCG names where the view needs them; ``clusters`` (the page's
    cluster table) marks CCGs in a significant same-level cluster, as the page's checkbox does."""
    atlas, state = view.atlas, view.state
    s = font_scale(width, height)
    pad = 36 * s
    full_w = width - 2 * pad

    title_lines, sub_lines = _top_band(view, s, full_w)
    # Bottom band: the finding, then sources, licences and the date of the data in at most three lines.
    src_lines, src_px = source_lines(atlas, state, FOOTER_PX * s, full_w)
    finding_lines = wrap([("Finding: ", True), (finding_line(view), False)], FOOTER_PX * s, full_w)
    top = 24 * s
    title_h = len(title_lines) * TITLE_PX * s * LINE
    sub_h = len(sub_lines) * SUBTITLE_PX * s * LINE
    body_top = top + title_h + 6 * s + sub_h + 14 * s
    foot_h = len(finding_lines) * FOOTER_PX * s * LINE + len(src_lines) * src_px * LINE
    body_bottom = height - 18 * s - foot_h - 14 * s

    # The right panel (legend, counts) at full size if it fits above the footer, else the first plan that fits.
    rings = bool(figures.cluster_points(view.service, clusters)[0])
    for share, k, brief, england, zeros in PANEL_PLANS:
        panel_x = width * (share + 0.02)
        panel_w = (width - pad - panel_x) * 0.98  # a little slack for the browser's own text metrics
        plan = (s * k, panel_x, panel_w, body_top, brief, england, zeros, rings)
        if _right_panel(None, view, *plan) <= body_bottom - body_top:
            break

    # The map: the page's colours, fading and outlines (figures.map_arrays) as vector paths on a geo subplot
    # (dashboard/slides/slide_map.py), in the left part of the body.
    map_x0, map_x1 = pad, width * share
    map_w, map_h = map_x1 - map_x0, body_bottom - body_top
    # A slide shows the filter only (its panel counts a selected CCG outside it as not shown), so such a CCG is in
    # the neutral tone here, unlike on the page, where it is drawn in full to show the selection.
    fig = go.Figure()
    slide_map.add_layers(fig, slide_map.map_traces(view, s, clusters))
    # Framed like the page frames a filter (the same bounds and formula), for the slide's map size.
    shown_bounds = figures.filter_bounds(view)
    center, zoom = figures.fit_view(shown_bounds, round(map_w), round(map_h))
    frame = MapFrame(map_x0, body_top, map_x1, body_bottom, center["lon"], center["lat"], zoom)
    cv = _Canvas(width, height)
    extras = _map_extras(view, fig, cv, frame, shown_bounds, s, clusters)
    frame = extras.pop("frame")
    picked = view.table.index[view.selected & view.mask]
    smallest = min((min(b[2] - b[0], b[3] - b[1]) for b in (frame.bounds_px(view.service.bounds[c]) for c in picked)),
                   default=0.0)
    fig.add_traces(slide_inset.selection_traces(view, s, thin=smallest < SMALL_CCG_PX * s))
    fig.update_layout(
        width=width, height=height, margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False,
        paper_bgcolor="#ffffff", plot_bgcolor="#ffffff", font={"family": figures.FONT, "color": TEXT_COLOR},
        geo=slide_map.geo_layout(frame, width, height),
        uirevision=None, clickmode="none", dragmode=False, hovermode=False,
    )
    cv.rect(map_x0, body_top, map_x1, body_bottom, fill="rgba(0,0,0,0)", line=FRAME_COLOR, width=max(1.0, s))

    y = top
    y += cv.text(title_lines, pad, y, TITLE_PX * s)
    y += 6 * s
    cv.text(sub_lines, pad, y, SUBTITLE_PX * s, color=MUTED_COLOR)
    used = _right_panel(cv, view, *plan)

    # Footer: the finding, then sources, licences and the date of the data.
    y = height - 18 * s - foot_h
    cv.hline(pad, width - pad, y - 8 * s, FRAME_COLOR, max(1.0, s))
    y += cv.text(finding_lines, pad, y, FOOTER_PX * s)
    cv.text(src_lines, pad, y, src_px, color=MUTED_COLOR)
    fig.update_layout(annotations=cv.annotations, shapes=cv.shapes)
    fig.layout.meta = {"slide": {
        "scale": s, "panel_font_scale": k, "map_share": share, "brief": brief, "england_counts": england,
        "zero_rows": zeros,
        "panel_px": [body_top, body_top + used], "body_px": [body_top, body_bottom],
        "map_px": list(frame.box), "source_lines": len(src_lines), "source_font_px": src_px,
        "min_font_px": min(FOOTER_PX * s, BODY_PX * s * k), "title_font_px": TITLE_PX * s,
        "map_view": {"lon": frame.lon, "lat": frame.lat, "zoom": frame.zoom},
        **extras,
    }}
    return fig


def _top_band(view: View, s: float, full_w: float) -> tuple[list[str], list[str]]:
    """The title and subtitle, wrapped to the full width; at most two lines of filters (long lists of teams
    name the first teams and count the rest)."""
    title_lines = balanced_wrap([(title_text(view.state), True)], TITLE_PX * s, full_w)
    sub_lines = wrap(subtitle_text(view), SUBTITLE_PX * s, full_w)
    for max_teams in (3, 1):
        if len(sub_lines) > 2:
            sub_lines = wrap(subtitle_text(view, max_teams), SUBTITLE_PX * s, full_w)
    return title_lines, sub_lines


def source_lines(atlas: Atlas, state: ViewState, size: float, max_px: float, max_lines: int = 3
                 ) -> tuple[list[str], float]:
    """Sources, licences and the date of the data, wrapped, and their font size: the largest from ``size`` down to
    SOURCES_MIN of it that fits in max_lines (at 1600x900 that floor is still over 11 px)."""
    segments: list[Segment] = [("Sources and licences: ", True), (condensed_attributions(atlas.attributions), False),
                               (" " + date_text(atlas, state), False)]
    for k in np.linspace(1.0, SOURCES_MIN, 7):
        lines = wrap(segments, size * k, max_px)
        if len(lines) <= max_lines:
            break
    return lines, float(size * k)


def _map_extras(view: View, fig: go.Figure, cv: _Canvas, frame: MapFrame, shown_bounds: list[float],
                s: float, clusters: pd.DataFrame | None = None) -> dict:
    """The London inset, the locator map and the CCG names, each placed where it covers no CCG the slide shows
    (the main map is refitted with room on its left when nothing else fits). Returns what went where (pixels),
    and the main map's final frame."""
    service = view.service
    bounds = service.bounds
    shown = view.table.index[view.mask] if view.mask.any() else view.table.index

    def shown_boxes(f: MapFrame) -> list[Box]:
        return [b for b in (clip(f.bounds_px(bounds[c]), f.box) for c in shown) if b is not None]

    obstacles = shown_boxes(frame)
    taken: list[Box] = []
    out: dict = {"inset_px": None, "locator_px": None, "labels": [], "key": [], "key_px": None}
    margin = 10 * s

    def room(w: float, h: float) -> tuple[MapFrame, Box]:
        """Refit the main map into the frame less a strip of w on its left; the box goes bottom-left."""
        f = frame
        center, zoom = figures.fit_view(shown_bounds, round(f.x1 - f.x0 - w - 2 * margin), round(f.y1 - f.y0))
        shift = (w + 2 * margin) / 2 * 360 / (512 * 2 ** zoom)
        f = MapFrame(f.x0, f.y0, f.x1, f.y1, center["lon"] - shift, center["lat"], zoom)
        return f, (f.x0 + margin, f.y1 - margin - h, f.x0 + margin + w, f.y1 - margin)

    inset: Box | None = None
    if slide_inset.needs_inset(view):
        lw, ls, le, ln = slide_inset.london_bounds(service)
        aspect = (ln - ls) / (le - lw) / math.cos(math.radians((ln + ls) / 2))
        strip = INSET_LABEL_PX * s * 1.6
        for k in (1.0, 0.85, 0.7, 0.6):
            iw = INSET_W * s * k
            ih = iw * aspect * 1.08 + strip
            inset = free_spot(frame.box, iw, ih, obstacles, margin=margin)
            if inset:
                break
        if inset is None:
            frame, inset = room(iw, ih)
            obstacles = shown_boxes(frame)
        taken.append(inset)
        x0, y0, x1, y1 = inset
        map_box = (x0, y0 + strip, x1, y1)
        center, zoom = figures.fit_view(slide_inset.london_bounds(service), round(x1 - x0), round(y1 - y0 - strip),
                                        pad=0.94)
        inset_frame = MapFrame(*map_box, center["lon"], center["lat"], zoom)
        slide_map.add_layers(fig, slide_inset.inset_traces(view, s, clusters))
        fig.update_layout(geo2=slide_map.geo_layout(inset_frame, cv.w, cv.h, bgcolor="#ffffff"))
        cv.rect(x0, y0, x1, y0 + strip, fill="#ffffff")
        cv.text([f"<b>{slide_inset.LONDON}</b>"], x0 + 8 * s, y0 + strip / 2, INSET_LABEL_PX * s, valign="middle")
        cv.rect(x0, y0, x1, y1, fill="rgba(0,0,0,0)", line="#555555", width=max(1.0, 1.5 * s))
        out["inset_px"] = list(inset)
        out["inset_map_px"] = list(map_box)
        out["inset_view"] = {"lon": inset_frame.lon, "lat": inset_frame.lat, "zoom": inset_frame.zoom}

    if slide_inset.needs_locator(view, shown_bounds):
        box = None
        for k in (1.0, 0.8, 0.65):
            lw_, lh_ = slide_inset.locator_size(service, LOCATOR_H * s * k)
            box = free_spot(frame.box, lw_, lh_, obstacles + taken, margin=margin)
            if box:
                break
        if box is None:
            lw_, lh_ = slide_inset.locator_size(service, LOCATOR_H * s * 0.8)
            frame, box = room(lw_, lh_)
            obstacles = shown_boxes(frame)
        taken.append(box)
        rings, area = slide_inset.locator_rings(service, box, shown_bounds)
        cv.rect(*box, fill="rgba(255,255,255,0.9)", line=FRAME_COLOR, width=max(1.0, s))
        cv.path(rings, fill=FADED_COLOR, line="#777777", width=max(0.8, 0.8 * s))
        cv.rect(*area, fill="rgba(17,17,17,0.45)", line="#111111", width=max(1.0, 1.5 * s))
        out["locator_px"] = list(box)
        out["locator_area_px"] = list(area)

    if view.mask.any() and view.n <= slide_labels.MAX_LABELLED:
        out.update(_names(view, cv, frame, taken, s, out.get("inset_map_px"), out.get("inset_view")))
    elif (view.selected & view.mask).any():
        out.update(_names(view, cv, frame, taken, s, out.get("inset_map_px"), out.get("inset_view"),
                          only=view.selected))
    out["frame"] = frame
    return out


def _names(view: View, cv: _Canvas, frame: MapFrame, taken: list[Box], s: float,
           inset_box: list[float] | None, inset_view: dict | None, only: np.ndarray | None = None) -> dict:
    """Short names for the CCGs shown (London's in the inset when there is one), and the key for those that only
    have room for a number; with ``only``, for those CCGs alone (the selection on a slide too full to name all)."""
    table = view.table[view.mask & (only if only is not None else True)]
    london = (table["region"] == slide_inset.LONDON).to_numpy()
    size = LABEL_PX * s
    groups = []
    if inset_box is not None and inset_view is not None and london.any():
        f2 = MapFrame(*inset_box, inset_view["lon"], inset_view["lat"], inset_view["zoom"])
        groups.append((f2, table[london], []))
        groups.append((frame, table[~london], taken))
    else:
        groups.append((frame, table, taken))
    labels: list[slide_labels.Label] = []
    key: list[str] = []
    for f, rows, obstacles in groups:
        items = [(code, slide_labels.short_name(r.ccg_name), f.to_px(r.lon, r.lat)) for code, r in rows.iterrows()]
        if only is not None:  # a name beside each selected CCG, never over its outline
            obstacles = obstacles + [f.bounds_px(view.service.bounds[c]) for c in rows.index]
        placed = slide_labels.place_labels(items, size, f.box, obstacles + [b.box for b in labels], text_width,
                                           first=len(key) + 1)
        labels += placed.labels
        key += placed.key
    inferred = set(view.table.index[figures.dotted(view)])
    for lab in labels:
        cv.label(list(lab.lines), lab.box, size, anchor=lab.anchor if lab.leader else None, scale=s)
        if lab.code in inferred and not lab.leader:  # the label covers the CCG's dot: draw it beside the name
            r = 3.5 * s
            cv.dot(lab.box[0] - r - 2 * s, (lab.box[1] + lab.box[3]) / 2, r, figures.dot_style(view)[0],
                   edge="#333333")
    key_box = None
    if key:
        ksize = LABEL_PX * s
        kw = max(text_width(t, ksize) for t in key) + 16 * s
        kh = (len(key) + 1) * ksize * LINE + 12 * s
        shown = [b for b in (clip(frame.bounds_px(view.service.bounds[c]), frame.box) for c in table.index) if b]
        key_box = (free_spot(frame.box, kw, kh, shown + taken + [b.box for b in labels], margin=10 * s)
                   or (frame.x0 + 10 * s, frame.y1 - 10 * s - kh, frame.x0 + 10 * s + kw, frame.y1 - 10 * s))
        cv.rect(*key_box, fill="rgba(255,255,255,0.92)", line=FRAME_COLOR, width=max(1.0, s))
        cv.text(["<b>Key</b>"] + [html.escape(t, quote=False) for t in key], key_box[0] + 8 * s, key_box[1] + 6 * s,
                ksize)
    return {"labels": [{"code": lab.code, "text": " ".join(lab.lines), "box": list(lab.box), "number": lab.number,
                        "leader": lab.leader} for lab in labels],
            "key": key, "key_px": list(key_box) if key_box else None}


def _right_panel(cv: _Canvas | None, view: View, s: float, x: float, w: float,
                 top: float, brief: bool = False, england: bool = True, zeros: bool = True, rings: bool = False
                 ) -> float:
    """Legend and counts panel from (x, top), w pixels wide; draws when cv is given; returns the height."""
    state = view.state
    arr = figures.map_arrays(view)

    def text(lines: list[str], tx: float, ty: float, size: float, valign: str = "top") -> None:
        if cv is not None:
            cv.text(lines, tx, ty, size, valign=valign)

    y = top + 4 * s
    text([f"<b>{html.escape(_legend_heading(state))}</b>"], x, y, LEGEND_TITLE_PX * s)
    y += LEGEND_TITLE_PX * s * LINE + 8 * s
    sw = 30 * s
    row = max(LEGEND_PX * s * LINE, sw) + 8 * s
    text_x = x + sw + 14 * s
    rows: list[tuple[str, str, str]] = [
        (name, color, "swatch") for name, color, visible in
        zip(arr.legend_names, arr.legend_colors, arr.legend_visible) if visible and (zeros or not name.endswith(": 0"))
    ]
    if state.filtered:
        rows.append(("Outside the filter (any level), for context", FADED_COLOR, "faded"))
    if state.ccgs:
        rows.append(("Outlined: selected CCGs", "#ffffff", "selected"))
    if figures.dotted(view).any() or state.evidence != "any":
        color, name = figures.dot_style(view)
        rows.append((name, color, "dot"))
    if rings:
        rows.append((CLUSTER_NAME, "#ffffff", "ring"))
    rows += [("Area team border (2013–15)", "#333333", "team"), ("NHS England region border", "#000000", "region")]
    for name, color, kind in rows:
        lines = wrap(name, LEGEND_PX * s, w - sw - 14 * s)
        h = max(row, len(lines) * LEGEND_PX * s * LINE + 10 * s)
        mid = y + h / 2
        if cv is not None and kind in ("swatch", "faded", "selected"):
            opacity = 1.0  # a faded CCG is drawn in FADED_COLOR itself, not in a paler level colour
            edge = figures.SELECTED_COLOR if kind == "selected" else "#666666"
            cv.rect(x, mid - sw / 2, x + sw, mid + sw / 2, fill=color, opacity=opacity,
                    line=edge, width=3 * s if kind == "selected" else max(1.0, 1.2 * s))
        elif cv is not None and kind == "dot":
            cv.dot(x + sw / 2, mid, 6 * s, color, edge="#333333")
        elif cv is not None and kind == "ring":  # as drawn on the map: a dark ring around a white centre
            ring = figures.CLUSTER_RING * s
            cv.dot(x + sw / 2, mid, (figures.CLUSTER_SIZE * s - ring) / 2, color, edge=figures.SELECTED_COLOR,
                   width=ring)
        elif cv is not None:
            cv.hline(x, x + sw, mid, color, 1.4 if kind == "team" else 3.0)
        text(lines, text_x, mid, LEGEND_PX * s, valign="middle")
        y += h

    y += 16 * s
    if cv is not None:
        cv.hline(x, x + w, y, FRAME_COLOR, max(1.0, s))
    y += 14 * s
    body = BODY_PX * s
    for para in counts_panel(view, brief=brief, england=england).paragraphs:
        lines = wrap(para, body, w)
        text(lines, x, y, body)
        y += len(lines) * body * LINE + 10 * s
    return y - top


def _legend_heading(state: ViewState) -> str:
    where = "CCGs in the filter" if state.filtered else "CCGs"
    if state.view == "change":
        return f"Change {YEAR_LABEL[2015]} to {YEAR_LABEL[2016]} ({where})"
    return f"Level {YEAR_LABEL[state.year]} ({where})"
