"""A borderline emergency in Chromium (docs/decisions/0003-urgent-triage-band.md): the widget shows the emergency
number and the question's two buttons; the agent console lists the conversation as urgent, marked as not yet
confirmed; 是 pages the on-duty phone and the console says so. 不是 makes it a normal handoff."""
from __future__ import annotations

from contextlib import contextmanager

from tests.browser.chromium import (BOT_BUBBLES, ask, chip_titles, login, needs_chromium, online_agent,
                                    resident_bubbles, resident_page)

pytestmark = needs_chromium

# a keyword rule the model reads at P(urgent) ~0.2: urgent, below the band (asked first)
BORDERLINE = "楼道配电箱有点焦味，不知道是不是电线的问题"


def _pages(server):
    return [t for _, t in server.app.state.services.engine.sms.sent if BORDERLINE in t]


@contextmanager
def _asked(browser, server):
    """An agent online and a resident who sent the borderline message and sees the question's buttons; yields
    (resident's page, agent's page, pages sent before)."""
    agent = online_agent(browser, server)
    page = resident_page(browser, server)
    before = len(_pages(server))
    try:
        ask(page, BORDERLINE)
        page.wait_for_selector("#chips .chip:text-is('不是')")
        yield page, agent, before
    finally:
        page.context.close()
        agent.context.close()


def test_a_borderline_emergency_asks_with_buttons_and_yes_pages(browser, server):
    with _asked(browser, server) as (page, agent, before):
        assert chip_titles(page) == ["是，正在发生", "不是"]
        page.wait_for_selector(f"{BOT_BUBBLES}:has-text('020-8888 6699')")
        assert len(_pages(server)) == before  # asked, not paged
        item = agent.locator("#queue .qitem.urgent:has-text('配电箱')").first
        item.wait_for()
        assert "疑似紧急" in item.inner_text()
        page.click("#chips .chip:text-is('是，正在发生')")
        page.wait_for_selector(f"{BOT_BUBBLES}:has-text('已通知值班人员')")
        assert resident_bubbles(page)[-1] == "是，正在发生"  # the title, not the payload
        assert chip_titles(page) == []
        assert len(_pages(server)) == before + 1
        agent.wait_for_selector("#queue .qitem.urgent:has-text('业主确认危险正在发生')")
        # the admin's figures: how residents answered the question
        admin = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        login(admin, server, "/admin", "admin", "admin123")
        admin.click(".tabs button[data-tab='figures']")
        row = admin.locator("#breakdown tr:has-text('紧急确认')")
        row.wait_for()
        assert "回复率" in row.inner_text() and "是 " in row.inner_text() and "超时未回复" in row.inner_text()
        admin.context.close()


def test_no_leaves_a_normal_handoff_and_pages_nobody(browser, server):
    with _asked(browser, server) as (page, agent, before):
        page.click("#chips .chip:text-is('不是')")
        page.wait_for_selector(f"{BOT_BUBBLES}:has-text('不是紧急情况')")
        agent.wait_for_selector("#queue .qitem.normal:has-text('业主表示不是紧急情况')")
        assert len(_pages(server)) == before


def test_the_agent_handling_it_answers_for_the_resident_from_the_card(browser, server):
    """The resident does not tap; the agent who claimed the conversation (a call, or the chat makes it plain) answers
    from the context card: 不是紧急 makes it a normal handoff, the resident is told with the number, and the
    timeout will page nobody."""
    with _asked(browser, server) as (page, agent, before):
        item = agent.locator("#queue .qitem.urgent:has-text('配电箱')").first
        item.wait_for()
        item.get_by_role("button", name="认领").click()
        agent.wait_for_selector("#triage-box #triage-calm")
        assert "业主尚未确认" in agent.inner_text("#triage-box")
        agent.click("#triage-calm")
        agent.wait_for_selector("#triage-done:has-text('不会自动通知值班')")
        assert "客服确认不是紧急情况" in agent.inner_text("#card")  # the card's reasons, read again
        assert agent.locator("#triage-box").count() == 0
        page.wait_for_selector(f"{BOT_BUBBLES}:has-text('客服已了解您的情况')")
        assert "020-8888 6699" in page.locator(BOT_BUBBLES).last.inner_text()
        assert chip_titles(page) == []  # the question's 是 / 不是 went with it
        assert len(_pages(server)) == before
