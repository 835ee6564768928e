"""Callback tickets (留言): with nobody online or out of hours, the resident confirms the phone number (or gives
one) and a time window, and is told by when someone will call. The answers are kept on the handoff, where the
agent console shows them."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Dict, Optional, Tuple

from bot.core.localtime import Wish, hours_on, local_text, next_opening, to_utc
from bot.core.notify import mask_phone
from bot.storage.models import Handoff
from bot.turn.context import Button, FlowSpec, Slot, TurnContext, fill_slots, phone_given, slot_payload

NAME = "callback"
WINDOWS = (("尽快", "asap"), ("今天", "today"), ("明天上午", "tomorrow_am"), ("明天下午", "tomorrow_pm"))
WINDOW_WORDS = ((r"尽快|马上|越快越好|随时|都行|都可以", "asap"), (r"明天上午|明早|明天早上", "tomorrow_am"),
                (r"明天", "tomorrow_pm"), (r"今天|今晚|下午|晚上|一会|待会", "today"))
ASAP = dt.timedelta(minutes=30)
# a resident who will not give a number ("不想留电话", "在这里回复就行"): the ticket stays, answered in the chat
DECLINE = re.compile(r"(?<![要能用想愿])(不想|不愿意?|不方便|不能|不用|不要|不需要|没必要|别)(留|给|打|回)?(电话|号码|手机|回电|来电)"
                     r"|不留|别留|(?<![想愿])(不想|不愿意?)留了?$|(?<![要用])(别|不要|不用)(打|回)(电话|过来)?了?$"
                     r"|(这里|这儿|微信|网上|线上)(回复?|说|聊)我?就?(行|好|可以)")
NO_PHONE = "none"  # the phone slot's value when declined


def _phone_answer(ctx: TurnContext) -> Optional[str]:
    if DECLINE.search(ctx.text):
        return NO_PHONE
    # the buttons' titles count typed (WeChat shows them as a list to type from)
    if ctx.household is not None and re.search(r"换一?个|换号|其他号码|别的号码|另一个|不行|不是|不对|不用|不要|不可以",
                                                ctx.text):
        return "other"  # a no to "use the registered phone?" is a wish for another number, never a yes
    if ctx.household is not None and re.search(r"就?用?这个|登记的|是的?|好的?|可以|对|没问题|嗯|行", ctx.text):
        return "bound"
    return None


def _window_with_phone(ctx: TurnContext) -> Optional[str]:
    """Unasked, a time counts only beside a phone number ("13912345678 明天下午三点"): a story's time ("周末早上七点就
    开始砸墙") is not when to call."""
    return _window(ctx) if phone_given(ctx) else None


# a message read confidently as one of these is a story or a new request told while the time is asked ("楼上每天晚上
# 很吵，我要投诉"), not when to call, whatever time words are in it
NOT_A_WINDOW_INTENTS = ("complaint", "repair_request", "repair_status", "emergency", "fee_lookup", "parking")
NOT_A_WINDOW_CONFIDENCE = 0.8


def _window(ctx: TurnContext) -> Optional[str]:
    """A time with an hour ("明天下午三点") is a time; "明天上午" is one of the windows (a phone number's digits in the
    same message are no hour)."""
    value = ctx.entity("time")
    phone = phone_given(ctx)
    reading = ctx.reading
    if not phone and getattr(reading, "intent", None) in NOT_A_WINDOW_INTENTS and \
            getattr(reading, "confidence", 0.0) >= NOT_A_WINDOW_CONFIDENCE:
        return None
    if value and re.search(r"\d|点|时", ctx.text.replace(phone, "") if phone else ctx.text):
        return f"at {value}"
    return _window_answer(ctx) or (f"at {value}" if value else None)


def _window_answer(ctx: TurnContext) -> Optional[str]:
    return next((value for pattern, value in WINDOW_WORDS if re.search(pattern, ctx.text)), None)


SLOTS = (
    Slot("callback_phone", extract=phone_given, answer=_phone_answer, invalid="没有识别到手机号（您发的内容工作人员都能看到）。"),
    Slot("callback_window", "您方便接听电话的时间是？", extract=_window_with_phone, answer=_window,
         invalid="请选择一个方便接听的时间，或直接告诉我，例如“明天下午三点”。", choices=WINDOWS),
)


def callback_at(ctx: TurnContext, window: str) -> dt.datetime:
    """The latest local time someone will call, for the window the resident chose, inside the agents' hours
    (holidays and 调休 included, bot/core/localtime.py)."""
    values = ctx.kb.community(ctx.community_id).values
    now = ctx.local_now
    tomorrow = now.date() + dt.timedelta(days=1)

    def by(day: dt.date, latest: dt.time) -> dt.datetime:
        span, _ = hours_on(values, day)
        if span is None:  # closed that day: the next opening, plus an hour
            return next_opening(values, dt.datetime.combine(day, dt.time(0))) + dt.timedelta(hours=1)
        return dt.datetime.combine(day, max(span[0], min(latest, span[1])))

    if window.startswith("at "):
        value = window[3:]
        wanted = dt.datetime.fromisoformat(value if "T" in value else value + "T10:00")
        return next_opening(values, max(wanted, now))
    if window == "tomorrow_am":
        return by(tomorrow, dt.time(12))
    if window == "tomorrow_pm":
        return by(tomorrow, dt.time(18))
    if window == "today":
        span, _ = hours_on(values, now.date())
        if span is not None and now.time() < span[1]:
            return dt.datetime.combine(now.date(), span[1])
    start = next_opening(values, now)
    return start + ASAP if start == now else start + dt.timedelta(hours=1)


