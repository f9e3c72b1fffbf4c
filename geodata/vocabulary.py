"""The atlas's one vocabulary: levels, years, evidence claims, their labels, order and colours.

Every module that names a level, a claim or a year imports it from here, so a new level or a changed colour is
one edit. Geodata holds it (not the dashboard) because the build validates against it and data flows one way:
``geodata`` never imports ``dashboard``.

>>> contradicts("joint", "not_delegated")
False
>>> contradicts("delegated", "not_delegated")
True
>>> strongest_claim(["implied", "approved"])
'approved'
"""

from __future__ import annotations

from collections.abc import Iterable

YEARS: tuple[int, ...] = (2015, 2016)
YEAR_LABEL: dict[int, str] = {2015: "2015/16", 2016: "2016/17"}
PERIOD_BY_YEAR = YEAR_LABEL  # the published totals' name for the financial year

# --- levels -------------------------------------------------------------------------------------------------

DELEGATED, JOINT, GREATER_INVOLVEMENT, NONE = "delegated", "joint", "greater_involvement", "none"
NOT_DELEGATED, UNKNOWN = "not_delegated", "unknown"
#: Known levels, most to least devolved; ``not_delegated``: a source says "not delegated" without the lower level.
LEVELS: tuple[str, ...] = (DELEGATED, JOINT, GREATER_INVOLVEMENT, NONE, NOT_DELEGATED)
#: Display order, unknown last (its position is the last code of :func:`level_index`).
LEVEL_ORDER: tuple[str, ...] = LEVELS + (UNKNOWN,)
VOCABULARY = LEVEL_ORDER
LOWER_LEVELS = frozenset({JOINT, GREATER_INVOLVEMENT, NONE})
BINARY_LEVELS: tuple[str, ...] = (DELEGATED, NOT_DELEGATED)

LEVEL_LABEL: dict[str, str] = {
    DELEGATED: "Delegated (level 3)",
    JOINT: "Joint (level 2)",
    GREATER_INVOLVEMENT: "Greater involvement (level 1)",
    NONE: "No co-commissioning role",
    NOT_DELEGATED: "Not delegated, level not stated",
    UNKNOWN: "Unknown: no source found",
}
#: A level a source states but on a weaker claim than the evidence the user chose: shown apart from "unknown".
SET_ASIDE = "set_aside"
SET_ASIDE_LABEL = "Set aside: its source is weaker than the evidence chosen"
#: Lower-case words for running text ("12 delegated, 3 joint").
LEVEL_WORDS: dict[str, str] = {
    DELEGATED: "delegated", JOINT: "joint", GREATER_INVOLVEMENT: "greater involvement", NONE: "no role",
    NOT_DELEGATED: "not delegated (level not stated)", UNKNOWN: "unknown",
}
LEVEL_SHORT: dict[str, str] = {
    DELEGATED: "Deleg.", JOINT: "Joint", GREATER_INVOLVEMENT: "Greater inv.", NONE: "None",
    NOT_DELEGATED: "Not deleg.", UNKNOWN: "Unknown",
}
# Colours ordered by lightness, darkest = most devolved (CIE L* 10, 41, 52, 62, 73, 84), so a greyscale print keeps
# every level apart and in order: delegated and joint at least 20 apart (as printed in grey, at the map's opacity:
# 17 and 40), every other pair at least 10. Delegated is a near-black navy, joint a teal, greater involvement an
# olive, no role a grey-green; not delegated (a lower level not stated) is orange, off the ramp of the stated
# levels; unknown a neutral light grey, the lightest. Every pair stays apart under protanopia and deuteranopia
# (tests/test_palette.py states the criteria and computes each figure). Fixed across years and views.
LEVEL_COLOR: dict[str, str] = {
    DELEGATED: "#001B40",
    JOINT: "#09697C",
    GREATER_INVOLVEMENT: "#568837",
    NONE: "#78A080",
    NOT_DELEGATED: "#F4A144",
    UNKNOWN: "#D0D0D0",
}
#: CCGs outside the filter, whatever their level: one very light warm grey that no level uses (L* 96, 12 above unknown).
FADED_COLOR = "#F7F3EE"

# --- the change view ----------------------------------------------------------------------------------------

