"""Polls (投票).

Admins create a poll for a 小区 or some of its buildings: a question, 2–6 options, the window it is open in, and
who has a vote — each bound household (``per="household"``: one vote whoever of the family votes) or each
resident's chat identity (``per="resident"``). The chat offers it (rule 10p when the resident asks about a vote,
a ``/poll <id>`` button from a notice that links to it) with one ``/vote <id> <n>`` button per option; on WeChat,
which shows no buttons, the options are numbered and a digit typed right after the offer is that button
(bot/routing/router.py rule 0). A second vote is refused politely, saying what was chosen: a vote is not changed,
so the counts admins watch never move backwards. The one vote is the ``uq_poll_vote_voter`` unique constraint.
Admins read the counts live and as CSV; residents see them once the poll closes when ``show_results`` is set.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Dict, List, Optional

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.errors import NotFound, WuyeError, check_text
from bot.core.localtime import iso, to_local
from bot.outages.notices import NoticeTimeInvalid, UnknownBuildings, UnknownCommunity, check_in_service, \
    community_buildings, parse_local_time, scope_label, time_zone_of
from bot.storage.models import Community, Poll, PollVote, Staff
from bot.turn.context import Button

PER = {"household": "每户一票", "resident": "每人一票"}
STATE_LABELS = {"scheduled": "未开始", "open": "进行中", "closed": "已结束"}
MIN_OPTIONS, MAX_OPTIONS, MAX_OPTION_CHARS, MAX_QUESTION = 2, 6, 50, 200
MAX_WINDOW = dt.timedelta(days=90)


class PollNotFound(NotFound):
    code, message = "poll_not_found", "找不到这个投票"


class PollInvalid(WuyeError):
    status, code, message = 422, "poll_invalid", "投票内容不正确"


class EmptyPollQuestion(PollInvalid):
    code, message = "poll_question_empty", "投票问题不能为空"


class PollQuestionTooLong(PollInvalid):
    code, message = "poll_question_too_long", f"投票问题太长了，请控制在 {MAX_QUESTION} 个字以内"


class PollOptionsInvalid(PollInvalid):
    code, message = "poll_options_invalid", \
        f"选项需要 {MIN_OPTIONS}–{MAX_OPTIONS} 个，每个 1–{MAX_OPTION_CHARS} 个字，且不能重复"


class PollPerInvalid(PollInvalid):
    code, message = "poll_per_invalid", "投票方式只能是：household（每户一票）或 resident（每人一票）"


class PollWindowInvalid(PollInvalid):
    code, message = "poll_window_invalid", "截止时间必须晚于开始时间"


class PollWindowTooLong(PollInvalid):
    code, message = "poll_window_too_long", "投票时间不能超过 90 天"


class PollTimeInvalid(PollInvalid):
    code = "poll_time_invalid"


class PollClosed(WuyeError):
    status, code, message = 409, "poll_closed", "这个投票已经结束了"


# --- admins -------------------------------------------------------------------------------------------------------
def clean(session: Session, kb: Any, data: Dict[str, Any]) -> Dict[str, Any]:
    """The checked values of a new poll: each problem is a typed Chinese 422, and nothing is stored."""
    community_id = data.get("community_id")
    known = {c.id: c for c in kb.communities}
    if not isinstance(community_id, str) or community_id not in known or session.get(Community, community_id) is None:
        raise UnknownCommunity(community=str(community_id or "（未填写）")[:32])
    check_in_service(known[community_id])
    question = data.get("question") if isinstance(data.get("question"), str) else ""
    if not question.strip():
        raise EmptyPollQuestion()
    if len(question.strip()) > MAX_QUESTION:
        raise PollQuestionTooLong()
    question = check_text(question.strip(), MAX_QUESTION)
    raw = data.get("options") if isinstance(data.get("options"), list) else []
    options = [o.strip() for o in raw if isinstance(o, str)]
    if len(options) != len(raw) or not MIN_OPTIONS <= len(options) <= MAX_OPTIONS or \
            any(not o or len(o) > MAX_OPTION_CHARS for o in options) or len(set(options)) != len(options):
        raise PollOptionsInvalid()
    options = [check_text(o, MAX_OPTION_CHARS) for o in options]
    per = data.get("per") or "household"
    if per not in PER:
        raise PollPerInvalid()
    buildings = sorted({int(b) for b in (data.get("buildings") or [])})
    unknown = [b for b in buildings if b not in community_buildings(session, community_id)]
    if unknown:
        raise UnknownBuildings(community=known[community_id].name, buildings="、".join(f"{b}栋" for b in unknown))
    time_zone = known[community_id].values.get("time_zone") or "Asia/Shanghai"
    try:
        opens_at = parse_local_time(data.get("opens_at"), "开始时间", time_zone)
        closes_at = parse_local_time(data.get("closes_at"), "截止时间", time_zone)
    except NoticeTimeInvalid as exc:  # the notices' reading of a time; the poll's own code
        raise PollTimeInvalid(exc.message) from None
    if closes_at <= opens_at:
        raise PollWindowInvalid()
    if closes_at - opens_at > MAX_WINDOW:
        raise PollWindowTooLong()
    return {"community_id": community_id, "question": question, "options": options, "per": per,
            "buildings": buildings, "opens_at": opens_at, "closes_at": closes_at,
            "show_results": bool(data.get("show_results"))}


def create(session: Session, kb: Any, data: Dict[str, Any], staff: Optional[Staff], now: dt.datetime) -> Poll:
    poll = Poll(**clean(session, kb, data), created_by=staff.id if staff else None, created_at=now)
    session.add(poll)
    session.flush()
    return poll


def get(session: Session, poll_id: int) -> Poll:
    poll = session.get(Poll, poll_id)
    if poll is None:
        raise PollNotFound()
    return poll


def close(session: Session, poll_id: int, now: dt.datetime) -> Poll:
    """End the poll now (votes after this are refused)."""
    poll = get(session, poll_id)
    if poll.closes_at <= now:
        raise PollClosed()
    poll.closes_at = max(now, poll.opens_at)
    session.flush()
    return poll


def state_of(poll: Poll, now: dt.datetime) -> str:
    if now < poll.opens_at:
        return "scheduled"
    return "open" if now < poll.closes_at else "closed"


def counts(session: Session, poll: Poll) -> List[int]:
    """Votes per option, in the options' order."""
    found = dict(session.execute(select(PollVote.option, func.count()).where(PollVote.poll_id == poll.id)
                                 .group_by(PollVote.option)).all())
    return [int(found.get(i, 0)) for i in range(1, len(poll.options) + 1)]


