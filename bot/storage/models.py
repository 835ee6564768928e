"""The database schema (SQLAlchemy 1.4). Migrations live in bot/storage/migrations (Alembic).

Conversations follow Chatwoot's model: status bot/pending/open/resolved, priority, waiting_since, assignee.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (JSON, Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import declarative_base, relationship

from bot.core.domain import ConversationStatus, HandoffStatus, WorkOrderStatus

Base = declarative_base()


def utcnow() -> dt.datetime:
    return dt.datetime.utcnow()


class Community(Base):
    __tablename__ = "communities"
    id = Column(String(32), primary_key=True)
    name = Column(String(64), nullable=False)


class Household(Base):
    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("community_id", "building", "unit", "room", name="uq_household_address"),)
    id = Column(Integer, primary_key=True)
    community_id = Column(String(32), ForeignKey("communities.id"), nullable=False, index=True)
    building = Column(Integer, nullable=False)
    unit = Column(Integer, nullable=False)
    room = Column(Integer, nullable=False)
    area = Column(Float, nullable=False)
    owner_name = Column(String(32), nullable=False)
    phone = Column(String(20), nullable=False)
    community = relationship("Community")

    @property
    def address(self) -> str:
        return f"{self.building}-{self.unit}-{self.room}"

    @property
    def label(self) -> str:
        return f"{self.building}栋{self.unit}单元{self.room}室"


class ChatIdentity(Base):
    __tablename__ = "chat_identities"
    __table_args__ = (UniqueConstraint("channel", "sender_id", name="uq_identity"),)
    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)
    sender_id = Column(String(128), nullable=False)
    household_id = Column(Integer, ForeignKey("households.id"), nullable=True)
    verified_at = Column(DateTime, nullable=True)
    # when the resident accepted the widget's privacy notice (POST /api/widget/privacy); None: not yet (or another
    # channel, whose own terms apply)
    privacy_accepted_at = Column(DateTime, nullable=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    household = relationship("Household")


class VerificationCode(Base):
    __tablename__ = "verification_codes"
    id = Column(Integer, primary_key=True)
    identity_id = Column(Integer, ForeignKey("chat_identities.id"), nullable=False, index=True)
    household_id = Column(Integer, ForeignKey("households.id"), nullable=False)
    code_hash = Column(String(128), nullable=False)
    expires_at = Column(DateTime, nullable=False)
    attempts = Column(Integer, default=0, nullable=False)
    used = Column(Boolean, default=False, nullable=False)


class Bill(Base):
    __tablename__ = "bills"
    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("households.id"), nullable=False, index=True)
    period = Column(String(16), nullable=False)  # "2026-10"
    item = Column(String(16), nullable=False, default="物业费")
    amount_cents = Column(Integer, nullable=False)  # integer cents: exact on SQLite and PostgreSQL alike

    @property
    def amount(self) -> Decimal:
        return (Decimal(self.amount_cents) / 100).quantize(Decimal("0.01"))
    paid = Column(Boolean, default=False, nullable=False)
    paid_at = Column(DateTime, nullable=True)


class ParkingSpace(Base):
    __tablename__ = "parking_spaces"
    id = Column(Integer, primary_key=True)
    community_id = Column(String(32), ForeignKey("communities.id"), nullable=False)
    code = Column(String(16), nullable=False)
    household_id = Column(Integer, ForeignKey("households.id"), nullable=True, index=True)


class ParkingCard(Base):
    __tablename__ = "parking_cards"
    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("households.id"), nullable=False, index=True)
    plate = Column(String(16), nullable=False)
    kind = Column(String(16), nullable=False, default="monthly")  # monthly | yearly
    expires_on = Column(Date, nullable=False)
    space_id = Column(Integer, ForeignKey("parking_spaces.id"), nullable=True)
    space = relationship("ParkingSpace")


class VisitorPass(Base):
    __tablename__ = "visitor_passes"
    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("households.id"), nullable=False, index=True)
    plate = Column(String(16), nullable=False)
    arrive_at = Column(DateTime, nullable=False)
    expires_at = Column(DateTime, nullable=False)
    code = Column(String(16), nullable=False)
    created_at = Column(DateTime, default=utcnow, nullable=False)


WORK_ORDER_STATUSES = tuple(s.value for s in WorkOrderStatus)


_OPEN_ORDER = "status NOT IN (%s)" % ", ".join(f"'{status}'" for status in WorkOrderStatus.closed())
_UNESCALATED_RESPONSE = f"escalated_at IS NULL AND first_response_at IS NULL AND {_OPEN_ORDER}"
_UNESCALATED_COMPLETION = f"completion_escalated_at IS NULL AND {_OPEN_ORDER}"
_OPEN_CONVERSATION = f"status = '{ConversationStatus.OPEN.value}'"


class WorkOrder(Base):
    __tablename__ = "work_orders"
    id = Column(Integer, primary_key=True)
    number = Column(String(20), unique=True, nullable=False)
    community_id = Column(String(32), ForeignKey("communities.id"), nullable=False)
    household_id = Column(Integer, ForeignKey("households.id"), nullable=True, index=True)
    reporter_identity_id = Column(Integer, ForeignKey("chat_identities.id"), nullable=True, index=True)
    location = Column(String(128), nullable=False)
    category = Column(String(32), nullable=False)
    description = Column(Text, nullable=False)
    urgency = Column(String(16), nullable=False, default="normal")
    contact_phone = Column(String(20), nullable=True)
    preferred_time = Column(String(64), nullable=True)
    photos = Column(JSON, nullable=False, default=list)
    status = Column(String(8), nullable=False, default=WorkOrderStatus.NEW.value)
    chase_count = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    updated_at = Column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)
    # the desk (issue 11): who does it, the conversation it came from, SLA deadlines and when they were met
    assignee_id = Column(Integer, ForeignKey("staff.id"), nullable=True, index=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=True)
    response_due = Column(DateTime, nullable=True)
    completion_due = Column(DateTime, nullable=True)
    first_response_at = Column(DateTime, nullable=True)
    completed_at = Column(DateTime, nullable=True)
    escalated_at = Column(DateTime, nullable=True)  # the missed-dispatch (response) escalation went out (once)
    # the missed-completion escalation went out: each SLA step is told and escalated once, so each has its own mark
    completion_escalated_at = Column(DateTime, nullable=True)
    incident_id = Column(Integer, ForeignKey("incidents.id"), nullable=True, index=True)
    # the work-order figures' summary pass that counted this closed order (bot/reporting/work_order_summary.py);
    # NULL: counted from the row by every request (open orders, and closed ones not summarised yet)
    summary_id = Column(Integer, nullable=True, index=True)
    events = relationship("WorkOrderEvent", order_by="WorkOrderEvent.id", cascade="all, delete-orphan")
    # the desk's list reads the newest orders first (ORDER BY created_at DESC, id DESC LIMIT; issue 29)
    # The SLA check (bot/work_orders/desk.py Step.missed, every 5 s in each worker) finds the open orders not yet
    # escalated for a step in these (migration 0020): a few hundred rows, where a scan read all 300 k at scale
    __table_args__ = (Index("ix_work_orders_created_at_id", "created_at", "id"),
                      Index("ix_work_orders_response_unescalated", "response_due",
                            postgresql_where=sql_text(_UNESCALATED_RESPONSE),
                            sqlite_where=sql_text(_UNESCALATED_RESPONSE)),
                      Index("ix_work_orders_completion_unescalated", "completion_due",
                            postgresql_where=sql_text(_UNESCALATED_COMPLETION),
                            sqlite_where=sql_text(_UNESCALATED_COMPLETION)))


class WorkOrderEvent(Base):
    __tablename__ = "work_order_events"
    id = Column(Integer, primary_key=True)
    work_order_id = Column(Integer, ForeignKey("work_orders.id"), nullable=False, index=True)
    status = Column(String(8), nullable=False)
    note = Column(Text, nullable=False, default="")
    actor = Column(String(32), nullable=False, default="system")
    created_at = Column(DateTime, default=utcnow, nullable=False)
    # photos of the work (the technician's completion photo, /uploads/… of their own uploads): stored with the note
    # in the same row, so a completion is never half stored; '[]' for the rows made before migration 0007
    photos = Column(JSON, nullable=False, default=list, server_default="[]")
    # the desk figures' ratings: the residents' events only, per order (issue 29)
    __table_args__ = (Index("ix_work_order_events_actor_work_order_id", "actor", "work_order_id"),)


class Staff(Base):
    __tablename__ = "staff"
    id = Column(Integer, primary_key=True)
    username = Column(String(64), unique=True, nullable=False)
    display_name = Column(String(64), nullable=False)
    password_hash = Column(String(256), nullable=False)
    role = Column(String(16), nullable=False, default="agent")  # technician | agent | admin
    last_seen = Column(DateTime, nullable=True)
    # the 小区 this member serves: their queue, desk and conversations are that 小区's (None: every 小区)
    community_id = Column(String(32), nullable=True)
    disabled_at = Column(DateTime, nullable=True)  # set: cannot sign in, every session revoked
    # set when an admin created the account or reset its password: the member chooses their own before anything else
    must_change_password = Column(Boolean, nullable=False, default=False, server_default="0")
    # what the agent set in the console header (bot/handoffs/teams.py): online | busy | break | offline;
    # busy and break get no auto-assignment, break and offline are not available
    state = Column(String(8), nullable=False, default="online", server_default="online")


CONVERSATION_STATUSES = tuple(s.value for s in ConversationStatus)


class Conversation(Base):
    __tablename__ = "conversations"
    id = Column(Integer, primary_key=True)
    identity_id = Column(Integer, ForeignKey("chat_identities.id"), nullable=False, index=True)
    channel = Column(String(16), nullable=False)
    community_id = Column(String(32), nullable=True)
    status = Column(String(16), nullable=False, default=ConversationStatus.BOT.value)
    priority = Column(String(16), nullable=True)
    assignee_id = Column(Integer, ForeignKey("staff.id"), nullable=True)
    waiting_since = Column(DateTime, nullable=True)
    flow = Column(JSON, nullable=True)  # {"name", "slots", "asking"} of the flow under way
    failed_turns = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    updated_at = Column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)
    identity = relationship("ChatIdentity")
    messages = relationship("Message", order_by="Message.id", cascade="all, delete-orphan")
    # the admin figures and the CSV export read a date range of conversations; an agent's load and their console
    # read their open conversations (issue 29)
    __table_args__ = (Index("ix_conversations_created_at", "created_at"),
                      Index("ix_conversations_open_assignee_id", "assignee_id",
                            postgresql_where=sql_text(_OPEN_CONVERSATION), sqlite_where=sql_text(_OPEN_CONVERSATION)))


class Message(Base):
    __tablename__ = "messages"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    sender = Column(String(16), nullable=False)  # resident | bot | agent | system | note
    text = Column(Text, nullable=False)
    buttons = Column(JSON, nullable=False, default=list)
    nlu = Column(JSON, nullable=True)
    staff_id = Column(Integer, ForeignKey("staff.id"), nullable=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    # the page's own id for a resident message: a resend after a reconnect is stored once
    client_id = Column(String(64), nullable=True)
    # the conversations export counts each conversation's resident messages and finds the first from this index
    # alone (issue 29: a year's export read every message's row, ~2.5 s of its 3 s)
    __table_args__ = (UniqueConstraint("conversation_id", "client_id", name="uq_message_client_id"),
                      Index("ix_messages_resident_conversation_id_id", "conversation_id", "id",
                            postgresql_where=sql_text("sender = 'resident'"),
                            sqlite_where=sql_text("sender = 'resident'")))


class Handoff(Base):
    __tablename__ = "handoffs"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    priority = Column(String(16), nullable=False)
    reasons = Column(JSON, nullable=False, default=list)
    context = Column(JSON, nullable=False, default=dict)
    status = Column(String(16), nullable=False, default=HandoffStatus.QUEUED.value)  # bot.core.domain.HandoffStatus
    ticket = Column(String(20), nullable=True)
    agent_id = Column(Integer, ForeignKey("staff.id"), nullable=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    claimed_at = Column(DateTime, nullable=True)
    resolved_at = Column(DateTime, nullable=True)
    callback_phone = Column(String(20), nullable=True)  # the number the resident confirmed for a callback
    callback_window = Column(String(32), nullable=True)  # when they can take it, as they chose it
    callback_at = Column(DateTime, nullable=True)  # when someone will call at the latest (told to the resident)
    # the kind of handoff its reasons give (bot/handoffs/teams.py: complaint | billing | repair | emergency | general)
    # and the team that takes it (None: the general queue, also when the kind's team had nobody available)
    kind = Column(String(16), nullable=True)
    team_id = Column(Integer, ForeignKey("teams.id"), nullable=True)
    conversation = relationship("Conversation")
    # the waiting queue and a queue position, read on every message of a waiting conversation
    # and a date range of handoffs for the figures and the CSV export (issue 29)
    # and an agent's latest claims (the console's run of angry conversations)
    __table_args__ = (Index("ix_handoffs_status_priority_created_at", "status", "priority", "created_at"),
                      Index("ix_handoffs_created_at", "created_at"),
                      Index("ix_handoffs_agent_id_claimed_at", "agent_id", "claimed_at", "id"))


class Team(Base):
    """技能组: the kinds of handoff it takes and, optionally, the 小区 it serves (empty: all)."""

    __tablename__ = "teams"
    id = Column(Integer, primary_key=True)
    name = Column(String(32), unique=True, nullable=False)
    kinds = Column(JSON, nullable=False, default=list)  # complaint | billing | repair
    communities = Column(JSON, nullable=False, default=list)
    created_at = Column(DateTime, default=utcnow, nullable=False)


class TeamMember(Base):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "staff_id", name="uq_team_member"),)
    id = Column(Integer, primary_key=True)
    team_id = Column(Integer, ForeignKey("teams.id"), nullable=False, index=True)
    staff_id = Column(Integer, ForeignKey("staff.id"), nullable=False, index=True)


class Timer(Base):
    """Something due later that must survive a restart (an absent agent's conversations going back to the
    queue): kept here, resumed at start-up, deleted when done or no longer needed."""

    __tablename__ = "timers"
    id = Column(Integer, primary_key=True)
    kind = Column(String(32), nullable=False)  # agent_timeout
    ref_id = Column(Integer, nullable=False)  # the staff id for agent_timeout
    due_at = Column(DateTime, nullable=False, index=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)


class ApiKey(Base):
    """A key for the REST channel (`/api/chat`): created and revoked by an admin, stored hashed. The senders of
    each key live in their own namespace (``k<id>:<sender_id>``)."""

    __tablename__ = "api_keys"
    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    prefix = Column(String(16), nullable=False)  # the first characters of the key, shown to admins
    key_hash = Column(String(64), unique=True, nullable=False)  # sha256 of the whole key
    created_by = Column(Integer, ForeignKey("staff.id"), nullable=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    revoked_at = Column(DateTime, nullable=True)
    # what the key may do, comma-separated (bot.access.auth.API_KEY_SCOPES): a key given to an ERP for imports
    # cannot talk as residents, and a chat integration's key cannot overwrite the households
    scopes = Column(String(64), nullable=False, default="chat", server_default="chat")


class StaffSession(Base):
    """A signed-in staff session: the cookie carries its id, logout revokes it server-side."""

    __tablename__ = "staff_sessions"
    id = Column(String(64), primary_key=True)
    staff_id = Column(Integer, ForeignKey("staff.id"), nullable=False, index=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    expires_at = Column(DateTime, nullable=False)
    revoked_at = Column(DateTime, nullable=True)
    ip = Column(String(64), nullable=True)  # where it signed in from, shown in the session list
    user_agent = Column(String(200), nullable=True)


class SetupToken(Base):
    """A one-time token for the web first-run (bot/access/first_run.py): printed in the server log or by
    `wuye init --web` while the database has no staff, only its digest kept. Using one uses them all."""

    __tablename__ = "setup_tokens"
    token_hash = Column(String(64), primary_key=True)  # sha256 hex of the token
    created_at = Column(DateTime, nullable=False)
    expires_at = Column(DateTime, nullable=False)
    used_at = Column(DateTime, nullable=True)


class SeenMessage(Base):
    """Messages (WeChat MsgId) and request nonces already processed: a replay, even after a restart, is refused."""

    __tablename__ = "seen_messages"
    __table_args__ = (UniqueConstraint("channel", "key", name="uq_seen_message"),)
    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)
    key = Column(String(160), nullable=False)
    created_at = Column(DateTime, default=utcnow, nullable=False, index=True)


class RateEvent(Base):
    """One use of a limited resource (an SMS code, a page, an upload, a message): limits count these rows in a
    sliding window, so they hold across instances and restarts (bot/access/limits.py)."""

    __tablename__ = "rate_events"
    id = Column(Integer, primary_key=True)
    bucket = Column(String(160), nullable=False)
    amount = Column(Integer, nullable=False, default=1)  # bytes for upload quotas, else 1
    created_at = Column(DateTime, default=utcnow, nullable=False, index=True)
    __table_args__ = (Index("ix_rate_events_bucket_created_at", "bucket", "created_at"),)  # a bucket's window


class QuickReply(Base):
    """快捷回复: answers admins prepare for agents, inserted in the console by shortcut or search."""

    __tablename__ = "quick_replies"
    id = Column(Integer, primary_key=True)
    shortcut = Column(String(16), unique=True, nullable=False)  # typed after "/" in the console
    title = Column(String(64), nullable=False)
    text = Column(Text, nullable=False)
    created_by = Column(Integer, ForeignKey("staff.id"), nullable=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    updated_at = Column(DateTime, default=utcnow, nullable=False)


class Rating(Base):
    """满意度评价: the resident's 1–5 score (and comment) for a handoff an agent resolved."""

    __tablename__ = "ratings"
    # the figures' ratings per day read the window's only (issue 29)
    __table_args__ = (UniqueConstraint("handoff_id", name="uq_rating_handoff"), Index("ix_ratings_created_at", "created_at"))
    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    handoff_id = Column(Integer, ForeignKey("handoffs.id"), nullable=False)
    agent_id = Column(Integer, ForeignKey("staff.id"), nullable=True, index=True)
    score = Column(Integer, nullable=False)
    comment = Column(Text, nullable=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)


