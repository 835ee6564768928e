"""The event hub: in-process, and over Redis so several server processes share events."""
from __future__ import annotations

import asyncio
import os

import pytest

from bot.events import EventHub, RedisEventHub

REDIS_URL = os.environ.get("WUYE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_local_hub_delivers_to_each_subscriber_of_a_topic():
    async def run():
        hub = EventHub()
        a, b, other = hub.subscribe("conv:1"), hub.subscribe("conv:1"), hub.subscribe("conv:2")
        await hub.publish("conv:1", {"type": "message", "text": "你好"})
        assert (await a.get())["text"] == "你好" and (await b.get())["text"] == "你好"
        assert other.empty()
        hub.unsubscribe("conv:1", a)
        await hub.publish("conv:1", {"n": 2})
        assert a.empty() and (await b.get())["n"] == 2

    asyncio.run(run())


def test_redis_hub_shares_events_between_two_processes_worth_of_hubs():
    async def run():
        first, second = RedisEventHub(REDIS_URL), RedisEventHub(REDIS_URL)
        try:
            await first.start()
            await second.start()
        except Exception as exc:  # noqa: BLE001
            if os.environ.get("WUYE_REQUIRE_REDIS"):
                raise
            pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
        queue = second.subscribe("agents")
        await asyncio.sleep(0.2)  # let both pub/sub subscriptions settle
        await first.publish("agents", {"type": "queue", "queue": [{"priority": "urgent"}]})
        event = await asyncio.wait_for(queue.get(), 5)
        assert event["queue"][0]["priority"] == "urgent"
        await first.stop()
        await second.stop()

    asyncio.run(run())
