"""Incidents are first-class in the console (issue 25, point 4), in Chromium: ten residents report that 7栋 has no
water; the agent claims the one queue item, sees the report count and the reporters on the card, writes the
resolution once, and every reporter — in the widget and through /api/chat — is told."""
from __future__ import annotations

import httpx
import pytest

from bot.tools.devserver import LiveServer
from tests.browser.chromium import ARGS, CHROMIUM, HAVE_CHROMIUM, login

pytestmark = pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no Chromium at {CHROMIUM}")
REPORTS = ["7栋停水了", "7栋怎么停水了", "7号楼停水了什么时候来水", "7栋2单元停水了吗", "7栋没水了",
           "7栋突然停水了", "七栋停水了", "7栋1单元停水了", "7栋也停水了"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("incident-console"), settings, parser) as live:
        yield live


def test_an_agent_resolves_an_outage_of_ten_reporters_from_the_console_and_all_are_told(server):
    from playwright.sync_api import sync_playwright

    residents = []
    for text in REPORTS:
        client = httpx.Client(base_url=server.url, timeout=30)
        client.post("/api/widget/session").raise_for_status()
        client.post("/api/widget/messages", json={"text": text}).raise_for_status()
        residents.append(client)
    admin = httpx.Client(base_url=server.url, timeout=30)
    admin.post("/api/auth/login", json={"username": "admin", "password": "admin123"}).raise_for_status()
    key = admin.post("/api/admin/api-keys", json={"name": "物业App"}).json()["key"]
    app_user = httpx.post(server.url + "/api/chat", headers={"Authorization": f"Bearer {key}"},
                          json={"sender_id": "app-7-1", "text": "7栋停水了，什么时候恢复供水"})
    assert app_user.status_code == 200

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN").new_page()
        login(page, server, "/agent", "agent", "agent123")
        page.wait_for_selector("#queue .qitem")
        assert page.locator("#queue .qitem").count() == 1  # one queue item for the whole outage
        page.locator("#queue .qitem").first.get_by_role("button", name="认领").click()
        page.wait_for_selector("#incident-box")
        assert "10 位业主报告" in page.inner_text("#incident-box")
        assert page.locator("#incident-box .reporters li").count() == 10
        page.fill("#incident-resolution", "7栋水泵已修复，已恢复供水，感谢耐心等待")
        page.click("#incident-resolve")
        page.wait_for_selector("#incident-box .done")
        assert "已通知 10 位业主" in page.inner_text("#incident-box")
        assert page.locator("#incident-box .reporters li:has-text('已通知')").count() == 10
        browser.close()

    for client in residents:
        texts = [m["text"] for m in client.get("/api/widget/history").json()["messages"]]
        assert any("【处理结果】" in t and "已恢复供水" in t for t in texts)
    later = httpx.post(server.url + "/api/chat", headers={"Authorization": f"Bearer {key}"},
                       json={"sender_id": "app-7-1", "text": "好的"})
    with server.app.state.services.db.session() as session:
        from bot.storage.models import Message

        told = session.query(Message).filter(Message.conversation_id == later.json()["conversation_id"],
                                             Message.text.like("【处理结果】%")).count()
    assert told == 1  # the integration's resident is told too (stored for its channel)


def test_an_agent_merges_two_incidents_of_one_outage_and_splits_reports_off_again_from_the_console(server):
    from playwright.sync_api import sync_playwright

    for text in ["11栋停水了", "11栋也停水了", "12栋停水了", "12栋怎么停水了"]:
        client = httpx.Client(base_url=server.url, timeout=30)
        client.post("/api/widget/session").raise_for_status()
        client.post("/api/widget/messages", json={"text": text}).raise_for_status()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN").new_page()
        login(page, server, "/agent", "agent", "agent123")
        item = page.locator("#queue .qitem:has-text('12栋')").first
        item.wait_for()
        item.get_by_role("button", name="认领").click()
        page.wait_for_selector("#incident-box #incident-merge-into")
        assert "2 位业主报告" in page.inner_text("#incident-box")
        assert "11栋停水" in page.inner_text("#incident-merge-into")
        page.click("#incident-merge")
        page.wait_for_selector("#incident-box .done:has-text('已并入事件')")
        assert "4 位业主报告" in page.inner_text("#incident-box")
        page.locator("#queue .qitem:has-text('12栋')").wait_for(state="detached")
        # the two 12栋 reports were another problem after all: split them off again
        for li in page.locator("#incident-box .reporters li:has-text('12栋')").all():
            li.locator(".split-pick").check()
        page.click("#incident-split")
        page.wait_for_selector("#incident-box .done:has-text('已拆分为新事件')")
        assert "2 位业主报告" in page.inner_text("#incident-box")
        browser.close()
