"""Benchmark dashboard.robust on the real atlas; one JSON object per line, never asserts.

Run from the repository root: ``python bench/bench_robust.py [--completions 200] [--seed 1]``. Reads the built
atlas (``build/atlas`` or ``$CCG_ATLAS_DIR``) and says so (``skipped``) when there is none.

* ``robust_sampler``: building the completion sampler and drawing the completions, once per service and
  evidence choice (both cached by the service afterwards).
* ``robust_cold_state``: the first state of a process (sampler, draws and relabellings made on the way).
* ``robust_new_state_*``: a filter state the service has not seen (its result is not cached; the sampler, the
  draws and the relabelling tables of that selection size may be), worked out (the atlas's store of single-filter
  results is not read here: this measures the method): England, each region, each area team and IMD ranges, and
  views of two filters (two area teams of a region, a region and a deprivation range: never stored), for both
  years; wall p50 / p95 over all of them and per kind (target: p95 within 1.5 s, England within 3 s), with this
  process's CPU (the machine may be shared) and the load average.
* ``robust_stored_state``: the single-filter states again on a fresh service that reads the atlas's store
  (``make atlas`` writes it: :mod:`dashboard.robust.store`), as the server meets them; ``stored`` says whether
  the atlas has a current store. Neither service is prepared as ``gunicorn.conf.py`` prepares the server's
  (England's first view here pays the fixed-seed extension); ``bench_callbacks.py``'s tour starts as the server
  does.
* ``robust_repeated_state``: the same state again (answered from the service's cache).
* ``robust_parts``: for England in each year, the known-only summary (the panel's 999 relabellings) and the
  six statistics over the completions (summary, search, exact extremes).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard import analysis, robust  # noqa: E402
from dashboard.robust import store  # noqa: E402
from dashboard.service import AtlasService  # noqa: E402
from dashboard.state import ViewState  # noqa: E402


def ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples)
    return {"runs": len(arr), "p50_ms": round(float(np.percentile(arr, 50)), 1),
            "p95_ms": round(float(np.percentile(arr, 95)), 1), "max_ms": round(float(arr.max()), 1)}


def states(service: AtlasService) -> dict[str, list[ViewState]]:
    """New filter states by kind, both years."""
    vocab = service.vocabulary
    out: dict[str, list[ViewState]] = {"england": [], "region": [], "area_team": [], "imd": [], "two_filters": []}
    for year in (2015, 2016):
        out["england"].append(ViewState(year=year))
        out["region"] += [ViewState(year=year, regions=(r,)) for r in vocab.regions]
        out["area_team"] += [ViewState(year=year, area_teams=(t,)) for t in vocab.area_teams]
        out["imd"] += [ViewState(year=year, imd=rng) for rng in ((1, 1), (1, 2), (1, 3), (2, 4), (3, 5), (5, 5))]
        for region in vocab.regions:
            teams = sorted(t for t in vocab.area_teams if vocab.team_region.get(t) == region)[:2]
            if len(teams) == 2:
                out["two_filters"].append(ViewState(year=year, area_teams=tuple(teams)))
            out["two_filters"] += [ViewState(year=year, regions=(region,), imd=rng) for rng in ((1, 2), (4, 5))]
    return out


def unstored(service: AtlasService) -> AtlasService:
    """The service with an empty store of robust results: every view worked out (the method's own cost)."""
    service.derived("robust.store", lambda: store.Store(Path(os.devnull), "", ""))
    return service


def parts(service: AtlasService, completions: int, seed: int, common: dict[str, object]) -> None:
    """Where the time of a new England state goes."""
    table = robust.evidence_table(service, "any")
    for year in (2015, 2016):
        t0 = time.perf_counter()
        analysis.summarise(table[f"level_{year}"], service.atlas.neighbours, table["area_team"],
                           table["imd_score"], table["population"], year=year, tables=analysis.PermutationTables())
        known = ms(t0)
        t0 = time.perf_counter()
        robust.robust_statistics(table, service.atlas.neighbours, robust.constraints_of(service), year,
                                 never_delegated_2015=robust.never_delegated(service), completions=completions,
                                 seed=seed, sampler=robust.sampler_for(service, "any"),
                                 draws=robust.draws_for(service, "any", completions, seed),
                                 tables=analysis.PermutationTables(max_entries=8))
        total = ms(t0)
        print(json.dumps({"benchmark": f"robust_parts_{year}_england", **common,
                          "known_only_summary_ms": round(known, 1), "total_ms": round(total, 1),
                          "completions_search_exact_ms": round(total - known, 1)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--completions", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    common = {"completions": args.completions, "permutations": robust.PERMUTATIONS, "cpus": os.cpu_count(),
              "python": platform.python_version(), "machine": platform.machine()}
    from geodata.atlas import AtlasMissing, read_atlas

    try:
        atlas = read_atlas()
    except (AtlasMissing, FileNotFoundError) as exc:
        print(json.dumps({"benchmark": "robust", "skipped": str(exc)}))
        return
    service = unstored(AtlasService(atlas))
    t0 = time.perf_counter()
    robust.robust_for(service, ViewState(year=2016, imd=(4, 4)), args.completions, args.seed)
    print(json.dumps({"benchmark": "robust_cold_state", **common, "ms": round(ms(t0), 1)}))
    for evidence in ("any", "approved", "operating"):
        t0 = time.perf_counter()
        fresh = AtlasService(atlas)
        sampler = robust.sampler_for(fresh, evidence)
        built = ms(t0)
        t0 = time.perf_counter()
        sampler.draw_array(args.completions, args.seed)
        print(json.dumps({"benchmark": f"robust_sampler_{evidence}", **common, "build_ms": round(built, 1),
                          "draw_ms": round(ms(t0), 1)}))
    every: list[float] = []
    every_cpu: list[float] = []
    for kind, group in states(service).items():
        samples, cpu = [], []
        for state in group:
            t0, c0 = time.perf_counter(), time.process_time()
            robust.robust_for(service, state, args.completions, args.seed)
            samples.append(ms(t0))
            cpu.append((time.process_time() - c0) * 1000.0)
        every += samples
        every_cpu += cpu
        target = {"target_max_ms": 3000} if kind == "england" else {}
        print(json.dumps({"benchmark": f"robust_new_state_{kind}", **common, **percentiles(samples),
                          "cpu_p50_ms": percentiles(cpu)["p50_ms"],
                          "cpu_mean_ms": round(float(np.mean(cpu)), 1), **target}))
    print(json.dumps({"benchmark": "robust_new_state_all", **common, **percentiles(every), "target_p95_ms": 1500,
                      "cpu_p95_ms": percentiles(every_cpu)["p95_ms"],
                      "cpu_mean_ms": round(float(np.mean(every_cpu)), 1),
                      "loadavg_1m": round(os.getloadavg()[0], 2)}))
    reader = AtlasService(atlas)
    single = [st for kind, group in states(reader).items() if kind != "two_filters" for st in group]
    read = []
    for state in single:
        t0 = time.perf_counter()
        robust.robust_for(reader, state, args.completions, args.seed)
        read.append(ms(t0))
    print(json.dumps({"benchmark": "robust_stored_state", **common, **percentiles(read),
                      "stored": store.current(Path(atlas.folder), atlas.build_id)}))
    repeated = []
    for _ in range(50):
        t0 = time.perf_counter()
        robust.robust_for(service, ViewState(year=2015), args.completions, args.seed)
        repeated.append(ms(t0))
    print(json.dumps({"benchmark": "robust_repeated_state", **common, **percentiles(repeated)}))
    parts(service, args.completions, args.seed, common)


if __name__ == "__main__":
    main()
