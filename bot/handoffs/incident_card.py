"""An outage incident as agents see it on a handoff's context card: what, where, how many residents reported it and
who. Read-only, below both the handoffs (whose context card shows the incident a conversation reported) and the
incidents themselves (which keep that card current as reports join)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.core.localtime import iso
from bot.routing.router import PROBLEM_LABELS
from bot.storage.models import ChatIdentity, Conversation, Incident, IncidentReport, Message


def scope_label(building: Optional[int]) -> str:
    return f"{building}栋" if building is not None else "全小区"


def reporters(session: Session, incident: Incident) -> List[Dict[str, Any]]:
    rows = session.execute(
        select(IncidentReport, Conversation, ChatIdentity, Message)
        .join(Conversation, Conversation.id == IncidentReport.conversation_id)
        .join(ChatIdentity, ChatIdentity.id == Conversation.identity_id)
        .outerjoin(Message, Message.id == IncidentReport.message_id)
        .where(IncidentReport.incident_id == incident.id).order_by(IncidentReport.id))
    result = []
    for report, conversation, identity, message in rows:
        household = identity.household if identity.household_id and identity.verified_at else None
        result.append({"conversation_id": conversation.id, "channel": conversation.channel,
                       "room": household.label if household else None, "text": message.text if message else None,
                       "at": iso(report.created_at), "told_resolved_at": iso(report.told_resolved_at)})
    return result


def card(session: Session, incident: Incident, limit: int = 50) -> Dict[str, Any]:
    """The incident on the agent's context card: what, where, how many residents, who."""
    people = reporters(session, incident)
    return {"id": incident.id, "category": incident.category,
            "category_label": PROBLEM_LABELS.get(incident.category, incident.category),
            "scope_label": scope_label(incident.building), "status": incident.status,
            "reports": len(people), "reporters": people[:limit], "summary": incident.summary}


def card_for_conversation(session: Session, conversation_id: int) -> Optional[Dict[str, Any]]:
    """The open incident this conversation reported (for bot/handoffs/handoff.py build_context), or None."""
    incident = session.scalar(_REPORTED_OPEN, {"conversation_id": conversation_id})
    return card(session, incident) if incident is not None else None


# built once (bound parameters): every handoff's context card looks for the incident its conversation reported
_REPORTED_OPEN = select(Incident).join(IncidentReport, IncidentReport.incident_id == Incident.id).where(
    IncidentReport.conversation_id == bindparam("conversation_id"), Incident.status == "open") \
    .order_by(Incident.id.desc())
