"""Incidents: reports of the same outage in the same scope are one incident (one queue item), every reporter is told
and gets the resolution; emergencies are never merged. Real model, real database, through the engine."""
from __future__ import annotations

import datetime as dt
import time

import pytest
import sqlalchemy as sa

from bot.conversation.engine import ConversationEngine
from bot.core.domain import HandoffStatus
from bot.handoffs import handoff as handoffs
from bot.outages import incidents
from bot.storage.db import open_database
from bot.storage.models import ChatIdentity, Handoff, Incident, IncidentReport, Message, WorkOrder
from bot.tools.demo import load_demo_data
from tests.databases import scratch_postgres
from tests.unit.conversation.world import NOW, World

BOUND_PHRASES = ["怎么停水了", "停水了什么时候恢复", "我们楼停水了，什么时候来水", "楼里突然没水了", "家里停水了",
                 "怎么突然停水了", "又停水了", "水停了，怎么回事", "我家停水了，邻居家也没水", "停水了吗"]
BUILDING_PHRASES = ["3栋停水了", "3栋怎么停水了", "3号楼停水了什么时候来水", "3栋2单元停水了吗", "3栋没水了",
                    "3栋突然停水了", "三栋停水了", "3栋1单元停水了", "3栋也停水了", "3栋停水了，什么时候恢复供水"]


class Clock:
    """The engine's clock, moved on by the test (UTC, naive)."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


class PeakWorld(World):
    def __init__(self, url, parser, settings):
        self.clock = Clock(NOW)
        super().__init__(url, parser, settings)

    def new_engine(self) -> ConversationEngine:
        return ConversationEngine(db=open_database(self.url), parser=self.parser, kb_provider=lambda: self.kb,
                                  sms=self.sms, clock=self.clock)

    def bind_directly(self, sender: str, household_id: int) -> None:
        """A resident already bound to a household (verified earlier): the identity row as binding leaves it."""
        with self.db.session() as s:
            s.add(ChatIdentity(channel="web", sender_id=sender, household_id=household_id, verified_at=NOW,
                               created_at=NOW))


@pytest.fixture
def fresh_postgres():
    """A PostgreSQL database of this test's own (skipped when no server is reachable), dropped afterwards."""
    with scratch_postgres("wuye_peak") as (url,):
        yield url


def make_world(url, parser, settings) -> PeakWorld:
    w = PeakWorld(url, parser, settings)
    with w.db.session() as s:
        load_demo_data(s, w.kb.communities, today=NOW.date())
    w.agents_online()
    return w


@pytest.fixture(params=["sqlite", "postgresql"])
def peak_world(request, tmp_path, parser, settings):
    if request.param == "sqlite":
        yield make_world(f"sqlite:///{tmp_path / 'wuye.db'}", parser, settings)
        return
    world = make_world(request.getfixturevalue("fresh_postgres"), parser, settings)
    yield world
    world.engine.db.engine.dispose()
    world.db.engine.dispose()


@pytest.fixture
def world(tmp_path, parser, settings):
    w = PeakWorld(f"sqlite:///{tmp_path / 'wuye.db'}", parser, settings)
    with w.db.session() as s:
        load_demo_data(s, w.kb.communities, today=NOW.date())
    w.agents_online()
    return w


def building_households(world, building: int = 3):
    with world.db.session() as s:
        from bot.storage.models import Household

        return [h.id for h in s.scalars(sa.select(Household).where(Household.community_id == "jinxiu",
                                                                   Household.building == building)
                                        .order_by(Household.id))]


def test_peak_of_forty_reports_is_one_incident_one_queue_item_and_a_lift_rescue_goes_first(peak_world, capsys):
    world = peak_world
    households = building_households(world)
    senders = []
    for i in range(20):  # bound to households of 3栋 (several members of a family each)
        world.bind_directly(f"bound-{i}", households[i % len(households)])
        senders.append((f"bound-{i}", BOUND_PHRASES[i % len(BOUND_PHRASES)]))
    for i in range(20):  # not bound: they name the building
        senders.append((f"named-{i}", BUILDING_PHRASES[i % len(BUILDING_PHRASES)]))
    senders = [s for pair in zip(senders[:20], senders[20:]) for s in pair]  # interleaved, as they come in
    informed, started = 0, time.perf_counter()
    rescue = None
    for n, (sender, text) in enumerate(senders):
        world.clock.now = NOW + dt.timedelta(seconds=6 * n)  # 40 reports in four minutes
        result = world.say(text, sender)
        replies = world.texts(result)
        if n == 0:
            assert "已登记" in replies and "转接人工客服" in replies and result.route["action"] == "incident"
        else:
            assert result.route["action"] == "join_incident", (text, result.route)
            assert "我们已经知道3栋停水的情况" in replies and f"已有 {n + 1} 位住户反映" in replies
            assert "已通知工作人员" in replies and result.handoff is None  # no queue item of their own
        informed += 1
        if n == 19:  # a lift rescue in the middle of the peak
            rescue = world.say("3栋电梯困人了，快来！", "rescue")
            assert rescue.route["action"] == "emergency" and rescue.handoff["priority"] == "urgent"
    report_seconds = time.perf_counter() - started

    with world.db.session() as s:
        all_incidents = list(s.scalars(sa.select(Incident)))
        assert len(all_incidents) == 1
        incident = all_incidents[0]
        assert (incident.building, incident.category, incident.status) == (3, "water", "open")
        assert incidents.report_count(s, incident) == 40
        queue = handoffs.queue(s)
        assert [h.priority for h in queue] == ["urgent", "normal"]  # the rescue first, then the one outage item
        assert queue[0].conversation_id == rescue.conversation_id and queue[1].id == incident.handoff_id
        card = s.get(Handoff, incident.handoff_id).context["incident"]
        assert card["reports"] == 40 and len(card["reporters"]) == 40 and card["scope_label"] == "3栋"
        assert sum(1 for r in card["reporters"] if r["room"]) == 20  # the bound ones show their room
        queue_items = len(queue)
        incident_id = incident.id

    started = time.perf_counter()
    with world.db.session() as s:
        announcements = incidents.resolve(s, incident_id, "供水管道已抢修完毕，17:30 起恢复供水。", NOW + dt.timedelta(hours=1))
    resolve_seconds = time.perf_counter() - started
    assert len(announcements) == 40
    with world.db.session() as s:
        told = s.scalars(sa.select(Message).where(Message.sender == "bot", Message.text.like("【处理结果】%")))
        told = list(told)
        assert len(told) == 40 and len({m.conversation_id for m in told}) == 40
        assert "3栋停水的问题已处理完毕：供水管道已抢修完毕" in told[0].text
        assert all(r.told_resolved_at is not None for r in s.scalars(sa.select(IncidentReport)))
        queue = handoffs.queue(s)
        assert [h.priority for h in queue] == ["urgent"]  # the outage item is closed; the rescue still waits
        assert s.get(Handoff, incident_handoff(s, incident_id)).status == HandoffStatus.RESOLVED
    figures = (f"peak ({world.db.engine.dialect.name}): 40 reports + 1 lift rescue in {report_seconds:.1f} s ({report_seconds / 41 * 1000:.0f} ms a turn); "
               f"incidents 1, linked reports 40, queue items {queue_items} (urgent rescue first), informed {informed}; "
               f"resolution messages 40 in {resolve_seconds * 1000:.0f} ms")
    with capsys.disabled():
        print("\n" + figures)


