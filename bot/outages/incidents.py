"""Incidents: one problem many residents report at once (a peak: the water is off in 3栋, the lift is down).

Reports of the same problem (``bot.routing.router.problem_kind``: water, power, gas, lift — keywords the NLU reading agrees
with) in the same scope (a building from the resident's binding or a room/building named in the message; the whole
小区 when the message says so) within ``window()`` of the incident's latest report are one incident:

- the first report opens it (router rule 10c): a normal handoff — the one queue item — whose context card carries
  the incident (count and reporters), or, when it came through the repair form, the work order (``link_work_order``);
- each later report is linked to it (rule 10b, an ``IncidentReport``): the resident is told that the company knows
  and what is being done, and nothing new is queued;
- resolving it (``resolve``: staff API ``POST /api/agent/incidents/{id}/resolve``) sends the resolution to every
  linked conversation (the API announces each through bot/realtime/live.py) and closes the incident's waiting handoff.

An emergency is never merged: the router's emergency rules (1, 2) come first, so each emergency report is an urgent
handoff of its own, as always. The window is ``WUYE_INCIDENT_WINDOW_MINUTES`` (default 120).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import zlib
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from bot.core.domain import ConversationStatus, HandoffStatus
from bot.core.errors import NotFound, WuyeError, check_text
from bot.core.localtime import iso
from bot.handoffs.handoff import close, open_handoff
from bot.handoffs.incident_card import card, reporters, scope_label
from bot.outages import notices
from bot.routing.router import PROBLEM_KEYWORDS, PROBLEM_LABELS, is_outage_report, problem_kind
from bot.storage import outbox
from bot.storage.models import Conversation, Handoff, Incident, IncidentReport, Message, Staff, WorkOrder
from bot.storage.outbox import Kind

WHOLE_COMMUNITY = r"全小区|整个小区|小区.{0,4}(都|全)|全部楼|所有楼"
DEFAULT_WINDOW_MINUTES = 120
MAX_RESOLUTION = 1000


class IncidentNotFound(NotFound):
    code, message = "incident_not_found", "找不到这个故障事件"


class IncidentAlreadyResolved(WuyeError):
    status, code, message = 409, "incident_resolved", "这个故障事件已经处理完毕"


class EmptyResolution(WuyeError):
    status, code, message = 422, "empty_resolution", "请填写处理结果"


def window() -> dt.timedelta:
    """How long after its latest report an open incident still takes new reports (WUYE_INCIDENT_WINDOW_MINUTES)."""
    try:
        minutes = int(os.environ.get("WUYE_INCIDENT_WINDOW_MINUTES", DEFAULT_WINDOW_MINUTES))
    except ValueError:
        minutes = DEFAULT_WINDOW_MINUTES
    return dt.timedelta(minutes=max(1, minutes))


# --- scope -----------------------------------------------------------------------------------------------------------
def building_of(ctx: Any) -> Optional[int]:
    """The building this message is about: a room or building it names, else the bound household's."""
    named = notices.building_in(ctx.reading.entities)
    if named is not None:
        return named
    return ctx.household.building if ctx.household is not None else None


def scope(ctx: Any) -> Tuple[Optional[int], bool]:
    """(building, known): a building, or (None, True) when the message says the whole 小区, or (None, False)."""
    building = building_of(ctx)
    if building is not None:
        return building, True
    return None, bool(re.search(WHOLE_COMMUNITY, ctx.text))


def open_incident_for(session: Session, community_id: str, building: Optional[int], kind: str,
                      now: dt.datetime) -> Optional[Incident]:
    """The open incident of that kind this scope's reports join: the building's, else the whole 小区's; only while
    its latest report is within the window. One statement: the candidates with their latest report's time (read
    twice a report, in the turn's state and again when it joins)."""
    wanted = [building, None] if building is not None else [None]
    if building is None:
        candidates = session.execute(_OPEN_OF_COMMUNITY, {"community_id": community_id, "kind": kind}).all()
    else:
        candidates = session.execute(_OPEN_OF_BUILDING, {"community_id": community_id, "kind": kind,
                                                         "building": building}).all()
    for scope_wanted in wanted:
        for incident, latest in candidates:
            if incident.building == scope_wanted and (latest or incident.created_at) >= now - window():
                return incident
    return None


