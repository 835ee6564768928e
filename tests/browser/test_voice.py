"""Residents' voice in Chromium (issue 28 point 2): a resident's suggestion gets a number, appears in /admin's 建议 tab
and the admin's reply reaches the resident's widget live; a poll created in /admin's 投票 tab is voted on in the
widget (a chip) and on WeChat (signed XML, a typed digit), once per household, and the results chart follows."""
from __future__ import annotations

import datetime as dt
import re
import threading
from http.server import HTTPServer

import httpx
import pytest
import sqlalchemy as sa

from bot.storage.models import ChatIdentity, Household
from bot.tools.devserver import LiveServer, free_port
from connectors.wechat import parse_xml
from tests.browser.chromium import BOT_BUBBLES, ask, login, needs_chromium, resident_page, server_today
from tests.integration.test_wechat import APP_ID, TOKEN, FakeWeChatApi, signed, text_xml

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    """A live server with the WeChat channel on (plain mode), its customer-service API a local stand-in."""
    api = HTTPServer(("127.0.0.1", free_port()), FakeWeChatApi)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    overrides = dict(wechat_token=TOKEN, wechat_aes_key="", wechat_app_id=APP_ID, wechat_app_secret="s",
                     wechat_api_base=f"http://127.0.0.1:{api.server_port}")
    with LiveServer(tmp_path_factory.mktemp("voice-browser"), settings, parser, **overrides) as live:
        yield live
    api.shutdown()


def _households(server, n=2):
    with server.app.state.services.db.session() as s:
        return [(h.id, h.building) for h in s.scalars(sa.select(Household).where(Household.community_id == "jinxiu")
                                                     .order_by(Household.id).limit(n))]


def _bind(server, channel, sender_id, household_id):
    """The identity verified for the household (what the binding flow's SMS code does: tested in its own tests)."""
    with server.app.state.services.db.session() as s:
        identity = s.scalar(sa.select(ChatIdentity).where(ChatIdentity.channel == channel,
                                                          ChatIdentity.sender_id == sender_id))
        if identity is None:
            identity = ChatIdentity(channel=channel, sender_id=sender_id, created_at=server.app.state.services.clock())
            s.add(identity)
        identity.household_id, identity.verified_at = household_id, server.app.state.services.clock()


def _newest_web_sender(server):
    with server.app.state.services.db.session() as s:
        return s.scalar(sa.select(ChatIdentity.sender_id).where(ChatIdentity.channel == "web")
                        .order_by(ChatIdentity.id.desc()))


def _wechat(server, openid, text, msg_id):
    r = httpx.post(server.url + "/wechat", params=signed(), content=text_xml(openid, text, msg_id), timeout=30)
    return parse_xml(r.content)["Content"]


def test_a_suggestion_gets_a_number_appears_for_the_admin_and_the_reply_reaches_the_resident(browser, server):
    resident = resident_page(browser, server)
    ask(resident, "建议物业在小区东门装一个智能快递柜，取件方便很多")
    bubble = resident.locator(BOT_BUBBLES + ":has-text('感谢您的建议')").first
    bubble.wait_for(timeout=60000)
    number = re.search(r"编号 (JY\d{11})", bubble.inner_text()).group(1)

    admin = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN").new_page()
    login(admin, server, "/admin", "admin", "admin123")
    admin.click(".tabs button:has-text('建议')")
    item = admin.locator(f".sg-item[data-number='{number}']")
    item.wait_for()
    assert admin.locator("#tab-kb").is_hidden() and "待处理" in item.inner_text()
    assert "快递柜" in item.inner_text()
    item.locator(".sg-reply-text").fill("已经采纳，快递柜下个月安装。")
    item.locator(".sg-reply-status").select_option("adopted")
    item.locator("button[type=submit]").click()
    admin.locator(f".sg-item[data-number='{number}'] .sg-state:has-text('已采纳')").wait_for()
    resident.locator(BOT_BUBBLES + ":has-text('物业回复：已经采纳，快递柜下个月安装。')").wait_for()  # live, no reload
    assert number in resident.locator(BOT_BUBBLES).last.inner_text()
    admin.context.close()
    resident.context.close()


