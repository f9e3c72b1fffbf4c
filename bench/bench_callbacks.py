"""Benchmark: bytes and server time of the page's callbacks, through Flask's test client (no network).

Prints one JSON object per line. Figures are reported, never asserted. Run from the project root:
``python bench/bench_callbacks.py [--tour-only]`` (``make bench`` runs it with the others).

``tour``: first, on a service started as gunicorn starts it (``gunicorn.conf.py``'s ``on_starting``, timed as
``start_s``), a scripted tour of 21 filter changes (:data:`TOUR`, every view new), each sent as the browser sends
it: the controls' callback, then every server callback the new view state fires, each fed the stores the previous
answers left. Which ones depends on where the reader is (``--reader``): at the map (``map``: counts, map, charts,
table; the statistics are worked out only for a reader who can see them, ``assets/stats.js``) or at the
statistics (``statistics``: those and the clustering and robustness panels and the prior check, unticked).
Reported: server CPU per new view (this process's CPU time, which is the server's: the test client only builds
requests), its mean against the 60 ms target, p50 / p95 / max, the robustness callback's share, and the England
views' wall time (target 3 s). Without ``--reader`` both tours run, each in a fresh process (nothing cached).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import runpy
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import app as app_module  # noqa: E402
from dashboard import figures, ids  # noqa: E402
from dashboard.state import ViewState, map_parts, to_store  # noqa: E402

ROUNDS = 60
ROOT = Path(__file__).resolve().parent.parent
TARGET_CPU_MS_PER_VIEW = 60
TARGET_ENGLAND_S = 3.0
#: The scripted tour: 21 filter changes after the first page (England 2016/17), each to a view not seen before.
TOUR: tuple[ViewState, ...] = (
    ViewState(year=2015),
    ViewState(year=2015, regions=("London",)),
    ViewState(year=2015, regions=("North",)),
    ViewState(year=2015, area_teams=("Greater Manchester",)),
    ViewState(year=2015, area_teams=("West Yorkshire",)),
    ViewState(year=2015, area_teams=("Wessex", "West Yorkshire")),
    ViewState(year=2015, imd=(4, 5)),
    ViewState(year=2015, regions=("North",), imd=(4, 5)),
    ViewState(year=2016, regions=("South",)),
    ViewState(year=2016, regions=("South",), imd=(4, 4)),
    ViewState(year=2016, area_teams=("Essex",)),
    ViewState(year=2016, area_teams=("Kent and Medway", "Leicestershire and Lincolnshire")),
    ViewState(year=2016, regions=("London",)),
    ViewState(year=2016, regions=("London",), evidence="operating"),
    ViewState(year=2016, evidence="approved"),
    ViewState(year=2015, evidence="approved"),
    ViewState(year=2015, area_teams=("Essex", "Greater Manchester")),
    ViewState(year=2015, area_teams=("South Yorkshire and Bassetlaw", "Thames Valley")),
    ViewState(year=2016, imd=(1, 2)),
    ViewState(year=2016, regions=("Midlands and East",)),
    ViewState(year=2015, imd=(1, 1)),
)


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}


def body(key: str, inputs: list[dict], state: list[dict] | None = None, changed: list[str] | None = None) -> dict:
    outputs = [{"id": part.split(".")[0], "property": part.split(".")[1]}
               for part in key.strip(".").split("...")] if key.startswith("..") else \
        {"id": key.split(".")[0], "property": key.split(".")[1]}
    return {"output": key, "outputs": outputs, "inputs": inputs, "state": state or [],
            "changedPropIds": changed or [f"{inputs[0]['id']}.{inputs[0]['property']}"]}


def request(key: str, values: dict[str, object], changed: str | None = None) -> dict:
    """The callback's request as the browser sends it: every input and state it declares (``values`` by
    ``id.property``, the rest empty), ``changed`` (else the first input) as the one that changed."""
    spec = app_module.app.callback_map[key]
    given = [[{"id": d["id"], "property": d["property"], "value": values.get(f"{d['id']}.{d['property']}")}
              for d in spec[part]] for part in ("inputs", "state")]
    return body(key, given[0], given[1], [changed] if changed else None)


def store(state: ViewState) -> dict:
    return to_store(state)


def timed_post(client, payload: dict) -> tuple[float, int, int]:  # noqa: ANN001
    t0 = time.perf_counter()
    resp = client.post("/_dash-update-component", json=payload, headers={"Accept-Encoding": "gzip"})
    ms = (time.perf_counter() - t0) * 1000
    if resp.status_code not in (200, 204):  # a benchmark of error answers measures nothing
        raise RuntimeError(f"{payload['output'][:80]} answered {resp.status_code}: {resp.get_data()[:300]!r}")
    raw = resp.get_data()
    plain = gzip.decompress(raw) if resp.headers.get("Content-Encoding") == "gzip" else raw
    return ms, len(plain), len(raw)


def pct(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=100)[int(q) - 1], 2) if len(values) > 2 else round(values[0], 2)


def start_as_gunicorn() -> tuple[float, float]:
    """Run ``gunicorn.conf.py``'s ``on_starting`` on this app, as the master does before forking; its seconds
    (wall, CPU)."""
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    server = SimpleNamespace(cfg=SimpleNamespace(preload_app=True), app=SimpleNamespace(wsgi=lambda: app_module.server),
                             log=logging.getLogger("bench"))
    t0, c0 = time.perf_counter(), time.process_time()
    conf["on_starting"](server)
    return time.perf_counter() - t0, time.process_time() - c0


def report_start() -> None:
    """Start as gunicorn does and say how long it took (wall and CPU, with the load: the machine may be shared)."""
    start_s, start_cpu = start_as_gunicorn()
    print(json.dumps({"benchmark": "start", "on_starting_s": round(start_s, 2),
                      "on_starting_cpu_s": round(start_cpu, 2), "loadavg_1m": round(os.getloadavg()[0], 2),
                      **machine()}))


def controls_of(state: ViewState) -> dict[str, object]:
    """The controls' values that give ``state``."""
    return {"year.value": state.year, "view.value": state.view, "region.value": list(state.regions),
            "area-team.value": list(state.area_teams), "imd-range.value": list(state.imd),
            "ccg-search.value": list(state.ccgs), "evidence.value": state.evidence, "show-clusters.value": [],
            "reset.n_clicks": 0}


