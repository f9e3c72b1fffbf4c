"""Slides from the command line: the same slide as the page's "Download slide (PNG)" and ``/export.png``.

    python -m dashboard.export --year 2016 --area-team "Greater Manchester" --out gm.png
    python -m dashboard.export --year 2016 --imd 1-2 --view change --out deprived.svg --format svg
    python -m dashboard.export --year 2016 --region London --out london.pdf        # vector, for print
    python -m dashboard.export --year 2016 --region London --out london.pptx       # PowerPoint, one slide
    python -m dashboard.export --year 2016 --by area-team --out-dir slides/     # one slide per area team (25)

A batch uses one browser for all its slides. Exit codes: 0 done, 2 bad arguments (an unknown area team,
region or CCG, a bad year, range or size: the message names close matches or lists the valid values),
3 no browser to render with (the message says what to install), 1 anything else (e.g. a file not writable).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from dashboard.cli_args import UsageError, add_view_arguments, view_from_args
from dashboard.clustering_summary import cluster_table
from dashboard.service import AtlasService
from dashboard.slides import pptx as slide_pptx
from dashboard.slides import render
from dashboard.slides.slide import slide_figure
from dashboard.state import ViewState, Vocabulary, normalise, slide_filename
from geodata.atlas import AtlasDamaged, AtlasMissing, read_atlas

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_RENDERER = 0, 1, 2, 3
# png, svg and pdf as Kaleido draws them (svg and pdf with the map as vector paths); pptx holds the png slide.
FORMATS = (*render.FORMATS, "pptx")
BATCH_TABS = 2  # pages of the one browser drawing at once in a batch (about 10-25 % faster than one)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m dashboard.export",
        description="Write slide-ready images of the CCG co-commissioning map (title, legend with counts, "
                    "sources, date of the data).",
        epilog="Examples: --year 2016 --area-team 'Greater Manchester' --out gm.png; "
               "--by area-team --out-dir slides/",
    )
    add_view_arguments(p)
    p.add_argument("--view", default="level", choices=("level", "change"),
                   help="colour by level in the year, or by change 2015/16 to 2016/17")
    p.add_argument("--ccg", action="append", default=[], metavar="CODE",
                   help="outline a CCG (E38 code); repeatable")
    p.add_argument("--clusters", action="store_true",
                   help="mark CCGs in a significant same-level cluster (rings), as the page's checkbox does")
    p.add_argument("--out", metavar="FILE", help="the slide to write (.png, .svg, .pdf or .pptx)")
    p.add_argument("--by", choices=("area-team",), help="one slide per area team (all 25, or those given)")
    p.add_argument("--out-dir", metavar="DIR", help="folder for --by (created if missing)")
    p.add_argument("--width", type=int, default=1920, help="pixels; default 1920")
    p.add_argument("--height", type=int, default=1080, help="pixels; default 1080")
    p.add_argument("--format", choices=FORMATS,
                   help="png (default, or from the --out suffix), svg or pdf (for print: the map as vector paths), "
                        "or pptx (a PowerPoint slide: the picture, its summary as alt text, sources in the notes)")
    p.add_argument("--atlas", metavar="DIR", help="atlas folder (default $CCG_ATLAS_DIR or build/atlas)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _base_state(args: argparse.Namespace, vocab: Vocabulary) -> ViewState:
    """The view from the arguments, or UsageError saying exactly what is wrong (never a silent drop)."""
    for code in args.ccg:
        if code.strip().upper() not in vocab.ccgs:
            raise UsageError(f"unknown CCG code {code!r}: use an ONS code such as E38000001 "
                             "(see `python -m geodata export-csv FILE`)")
    return replace(view_from_args(args, vocab, ccgs=args.ccg, view=args.view), clusters=bool(args.clusters))


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    suffix = Path(args.out).suffix.lower().lstrip(".") if args.out else ""
    return suffix if suffix in FORMATS else "png"


def plan(args: argparse.Namespace, service: AtlasService) -> list[tuple[ViewState, Path]]:
    """The slides to write: (view, file) pairs. Raises UsageError."""
    vocab = service.vocabulary
    table = service.table
    state = _base_state(args, vocab)
    fmt = _format(args)
    if args.by == "area-team":
        if not args.out_dir:
            raise UsageError("--by area-team needs --out-dir DIR")
        if args.out:
            raise UsageError("use --out for one slide or --by area-team --out-dir DIR for a batch, not both")
        teams = list(state.area_teams) or list(vocab.area_teams)
        if state.regions:
            in_regions = set(table.loc[table["region"].isin(state.regions), "area_team"])
            teams = [t for t in teams if t in in_regions]
        if not teams:
            raise UsageError("no area team lies in the given region(s)")
        out_dir = Path(args.out_dir)
        views = [normalise(vocab, year=state.year, area_teams=[t], regions=list(state.regions), imd=state.imd,
                           ccgs=list(state.ccgs), view=state.view, evidence=state.evidence, clusters=state.clusters)
                 for t in teams]
        return [(v, out_dir / slide_filename(v, fmt)) for v in views]
    if args.out_dir:
        raise UsageError("--out-dir is for --by area-team; for one slide use --out FILE")
    if not args.out:
        raise UsageError("say where to write the slide: --out FILE.png (or --by area-team --out-dir DIR)")
    return [(state, Path(args.out))]


class Progress:
    """A plain text progress bar on stderr: redrawn in place on a terminal, one line per step otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30, quiet: bool = False) -> None:
        self.total, self.stream, self.width, self.quiet = total, stream or sys.stderr, width, quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()

    def update(self, done: int, label: str) -> None:
        if self.quiet:
            return
        filled = round(self.width * done / self.total) if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {done:>{len(str(self.total))}}/{self.total} {time.perf_counter() - self.t0:5.1f}s {label}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line[:150] + ("\n" if done == self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _label(state: ViewState) -> str:
    return ", ".join(state.area_teams) or "England"


def run(service: AtlasService, jobs: list[tuple[ViewState, Path]], fmt: str, width: int, height: int,
        renderer: render.Renderer, progress: Progress) -> Iterator[Path]:
    """Render and write every slide with the one renderer; yields each file written."""
    figs = (slide_figure(service.view(state), width=width, height=height,
                         clusters=cluster_table(service, state) if state.clusters else None) for state, _ in jobs)
    progress.update(0, "starting the browser")
    renderer.start()
    drawn = "png" if fmt == "pptx" else fmt
    for i, ((state, path), data) in enumerate(zip(jobs, renderer.render_many(figs, drawn, width, height)), 1):
        if fmt == "pptx":
            data = slide_pptx.slide_pptx(service.view(state), data, width, height)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        progress.update(i, _label(state))
        yield path


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    err = sys.stderr
    try:
        service = AtlasService(read_atlas(args.atlas))
    except (AtlasMissing, AtlasDamaged) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_FAILED
    try:
        fmt = _format(args)
        render.check_size("png" if fmt == "pptx" else fmt, args.width, args.height)
        jobs = plan(args, service)
    except (UsageError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=err)
        return EXIT_USAGE

    t0 = time.perf_counter()
    written: list[Path] = []
    renderer = render.Renderer(tabs=BATCH_TABS if len(jobs) > 1 else 1)
    progress = Progress(len(jobs), err, quiet=args.quiet or len(jobs) == 1)
    try:
        for path in run(service, jobs, fmt, args.width, args.height, renderer, progress):
            written.append(path)
    except render.RendererUnavailable as exc:
        if not isinstance(exc, render.RenderFailed):
            print(f"error: cannot render slides: {exc}", file=err)
            return EXIT_NO_RENDERER
        print(f"error: {exc}", file=err)
        return EXIT_FAILED
    except OSError as exc:
        print(f"error: cannot write {getattr(exc, 'filename', '') or 'the slide'}: {exc.strerror or exc}", file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\ninterrupted", file=err)
        return 130
    finally:
        renderer.close()
    took = time.perf_counter() - t0
    where = str(written[0]) if len(written) == 1 else f"{len(written)} slides in {Path(args.out_dir)}"
    size = sum(p.stat().st_size for p in written)
    print(f"wrote {where} ({fmt}, {args.width}x{args.height}, {size / 1024:.0f} KiB) in {took:.1f} s; "
          f"browser launches: {renderer.launches}, renders: {renderer.renders}", file=err)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
