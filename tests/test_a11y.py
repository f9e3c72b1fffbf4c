"""Accessibility of the public page, checked with axe-core in a real Chromium on a laptop and on a phone."""

from __future__ import annotations

import pytest
import test_browser
from test_browser import Page, pytestmark  # noqa: F401  (the page tests' helper and marks)

browser = test_browser.browser  # the page tests' fixture: a fresh Chromium per test (tests ask for it by name)

LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


class Device:
    """A browser whose new contexts emulate a device (a phone: touch, mobile viewport), for the shared Page helper."""

    def __init__(self, chromium, **options: object) -> None:  # noqa: ANN001
        self.browser, self.options = chromium, options

    def new_context(self, **kwargs: object):  # noqa: ANN201
        return self.browser.new_context(**{**self.options, **kwargs})


def open_loaded(request: pytest.FixtureRequest, url: str, phone: bool = False) -> Page:
    """The page once everything a visitor waits for has arrived: map drawn, every panel filled, charts drawn."""
    chromium = request.getfixturevalue("browser")
    device = Device(chromium, is_mobile=True, has_touch=True, device_scale_factor=2) if phone else chromium
    p = Page(device, url, PHONE if phone else LAPTOP)
    p.page.wait_for_selector("#clustering-robust table", timeout=60000)
    p.page.wait_for_function(
        "() => ['#team-chart', '#imd-chart'].every(s => document.querySelector(s + ' .js-plotly-plot .main-svg'))"
        " && document.querySelector('#level-summary table') && document.querySelector('#clustering p')",
        timeout=30000)
    p.wait_drawn()
    return p


def serious(p: Page, exclude: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """axe-core's serious and critical violations, one line each: rule id, impact, the elements it found."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(p.page)
    out = []
    for v in results.response["violations"]:
        if v["impact"] not in ("serious", "critical"):
            continue
        targets = [" ".join(map(str, n["target"])) for n in v["nodes"]]
        targets = [t for t in targets if (v["id"], t) not in exclude and not any(
            v["id"] == rule and t.startswith(prefix) for rule, prefix in exclude)]
        if targets:
            out.append(f"{v['id']} ({v['impact']}): {targets[:8]} — {v['help']}")
    return out


@pytest.mark.parametrize("phone", [False, True], ids=["laptop", "phone"])
def test_no_serious_accessibility_violations(request: pytest.FixtureRequest, live_server: str, phone: bool) -> None:
    p = open_loaded(request, live_server + "/?year=2016", phone)
    found = serious(p)
    p.close()
    assert not found, "axe-core found:\n" + "\n".join(found)