CHANGE_ORDER: tuple[str, ...] = ("kept", "new", "new_maybe", "not_delegated", "unknown")
CHANGE_LABEL: dict[str, str] = {
    "kept": "Delegated in both years",
    "new": "Newly delegated in 2016/17",
    "new_maybe": "Delegated in 2016/17, 2015/16 unknown",
    "not_delegated": "Not delegated in 2016/17",
    "unknown": "Unknown in 2016/17",
}
# By lightness too (L* 10, 33, 53, 73, 84; printed in grey 17, 37, 58, 74, 85): delegated in 2016/17 in blues and
# violets, "delegated in both years" and "newly delegated" 20 apart like delegated and joint.
CHANGE_COLOR: dict[str, str] = {
    "kept": LEVEL_COLOR[DELEGATED],
    "new": "#2F45A5",
    "new_maybe": "#8074C2",
    "not_delegated": LEVEL_COLOR[NOT_DELEGATED],
    "unknown": LEVEL_COLOR[UNKNOWN],
}

# --- evidence claims ----------------------------------------------------------------------------------------

#: What a cited source says, strongest first (see the levels' SOURCES.md); ``rule``: a stated rule of inference.
CLAIMS: tuple[str, ...] = ("operating", "approved", "implied", "area", "rule")
SOURCE_CLAIMS: tuple[str, ...] = CLAIMS[:4]  # the grades a source row may carry
CLAIM_LABEL: dict[str, str] = {
    "operating": "operating: the source states the CCG held the level that year",
    "approved": "approved by NHS England for the year",
    "implied": "implied: follows from the source by reasoning",
    "area": "area: the source names a group of CCGs, not this one by name",
    "rule": "inferred by a stated rule",
}
#: Claims that stand for a stated level; the map marks the others (``implied``, ``area``, ``rule``) as inferred.
STATED_CLAIMS = frozenset({"operating", "approved"})
INFERRED_CLAIMS = frozenset({"implied", "area", "rule"})
#: The ``evidence`` choice -> the claims it keeps; a level resting on any other claim is treated as unknown.
EVIDENCE_CHOICES: dict[str, frozenset[str]] = {
    "any": frozenset(CLAIMS),
    "approved": frozenset({"operating", "approved"}),
    "operating": frozenset({"operating"}),
}
EVIDENCE_LABEL: dict[str, str] = {
    "any": "Any source or stated rule",
    "approved": "Approved or operating",
    "operating": "Operating only",
}


def contradicts(a: str, b: str) -> bool:
    """Two known levels for one CCG and year that cannot both be true.

    ``not_delegated`` says less than joint, greater involvement or none, not something else, so it agrees with
    each of them; it contradicts only ``delegated``.
    """
    if a == b:
        return False
    if NOT_DELEGATED in (a, b):
        return DELEGATED in (a, b)
    return True


def strongest_claim(claims: Iterable[str]) -> str:
    """The strongest of several rows' claims (order of :data:`CLAIMS`); '' for none."""
    ranked = [c for c in CLAIMS if c in set(claims)]
    return ranked[0] if ranked else ""


def level_column(year: int, evidence: str = "any") -> str:
    """The atlas column holding the levels of ``year`` as an ``evidence`` choice admits them."""
    return f"level_{year}" if evidence == "any" else f"level_{year}_{evidence}"


def level_label(level: str) -> str:
    return LEVEL_LABEL.get(level, level)


# --- the share view: what the published totals allow each unknown CCG to have been --------------------------

#: ``view=share`` colours known levels as known, and each open CCG-year by the share of admissible histories
#: (under the stated prior) in which it was delegated, in four bins: a consequence of the totals, not a prediction.
SHARE_ORDER: tuple[str, ...] = ("known_delegated", "share_75", "share_50", "share_25", "share_0",
                                "known_not_delegated")
SHARE_BINS: tuple[tuple[str, float], ...] = (("share_75", 0.75), ("share_50", 0.5), ("share_25", 0.25),
                                             ("share_0", 0.0))
SHARE_LABEL: dict[str, str] = {
    "known_delegated": "Known: delegated",
    "share_75": "Unknown: delegated in 75–100% of admissible histories",
    "share_50": "Unknown: delegated in 50–75%",
    "share_25": "Unknown: delegated in 25–50%",
    "share_0": "Unknown: delegated in under 25%",
    "known_not_delegated": "Known: not delegated",
}
SHARE_COLOR: dict[str, str] = {  # purples by lightness (CIE L* 38, 50, 62, 86) between the known levels' colours
    "known_delegated": LEVEL_COLOR[DELEGATED],
    "share_75": "#624D95",
    "share_50": "#816BB2",
    "share_25": "#A08CC9",
    "share_0": "#DED2F3",
    "known_not_delegated": LEVEL_COLOR[NOT_DELEGATED],
}
