"""An admin growing the knowledge base on the first day, over real HTTP: the failed questions name the resident's
own question (other residents write in between), leave the list once an entry has them, and a bad entry is refused
in Chinese naming the field and the other entry."""
from __future__ import annotations

import re

import httpx
import pytest

from bot.tools.devserver import LiveServer
from tests.clients import signed_in
from tests.integration.test_work_orders import resident
from tests.integration.test_work_orders import say as widget_say


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    tmp = tmp_path_factory.mktemp("kb-walk")
    with LiveServer(tmp, settings, parser, models_dir=tmp / "models") as live:
        yield live


def say(client: httpx.Client, text: str) -> str:
    return "\n".join(reply["text"] for reply in widget_say(client, text)["replies"])


def failed_examples(admin: httpx.Client):
    groups = admin.get("/api/admin/failures").json()["groups"]
    return [e for g in groups for e in g["examples"]]


def test_a_rejected_answer_reports_the_residents_question_though_others_wrote_in_between(server):
    admin, one, other = signed_in(server), resident(server), resident(server)
    assert "垃圾" in say(one, "垃圾几点扔")
    say(other, "物业几点上班")  # another resident's message lands between the question and its rejection
    say(other, "快递放哪里")
    say(one, "没有解决我的问题")
    examples = failed_examples(admin)
    assert any(e["text"] == "垃圾几点扔" and e["reason"] == "not_helpful" for e in examples), examples
    assert not any(e["text"] == "没有解决我的问题" for e in examples)  # the rejection's words are no question to add


def test_failed_questions_leave_the_list_once_an_entry_has_them(server):
    admin = signed_in(server)
    say(resident(server), "无人机能在小区里飞吗")
    assert any(e["text"] == "无人机能在小区里飞吗" for e in failed_examples(admin))
    r = admin.post("/api/admin/faq", json={"title": "小区内放飞无人机", "answer": "小区内禁止放飞无人机，请到空旷场地。",
                                           "questions": ["无人机能在小区里飞吗", "小区可以放无人机吗", "能在楼下飞无人机吗"]})
    assert r.status_code == 201, r.text
    assert not any(e["text"] == "无人机能在小区里飞吗" for e in failed_examples(admin))
    retired = admin.post(f"/api/admin/faq/{r.json()['entry']['id']}/retire", json={})
    assert retired.status_code == 200  # retired, the entry answers nothing: its question is failed again
    assert any(e["text"] == "无人机能在小区里飞吗" for e in failed_examples(admin))


def test_bad_entries_are_refused_in_chinese_naming_the_field_and_nothing_is_saved(server):
    admin = signed_in(server)
    custom = server.settings.faq_dir / "custom.yml"
    before = custom.read_text(encoding="utf-8") if custom.exists() else None
    base = {"title": "充电桩故障报修", "answer": "请拨打{office_phone}联系工程部。",
            "questions": ["充电桩坏了找谁", "充电桩充不进电怎么办", "地库充电桩没反应"]}

    r = admin.post("/api/admin/faq", json=dict(base, answer="请拨打{office_phone联系"))
    assert r.status_code == 422 and "花括号不成对" in r.text
    assert not re.search(r"[A-Za-z]{4,}", "".join(r.json()["problems"]).replace("data/faq/custom.yml", "")
                         .replace("chong_dian_zhuang_gu_zhang_bao_xiu", "")), r.json()  # Python's English is not shown

    r = admin.post("/api/admin/faq", json=dict(base, questions=base["questions"] + ["物业几点上班"]))
    assert r.status_code == 422
    problem = " ".join(r.json()["problems"])
    # both entries named by their titles too: the admin learns which entry already has the question
    assert "物业几点上班" in problem and "物业服务中心办公时间与地址" in problem and "充电桩故障报修" in problem, problem

    r = admin.post("/api/admin/faq", json=dict(base, questions=base["questions"] + ["问" * 201]))
    assert r.status_code == 413 and r.json()["detail"] == "问法太长了，请控制在 200 个字以内"
    r = admin.post("/api/admin/faq", json=dict(base, title="x" * 50, answer="答" * 5001))
    assert r.status_code in (413, 422) and r.json()["detail"].startswith("答案")
    assert (custom.read_text(encoding="utf-8") if custom.exists() else None) == before  # nothing half saved


def test_a_phrasing_typed_twice_is_stored_once(server):
    admin = signed_in(server)
    r = admin.post("/api/admin/faq", json={"title": "游泳池开放时间", "answer": "泳池夏季 9:00-21:00 开放。",
                                           "questions": ["泳池几点开", "泳池几点开？", " 泳池几点开 ", "游泳池开放时间"]})
    assert r.status_code == 201, r.text
    entry = r.json()["entry"]
    assert entry["questions"] == ["泳池几点开", "游泳池开放时间"]
    r = admin.put(f"/api/admin/faq/{entry['id']}", json={"title": entry["title"], "answer": entry["answer"],
                                                         "questions": entry["questions"] + ["游泳池开放时间"],
                                                         "version": entry["version"]})
    assert r.status_code == 200 and r.json()["entry"]["questions"] == ["泳池几点开", "游泳池开放时间"]


def test_a_title_in_use_and_a_retired_entry_are_refused_by_name(server):
    admin = signed_in(server)
    r = admin.post("/api/admin/faq", json={"title": "养宠物规定", "answer": "见公告。",
                                           "questions": ["宠物新规定是什么", "宠物登记新规", "新的养狗规定"]})
    assert r.status_code == 422 and "标题“养宠物规定”已是条目“pets”的标题" in r.json()["problems"][0]
    pets = admin.get("/api/admin/faq/pets").json()
    r = admin.put("/api/admin/faq/pets", json={"title": pets["title"], "questions": pets["questions"],
                                               "answer": pets["answer"], "version": pets["version"]})
    assert r.status_code == 200  # its own title is no clash

    r = admin.post("/api/admin/faq", json={"title": "电动车停放", "answer": "请停在非机动车棚。",
                                           "questions": ["电动车停哪里", "电瓶车可以推上楼吗", "电动车棚在哪"]})
    entry = r.json()["entry"]
    assert admin.post(f"/api/admin/faq/{entry['id']}/retire", json={}).status_code == 200
    say(resident(server), "自行车棚满了停哪")
    failed = next(e for e in failed_examples(admin) if e["text"] == "自行车棚满了停哪")
    r = admin.post(f"/api/admin/failures/{failed['message_id']}/add-to-faq", json={"faq_id": entry["id"]})
    assert r.status_code == 422 and "已停用" in r.json()["problems"][0]
    assert "自行车棚满了停哪" not in admin.get(f"/api/admin/faq/{entry['id']}").json()["questions"]
