"""API keys for `/api/chat`: admin routes (create shown once, list without the key, revoke), each key's senders in
their own namespace, the `wuye apikey` CLI, and server-side staff sessions (logout and expiry revoke a cookie)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from bot.kb.community import load_communities
from bot.main import create_app
from bot.storage.db import open_database
from bot.storage.models import ApiKey, Bill, ChatIdentity, Household, StaffSession
from bot.tools.demo import load_demo_data


@pytest.fixture(scope="module")
def app_settings(settings, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keys")
    s = dataclasses.replace(settings, database_url=f"sqlite:///{tmp / 'wuye.db'}", upload_dir=tmp / "uploads",
                            secret_key="test-secret")
    db = open_database(s.database_url)
    with db.session() as session:
        load_demo_data(session, load_communities(s.communities_file))
    db.engine.dispose()
    return s


@pytest.fixture(scope="module")
def app(app_settings, parser):
    application = create_app(app_settings, parser=parser)
    with TestClient(application):  # start-up once for the module
        yield application


def signed_in(app, user, password) -> TestClient:
    c = TestClient(app)
    c.post("/api/auth/login", json={"username": user, "password": password}).raise_for_status()
    return c


@pytest.fixture(scope="module")
def admin(app):
    return signed_in(app, "admin", "admin123")


def create_key(admin, name):
    r = admin.post("/api/admin/api-keys", json={"name": name})
    assert r.status_code == 200, r.text
    return r.json()


def chat(app, key, sender, text):
    r = TestClient(app).post("/api/chat", json={"sender_id": sender, "text": text},
                             headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return "\n".join(reply["text"] for reply in r.json()["replies"])


def test_admin_creates_lists_and_revokes_keys(app, admin):
    created = create_key(admin, "物业App")
    key = created["key"]
    assert re.fullmatch(r"wuye_[A-Za-z0-9_-]{43}", key)
    assert created["name"] == "物业App" and created["prefix"] == key[:12] and created["revoked"] is False
    with app.state.services.db.session() as session:  # only the hash and the prefix are stored
        row = session.get(ApiKey, created["id"])
        assert row.key_hash != key and len(row.key_hash) == 64 and row.prefix == key[:12]
        assert row.created_by is not None
    listed = admin.get("/api/admin/api-keys").json()["keys"]
    mine = next(k for k in listed if k["id"] == created["id"])
    assert mine == {k: created[k] for k in ("id", "name", "prefix", "created_at", "revoked_at", "revoked", "scopes")}
    assert mine["scopes"] == ["chat"]  # the default: /api/chat only (an ERP's import key: tests/integration/test_import_api.py)
    assert key not in json.dumps(listed) and "key" not in mine
    assert "办公时间" in chat(app, key, "r1", "物业几点上班")

    r = admin.post(f"/api/admin/api-keys/{created['id']}/revoke")
    assert r.status_code == 200 and r.json()["revoked"] is True and r.json()["revoked_at"]
    r = TestClient(app).post("/api/chat", json={"sender_id": "r1", "text": "你好"}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
    assert next(k for k in admin.get("/api/admin/api-keys").json()["keys"] if k["id"] == created["id"])["revoked"]


def test_key_routes_are_for_admins_only_and_errors_are_typed(app, admin):
    assert TestClient(app).get("/api/admin/api-keys").json()["code"] == "not_signed_in"
    agent = signed_in(app, "agent", "agent123")
    for r in (agent.get("/api/admin/api-keys"), agent.post("/api/admin/api-keys", json={"name": "x"}),
              agent.post("/api/admin/api-keys/1/revoke")):
        assert r.status_code == 403 and r.json()["code"] == "admins_only"
    r = admin.post("/api/admin/api-keys/999999/revoke")
    assert r.status_code == 404 and r.json() == {"detail": "找不到这个 API 密钥", "code": "api_key_not_found"}
    for name in ("", "   ", "a\u0000b", "x" * 65):
        r = admin.post("/api/admin/api-keys", json={"name": name})
        assert r.status_code == 422, name


def test_each_keys_senders_live_in_their_own_namespace(app, admin):
    key_a, key_b = create_key(admin, "A")["key"], create_key(admin, "B")["key"]
    services = app.state.services
    with services.db.session() as session:
        hid = session.scalar(sa.select(Bill.household_id).where(Bill.paid.is_(False)).order_by(Bill.household_id))
        household = session.get(Household, hid)
        label, phone = household.label, household.phone
    assert "房号" in chat(app, key_a, "same-id", "查一下我家物业费")
    assert "验证码已发送" in chat(app, key_a, "same-id", label)
    code = re.search(r"验证码是 (\d{6})", services.engine.sms.sent[-1][1]).group(1)
    assert "验证成功" in chat(app, key_a, "same-id", code)
    assert label in chat(app, key_a, "same-id", "我家还欠多少物业费")

    other = chat(app, key_b, "same-id", "我家还欠多少物业费")
    assert label not in other and "房号" in other  # key B's "same-id" is somebody else, not bound
    with services.db.session() as session:
        senders = set(session.scalars(sa.select(ChatIdentity.sender_id).where(ChatIdentity.sender_id.like("%same-id"))))
        ids = {k.name: k.id for k in session.scalars(sa.select(ApiKey))}
    assert senders == {f"k{ids['A']}:same-id", f"k{ids['B']}:same-id"}


def test_staff_logout_revokes_the_session_server_side(app):
    agent = signed_in(app, "agent", "agent123")
    copied = agent.cookies.get("wuye_staff")
    services = app.state.services
    with services.db.session() as session:
        live = session.scalars(sa.select(StaffSession).where(StaffSession.revoked_at.is_(None))).all()
        assert live and all(len(s.id) >= 43 for s in live)
        assert all(s.expires_at - s.created_at == dt.timedelta(hours=12) for s in live)
    thief = TestClient(app, cookies={"wuye_staff": copied})
    assert thief.get("/api/auth/me").status_code == 200
    assert agent.post("/api/auth/logout").status_code == 200
    r = thief.get("/api/agent/queue")
    assert r.status_code == 401 and r.json()["code"] == "not_signed_in"
    assert thief.get("/api/auth/me").status_code == 401


def test_an_expired_staff_session_is_refused(app):
    agent = signed_in(app, "agent", "agent123")
    assert agent.get("/api/agent/queue").status_code == 200
    services = app.state.services
    with services.db.session() as session:
        for row in session.scalars(sa.select(StaffSession).where(StaffSession.revoked_at.is_(None))):
            row.expires_at = services.clock() - dt.timedelta(seconds=1)
    assert agent.get("/api/agent/queue").status_code == 401


def test_an_old_style_cookie_with_a_staff_id_is_refused(app, app_settings):
    from itsdangerous import URLSafeTimedSerializer

    for salt, payload in (("staff", {"staff": 1}), ("staff-session", {"sid": "guessed"}), ("staff-session", {"sid": 1})):
        forged = URLSafeTimedSerializer(app_settings.secret_key, salt=salt).dumps(payload)
        assert TestClient(app, cookies={"wuye_staff": forged}).get("/api/auth/me").status_code == 401


def test_cli_creates_lists_and_revokes_keys(app_settings, monkeypatch, capsys):
    from bot.tools import cli

    monkeypatch.setattr(cli, "get_settings", lambda: app_settings)
    assert cli.main(["apikey", "create", "门禁系统"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("wuye_")
    with open_database(app_settings.database_url).session() as session:
        row = session.scalar(sa.select(ApiKey).where(ApiKey.name == "门禁系统"))
        assert row.revoked_at is None and row.prefix == key[:12]
    assert cli.main(["apikey", "list"]) == 0
    listed = capsys.readouterr().out
    assert "门禁系统" in listed and key[:12] in listed and key not in listed
    assert cli.main(["apikey", "create", "收费系统", "--scope", "import"]) == 0  # an ERP's key: imports only
    capsys.readouterr()
    assert cli.main(["apikey", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("门禁系统\t对话\t" in line for line in lines) and any("收费系统\t数据导入\t" in line for line in lines)
    assert cli.main(["apikey", "revoke", str(row.id)]) == 0
    assert "已吊销" in capsys.readouterr().out
    assert cli.main(["apikey", "revoke", "999999"]) == 1
