"""Storage on both SQLite and PostgreSQL: the same migrations, demo data, and atomic claims."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from bot.handoffs.handoff import HandoffError, claim
from bot.kb.community import load_communities
from bot.storage.db import open_database
from bot.storage.models import Bill, ChatIdentity, Conversation, Handoff, Household, ParkingCard, Staff, WorkOrder
from bot.tools.demo import load_demo_data

TODAY = dt.date(2026, 11, 27)


@pytest.fixture
def db(database_url):
    database = open_database(database_url)
    with database.session() as s:  # PostgreSQL database is shared by the session: start clean
        # children before parents: other tests (tests/test_faults.py) leave work orders in this shared database
        for table in ("incident_reports", "work_order_events", "work_orders", "incidents", "notice_revisions", "notices",
                      "poll_votes", "polls", "suggestions",
                      "ratings", "quick_replies", "rate_events", "seen_messages", "staff_sessions", "api_keys", "timers",
                      "messages", "handoffs", "team_members", "teams", "conversations", "verification_codes", "chat_identities",
                      "visitor_passes", "parking_cards", "parking_spaces", "bills", "households", "staff",
                      "communities"):
            s.execute(sa.text(f"DELETE FROM {table}"))
    yield database
    database.engine.dispose()


def test_migrations_create_every_table(db):
    tables = set(sa.inspect(db.engine).get_table_names())
    assert {"households", "bills", "work_orders", "work_order_events", "conversations", "messages", "handoffs",
            "staff", "chat_identities", "verification_codes", "parking_cards", "visitor_passes"} <= tables
    assert "alembic_version" in tables


def test_demo_data_is_realistic(db, settings):
    with db.session() as s:
        counts = load_demo_data(s, load_communities(settings.communities_file), today=TODAY)
    assert counts["households"] >= 200 and counts["past_conversations"] >= 14 * 3
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count(sa.distinct(Household.community_id)))) == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(Bill).where(Bill.paid.is_(False))) > 10
        soon = TODAY + dt.timedelta(days=7)
        assert s.scalar(sa.select(sa.func.count()).select_from(ParkingCard).where(ParkingCard.expires_on <= soon)) > 0
        statuses = set(s.scalars(sa.select(WorkOrder.status)))
        assert "已完成" in statuses and statuses & {"待受理", "已派单", "维修中"}
        # each order's history agrees with its SLA lines: the step reached when it was dispatched or completed
        for order in s.scalars(sa.select(WorkOrder).where(WorkOrder.status != "待受理")):
            reached = order.completed_at or order.first_response_at
            assert reached is not None and [e.created_at for e in order.events if e.status != "待受理"] == [reached]
    with db.session() as s:  # idempotent
        assert load_demo_data(s, load_communities(settings.communities_file), today=TODAY) == {"households": 0}


def test_two_agents_cannot_claim_the_same_handoff(db, settings):
    now = dt.datetime(2026, 11, 27, 10, 0)
    with db.session() as s:
        load_demo_data(s, load_communities(settings.communities_file), today=TODAY)
        identity = ChatIdentity(channel="web", sender_id="r1")
        s.add(identity)
        s.flush()
        conversation = Conversation(identity_id=identity.id, channel="web", status="pending")
        s.add(conversation)
        s.flush()
        handoff = Handoff(conversation_id=conversation.id, priority="high", reasons=["test"], context={}, created_at=now)
        s.add(handoff)
        s.flush()
        handoff_id = handoff.id
    with db.session() as s1, db.session() as s2:
        a, b = (s.scalar(sa.select(Staff).where(Staff.username == n)) for s, n in ((s1, "agent"), (s2, "admin")))
        claim(s1, handoff_id, a, now)
        s1.commit()
        with pytest.raises(HandoffError):
            claim(s2, handoff_id, b, now)
    with db.session() as s:
        assert s.get(Handoff, handoff_id).agent_id == a.id
        assert s.get(Handoff, handoff_id).conversation.status == "open"


def test_models_and_migrations_agree(db):
    """Every model column, index and table is made by the migrations, and nothing else (SQLite and PostgreSQL)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from bot.storage.models import Base

    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def _plan_nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_per_message_queries_use_indexes_on_postgresql(postgres_url):
    """The statements every resident message runs (rate limit, identity, conversation, active handoff, queue
    position, last bot turn) and the waiting queue, EXPLAINed on PostgreSQL over 30 000
    handoffs, 60 000 messages and 30 000 rate events: none scans a whole table (migration 0006 added the
    handoff-queue and rate-window indexes)."""
    import json

    from bot.access import limits
    from bot.conversation import engine as engine_module
    from bot.handoffs import handoff as handoffs
    from bot.realtime import live

    database = open_database(postgres_url)
    now = dt.datetime(2026, 11, 27, 12, 0)
    try:
        with database.engine.begin() as conn:
            for table in ("incident_reports", "work_order_events", "work_orders", "incidents", "ratings", "rate_events",
                          "messages", "handoffs", "conversations", "chat_identities"):
                conn.execute(sa.text(f"DELETE FROM {table}"))
            conn.execute(sa.text(
                "INSERT INTO chat_identities (id, channel, sender_id, created_at) "
                "SELECT g, 'web', 'r' || g, now() FROM generate_series(1, 30000) g"))
            conn.execute(sa.text(
                "INSERT INTO conversations (id, identity_id, channel, status, failed_turns, created_at, updated_at) "
                "SELECT g, g, 'web', 'resolved', 0, now(), now() FROM generate_series(1, 30000) g"))
            conn.execute(sa.text(
                "INSERT INTO handoffs (conversation_id, priority, reasons, context, status, created_at) "
                "SELECT g, 'normal', '[]', '{\"household\": {\"room\": \"1-1-101\"}}', "
                "CASE WHEN g % 1000 = 0 THEN 'queued' ELSE 'resolved' END, now() - g * interval '1 minute' "
                "FROM generate_series(1, 30000) g"))
            conn.execute(sa.text(
                "INSERT INTO messages (conversation_id, sender, text, buttons, created_at) "
                "SELECT (g % 30000) + 1, CASE WHEN g % 2 = 0 THEN 'resident' ELSE 'bot' END, '你好', '[]', now() "
                "FROM generate_series(1, 60000) g"))
            conn.execute(sa.text(
                "INSERT INTO rate_events (bucket, amount, created_at) "
                "SELECT 'msg:web:r' || (g % 3000), 1, now() - g * interval '1 second' FROM generate_series(1, 30000) g"))
            for table in ("chat_identities", "conversations", "handoffs", "messages", "rate_events"):
                conn.execute(sa.text(f"ANALYZE {table}"))
        waiting = dict(created_at=now, id=5000, priority="normal")
        statements = {
            "rate limit": (limits.USED, {"bucket": "msg:web:r7", "since": now - dt.timedelta(minutes=1), "cap": 30}),
            "identity": (engine_module._IDENTITY_FOR_UPDATE, {"channel": "web", "sender_id": "r7"}),
            "conversation and its active handoff": (engine_module._LATEST_CONVERSATION_AND_HANDOFF,
                                                    {"identity_id": 7, "bucket": "msg:web:r7",
                                                     "since": now - dt.timedelta(minutes=1), "cap": 30}),
            "active handoff": (handoffs._ACTIVE, {"conversation_id": 7}),
            "queue position": (handoffs._AHEAD[handoffs.PRIORITY_ORDER["normal"]], waiting),
            "last bot turn": (engine_module._LAST_BOT_TURN, {"conversation_id": 7}),
        }
        with database.engine.connect() as conn:
            for name, (statement, params) in statements.items():
                compiled = statement.params(params).compile(dialect=conn.dialect,
                                                            compile_kwargs={"render_postcompile": True})
                plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, compiled.params).scalar()
                plan = plan if isinstance(plan, list) else json.loads(plan)
                scans = {n.get("Relation Name") for n in _plan_nodes(plan[0]["Plan"]) if n["Node Type"] == "Seq Scan"}
                assert not scans, f"{name}: sequential scan of {scans}"
        with database.session() as session:  # the queue itself: only the waiting handoffs are read
            queue = live.queue_json(session, now)
        assert len(queue) == 30 and {q["room"] for q in queue} == {"1-1-101"}
    finally:
        with database.engine.begin() as conn:
            for table in ("rate_events", "messages", "handoffs", "conversations", "chat_identities"):
                conn.execute(sa.text(f"DELETE FROM {table}"))
        database.engine.dispose()


