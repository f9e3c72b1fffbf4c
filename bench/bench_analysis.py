"""Benchmark dashboard.analysis on a synthetic 209-CCG geography and on the real atlas; one JSON object per line.

Run from the repository root: ``python bench/bench_analysis.py [--runs N] [--permutations P]``.
It only reports (no assertions). The synthetic geography is an 11 x 19 grid with queen contiguity (209 nodes,
like the 209 CCGs) split into 25 contiguous "area teams", with random levels in roughly realistic shares
(about 10% unknown), a random IMD score and population. The real part reads the built atlas (``build/atlas``
or ``$CCG_ATLAS_DIR``) and is skipped, saying so, when there is none.

Timings (milliseconds unless named ``_us``):

* ``cold_ms``: the first call in the process (numpy code paths not yet warmed up).
* ``p50_ms`` / ``p95_ms``: later calls, each on a freshly drawn set of levels with a fresh
  :class:`PermutationTables`, i.e. what a new filter state costs when its relabellings must be drawn.
* ``warm_tables_p50_ms``: the same with the relabellings already in the caller's store (same CCG count).
* ``kruskal``: ``scipy.stats.kruskal`` against the hand-written tie-corrected version the module used to have,
  on the real IMD scores grouped by level, in microseconds per call.
* ``fast_paths``: the private per-statistic fast paths on the real 2016/17 selection with shared edges and
  relabellings, in microseconds per call (what one "completion" of the unknown levels would cost).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard import analysis as an  # noqa: E402
from dashboard.analysis._selection import edges, encode, select  # noqa: E402
from dashboard.analysis.concordance import concordance_stat  # noqa: E402
from dashboard.analysis.deprivation import difference_stat, kruskal_stat  # noqa: E402
from dashboard.analysis.join_counts import join_count_stat  # noqa: E402
from dashboard.analysis.local_clusters import local_stat  # noqa: E402
from geodata.vocabulary import DELEGATED, LEVELS  # noqa: E402

ROWS, COLS = 11, 19
SHARES = {"delegated": 0.30, "joint": 0.35, "greater_involvement": 0.15, "none": 0.04,
          "not_delegated": 0.06, "unknown": 0.10}
BUDGET_MS = 300.0


def geography() -> tuple[dict[str, list[str]], pd.Series, pd.Series, pd.Series]:
    codes = {(r, c): f"E38{r:02d}{c:02d}" for r in range(ROWS) for c in range(COLS)}
    neighbours = {
        codes[r, c]: [codes[r + dr, c + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                      if (dr or dc) and (r + dr, c + dc) in codes]
        for (r, c) in codes
    }
    # 25 contiguous teams: 5 bands of rows x 5 bands of columns
    teams = pd.Series({v: f"Team {r * 5 // ROWS}-{c * 5 // COLS}" for (r, c), v in codes.items()})
    rng = np.random.default_rng(2015)
    idx = list(neighbours)
    imd = pd.Series(rng.gamma(6.0, 4.0, len(idx)), index=idx)
    population = pd.Series(rng.integers(80_000, 900_000, len(idx)), index=idx)
    # one island, like the Isle of Wight
    neighbours["E99IOW"] = []
    teams["E99IOW"] = "Team 4-4"
    imd["E99IOW"] = 20.0
    population["E99IOW"] = 140_000
    drop = codes[ROWS - 1, COLS - 1]  # keep 209 CCGs in total
    for nb in neighbours[drop]:
        neighbours[nb] = [x for x in neighbours[nb] if x != drop]
    del neighbours[drop]
    return neighbours, teams.drop(drop), imd.drop(drop), population.drop(drop)


def random_levels(codes: list[str], seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.choice(list(SHARES), size=len(codes), p=list(SHARES.values())), index=codes)


def ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples)
    return {"runs": len(arr), "p50_ms": round(float(np.percentile(arr, 50)), 2),
            "p95_ms": round(float(np.percentile(arr, 95)), 2), "min_ms": round(float(arr.min()), 2)}


def per_call_us(fn: Callable[[], object], reps: int) -> float:
    for _ in range(min(20, reps)):
        fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return round((time.perf_counter() - t0) / reps * 1e6, 1)


def kruskal_by_hand(groups: list[np.ndarray]) -> tuple[float, float]:
    """The hand-written tie-corrected Kruskal-Wallis that dashboard.analysis used before (for comparison)."""
    x = np.concatenate(groups)
    n = len(x)
    ranks = stats.rankdata(x)
    _, ties = np.unique(x, return_counts=True)
    correction = 1.0 - float((ties**3 - ties).sum()) / (n**3 - n)
    if correction == 0:
        return math.nan, math.nan
    bounds = np.cumsum([0] + [len(g) for g in groups])
    h = 12.0 / (n * (n + 1)) * sum(ranks[a:b].sum() ** 2 / (b - a) for a, b in zip(bounds[:-1], bounds[1:]))
    h = (h - 3 * (n + 1)) / correction
    return float(h), float(special.chdtrc(len(groups) - 1, h))


def synthetic(runs: int, perms: int, common: dict[str, object]) -> None:
    neighbours, teams, imd, population = geography()
    codes = list(neighbours)
    args = (neighbours, teams, imd, population)
    t0 = time.perf_counter()
    an.summarise(random_levels(codes, 0), *args, year=2015, permutations=perms, tables=an.PermutationTables())
    cold = ms(t0)

    fresh, warm, comp_total = [], [], []
    comp: dict[str, list[float]] = {"join_counts": [], "area_team_concordance": [], "local_clusters": [],
                                    "deprivation_by_level": []}
    store = an.PermutationTables()
    for run in range(runs):
        levels = random_levels(codes, 1000 + run)
        t0 = time.perf_counter()
        an.summarise(levels, *args, year=2015, permutations=perms, seed=run, tables=an.PermutationTables())
        fresh.append(ms(t0))
        full = levels.where(levels != "unknown", "joint")  # every CCG known: the same size every run
        an.summarise(full, *args, permutations=perms, tables=store)
        t0 = time.perf_counter()
        an.summarise(full, *args, permutations=perms, tables=store)
        warm.append(ms(t0))

        total, shared = 0.0, an.PermutationTables()  # drawn by the first statistic, reused by the others
        for name, func, data in (
            ("join_counts", an.join_counts, (neighbours,)),
            ("area_team_concordance", an.area_team_concordance, (teams,)),
            ("local_clusters", an.local_clusters, (neighbours,)),
            ("deprivation_by_level", an.deprivation_by_level, (imd, population)),
        ):
            t0 = time.perf_counter()
            func(levels, *data, permutations=perms, seed=run, tables=shared)
            elapsed = ms(t0)
            comp[name].append(elapsed)
            total += elapsed
        comp_total.append(total)

    stats_fresh = percentiles(fresh)
    print(json.dumps({"benchmark": f"analysis_summarise_{perms}", **common, "views": 2, "cold_ms": round(cold, 2),
                      **stats_fresh, "warm_tables_p50_ms": round(float(np.median(warm)), 2), "budget_ms": BUDGET_MS,
                      "within_budget": bool(stats_fresh["p95_ms"] <= BUDGET_MS)}))
    print(json.dumps({"benchmark": f"analysis_components_{perms}", **common, "views": 1, **percentiles(comp_total)}))
    for name, samples in comp.items():
        print(json.dumps({"benchmark": f"analysis_{name}_{perms}", **common, **percentiles(samples)}))


def real(runs: int, perms: int, common: dict[str, object]) -> None:
    from dashboard.service import filter_mask
    from dashboard.state import ViewState
    from geodata.atlas import AtlasMissing, read_atlas

    try:
        atlas = read_atlas()
    except (AtlasMissing, FileNotFoundError) as exc:  # no atlas, or one older than geodata.atlas
        print(json.dumps({"benchmark": "analysis_real", "skipped": str(exc)}))
        return
    t = atlas.table
    args = (atlas.neighbours, t["area_team"], t["imd_score"], t["population"])
    england: dict[int, list[float]] = {2015: [], 2016: []}
    for _ in range(runs):
        for year in england:
            t0 = time.perf_counter()
            an.summarise(t[f"level_{year}"], *args, year=year, permutations=perms, tables=an.PermutationTables())
            england[year].append(ms(t0))
    teams: list[float] = []
    for team in atlas.area_teams:
        mask = filter_mask(t, ViewState(year=2016, area_teams=(team,)))
        t0 = time.perf_counter()
        an.summarise(t["level_2016"], *args, mask=mask, year=2016, permutations=perms, tables=an.PermutationTables())
        teams.append(ms(t0))
    p50 = float(np.median(england[2015] + england[2016]))
    for year, samples in england.items():
        print(json.dumps({"benchmark": f"analysis_real_summarise_{year}_england_{perms}", **common,
                          **percentiles(samples)}))
    print(json.dumps({"benchmark": f"analysis_real_summarise_2016_one_area_team_{perms}", **common,
                      **percentiles(teams)}))

    for year in (2015, 2016):
        lv = t[f"level_{year}"]
        groups = [t.loc[lv == level, "imd_score"].to_numpy(dtype=float) for level in LEVELS if (lv == level).any()]
        lab = np.concatenate([np.full(len(g), i) for i, g in enumerate(groups)])
        x = np.concatenate(groups)
        scipy_us = per_call_us(lambda g=groups: stats.kruskal(*g), 2000)
        hand_us = per_call_us(lambda g=groups: kruskal_by_hand(g), 2000)
        ours = kruskal_stat(lab, x, len(groups))
        print(json.dumps({"benchmark": f"analysis_real_kruskal_{year}", **common,
                          "groups": [len(g) for g in groups], "scipy_us": scipy_us, "hand_written_us": hand_us,
                          "difference_us": round(scipy_us - hand_us, 1),
                          "difference_share_of_summarise_p50": round((scipy_us - hand_us) / 1000 / p50, 4),
                          "same_h": bool(np.isclose(ours[0], kruskal_by_hand(groups)[0]))}))

    sel = select(t["level_2016"])
    lab, cats = encode(sel.labels)
    ei, ej = edges(sel.codes, atlas.neighbours)
    tables = an.make_tables(len(lab), perms, 0)
    team_names = sorted(set(t.loc[sel.codes, "area_team"]))
    tidx = np.array([team_names.index(x) for x in t.loc[sel.codes, "area_team"]])
    imd = t.loc[sel.codes, "imd_score"].to_numpy(dtype=float)
    is_del = sel.labels == DELEGATED
    print(json.dumps({"benchmark": f"analysis_real_fast_paths_2016_{perms}", **common, "n_known": len(lab),
                      "join_count_stat_us": per_call_us(lambda: join_count_stat(lab, ei, ej, tables), 200),
                      "concordance_stat_us": per_call_us(
                          lambda: concordance_stat(lab, tidx, len(team_names), len(cats), tables), 200),
                      "local_stat_us": per_call_us(lambda: local_stat(lab, ei, ej, tables), 200),
                      "difference_stat_us": per_call_us(lambda: difference_stat(is_del, imd, tables), 200),
                      "kruskal_stat_us": per_call_us(lambda: kruskal_stat(lab, imd, len(cats)), 500)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--permutations", type=int, default=999)
    args = ap.parse_args()
    common = {"ccgs": 209, "permutations": args.permutations, "cpus": os.cpu_count(),
              "python": platform.python_version(), "numpy": np.__version__,
              "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}
    synthetic(args.runs, args.permutations, common)
    real(args.runs, args.permutations, common)


if __name__ == "__main__":
    main()
