"""The work-order desk (工单台) in Chromium: filter, open, assign, progress, complete with a confirmation, and the
resident told at each step; on a 390 px phone as a technician: list → detail → back, only his buttons, nothing wider
than the screen, and a completion with a note and a photo stored and shown."""
from __future__ import annotations

import io
import re

import httpx
from PIL import Image

from bot.access import accounts
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
    # the wide layout as it was: list and detail side by side, no 返回 control
    assert desk.locator("#list-panel").is_visible() and desk.locator("#detail-panel").is_visible()
    assert desk.locator("#back").is_hidden() and desk.locator("#filters").is_visible()
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
    assert re.search(r"预计(今天|明天) \d\d:\d\d 前上门", bot_texts(resident)[-1]), bot_texts(resident)[-1]

    assert desk.locator(".status-btn").all_inner_texts() == ["开始维修", "取消工单"]  # no jump to 已完成
    desk.click(".status-btn[data-status='维修中']")
    desk.wait_for_selector(f"#d-title:has-text('{number} · 维修中')")
    resident.wait_for_selector(f"{BOT_BUBBLES}:has-text('师傅王工已开始维修')")
    desk.click(".status-btn[data-status='已完成']")  # 完成 asks first: a note is required
    desk.wait_for_selector("#complete-box:not(.hidden)")
    desk.click("#complete-confirm")
    assert "请填写完成说明" in desk.inner_text("#desk-error") and "维修中" in desk.inner_text("#d-title")
    desk.fill("#complete-note", "更换了插座面板")
    desk.click("#complete-confirm")
    desk.wait_for_selector(f"#d-title:has-text('{number} · 已完成')")
    assert "更换了插座面板" in desk.inner_text("#d-completion")
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


PHONE = {"width": 390, "height": 844}
NO_OVERFLOW = ("document.documentElement.scrollWidth <= 390 && [...document.querySelectorAll('.panel')]"
               ".every((p) => p.offsetParent === null || p.scrollWidth <= p.clientWidth)")


def _report_by_rest(server, what: str) -> tuple:
    """A resident's repair report over the widget's REST fallback: (the resident's client, the order number)."""
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/widget/session").raise_for_status()
    for text in ("我要报修", what, "8栋2单元702，13700137000，尽快", "一般"):
        client.post("/api/widget/messages", json={"text": text}).raise_for_status()
    texts = [m["text"] for m in client.get("/api/widget/history").json()["messages"] if m["sender"] == "bot"]
    return client, re.search(r"WO\d{11}", next(t for t in reversed(texts) if "已为您创建维修工单" in t)).group(0)


def _photo(tmp_path):
    path = tmp_path / "done.jpg"
    Image.new("RGB", (320, 240), (40, 160, 90)).save(path, format="JPEG")
    return path


