"""Plain-English readings of the clustering statistics, for the panel in :mod:`dashboard.page.clustering_view`.

The statistics (:mod:`dashboard.analysis`) return numbers and, when a test cannot be run, a reason code
(:class:`~dashboard.analysis.NotRun`); every word the reader sees is chosen here. p-values are graded by
:func:`evidence` rather than cut at one threshold, and a test that was not run says why instead of "no
evidence". Technical terms a reading uses are named in :attr:`Reading.terms` and explained by :data:`TERMS`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dashboard.analysis import (
    MIN_TEAM_KNOWN,
    ConcordanceResult,
    DeprivationResult,
    JoinCountResult,
    LocalClusterResult,
    NotRun,
    SizeResult,
    Summary,
)
from dashboard.wording import _ALL_AT, _KNOWN, VIEW_NAMES, fmt_p, level_words, plural, why_not_run  # noqa: F401
from geodata.vocabulary import DELEGATED, NOT_DELEGATED

#: One plain sentence per technical term, shown as a hint under the readings that use it.
TERMS: dict[str, str] = {
    "one_sided": ("One-sided p: how often random relabelling of the same CCGs gave at least as many same-level "
                  "neighbour pairs as seen (at most as many, where fewer were seen)."),
    "two_sided": ("Two-sided p: how often random relabelling gave a difference at least this large in either "
                  "direction."),
    "cramers_v": ("Cramér's V measures how closely area team and level go together, from 0 (not at all) to 1 "
                  "(the team fixes the level); small teams push it above 0 by chance, hence the expected value."),
    "kruskal": ("Kruskal-Wallis asks whether CCGs at some level tend to rank as more deprived than those at "
                "another, using ranks so that a few extreme scores cannot dominate."),
    "epsilon_squared": ("Epsilon-squared is the share of the spread in deprivation ranks that the level accounts "
                        "for, from 0 (none) to 1 (all)."),
    "kruskal_size": ("Kruskal-Wallis here asks whether CCGs at some level tend to rank as larger (more residents) "
                     "than those at another, using ranks so that a few very large CCGs cannot dominate."),
    "exact_p": ("Where the relabellings of these CCGs are few enough, every one was counted, so p is exact; "
                "otherwise it is the share of 999 random relabellings."),
}

@dataclass(frozen=True)
class Reading:
    """One sentence for the reader, the technical terms it uses, and whether it reports a test not run."""

    text: str
    terms: tuple[str, ...] = ()
    not_run: bool = False


def evidence(p: float) -> str:
    """Graded words for a p-value: < 0.01 strong evidence, < 0.05 evidence, < 0.10 weak evidence, else none.

    >>> [evidence(p) for p in (0.009, 0.01, 0.054, 0.074, 0.10)]
    ['strong evidence', 'evidence', 'weak evidence', 'weak evidence', 'no evidence']
    """
    if not math.isfinite(p):
        return "no test"
    if p < 0.01:
        return "strong evidence"
    if p < 0.05:
        return "evidence"
    return "weak evidence" if p < 0.10 else "no evidence"


def _cannot(title: str, why: NotRun, view: str, subject: str = _KNOWN) -> Reading:
    return Reading(f"{title}: cannot be tested: {why_not_run(why, view, subject)}.", not_run=True)


def read_join(res: JoinCountResult, view: str) -> Reading:
    title = f"Same-level neighbours ({VIEW_NAMES[view]})"
    if res.not_run is not None:
        return _cannot(title, res.not_run, view)
    head = f"{title}: {plural(res.total_observed, 'pair')} seen, {res.total_expected:.0f} expected by chance"
    cluster = res.total_p_cluster <= res.total_p_dispersion
    p = res.total_p_cluster if cluster else res.total_p_dispersion
    word = evidence(p)
    if word == "no evidence":
        p = res.total_p_cluster
        return Reading(f"{head} (one-sided {fmt_p(p)}): no evidence of clustering; neighbours chose the same level "
                       "about as often as chance would give.", ("one_sided",))
    if cluster:
        return Reading(f"{head} (one-sided {fmt_p(p)}): {word} that CCGs next to each other chose the same level "
                       "more often than chance.", ("one_sided",))
    return Reading(f"{head} (one-sided {fmt_p(p)}, fewer than chance): {word} that neighbouring CCGs tended to "
                   "choose different levels.", ("one_sided",))


def read_join_level(row: Mapping[str, Any], view: str) -> Reading:
    """One level's same-level pairs, e.g. delegated-delegated in the binary view."""
    lv = level_words(str(row["level"]), view)
    head = f"{lv.capitalize()}-{lv} neighbour pairs: {row['observed']} seen, {row['expected']:.1f} expected by chance"
    pc, pd_ = float(row["p_cluster"]), float(row["p_dispersion"])
    p = min(pc, pd_)
    word = evidence(p)
    if word == "no evidence":
        return Reading(f"{head} (one-sided {fmt_p(pc)}): no evidence that {lv} CCGs clustered.", ("one_sided",))
    if pc <= pd_:
        return Reading(f"{head} (one-sided {fmt_p(p)}): {word} that {lv} CCGs were grouped together more than "
                       "chance.", ("one_sided",))
    return Reading(f"{head} (one-sided {fmt_p(p)}, fewer than chance): {word} that {lv} CCGs were spread apart.",
                   ("one_sided",))


