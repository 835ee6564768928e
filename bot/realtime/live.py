"""The event stream: every stored change goes out through :func:`announce`, the one place that feeds the live
hub (the conversation's topic for the widget and watching agents, the ``agents`` topic for the queue and typed
events) and the conversation's channel sender (WeChat customer-service push for messages the resident did not
get as the direct reply to their own message).

Event kinds on the ``agents`` topic: handoff_opened, priority_raised, claimed, released, resolved,
agent_timed_out, message_stored — each ``{"type": "event", "kind", "conversation_id", "handoff"}``, sent at once;
the new queue (``{"type": "queue"}``) follows at once after a quiet moment, else within QUEUE_REFRESH_SECONDS, one
publication for all the changes meanwhile, built by each process that has a console connected when the
``queue:changed`` signal reaches it (:func:`queue_changed`, :func:`_rebuild_soon`).
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import time
import weakref
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Tuple

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from bot.core import labels
from bot.core.domain import ConversationStatus, HandoffStatus
from bot.core.localtime import iso
from bot.handoffs import handoff as handoffs, masking, teams, urgent_check
from bot.storage import outbox
from bot.storage.models import ChatIdentity, Conversation, Handoff, Message, Staff

logger = logging.getLogger(__name__)


def message_json(message: Message, staff_names: Optional[Dict[int, str]] = None) -> Dict[str, Any]:
    return {"type": "message", "id": message.id, "conversation_id": message.conversation_id, "sender": message.sender,
            "text": message.text, "buttons": message.buttons or [], "at": iso(message.created_at),
            "agent": (staff_names or {}).get(message.staff_id) if message.staff_id else None,
            "client_id": message.client_id,  # the page's id for a resident message: the widget matches its own copy
            "flag": masking.flag(message.sender, message.nlu)}  # an insult or a threat: the console masks it


def staff_names(session) -> Dict[int, str]:
    return {s.id: s.display_name for s in session.scalars(select(Staff))}


_QUEUE = select(Handoff.id, Handoff.conversation_id, Handoff.priority, Handoff.status, Handoff.reasons, Handoff.ticket,
                Handoff.created_at, Handoff.callback_at, Handoff.context[("household", "room")].as_string().label("room"),
                Handoff.kind, Handoff.team_id,
                Conversation.channel, Conversation.waiting_since) \
    .join(Conversation, Conversation.id == Handoff.conversation_id) \
    .where(Handoff.status.in_(HandoffStatus.waiting()))  # built once: the queue is read on every change of it


QueueEntry = Tuple[tuple, dt.datetime, Dict[str, Any]]  # (queue order key, waiting since, item but its waiting time)


def queue_json(session, now: dt.datetime) -> List[Dict[str, Any]]:
    """The waiting handoffs in queue order, each with its conversation and last resident words (two queries; the
    context card stays in the database, only its room is read)."""
    return queue_items(queue_entries(session), now)


def queue_items(entries, now: dt.datetime) -> List[Dict[str, Any]]:
    """Entries (:func:`queue_entries`) as the queue's items, in queue order, with their waiting time at ``now``."""
    return [{**item, "waiting_seconds": int((now - since).total_seconds())}
            for _, since, item in sorted(entries, key=lambda entry: entry[0])]