def test_a_technician_works_an_order_on_a_390px_phone(browser, server, tmp_path):
    resident, number = _report_by_rest(server, "卫生间水龙头一直滴水")
    agent = httpx.Client(base_url=server.url, timeout=30)
    agent.post("/api/auth/login", json={"username": "agent", "password": "agent123"}).raise_for_status()
    order_id = agent.get("/api/staff/work-orders", params={"q": number}).json()["orders"][0]["id"]
    wang = next(t["id"] for t in agent.get("/api/staff/work-orders/technicians").json()["technicians"] if t["name"] == "王工")
    agent.post(f"/api/staff/work-orders/{order_id}/assign", json={"technician_id": wang}).raise_for_status()

    phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True).new_page()
    login(phone, server, "/desk", "tech1", "tech123")
    phone.wait_for_selector("#orders tbody tr")
    assert phone.is_checked("#f-mine") and phone.locator("#agent-link").is_hidden()  # his orders; no console link
    assert phone.locator("#filters").is_hidden()  # the filters fold away: the list first
    phone.click("#filter-box > summary")
    phone.fill("#f-q", number)
    phone.click("#filters button[type=submit]")
    phone.wait_for_function("document.querySelectorAll('#orders tbody tr').length === 1")
    row = phone.locator(f"#orders tbody tr[data-number='{number}']")
    assert "8栋2单元702" in row.inner_text() and "已派单" in row.inner_text()
    assert phone.evaluate(NO_OVERFLOW), "the list is wider than the phone"
    box = row.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390

    # list → detail (full screen, in the address) → 返回 → detail → the browser's back
    row.tap()
    phone.wait_for_selector(f"#d-title:has-text('{number} · 已派单')")
    assert phone.url.endswith(f"#order-{order_id}")
    assert phone.locator("#list-panel").is_hidden() and phone.locator("#back").is_visible()
    assert phone.locator("text=取消工单").count() == 0 and phone.locator("#assign-box").is_hidden()
    assert phone.locator(".status-btn").all_inner_texts() == ["开始维修"]  # his only move now
    assert phone.evaluate(NO_OVERFLOW), "the detail is wider than the phone"
    phone.click("#back")
    phone.wait_for_selector("#list-panel", state="visible")
    assert phone.locator("#detail-panel").is_hidden() and "#order-" not in phone.url
    row.tap()
    phone.wait_for_selector("#detail-panel", state="visible")
    phone.go_back()
    phone.wait_for_selector("#list-panel", state="visible")
    assert phone.locator("#detail-panel").is_hidden()
    phone.go_forward()  # forward again: the same order, as the address says
    phone.wait_for_selector(f"#d-title:has-text('{number} · 已派单')")

    phone.click(".status-btn[data-status='维修中']")
    phone.wait_for_selector(f"#d-title:has-text('{number} · 维修中')")
    assert phone.locator(".status-btn").all_inner_texts() == ["完成"]
    # 完成: a confirmation; without a note nothing is sent
    phone.click(".status-btn[data-status='已完成']")
    phone.wait_for_selector("#complete-box:not(.hidden)")
    assert phone.locator("#status-box").is_hidden()
    phone.click("#complete-confirm")
    assert "请填写完成说明" in phone.inner_text("#desk-error")
    assert agent.get(f"/api/staff/work-orders/{order_id}").json()["status"] == "维修中"
    phone.set_input_files("#complete-photo", str(_photo(tmp_path)))
    phone.wait_for_selector("#complete-photo-state:has-text('照片已上传')")
    preview = phone.get_attribute("#complete-preview img", "src")
    assert re.fullmatch(r"/uploads/[0-9a-f]{48}\.jpg", preview), preview
    phone.fill("#complete-note", "更换了水龙头阀芯，已试水无渗漏")
    assert phone.evaluate(NO_OVERFLOW), "the confirmation is wider than the phone"
    phone.click("#complete-confirm")
    phone.wait_for_selector(f"#d-title:has-text('{number} · 已完成')")

    # shown: the completion with its photo, and the history
    completion = phone.locator("#d-completion")
    assert "更换了水龙头阀芯，已试水无渗漏" in completion.inner_text() and "王工" in completion.inner_text()
    assert completion.locator("img").get_attribute("src") == preview
    assert phone.evaluate("document.querySelector('#d-completion img').naturalWidth") == 320  # the photo loads
    assert "更换了水龙头阀芯，已试水无渗漏" in phone.inner_text("#events")
    assert phone.locator(".status-btn").count() == 0 and phone.locator("#complete-box").is_hidden()
    assert phone.evaluate(NO_OVERFLOW)
    # stored: the note and the photo in the completing event; the resident told, with the note
    order = agent.get(f"/api/staff/work-orders/{order_id}").json()
    assert order["status"] == "已完成" and order["completed_at"]
    assert order["completion"] == {"note": "更换了水龙头阀芯，已试水无渗漏", "photos": [preview], "by": "王工",
                                   "at": order["events"][-1]["at"]}
    told = [m["text"] for m in resident.get("/api/widget/history").json()["messages"] if m["sender"] == "bot"][-1]
    assert "已维修完成（更换了水龙头阀芯，已试水无渗漏）" in told
    phone.context.close()


def test_the_assign_list_offers_only_technicians_who_serve_the_orders_community(browser, server):
    with server.app.state.services.db.session() as session:
        accounts.create_staff(session, username="bj_shifu", display_name="滨江师傅", password="Binjiang-shifu-1",
                              role="technician", community_id="binjiang", known_communities=["binjiang"],
                              must_change_password=False)
    admin = httpx.Client(base_url=server.url, timeout=30)
    admin.post("/api/auth/login", json={"username": "admin", "password": "admin123"}).raise_for_status()
    orders = admin.get("/api/staff/work-orders", params={"limit": 500}).json()["orders"]
    desk = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    login(desk, server, "/desk", "admin", "admin123")
    for community, offered in (("jinxiu", False), ("binjiang", True)):
        number = next(o["number"] for o in orders if o["community_id"] == community and o["status"] == "待受理")
        desk.fill("#f-q", number)
        desk.click("#filters button[type=submit]")
        desk.locator(f"#orders tbody tr[data-number='{number}']").click()
        desk.wait_for_selector(f"#d-title:has-text('{number}')")
        names = desk.locator("#assign-tech option").all_inner_texts()
        assert "王工" in names and ("滨江师傅" in names) is offered, (community, names)
