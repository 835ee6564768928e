"""Teams (技能组) and agents' load: which team a handoff's reasons send it to, who of it is available, and the
least-loaded agent an auto-assignment picks (issue 28).

A handoff's kind comes from its reasons (:func:`kind_of`): a complaint, a neighbour dispute or anger → ``complaint``
(投诉专员); a compensation or fee dispute → ``billing`` (收费); a work-order chase or an outage report → ``repair``
(工程部); an emergency (priority urgent) → ``emergency``, which goes to everyone on duty and never to a team;
anything else → ``general``, the general queue. The subject decides over the tone: an angry chase of a work order
is 工程部's, because only they can move the order.

An agent's state is theirs to set in the console header: 在线 (takes everything), 忙碌 (no new auto-assignment),
小休 (no new auto-assignment and not counted as available: a team whose members are all on a break falls back to
the general queue), 离线 (not online even with the console open). Online means the console was seen within
:data:`AGENT_ONLINE_WINDOW`.
"""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Dict, Iterable, List, Optional, Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.access.permissions import CONSOLE_ROLES, community_scope
from bot.core.domain import ConversationStatus, HandoffStatus, Priority
from bot.core.errors import UnknownCommunity, WuyeError
from bot.core.localtime import DEFAULT_TIME_ZONE, to_local, to_utc
from bot.core.settings import agent_max_conversations
from bot.storage.models import Community, Conversation, Handoff, Staff, Team, TeamMember

AGENT_ONLINE_WINDOW = dt.timedelta(minutes=2)


class Kind(str, enum.Enum):
    COMPLAINT = "complaint"
    BILLING = "billing"
    REPAIR = "repair"
    EMERGENCY = "emergency"
    GENERAL = "general"


# the kinds a team may take (an emergency is everyone's, the general queue nobody's in particular)
TEAM_KINDS: Dict[str, str] = {Kind.COMPLAINT.value: "投诉与纠纷", Kind.BILLING.value: "赔偿与收费争议",
                              Kind.REPAIR.value: "工单催办与维修"}
KIND_LABELS: Dict[str, str] = {**TEAM_KINDS, Kind.EMERGENCY.value: "紧急情况", Kind.GENERAL.value: "一般咨询"}


class AgentState(str, enum.Enum):
    ONLINE = "online"
    BUSY = "busy"
    BREAK = "break"
    OFFLINE = "offline"

    @property
    def label(self) -> str:
        return STATE_LABELS[self.value]


STATE_LABELS = {"online": "在线", "busy": "忙碌", "break": "小休", "offline": "离线"}
AVAILABLE_STATES = (AgentState.ONLINE.value, AgentState.BUSY.value)  # 小休 and 离线 are not available

# reasons by the kind they give, checked in this order (the first kind any reason gives wins)
_BILLING = ("compensation or legal dispute", "fee dispute")
_REPAIR_PREFIXES = ("repeated chasing of a work order", "angry chase of a work order", "overdue work order chased",
                    "work order overdue", "work order not completed in time", "outage report")
_COMPLAINT = ("complaint", "neighbour dispute", "angry tone", "insult", "threat", "repeated chasing",
              "exclamation run", "anger words")


def kind_of(priority: Optional[str], reasons: Sequence[str]) -> str:
    """The kind of a handoff, from its priority and reasons (see the module's docstring)."""
    if priority == Priority.URGENT:
        return Kind.EMERGENCY.value
    bare = [str(r).split(" (")[0].strip() for r in reasons or []]  # "angry tone (0.91)" → "angry tone"
    if any(r in _BILLING for r in bare):
        return Kind.BILLING.value
    if any(r.startswith(_REPAIR_PREFIXES) for r in bare):
        return Kind.REPAIR.value
    if any(r in _COMPLAINT or r.split(":")[0] in _COMPLAINT for r in bare):
        return Kind.COMPLAINT.value
    return Kind.GENERAL.value


def team_for(session: Session, kind: str, community_id: Optional[str]) -> Optional[Team]:
    """The team that takes this kind in this 小区 (one naming the 小区 before one serving all); None for the general
    queue and emergencies."""
    if kind not in TEAM_KINDS:
        return None
    teams = [t for t in session.scalars(select(Team).order_by(Team.id)) if kind in (t.kinds or [])]
    named = [t for t in teams if community_id and community_id in (t.communities or [])]
    return (named or [t for t in teams if not t.communities] or [None])[0]


def team_ids_of(session: Session, staff_id: int) -> List[int]:
    return list(session.scalars(select(TeamMember.team_id).where(TeamMember.staff_id == staff_id)
                                .order_by(TeamMember.team_id)))


