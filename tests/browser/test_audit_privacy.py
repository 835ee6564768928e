"""Privacy in /admin, in Chromium (issue 26 point 5): the API 密钥 tab shows the retention periods the server enforces;
the 审计与隐私 tab lists the agent's read of a bound resident's card (who, which household, why: the conversation),
filters it, and exports the same filter as CSV; an admin exports a household's data as a JSON file and erases it
with the request's reference (a missing reference refused, nothing erased), and both requests join the log."""
from __future__ import annotations

import json
import urllib.parse

import httpx

from bot.storage.models import ChatIdentity, Conversation, Household, Message
from tests.browser.chromium import login, needs_chromium
from tests.clients import bound_conversation

pytestmark = needs_chromium


def test_an_admin_reads_the_audit_log_and_exports_and_erases_a_households_data(browser, server, tmp_path):
    conversation_id, household_id, phone = bound_conversation(server, "privacy-tab-resident", newest_household=True,
                                                                first_message="我家水管漏了")
    agent = httpx.Client(base_url=server.url, timeout=30)
    agent.post("/api/auth/login", json={"username": "agent", "password": "agent123"}).raise_for_status()
    assert agent.get(f"/api/agent/conversations/{conversation_id}").status_code == 200  # the card: one audit row

    page = browser.new_context(viewport={"width": 1300, "height": 1000}, locale="zh-CN",
                               accept_downloads=True).new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # 确定删除？
    login(page, server, "/admin", "admin", "admin123")
    page.click('.tabs button[data-tab="keys"]')
    page.wait_for_selector("#retention tr[data-kind='codes']")
    days = server.settings
    assert page.inner_text("#retention tr[data-kind='messages'] .days") == f"{days.retention_messages_days} 天"
    assert "首次设置令牌" in page.inner_text("#retention tr[data-kind='codes']")

    page.click('.tabs button[data-tab="privacy"]')
    page.wait_for_selector("#au-table .au-row[data-action='conversation_card']")
    assert page.locator("#tab-keys").is_hidden()
    row = page.locator("#au-table .au-row[data-action='conversation_card']").first.inner_text()
    assert "agent" in row and "打开会话资料卡" in row and str(household_id) in row and f"会话 #{conversation_id}" in row
    page.fill("#au-household", str(household_id))
    page.select_option("#au-action", "conversation_card")
    page.click("#au-filters button[type=submit]")
    page.wait_for_selector("#au-pager:has-text('共 1 条')")
    href = page.get_attribute("#au-csv", "href")
    assert urllib.parse.parse_qs(href.split("?", 1)[1]) == {"action": ["conversation_card"],
                                                             "household_id": [str(household_id)]}
    with page.expect_download() as got:
        page.click("#au-csv")
    text = got.value.path().read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("时间,员工编号,员工,操作") and f"会话 #{conversation_id}" in text
    assert len(text.strip().splitlines()) == 2  # the header and the one read of this household

    page.fill("#pv-id", str(household_id))
    with page.expect_download() as got:
        page.click("#pv-export")
    data = json.loads(got.value.path().read_text(encoding="utf-8"))
    assert data["household"]["id"] == household_id and data["household"]["phone"] == phone
    assert [m["text"] for c in data["conversations"] for m in c["messages"]] == ["我家水管漏了"]
    page.wait_for_selector("#pv-ok:has-text('已导出')")

    page.click("#pv-erase")  # no reference given: refused before anything is sent
    page.wait_for_selector("#pv-error:has-text('请填写申请说明')")
    with server.app.state.services.db.session() as session:
        assert session.query(Message).filter_by(conversation_id=conversation_id).count() == 1
    page.fill("#pv-reason", "住户书面申请 #12")
    page.click("#pv-erase")
    page.wait_for_selector("#pv-ok:has-text('已删除：消息 1 条')")
    with server.app.state.services.db.session() as session:
        assert session.query(Message).filter_by(conversation_id=conversation_id).count() == 0
        assert session.get(Household, household_id).phone == ""
    page.select_option("#au-action", "")
    page.click("#au-filters button[type=submit]")
    page.wait_for_selector("#au-table .au-row[data-action='data_erase']:has-text('住户书面申请 #12')")
    assert page.locator("#au-table .au-row[data-action='data_export']").count() == 1
    page.context.close()
