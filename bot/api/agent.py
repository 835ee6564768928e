"""The agent console's API: the queue, the context card, claim/reply/note/resolve/release, the triage answer, and /ws/agent."""
from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Dict, List, Literal, Optional

from fastapi import APIRouter, Path, Query, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, StrictBool, StrictStr
from starlette.concurrency import run_in_threadpool

from bot.access import audit
from bot.access.permissions import Capability, can, community_scope
from bot.api import scope
from bot.api.deps import ConsoleStaff, NowDep, ServicesDep, SessionDep, optional_staff
from bot.core.errors import ConversationNotFound, check_text
from bot.core.settings import agent_max_conversations
from bot.handoffs import handoff as handoffs, teams, urgent_check
from bot.realtime import live
from bot.services import Services
from bot.storage.models import Conversation, Staff

router = APIRouter(tags=["agent"])


class AgentMessage(BaseModel):
    text: StrictStr = Field(..., min_length=1, max_length=2000)
    private: StrictBool = Field(False, description="a private note, never shown to the resident")


RowId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a row id")]  # ≥ 2^63 would overflow the database


@router.get("/api/agent/queue", summary="The queue as this agent sees it (their teams' first, other teams' under "
                                       "others), their conversations and their own state and load")
def get_queue(staff: ConsoleStaff, session: SessionDep, now: NowDep, services: ServicesDep,
              queue: Annotated[bool, Query(description="false: only the agent's conversations, state and "
                                                        "teams — the console has the queue from /ws/agent's queue "
                                                        "frames")] = True) -> Dict[str, Any]:
    own = {"mine": live.mine_json(session, staff.id), "me": me_json(session, session.get(Staff, staff.id))}
    if not queue:  # the console after a queue frame: reading every waiting item again would be its cost again
        return {**own, "my_teams": live.my_teams_json(session, set(teams.team_ids_of(session, staff.id)))}
    result = {**live.agent_queue_json(session, now, staff.id), **own}
    for part in ("queue", "others"):  # an agent of one 小区 sees its items only (bot/api/scope.py)
        if isinstance(result.get(part), list):
            result[part] = scope.filter_queue(session, staff, result[part], scope.default_community(services))
    return result


def me_json(session, staff: Staff) -> Dict[str, Any]:
    """The console header's state and the gentle prompt after a run of angry conversations."""
    streak = teams.angry_streak(session, staff.id)
    return {"state": staff.state, "state_label": teams.STATE_LABELS.get(staff.state, "在线"),
            "open_conversations": teams.loads(session, [staff.id])[staff.id], "cap": agent_max_conversations(),
            "angry_streak": streak,
            "break_prompt": (f"连续处理了 {streak} 个情绪激动的会话，休息一下吧？"
                             if streak >= ANGRY_STREAK_PROMPT and staff.state != teams.AgentState.BREAK else None)}


def _visible(session, me: Staff, services: Services):
    """The conversations of some ids an agent may see (their 小区's): what an auto-assignment may give them."""
    return lambda ids: scope.visible(session, me, ids, scope.default_community(services))


ANGRY_STREAK_PROMPT = 3  # angry conversations in a row before the console suggests a 小休


class StateBody(BaseModel):
    state: Literal["online", "busy", "break", "offline"] = Field(
        ..., description="在线 online / 忙碌 busy (no new auto-assignment) / 小休 break (also not available) / 离线 offline")


@router.post("/api/agent/state", summary="Set my state: 在线 / 忙碌 / 小休 / 离线")
async def set_state(body: StateBody, staff: ConsoleStaff, services: ServicesDep) -> Dict[str, Any]:
    async with live.change(services) as session:
        me = session.get(Staff, staff.id)
        me.state = body.state
        handoffs.pull_next(session, me, services.clock(), _visible(session, me, services))  # back 在线: the next
        result = me_json(session, me)
    live.queue_changed(services)  # who is available changed: consoles refresh their queue and header
    return result


@router.get("/api/agent/conversations/{conversation_id}")
def get_conversation(conversation_id: RowId, staff: ConsoleStaff, session: SessionDep,
                     services: ServicesDep, now: NowDep) -> Dict[str, Any]:
    scope.check_conversation(session, staff, conversation_id, scope.default_community(services))  # else 404
    data = live.conversation_json(session, conversation_id)
    if data is None:
        raise ConversationNotFound()
    conversation = session.get(Conversation, conversation_id)
    household_id = conversation.identity.household_id if conversation.identity is not None else None
    if household_id is not None:  # the card shows a bound household's address, phone and bills: audited
        audit.record(session, staff, audit.CONVERSATION_CARD, household_id, "conversation", conversation_id,
                     f"会话 #{conversation_id}", now)
    return data


def conversation_community(session, conversation: Conversation) -> Optional[str]:
    """The resident's 小区: the bound household's, else the one the conversation started in (None: the default)."""
    household = conversation.identity.household if conversation.identity is not None else None
    return household.community_id if household is not None else conversation.community_id


