"""The resident's own parking: card expiry and renewal price, their space, visitor passes, changing the plate."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Dict, List, Optional

from sqlalchemy import select

from actions.binding import BINDING_SLOTS, require_binding
from bot.access.passwords import new_code
from bot.core.localtime import to_utc
from bot.nlu.entities import find_plates
from bot.storage.models import Household, ParkingCard, ParkingSpace, VisitorPass
from bot.turn.context import Button, FlowSpec, Slot, TurnContext, fill_slots, slot_payload

VISITOR = r"访客|朋友|亲戚|客人|来访|拜访|家人.*来|搬家公司|通行"
CHANGE_PLATE = r"(改|换|变更|更新|修改|换绑).{0,6}(车牌|车)|车牌.{0,6}(改|换|变更|错)|换了?新?车"
SPACE = r"车位(号|编号|在哪|是哪|信息)|哪个车位|几个车位|车位在|停车位在"
TASK_TITLES = {"visitor": "登记访客车辆", "change_plate": "更换车牌", "card": "月卡到期与续费", "space": "我的车位"}


def task_of(text: str) -> str:
    if re.search(VISITOR, text):
        return "visitor"
    if re.search(CHANGE_PLATE, text):
        return "change_plate"
    if re.search(SPACE, text):
        return "space"
    return "card"


def cards(ctx: TurnContext, household: Household) -> List[ParkingCard]:
    return list(ctx.session.scalars(select(ParkingCard).where(ParkingCard.household_id == household.id)))


def _card_info(ctx: TurnContext, household: Household) -> None:
    found = cards(ctx, household)
    if not found:
        ctx.say(f"{household.label} 名下没有停车月卡。办理月卡 {ctx.value('parking_monthly_price')} 元/月，"
                f"年卡 {ctx.value('parking_yearly_price')} 元/年，请带行驶证到物业服务中心办理。")
        return
    lines = []
    for card in found:
        days = (card.expires_on - ctx.local_now.date()).days
        state = f"已过期 {-days} 天" if days < 0 else f"还有 {days} 天到期"
        kind = "年卡" if card.kind == "yearly" else "月卡"
        lines.append(f"{card.plate} 的{kind}有效期至 {card.expires_on:%Y-%m-%d}（{state}）")
    lines.append(f"续费价格：月卡 {ctx.value('parking_monthly_price')} 元/月，年卡 {ctx.value('parking_yearly_price')} 元/年，"
                 "可在公众号“停车缴费 → 月卡续费”在线办理。")
    ctx.say("\n".join(lines))


def _space_info(ctx: TurnContext, household: Household) -> None:
    spaces = list(ctx.session.scalars(select(ParkingSpace).where(ParkingSpace.household_id == household.id)))
    if spaces:
        ctx.say(f"{household.label} 名下的车位：" + "、".join(s.code for s in spaces))
    else:
        ctx.say(f"{household.label} 名下没有登记车位。")


def _plate(ctx: TurnContext) -> Optional[str]:
    plates = find_plates(ctx.text)
    return plates[0].value if plates else None


def _arrive(ctx: TurnContext) -> Optional[str]:
    return ctx.entity("time")


SLOTS = (
    Slot("plate", extract=_plate, invalid="没有识别到车牌号，请输入完整车牌，例如 粤B12345。"),
    Slot("arrive", extract=_arrive, invalid="没有识别到时间，请告诉我预计到达时间，例如“明天下午三点”。"),
) + BINDING_SLOTS


def _arrive_buttons(ctx: TurnContext) -> List[Button]:
    today = ctx.local_now.date()
    return [Button("今天", slot_payload("arrive", today.isoformat())),
            Button("明天", slot_payload("arrive", (today + dt.timedelta(days=1)).isoformat()))]


def start(ctx: TurnContext, slots: Dict[str, Any]) -> None:
    slots.setdefault("task", task_of(ctx.text))
    fill_slots(ctx, slots, SLOTS[:2], None)
    resume(ctx, slots, first=True)


def resume(ctx: TurnContext, slots: Dict[str, Any], first: bool = False) -> None:
    state = ctx.flow
    asking = state.asking if state else None
    if not first and asking in ("plate", "arrive"):
        fill_slots(ctx, slots, SLOTS[:2], asking)
        if not slots.get(asking):
            slot = next(s for s in SLOTS if s.name == asking)
            ctx.ask("parking", slots, asking, slot.invalid, _arrive_buttons(ctx) if asking == "arrive" else [])
            return
    elif not first:
        fill_slots(ctx, slots, SLOTS[:2], None)
    household = require_binding(ctx, slots, "parking")
    if household is None:
        return
    task = slots["task"]
    if task == "card":
        _card_info(ctx, household)
    elif task == "space":
        _space_info(ctx, household)
    elif task == "visitor":
        if not slots.get("plate"):
            ctx.ask("parking", slots, "plate", "请告诉我访客的车牌号。")
            return
        if not slots.get("arrive"):
            ctx.ask("parking", slots, "arrive", "访客预计什么时候到？", _arrive_buttons(ctx))
            return
        arrive = dt.datetime.fromisoformat(slots["arrive"] if "T" in slots["arrive"] else slots["arrive"] + "T08:00")
        visitor = VisitorPass(household_id=household.id, plate=slots["plate"], arrive_at=arrive,
                              expires_at=arrive + dt.timedelta(hours=24), code=new_code(6), created_at=ctx.now)
        visitor.arrive_at, visitor.expires_at = to_utc(arrive, ctx.time_zone), to_utc(visitor.expires_at, ctx.time_zone)
        ctx.session.add(visitor)
        ctx.session.flush()
        ctx.say(f"已登记访客车辆 {visitor.plate}，预计 {arrive:%m月%d日 %H:%M} 到达，通行凭证号 {visitor.code}，"
                f"24 小时内有效，道闸会自动识别放行。停车按临时停车收费：{ctx.value('parking_temp_price')}。")
    elif task == "change_plate":
        if not slots.get("plate"):
            ctx.ask("parking", slots, "plate", "请告诉我新的车牌号。")
            return
        found = cards(ctx, household)
        if not found:
            ctx.say(f"{household.label} 名下没有停车月卡，无需更换车牌。")
        else:
            old = found[0].plate
            found[0].plate = slots["plate"]
            ctx.say(f"已将月卡绑定车牌由 {old} 更换为 {slots['plate']}，道闸 10 分钟内生效。"
                    "请在 7 天内把新车行驶证照片交到物业服务中心备案。")
    ctx.end_flow()


FLOW = FlowSpec(name="parking", title="停车服务", start=start, resume=resume, slots=SLOTS)
