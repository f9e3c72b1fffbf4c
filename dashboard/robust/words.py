"""The robustness check in plain words: findings, verdicts and headlines."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from dashboard.numbers import percent_value
from dashboard.robust.results import CompletionSummary, KnownOnly, RobustResult, Verdict
from dashboard.robust.terms import _REASON_WORDS, LABELS, VERDICTS
from dashboard.wording import fmt_p, plural

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
    "size.full": ("CCG size (population) differed between levels",
                  "No evidence that CCG size (population) differed between levels"),
}


def finding(name: str, known: KnownOnly) -> str:
    """The known-only finding in words: what the panel would say, significant at 0.05 or not."""
    if known.not_run is not None:
        return f"{LABELS[name]}: not testable on the known CCGs alone"
    if name == "deprivation.binary":
        if known.significant:
            return f"Delegated CCGs were {'more' if known.direction > 0 else 'less'} deprived than the others"
        no = "No evidence that delegated CCGs differed in deprivation from the others"
    elif name == "size.binary":
        if known.significant:
            return f"Delegated CCGs were {'larger' if known.direction > 0 else 'smaller'} (population) than the others"
        no = "No evidence that delegated CCGs differed in size (population) from the others"
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


def percent(share: float, n: int | None = None) -> str:
    """A share as a whole percentage: from counts (``share`` is k, ``n`` given) or from a float share (its exact
    binary fraction); both round half up through :func:`percent_value`.

    >>> percent(0.125), percent(1, 8), percent(0.999)
    ('13%', '13%', '99%')
    """
    if n is not None:
        return f"{percent_value(int(share), int(n))}%"  # dashboard/numbers.py: the one rule
    frac = Fraction(share).limit_denominator(1_000_000)
    return f"{percent_value(frac.numerator, frac.denominator)}%"


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval of a share k / n (sound at 0 and n, unlike the normal interval).

    >>> [round(v, 3) for v in wilson(112, 200)]
    [0.491, 0.627]
    """
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def interval_words(lo: float, hi: float) -> str:
    """'95% interval 49-63%', both ends by the one rounding rule."""
    return f"95% interval {percent(lo)[:-1]}-{percent(hi)}"


@dataclass(frozen=True)
class Evidence:
    """What is known beyond the draws: a proof over every admissible completion (``proof`` True / False / None,
    ``proof_by`` enumeration or optimisation, over ``proof_n`` completions or counts), the p of a
    counterexample found, the swaps the search tried, and the lowest / highest p (exact or found)."""

    proof: bool | None
    proof_by: str | None
    proof_n: int
    counter: float | None
    swaps: int
    low: float | None
    high: float | None
    low_exact: bool = False
    high_exact: bool = False
    undecided: int = 0
    firm: bool = False


def _range(ev: Evidence) -> str:
    if ev.low is None or ev.high is None:
        return ""
    if ev.low_exact and ev.high_exact:
        return f"p over every admissible completion from {fmt_p(ev.low)[4:]} to {fmt_p(ev.high)[4:]}, exact"
    if ev.low_exact:
        return f"lowest p over every admissible completion {fmt_p(ev.low)[4:]}, exact"
    return f"lowest and highest p found: {fmt_p(ev.low)[4:]} and {fmt_p(ev.high)[4:]}"


def _how(ev: Evidence) -> str:
    if ev.proof_by == "enumeration":
        return f"all {ev.proof_n} admissible completions of the filter's open CCGs listed"
    return f"exact optimisation over every admissible completion ({ev.proof_n} counts of delegated CCGs)"


def _verdict(known: KnownOnly, s: CompletionSummary, ev: Evidence) -> Verdict:
    """A code and plain words, by counts with their 95% interval; "holds" only when proven."""
    drawn = s.n_draws
    untested = f"; {plural(s.not_run, 'completion')} could not be tested ({_reasons(s)})" if s.not_run else ""
    diff = f"a difference (p < 0.05) appears in {s.n_significant} of {drawn} completions"
    if known.not_run is not None:
        head = f"{VERDICTS['not_run']} ({known.words_not_run})"
        if not s.n:
            return Verdict("not_run", f"{head}, nor on any of the {drawn} completions ({_reasons(s)})")
        return Verdict("not_run", f"{head}; {diff}{untested}")
    if s.n == 0:
        return Verdict("untested", f"{VERDICTS['untested']} (of {drawn}: {_reasons(s)})")
    rng = _range(ev)
    rng = f"; {rng}" if rng else ""
    lo, hi = s.agree_interval
    if known.significant:
        counts = f"significant in {s.n_agree} of {drawn} completions"
    else:
        counts = f"no evidence on the known CCGs; {diff}"
    if ev.proof is True:
        what = "significant in every admissible completion" if known.significant else \
            "no admissible completion gives p < 0.05"
        return Verdict("holds", f"{VERDICTS['holds']}: {what} ({_how(ev)}{rng})")
    if (s.n_agree == drawn or ev.firm) and ev.counter is None:
        undecided = "; a p within three Monte Carlo errors of 0.05 left it unproven" if ev.proof is None and \
            ev.proof_by else ""
        if ev.undecided:
            undecided += (f"; {plural(ev.undecided, 'completion')} with p within its Monte Carlo error of 0.05 "
                          "counted as it fell")
        return Verdict("no_counterexample", f"{counts}; no counterexample in {drawn} completions and a search of "
                                            f"{ev.swaps} swaps, not proven for every admissible completion"
                                            f"{undecided}{rng}{untested}")
    if known.significant:
        share = f"{counts} ({interval_words(lo, hi)})"
    else:
        share = f"{counts} ({interval_words(1 - hi, 1 - lo)})"
    counter = f"; a completion with {fmt_p(ev.counter)} exists" if ev.counter is not None and \
        s.n_agree == drawn else ""
    if lo > 0.5:
        return Verdict("most", f"{VERDICTS['most']} ({share}{counter}){rng}{untested}")
    return Verdict("depends", f"{VERDICTS['depends']} ({share}{counter}){rng}{untested}")


def headline(result: RobustResult, name: str | None = None) -> str:
    """One line for a slide: a finding, its known-only p and its verdict.

    Without ``name``, the strongest known-only finding that was tested (significant ones first, lowest p).
    """
    stats = [s for s in result.statistics if name is None or s.name == name]
    if not stats:
        raise KeyError(name)
    tested = [s for s in stats if s.known_only.not_run is None]
    if not tested:  # a test that cannot be run, or cannot reject, is never a headline
        if name is not None:
            return f"{stats[0].label}: {stats[0].verdict.words}."
        return ("None of the clustering tests can be run on the known CCGs of this filter, or none could give "
                "p < 0.05 whatever their levels.")
    s = min(tested, key=lambda r: (not r.known_only.significant,
                                   r.known_only.p if math.isfinite(r.known_only.p) else 2.0))
    return f"{s.finding} (known CCGs: {fmt_p(s.known_only.p)}): {s.verdict.words}."