def read_concordance(res: ConcordanceResult, view: str) -> Reading:
    title = f"Area teams ({VIEW_NAMES[view]})"
    if res.not_run is not None:
        return _cannot(title, res.not_run, view)
    agree = (f"{res.modal_agreement:.0%} of CCGs chose their area team's most common level "
             f"({res.modal_agreement_expected:.0%} expected by chance)")
    head = (f"{title}: Cramér's V = {res.cramers_v:.2f} ({res.cramers_v_expected:.2f} expected by chance, "
            f"{fmt_p(res.p_value)}); {agree}")
    word = evidence(res.p_value)
    if word == "no evidence":
        return Reading(f"{head}: no evidence that area team predicted the level chosen.", ("cramers_v",))
    return Reading(f"{head}: {word} that CCGs in the same NHS England area team chose the same level more often "
                   "than chance.", ("cramers_v",))


def team_count(n_modal: int, n_known: int) -> str:
    """"7 of 9": known CCGs at the team's most common level, of its known CCGs."""
    return f"{n_modal} of {n_known}"


def read_uniform_team(res: ConcordanceResult) -> Reading | None:
    """The most uniform of the ranked teams, with its count; None unless two or more teams are ranked."""
    ranked = res.per_team[res.per_team["ranked"]]
    if len(ranked) < 2:
        return None
    top = ranked.iloc[0]
    return Reading(f"Most uniform area team: {top['team']} ({team_count(int(top['n_modal']), int(top['n_known']))} "
                   f"known CCGs chose {level_words(str(top['modal_level']))}).")


def read_unranked(res: ConcordanceResult) -> Reading | None:
    """Teams left out of the ranking, with known CCGs of all CCGs in the filter, e.g. "Lancashire (1 of 8)"."""
    rows = res.per_team[~res.per_team["ranked"]]
    if rows.empty:
        return None
    teams = [f"{r.team} ({r.n_known} of {r.n_known + r.n_unknown})" for r in rows.itertuples()]
    return Reading(f"Not ranked, fewer than {MIN_TEAM_KNOWN} CCGs of known level: {'; '.join(teams)}.")


def read_local(res: LocalClusterResult, view: str) -> Reading:
    title = f"Local clusters ({VIEW_NAMES[view]})"
    if res.not_run is not None:
        return _cannot(title, res.not_run, view)
    fp = res.n_expected_false_positives
    by_chance = f"about {fp:.0f}" if fp >= 0.5 else "fewer than 1"
    return Reading(f"{title}: {res.n_significant} of {res.n_tested} CCGs had more same-level neighbours than "
                   f"chance (p <= {res.alpha:g}); {by_chance} would pass by chance alone, so read individual CCGs "
                   "with caution.")


def read_deprivation(res: DeprivationResult) -> tuple[Reading, Reading]:
    """The full-level (Kruskal-Wallis) and the binary (difference in means) readings."""
    subject = "CCGs of known level with an IMD score" if res.n_missing_imd else "CCGs of known level"
    title = "Deprivation (full levels)"
    if res.kruskal_not_run is not None:
        full = _cannot(title, res.kruskal_not_run, "full", subject)
    else:
        head = (f"{title}: Kruskal-Wallis H = {res.kruskal_h:.1f} ({fmt_p(res.kruskal_p)}, epsilon-squared = "
                f"{res.epsilon_squared:.2f})")
        word = evidence(res.kruskal_p)
        text = (f"{head}: no evidence that deprivation differed between levels." if word == "no evidence" else
                f"{head}: {word} that IMD scores differed between levels.")
        full = Reading(text, ("kruskal", "epsilon_squared"))
    title = "Deprivation (delegated vs not delegated)"
    if res.diff_not_run is not None:
        return full, _cannot(title, res.diff_not_run, "binary", subject)
    t = res.by_binary.set_index("level")["mean"]
    head = (f"{title}: mean IMD score {t[DELEGATED]:.1f} for delegated vs {t[NOT_DELEGATED]:.1f} for the rest "
            f"(difference {res.diff:+.1f}, two-sided {fmt_p(res.diff_p_two_sided)})")
    word = evidence(res.diff_p_two_sided)
    if word == "no evidence":
        return full, Reading(f"{head}: no evidence that deprivation differed between delegated and other CCGs.",
                             ("two_sided",))
    more = "more" if res.diff > 0 else "less"
    return full, Reading(f"{head}: {word} that delegated CCGs were {more} deprived on average than the others.",
                         ("two_sided",))


