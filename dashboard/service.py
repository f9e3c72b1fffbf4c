"""One object per loaded atlas: its derived data, its caches (all bounded) and the view of a state.

``create_app`` builds one :class:`AtlasService` and hands it to the callbacks, the routes and the layout; the
CLIs build their own. Nothing derived from an atlas lives at module level, so two atlases (a test atlas and
another) can be served in one process, and every cache has a stated bound (``docs/deployment.md``): entries
per cache, and ``CACHE_MB`` for all of them together (:func:`cache_budget`). Outside that byte budget, and
bounded by entries only: the slides (``render.SlideCache``, 64 MB) and the permutation tables (a few MB); the
robust results have their own byte budget (``dashboard.robust.per_view.results_cache``, ``ROBUST_CACHE_MB``).

A :class:`View` is computed once per view state (filter mask, level codes, counts) and passed down to the
figure, summary and slide functions, which read it instead of recomputing the mask.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from dashboard.caching import BoundedCache, ByteBudget, estimate_bytes
from dashboard.state import ViewState, Vocabulary
from geodata import vocabulary as vocab
from geodata.atlas import Atlas
from geodata.vocabulary import level_column

T = TypeVar("T")

#: Entries kept per cache; a filter state costs a few kB to a few hundred kB, so these bound a worker's memory.
CACHE_SIZES = {"view": 512, "counts": 512, "team_chart": 512, "imd_chart": 512, "size_chart": 512, "clustering": 256,
               "clustering_patch": 256, "counts_patch": 256, "summary": 256, "team_options": 32,
               "robust_panel": 128, "robust_panel_patch": 128, "prior_panel": 64, "report": 512, "finding": 512,
               "layout": 32}  # serialised first pages per canonical view, ~270 kB each
#: Megabytes all those caches may hold together (``CACHE_MB``): entries alone do not bound memory, since one
#: view's entry is a few hundred bytes in one cache and a few hundred kilobytes in another.
DEFAULT_CACHE_MB = 40.0
CACHE_MB_RANGE = (1.0, 4096.0)


def cache_budget(env: Mapping[str, str] | None = None) -> int:
    """Bytes the service's caches may hold together: ``CACHE_MB`` (default 40, clamped to 1-4096) megabytes."""
    env = os.environ if env is None else env
    try:
        mb = float(env.get("CACHE_MB", "").strip() or DEFAULT_CACHE_MB)
    except ValueError:
        mb = DEFAULT_CACHE_MB
    if mb != mb:  # NaN
        mb = DEFAULT_CACHE_MB
    lo, hi = CACHE_MB_RANGE
    return int(max(lo, min(hi, mb)) * 2**20)


def feature_bounds(geojson: dict) -> dict[str, tuple[float, float, float, float]]:
    """(west, south, east, north) of each feature, for fitting the map to a filter."""
    out = {}
    for f in geojson["features"]:
        polys = f["geometry"]["coordinates"]
        rings = [polys[0]] if f["geometry"]["type"] == "Polygon" else [p[0] for p in polys]
        xs = [x for ring in rings for x, _ in ring]
        ys = [y for ring in rings for _, y in ring]
        out[f["id"]] = (min(xs), min(ys), max(xs), max(ys))
    return out


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def filter_mask(table: pd.DataFrame, state: ViewState) -> np.ndarray:
    """CCGs inside the filters: area teams OR-ed, regions OR-ed, the two AND-ed, and the IMD quintile range."""
    mask = np.ones(len(table), dtype=bool)
    if state.area_teams:
        mask &= np.isin(table["area_team"].to_numpy(), list(state.area_teams))
    if state.regions:
        mask &= np.isin(table["region"].to_numpy(), list(state.regions))
    lo, hi = state.imd
    quintile = table["imd_quintile"].to_numpy()
    mask &= (quintile >= lo) & (quintile <= hi)
    return mask


def level_codes(levels: pd.Series | np.ndarray) -> np.ndarray:
    """Position of each level in LEVEL_ORDER (unknown last), for counting with ``np.bincount``."""
    return pd.Categorical(np.asarray(levels, dtype=object), categories=vocab.LEVEL_ORDER).codes.astype(np.int64)


def transition(level_2015: str, level_2016: str) -> str:
    """Category of the 2015/16 -> 2016/17 change that the 'change' view colours by."""
    if level_2016 == vocab.DELEGATED:
        if level_2015 == vocab.DELEGATED:
            return "kept"
        return "new_maybe" if level_2015 == vocab.UNKNOWN else "new"
    return "unknown" if level_2016 == vocab.UNKNOWN else "not_delegated"


@dataclass(frozen=True, eq=False)
class View:
    """What one view state shows, computed once: read by figures, summaries, slides and tables.

    ``levels_2015``/``levels_2016`` are the levels as the view treats them; ``level`` those of the chosen
    year; ``codes`` their positions in ``LEVEL_ORDER``; ``category`` what the map colours by (the level, or the
    change between years) as positions in ``order``; ``counts`` the CCGs in the filter per level.
    """

    service: AtlasService
    state: ViewState
    mask: np.ndarray
    levels_2015: np.ndarray
    levels_2016: np.ndarray
    codes: np.ndarray
    category: np.ndarray
    counts: np.ndarray
    inferred: np.ndarray  # the shown level rests on an implied, area or rule claim, not a stated one
    order: tuple[str, ...] = field(default=vocab.LEVEL_ORDER)

    @property
    def table(self) -> pd.DataFrame:
        return self.service.table

    @property
    def atlas(self) -> Atlas:
        return self.service.atlas

    @property
    def year(self) -> int:
        return self.state.year

    @property
    def level(self) -> np.ndarray:
        return self.levels_2015 if self.state.year == 2015 else self.levels_2016

    def levels(self, year: int) -> np.ndarray:
        return self.levels_2015 if year == 2015 else self.levels_2016

    @property
    def n(self) -> int:
        return int(self.mask.sum())

    @property
    def unknown(self) -> int:
        return int(self.counts[-1])

    @property
    def known(self) -> int:
        return self.n - self.unknown

    @property
    def selected(self) -> np.ndarray:
        return self.table.index.isin(self.state.ccgs)


