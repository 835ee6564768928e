"""The admin page in Chromium: knowledge-base edits live, API keys, notices, figures and exports; and the API docs page."""
from __future__ import annotations

import datetime as dt
import re
import time

from tests.browser.chromium import ask, login, needs_chromium, resident_page, server_today

pytestmark = needs_chromium


ENGLISH_CODES = re.compile(r"\b(urgent|high|normal|emergency|keyword|clarify|nonsense|not_helpful|repeat|reject|"
                           r"two_failed|angry|resident|handoff|faq/\w+|pending|resolved|low confidence)\b", re.I)


def test_the_admin_page_refuses_an_agent_account(browser, server):
    page = browser.new_context().new_page()
    page.goto(server.url + "/admin")
    page.fill("#username", "agent")
    page.fill("#password", "agent123")
    page.click("#login-form button")
    page.wait_for_selector("#login-error:has-text('需要管理员账号')")
    assert page.is_hidden("#app-view")
    page.context.close()


def test_admin_edits_an_answer_and_the_widget_shows_it_without_restart(browser, server):
    admin_context = browser.new_context(viewport={"width": 1300, "height": 900})
    admin = admin_context.new_page()
    login(admin, server, "/admin", "admin", "admin123")
    admin.fill("#search", "快递")
    admin.locator(".faqitem[data-id='express_delivery']").click()
    admin.wait_for_selector("#edit-form:not(.hidden)")
    answer = admin.input_value("#f-answer")
    admin.fill("#f-answer", answer + "\n另：春节期间快递柜照常开放。{no_such_var}")
    admin.click("#edit-form button[type=submit]")
    admin.wait_for_selector("#save-error:has-text('no_such_var')")
    admin.fill("#f-answer", answer + "\n另：春节期间快递柜照常开放。")
    admin.click("#edit-form button[type=submit]")
    admin.wait_for_selector("#save-ok:has-text('已保存')")

    resident = resident_page(browser, server)
    ask(resident, "快递放哪里")
    resident.wait_for_selector(".bubble:has-text('春节期间快递柜照常开放')")
    admin_context.close()
    resident.context.close()


