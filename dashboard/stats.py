"""Statistics from the command line: would each finding of the clustering panel survive the unknown levels?

    python -m dashboard.stats --year 2015 --completions 200 --seed 1
    python -m dashboard.stats --year 2016 --region London --imd 1-3 --evidence approved --json
    python -m dashboard.stats --year 2015 --write-completions draws.csv        # the completions themselves
    python -m dashboard.stats --year 2016 --prior two-stage --json               # the earlier prior

Prints every statistic of the clustering panel (HSJ's size question included: ``size.binary``, the difference in
mean population of delegated CCGs and the rest, and ``size.full``, Kruskal-Wallis of population across levels)
with its known-only value and p (as on the page), its summary over admissible completions of the unknown levels,
its extremes and a verdict (:mod:`dashboard.robust`); as JSON with ``--json`` (names in
``../shared/CONTRACT.md``), else as a table. ``--write-completions FILE.csv`` writes the draws: ``completion,
ods_code, level_2015, level_2016``, one row per CCG per draw, every level concrete
(``greater_involvement_or_none`` in 2015/16, where no published total separates the two).

Exit codes: 0 done, 2 bad arguments (an unknown area team or region, a bad year, range or count: the message
names close matches or lists the valid values), 1 anything else (no atlas, totals that no completion meets, a
file not writable).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TextIO

from dashboard.cli_args import UsageError, add_view_arguments, view_from_args
from dashboard.completions import PRIORS, TWO_STAGE, UNIFORM_HISTORIES
from dashboard.prior_sensitivity import sensitivity_for
from dashboard.robust import RobustResult, StatisticResult, headline, percent, robust_for, sampler_for
from dashboard.service import AtlasService
from dashboard.shares import shares_for, shares_json
from dashboard.state import ViewState, Vocabulary, filters_only
from dashboard.wording import fmt_p
from geodata.atlas import AtlasDamaged, AtlasMissing, read_atlas
from geodata.vocabulary import YEAR_LABEL

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_COMPLETIONS = 10_000


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments (as ``dashboard.export``'s, plus completions, seed, JSON and the draws' file)."""
    p = argparse.ArgumentParser(
        prog="python -m dashboard.stats",
        description="Every statistic of the clustering panel on the CCGs of known level and over admissible "
                    "completions of the unknown levels (every published total met), with extremes and a verdict.",
        epilog="Example: --year 2015 --completions 200 --seed 1 --json",
    )
    add_view_arguments(p)
    p.add_argument("--completions", default="200", metavar="N", help="completions to draw; default 200")
    p.add_argument("--seed", default="1", metavar="S", help="seed of the draws, search and relabellings; default 1")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--atlas", metavar="DIR", help="atlas folder (default $CCG_ATLAS_DIR or build/atlas)")
    p.add_argument("--write-completions", metavar="FILE.csv",
                   help="also write the draws (completion, ods_code, level_2015, level_2016) to this CSV")
    p.add_argument("--prior", default=UNIFORM_HISTORIES, choices=list(PRIORS),
                   help=f"which completions are how likely: {UNIFORM_HISTORIES} (default: "
                        f"{PRIORS[UNIFORM_HISTORIES]}) or {TWO_STAGE} ({PRIORS[TWO_STAGE]})")
    return p


def _count(value: str, what: str, low: int, high: int) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise UsageError(f"{what} {value!r}: give a whole number from {low} to {high}") from None
    if not low <= n <= high:
        raise UsageError(f"{what} {n}: give a whole number from {low} to {high}")
    return n


def parse_state(args: argparse.Namespace, vocab: Vocabulary) -> ViewState:
    """The view from the arguments, or UsageError saying exactly what is wrong (never a silent drop)."""
    return view_from_args(args, vocab)


# --- the readable table ---------------------------------------------------------------------------------------


def _num(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    if float(v).is_integer() or abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}"


