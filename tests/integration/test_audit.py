"""The audit log of staff reads of household data (bot/access/audit.py, issue 26 point 5b), on a live server with the
demo staff: an agent opening a bound resident's conversation card and a technician opening a work order each
leave exactly one row (who, which household and record, why); admins read it filtered and paged and export it as
CSV; nobody else can read it; bad filters are 422 in Chinese."""
from __future__ import annotations

import time

import httpx
import pytest

from bot.storage.models import AuditEntry, Bill, ChatIdentity, Conversation, Household, Message, WorkOrder
from bot.tools.devserver import LiveServer
from tests.clients import bound_conversation, signed_in


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("audit"), settings, parser) as live:
        yield live


def rows(server, at_least=0):
    """The audit rows, waiting up to 2 s for ``at_least`` of them: a read's session commits as its request ends,
    which may be just after the answer reached the client."""
    deadline = time.monotonic() + 2
    while True:
        with server.app.state.services.db.session() as session:
            found = [(r.staff_name, r.action, r.household_id, r.record_kind, r.record_id, r.reason)
                     for r in session.query(AuditEntry).order_by(AuditEntry.id)]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_reads_are_audited_and_only_admins_read_the_log(server):
    agent, tech, admin = signed_in(server, "agent"), signed_in(server, "technician"), signed_in(server, "admin")
    before = len(rows(server))
    conversation_id, household_id, _ = bound_conversation(server, "audit-resident")
    assert agent.get(f"/api/agent/conversations/{conversation_id}").status_code == 200
    orders = tech.get("/api/staff/work-orders").json()["orders"]
    order = orders[0]
    assert tech.get(f"/api/staff/work-orders/{order['id']}").status_code == 200
    new = rows(server, before + 2)[before:]
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
    assert text.splitlines()[0].startswith("时间,员工编号,员工,操作") and f"工单 {order['number']}" in text
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


def test_a_residents_data_is_exported_and_erased_on_request_and_audited(server):
    """By household: the export lists the household, its bound identity's messages and its work order's phone;
    the erasure removes them in one go (bills stay: the ERP's accounts) and both requests are audit rows."""
    admin, agent = signed_in(server, "admin"), signed_in(server, "agent")
    with server.app.state.services.db.session() as session:
        house = session.query(Household).order_by(Household.id.desc()).first()
        identity = ChatIdentity(channel="web", sender_id="erase-me", household_id=house.id)
        session.add(identity)
        session.flush()
        conversation = Conversation(identity_id=identity.id, channel="web", community_id=house.community_id)
        session.add(conversation)
        session.flush()
        session.add(Message(conversation_id=conversation.id, sender="resident", text="我家厨房漏水"))
        session.add(WorkOrder(number="WOERASE1", community_id=house.community_id, household_id=house.id,
                              reporter_identity_id=identity.id, location=house.address, category="水电",
                              description="厨房漏水", contact_phone="13912345678"))
        house_id, identity_id, bills = house.id, identity.id, session.query(Bill).filter_by(household_id=house.id).count()
    exported = admin.get("/api/admin/residents/data", params={"household_id": house_id})
    assert exported.status_code == 200
    data = exported.json()
    assert data["household"]["id"] == house_id and data["household"]["phone"]
    assert [m["text"] for c in data["conversations"] for m in c["messages"]] == ["我家厨房漏水"]
    assert [o["contact_phone"] for o in data["work_orders"] if o["number"] == "WOERASE1"] == ["13912345678"]
    assert agent.get("/api/admin/residents/data", params={"household_id": house_id}).status_code == 403
    assert agent.post("/api/admin/residents/erase", json={"household_id": house_id, "reason": "x"}).status_code == 403

    erased = admin.post("/api/admin/residents/erase", json={"household_id": house_id, "reason": "住户书面申请 #7"})
    assert erased.status_code == 200 and erased.json()["erased"]["messages"] == 1
    with server.app.state.services.db.session() as session:
        house = session.get(Household, house_id)
        assert (house.owner_name, house.phone) == ("（已删除）", "")
        assert session.query(Message).filter_by(conversation_id=conversation.id).count() == 0
        order = session.query(WorkOrder).filter_by(number="WOERASE1").one()
        assert order.contact_phone is None and order.description == "（已按住户要求删除）"
        identity = session.get(ChatIdentity, identity_id)
        assert identity.household_id is None and identity.sender_id == f"erased:{identity_id}"
        assert session.query(Bill).filter_by(household_id=house_id).count() == bills  # the accounts stay
    log = admin.get("/api/admin/audit", params={"household_id": house_id}).json()["entries"]
    assert [(e["action"], e["reason"]) for e in log] == [("data_erase", "住户书面申请 #7"),
                                                       ("data_export", "住户申请导出数据")]
    # exactly one of the two ids; an unknown one is 404; nothing is changed by a refusal
    both = admin.post("/api/admin/residents/erase", json={"household_id": house_id, "identity_id": 1, "reason": "x"})
    assert both.status_code == 422 and both.json()["code"] == "resident_target_required"
    missing = admin.get("/api/admin/residents/data", params={"identity_id": 99999})
    assert missing.status_code == 404 and missing.json()["code"] == "resident_not_found"
    no_reason = admin.post("/api/admin/residents/erase", json={"household_id": house_id})
    assert no_reason.status_code == 422