def people(n: float) -> str:
    """A population in words, to the nearest thousand: '312,000'.

    >>> people(311_620.0), people(-44_400.0)
    ('312,000', '-44,000')
    """
    return f"{round(n, -3):,.0f}"


def _cannot_size(title: str, why: NotRun, view: str, subject: str) -> Reading:
    if why.reason == "cannot_reject":
        n, p_min = int(why.detail["n_known"]), float(why.detail["p_min"])
        return Reading(f"{title}: cannot be tested: no relabelling of these {n} {subject} could give p < 0.05 (the "
                       f"smallest attainable p is {p_min:.2g}), so 'no evidence' would say nothing.", not_run=True)
    if why.reason == "same_population":
        return Reading(f"{title}: cannot be tested: all {plural(int(why.detail['n_known']), 'CCG')} have the same "
                       "population.", not_run=True)
    return _cannot(title, why, view, subject)


def read_size(res: SizeResult) -> tuple[Reading, Reading]:
    """HSJ's size question: the full-level (Kruskal-Wallis) and the binary (difference in mean population)
    readings; population is ONS mid-2015 residents."""
    subject = "CCGs of known level with a population" if res.n_missing_population else "CCGs of known level"
    title = "Size (full levels)"
    if res.kruskal_not_run is not None:
        full = _cannot_size(title, res.kruskal_not_run, "full", subject)
    else:
        exact = ", exact" if res.kruskal_exact else ""
        head = f"{title}: Kruskal-Wallis H = {res.kruskal_h:.1f} ({fmt_p(res.kruskal_p)}{exact})"
        word = evidence(res.kruskal_p)
        text = (f"{head}: no evidence that CCG size differed between levels." if word == "no evidence" else
                f"{head}: {word} that CCG populations differed between levels.")
        full = Reading(text, ("kruskal_size", "exact_p"))
    title = "Size (delegated vs not delegated)"
    if res.diff_not_run is not None:
        return full, _cannot_size(title, res.diff_not_run, "binary", subject)
    t = res.by_binary.set_index("level")["mean"]
    exact = ", exact" if res.diff_exact else ""
    head = (f"{title}: mean population {people(t[DELEGATED])} for delegated vs {people(t[NOT_DELEGATED])} for the "
            f"rest (difference {'+' if res.diff > 0 else ''}{people(res.diff)}, two-sided "
            f"{fmt_p(res.diff_p_two_sided)}{exact})")
    word = evidence(res.diff_p_two_sided)
    if word == "no evidence":
        return full, Reading(f"{head}: no evidence that delegated CCGs differed in size from the others.",
                             ("two_sided", "exact_p"))
    bigger = "larger" if res.diff > 0 else "smaller"
    return full, Reading(f"{head}: {word} that delegated CCGs were {bigger} on average than the others.",
                         ("two_sided", "exact_p"))


def _names(codes: Sequence[str], names: Mapping[str, str] | None, limit: int = 8) -> str:
    shown = [str(names.get(c, c)) if names else c for c in codes]
    return "; ".join(shown[:limit]) + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


