"""The robustness panel made cheaper without changing a bit of what it says (issue 19, "cheaper, not dearer").

The vectorised path (every draw's candidate chosen at once with numpy, every row's "can it be tested" at once,
the distinct labellings listed once per call) is compared with the straightforward loop it replaced, on a
constructed case and on real views: the results must be identical to the last bit. The robust results' cache is
sized cheaply but not below what ``estimate_bytes`` finds, and keeps to its own byte budget; ``prepare`` (run
before the workers fork) leaves England's views ready.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from dashboard import robust
from dashboard.caching import estimate_bytes
from dashboard.robust import exact, specs
from dashboard.robust import over_completions as oc
from dashboard.robust.specs import Evals
from dashboard.service import AtlasService
from dashboard.state import ViewState
from geodata.totals import ENGLAND, Constraint


def loop_best_row(ev: Evals, scores: np.ndarray, low: bool) -> int | None:
    """The replaced path: one candidate per row, the choice made by ``_pick``'s loop."""
    c = oc._pick([oc._Candidate(ev.row(i), float(scores[i]), "search", i) for i in range(len(ev))], low)
    return None if c is None else c.draw


def loop_check_all(self: specs._Spec, batch: np.ndarray) -> list[str | None]:
    return [self.check(lab) for lab in batch]


