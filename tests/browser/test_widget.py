"""The resident widget in Chromium: answers, flows and buttons, the REST fallback and reconnects, the embed, the callback ticket, notices."""
from __future__ import annotations

import datetime as dt
import re

from tests.browser.chromium import (BOT_BUBBLES, ask, bot_texts, chip_titles, claim_item, needs_chromium, online_agent,
                                    resident_bubbles, resident_page, server_today, wait_bot_count)

pytestmark = needs_chromium


def test_resident_asks_a_faq_and_sees_the_answer_escaped(browser, server):
    page = resident_page(browser, server)
    ask(page, "物业几点上班")
    page.wait_for_selector(".row.theirs .bubble:has-text('办公时间')")
    assert "020-8888 6601" in page.inner_text("#messages")
    ask(page, "<img src=x onerror=alert(1)>门禁卡丢了")
    page.wait_for_selector(".row.mine .bubble:has-text('<img src=x')")
    assert page.locator("#messages img").count() == 0
    page.context.close()


def test_widget_falls_back_to_rest_when_websockets_are_blocked(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 780})
    page = context.new_page()
    page.goto(server.url + "/?transport=rest")
    page.wait_for_function("window.wuyeWidget && window.wuyeWidget.transport() === 'rest'")
    ask(page, "停车月卡怎么办")
    page.wait_for_selector(".row.theirs .bubble:has-text('月卡')")
    page.reload()  # history comes back
    page.wait_for_selector(".row.mine .bubble:has-text('停车月卡怎么办')")
    context.close()


def test_widget_reconnects_after_a_network_drop_and_shows_the_history(browser, server):
    page = resident_page(browser, server)
    ask(page, "装修押金多少钱")
    page.wait_for_selector(".row.theirs .bubble:has-text('押金')")
    server.restart()  # the connection drops while the page stays open
    page.wait_for_function("window.wuyeWidget.transport() === 'websocket'", timeout=30000)
    page.wait_for_selector("#offline.hidden", state="attached")
    assert page.locator(".row.mine .bubble:has-text('装修押金多少钱')").count() == 1  # history shown once
    page.reload()
    page.wait_for_selector(".row.mine .bubble:has-text('装修押金多少钱')")
    ask(page, "谢谢")
    page.wait_for_selector(".row.theirs .bubble:has-text('不客气')")
    page.context.close()


def test_one_script_tag_embeds_the_widget_in_another_site(browser, server):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.goto(server.url + "/api/health")  # any page of another site; the tag is all it needs
    page.evaluate("""url => { document.body.innerHTML = '<h1>某物业官网</h1>';
        const s = document.createElement('script'); s.src = url + '/embed.js'; document.body.appendChild(s); }""", server.url)
    page.click("button:has-text('在线客服')")
    frame = page.frame_locator("iframe[title='物业在线客服']")
    frame.locator(".chip").first.wait_for()
    frame.locator("#input").fill("物业电话多少")
    frame.locator("#input").press("Enter")
    frame.locator(".bubble:has-text('020-8888 6601')").first.wait_for()
    context.close()


def test_slots_given_early_are_used_and_only_the_urgency_is_asked(browser, server):
    page = resident_page(browser, server)
    ask(page, "我要报修")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请简单描述一下需要维修的问题')")
    ask(page, "厨房水龙头漏水")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请问维修地点是哪里')")
    ask(page, "3栋2单元501，13800138000，明天上午")
    page.wait_for_selector(f"{BOT_BUBBLES}:text-is('情况紧急吗？')")
    page.wait_for_selector("#chips .chip:has-text('紧急')")
    assert chip_titles(page) == ["一般", "紧急"]
    assert bot_texts(page)[-1] == "情况紧急吗？"
    # the phone and the time came with the location: neither is asked for
    assert not any("联系电话" in t or "什么时候上门" in t for t in bot_texts(page))
    page.click("#chips .chip:text-is('一般')")
    done = page.locator(f"{BOT_BUBBLES}:has-text('已为您创建维修工单')")
    done.wait_for()
    text = done.inner_text()
    assert re.search(r"WO\d{11}", text), text
    assert "地点：3栋2单元501" in text and "厨房水龙头漏水" in text and "尾号8000" in text and "13800138000" not in text
    assert "2 小时内" in text  # "一般", not urgent
    assert chip_titles(page) == []
    page.context.close()


