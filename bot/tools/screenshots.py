"""`wuye screenshots`: the resident widget, the agent console, the work-order desk and the admin page (knowledge
base, figures, notices) at phone and desktop sizes, in headless Chromium, into docs/screenshots/."""
from __future__ import annotations

import tempfile
from pathlib import Path

from bot.core.localtime import to_local
from bot.tools.devserver import LiveServer

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 860}}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def _login(browser, server, path: str, user: str, password: str):
    page = browser.new_context(viewport=SIZES["desktop"], locale="zh-CN", timezone_id="Asia/Shanghai").new_page()
    page.goto(server.url + path)
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-form button")
    page.wait_for_selector("#app-view:not(.hidden)")
    return page


def take_screenshots(settings, parser, out_dir: Path, chromium: str = "/usr/bin/chromium") -> list:
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp), settings, parser) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        _publish_notice(server)  # the widget shows live notices in a banner
        agent = _login(browser, server, "/agent", "agent", "agent123")
        residents = {}
        for size, viewport in SIZES.items():
            page = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai").new_page()
            page.goto(server.url + "/")
            page.wait_for_function("window.wuyeWidget && window.wuyeWidget.transport() === 'websocket'")
            page.click("#privacy-accept")  # a first visit: the privacy notice comes first
            page.wait_for_selector("#input:enabled")
            for text, wait in (("物业几点上班", "办公时间"), ("我家厨房水龙头漏水", "地点")):
                page.fill("#input", text)
                page.press("#input", "Enter")
                page.wait_for_selector(f".bubble:has-text('{wait}')")
            residents[size] = page
        residents["phone"].fill("#input", "5栋电梯困人了，快来人！")
        residents["phone"].press("#input", "Enter")
        residents["phone"].wait_for_selector("text=应急电话")
        agent.locator("#queue .qitem.urgent button:has-text('认领')").first.click()
        agent.wait_for_selector("#replybox:not(.hidden)")
        agent.fill("#reply", "您好，我是客服小林，电梯维保人员已出发，预计 10 分钟到达，请保持冷静，不要扒门。")
        agent.click("#send")
        residents["phone"].wait_for_selector(".row.agent .bubble")
        for size, page in residents.items():
            path = out_dir / f"widget-{size}.png"
            page.screenshot(path=str(path))
            written.append(path)
        for size, viewport in SIZES.items():
            agent.set_viewport_size(viewport)
            path = out_dir / f"agent-{size}.png"
            agent.screenshot(path=str(path), full_page=size == "phone")
            written.append(path)
        admin = _login(browser, server, "/admin", "admin", "admin123")
        admin.wait_for_selector(".faqitem")
        admin.locator(".faqitem[data-id='parking_monthly_card']").click()
        admin.wait_for_selector("#edit-form:not(.hidden)")
        for size, viewport in SIZES.items():
            admin.set_viewport_size(viewport)
            path = out_dir / f"admin-{size}.png"
            admin.screenshot(path=str(path), full_page=size == "phone")
            written.append(path)
        admin.click(".tabs button[data-tab='figures']")
        admin.wait_for_selector("#chart svg")
        admin.set_viewport_size(SIZES["desktop"])
        path = out_dir / "admin-figures-desktop.png"
        admin.screenshot(path=str(path), full_page=True)
        written.append(path)
        admin.click(".tabs button[data-tab='notices']")
        admin.wait_for_timeout(800)
        path = out_dir / "admin-notices-desktop.png"
        admin.screenshot(path=str(path))
        written.append(path)
        desk = _login(browser, server, "/desk", "agent", "agent123")
        desk.wait_for_selector("#orders tbody tr")
        desk.locator("#orders tbody tr").first.click()
        desk.wait_for_timeout(800)
        for size, viewport in SIZES.items():
            desk.set_viewport_size(viewport)
            path = out_dir / f"desk-{size}.png"
            desk.screenshot(path=str(path), full_page=size == "phone")
            written.append(path)
        browser.close()
    return written


def _publish_notice(server) -> None:
    import httpx


    now = to_local(server.app.state.services.clock())
    admin = httpx.Client(base_url=server.url, timeout=30)
    admin.post("/api/auth/login", json={"username": "admin", "password": "admin123"}).raise_for_status()
    admin.post("/api/admin/notices", json={
        "community_id": "jinxiu", "kind": "water", "buildings": [5],
        "text": "市政管网维修，5栋临时停水，请提前储水；恢复后请先放水 1 分钟。",
        "starts_at": f"{now:%Y-%m-%d} 09:00", "ends_at": f"{now:%Y-%m-%d} 17:00"}).raise_for_status()