def queue_entries(session, conversation_ids: Optional[Any] = None) -> List[QueueEntry]:
    """The waiting handoffs (of these conversations only, when given), unordered, each as a :data:`QueueEntry`."""
    statement = _QUEUE if conversation_ids is None else _QUEUE.where(Handoff.conversation_id.in_(conversation_ids))
    rows = session.execute(statement).all()
    ids = {r.conversation_id for r in rows}
    last_ids = select(func.max(Message.id)).where(Message.conversation_id.in_(ids), Message.sender == "resident") \
        .group_by(Message.conversation_id)
    # only the reading's emotion leaves the database (what masking needs), not the whole NLU reading of each message
    summaries = {c: masking.mask(text, emotion if isinstance(emotion, dict) else None)
                 for c, text, emotion in session.execute(select(Message.conversation_id, Message.text,
                                                                Message.nlu["emotion"])
                                                         .where(Message.id.in_(last_ids))).all()} if ids else {}
    names = teams.team_names(session) if any(r.team_id for r in rows) else {}
    result = []
    for r in rows:
        summary = summaries.get(r.conversation_id)
        since = r.waiting_since or r.created_at
        result.append((handoffs.queue_key(r), since, {
            "handoff_id": r.id, "conversation_id": r.conversation_id, "priority": r.priority, "status": r.status,
            "reasons": r.reasons, "ticket": r.ticket, "channel": r.channel,
            "priority_label": labels.priority_label(r.priority), "status_label": labels.status_label(r.status),
            "reasons_labels": labels.reason_labels(r.reasons), "channel_label": labels.channel_label(r.channel),
            "summary": (summary[:60] if summary else ""),
            "room": r.room,
            "kind": r.kind, "kind_label": teams.KIND_LABELS.get(r.kind or "", ""),
            "team_id": r.team_id, "team_label": names.get(r.team_id, "") if r.team_id else "",
            "waiting_since": iso(since),
            # a callback's promise, for the console to show and flag once past (it knows the time; the item is cached)
            "callback_at": iso(r.callback_at), "callback_text": handoffs.promised_text(r.callback_at),
        }))
    return result


def mine_json(session, staff_id: int) -> List[Dict[str, Any]]:
    """The agent's open conversations, each with what tells them apart in 我的会话 (the room, the callback ticket and
    its promise, why it was handed over), read with its claimed handoff in the same query."""
    rows = session.execute(
        select(Conversation.id, Conversation.priority, Conversation.channel, Handoff.id.label("handoff_id"),
               Handoff.ticket, Handoff.reasons, Handoff.callback_at,
               Handoff.context[("household", "room")].as_string().label("room"))
        .outerjoin(Handoff, (Handoff.conversation_id == Conversation.id) & (Handoff.status == HandoffStatus.CLAIMED.value))
        .where(Conversation.status == ConversationStatus.OPEN, Conversation.assignee_id == staff_id)
        .order_by(Conversation.id, Handoff.id)).all()
    latest = {r.id: r for r in rows}  # a conversation's newest claimed handoff, should there be two
    return [{"conversation_id": r.id, "priority": r.priority, "channel": r.channel,
             "priority_label": labels.priority_label(r.priority), "channel_label": labels.channel_label(r.channel),
             "room": r.room, "ticket": r.ticket, "reasons_labels": labels.reason_labels(r.reasons or []),
             "callback_at": iso(r.callback_at), "callback_text": handoffs.promised_text(r.callback_at)}
            for r in latest.values()]


def conversation_status_label(conversation: Conversation, handoff: Optional[Handoff]) -> str:
    """排队中 / 待回电 (a pending conversation whose handoff is a callback ticket) / 处理中 / 已解决 / 机器人接待."""
    return status_label_of(conversation.status, handoff.status if handoff is not None else None)


def status_label_of(conversation_status: str, handoff_status: Optional[str]) -> str:
    if conversation_status == ConversationStatus.PENDING and handoff_status == "callback":
        return labels.status_label("callback")
    return labels.status_label(conversation_status)