def test_a_poll_from_the_admin_is_voted_in_the_widget_and_on_wechat_once_per_household(browser, server):
    (first, _), (second, _) = _households(server)
    today = server_today(server)
    admin = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN").new_page()
    login(admin, server, "/admin", "admin", "admin123")
    admin.click(".tabs button:has-text('投票')")
    admin.wait_for_selector("#pl-community option", state="attached")
    admin.fill("#pl-opens", f"{today}T00:00")
    admin.fill("#pl-closes", f"{today + dt.timedelta(days=3)}T20:00")
    admin.fill("#pl-question", "小区东门是否改为24小时开放？")
    admin.fill("#pl-options", "同意")
    admin.click("#pl-save")
    admin.wait_for_selector("#pl-error:has-text('选项需要 2–6 个')")  # refused in Chinese, nothing created
    admin.fill("#pl-options", "同意\n不同意")
    admin.click("#pl-save")
    poll = admin.locator(".pl-poll:has-text('小区东门是否改为24小时开放？')").first
    poll.wait_for()
    poll_id = poll.get_attribute("data-poll")
    assert "每户一票" in poll.inner_text() and "进行中" in poll.inner_text()
    assert admin.locator(".pl-poll:has-text('小区东门是否改为24小时开放？')").count() == 1

    def votes(option):
        return f".pl-poll[data-poll='{poll_id}'] .pl-bar[data-option='{option}']"

    # the widget: a resident of the first household asks, taps 不同意
    resident = resident_page(browser, server)
    ask(resident, "你好")
    resident.locator(BOT_BUBBLES).first.wait_for()
    _bind(server, "web", _newest_web_sender(server), first)
    ask(resident, "小区最近有什么投票吗")
    resident.locator(BOT_BUBBLES + ":has-text('【投票】小区东门是否改为24小时开放？')").wait_for()
    resident.locator("#chips .chip:has-text('不同意')").click()
    resident.locator(BOT_BUBBLES + ":has-text('投票成功！您选择了“不同意”')").wait_for()
    admin.wait_for_selector(votes(2) + "[data-votes='1']", timeout=15000)  # the chart follows (every 3 s)

    # WeChat: a resident of the second household types the digit after the offer
    _bind(server, "wechat", "o_voter2", second)
    offer = _wechat(server, "o_voter2", "我要投票", 910001)
    assert "小区东门是否改为24小时开放？" in offer and "1. 同意" in offer and "回复选项的数字" in offer
    assert _wechat(server, "o_voter2", "1", 910002) == "投票成功！您选择了“同意”，感谢参与。"
    admin.wait_for_selector(votes(1) + "[data-votes='1']", timeout=15000)

    # WeChat: another member of the first household: already voted, nothing counted twice
    _bind(server, "wechat", "o_voter1b", first)
    again = _wechat(server, "o_voter1b", "投票", 910003)
    assert "已经参加了投票" in again and "不同意" in again
    _wechat(server, "o_voter1b", "1", 910004)  # no poll offered: not a vote
    admin.wait_for_timeout(3500)
    assert admin.locator(votes(1)).get_attribute("data-votes") == "1"
    assert admin.locator(votes(2)).get_attribute("data-votes") == "1"
    assert admin.locator(f".pl-poll[data-poll='{poll_id}'] .pl-total").inner_text() == "2"
    csv = admin.context.request.get(server.url + f"/api/admin/polls/{poll_id}/results.csv")
    assert "同意,1,50.0%" in csv.text() and "合计,2" in csv.text()
    admin.context.close()
    resident.context.close()


def test_the_admin_links_a_poll_to_a_notice_and_the_widgets_banner_offers_it(browser, server):
    today = server_today(server)
    admin = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN").new_page()
    login(admin, server, "/admin", "admin", "admin123")
    request = admin.context.request
    notice = request.post(server.url + "/api/admin/notices", data={
        "community_id": "jinxiu", "kind": "activity", "title": "东门开放时间征求意见", "text": "欢迎业主参与投票。",
        "starts_at": f"{today} 00:00", "ends_at": f"{today + dt.timedelta(days=2)} 20:00"}).json()
    poll = request.post(server.url + "/api/admin/polls", data={
        "community_id": "jinxiu", "question": "周末是否开放游泳池？", "options": ["开放", "不开放"],
        "opens_at": f"{today} 00:00", "closes_at": f"{today + dt.timedelta(days=2)} 20:00"}).json()
    admin.click(".tabs button:has-text('投票')")
    box = admin.locator(f".pl-poll[data-poll='{poll['id']}']")
    box.locator(f".pl-notice option[value='{notice['id']}']").wait_for(state="attached")
    box.locator(".pl-notice").select_option(str(notice["id"]))
    box.locator("button:has-text('在通知里加投票入口')").click()
    box.locator(".pl-link-status:has-text('已加到通知“东门开放时间征求意见”')").wait_for()

    resident = resident_page(browser, server)
    button = resident.locator(f".notice[data-id='{notice['id']}'] .notice-poll")
    button.wait_for()
    button.click()
    resident.locator(BOT_BUBBLES + ":has-text('【投票】周末是否开放游泳池？')").wait_for()
    assert "参与投票" in resident.locator(".row.mine .bubble").last.inner_text()  # the title, not "/poll 3"
    admin.context.close()
    resident.context.close()
