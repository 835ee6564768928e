"""Faults survived: concurrent work orders on PostgreSQL, many writers on SQLite, killed database connections,
Redis down (nothing fails, readiness says so)."""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import re
import threading
import time

import httpx
import pytest
import sqlalchemy as sa

from bot.access.limits import Limit, Limits
from bot.conversation.engine import ConversationEngine
from bot.core.notify import LogSmsSender
from bot.kb.knowledge import load_knowledge_base
from bot.storage.db import open_database
from bot.storage.models import Message, WorkOrder
from bot.tools.demo import load_demo_data

NOW = dt.datetime(2026, 11, 27, 2, 0)  # UTC: 10:00 in Beijing


def make_engine(url, parser, settings):
    db = open_database(url)
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    with db.session() as s:
        if not s.scalar(sa.select(sa.func.count()).select_from(WorkOrder)):
            load_demo_data(s, kb.communities, today=NOW.date())
    return ConversationEngine(db=db, parser=parser, kb_provider=lambda: kb, sms=LogSmsSender(), clock=lambda: NOW,
                              limits=Limits(messages_per_sender=Limit(10_000, 60)))


def test_residents_finishing_repairs_at_the_same_moment_all_get_a_work_order(postgres_url, parser, settings):
    engine = make_engine(postgres_url, parser, settings)
    senders = [f"fix{i}" for i in range(16)]
    for sender in senders:
        for text in ("我要报修", "卫生间水龙头坏了", "3栋1单元201", "一般", "13700001111"):
            engine.handle("web", sender, text)
    barrier = threading.Barrier(len(senders))

    def finish(sender):
        barrier.wait()
        return engine.handle("web", sender, "明天上午")

    with concurrent.futures.ThreadPoolExecutor(len(senders)) as pool:
        results = list(pool.map(finish, senders))
    numbers = [re.search(r"WO\d{11}", r.replies[0].text).group() for r in results]
    assert len(set(numbers)) == len(senders)
    with engine.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(WorkOrder).where(WorkOrder.number.in_(numbers))) == 16
    engine.db.engine.dispose()


def test_sqlite_with_many_writers_never_reports_a_locked_database(tmp_path, parser, settings):
    engine = make_engine(f"sqlite:///{tmp_path / 'busy.db'}", parser, settings)
    asked = sa.select(sa.func.count()).select_from(Message).where(Message.sender == "resident",
                                                                  Message.text.in_(("物业几点上班", "停车费怎么收")))
    with engine.db.session() as s:
        before = s.scalar(asked)

    def chat(i):
        return engine.handle("web", f"many{i % 32}", "物业几点上班" if i % 2 else "停车费怎么收")

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(chat, range(128)))
    assert all(r.replies for r in results)
    with engine.db.session() as s:
        assert s.scalar(asked) - before == 128


def test_killed_database_connections_are_retried_and_nothing_is_lost(postgres_url, parser, settings):
    engine = make_engine(postgres_url, parser, settings)
    admin = sa.create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = postgres_url.rsplit("/", 1)[1]
    stop = threading.Event()

    def killer():
        while not stop.is_set():
            with admin.connect() as conn:
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            time.sleep(0.15)

    def chat(i):
        return engine.handle("web", f"killed{i % 8}", f"物业几点上班（第{i}问）")

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(chat, range(60)))
    finally:
        stop.set()
        thread.join()
        admin.dispose()
    assert len(results) == 60
    engine.db.engine.dispose()  # the count below is the test's own read: not on a connection the killer's last round hit
    with engine.db.session() as s:
        stored = s.scalar(sa.select(sa.func.count()).select_from(Message).where(Message.text.like("物业几点上班（第%问）"),
                                                                                 Message.sender == "resident"))
    assert stored == 60
    engine.db.engine.dispose()


def test_with_redis_down_messages_are_stored_and_answered_and_readiness_says_so(tmp_path, settings, parser):
    from bot.tools.devserver import LiveServer, free_port

    with LiveServer(tmp_path, settings, parser, redis_url=f"redis://127.0.0.1:{free_port()}/0") as server:
        client = httpx.Client(base_url=server.url, timeout=30)
        client.post("/api/widget/session")
        r = client.post("/api/widget/messages", json={"text": "物业几点上班"})
        assert r.status_code == 200 and "办公时间" in r.json()["replies"][0]["text"]
        assert "物业几点上班" in str(client.get("/api/widget/history").json())
        health = client.get("/api/health")
        assert health.status_code == 200 and health.json()["checks"] == {"database": "ok", "redis": "down", "model": "ok"}
        ready = client.get("/api/ready")
        assert ready.status_code == 503 and ready.json()["ready"] is False


def _terminate_backends(postgres_url):
    admin = sa.create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                      "WHERE datname = :name AND pid <> pg_backend_pid()"),
                              {"name": postgres_url.rsplit("/", 1)[1]}).scalar()
    admin.dispose()
    return killed


def test_a_connection_that_sat_idle_is_pinged_and_replaced_when_the_database_restarted(postgres_url, monkeypatch):
    """The pool pings only connections idle for WUYE_DB_PING_AFTER_SECONDS (not every checkout, which cost a round
    trip a turn): one killed while idle is replaced before use, and the query runs on a new backend."""
    monkeypatch.setenv("WUYE_DB_PING_AFTER_SECONDS", "0.2")
    db = open_database(postgres_url)
    try:
        with db.engine.connect() as conn:
            before = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        assert _terminate_backends(postgres_url) >= 1
        time.sleep(0.4)
        with db.engine.connect() as conn:
            after = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        assert after != before
    finally:
        db.engine.dispose()


def test_a_lost_database_connection_outside_a_turn_is_a_503_in_chinese_and_the_next_request_works(
        postgres_url, settings, parser, monkeypatch, tmp_path):
    """A connection killed between two requests (and not yet due for a ping) fails the next statement: the staff
    login answers 503 with a code and a Chinese message, never a 500; the pool then reconnects."""
    import dataclasses

    from fastapi.testclient import TestClient

    from bot.main import create_app

    monkeypatch.setenv("WUYE_DB_PING_AFTER_SECONDS", "3600")
    configured = dataclasses.replace(settings, database_url=postgres_url, upload_dir=tmp_path / "uploads",
                                     secret_key="test-secret")
    with TestClient(create_app(configured, parser=parser)) as client:
        body = {"username": "nobody", "password": "wrong-password"}
        assert client.post("/api/auth/login", json=body).status_code == 401
        # the timers loop shares the pool: a statement of its own on a killed connection (its first pass of summaries
        # and retention runs at start-up, in a thread) invalidates the pool before the login gets there. Stopped, and
        # its last statement finished, the next statement on a killed connection is the login's
        services = client.app.state.services
        client.portal.call(services.timers.stop)
        deadline = time.monotonic() + 60
        while services.db.engine.pool.checkedout() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _terminate_backends(postgres_url) >= 1
        r = client.post("/api/auth/login", json=body)
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "database_unavailable" and "数据库" in r.json()["detail"]
        assert client.post("/api/auth/login", json=body).status_code == 401
