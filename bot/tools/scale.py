"""`wuye demo-data --scale`: years of data, fast — to measure the staff pages as the work grows (issue 29).

On top of the ordinary demo data (its staff sign-ins and two 小区), it adds synthetic 小区, households, residents'
conversations spread over two years (``messages_per_conversation`` messages each: a resident message with an NLU
reading shaped like the engine's — intent, faq, emotion, the route taken, some failed turns — and the bot's reply),
handoffs with reasons and a context card, ratings, and work orders across every status with SLA deadlines, the
times they were met, technicians and residents' ratings as events.

Rows are written in batches with explicit ids: on PostgreSQL with ``COPY … FROM STDIN`` (an ORM flush per row would
take hours at 2 M messages), on SQLite with executemany in one transaction; nothing is held beyond one batch. The
output is deterministic for a seed and a ``today``.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from bot.core.domain import ConversationStatus, HandoffStatus, WorkOrderStatus
from bot.storage.models import (ChatIdentity, Community, Conversation, Handoff, Household, Message, Rating, Staff,
                                WorkOrder, WorkOrderEvent)
from bot.work_orders import sla
from bot.work_orders.desk import RATING_PREFIX

BATCH = 5000
ORDER = (Community, Household, ChatIdentity, Conversation, Message, Handoff, Rating, WorkOrder, WorkOrderEvent)


@dataclass
class Scale:
    communities: int
    households: int
    conversations: int
    messages_per_conversation: int
    work_orders: int
    handoffs: int
    days: int = 730


PRESETS: Dict[str, Scale] = {
    # tests: a few seconds on SQLite
    "small": Scale(communities=3, households=300, conversations=300, messages_per_conversation=6, work_orders=400,
                   handoffs=90),
    # 500 k messages: what this machine loads in about a minute on PostgreSQL
    "medium": Scale(communities=20, households=50000, conversations=25000, messages_per_conversation=20,
                    work_orders=75000, handoffs=8000),
    # the production figures: 2 M messages, 100 k conversations, 300 k work orders
    "large": Scale(communities=50, households=200000, conversations=100000, messages_per_conversation=20,
                   work_orders=300000, handoffs=30000),
}

# (resident text, intent, faq id or None, bot reply): the common questions
QUESTIONS = [
    ("物业几点上班", "faq", "office_hours", "物业服务中心办公时间：每天 8:30-18:00。"),
    ("门禁卡丢了怎么补办", "faq", "access_card", "请带身份证到物业服务中心补办，工本费 20 元。"),
    ("垃圾几点可以扔", "faq", "garbage_time", "投放时间：早上 7:00-9:00、晚上 18:00-21:00。"),
    ("停车月卡怎么续费", "faq", "parking_renew", "可在公众号“停车缴费 → 月卡续费”在线办理。"),
    ("查一下我家物业费", "fee_query", None, "您的物业费已缴清。"),
    ("我要报修", "repair", None, "请问需要维修的是什么？"),
    ("厨房水龙头漏水", "repair", None, "请问方便上门的时间？"),
    ("明天上午", "inform", None, "已为您登记报修，工单号 WO…"),
    ("快递可以放前台吗", "faq", "parcel", "前台可代收快递，请在三天内领取。"),
    ("谢谢", "thanks", None, "不客气，还有其他问题可以随时问我。"),
]
FAILED = [("这个咋整啊", "clarify", "clarify"), ("asdfgh", "clarify", "nonsense"), ("不是这个意思", "answer", "not_helpful"),
          ("你们能帮我买菜吗", "reject", "out_of_scope"), ("我问的是别的", "answer", "repeat")]
REASONS = [("normal", ["resident asked for a person"]), ("normal", ["complaint"]), ("high", ["repeated chasing"]),
           ("high", ["two failed turns"]), ("urgent", ["emergency keyword: 电梯困人"]), ("high", ["angry tone"]),
           ("high", ["work order overdue: WO2025"]), ("normal", ["notice: 停水"]),
           ("urgent", ["emergency keyword: 漏水", "angry tone"])]
REPAIRS = [("水电", "卫生间水龙头漏水"), ("水电", "厨房下水道堵塞"), ("门窗", "入户门锁芯损坏"), ("电梯", "电梯按钮失灵"),
           ("公共设施", "楼道声控灯不亮"), ("水电", "客厅插座没电"), ("门窗", "阳台推拉门关不严"), ("公共设施", "单元门闭门器损坏")]
ORDER_STATUSES = [WorkOrderStatus.DONE] * 7 + [WorkOrderStatus.CANCELLED, WorkOrderStatus.NEW,
                                               WorkOrderStatus.DISPATCHED, WorkOrderStatus.IN_PROGRESS]


def _value(v: Any) -> Any:
    """A cell as the driver takes it: SQLAlchemy's own SQLite datetime format (always with microseconds, so range
    comparisons on the text agree with rows the ORM wrote), JSON as text, None as SQL NULL (not JSON 'null')."""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return v


def _copy(conn, table: str, columns: Sequence[str], rows: List[Sequence[Any]]) -> None:
    """PostgreSQL: one COPY of a batch (CSV, \\N for NULL)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["\\N" if v is None else _value(v) for v in row])
    out.seek(0)
    cursor = conn.connection.cursor()
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", out)