def test_sla_check_reads_only_open_unescalated_orders_on_postgresql(postgres_url):
    """The SLA check's two statements (bot/work_orders/desk.py overdue_steps, every 5 s in each worker), EXPLAINed on
    PostgreSQL over 30 000 work orders of which 30 are open: neither scans the table (migration 0020's partial
    indexes; issue 29 measured a parallel scan of all 300 k orders, twice a check), and they find the same orders a
    filter in Python finds."""
    import json

    from bot.work_orders import desk

    database = open_database(postgres_url)
    now = dt.datetime(2026, 11, 27, 12, 0)
    try:
        with database.engine.begin() as conn:
            for table in ("incident_reports", "work_order_events", "work_orders"):
                conn.execute(sa.text(f"DELETE FROM {table}"))
            conn.execute(sa.text("INSERT INTO communities (id, name) VALUES ('sla', 'SLA') ON CONFLICT DO NOTHING"))
            # every 1000th order open (4 statuses' worth of cases: answered or not, escalated or not), the rest closed
            conn.execute(sa.text(
                "INSERT INTO work_orders (number, community_id, location, category, description, urgency, photos, "
                "status, chase_count, created_at, updated_at, response_due, completion_due, first_response_at, "
                "escalated_at, completion_escalated_at) "
                "SELECT 'SLA' || g, 'sla', '1-1-101', '水电', '漏水', 'normal', '[]', "
                "CASE WHEN g % 1000 = 0 THEN (ARRAY['待受理', '已派单', '维修中'])[1 + g / 1000 % 3] "
                "WHEN g % 2 = 0 THEN '已完成' ELSE '已取消' END, 0, :now - g * interval '1 hour', :now, "
                ":now + (15 - g / 1000) * interval '1 hour', :now + (20 - g / 1000) * interval '1 hour', "
                "CASE WHEN g / 1000 % 4 = 1 THEN :now END, CASE WHEN g / 1000 % 5 = 2 THEN :now END, "
                "CASE WHEN g / 1000 % 7 = 3 THEN :now END FROM generate_series(1, 30000) g"), {"now": now})
            conn.execute(sa.text("ANALYZE work_orders"))
        with database.session() as session:
            expected = {}
            for order in session.scalars(sa.select(WorkOrder)):
                if order.status in ("已完成", "已取消"):
                    continue
                if order.escalated_at is None and order.first_response_at is None and order.response_due < now:
                    expected.setdefault(order.id, []).append("response")
                if order.completion_escalated_at is None and order.completion_due < now:
                    expected.setdefault(order.id, []).append("completion")
            assert expected and desk.overdue_steps(session, now) == expected
        with database.engine.connect() as conn:
            for step in desk.STEPS:
                statement = sa.select(WorkOrder.id).where(*step.missed(now)).order_by(WorkOrder.id)
                compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
                plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, compiled.params).scalar()
                plan = plan if isinstance(plan, list) else json.loads(plan)
                scans = {n.get("Relation Name") for n in _plan_nodes(plan[0]["Plan"]) if n["Node Type"] == "Seq Scan"}
                assert not scans, f"{step.name}: sequential scan of {scans}"
    finally:
        with database.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM work_orders"))
        database.engine.dispose()


