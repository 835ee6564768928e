"""小区 onboarding over real HTTP (bot/api/communities.py): an admin adds and edits a 小区 in data/communities.yml;
each save is validated with the whole knowledge base, refused in Chinese naming the field with nothing written,
409 when based on a stale version, live at once (answers, the communities table), and the file round-trips."""
from __future__ import annotations

import datetime as dt

import httpx
import pytest

from bot.access.auth import sign_community_link
from bot.storage.models import Community as CommunityRow, Household
from bot.tools.devserver import LiveServer
from bot.work_orders import sla
from tests.clients import signed_in


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    tmp = tmp_path_factory.mktemp("community-edit")
    with LiveServer(tmp, settings, parser, models_dir=tmp / "models") as live:
        yield live


def values_of(client, community_id: str):
    """A 小区's values as /admin lists them, and the file's version they were read at."""
    listed = client.get("/api/admin/communities").json()
    return next(c for c in listed["communities"] if c["id"] == community_id)["values"], listed["version"]


def new_values(client, **changes):
    """binjiang's values with a new name and phone: every value the answers need."""
    base, version = values_of(client, "binjiang")
    return {**base, "community_name": "翠湖苑", "office_phone": "0755-2345 6789", **changes}, version


def file_text(server) -> str:
    return server.settings.communities_file.read_text(encoding="utf-8")


def test_an_added_community_is_appended_live_and_the_rest_of_the_file_is_byte_identical(server):
    client = signed_in(server)
    before = file_text(server)
    values, version = new_values(client, buildings="1、2、3", fee_per_m2="2.60")
    r = client.post("/api/admin/communities", json={"id": "cuihu", "values": values, "version": version})
    assert r.status_code == 201, r.text
    after = file_text(server)
    assert after.startswith(before) and "  - id: cuihu\n    community_name: 翠湖苑\n" in after
    assert 'fee_per_m2: "2.60"' in after  # quoted: the file is read as YAML 1.1, where 2.60 is a number
    listed = client.get("/api/admin/communities").json()
    added = next(c for c in listed["communities"] if c["id"] == "cuihu")
    assert added["values"]["fee_per_m2"] == "2.60" and added["values"]["office_phone"] == "0755-2345 6789"
    with server.app.state.services.db.session() as session:
        assert session.get(CommunityRow, "cuihu").name == "翠湖苑"
    resident = httpx.Client(base_url=server.url, timeout=60)  # the new 小区's link answers with its own phone
    link = sign_community_link(server.settings.secret_key, "cuihu")
    assert resident.post("/api/widget/session", params={"c": link}).json()["community"] == "cuihu"
    reply = resident.post("/api/widget/messages", json={"text": "物业电话是多少"}).json()["replies"]
    assert "0755-2345 6789" in "\n".join(x["text"] for x in reply)


def test_an_edit_changes_only_its_lines_and_a_stale_version_is_409(server):
    client = signed_in(server)
    jinxiu, version = values_of(client, "jinxiu")
    before = file_text(server)
    r = client.put("/api/admin/communities/jinxiu", json={"values": {**jinxiu, "office_phone": "020-8888 6602"},
                                                          "version": version})
    assert r.status_code == 200, r.text
    after = file_text(server)
    assert after == before.replace("office_phone: 020-8888 6601", "office_phone: 020-8888 6602")
    assert "# statutory holidays (chinese-calendar)" in after  # comments kept
    stale = client.put("/api/admin/communities/jinxiu", json={"values": jinxiu, "version": version})
    assert stale.status_code == 409 and stale.json()["code"] == "community_edit_conflict"
    assert "已被他人修改" in stale.json()["detail"] and file_text(server) == after
    assert client.put("/api/admin/communities/nosuch", json={"values": jinxiu}).status_code == 404


