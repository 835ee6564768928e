"""The triage band of a borderline emergency (issue 25 point 2; docs/decisions/0003-urgent-triage-band.md), over real
HTTP with the real trained model, the real database and the app's timers loop, the app's clock moved forward: a
message the router finds urgent but not sure gets the emergency number and an urgent handoff at the top of the
agents' queue at once, and one question with 是 / 不是; the on-duty phone is paged on 是, on a further urgent message,
or when nobody answers within the timeout (once, also when the check runs again or from a fresh Timers); 不是 makes it
a normal handoff and pages nobody. A sure emergency still pages at once."""
from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from bot.handoffs import urgent_check
from bot.routing import router
from bot.timers import Timers
from tests.clients import wait_for
from tests.integration.test_work_orders import bot_texts, clock_server, resident, say, staff

# urgent by a keyword rule, below the band
BORDERLINE = "楼道配电箱有点焦味，不知道是不是电线的问题"  # a keyword rule at P(urgent) ~0.2: asked first
SURE = "3栋电梯困人了，快来人"
NUMBER = "020-8888 6699"


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with clock_server(tmp_path_factory.mktemp("triage"), settings, parser) as live:
        yield live


@pytest.fixture
def app(server):
    """The server with a fresh hour on its clock (the per-address page limit is a few an hour: every test here
    comes from 127.0.0.1) and an agent online, so handoffs queue."""
    server.offset += dt.timedelta(hours=1, minutes=1)
    server.agent = staff(server, "agent", "agent123")
    server.agent.get("/api/agent/queue").raise_for_status()
    return server


def pages(server, text):
    return [t for _, t in server.app.state.services.engine.sms.sent if text in t]


def queued(agent, conversation_id):
    return [h for h in agent.get("/api/agent/queue").json()["queue"] if h["conversation_id"] == conversation_id]



def ask_borderline(app):
    client = resident(app)
    before = len(pages(app, BORDERLINE))
    turn = say(client, BORDERLINE)
    assert turn["handoff"]["priority"] == "urgent", turn
    texts = [r["text"] for r in turn["replies"]]
    assert NUMBER in texts[0] and urgent_check.QUESTION in texts[-1], texts
    assert [b["title"] for b in turn["replies"][-1]["buttons"]] == ["是，正在发生", "不是"]
    assert len(pages(app, BORDERLINE)) == before  # asked, not paged
    item = queued(app.agent, turn["conversation_id"])
    assert item and item[0]["priority"] == "urgent"
    assert app.agent.get("/api/agent/queue").json()["queue"][0]["priority"] == "urgent"  # at the top
    return client, turn["conversation_id"], before


def test_the_borderline_message_is_in_the_asked_band_of_the_trained_model(parser):
    reading = parser.parse(BORDERLINE)
    assert router.decide(reading).action == router.URGENT_CHECK, reading.urgency
    assert router.decide(parser.parse(SURE)).action == "emergency"


def test_yes_pages_the_on_duty_phone_with_what_was_reported(app):
    client, conversation_id, before = ask_borderline(app)
    turn = say(client, urgent_check.YES)
    assert any("已通知值班人员" in r["text"] for r in turn["replies"])
    sent = pages(app, BORDERLINE)
    assert len(sent) == before + 1 and sent[-1].startswith("【紧急】")
    item = queued(app.agent, conversation_id)
    assert item[0]["priority"] == "urgent"
    # answered: the timeout does not page again
    app.offset += dt.timedelta(minutes=3)
    time.sleep(1.0)
    assert len(pages(app, BORDERLINE)) == before + 1


def test_no_pages_nobody_and_leaves_a_normal_handoff(app):
    client, conversation_id, before = ask_borderline(app)
    turn = say(client, urgent_check.NO)
    assert "不是紧急情况" in " ".join(r["text"] for r in turn["replies"])
    assert wait_for(lambda: (q := queued(app.agent, conversation_id)) and q[0]["priority"] == "normal")
    app.offset += dt.timedelta(minutes=3)  # past the timeout: nothing pages
    time.sleep(1.0)
    assert len(pages(app, BORDERLINE)) == before


def test_no_answer_pages_once_at_the_timeout(app):
    client, conversation_id, before = ask_borderline(app)
    app.offset += dt.timedelta(seconds=urgent_check.TIMEOUT_SECONDS - 30)  # not yet
    time.sleep(1.0)
    assert len(pages(app, BORDERLINE)) == before
    app.offset += dt.timedelta(seconds=31)
    sent = wait_for(lambda: len(pages(app, BORDERLINE)) > before and pages(app, BORDERLINE))
    assert sent and len(sent) == before + 1 and "超时" in sent[-1]
    assert wait_for(lambda: urgent_check.TIMED_OUT in bot_texts(client))
    # the checker again, by hand and from a fresh Timers (a restart): paged once
    services = app.app.state.services
    assert asyncio.run(services.timers.page_unanswered_triage()) == 0
    assert asyncio.run(Timers(services).page_unanswered_triage()) == 0
    assert len(pages(app, BORDERLINE)) == before + 1
    assert queued(app.agent, conversation_id)[0]["priority"] == "urgent"
    # a tap on the old 是 after the page is a stale button, not a second page
    say(client, urgent_check.YES)
    assert len(pages(app, BORDERLINE)) == before + 1


def test_anything_else_asks_again_and_a_further_urgent_message_pages_at_once(app):
    client, conversation_id, before = ask_borderline(app)
    turn = say(client, "物业费多少钱一平")
    assert urgent_check.QUESTION in turn["replies"][-1]["text"]
    assert [b["payload"] for b in turn["replies"][-1]["buttons"]] == [urgent_check.YES, urgent_check.NO]
    turn = say(client, "/cancel")  # no way out of the question but an answer or the timeout
    assert urgent_check.QUESTION in turn["replies"][-1]["text"]
    assert len(pages(app, BORDERLINE)) == before
    turn = say(client, "电表箱冒烟了")
    assert turn["handoff"]["priority"] == "urgent" and any("已通知值班人员" in r["text"] for r in turn["replies"])
    assert len(pages(app, BORDERLINE)) == before + 1  # the page says what was first reported


