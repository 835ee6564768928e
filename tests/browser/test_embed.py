"""The one-line embed on another site, in Chromium (issue 23): a property company's page on its own domain includes
``embed.js``; the widget in the cross-site frame gets no SameSite=Lax cookie there, so it must carry its signed
identity itself. A resident opens it, asks, gets the answer live, and reloads the page to find the conversation."""
from __future__ import annotations

import pytest

from bot.tools.devserver import LiveServer
from tests.browser.chromium import ARGS, CHROMIUM, HAVE_CHROMIUM, accept_privacy
from tests.conftest import static_site

pytestmark = pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no Chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("embed"), settings, parser) as live:
        yield live


def test_the_widget_embedded_on_another_site_answers_and_keeps_the_conversation(server, tmp_path):
    from playwright.sync_api import sync_playwright

    (tmp_path / "index.html").write_text(
        '<!doctype html><meta charset="utf-8"><title>锦绣花园业主之家</title><h1>锦绣花园</h1>'
        f'<script src="{server.url}/embed.js" async></script>', encoding="utf-8")
    with static_site(tmp_path) as port, sync_playwright() as p:
        # the company's own domain: another site than the widget's 127.0.0.1
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=ARGS + ["--host-resolver-rules=MAP wuye-company.test 127.0.0.1"])
        page = browser.new_context(viewport={"width": 1000, "height": 900}, locale="zh-CN").new_page()
        page.goto(f"http://wuye-company.test:{port}/index.html")
        page.get_by_role("button", name="打开物业在线客服").click()
        frame = page.frame_locator("iframe[title='物业在线客服']")
        accept_privacy(frame)  # a first visit: the privacy notice comes first
        frame.locator("#input").fill("物业几点上班")
        frame.locator("#input").press("Enter")
        frame.locator(".row.theirs .bubble:has-text('办公时间')").wait_for(timeout=15000)
        assert frame.locator(".row.mine .bubble:has-text('发送中')").count() == 0
        page.reload()
        page.get_by_role("button", name="打开物业在线客服").click()
        frame = page.frame_locator("iframe[title='物业在线客服']")
        frame.locator(".row.mine .bubble:has-text('物业几点上班')").wait_for(timeout=15000)  # the same resident
        browser.close()
