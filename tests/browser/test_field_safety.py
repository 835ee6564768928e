"""Issue 25 points 2, 3, 6 and 7 in Chromium: urgent only when urgent, a split message keeps its anger in the
console, no trap in a flow, English understood — a resident in the widget, an agent in the console."""
from __future__ import annotations

import sqlalchemy as sa

from bot.storage.db import open_database
from bot.storage.models import Handoff, Message
from tests.browser.chromium import (BOT_BUBBLES, ask, bot_texts, chip_titles, needs_chromium, online_agent,
                                    resident_page)

pytestmark = needs_chromium


def _handoffs(server, text):
    """The handoffs opened by the conversation in which the resident wrote ``text``: priorities."""
    db = open_database(server.settings.database_url)
    try:
        with db.session() as s:
            conversation = s.scalar(sa.select(Message.conversation_id).where(Message.text == text))
            return [h.priority for h in s.scalars(sa.select(Handoff).where(Handoff.conversation_id == conversation))]
    finally:
        db.engine.dispose()


def test_an_exclamation_pages_nobody_and_a_ventilator_without_power_pages(browser, server):
    page = resident_page(browser, server)
    ask(page, "救命，这个月电费怎么翻倍了")
    page.wait_for_selector(f"{BOT_BUBBLES} >> nth=0")
    page.wait_for_timeout(500)
    assert not any("应急电话" in t for t in bot_texts(page))
    assert "urgent" not in _handoffs(server, "救命，这个月电费怎么翻倍了")
    other = resident_page(browser, server)
    ask(other, "我爸用着呼吸机，整栋楼没电了，备用电池撑不了多久")
    other.wait_for_selector(f"{BOT_BUBBLES}:has-text('应急电话')")
    assert _handoffs(server, "我爸用着呼吸机，整栋楼没电了，备用电池撑不了多久") == ["urgent"]
    page.context.close()
    other.context.close()


def test_a_split_angry_message_reaches_the_console_high_and_angry(browser, server):
    agent = online_agent(browser, server)
    page = resident_page(browser, server)
    ask(page, "物业几点上班？你们到底管不管！我投诉三次了")
    # a complaint: 投诉专员 is not online here, so "投诉专员暂时不在线，已为您转接其他客服" (bot/handoffs/teams.py)
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('已为您转接')")
    item = agent.locator("#queue .qitem:has-text('我投诉三次了')").first
    item.wait_for()
    assert "高" in item.locator(".prio").inner_text()
    item.locator("button:has-text('认领')").click()
    agent.wait_for_selector("#card:has-text('多次催促')")
    card = agent.inner_text("#card")
    assert "优先级\n高" in card and "生气" in card, card
    agent.context.close()
    page.context.close()


def test_a_question_asked_again_offers_a_person_and_a_way_out_of_the_flow(browser, server):
    page = resident_page(browser, server)
    ask(page, "我要报修")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请简单描述一下需要维修的问题')")
    ask(page, "厨房水龙头漏水")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请问维修地点是哪里')")
    ask(page, "啊啊啊啊")  # no place: asked again, with a person and a way out
    page.wait_for_selector("#chips .chip:text-is('取消办理')")
    assert chip_titles(page)[-2:] == ["转人工客服", "取消办理"]
    assert bot_texts(page)[-1].startswith("请问维修地点是哪里")
    page.click("#chips .chip:text-is('取消办理')")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('好的，已取消')")
    assert not any("地点：啊啊啊啊" in t or "已为您创建维修工单" in t for t in bot_texts(page))
    page.context.close()


def test_english_questions_are_answered_and_an_english_request_for_a_person_hands_off(browser, server):
    page = resident_page(browser, server)
    ask(page, "What time does the management office open?")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('办公时间')")
    ask(page, "Can I speak to a real person")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('人工客服')")
    assert _handoffs(server, "Can I speak to a real person") == ["normal"]
    page.context.close()
