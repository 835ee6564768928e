"""The agent console in Chromium: the queue, claim, reply and resolve, Chinese labels only, quick replies, knowledge search, ratings."""
from __future__ import annotations

import re

import pytest

from tests.browser.chromium import ask, claim_item, login, needs_chromium, online_agent, resident_page

pytestmark = needs_chromium


ENGLISH_CODES = re.compile(r"\b(pending|open|resolved|queued|callback|claimed|urgent|high|normal|emergency keyword|"
                           r"emergency|failed understandings|angry tone|angry|anxious|neutral|neighbour dispute|"
                           r"complaint|resident asked|web|wechat|rest)\b", re.I)


def test_emergency_reaches_an_agent_who_claims_replies_and_resolves(browser, server):
    agent_context = browser.new_context(viewport={"width": 1400, "height": 900})
    agent = agent_context.new_page()
    login(agent, server, "/agent", "agent", "agent123")
    agent.wait_for_function("document.getElementById('conn').textContent.includes('在线')")

    resident = resident_page(browser, server)
    ask(resident, "3栋2单元电梯困人了，快来人")
    resident.wait_for_selector("text=应急电话")
    resident.wait_for_selector("#agent-banner:not(.hidden)")

    first = agent.locator("#queue .qitem").first
    first.wait_for()
    assert "urgent" in first.get_attribute("class")
    assert "电梯困人" in first.inner_text()
    agent.wait_for_function("document.body.dataset.urgentAlert")  # announced without reload
    first.locator("button:has-text('认领')").click()
    agent.wait_for_selector("#replybox:not(.hidden)")
    assert "电梯困人" in agent.inner_text("#card")
    assert "3栋2单元电梯困人了" in agent.inner_text("#log")

    resident.wait_for_selector("text=人工客服 客服小林 已接入")
    agent.fill("#reply", "您好，维修人员已出发，请不要扒门，保持冷静")
    agent.click("#send")
    resident.wait_for_selector(".row.agent .bubble:has-text('维修人员已出发')")
    assert "人工客服" in resident.locator(".row.agent .label").first.inner_text()

    ask(resident, "好的谢谢")
    agent.wait_for_selector(".tmsg.resident:has-text('好的谢谢')")
    agent.click("#resolve")
    resident.wait_for_selector("#agent-banner.hidden", state="attached")
    ask(resident, "垃圾几点可以扔")
    resident.wait_for_selector(".row.theirs:not(.agent) .bubble:has-text('投放时间')")
    agent_context.close()
    resident.context.close()


@pytest.mark.parametrize("path,user,password,own_script", [("/agent", "agent", "agent123", "agent.js"),
                                                           ("/admin", "admin", "admin123", "admin.js"),
                                                           ("/desk", "tech1", "tech123", "desk.js")])
def test_staff_pages_share_one_module_for_login_and_logout(browser, server, path, user, password, own_script):
    page = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
    page.goto(server.url + path)
    scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => [e.getAttribute('src'), e.type])")
    # the page's own ES module first (it imports what the pages share); /admin's extra tabs are modules of their own
    # (imports.js, voice.js, teams.js …)
    assert scripts[0] == [f"/static/{own_script}", "module"] and all(kind == "module" for _, kind in scripts)
    loaded = page.evaluate("performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)")
    assert {"/static/staff.js", "/static/dom.js", "/static/api.js"} <= set(loaded)
    page.wait_for_selector("#login-view:not(.hidden)")
    page.fill("#username", user)
    page.fill("#password", "wrong")
    page.click("#login-form button")
    page.wait_for_selector("#login-error:has-text('登录失败')")
    login(page, server, path, user, password)
    page.click("#logout")
    page.wait_for_selector("#login-view:not(.hidden)")
    assert page.is_hidden("#app-view")
    page.context.close()


def test_the_agent_console_shows_chinese_labels_only(browser, server):
    agent = online_agent(browser, server)
    resident = resident_page(browser, server)
    ask(resident, "5栋电梯困人了，里面有老人，快来")
    resident.wait_for_selector("#agent-banner:not(.hidden)")
    item = claim_item(agent, "5栋电梯困人了")
    assert "紧急" in item and "排队中" in item and "紧急情况：电梯困人" in item and "网页" in item
    agent.wait_for_selector("#conv-title:has-text('处理中')")
    title = agent.inner_text("#conv-title")
    assert re.fullmatch(r"会话 #\d+ · 处理中", title.strip()), title
    card = agent.inner_text("#card")
    assert "紧急情况：电梯困人" in card and "优先级\n紧急" in card and "紧急情况" in card
    assert re.search(r"(平静|焦急|生气) \d+%", card), card
    assert agent.locator("#card .meter span").count() == 1
    agent.wait_for_selector("#mine:has-text('网页')")  # the agent's own list refreshes live after the claim
    mine = agent.inner_text("#mine")
    assert "紧急" in mine and "网页" in mine
    for region in ("#queue", "#mine", "#conv-title", "#card"):
        text = agent.inner_text(region)
        assert not ENGLISH_CODES.search(text), (region, ENGLISH_CODES.search(text), text)
    agent.click("#resolve")
    agent.wait_for_selector("#conv-title:has-text('已解决')")
    assert not ENGLISH_CODES.search(agent.inner_text("#conv-title"))
    agent.context.close()
    resident.context.close()


