"""The agents' live queue across two app instances on one PostgreSQL database and one real Redis (issue 29: the
queue is built only where a console listens, and never travels through Redis whole).

Each instance is the real app served by uvicorn on its own port (as two ``wuye serve`` workers are), with its own
event hub on the deployment's Redis channel. The consoles are real /ws/agent WebSockets; the residents' turns are
real HTTP requests.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import threading
import time
import uuid

import httpx
import pytest
import redis
import uvicorn
import websockets

from bot.kb.community import load_communities
from bot.main import create_app
from bot.realtime import live
from bot.storage.db import open_database
from bot.tools.demo import load_demo_data
from bot.tools.devserver import free_port, office_clock
from tests.databases import scratch_postgres

REDIS_URL = os.environ.get("WUYE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Instance:
    """One app instance on ``settings``' database and Redis, served on a free port in a thread."""

    def __init__(self, settings, parser) -> None:
        self.app = create_app(settings, parser=parser, clock=office_clock())
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    ws="websockets"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Instance":
        self.thread.start()
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/api/health", timeout=1).json()["checks"].get("redis") == "ok":
                    return self
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        raise RuntimeError("the instance did not start with a healthy Redis hub")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Channel:
    """Every message on the deployment's Redis channel, read by a subscriber of its own."""

    def __init__(self, url: str, channel: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(channel)
        self.messages: list = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.1)
            if message is not None and message.get("type") == "message":
                self.messages.append(json.loads(message["data"]))

    def events(self):
        """(topic, event) of every message since the start, heartbeats left out."""
        for data in list(self.messages):
            if "batch" in data:
                yield from (tuple(pair) for pair in data["batch"])
            elif "topic" in data:
                yield data["topic"], data["event"]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        self.pubsub.close()
        self.client.close()


@pytest.fixture(scope="module")
def pair(settings, parser, tmp_path_factory):
    """Two instances A and B of one deployment (one PostgreSQL database with the demo data, one Redis channel)."""
    probe = redis.Redis.from_url(REDIS_URL)
    try:
        probe.ping()
    except redis.RedisError:
        if os.environ.get("WUYE_REQUIRE_REDIS"):
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    finally:
        probe.close()
    tmp = tmp_path_factory.mktemp("queue-live")
    with scratch_postgres("wuye_queue_live") as (url,):
        configured = dataclasses.replace(settings, database_url=url, redis_url=REDIS_URL,
                                         redis_namespace=f"queue-live-{uuid.uuid4().hex[:8]}",
                                         upload_dir=tmp / "uploads", secret_key="test-secret")
        db = open_database(url)
        with db.session() as session:
            load_demo_data(session, load_communities(configured.communities_file))
        db.engine.dispose()
        with Instance(configured, parser) as a, Instance(configured, parser) as b:
            channel = Channel(REDIS_URL, f"wuye:{configured.deployment_namespace}:events")
            try:
                yield a, b, channel
            finally:
                channel.close()


@pytest.fixture()
def builds(monkeypatch):
    """Every read of the queue in this process (both instances run here): None for the whole queue, else the
    conversations read."""
    calls: list = []
    original = live.queue_entries

    def counted(session, conversation_ids=None):
        calls.append(None if conversation_ids is None else set(conversation_ids))
        return original(session, conversation_ids)

    monkeypatch.setattr(live, "queue_entries", counted)
    return calls


def resident_says(instance: Instance, text: str, client: httpx.Client | None = None) -> httpx.Client:
    if client is None:
        client = httpx.Client(base_url=instance.url, timeout=30)
        client.post("/api/widget/session").raise_for_status()
    client.post(instance.url + "/api/widget/messages", json={"text": text}).raise_for_status()
    return client


def agent_cookie(instance: Instance) -> str:
    client = httpx.Client(base_url=instance.url, timeout=30)
    client.post("/api/auth/login", json={"username": "agent", "password": "agent123"}).raise_for_status()
    return f"wuye_staff={client.cookies.get('wuye_staff')}"


async def frames_until(socket, predicate, timeout: float) -> list:
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), max(0.01, deadline - time.monotonic())))
        seen.append(frame)
        if predicate(frame):
            return seen


