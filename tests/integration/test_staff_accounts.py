"""Staff accounts as a company runs them (issue 26 point 2), over real HTTP on a live server: the admin page's 员工
routes (bad input refused in Chinese with nothing stored, duplicates, non-admins), the password policy, the forced
first-login change, lock-out, disabling, session lists and revocation, and scoping by 小区."""
from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from bot.storage.models import Staff
from bot.tools.devserver import LiveServer

GOOD = "Qiuyue-2026!"


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("accounts"), settings, parser) as live:
        yield live


def client(server, ip: str = "") -> httpx.Client:
    # a distinct X-Real-IP per test: the per-address failure limit of one test does not lock another's logins
    return httpx.Client(base_url=server.url, timeout=30, headers={"X-Real-IP": ip} if ip else {})


def login(server, username, password, ip: str = "") -> httpx.Client:
    c = client(server, ip)
    r = c.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return c


@pytest.fixture(scope="module")
def admin(server):
    return login(server, "admin", "admin123")


def staff_rows(server):
    with server.app.state.services.db.session() as session:
        return {s.username: (s.role, s.community_id, s.must_change_password) for s in session.query(Staff)}


def add(admin, username, **fields):
    body = {"username": username, "display_name": fields.pop("display_name", "新同事"), "password": GOOD,
            "role": "agent", **fields}
    return admin.post("/api/admin/staff", json=body)


@pytest.mark.parametrize("fields,code,words", [
    ({"password": "short1A"}, "weak_password", "至少需要 10 个字符"),
    ({"password": "1234567890123"}, "weak_password", "不能全是数字"),
    ({"password": "newbie_user"}, "weak_password", "不能与用户名相同"),
    ({"role": "boss"}, "invalid_role", "角色只能是"),
    ({"community_id": "nowhere"}, "unknown_community", "没有这个小区"),
    ({"display_name": "  "}, "invalid_display_name", "姓名"),
    ({"username": "坏 名字"}, "invalid_username", "用户名"),
])
def test_bad_input_is_refused_in_chinese_and_nothing_is_stored(server, admin, fields, code, words):
    before = staff_rows(server)
    r = add(admin, fields.pop("username", "newbie_user"), **fields)
    assert r.status_code == 422 and r.json()["code"] == code and words in r.json()["detail"], r.text
    assert staff_rows(server) == before


