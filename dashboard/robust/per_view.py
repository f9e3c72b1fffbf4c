"""The robustness check for a page view, with its sampler, draws and results cached on the service."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd

from dashboard.caching import ByteBudget
from dashboard.clustering_summary import summary_for
from dashboard.completions import UNIFORM_HISTORIES, CompletionSampler
from dashboard.robust.over_completions import EXTENDED, EXTENSION_SEED, robust_statistics
from dashboard.robust.results import RobustResult
from dashboard.robust.store import stored_result
from dashboard.service import AtlasService, BoundedCache, level_column
from dashboard.state import ViewState, describe, filters_only
from geodata.levels import newly_authorised_2016
from geodata.totals import Constraint, read_constraints


def constraints_of(service: AtlasService) -> list[Constraint]:
    """The published totals as the atlas build reconciled them (``atlas.bounds``), else from the raw sources."""
    def make() -> list[Constraint]:
        b = service.atlas.bounds
        if b is None or b.empty:
            return read_constraints()
        return [Constraint(int(r.year), str(r.scope), str(r.level), int(r.lo), int(r.hi),
                           tuple(s.strip() for s in str(r.sources).split(",") if s.strip()), "")
                for r in b.itertuples(index=False)]

    return service.derived("robust.constraints", make)


def evidence_table(service: AtlasService, evidence: str) -> pd.DataFrame:
    """The atlas table with ``level_2015`` / ``level_2016`` as the evidence choice admits them (made once)."""
    def make() -> pd.DataFrame:
        t = service.table
        cols = [c for c in ("ods_code", "region", "area_team", "imd_score", "population") if c in t.columns]
        out = t[cols].copy()
        for year in (2015, 2016):
            out[f"level_{year}"] = t[level_column(year, evidence)].astype(str).to_numpy()
        return out

    return service.derived(f"robust.table.{evidence}", make)


def never_delegated(service: AtlasService) -> frozenset[str]:
    """CCGs newly authorised for April 2016 (so not delegated in 2015/16), from the atlas's level rows."""
    return service.derived("robust.never", lambda: frozenset(newly_authorised_2016(service.atlas.level_rows)))


def sampler_for(service: AtlasService, evidence: str = "any", prior: str = UNIFORM_HISTORIES) -> CompletionSampler:
    """The completion sampler of an atlas, evidence choice and prior, built once per service."""
    key = f"robust.sampler.{evidence}" if prior == UNIFORM_HISTORIES else f"robust.sampler.{evidence}.{prior}"
    return service.derived(key, lambda: CompletionSampler(
        evidence_table(service, evidence), constraints_of(service), never_delegated(service), prior))


def draws_for(service: AtlasService, evidence: str, completions: int, seed: int,
              prior: str = UNIFORM_HISTORIES) -> np.ndarray:
    """``sampler_for(...).draw_array(completions, seed)``, cached per service (a few, bounded)."""
    cache = service.derived("robust.draws", lambda: BoundedCache(8))
    return cache.get_or_make((evidence, int(completions), int(seed), prior),
                             lambda: sampler_for(service, evidence, prior).draw_array(int(completions), int(seed)))


#: Robust results kept per service, and the megabytes they may hold (``ROBUST_CACHE_MB``, default 32): their
#: own budget, sized by :func:`result_bytes`, outside ``CACHE_MB`` (walking a result's floats and frames with
#: ``estimate_bytes`` cost 40-120 ms a view, a fifth of the panel's time).
ROBUST_ENTRIES, ROBUST_CACHE_MB = 128, 32.0
#: Bytes charged per string of a completion's level columns (an object column's pointer and a short string,
#: counted as if owned although the level names are shared: the estimate errs high).
_CELL_BYTES = 8 + 64
#: A frame's own objects (its index, columns and blocks).
_FRAME_BYTES = 4_096
#: Everything else of a result (known-only values, words, verdicts, summaries), generously.
_RESULT_OVERHEAD = 16_384


