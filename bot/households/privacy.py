"""A resident's own data on request (issue 26 point 5c): everything held about a household or one chat identity,
exported as JSON, and erased — in one transaction, so a failed erasure changes nothing.

Erasure deletes what is the resident's own words and contact (messages, callback and contact phones, repair
descriptions and photos, suggestions, visitor passes, verification codes, the handoff context cards, the quote of
an incident's summary when the resident's report or repair opened it) and unbinds
the identity; it keeps what the company must keep or only counts (bills and parking contracts from the ERP, poll
votes, ratings' scores, the work orders' and handoffs' rows themselves for the figures). The audit log records
the request (the API writes it)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.storage.models import (Bill, ChatIdentity, Conversation, Handoff, Household, Incident, IncidentReport,
                                Message, ParkingCard, Rating, Suggestion, VerificationCode, VisitorPass, WorkOrder)

ERASED = "（已按住户要求删除）"


def _unquoted(summary: str) -> str:
    """An incident's summary without the words of the report that opened it: bot/outages/incidents.py writes it as
    "<scope><kind>：<those words>" (7栋停水：…), and neither the scope nor the kind has a "："."""
    return summary.partition("：")[0]


def _iso(value) -> Optional[str]:
    return value.isoformat() if value is not None else None


def _scope(session: Session, household_id: Optional[int], identity_id: Optional[int]):
    """(household or None, identity ids); None when neither exists."""
    household = session.get(Household, household_id) if household_id is not None else None
    if household_id is not None and household is None:
        return None
    if identity_id is not None:
        identity = session.get(ChatIdentity, identity_id)
        if identity is None:
            return None
        return household, [identity.id]
    return household, list(session.scalars(select(ChatIdentity.id).where(ChatIdentity.household_id == household_id)))


def _orders(session: Session, household_id: Optional[int], ids: List[int]):
    clauses = [WorkOrder.reporter_identity_id.in_(ids)] if ids else []
    if household_id is not None:
        clauses.append(WorkOrder.household_id == household_id)
    if not clauses:
        return []
    return list(session.scalars(select(WorkOrder).where(or_(*clauses)).order_by(WorkOrder.id)))


def export(session: Session, household_id: Optional[int] = None, identity_id: Optional[int] = None
           ) -> Optional[Dict[str, Any]]:
    """Everything held about the household (and every identity bound to it) or one identity; None: not found."""
    scope = _scope(session, household_id, identity_id)
    if scope is None:
        return None
    household, ids = scope
    hid = household.id if household is not None else None
    conversations = list(session.scalars(select(Conversation).where(Conversation.identity_id.in_(ids))
                                         .order_by(Conversation.id))) if ids else []
    conv_ids = [c.id for c in conversations]
    data: Dict[str, Any] = {"household": None, "identities": [], "conversations": [], "handoffs": [],
                            "work_orders": [], "suggestions": [], "bills": [], "parking_cards": [],
                            "visitor_passes": []}
    if household is not None:
        data["household"] = {"id": household.id, "community_id": household.community_id, "address": household.address,
                             "area": household.area, "owner_name": household.owner_name, "phone": household.phone}
        data["bills"] = [{"period": b.period, "item": b.item, "amount": str(b.amount), "paid": b.paid}
                         for b in session.scalars(select(Bill).where(Bill.household_id == hid).order_by(Bill.id))]
        data["parking_cards"] = [{"plate": p.plate, "kind": p.kind, "expires_on": p.expires_on.isoformat()}
                                 for p in session.scalars(select(ParkingCard).where(ParkingCard.household_id == hid))]
        data["visitor_passes"] = [{"plate": v.plate, "arrive_at": _iso(v.arrive_at), "expires_at": _iso(v.expires_at)}
                                  for v in session.scalars(select(VisitorPass).where(VisitorPass.household_id == hid))]
    data["identities"] = [{"id": i.id, "channel": i.channel, "sender_id": i.sender_id, "household_id": i.household_id,
                           "verified_at": _iso(i.verified_at), "created_at": _iso(i.created_at)}
                          for i in session.scalars(select(ChatIdentity).where(ChatIdentity.id.in_(ids)))] if ids else []
    for conversation in conversations:
        data["conversations"].append({"id": conversation.id, "channel": conversation.channel,
                                      "created_at": _iso(conversation.created_at),
                                      "messages": [{"sender": m.sender, "text": m.text, "at": _iso(m.created_at)}
                                                   for m in conversation.messages]})
    if conv_ids:
        data["handoffs"] = [{"id": h.id, "conversation_id": h.conversation_id, "ticket": h.ticket,
                             "callback_phone": h.callback_phone, "created_at": _iso(h.created_at)}
                            for h in session.scalars(select(Handoff).where(Handoff.conversation_id.in_(conv_ids)))]
        data["suggestions"] = [{"number": s.number, "text": s.text, "reply": s.reply, "created_at": _iso(s.created_at)}
                               for s in session.scalars(select(Suggestion).where(Suggestion.conversation_id.in_(conv_ids)))]
    data["work_orders"] = [{"number": o.number, "location": o.location, "category": o.category,
                            "description": o.description, "contact_phone": o.contact_phone, "status": o.status,
                            "photos": o.photos, "created_at": _iso(o.created_at)} for o in _orders(session, hid, ids)]
    return data


def reported_incidents(session: Session, household_id: Optional[int] = None,
                       identity_id: Optional[int] = None) -> List[int]:
    """The incidents the resident reported: their agents' cards quote every reporter, so they are drawn again after
    an erasure (bot/api/admin.py; the card is built on a higher floor than this)."""
    scope = _scope(session, household_id, identity_id)
    if scope is None or not scope[1]:
        return []
    conversations = select(Conversation.id).where(Conversation.identity_id.in_(scope[1])).scalar_subquery()
    return sorted(set(session.scalars(select(IncidentReport.incident_id)
                                      .where(IncidentReport.conversation_id.in_(conversations)))))


def erase(session: Session, household_id: Optional[int] = None, identity_id: Optional[int] = None
          ) -> Optional[Dict[str, int]]:
    """Erase what :func:`export` lists but the company must keep (see the module); returns counts, None: not found."""
    scope = _scope(session, household_id, identity_id)
    if scope is None:
        return None
    household, ids = scope
    hid = household.id if household is not None else None
    conv_ids = list(session.scalars(select(Conversation.id).where(Conversation.identity_id.in_(ids)))) if ids else []
    counts = {"messages": 0, "work_orders": 0, "identities": len(ids)}
    if conv_ids:
        first_reports = select(func.min(IncidentReport.id)).group_by(IncidentReport.incident_id).scalar_subquery()
        opened = select(IncidentReport.incident_id).where(IncidentReport.id.in_(first_reports),
                                                          IncidentReport.conversation_id.in_(conv_ids))
        for incident in session.scalars(select(Incident).where(Incident.id.in_(opened.scalar_subquery()))):
            incident.summary = _unquoted(incident.summary)
        in_convs = Message.conversation_id.in_(conv_ids)
        session.execute(update(IncidentReport).where(IncidentReport.message_id.in_(
            select(Message.id).where(in_convs).scalar_subquery())).values(message_id=None)
            .execution_options(synchronize_session=False))
        counts["messages"] = session.execute(delete(Message).where(in_convs)
                                             .execution_options(synchronize_session=False)).rowcount
        session.execute(update(Conversation).where(Conversation.id.in_(conv_ids)).values(flow=None)
                        .execution_options(synchronize_session=False))
        session.execute(update(Handoff).where(Handoff.conversation_id.in_(conv_ids))
                        .values(callback_phone=None, context={}).execution_options(synchronize_session=False))
        session.execute(update(Rating).where(Rating.conversation_id.in_(conv_ids)).values(comment=None)
                        .execution_options(synchronize_session=False))
        session.execute(update(Suggestion).where(Suggestion.conversation_id.in_(conv_ids)).values(text=ERASED)
                        .execution_options(synchronize_session=False))
    for order in _orders(session, hid, ids):
        incident = session.get(Incident, order.incident_id) if order.incident_id else None
        if incident is not None and order.description and incident.summary.endswith(f"：{order.description}"):
            incident.summary = _unquoted(incident.summary)  # the repair form's report opened it: its words
        order.contact_phone, order.description, order.photos = None, ERASED, []
        counts["work_orders"] += 1
    if ids:
        session.execute(delete(VerificationCode).where(VerificationCode.identity_id.in_(ids))
                        .execution_options(synchronize_session=False))
        for identity in session.scalars(select(ChatIdentity).where(ChatIdentity.id.in_(ids))):
            # unbound, and its channel id no longer names the person (a WeChat openid is personal data)
            identity.sender_id, identity.household_id, identity.verified_at = f"erased:{identity.id}", None, None
    if household is not None:
        session.execute(delete(VisitorPass).where(VisitorPass.household_id == hid)
                        .execution_options(synchronize_session=False))
        household.owner_name, household.phone = "（已删除）", ""
    session.flush()
    return counts
