"""Imports over HTTP on the real app: /api/admin/import/{kind} for admins (dry run, then confirm; others refused; a bad
file a Chinese 422 with nothing stored) and /api/import/{kind} for an ERP with an import-scoped API key (file or JSON
rows; a key without the scope is refused, and an import key cannot chat)."""
from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from bot.access import staff_import
from bot.access.passwords import hash_password
from bot.core.tables import MAX_IMPORT_BYTES
from bot.kb.community import load_communities
from bot.main import create_app
from bot.storage.db import open_database
from bot.storage.models import Bill, Household
from bot.tools.demo import load_demo_data

CSV = ("小区,楼栋,单元,房号,业主姓名,手机号\n"
       "锦绣花园,20,1,101,周杰,13600000001\n"
       "锦绣花园,20,1,102,吴磊,13600000002\n").encode("gbk")


@pytest.fixture(scope="module")
def app(settings, parser, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("imports")
    configured = dataclasses.replace(settings, database_url=f"sqlite:///{tmp / 'wuye.db'}", upload_dir=tmp / "uploads",
                                     secret_key="test-secret")
    db = open_database(configured.database_url)
    with db.session() as session:
        load_demo_data(session, load_communities(configured.communities_file))
    db.engine.dispose()
    application = create_app(configured, parser=parser)
    with TestClient(application):
        yield application


def signed_in(app, user, password) -> TestClient:
    client = TestClient(app)
    client.post("/api/auth/login", json={"username": user, "password": password}).raise_for_status()
    return client


@pytest.fixture(scope="module")
def admin(app):
    return signed_in(app, "admin", "admin123")


def households_in_building_20(app) -> dict:
    with app.state.services.db.session() as s:
        return {h.room: (h.owner_name, h.phone) for h in s.scalars(sa.select(Household).where(Household.building == 20))}


def upload(client, kind, data, name="住户.csv", **form):
    return client.post(f"/api/admin/import/{kind}", files={"file": (name, data, "text/csv")},
                       data={k: str(v).lower() for k, v in form.items()})


def test_only_admins_may_import(app):
    assert upload(TestClient(app), "households", CSV).json()["code"] == "not_signed_in"
    for user, password in (("agent", "agent123"), ("tech1", "tech123")):
        response = upload(signed_in(app, user, password), "households", CSV)
        assert response.status_code == 403 and response.json()["code"] == "admins_only", response.text
    assert households_in_building_20(app) == {}


def test_an_admin_checks_a_file_first_then_confirms_it(app, admin):
    response = upload(admin, "households", CSV, dry_run=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["dry_run"], body["created"], body["updated"], body["unchanged"], body["errors"]) == (True, 2, 0, 0, [])
    assert body["detail"] == "住户试导入（未保存）：共 2 行，新增 2，更新 0，未变 0"
    assert households_in_building_20(app) == {}
    response = upload(admin, "households", CSV, dry_run=False)
    assert response.status_code == 200 and response.json()["created"] == 2
    assert households_in_building_20(app) == {101: ("周杰", "13600000001"), 102: ("吴磊", "13600000002")}
    again = upload(admin, "households", CSV).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)


