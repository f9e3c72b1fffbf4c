"""Names on a slide's map: a short name for each CCG shown, placed so that no two labels overlap.

A slide of 40 CCGs or fewer (London's 32 included) is read by people who want to find their CCG, so each gets a
short name ("NHS Heywood, Middleton and Rochdale CCG" -> "Heywood, Middleton & Rochdale", on two lines).
Labels are measured in pixels (DejaVu Sans metrics, :func:`dashboard.slides.text.text_width`) and placed greedily: on
the CCG's own point when there is room, else nearby with a leader line, else as a number on the map with the
name in a key beside it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dashboard.slides.place import Box, free_spot, overlaps

MAX_LABELLED = 40  # London, 32 CCGs, is the largest region a briefing names CCG by CCG
LINE = 1.25  # line height of a label, in font sizes
_COUNTIES = {
    "Cambridgeshire": "Cambs", "Gloucestershire": "Glos", "Hertfordshire": "Herts", "Lincolnshire": "Lincs",
    "Leicestershire": "Leics", "Nottinghamshire": "Notts", "Staffordshire": "Staffs", "Warwickshire": "Warks",
    "Worcestershire": "Worcs", "Oxfordshire": "Oxon", "Hampshire": "Hants", "Northamptonshire": "Northants",
    "Buckinghamshire": "Bucks", "Bedfordshire": "Beds", "Wiltshire": "Wilts", "Berkshire": "Berks",
}
_POINTS = (("North East ", "NE "), ("North West ", "NW "), ("South East ", "SE "), ("South West ", "SW "),
           ("North ", "N "), ("South ", "S "), ("East ", "E "), ("West ", "W "))
LONG = 16  # characters: a longer name is abbreviated further


def short_name(name: str) -> str:
    """A CCG's name as a map label: no "NHS" or "CCG", "&" for "and", long names abbreviated."""
    s = re.sub(r"^NHS\s+", "", name.strip())
    s = re.sub(r"\s+CCG$", "", s)
    s = re.sub(r"\s*\(.*?\)", "", s)  # "Central London (Westminster)"
    s = s.replace(" and ", " & ")
    if len(s) > LONG:
        for word, abbr in _COUNTIES.items():
            s = s.replace(word, abbr)
    if len(s) > LONG:
        for word, abbr in _POINTS:
            s = re.sub(rf"(^|, |& ){word}", rf"\g<1>{abbr}", s)
    return s


def label_lines(text: str, max_chars: int = 14) -> list[str]:
    """One line, or two of similar length for a long label (broken at the most central space)."""
    if len(text) <= max_chars or " " not in text:
        return [text]
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return [text[:cut], text[cut + 1:]]


@dataclass(frozen=True)
class Label:
    """One CCG's label: its text lines, its box in slide pixels, the CCG's point, and how it is tied to it."""

    code: str
    lines: tuple[str, ...]
    box: Box
    anchor: tuple[float, float]
    leader: bool = False  # drawn away from the point, with a line to it
    number: int | None = None  # shown as a number; the name is in the key


@dataclass(frozen=True)
class Placement:
    labels: tuple[Label, ...]
    key: tuple[str, ...] = ()  # "1 Name" lines for the numbered CCGs


def _box(cx: float, cy: float, w: float, h: float) -> Box:
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _inside(box: Box, frame: Box, margin: float) -> bool:
    return (box[0] >= frame[0] + margin and box[1] >= frame[1] + margin and box[2] <= frame[2] - margin
            and box[3] <= frame[3] - margin)


def place_labels(items: Sequence[tuple[str, str, tuple[float, float]]], size: float, frame: Box,
                 obstacles: Sequence[Box], measure: Callable[[str, float], float], pad: float = 2.0,
                 first: int = 1) -> Placement:
    """Place (code, name, anchor) labels of font ``size`` in ``frame``, clear of ``obstacles`` and each other.

    Tried in turn for each label, from the most crowded CCG point outwards: on its point, then in rings of
    growing radius around it with a leader line (not covering another CCG's point); else a number, placed
    the same way, with the name in the key.
    """
    placed: list[Box] = []
    anchors = [a for _, _, a in items]
    gap = max(1.0, size * 0.12)

    def dims(lines: Sequence[str]) -> tuple[float, float]:
        return (max(measure(t, size) for t in lines) + 2 * pad, len(lines) * size * LINE + 2 * pad)

    def free(box: Box, own: int, leader: bool) -> bool:
        if not _inside(box, frame, 2.0) or any(overlaps(box, b, gap) for b in placed):
            return False
        if any(overlaps(box, b) for b in obstacles):
            return False
        if leader:  # a label moved away must not sit on another CCG's point (that one would look labelled)
            for j, (ax, ay) in enumerate(anchors):
                if j != own and box[0] - 2 <= ax <= box[2] + 2 and box[1] - 2 <= ay <= box[3] + 2:
                    return False
        return True

    def spot(i: int, w: float, h: float, rings: int = 8) -> tuple[Box, bool] | None:
        ax, ay = anchors[i]
        box = _box(ax, ay, w, h)
        if free(box, i, False):
            return box, False
        for k in range(1, rings + 1):
            r = k * size * 1.1
            n = 8 + 4 * k
            for j in range(n):
                t = 2 * math.pi * j / n - math.pi / 2
                box = _box(ax + math.cos(t) * (r + w / 2), ay + math.sin(t) * (r + h / 2), w, h)
                if free(box, i, True):
                    return box, True
        return None

    def crowding(i: int) -> int:
        ax, ay = anchors[i]
        return -sum(1 for bx, by in anchors if abs(bx - ax) < 6 * size and abs(by - ay) < 3 * size)

    order = sorted(range(len(items)), key=lambda i: (crowding(i), anchors[i][0]))
    labels: dict[int, Label] = {}
    numbered: list[int] = []
    for i in order:
        code, name, anchor = items[i]
        lines = label_lines(name)
        found = spot(i, *dims(lines))
        if found:
            placed.append(found[0])
            labels[i] = Label(code, tuple(lines), found[0], anchor, leader=found[1])
        else:
            numbered.append(i)
    key: list[str] = []
    for n, i in enumerate(sorted(numbered, key=lambda i: (anchors[i][1], anchors[i][0])), start=first):
        code, name, anchor = items[i]
        w, h = dims([str(n)])
        found = spot(i, w, h, rings=24)
        if found is None:  # anywhere in the frame clear of every label and obstacle, with a leader line
            anywhere = free_spot(frame, w, h, [*placed, *obstacles], margin=2.0 + gap, step=max(2.0, size / 3))
            found = (anywhere, True) if anywhere else (_box(*anchor, w, h), False)
        placed.append(found[0])
        labels[i] = Label(code, (str(n),), found[0], anchor, leader=found[1], number=n)
        key.append(f"{n} {name}")
    return Placement(labels=tuple(labels[i] for i in range(len(items))), key=tuple(key))
