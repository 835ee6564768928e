"""Live events for WebSocket clients: a topic → subscribers hub.

Topics: ``conv:<id>`` (a conversation's new messages and status changes, for the resident and its agent)
and ``agents`` (queue changes). One process uses the in-memory hub; several processes sharing events use
Redis pub/sub (set WUYE_REDIS_URL).
"""
from __future__ import annotations

import asyncio
import collections
import json
import uuid
import logging
from collections import defaultdict
from typing import Any, Dict, List, Optional, Set, Tuple

logger = logging.getLogger(__name__)


class EventHub:
    def __init__(self) -> None:
        self._subscribers: Dict[str, Set[asyncio.Queue]] = defaultdict(set)

    def subscribe(self, topic: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self._subscribers[topic].add(queue)
        return queue

    def unsubscribe(self, topic: str, queue: asyncio.Queue) -> None:
        self._subscribers[topic].discard(queue)

    def _deliver(self, topic: str, event: Dict[str, Any]) -> None:
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
    """The same interface over Redis pub/sub, so every server process sees every event.

    Redis going away never fails a request: what is published while it is down is delivered to this process's
    own subscribers at once and kept (bounded) to be sent to the other processes when Redis is back; the
    subscriber reconnects by itself with a backoff. ``healthy`` says whether the last contact worked."""

    CHANNEL = "wuye:events"
    BACKLOG = 10000
    FLUSH_GRACE = 1.0  # seconds after reconnecting before the backlog goes out

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._redis: Optional[Any] = None
        self._task: Optional[asyncio.Task] = None
        self._backlog: "collections.deque" = collections.deque(maxlen=self.BACKLOG)
        self._local_ids: "collections.deque" = collections.deque(maxlen=self.BACKLOG)
        self.healthy = False

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(self._url, socket_connect_timeout=2, socket_timeout=5,
                                        health_check_interval=10)
        self._task = asyncio.create_task(self._pump_forever())

    async def _pump_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self.CHANNEL)
                self.healthy = True
                delay = 0.2
                if self._backlog:  # give the other processes a moment to resubscribe too
                    asyncio.get_running_loop().call_later(self.FLUSH_GRACE, self._schedule_flush)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    data = json.loads(message["data"])
                    if self._local_ids and data.get("id") in self._local_ids:
                        continue  # delivered locally while Redis was down, then flushed: not twice
                    if "batch" in data:
                        for topic, event in data["batch"]:
                            self._deliver(topic, event)
                    else:
                        self._deliver(data["topic"], data["event"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any Redis failure: reconnect
                if self.healthy:
                    logger.warning("Redis event hub lost its connection (%s); reconnecting", type(exc).__name__)
                self.healthy = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _schedule_flush(self) -> None:
        task = asyncio.ensure_future(self._flush_backlog())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _flush_backlog(self) -> None:
        while self._backlog:
            payload = self._backlog[0]
            await self._redis.publish(self.CHANNEL, payload)
            self._backlog.popleft()

    async def publish(self, topic: str, event: Dict[str, Any]) -> None:
        await self._send({"id": uuid.uuid4().hex, "topic": topic, "event": event}, [(topic, event)])

    async def publish_many(self, events: List[Tuple[str, Dict[str, Any]]]) -> None:
        if len(events) == 1:
            await self.publish(*events[0])
        elif events:
            await self._send({"id": uuid.uuid4().hex, "batch": events}, events)

    async def _send(self, message: Dict[str, Any], events: List[Tuple[str, Dict[str, Any]]]) -> None:
        assert self._redis is not None, "RedisEventHub.start() was not awaited"
        payload = json.dumps(message, ensure_ascii=False)
        if self.healthy:
            try:
                await self._redis.publish(self.CHANNEL, payload)
                return
            except Exception as exc:  # noqa: BLE001 - stored already; delivered on reconnect
                logger.warning("Redis publish failed (%s): delivering locally, the rest on reconnect",
                               type(exc).__name__)
                self.healthy = False
        self._local_ids.append(message["id"])
        for topic, event in events:
            self._deliver(topic, event)
        self._backlog.append(payload)

    async def ping(self) -> bool:
        try:
            await asyncio.wait_for(self._redis.ping(), 2)
            return True
        except Exception:  # noqa: BLE001
            return False

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._redis is not None:
            await self._redis.close()
