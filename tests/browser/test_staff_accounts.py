"""Staff accounts in Chromium (issue 26 point 2): an admin adds an agent in /admin's 员工 tab; the agent signs in at
/agent, must change the temporary password first (a weak one is refused in Chinese), then reaches the console."""
from __future__ import annotations

import httpx

from tests.browser.chromium import login, needs_chromium

pytestmark = needs_chromium


def test_an_admin_adds_an_agent_who_must_change_the_password_then_reaches_the_console(browser, server):
    admin = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
    login(admin, server, "/admin", "admin", "admin123")
    admin.click(".tabs button[data-tab='staff']")
    admin.wait_for_selector("#staff-table tbody tr[data-username='admin']")
    admin.fill("#staff-username", "zhou_kefu")
    admin.fill("#staff-display-name", "客服小周")
    admin.fill("#staff-password", "123456")  # too short: refused, nothing added
    admin.select_option("#staff-role", "agent")
    admin.select_option("#staff-community", "binjiang")
    admin.click("#staff-add button[type=submit]")
    admin.wait_for_selector("#staff-add-error:has-text('至少需要 10 个字符')")
    assert admin.locator("#staff-table tbody tr[data-username='zhou_kefu']").count() == 0
    admin.fill("#staff-password", "Chushi-mima-01")
    admin.click("#staff-add button[type=submit]")
    row = admin.wait_for_selector("#staff-table tbody tr[data-username='zhou_kefu']")
    assert "待修改初始密码" in row.inner_text()
    assert admin.eval_on_selector("#staff-table tbody tr[data-username='zhou_kefu'] td:nth-child(4) select",
                                  "s => s.selectedOptions[0].textContent") == "滨江壹号"

    agent = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
    agent.goto(server.url + "/agent")
    agent.fill("#username", "zhou_kefu")
    agent.fill("#password", "Chushi-mima-01")
    agent.click("#login-form button")
    agent.wait_for_selector("#password-form")  # the change comes first: the console stays hidden
    assert agent.is_hidden("#app-view")
    agent.fill("#old-password", "Chushi-mima-01")
    agent.fill("#new-password", "12345678901")
    agent.fill("#new-password-again", "12345678901")
    agent.click("#password-form button")
    agent.wait_for_selector("#password-error:has-text('不能全是数字')")
    assert agent.is_hidden("#app-view")
    agent.fill("#new-password", "Zhou-de-mima-2026")
    agent.fill("#new-password-again", "Zhou-de-mima-2026")
    agent.click("#password-form button")
    agent.wait_for_selector("#app-view:not(.hidden)")
    # the console's queue has loaded (its count is written once GET /api/agent/queue answered)
    agent.wait_for_function("/^\\(\\d+\\)$/.test(document.getElementById('qcount').textContent)")
    assert agent.is_visible("h2:has-text('待处理队列')")
    # 我的会话: the agent sees this sign-in, marked as the current one
    agent.click("#my-sessions")
    agent.wait_for_selector("#my-sessions-panel li:has-text('（当前）')")
    assert agent.locator("#my-sessions-panel li").count() == 1
    admin.click(".tabs button[data-tab='staff']")
    admin.wait_for_selector("#staff-table tbody tr[data-username='zhou_kefu'] td:has-text('正常')")
    # the admin sees the agent's session and signs it out: the agent's next call finds itself signed out
    admin.click("#staff-table tbody tr[data-username='zhou_kefu'] button.sessions")
    admin.click("#staff-sessions button:has-text('退出登录')")
    admin.wait_for_selector("#staff-sessions p:has-text('没有在线的会话')")
    assert agent.evaluate("fetch('/api/auth/me').then(r => r.status)") == 401
    admin.context.close()
    agent.context.close()


def test_sessions_are_listed_and_signed_out_by_the_member_and_by_an_admin_and_a_disabled_member_cannot_sign_in(
        browser, server):
    """我的会话 (every staff page) and the 员工 tab's 会话: a member signed in on two browsers signs the other one out
    from the first; an admin signs the first out; then disables the account, whose sign-in is refused in Chinese."""
    admin_api = httpx.Client(base_url=server.url, timeout=30, headers={"X-Real-IP": "203.0.113.90"})
    admin_api.post("/api/auth/login", json={"username": "admin", "password": "admin123"}).raise_for_status()
    r = admin_api.post("/api/admin/staff", json={"username": "two_browsers", "display_name": "客服小吴",
                                                 "password": "Chushi-mima-02", "role": "agent"})
    assert r.status_code == 201, r.text
    member = httpx.Client(base_url=server.url, timeout=30, headers={"X-Real-IP": "203.0.113.91"})
    member.post("/api/auth/login", json={"username": "two_browsers", "password": "Chushi-mima-02"}).raise_for_status()
    member.post("/api/auth/password", json={"old_password": "Chushi-mima-02",
                                            "new_password": "Wu-kefu-2026x"}).raise_for_status()
    member.post("/api/auth/logout").raise_for_status()

    first = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN").new_page()
    second = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN").new_page()
    for page in (first, second):
        login(page, server, "/agent", "two_browsers", "Wu-kefu-2026x")
    first.click("#my-sessions")
    first.wait_for_selector("#my-sessions-panel li:has-text('（当前）')")
    assert first.locator("#my-sessions-panel li").count() == 2
    first.click("#my-sessions-panel li button:has-text('退出')")
    first.wait_for_function("document.querySelectorAll('#my-sessions-panel li').length === 1")
    second.reload()
    second.wait_for_selector("#login-form")  # signed out from the other browser
    assert second.is_hidden("#app-view")

    admin = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN").new_page()
    admin.on("dialog", lambda dialog: dialog.accept())
    login(admin, server, "/admin", "admin", "admin123")
    admin.click(".tabs button[data-tab='staff']")
    row = "#staff-table tbody tr[data-username='two_browsers']"
    admin.wait_for_selector(f"{row} td:nth-child(6):text-is('1')")  # one session left: the first browser's
    own = "#staff-table tbody tr[data-username='admin']"  # the admin's own row: no 停用, no other role
    assert admin.is_disabled(f"{own} button.toggle") and admin.is_disabled(f"{own} select >> nth=0")
    admin.click(f"{row} button.sessions")
    admin.wait_for_selector("#staff-sessions:not(.hidden) h2:has-text('客服小吴 的登录会话')")
    admin.click("#staff-sessions button:has-text('退出登录')")
    admin.wait_for_selector("#staff-sessions p:has-text('没有在线的会话')")
    first.reload()
    first.wait_for_selector("#login-form")
    admin.click(f"{row} button.toggle")
    admin.wait_for_selector(f"{row} td:nth-child(5):text-is('已停用')")
    first.fill("#username", "two_browsers")
    first.fill("#password", "Wu-kefu-2026x")
    first.click("#login-form button")
    first.wait_for_selector("#login-error:has-text('账号已停用，请联系管理员')")
    assert first.is_hidden("#app-view")
    for page in (first, second, admin):
        page.context.close()