def test_agent_inserts_a_quick_reply_and_a_knowledge_answer_and_the_resident_rates_the_service(browser, server):
    admin = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
    login(admin, server, "/admin", "admin", "admin123")
    admin.click(".tabs button:has-text('快捷回复')")
    admin.wait_for_selector("#tab-quick:not(.hidden)")
    assert admin.locator("#tab-kb").is_hidden()
    admin.fill("#qr-shortcut", "wx")
    admin.fill("#qr-title", "维修已安排")
    admin.fill("#qr-text", "您好，维修师傅已安排，预计 30 分钟内上门。紧急情况请拨 {emergency_phone}")
    admin.click("#qr-form button[type=submit]")
    admin.wait_for_selector("#qr-admin-list .faqitem:has-text('/wx')")
    assert "已保存" in admin.inner_text("#qr-ok")

    agent = online_agent(browser, server)
    resident = resident_page(browser, server)
    ask(resident, "我要人工客服，热水器的事情")
    resident.wait_for_selector("#agent-banner:not(.hidden)")
    claim_item(agent, "热水器的事情")
    resident.wait_for_selector("text=已接入")

    # 快捷回复 by shortcut: "/wx" shows the picker, Enter inserts the text, then it is sent
    agent.click("#reply")
    agent.keyboard.type("/w")
    agent.wait_for_selector("#qr-list:not(.hidden) .qr-item[data-shortcut='wx']")
    agent.keyboard.type("x")
    agent.keyboard.press("Enter")
    # the 小区 variable rendered for this resident's 小区 (the widget's default: 锦绣花园)
    assert agent.input_value("#reply") == "您好，维修师傅已安排，预计 30 分钟内上门。紧急情况请拨 020-8888 6699"
    agent.keyboard.press("Enter")
    resident.wait_for_selector(".row.agent .bubble:has-text('维修师傅已安排')")
    assert agent.input_value("#reply") == ""
    # the picker button lists them too
    agent.click("#qr-toggle")
    agent.locator("#qr-list .qr-item[data-shortcut='wx']").click()
    assert "维修师傅已安排" in agent.input_value("#reply")
    agent.fill("#reply", "")

    # knowledge search: the answer rendered for this resident's 小区 goes into the reply box
    agent.fill("#kb-q", "几点上班")
    agent.click("#kb-form button[type=submit]")
    first = agent.locator("#kb-results .kb-item").first
    first.wait_for()
    assert first.get_attribute("data-id") == "office_hours"
    assert "锦绣花园" in agent.inner_text("#kb-community")
    first.locator("button:has-text('插入回复')").click()
    inserted = agent.input_value("#reply")
    assert "020-8888 6601" in inserted and "{" not in inserted
    agent.click("#send")
    resident.wait_for_selector(".row.agent .bubble:has-text('020-8888 6601')")

    # resolve: the resident gets the rating card, rates 5 with a comment; once only
    agent.click("#resolve")
    card = resident.locator(".rating-card")
    card.wait_for()
    assert card.locator(".stars button").count() == 5
    assert resident.locator("#chips .chip").count() == 0
    card.locator(".stars button[data-score='5']").click()
    assert card.locator(".stars button.on").count() == 5 and "非常满意" in card.inner_text()
    card.locator("input").fill("师傅很专业")
    card.locator("button.submit").click()
    resident.wait_for_selector(".rating-card .done")
    resident.wait_for_selector(".row.mine .bubble:has-text('评价：★★★★★ 5 分')")
    resident.wait_for_selector(".row.theirs .bubble:has-text('感谢您的评价')")
    agent.wait_for_selector(".tmsg.resident:has-text('师傅很专业')")

    admin.click(".tabs button:has-text('运营数据')")
    row = admin.locator("#ratings-by-agent tbody tr:has-text('客服小林')")
    row.wait_for()
    assert "5.00" in row.inner_text() or "5" in row.inner_text()
    assert admin.locator("#ratings-per-day tbody tr").count() >= 1
    for page in (admin, agent, resident):
        page.context.close()


def test_a_resident_can_type_the_rating_digit_instead(browser, server):
    agent = online_agent(browser, server)
    resident = resident_page(browser, server)
    ask(resident, "请帮我转人工客服")
    resident.wait_for_selector("#agent-banner:not(.hidden)")
    claim_item(agent, "请帮我转人工客服")
    agent.click("#resolve")
    resident.locator(".rating-card").wait_for()
    ask(resident, "4")
    resident.wait_for_selector(".row.theirs .bubble:has-text('感谢您的评价（4 分')")
    assert resident.locator(".rating-card").count() == 0  # the card closes once the resident answered
    agent.context.close()
    resident.context.close()
