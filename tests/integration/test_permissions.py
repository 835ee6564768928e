"""Who may call what (bot/access/permissions.py), over real HTTP and WebSockets on a live server with the demo staff.

The matrix below declares every route of the app and who may call it. The walk calls each staff route as nobody,
a technician, an agent and an admin and checks the answer against the matrix; a route the app has and the matrix
does not name fails the test, so a new route must say who may call it. Then the technician's desk in detail (only
their own and unassigned orders, no dispatching, no console socket), and console sockets closed at logout."""
from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import websockets
from starlette.routing import Mount

from bot.tools.devserver import LiveServer
from tests.clients import DEMO_LOGINS, signed_in

TECH, AGENT, ADMIN = "technician", "agent", "admin"
DESK = {TECH, AGENT, ADMIN}
CONSOLE = {AGENT, ADMIN}
ADMINS = {ADMIN}
# routes without a staff sign-in: who they are for (they are not walked as staff; their own tests cover them)
PUBLIC, RESIDENT, API_KEY, WECHAT = "public", "resident", "api key", "wechat signature"

MATRIX = {
    "GET /openapi.json": PUBLIC, "GET /redoc": PUBLIC, "GET /docs": PUBLIC,
    "POST /api/parse": PUBLIC, "POST /api/chat": API_KEY, "GET /api/chat/messages": API_KEY,
    "POST /api/import/{kind}": "api key with the import scope",  # an ERP's batch import (tests/integration/test_import_api.py)
    "GET /": PUBLIC, "GET /embed.js": PUBLIC, "POST /api/widget/session": PUBLIC,
    "GET /api/widget/history": RESIDENT, "POST /api/widget/messages": RESIDENT, "POST /api/widget/upload": RESIDENT,
    "POST /api/widget/privacy": RESIDENT,
    "GET /uploads/{name}": PUBLIC, "WS /ws/chat": RESIDENT, "POST /api/widget/rating": RESIDENT,
    "GET /api/widget/notices": PUBLIC,
    "GET /wechat": WECHAT, "POST /wechat": WECHAT,
    "POST /api/auth/login": PUBLIC, "POST /api/auth/logout": PUBLIC,
    "GET /api/auth/setup": PUBLIC, "POST /api/auth/setup": "anyone with the server's one-time setup token, while no staff exists", "GET /api/auth/me": DESK,
    "POST /api/auth/password": DESK, "GET /api/auth/sessions": DESK, "DELETE /api/auth/sessions/{handle}": DESK,
    # staff accounts (bot/api/staff_admin.py)
    "GET /api/admin/staff": ADMINS, "POST /api/admin/staff": ADMINS, "PATCH /api/admin/staff/{staff_id}": ADMINS,
    "POST /api/admin/staff/{staff_id}/password": ADMINS, "GET /api/admin/staff/{staff_id}/sessions": ADMINS,
    "DELETE /api/admin/staff/{staff_id}/sessions/{handle}": ADMINS,
    "GET /agent": PUBLIC, "GET /admin": PUBLIC, "GET /desk": PUBLIC,  # pages: the data behind them is checked
    "GET /api/health": PUBLIC, "GET /api/ready": PUBLIC, "GET /metrics": "internal scrapers or the metrics token",
    # the console
    "GET /api/agent/queue": CONSOLE, "GET /api/agent/conversations/{conversation_id}": CONSOLE,
    "GET /api/agent/knowledge": CONSOLE, "POST /api/agent/handoffs/{handoff_id}/claim": CONSOLE,
    "POST /api/agent/conversations/{conversation_id}/messages": CONSOLE,
    "POST /api/agent/conversations/{conversation_id}/resolve": CONSOLE,
    "POST /api/agent/conversations/{conversation_id}/release": CONSOLE,
    "POST /api/agent/conversations/{conversation_id}/triage": CONSOLE,
    "GET /api/agent/quick-replies": CONSOLE, "GET /api/agent/incidents": CONSOLE,
    "GET /api/agent/incidents/{incident_id}": CONSOLE, "POST /api/agent/incidents/{incident_id}/resolve": CONSOLE,
    "POST /api/agent/incidents/{incident_id}/merge": CONSOLE, "POST /api/agent/incidents/{incident_id}/split": CONSOLE,
    "WS /ws/agent": CONSOLE, "POST /api/agent/state": CONSOLE,
    # teams (技能组) and the supervisor's view
    "GET /api/admin/teams": ADMINS, "POST /api/admin/teams": ADMINS, "PUT /api/admin/teams/{team_id}": ADMINS,
    "DELETE /api/admin/teams/{team_id}": ADMINS, "GET /api/admin/agents": ADMINS,
    # the desk
    "GET /api/staff/work-orders": DESK, "GET /api/staff/work-orders/sla": DESK,
    "GET /api/staff/work-orders/{order_id:int}": DESK, "POST /api/staff/work-orders/{order_id}/status": DESK,
    "POST /api/staff/work-orders/photos": DESK,
    "GET /api/staff/work-orders/technicians": CONSOLE, "POST /api/staff/work-orders/{order_id}/assign": CONSOLE,
    # the admin page
    "GET /api/admin/faq": ADMINS, "GET /api/admin/faq/{faq_id}": ADMINS, "PUT /api/admin/faq/{faq_id}": ADMINS,
    "POST /api/admin/faq": ADMINS, "POST /api/admin/faq/{faq_id}/retire": ADMINS,
    "POST /api/admin/faq/{faq_id}/restore": ADMINS,
    "GET /api/admin/communities": ADMINS, "POST /api/admin/communities": ADMINS,
    "PUT /api/admin/communities/{community_id}": ADMINS, "POST /api/admin/communities/{community_id}/retire": ADMINS,
    "POST /api/admin/communities/{community_id}/restore": ADMINS, "GET /api/admin/communities/{community_id}/sla": ADMINS,
    "PUT /api/admin/communities/{community_id}/sla": ADMINS, "GET /api/admin/faq/{faq_id}/suggestions": ADMINS,
    "GET /api/admin/training": ADMINS, "GET /api/admin/failures": ADMINS,
    "POST /api/admin/failures/{message_id}/add-to-faq": ADMINS, "GET /api/admin/figures": ADMINS,
    "GET /api/admin/retention": ADMINS, "GET /api/admin/audit": ADMINS, "GET /api/admin/audit.csv": ADMINS,
    "GET /api/admin/residents/data": ADMINS, "POST /api/admin/residents/erase": ADMINS,
    "GET /api/admin/api-keys": ADMINS, "POST /api/admin/api-keys": ADMINS,
    "POST /api/admin/api-keys/{key_id}/revoke": ADMINS, "GET /api/admin/quick-replies": ADMINS,
    "POST /api/admin/quick-replies": ADMINS, "PUT /api/admin/quick-replies/{reply_id}": ADMINS,
    "DELETE /api/admin/quick-replies/{reply_id}": ADMINS, "GET /api/admin/work-order-figures": ADMINS,
    "GET /api/admin/export/{kind}.csv": ADMINS, "GET /api/admin/notices": ADMINS,
    "GET /api/admin/notices/{notice_id}": ADMINS, "POST /api/admin/notices": ADMINS,
    "PUT /api/admin/notices/{notice_id}": ADMINS, "POST /api/admin/notices/{notice_id}/withdraw": ADMINS,
    "POST /api/admin/import/{kind}": ADMINS,
    # residents' voice (bot/api/voice.py)
    "GET /api/admin/suggestions": ADMINS, "POST /api/admin/suggestions/{suggestion_id}": ADMINS,
    "GET /api/admin/polls": ADMINS, "POST /api/admin/polls": ADMINS, "GET /api/admin/polls/{poll_id}": ADMINS,
    "POST /api/admin/polls/{poll_id}/close": ADMINS, "GET /api/admin/polls/{poll_id}/results.csv": ADMINS,
}
REFUSAL_CODES = {"not_signed_in", "not_allowed", "console_only", "admins_only", "dispatchers_only"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("permissions"), settings, parser) as live:
        yield live