def conversation_json(session, conversation_id: int) -> Optional[Dict[str, Any]]:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    names = staff_names(session)
    handoff = session.scalar(select(Handoff).where(Handoff.conversation_id == conversation_id).order_by(Handoff.id.desc()))
    return {
        "id": conversation.id, "channel": conversation.channel, "status": conversation.status,
        "priority": conversation.priority, "assignee": names.get(conversation.assignee_id),
        "assignee_id": conversation.assignee_id,
        "status_label": conversation_status_label(conversation, handoff),
        "priority_label": labels.priority_label(conversation.priority),
        "channel_label": labels.channel_label(conversation.channel),
        "handoff": None if handoff is None else {"id": handoff.id, "status": handoff.status, "priority": handoff.priority,
                                                 "reasons": handoff.reasons, "ticket": handoff.ticket,
                                                 "callback": handoffs.callback_card(handoff),
                                                 "context": handoff.context,
                                                 "status_label": labels.status_label(handoff.status),
                                                 "priority_label": labels.priority_label(handoff.priority),
                                                 "reasons_labels": labels.reason_labels(handoff.reasons),
                                                 "context_labels": _masked_readings(
                                                     labels.context_labels(handoff.context), handoff.context)},
        # the triage question still open: the card offers the agent to answer it in the resident's place
        "triage": urgent_check.open_question(conversation.flow),
        "messages": [message_json(m, names) for m in conversation.messages],
    }


