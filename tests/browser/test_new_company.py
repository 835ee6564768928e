"""A real company's first day, end to end in Chromium (issue 26's walkthrough), on an EMPTY database (no demo data):
`wuye init` makes the admin → the admin signs in to /admin, adds a 小区 in 小区, imports its households (a GBK CSV)
and bills (an .xlsx) in 导入, and adds an agent serving that 小区 in 员工 → a resident of an imported room opens the
小区's signed link, accepts the privacy notice, binds with the imported phone (the code read from the SMS log), asks
查物业费 and sees the imported bill, then asks for a person → the agent, after the forced password change, sees that
resident's conversation in the queue and not another 小区's."""
from __future__ import annotations

import datetime as dt
import io
import re
import sys

import openpyxl
import pytest
import yaml

from bot.access.auth import sign_community_link
from bot.tools import cli
from bot.tools.devserver import LiveServer
from tests.browser.chromium import accept_privacy, login, needs_chromium

pytestmark = needs_chromium

ADMIN_PASSWORD = "Cuihu-admin-2026"
TEMP_PASSWORD = "Chushi-mima-01"
AGENT_PASSWORD = "Cuihu-kefu-2026"
PHONE = "13912345678"


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("new-company"), settings, parser, demo=False) as live:
        yield live


def files(tmp):
    households = tmp / "住户.csv"  # as Chinese Excel saves a CSV: GBK
    households.write_bytes(("小区,楼栋,单元,房号,业主姓名,手机号\n"
                            f"翠湖苑,1,1,101,陈静,{PHONE}\n"
                            "翠湖苑,1,1,102,刘洋,13912345679\n").encode("gbk"))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["小区", "楼栋", "单元", "房号", "账期", "应收", "已缴", "收费项目"])
    sheet.append(["翠湖苑", 1, 1, 101, dt.datetime(2026, 11, 1), 396.5, False, "物业费"])
    sheet.append(["翠湖苑", 1, 1, 102, dt.datetime(2026, 11, 1), 280.0, True, "物业费"])
    bills = tmp / "账单.xlsx"
    book.save(bills)
    return households, bills


def say(page, text, needle):
    page.fill("#input", text)
    page.press("#input", "Enter")
    return page.locator(f".row.theirs .bubble:has-text('{needle}')").last.wait_for(timeout=20000)


