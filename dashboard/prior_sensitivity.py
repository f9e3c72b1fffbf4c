"""Is each finding's verdict the same under both priors over the unknown levels? (issue 19, item 6)

The robustness check draws admissible completions under a prior (:data:`dashboard.completions.PRIORS`): by
default every admissible two-year history equally likely, or the earlier two-stage scheme (2015/16 first, then
2016/17 given it). A verdict that changes with the prior rests on that assumption, not on the published totals
alone; :func:`compare_verdicts` says so in plain words, :func:`sensitivity_for` runs the check of a view under
each prior (each result cached on the service by :func:`dashboard.robust.robust_for`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dashboard.completions import PRIORS, TWO_STAGE, UNIFORM_HISTORIES

if TYPE_CHECKING:
    from dashboard.service import AtlasService
    from dashboard.state import ViewState

#: How each prior is named in a sentence.
PRIOR_WORDS = {UNIFORM_HISTORIES: "if every two-year history the totals allow is equally likely",
               TWO_STAGE: "if 2015/16's levels are drawn first and 2016/17's given them"}
SAME_WORDS = "the same under both assumptions about the unknown levels"
#: Each verdict code in a few words, for a table cell that sets two verdicts side by side.
SHORT_VERDICTS = {"holds": "holds whatever the unknown levels were", "no_counterexample": "no counterexample found",
                  "most": "holds in most completions", "depends": "depends on the unknown levels",
                  "not_run": "cannot be tested", "untested": "no completion could be tested"}


@dataclass(frozen=True)
class PriorSensitivity:
    """One statistic's verdict code under each prior, whether they agree, and a sentence for the reader."""

    name: str
    verdicts: dict[str, str]
    same: bool
    words: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: name, verdicts (prior -> verdict code), same, words."""
        return {"name": self.name, "verdicts": dict(self.verdicts), "same": self.same, "words": self.words}


def compare_verdicts(results: Mapping[str, Any]) -> list[PriorSensitivity]:
    """Per statistic, whether its verdict is the same in every result (prior name -> a ``RobustResult``).

    Each result needs ``statistics``, each statistic ``name`` and ``verdict`` (``code``, ``words``); statistics
    are matched by name, in the order of the first result. A differing verdict reads "depends on the
    assumptions: <words> if ..., <words> if ...".
    """
    priors = list(results)
    by_prior = {p: {s.name: s.verdict for s in results[p].statistics} for p in priors}
    out = []
    for s in results[priors[0]].statistics:
        verdicts = {p: by_prior[p][s.name] for p in priors if s.name in by_prior[p]}
        codes = {p: v.code for p, v in verdicts.items()}
        same = len(set(codes.values())) == 1
        words = SAME_WORDS if same else "depends on the assumptions: " + "; ".join(
            f"{v.words} {PRIOR_WORDS.get(p, 'under ' + p)}" for p, v in verdicts.items())
        out.append(PriorSensitivity(s.name, codes, same, words))
    return out


def cell_words(s: PriorSensitivity) -> str:
    """A table cell: "Same" or "Depends on the assumptions: <short verdict> if ...; <short verdict> if ...".

    >>> cell_words(PriorSensitivity("x", {UNIFORM_HISTORIES: "most", TWO_STAGE: "depends"}, False, ""))
    "Depends on the assumptions: holds in most completions if every two-year history the totals allow is equally \
likely; depends on the unknown levels if 2015/16's levels are drawn first and 2016/17's given them"
    """
    if s.same:
        return "Same under both"
    return "Depends on the assumptions: " + "; ".join(
        f"{SHORT_VERDICTS.get(code, code)} {PRIOR_WORDS.get(p, 'under ' + p)}" for p, code in s.verdicts.items())


def sensitivity_for(service: AtlasService, state: ViewState, completions: int = 200, seed: int = 1
                    ) -> list[PriorSensitivity]:
    """:func:`compare_verdicts` of a view's robust results under every prior (:data:`PRIORS`), default first.

    Costs one more robust check per view (the default prior's result is the panel's, from the cache).
    """
    from dashboard.robust import robust_for

    return compare_verdicts({p: robust_for(service, state, completions=completions, seed=seed, prior=p)
                             for p in PRIORS})


__all__ = ["PRIOR_WORDS", "PriorSensitivity", "SAME_WORDS", "SHORT_VERDICTS", "cell_words", "compare_verdicts",
           "sensitivity_for"]
