"""The robustness check in plain words: findings, verdicts and headlines."""

from __future__ import annotations

import math

from dashboard.clustering_readings import fmt_p, plural
from dashboard.robust.results import CompletionSummary, KnownOnly, RobustResult, Verdict
from dashboard.robust.terms import _REASON_WORDS, LABELS, VERDICTS

_FINDINGS = {
    "join_counts.full": ("Neighbouring CCGs chose the same level more often than chance",
                         "No evidence that neighbouring CCGs chose the same level more often than chance"),
    "join_counts.binary": ("Neighbouring CCGs shared delegation (or its absence) more often than chance",
                           "No evidence that neighbouring CCGs shared delegation more often than chance"),
    "concordance.full": ("CCGs of the same area team chose the same level more often than chance",
                         "No evidence that area team predicted the level chosen"),
    "concordance.binary": ("CCGs of the same area team shared delegation more often than chance",
                           "No evidence that area team predicted delegation"),
    "deprivation.full": ("Deprivation differed between levels",
                         "No evidence that deprivation differed between levels"),
}


def finding(name: str, known: KnownOnly) -> str:
    """The known-only finding in words: what the panel would say, significant at 0.05 or not."""
    if known.not_run is not None:
        return f"{LABELS[name]}: not testable on the known CCGs alone"
    if name == "deprivation.binary":
        if known.significant:
            return f"Delegated CCGs were {'more' if known.direction > 0 else 'less'} deprived than the others"
        no = "No evidence that delegated CCGs differed in deprivation from the others"
    else:
        yes, no = _FINDINGS[name]
        if known.significant:
            return yes
    # graded as the panel grades it: p from 0.05 to 0.10 is weak evidence, not "no evidence"
    if math.isfinite(known.p) and known.p < 0.10:
        return no.replace("No evidence", "Only weak evidence (not significant at 0.05)", 1)
    return no


def _reasons(summary: CompletionSummary) -> str:
    return ", ".join(f"{_REASON_WORDS.get(r, r)}: {k}" for r, k in sorted(summary.not_run_reasons.items()))


def percent(share: float) -> str:
    """A share as a whole percentage that never rounds to 100% (or 0%) unless it is exactly that."""
    pct = 100 * share
    return f"{math.floor(pct) if pct > 50 else math.ceil(pct)}%"


def _verdict(known: KnownOnly, s: CompletionSummary, extremes_agree: bool, span: tuple[float, float] | None,
             drawn: int) -> Verdict:
    """A code and plain words; percentages are of the completions tested, ``span`` the extremes' p."""
    untested = f"; {plural(s.not_run, 'completion')} could not be tested ({_reasons(s)})" if s.not_run else ""
    extremes = f"extremes: {fmt_p(span[0])} and {fmt_p(span[1])}" if span else "no extremes"
    share, what = s.share_agree, f"{s.n} completions" if not s.not_run else f"{s.n} of {drawn} completions"
    if known.not_run is not None:
        head = f"cannot be tested on the known CCGs alone ({known.words_not_run})"
        if not s.n:
            return Verdict("not_run", f"{head}, nor on any of the {drawn} completions ({_reasons(s)})")
        return Verdict("not_run", f"{head}; p < 0.05 in {percent(s.share_p_below_05)} of the {s.n} completions "
                                  f"tested ({extremes}){untested}")
    if s.n == 0:
        return Verdict("untested", f"{VERDICTS['untested']} (of {drawn}: {_reasons(s)})")
    if share == 1.0 and extremes_agree and span is not None:
        return Verdict("holds", f"{VERDICTS['holds']} ({what} and both extremes){untested}")
    if share == 1.0:
        return Verdict("most", f"{VERDICTS['most']} (100% of {what}) but not in every admissible one "
                               f"({extremes}){untested}")
    if share >= 0.5:
        return Verdict("most", f"{VERDICTS['most']} ({percent(share)} of {what}), but not in all ({extremes})"
                               f"{untested}")
    return Verdict("depends", f"{VERDICTS['depends']} (holds in {percent(share)} of {what}; {extremes})"
                              f"{untested}")


def headline(result: RobustResult, name: str | None = None) -> str:
    """One line for a slide: a finding, its known-only p and its verdict.

    Without ``name``, the strongest known-only finding that was tested (significant ones first, lowest p).
    """
    stats = [s for s in result.statistics if name is None or s.name == name]
    if not stats:
        raise KeyError(name)
    tested = [s for s in stats if s.known_only.not_run is None] or stats
    s = min(tested, key=lambda r: (not r.known_only.significant,
                                   r.known_only.p if math.isfinite(r.known_only.p) else 2.0))
    if s.known_only.not_run is not None:
        return f"{s.label}: {s.verdict.words}."
    return f"{s.finding} (known CCGs: {fmt_p(s.known_only.p)}): {s.verdict.words}."
