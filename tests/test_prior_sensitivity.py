"""Whether each verdict is the same under both priors: the comparison on stand-in results, and on a real view."""

from __future__ import annotations

from types import SimpleNamespace

from dashboard.completions import PRIORS, TWO_STAGE, UNIFORM_HISTORIES
from dashboard.prior_sensitivity import SAME_WORDS, compare_verdicts, sensitivity_for
from dashboard.state import ViewState


def _result(**verdicts: tuple[str, str]) -> SimpleNamespace:
    return SimpleNamespace(statistics=[SimpleNamespace(name=n, verdict=SimpleNamespace(code=c, words=w))
                                       for n, (c, w) in verdicts.items()])


def test_a_verdict_that_changes_with_the_prior_depends_on_the_assumptions():
    got = compare_verdicts({
        UNIFORM_HISTORIES: _result(a=("holds", "holds whatever"), b=("most", "holds in most")),
        TWO_STAGE: _result(a=("holds", "holds whatever"), b=("depends", "depends on the unknowns")),
    })
    assert [(s.name, s.same) for s in got] == [("a", True), ("b", False)]
    assert got[0].words == SAME_WORDS
    assert got[1].words.startswith("depends on the assumptions: holds in most if every two-year history")
    assert "depends on the unknowns if 2015/16's levels are drawn first" in got[1].words
    assert got[1].to_dict()["verdicts"] == {UNIFORM_HISTORIES: "most", TWO_STAGE: "depends"}


def test_real_view_is_compared_under_every_prior(service):
    got = sensitivity_for(service, ViewState(year=2015, regions=("London",)), completions=20)
    assert got and all(set(s.verdicts) == set(PRIORS) for s in got)
    assert all(s.same == (len(set(s.verdicts.values())) == 1) for s in got)