_LATEST_REPORT = select(func.max(IncidentReport.created_at)).where(
    IncidentReport.incident_id == Incident.id).scalar_subquery()
# the statements of an outage report, built once with bound parameters (building one cost about as much as running
# it, and a report runs up to ten): the open incidents of a scope (the whole 小区's, or a building's and the whole
# 小区's) with their latest report's time, newest first
_OPEN = select(Incident, _LATEST_REPORT).where(
    Incident.community_id == bindparam("community_id"), Incident.category == bindparam("kind"),
    Incident.status == "open")
_OPEN_OF_COMMUNITY = _OPEN.where(Incident.building.is_(None)).order_by(Incident.id.desc())
_OPEN_OF_BUILDING = _OPEN.where((Incident.building == bindparam("building")) | Incident.building.is_(None)) \
    .order_by(Incident.id.desc())
_REPORTED_BY = select(Incident).join(IncidentReport, IncidentReport.incident_id == Incident.id).where(
    IncidentReport.conversation_id == bindparam("conversation_id"), Incident.category == bindparam("kind"),
    Incident.status == "open").order_by(Incident.id.desc())
_LATEST_RESIDENT_MESSAGE = select(Message.id).where(Message.conversation_id == bindparam("conversation_id"),
                                                    Message.sender == "resident").order_by(Message.id.desc())
_REPORT_OF = select(IncidentReport.id).where(IncidentReport.incident_id == bindparam("incident_id"),
                                             IncidentReport.conversation_id == bindparam("conversation_id"))
_FIRST_ORDER = select(WorkOrder).where(WorkOrder.incident_id == bindparam("incident_id")).order_by(WorkOrder.id)
_REPORT_COUNT = select(func.count()).select_from(IncidentReport).where(
    IncidentReport.incident_id == bindparam("incident_id"))


def incident_of(ctx: Any, kind: str) -> Optional[Incident]:
    """The open incident this message would join: its scope's, or — scope not named — the one this conversation
    already reported (a resident writing again about the same outage)."""
    building, known = scope(ctx)
    if known:
        return open_incident_for(ctx.session, ctx.community_id, building, kind, ctx.now)
    return ctx.session.scalar(_REPORTED_BY, {"conversation_id": ctx.conversation.id, "kind": kind})


def state_fields(ctx: Any) -> Dict[str, Any]:
    """What the router needs (ConversationState): the live notice kinds covering the resident, the kinds of open
    incidents in their scope, and whether the scope is known."""
    kind = problem_kind(ctx.reading)
    if kind is None:  # nothing to look up: the rules only ask about these for water/power/gas/lift messages
        return {}
    building, known = scope(ctx)
    live = notices.live(ctx.session, ctx.community_id, building, ctx.now, kinds=[kind])
    incident = incident_of(ctx, kind)
    return {"notice_kinds": (kind,) if live else (), "incident_kinds": (kind,) if incident else (),
            "scope_known": known}


# --- reports ---------------------------------------------------------------------------------------------------------
def _in_session(ctx: Any, kind: type) -> List[Any]:
    """The objects of ``kind`` of this conversation in the turn's session (written or waiting to be)."""
    conversation_id = ctx.conversation.id
    return [o for o in (*ctx.session.new, *ctx.session.identity_map.values())
            if isinstance(o, kind) and o.conversation_id == conversation_id]


def _message_id(ctx: Any) -> Optional[int]:
    if getattr(ctx, "begun", False):  # the turn began the conversation: its one resident message is the turn's
        mine = [m.id for m in _in_session(ctx, Message) if m.sender == "resident"]
        if len(mine) == 1 and mine[0] is not None:
            return mine[0]
    return ctx.session.scalar(_LATEST_RESIDENT_MESSAGE, {"conversation_id": ctx.conversation.id})


