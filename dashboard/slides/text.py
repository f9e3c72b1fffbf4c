"""Text measured and wrapped for a slide: plotly draws text where it is told and never wraps it, so the slide
measures every line itself, with DejaVu Sans metrics (the font the figures ask for first; a slight overestimate for
the others), and breaks it into lines that fit.
"""

from __future__ import annotations

import html
import re

# DejaVu Sans advance widths (per 1000 em) for ASCII 32..126; bold is about 10 % wider.
_ASCII_WIDTHS = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636,
    636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656,
    557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613,
    635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818,
    592, 592, 525, 636, 337, 636, 838,
)
_OTHER_WIDTHS = {"—": 1000, "–": 500, "·": 318, "©": 1000, "≤": 838, "→": 838, "’": 318, "‘": 318}
BOLD_FACTOR = 1.12


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Rendered width in pixels of plain text in DejaVu Sans (a slight overestimate for other fonts)."""
    total = 0
    for ch in text:
        o = ord(ch)
        total += _ASCII_WIDTHS[o - 32] if 32 <= o < 127 else _OTHER_WIDTHS.get(ch, 700)
    return total * size / 1000 * (BOLD_FACTOR if bold else 1.0)


def html_width(line: str, size: float) -> float:
    """Width of one line of the plotly HTML that :func:`wrap` writes (<b> runs measured bold)."""
    width, bold = 0.0, False
    for part in re.split(r"(</?b>)", line):
        if part in ("<b>", "</b>"):
            bold = part == "<b>"
        elif part:
            width += text_width(html.unescape(re.sub(r"<[^>]+>", "", part)), size, bold)
    return width


Segment = tuple[str, bool]  # (plain text, bold)


def wrap(segments: list[Segment] | str, size: float, max_px: float) -> list[str]:
    """Plain text segments (some bold) wrapped into lines no wider than max_px, as plotly HTML lines."""
    if isinstance(segments, str):
        segments = [(segments, False)]
    words: list[tuple[str, bool, bool]] = []  # (word, bold, glued to the previous word)
    spaced = True  # the text so far ends with a space (or nothing)
    for text, bold in segments:
        for i, part in enumerate(text.split(" ")):
            if part:
                words.append((part, bold, i == 0 and not spaced))
        spaced = text.endswith(" ") or (spaced and not text)
    lines: list[list[tuple[str, bool, bool]]] = [[]]
    width = 0.0
    space = text_width(" ", size)
    for word in words:
        w = text_width(word[0], size, word[1])
        extra = w if (not lines[-1] or word[2]) else w + space
        if lines[-1] and not word[2] and width + extra > max_px:
            lines.append([])
            width, extra = 0.0, w
        lines[-1].append(word)
        width += extra
    return [_html_line(line) for line in lines if line]


def balanced_wrap(segments: list[Segment] | str, size: float, max_px: float) -> list[str]:
    """As :func:`wrap`, in as many lines, but with lines of similar width: no orphaned last word in a title.

    The narrowest width that still needs no more lines than ``max_px`` does is found by bisection.
    """
    lines = wrap(segments, size, max_px)
    if len(lines) < 2:
        return lines
    lo, hi = max(html_width(line, size) for line in lines) / len(lines), max_px
    for _ in range(24):
        mid = (lo + hi) / 2
        if len(wrap(segments, size, mid)) <= len(lines):
            hi = mid
        else:
            lo = mid
    return wrap(segments, size, hi)


def _html_line(words: list[tuple[str, bool, bool]]) -> str:
    out = ""
    for i, (word, bold, glued) in enumerate(words):
        sep = "" if i == 0 or glued else " "
        text = html.escape(word, quote=False)
        out += sep + (f"<b>{text}</b>" if bold else text)
    return out.replace("</b> <b>", " ").replace("</b><b>", "")