def rendering_community(session, staff: Staff, conversation_id: Optional[int]) -> Optional[str]:
    """The 小区 the console renders answers and quick replies for: the open conversation's resident's, or with none
    open the agent's own (all of them: the first). A conversation that does not exist: ConversationNotFound."""
    if conversation_id is None:
        return community_scope(staff)
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise ConversationNotFound()
    return conversation_community(session, conversation)


def search_knowledge(kb, q: str, limit: int = 8) -> List[Any]:
    """FAQ entries whose title, id or a question contains the words (titles first, then most matching questions)."""
    words = [w for w in q.lower().split() if w]
    scored = []
    for entry in kb.active.values():
        title = entry.title.lower()
        questions = [x for x in entry.questions if all(w in x.lower() for w in words)]
        in_title = all(w in title or w in entry.id for w in words)
        if in_title or questions:
            scored.append((0 if in_title else 1, -len(questions), entry.id, entry, questions[:3]))
    return [(entry, matched) for *_, entry, matched in sorted(scored, key=lambda s: s[:3])[:limit]]


@router.get("/api/agent/knowledge", summary="Search the FAQ (titles and questions); answers rendered for the "
                                            "conversation's 小区")
def knowledge_search(staff: ConsoleStaff, services: ServicesDep, session: SessionDep,
                     q: Annotated[str, Query(min_length=1, max_length=100)],
                     conversation_id: Annotated[Optional[int], Query(ge=1, le=2**31 - 1)] = None) -> Dict[str, Any]:
    kb = services.knowledge.current
    community = kb.community(rendering_community(session, staff, conversation_id))
    return {"community": {"id": community.id, "name": community.name},
            "results": [{"id": e.id, "title": e.title, "questions": matched, "answer": kb.render(e.id, community.id)}
                        for e, matched in search_knowledge(kb, q.strip())]}


@router.post("/api/agent/handoffs/{handoff_id}/claim")
async def claim(handoff_id: RowId, staff: ConsoleStaff, services: ServicesDep, now: NowDep) -> Dict[str, Any]:
    async with live.change(services) as session:  # its events go out once it has committed
        scope.check_handoff(session, staff, handoff_id, scope.default_community(services))  # another 小区's: 404
        handoff = handoffs.claim(session, handoff_id, session.get(Staff, staff.id), now)  # AlreadyClaimed → 409
        conversation_id = handoff.conversation_id
    return {"conversation_id": conversation_id}


async def _owned_action(services: Services, staff: Staff, now, action) -> Dict[str, Any]:
    async with live.change(services) as session:  # the action records its events; they go out after the commit
        return action(session, session.get(Staff, staff.id), now)  # ConversationNotFound → 404, NotOwner → 403


@router.post("/api/agent/conversations/{conversation_id}/messages")
async def reply(conversation_id: RowId, body: AgentMessage, staff: ConsoleStaff, services: ServicesDep,
                now: NowDep) -> Dict[str, Any]:
    def action(session, me, now):
        text = check_text(body.text, 2000)  # spaces only, NUL, lone surrogates: refused in Chinese
        message = handoffs.agent_reply(session, conversation_id, me, text, now, private=body.private)
        return {"message_id": message.id}

    return await _owned_action(services, staff, now, action)


@router.post("/api/agent/conversations/{conversation_id}/resolve")
async def resolve(conversation_id: RowId, staff: ConsoleStaff, services: ServicesDep, now: NowDep) -> Dict[str, Any]:
    def action(session, me, now):
        handoffs.resolve(session, conversation_id, me, now)
        taken = handoffs.pull_next(session, me, now, _visible(session, me, services))  # auto-assignment: the next
        return {"ok": True, "next_conversation_id": taken.conversation_id if taken is not None else None}

    return await _owned_action(services, staff, now, action)


class TriageBody(BaseModel):
    danger: StrictBool = Field(..., description="true: danger is happening now (the on-duty phone is paged now); "
                                                 "false: no danger (a normal handoff, nobody paged at the timeout)")


@router.post("/api/agent/conversations/{conversation_id}/triage",
             summary="Answer a borderline emergency's triage question in the resident's place (the agent handling it)")
async def triage(conversation_id: RowId, body: TriageBody, staff: ConsoleStaff, services: ServicesDep,
                 now: NowDep) -> Dict[str, Any]:
    def action(session, me, now):  # NoTriageQuestion → 409 (answered, timed out, or never asked)
        return urgent_check.settle(session, conversation_id, me, now, body.danger, services.knowledge.current,
                                   services.engine.sms, services.engine.limits)

    return await _owned_action(services, staff, now, action)


