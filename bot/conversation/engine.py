"""The conversation engine: one resident turn in, replies (and handoff state) out, everything stored.

Order of a turn: check the sender's message limit → read the identity, conversation and active handoff → if an
agent owns the conversation, store the message and stay silent → gather the conversation's state (flow, slots this
message fills, buttons offered, last answer, handoff) → ``decide`` (bot/routing/router.py, the only place with routing
rules) → the message joins the session with its NLU reading and the route taken → carry the decision out → store the
message, the replies and the limit's use in one flush → build what the event stream announces
(bot/realtime/live.py) inside the same transaction.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from sqlalchemy import and_, bindparam, event, func, insert, inspect as sa_inspect, literal, literal_column, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer, make_transient_to_detached
from sqlalchemy.orm.attributes import flag_modified, get_history

from actions import fees, neighbours, parking, repairs
from bot.access import limits
from bot.access.limits import Limits
from bot.core.domain import ConversationStatus, HandoffStatus, Priority
from bot.core.errors import TooManyRequests, WuyeError, check_identifier, check_text
from bot.core.localtime import DEFAULT_TIME_ZONE, to_local, utcnow
from bot.handoffs import callback, handoff as handoffs, ratings, urgent_check
from bot.kb.knowledge import KnowledgeBase, answer_detail
from bot.outages import incidents, notices
from bot.realtime import live
from bot.reporting import metrics
from bot.routing import router
from bot.routing.router import ConversationState, Route, decide, split_requests
from bot.storage.db import Database, transient, written
from bot.storage.models import ChatIdentity, Conversation, Handoff, Message
from bot.turn.context import PHOTO_ONLY, Button, FlowSpec, FlowState, Reply, TurnContext, would_fill
from bot.voice import polls, suggestions

FLOWS: Dict[str, FlowSpec] = {
    "fee_lookup": fees.FLOW,
    "repair_request": repairs.REQUEST_FLOW,
    "repair_status": repairs.STATUS_FLOW,
    "parking": parking.FLOW,
    "callback": callback.FLOW,
    urgent_check.NAME: urgent_check.FLOW,  # the triage question of a borderline emergency (its own buttons only)
    suggestions.FLOW_NAME: suggestions.FLOW,  # "我有个建议": the next message is the suggestion
}
# The turn's own look-ups, built once with bound parameters (building a statement costs more than running it)
# (on the table, not the mapped class: run on the session's connection it skips the ORM's execution context — the
# turn reads it before storing anything, so there is nothing to autoflush)
_messages = Message.__table__.c
_previous_resident = select(func.coalesce(func.max(_messages.id), 0)).where(
    _messages.conversation_id == bindparam("conversation_id"), _messages.sender == "resident").scalar_subquery()
_LAST_BOT_TURN = select(_messages.buttons).where(_messages.conversation_id == bindparam("conversation_id"),
                                                 _messages.sender == "bot", _messages.id > _previous_resident) \
    .order_by(_messages.id)
# the resident's message before the bot's last one (what the last FAQ answer answered: the context of a follow-up
# question), whether or not this turn's message is flushed yet
_last_bot = select(func.max(_messages.id)).where(_messages.conversation_id == bindparam("conversation_id"),
                                                 _messages.sender == "bot").scalar_subquery()
_PREVIOUS_QUESTION = select(_messages.text).where(_messages.conversation_id == bindparam("conversation_id"),
                                                  _messages.sender == "resident", _messages.id < _last_bot) \
    .order_by(_messages.id.desc()).limit(1)
_IDENTITY = select(ChatIdentity).where(ChatIdentity.channel == bindparam("channel"),
                                       ChatIdentity.sender_id == bindparam("sender_id"))
_IDENTITY_FOR_UPDATE = _IDENTITY.with_for_update()  # one resident's turns in order across processes
# SQLite: the identity (None: a first message) with the sender's message-limit use (bot/access/limits.py, parameters
# bucket, since, cap) in one statement, a row whether or not the identity exists — a first message read the use with
# a statement of its own. SQLite's turns hold the process's writer lock (Database.writer) from here to the commit, so
# nothing is written between this read and the turn's own writes, as on PostgreSQL after the identity's row lock.
_IDENTITY_AND_USE = select(ChatIdentity, limits.USED.scalar_subquery()) \
    .select_from(select(literal(1).label("one")).subquery()) \
    .outerjoin(ChatIdentity, and_(ChatIdentity.channel == bindparam("channel"),
                                  ChatIdentity.sender_id == bindparam("sender_id")))
_NEW_CONVERSATION = insert(Conversation.__table__)
# A first message's identity: one INSERT that does nothing when another turn made the same identity meanwhile (a
# SAVEPOINT around an ORM insert took three statements). Other databases: the savepoint (ConversationEngine._identity).
_identities = ChatIdentity.__table__
_NEW_IDENTITY = {
    "postgresql": postgresql.insert(_identities).on_conflict_do_nothing(index_elements=["channel", "sender_id"])
    .returning(_identities.c.id),
    "sqlite": sqlite.insert(_identities).on_conflict_do_nothing(index_elements=["channel", "sender_id"]),
}


@functools.lru_cache(maxsize=4)
def _new_identity(dialect) -> Any:
    """:data:`_NEW_IDENTITY` compiled once for ``dialect`` (None: no such statement there). SQLAlchemy 1.4 gives an
    ON CONFLICT statement no cache key, so it was compiled again on every first message (~5 % of such a turn)."""
    statement = _NEW_IDENTITY.get(dialect.name)
    return None if statement is None else \
        statement.compile(dialect=dialect, column_keys=["channel", "sender_id", "created_at"])


# the identity's columns a turn reads (besides its channel and sender, which it knows)
_IDENTITY_COLUMNS = tuple(c.key for c in ChatIdentity.__table__.c if c.key not in ("channel", "sender_id"))


@functools.lru_cache(maxsize=4)
def _identity_or_first_message(dialect) -> Tuple[str, Dict[str, Any]]:
    """The turn's first statement on PostgreSQL and the values of its constants: the sender's identity, locked
    (``FOR UPDATE``: one resident's turns in order across processes), or — when there is none, a first message —
    the sender's message-limit use (:data:`bot.access.limits.USED`, parameters bucket, since, cap), its identity
    (:data:`_NEW_IDENTITY`: nothing when another turn made it meanwhile) and, only when the identity was made, its
    conversation (every column given, as :meth:`ConversationEngine._conversation` inserts it). One round trip where
    a first message took two (the identity's read, then its writes). A refusal (the limit) rolls the transaction
    back, the two rows with it. An identity found is answered alone: the conversation and the limit's use are read
    by the next statement, whose snapshot is taken after the lock was granted (this one's is from before it)."""
    used = limits.USED.compile(dialect=dialect)
    columns = ", ".join(_IDENTITY_COLUMNS)
    sql = (f"WITH turn_existing AS (SELECT {columns} FROM chat_identities WHERE channel = %(channel)s "
           "AND sender_id = %(sender_id)s FOR UPDATE), "
           "turn_identity AS (INSERT INTO chat_identities (channel, sender_id, created_at) "
           "SELECT %(channel)s, %(sender_id)s, %(created_at)s WHERE NOT EXISTS (SELECT 1 FROM turn_existing) "
           "ON CONFLICT (channel, sender_id) DO NOTHING RETURNING id), "
           "turn_conversation AS (INSERT INTO conversations (identity_id, channel, community_id, status, priority, "
           "assignee_id, waiting_since, flow, failed_turns, created_at, updated_at) "
           "SELECT id, %(channel)s, %(community_id)s, %(status)s, NULL, NULL, NULL, %(flow)s, 0, %(created_at)s, "
           "%(created_at)s FROM turn_identity RETURNING id) "
           f"SELECT {', '.join(f'turn_existing.{c}' for c in _IDENTITY_COLUMNS)}, "
           f"CASE WHEN turn_existing.id IS NULL THEN ({used.string}) END, "
           "(SELECT id FROM turn_identity), (SELECT id FROM turn_conversation) "
           "FROM (SELECT 1) AS turn_one LEFT JOIN turn_existing ON true")
    return sql, {key: value for key, value in used.params.items() if key not in ("bucket", "since", "cap")}


# the resident's latest conversation and its active handoff (if any) in one round trip; the handoff's context card
# stays in the database until used (bot.handoffs.handoff._ACTIVE reads the same handoff)
# The sender's message-limit use (bot/access/limits.py, parameters bucket, since, cap) rides along as a third column: read
# after the identity row is locked, so it counts every earlier turn of this resident, whichever process ran it.
_LATEST_CONVERSATION_AND_HANDOFF = select(Conversation, Handoff, limits.USED.scalar_subquery()).outerjoin(
    Handoff, and_(Handoff.conversation_id == Conversation.id,
                  # a bound parameter each, not an expanding IN (re-rendered on every run: ~1 % of a turn)
                  Handoff.status.in_([literal(status) for status in HandoffStatus.active()]))) \
    .options(defer(Handoff.context)).where(Conversation.identity_id == bindparam("identity_id")) \
    .order_by(Conversation.id.desc(), Handoff.id.desc()).limit(1)


def _last_bot_turn_column() -> Any:
    """:data:`_LAST_BOT_TURN` of the conversation read as one JSON array (PostgreSQL): a column of the conversation's
    read, not a round trip of its own, on every turn of a conversation under way."""
    bot, resident = Message.__table__.alias("turn_bot"), Message.__table__.alias("turn_resident")
    previous = select(func.coalesce(func.max(resident.c.id), 0)).where(
        resident.c.conversation_id == Conversation.id, resident.c.sender == "resident") \
        .correlate_except(resident).scalar_subquery()
    buttons = func.coalesce(func.json_agg(postgresql.aggregate_order_by(bot.c.buttons, bot.c.id)),
                            literal_column("'[]'::json"))
    return select(buttons).where(bot.c.conversation_id == Conversation.id, bot.c.sender == "bot",
                                 bot.c.id > previous).correlate_except(bot).scalar_subquery()


_LATEST_WITH_LAST_BOT_TURN = _LATEST_CONVERSATION_AND_HANDOFF.add_columns(_last_bot_turn_column())
# SQLite: the limit's use is read with the identity (_IDENTITY_AND_USE)
_LATEST_WITHOUT_USE = _LATEST_CONVERSATION_AND_HANDOFF.with_only_columns(Conversation, Handoff)
# A turn's writes on PostgreSQL: the new messages (one multi-row INSERT), the message's rate event, the conversation's
# changes (its flow, failed turns…) with its updated_at and, when a query of the turn flushed the resident's message
# earlier, its route, as data-modifying CTEs of the same statement — one round trip where the unit of work took four
# (see ConversationEngine._store_turn).
# Written as SQL: SQLAlchemy 1.4 renders an INSERT CTE's RETURNING in place of the outer INSERT's.
_MESSAGE_COLUMNS = ("conversation_id", "sender", "text", "buttons", "nlu", "staff_id", "created_at", "client_id")


@functools.lru_cache(maxsize=256)
def _turn_insert(rows: int, conversation: Optional[Tuple[str, ...]], write_route: bool,
                 others: Tuple[Tuple[str, str, Tuple[str, ...]], ...] = ()) -> str:
    """``conversation``: the conversation's columns the turn changed (parameters conversation_<column>), written with
    its updated_at (None: the unit of work writes the conversation). ``others``: the other rows the turn changed
    (:func:`_other_changes`), each (table, primary key column, changed columns), parameters row<i>_<column> and
    row<i>_key."""
    ctes = ["turn_rate_event AS (INSERT INTO rate_events (bucket, amount, created_at) "
            "VALUES (%(rate_bucket)s, 1, %(turn_at)s))"]
    if conversation is not None:
        columns = "".join(f"{key} = %(conversation_{key})s, " for key in conversation)
        ctes.append(f"turn_touch AS (UPDATE conversations SET {columns}updated_at = %(turn_at)s "
                    "WHERE id = %(touch_id)s)")
    for i, (table, key, columns) in enumerate(others):
        assignments = ", ".join(f"{column} = %(row{i}_{column})s" for column in columns)
        ctes.append(f"turn_row{i} AS (UPDATE {table} SET {assignments} WHERE {key} = %(row{i}_key)s)")
    if write_route:  # the resident's message is in the table already, its route changed since: written again
        ctes.append("turn_route AS (UPDATE messages SET nlu = %(resident_nlu)s WHERE id = %(resident_id)s)")
    values = ", ".join("(" + ", ".join(f"%({key}_{i})s" for key in _MESSAGE_COLUMNS) + ")" for i in range(rows))
    return (f"WITH {', '.join(ctes)} INSERT INTO messages ({', '.join(_MESSAGE_COLUMNS)}) VALUES {values} "
            "RETURNING id")


# SQLite ≥ 3.35 answers INSERT … RETURNING (SQLAlchemy 1.4's SQLite dialect does not write it: _insert_messages)
_SQLITE_RETURNING = sqlite3.sqlite_version_info >= (3, 35)


@functools.lru_cache(maxsize=16)
def _message_insert(rows: int) -> str:
    row = "(" + ", ".join("?" for _ in _MESSAGE_COLUMNS) + ")"
    return f"INSERT INTO messages ({', '.join(_MESSAGE_COLUMNS)}) VALUES {', '.join([row] * rows)} RETURNING id"


@functools.lru_cache(maxsize=4)
def _message_binds(dialect) -> Tuple[Any, ...]:
    """Each message column's conversion to what the driver takes (JSON text, SQLite's datetime text), as the unit of
    work does it."""
    return tuple(Message.__table__.c[key].type.bind_processor(dialect) for key in _MESSAGE_COLUMNS)


def _insert_messages(session, dialect, messages: List[Message]) -> None:
    """Insert ``messages`` (not in the session) in one statement; each gets its id."""
    binds, params = _message_binds(dialect), []
    for m in messages:
        m.buttons = m.buttons or []
        for key, bind in zip(_MESSAGE_COLUMNS, binds):
            value = getattr(m, key)
            # None stays SQL NULL (the JSON type would write JSON null: the unit of work leaves an unset nlu NULL)
            params.append(bind(value) if bind is not None and value is not None else value)
    result = session.connection().exec_driver_sql(_message_insert(len(messages)), tuple(params))
    for m, new_id in zip(messages, sorted(result.scalars())):  # ids are given in VALUES order
        m.id = new_id


@event.listens_for(Session, "before_flush")
def _touch(session, _context, _instances) -> None:
    """Before a flush of a turn's session (``session.info["turn_touch"]``: its conversation and time): a
    conversation with changes to write gets the turn's time as its updated_at in the same UPDATE. One listener for
    every session, registered once: a listener added to each turn's session cost ~2 % of a turn (SQLAlchemy copies
    the session's event registry for it)."""
    turn = session.info.get("turn_touch")
    if turn is None:
        return
    conversation, now = turn
    if sa_inspect(conversation).modified and session.is_modified(conversation, include_collections=False):
        conversation.updated_at = now
        flag_modified(conversation, "updated_at")  # written even when it is ``now`` already (else onupdate's clock)


def _changed_since_flush(message: Message) -> Optional[List[str]]:
    """The attributes of a flushed message changed since (None: not flushed)."""
    state = sa_inspect(message)
    if not state.persistent:
        return None
    return [attr.key for attr in state.attrs if attr.history.has_changes()]


# The conversation's own columns a turn may change (not its id; updated_at is the turn's time whenever it is written)
_CONVERSATION_COLUMNS = tuple(c.key for c in Conversation.__table__.c if c.key not in ("id", "updated_at"))


def _conversation_changes(session, conversation: Conversation, message: Message,
                          others: Optional[List[Any]] = None) -> Optional[Dict[str, Any]]:
    """The columns the turn changed in ``conversation`` and their values, in table order ({}: none), for the turn's
    last statement to write them (see ConversationEngine._store_turn); None when the unit of work must write the
    conversation: another object of the session waits for the flush (the resident's ``message`` aside: its route
    is written by the same statement; and the objects of ``others``, written by the caller), or a relationship of
    the conversation changed."""
    if session.new or session.deleted or any(o is not conversation and o is not message and
                                             not any(o is x for x in others or ()) for o in session.dirty):
        return None
    state = sa_inspect(conversation)
    if any(key not in _CONVERSATION_COLUMNS and key != "updated_at" for key in state.committed_state):
        return None
    return {key: state.dict[key] for key in _CONVERSATION_COLUMNS
            if key in state.committed_state and get_history(conversation, key).has_changes()}


@functools.lru_cache(maxsize=32)
def _row_update(mapper: Any) -> Optional[Tuple[str, str, Dict[str, Any]]]:
    """(table, primary key column, {attribute: column}) of a class whose changed rows the turn's statement may
    write itself, or None: its table is not one plain table with a one-column key, or a column of it has an
    ``onupdate`` (which the unit of work fills in)."""
    table = mapper.local_table
    if mapper.inherits is not None or len(mapper.primary_key) != 1 or mapper.version_id_col is not None or \
            any(c.onupdate is not None or c.server_onupdate is not None for c in table.c):
        return None
    return table.name, mapper.primary_key[0].name, {p.key: p.columns[0] for p in mapper.column_attrs
                                                    if len(p.columns) == 1 and p.columns[0].table is table}


def _other_changes(session, conversation: Conversation, message: Message) -> Optional[List[Tuple[Any, Dict[str, Any]]]]:
    """The changed rows of the session other than the conversation and the resident's message, each (object,
    {attribute: value}) with the columns it changed, for the turn's statement to write them as CTEs (an open
    handoff's ticket, an incident's handoff): None when one of them is not that simple (a relationship or a
    primary key changed, a class :func:`_row_update` refuses) and the unit of work must write them."""
    found = []
    for o in session.dirty:
        if o is conversation or o is message:
            continue
        state = sa_inspect(o)
        spec = _row_update(state.mapper)
        if spec is None or not state.persistent:
            return None
        _, key, columns = spec
        changed = {}
        for name in state.committed_state:
            if name not in columns or name == key:
                return None
            if get_history(o, name).has_changes():
                changed[name] = state.dict[name]
        found.append((o, changed))  # ({}: set to what it was, nothing to write but marked written)
    return found


@functools.lru_cache(maxsize=64)
def _update_conversation(keys: Tuple[str, ...]) -> Any:
    """UPDATE of the conversation's ``keys`` and updated_at (parameters v_<key>, v_updated_at, conversation_id)."""
    table = Conversation.__table__
    return table.update().where(table.c.id == bindparam("conversation_id")) \
        .values({key: bindparam(f"v_{key}") for key in keys + ("updated_at",)})


@functools.lru_cache(maxsize=64)
def _update_row(mapper: Any, names: Tuple[str, ...]) -> Any:
    """UPDATE of the attributes ``names`` of a row of a class :func:`_row_update` accepts (parameters v_<name>,
    row_key), typed by their columns as the unit of work writes them."""
    _, key, columns = _row_update(mapper)
    table = mapper.local_table
    return table.update().where(table.c[key] == bindparam("row_key")) \
        .values({columns[name].name: bindparam(f"v_{name}") for name in names})


@functools.lru_cache(maxsize=128)
def _column_bind(column: Any, dialect) -> Any:
    """A column's conversion to what the driver takes (JSON text…), as the unit of work does it (None: none)."""
    return column.type.bind_processor(dialect)


@functools.lru_cache(maxsize=4)
def _conversation_binds(dialect) -> Dict[str, Any]:
    """Each conversation column's conversion to what the driver takes (a flow as JSON text, None as JSON null), as
    the unit of work does it."""
    return {key: Conversation.__table__.c[key].type.bind_processor(dialect) for key in _CONVERSATION_COLUMNS}


def _as_written(session, instance: Any, wrote: bool = True) -> None:
    """Mark ``instance``'s changes as written (they were, by a statement of the turn's own; ``wrote`` False: there
    was no change to write): what the unit of work does after its flush, so that the session's last flush finds
    nothing to do (a flush of one unchanged object still costs its bookkeeping)."""
    sa_inspect(instance)._commit_all(sa_inspect(instance).dict, session.identity_map)
    if wrote:
        session.info.setdefault("written", set()).add(type(instance))  # as bot.storage.db._note_written records it


HOT_QUESTIONS = ["office_hours", "payment_methods", "parking_monthly_card", "access_card", "renovation_permit"]
NOT_HELPFUL = "没有解决我的问题"


InputError = WuyeError  # a message that cannot be processed: EmptyMessage, MessageTooLong, InvalidCharacters…


def changes(before: Optional[Dict[str, Any]], after: Optional[Dict[str, Any]]) -> List[str]:
    """The state changes of a turn, for the event stream (bot/realtime/live.py)."""
    kinds = ["message_stored"]
    if after is not None and before is None:
        kinds.append("handoff_opened")
    elif after is not None and Priority.rank_of(after["priority"]) < Priority.rank_of(before["priority"]):
        kinds.append("priority_raised")
    elif after is None and before is not None:  # the resident withdrew it ("算了不用了")
        kinds.append("resolved")
    return kinds


@dataclass
class TurnResult:
    conversation_id: int
    replies: List[Reply]
    handoff: Optional[Dict[str, Any]]
    status: str
    changes: List[str] = field(default_factory=list)
    route: Dict[str, Any] = field(default_factory=dict)  # the route taken (Route.as_record)
    duplicate: bool = False  # a resend of a message already stored (same client id): nothing was processed
    # what the event stream publishes for this turn, read in the turn's own transaction (bot/realtime/live.py
    # turn_announcement): the new messages, the status and the resident's channel identity
    announcement: Optional[Dict[str, Any]] = None

    def as_api(self) -> Dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "replies": [{"text": r.text, "buttons": [b.as_dict() for b in r.buttons]} for r in self.replies],
            "handoff": self.handoff,
        }


class KeyedLocks:
    """A lock per key, created on demand and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: Dict[Any, List[Any]] = {}

    @contextmanager
    def hold(self, key: Any) -> Iterator[None]:
        with self._guard:
            entry = self._locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]


@dataclass
class ConversationEngine:
    db: Database
    parser: Any
    kb_provider: Callable[[], KnowledgeBase]
    sms: Any
    clock: Callable[[], dt.datetime] = field(default=utcnow)  # UTC, naive: what is stored
    time_zone: str = DEFAULT_TIME_ZONE  # the zone relative times are read in before the 小区 is known
    max_chars: int = 1000
    limits: Limits = field(default_factory=Limits)
    # a turn whose database connection is lost is run again for up to this long (backoff 0.05 s, 0.1 s… at most
    # 0.5 s): bounded by time, not by a count, so a slow machine's longer attempts get the same grace as a fast one's
    RETRY_SECONDS = 5.0
    _locks: "KeyedLocks" = field(default_factory=lambda: KeyedLocks(), repr=False)

    # --- entry point ------------------------------------------------------------------------------
    def handle(self, channel: str, sender_id: str, text: str, photos: Optional[List[str]] = None,
               community_id: Optional[str] = None, client_id: Optional[str] = None,
               client_ip: Optional[str] = None) -> TurnResult:
        """One resident turn. ``client_id``: the page's own id for the message (the widget's offline queue); a
        resend with an id already stored in this resident's conversation is not processed again — the stored
        turn's replies come back (``TurnResult.duplicate``). ``client_ip``: the resident's address where the channel
        knows it (the widget; not WeChat or an integration, whose address is their server's), for the per-address
        limits on verification codes and pages."""
        text = check_text(text or "", self.max_chars, allow_empty=bool(photos))
        sender_id = check_identifier(sender_id)
        text = text or PHOTO_ONLY
        kb = self.kb_provider()
        # a channel that says no 小区 (WeChat's one Official Account, an integration sending none): the one the
        # resident names, kept on the conversation like a widget link's (a bound household still decides)
        community_id = community_id or kb.named_community(text)
        reading = self._parse(text)
        # A turn whose database connection dies (a failover, a killed backend) is run again from the start on a
        # fresh connection: nothing of the failed attempt was committed.
        deadline, attempt = time.monotonic() + self.RETRY_SECONDS, 0
        while True:
            try:
                result = self._turn(channel, sender_id, text, photos, community_id, kb, reading, client_id, client_ip)
                if not result.duplicate:
                    metrics.record_turn(result)
                return result
            except DBAPIError as exc:
                if not transient(exc) or time.monotonic() >= deadline:
                    raise
                attempt += 1
                time.sleep(min(0.05 * attempt, 0.5))

    def _turn(self, channel: str, sender_id: str, text: str, photos: Optional[List[str]], community_id: Optional[str],
              kb: KnowledgeBase, reading: Any, client_id: Optional[str] = None,
              client_ip: Optional[str] = None) -> TurnResult:
        # One resident's turns are processed one at a time, in order (in this process; across processes the
        # identity row is locked FOR UPDATE on databases that support it).
        with self._locks.hold((channel, sender_id)), self.db.writer(), self.db.session() as session:
            session.info["queue_positions"] = {}  # bot.handoffs.handoff.queue_position: counted once a turn
            now = self.clock()
            if client_id:
                stored = self._stored_turn(session, channel, sender_id, client_id)
                if stored is not None:
                    return stored
            bucket = f"msg:{channel}:{sender_id}"
            identity, used, new_identity, made = self._identity(session, channel, sender_id, now, bucket, community_id)
            conversation, active, used, new_conversation, read_turn = self._conversation(
                session, identity, channel, community_id, now, bucket, used, new_identity, made)
            self._check_limit(session, bucket, used, now)  # (the transaction rolls back: nothing of it is stored)
            # every flush of the conversation during the turn writes the turn's time as its updated_at (the column's
            # onupdate would write the wall clock, and the turn's last write would then be a second UPDATE)
            session.info["turn_touch"] = (conversation, now)  # see _touch
            before = handoffs.waiting_state(session, conversation.id, active)
            nlu = reading.as_api()
            # the buttons the resident is answering (read before the message joins the session; a conversation made
            # by this turn has none; an agent's conversation: not used, the bot does not answer; on PostgreSQL read
            # with the conversation)
            last_turn: List[List[Dict[str, Any]]] = [] if new_conversation or \
                conversation.status == ConversationStatus.OPEN else \
                read_turn if read_turn is not None else self._last_bot_turn(session, conversation.id)
            shown = self._button_title(session, conversation.id, text, last_turn) if text.startswith("/") else None
            if shown:  # a tapped button is stored (and shown to the resident and agents) as its title
                nlu["payload"] = text
            # it joins the session with its route once that is decided (_dispatch) and is inserted at the end (one
            # INSERT; a query of the action that needs it in the database flushes it earlier, route and all)
            message = Message(conversation_id=conversation.id, sender="resident", text=shown or text, nlu=nlu,
                              created_at=now, client_id=client_id or None)
            ctx = TurnContext(session=session, conversation=conversation, identity=identity, reading=reading,
                              text=text, kb=kb, now=now, sms=self.sms, photos=list(photos or []), limits=self.limits,
                              active_handoff=active, active_handoff_known=True, client_ip=client_ip,
                              readings={text: reading}, begun=new_conversation)
            # an agent's conversation is the agent's, but for a tap on the triage question's buttons: the page (or
            # not) is still the resident's answer's (bot/handoffs/urgent_check.py)
            if conversation.status != ConversationStatus.OPEN or urgent_check.is_answer(conversation.flow, text):
                route = self._dispatch(ctx, last_turn, active, message)
            else:
                session.add(message)
                route = Route("agent", None, ["an agent owns the conversation"])
                message.nlu = {**message.nlu, "route": route.as_record()}
            stored = [message] + [Message(conversation_id=conversation.id, sender="bot", text=reply.text,
                                          buttons=[b.as_dict() for b in reply.buttons], created_at=now)
                                  for reply in ctx.replies]
            touched = Handoff in written(session)
            # the message counts against the sender's limit (checked above) from here: recorded with the turn's last
            # writes rather than before its first query, which would cost a round trip of its own
            self._store_turn(session, conversation, stored, bucket, now)
            session.flush()
            # the handoff read at the start still stands when the turn wrote no handoff: only its queue position is
            # counted again (no handoff at all: nothing to read); a turn that wrote one opened or changed the one
            # ctx.active_handoff holds (open_handoff keeps it up to date), read again only when no longer active
            current = ctx.active_handoff
            if not touched:
                after = handoffs.waiting_state(session, conversation.id, active)
            elif current is not None and current.status in HandoffStatus.active():
                after = handoffs.waiting_state(session, conversation.id, current)
            else:
                after = handoffs.waiting_state(session, conversation.id)
            return TurnResult(conversation.id, ctx.replies, after, conversation.status, changes(before, after),
                              route.as_record(),
                              announcement=live.turn_announcement(session, conversation, identity, stored, after))

    @staticmethod
    def _stored_turn(session, channel: str, sender_id: str, client_id: str) -> Optional[TurnResult]:
        """The turn already stored for this client message id (a resend after a reconnect), or None."""
        message = session.scalar(select(Message).join(Conversation, Message.conversation_id == Conversation.id)
                                 .join(ChatIdentity, Conversation.identity_id == ChatIdentity.id)
                                 .where(ChatIdentity.channel == channel, ChatIdentity.sender_id == sender_id,
                                        Message.client_id == client_id, Message.sender == "resident"))
        if message is None:
            return None
        following = session.scalar(select(Message.id).where(
            Message.conversation_id == message.conversation_id, Message.sender == "resident", Message.id > message.id)
            .order_by(Message.id)) or None
        query = select(Message).where(Message.conversation_id == message.conversation_id, Message.sender == "bot",
                                      Message.id > message.id)
        if following is not None:
            query = query.where(Message.id < following)
        replies = [Reply(m.text, [Button(b.get("title", ""), b.get("payload", "")) for b in (m.buttons or [])])
                   for m in session.scalars(query.order_by(Message.id))]
        conversation = session.get(Conversation, message.conversation_id)
        return TurnResult(conversation.id, replies, handoffs.waiting_state(session, conversation.id),
                          conversation.status, [], (message.nlu or {}).get("route") or {}, duplicate=True)

    def _parse(self, text: str) -> Any:
        """The NLU reading, relative times (明天下午) read on the local clock of the engine's ``clock``."""
        return self.parser.parse(text, now=to_local(self.clock(), self.time_zone))

    @staticmethod
    def _button_title(session, conversation_id: int, payload: str,
                      last_turn: List[List[Dict[str, Any]]]) -> Optional[str]:
        """The title of the most recent button of this conversation with this payload (None if never offered);
        ``last_turn``: the newest bot messages' buttons, already read (most taps answer them: no query)."""
        if payload == "/handoff":
            return "转人工客服"
        if payload.startswith("/poll "):  # from a notice's banner or a link, never a bot message's button
            return "参与投票"
        for buttons in reversed(last_turn):
            for button in buttons or []:
                if button.get("payload") == payload:
                    return button.get("title")
        for buttons in session.scalars(select(Message.buttons).where(
                Message.conversation_id == conversation_id, Message.sender == "bot", Message.buttons.isnot(None))
                .order_by(Message.id.desc()).limit(50)):
            for button in buttons or []:
                if button.get("payload") == payload:
                    return button.get("title")
        return None

    # --- persistence helpers ------------------------------------------------------------------------
    def _check_limit(self, session, bucket: str, used: int, now: dt.datetime) -> None:
        """Refuse the message when the sender's message limit is reached (``used``: its use in the window)."""
        limit = self.limits.messages_per_sender
        if used + 1 > limit.count:
            raise TooManyRequests(seconds=limits.seconds_until_free(session, bucket, limit, now))

    def _identity(self, session, channel: str, sender_id: str, now: dt.datetime, bucket: str,
                  community_id: Optional[str] = None) -> Tuple[ChatIdentity, Optional[int], bool, Optional[int]]:
        """The sender's channel identity, locked for the turn, and — when it is made now, on the first message, and
        on SQLite always (read with it) — the use of its message limit (checked first: SQLite's savepoint would keep
        the new row past a refusal's rollback), whether this turn made it (it then has no conversation yet) and, on
        PostgreSQL, the id of the conversation made with it (in ``community_id``; None: not made)."""
        dialect = session.bind.dialect
        query = _IDENTITY if dialect.name == "sqlite" else _IDENTITY_FOR_UPDATE
        params = {"channel": channel, "sender_id": sender_id}
        used, created = None, False
        if dialect.name == "sqlite":
            limit = self.limits.messages_per_sender
            identity, used = session.execute(_IDENTITY_AND_USE, {
                **params, "bucket": bucket, "since": now - limit.window, "cap": limit.count}).one()
            used = int(used or 0)
        elif dialect.name == "postgresql":
            sql, constants = _identity_or_first_message(dialect)
            limit, flow = self.limits.messages_per_sender, _conversation_binds(dialect)["flow"]
            row = session.connection().exec_driver_sql(sql, {
                **constants, **params, "created_at": now, "bucket": bucket, "since": now - limit.window,
                "cap": limit.count, "community_id": community_id, "status": ConversationStatus.BOT.value,
                "flow": flow(None) if flow is not None else None}).one()
            n = len(_IDENTITY_COLUMNS)
            if row[0] is not None:  # found and locked: in the session as loaded, as the ORM's read would put it
                identity = ChatIdentity(channel=channel, sender_id=sender_id, **dict(zip(_IDENTITY_COLUMNS, row[:n])))
                make_transient_to_detached(identity)
                session.add(identity)
                return identity, None, False, None
            used, new_id, conversation_id = int(row[n] or 0), row[n + 1], row[n + 2]
            self._check_limit(session, bucket, used, now)
            if new_id is None:  # two first messages at once: the loser re-reads the winner's row
                return session.scalar(query, params), used, False, None
            return self._made_identity(session, new_id, channel, sender_id, now), used, True, conversation_id
        else:
            identity = session.scalar(query, params)
        if identity is None:
            if used is None:
                used = limits.used(session, bucket, self.limits.messages_per_sender, now)
            self._check_limit(session, bucket, used, now)
            insert = _new_identity(session.bind.dialect)
            if insert is not None:  # one statement; two first messages at once: the loser re-reads the winner's row
                result = session.connection().execute(insert, {**params, "created_at": now})
                new_id = result.scalar() if result.returns_rows else (result.lastrowid if result.rowcount else None)
                if new_id is None:
                    return session.scalar(query, params), used, False, None
                return self._made_identity(session, new_id, channel, sender_id, now), used, True, None
            try:
                with session.begin_nested():  # two first messages at once: the loser re-reads the winner's row
                    identity = ChatIdentity(channel=channel, sender_id=sender_id, created_at=now)
                    session.add(identity)
                created = True
            except IntegrityError:
                identity = session.scalar(query, params)
        return identity, used, created, None

    @staticmethod
    def _made_identity(session, new_id: int, channel: str, sender_id: str, now: dt.datetime) -> ChatIdentity:
        """The identity row this turn inserted, in the session without reading it back."""
        identity = ChatIdentity(id=new_id, channel=channel, sender_id=sender_id, household_id=None,
                                verified_at=None, privacy_accepted_at=None, created_at=now)
        make_transient_to_detached(identity)
        session.add(identity)
        return identity

    def _conversation(self, session, identity: ChatIdentity, channel: str, community_id: Optional[str],
                      now: dt.datetime, bucket: str, used: Optional[int], new_identity: bool = False,
                      made: Optional[int] = None) -> Tuple[Conversation, Optional[Handoff], int, bool, Any]:
        """The resident's current conversation (a new one the first time, a resolved one reopened), its active
        handoff, if any, the use of the sender's message limit (bucket) in its window (``used``: already read),
        whether the conversation is new and, on PostgreSQL, the buttons of its last bot turn (:meth:`_last_bot_turn`;
        None: not read). An identity made by this turn (``new_identity``) has none to read; ``made``: the id of the
        conversation inserted with it (:func:`_identity_or_first_message`)."""
        limit = self.limits.messages_per_sender
        params = {"identity_id": identity.id, "bucket": bucket, "since": now - limit.window, "cap": limit.count}
        postgres = session.bind.dialect.name == "postgresql"
        query = _LATEST_WITH_LAST_BOT_TURN if postgres else \
            _LATEST_CONVERSATION_AND_HANDOFF if used is None else _LATEST_WITHOUT_USE
        row = None if new_identity and used is not None else session.execute(query, params).first()
        last_turn = None
        if row is not None:
            conversation, active = row[0], row[1]
            if query is not _LATEST_WITHOUT_USE:
                used = int(row[2] or 0)
            last_turn = row[3] if postgres else None
        else:
            conversation, active = None, None
            used = limits.used(session, bucket, limit, now) if used is None else used
        if conversation is None:
            community = identity.household.community_id if identity.household_id else community_id
            # inserted as a row (its id is needed at once; the unit of work's flush of one object cost more than
            # the INSERT) and put in the session as loaded: every column given, so that nothing is read back and
            # setting a value it has (ctx.save_flow(None)) is no change to write
            values = dict(identity_id=identity.id, channel=channel, community_id=community,
                          status=ConversationStatus.BOT.value, priority=None, assignee_id=None, waiting_since=None,
                          flow=None, failed_turns=0, created_at=now, updated_at=now)
            if made is None:
                made = session.connection().execute(_NEW_CONVERSATION, values).inserted_primary_key[0]
            conversation = Conversation(id=made, **values)
            make_transient_to_detached(conversation)
            session.add(conversation)
            return self._for_community(conversation, identity, community_id), active, used, True, None
        if conversation.status == ConversationStatus.RESOLVED:
            conversation.status = ConversationStatus.BOT.value
            conversation.priority = None
        return self._for_community(conversation, identity, community_id), active, used, False, last_turn

    @staticmethod
    def _for_community(conversation: Conversation, identity: ChatIdentity,
                       community_id: Optional[str]) -> Conversation:
        if community_id and not identity.household_id and conversation.community_id != community_id:
            # an unbound resident's 小区 is the one the channel says now (the widget's signed 小区 link, an
            # integration's community): its numbers, hours and on-duty phone answer; a bound household decides itself
            conversation.community_id = community_id
        return conversation

    @staticmethod
    def _store_turn(session, conversation: Conversation, stored: List[Message], bucket: str, now: dt.datetime) -> None:
        """Write the turn's messages, the message's rate event and the conversation's changes and updated_at.

        On PostgreSQL this is one statement (a multi-row INSERT … RETURNING of the new messages, with the rate event,
        the conversation's changed columns and updated_at, and the resident message's route if it changed after a
        query of the turn flushed that message, as data-modifying CTEs): the new messages never enter the session and
        get their ids from RETURNING. On SQLite the new messages are one INSERT … RETURNING too, and the rate event
        and the conversation's UPDATE (when anything of it changed) follow as statements of their own. Either way the
        conversation is written without the unit of work, and left as written in the session, when nothing else
        waits for the flush (:func:`_conversation_changes`). Otherwise — a turn without replies whose message was
        flushed, a flushed message changed in more than its route, another message of the turn still waiting for the
        flush, another changed object — the unit of work writes them with the session's next flush."""
        message = stored[0]
        pending = message in session.new
        # a message flushed by a query of the turn is written already (with its route, _dispatch); only an ``nlu``
        # changed since is written again, as a CTE of the same statement
        changed = None if pending else _changed_since_flush(message)
        one_statement = pending or (len(stored) > 1 and changed in ([], ["nlu"]))
        dialect = session.bind.dialect
        if dialect.name == "sqlite" and _SQLITE_RETURNING and not any(
                isinstance(o, Message) and o is not message for o in session.new):
            # SQLite: the new messages in one INSERT … RETURNING id (the unit of work wrote one statement each);
            # only when no other message of the turn waits for the flush (an auto-assignment's 已接入 line), whose
            # place before the replies the unit of work keeps
            inserted = stored if pending else stored[1:]
            if pending:
                session.expunge(message)
            if inserted:
                _insert_messages(session, dialect, inserted)
            limits.record(session, bucket, now)
            # the conversation's changes and updated_at as one UPDATE of its own (the unit of work's flush of the one
            # object cost ~10 % of a turn), and the other rows the turn changed (an open handoff's ticket, an
            # incident's handoff) as one UPDATE each, unless the unit of work has more to write anyway
            others = _other_changes(session, conversation, message) or []
            changes = _conversation_changes(session, conversation, message, [o for o, _ in others])
            if changes is None:
                conversation.updated_at = now
                return
            wrote = bool(changes) or conversation.updated_at != now
            connection = session.connection()
            if wrote:
                connection.execute(_update_conversation(tuple(changes)), {
                    **{f"v_{key}": value for key, value in changes.items()}, "v_updated_at": now,
                    "conversation_id": conversation.id})
                conversation.updated_at = now
            _as_written(session, conversation, wrote)  # a value set to what it was is no change either
            for o, values in others:
                if values:
                    state = sa_inspect(o)
                    connection.execute(_update_row(state.mapper, tuple(values)), {
                        **{f"v_{name}": value for name, value in values.items()}, "row_key": state.identity[0]})
                _as_written(session, o, bool(values))
            return
        if dialect.name != "postgresql" or not one_statement:
            session.add_all(stored[1:])
            limits.record(session, bucket, now)
            conversation.updated_at = now
            return
        inserted = stored if pending else stored[1:]
        if pending:
            session.expunge(message)
        # the conversation's changes and its updated_at, and the other rows the turn changed (a handoff's ticket, an
        # incident's handoff), CTEs of the same statement unless the unit of work has more to write anyway
        others = _other_changes(session, conversation, message) or []
        touch = _conversation_changes(session, conversation, message, [o for o, _ in others])
        if touch is None:
            others = []
        params: Dict[str, Any] = {"rate_bucket": bucket[:160], "turn_at": now, "touch_id": conversation.id}
        if touch:
            binds = _conversation_binds(dialect)
            params.update({f"conversation_{key}": binds[key](value) if binds[key] is not None else value
                           for key, value in touch.items()})
        rows = []
        for o, values in others:
            if not values:
                continue
            i = len(rows)
            table, key, columns = _row_update(sa_inspect(o).mapper)
            rows.append((table, key, tuple(columns[name].name for name in values)))
            for name, value in values.items():  # None through the bind too: a JSON column's None is JSON null
                bind = _column_bind(columns[name], dialect)
                params[f"row{i}_{columns[name].name}"] = bind(value) if bind is not None else value
            params[f"row{i}_key"] = sa_inspect(o).identity[0]
        if not pending:
            params.update(resident_id=message.id, resident_nlu=json.dumps(message.nlu))
        for i, m in enumerate(inserted):
            m.buttons = m.buttons or []
            params.update({f"{key}_{i}": getattr(m, key) for key in _MESSAGE_COLUMNS})
            params[f"buttons_{i}"] = json.dumps(m.buttons)
            params[f"nlu_{i}"] = None if m.nlu is None else json.dumps(m.nlu)  # SQL NULL as the unit of work leaves it
        result = session.connection().exec_driver_sql(
            _turn_insert(len(inserted), None if touch is None else tuple(touch), bool(changed), tuple(rows)), params)
        for m, new_id in zip(inserted, sorted(result.scalars())):  # nextval runs in VALUES order
            m.id = new_id
        if not pending:
            _as_written(session, message)  # its route written above: not again by the flush
        conversation.updated_at = now
        if touch is not None:
            _as_written(session, conversation)
        for o, values in others:
            _as_written(session, o, bool(values))

    # --- the turn -----------------------------------------------------------------------------------
    def _state(self, ctx: TurnContext, last_turn: List[List[Dict[str, Any]]], active: Any) -> ConversationState:
        """What the router needs of the conversation: the flow and whether this message answers it, the buttons
        and the FAQ answer of the last bot turn, the active handoff."""
        conversation = ctx.conversation
        flow = ctx.flow
        spec = FLOWS.get(flow.name) if flow and flow.name else None
        offered = [b.get("payload") for buttons in last_turn for b in (buttons or [])]
        answered = [p.split(" ", 1)[1] for p in offered if p.startswith("/not_helpful ")]
        waiting_since = conversation.waiting_since or (active.created_at if active else None)
        return ConversationState(
            failed_turns=conversation.failed_turns,
            flow=spec.name if spec else None,
            asking=flow.asking if spec else None,
            free_text=bool(spec and flow.asking in spec.free_text_slots),
            asks_place=bool(spec and flow.asking in spec.place_slots),
            fills_slot=bool(spec and would_fill(ctx, flow, spec.slots)),
            offered=offered + (flow.offered if flow else []),
            last_answer=answered[-1] if answered else None,
            # only a message short enough for rule 10d needs the question the last answer answered (a query)
            last_question=self._last_question(ctx, answered[-1])
            if answered and len(ctx.text) <= router.FOLLOW_UP_MAX_CHARS else None,
            faq_support=ctx.kb.support,
            handoff_status=active.status if active else None,
            handoff_priority=active.priority if active else None,
            waiting_minutes=(ctx.now - waiting_since).total_seconds() / 60 if active and waiting_since else 0.0,
            **incidents.state_fields(ctx),  # live notices and open incidents for water/power/gas/lift messages
            # rule 10p: looked up only for a message about a vote (a query most turns need not make)
            polls_open=bool(re.search(router.POLL_WORDS, ctx.text)) and polls.any_to_offer(ctx),
        )

    @staticmethod
    def _last_question(ctx: TurnContext, faq_id: str) -> Optional[str]:
        """The resident's message the last FAQ answer answered (a button's payload: the FAQ's title instead)."""
        text = ctx.session.connection().execute(_PREVIOUS_QUESTION, {"conversation_id": ctx.conversation.id}).scalar()
        if text and not text.startswith("/"):
            return text
        entry = ctx.kb.entries.get(faq_id)
        return entry.title if entry else None

    @staticmethod
    def _last_bot_turn(session, conversation_id: int) -> List[List[Dict[str, Any]]]:
        """The buttons of the bot's messages since the resident's previous message (what the resident is answering);
        read before this turn's message is stored (one query; plain rows, no Message objects to build)."""
        return list(session.connection().execute(_LAST_BOT_TURN, {"conversation_id": conversation_id}).scalars())

    def _dispatch(self, ctx: TurnContext, last_turn: List[List[Dict[str, Any]]], active: Any,
                  message: Message) -> Route:
        """Decide, then act. The resident's ``message`` joins the session with the route it takes, once that is
        known and before acting: a query of the action that flushes it early writes it whole, so that its route
        is not a second statement at the end of the turn; the state's queries never need it."""
        state = self._state(ctx, last_turn, active)
        parse = functools.partial(self._read, ctx)
        if state.last_answer in router.PROBLEM_FAQS and state.last_question and not state.flow \
                and router.only_a_place(ctx.reading) and router.is_outage_report(state.last_question):
            # the lift's and the outages' answers ask where ("电梯故障停运请告诉我们楼栋和单元"): "3栋" after a report
            # ("电梯又停了") answers that, so the turn reads the two together (the building's incident); the message
            # is stored as typed. After a question ("电梯什么时候保养") it is only a place.
            ctx.text = f"{state.last_question}，{ctx.text}"
            ctx.reading = self._read(ctx, ctx.text)
            state = self._state(ctx, last_turn, active)
        if ctx.photo_only:  # a photo is an attachment: never read as words (bot/routing/router.py reads words)
            route = self._photo_route(ctx, state)
            self._add_message(ctx, message, route)
            self._act(ctx, route, state)
            return route
        route = decide(ctx.reading, state, parse)
        several = split_requests(ctx.text, route, state, parse)
        if several:
            self._add_message(ctx, message, several.route)
            self._several(ctx, several.requests)
            return several.route
        self._add_message(ctx, message, route)
        self._act(ctx, route, state)
        return route

    @staticmethod
    def _add_message(ctx: TurnContext, message: Message, route: Route) -> None:
        message.nlu = {**message.nlu, "route": route.as_record()}  # the route actually taken
        ctx.session.add(message)

    def _read(self, ctx: TurnContext, text: str) -> Any:
        """The reading of ``text``, parsed once a turn: a part of a message of several is read by the router and
        again when its flow starts, the whole message by the engine and the router."""
        reading = ctx.readings.get(text)
        if reading is None:
            reading = ctx.readings[text] = self._parse(text)
        return reading

    @staticmethod
    def _photo_route(ctx: TurnContext, state: ConversationState) -> Route:
        """A message that is only photos: for the repair being reported, else for the resident's recent open order,
        else the start of a report (the photo shows what is broken)."""
        if state.flow == repairs.REQUEST_FLOW.name:
            return Route("flow", action="continue_flow", target=state.flow, reasons=["photo for the repair report"])
        order = repairs.order_for_photos(ctx)
        if order is not None:
            return Route("flow", action="attach_photos", target=str(order.id), reasons=["photo for a recent order"])
        return Route("flow", action="start_flow", target=repairs.REQUEST_FLOW.name, reasons=["photo: a repair"],
                     leaves_flow=state.flow is not None)

    def _act(self, ctx: TurnContext, route: Route, state: ConversationState) -> None:
        """Carry out the router's decision."""
        conversation = ctx.conversation
        action = route.action
        dropped = FLOWS.get(state.flow) if route.leaves_flow and state.flow else None
        if route.leaves_flow:
            ctx.save_flow(None)  # the resident moved on: the unfinished flow is dropped
        if route.failed:
            conversation.failed_turns += 1
        elif action not in ("answer", "stale_button", "reask"):
            conversation.failed_turns = 0
        if action == "emergency":
            self._emergency(ctx, route)
        elif action == router.URGENT_CHECK:  # a borderline emergency: the number, urgent in the queue, one question
            urgent_check.ask(ctx, route.reasons)
        elif action == router.URGENT_CHECK_NO:
            urgent_check.declined(ctx, route.reasons)
        elif action == router.URGENT_CHECK_REASK:
            urgent_check.reask(ctx)
        elif action == router.WITHDRAW_HANDOFF:
            handoffs.withdraw(ctx)
        elif action == router.URGENT_AGAIN:
            ctx.say(f"⚠️ 值班人员已收到通知。情况紧急请直接拨打 24 小时应急电话 {ctx.value('emergency_phone')}。")
            handoffs.open_handoff(ctx, Priority.URGENT.value, route.reasons)  # added to it: where it stands
        elif action == "cancel_flow":
            spec = FLOWS.get(route.target)
            if spec is not None and spec.cancel is not None:
                spec.cancel(ctx, dict(ctx.flow.slots))
            else:
                ctx.save_flow(None)
                ctx.say("好的，已取消。还有什么可以帮您？")
        elif action in ("continue_flow", "slot"):
            flow = ctx.flow
            if action == "slot":
                flow.slots[route.target] = ctx.text.split(" ", 2)[2]
                ctx.save_flow(flow)
            FLOWS[flow.name].resume(ctx, dict(flow.slots))
            self._after_flow(ctx)
        elif action == "reask":
            self._reask(ctx, state)
        elif action == "stale_button":
            ctx.say("这个选项对应的是之前的问题，已经失效了。")
            if state.flow:
                self._reask(ctx, state, prefix=False)
        elif action == "two_failed":
            conversation.failed_turns = 0
            rejected = route.reasons and "rejected" in route.reasons[0]
            ctx.say("抱歉没能帮到您，已为您转接人工客服。" if rejected else "抱歉，我还是没能理解您的问题，已为您转接人工客服。")
            handoffs.open_handoff(ctx, "normal", route.reasons)
        elif action == "neighbour":
            neighbours.handle(ctx, route.reasons)
        elif action == "rate":
            ratings.rate_in_chat(ctx, route.target)
        elif action == "suggestion":  # recorded with its number (bot/voice/suggestions.py), acknowledged
            suggestions.acknowledge(ctx)
        elif action == "poll":  # an open poll offered with its option buttons (bot/voice/polls.py)
            polls.offer(ctx, route.target)
        elif action == "vote":
            polls.vote(ctx, route.target)
        elif action == "notice":  # a live notice answers instead of the generic FAQ (bot/outages/notices.py)
            notices.answer(ctx, route.target, incidents.scope(ctx)[0])
        elif action == "join_incident":  # a later report of the same outage: linked, told, not queued
            incidents.join(ctx, route.target)
        elif action == "incident":  # the first report of an outage: the incident and its handoff
            incidents.open_incident(ctx, route.target, route.reasons)
        elif route.decision == "handoff":
            handoffs.open_handoff(ctx, route.priority or Priority.NORMAL.value, route.reasons)
        elif action == "answer":
            self._answer_faq(ctx, route.target)
        elif action == "detail":
            self._answer_detail(ctx, route.target)
        elif action == "repeat":
            ctx.say("这个问题我刚刚已经回答过了，看来没能解决您的问题。需要为您转人工客服吗？也可以换个说法再问我。",
                    [Button("转人工客服", "/handoff")])
        elif action == "start_flow":
            self._start_flow(ctx, route.target)
        elif action == "attach_photos":
            repairs.attach_photos(ctx, int(route.target))
        elif action == "nonsense":
            ctx.say("抱歉，我没看懂您的意思。可以用一句话告诉我您需要什么帮助，例如“物业费怎么交”“厨房水管漏水要报修”。",
                    self._hot_buttons(ctx) + [Button("转人工客服", "/handoff")])
        elif action == router.ONLY_PLACE:
            ctx.say(f"您说的是“{route.target}”。请问那里有什么情况，或者需要办理什么？可以用一句话告诉我，"
                    "例如“电梯坏了”“想查物业费”。", [Button("转人工客服", "/handoff")])
        elif action == "not_helpful":
            ctx.say("抱歉没能帮到您。可以换个说法再描述一下吗？或者直接转人工。", [Button("转人工客服", "/handoff")])
        elif action == "clarify":
            self._clarify(ctx, route)
        elif action == "uncovered":  # a topic no entry answers: said so, never another entry's answer
            ctx.say("这个问题我暂时答不上来，已经记下来，会请同事补充到知识库。需要的话可以转人工客服为您解答"
                    "（非工作时间可以留言，上班后回复您）。", [Button("转人工客服", "/handoff")])
        elif action == "smalltalk":
            self._smalltalk(ctx, route.target)
        else:  # out_of_scope
            ctx.say("抱歉，这个问题我回答不了。我是物业客服助手，可以帮您办理下面这些事，或者直接告诉我您遇到的物业问题：",
                    self._topic_buttons(ctx))
        if dropped is not None and dropped.restart and not (ctx.flow and ctx.flow.name == dropped.name):
            # said after the new request's answer: a resident who asked "报修到哪一步了" halfway through a report
            # otherwise believes it was sent
            ctx.say(f"另外，您刚才的{dropped.title}还没有提交；需要的话再说“{dropped.restart}”重新开始。")

    def _reask(self, ctx: TurnContext, state: ConversationState, prefix: bool = True) -> None:
        """Ask the flow's current question again (after a reply that is not an answer to it)."""
        flow = ctx.flow
        spec = FLOWS[flow.name]
        slot = spec.slot(flow.asking)
        last = ctx.session.scalar(select(Message).where(Message.conversation_id == ctx.conversation.id,
                                                        Message.sender == "bot").order_by(Message.id.desc()))
        if prefix:
            explained = slot.explain(ctx) if slot is not None and slot.explain is not None else None
            ctx.say(explained or (slot.invalid if slot is not None and slot.invalid else "抱歉，这个回答我没能识别。"))
        if last is not None:
            # a question asked again offers a way on: a person, or leaving the flow (issue 25: three nonsense
            # replies met the same question three times, with no way out)
            way_out = [Button(title, payload) for title, payload in spec.way_out]
            ways = {b.payload for b in way_out}
            buttons = [Button(b["title"], b["payload"]) for b in last.buttons or [] if b["payload"] not in ways]
            ctx.say(last.text, buttons + way_out)

    def _after_flow(self, ctx: TurnContext) -> None:
        flow = ctx.flow
        if flow and not flow.name and flow.queued:
            name, text = flow.queued.pop(0)
            ctx.save_flow(FlowState(queued=flow.queued))
            ctx.text = text
            ctx.reading = self._read(ctx, text)
            ctx.say(f"接下来处理您说的“{text}”。")
            self._start_flow(ctx, name)

    # --- actions ------------------------------------------------------------------------------------
    def _answer_faq(self, ctx: TurnContext, faq_id: str) -> None:
        if faq_id not in ctx.kb.active:
            ctx.say("抱歉，这个选项已失效，请重新输入您的问题。")
            return
        ctx.say(ctx.kb.render(faq_id, ctx.community_id), [Button(NOT_HELPFUL, f"/not_helpful {faq_id}")])

    def _answer_detail(self, ctx: TurnContext, faq_id: str) -> None:
        """A follow-up about the FAQ just answered ("补一张要多少钱"): the sentence of its answer asked about, with the
        whole answer a button away; the whole answer when no sentence stands out."""
        if faq_id not in ctx.kb.active:
            self._answer_faq(ctx, faq_id)
            return
        answer = ctx.kb.render(faq_id, ctx.community_id)
        part = answer_detail(answer, ctx.text)
        if part is None:
            ctx.say(f"关于“{ctx.kb.entries[faq_id].title}”，完整说明如下：\n{answer}",
                    [Button(NOT_HELPFUL, f"/not_helpful {faq_id}")])
            return
        ctx.say(part, [Button("查看完整说明", f"/faq {faq_id}"), Button(NOT_HELPFUL, f"/not_helpful {faq_id}")])

    def _start_flow(self, ctx: TurnContext, name: str) -> None:
        current = ctx.flow
        ctx.save_flow(FlowState(name=name, queued=current.queued if current else []))
        FLOWS[name].start(ctx, {})
        self._after_flow(ctx)

    def _emergency(self, ctx: TurnContext, route: Route) -> None:
        phone = ctx.value("emergency_phone")
        ctx.say(f"⚠️ 紧急情况请立即拨打 24 小时应急电话 {phone}！如有人员受伤或火情，请同时拨打 119/120/110。"
                "我们已通知值班人员马上处理。")
        reported = urgent_check.reported_text(ctx)  # after 是: the message the question was about
        ctx.save_flow(None)
        reasons = route.reasons if route.priority == Priority.URGENT else [f"emergency: {ctx.text}"]
        handoffs.open_handoff(ctx, Priority.URGENT.value, reasons)
        kind = re.sub(r"\s*\(.*\)$", "", reasons[0].split(":")[-1].strip())[:60]
        urgent_check.send_page(ctx.session, ctx.sms, ctx.limits, ctx.identity.id, ctx.community_id,
                               ctx.kb.community(ctx.community_id).name, phone, reported, kind, ctx.now, ctx.client_ip)

    def _clarify(self, ctx: TurnContext, route: Route) -> None:
        buttons = [Button(ctx.kb.entries[i].title, f"/faq {i}") for i in route.buttons if i in ctx.kb.active][:2]
        buttons.append(Button("转人工客服", "/handoff"))
        ctx.say("抱歉，我没有完全理解。您是想问下面的问题吗？也可以换个说法告诉我。", buttons)

    def _smalltalk(self, ctx: TurnContext, intent: str) -> None:
        if intent == "greet":
            ctx.say(f"您好，我是{ctx.kb.community(ctx.community_id).name}物业的在线客服，可以帮您查询物业费、报修、"
                    "办理停车和解答常见问题。大家常问：", self._hot_buttons(ctx))
        elif intent == "thanks":
            ctx.say("不客气，很高兴能帮到您！")
        elif intent == "goodbye":
            ctx.say("再见，祝您生活愉快！")
        elif intent == router.BOT_IDENTITY_TALK:
            ctx.say(f"我是{ctx.kb.community(ctx.community_id).name}物业的智能客服，常见问题、报修、查物业费和停车都可以直接"
                    "问我；需要人工客服的话，点下面的按钮或说“转人工”。", [Button("转人工客服", "/handoff")])
        else:
            ctx.say("好的。还有什么可以帮您？")

    def _hot_buttons(self, ctx: TurnContext) -> List[Button]:
        return [Button(ctx.kb.entries[i].title, f"/faq {i}") for i in HOT_QUESTIONS if i in ctx.kb.active]

    def _topic_buttons(self, ctx: TurnContext) -> List[Button]:
        """The topic menu: what the assistant can do."""
        return [Button("查询物业费", "查一下我家物业费"), Button("报修", "我要报修"), Button("停车服务", "停车月卡什么时候到期"),
                Button("常见问题", f"/faq {HOT_QUESTIONS[0]}"), Button("转人工客服", "/handoff")]

    def _several(self, ctx: TurnContext, actionable) -> None:
        """Several requests in one message: an emergency alone (the page comes first and nothing else is said);
        otherwise the answers, then a handoff (the person takes over the rest) or the flows one after another."""
        order = {"answer": 0, "handoff": 1, "flow": 2}
        whole = ctx.reading
        actionable = sorted(actionable, key=lambda a: (0 if a[2].priority == Priority.URGENT else 1, order[a[2].decision]))
        flows = [(r.intent, s) for s, r, rt in actionable if rt.decision == "flow"]
        for segment, reading, route in actionable:
            if route.decision == "handoff":
                # the card shows the strongest emotion of the message and its parts (router.strongest_emotion)
                ctx.reading = dataclasses.replace(reading, emotion=router.strongest_emotion(
                    [whole] + [r for _, r, _ in actionable]))
                if route.action == router.URGENT_CHECK:
                    urgent_check.ask(ctx, route.reasons)
                    return
                if route.priority == Priority.URGENT:
                    self._emergency(ctx, route)
                    return
                handoffs.open_handoff(ctx, route.priority or Priority.NORMAL.value, route.reasons)
                return
            if route.decision == "answer":
                self._answer_faq(ctx, reading.faq_id)
        if flows:
            (name, segment), rest = flows[0], flows[1:]
            ctx.save_flow(FlowState(queued=[list(f) for f in rest]))
            ctx.text = segment
            ctx.reading = self._read(ctx, segment)  # read already when the message was split
            self._start_flow(ctx, name)