class Writer:
    """Batches rows per table and writes them with COPY (PostgreSQL) or executemany (SQLite)."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        self.pending: Dict[Any, List[Sequence[Any]]] = {}
        self.columns: Dict[Any, Sequence[str]] = {}
        self.counts: Dict[str, int] = {}

    def add(self, model, columns: Sequence[str], row: Sequence[Any]) -> None:
        self.columns[model] = columns
        batch = self.pending.setdefault(model, [])
        batch.append(row)
        if len(batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Every pending batch, parents before children (the foreign keys are checked per statement)."""
        for m in ORDER:
            rows = self.pending.pop(m, [])
            if not rows:
                continue
            table, columns = m.__table__.name, self.columns[m]
            if self.postgres:
                _copy(self.conn, table, columns, rows)
            else:
                self.conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                          f"({', '.join('?' for _ in columns)})",
                                          [tuple(_value(v) for v in r) for r in rows])
            self.counts[table] = self.counts.get(table, 0) + len(rows)


def _next_id(conn, model) -> int:
    return (conn.scalar(select(func.max(model.id))) or 0) + 1


def _nlu(rng: random.Random, text_: str, intent: str, faq: Optional[str], decision: str, action: Optional[str],
         failed: bool) -> Dict[str, Any]:
    return {"text": text_, "intent": {"name": intent, "confidence": round(rng.uniform(0.4, 0.99), 3)},
            "entities": [], "faq": {"id": faq, "confidence": round(rng.uniform(0.3, 0.95), 3)} if faq else None,
            "emotion": {"label": "neutral", "score": round(rng.random(), 3)}, "urgency": round(rng.random() * 0.05, 4),
            "route": {"decision": decision, "target": faq, "reasons": [f"intent {intent}"], "action": action,
                      "failed": failed, "leaves_flow": False}}