def _link(ctx: Any, incident: Incident, opened: bool = False) -> bool:
    """Link this conversation to the incident (once); True when it is a new report. ``opened``: the incident was
    made by this turn, so it has no reports to look through; a conversation the turn began has none but those in
    the session."""
    if getattr(ctx, "begun", False):
        linked = any(r.incident_id == incident.id for r in _in_session(ctx, IncidentReport))
    else:
        linked = not opened and ctx.session.scalar(_REPORT_OF, {"incident_id": incident.id,
                                                                "conversation_id": ctx.conversation.id})
    if linked:
        return False
    ctx.session.add(IncidentReport(incident_id=incident.id, conversation_id=ctx.conversation.id,
                                   message_id=_message_id(ctx), created_at=ctx.now))
    ctx.session.flush()
    return True


def open_incident(ctx: Any, kind: str, reasons: List[str]) -> Incident:
    """Rule 10c: the first report of an outage in its scope — the incident, and its handoff (the one queue item)."""

    building, _ = scope(ctx)
    if _serialise(ctx.session, ctx.community_id, building, kind, ctx.now):  # another instance opened it while we looked
        return join(ctx, kind)
    incident = Incident(community_id=ctx.community_id, building=building, category=kind, status="open",
                        summary=f"{scope_label(building)}{PROBLEM_LABELS[kind]}：{ctx.text}"[:500], created_at=ctx.now)
    ctx.session.add(incident)
    ctx.session.flush()
    _link(ctx, incident, opened=True)
    ctx.say(f"收到，{scope_label(building)}{PROBLEM_LABELS[kind]}的情况已登记，我们马上安排人员核实处理；"
            "其他住户反映的同一问题会合并处理，处理完成后会在这里通知您。")
    handoff = open_handoff(ctx, "normal", reasons)  # its context card carries the incident (bot/handoffs/handoff.py)
    incident.handoff_id = handoff.id
    return incident


def _serialise(session: Session, community_id: str, building: Optional[int], kind: str, now: dt.datetime) -> bool:
    """First reports at the same moment (several threads or instances): on PostgreSQL the scope's advisory lock is
    held until this turn commits, and the open incident is looked for again once we hold it (True: found, join it).
    SQLite serialises writers itself (a turn that lost the race is retried by the engine)."""
    if session.bind.dialect.name != "postgresql":
        return False
    key = zlib.crc32(f"incident:{community_id}:{building}:{kind}".encode()) - 2**31
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    return open_incident_for(session, community_id, building, kind, now) is not None


def progress_text(session: Session, incident: Incident) -> str:
    """What is being done, as a resident reads it: the work order's state, or who has it."""
    order = session.scalar(_FIRST_ORDER, {"incident_id": incident.id})
    if order is not None:
        return f"维修工单 {order.number} 当前状态：{order.status}"
    handoff = session.get(Handoff, incident.handoff_id) if incident.handoff_id else None
    if handoff is not None and handoff.status == HandoffStatus.CLAIMED and handoff.agent_id:
        staff = session.get(Staff, handoff.agent_id)
        return f"工作人员{staff.display_name if staff else ''}正在跟进处理"
    return "已通知工作人员，正在安排人员核实抢修"


def join(ctx: Any, kind: str) -> Optional[Incident]:
    """Rule 10b: a later report of the same outage: linked to the open incident, told, nothing queued."""
    incident = incident_of(ctx, kind)
    if incident is None:  # resolved between the state and now: answer as a first report would be
        open_incident(ctx, kind, [f"outage report: {PROBLEM_LABELS[kind]}"])
        return None
    new = _link(ctx, incident)
    count = report_count(ctx.session, incident)
    # the incident's handoff, held for the turn: the progress and the card both look it up, and the session keeps
    # only objects someone holds (without this the card's look-up read the row and its context card again)
    handoff = ctx.session.get(Handoff, incident.handoff_id) if incident.handoff_id else None
    again = "" if new else "您反映的情况已经登记过了。"
    ctx.say(f"{again}我们已经知道{scope_label(incident.building)}{PROBLEM_LABELS.get(incident.category, '')}的情况"
            f"（已有 {count} 位住户反映），{progress_text(ctx.session, incident)}。处理完成后会第一时间在这里通知您，"
            "无需重复报修。如有人员受困、漏水严重等紧急情况，请直接告诉我或拨打 "
            f"{ctx.value('emergency_phone')}。")
    refresh_card(ctx.session, incident)
    del handoff
    return incident


