"""FAQ answers, several requests in one message, follow-up questions, clarify and honest refusals, through the engine with the real model and a real database."""
from __future__ import annotations

import sqlalchemy as sa

from bot.reporting import reports
from bot.storage.models import Message
from tests.unit.conversation.world import stored_route


def test_faq_answer_uses_the_communitys_values(world):
    r = world.say("物业电话是多少")
    assert "020-8888 6601" in world.texts(r)
    r2 = world.engine.handle("web", "r-binjiang", "物业电话是多少", community_id="binjiang")
    assert "0571-8765 4300" in world.texts(r2)


def test_a_channel_without_a_community_follows_the_community_the_resident_names(world):
    """WeChat (one Official Account for the company) and integrations that send no community say nothing of the
    小区: a resident who names theirs gets its emergency number, its answers, and binds to its households."""
    r = world.engine.handle("wechat", "oBinjiang1", "滨江壹号5栋电梯困人了，快来！")
    assert "0571-8765 4399" in world.texts(r) and "020-8888 6699" not in world.texts(r)
    r = world.engine.handle("wechat", "oBinjiang1", "物业电话是多少")  # the 小区 named once is kept
    assert "0571-8765 4300" in world.texts(r)
    household = world.household(community_id="binjiang")
    world.engine.handle("wechat", "oBinjiang2", "我是滨江壹号的业主，查一下我家物业费")
    world.engine.handle("wechat", "oBinjiang2", f"{household.building}栋{household.unit}单元{household.room}室")
    assert world.sms.sent[-1][0] == household.phone  # that 小区's household, not the same room of the first 小区
    r = world.engine.handle("wechat", "oJinxiu1", "物业电话是多少")  # naming none: the first 小区, as before
    assert "020-8888 6601" in world.texts(r)
    r = world.engine.handle("web", "r-linked", "滨江壹号5栋电梯困人了，快来！", community_id="jinxiu")
    assert "020-8888 6699" in world.texts(r)  # the channel's own 小区 (the widget's signed link) still decides


def test_clarify_ladder_ends_in_handoff(world):
    world.agents_online()
    r1 = world.say("那个东西怎么弄啊")
    assert r1.replies[0].buttons and r1.handoff is None
    assert any(b.payload == "/handoff" for b in r1.replies[0].buttons)
    r2 = world.say("这个怎么搞")
    assert r2.handoff and r2.handoff["priority"] == "normal" and r2.handoff["status"] == "queued"


def test_rejecting_answers_twice_hands_off(world):
    world.agents_online()
    world.say("垃圾几点扔")
    world.say("没有解决我的问题")
    world.say("物业几点上班")
    r = world.say("没有解决我的问题")
    assert r.handoff and r.handoff["priority"] == "normal"


def test_several_requests_in_one_message_are_all_acted_on(world):
    text = world.texts(world.say("物业费多少钱一平？另外厨房水龙头漏水"))
    assert "2.80" in text  # the fee standard answer
    assert "地点" in text or "紧急" in text  # and the repair flow started


def test_a_story_before_the_question_is_context_not_a_request(world):
    result = world.say("上周楼上装修吵得我睡不着，我老公还上去吵了一架。想问一下装修几点可以开始？", sender="story")
    assert result.handoff is None  # the complaint in the story does not open a handoff
    assert world.engine.kb_provider().render("renovation_hours") == result.replies[0].text


def test_request_segments_keep_requests_and_drop_the_story():
    from bot.routing.router import request_segments

    assert request_segments("物业费多少？另外厨房漏水") == ["物业费多少", "厨房漏水"]
    assert request_segments("上周楼上装修，吵得不行。想问一下装修几点可以开始？") == ["想问一下装修几点可以开始"]
    assert request_segments("电梯困人了！另外我要投诉保安") == ["电梯困人了", "我要投诉保安"]
    assert request_segments("物业费多少另外厨房漏水") == ["物业费多少", "厨房漏水"]  # voice input: no punctuation
    # 另外 after a modal is "separately", not "besides": the question keeps its topic
    assert request_segments("装修押金多少？清运费要另外交吗") == ["装修押金多少", "清运费要另外交吗"]
    assert request_segments("快递放哪 需不需要另外付钱") == ["快递放哪 需不需要另外付钱"]
    # 还有 / 顺便 inside a clause join words; the thanks and the story are not requests
    assert request_segments("楼下草坪啥时候打药呀🤔 家里有娃还有只狗，怕碰到") == ["楼下草坪啥时候打药呀🤔 家里有娃还有只狗，怕碰到"]
    assert request_segments("以前都是去物业办公室交费，顺便把停车费也交了。现在物业费有哪些交法？麻烦你们了") == \
        ["现在物业费有哪些交法"]
    assert request_segments("孙子要来住，他的门禁卡我都给办好了。请问能装哪几家的宽带？") == ["请问能装哪几家的宽带"]


