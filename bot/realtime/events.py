"""Live events for WebSocket clients: a topic → subscribers hub.

Topics: ``conv:<id>`` (a conversation's new messages and status changes, for the resident and its agent),
``agents`` (the agents' events and queue) and signals that a process acts on itself through a handler
(:meth:`EventHub.handle`; ``queue:changed``, bot/realtime/live.py). One process uses the in-memory hub; several
processes sharing events use Redis pub/sub (set WUYE_REDIS_URL), on a channel of the deployment's own
(WUYE_REDIS_NAMESPACE).
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
        self._subscribers[topic].discard(queue)

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


class RedisEventHub(EventHub):
    """The same interface over Redis pub/sub, so every server process of one deployment sees every event.

    - **One deployment, one channel.** Events go on ``wuye:<namespace>:events`` (Settings.deployment_namespace):
      pub/sub ignores the db number, so two deployments sharing a Redis server must differ in the channel name.
    - **Health from a heartbeat.** Every HEARTBEAT seconds the hub publishes a heartbeat of its own and expects to
      hear it back through its subscription. ``healthy`` means it was heard in the last STALE_AFTER seconds: the
      whole path (publish → Redis → subscription) works. The subscription's reads wait at most HEARTBEAT
      seconds, so an idle hub never times out a blocking read (no reconnecting every few seconds while idle).
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
        self._tasks = [asyncio.create_task(self._subscribe_forever()), asyncio.create_task(self._beat_forever())]

    # --- the subscription ----------------------------------------------------------------------------------------
    async def _subscribe_forever(self) -> None:
        delay, first = 0.2, True
        while True:
            pubsub = self._subscriber.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed_at = time.monotonic()
                if not first:
                    self.reconnects += 1
                first, delay = False, 0.2
                await self._beat()  # health comes up at once, not a heartbeat later
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self.HEARTBEAT)
                    if message is not None and message.get("type") == "message":
                        self._receive(message["data"])
                    if time.monotonic() - max(self._heard_at, self._subscribed_at) > self.STALE_AFTER:
                        raise ConnectionError("no heartbeat heard: the subscription is stale")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any Redis failure: subscribe again
                if self._subscribed_at is not None:
                    logger.warning("Redis event hub lost its subscription (%s); reconnecting", type(exc).__name__)
                self._subscribed_at = None
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
        if not await self._publish_raw(json.dumps({"hb": self._instance})):
            return
        if self._backlog and self.healthy and time.monotonic() - self._healthy_since >= self.FLUSH_GRACE:
            await self._flush_backlog()

    async def _publish_raw(self, payload: str) -> bool:
        """Publish, retrying once on a fresh connection; False (and unhealthy until the next heartbeat) if both fail."""
        for attempt in (1, 2):
            try:
                await self._publisher.publish(self.channel, payload)
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
            if not await self._publish_raw(self._backlog[0]):
                return
            self._backlog.popleft()

    async def publish(self, topic: str, event: Dict[str, Any]) -> None:
        await self._send({"id": uuid.uuid4().hex, "topic": topic, "event": event}, [(topic, event)])

    async def publish_many(self, events: List[Tuple[str, Dict[str, Any]]]) -> None:
        if len(events) == 1:
            await self.publish(*events[0])
        elif events:
            await self._send({"id": uuid.uuid4().hex, "batch": events}, events)

    async def _send(self, message: Dict[str, Any], events: List[Tuple[str, Dict[str, Any]]]) -> None:
        assert self._publisher is not None, "RedisEventHub.start() was not awaited"
        payload = json.dumps(message, ensure_ascii=False)
        # while a backlog waits, newer events queue behind it (order), and an unhealthy hub does not make every
        # request wait for a connection attempt
        if not self._backlog and self.healthy and await self._publish_raw(payload):
            return
        self._local_ids.append(message["id"])
        for topic, event in events:
            self._deliver(topic, event)
        self._backlog.append(payload)

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
