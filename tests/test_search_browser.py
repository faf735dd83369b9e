"""The search box's completion list in a real Chromium (Debian's chromium driven by Playwright): typing shows
suggestions from /api/suggest, typos included, under the site's Content-Security-Policy; arrows and Enter open
one. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.test_web_browser import Page, browser, page  # noqa: F401  (fixtures)
from tests.test_web_fixtures import WebArchive, base_url, web  # noqa: F401


def _wait_for_list(page: Page, expected: list[dict[str, Any]]) -> list[str]:  # noqa: F811
    page.tab.wait_for_function(
        "n => { const l = document.querySelector('#suggestions');"
        " return l && !l.hidden && l.querySelectorAll('li').length === n; }",
        arg=len(expected),
    )
    return page.tab.locator("#suggestions li .name").all_inner_texts()


def test_typing_shows_completions_and_enter_opens_one(page: Page, base_url: str) -> None:  # noqa: F811
    page.goto("/search")
    assert page.tab.locator("#suggestions").is_hidden()
    box = page.tab.locator("#q")
    box.click()
    box.press_sequentially("thund", delay=60)
    expected = httpx.get(base_url + "/api/suggest", params={"q": "thund", "limit": 8}).json()["suggestions"]
    assert expected, "the catalog has tracks with 'thunder'"
    names = _wait_for_list(page, expected)
    assert names == [s["name"] for s in expected]
    assert all("thund" in name.lower() or s["kind"] != "track" for name, s in zip(names, expected, strict=True))
    assert page.tab.get_attribute("#q", "aria-expanded") == "true"
    page.shot("site-suggest")
    box.press("ArrowDown")
    assert page.tab.locator("#suggestions li").first.get_attribute("aria-selected") == "true"
    box.press("Enter")
    page.tab.wait_for_url(re.compile(re.escape(expected[0]["url"]) + "$"))
    assert page.violations() == []


def test_a_typo_typed_still_suggests(page: Page, base_url: str) -> None:  # noqa: F811
    page.goto("/search")
    box = page.tab.locator("#q")
    box.click()
    box.press_sequentially("midnigth", delay=40)  # swapped letters
    expected = httpx.get(base_url + "/api/suggest", params={"q": "midnigth", "limit": 8}).json()["suggestions"]
    names = _wait_for_list(page, expected)
    assert names and any("midnight" in n.lower() for n in names)
    box.press("Escape")
    assert page.tab.locator("#suggestions").is_hidden()
    assert page.violations() == []