def test_with_no_console_anywhere_no_queue_is_built_and_none_travels_through_redis(pair, builds):
    a, b, channel = pair
    before = len(channel.messages)
    marker = uuid.uuid4().hex[:6]
    first = resident_says(a, f"转人工 {marker}")
    second = resident_says(b, f"我要找人工 {marker}")
    resident_says(a, f"补充一下 {marker}", first)  # a waiting resident's new words also change the queue
    resident_says(b, f"再补充 {marker}", second)
    time.sleep(live.QUEUE_REFRESH_SECONDS + 1.0)
    new = channel.messages[before:]
    topics = [topic for data in new for topic, _ in ([tuple(p) for p in data["batch"]] if "batch" in data
                                                     else [(data["topic"], None)] if "topic" in data else [])]
    assert topics.count(live.QUEUE_SIGNAL) >= 4  # each change was signalled to the deployment…
    assert builds == []  # …and nobody built the queue, since no console listens
    assert not any(event.get("type") == "queue" for _, event in channel.events())
    agent = httpx.Client(base_url=a.url, timeout=30)
    agent.post("/api/auth/login", json={"username": "agent", "password": "agent123"}).raise_for_status()
    summaries = [q["summary"] for q in agent.get("/api/agent/queue").json()["queue"]]
    assert f"补充一下 {marker}" in summaries and f"再补充 {marker}" in summaries  # the data itself is there


def test_a_console_on_one_instance_sees_the_changes_made_on_the_other_and_only_its_instance_builds(pair, builds):
    a, b, channel = pair
    cookie = agent_cookie(a)
    marker = uuid.uuid4().hex[:6]

    async def scenario():
        async with websockets.connect(a.ws_url + "/ws/agent", extra_headers={"Cookie": cookie}) as console:
            first = json.loads(await asyncio.wait_for(console.recv(), 10))
            assert first["type"] == "queue"  # the whole queue at once on connect
            assert len(builds) == 1
            await asyncio.sleep(live.QUEUE_REFRESH_SECONDS + 0.2)  # a quiet moment before the change
            sent = time.monotonic()
            resident = await asyncio.to_thread(resident_says, b, f"转人工 {marker}")  # the change: on B
            frames = await frames_until(console, lambda f: f.get("type") == "queue" and any(
                q["summary"] == f"转人工 {marker}" for q in f["queue"]), 5)
            delay = time.monotonic() - sent
            # the handoff's own event first, at once, then the queue rebuilt on A
            assert any(f.get("type") == "event" and f.get("kind") == "handoff_opened" for f in frames)
            queue = frames[-1]["queue"]
            with a.app.state.services.db.session() as session:
                now = a.app.state.services.clock()
                expected = json.loads(json.dumps(whole_queue(session, now), ensure_ascii=False))
            assert [dict(q, waiting_seconds=0) for q in queue] == [dict(q, waiting_seconds=0) for q in expected]
            assert set(queue[0]) == QUEUE_KEYS  # the same JSON as before: no field added or lost
            await asyncio.sleep(live.QUEUE_REFRESH_SECONDS + 0.5)
            queue_frames = sum(f.get("type") == "queue" for f in frames[1:])
            while True:  # any frame that came meanwhile
                try:
                    extra = json.loads(await asyncio.wait_for(console.recv(), 0.2))
                except asyncio.TimeoutError:
                    break
                queue_frames += extra.get("type") == "queue"
            # every build went to this console: B, with no console, built nothing (each build is one frame here)
            assert len(builds) == 1 + queue_frames, (builds, queue_frames)
            return delay, resident

    delay, resident = asyncio.run(scenario())
    assert delay < 2.0, delay  # a handoff on B reaches A's console within the refresh interval and a build
    assert not any(event.get("type") == "queue" for _, event in channel.events())  # never whole through Redis
    # the console has gone: later changes build nothing
    count = len(builds)
    resident_says(b, f"补充 {marker}", resident)
    time.sleep(live.QUEUE_REFRESH_SECONDS + 0.5)
    assert len(builds) == count