def incident_handoff(session, incident_id: int) -> int:
    return session.get(Incident, incident_id).handoff_id


def test_a_report_after_the_window_or_the_resolution_opens_a_new_incident(world, monkeypatch):
    monkeypatch.setenv("WUYE_INCIDENT_WINDOW_MINUTES", "30")
    assert world.say("3栋停水了", "a").route["action"] == "incident"
    world.clock.now = NOW + dt.timedelta(minutes=20)
    assert world.say("3栋怎么停水了", "b").route["action"] == "join_incident"
    world.clock.now = NOW + dt.timedelta(minutes=49)  # 29 minutes after the latest report: still the same
    assert world.say("3栋也停水了", "c").route["action"] == "join_incident"
    world.clock.now = NOW + dt.timedelta(minutes=90)  # 41 minutes after the latest report: a new incident
    assert world.say("3栋停水了", "d").route["action"] == "incident"
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Incident)) == 2


def test_other_buildings_and_kinds_are_other_incidents_and_a_second_message_is_not_a_second_report(world):
    assert world.say("3栋停水了", "a").route["action"] == "incident"
    assert world.say("5栋停水了", "b").route["action"] == "incident"  # another building
    assert world.say("3栋停电了", "c").route["action"] == "incident"  # another problem
    r = world.say("3栋停水了什么时候来水", "e")
    assert r.route["action"] == "join_incident"
    r = world.say("还是停水了啊，什么时候来水", "e")  # the same resident again: told, not counted twice
    assert "已经登记过了" in world.texts(r) and "已有 2 位住户反映" in world.texts(r)
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Incident)) == 3
        assert len(handoffs.queue(s)) == 3


def test_without_a_known_building_a_report_is_answered_as_before(world):
    r = world.say("怎么停水了", "stranger")
    assert r.route["action"] == "answer" and r.handoff is None  # the generic outage FAQ (ask the neighbours…)
    assert world.say("全小区都停水了", "stranger2").route["action"] == "incident"  # the whole 小区 is a scope
    with world.db.session() as s:
        assert s.scalar(sa.select(Incident.building)) is None


def test_an_emergency_is_never_merged(world):
    world.say("3栋停水了", "a")
    r = world.say("3栋水管爆了，水漫出来了", "b")
    assert r.route["action"] == "emergency" and r.handoff["priority"] == "urgent"
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(IncidentReport)) == 1
        assert [h.priority for h in handoffs.queue(s)] == ["urgent", "normal"]


def test_an_outage_through_the_repair_form_links_its_work_order(world):
    world.say("我要报修", "form")
    world.say("电梯坏了不动了", "form")
    world.say("3栋1单元大堂", "form")
    world.say("一般", "form")
    world.say("13912345678", "form")
    text = world.texts(world.say("尽快", "form"))
    assert "WO" in text
    r = world.say("3栋电梯坏了", "later")
    assert r.route["action"] == "join_incident" and "维修工单 WO" in world.texts(r)
    with world.db.session() as s:
        order = s.scalar(sa.select(WorkOrder).where(WorkOrder.incident_id.isnot(None)))
        incident = s.get(Incident, order.incident_id)
        assert incident.category == "elevator" and incident.building == 3 and incidents.report_count(s, incident) == 2


def test_first_reports_at_the_same_moment_open_one_incident(peak_world):
    """Twelve residents report at once (threads, one engine, PostgreSQL and SQLite): one incident, one queue item."""
    from concurrent.futures import ThreadPoolExecutor

    world = peak_world
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda i: world.say("3栋停水了", f"same-moment-{i}"), range(12)))
    assert len({r.conversation_id for r in results}) == 12
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Incident)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(IncidentReport)) == 12
        assert len(handoffs.queue(s)) == 1