def _p(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _row(s: StatisticResult) -> list[str]:
    k, c = s.known_only, s.completions
    known = f"{_num(k.value)}, p {_p(k.p)} (n {k.n})" if k.not_run is None else f"not run ({k.not_run})"
    comp = f"{_num(c.median)} [{_num(c.p5)}, {_num(c.p95)}]" if c.n else "-"
    pc = f"{_p(c.p_median)} [{_p(c.p_p5)}, {_p(c.p_p95)}]" if c.n else "-"
    share = percent(c.n_significant, c.n_draws) if c.n_draws else "-"
    ext = "-"
    if s.low is not None and s.high is not None:
        ext = f"{_p(s.low.p)} {s.low.found_by} / {_p(s.high.p)} {s.high.found_by}"
    return [s.name, known, comp, pc, share, ext, s.verdict.code]


def render_table(r: RobustResult) -> str:
    """The result as a plain-text table, then one verdict line per statistic and the headline."""
    head = [f"Robust statistics: {YEAR_LABEL[r.year]}, {r.description} (evidence: {r.evidence})",
            f"{r.n_selected} CCGs in the filter: {r.n_known} with a known level ({r.n_not_delegated} of them not "
            f"delegated, level not stated), {r.n_unknown} unknown.",
            f"{r.completions} admissible completions (seed {r.seed}); p-values exact where the relabellings can be "
            "listed, else sequential Monte Carlo (Besag-Clifford) with its error. p < 0.05 counts as significant.",
            ""]
    rows = [["statistic", "known CCGs", "completions: median [5%, 95%]", "p: median [5%, 95%]", "p<0.05",
             "extremes p: low / high", "verdict"]] + [_row(s) for s in r.statistics]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    verdicts = [f"- {s.name}: {s.finding} (known CCGs: {fmt_p(s.known_only.p)}): {s.verdict.words}."
                if s.known_only.not_run is None else f"- {s.name}: {s.label}: {s.verdict.words}."
                for s in r.statistics]
    exact = [f"- {s.name}: every admissible completion gives a value from {_num(s.exact_range[0].value)} "
             f"to {_num(s.exact_range[1].value)} (exact, not sampled; the smallest has {fmt_p(s.exact_range[0].p)}, "
             f"the largest {fmt_p(s.exact_range[1].p)}: the lowest p of all is under extremes)"
             for s in r.statistics if s.exact_range is not None]
    exact = ["", "Exact ranges:", *exact] if exact else []
    return "\n".join([*head, *lines, "", "Verdicts:", *verdicts, *exact, "", f"Headline: {headline(r)}"]) + "\n"


# --- writing and running ------------------------------------------------------------------------------------


def write_completions(service: AtlasService, evidence: str, completions: int, seed: int, path: Path,
                      prior: str = UNIFORM_HISTORIES) -> int:
    """Write the draws used by the statistics (all CCGs, not only the filter's) to ``path``; returns rows."""
    draws = sampler_for(service, evidence, prior).draw(completions, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    draws.to_csv(tmp, index=False, lineterminator="\n")
    tmp.replace(path)
    return len(draws)


def with_prior_and_shares(out: dict, service: AtlasService, state: ViewState, prior: str) -> dict:
    """The JSON with ``prior`` (name, description) and ``shares`` (per ods_code of the filter and year: each
    level's share of the admissible completions, ``exact``, ``method``; :mod:`dashboard.shares`)."""
    ods = service.table.loc[service.view(filters_only(state)).mask, "ods_code"]
    return {**out, "prior": {"name": prior, "description": PRIORS[prior]},
            "shares": shares_json(shares_for(service, state.evidence, prior), ods)}


def run(args: argparse.Namespace, service: AtlasService, out: TextIO, err: TextIO) -> int:
    """Validate, compute, print and write; the exit code."""
    try:
        state = parse_state(args, service.vocabulary)
        completions = _count(args.completions, "--completions", 1, MAX_COMPLETIONS)
        seed = _count(args.seed, "--seed", 0, 2**32 - 1)
    except UsageError as exc:
        print(f"python -m dashboard.stats: error: {exc}", file=err)
        return EXIT_USAGE
    try:
        prior = getattr(args, "prior", UNIFORM_HISTORIES)
        result = robust_for(service, state, completions=completions, seed=seed, prior=prior)
        if args.write_completions:
            rows = write_completions(service, state.evidence, completions, seed, Path(args.write_completions),
                                     prior)
            print(f"wrote {rows} rows ({completions} completions x {rows // completions} CCGs) to "
                  f"{args.write_completions}", file=err)
    except ValueError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_FAILED
    except OSError as exc:
        print(f"error: cannot write {getattr(exc, 'filename', '') or args.write_completions}: "
              f"{exc.strerror or exc}", file=err)
        return EXIT_FAILED
    if args.json:
        data = with_prior_and_shares(result.to_dict(headline=headline(result)), service, state, prior)
        # each statistic's verdict under every prior: one that differs depends on that assumption, said in words
        data["sensitivity"] = [s.to_dict() for s in sensitivity_for(service, state, completions, seed)]
        out.write(json.dumps(data, indent=2) + "\n")
    else:
        out.write(render_table(result) + f"Prior: {prior} ({PRIORS[prior]}).\n")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code (0 done, 2 bad arguments, 1 other failure)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or an argument argparse itself refused (2)
        return int(exc.code or 0)
    try:
        service = AtlasService(read_atlas(args.atlas))
    except (AtlasMissing, AtlasDamaged) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        return run(args, service, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
