"""Timers that survive a restart: kept in the ``timers`` table, run by one background task per process.

Today there is one kind: ``agent_timeout`` — an agent whose console disconnected and did not come back within
``agent_timeout_seconds`` gets their open conversations sent back to the queue (the resident is told, on every
channel). It is scheduled when the agent's last socket closes, cancelled when a socket opens, and at start-up
scheduled for every agent who owns conversations but has no socket yet (a restart drops every socket, and the
process that would have timed them out is gone). Timers run on the wall clock (UTC), not the app's business
clock; a due timer is taken by deleting its row, so with several processes each runs once.

Work-order SLAs (bot/work_orders/sla.py, bot/work_orders/desk.py) are checked by the same loop every ``sla_poll_seconds`` on the app's
clock (their deadlines are business times): an order past its response deadline with nobody dispatched, or past its
completion deadline not repaired, tells its resident and is escalated once per step — taken by setting
``escalated_at`` / ``completion_escalated_at`` in the escalation's own transaction, so neither a later check, a
restart nor another process escalates it again.

Retention (bot/storage/retention.py) runs from the same loop every ``retention_poll_seconds`` (and once soon after
start-up) on the app's clock: expired messages, phones, photos, codes and logs are deleted or blanked. Several
processes running it at once is harmless: each step deletes or blanks only what is still there.

Borderline emergencies whose triage question nobody answered (bot/handoffs/urgent_check.py) are paged by the same
check as the SLAs, on the app's clock.

Just before retention, the same pass summarises the closed days of the admin figures (bot/reporting/daily.py): each
(day, 小区) is written once, whichever process gets there first, and kept when retention deletes the rows; with them
the closed work orders whose deadlines have passed join the work-order figures' totals (bot/reporting/work_order_summary.py).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any, Optional

from sqlalchemy import bindparam, delete, select

from bot.core.domain import ConversationStatus
from bot.core.localtime import to_local
from bot.handoffs import handoff as handoffs
from bot.handoffs import urgent_check
from bot.realtime import live
from bot.reporting import daily
from bot.storage import outbox, retention
from bot.storage.models import Conversation, Message, Timer
from bot.storage.outbox import Kind
from bot.work_orders import desk, sla

logger = logging.getLogger(__name__)
AGENT_TIMEOUT = "agent_timeout"
DISCONNECTED_NOTICE = "客服连接中断，已为您重新排队，请稍候。"
DUE = select(Timer.id, Timer.kind, Timer.ref_id).where(Timer.due_at <= bindparam("now"))


def wall_clock() -> dt.datetime:
    return dt.datetime.utcnow()


class Timers:
    def __init__(self, services: Any, poll_seconds: float = 0.25, sla_poll_seconds: float = 5.0) -> None:
        self.services = services
        self.poll_seconds = poll_seconds
        self.sla_poll_seconds = sla_poll_seconds
        self._sla_checked = 0.0
        self._retention_run = float("-inf")  # due at the first pass
        self._task: Optional[asyncio.Task] = None

    # --- scheduling ---------------------------------------------------------------------------------
    def schedule_agent_timeout(self, staff_id: int) -> None:
        due = wall_clock() + dt.timedelta(seconds=self.services.settings.agent_timeout_seconds)
        with self.services.db.session() as session:
            session.execute(delete(Timer).where(Timer.kind == AGENT_TIMEOUT, Timer.ref_id == staff_id))
            session.add(Timer(kind=AGENT_TIMEOUT, ref_id=staff_id, due_at=due, created_at=wall_clock()))

    def cancel_agent_timeout(self, staff_id: int) -> None:
        with self.services.db.session() as session:
            session.execute(delete(Timer).where(Timer.kind == AGENT_TIMEOUT, Timer.ref_id == staff_id))

    def resume_after_restart(self) -> int:
        """Schedule a timeout for every agent who owns conversations and has no timer yet; returns how many."""
        with self.services.db.session() as session:
            owners = set(session.scalars(select(Conversation.assignee_id).where(
                Conversation.status == ConversationStatus.OPEN, Conversation.assignee_id.isnot(None))))
            timed = set(session.scalars(select(Timer.ref_id).where(Timer.kind == AGENT_TIMEOUT)))
        missing = [staff_id for staff_id in owners - timed if not self.services.presence.get(staff_id)]
        for staff_id in missing:
            self.schedule_agent_timeout(staff_id)
        return len(missing)

    # --- running ------------------------------------------------------------------------------------
    async def start(self) -> None:

        sla.use(self.services.settings.data_dir / "sla.yml")
        self.resume_after_restart()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a failing database must not end the timers for good
                logger.exception("running due timers failed; retrying")
            await asyncio.sleep(self.poll_seconds)

    async def run_due(self) -> int:
        """Run every timer that is due; returns how many ran."""
        # four times a second on the event loop: a statement built once, on a pooled connection, no ORM session
        with self.services.db.engine.connect() as connection:
            due = connection.execute(DUE, {"now": wall_clock()}).all()
        ran = 0
        for timer_id, kind, ref_id in due:
            with self.services.db.session() as session:
                taken = session.execute(delete(Timer).where(Timer.id == timer_id)).rowcount == 1
            if taken and kind == AGENT_TIMEOUT:
                await self._agent_timed_out(ref_id)
                ran += 1
        if time.monotonic() - self._sla_checked >= self.sla_poll_seconds:
            self._sla_checked = time.monotonic()
            ran += await self.check_work_orders()
            ran += await self.page_unanswered_triage()
        if time.monotonic() - self._retention_run >= self.services.settings.retention_poll_seconds:
            self._retention_run = time.monotonic()
            # bulk reads and deletes over large tables: off the event loop, so residents' sockets are not held up
            await asyncio.to_thread(self.summarise_days)
            await asyncio.to_thread(self.apply_retention)
        return ran

    def summarise_days(self) -> int:
        """Summarise the admin figures' closed days not summarised yet (the first pass: all history)."""
        with self.services.db.session() as session:
            written = daily.summarise(session, to_local(self.services.clock()).date())
        if written:
            logger.info("figures: %d days summarised", written)
        return written

    def apply_retention(self) -> dict:
        """Delete or blank what is past its retention period now; logs and returns the counts."""
        counts = retention.run(self.services.db, self.services.settings, self.services.clock())
        if any(counts.values()):
            logger.info("retention: %s", counts)
        return counts

    async def check_work_orders(self) -> int:
        """Escalate every work order newly past its response or completion deadline (once per step); returns how
        many steps were escalated."""

        return await desk.escalate_overdue(self.services)

    async def page_unanswered_triage(self) -> int:
        """Page every borderline emergency whose triage question nobody answered in time (bot/handoffs/urgent_check.py);
        returns how many were paged. The question is the conversation's durable flow and each page clears it in its
        own transaction, so a restart or a second process neither drops nor repeats one."""
        now, paged = self.services.clock(), 0
        for conversation_id in urgent_check.overdue(self.services.db, now):
            async with live.change(self.services) as session:
                paged += urgent_check.page_if_due(session, conversation_id, now, self.services.knowledge.current,
                                                  self.services.engine.sms, self.services.engine.limits)
        return paged

    async def _agent_timed_out(self, staff_id: int) -> None:

        if self.services.presence.get(staff_id, 0) > 0:  # came back in time
            return
        now = self.services.clock()
        async with live.change(self.services) as session:  # the releases go out once they have committed
            for conversation in session.scalars(select(Conversation).where(
                    Conversation.status == ConversationStatus.OPEN, Conversation.assignee_id == staff_id)):
                outbox.record(session, Kind.AGENT_TIMED_OUT, conversation.id)
                handoffs.release(session, conversation.id, None, now)
                session.add(Message(conversation_id=conversation.id, sender="system", text=DISCONNECTED_NOTICE,
                                    created_at=now))
