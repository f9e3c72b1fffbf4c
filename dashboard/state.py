"""The view a user is looking at, as URL parameters and back.

One frozen :class:`ViewState` is the single source of truth: controls write it, the URL holds it, figures,
summaries and the slide export read it. Anything not understood is dropped with a notice, never raised,
because URLs are typed and pasted by people and sent by robots.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, urlencode

import pandas as pd

from dashboard import ids
from geodata.vocabulary import EVIDENCE_CHOICES

YEARS = (2015, 2016)
VIEWS = ("level", "change", "share")  # share: ../shared/CONTRACT.md
MAX_ITEMS = 250  # more values than CCGs is never a real view
MAX_TEXT = 200
QUERY_KEYS = ("year", "area_team", "region", "imd", "ccg", "view", "evidence",  # ../shared/CONTRACT.md
              "clusters")  # README: interface beyond the contract
CLUSTERS_ON = ("1", "on", "true", "yes")
CLUSTERS_OFF = ("0", "off", "false", "no", "")
EVIDENCE = tuple(EVIDENCE_CHOICES)  # any, approved, operating: weaker claims are treated as unknown
REGION_HEADING = "__region__"  # value prefix of the region headings in the area-team list (not selectable)


@dataclass(frozen=True)
class Notice:
    """A value that was not applied: which control or parameter, the value (shortened), and why.

    Data until shown: :meth:`text` words it for the page, the slide route and the CLIs.

    >>> Notice("year", "2099", "choose 2015 or 2016").text()
    "year '2099': choose 2015 or 2016"
    >>> Notice("area team", "Atlantis", "unknown").text()
    "unknown area team 'Atlantis'"
    """

    field: str
    value: str
    reason: str = ""
    quote: bool = True

    def text(self) -> str:
        value = repr(self.value) if self.quote else self.value
        if self.reason == "unknown":
            return f"unknown {self.field} {value}"
        if not self.value:
            return f"{self.field}: {self.reason}"
        return f"{self.field} {value}" + (f": {self.reason}" if self.reason else "")

    def __str__(self) -> str:
        return f"Ignored {self.text()}"


@dataclass(frozen=True)
class ViewState:
    """Year, filters and selection; hashable, so results can be cached on it."""

    year: int = 2016
    area_teams: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    imd: tuple[int, int] = (1, 5)
    ccgs: tuple[str, ...] = ()
    view: str = "level"
    evidence: str = "any"
    clusters: bool = False  # mark CCGs in a significant same-level cluster (map and slide)
    notices: tuple[Notice, ...] = field(default=(), compare=False)

    @property
    def filtered(self) -> bool:
        return bool(self.area_teams or self.regions or self.imd != (1, 5))

    def with_notices(self, notices: Iterable[Notice]) -> ViewState:
        return replace(self, notices=tuple(notices))


@dataclass(frozen=True)
class Vocabulary:
    """What the atlas allows: area team names (and their E39 codes), regions, CCG codes."""

    area_teams: tuple[str, ...]
    team_by_code: dict[str, str]
    regions: tuple[str, ...]
    ccgs: frozenset[str]
    team_region: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> Vocabulary:
        teams = table[["area_team", "area_team_code", "region"]].drop_duplicates()
        return cls(
            area_teams=tuple(sorted(teams["area_team"])),
            team_by_code=dict(zip(teams["area_team_code"], teams["area_team"])),
            regions=tuple(sorted(table["region"].unique())),
            ccgs=frozenset(table["ccg_code"]),
            team_region=dict(zip(teams["area_team"], teams["region"])),
        )

    def team(self, value: str) -> str | None:
        """An area team by name (any case, with or without 'area team') or by E39 code."""
        v = value.strip()
        if v.upper() in self.team_by_code:
            return self.team_by_code[v.upper()]
        low = v.lower().removesuffix(" area team").strip()
        for name in self.area_teams:
            if name.lower() == low:
                return name
        return None

    def region(self, value: str) -> str | None:
        low = value.strip().lower().removeprefix("nhs england").removesuffix(" region").strip()
        for name in self.regions:
            if name.lower() == low:
                return name
        return None


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


_IMD_RANGE = re.compile(r"\s*([1-5])\s*(?:-\s*([1-5])\s*)?")  # ASCII digits only: int() takes others too


def parse_imd(value: object) -> tuple[int, int] | None:
    """'1-3' or '2' -> quintile range; None when it is not a range within 1..5."""
    m = _IMD_RANGE.fullmatch(str(value))
    if m is None:
        return None
    lo, hi = sorted((int(m.group(1)), int(m.group(2) or m.group(1))))
    return (lo, hi) if 1 <= lo <= hi <= 5 else None


def normalise(vocab: Vocabulary, year: object = 2016, area_teams: object = (), regions: object = (),
              imd: object = (1, 5), ccgs: object = (), view: object = "level", evidence: object = "any",
              clusters: object = False) -> ViewState:
    """A valid ViewState from untrusted values (URL or callback inputs), with a notice per dropped value."""
    notices: list[Notice] = []

    def as_list(value: object, what: str) -> list[str]:
        if value is None or value == "":
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            notices.append(Notice(what, "", "not a list of names"))
            return []
        if len(value) > MAX_ITEMS:
            notices.append(Notice(what, f"{len(value) - MAX_ITEMS} extra values", "more values than CCGs", quote=False))
            value = value[:MAX_ITEMS]
        out = []
        for v in value:
            if isinstance(v, str) and len(v) <= MAX_TEXT:
                out.append(v)
            else:
                notices.append(Notice(what, _short(v), "not a short text"))
        return out

    try:
        y = int(str(year).strip()) if not isinstance(year, bool) else None
    except ValueError:
        y = None
    if y not in YEARS:
        notices.append(Notice("year", _short(year), "choose 2015 or 2016"))
        y = 2016

    def resolve(values: object, what: str, lookup: Callable[[str], str | None]) -> list[str]:
        found: list[str] = []
        for value in as_list(values, what):
            name = lookup(value)
            if name is None:
                notices.append(Notice(what, _short(value), "unknown"))
            elif name not in found:
                found.append(name)
        return found

    teams = resolve(area_teams, "area team", vocab.team)
    regs = resolve(regions, "region", vocab.region)
    if regs and vocab.team_region:
        # Teams AND regions: a team outside every chosen region would only empty the view, so say so and drop it.
        for team in [t for t in teams if vocab.team_region.get(t) not in regs]:
            notices.append(Notice("area team", team, f"it is in the {vocab.team_region.get(team)} region, "
                                                     f"not in {' or '.join(regs)}"))
            teams.remove(team)
    if teams and set(teams) == set(vocab.area_teams):
        teams = []  # every team is no team filter: keep the URL short

    if isinstance(imd, Sequence) and not isinstance(imd, str) and len(imd) == 2:
        rng = _imd_pair(imd)
    else:
        rng = parse_imd(imd) if isinstance(imd, str | int) and not isinstance(imd, bool) else None
    if rng is None:
        notices.append(Notice("deprivation range", _short(imd), "use quintiles such as 1-3"))
        rng = (1, 5)

    codes = resolve(ccgs, "CCG code", lambda c: c.strip().upper() if c.strip().upper() in vocab.ccgs else None)

    v = view if view in VIEWS else None
    if v is None:
        notices.append(Notice("view", _short(view), "use 'level', 'change' or 'share'"))
        v = "level"
    ev = evidence if evidence in EVIDENCE else None
    if ev is None:
        notices.append(Notice("evidence", _short(evidence), "use 'any', 'approved' or 'operating'"))
        ev = "any"
    marks = as_marks(clusters)
    if marks is None:
        notices.append(Notice("clusters", _short(clusters), "use 1 or 0"))
        marks = False
    return ViewState(year=y, area_teams=tuple(sorted(teams)), regions=tuple(sorted(regs)), imd=rng,
                     ccgs=tuple(codes), view=v, evidence=ev, clusters=marks, notices=tuple(notices))


def as_marks(value: object) -> bool | None:
    """The cluster marks switch from a URL value ("1", "0"), a checkbox value (["on"] or []) or a bool; None
    when it is none of these.

    >>> as_marks("1"), as_marks(["on"]), as_marks([]), as_marks("maybe")
    (True, True, False, None)
    """
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, list | tuple):
        return "on" in value if all(isinstance(v, str) for v in value) else None
    text = str(value).strip().lower()
    return True if text in CLUSTERS_ON else False if text in CLUSTERS_OFF else None


def _imd_pair(value: Sequence[object]) -> tuple[int, int] | None:
    try:
        lo, hi = (float(v) for v in value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(x) and x == int(x) for x in (lo, hi)):
        return None
    lo_i, hi_i = sorted((int(lo), int(hi)))
    return (lo_i, hi_i) if 1 <= lo_i <= hi_i <= 5 else None


def parse_query(search: object, vocab: Vocabulary) -> ViewState:
    """ViewState from a query string such as ``?year=2016&area_team=Greater%20Manchester&imd=1-2``."""
    text = (search if isinstance(search, str) else "").lstrip("?")[:8000]
    pairs = parse_qsl(text, keep_blank_values=False)
    known = set(QUERY_KEYS)
    multi: dict[str, list[str]] = {k: [] for k in known}
    extra = []
    for key, value in pairs:
        if key in known:
            multi[key].append(value)
        else:
            extra.append(key)
    state = normalise(
        vocab,
        year=multi["year"][-1] if multi["year"] else 2016,
        area_teams=multi["area_team"],
        regions=multi["region"],
        imd=multi["imd"][-1] if multi["imd"] else (1, 5),
        ccgs=multi["ccg"],
        view=multi["view"][-1] if multi["view"] else "level",
        evidence=multi["evidence"][-1] if multi["evidence"] else "any",
        clusters=multi["clusters"][-1] if multi["clusters"] else False,
    )
    notices = list(state.notices) + [Notice("parameter", _short(k), "unknown") for k in dict.fromkeys(extra)]
    return state.with_notices(notices)


def to_query(state: ViewState) -> str:
    """The shortest query string that reproduces the view (defaults are left out)."""
    pairs: list[tuple[str, str]] = [("year", str(state.year))]
    pairs += [("area_team", t) for t in state.area_teams]
    pairs += [("region", r) for r in state.regions]
    if state.imd != (1, 5):
        pairs.append(("imd", f"{state.imd[0]}-{state.imd[1]}"))
    pairs += [("ccg", c) for c in state.ccgs]
    if state.view != "level":
        pairs.append(("view", state.view))
    if state.evidence != "any":
        pairs.append(("evidence", state.evidence))
    if state.clusters:
        pairs.append(("clusters", "1"))
    return "?" + urlencode(pairs)


def describe(state: ViewState) -> str:
    """Words for titles and file names: 'Greater Manchester; IMD quintiles 1-2'."""
    parts = []
    if state.regions:
        parts.append(", ".join(state.regions) + (" region" if len(state.regions) == 1 else " regions"))
    if state.area_teams:
        teams = state.area_teams
        parts.append(", ".join(teams) if len(teams) <= 3 else f"{len(teams)} area teams")
    if state.imd != (1, 5):
        lo, hi = state.imd
        parts.append(f"IMD quintile {lo}" if lo == hi else f"IMD quintiles {lo}-{hi}")
    return "; ".join(parts) or "England"


def toggle(codes: tuple[str, ...], code: str) -> tuple[str, ...]:
    """Clicking a CCG adds it to the selection, clicking it again removes it."""
    return tuple(c for c in codes if c != code) if code in codes else (*codes, code)


def map_event_codes(event: object, limit: int = MAX_ITEMS) -> list[str]:
    """CCG codes in a map event (Plotly's click or selection points; only the choropleth's points carry them)."""
    if not isinstance(event, dict) or not isinstance(event.get("points"), list):
        return []
    out = []
    for p in event["points"][:limit]:
        if isinstance(p, dict) and p.get("curveNumber") == 0 and isinstance(p.get("location"), str):
            out.append(p["location"])
    return out


def slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def slide_filename(state: ViewState, ext: str = "png") -> str:
    """A name that says what the slide shows: ``ccg-cocommissioning-2016-greater-manchester.png``."""
    parts = ["ccg-cocommissioning", "change" if state.view == "change" else str(state.year)]
    if state.regions:
        parts.append(slug("-".join(state.regions)))
    if state.area_teams:
        parts.append(slug("-".join(state.area_teams)) if len(state.area_teams) <= 3 else
                     f"{len(state.area_teams)}-area-teams")
    if state.imd != (1, 5):
        parts.append(f"imd-{state.imd[0]}-{state.imd[1]}")
    if state.evidence != "any":
        parts.append(f"{state.evidence}-only")
    return "-".join(parts)[:150] + f".{ext}"


#: Stores the map's clicks and box or lasso selections reach the app through (assets/mapfit.js puts Plotly's events
#: there with ``dash_clientside.set_props``, each with a counter so a repeated click is a new value). Not the
#: graph's own clickData/selectedData: those are set through the callback dcc.Graph bound when it first drew,
#: which on some loads never reaches Dash (Plotly reports the click and nothing happens: seen in about one load
#: in four on the phone).
MAP_CLICK, MAP_SELECT = ids.MAP_CLICK, ids.MAP_SELECT  # re-exported


def next_state(vocab: Vocabulary, trigger: str, search: object, year: object, view: object, regions: object,
               area_teams: object, imd: object, ccgs: object, click: object = None,
               selected: object = None, evidence: object = "any", clusters: object = False) -> ViewState:
    """The view after one event: ``trigger`` is the Dash prop that fired (``"url.search"``, ``"year.value"``,
    ``"map-click.data"``, ``"reset.n_clicks"`` ...; empty on page load).

    A URL change (page load, back, forward) wins over the controls; a click toggles one CCG; a box or lasso
    selection replaces the selection; any other control rebuilds the view from the controls.
    """
    if trigger.startswith("reset."):
        return ViewState()
    if trigger in ("", "url.search"):
        return parse_query(search, vocab)
    if isinstance(area_teams, list):  # the list's region headings are not teams (a keyboard can still pick one)
        area_teams = [t for t in area_teams if not (isinstance(t, str) and t.startswith(REGION_HEADING))]
    state = normalise(vocab, year, area_teams, regions, imd, ccgs, view, evidence, clusters)
    if trigger == f"{MAP_CLICK}.data":
        for code in map_event_codes(click, limit=1):
            state = normalise(vocab, year, area_teams, regions, imd, list(toggle(state.ccgs, code)), view, evidence,
                              clusters)
    elif trigger == f"{MAP_SELECT}.data":
        picked = map_event_codes(selected)
        if picked:
            state = normalise(vocab, year, area_teams, regions, imd, picked, view, evidence, clusters)
    return state


def to_store(state: ViewState) -> dict[str, object]:
    """JSON for the browser-side store that every other callback reads (notices are shown, not stored)."""
    return {"year": state.year, "area_teams": list(state.area_teams), "regions": list(state.regions),
            "imd": list(state.imd), "ccgs": list(state.ccgs), "view": state.view, "evidence": state.evidence,
            "clusters": state.clusters}


def from_store(data: object, vocab: Vocabulary) -> ViewState:
    """The store's dict back to a view; anything else (a forged request) gives the default view."""
    if not isinstance(data, dict):
        return ViewState()
    return normalise(vocab, data.get("year"), data.get("area_teams"), data.get("regions"), data.get("imd"),
                     data.get("ccgs"), data.get("view"), data.get("evidence", "any"), data.get("clusters", False))


def filters_only(state: ViewState) -> ViewState:
    """The year and filters alone: the cache key of everything that ignores selection and colouring mode."""
    return ViewState(year=state.year, area_teams=state.area_teams, regions=state.regions, imd=state.imd,
                     evidence=state.evidence)


def map_parts(state: ViewState, show_clusters: bool) -> dict[str, object]:
    """What each part of the map depends on; a part whose value differs from the last applied one is re-sent."""
    filters = [state.year, list(state.area_teams), list(state.regions), list(state.imd), state.evidence]
    return {"colour": [state.year, state.view, state.evidence], "filter": [*filters, state.view, state.evidence],
            "selection": list(state.ccgs),
            "clusters": filters if show_clusters else False}
