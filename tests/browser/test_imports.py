"""The 导入 tab of /admin in Chromium (issue 26 point 4): a GBK CSV with a bad row shows every problem by row and
column and offers no confirmation; a good file's check stores nothing until 确认导入; an ERP import key made on the
tab imports over the API and cannot chat; staff accounts from a spreadsheet show their temporary passwords once, and
each signs in with its own."""
from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from bot.storage.models import Household
from bot.tools.devserver import LiveServer
from tests.browser.chromium import login, needs_chromium

pytestmark = needs_chromium

GOOD = ("小区,楼栋,单元,房号,业主姓名,手机号\n"
        "锦绣花园,30,1,101,陈晨,13300000001\n"
        "锦绣花园,30,1,102,林琳,13300000002\n")
BAD = GOOD + "锦绣花园,30,1,103,,1330000\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("imports-browser"), settings, parser) as live:
        yield live


def building_30(server):
    with server.app.state.services.db.session() as s:
        return sorted(s.scalars(sa.select(Household.owner_name).where(Household.building == 30)))


def test_an_admin_checks_a_file_sees_its_problems_and_confirms_a_good_one(browser, server, tmp_path):
    page = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN").new_page()
    login(page, server, "/admin", "admin", "admin123")
    page.click('.tabs button[data-tab="import"]')
    page.wait_for_selector("#tab-import:not(.hidden)")
    assert page.locator("#tab-kb").is_hidden()
    (tmp_path / "住户.csv").write_bytes(BAD.encode("gbk"))
    page.select_option("#im-kind", "households")
    page.set_input_files("#im-file", str(tmp_path / "住户.csv"))
    page.click("#im-check")
    page.wait_for_selector("#im-problems:not(.hidden)")
    rows = [r.split("\t") for r in page.locator("#im-problems tbody tr").all_inner_texts()]
    assert rows == [["4", "业主姓名", "不能为空"], ["4", "手机号", "应是 11 位手机号"]]
    assert "未导入" in page.inner_text("#im-summary") and page.locator("#im-confirm").is_hidden()
    assert building_30(server) == []

    (tmp_path / "住户.csv").write_bytes(GOOD.encode("gbk"))
    page.set_input_files("#im-file", str(tmp_path / "住户.csv"))
    page.click("#im-check")
    page.wait_for_selector("#im-confirm:not(.hidden)")
    assert "住户试导入（未保存）：共 2 行，新增 2" in page.inner_text("#im-summary")
    assert building_30(server) == []  # a check stores nothing
    page.click("#im-confirm")
    page.wait_for_function("document.querySelector('#im-summary').textContent.includes('住户已导入')")
    assert building_30(server) == ["林琳", "陈晨"]
    assert page.locator("#im-confirm").is_hidden()

    # one 小区's export without the 小区 column: the tab's 小区 choice stands in for it
    (tmp_path / "一个小区.csv").write_bytes("楼栋,单元,房号,业主姓名,手机号\n30,2,101,许诺,13300000009\n".encode("gbk"))
    page.set_input_files("#im-file", str(tmp_path / "一个小区.csv"))
    page.click("#im-check")
    page.wait_for_selector("#im-problems:not(.hidden)")
    assert page.locator("#im-problems tbody tr").all_inner_texts() == ["1\t小区\t缺少这一列（也可写作：小区名称、community）"]
    page.select_option("#im-community", "jinxiu")
    page.click("#im-check")
    page.wait_for_selector("#im-confirm:not(.hidden)")
    page.click("#im-confirm")
    page.wait_for_function("document.querySelector('#im-summary').textContent.includes('住户已导入')")
    assert building_30(server) == ["林琳", "许诺", "陈晨"]

    page.fill("#im-key-name", "收费系统")
    page.locator("#tab-import button", has_text="创建导入密钥").click()
    page.wait_for_function("document.querySelector('#im-key').textContent.startsWith('wuye_')")
    key = page.inner_text("#im-key").strip()
    headers = {"Authorization": f"Bearer {key}"}
    rows = [{"小区": "锦绣花园", "楼栋": 30, "单元": 1, "房号": 103, "业主姓名": "何欢", "手机号": "13300000003"}]
    response = httpx.post(server.url + "/api/import/households", json={"rows": rows}, headers=headers, timeout=60)
    assert response.status_code == 200 and response.json()["created"] == 1, response.text
    response = httpx.post(server.url + "/api/chat", json={"sender_id": "x", "text": "你好"}, headers=headers, timeout=60)
    assert response.status_code == 403 and response.json()["code"] == "api_key_scope_missing"


def test_an_admin_imports_staff_and_hands_out_the_temporary_passwords(browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    login(page, server, "/admin", "admin", "admin123")
    page.click('.tabs button[data-tab="import"]')
    page.select_option("#im-kind", "staff")
    assert "用户名、姓名、角色" in page.inner_text("#im-columns") and page.locator("#im-community").is_hidden()
    (tmp_path / "员工.csv").write_bytes("用户名,姓名,角色,小区\nbr_zhou,周涛,客服,滨江壹号\nbr_wu,吴刚,维修师傅,\n"
                                      .encode("gbk"))
    page.set_input_files("#im-file", str(tmp_path / "员工.csv"))
    page.click("#im-check")
    page.wait_for_selector("#im-confirm:not(.hidden)")
    assert "员工账号试导入（未保存）：共 2 行，新增 2" in page.inner_text("#im-summary")
    assert page.locator("#im-accounts").is_hidden()
    page.click("#im-confirm")
    page.wait_for_selector("#im-accounts:not(.hidden)")
    rows = [r.split("\t") for r in page.locator("#im-passwords tbody tr").all_inner_texts()]
    assert [r[:2] for r in rows] == [["br_zhou", "周涛"], ["br_wu", "吴刚"]] and all(len(r[2]) == 12 for r in rows)
    with page.expect_download() as download:
        page.click("#im-passwords-csv")
    saved = (tmp_path / "passwords.csv")
    download.value.save_as(saved)
    assert saved.read_bytes().decode("utf-8-sig").splitlines()[1] == f'"br_zhou","周涛","{rows[0][2]}"'
    response = httpx.post(server.url + "/api/auth/login", json={"username": "br_zhou", "password": rows[0][2]}, timeout=60)
    assert response.status_code == 200 and response.json()["must_change_password"] is True, response.text
    context.close()
