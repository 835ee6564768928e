"""The work-order desk (工单台) in Chromium: filter, open, assign, progress, and the resident told at each step."""
from __future__ import annotations

import re

from tests.browser.chromium import BOT_BUBBLES, ask, bot_texts, login, needs_chromium, resident_page

pytestmark = needs_chromium


def test_desk_filter_open_assign_progress_and_the_resident_sees_each_step(browser, server):
    resident = resident_page(browser, server)
    ask(resident, "我要报修")
    resident.wait_for_selector(f"{BOT_BUBBLES}:has-text('请简单描述一下需要维修的问题')")
    ask(resident, "主卧空调插座没电")
    resident.wait_for_selector(f"{BOT_BUBBLES}:has-text('请问维修地点是哪里')")
    ask(resident, "6栋1单元602，13500135000，尽快")
    resident.wait_for_selector("#chips .chip:has-text('一般')")
    resident.click("#chips .chip:text-is('一般')")
    created = resident.locator(f"{BOT_BUBBLES}:has-text('已为您创建维修工单')")
    created.wait_for()
    number = re.search(r"WO\d{11}", created.inner_text()).group(0)

    desk = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    login(desk, server, "/desk", "agent", "agent123")
    desk.wait_for_selector("#orders tbody tr")
    desk.select_option("#f-status", "待受理")
    desk.select_option("#f-category", "水电")
    desk.wait_for_function("[...document.querySelectorAll('#orders tbody tr .status')].every((td) => td.textContent === '待受理')")
    desk.fill("#f-q", number)
    desk.click("#filters button[type=submit]")
    row = desk.locator(f"#orders tbody tr[data-number='{number}']")
    desk.wait_for_function("document.querySelectorAll('#orders tbody tr').length === 1")
    assert "前" in row.inner_text()  # the response deadline
    row.click()
    desk.wait_for_selector(f"#d-title:has-text('{number} · 待受理')")
    fields = desk.inner_text("#d-fields")
    assert "13500135000" in fields and "主卧空调插座没电" in fields and "6栋1单元602" in fields
    assert "业主通过在线客服报修" in desk.inner_text("#events")
    assert "主卧空调插座没电" in desk.inner_text("#d-conv")
    assert desk.locator(".status-btn").all_inner_texts() == ["取消工单"]  # 待受理: assign (派单) or cancel only
    desk.select_option("#assign-tech", label="王工")
    desk.fill("#assign-note", "先电话联系")
    desk.click("#assign-btn")
    desk.wait_for_selector(f"#d-title:has-text('{number} · 已派单')")
    assert "派单给王工：先电话联系" in desk.inner_text("#events")
    resident.wait_for_selector(f"{BOT_BUBBLES}:has-text('师傅王工已接单')")
    assert re.search(r"预计(今天|明天) \d\d:\d\d前上门", bot_texts(resident)[-1]), bot_texts(resident)[-1]

    assert desk.locator(".status-btn").all_inner_texts() == ["开始维修", "取消工单"]  # no jump to 已完成
    desk.click(".status-btn[data-status='维修中']")
    desk.wait_for_selector(f"#d-title:has-text('{number} · 维修中')")
    resident.wait_for_selector(f"{BOT_BUBBLES}:has-text('师傅王工已开始维修')")
    desk.fill("#status-note", "更换了插座面板")
    desk.click(".status-btn[data-status='已完成']")
    desk.wait_for_selector(f"#d-title:has-text('{number} · 已完成')")
    assert desk.locator("#assign-box").is_hidden() and desk.locator("#status-box").is_hidden()
    resident.wait_for_selector(f"{BOT_BUBBLES}:has-text('已维修完成（更换了插座面板）')")
    resident.wait_for_selector("#chips .chip:has-text('5 非常满意')")
    resident.click("#chips .chip:has-text('5 非常满意')")
    resident.wait_for_selector(f"{BOT_BUBBLES}:has-text('感谢您的评价（5 分')")
    desk.select_option("#f-status", "已完成")  # the filter was 待受理: the finished order is listed under 已完成
    row.click()
    desk.wait_for_selector("#d-fields:has-text('业主评价')")

    admin = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
    login(admin, server, "/admin", "admin", "admin123")
    admin.click(".tabs button:has-text('运营数据')")
    admin.wait_for_selector("#wo-kpis .kpi")
    assert "按时派单" in admin.inner_text("#wo-kpis") and "已完成" in admin.inner_text("#wo-by-status")
    for page in (admin, desk, resident):
        page.context.close()
