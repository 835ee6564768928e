"""Two admins growing the knowledge base at once in Chromium: saves of different entries of one file both go through,
a change to the same entry is a conflict that keeps the admin's text; a retired entry says so in its heading; a
failed question turned into an entry leaves 未解决问题, and a group of them is added, every question, to the entry
the admin picks (none is picked for them)."""
from __future__ import annotations

import httpx

from tests.browser.chromium import login, needs_chromium
from tests.clients import signed_in

pytestmark = needs_chromium


def admin_page(browser, server):
    page = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN").new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # 确定停用吗？
    login(page, server, "/admin", "admin", "admin123")
    return page


def open_entry(page, faq_id, search):
    page.fill("#search", search)
    page.locator(f".faqitem[data-id='{faq_id}']").click()
    page.wait_for_selector(f"#edit-title:has-text('{faq_id}')")


def save(page):
    page.click("#f-save")
    page.wait_for_function("document.getElementById('save-ok').textContent || document.getElementById('save-error').textContent")
    return page.inner_text("#save-ok"), page.inner_text("#save-error")


def test_two_admins_save_different_entries_of_one_file_and_a_real_conflict_keeps_the_text(browser, server):
    one, two = admin_page(browser, server), admin_page(browser, server)
    open_entry(one, "pets", "宠物")
    open_entry(two, "garbage_sorting", "垃圾分类")  # pets and garbage_sorting are both in data/faq/living.yml
    one.fill("#f-answer", one.input_value("#f-answer") + "\n遛狗请牵绳。")
    assert save(one)[0].startswith("已保存")
    two.fill("#f-answer", two.input_value("#f-answer") + "\n厨余垃圾请破袋投放。")
    ok, error = save(two)
    assert ok.startswith("已保存") and not error  # nobody had touched garbage_sorting: no 已被他人修改
    living = (server.settings.faq_dir / "living.yml").read_text(encoding="utf-8")
    assert "遛狗请牵绳" in living and "厨余垃圾请破袋投放" in living

    # both on pets now: the second save would overwrite the first one's words, so it is refused, text kept
    open_entry(two, "pets", "宠物")
    one.fill("#f-answer", one.input_value("#f-answer") + "\n宠物粪便请及时清理。")
    assert save(one)[0].startswith("已保存")
    two.fill("#f-answer", two.input_value("#f-answer") + "\n小区内禁止饲养烈性犬。")
    ok, error = save(two)
    assert not ok and "已被他人修改" in error and "小区内禁止饲养烈性犬" in two.input_value("#f-answer")
    living = (server.settings.faq_dir / "living.yml").read_text(encoding="utf-8")
    assert "宠物粪便请及时清理" in living and "小区内禁止饲养烈性犬" not in living
    one.context.close()
    two.context.close()


def test_a_retired_entry_says_so_in_its_heading_and_a_failed_question_made_an_entry_leaves_the_list(browser, server):
    resident = httpx.Client(base_url=server.url, timeout=60)
    resident.post("/api/widget/session").raise_for_status()
    resident.post("/api/widget/messages", json={"text": "楼顶可以装太阳能热水器吗"}).raise_for_status()
    page = admin_page(browser, server)
    page.click(".tabs button[data-tab=failures]")
    group = page.locator("#failures .qitem:has-text('楼顶可以装太阳能热水器吗')")
    group.locator("button:has-text('新建条目')").click()
    page.wait_for_selector("#tab-kb:not(.hidden)")
    assert page.input_value("#f-questions") == "楼顶可以装太阳能热水器吗"
    assert "建议至少 3 个" in page.inner_text("#f-hint")
    page.fill("#f-title", "安装太阳能热水器")
    page.fill("#f-questions", "楼顶可以装太阳能热水器吗\n能不能在屋顶装太阳能\n阳台可以装太阳能板吗")
    page.fill("#f-answer", "楼顶属于公共区域，安装太阳能需先到物业服务中心申请，电话{office_phone}。")
    ok, error = save(page)
    assert ok.startswith("已创建") and not error
    page.click(".tabs button[data-tab=failures]")
    page.wait_for_function("!document.getElementById('failures').textContent.includes('楼顶可以装太阳能热水器吗')")

    page.click(".tabs button[data-tab=kb]")
    page.click("#f-retire")
    page.wait_for_selector("#save-ok:has-text('已停用')")
    assert "已停用" in page.inner_text("#edit-title") and page.is_visible("#f-restore")
    page.click("#f-restore")
    page.wait_for_selector("#save-ok:has-text('已重新启用')")
    assert "已停用" not in page.inner_text("#edit-title")
    page.context.close()


def test_a_failed_group_is_added_to_the_entry_the_admin_picks_every_question_of_it(browser, server):
    for text in ("小区允许放无人机吗", "请问小区允许放无人机吗"):
        resident = httpx.Client(base_url=server.url, timeout=60)
        resident.post("/api/widget/session").raise_for_status()
        resident.post("/api/widget/messages", json={"text": text}).raise_for_status()
    page = admin_page(browser, server)
    page.click(".tabs button[data-tab=failures]")
    group = page.locator("#failures .qitem:has-text('请问小区允许放无人机吗')")
    group.wait_for()
    assert "小区允许放无人机吗 /" in group.inner_text() or "/ 小区允许放无人机吗" in group.inner_text()
    button = group.locator("button:has-text('加为该 FAQ 的问法')")
    assert group.locator("select").input_value() == "" and button.is_disabled()  # nothing chosen for the admin
    group.locator("select").select_option("amenities")
    button.click()
    group.locator("button:has-text('已添加 2 个问法')").wait_for()
    entry = signed_in(server).get("/api/admin/faq/amenities").json()
    assert {"小区允许放无人机吗", "请问小区允许放无人机吗"} <= set(entry["questions"])
    page.context.close()
