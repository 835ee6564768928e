"""The audit log of staff reads of household data (bot/access/audit.py, issue 26 point 5b), on a live server with the
demo staff: an agent opening a bound resident's conversation card and a technician opening a work order each
leave exactly one row (who, which household and record, why); admins read it filtered and paged and export it as
CSV; nobody else can read it; bad filters are 422 in Chinese."""
from __future__ import annotations

import httpx
import pytest

from bot.storage.models import AuditEntry, ChatIdentity, Conversation, Household
from bot.tools.devserver import LiveServer

LOGINS = {"technician": ("tech1", "tech123"), "agent": ("agent", "agent123"), "admin": ("admin", "admin123")}


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("audit"), settings, parser) as live:
        yield live


def signed_in(server, role) -> httpx.Client:
    user, password = LOGINS[role]
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/auth/login", json={"username": user, "password": password}).raise_for_status()
    return client


def bound_conversation(server) -> tuple:
    """A resident bound to a demo household, with a conversation (what the console's card shows the bills of)."""
    with server.app.state.services.db.session() as session:
        house = session.query(Household).order_by(Household.id).first()
        identity = ChatIdentity(channel="web", sender_id="audit-resident", household_id=house.id)
        session.add(identity)
        session.flush()
        conversation = Conversation(identity_id=identity.id, channel="web", community_id=house.community_id)
        session.add(conversation)
        session.flush()
        return conversation.id, house.id


def rows(server):
    with server.app.state.services.db.session() as session:
        return [(r.staff_name, r.action, r.household_id, r.record_kind, r.record_id, r.reason)
                for r in session.query(AuditEntry).order_by(AuditEntry.id)]


def test_reads_are_audited_and_only_admins_read_the_log(server):
    agent, tech, admin = signed_in(server, "agent"), signed_in(server, "technician"), signed_in(server, "admin")
    before = len(rows(server))
    conversation_id, household_id = bound_conversation(server)
    assert agent.get(f"/api/agent/conversations/{conversation_id}").status_code == 200
    orders = tech.get("/api/staff/work-orders").json()["orders"]
    order = orders[0]
    assert tech.get(f"/api/staff/work-orders/{order['id']}").status_code == 200
    new = rows(server)[before:]
    assert new[0] == ("agent", "conversation_card", household_id, "conversation", conversation_id,
                      f"会话 #{conversation_id}")
    assert new[1][:2] == ("tech1", "work_order") and new[1][3:5] == ("work_order", order["id"])
    assert new[1][5] == f"工单 {order['number']}"
    assert len(new) == 2  # one row per read, nothing else

    # admins: filtered, paged, newest first, and as CSV
    page = admin.get("/api/admin/audit", params={"action": "conversation_card", "household_id": household_id}).json()
    assert page["total"] == 1 and page["entries"][0]["staff"] == "agent"
    assert page["entries"][0]["reason"] == f"会话 #{conversation_id}"
    first = admin.get("/api/admin/audit", params={"per_page": 1}).json()
    assert first["total"] == before + 2 and len(first["entries"]) == 1 and first["entries"][0]["staff"] == "tech1"
    second = admin.get("/api/admin/audit", params={"per_page": 1, "page": 2}).json()
    assert second["entries"][0]["staff"] == "agent"
    csv = admin.get("/api/admin/audit.csv", params={"action": "work_order"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("时间(UTC),员工编号,员工,操作") and f"工单 {order['number']}" in text
    # nobody else: not the agent, not the technician, not a stranger
    for client in (agent, tech):
        for path in ("/api/admin/audit", "/api/admin/audit.csv"):
            refused = client.get(path)
            assert refused.status_code == 403
    assert httpx.get(server.url + "/api/admin/audit").status_code == 401
    # reading the log is not itself a household read
    assert len(rows(server)) == before + 2


@pytest.mark.parametrize("params,code", [({"start": "2026-13-01"}, "bad_audit_range"),
                                         ({"start": "2026-12-06", "end": "2026-12-01"}, "bad_audit_range"),
                                         ({"per_page": 0}, None), ({"action": "drop"}, None),
                                         ({"household_id": "x"}, None)])
def test_bad_filters_are_422_in_chinese(server, params, code):
    response = signed_in(server, "admin").get("/api/admin/audit", params=params)
    assert response.status_code == 422
    body = response.json()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"]) and body["code"]
    if code:
        assert body["code"] == code