class Notice(Base):
    """A notice (停水/停电/电梯维保/活动…) for a 小区 or some of its buildings, in a time window."""

    __tablename__ = "notices"
    id = Column(Integer, primary_key=True)
    community_id = Column(String(32), ForeignKey("communities.id"), nullable=False, index=True)
    buildings = Column(JSON, nullable=False, default=list)  # [] = the whole 小区
    kind = Column(String(16), nullable=False)  # water | power | gas | elevator | activity | other
    title = Column(String(64), nullable=False)
    text = Column(Text, nullable=False)
    starts_at = Column(DateTime, nullable=False)
    ends_at = Column(DateTime, nullable=False)
    created_by = Column(Integer, ForeignKey("staff.id"), nullable=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    updated_at = Column(DateTime, default=utcnow, nullable=False)
    withdrawn_at = Column(DateTime, nullable=True)
    poll_id = Column(Integer, ForeignKey("polls.id"), nullable=True)  # a poll the notice links to (its 参与投票 button)


class NoticeRevision(Base):
    """Every version of a notice, for its history."""

    __tablename__ = "notice_revisions"
    id = Column(Integer, primary_key=True)
    notice_id = Column(Integer, ForeignKey("notices.id"), nullable=False, index=True)
    staff_id = Column(Integer, ForeignKey("staff.id"), nullable=True)
    action = Column(String(16), nullable=False)  # created | edited | withdrawn
    snapshot = Column(JSON, nullable=False)
    created_at = Column(DateTime, default=utcnow, nullable=False)


class Incident(Base):
    """One problem many residents report (a peak): the first report opens the work order or handoff, later
    ones are linked to it, and everyone linked is told when it is resolved."""

    __tablename__ = "incidents"
    id = Column(Integer, primary_key=True)
    community_id = Column(String(32), ForeignKey("communities.id"), nullable=False, index=True)
    building = Column(Integer, nullable=True)
    category = Column(String(32), nullable=False)
    status = Column(String(16), nullable=False, default="open")  # open | resolved
    handoff_id = Column(Integer, ForeignKey("handoffs.id"), nullable=True)
    summary = Column(Text, nullable=False)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    resolved_at = Column(DateTime, nullable=True)
    resolution = Column(Text, nullable=True)


class IncidentReport(Base):
    __tablename__ = "incident_reports"
    __table_args__ = (UniqueConstraint("incident_id", "conversation_id", name="uq_incident_report"),)
    id = Column(Integer, primary_key=True)
    incident_id = Column(Integer, ForeignKey("incidents.id"), nullable=False, index=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    message_id = Column(Integer, ForeignKey("messages.id"), nullable=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    told_resolved_at = Column(DateTime, nullable=True)


class Suggestion(Base):
    """A resident's suggestion (建议, bot/voice/suggestions.py): numbered JY + local date + sequence, answered by an
    admin in the resident's own conversation."""

    __tablename__ = "suggestions"
    id = Column(Integer, primary_key=True)
    number = Column(String(24), unique=True, nullable=False)  # JY20261206001
    text = Column(Text, nullable=False)
    conversation_id = Column(Integer, ForeignKey("conversations.id"), nullable=False, index=True)
    identity_id = Column(Integer, ForeignKey("chat_identities.id"), nullable=False)
    household_id = Column(Integer, ForeignKey("households.id"), nullable=True)
    community_id = Column(String(32), nullable=True, index=True)
    building = Column(Integer, nullable=True)
    status = Column(String(16), nullable=False, default="pending")  # pending | adopted | declined | replied
    reply = Column(Text, nullable=True)
    replied_by = Column(Integer, ForeignKey("staff.id"), nullable=True)
    replied_at = Column(DateTime, nullable=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)


class Poll(Base):
    """A poll (投票) for a 小区 or some of its buildings, open in a time window (bot/voice/polls.py)."""

    __tablename__ = "polls"
    id = Column(Integer, primary_key=True)
    community_id = Column(String(32), ForeignKey("communities.id"), nullable=False, index=True)
    buildings = Column(JSON, nullable=False, default=list)  # [] = the whole 小区
    question = Column(String(200), nullable=False)
    options = Column(JSON, nullable=False)  # 2–6 option texts, voted by their number 1…n
    per = Column(String(16), nullable=False, default="household")  # household | resident: who has one vote
    opens_at = Column(DateTime, nullable=False)
    closes_at = Column(DateTime, nullable=False)
    show_results = Column(Boolean, nullable=False, default=False)  # residents see the counts once closed
    created_by = Column(Integer, ForeignKey("staff.id"), nullable=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)


class PollVote(Base):
    """One vote; ``voter`` is "h<household id>" or "i<identity id>" (the poll's ``per``): the unique constraint is
    the one vote, whichever process takes it."""

    __tablename__ = "poll_votes"
    __table_args__ = (UniqueConstraint("poll_id", "voter", name="uq_poll_vote_voter"),)
    id = Column(Integer, primary_key=True)
    poll_id = Column(Integer, ForeignKey("polls.id"), nullable=False, index=True)
    voter = Column(String(24), nullable=False)
    option = Column(Integer, nullable=False)  # 1…len(options)
    identity_id = Column(Integer, ForeignKey("chat_identities.id"), nullable=False)
    channel = Column(String(16), nullable=False)
    created_at = Column(DateTime, default=utcnow, nullable=False)


class AuditEntry(Base):
    """One staff read of a household's data (issue 26 point 5b): who, when, which household and record, and why
    (the conversation or work order it was read for). Household and record are plain ids, not foreign keys: the log
    outlives an erased household or a deleted message, which is when it is needed."""

    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True)
    staff_id = Column(Integer, nullable=True)  # None: an operator's command (`wuye`), not a signed-in member
    staff_name = Column(String(64), nullable=False)  # the username then: kept if the account is renamed or removed
    action = Column(String(32), nullable=False)  # conversation_card | work_order
    household_id = Column(Integer, nullable=True, index=True)
    record_kind = Column(String(16), nullable=False)  # conversation | work_order
    record_id = Column(Integer, nullable=False)
    reason = Column(String(64), nullable=False)  # 会话 #12 / 工单 WO…: what the member was working on
    created_at = Column(DateTime, default=utcnow, nullable=False, index=True)
    __table_args__ = (Index("ix_audit_log_staff_id_created_at", "staff_id", "created_at"),)


class DailyFigures(Base):
    """The admin figures' summary of one closed 小区-local day for one 小区 (issue 29 point 4: figures for a year
    read ~365 × 小区 rows, not every conversation and handoff), written once per (day, 小区) by
    bot/reporting/daily.py. Only what cannot change once the day is over: the conversations created that day and
    their handoffs' priorities and reasons (each ``{key: [count, first handoff id]}``; the id keeps the figures'
    order of ties). Whether a conversation was handed off, waits, statuses and teams can still change: they are
    read from the rows. ``community_id`` "" is the conversations without a 小区, and its row marks the day as
    summarised (written even when empty)."""

    __tablename__ = "daily_figures"
    day = Column(Date, primary_key=True)
    community_id = Column(String(32), primary_key=True)
    conversations = Column(Integer, nullable=False, default=0)
    handoffs_by_priority = Column(JSON, nullable=False, default=dict)
    handoffs_by_reason = Column(JSON, nullable=False, default=dict)
    summarised_at = Column(DateTime, default=utcnow, nullable=False)


class WorkOrderSummary(Base):
    """One pass of the work-order figures' summary (issue 29: the figures of 300 k orders took 0.5–0.8 s): the
    closed orders it counted carry its id (``work_orders.summary_id``); ``cutoff`` is the time every deadline they
    were measured against had passed by (a request earlier than the latest cutoff counts every order from the rows);
    ``ratings`` is ``{score: orders}`` of each order's latest rating among the events up to ``last_event_id``."""

    __tablename__ = "work_order_summaries"
    id = Column(Integer, primary_key=True)
    cutoff = Column(DateTime, nullable=False)
    last_event_id = Column(Integer, nullable=False)
    ratings = Column(JSON, nullable=False, default=dict)
    created_at = Column(DateTime, default=utcnow, nullable=False)


class WorkOrderTotals(Base):
    """The summarised closed orders per (status, category): how many, the first id (the figures' order of
    categories) and the SLA shares' counts, which cannot change once an order is closed and its deadlines passed."""

    __tablename__ = "work_order_totals"
    status = Column(String(8), primary_key=True)
    category = Column(String(32), primary_key=True)
    orders = Column(Integer, nullable=False, default=0)
    first_id = Column(Integer, nullable=False)
    response_measured = Column(Integer, nullable=False, default=0)
    response_met = Column(Integer, nullable=False, default=0)
    completion_measured = Column(Integer, nullable=False, default=0)
    completion_met = Column(Integer, nullable=False, default=0)


class WorkOrderDurations(Base):
    """The summarised closed orders' times to the first response and to completion, counted per whole minute: the
    medians find their minute here and read only that minute's orders (exact values) from the rows."""

    __tablename__ = "work_order_durations"
    kind = Column(String(16), primary_key=True)  # "response" | "completion"
    minute = Column(Integer, primary_key=True)
    orders = Column(Integer, nullable=False, default=0)
