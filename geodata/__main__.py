"""Command line: ``python -m geodata build | ensure | export-csv FILE | report | import-levels FILE``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import pandas as pd

from geodata import build as build_mod
from geodata import datapackage, importer, levels, sources, table_export
from geodata.atlas import read_atlas
from geodata.vocabulary import EVIDENCE_CHOICES


def _report(table_rec: object, manifest: dict) -> str:
    rec = table_rec
    lines = [f"atlas {manifest['build_id']}: {manifest['ccgs']} CCGs, {manifest['area_teams']} area teams"]
    for year, counts in manifest["coverage"].items():
        known = sum(v for k, v in counts.items() if k != levels.UNKNOWN)
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        lines.append(f"  {levels.PERIOD_BY_YEAR[int(year)]}: known {known}/209 ({shown})")
    lines.append("  published totals beside the atlas (atlas count / published, source):")
    for _, r in rec.iterrows():  # type: ignore[attr-defined]
        lines.append(f"    {r['period']} {r['scope']:<17} {r['level']:<20} {r['atlas']:>3} / {r['published']:<3} "
                     f"{r['measure']} ({r['source_id']}); unknown in scope {r['atlas_unknown']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geodata", description=__doc__)
    parser.add_argument("--sources", help="raw data folder (default $CCG_SOURCES or ../shared/data/raw)")
    parser.add_argument("--atlas", help="atlas folder (default $CCG_ATLAS_DIR or build/atlas)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the atlas (replaces the old one only if the new one is valid)")
    b.add_argument("--allow-fewer-levels", action="store_true",
                   help="accept fewer known levels than the current atlas has (otherwise the build stops)")
    sub.add_parser("ensure", help="build only if the atlas is missing or older than its inputs")
    sub.add_parser("report", help="coverage and published totals beside the atlas's counts")
    exp = sub.add_parser("export-csv", help="write the flat atlas table, one row per CCG")
    exp.add_argument("file")
    exp.add_argument("--evidence", choices=tuple(EVIDENCE_CHOICES), default="any",
                     help="claims the levels admit (default any); a level resting on a weaker claim is set aside")
    exp.add_argument("--datapackage", metavar="DIR",
                     help="also write the CSV and its Frictionless Data Package descriptor (datapackage.json) into DIR")
    imp = sub.add_parser("import-levels", help="import an official list of CCG levels (CSV or XLSX)")
    imp.add_argument("file")
    imp.add_argument("--year", type=int, required=True, choices=levels.YEARS)
    imp.add_argument("--level", choices=levels.LEVELS, help="level of every listed CCG (a list with no level column)")
    imp.add_argument("--rest", choices=levels.LEVELS,
                     help="level of every CCG the list does not name (only for a complete official list)")
    imp.add_argument("--name-column")
    imp.add_argument("--level-column")
    imp.add_argument("--source-title")
    imp.add_argument("--source-url", help="the list's web address (http or https); the page links it")
    imp.add_argument("--source-date")
    imp.add_argument("--claim", choices=("approved", "operating"), default="approved",
                     help="what the list states: levels approved for the year (default) or in operation")
    imp.add_argument("--into", default=str(build_mod.PROJECT_LEVELS), help="levels table to add to")
    imp.add_argument("--no-build", action="store_true", help="do not rebuild the atlas afterwards")
    imp.add_argument("--supersede", action="store_true",
                     help="the list's levels replace the rows of other sources they contradict (listed), "
                          "instead of being refused")
    args = parser.parse_args(argv)
    root = sources.sources_dir(args.sources)

    try:
        if args.cmd == "build" or (args.cmd == "ensure" and build_mod.needs_build(root, args.atlas)):
            res = build_mod.build(root, args.atlas, allow_fewer_levels=getattr(args, "allow_fewer_levels", False))
            print(_report(res.reconciliation, res.manifest))
            print(f"atlas written to {res.path}")
        elif args.cmd == "ensure":
            print(f"atlas up to date in {build_mod.atlas_dir(args.atlas)}")
        elif args.cmd == "report":
            atlas = read_atlas(args.atlas)
            print(_report(atlas.reconciliation, atlas.manifest))
        elif args.cmd == "export-csv":
            _export_csv(args)
        elif args.cmd == "import-levels":
            return _import(args, root)
    except (sources.SourceError, build_mod.BuildError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _export_csv(args: argparse.Namespace) -> None:
    """Every CCG's row as the page's download has it (``geodata.table_export``), and optionally its data package."""
    atlas = read_atlas(args.atlas)
    frame = table_export.flat_table(atlas.table, args.evidence, atlas.level_rows)
    shares = _atlas_shares(Path(atlas.folder), str(atlas.build_id), args.evidence)
    if shares is None:
        print(f"note: no share_delegated_* columns: {table_export.SHARES_FILE} is missing beside the atlas or was "
              "counted for another build; 'python -m dashboard.shares' (run by 'make atlas') writes it",
              file=sys.stderr)
    else:
        frame = table_export.add_shares(frame, shares)
    out = Path(args.file)
    out.write_text(datapackage.csv_text(frame), encoding="utf-8")  # no cell a spreadsheet would run
    print(f"wrote {len(frame)} rows to {out}")
    if args.datapackage:
        view = {"evidence": args.evidence, "description": f"all {len(frame)} CCGs of England",
                "command": f"python -m geodata export-csv {out.name} --evidence {args.evidence}"}
        csv_path, desc = datapackage.write_package(
            frame, args.datapackage, out.name, build_id=atlas.build_id, built_at=str(atlas.manifest["built_at"]),
            attributions=atlas.attributions, view=view)
        print(f"wrote {csv_path} and {desc}")


def _atlas_shares(folder: Path, build_id: str, evidence: str) -> pd.DataFrame | None:
    """The shares written beside the atlas for this build and evidence choice (``dashboard.shares``, which
    geodata does not import: it counts with the dashboard's sampler), or None when there are none for it."""
    path = folder / table_export.SHARES_FILE
    if not path.exists():
        return None
    shares = pd.read_csv(path, dtype={"ods_code": str, "evidence": str, "build_id": str}, keep_default_na=False)
    if not len(shares) or set(shares["build_id"]) != {build_id}:
        return None
    return shares[shares["evidence"] == evidence]


def _import(args: argparse.Namespace, root: Path) -> int:
    path = Path(args.file)
    title = args.source_title or f"Imported list {path.name}"
    res = importer.import_levels(path, args.year, root, level=args.level, name_column=args.name_column,
                                 level_column=args.level_column, source_title=title, source_url=args.source_url,
                                 source_date=args.source_date, rest=args.rest, claim=args.claim)
    target = Path(args.into)
    # Check against everything the build will read: the shared table, the project's table (also when the
    # rows go elsewhere) and the target less this source's earlier rows for the same year (replaced below).
    into_project = target.resolve() == build_mod.PROJECT_LEVELS.resolve()
    existing = [sources.read_levels_file(root / sources.LEVELS)]
    if not into_project and build_mod.PROJECT_LEVELS.exists():
        existing.append(sources.read_levels_file(build_mod.PROJECT_LEVELS))
    if target.exists():
        other = sources.read_levels_file(target)
        existing.append(other[~((other["source_title"] == title) & (other["year"] == str(args.year)))])
    import pandas as pd

    found = importer.find_conflicts(res.rows, pd.concat(existing), supersede=args.supersede)
    bad = list(res.bad)
    for c in found.conflicts:  # a contradiction with another source: the file's rows naming that CCG are bad
        rows_naming = res.file_rows.get(c.split()[0], [])
        bad += [(n, f"CONFLICT: {c}") for n in rows_naming] or [(0, f"CONFLICT (--rest {args.rest}): {c}")]
    for raw, name in res.approximate:
        print(f"  approximate match: {raw!r} -> {name!r} (check it)")
    for c in found.superseded:
        print(f"  SUPERSEDED (the list's level replaces it): {c}")
    if bad:  # all or nothing: a partly bad list writes no row, so nothing half-imported reaches the atlas
        for n, text in sorted(bad):
            print(f"  {'row ' + str(n) if n else 'not in the file'}: {text}")
        print(f"nothing written: {len(bad)} problem{'s' if len(bad) != 1 else ''} with {path.name} (listed above); "
              f"fix the list and import it again. {target} and the atlas are unchanged")
        return 3
    rows = res.rows
    if not rows:
        print(f"matched no CCG to write for {args.year}: {target} and the atlas are unchanged")
        return 3
    # Rows go to a copy; the copy replaces the target only once the atlas built from it passed every check, so a
    # failed build leaves levels.csv byte for byte as it was.
    staged = target.with_name(f".{target.name}.import-{os.getpid()}")
    try:
        if target.exists():
            shutil.copyfile(target, staged)
        importer.write_rows(rows, staged, title, year=args.year)
        if not args.no_build:
            built = build_mod.build(root, args.atlas, extra_levels=None if into_project else [staged],
                                    project_levels=staged if into_project else None)
            print(_report(built.reconciliation, built.manifest))
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    print(f"matched {len(rows)} CCGs for {args.year}; wrote them to {target} with source '{title}'")
    return 0

if __name__ == "__main__":
    sys.exit(main())
