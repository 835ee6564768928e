"""An outage incident as agents see it on a handoff's context card: what, where, how many residents reported it and
who. Read-only, below both the handoffs (whose context card shows the incident a conversation reported) and the
incidents themselves (which keep that card current as reports join)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from bot.core.localtime import iso
from bot.routing.router import PROBLEM_LABELS
from bot.storage.models import ChatIdentity, Conversation, Household, Incident, IncidentReport, Message


def scope_label(building: Optional[int]) -> str:
    return f"{building}栋" if building is not None else "全小区"


def reporters(session: Session, incident: Incident) -> List[Dict[str, Any]]:
    """Every resident who reported the incident, in the order they did."""
    return _reporters(session, incident, None)[0]


# built once: the card is rebuilt on every report that joins an incident. Columns, not the four entities of each row
# (a large outage's hundreds of reports were loaded whole on every new one); the household only where it is bound.
_REPORTERS = select(IncidentReport.conversation_id, Conversation.channel, ChatIdentity.verified_at, Household,
                    Message.text, IncidentReport.created_at, IncidentReport.told_resolved_at,
                    func.count().over().label("total")) \
    .join(Conversation, Conversation.id == IncidentReport.conversation_id) \
    .join(ChatIdentity, ChatIdentity.id == Conversation.identity_id) \
    .outerjoin(Household, Household.id == ChatIdentity.household_id) \
    .outerjoin(Message, Message.id == IncidentReport.message_id) \
    .where(IncidentReport.incident_id == bindparam("incident_id")).order_by(IncidentReport.id)


def _reporters(session: Session, incident: Incident, limit: Optional[int]) -> Tuple[List[Dict[str, Any]], int]:
    """The first ``limit`` reporters (all: None) and how many there are, in one statement."""
    statement = _REPORTERS if limit is None else _REPORTERS.limit(limit)
    rows = session.execute(statement, {"incident_id": incident.id}).all()
    people = [{"conversation_id": r.conversation_id, "channel": r.channel,
               "room": r.Household.label if r.Household is not None and r.verified_at else None, "text": r.text,
               "at": iso(r.created_at), "told_resolved_at": iso(r.told_resolved_at)} for r in rows]
    return people, (rows[0].total if rows else 0)


def card(session: Session, incident: Incident, limit: int = 50) -> Dict[str, Any]:
    """The incident on the agent's context card: what, where, how many residents, who."""
    people, count = _reporters(session, incident, limit)
    return {"id": incident.id, "category": incident.category,
            "category_label": PROBLEM_LABELS.get(incident.category, incident.category),
            "scope_label": scope_label(incident.building), "status": incident.status,
            "reports": count, "reporters": people, "summary": incident.summary}


def card_for_conversation(session: Session, conversation_id: int) -> Optional[Dict[str, Any]]:
    """The open incident this conversation reported (for bot/handoffs/handoff.py build_context), or None."""
    incident = session.scalar(_REPORTED_OPEN, {"conversation_id": conversation_id})
    return card(session, incident) if incident is not None else None


# built once (bound parameters): every handoff's context card looks for the incident its conversation reported
_REPORTED_OPEN = select(Incident).join(IncidentReport, IncidentReport.incident_id == Incident.id).where(
    IncidentReport.conversation_id == bindparam("conversation_id"), Incident.status == "open") \
    .order_by(Incident.id.desc())
