"""``/_dash-layout`` keyed on the view, not on the link: parameters the page ignores share the view's one layout.

A campaign link (``utm_source``), a typo or a junk value must not make the server build the 270 kB layout again,
whether it comes in the layout's own query string or in the ``Referer`` Dash's renderer sends; a malformed
``Referer`` is client input, answered like no ``Referer`` and never logged as an error. The first map, patched
from England's, must equal the one built directly.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import plotly.io
import pytest

from dashboard import figures, first_map
from dashboard.figures import map_geometry
from dashboard.state import parse_query
from tests.conftest import app_service

PAGE = "http://127.0.0.1:8050/"


@pytest.fixture(scope="module")
def client(dash_app: Any) -> Any:
    return dash_app.server.test_client()


@pytest.fixture(scope="module")
def layouts(dash_app: Any) -> Any:
    return app_service(dash_app).cache("layout")


def as_json(fig: Any) -> Any:
    return json.loads(plotly.io.json.to_json_plotly(fig))


@pytest.mark.parametrize("query", ["", "year=2015&region=London&imd=1-2", "view=change&evidence=approved",
                                   "evidence=operating&year=2015", "ccg=E38000001&ccg=E38000002&imd=5",
                                   "area_team=Greater%20Manchester&view=change"])
def test_the_patched_first_map_equals_the_directly_built_one(service: Any, query: str) -> None:
    view = service.view(parse_query(query, service.vocabulary))
    direct = map_geometry.on_the_wire(figures.map_figure(view), "/geometry.json")
    assert as_json(first_map.page_map(view, "/geometry.json")) == as_json(direct)


def test_englands_map_is_left_as_it_was_by_the_views_patched_from_it(service: Any) -> None:
    england = first_map.england_on_the_wire(service, "/geometry.json")
    before = json.dumps(england, sort_keys=True, default=str)
    for query in ("view=change&evidence=operating", "ccg=E38000001&region=North", "year=2015&imd=5"):
        first_map.page_map(service.view(parse_query(query, service.vocabulary)), "/geometry.json")
    assert json.dumps(england, sort_keys=True, default=str) == before


def test_ignored_parameters_share_the_views_layout(client: Any, layouts: Any) -> None:
    first = client.get("/_dash-layout?year=2015&imd=2-4")
    misses = layouts.misses
    variants = ["/_dash-layout?imd=2-4&year=2015&utm_source=newsletter",
                "/_dash-layout?year=2015&imd=2-4&junk=1&fbclid=abc",
                "/_dash-layout?year=2015&imd=2-4&region=Atlantis&year_typo=7"]
    answers = [client.get(url) for url in variants]
    assert layouts.misses == misses, "a parameter the page ignores made the layout again"
    assert {r.status_code for r in answers} == {200}
    assert {r.headers["ETag"] for r in answers} == {first.headers["ETag"]}
    assert all(r.get_data() == first.get_data() for r in answers)


def test_the_view_in_the_referer_is_keyed_alike_and_revalidates(client: Any, layouts: Any) -> None:
    first = client.get("/_dash-layout", headers={"Referer": PAGE + "?year=2015&region=North"})
    assert "Referer" in first.headers.get("Vary", "")
    misses = layouts.misses
    again = client.get("/_dash-layout", headers={"Referer": PAGE + "?region=North&year=2015"
                                                           "&utm_campaign=x&region=Narnia"})
    assert layouts.misses == misses
    assert again.headers["ETag"] == first.headers["ETag"] and "Referer" in again.headers["Vary"]
    cached = client.get("/_dash-layout", headers={"Referer": PAGE + "?year=2015&region=North&x=1",
                                                  "If-None-Match": first.headers["ETag"]})
    assert cached.status_code == 304 and "Referer" in cached.headers["Vary"]


def test_junk_values_do_not_grow_the_layout_cache(client: Any, layouts: Any) -> None:
    client.get("/_dash-layout?year=2016&view=change")
    size, misses = len(layouts), layouts.misses
    for i in range(40):
        resp = client.get(f"/_dash-layout?year=2016&view=change&junk{i}=x&region=Nowhere{i}&utm_source=n{i}")
        assert resp.status_code == 200
    assert (len(layouts), layouts.misses) == (size, misses)


def test_the_layout_carries_no_notice_the_page_shows_by_callback(client: Any) -> None:
    """Notices come from the page's first callback (``sync_state``, from the address bar), so a layout never
    holds one link's notices for another; tests/test_browser.py sees them on the page."""
    body = client.get("/_dash-layout?year=2015&region=Atlantis").get_data(as_text=True)
    assert "Atlantis" not in body and "Not applied" not in body


@pytest.mark.parametrize("referer", ["http://[::1", "http://[::1]:99999/?year=2015", "http://h/?year=\udcff2015",
                                     "::::", "%%%", "http://example.com:port/?x"])
def test_a_malformed_referer_is_answered_as_england_without_an_error(client: Any, referer: str,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    england = client.get("/_dash-layout")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        resp = client.get("/_dash-layout", headers={"Referer": referer.encode("utf-8", "surrogateescape")
                                                     .decode("latin-1")})
    assert resp.status_code == 200
    if "year=2015" not in referer:
        assert resp.headers["ETag"] == england.headers["ETag"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_random_bytes_in_the_query_or_referer_never_log_an_error(client: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """200 seeded random query strings and Referers (percent signs, brackets, NUL, bytes that are not UTF-8)."""
    rng = random.Random(21)
    alphabet = "%&=?#[]:/\\@!;,+ \x00\x7f\xff\xe9" + "yearimdregionccgview0123456789"
    with caplog.at_level(logging.INFO):
        for _ in range(200):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
            for path in ("/_dash-layout", "/"):
                resp = client.get(path, environ_overrides={"QUERY_STRING": text}, headers={"Referer": text})
                assert resp.status_code < 500
                resp = client.get(path, headers={"Referer": "http://127.0.0.1/?" + text})
                assert resp.status_code < 500
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
