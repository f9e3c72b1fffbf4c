"""The robustness check for a page view, with its sampler, draws and results cached on the service."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.clustering_summary import summary_for
from dashboard.completions import UNIFORM_HISTORIES, CompletionSampler
from dashboard.robust.over_completions import EXTENDED, EXTENSION_SEED, robust_statistics
from dashboard.robust.results import RobustResult
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


def results_cache(service: AtlasService) -> BoundedCache[RobustResult]:
    """The service's cache of robust results: its own named cache when it has one, else a derived one."""
    if "robust" in service.caches:
        return service.cache("robust")
    return service.derived("robust.cache", lambda: BoundedCache(128))


def robust_for(service: AtlasService, state: ViewState, completions: int = 200, seed: int = 1,
               prior: str = UNIFORM_HISTORIES) -> RobustResult:
    """Robust statistics for a view state's year, filters and evidence under a prior (``dashboard.completions.
    PRIORS``); repeated states come from the cache."""
    key = filters_only(state)

    def make() -> RobustResult:
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

