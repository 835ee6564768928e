"""An agent's first day in Chromium: with a callback ticket (留言 left while nobody was online) and a complaint both
claimed, 我的会话 tells them apart — the ticket and its promised time, the reason — and the card shows the number
to call."""
from __future__ import annotations

from tests.browser.chromium import claim_item, login, needs_chromium
from tests.integration.test_work_orders import resident, say

pytestmark = needs_chromium


def test_my_conversations_tell_a_callback_from_a_complaint(browser, lonely_server):
    caller = resident(lonely_server)
    say(caller, "我要找人工客服")  # nobody online: a callback ticket, the bot asks for a number and a time
    say(caller, "13912345678")
    ticket = say(caller, "/slot callback_window asap")["handoff"]["ticket"]
    assert ticket and ticket.startswith("LY")

    agent = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN").new_page()
    login(agent, lonely_server, "/agent", "agent", "agent123")
    agent.wait_for_function("document.getElementById('conn').textContent.includes('在线')")
    claim_item(agent, ticket)
    agent.wait_for_selector("#card:has-text('13912345678')")  # the number to call, on the card

    say(resident(lonely_server), "你们保安态度太差了，我要投诉")
    claim_item(agent, "保安态度太差")
    mine = agent.locator("#mine .qitem")
    agent.wait_for_function("document.querySelectorAll('#mine .qitem').length === 2")
    texts = mine.all_inner_texts()
    callback = next(t for t in texts if ticket in t)
    complaint = next(t for t in texts if ticket not in t)
    assert "回电" in callback and "业主要求转人工" in callback, texts
    assert "原因：" in complaint and "留言" not in complaint, texts
    agent.context.close()
