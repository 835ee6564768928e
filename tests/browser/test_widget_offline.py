"""The widget while the server or the WebSocket is away, in Chromium: the offline queue, each message delivered and drawn once."""
from __future__ import annotations

from tests.browser.chromium import (BLOCK_WEBSOCKETS, ask, needs_chromium, resident_bubbles, resident_page,
                                    start_server, stop_server, stored_resident_rows, wait_delivered)

pytestmark = needs_chromium


def test_widget_queues_messages_while_the_server_is_down_and_delivers_each_once_back_on_the_websocket(browser, server):
    page = resident_page(browser, server)
    ask(page, "物业几点上班")
    page.wait_for_selector(".row.theirs .bubble:has-text('办公时间')")
    stop_server(server)
    try:
        page.wait_for_selector("#offline:not(.hidden)", timeout=15000)
        assert "网络已断开，正在重连" in page.inner_text("#offline")
        ask(page, "停车月卡怎么办")
        ask(page, "门禁卡丢了怎么办")
        page.wait_for_timeout(4000)  # reconnect attempts (and REST polls) fail meanwhile
        assert resident_bubbles(page) == ["物业几点上班", "停车月卡怎么办", "门禁卡丢了怎么办"]  # shown once, in order
        assert page.locator(".row.mine.pending").count() == 2
        assert page.evaluate("window.wuyeWidget.queued()") == ["停车月卡怎么办", "门禁卡丢了怎么办"]
        assert page.is_visible("#offline")
    finally:
        start_server(server)
    page.wait_for_function("window.wuyeWidget.transport() === 'websocket'", timeout=30000)
    wait_delivered(page)
    page.wait_for_selector(".row.theirs .bubble:has-text('月卡')")
    page.wait_for_selector("#offline.hidden", state="attached")
    page.wait_for_timeout(1000)  # any second copy (live echo, history frame, a REST poll) would be drawn by now
    try:
        assert resident_bubbles(page) == ["物业几点上班", "停车月卡怎么办", "门禁卡丢了怎么办"]
        assert stored_resident_rows(server, page) == ["物业几点上班", "停车月卡怎么办", "门禁卡丢了怎么办"]
        assert page.evaluate("localStorage.getItem('wuye-widget-outbox')") is None
        ask(page, "谢谢")  # and the socket is live again
        page.wait_for_selector(".row.theirs .bubble:has-text('不客气')")
        page.reload()
        page.wait_for_selector(".row.mine .bubble:has-text('谢谢')")
        assert resident_bubbles(page) == ["物业几点上班", "停车月卡怎么办", "门禁卡丢了怎么办", "谢谢"]
    finally:
        page.context.close()


def test_the_offline_queue_survives_a_page_reload_and_is_sent_once(browser, server):
    page = resident_page(browser, server)
    ask(page, "物业几点上班")
    page.wait_for_selector(".row.theirs .bubble:has-text('办公时间')")
    stop_server(server)
    try:
        page.wait_for_selector("#offline:not(.hidden)", timeout=15000)
        ask(page, "装修要办什么手续")
        page.wait_for_selector(".row.mine.pending .bubble:has-text('装修要办什么手续')")
        assert "装修要办什么手续" in page.evaluate("localStorage.getItem('wuye-widget-outbox')")
        page.goto("about:blank")  # the resident leaves (a reload while the network is out): the page is gone
    finally:
        start_server(server)
    page.goto(server.url + "/")  # and comes back: the queued message is drawn from localStorage, then sent
    page.wait_for_function("window.wuyeWidget && window.wuyeWidget.transport() === 'websocket'", timeout=30000)
    wait_delivered(page)
    page.wait_for_selector(".row.theirs .bubble:has-text('装修')")
    page.wait_for_timeout(1000)
    try:
        assert resident_bubbles(page) == ["物业几点上班", "装修要办什么手续"]
        assert stored_resident_rows(server, page) == ["物业几点上班", "装修要办什么手续"]
        page.reload()
        page.wait_for_selector(".row.mine .bubble:has-text('装修要办什么手续')")
        page.wait_for_timeout(500)
        assert resident_bubbles(page) == ["物业几点上班", "装修要办什么手续"]
    finally:
        page.context.close()


def test_rest_mode_queues_while_the_server_is_down_and_draws_each_message_once(browser, server):
    page = browser.new_context(viewport={"width": 390, "height": 780}).new_page()
    page.goto(server.url + "/?transport=rest")
    page.wait_for_function("window.wuyeWidget && window.wuyeWidget.transport() === 'rest'")
    ask(page, "物业几点上班")
    page.wait_for_selector(".row.theirs .bubble:has-text('办公时间')")
    stop_server(server)
    try:
        page.wait_for_selector("#offline:not(.hidden)", timeout=15000)  # the next poll fails
        ask(page, "停车月卡怎么办")
        page.wait_for_timeout(3500)
        assert resident_bubbles(page) == ["物业几点上班", "停车月卡怎么办"]
        assert page.locator(".row.mine.pending").count() == 1
    finally:
        start_server(server)
    wait_delivered(page)
    page.wait_for_selector(".row.theirs .bubble:has-text('月卡')")
    page.wait_for_timeout(3500)  # another poll or two: nothing is drawn twice
    try:
        assert resident_bubbles(page) == ["物业几点上班", "停车月卡怎么办"]
        assert stored_resident_rows(server, page) == ["物业几点上班", "停车月卡怎么办"]
        assert page.evaluate("window.wuyeWidget.transport()") == "rest" and page.is_hidden("#offline")
    finally:
        page.context.close()


def test_the_rest_fallback_keeps_probing_and_returns_to_the_websocket(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 780})
    context.add_init_script(BLOCK_WEBSOCKETS)
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_function("window.wuyeWidget && window.wuyeWidget.transport() === 'rest'", timeout=30000)
    try:
        assert page.is_hidden("#offline")  # REST reaches the server: not offline
        ask(page, "物业几点上班")
        page.wait_for_selector(".row.theirs .bubble:has-text('办公时间')")
        page.evaluate("window.__blockWs = false")  # the network lets WebSockets through again
        page.wait_for_function("window.wuyeWidget.transport() === 'websocket'", timeout=30000)
        ask(page, "停车月卡怎么办")
        page.wait_for_selector(".row.theirs .bubble:has-text('月卡')")
        page.wait_for_timeout(3500)  # a poll would have come by now if REST polling were still on
        assert resident_bubbles(page) == ["物业几点上班", "停车月卡怎么办"]
        assert stored_resident_rows(server, page) == ["物业几点上班", "停车月卡怎么办"]
    finally:
        context.close()