def test_a_stale_button_is_refused_and_the_open_question_asked_again(browser, server):
    page = resident_page(browser, server)
    ask(page, "可以养狗吗")
    page.wait_for_selector("#chips .chip:text-is('没有解决我的问题')")
    history = page.evaluate("fetch('/api/widget/history', {credentials: 'same-origin'}).then(r => r.json())")
    stale = [b for m in history["messages"] for b in (m.get("buttons") or []) if b["title"] == "没有解决我的问题"]
    assert [b["payload"] for b in stale] == ["/not_helpful pets"]
    ask(page, "我要报修")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请简单描述一下需要维修的问题')")
    assert "没有解决我的问题" not in chip_titles(page)  # the newest message's chips replaced it
    ask(page, "客厅插座没电")
    wait_bot_count(page, "请问维修地点是哪里", 1)
    # the old chip's payload, sent the way a resident with the old button could (a stale page, a second tab)
    page.evaluate("p => window.wuyeWidget.send(p, '没有解决我的问题')", stale[0]["payload"])
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('失效')")
    wait_bot_count(page, "请问维修地点是哪里", 2)
    texts = bot_texts(page)
    refused = next(i for i, t in enumerate(texts) if "失效" in t)
    assert "请问维修地点是哪里" in texts[refused + 1]  # asked again right after the refusal
    assert not any("地点：没有解决我的问题" in t or "地点：/not_helpful" in t for t in texts)
    assert not any("已为您创建维修工单" in t or "抱歉没能帮到您" in t for t in texts)
    page.context.close()


def test_with_nobody_online_handoff_is_a_callback_ticket_with_phone_and_time(browser, lonely_server):
    import sqlalchemy as sa

    from bot.core.localtime import agents_working, to_local
    from bot.handoffs.handoff import agents_online
    from bot.storage.models import Handoff

    server = lonely_server
    services = server.app.state.services
    with services.db.session() as session:
        assert agents_online(session, services.clock()) == 0
    values = services.knowledge.current.communities[0].values
    assert agents_working(values, to_local(services.clock()))[0]  # office hours: the callback is because nobody is online

    page = resident_page(browser, server)
    ask(page, "转人工")
    registered = page.locator(f"{BOT_BUBBLES}:has-text('登记回电')").first
    registered.wait_for()
    assert "暂时没有客服在线" in registered.inner_text()
    ticket = re.search(r"LY\d{12}", registered.inner_text()).group()
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请留一个方便回电的手机号码')")
    # until a number and a time are given, a message the agents answer in the chat
    page.wait_for_selector("#agent-banner:not(.hidden):has-text('已登记留言')")
    assert ticket in page.inner_text("#agent-banner") and "在这里回复您" in page.inner_text("#agent-banner")
    assert page.inner_text("#state") == "已登记留言"

    ask(page, "13912345678")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('您方便接听电话的时间是？')")
    page.wait_for_selector("#chips .chip:text-is('明天上午')")
    assert chip_titles(page) == ["尽快", "今天", "明天上午", "明天下午"]
    page.click("#chips .chip:text-is('明天上午')")
    confirmed = page.locator(f"{BOT_BUBBLES}:has-text('前拨打')")
    confirmed.wait_for()
    text = confirmed.inner_text()
    assert f"已登记回电（编号 {ticket}）" in text
    assert "明天 12:00 前拨打您尾号5678的手机" in text and "13912345678" not in text

    # the banner repeats the promised time in words, with its date (it stays up for days), not an ISO time
    tomorrow = to_local(services.clock()).date() + dt.timedelta(days=1)
    page.wait_for_selector(f"#agent-banner:has-text('{tomorrow.month}月{tomorrow.day}日 12:00')")
    assert page.inner_text("#agent-banner") == \
        f"已登记回电（编号 {ticket}），工作人员会在{tomorrow.month}月{tomorrow.day}日 12:00 前回电"
    assert page.inner_text("#state") == "已登记回电"
    assert "13912345678" not in page.inner_text("#agent-banner")
    with services.db.session() as session:
        handoff = session.scalar(sa.select(Handoff).where(Handoff.ticket == ticket))
        assert (handoff.status, handoff.callback_phone, handoff.callback_window) == ("callback", "13912345678", "明天上午")
    # the agents' queue shows the promise, and flags it once it has passed
    agent = online_agent(browser, server)
    item = agent.locator(f"#queue .qitem:has-text('{ticket}')").first
    item.wait_for()
    assert f"回电 {tomorrow.month}月{tomorrow.day}日 12:00 前" in item.inner_text() and "超时" not in item.inner_text()
    # past on the browser's clock, which flags it (the server's is today 10:00 Beijing time: before that hour of the
    # real day, an hour before the server's "now" was still ahead)
    real_now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with services.db.session() as session:
        session.scalar(sa.select(Handoff).where(Handoff.ticket == ticket)).callback_at = \
            min(services.clock(), real_now) - dt.timedelta(hours=1)
    agent.reload()
    late = agent.locator(f"#queue .qitem:has-text('{ticket}') .due.late").first
    late.wait_for()
    assert late.inner_text().startswith(" · 回电已超时（承诺 ")
    # the agent who takes the ticket sees the number to call and the promise on the card
    claim_item(agent, ticket)
    agent.wait_for_selector("#card dd:has-text('13912345678')")
    assert _card_row(agent, "回电").startswith(f"留言 {ticket} · 13912345678，明天上午，承诺 ")
    agent.context.close()
    page.context.close()


