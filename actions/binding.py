"""Binding a chat identity to a household: room number, then a verification code sent to the registered phone.

Flows that show household data call :func:`require_binding`; it drives the two questions inside the
calling flow's own state and returns the household once verified.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any, Dict, Optional

from sqlalchemy import select

from bot.access import limits
from bot.access.passwords import new_code
from bot.nlu.entities import find_rooms
from bot.storage.models import Household, VerificationCode
from bot.turn.context import Slot, TurnContext

CODE_TTL = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 5


def _hash(code: str, identity_id: int) -> str:
    return hashlib.sha256(f"{identity_id}:{code}".encode()).hexdigest()


def find_household(ctx: TurnContext, room_value: str) -> Optional[Household]:
    parts = room_value.split("-")
    if len(parts) != 3:
        return None
    building, unit, room = (int(p) for p in parts)
    return ctx.session.scalar(
        select(Household).where(Household.community_id == ctx.community_id, Household.building == building,
                                Household.unit == unit, Household.room == room)
    )


def _room_given(ctx: TurnContext) -> Optional[str]:
    rooms = [r for r in find_rooms(ctx.text) if r.value.count("-") == 2]
    return rooms[0].value if rooms else None


def _code_given(ctx: TurnContext) -> Optional[str]:
    match = re.fullmatch(r"\s*(\d{6})\s*", ctx.text)
    return match.group(1) if match else None


NOT_RECEIVED = r"没(有)?收到|收不到|没(有)?来|没(有)?短信|短信呢|验证码呢|没(看)?见|还没到|没到"


def _no_code_yet(ctx: TurnContext) -> Optional[str]:
    """"还没收到" where the code is asked: where it went and what to do, not "the code is six digits"."""
    if not re.search(NOT_RECEIVED, ctx.text):
        return None
    wait = ctx.limits.code_cooldown.seconds
    return (f"验证码发到该房屋登记的手机号，一般 1 分钟内到达。没有收到的话，请 {wait} 秒后再输入一次房号，会重新发送；"
            "如果登记的手机号已经换了，请点“转人工客服”或联系物业服务中心更新。")


# What the binding questions accept (the router reads a message that gives one as the flow's answer); the
# values themselves are handled by require_binding, never kept as slots.
# said before the question again: "13800138000" typed for the code was met with 抱歉，这个回答我没能识别
BINDING_SLOTS = (Slot("bind_room", extract=_room_given, invalid="没有识别到房号。"),
                 Slot("bind_code", extract=_code_given, invalid="验证码是短信里的 6 位数字（不是手机号）。",
                      explain=_no_code_yet))


# _code_refusal's answer for the room's cooldown: the caller words it (the flow stays on the room question)
COOLDOWN = "cooldown"


def _cooldown_bucket(household: Household) -> str:
    """The room's code cooldown (bot/access/limits.py): one code a room at a time, whichever chat asks."""
    return f"code-cooldown:{household.id}"


def _pending_code(ctx: TurnContext, household: Household) -> Optional[VerificationCode]:
    """This chat's latest code for this room that can still be typed (unused, unexpired), if any."""
    return ctx.session.scalar(
        select(VerificationCode).where(VerificationCode.identity_id == ctx.identity.id,
                                       VerificationCode.household_id == household.id,
                                       VerificationCode.used.is_(False), VerificationCode.expires_at > ctx.now)
        .order_by(VerificationCode.id.desc()).limit(1))


def _code_refusal(ctx: TurnContext, household: Household) -> Optional[str]:
    """Why no code may be sent now (None: it may): lock-out after wrong codes, a cooldown and an hourly cap per
    room (so twenty strangers cannot flood an owner's phone) and per chat identity. Records the send if allowed."""
    session, now, cfg = ctx.session, ctx.now, ctx.limits
    lockout, cooldown = f"code-lockout:{ctx.identity.id}", _cooldown_bucket(household)
    # fresh identities cost nothing, so also per address (the widget's) and for the whole deployment
    caps = [(f"code-room:{household.id}", cfg.codes_per_room),
            (f"code-identity:{ctx.identity.id}", cfg.codes_per_identity),
            ("code-all", cfg.codes_overall), (cooldown, cfg.code_cooldown)]
    if ctx.client_ip:
        caps.append((f"code-ip:{ctx.client_ip}", cfg.codes_per_ip))
    # every bucket read at once (one statement); a send is recorded in each of caps, the lock-out only read
    buckets = [(lockout, cfg.code_lockout)] + caps
    used = dict(zip((bucket for bucket, _ in buckets), limits.uses(session, buckets, now)))
    if used[lockout] + 1 > cfg.code_lockout.count:
        return f"验证码错误次数过多，为保护业主信息，请 {cfg.code_lockout.seconds // 60} 分钟后再试，或联系物业服务中心。"
    if used[cooldown] + 1 > cfg.code_cooldown.count:
        return COOLDOWN
    if any(used[bucket] + 1 > limit.count for bucket, limit in caps):
        return "验证码发送次数已达上限，为保护业主信息，请一小时后再试，或到物业服务中心办理绑定。"
    limits.record_all(session, [bucket for bucket, _ in caps], now)
    return None