def test_an_agents_load_and_latest_claims_use_indexes_on_postgresql(postgres_url):
    """What each console read and each auto-assignment asks of an agent — their open conversations counted
    (teams.loads), listed (live.mine_json), and their last claims (teams.angry_streak) — EXPLAINed on PostgreSQL
    over 30 000 conversations and handoffs, as the functions send them: no sequential scan (migration 0021; issue 29
    measured 9, 10 and 18 ms a read at two years' size), and the same answers as a count in Python."""
    import json

    from bot.handoffs import teams
    from bot.realtime import live

    database = open_database(postgres_url)
    now = dt.datetime(2026, 11, 27, 12, 0)
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))
    try:
        with database.engine.begin() as conn:
            for table in ("rate_events", "messages", "handoffs", "conversations", "chat_identities"):
                conn.execute(sa.text(f"DELETE FROM {table}"))
            conn.execute(sa.text("DELETE FROM staff WHERE username = 'load-test'"))
            staff_id = conn.execute(sa.text(
                "INSERT INTO staff (username, display_name, password_hash, role, must_change_password, state) "
                "VALUES ('load-test', '测试', 'x', 'agent', false, 'online') RETURNING id")).scalar()
            identity = conn.execute(sa.text("INSERT INTO chat_identities (channel, sender_id, created_at) "
                                            "VALUES ('web', 'load', :now) RETURNING id"), {"now": now}).scalar()
            # every 1000th conversation open and the agent's; the rest resolved; each with a claimed handoff
            conn.execute(sa.text(
                "INSERT INTO conversations (identity_id, channel, status, assignee_id, failed_turns, created_at, "
                "updated_at) SELECT :identity, 'web', CASE WHEN g % 1000 = 0 THEN 'open' ELSE 'resolved' END, "
                "CASE WHEN g % 1000 = 0 THEN :staff ELSE NULL END, 0, :now - g * interval '1 minute', :now "
                "FROM generate_series(1, 30000) g"), {"identity": identity, "staff": staff_id, "now": now})
            conn.execute(sa.text(
                "INSERT INTO handoffs (conversation_id, priority, status, reasons, context, agent_id, claimed_at, "
                "created_at) SELECT id, 'normal', 'resolved', '[]', '{\"emotion\": {\"label\": \"angry\"}}', "
                "CASE WHEN id % 3 = 0 THEN :staff ELSE NULL END, created_at + interval '1 minute', created_at "
                "FROM conversations"), {"staff": staff_id})
            conn.execute(sa.text("ANALYZE conversations; ANALYZE handoffs"))
        sa.event.listen(database.engine, "before_cursor_execute", capture)
        with database.session() as session:
            assert teams.loads(session, [staff_id]) == {staff_id: 30}
            assert len(live.mine_json(session, staff_id)) == 30
            assert teams.angry_streak(session, staff_id) == 10
        sa.event.remove(database.engine, "before_cursor_execute", capture)
        assert len(statements) == 3
        with database.engine.connect() as conn:
            for statement, parameters in statements:
                plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
                plan = plan if isinstance(plan, list) else json.loads(plan)
                scans = {n.get("Relation Name") for n in _plan_nodes(plan[0]["Plan"]) if n["Node Type"] == "Seq Scan"}
                assert not scans, f"sequential scan of {scans}: {statement}"
    finally:
        with database.engine.begin() as conn:
            for table in ("rate_events", "messages", "handoffs", "conversations", "chat_identities"):
                conn.execute(sa.text(f"DELETE FROM {table}"))
            conn.execute(sa.text("DELETE FROM staff WHERE username = 'load-test'"))
        database.engine.dispose()
