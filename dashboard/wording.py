"""Words shared by the statistics and the pages that show them: p-values, plurals, level words, and why a test
could not be run. The statistics (:mod:`dashboard.analysis`, :mod:`dashboard.robust`) return numbers and reason
codes; these functions word them, so the robustness check does not import the page's readings
(:mod:`dashboard.page.clustering_readings` imports these too).

>>> fmt_p(0.0004), fmt_p(0.0312), fmt_p(0.25), plural(1, "CCG"), plural(3, "CCG")
('p < 0.001', 'p = 0.031', 'p = 0.25', '1 CCG', '3 CCGs')
"""

from __future__ import annotations

import math

from dashboard.analysis import NotRun
from geodata.vocabulary import DELEGATED, GREATER_INVOLVEMENT, JOINT, LEVEL_WORDS, NONE, NOT_DELEGATED

VIEW_NAMES = {"full": "full levels", "binary": "delegated vs not delegated"}

_KNOWN = "CCGs of known level"
# What "all N CCGs of known level ..." says for each level; in the binary view not_delegated is any lower level.
_ALL_AT = {DELEGATED: "are delegated", JOINT: "chose joint commissioning",
           GREATER_INVOLVEMENT: "chose greater involvement", NONE: "have no co-commissioning role",
           NOT_DELEGATED: "are not delegated (level not stated)"}


def fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "p not available"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def level_words(level: str, view: str = "full") -> str:
    return "not delegated" if view == "binary" and level == NOT_DELEGATED else LEVEL_WORDS.get(level, level)


def why_not_run(why: NotRun, view: str = "full", subject: str = _KNOWN) -> str:
    """Why a test could not be run, e.g. "all 9 CCGs of known level are delegated"."""
    d, n = why.detail, int(why.detail.get("n_known", 0))
    if why.reason == "too_few_known":
        one = subject.replace("CCGs", "CCG", 1)
        if n == 0:
            return "no CCG in the filter has a known level" if subject == _KNOWN else f"no {one}"
        who = one if n == 1 else subject
        return f"only {n} {who}, fewer than the {d['minimum']} a test needs"
    if why.reason == "one_level":
        at = "are not delegated" if view == "binary" and d["level"] == NOT_DELEGATED else _ALL_AT[d["level"]]
        return f"all {n} {subject} {at}"
    if why.reason == "no_pairs":
        return f"no two of the {n} {subject} are neighbours"
    if why.reason == "one_team":
        return f"all {n} {subject} are in one area team, {d['team']}"
    if why.reason == "same_imd":
        return f"all {n} {subject} have the same IMD score ({d['score']:.1f})"
    return why.reason.replace("_", " ")
