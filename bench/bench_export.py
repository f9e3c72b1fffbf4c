"""Benchmark slide export through Chromium (kaleido); prints one JSON object per line, never asserts.

Run from the repository root: ``python bench/bench_export.py [--runs N] [--batch-size 1920x1080] [--atlas DIR]``.

* ``export_cold_start``: a new renderer's first slide: browser launch (``launch_s``) plus the render.
* ``export_warm_slide``: one 1920x1080 slide with the browser already running, a different view each run
  (nothing cached): p50/p95/min seconds, PNG size; ``cached_ms`` is the same view served from the slide cache.
* ``export_svg_slide``, ``export_pdf_slide``: one warm SVG or PDF slide (the map as vector paths), its size and
  whether it holds a raster image (it should not).
* ``export_pptx_slide``: a warm PowerPoint slide (the PNG render plus python-pptx), its size.
* ``slide_figure_build``: building the slide's figure in Python alone (no browser), p50 over the same views.
* ``export_batch_area_teams``: ``python -m dashboard.export --by area-team`` in process: 25 slides, one browser.

Slides cost CPU in Chromium (the map is SVG paths on a geo subplot; it was a WebGL map drawn by SwiftShader
until issue #20), so timings depend on the machine's load; ``loadavg_1m`` and ``cpus`` are reported beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard import export
from dashboard.service import AtlasService  # noqa: E402
from dashboard.slides import pptx as slide_pptx
from dashboard.slides import render, slide
from dashboard.state import normalise  # noqa: E402
from geodata.atlas import read_atlas  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def common() -> dict[str, object]:
    import plotly

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "plotly": plotly.__version__,
            "kaleido": metadata.version("kaleido"),
            "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}


def emit(name: str, **fields: object) -> None:
    print(json.dumps({"benchmark": name, **fields, **common()}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="warm slides to time (default 5)")
    ap.add_argument("--batch-size", default="1920x1080", help="slide size for the batch, WxH (default 1920x1080)")
    ap.add_argument("--atlas", help="atlas folder (default $CCG_ATLAS_DIR or build/atlas)")
    ap.add_argument("--skip-batch", action="store_true")
    args = ap.parse_args()
    bw, bh = (int(v) for v in args.batch_size.lower().split("x"))

    service = AtlasService(read_atlas(args.atlas))
    vocab = service.vocabulary
    teams = list(vocab.area_teams)
    views = [normalise(vocab, year=2016)] + [
        normalise(vocab, year=2015 + i % 2, area_teams=[teams[(i * 7) % len(teams)]], view=("level", "change")[i % 2])
        for i in range(max(args.runs, 1) + 1)
    ]

    try:
        renderer = render.Renderer()
        t0 = time.perf_counter()
        first = render.slide_bytes(service, views[0], renderer=renderer, use_cache=False)
        cold = time.perf_counter() - t0
    except render.RendererUnavailable as exc:
        emit("export_cold_start", error=str(exc))
        return
    emit("export_cold_start", seconds=round(cold, 2), launch_s=round(renderer.last_start_seconds or 0, 2),
         width=1920, height=1080, png_kib=round(len(first) / 1024, 1))

    with renderer:
        times, sizes = [], []
        for state in views[1:args.runs + 1]:
            t0 = time.perf_counter()
            data = render.slide_bytes(service, state, renderer=renderer, use_cache=False)
            times.append(time.perf_counter() - t0)
            sizes.append(len(data))
        cache = render.SlideCache()
        key = render.cache_key(service, views[0], "png", 1920, 1080)
        cache.put(key, first)
        hits = []
        for _ in range(50):
            t0 = time.perf_counter()
            cache.get_or_make(key, lambda: b"")
            hits.append((time.perf_counter() - t0) * 1000)
        emit("export_warm_slide", runs=len(times), p50_s=round(statistics.median(times), 2),
             p95_s=round(percentile(times, 0.95), 2), min_s=round(min(times), 2), width=1920, height=1080,
             png_kib_p50=round(statistics.median(sizes) / 1024, 1), cached_ms=round(statistics.median(hits), 4),
             browser_launches=renderer.launches)
        for fmt in ("svg", "pdf"):
            t0 = time.perf_counter()
            data = render.slide_bytes(service, views[1], fmt=fmt, renderer=renderer, use_cache=False)
            raster = b"<image" in data if fmt == "svg" else b"/Subtype /Image" in data
            emit(f"export_{fmt}_slide", seconds=round(time.perf_counter() - t0, 2), kib=round(len(data) / 1024, 1),
                 raster_image=raster)
        t0 = time.perf_counter()
        png = render.slide_bytes(service, views[2], renderer=renderer, use_cache=False)
        deck = slide_pptx.slide_pptx(service.view(views[2]), png, 1920, 1080)
        emit("export_pptx_slide", seconds=round(time.perf_counter() - t0, 2), kib=round(len(deck) / 1024, 1))
    builds = []
    for state in views[1:args.runs + 1]:
        t0 = time.perf_counter()
        slide.slide_figure(service.view(state))
        builds.append(time.perf_counter() - t0)
    emit("slide_figure_build", runs=len(builds), p50_s=round(statistics.median(builds), 3),
         max_s=round(max(builds), 3))

    if args.skip_batch:
        return
    with tempfile.TemporaryDirectory() as out:
        argv = ["--by", "area-team", "--out-dir", out, "--width", str(bw), "--height", str(bh), "--quiet"]
        if args.atlas:
            argv += ["--atlas", args.atlas]
        err = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(err):
            code = export.main(argv)
        took = time.perf_counter() - t0
        files = list(Path(out).glob("*.png"))
        summary = err.getvalue().strip().splitlines()[-1:] or [""]
        emit("export_batch_area_teams", seconds=round(took, 1), slides=len(files),
             per_slide_s=round(took / max(len(files), 1), 2), width=bw, height=bh, exit_code=code,
             tabs=export.BATCH_TABS, total_kib=round(sum(f.stat().st_size for f in files) / 1024),
             summary=summary[0])


if __name__ == "__main__":
    main()