def test_consoles_on_both_instances_each_get_the_changes_of_either(pair, builds):
    a, b, _ = pair
    cookies = agent_cookie(a), agent_cookie(b)
    marker = uuid.uuid4().hex[:6]

    async def scenario():
        async with websockets.connect(a.ws_url + "/ws/agent", extra_headers={"Cookie": cookies[0]}) as on_a, \
                websockets.connect(b.ws_url + "/ws/agent", extra_headers={"Cookie": cookies[1]}) as on_b:
            for console in (on_a, on_b):
                assert json.loads(await asyncio.wait_for(console.recv(), 10))["type"] == "queue"
            for instance, text in ((a, f"转人工 {marker}"), (b, f"我要人工服务 {marker}")):
                await asyncio.to_thread(resident_says, instance, text)
                for console in (on_a, on_b):
                    await frames_until(console, lambda f: f.get("type") == "queue" and any(
                        q["summary"] == text for q in f["queue"]), 5)
            # a claim on A leaves the queue of both consoles
            agent = httpx.Client(base_url=a.url, timeout=30, headers={"Cookie": cookies[0]})
            with a.app.state.services.db.session() as session:
                item = next(q for q in whole_queue(session, a.app.state.services.clock())
                            if q["summary"] == f"我要人工服务 {marker}")
            claimed = await asyncio.to_thread(agent.post, f"/api/agent/handoffs/{item['handoff_id']}/claim")
            assert claimed.status_code == 200
            for console in (on_a, on_b):
                await frames_until(console, lambda f: f.get("type") == "queue" and not any(
                    q["handoff_id"] == item["handoff_id"] for q in f["queue"]), 5)

    asyncio.run(scenario())


original_queue = live.queue_json
original_entries = live.queue_entries


def whole_queue(session, now):
    """The queue read whole from the database, by the code as it is, without counting the read."""
    return live.queue_items(original_entries(session), now)


def test_after_the_first_rebuild_a_change_reads_only_its_conversation_and_the_queue_stays_exact(pair, builds):
    """With a console connected, the process keeps a copy of the queue: a change re-reads only the conversation its
    signal names (a resident's new words, a new handoff, a claim), and what the console gets is still exactly the
    queue read whole from the database."""
    a, b, _ = pair
    cookie = agent_cookie(a)
    marker = uuid.uuid4().hex[:6]
    services = a.app.state.services

    def exact(frame):
        with services.db.session() as session:
            whole = json.loads(json.dumps(whole_queue(session, services.clock()), ensure_ascii=False))
        return [dict(q, waiting_seconds=0) for q in frame["queue"]] == [dict(q, waiting_seconds=0) for q in whole]

    async def scenario():
        async with websockets.connect(a.ws_url + "/ws/agent", extra_headers={"Cookie": cookie}) as console:
            assert json.loads(await asyncio.wait_for(console.recv(), 10))["type"] == "queue"
            first = await asyncio.to_thread(resident_says, b, f"转人工 {marker}")  # the copy is read whole here
            await frames_until(console, lambda f: f.get("type") == "queue" and any(
                q["summary"] == f"转人工 {marker}" for q in f["queue"]), 5)
            await asyncio.sleep(live.QUEUE_REFRESH_SECONDS + 0.2)
            del builds[:]
            steps = [(b, f"补充 {marker}", first), (a, f"我要人工服务 {marker}", None)]
            for instance, text, client in steps:
                await asyncio.to_thread(resident_says, instance, text, client)
                frames = await frames_until(console, lambda f: f.get("type") == "queue" and any(
                    q["summary"] == text for q in f["queue"]), 5)
                assert exact(frames[-1])
                await asyncio.sleep(live.QUEUE_REFRESH_SECONDS + 0.2)
            assert builds and all(read is not None and len(read) == 1 for read in builds), builds  # never whole
            item = next(q for q in frames[-1]["queue"] if q["summary"] == f"我要人工服务 {marker}")
            agent = httpx.Client(base_url=a.url, timeout=30, headers={"Cookie": cookie})
            assert (await asyncio.to_thread(agent.post, f"/api/agent/handoffs/{item['handoff_id']}/claim")).is_success
            frames = await frames_until(console, lambda f: f.get("type") == "queue" and not any(
                q["handoff_id"] == item["handoff_id"] for q in f["queue"]), 5)
            assert exact(frames[-1])

    asyncio.run(scenario())
