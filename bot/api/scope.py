"""Scoping by 小区: a member who serves one 小区 (``staff.community_id``, not an admin) sees that 小区's queue items,
conversations, incidents and live events only; the desk's orders and technicians are scoped in
``bot/work_orders/desk.py`` through ``bot.access.permissions.sees_order``. An item out of scope is a 404, as if it
did not exist."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Set

from sqlalchemy import select

from bot.access.permissions import community_scope
from bot.core.errors import ConversationNotFound
from bot.outages.incidents import IncidentNotFound
from bot.storage.models import ChatIdentity, Conversation, Handoff, Household, Incident, WorkOrder


def default_community(services) -> Optional[str]:
    """The 小区 a conversation belongs to when neither a bound household nor a signed link names one."""
    communities = services.knowledge.current.communities
    return communities[0].id if communities else None


def communities_of(session, conversation_ids: Iterable[int], default: Optional[str]) -> Dict[int, Optional[str]]:
    """Each conversation's 小区: the bound household's, else the one it started in, else the default (one query)."""
    ids = set(conversation_ids)
    if not ids:
        return {}
    rows = session.execute(select(Conversation.id, Conversation.community_id, Household.community_id)
                           .outerjoin(ChatIdentity, ChatIdentity.id == Conversation.identity_id)
                           .outerjoin(Household, Household.id == ChatIdentity.household_id)
                           .where(Conversation.id.in_(ids))).all()
    return {cid: household or started or default for cid, started, household in rows}


def visible(session, staff, conversation_ids: Iterable[int], default: Optional[str]) -> Set[int]:
    ids = set(conversation_ids)
    scope = community_scope(staff)
    if scope is None:
        return ids
    return {cid for cid, community in communities_of(session, ids, default).items() if community == scope}


def filter_queue(session, staff, items: List[Dict[str, Any]], default: Optional[str]) -> List[Dict[str, Any]]:
    """Queue items (each with its ``conversation_id``) the member may see, in the same order."""
    if community_scope(staff) is None:
        return items
    seen = visible(session, staff, (q["conversation_id"] for q in items), default)
    return [q for q in items if q["conversation_id"] in seen]


def check_conversation(session, staff, conversation_id: int, default: Optional[str]) -> None:
    if conversation_id not in visible(session, staff, [conversation_id], default):
        raise ConversationNotFound()


def check_handoff(session, staff, handoff_id: int, default: Optional[str]) -> None:
    if community_scope(staff) is None:
        return
    conversation_id = session.scalar(select(Handoff.conversation_id).where(Handoff.id == handoff_id))
    if conversation_id is not None:  # an unknown handoff is the claim's own 404
        check_conversation(session, staff, conversation_id, default)


def check_incident(session, staff, incident_id: int) -> None:
    """Another 小区's incident is a 404 (an unknown one is the route's own 404)."""
    scope = community_scope(staff)
    if scope is None:
        return
    community = session.scalar(select(Incident.community_id).where(Incident.id == incident_id))
    if community is not None and community != scope:
        raise IncidentNotFound()


def event_visible(session, staff, frame: Dict[str, Any], default: Optional[str]) -> bool:
    """Whether a frame of the agents' topic is this member's to see: a conversation's event when the conversation
    is in scope, a work order's when the order is; anything else (the queue is filtered by :func:`filter_queue`)
    goes to everyone."""
    if community_scope(staff) is None or frame.get("type") != "event":
        return True
    order_id = frame.get("work_order_id")
    if isinstance(order_id, int):  # the desk's events carry their order's 小区 (bot/work_orders/desk.py)
        community = frame.get("community_id") or session.scalar(select(WorkOrder.community_id)
                                                               .where(WorkOrder.id == order_id))
        return community is None or community == community_scope(staff)
    conversation_id = frame.get("conversation_id")
    if isinstance(conversation_id, int):
        # read here, when the frame is delivered, rather than carried in the frame like an order's 小区: a
        # conversation's 小区 is its household's once the resident binds, which can change between publishing and
        # delivery, and a resident turn's announcement may need one more statement (against issue 29's pinned
        # counts) to load the household. The cost here: one indexed query per event per limited socket (< 1 ms).
        return bool(visible(session, staff, [conversation_id], default))
    return True
