"""The web first-run in Chromium (issue 26 point 1): on an empty deployment /admin shows the first admin's form instead
of the login form; a wrong setup token is refused in Chinese; the token from the server's start-up log makes the
admin, signed in at once; afterwards /admin is the usual login for everyone else."""
from __future__ import annotations

import logging
import re

import pytest

from bot.tools.devserver import LiveServer
from tests.browser.chromium import needs_chromium

pytestmark = needs_chromium

PASSWORD = "Cuihu-admin-2026"


@pytest.fixture
def fresh(tmp_path, settings, parser, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.main"):
        with LiveServer(tmp_path, settings, parser, demo=False) as live:
            yield live, re.findall(r"首次设置令牌：(\S+)（", caplog.text)[0]


def test_the_first_admin_is_created_in_admin_with_the_logged_token(fresh, browser):
    server, token = fresh
    page = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN").new_page()
    page.goto(server.url + "/admin")
    page.wait_for_selector("#setup-form")
    assert page.locator("#login-form").count() == 0
    assert "首次设置令牌" in page.inner_text("#login-view")
    fill = {"#setup-token": "not-the-token", "#setup-username": "zhangjl", "#setup-display-name": "张经理",
            "#setup-password": PASSWORD, "#setup-password-again": PASSWORD}
    for selector, value in fill.items():
        page.fill(selector, value)
    page.click("#setup-form button")
    page.locator("#setup-error:has-text('设置令牌不正确')").wait_for()
    page.fill("#setup-token", token)
    page.click("#setup-form button")
    page.wait_for_selector("#app-view:not(.hidden)")
    assert page.inner_text("#me") == "张经理"
    page.reload()  # the session is a real sign-in
    page.wait_for_selector("#app-view:not(.hidden)")
    other = browser.new_context(locale="zh-CN").new_page()  # someone else on the network, after the setup
    other.goto(server.url + "/admin")
    other.wait_for_selector("#login-form")
    other.wait_for_timeout(300)  # the setup check has answered: still the login form
    assert other.locator("#setup-form").count() == 0