class AtlasService:
    """The loaded atlas plus everything derived from it once, and every cache the app keeps for it."""

    def __init__(self, atlas: Atlas, cache_bytes: int | None = None) -> None:
        """``cache_bytes``: the byte budget of all the caches together (default :func:`cache_budget`)."""
        self.atlas = atlas
        self.table = atlas.table
        self.vocabulary = Vocabulary.from_table(atlas.table)
        # A cached view refers to the service and its atlas; it is charged for what it holds, not for them.
        self.budget = ByteBudget(cache_bytes or cache_budget(),
                                 lambda value: estimate_bytes(value, shallow=(AtlasService, Atlas)))
        self.caches: dict[str, BoundedCache[Any]] = {name: BoundedCache(n, self.budget)
                                                     for name, n in CACHE_SIZES.items()}
        self.position = {c: i for i, c in enumerate(self.table.index)}
        self.bounds = feature_bounds(atlas.ccgs_geojson)
        self.published = published_national(atlas)
        self._derived: dict[str, Any] = {}
        self._closers: list[Callable[[], object]] = []
        self._lock = threading.RLock()

    @property
    def build_id(self) -> str:
        return self.atlas.build_id

    def cache(self, name: str) -> BoundedCache[Any]:
        return self.caches[name]

    def derived(self, name: str, make: Callable[[], T]) -> T:
        """A value derived from the atlas once per service (geography look-ups, permutation tables ...)."""
        with self._lock:
            if name not in self._derived:
                self._derived[name] = make()
            return self._derived[name]

    def peek(self, name: str) -> Any:
        """A derived value if it was made, else None (without making it)."""
        with self._lock:
            return self._derived.get(name)

    def view(self, state: ViewState) -> View:
        """The view of a state, from the cache when this state was seen before."""
        return self.caches["view"].get_or_make(state, lambda: self._make_view(state))

    def _make_view(self, state: ViewState) -> View:
        t = self.table
        mask = _frozen(filter_mask(t, state))
        lv15 = _frozen(t[level_column(2015, state.evidence)].to_numpy(dtype=object))
        lv16 = _frozen(t[level_column(2016, state.evidence)].to_numpy(dtype=object))
        codes = _frozen(level_codes(lv15 if state.year == 2015 else lv16))
        if state.view == "change":
            order = vocab.CHANGE_ORDER
            index = {c: i for i, c in enumerate(order)}
            category = np.fromiter((index[transition(a, b)] for a, b in zip(lv15, lv16)), dtype=np.int64,
                                   count=len(t))
        else:
            order, category = vocab.LEVEL_ORDER, codes
        counts = _frozen(np.bincount(codes[mask], minlength=len(vocab.LEVEL_ORDER)))
        return View(service=self, state=state, mask=mask, levels_2015=lv15, levels_2016=lv16, codes=codes,
                    category=_frozen(np.asarray(category)), counts=counts, inferred=_frozen(self._inferred(state)),
                    order=order)

    def _inferred(self, state: ViewState) -> np.ndarray:
        """CCGs whose shown level rests on an inferred claim (none under a stricter evidence choice, which sets
        such levels aside); in the change view, either year's level."""
        if state.evidence != "any":
            return np.zeros(len(self.table), dtype=bool)
        years = vocab.YEARS if state.view == "change" else (state.year,)
        out = np.zeros(len(self.table), dtype=bool)
        for y in years:
            out |= self.table[f"claim_{y}"].isin(vocab.INFERRED_CLAIMS).to_numpy()
        return out

    # -- resources that hold a process or a file (the slide renderer's Chromium): closed with the service -------

    def on_close(self, close: Callable[[], object]) -> None:
        """Call ``close`` when the service is closed (and at exit): what dashboard.slides.render starts for it."""
        with self._lock:
            self._closers.append(close)
        atexit.register(close)  # no Chromium outlives the process

    def close(self) -> None:
        """Close what was started for this service (the slide renderer's browser, if one was started)."""
        with self._lock:
            closers, self._closers = self._closers, []
        for close in closers:
            close()


def published_national(atlas: Atlas) -> dict[int, dict[str, int]]:
    """Published national counts in force from 1 April, per year: the largest in-operation figure per level.

    Chosen once per atlas from the build's reconciliation table (the sources' own figures), so no total is
    written into the code.
    """
    rec = atlas.reconciliation
    out: dict[int, dict[str, int]] = {y: {} for y in vocab.YEARS}
    if rec.empty:
        return out
    nat = rec[(rec["scope"] == "England") & rec["measure"].astype(str).str.startswith("in_operation")]
    for (year, level), group in nat.groupby(["year", "level"]):
        out.setdefault(int(year), {})[str(level)] = int(group["published"].astype(int).max())
    order = {lv: i for i, lv in enumerate(vocab.LEVELS)}
    return {y: dict(sorted(d.items(), key=lambda kv: order.get(kv[0], 99))) for y, d in out.items()}