def link_work_order(ctx: Any, order: WorkOrder) -> None:
    """A work order from the repair form about an outage (actions/repairs.py): linked to the open incident of its
    scope, or the incident is opened with it, so later reports join it."""
    description = order.description or ""
    kind = next((k for k, pattern in PROBLEM_KEYWORDS if re.search(pattern, description)), None)
    if kind is None or not is_outage_report(description):
        return
    named = re.search(r"(\d+)\s*(栋|号楼|幢|-)", order.location or "")
    building = int(named.group(1)) if named else (ctx.household.building if ctx.household is not None else None)
    if building is None and not re.search(WHOLE_COMMUNITY, description):
        return
    incident = open_incident_for(ctx.session, ctx.community_id, building, kind, ctx.now)
    if incident is None:
        incident = Incident(community_id=ctx.community_id, building=building, category=kind, status="open",
                            summary=f"{scope_label(building)}{PROBLEM_LABELS[kind]}：{order.description}"[:500],
                            created_at=ctx.now)
        ctx.session.add(incident)
        ctx.session.flush()
    order.incident_id = incident.id
    _link(ctx, incident)
    refresh_card(ctx.session, incident)


# --- staff views -----------------------------------------------------------------------------------------------------
def report_count(session: Session, incident: Incident) -> int:
    return session.scalar(_REPORT_COUNT, {"incident_id": incident.id}) or 0


def refresh_card(session: Session, incident: Incident) -> None:
    """Keep the incident's handoff context card current (count, reporters)."""
    handoff = session.get(Handoff, incident.handoff_id) if incident.handoff_id else None
    if handoff is not None:
        handoff.context = {**(handoff.context or {}), "incident": card(session, incident)}


def incident_json(session: Session, incident: Incident, with_reporters: bool = False) -> Dict[str, Any]:
    orders = [o.number for o in session.scalars(select(WorkOrder).where(WorkOrder.incident_id == incident.id))]
    data = {"id": incident.id, "community_id": incident.community_id, "building": incident.building,
            "scope_label": scope_label(incident.building), "category": incident.category,
            "category_label": PROBLEM_LABELS.get(incident.category, incident.category), "status": incident.status,
            "status_label": {"resolved": "已处理", "merged": "已合并"}.get(incident.status, "处理中"), "summary": incident.summary,
            "handoff_id": incident.handoff_id, "work_orders": orders, "reports": report_count(session, incident),
            "created_at": iso(incident.created_at), "resolved_at": iso(incident.resolved_at),
            "resolution": incident.resolution}
    if with_reporters:
        data["reporters"] = reporters(session, incident)
    return data


