"""The widget's privacy notice in Chromium (issue 26): a first visit shows what is kept, for how long, and that the
resident may ask for an export or erasure; nothing can be typed or is stored before 同意并继续; after it the
message is stored, and a reload (the acceptance kept on the server) does not ask again."""
from __future__ import annotations

from tests.browser.chromium import ask, needs_chromium, stored_resident_rows

pytestmark = needs_chromium


def test_a_first_visit_asks_before_anything_is_stored_and_a_reload_does_not_ask_again(browser, server):
    context = browser.raw.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN")  # no acceptance yet
    page = context.new_page()
    page.goto(server.url + "/")
    page.locator("#privacy-notice:not(.hidden)").wait_for()
    notice = page.inner_text("#privacy-notice")
    days = server.settings
    for needle in ["聊天记录", f"{days.retention_messages_days} 天", f"{days.retention_phones_days} 天",
                   f"{days.retention_photos_days} 天", "导出或删除", "同意并继续"]:
        assert needle in notice
    assert page.is_disabled("#input") and page.is_disabled("#send")
    # the welcome's buttons send nothing either, and no message reaches the server
    chips = page.locator("#chips .chip")
    if chips.count():
        chips.first.click()
    page.wait_for_timeout(500)
    history = page.evaluate("fetch('/api/widget/history').then((r) => r.json())")
    assert history["conversation_id"] is None and history["privacy"]["accepted"] is False
    assert page.evaluate("window.wuyeWidget.queued()") == []

    page.click("#privacy-accept")
    page.locator("#input:enabled").wait_for()
    assert page.locator("#privacy-notice").is_hidden()
    ask(page, "物业几点上班")
    page.locator(".row.theirs .bubble:has-text('办公时间')").wait_for(timeout=15000)
    assert stored_resident_rows(server, page) == ["物业几点上班"]

    page.evaluate("localStorage.removeItem('wuye-widget-privacy')")  # the server's record alone keeps it accepted
    page.reload()
    page.locator(".row.mine .bubble:has-text('物业几点上班')").wait_for(timeout=15000)
    page.wait_for_function("window.wuyeWidget.privacy() === 'accepted'")
    assert page.locator("#privacy-notice").is_hidden() and page.is_enabled("#input")
    context.close()
