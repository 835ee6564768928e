"""A household's bills as residents and agents see them."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict, List

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.storage.models import Bill, Household


def fee_summary(session: Session, household: Household) -> Dict[str, Any]:
    """What the household owes, which periods are unpaid, paid through which month, and the latest payments."""
    # without an autoflush: no turn writes bills (a resident's pending message waits for the turn's own last write)
    bills: List[Bill] = list(session.scalars(
        select(Bill).where(Bill.household_id == household.id).order_by(Bill.period)
        .execution_options(autoflush=False)))
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