QUEUE_KEYS = {"handoff_id", "conversation_id", "priority", "status", "reasons", "ticket", "channel", "priority_label",
              "status_label", "reasons_labels", "channel_label", "summary", "room", "kind", "kind_label", "team_id",
              "team_label", "waiting_since", "waiting_seconds", "callback_at", "callback_text"}


def test_a_failing_signal_handler_does_not_stop_the_topics_subscribers():
    from bot.realtime.events import EventHub

    async def run():
        hub, seen = EventHub(), []

        def handler(event):
            seen.append(event)
            raise RuntimeError("a broken handler")

        hub.handle("signal", handler)
        queue = hub.subscribe("signal")
        await hub.publish_many([("signal", {"n": 1}), ("signal", {"n": 2})])
        assert seen == [{"n": 1}, {"n": 2}]
        assert [queue.get_nowait(), queue.get_nowait()] == [{"n": 1}, {"n": 2}]
        assert hub.listening("signal") and not hub.listening("other")

    asyncio.run(run())


def test_a_console_gets_its_first_queue_before_any_newer_one(pair, monkeypatch):
    """The first queue is read off the event loop; a change made on B while it is being read reaches the console
    after it (in a newer queue), never before it, so the console does not end on the older queue."""
    a, b, _ = pair
    cookie = agent_cookie(a)
    marker = uuid.uuid4().hex[:6]
    started, calls = threading.Event(), []

    def slow_first(session, now):
        result = original_queue(session, now)
        calls.append(now)
        if len(calls) == 1:  # the connect's read: its snapshot is taken, then it is slow to finish
            started.set()
            time.sleep(1.5)
        return result

    monkeypatch.setattr(live, "queue_json", slow_first)

    async def scenario():
        async with websockets.connect(a.ws_url + "/ws/agent", extra_headers={"Cookie": cookie}) as console:
            await asyncio.to_thread(started.wait, 10)
            await asyncio.to_thread(resident_says, b, f"转人工 {marker}")  # while the first read is still running
            frames = await frames_until(console, lambda f: f.get("type") == "queue" and any(
                q["summary"] == f"转人工 {marker}" for q in f["queue"]), 10)
            assert frames[0]["type"] == "queue"
            assert not any(q["summary"] == f"转人工 {marker}" for q in frames[0]["queue"])  # the older one first

    asyncio.run(scenario())


def test_consoles_of_one_instance_share_one_encoding_of_each_queue(pair, monkeypatch):
    """Each queue a process builds is encoded to JSON once, however many of its consoles get it, and each gets the
    same text that Starlette's send_json would have made."""
    a, b, _ = pair
    cookies = agent_cookie(a), agent_cookie(a)
    marker = uuid.uuid4().hex[:6]
    encoded: list = []
    dumps = live.json.dumps

    def counting(obj, *args, **kwargs):
        if isinstance(obj, live.SharedFrame):
            encoded.append(id(obj))
        return dumps(obj, *args, **kwargs)

    monkeypatch.setattr(live.json, "dumps", counting)

    async def scenario():
        async with websockets.connect(a.ws_url + "/ws/agent", extra_headers={"Cookie": cookies[0]}) as one, \
                websockets.connect(a.ws_url + "/ws/agent", extra_headers={"Cookie": cookies[1]}) as two:
            for console in (one, two):
                assert json.loads(await asyncio.wait_for(console.recv(), 10))["type"] == "queue"
            await asyncio.sleep(live.QUEUE_REFRESH_SECONDS + 0.2)
            del encoded[:]
            await asyncio.to_thread(resident_says, b, f"转人工 {marker}")
            texts = []
            for console in (one, two):
                while True:
                    raw = await asyncio.wait_for(console.recv(), 5)
                    if f"转人工 {marker}" in raw and json.loads(raw)["type"] == "queue":
                        texts.append(raw)
                        break
            assert texts[0] == texts[1]
            assert texts[0] == dumps(json.loads(texts[0]), separators=(",", ":"), ensure_ascii=False)
            await asyncio.sleep(live.QUEUE_REFRESH_SECONDS + 0.2)
            assert encoded and len(encoded) == len(set(encoded)), encoded  # each frame encoded once, not per console

    asyncio.run(scenario())