def readings(s: Summary, names: Mapping[str, str] | None = None) -> dict[str, Reading]:
    """Every reading of a summary, keyed (e.g. ``"join_counts.full"``) in display order.

    ``names`` maps CCG codes to the names shown for islands (codes are shown without it).
    """
    cov, year = s.coverage, f" in {s.year}" if s.year is not None else ""
    n_unk = cov.n_excluded_unknown
    out = {"coverage": Reading(
        f"{plural(n_unk, 'CCG')} of {s.n_selected} analysed{year} {'was' if n_unk == 1 else 'were'} left out "
        f"because the co-commissioning level is unknown; every figure describes only the {plural(cov.n_used, 'CCG')} "
        "with a known level, so results depend on which CCGs are covered.")}
    if cov.islands:
        out["islands"] = Reading(f"Not counted in the neighbour statistics, because no neighbour in the filter has "
                                 f"a known level: {_names(cov.islands, names)}.")
    out["views"] = Reading("The full-level view treats 'not delegated' (a source that does not say which lower "
                           "level) as its own level; the binary view compares delegated with all other known levels.")
    for v in (s.full, s.binary):
        out[f"join_counts.{v.view}"] = read_join(v.join_counts, v.view)
    jc = s.binary.join_counts
    hit = jc.per_level[jc.per_level["level"] == DELEGATED]
    if jc.enough_data and len(hit):
        out["join_counts.binary.delegated"] = read_join_level(hit.iloc[0].to_dict(), "binary")
    for v in (s.full, s.binary):
        out[f"concordance.{v.view}"] = read_concordance(v.concordance, v.view)
    for key, reading in (("concordance.most_uniform_team", read_uniform_team(s.full.concordance)),
                         ("concordance.unranked", read_unranked(s.full.concordance))):
        if reading is not None:
            out[key] = reading
    for v in (s.full, s.binary):
        out[f"local.{v.view}"] = read_local(v.local, v.view)
    out["deprivation.full"], out["deprivation.binary"] = read_deprivation(s.deprivation)
    if s.deprivation.n_missing_imd:
        out["deprivation.missing"] = Reading(f"{plural(s.deprivation.n_missing_imd, 'CCG')} with a known level had "
                                             "no IMD score and were left out of the deprivation figures.")
    if s.size is not None:
        out["size.full"], out["size.binary"] = read_size(s.size)
        if s.size.n_missing_population:
            out["size.missing"] = Reading(f"{plural(s.size.n_missing_population, 'CCG')} with a known level had no "
                                          "population figure and were left out of the size figures.")
    return out


def explain(shown: Iterable[Reading]) -> str | None:
    """One hint explaining, once each, the technical terms used by the readings shown together."""
    terms = dict.fromkeys(t for r in shown for t in r.terms)
    return " ".join(TERMS[t] for t in terms) or None


def ranked_teams(res: ConcordanceResult) -> pd.DataFrame:
    """The ranked teams for the panel's table, with the "7 of 9" count as text."""
    ranked = res.per_team[res.per_team["ranked"]].copy()
    ranked["known_at_modal"] = [team_count(int(a), int(b)) for a, b in zip(ranked["n_modal"], ranked["n_known"])]
    return ranked


# --- the change view ------------------------------------------------------------------------------------------

_COULD = "CCGs that could become delegated"  # not delegated in 2015/16, 2016/17 level known


def why_change_not_run(why: NotRun) -> str:
    """Why a change test could not be run, e.g. "none of the 7 CCGs that could become delegated did"."""
    d, n = why.detail, int(why.detail.get("n_known", 0))
    if why.reason == "too_few_known":
        if n == 0:
            return "no CCG in the filter is known to be not delegated in 2015/16 with a known 2016/17 level"
        return (f"only {plural(n, 'CCG')} in the filter {'is' if n == 1 else 'are'} known to be not delegated in "
                f"2015/16 with a known 2016/17 level, fewer than the {d['minimum']} a test needs")
    if why.reason == "one_level":
        return f"all {n} {_COULD} did" if d["level"] == DELEGATED else f"none of the {n} {_COULD} did"
    return why_not_run(why, "binary", _COULD)


def _cannot_change(question: str, why: NotRun) -> Reading:
    return Reading(f"{question} cannot be tested: {why_change_not_run(why)}.", not_run=True)


def read_change_coverage(counts: Mapping[str, int], n_selected: int) -> Reading:
    """Which CCGs the change tests use and which they leave out, from :func:`dashboard.change.group_counts`."""
    new, stayed = counts["new"], counts["stayed"]
    already, unknown = counts["kept"] + counts["left"], counts["unknown"]
    used = new + stayed
    left_out = []
    if already:
        left_out.append(f"{already} already delegated in 2015/16 (they could not newly become delegated)")
    if unknown:
        left_out.append(f"{unknown} with an unknown level in either year")
    tail = f" Left out of every test: {' and '.join(left_out)}." if left_out else ""
    return Reading(f"Of {plural(n_selected, 'CCG')} in the filter, {used} {'was' if used == 1 else 'were'} not "
                   f"delegated in 2015/16 and {'has' if used == 1 else 'have'} a known 2016/17 level: {new} became "
                   f"delegated in 2016/17 and {stayed} did not.{tail}")