def team_names(session: Session) -> Dict[int, str]:
    return dict(session.execute(select(Team.id, Team.name)).all())


def _online(now: dt.datetime):
    return (Staff.last_seen >= now - AGENT_ONLINE_WINDOW, Staff.role.in_(CONSOLE_ROLES))


def available_agents(session: Session, now: dt.datetime, team_id: Optional[int] = None,
                     community_id: Optional[str] = None) -> List[Staff]:
    """Agents online whose state is 在线 or 忙碌 (of the team, when one is given); with ``community_id``, only those
    who may see that 小区's conversations (bot.access.permissions.community_scope: theirs, or every 小区)."""
    query = select(Staff).where(*_online(now), Staff.state.in_(AVAILABLE_STATES))
    if team_id is not None:
        query = query.where(Staff.id.in_(select(TeamMember.staff_id).where(TeamMember.team_id == team_id)))
    agents = list(session.scalars(query.order_by(Staff.id)))
    if community_id is None:
        return agents
    return [s for s in agents if community_scope(s) in (None, community_id)]


def loads(session: Session, staff_ids: Iterable[int]) -> Dict[int, int]:
    """Open conversations per agent (the conversations they own now)."""
    ids = list(staff_ids)
    if not ids:
        return {}
    rows = session.execute(select(Conversation.assignee_id, func.count()).where(
        Conversation.status == ConversationStatus.OPEN, Conversation.assignee_id.in_(ids))
        .group_by(Conversation.assignee_id)).all()
    counts = dict(rows)
    return {i: int(counts.get(i, 0)) for i in ids}


def least_loaded(session: Session, now: dt.datetime, team_id: Optional[int],
                 community_id: Optional[str] = None) -> Optional[Staff]:
    """The agent an auto-assignment gives a handoff to: online, state 在线 (忙碌 and 小休 take nothing new), of the
    team when there is one, below the cap (:func:`bot.core.settings.agent_max_conversations`); the least loaded,
    then the one seen last on the console (the most likely to be looking), then the lowest id."""
    candidates = [s for s in available_agents(session, now, team_id, community_id) if s.state == AgentState.ONLINE]
    counts = loads(session, [s.id for s in candidates])
    cap = agent_max_conversations()
    free = [s for s in candidates if counts[s.id] < cap]
    if not free:
        return None
    return min(free, key=lambda s: (counts[s.id], -(s.last_seen.timestamp() if s.last_seen else 0), s.id))


def angry_streak(session: Session, staff_id: int, limit: int = 10) -> int:
    """How many of the agent's latest claimed handoffs in a row had an angry resident (the card's emotion)."""
    rows = session.scalars(select(Handoff.context).where(Handoff.agent_id == staff_id, Handoff.claimed_at.isnot(None))
                           .order_by(Handoff.claimed_at.desc(), Handoff.id.desc()).limit(limit))
    streak = 0
    for context in rows:
        if ((context or {}).get("emotion") or {}).get("label") != "angry":
            break
        streak += 1
    return streak


# --- the admin's 团队 section (bot/api/teams.py): a team is saved whole (name, kinds, 小区, members) or not at all


class TeamNameTaken(WuyeError):
    status, code, message = 409, "team_name_taken", "已有同名的团队"


class TeamNotFound(WuyeError):
    status, code, message = 404, "team_not_found", "没有这个团队"


class UnknownTeamMember(WuyeError):
    status, code, message = 422, "unknown_team_member", "团队成员必须是已有的客服或管理员账号"


class UnknownTeamKind(WuyeError):
    status, code = 422, "unknown_team_kind"
    message = "团队负责的类型只能是：" + "、".join(TEAM_KINDS.values())


def team_json(team: Team, members: Dict[int, List[Staff]]) -> Dict[str, Any]:
    return {"id": team.id, "name": team.name, "kinds": list(team.kinds or []),
            "kinds_labels": [TEAM_KINDS.get(k, k) for k in team.kinds or []],
            "communities": list(team.communities or []),
            "members": [{"id": s.id, "display_name": s.display_name} for s in members.get(team.id, [])]}


def list_teams(session: Session) -> List[Dict[str, Any]]:
    members: Dict[int, List[Staff]] = {}
    for team_id, staff in session.execute(select(TeamMember.team_id, Staff).join(Staff, Staff.id == TeamMember.staff_id)
                                          .order_by(Staff.id)).all():
        members.setdefault(team_id, []).append(staff)
    return [team_json(t, members) for t in session.scalars(select(Team).order_by(Team.id))]


