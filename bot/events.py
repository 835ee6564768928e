"""Live events for WebSocket clients: a topic → subscribers hub.

Topics: ``conv:<id>`` (a conversation's new messages and status changes, for the resident and its agent)
and ``agents`` (queue changes). One process uses the in-memory hub; several processes sharing events use
Redis pub/sub (set WUYE_REDIS_URL).
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from typing import Any, Dict, Optional, Set

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

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisEventHub(EventHub):
    """The same interface over Redis pub/sub, so every server process sees every event."""

    CHANNEL = "wuye:events"

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._redis: Optional[Any] = None
        self._task: Optional[asyncio.Task] = None

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(self._url)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.CHANNEL)

        async def pump() -> None:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                data = json.loads(message["data"])
                self._deliver(data["topic"], data["event"])

        self._task = asyncio.create_task(pump())

    async def publish(self, topic: str, event: Dict[str, Any]) -> None:
        assert self._redis is not None, "RedisEventHub.start() was not awaited"
        await self._redis.publish(self.CHANNEL, json.dumps({"topic": topic, "event": event}, ensure_ascii=False))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._redis is not None:
            await self._redis.close()