def keep_outputs(resp_json: dict, into: dict[str, object]) -> None:
    """Store the answered props (not patches) as the browser would, for the next callbacks' inputs and states."""
    for cid, props in resp_json.get("response", {}).items():
        for prop, value in props.items():
            if not (isinstance(value, dict) and "__dash_patch_update" in value):
                into[f"{cid}.{prop}"] = value


def fed_by(key: str, store_id: str) -> bool:
    """Whether the server callback ``key`` has ``store_id``'s data among its inputs."""
    return any(d["id"] == store_id for d in app_module.app.callback_map[key]["inputs"])


def fired_by(reader: str) -> list[str]:
    """The server callbacks a new view state fires for a reader at the map or at the statistics (those fed by the
    view passed on to the statistics, ``stats-view``), in registration order."""
    stores = (ids.VIEW_STATE,) if reader == "map" else (ids.VIEW_STATE, ids.STATS_VIEW)
    return [k for k, spec in app_module.app.callback_map.items()
            if "callback" in spec and any(fed_by(k, s) for s in stores)]  # server callbacks: not clientside ones


def hold(held: dict[str, object], state: ViewState, n: int) -> None:
    """The stores a new view leaves for the callbacks: the controls, and (read only by the statistics' callbacks)
    the view passed on to the statistics, as ``assets/stats.js`` passes it."""
    held.update(controls_of(state))
    held["url.search"] = ""
    held[f"{ids.STATS_VIEW}.data"] = {"view": store(state), "n": n}


