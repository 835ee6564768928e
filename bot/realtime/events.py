"""Live events for WebSocket clients: a topic → subscribers hub.

Topics: ``conv:<id>`` (a conversation's new messages and status changes, for the resident and its agent),
``agents`` (the agents' events and queue) and signals that a process acts on itself through a handler
(:meth:`EventHub.handle`; ``queue:changed``, bot/realtime/live.py). One process uses the in-memory hub; several
processes sharing events use Redis pub/sub (set WUYE_REDIS_URL), on channels of the deployment's own
(WUYE_REDIS_NAMESPACE): one that every process hears, and one per conversation or resident topic that only the
processes holding a socket on it hear (:class:`RedisEventHub`).
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
import uuid
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import redis.asyncio as aioredis

logger = logging.getLogger(__name__)


class EventHub:
    def __init__(self) -> None:
        self._subscribers: Dict[str, Set[asyncio.Queue]] = defaultdict(set)
        self._handlers: Dict[str, Callable[[Dict[str, Any]], None]] = {}

    def subscribe(self, topic: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self._subscribers[topic].add(queue)
        return queue

    def unsubscribe(self, topic: str, queue: asyncio.Queue) -> None:
        subscribers = self._subscribers.get(topic)
        if subscribers is not None:
            subscribers.discard(queue)
            if not subscribers:
                del self._subscribers[topic]  # (a topic per conversation: none kept once nobody follows it)

    async def ready(self, timeout: float = 1.0) -> None:
        """Return once this process's subscriptions receive what any process publishes from now on (at once here;
        :class:`RedisEventHub` waits for Redis to confirm a new one)."""
        return None

    def listening(self, topic: str) -> bool:
        """Whether a subscriber of this process follows the topic (the other processes' are not counted)."""
        return bool(self._subscribers.get(topic))

    def handle(self, topic: str, handler: Callable[[Dict[str, Any]], None]) -> None:
        """Call ``handler`` on the event loop with each event of ``topic`` that reaches this process (from any
        process of the deployment), before its subscribers get it; one handler per topic, a second replaces it.
        For signals a process acts on itself rather than forwards (bot/realtime/live.py: the queue changed)."""
        self._handlers[topic] = handler

    def deliver_here(self, topic: str, event: Dict[str, Any]) -> None:
        """To this process's subscribers only: what each process builds for itself goes through no Redis."""
        self._deliver(topic, event)

    def _deliver(self, topic: str, event: Dict[str, Any]) -> None:
        handler = self._handlers.get(topic)
        if handler is not None:
            try:
                handler(event)
            except Exception:  # noqa: BLE001 - a failing handler must not stop the subscription's other events
                logger.exception("the handler of %s failed", topic)
        for queue in list(self._subscribers.get(topic, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a stuck client must not block everyone else
                logger.warning("dropping event for a slow subscriber of %s", topic)

    async def publish(self, topic: str, event: Dict[str, Any]) -> None:
        self._deliver(topic, event)

    async def publish_many(self, events: List[Tuple[str, Dict[str, Any]]]) -> None:
        """Several events at once, delivered in order (one Redis message for all of them: a resident's turn
        announces 4–6)."""
        for topic, event in events:
            self._deliver(topic, event)

    healthy = True

    async def start(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def stop(self) -> None:
        return None


ROUTED_PREFIXES = ("conv:", "resident:")  # topics of one conversation or one resident: few sockets follow each


class RedisEventHub(EventHub):
    """The same interface over Redis pub/sub, so every server process of one deployment sees the events it has
    subscribers or handlers for.

    - **The deployment's channels.** Every channel's name starts with ``wuye:<namespace>:``
      (Settings.deployment_namespace): pub/sub ignores the db number, so two deployments sharing a Redis server
      must differ in the channel names. ``wuye:<namespace>:events`` carries the topics every process acts on (the
      agents' events, the ``queue:changed`` signal); a conversation's or a resident's topic (ROUTED_PREFIXES) goes
      on ``wuye:<namespace>:events:<topic>``, which a process subscribes to in Redis only while one of its sockets
      follows the topic. Each process used to receive, wake for and decode every turn of the deployment, ~0.17 ms
      of CPU a message, twice a turn with two workers (docs/figures/2026-12-07-turn-cpu-c.md); now a turn nobody
      watches live reaches no process. A turn's events still leave in one round trip (one PUBLISH per channel,
      pipelined), and one process's subscriptions share one connection, so it hears them in the order published.
    - **A new subscription is live once Redis confirms it.** :meth:`subscribe` stays synchronous; Redis is told
      right after, and a publish from this process waits (at most a second) until every subscription it asked for
      is confirmed, so a socket that subscribes just before its own turn is published gets the turn. A caller that
      must not miss another process's event from now on awaits :meth:`ready` (the widget's socket does).
    - **Health from a heartbeat.** Every HEARTBEAT seconds the hub publishes a heartbeat on a channel of its own
      and expects to hear it back through its subscription. ``healthy`` means it was heard in the last STALE_AFTER
      seconds: the whole path (publish → Redis → subscription) works. The subscription's reads wait at most
      HEARTBEAT seconds, so an idle hub never times out a blocking read (no reconnecting every few seconds while
      idle).
    - **Recovers by itself.** A publish that fails is retried once on a fresh connection (after a Redis restart
      the pooled connections are stale; the second attempt works). A subscription that errors, or that hears no
      heartbeat for STALE_AFTER seconds, is closed and opened again with a short backoff.
    - **Never fails a request.** What cannot be published is delivered to this process's own subscribers at once
      and kept (bounded) in order; the heartbeat sends it to the other processes once Redis answers again and the
      others had FLUSH_GRACE seconds to resubscribe. Later events queue behind it, so order holds.
    """

    BACKLOG = 10000
    FLUSH_GRACE = 1.0  # seconds of health before the backlog goes out (the other processes resubscribe meanwhile)
    HEARTBEAT = 1.0
    STALE_AFTER = 3.5
    MAX_BACKOFF = 2.0

    def __init__(self, url: str, namespace: str = "default") -> None:
        super().__init__()
        self._url = url
        self.channel = f"wuye:{namespace}:events"
        self._instance = uuid.uuid4().hex
        self._heartbeat_channel = f"wuye:{namespace}:heartbeat:{self._instance}"
        self._wanted: Set[str] = set()  # the routed topics' channels this process has subscribers for
        self._asked: Set[str] = set()  # … that the live subscription asked Redis for
        self._awaiting: Set[str] = set()  # … asked for and not confirmed yet
        self._pubsub: Optional[Any] = None  # the live subscription
        self._sync_needed = asyncio.Event()
        self._confirmed = asyncio.Event()  # set (and replaced) whenever Redis confirms a subscription
        self._publisher: Optional[Any] = None
        self._subscriber: Optional[Any] = None
        self._tasks: List[asyncio.Task] = []
        self._backlog: "collections.deque" = collections.deque(maxlen=self.BACKLOG)
        self._local_ids: "collections.deque" = collections.deque(maxlen=self.BACKLOG)
        self._subscribed_at: Optional[float] = None  # monotonic time of the live subscription, None when there is none
        self._heard_at = 0.0  # monotonic time our own heartbeat last came back
        self._healthy_since = 0.0  # monotonic time the hub last became healthy
        self.reconnects = 0  # subscriptions opened after the first (tests and /metrics read it)

    @property
    def healthy(self) -> bool:  # type: ignore[override]
        return self._subscribed_at is not None and time.monotonic() - self._heard_at < self.STALE_AFTER

    async def start(self) -> None:
        self._publisher = aioredis.from_url(self._url, socket_connect_timeout=2, socket_timeout=5)
        self._subscriber = aioredis.from_url(self._url, socket_connect_timeout=2, socket_timeout=5)
        self._tasks = [asyncio.create_task(self._subscribe_forever()), asyncio.create_task(self._beat_forever()),
                       asyncio.create_task(self._sync_forever())]

    # --- which channels this process hears ------------------------------------------------------------------------
    def channel_of(self, topic: str) -> str:
        return f"{self.channel}:{topic}" if topic.startswith(ROUTED_PREFIXES) else self.channel

    def subscribe(self, topic: str) -> asyncio.Queue:
        queue = super().subscribe(topic)
        channel = self.channel_of(topic)
        if channel != self.channel and channel not in self._wanted:
            self._wanted.add(channel)
            if self._pubsub is not None:
                self._awaiting.add(channel)
            self._sync_needed.set()
        return queue

    def unsubscribe(self, topic: str, queue: asyncio.Queue) -> None:
        super().unsubscribe(topic, queue)
        channel = self.channel_of(topic)
        if channel != self.channel and not self.listening(topic):
            self._wanted.discard(channel)
            self._awaiting.discard(channel)
            self._sync_needed.set()

    async def _sync_forever(self) -> None:
        """Tell Redis about the routed channels wanted or no longer wanted, in the order they changed (one task, so
        an unsubscribe and a subscribe again of one channel reach Redis in that order)."""
        while True:
            await self._sync_needed.wait()
            self._sync_needed.clear()
            pubsub = self._pubsub
            if pubsub is None:
                continue  # the next subscription asks for what is wanted then
            add, drop = self._wanted - self._asked, self._asked - self._wanted
            try:
                if add:
                    self._asked |= add
                    await pubsub.subscribe(*add)
                if drop:
                    self._asked -= drop
                    await pubsub.unsubscribe(*drop)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the subscription loop notices the broken connection and starts over
                pass

    async def ready(self, timeout: float = 1.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._awaiting and self._pubsub is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:  # not waited for again: one slow confirmation must not slow every publish after it
                logger.warning("Redis has not confirmed %d subscription(s) in %.1f s", len(self._awaiting), timeout)
                self._awaiting.clear()
                return
            try:
                await asyncio.wait_for(self._confirmed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def _confirm(self, channel: Any, subscribed: bool) -> None:
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        if subscribed and name in self._awaiting:
            self._awaiting.discard(name)
            self._confirmed.set()
            self._confirmed = asyncio.Event()

    # --- the subscription ----------------------------------------------------------------------------------------
    async def _subscribe_forever(self) -> None:
        delay, first = 0.2, True
        while True:
            pubsub = self._subscriber.pubsub()
            try:
                wanted = set(self._wanted)
                await pubsub.subscribe(self.channel, self._heartbeat_channel, *wanted)
                # (those wanted since are asked for by _sync_forever, and awaited as well)
                self._asked, self._awaiting, self._pubsub = wanted, set(self._wanted), pubsub
                self._sync_needed.set()  # anything wanted or dropped meanwhile
                self._subscribed_at = time.monotonic()
                if not first:
                    self.reconnects += 1
                first, delay = False, 0.2
                await self._beat()  # health comes up at once, not a heartbeat later
                while True:
                    message = await pubsub.get_message(timeout=self.HEARTBEAT)
                    if message is not None:
                        kind = message.get("type")
                        if kind == "message":
                            self._receive(message["data"])
                        elif kind in ("subscribe", "unsubscribe"):
                            self._confirm(message["channel"], kind == "subscribe")
                    if time.monotonic() - max(self._heard_at, self._subscribed_at) > self.STALE_AFTER:
                        raise ConnectionError("no heartbeat heard: the subscription is stale")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any Redis failure: subscribe again
                if self._subscribed_at is not None:
                    logger.warning("Redis event hub lost its subscription (%s); reconnecting", type(exc).__name__)
                self._subscribed_at, self._pubsub, self._awaiting = None, None, set()
                await _quietly(pubsub.reset())
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.MAX_BACKOFF)

    def _receive(self, raw: Any) -> None:
        data = json.loads(raw)
        if "hb" in data:
            if data["hb"] == self._instance:
                if not self.healthy:
                    self._healthy_since = time.monotonic()
                self._heard_at = time.monotonic()
            return
        if self._local_ids and data.get("id") in self._local_ids:
            return  # delivered locally while Redis was down, then flushed: not twice
        if "batch" in data:
            for topic, event in data["batch"]:
                self._deliver(topic, event)
        else:
            self._deliver(data["topic"], data["event"])

    # --- publishing --------------------------------------------------------------------------------------------------
    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.HEARTBEAT)
            await self._beat()

    async def _beat(self) -> None:
        if not await self._publish_raw([(self._heartbeat_channel, json.dumps({"hb": self._instance}))]):
            return
        if self._backlog and self.healthy and time.monotonic() - self._healthy_since >= self.FLUSH_GRACE:
            await self._flush_backlog()

    async def _publish_raw(self, payloads: List[Tuple[str, str]]) -> bool:
        """Publish (channel, payload) pairs in order, in one round trip, retrying once on a fresh connection; False
        (and unhealthy until the next heartbeat) if both fail."""
        for attempt in (1, 2):
            try:
                if len(payloads) == 1:
                    await self._publisher.publish(*payloads[0])
                else:
                    pipe = self._publisher.pipeline(transaction=False)
                    for channel, payload in payloads:
                        pipe.publish(channel, payload)
                    await pipe.execute()
                return True
            except Exception as exc:  # noqa: BLE001
                if attempt == 2:
                    if self._heard_at:
                        logger.warning("Redis publish failed (%s): delivering locally, the rest when Redis is back",
                                       type(exc).__name__)
                    self._heard_at = 0.0
                    return False
                await _quietly(self._publisher.connection_pool.disconnect())
        return False

    async def _flush_backlog(self) -> None:
        while self._backlog:
            if not await self._publish_raw([self._backlog[0]]):
                return
            self._backlog.popleft()

    async def publish(self, topic: str, event: Dict[str, Any]) -> None:
        await self._send([(topic, event)])

    async def publish_many(self, events: List[Tuple[str, Dict[str, Any]]]) -> None:
        if events:
            await self._send(events)

    async def _send(self, events: List[Tuple[str, Dict[str, Any]]]) -> None:
        """The events as one message per channel (a turn: its conversation's, its resident's and, for a handoff,
        the deployment's), each channel's in their order, the channels in the order of their first event."""
        assert self._publisher is not None, "RedisEventHub.start() was not awaited"
        message_id = uuid.uuid4().hex
        by_channel: Dict[str, List[Tuple[str, Dict[str, Any]]]] = {}
        for topic, event in events:
            by_channel.setdefault(self.channel_of(topic), []).append((topic, event))
        payloads = [(channel, json.dumps({"id": message_id, "topic": group[0][0], "event": group[0][1]}
                                         if len(group) == 1 else {"id": message_id, "batch": group},
                                         ensure_ascii=False))
                    for channel, group in by_channel.items()]
        if self._awaiting:  # a subscription of this process asked for just now (a socket's first turn) hears this
            await self.ready()
        # while a backlog waits, newer events queue behind it (order), and an unhealthy hub does not make every
        # request wait for a connection attempt
        if not self._backlog and self.healthy and await self._publish_raw(payloads):
            return
        self._local_ids.append(message_id)
        for topic, event in events:
            self._deliver(topic, event)
        self._backlog.extend(payloads)

    async def ping(self) -> bool:
        try:
            await asyncio.wait_for(self._publisher.ping(), 2)
            return True
        except Exception:  # noqa: BLE001
            return False

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for client in (self._publisher, self._subscriber):
            if client is not None:
                await _quietly(client.close())


async def _quietly(awaitable: Any) -> None:
    """Close or reset a Redis object that may already be broken: its own error no longer matters."""
    try:
        await awaitable
    except Exception:  # noqa: BLE001
        pass
