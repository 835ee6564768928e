"""A retired 小区 takes nothing new (issue 26): over real HTTP on a real database, a new notice, a new poll or an
import (its 小区 column or the form's 小区) naming a retired 小区 is a Chinese 422 with a code and stores nothing; an
old notice of it may still be corrected; the pickers for new things leave it out, and the desk's filter of past
orders keeps it, marked 已停用. Restoring the 小区 takes them again."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
import sqlalchemy as sa

from bot.core.localtime import to_local
from bot.storage.db import open_database
from bot.storage.models import Household, Notice, Poll
from bot.tools import cli
from bot.tools.devserver import LiveServer
from tests.clients import signed_in

HOUSEHOLDS = ("小区,楼栋,单元,房号,业主姓名,手机号\n"
              "锦绣花园,30,1,101,周杰,13600000031\n"
              "滨江壹号,30,1,102,吴磊,13600000032\n").encode("gbk")


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("retired-targets"), settings, parser) as live:
        yield live


def local(server, hours: float) -> str:
    return f"{to_local(server.app.state.services.clock() + dt.timedelta(hours=hours)):%Y-%m-%d %H:%M}"


def counts(server) -> tuple:
    with server.app.state.services.db.session() as s:
        return (s.scalar(sa.select(sa.func.count()).select_from(Notice)),
                s.scalar(sa.select(sa.func.count()).select_from(Poll)),
                s.scalar(sa.select(sa.func.count()).select_from(Household).where(Household.building == 30)))


def retire(client, community_id: str, retired: bool = True) -> None:
    version = client.get("/api/admin/communities").json()["version"]
    r = client.post(f"/api/admin/communities/{community_id}/{'retire' if retired else 'restore'}",
                    json={"version": version})
    assert r.status_code == 200, r.text


def test_a_retired_community_takes_no_new_notice_poll_or_import_and_its_pickers_leave_it_out(server):
    client = signed_in(server)
    notice = {"kind": "water", "buildings": [], "text": "水箱清洗。", "starts_at": local(server, 1),
              "ends_at": local(server, 5)}
    old = client.post("/api/admin/notices", json={**notice, "community_id": "binjiang"})  # before it is retired
    assert old.status_code == 200, old.text
    other = client.post("/api/admin/notices", json={**notice, "community_id": "jinxiu"}).json()
    retire(client, "binjiang")
    try:
        before = counts(server)
        r = client.post("/api/admin/notices", json={**notice, "community_id": "binjiang"})
        assert r.status_code == 422 and r.json()["code"] == "community_retired", r.text
        assert "滨江壹号" in r.json()["detail"] and "已停用" in r.json()["detail"]
        moved = client.put(f"/api/admin/notices/{other['id']}", json={"community_id": "binjiang"})
        assert moved.status_code == 422 and moved.json()["code"] == "community_retired"
        assert client.get(f"/api/admin/notices/{other['id']}").json()["community_id"] == "jinxiu"
        # an old notice of the 小区 can still be corrected (and withdrawn): it may be live for residents still bound
        fixed = client.put(f"/api/admin/notices/{old.json()['id']}", json={"text": "水箱清洗，改为下午。"})
        assert fixed.status_code == 200 and fixed.json()["text"] == "水箱清洗，改为下午。", fixed.text
        poll = {"community_id": "binjiang", "question": "是否增设快递柜？", "options": ["是", "否"],
                "opens_at": local(server, -1), "closes_at": local(server, 48)}
        r = client.post("/api/admin/polls", json=poll)
        assert r.status_code == 422 and r.json()["code"] == "community_retired", r.text

        upload = client.post("/api/admin/import/households", files={"file": ("住户.csv", HOUSEHOLDS, "text/csv")})
        assert upload.status_code == 422 and upload.json()["code"] == "import_rows_invalid", upload.text
        assert upload.json()["errors"] == [{"row": 3, "column": "小区",
                                            "message": "这个小区已停用，不能再导入（如需导入，请先在“小区”页恢复它）"}]
        no_column = "楼栋,单元,房号,业主姓名,手机号\n30,1,103,郑爽,13600000033\n".encode("utf-8")
        named = client.post("/api/admin/import/households", files={"file": ("住户.csv", no_column, "text/csv")},
                            data={"community": "binjiang"})
        assert named.status_code == 422 and named.json()["code"] == "import_community_retired", named.text
        assert "滨江壹号" in named.json()["detail"] and "已停用" in named.json()["detail"]
        assert counts(server) == (before[0], before[1], before[2])  # nothing stored by any refusal

        notices_meta = client.get("/api/admin/notices").json()["communities"]
        assert {c["id"]: c["retired"] for c in notices_meta} == {"jinxiu": False, "binjiang": True}
        assert [c["id"] for c in client.get("/api/admin/polls").json()["communities"]] == ["jinxiu"]
        desk = {c["id"]: c["name"] for c in client.get("/api/staff/work-orders").json()["communities"]}
        assert desk == {"jinxiu": "锦绣花园", "binjiang": "滨江壹号（已停用）"}  # past orders stay findable
    finally:
        retire(client, "binjiang", retired=False)
    # back in service: it takes them again
    assert client.post("/api/admin/notices", json={**notice, "community_id": "binjiang"}).status_code == 200
    r = client.post("/api/admin/import/households", files={"file": ("住户.csv", HOUSEHOLDS, "text/csv")})
    assert r.status_code == 200 and r.json()["created"] == 2, r.text
    assert {c["id"] for c in client.get("/api/admin/polls").json()["communities"]} == {"jinxiu", "binjiang"}


def test_wuye_import_refuses_a_retired_community_and_stores_nothing(settings, tmp_path, monkeypatch, capsys):
    """The command reads the retired flag from data/communities.yml itself (it runs without the server)."""
    data = tmp_path / "data"
    data.mkdir()
    text = settings.communities_file.read_text(encoding="utf-8")
    assert "  - id: binjiang\n" in text
    (data / "communities.yml").write_text(text.replace("  - id: binjiang\n", "  - id: binjiang\n    retired: true\n"),
                                          encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'wuye.db'}"
    open_database(url).engine.dispose()
    monkeypatch.setattr(cli, "get_settings", lambda: dataclasses.replace(settings, database_url=url, data_dir=data))
    path = tmp_path / "住户.csv"
    path.write_bytes(HOUSEHOLDS)
    assert cli.main(["import", "households", str(path), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["errors"] == [{"row": 3, "column": "小区",
                                 "message": "这个小区已停用，不能再导入（如需导入，请先在“小区”页恢复它）"}]
    assert result["created"] == 0
    assert cli.main(["import", "households", str(path), "--json", "--community", "binjiang"]) == 2
    assert json.loads(capsys.readouterr().out)["code"] == "import_community_retired"
    with open_database(url).session() as session:
        assert session.query(Household).count() == 0  # nothing stored, not even the 锦绣 row