def test_a_sure_emergency_still_pages_at_once(app):
    client = resident(app)
    before = len(pages(app, SURE))
    turn = say(client, SURE)
    assert NUMBER in turn["replies"][0]["text"] and "已通知值班人员" in turn["replies"][0]["text"]
    assert not any(urgent_check.QUESTION in r["text"] for r in turn["replies"])
    assert len(pages(app, SURE)) == before + 1


def test_a_tap_on_yes_pages_even_after_an_agent_claimed_the_conversation(app):
    client, conversation_id, before = ask_borderline(app)
    item = queued(app.agent, conversation_id)[0]
    app.agent.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").raise_for_status()
    say(client, urgent_check.YES)
    assert len(pages(app, BORDERLINE)) == before + 1
    say(client, "谢谢")  # the agent's conversation: the bot stays silent, nothing more is paged
    assert len(pages(app, BORDERLINE)) == before + 1
    app.agent.post(f"/api/agent/conversations/{conversation_id}/resolve").raise_for_status()


def test_the_figures_count_how_residents_answered_the_question(app):
    """The admin's figures say how often the question was answered (是 / 不是), paged at its timeout or ended
    otherwise (here: a further urgent message), from the same handoff reasons as the reasons' breakdown."""
    admin = staff(app, "admin", "admin123")
    time.sleep(1.0)  # an earlier test's question past its timeout is paged by now, not during this test

    def triage():
        return admin.get("/api/admin/figures").json()["triage"]
    before = triage()
    client, _, _ = ask_borderline(app)
    say(client, urgent_check.YES)
    client, _, _ = ask_borderline(app)
    say(client, urgent_check.NO)
    client, _, _ = ask_borderline(app)
    say(client, "电表箱冒烟了")
    client, _, start = ask_borderline(app)
    app.offset += dt.timedelta(seconds=urgent_check.TIMEOUT_SECONDS + 1)
    assert wait_for(lambda: len(pages(app, BORDERLINE)) > start)
    after = triage()
    assert {k: after[k] - before[k] for k in after} == {"asked": 4, "confirmed": 1, "declined": 1, "timed_out": 1,
                                                        "agent_confirmed": 0, "agent_declined": 0, "other": 1}


def _claim(app, conversation_id):
    item = queued(app.agent, conversation_id)[0]
    app.agent.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").raise_for_status()


def test_the_agent_handling_it_settles_no_danger_and_the_timeout_pages_nobody(app):
    """The agent who has the resident on the phone (or reads it in the chat) answers the question in the resident's
    place from the console: no danger → a normal handoff, the resident told with the number, nobody paged later."""
    client, conversation_id, before = ask_borderline(app)
    path = f"/api/agent/conversations/{conversation_id}"
    card = app.agent.get(path).json()
    assert card["triage"]["text"] == BORDERLINE and card["triage"]["due"]
    r = app.agent.post(path + "/triage", json={"danger": False})  # not claimed: not this agent's to answer
    assert r.status_code == 403 and r.json()["code"] == "not_owner"
    _claim(app, conversation_id)
    r = app.agent.post(path + "/triage", json={"danger": "no"})
    assert r.status_code == 422
    r = app.agent.post(path + "/triage", json={"danger": False})
    assert r.status_code == 200 and r.json() == {"paged": False, "priority": "normal"}
    assert wait_for(lambda: any(t.startswith("客服已了解您的情况") and NUMBER in t for t in bot_texts(client)))
    card = app.agent.get(path).json()
    assert card["triage"] is None and card["handoff"]["priority"] == "normal"
    assert "客服确认不是紧急情况（未通知值班）" in card["handoff"]["reasons_labels"]
    r = app.agent.post(path + "/triage", json={"danger": True})  # settled: nothing left to answer
    assert r.status_code == 409 and r.json()["code"] == "no_triage_question"
    app.offset += dt.timedelta(seconds=urgent_check.TIMEOUT_SECONDS + 60)
    time.sleep(1.0)
    assert len(pages(app, BORDERLINE)) == before
    app.agent.post(path + "/resolve").raise_for_status()


def test_the_agent_handling_it_confirms_danger_and_the_phone_is_paged_now_once(app):
    client, conversation_id, before = ask_borderline(app)
    path = f"/api/agent/conversations/{conversation_id}"
    _claim(app, conversation_id)
    r = app.agent.post(path + "/triage", json={"danger": True})
    assert r.status_code == 200 and r.json() == {"paged": True, "priority": "urgent"}
    sent = pages(app, BORDERLINE)
    assert len(sent) == before + 1 and sent[-1].startswith("【紧急】") and sent[-1].endswith("（客服确认）")
    assert wait_for(lambda: urgent_check.AGENT_CONFIRMED in bot_texts(client))
    card = app.agent.get(path).json()
    assert card["triage"] is None and card["handoff"]["priority"] == "urgent"
    assert "客服确认危险正在发生（已通知值班）" in card["handoff"]["reasons_labels"]
    app.offset += dt.timedelta(seconds=urgent_check.TIMEOUT_SECONDS + 60)  # answered: the timeout pages no more
    time.sleep(1.0)
    say(client, urgent_check.YES)  # the resident's late tap on 是: a stale button, no second page
    assert len(pages(app, BORDERLINE)) == before + 1
    app.agent.post(path + "/resolve").raise_for_status()