def app_routes(app):
    for route in app.routes:
        if isinstance(route, Mount):
            continue
        for method in sorted((getattr(route, "methods", None) or {"WS"}) - {"HEAD"}):
            yield f"{method} {route.path}"


def test_every_route_declares_who_may_call_it(server):
    routes = set(app_routes(server.app))
    assert routes - set(MATRIX) == set(), "routes missing from the matrix: say who may call them"
    assert set(MATRIX) - routes == set(), "the matrix names routes the app no longer has"


def test_the_route_by_role_matrix_holds(server):
    """Every staff route as nobody (401), and as each role: refused with 403 and a permission code exactly when
    the matrix says so. Ids that do not exist keep the allowed calls from changing anything (they answer 404/422)."""
    clients = {None: httpx.Client(base_url=server.url, timeout=30), **{r: signed_in(server, r) for r in DEMO_LOGINS}}
    failures, walked = [], 0
    for key, allowed in MATRIX.items():
        method, path = key.split(" ", 1)
        if not isinstance(allowed, set) or method == "WS":
            continue
        url = re.sub(r"\{kind\}", "conversations", re.sub(r"\{faq_id\}", "no_such_entry", path))
        url = re.sub(r"\{[a-z_]+(:int)?\}", "999999", url)
        for role, client in clients.items():
            response = client.request(method, url, **({"json": {}} if method in ("POST", "PUT") else {}))
            walked += 1
            code = response.json().get("code") if response.headers.get("content-type", "").startswith(
                "application/json") and isinstance(response.json(), dict) else None
            if role is None:
                ok = response.status_code == 401 and code == "not_signed_in"
            elif role in allowed:
                ok = response.status_code not in (401, 403) and code not in REFUSAL_CODES
            else:
                ok = response.status_code == 403 and code in REFUSAL_CODES
            if not ok:
                failures.append(f"{key} as {role}: {response.status_code} {code}")
    assert walked == 4 * 82  # every staff HTTP route, as nobody and as each of the three roles
    assert failures == []


