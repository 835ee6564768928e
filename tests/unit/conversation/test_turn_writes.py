"""A resident turn's reads and writes on SQLite and PostgreSQL (bot/conversation/engine.py).

On PostgreSQL a common turn writes its messages, its rate event and the conversation's updated_at in one statement
(ConversationEngine._store_turn) and reads the message limit with the conversation; the rows must be exactly what
the unit of work writes on SQLite, and the limit must hold the same way."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from bot.access.limits import Limit, Limits
from bot.conversation.engine import ConversationEngine, KeyedLocks
from bot.core.errors import TooManyRequests
from bot.core.notify import LogSmsSender
from bot.kb.knowledge import load_knowledge_base
from bot.storage.db import open_database
from bot.storage.models import ChatIdentity, Conversation, Message, RateEvent
from bot.tools.demo import load_demo_data

NOW = dt.datetime(2026, 11, 27, 2, 0)  # a Friday morning in Beijing


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def turns(request, tmp_path_factory, parser, settings):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('turns') / 'wuye.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = open_database(url)
    kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    with db.session() as session:
        if session.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 0:
            load_demo_data(session, kb.communities, today=NOW.date())
    engine = ConversationEngine(db=db, parser=parser, kb_provider=lambda: kb, sms=LogSmsSender(), clock=lambda: NOW)
    yield engine
    db.engine.dispose()


def _rows(engine: ConversationEngine, sender: str):
    with engine.db.session() as session:
        identity = session.scalar(sa.select(ChatIdentity).where(ChatIdentity.sender_id == sender))
        conversation = session.scalar(sa.select(Conversation).where(Conversation.identity_id == identity.id))
        messages = session.execute(sa.select(Message.id, Message.sender, Message.text, Message.buttons,
                                             Message.nlu.is_(None).label("nlu_null"), Message.nlu, Message.created_at)
                                   .where(Message.conversation_id == conversation.id).order_by(Message.id)).all()
        events = session.scalar(sa.select(sa.func.count()).select_from(RateEvent)
                                .where(RateEvent.bucket == f"msg:web:{sender}"))
        return conversation, messages, events


def test_a_turn_stores_what_it_announces(turns):
    sender = f"w-{uuid.uuid4().hex[:8]}"
    results, times = [], []
    for minute, text in enumerate(("你好", "物业几点上班", "物业几点上班？另外停车月卡多少钱", "我要报修",
                                       "电梯困人了快来人", "我要投诉保安态度太差了")):
        at = NOW + dt.timedelta(minutes=minute)
        times.append(at)
        results.append(dataclasses.replace(turns, clock=lambda: at).handle("web", sender, text))
    conversation, messages, events = _rows(turns, sender)
    announced = [m for r in results for m in r.announcement["messages"]]
    # every stored message announced once, in order, with its id, sender, text and buttons
    assert [(m.id, m.sender, m.text, m.buttons) for m in messages] == \
        [(a["id"], a["sender"], a["text"], a["buttons"]) for a in announced]
    assert [r.announcement["after_id"] for r in results] == [r.announcement["messages"][0]["id"] - 1 for r in results]
    residents = [m for m in messages if m.sender == "resident"]
    assert [m.text for m in residents] == ["你好", "物业几点上班", "物业几点上班？另外停车月卡多少钱", "我要报修",
                                           "电梯困人了快来人", "我要投诉保安态度太差了"]
    # the emergency and the complaint were handed off (their messages were flushed during the turn by its queries)
    assert [m.nlu["route"]["decision"] for m in residents[-2:]] == ["handoff", "handoff"]
    assert all(not m.nlu_null and m.nlu["route"]["decision"] for m in residents)  # the route actually taken
    assert all(m.nlu_null for m in messages if m.sender == "bot")  # SQL NULL, not JSON null
    assert all(m.buttons == [] for m in residents)
    assert any(m.buttons for m in messages if m.sender == "bot")
    assert [m.sender for m in messages].count("bot") >= 5  # two answers for the two-question message
    by_id = {a["id"]: time for r, time in zip(results, times) for a in r.announcement["messages"]}
    assert all(m.created_at == by_id[m.id] for m in messages)
    assert events == 6  # one rate event per message
    assert conversation.updated_at == times[-1] and conversation.status == "pending"


def test_an_ordinary_turn_is_three_statements_on_postgresql(turns):
    sender = f"s-{uuid.uuid4().hex[:8]}"
    turns.handle("web", sender, "你好")
    statements = []
    listener = lambda conn, cur, statement, *rest: statements.append(statement)  # noqa: E731
    sa.event.listen(turns.db.engine, "before_cursor_execute", listener)
    try:
        turns.handle("web", sender, "物业几点上班")
    finally:
        sa.event.remove(turns.db.engine, "before_cursor_execute", listener)
    # identity (locked), conversation + handoff + the sender's limit + the last bot turn, the writes; on SQLite the
    # last bot turn is a statement of its own, the two messages are one INSERT … RETURNING and the rate event another
    # (the conversation's updated_at is unchanged: the engine's clock stands still here)
    assert len(statements) == (3 if turns.db.engine.dialect.name == "postgresql" else 5), statements


def test_the_message_limit_counts_every_turn_and_refuses_with_nothing_stored(turns):
    limited = dataclasses.replace(turns, limits=Limits(messages_per_sender=Limit(3, 60)))
    sender = f"l-{uuid.uuid4().hex[:8]}"
    for text in ("你好", "物业几点上班", "谢谢"):
        limited.handle("web", sender, text)
    with pytest.raises(TooManyRequests) as refused:
        limited.handle("web", sender, "停车月卡多少钱")
    assert refused.value.status == 429 and "太频繁" in refused.value.message
    _, messages, events = _rows(limited, sender)
    assert [m.text for m in messages if m.sender == "resident"] == ["你好", "物业几点上班", "谢谢"]
    assert events == 3
    # a new sender is refused too when its bucket is full (no conversation yet: the limit is read on its own)
    newcomer = f"n-{uuid.uuid4().hex[:8]}"
    with limited.db.session() as session:
        for _ in range(3):
            session.add(RateEvent(bucket=f"msg:web:{newcomer}", amount=1, created_at=NOW))
    with pytest.raises(TooManyRequests):
        limited.handle("web", newcomer, "你好")
    with limited.db.session() as session:  # nothing of the refused first message: no identity either
        assert session.scalar(sa.select(ChatIdentity).where(ChatIdentity.sender_id == newcomer)) is None


def test_first_messages_of_one_resident_at_once_from_several_processes_make_one_identity(turns):
    """A first message's identity is one INSERT … ON CONFLICT DO NOTHING: the turns that lose the race re-read the
    winner's row (on PostgreSQL, once its transaction commits) and join its conversation."""
    sender = f"r-{uuid.uuid4().hex[:8]}"
    engines = [dataclasses.replace(turns, _locks=KeyedLocks()) for _ in range(4)]  # as four processes would
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda engine: engine.handle("web", sender, "物业几点上班"), engines))
    assert len({r.conversation_id for r in results}) == 1
    with turns.db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ChatIdentity)
                              .where(ChatIdentity.sender_id == sender)) == 1
    conversation, messages, events = _rows(turns, sender)
    assert [m.text for m in messages if m.sender == "resident"] == ["物业几点上班"] * 4
    assert events == 4
