"""The widget while the server or the WebSocket is away, in Chromium: the offline queue, each message delivered and
drawn once (also when the server stored a message whose acknowledgement was lost), and no stale chips."""
from __future__ import annotations

import time

from tests.browser.chromium import (BLOCK_WEBSOCKETS, BOT_BUBBLES, DEAF_WEBSOCKETS, ask, chip_titles, needs_chromium,
                                    resident_bubbles, resident_page, start_server, stop_server, stored_resident_rows,
                                    wait_bot_count, wait_delivered)

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


def _widget(context, server):
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_function("window.wuyeWidget && window.wuyeWidget.transport() === 'websocket'", timeout=30000)
    return page


def test_a_message_stored_whose_ack_was_lost_is_drawn_once_after_the_tab_is_reopened(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN")
    context.add_init_script(DEAF_WEBSOCKETS)
    page = _widget(context, server)
    try:
        ask(page, "可以养狗吗")
        page.wait_for_selector("#chips .chip:text-is('没有解决我的问题')")
        page.evaluate("window.__deaf = true")  # from now on the page hears nothing: the echo and the ack are lost
        ask(page, "我要报修")
        deadline = time.time() + 30
        while stored_resident_rows(server, page) != ["可以养狗吗", "我要报修"]:  # the server did store it
            assert time.time() < deadline, stored_resident_rows(server, page)
            time.sleep(0.3)
        assert "我要报修" in page.evaluate("localStorage.getItem('wuye-widget-outbox')")  # the page never heard
        page.close()  # the resident closes the tab before the page gives up on the socket
        page = _widget(context, server)  # and opens it again: the outbox (localStorage) still holds the message
        wait_delivered(page)
        page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请简单描述一下需要维修的问题')")
        page.wait_for_timeout(1500)  # the resend's ack, any echo or history frame would have drawn a copy by now
        assert resident_bubbles(page) == ["可以养狗吗", "我要报修"]
        wait_bot_count(page, "请简单描述一下需要维修的问题", 1)
        assert stored_resident_rows(server, page) == ["可以养狗吗", "我要报修"]
        assert page.evaluate("localStorage.getItem('wuye-widget-outbox')") is None
        assert chip_titles(page) == []  # the pets answer's chips belong to the question before
        page.reload()
        page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请简单描述一下需要维修的问题')")
        page.wait_for_timeout(500)
        assert resident_bubbles(page) == ["可以养狗吗", "我要报修"]
        assert chip_titles(page) == []
    finally:
        context.close()


def test_the_previous_answers_chips_are_gone_once_the_next_question_is_asked(browser, server):
    page = resident_page(browser, server)
    try:
        ask(page, "可以养狗吗")
        ask(page, "我要报修")  # typed before the pets answer (and its chips) arrived
        page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请简单描述一下需要维修的问题')")
        page.wait_for_selector(f"{BOT_BUBBLES}:has-text('拴绳')")  # the pets answer came (with its chips)
        page.wait_for_timeout(500)
        assert chip_titles(page) == []  # live: the chips of the pets answer left with the next question
        page.reload()
        page.wait_for_selector(f"{BOT_BUBBLES}:has-text('请简单描述一下需要维修的问题')")
        page.wait_for_timeout(500)
        assert chip_titles(page) == []  # and the history does not bring them back
    finally:
        page.context.close()