def test_the_log_is_on_the_local_clock_and_its_dates_are_local_days(server):
    """The admin reads 北京时间 and picks local days: a read at 07:30 on the 7th (23:30 UTC on the 6th) is on the 7th."""
    import datetime as dt

    from bot.core.localtime import to_utc

    read_at = to_utc(dt.datetime(2026, 12, 7, 7, 30))
    with server.app.state.services.db.session() as session:
        session.add(AuditEntry(staff_id=3, staff_name="tech1", action="work_order", household_id=1,
                               record_kind="work_order", record_id=4242, reason="工单 WO-LOCAL", created_at=read_at))
    admin = signed_in(server, "admin")
    found = admin.get("/api/admin/audit", params={"start": "2026-12-07", "end": "2026-12-07"}).json()["entries"]
    entry = next(e for e in found if e["record_id"] == 4242)
    assert entry["at"] == "2026-12-07T07:30:00+08:00" and entry["record_label"] == "工单 #4242"
    day_before = admin.get("/api/admin/audit", params={"start": "2026-12-06", "end": "2026-12-06"}).json()["entries"]
    assert not any(e["record_id"] == 4242 for e in day_before)
    csv = admin.get("/api/admin/audit.csv", params={"start": "2026-12-07", "end": "2026-12-07"}).content.decode("utf-8-sig")
    assert "2026-12-07 07:30:00,3,tech1,打开工单,1,工单 #4242,工单 WO-LOCAL" in csv


def test_erasing_the_resident_who_opened_an_incident_takes_their_words_out_of_its_summary(server):
    """The incident's summary (queue card, incident list, every agent) quoted its first report; erased on request, the
    resident's words go from there too, and the incident keeps its scope and kind. Another reporter's erasure
    leaves the summary (not their words)."""
    admin = signed_in(server, "admin")
    first, second = (httpx.Client(base_url=server.url, timeout=30) for _ in range(2))
    for client, text in ((first, "5栋停电了，我家楼道黑漆漆的"), (second, "5栋怎么停电了")):
        client.post("/api/widget/session").raise_for_status()
        client.post("/api/widget/messages", json={"text": text}).raise_for_status()
    incident = next(i for i in admin.get("/api/agent/incidents").json()["incidents"] if i["scope_label"] == "5栋")
    assert incident["summary"] == "5栋停电：5栋停电了，我家楼道黑漆漆的" and incident["reports"] == 2
    reporters = admin.get(f"/api/agent/incidents/{incident['id']}").json()["reporters"]
    with server.app.state.services.db.session() as session:
        opener, other = (session.get(Conversation, r["conversation_id"]).identity_id for r in reporters)
    admin.post("/api/admin/residents/erase", json={"identity_id": other, "reason": "住户申请 #8"}).raise_for_status()
    assert admin.get(f"/api/agent/incidents/{incident['id']}").json()["summary"] == "5栋停电：5栋停电了，我家楼道黑漆漆的"
    card = admin.get(f"/api/agent/conversations/{reporters[0]['conversation_id']}").json()["handoff"]["context"]
    assert [r["text"] for r in card["incident"]["reporters"]] == ["5栋停电了，我家楼道黑漆漆的", None]  # the card too
    admin.post("/api/admin/residents/erase", json={"identity_id": opener, "reason": "住户申请 #9"}).raise_for_status()
    after = admin.get(f"/api/agent/incidents/{incident['id']}").json()
    assert "黑漆漆" not in after["summary"] and after["summary"].startswith("5栋停电")
    assert [r["text"] for r in after["reporters"]] == [None, None]


def test_erasing_the_resident_whose_repair_opened_an_incident_takes_the_description_out_of_its_summary(server):
    """An outage reported through the repair form opens the incident with the order's description as its summary's
    quote; the erasure that blanks the description blanks that quote too."""
    from bot.storage.models import Incident

    admin = signed_in(server, "admin")
    with server.app.state.services.db.session() as session:
        identity = ChatIdentity(channel="web", sender_id="erase-repair")
        incident = Incident(community_id="jinxiu", building=9, category="water", status="open",
                            summary="9栋停水：厨房水龙头没水了，我家在9栋2单元")
        session.add_all([identity, incident])
        session.flush()
        session.add(WorkOrder(number="WOERASE9", community_id="jinxiu", reporter_identity_id=identity.id,
                              location="9栋2单元", category="水电", description="厨房水龙头没水了，我家在9栋2单元",
                              contact_phone="13912345679", incident_id=incident.id))
        identity_id, incident_id = identity.id, incident.id
    admin.post("/api/admin/residents/erase", json={"identity_id": identity_id, "reason": "住户申请 #10"}).raise_for_status()
    with server.app.state.services.db.session() as session:
        assert session.get(Incident, incident_id).summary == "9栋停水"
