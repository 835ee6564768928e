"""Admin CSV exports: conversations, handoffs and failed questions for a date range."""
from __future__ import annotations

import csv
import datetime as dt
import io

import httpx
import pytest
import sqlalchemy as sa

from bot.storage.db import open_database
from bot.storage.models import Conversation
from bot.tools.devserver import LiveServer
from tests.clients import signed_in


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("exports"), settings, parser) as live:
        yield live


def rows(response) -> list:
    assert response.content.startswith("\ufeff".encode())  # Excel opens UTF-8 with a BOM right
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_exports_of_a_date_range(server):
    resident = httpx.Client(base_url=server.url, timeout=30)
    resident.post("/api/widget/session")
    resident.post("/api/widget/messages", json={"text": "=HYPERLINK(\"http://x\") 我的电话13812345678"}).raise_for_status()
    resident.post("/api/widget/messages", json={"text": "啊啊啊啊"}).raise_for_status()
    resident.post("/api/widget/messages", json={"text": "转人工"}).raise_for_status()
    conversation_id = resident.get("/api/widget/history").json()["conversation_id"]
    db = open_database(server.settings.database_url)
    with db.session() as session:  # as a resident who opened 锦绣花园's link
        session.execute(sa.update(Conversation).where(Conversation.id == conversation_id).values(community_id="jinxiu"))
    db.engine.dispose()
    client = signed_in(server)
    today = dt.date.today()
    r = client.get("/api/admin/export/conversations.csv", params={"start": (today - dt.timedelta(days=30)).isoformat(),
                                                                   "end": (today + dt.timedelta(days=1)).isoformat()})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = rows(r)
    assert table[0][:3] == ["会话编号", "开始时间", "渠道"] and len(table) > 10
    mine = [row for row in table if "HYPERLINK" in row[-1]]
    assert mine and mine[0][-1].startswith("'=") and "13812345678" not in r.content.decode("utf-8-sig")
    handoffs = rows(client.get("/api/admin/export/handoffs.csv"))
    assert handoffs[0][:4] == ["转人工编号", "会话编号", "时间", "优先级"] and len(handoffs) > 1
    words = {cell for row in handoffs[1:] + table[1:] for cell in row}
    assert not words & {"urgent", "high", "normal", "resolved", "pending", "queued", "web", "wechat"}  # labels, not codes
    assert not words & {"jinxiu", "binjiang"} and "锦绣花园" in {row[3] for row in table[1:]}  # the 小区's name
    failed = rows(client.get("/api/admin/export/failed.csv"))
    assert failed[0] == ["消息编号", "时间", "住户的话", "原因", "建议的问答"]
    nonsense = [row for row in failed[1:] if row[2] == "啊啊啊啊"]
    # the reason in words (看不懂的内容, not "nonsense" or "two_failed"), the time on the 小区's clock as in the other exports
    assert nonsense and nonsense[0][3] in ("看不懂的内容", "连续两次没能理解") and nonsense[0][1].endswith("+08:00")
    assert not {row[3] for row in failed[1:]} & {"nonsense", "clarify", "not_helpful", "uncovered", "reject",
                                                           "two_failed"}


@pytest.mark.parametrize("params,code", [({"start": "2026-13-01"}, "bad_export_range"),
                                         ({"start": "2026-11-10", "end": "2026-11-01"}, "bad_export_range"),
                                         ({"start": "2020-01-01", "end": "2026-01-01"}, "bad_export_range")])
def test_bad_ranges_are_refused_in_chinese(server, params, code):
    r = signed_in(server).get("/api/admin/export/handoffs.csv", params=params)
    assert r.status_code == 422 and r.json()["code"] == code and "日期" in r.json()["detail"] or "天" in r.json()["detail"]


def test_exports_are_for_admins_only(server):
    agent = httpx.Client(base_url=server.url, timeout=30)
    agent.post("/api/auth/login", json={"username": "agent", "password": "agent123"}).raise_for_status()
    assert agent.get("/api/admin/export/handoffs.csv").status_code == 403
    assert httpx.get(server.url + "/api/admin/export/handoffs.csv").status_code == 401
    assert signed_in(server).get("/api/admin/export/passwords.csv").json()["code"] == "unknown_export"
