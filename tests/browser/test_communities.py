"""The 小区 tab of /admin in Chromium (issue 26 point 3): an admin adds a 小区 (a bad phone first: refused in
Chinese naming the value, nothing saved), and a resident opening the new 小区's signed link is answered with its
office phone at once; an admin renames a 小区 (another's name refused), edits its work-order time limits (a bad one
refused naming its row, nothing written) and retires it (its link then starts nobody in it) and brings it back."""
from __future__ import annotations

import datetime as dt
import urllib.parse

from bot.access.auth import sign_community_link
from bot.work_orders import sla
from tests.browser.chromium import ask, login, needs_chromium

pytestmark = needs_chromium


def test_an_admin_adds_a_community_and_its_residents_get_its_office_phone(browser, server):
    page = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN").new_page()
    login(page, server, "/admin", "admin", "admin123")
    page.click('.tabs button[data-tab="communities"]')
    page.wait_for_selector("#tab-communities:not(.hidden) #cm-list .faqitem")
    assert page.locator("#tab-kb").is_hidden()
    page.click("#cm-list .faqitem[data-id='binjiang']")  # copy the values of an existing 小区 into a new one
    values = {i.get_attribute("data-key"): i.input_value() for i in page.locator("#cm-fields input[data-key]").all()}
    page.click("#cm-new")
    assert page.input_value("#cm-v-office_phone") == ""
    page.fill("#cm-id", "cuihu")
    for key, value in values.items():
        if not page.locator(f"#cm-v-{key}").count():  # a value the first 小区 has not: added by name
            page.fill("#cm-extra-key", key)
            page.click("#cm-form button:has-text('添加资料')")
        page.fill(f"#cm-v-{key}", value)
    page.fill("#cm-v-community_name", "翠湖苑")
    before = server.settings.communities_file.read_text(encoding="utf-8")
    page.fill("#cm-v-office_phone", "打这个电话")
    page.click("#cm-save")
    page.wait_for_selector("#cm-error:has-text('物业电话')")
    assert "office_phone" in page.inner_text("#cm-error")
    assert server.settings.communities_file.read_text(encoding="utf-8") == before
    page.fill("#cm-v-office_phone", "0755-2345 6789")
    page.click("#cm-save")
    page.wait_for_selector("#cm-ok:has-text('已保存')")
    page.wait_for_selector("#cm-list .faqitem[data-id='cuihu']")
    assert page.input_value("#cm-id") == "cuihu" and page.locator("#cm-id").is_disabled()
    page.context.close()

    resident = browser.new_context(viewport={"width": 390, "height": 780}).new_page()
    link = sign_community_link(server.settings.secret_key, "cuihu")
    resident.goto(server.url + "/?c=" + urllib.parse.quote(link))
    ask(resident, "物业电话是多少")
    resident.wait_for_selector(".row.theirs .bubble:has-text('0755-2345 6789')")
    assert "020-8888 6601" not in resident.inner_text("#messages")
    resident.context.close()


def test_an_admin_renames_edits_the_time_limits_of_and_retires_a_community(browser, server):
    page = browser.new_context(viewport={"width": 1300, "height": 1000}, locale="zh-CN").new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # 确定停用？
    login(page, server, "/admin", "admin", "admin123")
    page.click('.tabs button[data-tab="communities"]')
    page.click("#cm-list .faqitem[data-id='binjiang']")
    page.wait_for_selector("#cm-sla-table tr[data-category='电梯'][data-urgency='urgent']")
    assert page.input_value("#cm-sla-电梯-urgent-response") == "10m"  # binjiang's own limit, from data/sla.yml
    # rename: another 小区's name is refused, a new one is saved and listed
    page.fill("#cm-v-community_name", "锦绣花园")
    page.click("#cm-save")
    page.wait_for_selector("#cm-error:has-text('已被小区')")
    page.fill("#cm-v-community_name", "滨江壹号花园")
    page.click("#cm-save")
    page.wait_for_selector("#cm-list .faqitem[data-id='binjiang']:has-text('滨江壹号花园')")
    # time limits: a bad one refused naming its row, nothing written; a good one saved and used at once
    sla_file = server.settings.data_dir / "sla.yml"
    before = sla_file.read_text(encoding="utf-8")
    page.fill("#cm-sla-水电-normal-response", "两小时")
    page.click("#cm-sla-save")
    page.wait_for_selector("#cm-sla-error:has-text('“水电 · 一般”的响应时限“两小时”无效')")
    assert sla_file.read_text(encoding="utf-8") == before
    page.fill("#cm-sla-水电-normal-response", "45m")
    page.click("#cm-sla-save")
    page.wait_for_selector("#cm-sla-ok:has-text('已保存')")
    assert "normal: {response: 45m, completion: 1d}" in sla_file.read_text(encoding="utf-8")
    assert sla.current(sla_file).times("binjiang", "水电", "normal")[0] == dt.timedelta(minutes=45)
    # retire: marked in the list, its link starts nobody in it; then back in service
    page.click("#cm-retire")
    page.wait_for_selector("#cm-list .faqitem.retired[data-id='binjiang']:has-text('已停用')")
    assert page.locator("#cm-restore").is_visible() and not page.locator("#cm-retire").is_visible()
    resident = browser.new_context(viewport={"width": 390, "height": 780}).new_page()
    resident.goto(server.url + "/?c=" + urllib.parse.quote(sign_community_link(server.settings.secret_key, "binjiang")))
    resident.wait_for_selector("#messages:has-text('这个小区已停止在线服务')")
    resident.context.close()
    page.click("#cm-restore")
    page.wait_for_selector("#cm-list .faqitem[data-id='binjiang']:not(.retired)")
    page.context.close()