def save_team(session: Session, team_id: Optional[int], name: str, kinds: Sequence[str], communities: Sequence[str],
              member_ids: Sequence[int]) -> Team:
    """Create (``team_id`` None) or replace a team; everything is checked before anything is written."""
    team = None
    if team_id is not None:
        team = session.get(Team, team_id)
        if team is None:
            raise TeamNotFound()
    if any(k not in TEAM_KINDS for k in kinds):
        raise UnknownTeamKind()
    known = set(session.scalars(select(Community.id)))
    if any(c not in known for c in communities):
        raise UnknownCommunity()
    ids = list(dict.fromkeys(member_ids))
    found = set(session.scalars(select(Staff.id).where(Staff.id.in_(ids), Staff.role.in_(CONSOLE_ROLES)))) if ids else set()
    if len(found) != len(ids):
        raise UnknownTeamMember()
    other = session.scalar(select(Team).where(Team.name == name))
    if other is not None and other is not team:
        raise TeamNameTaken()
    try:
        with session.begin_nested():  # another admin saving the same name meanwhile: 409, not a 500
            if team is None:
                team = Team(name=name)
                session.add(team)
            team.name, team.kinds, team.communities = name, list(dict.fromkeys(kinds)), list(dict.fromkeys(communities))
            session.flush()
    except IntegrityError:
        raise TeamNameTaken() from None
    session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    session.add_all([TeamMember(team_id=team.id, staff_id=i) for i in ids])
    session.flush()
    return team


def delete_team(session: Session, team_id: int) -> None:
    """Its waiting handoffs go to the general queue; handled ones keep no team (the figures count them there)."""
    team = session.get(Team, team_id)
    if team is None:
        raise TeamNotFound()
    session.execute(update(Handoff).where(Handoff.team_id == team_id).values(team_id=None)
                    .execution_options(synchronize_session=False))
    session.execute(delete(TeamMember).where(TeamMember.team_id == team_id))
    session.delete(team)


# --- the supervisor's view (admins): each agent's load now and today


def supervisor(session: Session, now: dt.datetime, time_zone: str = DEFAULT_TIME_ZONE) -> List[Dict[str, Any]]:
    """Per agent: state (离线 when the console was not seen lately), open conversations, handled today (小区-local
    day), average handling time today (claimed → resolved), the open conversations whose resident is angry, teams."""
    local_midnight = to_local(now, time_zone).replace(hour=0, minute=0, second=0, microsecond=0)
    since = to_utc(local_midnight, time_zone)
    agents = list(session.scalars(select(Staff).where(Staff.role.in_(CONSOLE_ROLES)).order_by(Staff.id)))
    counts = loads(session, [s.id for s in agents])
    handled: Dict[int, List[float]] = {}
    for agent_id, claimed, resolved in session.execute(select(Handoff.agent_id, Handoff.claimed_at, Handoff.resolved_at)
                                                       .where(Handoff.status == HandoffStatus.RESOLVED,
                                                              Handoff.resolved_at >= since, Handoff.agent_id.isnot(None))):
        handled.setdefault(agent_id, []).append((resolved - claimed).total_seconds() if claimed else 0.0)
    angry: Dict[int, int] = {}
    for agent_id, context in session.execute(select(Handoff.agent_id, Handoff.context)
                                             .where(Handoff.status == HandoffStatus.CLAIMED)):
        if ((context or {}).get("emotion") or {}).get("label") == "angry":
            angry[agent_id] = angry.get(agent_id, 0) + 1
    names = team_names(session)
    their_teams: Dict[int, List[str]] = {}
    for team_id, staff_id in session.execute(select(TeamMember.team_id, TeamMember.staff_id).order_by(TeamMember.team_id)):
        their_teams.setdefault(staff_id, []).append(names.get(team_id, ""))
    rows = []
    for s in agents:
        online = s.last_seen is not None and s.last_seen >= now - AGENT_ONLINE_WINDOW
        state = s.state if online else AgentState.OFFLINE.value
        times = handled.get(s.id, [])
        rows.append({"id": s.id, "display_name": s.display_name, "state": state, "state_label": STATE_LABELS[state],
                     "open_conversations": counts[s.id], "cap": agent_max_conversations(),
                     "handled_today": len(times),
                     "average_handling_seconds": round(sum(times) / len(times)) if times else None,
                     "angry_open": angry.get(s.id, 0), "teams": their_teams.get(s.id, [])})
    return rows