def _card_row(page, title):
    return page.locator(f"#card dt:text-is('{title}') + dd").inner_text()


def test_a_resident_who_leaves_no_number_keeps_the_message_and_the_banner_says_so(browser, lonely_server):
    page = resident_page(browser, lonely_server)
    ask(page, "转人工")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请留一个方便回电的手机号码')")
    ask(page, "随便吧")  # no number: asked again, with the way on a person already coming calls for
    page.wait_for_selector("#chips .chip:text-is('不留电话，在这里等回复')")
    assert chip_titles(page) == ["不留电话，在这里等回复"]
    page.click("#chips .chip:text-is('不留电话，在这里等回复')")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('不登记回电了')")
    assert "已取消" not in page.inner_text("#messages")
    assert chip_titles(page) == []
    assert page.inner_text("#state") == "已登记留言" and "在这里回复您" in page.inner_text("#agent-banner")
    agent = online_agent(browser, lonely_server)
    claim_item(agent, "留言 LY")
    agent.wait_for_selector("#card dt:text-is('回电')")
    assert _card_row(agent, "回电").endswith("未留电话，请在会话中回复")
    agent.context.close()
    page.context.close()


def test_a_clicked_chip_shows_its_title_not_its_payload(browser, server):
    page = resident_page(browser, server)
    ask(page, "我要报修")
    ask(page, "门锁坏了")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请问维修地点是哪里')")
    ask(page, "2栋1单元101")
    page.wait_for_selector("#chips .chip:text-is('一般')")
    page.click("#chips .chip:text-is('一般')")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请留一个联系电话')")
    try:
        assert resident_bubbles(page)[-1] == "一般"
        assert not any(t.startswith("/") for t in resident_bubbles(page))
    finally:
        page.context.close()


def test_rest_fallback_shows_each_sent_message_once(browser, server):
    page = browser.new_context(viewport={"width": 390, "height": 780}).new_page()
    page.goto(server.url + "/?transport=rest")
    page.wait_for_function("window.wuyeWidget && window.wuyeWidget.transport() === 'rest'")
    ask(page, "我要报修")
    page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请简单描述一下需要维修的问题')")
    page.wait_for_timeout(500)  # any second copy arrives with the same history load as the reply
    try:
        assert resident_bubbles(page) == ["我要报修"]
    finally:
        page.context.close()


def test_the_widget_shows_live_notices_on_open_and_the_bot_answers_with_them(browser, server):
    import httpx

    today = server_today(server)
    admin = httpx.Client(base_url=server.url, timeout=30)
    admin.post("/api/auth/login", json={"username": "admin", "password": "admin123"}).raise_for_status()
    r = admin.post("/api/admin/notices", json={"community_id": "jinxiu", "kind": "elevator", "buildings": [5],
                                               "text": "5栋1号电梯更换钢丝绳，请走2号电梯。",
                                               "starts_at": f"{today} 08:00", "ends_at": f"{today} 20:00"})
    r.raise_for_status()
    notice = r.json()
    resident = resident_page(browser, server)
    banner = resident.locator("#notice-banner")
    banner.wait_for(state="visible")
    assert "5栋电梯停用通知" in banner.inner_text() and "5栋 今天 8:00–20:00（进行中）" in banner.inner_text()
    assert "请走2号电梯" in banner.inner_text()
    ask(resident, "5栋电梯怎么不能用了")
    resident.wait_for_selector(f"{BOT_BUBBLES}:has-text('5栋今天 8:00–20:00 电梯停用，正在进行，预计 20:00 恢复')")
    resident.click("#notice-banner .notice-close")
    assert banner.is_hidden()
    admin.post(f"/api/admin/notices/{notice['id']}/withdraw").raise_for_status()
    later = resident_page(browser, server)
    later.wait_for_function("window.wuyeWidget.transport() === 'websocket'")
    later.wait_for_timeout(300)
    assert later.locator("#notice-banner").is_hidden()
    resident.context.close()
    later.context.close()