def test_the_openapi_page_renders_without_network(browser, server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/docs")
    page.get_by_text("/api/parse", exact=True).first.wait_for()
    page.get_by_text("/api/chat", exact=True).first.wait_for()
    context.close()


def test_admin_creates_an_api_key_shown_once_and_revokes_it(browser, server):
    import httpx

    context = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # 确定吊销…？
    login(page, server, "/admin", "admin", "admin123")
    page.click(".tabs button:has-text('API 密钥')")
    page.wait_for_selector("#tab-keys:not(.hidden)")
    assert page.locator("#tab-kb").is_hidden()
    page.fill("#key-name", "物业App")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-once:not(.hidden)")
    key = page.inner_text("#key-value").strip()
    assert re.fullmatch(r"wuye_[A-Za-z0-9_-]{43}", key)
    row = page.locator("#keys tbody tr:has-text('物业App')")
    row.wait_for()
    assert key[:12] in row.inner_text() and "有效" in row.inner_text() and key not in page.inner_text("#keys")

    chat = {"sender_id": "app-user-1", "text": "物业几点上班"}
    r = httpx.post(server.url + "/api/chat", json=chat, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and "办公时间" in r.json()["replies"][0]["text"]

    page.click("#key-done")
    assert page.locator("#key-once").is_hidden() and key not in page.content()
    page.reload()  # shown once: never again, not in the list nor anywhere on the page
    page.wait_for_selector("#app-view:not(.hidden)")
    page.click(".tabs button:has-text('API 密钥')")
    row = page.locator("#keys tbody tr:has-text('物业App')")
    row.wait_for()
    assert key not in page.content()
    row.locator("button:has-text('吊销')").click()
    page.wait_for_selector("#keys tbody tr:has-text('物业App') td.state:has-text('已吊销')")
    r = httpx.post(server.url + "/api/chat", json=chat, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
    page.click(".tabs button:has-text('知识库')")
    assert page.locator("#tab-keys").is_hidden() and page.locator("#tab-kb").is_visible()
    context.close()


def test_admin_publishes_edits_and_withdraws_a_notice_with_its_history(browser, server):
    admin = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    admin.on("dialog", lambda dialog: dialog.accept())
    login(admin, server, "/admin", "admin", "admin123")
    admin.click(".tabs button[data-tab='notices']")
    admin.wait_for_selector("#tab-notices:not(.hidden) #nt-buildings input[value='4']")
    today = server_today(server)
    admin.select_option("#nt-kind", "water")
    admin.check("#nt-buildings input[value='4']")
    admin.fill("#nt-start", f"{today}T08:00")
    admin.fill("#nt-end", f"{today}T07:00")
    admin.fill("#nt-text", "水泵检修，请提前储水。")
    admin.click("#nt-save")
    admin.wait_for_selector("#nt-error:has-text('结束时间必须晚于开始时间')")  # refused in Chinese, nothing stored
    assert admin.locator("#nt-list .nt-item").count() == 0
    admin.fill("#nt-end", f"{today}T22:00")
    admin.click("#nt-save")
    admin.wait_for_selector("#nt-ok:has-text('已发布')")
    item = admin.locator("#nt-list .nt-item:has-text('4栋停水通知')")
    item.wait_for()
    assert "生效中" in item.inner_text() and "今天 8:00–22:00" in item.inner_text()
    assert "发布" in admin.inner_text("#nt-history")
    admin.fill("#nt-end", f"{today}T23:00")
    admin.click("#nt-save")
    admin.wait_for_selector("#nt-ok:has-text('已保存修改')")
    admin.wait_for_selector("#nt-list .nt-item:has-text('今天 8:00–23:00')")
    assert [line.split("：")[0].split(" ")[-1] for line in admin.locator("#nt-history .nt-rev").all_inner_texts()] == \
        ["发布", "修改"]
    admin.click("#nt-withdraw")
    admin.wait_for_selector("#nt-ok:has-text('已撤回')")
    admin.wait_for_selector("#nt-list .nt-item", state="detached")  # withdrawn: off the list (and off the banner)
    admin.check("#nt-all")
    admin.wait_for_selector("#nt-list .nt-item:has-text('已撤回')")
    admin.context.close()


def test_admin_figures_chart_date_range_csv_exports_and_chinese_labels(browser, server):
    import httpx

    resident = httpx.Client(base_url=server.url, timeout=30)
    resident.post("/api/widget/session").raise_for_status()
    # an urgent handoff and a message the bot cannot read ("阿斯顿发送到发送到" was one until the third indirect author's
    # delivery phrasings: "送到" twice now reads as the delivery FAQ, 0.60 — README, "A third author for indirect questions")
    resident.post("/api/widget/messages", json={"text": "3栋电梯困人了，快来人"}).raise_for_status()
    # another resident's (what someone already waiting for a person types is noted for the agent, not a failure)
    other = httpx.Client(base_url=server.url, timeout=30)
    other.post("/api/widget/session").raise_for_status()
    other.post("/api/widget/messages", json={"text": "阿斯顿发阿斯顿发"}).raise_for_status()
    admin_api = httpx.Client(base_url=server.url, timeout=30)
    admin_api.post("/api/auth/login", json={"username": "admin", "password": "admin123"}).raise_for_status()

    page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
    login(page, server, "/admin", "admin", "admin123")
    with page.expect_response(lambda r: "/api/admin/figures?days=14" in r.url) as first:
        page.click(".tabs button[data-tab='figures']")
    figures = first.value.json()
    page.wait_for_selector("#chart svg .bar")
    start, end = page.input_value("#fig-start"), page.input_value("#fig-end")
    assert end == server_today(server).isoformat()  # the last 14 days up to the server's today (小区 time)
    assert (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days == 13
    assert figures["start"] == start and figures["end"] == end and len(figures["per_day"]) == 14
    try:
        chart = page.locator("#chart svg")
        assert chart.locator(".axis-title").all_text_contents() == ["会话数（个）", "日期"]
        assert chart.locator(".bar").count() == 14
        x_labels = chart.locator(".x-label").all_text_contents()
        assert x_labels[0] == start[5:] and x_labels[-1] == end[5:] and len(x_labels) == 14
        y_labels = [int(t) for t in chart.locator(".y-label").all_text_contents()]
        assert y_labels[0] == 0 and y_labels[-1] >= max(d["conversations"] for d in figures["per_day"])
        values = {d["day"]: str(d["conversations"]) for d in figures["per_day"] if d["conversations"]}
        assert values, "the test's own conversations are today's"
        for day, value in values.items():
            assert chart.locator(f".bar[data-day='{day}'] .value-label").text_content() == value
        legend = chart.locator(".legend").text_content()
        assert "机器人独立解决" in legend and "转人工" in legend
        breakdown = page.inner_text("#breakdown")
        assert "优先级：紧急" in breakdown and "紧急情况" in breakdown
        figures_text = page.inner_text("#tab-figures") + chart.text_content()
        assert not ENGLISH_CODES.search(figures_text), figures_text

        # another range: the figures, the chart and the export links follow it
        with page.expect_response(lambda r: "start=2020-01-01&end=2020-01-10" in r.url):
            page.fill("#fig-start", "2020-01-01")
            page.fill("#fig-end", "2020-01-10")
            page.dispatch_event("#fig-end", "change")
        page.wait_for_function("document.querySelectorAll('#chart svg .bar').length === 10")
        assert page.locator("#chart .value-label").count() == 0
        assert page.locator("#kpis .kpi b").first.inner_text() == "0"
        assert page.get_attribute("#export-handoffs", "href") == "/api/admin/export/handoffs.csv?start=2020-01-01&end=2020-01-10"
        page.click("#fig-range button[data-days='7']")
        page.wait_for_function("document.querySelectorAll('#chart svg .bar').length === 7")
        assert page.locator("#kpis .kpi b").first.inner_text() != "0"

        # the three CSV downloads for the chosen range
        first_day, last_day = page.input_value("#fig-start"), page.input_value("#fig-end")
        headers = {"conversations": "会话编号", "handoffs": "转人工编号", "failed": ""}
        for kind, header in headers.items():
            with page.expect_download() as download_info:
                page.click(f"#export-{kind}")
            download = download_info.value
            assert download.suggested_filename == f"wuye-{kind}-{first_day.replace('-', '')}-{last_day.replace('-', '')}.csv"
            body = open(download.path(), encoding="utf-8-sig").read()
            assert body.splitlines()[0].startswith(header) and len(body.splitlines()) >= 2, (kind, body[:200])
        assert "3栋电梯困人了" in open(download.path(), encoding="utf-8-sig").read() or kind == "failed"

        # the failures tab: 类型 and 转人工原因 in Chinese
        page.click(".tabs button[data-tab='failures']")
        page.wait_for_selector("#failures .qitem")
        page.wait_for_selector("#reasons td")
        failures = page.inner_text("#tab-failures")
        assert "类型：" in failures and "紧急情况" in page.inner_text("#reasons")
        assert not ENGLISH_CODES.search(failures), failures
    finally:
        page.context.close()


def test_admin_creates_an_entry_with_three_questions_and_a_resident_paraphrase_is_answered(browser, server):
    """Issue 27: the entry is answered within 30 s of saving (the entry model), and the full retrain that follows
    finishes within 60 s of the save."""
    admin_context = browser.new_context(viewport={"width": 1300, "height": 900})
    admin = admin_context.new_page()
    login(admin, server, "/admin", "admin", "admin123")
    admin.click("#faq-new")
    admin.wait_for_selector("#edit-form:not(.hidden)")
    admin.fill("#f-title", "社区长者食堂")
    admin.fill("#f-questions", "小区有老年食堂吗\n长者食堂几点开饭")
    admin.wait_for_selector("#f-hint:has-text('建议至少 3 个')")
    admin.fill("#f-questions", "小区有老年食堂吗\n长者食堂几点开饭\n老人吃饭能打折吗")
    admin.fill("#f-answer", "社区长者食堂在 3 号楼一层，每天 11:00–13:00、17:00–18:30 供餐。60 岁以上老人凭身份证"
                            "办理就餐卡，午餐 12 元一份，80 岁以上半价。")
    # an earlier test's answer edit may still be retraining (on a clean checkout nothing is cached): this save's
    # retrain would queue behind it, and the 60 s are this save's
    waited = dt.datetime.now()
    while admin.request.get(server.url + "/api/admin/training").json()["state"] == "training":
        assert (dt.datetime.now() - waited).total_seconds() < 180
        time.sleep(1)
    model_before = admin.request.get(server.url + "/api/admin/training").json()["model"]
    with admin.expect_response(lambda r: r.url.endswith("/api/admin/faq") and r.request.method == "POST",
                               timeout=60_000) as created:
        admin.click("#edit-form button[type=submit]")
    saved = dt.datetime.now()
    assert created.value.status == 201, (created.value.status, created.value.text())
    admin.wait_for_function("document.getElementById('save-ok').textContent.includes('已创建') || "
                            "document.getElementById('save-error').textContent !== ''")
    assert "已创建" in admin.inner_text("#save-ok"), (admin.inner_text("#save-error"), admin.inner_text("#edit-title"))
    admin.wait_for_selector(".faqitem:has-text('社区长者食堂')")  # the list, reloaded after the save

    resident = resident_page(browser, server)
    ask(resident, "老年人食堂在哪里")
    resident.wait_for_selector(".bubble:has-text('80 岁以上半价')", timeout=30_000)
    assert (dt.datetime.now() - saved).total_seconds() < 30

    while True:  # the retrain scheduled by the save: done, and the new model serving
        state = admin.request.get(server.url + "/api/admin/training").json()
        if state["state"] == "idle" and state["model"] != model_before:
            break
        assert state["state"] != "failed", state
        assert (dt.datetime.now() - saved).total_seconds() <= 60, state
        time.sleep(1)
    admin.wait_for_selector("#training:has-text('模型已是最新')", timeout=10_000)
    ask(resident, "长者饭堂中午几点开")
    resident.wait_for_selector(".bubble:has-text('11:00–13:00')")
    admin_context.close()
    resident.context.close()


def test_a_broken_faq_file_on_disk_shows_a_red_banner_with_file_and_line_in_chinese_until_it_is_fixed(browser, server):
    """Issue 25 point 9: a hand-broken data/faq file (the test server's own copy of data/) is announced on the admin
    page with its file:line in Chinese, the training line never says 模型已是最新 meanwhile, and the banner goes once
    the file is fixed."""
    path = server.settings.faq_dir / "living.yml"
    good = path.read_text(encoding="utf-8")
    lines = good.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip() == "- 遛狗要拴绳吗") + 1  # 0-based: the line after
    broken = "".join(lines[:at] + ["    answer: [没有闭合的列表\n"] + lines[at:])  # line at + 1, 1-based
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    admin = context.new_page()
    login(admin, server, "/admin", "admin", "admin123")
    admin.wait_for_selector("#training:not(:empty)")
    assert admin.is_hidden("#kb-problems")
    try:
        path.write_text(broken, encoding="utf-8")
        admin.wait_for_selector("#kb-problems:not(.hidden)", timeout=20_000)  # polled every 3 s, no reload
        banner = admin.inner_text("#kb-problems")
        assert "知识库文件有错误，正在使用上一个正确版本" in banner
        problem = admin.locator("#kb-problem-list li").first.inner_text()
        # the line where the bracket was opened (PyYAML stops further down, said in the text)
        assert problem.startswith(f"data/faq/living.yml:{at + 1}: YAML 格式错误：方括号列表 [ 没有闭合"), problem
        assert not re.search(r"\b(expected|invalid|unknown|but got)\b", banner), banner
        training = admin.inner_text("#training")
        assert "模型已是最新" not in training and "知识库文件有错误" in training, training
        admin.wait_for_timeout(3500)  # another poll: still not claimed up to date
        assert "模型已是最新" not in admin.inner_text("#training")
    finally:
        path.write_text(good, encoding="utf-8")
    admin.wait_for_selector("#kb-problems", state="hidden", timeout=20_000)
    assert "知识库文件有错误" not in admin.inner_text("#training")
    context.close()


def test_an_empty_answer_is_refused_naming_the_field_in_chinese(browser, server):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    admin = context.new_page()
    login(admin, server, "/admin", "admin", "admin123")
    admin.locator(".faqitem[data-id='pets']").click()
    admin.wait_for_selector("#edit-form:not(.hidden)")
    admin.fill("#f-answer", "")
    admin.click("#edit-form button[type=submit]")
    admin.wait_for_selector("#save-error:has-text('答案不能为空')")
    assert "body" not in admin.inner_text("#save-error")
    context.close()