def poll_json(session: Session, poll: Poll, kb: Any, now: dt.datetime) -> Dict[str, Any]:
    tz = time_zone_of(kb, poll.community_id)
    votes = counts(session, poll)
    state = state_of(poll, now)
    try:
        community = kb.community(poll.community_id).name
    except (KeyError, AttributeError):
        community = poll.community_id
    return {"id": poll.id, "community_id": poll.community_id, "community": community, "buildings": poll.buildings,
            "scope": scope_label(poll.buildings), "question": poll.question, "per": poll.per,
            "per_label": PER[poll.per], "opens_at": iso(poll.opens_at, tz), "closes_at": iso(poll.closes_at, tz),
            "show_results": poll.show_results, "state": state, "state_label": STATE_LABELS[state],
            "options": [{"number": i + 1, "text": text, "votes": votes[i]} for i, text in enumerate(poll.options)],
            "total": sum(votes)}


def listing(session: Session, kb: Any, now: dt.datetime) -> List[Dict[str, Any]]:
    return [poll_json(session, p, kb, now) for p in session.scalars(select(Poll).order_by(Poll.id.desc()))]


def results_csv(session: Session, poll: Poll) -> str:
    """选项,票数,占比 per option and a total row (UTF-8 with BOM at the caller, for Excel)."""
    votes = counts(session, poll)
    total = sum(votes)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["投票问题", poll.question])
    writer.writerow(["选项", "票数", "占比"])
    for text, n in zip(poll.options, votes):
        writer.writerow([text, n, f"{(n / total * 100 if total else 0):.1f}%"])
    writer.writerow(["合计", total, "100.0%" if total else "0.0%"])
    return out.getvalue()


