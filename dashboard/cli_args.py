"""What the command-line tools share: the view's arguments and their checks, with messages for a person.

``dashboard.export`` and ``dashboard.stats`` take the page's filters as arguments; an unknown area team or region
stops with close matches and the valid names instead of being dropped, as the page would drop it.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import TYPE_CHECKING

from dashboard.state import EVIDENCE, YEARS, ViewState, Vocabulary, normalise, parse_imd

if TYPE_CHECKING:
    from geodata.atlas import Atlas


def beside_atlas(p: argparse.ArgumentParser, argv: list[str] | None, ensure: str
                 ) -> tuple[argparse.Namespace, Atlas | None]:
    """For a tool that writes something beside the atlas (``dashboard.shares``, ``dashboard.robust.precompute``):
    ``--atlas DIR`` and ``--ensure`` (``ensure``: when it writes with it), parsed, and the atlas read; None (and
    the reason on stderr) when there is none or it is damaged."""
    from geodata.atlas import AtlasDamaged, AtlasMissing, read_atlas

    p.add_argument("--atlas", metavar="DIR", help="atlas folder (default $CCG_ATLAS_DIR or build/atlas)")
    p.add_argument("--ensure", action="store_true", help=ensure)
    args = p.parse_args(argv)
    try:
        return args, read_atlas(args.atlas)
    except (AtlasMissing, AtlasDamaged) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return args, None


class UsageError(ValueError):
    """A bad argument, with a message meant for the person who typed it."""


def add_view_arguments(p: argparse.ArgumentParser) -> None:
    """--year, --area-team, --region, --imd, --evidence (the page's filters, by the same names)."""
    p.add_argument("--year", default="2016", help="2015 (2015/16) or 2016 (2016/17); default 2016")
    p.add_argument("--area-team", action="append", default=[], metavar="NAME",
                   help="NHS England area team (name or E39 code); repeat for several")
    p.add_argument("--region", action="append", default=[], metavar="NAME", help="NHS England region; repeatable")
    p.add_argument("--imd", default="1-5", metavar="RANGE",
                   help="IMD 2015 quintile range among CCGs, e.g. 1-3 (1 = most deprived); default 1-5")
    p.add_argument("--evidence", default="any", choices=EVIDENCE,
                   help="levels kept: any source or rule (default), approved (approved or operating), operating")


def unknown(kind: str, value: str, valid: tuple[str, ...]) -> UsageError:
    """'unknown area team 'Greater Manchster'. Did you mean: 'Greater Manchester'?' and the valid names."""
    lower = {v.lower(): v for v in valid}
    typed = value.lower().strip()
    close = [k for k in lower if len(typed) >= 3 and typed in k]
    close += [k for k in difflib.get_close_matches(typed, list(lower), n=3, cutoff=0.6) if k not in close]
    msg = f"unknown {kind} {value!r}."
    if close:
        msg += " Did you mean: " + "; ".join(repr(lower[c]) for c in close[:3]) + "?"
    msg += f"\nValid {kind}s ({len(valid)}): " + "; ".join(valid)
    return UsageError(msg)


def view_from_args(args: argparse.Namespace, vocab: Vocabulary, **extra: object) -> ViewState:
    """The view from the arguments (``extra``: ccgs, view), or UsageError saying exactly what is wrong."""
    if str(args.year).strip() not in {str(y) for y in YEARS}:
        raise UsageError(f"year {args.year!r}: choose {' or '.join(str(y) for y in YEARS)} "
                         "(2015 = 2015/16, 2016 = 2016/17)")
    for team in args.area_team:
        if vocab.team(team) is None:
            raise unknown("area team", team, vocab.area_teams)
    for region in args.region:
        if vocab.region(region) is None:
            raise unknown("region", region, vocab.regions)
    if parse_imd(args.imd) is None:
        raise UsageError(f"IMD range {args.imd!r}: use quintiles from 1 to 5 such as 1-3 or 2")
    state = normalise(vocab, year=args.year, area_teams=args.area_team, regions=args.region, imd=args.imd,
                      evidence=args.evidence, **extra)  # type: ignore[arg-type]
    if state.notices:  # anything normalise still dropped is an error here
        raise UsageError("; ".join(n.text() for n in state.notices))
    return state
