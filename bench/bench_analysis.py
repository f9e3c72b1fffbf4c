"""Benchmark dashboard.analysis on a synthetic 209-CCG geography; prints one JSON object per line.

Run from the repository root: ``python bench/bench_analysis.py [--runs N] [--permutations P]``.
It only reports (no assertions).  The geography is an 11 x 19 grid with queen contiguity (a planar-ish
graph with 209 nodes, like the 209 CCGs) split into 25 contiguous "area teams", with random levels drawn
with roughly realistic shares (about 10% unknown), a random IMD score and population.

Timings (milliseconds):

* ``cold_ms``: the first call in the process (nothing cached, numpy code paths not yet warmed up).
* ``p50_ms`` / ``p95_ms``: later calls, each on a freshly drawn set of levels with the permutation cache
  cleared, i.e. what a new filter selection costs in a running dashboard.
* ``cached_ms``: median of repeated ``summarise_cached`` calls with the same key (served from the cache).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard import analysis as an  # noqa: E402

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


def stats_line(name: str, samples: list[float], **extra: object) -> str:
    arr = np.asarray(samples)
    record = {"benchmark": name, **extra, "runs": len(arr), "p50_ms": round(float(np.percentile(arr, 50)), 2),
              "p95_ms": round(float(np.percentile(arr, 95)), 2), "min_ms": round(float(arr.min()), 2)}
    return json.dumps(record)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--permutations", type=int, default=999)
    args = ap.parse_args()
    perms = args.permutations

    neighbours, teams, imd, population = geography()
    codes = list(neighbours)
    common = {"ccgs": len(codes), "permutations": perms, "cpus": os.cpu_count(),
              "python": platform.python_version(), "numpy": np.__version__,
              "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}

    # Cold: first call in the process, through the dashboard's cached entry point (a cache miss).
    token = an.register_geography(neighbours, teams, imd, population)
    key = an.levels_key(random_levels(codes, 0))
    t0 = time.perf_counter()
    an.summarise_cached(2015, key, token, permutations=perms)
    cold = ms(t0)
    cached = []
    for _ in range(max(args.runs, 5)):
        t0 = time.perf_counter()
        an.summarise_cached(2015, key, token, permutations=perms)
        cached.append(ms(t0))

    # Steady state, nothing cached: new levels every run, permutation matrices regenerated.
    summ, comp_total = [], []
    comp: dict[str, list[float]] = {"join_counts": [], "area_team_concordance": [], "local_clusters": [],
                                    "deprivation_by_level": []}
    for run in range(args.runs):
        levels = random_levels(codes, 1000 + run)
        an._permutation_matrices.cache_clear()
        t0 = time.perf_counter()
        an.summarise(levels, neighbours, teams, imd, population, year=2015, permutations=perms, seed=run)
        summ.append(ms(t0))

        an._permutation_matrices.cache_clear()
        total = 0.0
        for name, func, data in (
            ("join_counts", an.join_counts, neighbours),
            ("area_team_concordance", an.area_team_concordance, teams),
            ("local_clusters", an.local_clusters, neighbours),
            ("deprivation_by_level", an.deprivation_by_level, imd),
        ):
            t0 = time.perf_counter()
            if func is an.deprivation_by_level:
                func(levels, data, population, perms, run)
            else:
                func(levels, data, perms, run)
            elapsed = ms(t0)
            comp[name].append(elapsed)
            total += elapsed
        comp_total.append(total)

    print(stats_line(f"analysis_summarise_{perms}", summ, **common, views=2, cold_ms=round(cold, 2),
                     cached_ms=round(float(np.median(cached)), 3), budget_ms=BUDGET_MS,
                     within_budget=bool(np.percentile(summ, 95) <= BUDGET_MS)))
    print(stats_line(f"analysis_components_{perms}", comp_total, **common, views=1, budget_ms=BUDGET_MS,
                     within_budget=bool(np.percentile(comp_total, 95) <= BUDGET_MS)))
    for name, samples in comp.items():
        print(stats_line(f"analysis_{name}_{perms}", samples, **common))


if __name__ == "__main__":
    main()
