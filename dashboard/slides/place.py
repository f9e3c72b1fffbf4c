"""Where things go on a slide's map: the map's own projection in pixels, and free room for an inset or a key.

The slide's map is web-mercator at a known centre and zoom (512-pixel tiles, as in
:func:`dashboard.figures.fit_view`), so every CCG's bounds and every label anchor can be put in slide pixels
before anything is drawn; a London inset, a locator map or a label is then placed where it covers no CCG that
the slide shows, instead of where it happens to fit on most views.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in slide pixels (y grows downwards)


def merc(lat: float) -> float:
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


@dataclass(frozen=True)
class MapFrame:
    """A map subplot on the slide: its pixel rectangle and its centre and zoom."""

    x0: float
    y0: float
    x1: float
    y1: float
    lon: float
    lat: float
    zoom: float

    @property
    def box(self) -> Box:
        return self.x0, self.y0, self.x1, self.y1

    def to_px(self, lon: float, lat: float) -> tuple[float, float]:
        world = 512 * 2 ** self.zoom
        x = (self.x0 + self.x1) / 2 + (lon - self.lon) * world / 360
        y = (self.y0 + self.y1) / 2 - (merc(lat) - merc(self.lat)) * world / (2 * math.pi)
        return x, y

    def bounds_px(self, bounds: Sequence[float]) -> Box:
        """A (west, south, east, north) box in pixels."""
        x0, y1 = self.to_px(bounds[0], bounds[1])
        x1, y0 = self.to_px(bounds[2], bounds[3])
        return x0, y0, x1, y1


def overlaps(a: Box, b: Box, gap: float = 0.0) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def clip(box: Box, frame: Box) -> Box | None:
    """The part of box inside frame, or None when it is outside."""
    out = max(box[0], frame[0]), max(box[1], frame[1]), min(box[2], frame[2]), min(box[3], frame[3])
    return out if out[0] < out[2] and out[1] < out[3] else None


def free_spot(frame: Box, w: float, h: float, obstacles: Iterable[Box], margin: float = 8.0,
              step: float = 6.0) -> Box | None:
    """A w x h box inside frame (``margin`` from its edges) that overlaps no obstacle, nearest a corner of the
    frame (so an inset sits in a corner like on printed maps); None when there is none."""
    fx0, fy0, fx1, fy1 = frame
    xs = np.arange(fx0 + margin, fx1 - margin - w + 1e-9, step)
    ys = np.arange(fy0 + margin, fy1 - margin - h + 1e-9, step)
    if not len(xs) or not len(ys):
        return None
    xs = np.append(xs, fx1 - margin - w)  # the corners themselves
    ys = np.append(ys, fy1 - margin - h)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    obs = np.array([b for b in obstacles], dtype=float).reshape(-1, 4)
    if len(obs):
        free = ~((gx[:, None] < obs[None, :, 2]) & (obs[None, :, 0] < gx[:, None] + w)
                 & (gy[:, None] < obs[None, :, 3]) & (obs[None, :, 1] < gy[:, None] + h)).any(axis=1)
    else:
        free = np.ones(len(gx), dtype=bool)
    if not free.any():
        return None
    # distance from the box's corner to the frame's nearest corner
    dx = np.minimum(gx - fx0, fx1 - (gx + w))
    dy = np.minimum(gy - fy0, fy1 - (gy + h))
    score = np.where(free, np.hypot(dx, dy), np.inf)
    i = int(np.argmin(score))
    return float(gx[i]), float(gy[i]), float(gx[i] + w), float(gy[i] + h)