def test_a_missing_field_is_a_chinese_422(admin):
    r = admin.post("/api/admin/staff", json={"username": "x1"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request" and re.search(r"[\u4e00-\u9fff]", r.json()["detail"])


def test_an_admin_adds_lists_and_a_duplicate_is_409(server, admin):
    r = add(admin, "binjiang_kefu", display_name="滨江客服", community_id="binjiang")
    assert r.status_code == 201, r.text
    assert r.json()["must_change_password"] is True and r.json()["community"] == "滨江壹号"
    listed = {s["username"]: s for s in admin.get("/api/admin/staff").json()["staff"]}
    assert listed["binjiang_kefu"]["role_label"] == "客服" and "password_hash" not in listed["binjiang_kefu"]
    again = add(admin, "BINJIANG_KEFU")
    assert again.status_code == 409 and again.json()["code"] == "username_taken" and "已被使用" in again.json()["detail"]


def test_non_admins_cannot_manage_staff(server):
    agent = login(server, "agent", "agent123")
    r = agent.post("/api/admin/staff", json={"username": "sneaky", "display_name": "x", "password": GOOD,
                                             "role": "admin"})
    assert r.status_code == 403 and r.json()["code"] == "admins_only"
    assert "sneaky" not in staff_rows(server)


def test_first_login_requires_a_password_change_before_anything_else(server, admin):
    assert add(admin, "newagent", display_name="新客服").status_code == 201
    me = login(server, "newagent", GOOD, ip="203.0.113.10")
    assert me.get("/api/auth/me").json()["must_change_password"] is True
    for path in ("/api/agent/queue", "/api/staff/work-orders"):
        r = me.get(path)
        assert r.status_code == 403 and r.json()["code"] == "password_change_required" and "修改" in r.json()["detail"]
    wrong = me.post("/api/auth/password", json={"old_password": "nope", "new_password": "Another-pass-1"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "wrong_old_password"
    weak = me.post("/api/auth/password", json={"old_password": GOOD, "new_password": "12345678901"})
    assert weak.status_code == 422 and weak.json()["code"] == "weak_password" and "数字" in weak.json()["detail"]
    same = me.post("/api/auth/password", json={"old_password": GOOD, "new_password": GOOD})
    assert same.status_code == 422 and same.json()["code"] == "weak_password"
    assert me.get("/api/agent/queue").status_code == 403  # the refused changes changed nothing
    ok = me.post("/api/auth/password", json={"old_password": GOOD, "new_password": "Another-pass-1"})
    assert ok.status_code == 200 and ok.json()["must_change_password"] is False
    assert me.get("/api/agent/queue").status_code == 200  # this session stays signed in
    assert client(server).post("/api/auth/login", json={"username": "newagent", "password": GOOD}).status_code == 401


def test_five_failures_lock_the_account_for_fifteen_minutes_and_a_reset_lifts_it(server, admin):
    services = server.app.state.services
    assert add(admin, "locky", display_name="锁").status_code == 201
    for _ in range(5):
        r = client(server, "203.0.113.20").post("/api/auth/login", json={"username": "locky", "password": "wrong-one"})
        assert r.status_code == 401 and r.json()["code"] == "wrong_credentials"
    locked = client(server, "203.0.113.21").post("/api/auth/login", json={"username": "locky", "password": GOOD})
    assert locked.status_code == 429 and locked.json()["code"] == "login_locked" and "15 分钟" in locked.json()["detail"]
    clock = services.engine.clock
    try:
        services.engine.clock = lambda: clock() + dt.timedelta(minutes=14)  # still locked near the end of the lock
        assert client(server, "203.0.113.22").post(
            "/api/auth/login", json={"username": "locky", "password": GOOD}).status_code == 429
        services.engine.clock = lambda: clock() + dt.timedelta(minutes=16)
        login(server, "locky", GOOD, ip="203.0.113.23")  # the lock has ended
    finally:
        services.engine.clock = clock
    # locked again, then an admin's reset lifts the lock (the member forgot their password)
    for _ in range(5):
        client(server, "203.0.113.24").post("/api/auth/login", json={"username": "locky", "password": "wrong-one"})
    locky_id = next(s["id"] for s in admin.get("/api/admin/staff").json()["staff"] if s["username"] == "locky")
    assert admin.post(f"/api/admin/staff/{locky_id}/password", json={"password": "Temporary-22"}).status_code == 200
    assert login(server, "locky", "Temporary-22", ip="203.0.113.25").get("/api/auth/me").json()["must_change_password"]


def test_failures_from_one_address_lock_that_address(server):
    services = server.app.state.services
    per_ip = services.engine.limits.login_failures_per_ip.count
    for i in range(per_ip):
        client(server, "203.0.113.30").post("/api/auth/login", json={"username": f"guess{i}", "password": "x"})
    r = client(server, "203.0.113.30").post("/api/auth/login", json={"username": "agent", "password": "agent123"})
    assert r.status_code == 429 and r.json()["code"] == "login_locked"
    login(server, "agent", "agent123", ip="203.0.113.31")  # another address is not affected


def test_sessions_are_listed_and_revoked_by_the_member_and_by_an_admin(server, admin):
    assert add(admin, "sessiony", display_name="会话").status_code == 201
    first = login(server, "sessiony", GOOD, ip="203.0.113.40")
    first.post("/api/auth/password", json={"old_password": GOOD, "new_password": "Sessions-pass-1"}).raise_for_status()
    second = login(server, "sessiony", "Sessions-pass-1", ip="203.0.113.41")
    third = login(server, "sessiony", "Sessions-pass-1", ip="203.0.113.42")
    own = second.get("/api/auth/sessions").json()["sessions"]
    assert len(own) == 3 and [s["current"] for s in own].count(True) == 1
    assert {s["ip"] for s in own} == {"203.0.113.40", "203.0.113.41", "203.0.113.42"}
    # the member signs another of their sessions out
    other = next(s["id"] for s in own if s["ip"] == "203.0.113.42")
    assert second.delete(f"/api/auth/sessions/{other}").status_code == 200
    assert third.get("/api/auth/me").status_code == 401
    # an admin sees the member's sessions and revokes one
    sid = next(s["id"] for s in admin.get("/api/admin/staff").json()["staff"] if s["username"] == "sessiony")
    listed = admin.get(f"/api/admin/staff/{sid}/sessions").json()["sessions"]
    assert {s["ip"] for s in listed} == {"203.0.113.40", "203.0.113.41"}
    target = next(s["id"] for s in listed if s["ip"] == "203.0.113.41")
    assert admin.delete(f"/api/admin/staff/{sid}/sessions/{target}").status_code == 200
    assert second.get("/api/auth/me").status_code == 401 and first.get("/api/auth/me").status_code == 200
    missing = admin.delete(f"/api/admin/staff/{sid}/sessions/{target}")
    assert missing.status_code == 404 and missing.json()["code"] == "session_not_found"
    # a member cannot revoke someone else's session by its handle
    mine = first.get("/api/auth/sessions").json()["sessions"][0]["id"]
    assert admin.delete(f"/api/auth/sessions/{mine}").status_code == 404
    # disabling signs the member out everywhere and refuses their sign-in; enabling lets them in again
    r = admin.patch(f"/api/admin/staff/{sid}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True and r.json()["sessions"] == 0
    assert first.get("/api/auth/me").status_code == 401
    refused = client(server, "203.0.113.43").post("/api/auth/login", json={"username": "sessiony",
                                                                           "password": "Sessions-pass-1"})
    assert refused.status_code == 403 and refused.json()["code"] == "account_disabled" and "停用" in refused.json()["detail"]
    assert admin.patch(f"/api/admin/staff/{sid}", json={"disabled": False}).json()["disabled"] is False
    login(server, "sessiony", "Sessions-pass-1", ip="203.0.113.44")


def test_role_and_community_changes_and_the_last_admin_stays(server, admin):
    staff = {s["username"]: s for s in admin.get("/api/admin/staff").json()["staff"]}
    r = admin.patch(f"/api/admin/staff/{staff['tech2']['id']}", json={"community_id": "jinxiu", "role": "agent"})
    assert r.status_code == 200 and r.json()["role"] == "agent" and r.json()["community"] == "锦绣花园"
    bad = admin.patch(f"/api/admin/staff/{staff['tech2']['id']}", json={"role": "agent", "community_id": "mars"})
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_community"
    back = admin.patch(f"/api/admin/staff/{staff['tech2']['id']}", json={"community_id": "", "role": "technician"})
    assert back.status_code == 200, back.text
    assert staff_rows(server)["tech2"][:2] == ("technician", None)
    # an admin's own account: neither disabled nor demoted from the page they use (the only admin here, too)
    listed = admin.get("/api/admin/staff").json()
    assert listed["you"] == staff["admin"]["id"]
    own = admin.patch(f"/api/admin/staff/{staff['admin']['id']}", json={"disabled": True})
    assert own.status_code == 409 and own.json()["code"] == "own_account" and "另一位管理员" in own.json()["detail"]
    demoted = admin.patch(f"/api/admin/staff/{staff['admin']['id']}", json={"role": "agent", "display_name": "改名"})
    assert demoted.status_code == 409 and demoted.json()["code"] == "own_account"
    assert staff_rows(server)["admin"][0] == "admin"
    assert {s["username"]: s["display_name"] for s in admin.get("/api/admin/staff").json()["staff"]}["admin"] != "改名"
    assert admin.patch(f"/api/admin/staff/{staff['admin']['id']}", json={"disabled": False}).status_code == 200
    assert admin.get("/api/admin/staff").status_code == 200


def _resident_asks_for_a_person(server, community: str) -> int:
    """A resident of ``community`` (opened from its signed link) asks for a person: the queue item's conversation."""
    from bot.access.auth import sign_community_link

    resident = client(server)
    link = sign_community_link(server.app.state.services.settings.secret_key, community)
    resident.post("/api/widget/session", params={"c": link}).raise_for_status()
    resident.post("/api/widget/messages", json={"text": "我要找人工客服"}).raise_for_status()
    return resident.get("/api/widget/history").json()["messages"][0]["conversation_id"]


def test_an_agent_of_one_community_sees_only_its_queue_conversations_and_orders(server, admin):
    jinxiu = _resident_asks_for_a_person(server, "jinxiu")
    binjiang = _resident_asks_for_a_person(server, "binjiang")
    assert add(admin, "bj_agent", display_name="滨江客服", community_id="binjiang").status_code == 201
    agent = login(server, "bj_agent", GOOD, ip="203.0.113.60")
    agent.post("/api/auth/password", json={"old_password": GOOD, "new_password": "Binjiang-kefu-1"}).raise_for_status()
    everyone = login(server, "agent", "agent123", ip="203.0.113.61")  # serves no particular 小区: sees all

    def queued(c):
        body = c.get("/api/agent/queue").json()
        return {q["conversation_id"] for q in body["queue"] + body.get("others", [])}

    assert binjiang in queued(agent) and jinxiu not in queued(agent)
    assert {jinxiu, binjiang} <= queued(everyone) and {jinxiu, binjiang} <= queued(admin)
    assert agent.get(f"/api/agent/conversations/{binjiang}").status_code == 200
    other = agent.get(f"/api/agent/conversations/{jinxiu}")
    assert other.status_code == 404 and other.json()["code"] == "conversation_not_found"
    handoff = next(q["handoff_id"] for q in everyone.get("/api/agent/queue").json()["queue"]
                   if q["conversation_id"] == jinxiu)
    assert agent.post(f"/api/agent/handoffs/{handoff}/claim").status_code == 404  # another 小区's: not claimed
    assert jinxiu in queued(everyone)
    # the desk: the 滨江 agent's list has 滨江's orders only, and a 锦绣 order is a 404
    orders = agent.get("/api/staff/work-orders", params={"limit": 500}).json()["orders"]
    assert orders and {o["community_id"] for o in orders} == {"binjiang"}
    assert agent.get("/api/staff/work-orders", params={"community": "jinxiu"}).json()["orders"] == []
    assert [c["id"] for c in agent.get("/api/staff/work-orders").json()["communities"]] == ["binjiang"]  # its filter
    all_orders = everyone.get("/api/staff/work-orders", params={"limit": 500}).json()["orders"]
    assert {o["community_id"] for o in all_orders} == {"jinxiu", "binjiang"}
    jinxiu_order = next(o["id"] for o in all_orders if o["community_id"] == "jinxiu")
    assert agent.get(f"/api/staff/work-orders/{jinxiu_order}").status_code == 404
    assert everyone.get(f"/api/staff/work-orders/{jinxiu_order}").status_code == 200


def test_the_console_socket_of_an_agent_of_one_community_carries_only_its_queue(server, admin):
    import asyncio
    import json

    import websockets

    assert add(admin, "bj_socket", display_name="滨江客服二", community_id="binjiang").status_code == 201
    agent = login(server, "bj_socket", GOOD, ip="203.0.113.70")
    cookie = agent.cookies.get("wuye_staff")

    async def refused_until_changed():  # a temporary password does not open the live queue either
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as info:
            async with websockets.connect(server.url.replace("http", "ws") + "/ws/agent",
                                          extra_headers={"Cookie": f"wuye_staff={cookie}"}):
                pass
        return info.value.status_code

    assert asyncio.run(refused_until_changed()) == 403
    agent.post("/api/auth/password", json={"old_password": GOOD, "new_password": "Binjiang-socket-1"}).raise_for_status()

    async def watch():
        async with websockets.connect(server.url.replace("http", "ws") + "/ws/agent",
                                      extra_headers={"Cookie": f"wuye_staff={cookie}"}) as ws:
            first = json.loads(await ws.recv())
            assert first["type"] == "queue"
            jinxiu = await asyncio.to_thread(_resident_asks_for_a_person, server, "jinxiu")
            binjiang = await asyncio.to_thread(_resident_asks_for_a_person, server, "binjiang")
            seen = set()
            deadline = asyncio.get_event_loop().time() + 20
            while binjiang not in seen and asyncio.get_event_loop().time() < deadline:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if frame.get("type") == "queue":
                    seen |= {q["conversation_id"] for q in frame["queue"]}
            return first, jinxiu, binjiang, seen

    first, jinxiu, binjiang, seen = asyncio.run(watch())
    assert binjiang in seen and jinxiu not in seen
    assert all(q["conversation_id"] not in (jinxiu,) for q in first["queue"])


def _resident_says(server, community: str, text: str) -> int:
    """A resident of ``community`` (its signed link) says ``text``: their conversation's id."""
    from bot.access.auth import sign_community_link

    resident = client(server)
    link = sign_community_link(server.app.state.services.settings.secret_key, community)
    resident.post("/api/widget/session", params={"c": link}).raise_for_status()
    resident.post("/api/widget/messages", json={"text": text}).raise_for_status()
    return resident.get("/api/widget/history").json()["messages"][0]["conversation_id"]


def _scoped_agent(server, admin, username: str, community: str, ip: str) -> httpx.Client:
    assert add(admin, username, display_name=f"{community}客服", community_id=community).status_code == 201
    agent = login(server, username, GOOD, ip=ip)
    agent.post("/api/auth/password", json={"old_password": GOOD, "new_password": f"{username}-Pass-1"}).raise_for_status()
    return agent


def test_an_agent_of_one_community_sees_only_its_incidents(server, admin):
    _resident_says(server, "jinxiu", "8栋突然停电了")
    _resident_says(server, "binjiang", "8栋突然停电了")
    agent = _scoped_agent(server, admin, "bj_incidents", "binjiang", "203.0.113.80")
    everyone = admin.get("/api/agent/incidents", params={"status": "all"}).json()["incidents"]
    assert {"jinxiu", "binjiang"} <= {i["community_id"] for i in everyone}
    mine = agent.get("/api/agent/incidents", params={"status": "all"}).json()["incidents"]
    assert mine and {i["community_id"] for i in mine} == {"binjiang"}
    other = next(i["id"] for i in everyone if i["community_id"] == "jinxiu" and i["status"] == "open")
    own = next(i["id"] for i in mine if i["status"] == "open")
    assert agent.get(f"/api/agent/incidents/{own}").status_code == 200
    for method, path, body in (("GET", f"/api/agent/incidents/{other}", None),
                               ("POST", f"/api/agent/incidents/{other}/resolve", {"resolution": "已恢复"}),
                               ("POST", f"/api/agent/incidents/{other}/split", {"conversation_ids": [1]}),
                               ("POST", f"/api/agent/incidents/{own}/merge", {"into": other})):
        r = agent.request(method, path, json=body)
        assert r.status_code == 404 and r.json()["code"] == "incident_not_found", (path, r.text)
    assert admin.get(f"/api/agent/incidents/{other}").json()["status"] == "open"  # nothing was done to it


def test_a_dispatcher_of_one_community_lists_and_assigns_only_its_technicians(server, admin):
    assert add(admin, "bj_tech", display_name="滨江师傅", role="technician", community_id="binjiang").status_code == 201
    assert add(admin, "jx_tech", display_name="锦绣师傅", role="technician", community_id="jinxiu").status_code == 201
    agent = _scoped_agent(server, admin, "bj_dispatch", "binjiang", "203.0.113.81")
    names = {t["username"] for t in agent.get("/api/staff/work-orders/technicians").json()["technicians"]}
    assert "bj_tech" in names and "jx_tech" not in names and {"tech1", "tech2"} <= names  # every 小区's serve here too
    assert {"bj_tech", "jx_tech"} <= {t["username"] for t in
                                      admin.get("/api/staff/work-orders/technicians").json()["technicians"]}
    ids = {t["username"]: t["id"] for t in admin.get("/api/staff/work-orders/technicians").json()["technicians"]}
    order = next(o for o in agent.get("/api/staff/work-orders", params={"limit": 500}).json()["orders"]
                 if o["status"] in ("待受理", "已派单"))
    refused = admin.post(f"/api/staff/work-orders/{order['id']}/assign", json={"technician_id": ids["jx_tech"]})
    assert refused.status_code == 422 and refused.json()["code"] == "technician_other_community"
    assert "锦绣师傅不服务这个工单的小区" in refused.json()["detail"]
    ok = agent.post(f"/api/staff/work-orders/{order['id']}/assign", json={"technician_id": ids["bj_tech"]})
    assert ok.status_code == 200, ok.text


def test_the_console_socket_of_an_agent_of_one_community_carries_only_its_events(server, admin):
    import asyncio
    import json

    import websockets

    agent = _scoped_agent(server, admin, "bj_events", "binjiang", "203.0.113.82")
    cookie = agent.cookies.get("wuye_staff")
    orders = admin.get("/api/staff/work-orders", params={"limit": 500}).json()["orders"]
    open_order = {c: next(o["id"] for o in orders if o["community_id"] == c and o["status"] not in ("已完成", "已取消"))
                  for c in ("jinxiu", "binjiang")}

    def touch(order_id: int) -> None:  # a note on the order: the desk's work_order_changed event
        r = admin.post(f"/api/staff/work-orders/{order_id}/status", json={"status": "维修中", "note": "到场"})
        if r.status_code != 200:
            technician = admin.get("/api/staff/work-orders/technicians").json()["technicians"][0]["id"]
            admin.post(f"/api/staff/work-orders/{order_id}/assign", json={"technician_id": technician}).raise_for_status()

    async def watch():
        async with websockets.connect(server.url.replace("http", "ws") + "/ws/agent",
                                      extra_headers={"Cookie": f"wuye_staff={cookie}"}) as ws:
            assert json.loads(await ws.recv())["type"] == "queue"
            jinxiu = await asyncio.to_thread(_resident_asks_for_a_person, server, "jinxiu")
            await asyncio.to_thread(touch, open_order["jinxiu"])
            await asyncio.to_thread(touch, open_order["binjiang"])
            binjiang = await asyncio.to_thread(_resident_asks_for_a_person, server, "binjiang")
            events = []
            deadline = asyncio.get_event_loop().time() + 20
            while not any(e.get("conversation_id") == binjiang for e in events):
                frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - asyncio.get_event_loop().time()))
                if frame.get("type") == "event":
                    events.append(frame)
            return jinxiu, binjiang, events

    jinxiu, binjiang, events = asyncio.run(watch())
    # the same order on the hub: every 锦绣 event was published before the 滨江 handoff's, so none was held back
    assert {e.get("work_order_id") for e in events} >= {open_order["binjiang"]}
    assert open_order["jinxiu"] not in {e.get("work_order_id") for e in events}
    assert jinxiu not in {e.get("conversation_id") for e in events}
    assert {e["kind"] for e in events if e.get("conversation_id") == binjiang} >= {"handoff_opened"}


def test_an_agent_of_one_community_gets_no_export_rows(server, admin):
    agent = _scoped_agent(server, admin, "bj_exports", "binjiang", "203.0.113.83")
    # exports are the admins' (who serve every 小区): a member limited to one 小区 is refused every one of them
    for path in ("/api/admin/export/conversations.csv", "/api/admin/export/handoffs.csv",
                 "/api/admin/export/failed.csv", "/api/admin/audit.csv", "/api/admin/polls/1/results.csv"):
        r = agent.get(path)
        assert r.status_code == 403 and r.json()["code"] == "admins_only"
    assert admin.get("/api/admin/export/conversations.csv").status_code == 200