@pytest.mark.parametrize("changes, field, words", [
    ({"office_phone": "打电话给我"}, "office_phone", "物业电话"),
    ({"emergency_phone": "12"}, "emergency_phone", "紧急电话"),
    ({"agent_hours": "22:00-08:00"}, "agent_hours", "人工客服时间"),
    ({"agent_hours": "8点到晚上"}, "agent_hours", "人工客服时间"),
    ({"buildings": "1、二"}, "buildings", "楼栋"),
    ({"office_address": None}, "office_address", "缺少"),
    ({"community_name": "  "}, "community_name", "不能为空"),
    ({"time_zone": "Mars/Olympus"}, None, "时区"),
])
def test_bad_values_are_422_in_chinese_naming_the_field_and_nothing_is_written(server, changes, field, words):
    client = signed_in(server)
    values, version = new_values(client, **changes)
    values = {k: v for k, v in values.items() if v is not None}
    before = file_text(server)
    r = client.post("/api/admin/communities", json={"id": "badone", "values": values, "version": version})
    assert r.status_code == 422 and r.json()["code"] == "community_invalid", r.text
    assert words in r.json()["detail"] and (field is None or field in r.json()["detail"])
    assert file_text(server) == before
    assert "badone" not in [c["id"] for c in client.get("/api/admin/communities").json()["communities"]]


def test_a_duplicate_or_malformed_id_is_refused_and_nothing_is_written(server):
    client = signed_in(server)
    values, version = new_values(client)
    before = file_text(server)
    r = client.post("/api/admin/communities", json={"id": "jinxiu", "values": values, "version": version})
    assert r.status_code == 409 and r.json()["code"] == "community_id_taken" and "jinxiu" in r.json()["detail"]
    for bad in ("Jinxiu", "jin_xiu", "1abc", "锦绣"):
        r = client.post("/api/admin/communities", json={"id": bad, "values": values, "version": version})
        assert r.status_code == 422 and "条目 ID" not in r.json()["detail"] and "小区 ID" in r.json()["detail"], r.text
    assert file_text(server) == before


def test_a_rename_is_live_everywhere_and_a_name_in_use_is_refused(server):
    client = signed_in(server)
    binjiang, version = values_of(client, "binjiang")
    before = file_text(server)
    taken = client.put("/api/admin/communities/binjiang", json={"values": {**binjiang, "community_name": " 锦绣花园"},
                                                               "version": version})
    assert taken.status_code == 409 and taken.json()["code"] == "community_name_taken"
    assert "锦绣花园" in taken.json()["detail"] and "jinxiu" in taken.json()["detail"] and file_text(server) == before
    r = client.put("/api/admin/communities/binjiang", json={"values": {**binjiang, "community_name": "滨江壹号花园"},
                                                           "version": version})
    assert r.status_code == 200, r.text
    assert file_text(server) == before.replace("community_name: 滨江壹号\n", "community_name: 滨江壹号花园\n")
    with server.app.state.services.db.session() as session:
        assert session.get(CommunityRow, "binjiang").name == "滨江壹号花园"  # imports find it by its new name
    desk = client.get("/api/staff/work-orders").json()["communities"]
    assert {"id": "binjiang", "name": "滨江壹号花园"} in desk
    assert next(c for c in server.app.state.services.knowledge.current.communities
                if c.id == "binjiang").name == "滨江壹号花园"  # answers render with it at once


def test_retiring_keeps_everything_and_only_stops_new_residents_and_staff(server):
    client = signed_in(server)
    version = client.get("/api/admin/communities").json()["version"]
    before = file_text(server)
    with server.app.state.services.db.session() as session:
        kept = session.query(Household).filter_by(community_id="binjiang").count()
    assert kept > 0
    first = client.post("/api/admin/communities/jinxiu/retire", json={"version": version})
    assert first.status_code == 409 and first.json()["code"] == "community_retire_refused" and "第一个" in first.json()["detail"]
    assert client.post("/api/admin/communities/nosuch/retire", json={}).status_code == 404
    r = client.post("/api/admin/communities/binjiang/retire", json={"version": version})
    assert r.status_code == 200, r.text
    assert next(c for c in r.json()["communities"] if c["id"] == "binjiang")["retired"] is True
    assert file_text(server) == before.replace("  - id: binjiang\n", "  - id: binjiang\n    retired: true\n")
    stale = client.post("/api/admin/communities/binjiang/restore", json={"version": version})
    assert stale.status_code == 409 and stale.json()["code"] == "community_edit_conflict"
    with server.app.state.services.db.session() as session:  # nothing deleted
        assert session.query(Household).filter_by(community_id="binjiang").count() == kept
        assert session.get(CommunityRow, "binjiang") is not None
    resident = httpx.Client(base_url=server.url, timeout=60)
    started = resident.post("/api/widget/session",
                            params={"c": sign_community_link(server.settings.secret_key, "binjiang")}).json()
    assert started["community_link"] == "retired" and started["community"] is None
    staff = client.post("/api/admin/staff", json={"username": "bj_new", "display_name": "新客服", "role": "agent",
                                                  "password": "Qiuyue-2026!", "community_id": "binjiang"})
    assert staff.status_code == 422 and staff.json()["code"] == "unknown_community"
    names = {c["id"]: c["name"] for c in client.get("/api/admin/staff").json()["communities"]}
    assert names["binjiang"].endswith("（已停用）")  # its members keep it, shown as retired
    back = client.post("/api/admin/communities/binjiang/restore", json={})
    assert back.status_code == 200 and file_text(server) == before
    assert resident.post("/api/widget/session", params={"c": sign_community_link(server.settings.secret_key,
                                                                                  "binjiang")}).json()["community_link"] == "valid"


