"""The widget follows the resident's 小区 (issue 25, point 1): a company issues one signed link per 小区 (`wuye
community-link`), and a resident who opens it is answered with that 小区's numbers and hours, pages its on-duty phone
and binds its rooms. A link a page made up is refused; a bound household's 小区 decides over any link. Both demo
小区 in one run, over HTTP and in Chromium."""
from __future__ import annotations

import re

import httpx
import pytest

from bot.access.auth import sign_community_link
from bot.storage.models import Household
from bot.tools.devserver import LiveServer
from tests.browser.chromium import ARGS, CHROMIUM, HAVE_CHROMIUM, accept_privacy

JINXIU_EMERGENCY, BINJIANG_EMERGENCY = "020-8888 6699", "0571-8765 4399"


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("community-links"), settings, parser) as live:
        yield live


def widget(server, link=None) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    r = client.post("/api/widget/session", params={"c": link} if link else None)
    r.raise_for_status()
    client.link_state = r.json()["community_link"]  # type: ignore[attr-defined]
    return client


def say(client, text) -> str:
    r = client.post("/api/widget/messages", json={"text": text})
    r.raise_for_status()
    return " ".join(m["text"] for m in r.json()["replies"])


def test_a_residents_link_decides_the_numbers_the_page_and_the_rooms(server):
    services = server.app.state.services
    link = sign_community_link(services.settings.secret_key, "binjiang")
    binjiang = widget(server, link)
    assert binjiang.link_state == "valid"
    sent = len(services.engine.sms.sent)
    reply = say(binjiang, "5栋电梯困人了，快来人")
    assert BINJIANG_EMERGENCY in reply and JINXIU_EMERGENCY not in reply
    pages = [(to, text) for to, text in services.engine.sms.sent[sent:] if text.startswith("【紧急】")]
    assert pages == [(BINJIANG_EMERGENCY, "【紧急】滨江壹号 住户报告：5栋电梯困人了，快来人")]
    assert "9:00-18:30" in say(widget(server, link), "物业几点上班")  # 滨江's hours, not 锦绣's
    with services.db.session() as session:
        room = session.query(Household).filter(Household.community_id == "binjiang").order_by(Household.id).first().label
    resident = widget(server, link)
    say(resident, "查一下我家物业费")
    assert "验证码已发送" in say(resident, room)  # 滨江's rooms are found
    # no link: the default 小区; a link a page made up: refused and said so, the default 小区
    assert JINXIU_EMERGENCY in say(widget(server), "3栋电梯困人了，快来人")
    forged = widget(server, "binjiang")
    assert forged.link_state == "invalid"
    assert JINXIU_EMERGENCY in say(forged, "3栋电梯困人了，快来人")


def test_a_bound_household_decides_over_a_link(server):
    services = server.app.state.services
    resident = widget(server)  # a 锦绣 resident binds their room…
    with services.db.session() as session:
        household = session.query(Household).filter(Household.community_id == "jinxiu").order_by(Household.id).first()
        label, phone = household.label, household.phone
    say(resident, "查一下我家物业费")
    say(resident, label)
    code = re.search(r"验证码是 (\d{6})", services.engine.sms.sent[-1][1]).group(1)
    assert services.engine.sms.sent[-1][0] == phone
    assert "验证成功" in say(resident, code)
    # … then opens 滨江's link (a relative's estate): their own household still decides
    resident.post("/api/widget/session", params={"c": sign_community_link(services.settings.secret_key, "binjiang")})
    assert "8:30-18:00" in say(resident, "物业几点上班")


@pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no Chromium at {CHROMIUM}")
def test_two_小区_in_chromium_each_get_their_own_emergency_number(server):
    from playwright.sync_api import sync_playwright

    link = sign_community_link(server.app.state.services.settings.secret_key, "binjiang")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for url, number, notice in ((f"{server.url}/?c={link}", BINJIANG_EMERGENCY, None),
                                    (f"{server.url}/", JINXIU_EMERGENCY, None),
                                    (f"{server.url}/?c=binjiang", JINXIU_EMERGENCY, "小区链接无效")):
            page = browser.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN").new_page()
            page.goto(url)
            page.wait_for_function("window.wuyeWidget && window.wuyeWidget.transport() === 'websocket'")
            accept_privacy(page)  # a first visit: the privacy notice comes first
            page.fill("#input", "2栋电梯困人了，快来人")
            page.press("#input", "Enter")
            page.wait_for_selector(f".row.theirs .bubble:has-text('{number}')", timeout=15000)
            if notice:
                assert notice in page.inner_text("#messages")
            page.context.close()
        browser.close()
