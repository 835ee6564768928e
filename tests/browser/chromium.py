"""What the browser tests share: where Chromium is, how it is launched, and the page helpers."""
from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("WUYE_CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = bool(shutil.which(CHROMIUM)) or os.path.exists(CHROMIUM)
if not HAVE_CHROMIUM and os.environ.get("WUYE_REQUIRE_CHROMIUM"):
    raise RuntimeError(f"WUYE_REQUIRE_CHROMIUM is set but there is no Chromium at {CHROMIUM}")
# each browser test module: ``pytestmark = needs_chromium``
needs_chromium = pytest.mark.skipif(not HAVE_CHROMIUM,
                                    reason=f"no Chromium at {CHROMIUM}: install Debian's chromium (the CI script does)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
# a browser whose resident accepted the privacy notice before: the widget records it on the new identity by itself
PRIVACY_ACCEPTED = "try { localStorage.setItem('wuye-widget-privacy', 'accepted'); } catch (e) {}"


def accept_privacy(page_or_frame):
    """Click 同意并继续 on the widget's privacy notice (a first visit) and wait until the composer is usable."""
    page_or_frame.locator("#privacy-accept").click()
    page_or_frame.locator("#input:enabled").wait_for()


def resident_page(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN")
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_function("window.wuyeWidget && window.wuyeWidget.transport() === 'websocket'")
    return page


def ask(page, text):
    page.fill("#input", text)
    page.press("#input", "Enter")


def login(page, server, path, user, password):
    page.goto(server.url + path)
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-form button")
    page.wait_for_selector("#app-view:not(.hidden)")


BOT_BUBBLES = ".row.theirs:not(.agent) .bubble"


def bot_texts(page):
    return page.locator(BOT_BUBBLES).all_inner_texts()


def chip_titles(page):
    return page.locator("#chips .chip").all_inner_texts()


def wait_bot_count(page, needle, count):
    """Wait until exactly ``count`` bot bubbles contain ``needle`` (a repeated question is a new bubble)."""
    page.wait_for_function("([sel, needle, count]) => [...document.querySelectorAll(sel)]"
                           ".filter(b => b.textContent.includes(needle)).length === count", arg=[BOT_BUBBLES, needle, count])


def resident_bubbles(page):
    return page.locator(".row.mine .bubble").all_inner_texts()


def online_agent(browser, server):
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    login(page, server, "/agent", "agent", "agent123")
    page.wait_for_function("document.getElementById('conn').textContent.includes('在线')")
    return page


def claim_item(agent, needle):
    item = agent.locator(f"#queue .qitem:has-text('{needle}')").first
    item.wait_for()
    text = item.inner_text()
    item.locator("button:has-text('认领')").click()
    agent.wait_for_selector("#replybox:not(.hidden)")
    return text


def server_today(server):
    from bot.core.localtime import to_local

    return to_local(server.app.state.services.clock()).date()


def stop_server(server):
    server.__exit__()  # every connection drops; nothing answers on the port until start_server


def start_server(server):
    server._new_server()
    server.__enter__()


def stored_resident_rows(server, page):
    """The resident's stored messages (texts, in order) for the page's own conversation, read from the database."""
    from sqlalchemy import select

    from bot.storage.db import open_database
    from bot.storage.models import Message

    conversation_id = page.evaluate("fetch('/api/widget/history').then((r) => r.json()).then((h) => h.conversation_id)")
    db = open_database(server.settings.database_url)
    try:
        with db.session() as session:
            return list(session.scalars(select(Message.text).where(Message.conversation_id == conversation_id,
                                                                   Message.sender == "resident").order_by(Message.id)))
    finally:
        db.engine.dispose()


def wait_delivered(page):
    page.wait_for_function("window.wuyeWidget.queued().length === 0 && !document.querySelector('.row.mine.pending')",
                           timeout=30000)


BLOCK_WEBSOCKETS = """
(() => {  // WebSockets refused (a proxy that does not upgrade) while window.__blockWs is true
  const Real = window.WebSocket;
  window.__blockWs = true;
  function Patched(url, protocols) { return new Real(window.__blockWs ? "ws://127.0.0.1:9/blocked" : url, protocols); }
  Patched.prototype = Real.prototype;
  Object.assign(Patched, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Patched;
})();
"""

DEAF_WEBSOCKETS = """
(() => {  // while window.__deaf is true the page hears nothing on its WebSockets: the server's echo and ack are lost
  const Real = window.WebSocket;        // (registered before the widget's own onmessage, so it runs first)
  function Patched(url, protocols) {
    const sock = new Real(url, protocols);
    sock.addEventListener("message", (e) => { if (window.__deaf) e.stopImmediatePropagation(); });
    return sock;
  }
  Patched.prototype = Real.prototype;
  Object.assign(Patched, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Patched;
})();
"""