def test_a_bad_file_is_a_chinese_422_and_nothing_is_stored(app, admin):
    with app.state.services.db.session() as s:
        bills_before = s.scalar(sa.select(sa.func.count()).select_from(Bill))
    response = upload(admin, "bills", b"\x89PNG\r\n\x1a\n" + bytes(200), name="账单.xlsx")
    assert response.status_code == 422 and response.json()["code"] == "import_file_unreadable"
    assert "不是有效的 .xlsx 文件" in response.json()["detail"]
    bad = ("楼栋,单元,房号,账期,应收,实收\n"
           "20,1,101,2026-11,300,300\n"
           "20,1,101,2026-11,300,0\n"
           "20,1,999,2026-11,300,0\n"
           "20,1,102,十一月,三百,0\n").encode("utf-8-sig")
    response = upload(admin, "bills", bad, community="jinxiu")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "import_rows_invalid" and body["detail"] == "未导入：文件有 4 处问题，请改正后重新上传"
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(3, "账期"), (4, "房号"), (5, "账期"), (5, "应收")]
    assert all(e["message"] for e in body["errors"]) and body["created"] == 0
    with app.state.services.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Bill)) == bills_before
    response = admin.post("/api/admin/import/households", data={"dry_run": "true"},
                          files={"other": ("x.csv", b"a", "text/csv")})
    assert response.status_code == 422 and response.json()["code"] == "import_body_invalid"
    assert "请选择要上传的文件" in response.json()["detail"]
    response = upload(admin, "visitors", CSV)
    assert response.status_code == 404 and response.json()["code"] == "import_kind_unknown"
    response = admin.post("/api/admin/import/households", json={"rows": [{"小区": "锦绣花园"}]})
    assert response.status_code == 422 and response.json()["code"] == "import_file_unreadable"
    response = upload(admin, "bills", b"a" * (MAX_IMPORT_BYTES + 100_000))  # cut off at the edge, never read whole
    assert response.status_code == 413 and response.json()["code"] == "import_file_too_large"
    assert "32 MB" in response.json()["detail"]


def key_for(admin, name, scopes=None) -> str:
    response = admin.post("/api/admin/api-keys", json={"name": name, **({"scopes": scopes} if scopes else {})})
    assert response.status_code == 200, response.text
    assert response.json()["scopes"] == (scopes or ["chat"])
    return response.json()["key"]