def _resident(server) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/widget/session").raise_for_status()
    return client


def _report(server, what: str) -> str:
    resident = _resident(server)
    for text in ("我要报修", what, "3栋2单元501，13800138000，明天上午", "一般"):
        resident.post("/api/widget/messages", json={"text": text}).raise_for_status()
    texts = [m["text"] for m in resident.get("/api/widget/history").json()["messages"] if m["sender"] == "bot"]
    return re.search(r"WO\d{11}", next(t for t in reversed(texts) if "已为您创建维修工单" in t)).group(0)


def test_a_technician_sees_and_moves_only_their_own_and_unassigned_orders(server):
    agent, tech1, tech2 = signed_in(server, AGENT), signed_in(server, TECH), signed_in(server, "tech2", "tech123")
    numbers = {name: _report(server, what) for name, what in
               (("mine", "厨房水龙头漏水"), ("theirs", "卫生间灯不亮了"), ("open", "阳台门关不上"))}
    orders = {name: agent.get("/api/staff/work-orders", params={"q": n}).json()["orders"][0]
              for name, n in numbers.items()}
    technicians = {t["username"]: t["id"] for t in agent.get("/api/staff/work-orders/technicians").json()["technicians"]}
    for name, user in (("mine", "tech1"), ("theirs", "tech2")):
        agent.post(f"/api/staff/work-orders/{orders[name]['id']}/assign",
                   json={"technician_id": technicians[user]}).raise_for_status()

    listed = {o["number"] for o in tech1.get("/api/staff/work-orders", params={"limit": 500}).json()["orders"]}
    assert numbers["mine"] in listed and numbers["open"] in listed and numbers["theirs"] not in listed
    assert numbers["theirs"] in {o["number"] for o in tech2.get("/api/staff/work-orders").json()["orders"]}
    theirs = tech1.get(f"/api/staff/work-orders/{orders['theirs']['id']}")
    assert theirs.status_code == 404 and theirs.json()["code"] == "work_order_not_found"  # not even confirmed
    assert "13800138000" not in theirs.text
    moved = tech1.post(f"/api/staff/work-orders/{orders['theirs']['id']}/status", json={"status": "维修中"})
    assert moved.status_code == 404

    mine = tech1.get(f"/api/staff/work-orders/{orders['mine']['id']}").json()
    assert mine["next_statuses"] == ["维修中"]  # no 取消 button for a technician: only the moves they may make
    assert mine["actions"] == ["start"]  # the desk's buttons: no 派单, no 取消工单
    unassigned = tech1.get(f"/api/staff/work-orders/{orders['open']['id']}").json()
    assert unassigned["next_statuses"] == [] and unassigned["actions"] == []
    dispatcher_view = agent.get(f"/api/staff/work-orders/{orders['mine']['id']}").json()
    assert dispatcher_view["next_statuses"] == ["维修中", "已取消"] and dispatcher_view["actions"] == ["assign", "start", "cancel"]
    # the pages hide what an account cannot use from its capabilities, not from role names
    assert tech1.get("/api/auth/me").json()["capabilities"] == ["desk"]
    assert agent.get("/api/auth/me").json()["capabilities"] == ["console", "desk", "dispatch"]
    cancel = tech1.post(f"/api/staff/work-orders/{orders['mine']['id']}/status", json={"status": "已取消", "note": "x"})
    assert cancel.status_code == 403 and cancel.json()["code"] == "dispatchers_only"
    grab = tech1.post(f"/api/staff/work-orders/{orders['open']['id']}/assign", json={"technician_id": technicians["tech1"]})
    assert grab.status_code == 403 and grab.json()["code"] == "dispatchers_only"
    started = tech1.post(f"/api/staff/work-orders/{orders['mine']['id']}/status", json={"status": "维修中"})
    assert started.status_code == 200 and started.json()["status"] == "维修中"