@router.post("/api/agent/conversations/{conversation_id}/release")
async def release(conversation_id: RowId, staff: ConsoleStaff, services: ServicesDep, now: NowDep) -> Dict[str, Any]:
    return await _owned_action(services, staff, now,
                               lambda session, me, now: handoffs.release(session, conversation_id, me, now) and {"ok": True})


def agent_frame(message: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """A console frame as a dict, or None for anything else (binary, not JSON, not an object, nested too deep)."""
    if message.get("type") == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if not isinstance(text, str) or len(text) > 10_000:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


# How often an open console socket checks that its sign-in still holds (logout, expiry, a revoked session, a role
# that lost the console): the socket is closed with 4401/4403 within this many seconds.
SESSION_CHECK_SECONDS = 2.0


@router.websocket("/ws/agent")
async def agent_socket(websocket: WebSocket, services: ServicesDep) -> None:
    staff = await run_in_threadpool(optional_staff, websocket, services)  # the socket's cookie, read again each check
    if staff is None:
        await websocket.close(code=4401)
        return
    # a technician's sign-in opens the desk, not the live queue; a temporary password opens nothing
    if not can(staff, Capability.CONSOLE) or staff.must_change_password:
        await websocket.close(code=4403)
        return
    await websocket.accept()
    services.presence[staff.id] = services.presence.get(staff.id, 0) + 1
    services.timers.cancel_agent_timeout(staff.id)  # back in time: nothing is released
    queues = {"agents": live.follow_queue(services)}  # subscribed before the queue is read: no change missed

    def touch() -> None:
        with services.db.session() as session:
            session.get(Staff, staff.id).last_seen = services.clock()

    touch()

    def in_scope(frame: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """A frame as this member may see it (bot/api/scope.py): an agent of one 小区 gets its queue items only, and
        no event of another 小区's conversation or work order (None: not sent)."""
        if community_scope(staff) is None or frame.get("type") not in ("queue", "event"):
            return frame
        default = scope.default_community(services)
        with services.db.session() as session:
            if frame["type"] == "event":
                return frame if scope.event_visible(session, staff, frame, default) else None
            return {**frame, "queue": scope.filter_queue(session, staff, frame.get("queue") or [], default)}

    async def forward(topic: str, queue: asyncio.Queue) -> None:
        while True:
            frame = await queue.get()
            if community_scope(staff) is not None:
                frame = await run_in_threadpool(in_scope, frame)
            if isinstance(frame, live.SharedFrame):  # the same text for every console here, encoded once
                await websocket.send_text(frame.text())
            elif frame is not None:
                await websocket.send_json(frame)

    async def watch_sign_in() -> None:
        while True:
            await asyncio.sleep(SESSION_CHECK_SECONDS)
            current = await run_in_threadpool(optional_staff, websocket, services)
            if current is None or not can(current, Capability.CONSOLE):
                await websocket.close(code=4401 if current is None else 4403)
                return

    def first_queue() -> Optional[Dict[str, Any]]:
        with services.db.session() as session:
            return in_scope({"type": "queue", "queue": live.queue_json(session, services.clock())})

    tasks = {"": asyncio.create_task(watch_sign_in())}
    try:
        # read in a thread: it reads every waiting item (~50 ms at 1,800 of them), which would hold up every other
        # request of this process. What the subscription receives meanwhile waits in it and is forwarded after this
        # first queue, so an older queue never arrives after a newer one.
        await websocket.send_json(await run_in_threadpool(first_queue))
        tasks["agents"] = asyncio.create_task(forward("agents", queues["agents"]))
        while True:
            data = agent_frame(await websocket.receive())
            if data is None:
                await websocket.send_json({"type": "error", "code": "invalid_frame",
                                           "detail": "消息格式不正确：只接受 {\"type\": \"watch\"|\"ping\"} 的 JSON 文本帧"})
                continue
            if await run_in_threadpool(optional_staff, websocket, services) is None:  # signed out meanwhile
                await websocket.close(code=4401)
                break
            touch()
            if data.get("type") == "watch" and isinstance(data.get("conversation_id"), int):
                topic = f"conv:{data['conversation_id']}"
                if community_scope(staff) is not None:  # another 小区's conversation is not watched
                    with services.db.session() as session:
                        if not scope.visible(session, staff, [data["conversation_id"]], scope.default_community(services)):
                            continue
                if topic not in queues:
                    queues[topic] = services.hub.subscribe(topic)
                    tasks[topic] = asyncio.create_task(forward(topic, queues[topic]))
            elif data.get("type") == "ping":
                await websocket.send_json({"type": "pong"})
    except (WebSocketDisconnect, RuntimeError, ValueError):
        pass
    finally:
        for task in tasks.values():
            task.cancel()
        for topic, queue in queues.items():
            services.hub.unsubscribe(topic, queue)
        services.presence[staff.id] -= 1
        if services.presence[staff.id] == 0:
            # an agent who disconnects does not strand residents: kept in the database, so a restart keeps it
            services.timers.schedule_agent_timeout(staff.id)
