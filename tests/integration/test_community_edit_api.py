"""小区 onboarding over real HTTP (bot/api/communities.py): an admin adds and edits a 小区 in data/communities.yml;
each save is validated with the whole knowledge base, refused in Chinese naming the field with nothing written,
409 when based on a stale version, live at once (answers, the communities table), and the file round-trips."""
from __future__ import annotations

import httpx
import pytest

from bot.access.auth import sign_community_link
from bot.storage.models import Community as CommunityRow
from bot.tools.devserver import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    tmp = tmp_path_factory.mktemp("community-edit")
    with LiveServer(tmp, settings, parser, models_dir=tmp / "models") as live:
        yield live


def admin(server) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=60)
    client.post("/api/auth/login", json={"username": "admin", "password": "admin123"}).raise_for_status()
    return client


def new_values(client, **changes):
    """binjiang's values with a new name and phone: every value the answers need."""
    listed = client.get("/api/admin/communities").json()
    base = next(c for c in listed["communities"] if c["id"] == "binjiang")["values"]
    return {**base, "community_name": "翠湖苑", "office_phone": "0755-2345 6789", **changes}, listed["version"]


def file_text(server) -> str:
    return server.settings.communities_file.read_text(encoding="utf-8")


def test_an_added_community_is_appended_live_and_the_rest_of_the_file_is_byte_identical(server):
    client = admin(server)
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
    client = admin(server)
    listed = client.get("/api/admin/communities").json()
    jinxiu = next(c for c in listed["communities"] if c["id"] == "jinxiu")["values"]
    before = file_text(server)
    r = client.put("/api/admin/communities/jinxiu", json={"values": {**jinxiu, "office_phone": "020-8888 6602"},
                                                          "version": listed["version"]})
    assert r.status_code == 200, r.text
    after = file_text(server)
    assert after == before.replace("office_phone: 020-8888 6601", "office_phone: 020-8888 6602")
    assert "# statutory holidays (chinese-calendar)" in after  # comments kept
    stale = client.put("/api/admin/communities/jinxiu", json={"values": jinxiu, "version": listed["version"]})
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
    client = admin(server)
    values, version = new_values(client, **changes)
    values = {k: v for k, v in values.items() if v is not None}
    before = file_text(server)
    r = client.post("/api/admin/communities", json={"id": "badone", "values": values, "version": version})
    assert r.status_code == 422 and r.json()["code"] == "community_invalid", r.text
    assert words in r.json()["detail"] and (field is None or field in r.json()["detail"])
    assert file_text(server) == before
    assert "badone" not in [c["id"] for c in client.get("/api/admin/communities").json()["communities"]]


def test_a_duplicate_or_malformed_id_is_refused_and_nothing_is_written(server):
    client = admin(server)
    values, version = new_values(client)
    before = file_text(server)
    r = client.post("/api/admin/communities", json={"id": "jinxiu", "values": values, "version": version})
    assert r.status_code == 409 and r.json()["code"] == "community_id_taken" and "jinxiu" in r.json()["detail"]
    for bad in ("Jinxiu", "jin_xiu", "1abc", "锦绣"):
        r = client.post("/api/admin/communities", json={"id": bad, "values": values, "version": version})
        assert r.status_code == 422 and "条目 ID" not in r.json()["detail"] and "小区 ID" in r.json()["detail"], r.text
    assert file_text(server) == before