def get(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise IncidentNotFound()
    return incident


def resolve(session: Session, incident_id: int, resolution: Any, now: dt.datetime) -> List[int]:
    """Close the incident with the resolution text: a bot message to every linked conversation (once each), its
    waiting handoff resolved; the events recorded (bot/storage/outbox.py). Returns the conversations told."""
    if not isinstance(resolution, str) or not resolution.strip():
        raise EmptyResolution()
    text = check_text(resolution, MAX_RESOLUTION)
    incident = get(session, incident_id)
    if incident.status != "open":
        raise IncidentAlreadyResolved()
    incident.status, incident.resolved_at, incident.resolution = "resolved", now, text
    handoff = session.get(Handoff, incident.handoff_id) if incident.handoff_id else None
    told = []
    message = (f"【处理结果】{scope_label(incident.building)}{PROBLEM_LABELS.get(incident.category, '')}的问题已处理完毕："
               f"{text}\n感谢您的耐心等待，如仍有问题请随时告诉我。")
    for report in session.scalars(select(IncidentReport).where(IncidentReport.incident_id == incident.id,
                                                               IncidentReport.told_resolved_at.is_(None))
                                  .order_by(IncidentReport.id)):
        outbox.record(session, Kind.MESSAGE_STORED, report.conversation_id)
        session.add(Message(conversation_id=report.conversation_id, sender="bot", text=message, created_at=now))
        report.told_resolved_at = now
        if handoff is not None and handoff.conversation_id == report.conversation_id and \
                handoff.status in HandoffStatus.waiting():
            outbox.record(session, Kind.RESOLVED, report.conversation_id)
            conversation = session.get(Conversation, report.conversation_id)
            close(handoff, conversation, now)
            conversation.flow = None
        told.append(report.conversation_id)
    refresh_card(session, incident)
    return told


class IncidentsNotMergeable(WuyeError):
    status, code, message = 422, "incidents_not_mergeable", "只能合并同一小区、同一类问题、都在处理中的两个事件"


class BadSplit(WuyeError):
    status, code, message = 422, "bad_split", "请选择这个事件中的部分报告（不能是全部）来拆分"


MERGED_NOTICE = "您反映的问题与其他住户的报告已合并处理，处理完成后会第一时间在这里通知您。"


def merge(session: Session, incident_id: int, into_id: int, now: dt.datetime) -> Incident:
    """One problem reported as two incidents (the lift of 3栋 reported from 3栋 and from the whole 小区): the reports and
    work orders of ``incident_id`` move to ``into_id``, so one resolution tells everyone. The merged incident's queue
    item is closed (its conversation goes back to the bot and is told why: the agent of the other one will resolve
    it); it stays in history as ``merged``."""
    source, target = get(session, incident_id), get(session, into_id)
    if source.id == target.id or source.status != "open" or target.status != "open" or \
            source.community_id != target.community_id or source.category != target.category:
        raise IncidentsNotMergeable()
    reported = set(session.scalars(select(IncidentReport.conversation_id).where(IncidentReport.incident_id == target.id)))
    for report in session.scalars(select(IncidentReport).where(IncidentReport.incident_id == source.id)):
        if report.conversation_id in reported:
            session.delete(report)  # a resident who reported both: told once, by the incident that stays
        else:
            report.incident_id = target.id
    for order in session.scalars(select(WorkOrder).where(WorkOrder.incident_id == source.id)):
        order.incident_id = target.id
    if source.building != target.building:
        target.building = None  # two buildings' reports: the incident is the 小区's now
    handoff = session.get(Handoff, source.handoff_id) if source.handoff_id else None
    if handoff is not None and handoff.status in HandoffStatus.waiting():
        conversation = session.get(Conversation, handoff.conversation_id)
        close(handoff, conversation, now, back_to=ConversationStatus.BOT)
        outbox.record(session, Kind.RESOLVED, conversation.id)
        outbox.record(session, Kind.MESSAGE_STORED, conversation.id)
        session.add(Message(conversation_id=conversation.id, sender="bot", text=MERGED_NOTICE, created_at=now))
    source.status, source.resolved_at, source.resolution = "merged", now, f"已并入事件 #{target.id}"
    session.flush()
    refresh_card(session, target)
    refresh_card(session, source)
    return target


def split(session: Session, incident_id: int, conversation_ids: List[int], now: dt.datetime) -> Incident:
    """Reports that are another problem (the water of 7栋 and a leak in 7栋's garage): the chosen reporters move to
    a new incident of the same 小区 and kind, resolved on its own (from the console's incident list); the rest stay."""
    incident = get(session, incident_id)
    if incident.status != "open":
        raise IncidentAlreadyResolved()
    reports = list(session.scalars(select(IncidentReport).where(IncidentReport.incident_id == incident.id)
                                   .order_by(IncidentReport.id)))
    chosen = [r for r in reports if r.conversation_id in set(conversation_ids)]
    if not chosen or len(chosen) == len(reports) or len(chosen) != len(set(conversation_ids)):
        raise BadSplit()
    first = session.get(Message, chosen[0].message_id) if chosen[0].message_id else None
    new = Incident(community_id=incident.community_id, building=incident.building, category=incident.category,
                   status="open", created_at=now,
                   summary=(f"{scope_label(incident.building)}{PROBLEM_LABELS.get(incident.category, '')}：" +
                            (first.text if first else f"从事件 #{incident.id} 拆分"))[:500])
    session.add(new)
    session.flush()
    for report in chosen:
        report.incident_id = new.id
    session.flush()
    refresh_card(session, incident)
    return new
