"""Fee lookup: amount owed, paid-through period and recent payments of the bound household only."""
from __future__ import annotations

import re
from typing import Any, Dict

from actions.binding import BINDING_SLOTS, names_other_room, require_binding
from bot.handoffs.handoff import open_handoff
from bot.households.bills import fee_summary
from bot.storage.models import Household
from bot.turn.context import FlowSpec, TurnContext

PRIVACY_REFUSAL = "为保护业主隐私，只能查询您已绑定房屋的费用，无法查询其他房号。"
# "我上个月交过了怎么还显示欠费": paid, yet shown as owed — the bill alone does not answer it; a person in 收费 checks
PAID_YET_OWED = (r"(交|缴|付|扣|转)(过|了)(钱|费|款)?了?.{0,12}(还|又|怎么|为什么|为啥|但|可是|却).{0,8}(欠|没到|未到|待缴|催|没变|没更新|显示)"
                 r"|明明(交|缴|付)(过|了)|(钱|款)(已经)?扣了.{0,8}(账单|欠费|没)|重复(扣|交|缴)")
DISPUTE_NOTE = ("如果您已经缴费但这里仍显示待缴，可能是银行或缴费平台到账延迟（一般 1–3 个工作日）。"
                "已为您转给收费专员核实，请准备好缴费凭证（付款截图或流水号）。")


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
    if re.search(PAID_YET_OWED, ctx.text):
        slots["dispute"] = True  # kept through the binding's questions
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
    if slots.get("dispute"):
        ctx.say(DISPUTE_NOTE)
        open_handoff(ctx, "normal", ["fee dispute"])


FLOW = FlowSpec(name="fee_lookup", title="查询物业费", start=start, resume=resume, slots=BINDING_SLOTS)