def load_scaled(engine: Engine, scale: Scale, today: dt.date, seed: int = 29,
                progress: Callable[[str], None] = lambda _: None) -> Dict[str, int]:
    """Add ``scale`` of synthetic history to a database that already holds the demo data (staff, 小区)."""
    rng = random.Random(seed)
    end = dt.datetime.combine(today, dt.time(0))
    begin = end - dt.timedelta(days=scale.days)
    span = (end - begin).total_seconds()
    with engine.begin() as conn:
        technicians = [row.id for row in conn.execute(select(Staff.id).where(Staff.role == "technician"))] or [None]
        agents = [row.id for row in conn.execute(select(Staff.id).where(Staff.role.in_(("agent", "admin"))))]
        w = Writer(conn)
        existing = [row.id for row in conn.execute(select(Community.id))]
        communities = list(existing)
        for i in range(max(0, scale.communities - len(existing))):
            cid = f"scale{i + 1:03d}"
            communities.append(cid)
            w.add(Community, ("id", "name"), (cid, f"规模测试{i + 1}号小区"))
        w.flush()
        hid0 = _next_id(conn, Household)
        for i in range(scale.households):
            # one address per household: building, unit and room from the running number, never repeated
            n = i
            room, n = 101 + (n % 30) // 2 * 100 + n % 2, n // 30
            unit, n = n % 4 + 1, n // 4
            building, community = 100 + n // len(communities), communities[n % len(communities)]
            w.add(Household, ("id", "community_id", "building", "unit", "room", "area", "owner_name", "phone"),
                  (hid0 + i, community, building, unit, room, rng.choice((78.5, 96.3, 125.0)), "业主",
                   f"139{rng.randrange(10**7, 10**8)}"))
        w.flush()
        progress(f"households {scale.households}")

        # conversations in time order, so ids grow with time as they do in production
        starts = sorted(begin + dt.timedelta(seconds=rng.random() * span) for _ in range(scale.conversations))
        handed = set(rng.sample(range(scale.conversations), min(scale.handoffs, scale.conversations)))
        iid0, cid0, mid0 = _next_id(conn, ChatIdentity), _next_id(conn, Conversation), _next_id(conn, Message)
        hoid0, rid0 = _next_id(conn, Handoff), _next_id(conn, Rating)
        mid, hoid, rid = mid0, hoid0, rid0
        conversation_ids: List[int] = []
        for i, at in enumerate(starts):
            channel = rng.choice(("web", "web", "wechat"))
            community = rng.choice(communities)
            w.add(ChatIdentity, ("id", "channel", "sender_id", "household_id", "verified_at", "created_at"),
                  (iid0 + i, channel, f"scale-{seed}-{i}", hid0 + rng.randrange(scale.households)
                   if scale.households and rng.random() < 0.6 else None, None, at))
            status = ConversationStatus.RESOLVED.value if i in handed else ConversationStatus.BOT.value
            priority = None
            transcript = []
            children: List[tuple] = []  # added after their conversation: a batch never holds an orphan
            t = at
            for j in range(scale.messages_per_conversation // 2):
                t += dt.timedelta(seconds=rng.randint(5, 90))
                if rng.random() < 0.08:  # a failed turn
                    said, decision, action = rng.choice(FAILED)
                    nlu = _nlu(rng, said, "nlu_fallback", rng.choice(("office_hours", "parcel", None)), decision, action,
                               True)
                    reply = "抱歉，我没太明白，您可以换个说法吗？"
                else:
                    said, intent, faq, reply = rng.choice(QUESTIONS)
                    nlu = _nlu(rng, said, intent, faq, "answer" if faq else "flow", faq and "faq", False)
                children.append((Message, ("id", "conversation_id", "sender", "text", "buttons", "nlu", "created_at"),
                      (mid, cid0 + i, "resident", said, [], nlu, t)))
                children.append((Message, ("id", "conversation_id", "sender", "text", "buttons", "nlu", "created_at"),
                      (mid + 1, cid0 + i, "bot", reply, [], None, t)))
                mid += 2
                if len(transcript) < 10:
                    transcript += [{"sender": "resident", "text": said, "at": t.isoformat()},
                                   {"sender": "bot", "text": reply, "at": t.isoformat()}]
            if i in handed:
                priority, reasons = rng.choice(REASONS)
                created = at + dt.timedelta(seconds=rng.randint(30, 600))
                resolved_state = rng.random() < 0.97
                claimed = created + dt.timedelta(seconds=rng.randint(15, 900 if priority != "urgent" else 120)) \
                    if resolved_state or rng.random() < 0.5 else None
                resolved = claimed + dt.timedelta(minutes=rng.randint(2, 30)) if resolved_state and claimed else None
                state = (HandoffStatus.RESOLVED if resolved else HandoffStatus.CLAIMED if claimed else
                         HandoffStatus.CALLBACK).value
                agent = rng.choice(agents) if claimed and agents else None
                context = {"reasons": reasons, "channel": channel, "transcript": transcript, "readings": [],
                           "entities": [], "emotion": None, "bot_answers": [], "flow": None, "household": None}
                children.append((Handoff, ("id", "conversation_id", "priority", "reasons", "context", "status", "ticket",
                                "agent_id", "created_at", "claimed_at", "resolved_at"),
                      (hoid, cid0 + i, priority, reasons, context, state,
                       f"LY{hoid:08d}" if state == HandoffStatus.CALLBACK.value else None, agent, created, claimed,
                       resolved)))
                if resolved and rng.random() < 0.35:
                    children.append((Rating, ("id", "conversation_id", "handoff_id", "agent_id", "score", "comment", "created_at"),
                          (rid, cid0 + i, hoid, agent, rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 8))[0], None,
                           resolved + dt.timedelta(minutes=1))))
                    rid += 1
                hoid += 1
                if state != HandoffStatus.RESOLVED.value:
                    status = ConversationStatus.OPEN.value if claimed else ConversationStatus.PENDING.value
            w.add(Conversation, ("id", "identity_id", "channel", "community_id", "status", "priority", "assignee_id",
                                 "failed_turns", "created_at", "updated_at"),
                  (cid0 + i, iid0 + i, channel, community, status, priority, None, 0, at, t))
            for child in children:
                w.add(*child)
            conversation_ids.append(cid0 + i)
            if i % 20000 == 19999:
                progress(f"conversations {i + 1}")
        w.flush()
        progress(f"conversations {scale.conversations}")

        woid0, evid = _next_id(conn, WorkOrder), _next_id(conn, WorkOrderEvent)
        order_starts = sorted(begin + dt.timedelta(seconds=rng.random() * span) for _ in range(scale.work_orders))
        for i, created in enumerate(order_starts):
            woid = woid0 + i
            category, description = rng.choice(REPAIRS)
            urgency = "urgent" if rng.random() < 0.1 else "normal"
            community = rng.choice(communities)
            status = rng.choice(ORDER_STATUSES)
            recent = (end - created).days < 30
            if not recent and status in (WorkOrderStatus.NEW, WorkOrderStatus.DISPATCHED, WorkOrderStatus.IN_PROGRESS) \
                    and rng.random() < 0.9:
                status = WorkOrderStatus.DONE  # old orders are mostly closed, as on a real desk
            response_due, completion_due = sla.deadlines(created, community, category, urgency)
            first = assignee = completed = escalated = completion_escalated = None
            if status != WorkOrderStatus.NEW and not (status == WorkOrderStatus.CANCELLED and rng.random() < 0.5):
                first = created + dt.timedelta(minutes=rng.choice((10, 20, 45, 70, 100, 150, 400)))
                assignee = rng.choice(technicians)
            if status == WorkOrderStatus.DONE:
                completed = created + dt.timedelta(hours=rng.choice((2, 3, 6, 20, 30, 80)), minutes=rng.randint(0, 59))
            if status not in WorkOrderStatus.closed():
                if first is None and response_due < end:
                    escalated = response_due
                if completion_due < end:
                    completion_escalated = completion_due
            conversation = rng.choice(conversation_ids) if conversation_ids and rng.random() < 0.5 else None
            w.add(WorkOrder, ("id", "number", "community_id", "household_id", "reporter_identity_id", "location",
                              "category", "description", "urgency", "contact_phone", "preferred_time", "photos",
                              "status", "chase_count", "created_at", "updated_at", "assignee_id", "conversation_id",
                              "response_due", "completion_due", "first_response_at", "completed_at", "escalated_at",
                              "completion_escalated_at"),
                  (woid, f"WS{created:%Y%m%d}{i:07d}", community,
                   hid0 + rng.randrange(scale.households) if scale.households else None, None,
                   f"{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元", category, description, urgency,
                   f"139{rng.randrange(10**7, 10**8)}", None, [], status.value, rng.choice((0, 0, 0, 1, 2)), created,
                   completed or first or created, assignee, conversation, response_due, completion_due, first,
                   completed, escalated, completion_escalated))
            events = [(WorkOrderStatus.NEW.value, "业主报修", "system", created)]
            if first:
                events.append((WorkOrderStatus.DISPATCHED.value, "派单", "管理员", first))
            if completed:
                events.append((WorkOrderStatus.DONE.value, "已修好", "王工", completed))
                if rng.random() < 0.4:
                    score = rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 8))[0]
                    events.append((WorkOrderStatus.DONE.value, f"{RATING_PREFIX}{score} 分", "resident",
                                   completed + dt.timedelta(hours=1)))
            if status == WorkOrderStatus.CANCELLED:
                events.append((WorkOrderStatus.CANCELLED.value, "业主取消", "管理员", created + dt.timedelta(hours=2)))
            for ev_status, note, actor, at in events:
                w.add(WorkOrderEvent, ("id", "work_order_id", "status", "note", "actor", "created_at", "photos"),
                      (evid, woid, ev_status, note, actor, at, []))
                evid += 1
            if i % 50000 == 49999:
                progress(f"work orders {i + 1}")
        w.flush()
        progress(f"work orders {scale.work_orders}")
        if w.postgres:  # ids were given explicitly: the sequences continue after them
            for model in (Household, ChatIdentity, Conversation, Message, Handoff, Rating, WorkOrder, WorkOrderEvent):
                name = model.__table__.name
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"))
    if w.postgres:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return w.counts


def run(engine: Engine, scale: Scale, today: dt.date, seed: int = 29) -> Iterator[str]:
    started = time.perf_counter()
    lines: List[str] = []
    counts = load_scaled(engine, scale, today, seed, progress=lambda s: print(
        f"  … {s} ({time.perf_counter() - started:.0f} s)", flush=True))
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    lines += [f"{name}: {n} rows" for name, n in counts.items()]
    lines.append(f"{total} rows in {seconds:.1f} s ({total / max(seconds, 1e-9):.0f} rows/s)")
    return iter(lines)