def test_two_questions_of_one_faq_get_its_answer_once(world):
    result = world.say("物业费多少钱一平？物业费是按建筑面积算的吗？", sender="one-faq-twice")
    answers = [b.payload for r in result.replies for b in r.buttons if b.payload.startswith("/not_helpful ")]
    assert answers == ["/not_helpful fee_standard"]


def test_a_detail_asked_in_the_same_message_is_the_first_questions_and_a_set_apart_question_its_own(world):
    """Rule 10d within one message: "是纸质的还是电子的，要去哪里领" after an invoice question in the same message
    is the invoice's detail (the invoice answer's words carry it), answered once, not the utilities-account FAQ;
    a part after 还有 / 另外 that is confident of another FAQ alone is its own question (``set_apart``)."""
    def answered(result):
        return [b.payload.split(" ", 1)[1] for r in result.replies for b in r.buttons
                if b.payload.startswith("/not_helpful ")]

    assert answered(world.say("请问交了物业费以后能开发票吗？是纸质的还是电子的，要去哪里领", sender="a")) == ["invoice"]
    assert answered(world.say("绿化多久修剪一次？还有狗能在草坪上跑吗", sender="b")) == ["greenery", "pets"]
    # no connector, but the part opens with its own subject (狗), which the greenery answer never mentions
    assert answered(world.say("绿化多久修剪一次？狗能在草坪上跑吗", sender="c")) == ["greenery", "pets"]
    assert answered(world.say("搬家那天得跟物业打招呼不？货梯让用不？", sender="d")) == ["move_in_out"]  # 货梯 is in it


def test_a_question_and_a_request_for_a_person_get_the_answer_and_the_person(world):
    result = world.say("业委会找谁啊？另外我要转人工", sender="two-requests")
    assert result.route["action"] == "several" and result.route["decision"] == "handoff"
    assert result.handoff is not None
    assert world.engine.kb_provider().render("owners_committee") == result.replies[0].text  # the answer comes first


def test_nonsense_is_a_failed_understanding(world):
    world.agents_online()
    r = world.say("啊啊啊啊")
    assert "没看懂" in world.texts(r) and "还有什么可以帮您" not in world.texts(r)
    assert stored_route(world, "啊啊啊啊")["failed"] is True
    r = world.say("asdfgh")
    assert r.handoff and r.handoff["status"] == "queued"
    assert "two failed understandings in a row" in stored_route(world, "asdfgh")["reasons"]


def test_out_of_scope_gets_an_honest_refusal_and_the_topic_menu(world):
    r = world.say("房价多少")
    assert "回答不了" in world.texts(r) and "2.80" not in world.texts(r)
    titles = [b.title for b in r.replies[0].buttons]
    assert {"查询物业费", "报修", "转人工客服"} <= set(titles)
    assert stored_route(world, "房价多少")["decision"] == "reject"


def test_the_same_answer_is_never_sent_twice_in_a_row(world):
    first = world.texts(world.say("小区可以养狗吗"))
    r = world.say("小区里可以养狗吗？")  # the same question again: the answer did not help
    assert world.texts(r) != first and "刚刚已经回答过" in world.texts(r)
    assert [b.payload for b in r.replies[0].buttons] == ["/handoff"]
    assert stored_route(world, "小区里可以养狗吗？")["action"] == "repeat"


def test_a_follow_up_question_gets_the_sentence_of_the_answer_it_asks_about(world):
    """Rule 10d: "补一张要多少钱" right after the access-card answer is a detail of that answer (not "answered
    already"); the fee's sentence is sent, the whole answer a button away."""
    world.say("门禁卡丢了怎么办")
    r = world.say("补一张要多少钱")
    route = stored_route(world, "补一张要多少钱")
    assert route["action"] == "detail" and route["target"] == "access_card" and not route["failed"]
    text = world.texts(r)
    assert "工本费" in text and "元" in text and "挂失后旧卡立即失效" not in text
    assert [b.payload for b in r.replies[0].buttons] == ["/faq access_card", "/not_helpful access_card"]
    assert "挂失后旧卡立即失效" in world.texts(world.say("/faq access_card"))  # the whole answer


