"""The 小区 tab of /admin in Chromium (issue 26 point 3): an admin adds a 小区 (a bad phone first: refused in
Chinese naming the value, nothing saved), and a resident opening the new 小区's signed link is answered with its
office phone at once."""
from __future__ import annotations

import urllib.parse


from bot.access.auth import sign_community_link
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
