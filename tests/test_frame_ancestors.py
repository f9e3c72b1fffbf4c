"""``FRAME_ANCESTORS`` names the sites that may frame the page: a scheme-only source (``https:``) or a wildcard
would let sites nobody named do it (clickjacking), so such a setting is refused as a whole, with a warning that
names each refused source, and the page keeps ``frame-ancestors 'self'``."""

from __future__ import annotations

import logging

import pytest

from dashboard.hosting import headers


@pytest.mark.parametrize("value, refused, why", [
    ("https:", "'https:'", "scheme-only"),
    ("http: 'self'", "'http:'", "scheme-only"),
    ("'self' https://", "'https://'", "scheme-only"),
    ("data:", "'data:'", "scheme-only"),
    ("*", "'*'", "wildcard"),
    ("https://*.example", "'https://*.example'", "wildcard"),
    ("'self' *.nhs.uk", "'*.nhs.uk'", "wildcard"),
    ("https://intranet.example.nhs.uk:*", "'https://intranet.example.nhs.uk:*'", "wildcard"),
    ("javascript:alert(1)", "'javascript:alert(1)'", "not a host source"),
])
def test_scheme_only_and_wildcard_sources_are_refused_with_a_clear_warning(
        value: str, refused: str, why: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=headers.log.name):
        assert headers.frame_ancestors(value) == ("'self'", "SAMEORIGIN")
    lines = [r.getMessage() for r in caplog.records if r.name == headers.log.name]
    assert len(lines) == 1
    assert "FRAME_ANCESTORS" in lines[0] and "refused" in lines[0] and refused in lines[0] and why in lines[0]


@pytest.mark.parametrize("value, sources", [
    ("'self' https://intranet.example.nhs.uk", "'self' https://intranet.example.nhs.uk"),
    ("https://intranet.example.nhs.uk:8443/atlas", "https://intranet.example.nhs.uk:8443/atlas"),
    ("self intranet.example.nhs.uk", "'self' intranet.example.nhs.uk"),
])
def test_named_hosts_are_kept_without_a_warning(value: str, sources: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=headers.log.name):
        assert headers.frame_ancestors(value) == (sources, None)
    assert not [r for r in caplog.records if r.name == headers.log.name]


def test_the_page_served_under_a_refused_setting_allows_only_its_own_origin(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dash import Dash, html

    from dashboard.hosting import security

    monkeypatch.setenv("FRAME_ANCESTORS", "https:")
    app = Dash("framed")
    app.layout = html.Div("x")
    security.install(app, debug=False)
    resp = app.server.test_client().get("/")
    policy = dict(part.strip().split(" ", 1) for part in resp.headers["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"] == "'self'" and resp.headers["X-Frame-Options"] == "SAMEORIGIN"