# --- residents ----------------------------------------------------------------------------------------------------
def covers(poll: Poll, building: Optional[int]) -> bool:
    """A poll for the whole 小区 covers everyone in it; one for some buildings only a resident known to live there."""
    return not poll.buildings or (building is not None and building in poll.buildings)


def _building(ctx: Any) -> Optional[int]:
    return ctx.household.building if ctx.household is not None else None


def open_for(ctx: Any) -> List[Poll]:
    """The polls open now that cover the resident (their 小区; their building for a poll of some buildings)."""
    query = select(Poll).where(Poll.community_id == ctx.community_id, Poll.opens_at <= ctx.now,
                               Poll.closes_at > ctx.now).order_by(Poll.id)
    return [p for p in ctx.session.scalars(query) if covers(p, _building(ctx))]


RESULTS_SHOWN_FOR = dt.timedelta(days=7)  # a closed poll's results are offered (show_results) this long


def shown_closed(ctx: Any) -> List[Poll]:
    """Polls covering the resident closed in the last RESULTS_SHOWN_FOR whose results residents may see."""
    query = select(Poll).where(Poll.community_id == ctx.community_id, Poll.show_results.is_(True),
                               Poll.closes_at <= ctx.now, Poll.closes_at > ctx.now - RESULTS_SHOWN_FOR) \
        .order_by(Poll.closes_at.desc())
    return [p for p in ctx.session.scalars(query) if covers(p, _building(ctx))]


def any_to_offer(ctx: Any) -> bool:
    """Whether rule 10p has a poll to talk about: one open, or one just closed whose results are shown."""
    return bool(open_for(ctx)) or bool(shown_closed(ctx))


def _voter(ctx: Any, poll: Poll) -> Optional[str]:
    if poll.per == "resident":
        return f"i{ctx.identity.id}"
    return f"h{ctx.household.id}" if ctx.household is not None else None


def _vote_of(ctx: Any, poll: Poll) -> Optional[PollVote]:
    voter = _voter(ctx, poll)
    if voter is None:
        return None
    return ctx.session.scalar(select(PollVote).where(PollVote.poll_id == poll.id, PollVote.voter == voter))


def _results_text(ctx: Any, poll: Poll) -> str:
    votes = counts(ctx.session, poll)
    total = sum(votes)
    lines = [f"{text}：{n} 票" + (f"（{n / total * 100:.0f}%）" if total else "") for text, n in zip(poll.options, votes)]
    return f"投票“{poll.question}”已结束，共 {total} 票：\n" + "\n".join(lines)


# Binding has no command of its own: it is the first step of the fee look-up, so that is what the resident is told
# to send (a phrase the model reads as fee_lookup with high confidence); "投票" afterwards offers the poll again.
BIND_FIRST = "需要先验证您的房屋：请发送“查一下我家物业费”，按提示输入房号和验证码；验证后说“投票”即可参加。"


