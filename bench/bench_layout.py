"""Layout benchmark: server time of ``/_dash-layout`` for new views, repeats and ignored parameters; one JSON line.

Run from the repository root: ``python bench/bench_layout.py [--views 24]``. In-process (Flask's test client on
the production app, warmed as gunicorn's ``on_starting`` warms it), so it measures the server's own work and
no network; never asserts.

- ``layout_new_view``: ``--views`` distinct views never asked for before (year x view x evidence x region x
  deprivation range), each with ``Accept-Encoding: gzip, br`` as a browser sends it: CPU ms of this process per
  layout (p50, max), wall ms, compressed and raw kB.
- ``layout_repeat``: the same views again with a junk parameter, a campaign tag and an unknown region added
  (in the query string, then in ``Referer``): CPU ms (p50, max) and how many layouts the cache had to make
  (0 when ignored parameters share the view's entry).
- ``layout_304``: revalidation with the ETag: status and CPU ms.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def views(n: int, regions: list[str]) -> list[str]:
    """``n`` distinct query strings (distinct views), none of them England's default view."""
    combos = itertools.product(("2016", "2015"), ("level", "change"), ("any", "approved"), ("", *regions),
                               ("1-5", "1-2", "3-5"))
    out = []
    for year, view, evidence, region, imd in combos:
        params = [("year", year), ("view", view), ("evidence", evidence), ("imd", imd)]
        if region:
            params.append(("region", region))
        query = urlencode(params)
        if query != "year=2016&view=level&evidence=any&imd=1-5":
            out.append(query)
    return out[:n]


def timed(client: Any, url: str, headers: dict[str, str]) -> tuple[Any, float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    resp = client.get(url, headers=headers)
    resp.get_data()
    return resp, (time.process_time() - c0) * 1000, (time.perf_counter() - w0) * 1000


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 1), "max": round(max(values), 1)} if values else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=24)
    parser.add_argument("--atlas", help="atlas folder (default $CCG_ATLAS_DIR or build/atlas)")
    args = parser.parse_args()
    os.environ.pop("DASH_DEBUG", None)

    import app as app_module
    from dashboard.hosting import security

    dash_app = app_module.create_app(atlas_dir=args.atlas)
    security.warm(dash_app.server)
    service = dash_app.server.extensions["atlas_service"]
    layouts = service.cache("layout")
    client = dash_app.server.test_client()
    enc = {"Accept-Encoding": "gzip, br"}
    queries = views(args.views, list(service.vocabulary.regions))

    cpu, wall, raw, sent, etags = [], [], [], [], {}
    for q in queries:
        resp, c, w = timed(client, f"/_dash-layout?{q}", enc)
        cpu.append(c)
        wall.append(w)
        sent.append(len(resp.get_data()))
        raw.append(len(client.get(f"/_dash-layout?{q}").get_data()))
        etags[q] = resp.headers.get("ETag", "")
    print(json.dumps({"bench": "layout_new_view", "views": len(queries), "cpu_ms": summary(cpu),
                      "wall_ms": summary(wall), "sent_kb_p50": round(statistics.median(sent) / 1024, 1),
                      "raw_kb_p50": round(statistics.median(raw) / 1024, 1)}))

    misses = layouts.misses
    rep_cpu = []
    for i, q in enumerate(queries):
        junk = f"&utm_source=bench{i}&junk{i}=1&region=Nowhere{i}"
        _, c, _ = timed(client, f"/_dash-layout?{q}{junk}", enc)
        rep_cpu.append(c)
        _, c, _ = timed(client, "/_dash-layout", {**enc, "Referer": f"http://127.0.0.1/?{q}{junk}"})
        rep_cpu.append(c)
    print(json.dumps({"bench": "layout_repeat", "requests": len(rep_cpu), "cpu_ms": summary(rep_cpu),
                      "layouts_made": layouts.misses - misses, "cache_entries": len(layouts)}))

    statuses, rv_cpu = [], []
    for q in queries:
        resp, c, _ = timed(client, f"/_dash-layout?{q}&fbclid=x", {**enc, "If-None-Match": etags[q]})
        statuses.append(resp.status_code)
        rv_cpu.append(c)
    print(json.dumps({"bench": "layout_304", "requests": len(statuses),
                      "status": sorted(set(statuses)), "cpu_ms": summary(rv_cpu)}))


if __name__ == "__main__":
    main()
