"""Fee lookup: amount owed, paid-through period and recent payments of the bound household only."""
from __future__ import annotations

from typing import Any, Dict

from actions.binding import BINDING_SLOTS, names_other_room, require_binding
from bot.households.bills import fee_summary
from bot.storage.models import Household
from bot.turn.context import FlowSpec, TurnContext

PRIVACY_REFUSAL = "为保护业主隐私，只能查询您已绑定房屋的费用，无法查询其他房号。"


def _answer(ctx: TurnContext, household: Household) -> None:
    s = fee_summary(ctx.session, household)
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