def straightforward(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the loops back: per-row candidates, per-row checks, every listing made afresh."""
    monkeypatch.setattr(oc, "_best_row", loop_best_row)
    monkeypatch.setattr(specs._Spec, "check_all", loop_check_all)
    monkeypatch.setattr(exact.Relabellings, "listing", lambda self, present: exact.labellings(present))


def differences(x: object, y: object, path: str = "") -> list[str]:
    """Where two results differ: every field, every float to the bit (NaN equal to NaN), every frame."""
    if type(x) is not type(y):
        return [f"{path}: {type(x).__name__} != {type(y).__name__}"]
    if dataclasses.is_dataclass(x):
        return [d for f in dataclasses.fields(x) for d in differences(getattr(x, f.name), getattr(y, f.name),
                                                                      f"{path}.{f.name}")]
    if isinstance(x, pd.DataFrame):
        return [] if x.equals(y) else [f"{path}: frames differ"]
    if isinstance(x, list | tuple):
        if len(x) != len(y):
            return [f"{path}: {len(x)} != {len(y)} items"]
        return [d for i, (u, v) in enumerate(zip(x, y)) for d in differences(u, v, f"{path}[{i}]")]
    if isinstance(x, dict):
        if x.keys() != y.keys():
            return [f"{path}: keys differ"]
        return [d for k in x for d in differences(x[k], y[k], f"{path}[{k}]")]
    if isinstance(x, float):
        same = np.float64(x).tobytes() == np.float64(y).tobytes() or (math.isnan(x) and math.isnan(y))
        return [] if same else [f"{path}: {x!r} != {y!r}"]
    return [] if x == y else [f"{path}: {x!r} != {y!r}"]


# --- the vectorised choices against the loops ------------------------------------------------------------------


def test_the_draws_best_is_the_loops_choice_with_ties_nans_and_infinite_scores():
    rng = np.random.default_rng(7)
    for trial in range(400):
        n = int(rng.integers(1, 40))
        ev = Evals(n)
        ev.p = rng.choice([0.01, 0.03, 0.05, 0.2, 1.0, np.nan], n)  # few values: many ties
        scores = rng.choice([-1.5, 0.0, 2.0, 3.0, np.nan, np.inf, -np.inf], n)
        for low in (True, False):
            assert oc._best_row(ev, scores, low) == loop_best_row(ev, scores, low), (trial, low)


def test_check_of_every_row_at_once_is_check_of_each_row():
    codes = [f"C{i}" for i in range(8)]
    t = pd.DataFrame({"ods_code": codes, "region": ["R"] * 8, "area_team": ["A", "B"] * 4,
                      "imd_score": [5.0, 9, 1, 7, 3, 8, 2, 6], "level_2015": ["unknown"] * 8,
                      "level_2016": ["unknown"] * 8}, index=codes)
    nb = {c: [d for d in codes if abs(int(c[1:]) - int(d[1:])) == 1] for c in codes}
    rng = np.random.default_rng(3)
    for mask in (np.ones(8, bool), np.arange(8) < 3, np.arange(8) % 4 == 0):
        for spec in specs._specs(t, nb, mask, {}, 1):
            batch = rng.integers(0, spec.k, (60, spec.n)).astype(np.int8)
            batch[::7] = batch[::7, :1]  # some rows at one level
            assert spec.check_all(batch) == loop_check_all(spec, batch), spec.name


def test_a_constructed_result_is_the_loops_to_the_last_bit(monkeypatch):
    codes = [f"E{i:02d}" for i in range(10)]
    t = pd.DataFrame({"ods_code": codes, "region": ["North"] * 5 + ["South"] * 5,
                      "area_team": ["A", "A", "B", "B", "B", "C", "C", "D", "D", "D"],
                      "imd_score": [30.0, 28, 26, 24, 22, 12, 10, 8, 6, 4],
                      "level_2015": ["unknown", "delegated", "unknown", "joint", "unknown"] * 2,
                      "level_2016": ["delegated"] * 10}, index=codes)
    nb = {c: [d for d in codes if abs(int(c[1:]) - int(d[1:])) == 1] for c in codes}
    cs = [Constraint(2015, ENGLAND, "delegated", 3, 5, ("X",), "")]
    fast = robust.robust_statistics(t, nb, cs, 2015, completions=40, seed=2)
    straightforward(monkeypatch)
    slow = robust.robust_statistics(t, nb, cs, 2015, completions=40, seed=2)
    assert differences(fast, slow) == []


REAL = [ViewState(year=2015, area_teams=("West Yorkshire",)),  # proven by listing every completion
        ViewState(year=2015, regions=("North",), imd=(4, 5)),  # the regional programme, the extension
        ViewState(year=2016, area_teams=("Essex",))]


def test_real_results_are_the_loops_to_the_last_bit(service, monkeypatch):
    fast = [robust.robust_for(AtlasService(service.atlas), s) for s in REAL]
    straightforward(monkeypatch)
    slow = [robust.robust_for(AtlasService(service.atlas), s) for s in REAL]
    for state, a, b in zip(REAL, fast, slow):
        assert differences(a, b) == [], state


# --- the results' cache ------------------------------------------------------------------------------------------


def test_result_bytes_errs_high_but_not_by_half(service):
    for state in REAL:
        r = robust.robust_for(service, state)
        walked = estimate_bytes(r)
        assert walked <= robust.result_bytes(r) <= 1.5 * walked, state


def test_the_results_keep_to_their_own_byte_budget(service, monkeypatch):
    monkeypatch.setenv("ROBUST_CACHE_MB", "1")
    fresh = AtlasService(service.atlas)
    cache = robust.results_cache(fresh)
    states = [ViewState(year=2016, area_teams=(t,)) for t in ("Essex", "Wessex", "Lancashire", "Merseyside")]
    for s in states:
        robust.robust_for(fresh, s)
        assert cache.bytes <= 2**20
    assert cache.bytes > 0 and len(cache) < len(states)  # the newest kept, the oldest dropped to fit
    last = robust.robust_for(fresh, states[-1])
    assert robust.robust_for(fresh, states[-1]) is last


def test_prepare_leaves_englands_views_made_before_the_workers_fork(service):
    fresh = AtlasService(service.atlas)
    robust.prepare(fresh)
    cache = robust.results_cache(fresh)
    hits = cache.hits
    for year in (2015, 2016):
        robust.robust_for(fresh, ViewState(year=year))
    assert cache.hits == hits + 2
