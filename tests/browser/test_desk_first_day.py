"""A technician's phone (390 px) on /desk while a dispatcher changes the same orders: an order cancelled under the
technician's eyes shows as cancelled, without buttons, once the list is read again or a button is refused; the
refusal reads as Chinese (工单当前状态为“已取消”, not 工单已已取消)."""
from __future__ import annotations

from tests.browser.chromium import login, needs_chromium
from tests.clients import signed_in

pytestmark = needs_chromium


def tech_phone(browser, server):
    page = browser.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN", is_mobile=True,
                               has_touch=True).new_page()
    login(page, server, "/desk", "tech1", "tech123")
    page.wait_for_selector("#orders tbody tr")
    return page


def assigned_to_wang(agent, count):
    wang = next(t for t in agent.get("/api/staff/work-orders/technicians").json()["technicians"] if t["name"] == "王工")
    waiting = [o for o in agent.get("/api/staff/work-orders").json()["orders"]
               if o["status"] == "待受理" and o["community_id"] == "jinxiu"][:count]
    for o in waiting:
        assert agent.post(f"/api/staff/work-orders/{o['id']}/assign", json={"technician_id": wang["id"], "note": ""}).status_code == 200
    return waiting


def open_order(page, number):
    page.locator(f"#orders tbody tr:has-text('{number}')").click()
    page.wait_for_selector(f"#d-title:has-text('{number} · 已派单')")
    assert page.locator("#status-buttons button").all_inner_texts() == ["开始维修"]


def test_an_order_cancelled_by_the_dispatcher_is_shown_cancelled_on_the_technicians_phone(browser, server):
    agent = signed_in(server, "agent")
    first, second = assigned_to_wang(agent, 2)
    page = tech_phone(browser, server)

    open_order(page, first["number"])
    r = agent.post(f"/api/staff/work-orders/{first['id']}/status", json={"status": "已取消", "note": "业主已自行修好"})
    assert r.status_code == 200
    page.click("#status-buttons button:has-text('开始维修')")
    page.wait_for_selector(f"#d-title:has-text('{first['number']} · 已取消')")
    assert page.inner_text("#desk-error") == "工单当前状态为“已取消”，不能再派单或修改"
    assert page.locator("#status-buttons button").count() == 0 and page.is_hidden("#status-box")

    page.click("#back")
    open_order(page, second["number"])
    r = agent.post(f"/api/staff/work-orders/{second['id']}/status", json={"status": "已取消", "note": "重复报修"})
    assert r.status_code == 200
    page.locator("#filters").evaluate("(form) => form.requestSubmit()")  # the list read again (every 30 s by itself)
    page.wait_for_selector(f"#d-title:has-text('{second['number']} · 已取消')")
    assert page.locator("#status-buttons button").count() == 0
    page.context.close()