def read_change_neighbours(res: JoinCountResult) -> Reading:
    """Did CCGs that became delegated sit next to each other? The delegated-delegated join count."""
    question = "Whether newly delegated CCGs were neighbours of each other"
    if res.not_run is not None:
        return _cannot_change(question, res.not_run)
    hit = res.per_level[res.per_level["level"] == DELEGATED]
    if hit.empty:  # nobody became delegated: the test reports one level, so this is only a guard
        return _cannot_change(question, NotRun("one_level", {"level": NOT_DELEGATED, "n_known": res.coverage.n_used}))
    row = hit.iloc[0]
    if int(row["n_ccgs"]) < 2:
        return Reading(f"{question} cannot be tested: only 1 of the {res.coverage.n_used} {_COULD} did, and one "
                       "CCG has no pair.", not_run=True)
    pc, pd_ = float(row["p_cluster"]), float(row["p_dispersion"])
    head = (f"Newly delegated neighbours: {plural(int(row['observed']), 'pair')} of neighbouring CCGs both became "
            f"delegated, {row['expected']:.1f} expected by chance")
    word = evidence(min(pc, pd_))
    if word == "no evidence":
        return Reading(f"{head} (one-sided {fmt_p(pc)}): no evidence that CCGs that became delegated in 2016/17 "
                       "sat next to each other more often than chance would give.", ("one_sided",))
    if pc <= pd_:
        return Reading(f"{head} (one-sided {fmt_p(pc)}): {word} that CCGs that became delegated in 2016/17 sat "
                       "next to each other more often than chance.", ("one_sided",))
    return Reading(f"{head} (one-sided {fmt_p(pd_)}, fewer than chance): {word} that CCGs that became delegated in "
                   "2016/17 were spread apart.", ("one_sided",))


def read_change_teams(res: ConcordanceResult) -> Reading:
    """Did becoming delegated go with the area team? Cramér's V of team by became/stayed."""
    question = "Whether CCGs became delegated by area team"
    if res.not_run is not None:
        return _cannot_change(question, res.not_run)
    head = (f"Area teams: Cramér's V = {res.cramers_v:.2f} ({res.cramers_v_expected:.2f} expected by chance, "
            f"{fmt_p(res.p_value)}, {plural(res.n_teams, 'team')})")
    word = evidence(res.p_value)
    if word == "no evidence":
        return Reading(f"{head}: no evidence that becoming delegated in 2016/17 went with the area team beyond "
                       "chance.", ("cramers_v",))
    return Reading(f"{head}: {word} that whether a CCG became delegated in 2016/17 went with its area team.",
                   ("cramers_v",))


def read_change_deprivation(res: DeprivationResult) -> Reading:
    """Were CCGs that became delegated more deprived than those that stayed not delegated?"""
    question = "Whether newly delegated CCGs were more deprived"
    if res.diff_not_run is not None:
        return _cannot_change(question, res.diff_not_run)
    t = res.by_binary.set_index("level")
    head = (f"Deprivation: mean IMD score {t.at[DELEGATED, 'mean']:.1f} for the {plural(res.n_delegated, 'CCG')} "
            f"that became delegated against {t.at[NOT_DELEGATED, 'mean']:.1f} for the {res.n_not_delegated} that did "
            "not "
            f"(difference {res.diff:+.1f}, two-sided {fmt_p(res.diff_p_two_sided)})")
    word = evidence(res.diff_p_two_sided)
    if word == "no evidence":
        return Reading(f"{head}: no evidence that CCGs that became delegated in 2016/17 differed in deprivation "
                       "from those that did not.", ("two_sided",))
    more = "more" if res.diff > 0 else "less"
    return Reading(f"{head}: {word} that CCGs that became delegated in 2016/17 were {more} deprived on average.",
                   ("two_sided",))


def change_readings(s: Summary, counts: Mapping[str, int]) -> dict[str, Reading]:
    """Every reading of the change view's summary (statistics of "became delegated in 2016/17"), keyed."""
    out = {
        "change.coverage": read_change_coverage(counts, s.n_selected),
        "change.question": Reading("Each test asks about one yes-or-no question, 'did the CCG become delegated in "
                                   "2016/17?', over those CCGs only; which lower level a CCG held does not enter."),
        "change.neighbours": read_change_neighbours(s.binary.join_counts),
        "change.teams": read_change_teams(s.binary.concordance),
        "change.deprivation": read_change_deprivation(s.deprivation),
    }
    if s.deprivation.n_missing_imd:
        out["change.missing"] = Reading(f"{plural(s.deprivation.n_missing_imd, 'CCG')} had no IMD score and "
                                        "were left out of the deprivation figures.")
    return out