def _masked_readings(context_labels: Dict[str, Any], context: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The card's readings with insults and threats masked (bot/handoffs/masking.py); the log reveals them."""
    readings = (context or {}).get("readings") or []
    for shown, reading in zip(context_labels.get("readings") or [], readings):
        shown["text"] = masking.mask(shown.get("text", ""), reading.get("emotion"))
    return context_labels


def agent_queue_json(session, now: dt.datetime, staff_id: int) -> Dict[str, Any]:
    """The queue as one agent sees it: ``queue`` — urgent items, then their teams' items, then the general queue's
    (each part in queue order); ``others`` — the other teams' items, shown under 其他 on request."""
    mine = set(teams.team_ids_of(session, staff_id))
    items = queue_json(session, now)
    # the console splits /ws/agent's queue frames the same way (bot/static/agent.js splitQueue)
    own = [q for q in items if q["team_id"] is None or q["team_id"] in mine]
    own.sort(key=lambda q: (q["priority"] != "urgent", q["team_id"] is None))  # stable: queue order within
    return {"queue": own, "others": [q for q in items if q["team_id"] is not None and q["team_id"] not in mine],
            "my_teams": my_teams_json(session, mine)}


def my_teams_json(session, team_ids) -> List[Dict[str, Any]]:
    """The teams of ``team_ids`` (an agent's), as the console shows them."""
    return [{"id": i, "name": n} for i, n in teams.team_names(session).items() if i in team_ids]


@dataclasses.dataclass
class _QueueCache:
    """This process's copy of the queue while a console of it listens: a change re-reads only the conversations its
    signal names. Read whole again when a signal names none, after QUEUE_FULL_SECONDS (a renamed team, a
    label), after the hub resubscribed (signals sent meanwhile are lost), and after a time with no console here
    (signals were ignored)."""
    entries: Optional[Dict[int, QueueEntry]] = None  # handoff id → entry; None: read it whole
    pending: set = dataclasses.field(default_factory=set)  # conversations changed since the last read
    full: bool = True
    read_at: float = 0.0  # monotonic time of the last whole read
    reconnects: int = 0  # the hub's resubscriptions at that read
    generation: int = 0  # bumped when the copy is dropped: a read that began before does not bring it back


class SharedFrame(dict):
    """A frame delivered as one object to every console of this process: its JSON text is made once, by the first
    console that sends it, exactly as Starlette's ``send_json`` makes it, not once per console (the queue at ~2,000
    waiting items is ~1 MB of JSON, ~10 ms to encode, up to 4 times a second)."""

    _text: Optional[str] = None

    def text(self) -> str:
        if self._text is None:
            self._text = json.dumps(self, separators=(",", ":"), ensure_ascii=False)
        return self._text


QUEUE_FULL_SECONDS = 10.0
_caches: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # by hub: one per process (and per test app)


def _cache(services) -> _QueueCache:
    cache = _caches.get(services.hub)
    if cache is None:
        cache = _caches[services.hub] = _QueueCache()
    return cache


async def publish_queue(services, now: dt.datetime) -> None:
    """The queue, read in a worker thread (not on the event loop), to this process's consoles (each process with a
    console builds its own: no queue travels through Redis). Only the changed conversations are read when the
    copy allows it (:class:`_QueueCache`)."""
    cache = _cache(services)
    changed, cache.pending = cache.pending, set()
    reconnects = getattr(services.hub, "reconnects", 0)
    whole = (cache.full or cache.entries is None or time.monotonic() - cache.read_at > QUEUE_FULL_SECONDS
             or reconnects != cache.reconnects)
    cache.full, generation, kept = False, cache.generation, cache.entries

    def build() -> Dict[int, QueueEntry]:
        with services.db.session() as session:
            if whole:
                return {entry[2]["handoff_id"]: entry for entry in queue_entries(session)}
            entries = {h: entry for h, entry in kept.items() if entry[2]["conversation_id"] not in changed}
            if changed:
                entries.update((entry[2]["handoff_id"], entry) for entry in queue_entries(session, changed))
            return entries

    try:
        entries = await asyncio.to_thread(build)
    except BaseException:
        cache.full = True  # the changes taken for this read are not in the copy: read it whole next time
        raise
    if cache.generation == generation:
        cache.entries = entries
        if whole:
            cache.read_at, cache.reconnects = time.monotonic(), reconnects
    services.hub.deliver_here("agents", SharedFrame(type="queue", queue=queue_items(entries.values(), now)))


async def publish_messages(services, conversation_id: int, after_id: int) -> None:
    """Publish every message of the conversation newer than ``after_id`` plus its status to its topic."""
    with services.db.session() as session:
        names = staff_names(session)
        messages = list(session.scalars(select(Message).where(Message.conversation_id == conversation_id,
                                                              Message.id > after_id).order_by(Message.id)))
        conversation = session.get(Conversation, conversation_id)
        latest = session.scalar(select(Handoff).where(Handoff.conversation_id == conversation_id)
                                .order_by(Handoff.id.desc()))
        status = status_json(conversation, latest.status if latest is not None else None, names,
                             handoffs.waiting_state(session, conversation_id))
        payloads = [message_json(message, names) for message in messages]
    await services.hub.publish_many(_conversation_events(conversation_id, payloads, status))


def status_json(conversation: Conversation, handoff_status: Optional[str], names: Dict[int, str],
                waiting: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    return {"type": "status", "conversation_id": conversation.id, "status": conversation.status,
            "status_label": status_label_of(conversation.status, handoff_status),
            "agent": names.get(conversation.assignee_id), "handoff": waiting}


def _conversation_events(conversation_id: int, payloads: List[Dict[str, Any]],
                         status: Dict[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
    topic = f"conv:{conversation_id}"
    return [(topic, payload) for payload in payloads] + [(topic, status)]


def turn_announcement(session, conversation: Conversation, identity: ChatIdentity, stored: List[Message],
                      waiting: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """What :func:`announce` publishes for a resident's turn, built by the engine at the end of the turn's
    transaction (after the flush) from what it stored — the resident's message and the replies, the only messages
    a resident turn writes — so the announcement reads nothing back."""
    names = staff_names(session) if conversation.assignee_id else {}
    latest = waiting["status"] if waiting else None  # the active handoff's status is the latest that matters here
    return {"messages": [message_json(m, names) for m in stored],
            "status": status_json(conversation, latest, names, waiting),
            "channel": conversation.channel, "sender_id": identity.sender_id, "waiting": waiting,
            "after_id": stored[0].id - 1}


QUEUE_REFRESH_SECONDS = 0.25
QUEUE_SIGNAL = "queue:changed"  # the queue changed somewhere in the deployment (no socket subscribes to it)
_signals: set = set()  # the tasks publishing a signal (kept, so none is collected before it ran)


def follow_queue(services) -> asyncio.Queue:
    """A console's subscription to the ``agents`` topic: the events, and the queue that this process rebuilds
    (:func:`_rebuild_soon`) on each :data:`QUEUE_SIGNAL` while at least one console here is subscribed."""
    return services.hub.subscribe("agents")


def handle_signals(services) -> None:
    """Registered once, when the services are built: every :data:`QUEUE_SIGNAL` from any process of the
    deployment makes this one rebuild its consoles' queue."""
    services.hub.handle(QUEUE_SIGNAL, lambda event: _rebuild_soon(services, event))


def queue_changed(services) -> None:
    """Tell every process of the deployment that the agents' queue changed (a signal of a few bytes); each
    process with a console connected rebuilds it (:func:`_rebuild_soon`). :func:`_announce` sends the signal
    with a change's events instead, in the same Redis message."""
    task = asyncio.get_running_loop().create_task(services.hub.publish(QUEUE_SIGNAL, {}))
    _signals.add(task)
    task.add_done_callback(_signals.discard)


def _rebuild_soon(services, event: Optional[Dict[str, Any]] = None) -> None:
    """Publish the agents' queue to this process's consoles soon: at once when it was not published in the last
    QUEUE_REFRESH_SECONDS, else at the end of that interval — one publication however many changes came
    meanwhile, each publication reading the database after all of them (only the conversations the signals named,
    into this process's copy: :class:`_QueueCache`). Nothing when no console here listens: a console reads the
    whole queue when it connects (bot/api/agent.py), and a signal after that rebuilds it.

    Reading the whole queue reads every waiting item (at the issue's scale 1,778 of them: 48 ms of CPU and 0.9 MB
    of JSON). Doing it for each change was the largest single cost of a busy server; built where no console
    listens, and sent whole through Redis for every worker to decode, it made the turns' cost follow the queue's
    length (docs/figures/2026-12-07-queue.md). The events themselves (handoff_opened, claimed…) still go to the
    agents at once (:func:`_announce`)."""
    cache = _cache(services)
    if not services.hub.listening("agents"):
        cache.entries, cache.generation = None, cache.generation + 1  # this change is not in the copy
        return
    named = (event or {}).get("conversations")
    if isinstance(named, list):
        cache.pending.update(named)
    else:
        cache.full = True
    services.queue_dirty = True
    if services.queue_refresh is None or services.queue_refresh.done():
        services.queue_refresh = asyncio.get_running_loop().create_task(_publish_queue_while_dirty(services))


async def _publish_queue_while_dirty(services) -> None:
    # single-threaded event loop: between the last check of queue_dirty and this task finishing nothing else runs,
    # so a change marked after that check starts a new task (_rebuild_soon sees this one done)
    while services.queue_dirty and services.hub.listening("agents"):
        services.queue_dirty = False
        try:
            await publish_queue(services, services.clock())
        except DBAPIError:
            logger.exception("could not publish the queue")
        await asyncio.sleep(QUEUE_REFRESH_SECONDS)


def resident_topic(channel: str, sender_id: str) -> str:
    return f"resident:{channel}:{sender_id}"


QUEUE_KINDS = {"handoff_opened", "priority_raised", "claimed", "released", "resolved", "agent_timed_out"}


async def announce(services, conversation_id: int, after_id: int, kinds: List[str], push: bool = True,
                   prepared: Optional[Dict[str, Any]] = None) -> None:
    """Announce a stored change (see :func:`_announce`); a failure here (the database connection killed after the
    change was committed) is logged and retried once, never turned into an error for a request whose data is safe
    — the widget and console reload the history and the queue when they reconnect. ``prepared``: a resident
    turn's :func:`turn_announcement` (its messages and state are then not read again)."""
    for attempt in (1, 2):
        try:
            await _announce(services, conversation_id, after_id, kinds, push, prepared)
            return
        except DBAPIError:
            if attempt == 2:
                logger.exception("could not announce the change to conversation %s", conversation_id)


async def _announce(services, conversation_id: int, after_id: int, kinds: List[str], push: bool = True,
                    prepared: Optional[Dict[str, Any]] = None) -> None:
    """The one place a stored change goes out (see the module docstring). ``after_id``: the last message id
    before the change; ``push``: also send the new agent/bot/system messages through the channel's own sender
    (False for a resident's own turn, whose replies travel back as the response to it)."""
    if prepared is not None:  # one publication for all of the turn's events (one Redis message)
        events = _conversation_events(conversation_id, prepared["messages"], prepared["status"])
        channel, sender_id, waiting = prepared["channel"], prepared["sender_id"], prepared["waiting"]
    else:
        await publish_messages(services, conversation_id, after_id)
        events = []
        with services.db.session() as session:
            conversation = session.get(Conversation, conversation_id)
            channel = conversation.channel
            waiting = handoffs.waiting_state(session, conversation_id)
            sender_id = conversation.identity.sender_id
    if "message_stored" in kinds:  # sockets of this resident that follow no conversation yet start following it
        events.append((resident_topic(channel, sender_id), {"type": "conversation", "conversation_id": conversation_id}))
    for kind in kinds:
        if kind != "message_stored":
            events.append(("agents", {"type": "event", "kind": kind, "conversation_id": conversation_id,
                                      "channel": channel, "handoff": waiting}))
    if QUEUE_KINDS & set(kinds) or (waiting is not None and "message_stored" in kinds):  # (last words changed)
        events.append((QUEUE_SIGNAL, {"conversations": [conversation_id]}))  # after the events, in the same message
    await services.hub.publish_many(events)
    if push and channel == "wechat" and getattr(services, "wechat", None) is not None:
        await services.wechat.push_new_messages(conversation_id, after_id)


@contextlib.asynccontextmanager
async def change(services) -> AsyncIterator[Any]:
    """A database session whose recorded events (bot/storage/outbox.py) go out once it has committed: each changed
    conversation's new messages and status to its topic (and WeChat), the kinds to the agents; then the agents'
    own events (the desk's). A change that raises rolls back and sends nothing."""
    with services.db.session() as session:
        yield session
    recorded = outbox.take(session)
    for item in recorded.conversations.values():
        await announce(services, item.conversation_id, item.after_id, item.kinds, push=item.push)
    for event in recorded.agent_events:
        await services.hub.publish("agents", event)


def conversation_of(session, channel: str, sender_id: str) -> Optional[Conversation]:
    """The latest conversation of a channel identity, or None."""
    identity = session.scalar(select(ChatIdentity).where(ChatIdentity.channel == channel,
                                                         ChatIdentity.sender_id == sender_id))
    if identity is None:
        return None
    return session.scalar(select(Conversation).where(Conversation.identity_id == identity.id)
                          .order_by(Conversation.id.desc()))


async def run_turn(services, channel: str, sender_id: str, text: str, photos: List[str],
                   before_publish: Optional[Callable[[int], None]] = None, community_id: Optional[str] = None,
                   client_id: Optional[str] = None, client_ip: Optional[str] = None) -> Dict[str, Any]:
    """One resident turn through the engine (in a worker thread), then announced: the new messages to the
    conversation's topic and, when a handoff is involved, the event and the queue to the agents. ``before_publish``
    gets the conversation id first, so a caller can subscribe to it before its own first message is published.
    ``client_id``: the widget's id for the message; a resend of one already stored is answered with the stored
    replies and nothing new is stored or announced (the answer then has ``"duplicate": true``)."""
    import asyncio
    import contextvars
    import functools

    # on the turn threads (settings.turn_threads), with this request's context (its request id in the log lines)
    call = functools.partial(contextvars.copy_context().run, services.engine.handle, channel, sender_id, text,
                             photos or None, community_id, client_id, client_ip)
    result = await asyncio.get_running_loop().run_in_executor(services.turn_executor, call)
    if before_publish is not None:
        before_publish(result.conversation_id)
    if result.duplicate:
        return {**result.as_api(), "duplicate": True}
    prepared = result.announcement
    await announce(services, result.conversation_id, prepared["after_id"], result.changes, push=False,
                   prepared=prepared)
    return result.as_api()