def window_label(window: str) -> str:
    """The window as the resident chose it, in words: 明天上午, or a time as a date ('11月28日 15:00': it is stored, so
    never "明天", and never the NLU's ISO value)."""
    if window.startswith("at "):
        wish = Wish.from_entity(window[3:])
        return wish.text() if wish is not None else window[3:].replace("T", " ")
    return dict((v, t) for t, v in WINDOWS).get(window, window)


def _ask_phone(ctx: TurnContext, slots: Dict[str, Any], prefix: str = "") -> None:
    if ctx.household is not None and "other" not in slots:
        ctx.ask(NAME, slots, "callback_phone", f"{prefix}回电号码用您登记的手机（{mask_phone(ctx.household.phone)}）吗？",
                [Button("就用这个号码", slot_payload("callback_phone", "bound")),
                 Button("换一个号码", slot_payload("callback_phone", "other"))])
    else:
        ctx.ask(NAME, slots, "callback_phone", f"{prefix}请留一个方便回电的手机号码（11 位）。")


def start_for(ctx: TurnContext, handoff: Handoff) -> None:
    """Begin asking for the callback's phone and time (called when the callback ticket is created). A number in
    the message that asked for a person ("转人工，我电话13912345678") is the callback number, not asked for again;
    with a time beside it, nothing is left to ask."""
    slots: Dict[str, Any] = {"handoff_id": handoff.id}
    phone = phone_given(ctx)
    if not phone:
        _ask_phone(ctx, slots)
        return
    slots["callback_phone"] = phone
    window = _window_with_phone(ctx)
    if window:
        slots["callback_window"] = window
        _submit(ctx, slots)
        return
    slot = SLOTS[1]
    ctx.ask(NAME, slots, slot.name, f"回电号码：{mask_phone(phone)}。{slot.question}", slot.buttons())


def start(ctx: TurnContext, slots: Dict[str, Any]) -> None:  # only ever started by start_for
    resume(ctx, slots)


def resume(ctx: TurnContext, slots: Dict[str, Any]) -> None:
    state = ctx.flow
    asking = state.asking if state else None
    filled = fill_slots(ctx, slots, SLOTS, asking)
    if slots.get("callback_phone") == NO_PHONE:
        cancel(ctx, slots)
        return
    if slots.get("callback_phone") == "other":
        slots.pop("callback_phone")
        slots["other"] = True
    if not slots.get("callback_phone"):
        _ask_phone(ctx, slots, SLOTS[0].invalid if asking == "callback_phone" and not filled else "")
        return
    if not slots.get("callback_window"):
        slot = SLOTS[1]
        prefix = slot.invalid if asking == "callback_window" and not filled else ""
        ctx.ask(NAME, slots, slot.name, prefix or slot.question, slot.buttons())
        return
    _submit(ctx, slots)


def _submit(ctx: TurnContext, slots: Dict[str, Any]) -> None:
    handoff = ctx.session.get(Handoff, slots.get("handoff_id"))
    ctx.end_flow()
    if handoff is None:
        return
    phone = ctx.household.phone if slots["callback_phone"] == "bound" and ctx.household else slots["callback_phone"]
    if phone == "bound":
        return _ask_phone(ctx, {"handoff_id": handoff.id, "other": True})
    due = callback_at(ctx, slots["callback_window"])  # local
    handoff.callback_phone = phone
    handoff.callback_window = window_label(slots["callback_window"])[:32]
    handoff.callback_at = to_utc(due, ctx.time_zone)
    # the promise in the words the status repeats later (bot/handoffs/handoff.py callback_promise)
    ctx.say(f"已登记回电（编号 {handoff.ticket}）：工作人员会在{local_text(handoff.callback_at, ctx.now, ctx.time_zone)} 前"
            f"拨打您{mask_phone(phone)}的手机联系您。"
            "在此之前有新情况，直接在这里留言即可，工作人员都能看到。")


def cancel(ctx: TurnContext, slots: Dict[str, Any]) -> None:
    """取消, or no number given: only the callback's questions end. The ticket is the resident's request for a
    person and stays in the agents' queue (nothing of the callback is stored), so the reply says where the answer
    will come, never "已取消"."""
    ctx.save_flow(None)
    handoff = ctx.session.get(Handoff, slots.get("handoff_id"))
    ticket = f"（编号 {handoff.ticket}）" if handoff is not None and handoff.ticket else ""
    ctx.say(f"好的，不登记回电了。您的留言{ticket}已转给人工客服，工作人员上线后会在这里回复您；"
            "有新情况直接在这里留言即可。")


FLOW = FlowSpec(name=NAME, title="登记回电", start=start, resume=resume, slots=SLOTS, cancel=cancel,
                way_out=(("不留电话，在这里等回复", "/cancel"),))