def sla_text(server) -> str:
    return (server.settings.data_dir / "sla.yml").read_text(encoding="utf-8")


@pytest.mark.parametrize("row, words", [
    ({"response": "两小时"}, "“水电 · 一般”的响应时限“两小时”无效"),
    ({"completion": "0m"}, "完成时限“0m”无效"),
    ({"response": "3h", "completion": "2h"}, "完成时限短于响应时限"),
    ({"category": "暖气"}, "类别“暖气”不存在"),
    ({"urgency": "soon"}, "紧急程度“soon”不存在"),
])
def test_bad_time_limits_are_422_in_chinese_and_nothing_is_written(server, row, words):
    client = signed_in(server)
    current = client.get("/api/admin/communities/jinxiu/sla").json()
    before = sla_text(server)
    rows = [{k: r[k] for k in ("category", "urgency", "response", "completion")} for r in current["rows"]]
    rows[0] = {**rows[0], **row}
    r = client.put("/api/admin/communities/jinxiu/sla", json={"rows": rows, "version": current["version"]})
    assert r.status_code == 422 and r.json()["code"] == "sla_invalid" and words in r.json()["detail"], r.text
    assert sla_text(server) == before


def test_a_communitys_time_limits_are_edited_live_and_the_rest_of_the_file_is_kept(server):
    client = signed_in(server)
    current = client.get("/api/admin/communities/jinxiu/sla").json()
    water = next(r for r in current["rows"] if (r["category"], r["urgency"]) == ("水电", "normal"))
    assert (water["response"], water["completion"], water["own"]) == ("2h", "1d", False)
    before = sla_text(server)
    rows = [{k: r[k] for k in ("category", "urgency", "response", "completion")} for r in current["rows"]]
    rows = [{**r, "response": "1h", "completion": "12h"} if (r["category"], r["urgency"]) == ("水电", "normal") else r
            for r in rows]
    r = client.put("/api/admin/communities/jinxiu/sla", json={"rows": rows, "version": current["version"]})
    assert r.status_code == 200, r.text
    water = next(x for x in r.json()["rows"] if (x["category"], x["urgency"]) == ("水电", "normal"))
    assert (water["response"], water["completion"], water["own"]) == ("1h", "12h", True)
    after = sla_text(server)
    assert after.startswith(before.rstrip("\n")) and after.endswith("  jinxiu:\n    水电:\n      normal: {response: 1h, completion: 12h}\n")
    assert sla.current(server.settings.data_dir / "sla.yml").times("jinxiu", "水电", "normal") == \
        (dt.timedelta(hours=1), dt.timedelta(hours=12))  # new orders get it at once
    stale = client.put("/api/admin/communities/jinxiu/sla", json={"rows": rows, "version": current["version"]})
    assert stale.status_code == 409 and stale.json()["code"] == "sla_edit_conflict" and sla_text(server) == after
    defaults = [{"category": x["category"], "urgency": x["urgency"], "response": x["default_response"],
                 "completion": x["default_completion"]} for x in r.json()["rows"]]
    back = client.put("/api/admin/communities/jinxiu/sla", json={"rows": defaults})  # the default again: no block
    assert back.status_code == 200 and sla_text(server) == before
    assert client.get("/api/admin/communities/nosuch/sla").status_code == 404