def offer(ctx: Any, poll_id: Optional[str] = None) -> None:
    """Offer a poll: the one a button names, else the first open one covering the resident they have not voted
    in. Each option is a ``/vote`` button and a number (typed on WeChat)."""
    if poll_id:
        poll = ctx.session.get(Poll, int(poll_id)) if poll_id.isdigit() and len(poll_id) < 10 else None
        if poll is None or poll.community_id != ctx.community_id:
            ctx.say("没有找到这个投票，可能不是您所在小区的投票。")
            return
        candidates = [poll]
    else:
        candidates = open_for(ctx) or shown_closed(ctx)
    poll = next((p for p in candidates if _vote_of(ctx, p) is None), candidates[0] if candidates else None)
    if poll is None:
        ctx.say("目前没有正在进行的投票。")
        return
    state = state_of(poll, ctx.now)
    if state == "closed":
        ctx.say(_results_text(ctx, poll) if poll.show_results else f"投票“{poll.question}”已经结束了，谢谢关注。")
        return
    if state == "scheduled":
        ctx.say(f"投票“{poll.question}”还没有开始，开始时间：{to_local(poll.opens_at, ctx.time_zone):%m月%d日 %H:%M}。")
        return
    mine = _vote_of(ctx, poll)
    if mine is not None:
        ctx.say(f"您{'家' if poll.per == 'household' else ''}已经参加了投票“{poll.question}”"
                f"（选择：{poll.options[mine.option - 1]}），谢谢参与！")
        return
    lines = "\n".join(f"{i}. {text}" for i, text in enumerate(poll.options, 1))
    ctx.say(f"【投票】{poll.question}\n{lines}\n{PER[poll.per]}，"
            f"截止 {to_local(poll.closes_at, ctx.time_zone):%m月%d日 %H:%M}。请点选项，或直接回复选项的数字。",
            [Button(text, f"/vote {poll.id} {i}") for i, text in enumerate(poll.options, 1)])


def vote(ctx: Any, target: Optional[str]) -> None:
    """The resident's vote (``target``: "<poll id> <option number>"), checked: the poll open and covering them, a
    bound household for a per-household poll, and no earlier vote of the household or resident."""
    poll_part, _, option_part = (target or "").partition(" ")
    poll = ctx.session.get(Poll, int(poll_part)) if poll_part.isdigit() and len(poll_part) < 10 else None
    if poll is None or poll.community_id != ctx.community_id:
        ctx.say("没有找到这个投票，可能不是您所在小区的投票。")
        return
    state = state_of(poll, ctx.now)
    if state != "open":
        ctx.say(f"投票“{poll.question}”{'已经结束' if state == 'closed' else '还没有开始'}，这次没有记录。")
        return
    option = int(option_part) if option_part.isdigit() and len(option_part) < 3 else 0
    if not 1 <= option <= len(poll.options):
        ctx.say(f"没有这个选项，请回复 1–{len(poll.options)} 之间的数字。")
        return
    if poll.per == "household" and ctx.household is None:
        ctx.say(f"这个投票每户一票，{BIND_FIRST}")
        return
    if not covers(poll, _building(ctx)):
        ctx.say(f"这个投票只面向{scope_label(poll.buildings)}的住户，{BIND_FIRST}" if ctx.household is None
                else f"这个投票只面向{scope_label(poll.buildings)}的住户，您的房屋不在其中。")
        return
    earlier = _vote_of(ctx, poll)
    if earlier is None:
        try:
            with ctx.session.begin_nested():  # the unique (poll, voter): another member of the family at the same time
                ctx.session.add(PollVote(poll_id=poll.id, voter=_voter(ctx, poll), option=option,
                                         identity_id=ctx.identity.id, channel=ctx.conversation.channel,
                                         created_at=ctx.now))
        except IntegrityError:
            earlier = _vote_of(ctx, poll)
        else:
            after = "投票结束后，问我“投票结果”就能看到结果。" if poll.show_results else ""
            ctx.say(f"投票成功！您选择了“{poll.options[option - 1]}”，感谢参与。{after}")
            return
    who = "您家已经投过票了" if poll.per == "household" else "您已经投过票了"
    ctx.say(f"{who}（选择：{poll.options[earlier.option - 1]}），{PER[poll.per]}，这次没有重复记录。感谢参与！")