def test_an_elliptical_follow_up_is_read_with_the_question_before_it(world):
    """Read alone, "是纸质的还是电子的，要去哪里领" is the utilities-account FAQ; after an invoice question it is
    about the invoice. A complete new question after an answer is read on its own."""
    world.say("发票怎么开")
    r = world.say("是纸质的还是电子的，要去哪里领")
    assert stored_route(world, "是纸质的还是电子的，要去哪里领")["target"] == "invoice"
    assert "发票" in world.texts(r)
    world.say("物业费多少钱一平")
    world.say("厨房水管漏水了要报修")
    assert stored_route(world, "厨房水管漏水了要报修")["action"] == "start_flow"


def test_a_short_new_question_after_an_answer_is_not_taken_for_its_detail(world):
    """Read with "物业中心几点下班" before it, "宽带报装找你们不" reads as office hours (0.80), yet broadband keeps
    0.19 and the office-hours answer has none of its words: it is read alone (FOLLOW_UP_KEEP_LOW). "顺便问下…"
    says a new question begins (NEW_QUESTION)."""
    world.say("物业中心几点下班")
    r = world.say("宽带报装找你们不")
    route = stored_route(world, "宽带报装找你们不")
    assert route["action"] != "detail" and route["target"] == "broadband"
    assert [b.payload for b in r.replies[-1].buttons][-1] == "/not_helpful broadband"
    world.say("停电前物业会提前通知吗", sender="other")
    world.say("顺便问下 电费在哪交啊", sender="other")
    route = stored_route(world, "顺便问下 电费在哪交啊")
    assert route["action"] != "detail" and route["target"] == "utilities_account"


def test_without_an_answer_before_it_a_message_is_read_alone(world):
    world.say("是纸质的还是电子的，要去哪里领")
    route = stored_route(world, "是纸质的还是电子的，要去哪里领")
    assert route["action"] != "detail" and not any("question" in r or "follow-up" in r for r in route["reasons"])


def test_rejected_answers_are_stored_as_failed_and_reported(world):
    world.agents_online()
    world.say("垃圾几点扔")
    world.say("没有解决我的问题")
    route = stored_route(world, "没有解决我的问题")
    assert route["action"] == "not_helpful" and route["failed"] is True
    from bot.reporting.reports import failures

    with world.db.session() as s:
        examples = [e for group in failures(s)["groups"] for e in group["examples"]]
    # the failed question is the one whose answer was rejected, not the words of the rejection
    assert any(e["text"] == "垃圾几点扔" and e["reason"] == "not_helpful" for e in examples)
    assert not any(e["text"] == "没有解决我的问题" for e in examples)


def test_thresholds_live_in_the_router_only():
    import bot.conversation.engine as engine
    import bot.routing.router as router

    for name in ("SWITCH_CONFIDENCE", "REJECTION", "EMERGENCY_INTENT_THRESHOLD", "CLARIFY_THRESHOLD"):
        assert not hasattr(engine, name) and hasattr(router, name)


def test_suggested_phrasings_of_an_entry_are_residents_own_wordings_not_yet_among_its_questions(world):
    """相似问推荐 (GET /api/admin/faq/{id}/suggestions): what residents asked that was read as the entry, minus its
    own questions; the same wording once (with its count), other wordings of the topic each on their own."""
    asked = ["交物业费都有哪些方式呀", "交物业费都有哪些方式", "物业费可以用支付宝交吗", "物业费怎么交"]
    for n, text in enumerate(asked):
        world.say(text, sender=f"s{n}")
    with world.db.session() as s:
        read_as = {m.text: (m.nlu.get("faq") or {}).get("id") for m in s.scalars(
            sa.select(Message).where(Message.sender == "resident", Message.text.in_(asked)))}
    entry = read_as["交物业费都有哪些方式"]
    assert entry and read_as["交物业费都有哪些方式呀"] == entry
    known = world.kb.entries[entry].questions
    with world.db.session() as s:
        suggested = reports.entry_suggestions(s, entry, known, world.engine.clock())
    texts = [x["text"] for x in suggested]
    same = [x for x in suggested if x["text"] in ("交物业费都有哪些方式呀", "交物业费都有哪些方式")]
    assert len(same) == 1 and same[0]["count"] == 2  # one wording, asked twice
    assert not any(t in known for t in texts)
    others = [t for t in asked[2:] if read_as[t] == entry and t not in known]
    assert all(t in texts for t in others), (texts, others)