def tour(client, sync_key: str, reader: str) -> None:  # noqa: ANN001
    """Server CPU and wall time of each new view of :data:`TOUR` for a reader at the map or at the statistics
    (see the module docstring)."""
    fired = fired_by(reader)
    held: dict[str, object] = {"view-state.data": store(ViewState()), "url.search": "",
                               "map-applied.data": map_parts(ViewState(), False)}
    for key in [sync_key, *fired]:  # the first page: not counted
        hold(held, ViewState(), 1)
        keep_outputs(json.loads(client.post("/_dash-update-component", json=request(key, held)).get_data()), held)
    cpu, wall, robust_cpu, england = [], [], [], []
    for n, state in enumerate(TOUR, start=2):
        c0, w0 = time.process_time(), time.perf_counter()
        hold(held, state, n)
        rc = 0.0
        for key, changed in [(sync_key, "year.value"),
                             *[(k, f"{ids.STATS_VIEW if fed_by(k, ids.STATS_VIEW) else ids.VIEW_STATE}.data")
                               for k in fired]]:
            r0 = time.process_time()
            resp = client.post("/_dash-update-component", json=request(key, held, changed))
            if resp.status_code not in (200, 204):
                raise RuntimeError(f"{key[:80]} answered {resp.status_code}: {resp.get_data()[:300]!r}")
            if resp.status_code == 200:
                keep_outputs(json.loads(resp.get_data()), held)
            if key.strip(".").startswith(ids.CLUSTERING_ROBUST):
                rc = time.process_time() - r0
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
        robust_cpu.append(rc * 1000)
        if not state.area_teams and not state.regions and state.imd == (1, 5):
            england.append(wall[-1] / 1000)
        if held.get("view-state.data") != store(state):
            raise RuntimeError(f"the tour reached {held.get('view-state.data')}, not {store(state)}")
    print(json.dumps({
        "benchmark": "tour", "reader": reader, "views": len(TOUR), "callbacks": len(fired) + 1,
        "cpu_ms_per_view_mean": round(statistics.fmean(cpu), 1),
        "target_cpu_ms_per_view": TARGET_CPU_MS_PER_VIEW, "cpu_ms_p50": pct(cpu, 50), "cpu_ms_p95": pct(cpu, 95),
        "cpu_ms_max": round(max(cpu), 1), "wall_ms_p95": pct(wall, 95),
        "robust_cpu_share": round(sum(robust_cpu) / sum(cpu), 3),
        "england_wall_s": [round(x, 2) for x in england] if reader == "statistics" else "not fired",
        "target_england_s": TARGET_ENGLAND_S, **machine()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tour-only", action="store_true", help="only the tours of new views (with the start)")
    ap.add_argument("--reader", choices=("map", "statistics"),
                    help="only the tour for a reader at the map or at the statistics (default: both)")
    args = ap.parse_args()
    if args.reader is None:  # the statistics tour in a fresh process first: nothing cached by the other
        subprocess.run([sys.executable, __file__, "--tour-only", "--reader", "statistics"], check=True)
    report_start()
    service = app_module.server.extensions["atlas_service"]
    atlas = service.atlas
    client = app_module.server.test_client()
    map_key = next(k for k in app_module.app.callback_map if "ccg-map.figure" in k)
    sync_key = next(k for k in app_module.app.callback_map if "url.search" in k)
    # The server callbacks a filter change fires (each panel's first output names it; the charts' figures are
    # completed in the browser from their "-wire" stores).
    keys = {name: next(k for k in app_module.app.callback_map if k.strip(".").startswith(first)) for name, first in
            {"counts": "level-summary.children", "team_chart": "team-chart-wire.data",
             "imd_chart": "imd-chart-wire.data", "size_chart": "size-chart-wire.data", "table": "table-shown.data",
             "clustering": "clustering.children", "robustness": "clustering-robust.children"}.items()}
    tour(client, sync_key, args.reader or "map")
    if args.tour_only:
        return

    # Page, layout and geometry sizes, as sent (compressed) and raw.
    page = client.get("/", headers={"Accept-Encoding": "gzip"})
    layout = client.get("/_dash-layout", headers={"Accept-Encoding": "gzip"})
    layout_raw = gzip.decompress(layout.get_data()) if layout.headers.get("Content-Encoding") == "gzip" \
        else layout.get_data()
    geo = json.dumps(atlas.ccgs_geojson, separators=(",", ":")).encode()
    teams = json.dumps(atlas.area_teams_geojson, separators=(",", ":")).encode()
    full_fig = figures.map_figure(service.view(ViewState())).to_json().encode()
    print(json.dumps({
        "benchmark": "page_bytes", "html_gzip": len(page.get_data()), "layout_raw": len(layout_raw),
        "layout_sent": len(layout.get_data()), "layout_encoding": layout.headers.get("Content-Encoding"),
        "ccg_geometry_raw": len(geo), "ccg_geometry_gzip": len(gzip.compress(geo)),
        "england_layer_gzip": len(gzip.compress(geo)) + len(gzip.compress(teams)),
        "full_map_figure_raw": len(full_fig), "full_map_figure_gzip": len(gzip.compress(full_fig)), **machine(),
    }))

    # A filter change as the browser sends it: new view state, the previously applied state as State.
    team = ViewState(area_teams=("Greater Manchester",))
    applied = map_parts(ViewState(), False)  # what the page holds after its first render
    scenarios = {
        "filter_change": (team, applied),
        "year_change": (ViewState(year=2015), applied),
        "selection_change": (ViewState(ccgs=("E38000024",)), applied),
    }
    for name, (state, prev) in scenarios.items():
        payload = request(map_key, {"view-state.data": store(state), "map-applied.data": prev})
        times, sizes, sent = [], [], []
        for _ in range(ROUNDS):
            ms, plain, wire = timed_post(client, payload)
            times.append(ms)
            sizes.append(plain)
            sent.append(wire)
        print(json.dumps({
            "benchmark": f"map_patch_{name}", "patch_bytes": sizes[-1], "patch_bytes_sent": sent[-1],
            "full_figure_bytes": len(full_fig), "ratio": round(sizes[-1] / len(full_fig), 5),
            "p50_ms": pct(times, 50), "p95_ms": pct(times, 95), "rounds": ROUNDS,
        }))

    # Server time of the other callbacks for a filter change.
    controls = {"url.search": "?year=2016", "year.value": 2016, "view.value": "level", "region.value": [],
                "area-team.value": ["Greater Manchester"], "imd-range.value": [1, 5], "ccg-search.value": [],
                "evidence.value": "any", "show-clusters.value": [], "reset.n_clicks": 0,
                "view-state.data": store(ViewState()), "year.options": None}
    # Cold: each area team once (nothing cached); warm: the same states again (served from the caches).
    teams_all = sorted(atlas.table["area_team"].unique())
    for name, key in keys.items():
        cold, warm = [], []
        for runs in (cold, warm):
            for t in teams_all:
                state = store(ViewState(area_teams=(t,)))
                payload = request(key, {"view-state.data": state, f"{ids.STATS_VIEW}.data": {"view": state, "n": 1}},
                                  f"{ids.STATS_VIEW}.data" if fed_by(key, ids.STATS_VIEW) else None)
                runs.append(timed_post(client, payload)[0])
        print(json.dumps({"benchmark": f"callback_{name}", "cold_p50_ms": pct(cold, 50), "cold_p95_ms": pct(cold, 95),
                          "warm_p50_ms": pct(warm, 50), "warm_p95_ms": pct(warm, 95), "states": len(teams_all)}))
    times = [timed_post(client, request(sync_key, controls, "area-team.value"))[0] for _ in range(ROUNDS)]
    print(json.dumps({"benchmark": "callback_sync_state", "p50_ms": pct(times, 50), "p95_ms": pct(times, 95),
                      "rounds": ROUNDS}))


if __name__ == "__main__":
    main()
