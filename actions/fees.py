"""Fee lookup: amount owed, paid-through period and recent payments of the bound household only."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict, List

from sqlalchemy import select

from actions.base import FlowSpec, TurnContext
from actions.binding import BINDING_SLOTS, names_other_room, require_binding
from bot.storage.models import Bill, Household

PRIVACY_REFUSAL = "为保护业主隐私，只能查询您已绑定房屋的费用，无法查询其他房号。"


def fee_summary(ctx: TurnContext, household: Household) -> Dict[str, Any]:
    bills: List[Bill] = list(ctx.session.scalars(
        select(Bill).where(Bill.household_id == household.id).order_by(Bill.period)))
    unpaid = [b for b in bills if not b.paid]
    owed = sum((b.amount for b in unpaid), Decimal("0"))
    paid_through = None
    for bill in bills:
        if not bill.paid:
            break
        paid_through = bill.period
    recent = sorted((b for b in bills if b.paid and b.paid_at), key=lambda b: b.paid_at, reverse=True)[:3]
    return {"owed": owed, "unpaid_periods": [b.period for b in unpaid], "paid_through": paid_through,
            "recent": [(b.paid_at.date().isoformat(), b.item, b.period, b.amount) for b in recent]}


def _answer(ctx: TurnContext, household: Household) -> None:
    s = fee_summary(ctx, household)
    lines = [f"{household.label} 的费用情况："]
    if s["owed"] > 0:
        lines.append(f"· 待缴 {s['owed']:.2f} 元（{'、'.join(s['unpaid_periods'])}）")
    else:
        lines.append("· 目前没有欠费，谢谢您的支持！")
    if s["paid_through"]:
        lines.append(f"· 已缴至 {s['paid_through']}")
    if s["recent"]:
        lines.append("· 最近缴费：" + "；".join(f"{d} {item} {period} {amt:.2f} 元" for d, item, period, amt in s["recent"]))
    if s["owed"] > 0:
        lines.append("可在公众号“在线缴费”或物业服务中心缴纳。")
    ctx.say("\n".join(lines))


def start(ctx: TurnContext, slots: Dict[str, Any]) -> None:
    household = ctx.household
    if household is not None and names_other_room(ctx, household):
        ctx.say(PRIVACY_REFUSAL + f"您绑定的是 {household.label}，需要为您查询吗？")
        ctx.end_flow()
        return
    resume(ctx, slots)


def resume(ctx: TurnContext, slots: Dict[str, Any]) -> None:
    household = require_binding(ctx, slots, "fee_lookup")
    if household is None:
        return
    _answer(ctx, household)
    ctx.end_flow()


FLOW = FlowSpec(name="fee_lookup", title="查询物业费", start=start, resume=resume, slots=BINDING_SLOTS)