def test_a_new_company_from_wuye_init_to_an_agent_answering_its_resident(empty_server, browser, tmp_path, monkeypatch,
                                                                         capsys):
    server = empty_server
    services = server.app.state.services
    # 1. `wuye init` on the empty database: the first admin, nothing else
    monkeypatch.setenv("WUYE_DATABASE_URL", server.settings.database_url)
    monkeypatch.setattr(sys, "stdin", io.StringIO(ADMIN_PASSWORD + "\n"))
    assert cli.main(["init", "--username", "zhangjl", "--display-name", "张经理"]) == 0
    assert "已创建管理员 zhangjl" in capsys.readouterr().out

    # 2. the admin signs in and adds the 小区 (every value the answers need: the demo's, with its own name and phones)
    admin = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN").new_page()
    login(admin, server, "/admin", "zhangjl", ADMIN_PASSWORD)
    admin.click(".tabs button[data-tab='communities']")
    admin.wait_for_selector("#cm-list .faqitem")
    admin.click("#cm-new")
    admin.fill("#cm-id", "cuihu")
    template = yaml.safe_load(server.settings.communities_file.read_text(encoding="utf-8"))["communities"][0]
    own = {"community_name": "翠湖苑", "office_phone": "020-6666 1200", "emergency_phone": "020-6666 1299",
           "company_name": "翠湖物业服务有限公司", "office_address": "翠湖苑北门物业服务中心"}
    for key in admin.eval_on_selector_all("#cm-fields input[data-key]", "xs => xs.map(x => x.dataset.key)"):
        value = own.get(key, template.get(key))
        if value is not None:
            admin.fill(f"#cm-fields input[data-key='{key}']", str(value))
    admin.click("#cm-save")
    admin.wait_for_selector("#cm-ok:has-text('已保存')")
    assert admin.locator("#cm-list .faqitem[data-id='cuihu']").count() == 1

    # 3. 导入: households (GBK CSV) then bills (.xlsx), each checked first, then confirmed
    households, bills = files(tmp_path)
    admin.click(".tabs button[data-tab='import']")
    for kind, path, created in (("households", households, 2), ("bills", bills, 2)):
        admin.select_option("#im-kind", kind)
        admin.set_input_files("#im-file", str(path))
        admin.click("#im-check")
        admin.wait_for_selector("#im-confirm:not(.hidden)")
        assert admin.locator("#im-problems").is_hidden()
        admin.click("#im-confirm")
        admin.wait_for_function("document.getElementById('im-confirm').classList.contains('hidden')"
                                " && !document.getElementById('im-summary').textContent.includes('确认无误')")
        assert admin.locator("#im-problems").is_hidden(), admin.inner_text("#im-summary")
    from bot.storage.models import Bill, Household
    with services.db.session() as session:
        assert session.query(Household).filter_by(community_id="cuihu").count() == 2
        assert session.query(Bill).count() == 2

    # 4. 员工: an agent serving 翠湖苑 only, with a temporary password
    admin.click(".tabs button[data-tab='staff']")
    admin.wait_for_selector("#staff-table tbody tr[data-username='zhangjl']")
    admin.fill("#staff-username", "cuihu_kefu")
    admin.fill("#staff-display-name", "客服小翠")
    admin.fill("#staff-password", TEMP_PASSWORD)
    admin.select_option("#staff-role", "agent")
    admin.select_option("#staff-community", "cuihu")
    admin.click("#staff-add button[type=submit]")
    assert "待修改初始密码" in admin.wait_for_selector("#staff-table tbody tr[data-username='cuihu_kefu']").inner_text()

    # 5. the agent signs in: the temporary password must be changed first, then the console
    agent = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN").new_page()
    agent.goto(server.url + "/agent")
    agent.fill("#username", "cuihu_kefu")
    agent.fill("#password", TEMP_PASSWORD)
    agent.click("#login-form button")
    agent.wait_for_selector("#password-form")
    agent.fill("#old-password", TEMP_PASSWORD)
    agent.fill("#new-password", AGENT_PASSWORD)
    agent.fill("#new-password-again", AGENT_PASSWORD)
    agent.click("#password-form button")
    agent.wait_for_selector("#app-view:not(.hidden)")
    agent.wait_for_function("document.getElementById('conn').textContent.includes('在线')")

    # 6. another 小区's resident (no link: the default 小区) asks for a person first
    other = browser.raw.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN").new_page()
    other.goto(server.url + "/")
    accept_privacy(other)
    other.fill("#input", "锦绣的住户，转人工")
    other.press("#input", "Enter")
    other.wait_for_function("document.getElementById('state').textContent !== '智能助手为您服务'", timeout=20000)

    # 7. 翠湖苑's resident: the signed link, the privacy notice, binding with the imported phone, the imported bill
    link = sign_community_link(server.settings.secret_key, "cuihu")
    resident = browser.raw.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN").new_page()
    resident.goto(f"{server.url}/?c={link}")
    accept_privacy(resident)
    sent = len(services.engine.sms.sent)
    resident.fill("#input", "查物业费")
    resident.press("#input", "Enter")
    resident.locator(".row.theirs .bubble").nth(1).wait_for(timeout=20000)  # after the welcome: which room?
    say(resident, "1栋1单元101室", "验证码已发送")
    to, text = services.engine.sms.sent[-1]
    assert len(services.engine.sms.sent) == sent + 1 and to == PHONE
    code = re.search(r"验证码是 (\d{6})", text).group(1)
    say(resident, code, "验证成功")
    resident.locator(".row.theirs .bubble:has-text('396.5')").first.wait_for(timeout=20000)
    say(resident, "转人工", "人工")

    # 8. the agent's queue: this resident's conversation, not the other 小区's
    item = agent.locator("#queue .qitem").first
    item.wait_for(timeout=20000)
    agent.wait_for_timeout(1000)  # the other 小区's item, were it shown, would have arrived too
    assert agent.locator("#queue .qitem").count() == 1
    assert "锦绣的住户" not in agent.inner_text("#queue")
    waiting = "fetch('/api/agent/queue').then((r) => r.json()).then((q) => (q.queue || []).length + (q.others || []).length)"
    assert admin.evaluate(waiting) == 2  # both are waiting: the admin serves every 小区
    assert agent.evaluate(waiting) == 1  # the agent serves 翠湖苑 only, in the API as on the page
    item.locator("button:has-text('认领')").click()
    agent.wait_for_selector("#replybox:not(.hidden)")
    agent.locator("#log:has-text('查物业费')").wait_for()
    assert "锦绣的住户" not in agent.inner_text("#log")
    for page in (admin, agent, other, resident):
        page.context.close()