def test_an_erp_imports_with_an_import_scoped_key_and_a_chat_key_may_not(app, admin):
    erp = TestClient(app, headers={"Authorization": f"Bearer {key_for(admin, 'ERP', ['import'])}"})
    rows = [{"community": "jinxiu", "building": 21, "unit": 1, "room": 101, "owner": "郑爽", "phone": "13500000001"},
            {"community": "jinxiu", "building": 21, "unit": 1, "room": 102, "owner": "孙俪", "phone": 13500000002}]
    response = erp.post("/api/import/households", json={"rows": rows})
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["errors"]) == (2, [])
    bills = "小区,楼栋,单元,房号,账期,应收,实收\njinxiu,21,1,101,2026-11,199.00,199.00\n".encode()
    response = erp.post("/api/import/bills", files={"file": ("bills.csv", bills, "text/csv")})
    assert response.status_code == 200 and response.json()["created"] == 1, response.text
    response = erp.post("/api/import/households", json={"rows": [{**rows[0], "phone": "12345"}], "dry_run": True})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"row": 2, "column": "phone", "message": "应是 11 位手机号"}]
    # a lone surrogate (valid JSON, not text) in a value and in a column name: a row problem, never a 500
    body = json.dumps({"rows": [{**rows[0], "owner": "\ud800", "\udc00": 1}]})  # ASCII: "\\ud800" as JSON writes it
    response = erp.post("/api/import/households", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert [(e["row"], e["column"]) for e in response.json()["errors"]] == [(2, "owner")]
    response = erp.post("/api/chat", json={"sender_id": "r1", "text": "物业几点上班"})
    assert response.status_code == 403 and response.json()["code"] == "api_key_scope_missing"
    chat = TestClient(app, headers={"Authorization": f"Bearer {key_for(admin, '物业App')}"})
    response = chat.post("/api/import/households", json={"rows": rows})
    assert response.status_code == 403 and response.json()["code"] == "api_key_scope_missing"
    assert "数据导入" in response.json()["detail"]
    assert TestClient(app).post("/api/import/households", json={"rows": rows}).status_code == 401
    with app.state.services.db.session() as s:
        assert s.scalar(sa.select(Household.phone).where(Household.building == 21, Household.room == 101)) == \
            "13500000001"


def test_an_admin_imports_staff_and_each_new_member_signs_in_with_the_password_shown_once(app, admin):
    staff_csv = "用户名,姓名,角色,小区\nhr_wang,王芳,客服,滨江壹号\nhr_li,李强,维修师傅,\n".encode("gbk")
    for user, password in (("agent", "agent123"), ("tech1", "tech123")):
        response = upload(signed_in(app, user, password), "staff", staff_csv, name="员工.csv")
        assert response.status_code == 403 and response.json()["code"] == "admins_only"
    checked = upload(admin, "staff", staff_csv, name="员工.csv", dry_run=True).json()
    assert (checked["created"], checked["passwords"], checked["detail"]) == \
        (2, [], "员工账号试导入（未保存）：共 2 行，新增 2，更新 0，未变 0")
    done = upload(admin, "staff", staff_csv, name="员工.csv")
    assert done.status_code == 200, done.text
    passwords = {a["username"]: a["password"] for a in done.json()["passwords"]}
    assert set(passwords) == {"hr_wang", "hr_li"}
    listed = {s["username"]: s for s in admin.get("/api/admin/staff").json()["staff"]}
    assert listed["hr_wang"]["community_id"] == "binjiang" and listed["hr_li"]["role"] == "technician"
    member = signed_in(app, "hr_wang", passwords["hr_wang"])
    assert member.get("/api/auth/me").json()["must_change_password"] is True
    assert member.get("/api/agent/queue").json()["code"] == "password_change_required"
    assert upload(admin, "staff", staff_csv, name="员工.csv").json()["passwords"] == []  # shown once only
    bad = upload(admin, "staff", "用户名,姓名,角色\nhr_zhao,赵敏,保安\n".encode(), name="员工.csv")
    assert bad.status_code == 422 and bad.json()["code"] == "import_rows_invalid"
    assert bad.json()["errors"] == [{"row": 2, "column": "角色", "message": "角色只能是 客服、管理员 或 维修师傅"}]
    own = upload(admin, "staff", "用户名,姓名,角色,状态\nadmin,管理员,管理员,离职\n".encode(), name="员工.csv")
    assert own.status_code == 422 and own.json()["errors"] == [{"row": 2, "column": "状态",
                                                                "message": staff_import.OWN_ACCOUNT}]
    erp = TestClient(app, headers={"Authorization": f"Bearer {key_for(admin, 'HR', ['import'])}"})
    response = erp.post("/api/import/staff", json={"rows": [{"username": "hr_sneak", "name": "x", "role": "admin"}]})
    assert response.status_code == 403 and response.json()["code"] == "staff_import_admins_only"
    assert "hr_sneak" not in {s["username"] for s in admin.get("/api/admin/staff").json()["staff"]}


def test_new_staff_passwords_are_hashed_without_holding_the_writer_lock(app, admin, monkeypatch):
    """A thousand new accounts are most of a minute of scrypt: every resident's turn on SQLite waits for the writer
    lock, so the hashing is done before it is taken."""
    services = app.state.services
    held = []

    def hashing(password, **kwargs):
        free = services.db._writer.acquire(blocking=False)
        if free:
            services.db._writer.release()
        held.append(not free)
        return hash_password(password, **kwargs)

    monkeypatch.setattr(staff_import, "hash_password", hashing)
    data = "用户名,姓名,角色,技能组\nlock01,甲,客服,客服\nlock02,乙,维修师傅,\n".encode()
    done = upload(admin, "staff", data, name="员工.csv")
    assert done.status_code == 200, done.text
    assert held == [False, False] and {a["username"] for a in done.json()["passwords"]} == {"lock01", "lock02"}
    member = signed_in(app, "lock01", done.json()["passwords"][0]["password"])
    assert member.get("/api/auth/me").json()["must_change_password"] is True
    for dry_run in (False, True):  # a refused file answers as the request asked, though checked before writing
        refused = upload(admin, "staff", "用户名,姓名,角色\nlock03,丙,保安\n".encode(), name="员工.csv", dry_run=dry_run)
        assert refused.status_code == 422 and (refused.json()["dry_run"], refused.json()["created"]) == (dry_run, 0)
