"""Every missed SLA step tells the resident and escalates once (issue 25, point 5), over real HTTP with the real model
and database and the app's clock moved forward: a missed completion deadline — not only a missed dispatch — sends the
resident one apology in their conversation (read from the widget's history) and gives the on-duty agents one high
handoff, however many times the checker runs, also from a fresh Timers (a restart); an order that missed both steps by
the time of a check is told once."""
from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from bot.timers import Timers
from tests.clients import wait_for
from tests.integration.test_work_orders import (bot_texts, clock_server, order_by_number, report_repair, resident,
                                                staff, techs)

LATE_COMPLETION = "没能在承诺的时间"


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with clock_server(tmp_path_factory.mktemp("promises"), settings, parser) as live:
        yield live



def _mine(agent, conversation_id):
    return [h for h in agent.get("/api/agent/queue").json()["queue"] if h["conversation_id"] == conversation_id]


def test_a_missed_completion_deadline_tells_the_resident_once_and_escalates_once(server):
    services = server.app.state.services
    client = resident(server)
    number = report_repair(client, what="卧室插座没电", where="5栋1单元302，13900139000，尽快")
    agent = staff(server, "agent", "agent123")
    order_id = order_by_number(agent, number)["id"]
    url = f"/api/staff/work-orders/{order_id}"
    agent.post(f"{url}/assign", json={"technician_id": techs(agent)["王工"]}).raise_for_status()
    order = agent.get(url).json()
    conversation_id = order["conversation_id"]
    assert order["completion_escalated_at"] is None and not _mine(agent, conversation_id)

    server.offset += dt.timedelta(hours=24, minutes=5)  # 水电/一般: past the 24-hour completion deadline, not repaired
    agent = staff(server, "agent", "agent123")  # a day later: the sign-in has expired on the app's clock
    order = wait_for(lambda: (o := agent.get(url).json())["completion_escalated_at"] and o)
    assert order and order["overdue_kind"] == "completion" and order["overdue_label"] == "超时未完成"
    assert order["escalated_at"] is None  # dispatched in time: that step is not escalated
    told = [t for t in bot_texts(client) if LATE_COMPLETION in t]
    assert len(told) == 1 and number in told[0] and "修好" in told[0] and "已通知值班人员" in told[0], told
    handoffs = wait_for(lambda: _mine(agent, conversation_id))
    assert len(handoffs) == 1 and handoffs[0]["priority"] == "high"
    assert handoffs[0]["reasons"] == [f"work order not completed in time: {number}"]

    # the checker runs again (the loop, by hand twice, and a fresh Timers as after a restart): nothing more
    server.offset += dt.timedelta(hours=1)
    time.sleep(1.0)
    assert asyncio.run(services.timers.check_work_orders()) == 0
    assert asyncio.run(services.timers.check_work_orders()) == 0
    assert asyncio.run(Timers(services).check_work_orders()) == 0
    order = agent.get(url).json()
    assert sum(1 for e in order["events"] if "超过完成时限" in e["note"]) == 1
    assert sum(1 for t in bot_texts(client) if LATE_COMPLETION in t) == 1
    assert len(_mine(agent, conversation_id)) == 1


def test_an_order_that_missed_both_steps_by_one_check_is_told_once(server):
    client = resident(server)
    number = report_repair(client, what="阳台灯不亮", where="4栋2单元402，13600136000，尽快")
    agent = staff(server, "agent", "agent123")
    url = f"/api/staff/work-orders/{order_by_number(agent, number)['id']}"
    server.offset += dt.timedelta(hours=25)  # the app was down: both deadlines passed before the next check
    agent = staff(server, "agent", "agent123")  # a day later: the sign-in has expired on the app's clock
    order = wait_for(lambda: (o := agent.get(url).json())["completion_escalated_at"] and o)
    assert order and order["escalated_at"]  # both steps taken
    notes = [e["note"] for e in order["events"]]
    assert sum("超过响应时限" in n for n in notes) == 1 and sum("超过完成时限" in n for n in notes) == 1
    apologies = [t for t in bot_texts(client) if "非常抱歉" in t]
    assert len(apologies) == 1 and "修好" in apologies[0], apologies
    (handoff,) = wait_for(lambda: _mine(agent, order["conversation_id"]))
    assert handoff["reasons"] == [f"work order overdue: {number}", f"work order not completed in time: {number}"]
