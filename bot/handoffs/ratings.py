"""满意度评价: when an agent resolves a handoff the resident is offered a 1–5 rating (one per handoff).

The offer is a bot message with five buttons whose payloads are ``/rate <handoff_id> <score>``: the web widget
draws them as a rating card (score and an optional comment, posted to ``POST /api/widget/rating``); on WeChat
they read as lines "5 非常满意" and the resident types the digit, which the router takes as that button (only
right after the offer). Both ways end in :func:`rate`: the resident must own the conversation, the handoff must
be resolved, and it must not be rated yet (the unique constraint on ``ratings.handoff_id`` holds it across
instances).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.domain import HandoffStatus
from bot.core.errors import NotFound, WuyeError
from bot.storage.models import Conversation, Handoff, Message, Rating

SCORES: Dict[int, str] = {1: "非常不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "非常满意"}
PROMPT = "请为本次人工服务打分：点选下面的评分，或直接回复数字 1–5（5 分为非常满意）。"
THANKS = "感谢您的评价（{score} 分 · {label}）！我们会继续改进服务。还有其他问题可以随时问我。"
PAYLOAD = "/rate"


class RatingNotFound(NotFound):
    """No such handoff, or not one of this resident's conversations (the same answer: nothing is revealed)."""

    code, message = "rating_not_found", "找不到这次人工服务，无法评价"


class RatingNotOpen(WuyeError):
    status, code, message = 409, "rating_not_open", "这次人工服务还没有结束，结束后才能评价"


class AlreadyRated(WuyeError):
    status, code, message = 409, "already_rated", "您已经评价过这次服务了，感谢您的反馈"


class InvalidScore(WuyeError):
    status, code, message = 422, "invalid_score", "评分必须是 1 到 5 之间的整数"


def buttons(handoff_id: int) -> List[Dict[str, str]]:
    """The offer's five buttons (stored with the bot message)."""
    return [{"title": f"{score} {label}", "payload": f"{PAYLOAD} {handoff_id} {score}"} for score, label in SCORES.items()]


def offer(session: Session, handoff: Handoff, now: dt.datetime) -> Message:
    """The rating offer, stored as a bot message in the handoff's conversation (called by actions/handoff.resolve)."""
    message = Message(conversation_id=handoff.conversation_id, sender="bot", text=PROMPT, buttons=buttons(handoff.id),
                      created_at=now)
    session.add(message)
    return message


def parse_payload(arg: str) -> Optional[tuple]:
    """"<handoff_id> <score>" → (handoff_id, score), or None."""
    parts = arg.split()
    if len(parts) != 2 or not all(p.isdigit() and len(p) < 10 for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def rate(session: Session, identity_id: int, handoff_id: int, score: int, comment: Optional[str],
         now: dt.datetime) -> Rating:
    """Store the resident's rating of a resolved handoff of their own (typed errors otherwise)."""
    if not isinstance(score, int) or isinstance(score, bool) or score not in SCORES:
        raise InvalidScore()
    handoff = session.get(Handoff, handoff_id)
    conversation = session.get(Conversation, handoff.conversation_id) if handoff is not None else None
    if conversation is None or conversation.identity_id != identity_id:
        raise RatingNotFound()
    if handoff.status != HandoffStatus.RESOLVED:
        raise RatingNotOpen()
    if session.scalar(select(Rating.id).where(Rating.handoff_id == handoff_id)) is not None:
        raise AlreadyRated()
    rating = Rating(conversation_id=conversation.id, handoff_id=handoff.id, agent_id=handoff.agent_id, score=score,
                    comment=(comment or "").strip() or None, created_at=now)
    try:
        with session.begin_nested():  # two ratings at once: the unique constraint lets one in
            session.add(rating)
    except IntegrityError as exc:
        raise AlreadyRated() from exc
    return rating


def rate_in_chat(ctx: Any, target: str) -> None:
    """The chat way (a tapped button or a typed digit after the offer): rate and say so, or say why not."""
    parsed = parse_payload(target or "")
    if parsed is None:
        ctx.say("这个评分选项已经失效了。")
        return
    handoff_id, score = parsed
    try:
        rate(ctx.session, ctx.identity.id, handoff_id, score, None, ctx.now)
    except WuyeError as exc:
        ctx.say(exc.message)
        return
    ctx.say(THANKS.format(score=score, label=SCORES[score]))


def summary_text(score: int, comment: Optional[str]) -> str:
    """How a rating given on the widget's card is shown in the conversation (the resident's message)."""
    text = f"评价：{'★' * score}{'☆' * (5 - score)} {score} 分 · {SCORES[score]}"
    return text + (f"\n意见：{comment.strip()}" if comment and comment.strip() else "")