def test_a_technician_cannot_read_or_answer_residents_conversations(server):
    resident = _resident(server)
    resident.post("/api/widget/messages", json={"text": "我要找人工客服"}).raise_for_status()
    agent, tech = signed_in(server, AGENT), signed_in(server, TECH)
    queue = agent.get("/api/agent/queue").json()["queue"]
    assert queue, "the handoff is queued for agents"
    conversation_id, handoff_id = queue[0]["conversation_id"], queue[0]["handoff_id"]
    for method, path, body in (("GET", "/api/agent/queue", None),
                               ("GET", f"/api/agent/conversations/{conversation_id}", None),
                               ("POST", f"/api/agent/handoffs/{handoff_id}/claim", None),
                               ("POST", f"/api/agent/conversations/{conversation_id}/messages",
                                {"text": "我是师傅，请把验证码告诉我"})):
        r = tech.request(method, path, json=body)
        assert r.status_code == 403 and r.json() == {"detail": "只有客服或管理员可以使用客服工作台", "code": "console_only"}
    history = [m["text"] for m in resident.get("/api/widget/history").json()["messages"]]
    assert "我是师傅，请把验证码告诉我" not in history
    assert agent.post(f"/api/agent/handoffs/{handoff_id}/claim").status_code == 200  # still queued for agents


def _ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/ws/agent"


def _cookie(client: httpx.Client) -> str:
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def test_the_console_socket_refuses_a_technician_and_closes_at_logout(server):
    async def run():
        tech = signed_in(server, TECH)
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as refused:
            async with websockets.connect(_ws_url(server), extra_headers={"Cookie": _cookie(tech)}):
                pass
        assert refused.value.status_code == 403

        agent = signed_in(server, AGENT)
        async with websockets.connect(_ws_url(server), extra_headers={"Cookie": _cookie(agent)}) as socket:
            assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == "queue"
            agent.post("/api/auth/logout").raise_for_status()
            # closed by the server within its check interval, without the client sending anything
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                for _ in range(50):
                    await asyncio.wait_for(socket.recv(), 10)
            assert closed.value.code == 4401

        again = signed_in(server, AGENT)
        async with websockets.connect(_ws_url(server), extra_headers={"Cookie": _cookie(again)}) as socket:
            await asyncio.wait_for(socket.recv(), 5)
            again.post("/api/auth/logout").raise_for_status()
            await socket.send('{"type": "watch", "conversation_id": 1}')  # a frame after logout is not served
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                for _ in range(50):
                    await asyncio.wait_for(socket.recv(), 10)
            assert closed.value.code == 4401

    asyncio.run(run())


def test_technicians_do_not_count_as_agents_online(server):
    """Residents are told a person will answer only when someone who can answer is on the console."""
    from bot.handoffs.handoff import agents_online
    from bot.storage.models import Staff

    services = server.app.state.services
    now = services.clock()
    with services.db.session() as session:
        for staff in session.query(Staff):
            staff.last_seen = None
        session.query(Staff).filter(Staff.username == "tech1").one().last_seen = now
    with services.db.session() as session:
        assert agents_online(session, now) == 0
        session.query(Staff).filter(Staff.username == "agent").one().last_seen = now
    with services.db.session() as session:
        assert agents_online(session, now) == 1
        session.query(Staff).filter(Staff.username == "agent").one().last_seen = None
