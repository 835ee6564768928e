"""The visit time a resident asked for, as people see it in Chromium (issue 25, point 5): the resident is promised the
morning they asked for, and the desk shows it in words ("明天 上午 9:00–12:00"), never the stored ISO value."""
from __future__ import annotations

import re

from tests.browser.chromium import BOT_BUBBLES, ask, login, needs_chromium, resident_page

pytestmark = needs_chromium


def test_the_morning_asked_for_is_promised_and_shown_on_the_desk_in_words(browser, server):
    resident = resident_page(browser, server)
    ask(resident, "我要报修")
    resident.wait_for_selector(f"{BOT_BUBBLES}:has-text('请简单描述一下需要维修的问题')")
    ask(resident, "次卧窗户关不上")
    resident.wait_for_selector(f"{BOT_BUBBLES}:has-text('请问维修地点是哪里')")
    ask(resident, "6栋1单元602，13500135000，明天上午")
    resident.wait_for_selector("#chips .chip:has-text('一般')")
    resident.click("#chips .chip:text-is('一般')")
    created = resident.locator(f"{BOT_BUBBLES}:has-text('已为您创建维修工单')")
    created.wait_for()
    assert "师傅将于明天上午（9:00–12:00）上门维修" in created.inner_text(), created.inner_text()
    number = re.search(r"WO\d{11}", created.inner_text()).group(0)

    desk = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    login(desk, server, "/desk", "agent", "agent123")
    desk.wait_for_selector("#orders tbody tr")
    desk.fill("#f-q", number)
    desk.press("#f-q", "Enter")
    row = desk.locator(f"#orders tbody tr[data-number='{number}']")
    row.wait_for()
    row.click()
    desk.wait_for_selector("#d-fields:has-text('期望时间')")
    fields = desk.inner_text("#d-fields")
    assert "明天 上午 9:00–12:00" in fields and "T09:00" not in fields and "上午" in fields, fields
    for page in (desk, resident):
        page.context.close()