def result_bytes(result: RobustResult) -> int:
    """A result's memory from its sizes, cheaply: each reported sample a float (24 bytes) in a tuple (8), each
    extreme completion a frame with one pointer and short string per cell, plus a fixed overhead. Within a
    few percent above ``dashboard.caching.estimate_bytes`` on the real views (tests/test_robust_cost.py)."""
    total = _RESULT_OVERHEAD
    for s in result.statistics:
        total += sys.getsizeof(s.values) + sys.getsizeof(s.p_values) + 24 * (len(s.values) + len(s.p_values))
        ends = [s.low, s.high, *(s.exact_range or ())]
        for frame in (e.completion for e in ends if e is not None and e.completion is not None):
            total += _FRAME_BYTES + 8 * len(frame) + _CELL_BYTES * frame.size  # index, cells
    return total


def results_cache(service: AtlasService) -> BoundedCache[RobustResult]:
    """The service's cache of robust results: its own named cache when it has one, else one with its own byte
    budget (:data:`ROBUST_CACHE_MB`, sized by :func:`result_bytes`)."""
    if "robust" in service.caches:
        return service.cache("robust")

    def make() -> BoundedCache[RobustResult]:
        try:
            mb = float(os.environ.get("ROBUST_CACHE_MB", "").strip() or ROBUST_CACHE_MB)
        except ValueError:
            mb = ROBUST_CACHE_MB
        mb = min(max(mb, 1.0), 4096.0) if mb == mb else ROBUST_CACHE_MB
        return BoundedCache(ROBUST_ENTRIES, ByteBudget(int(mb * 2**20), result_bytes))

    return service.derived("robust.cache", make)


def robust_for(service: AtlasService, state: ViewState, completions: int = 200, seed: int = 1,
               prior: str = UNIFORM_HISTORIES) -> RobustResult:
    """Robust statistics for a view state's year, filters and evidence under a prior (``dashboard.completions.
    PRIORS``); repeated states come from the cache."""
    key = filters_only(state)

    def make() -> RobustResult:
        stored = stored_result(service, key, completions, seed, prior)  # worked out with the atlas build
        if stored is not None:
            return stored
        view = service.view(key)
        filters = {"area_teams": list(key.area_teams), "regions": list(key.regions), "imd": list(key.imd)}
        return robust_statistics(
            evidence_table(service, key.evidence), service.atlas.neighbours, constraints_of(service), key.year,
            mask=view.mask, never_delegated_2015=never_delegated(service), completions=completions, seed=seed,
            evidence=key.evidence, description=describe(key), filters=filters,
            sampler=sampler_for(service, key.evidence, prior),
            draws=draws_for(service, key.evidence, completions, seed, prior),
            known_summary=summary_for(service, key),
            more_draws=lambda: draws_for(service, key.evidence, EXTENDED, EXTENSION_SEED, prior))

    cache_key = (key, int(completions), int(seed)) + (() if prior == UNIFORM_HISTORIES else (prior,))
    return results_cache(service).get_or_make(cache_key, make)



def prepare(service: AtlasService, evidence: str = "any", completions: int = 200, seed: int = 1) -> None:
    """What every worker would otherwise make on its first views, made once (``gunicorn.conf.py`` calls this
    before the workers fork, so they share it copy-on-write): the default evidence choice's sampler, its seeded
    draws, the fixed-seed extension (:data:`EXTENDED` draws, about 1.5 s) and the robust results of England in
    both years (the page's first views: read from the atlas's store, :mod:`dashboard.robust.store`, which holds
    every single-filter view; about 1 s each to work out when the atlas has none). The sampler and draws serve
    the views the store does not hold (two or more filters)."""
    sampler_for(service, evidence)
    draws_for(service, evidence, completions, seed)
    draws_for(service, evidence, EXTENDED, EXTENSION_SEED)
    for year in (2016, 2015):
        robust_for(service, ViewState(year=year, evidence=evidence), completions, seed)