def require_binding(ctx: TurnContext, slots: Dict[str, Any], flow_name: str) -> Optional[Household]:
    """The bound household, or None after asking the next binding question (state kept in ``slots``)."""
    if ctx.household is not None:
        return ctx.household
    asking = ctx.flow.asking if ctx.flow else None
    # a full room typed where the code is asked (the resident thought it was not taken) is the room again, not a
    # wrong code: the same room inside its cooldown resumes the code already sent, another room starts over
    room_again = asking == "bind_code" and _code_given(ctx) is None and _room_given(ctx) is not None
    if asking == "bind_code" and not room_again:
        code = re.sub(r"\D", "", ctx.text)
        record = ctx.session.get(VerificationCode, slots.get("code_id"))
        if record is None or record.used or record.expires_at < ctx.now:
            ctx.say("验证码已失效，请重新输入您的房号（如 3栋2单元1102）。")
            slots.pop("code_id", None)
            ctx.set_flow(flow_name, slots, "bind_room")
            return None
        record.attempts += 1
        if len(code) == 6 and record.code_hash == _hash(code, ctx.identity.id):
            record.used = True
            ctx.identity.household_id = record.household_id
            ctx.identity.verified_at = ctx.now
            ctx.session.flush()
            ctx.session.refresh(ctx.identity)
            ctx.conversation.community_id = ctx.identity.household.community_id
            ctx.say(f"验证成功，已绑定 {ctx.identity.household.label}。")
            slots.pop("code_id", None)
            return ctx.identity.household
        if record.attempts >= MAX_ATTEMPTS:
            record.used = True
            limits.record(ctx.session, f"code-lockout:{ctx.identity.id}", ctx.now)  # no new code for a while
            ctx.say(f"验证码错误次数过多，为保护业主信息，请 {ctx.limits.code_lockout.seconds // 60} 分钟后再试，"
                    "或联系物业服务中心。")
            ctx.end_flow()
            return None
        ctx.say("验证码不正确，请再输入一次（6 位数字）。")
        ctx.set_flow(flow_name, slots, "bind_code")
        return None
    if asking == "bind_room" or room_again or ctx.entity("room"):
        rooms = [r for r in find_rooms(ctx.text) if r.value.count("-") == 2]
        household = find_household(ctx, rooms[0].value) if rooms else None
        if household is None:
            if asking == "bind_room" and not rooms:  # a plate or a time typed here ("粤B12345"): not a wrong room
                ctx.say("请先输入您的房号（楼栋-单元-房号，如 3栋2单元1102），验证身份后继续为您办理。")
            elif asking == "bind_room":
                ctx.say("没有找到这个房号，请按“楼栋-单元-房号”输入，例如 3栋2单元1102。")
            else:
                ctx.say("为保护业主隐私，查询前需要先验证身份。请输入您的房号（如 3栋2单元1102）。")
            ctx.set_flow(flow_name, slots, "bind_room")
            return None
        refusal = _code_refusal(ctx, household)
        pending = _pending_code(ctx, household) if refusal == COOLDOWN else None
        if pending is not None:  # this chat asked a moment ago (left the flow and came back): that code still binds
            slots["code_id"] = pending.id
            ctx.say("验证码刚刚已发送到该房屋登记的手机，请输入收到的 6 位验证码。")
            ctx.set_flow(flow_name, slots, "bind_code")
            return None
        if refusal == COOLDOWN:
            # another chat asked for this room a moment ago: its code cannot bind this one, so only the wait
            wait = limits.seconds_until_free(ctx.session, _cooldown_bucket(household), ctx.limits.code_cooldown, ctx.now)
            ctx.say(f"这个房号的验证码刚刚已发送过，请 {wait} 秒后再试（到时再输入一次房号即可）。")
            ctx.set_flow(flow_name, slots, "bind_room")
            return None
        if refusal:
            ctx.say(refusal)
            ctx.end_flow()
            return None
        code = new_code()
        record = VerificationCode(identity_id=ctx.identity.id, household_id=household.id,
                                  code_hash=_hash(code, ctx.identity.id), expires_at=ctx.now + CODE_TTL)
        ctx.session.add(record)
        ctx.session.flush()
        ctx.sms.send(household.phone, f"【{ctx.value('company_name')}】您的验证码是 {code}，10 分钟内有效。")
        slots["code_id"] = record.id
        # the phone's last digits are not shown: anyone can type a room number, and they would learn them
        ctx.say("验证码已发送到该房屋登记的手机，请输入 6 位验证码。")
        ctx.set_flow(flow_name, slots, "bind_code")
        return None
    ctx.say("为保护业主隐私，查询前需要先验证身份。请输入您的房号（如 3栋2单元1102）。")
    ctx.set_flow(flow_name, slots, "bind_room")
    return None


def names_other_room(ctx: TurnContext, household: Household) -> bool:
    """True when the message names a full room address that is not the bound household's."""
    rooms = [r.value for r in find_rooms(ctx.text) if r.value.count("-") == 2]
    return any(r != household.address for r in rooms)
