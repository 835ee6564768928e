"""`wuye demo-data`: a realistic, deterministic demo — two 小区, 200+ households, bills with arrears,
parking cards (some expiring), open and closed work orders, staff accounts and teams (技能组)."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Dict, List

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.access.passwords import hash_password
from bot.core.domain import ConversationStatus, HandoffStatus, WorkOrderStatus
from bot.kb.community import Community as CommunityConfig, sync_communities
from bot.storage.models import (Bill, ChatIdentity, Conversation, Handoff, Household, Message, ParkingCard,
                                ParkingSpace, Staff, Team, TeamMember, WorkOrder, WorkOrderEvent)
from bot.work_orders import sla

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红文斌云飞海燕春梅晨宇浩然子涵"
PROVINCE = {"jinxiu": "粤A", "binjiang": "浙A"}
REPAIRS = [("水电", "卫生间水龙头漏水"), ("水电", "厨房下水道堵塞"), ("门窗", "入户门锁芯损坏"), ("电梯", "电梯按钮失灵"),
           ("公共设施", "楼道声控灯不亮"), ("水电", "客厅插座没电"), ("门窗", "阳台推拉门关不严"), ("公共设施", "单元门闭门器损坏")]
DEMO_PASSWORDS = {"agent": "agent123", "admin": "admin123", "tech1": "tech123", "tech2": "tech123",
                  "tousu": "agent123", "gongcheng": "agent123"}
# the teams (技能组, bot/handoffs/teams.py): name, the kinds of handoff it takes, its members' usernames; the two
# specialists are agents of their own so the demo shows a complaint reaching 投诉专员 and a chase reaching 工程部
SPECIALISTS = [("tousu", "投诉专员小周"), ("gongcheng", "工程部小吴")]
TEAMS = [("客服", [], ["agent"]), ("投诉专员", ["complaint"], ["tousu"]), ("工程部", ["repair"], ["gongcheng"]),
         ("收费", ["billing"], ["agent"])]
TECHNICIANS = [("tech1", "王工"), ("tech2", "李工")]  # role technician: assigned work orders on the desk (/desk)
# Past conversations for the admin figures: (resident text, bot reply, handoff priority and reason or None).
HISTORY = [
    ("物业几点上班", "物业服务中心办公时间：每天 8:30-18:00。", None),
    ("门禁卡丢了怎么补办", "请带身份证到物业服务中心补办，工本费 20 元。", None),
    ("垃圾几点可以扔", "投放时间：早上 7:00-9:00、晚上 18:00-21:00。", None),
    ("停车月卡怎么续费", "可在公众号“停车缴费 → 月卡续费”在线办理。", None),
    ("我要投诉楼上装修太吵", "已为您转接人工客服。", ("normal", "complaint")),
    ("转人工", "已为您转接人工客服。", ("normal", "resident asked for a person")),
    ("报修第三次了还没人来！！！", "已为您转接人工客服。", ("high", "repeated chasing")),
    ("电梯困人了快来", "紧急情况请立即拨打 24 小时应急电话！", ("urgent", "emergency keyword: 电梯困人")),
]


def months_back(today: dt.date, n: int) -> List[str]:
    result, year, month = [], today.year, today.month
    for _ in range(n):
        result.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return list(reversed(result))


def load_demo_data(session: Session, communities: List[CommunityConfig], today: dt.date | None = None,
                   seed: int = 2026) -> Dict[str, int]:
    """Fill an empty database; does nothing when households already exist."""
    if session.scalar(select(func.count()).select_from(Household)):
        return {"households": 0}
    today = today or dt.date.today()
    rng = random.Random(seed)
    periods = months_back(today, 6)
    counts = {"households": 0, "bills": 0, "parking_cards": 0, "work_orders": 0}
    wo_seq = 0
    demo_orders: List[WorkOrder] = []
    sync_communities(session, communities)
    for config in communities:
        fee_per_m2 = Decimal(config.values.get("fee_per_m2", "3.00"))
        buildings = 8 if config.id == communities[0].id else 6
        space_no = 0
        for building in range(1, buildings + 1):
            for unit in (1, 2):
                for floor in range(1, 8 if config.id == communities[0].id else 9):
                    room = floor * 100 + rng.choice((1, 2))
                    area = rng.choice((78.5, 89.0, 96.3, 108.6, 125.0, 143.2))
                    phone = f"1{rng.choice('3578')}{rng.randrange(10**8, 10**9)}"
                    household = Household(community_id=config.id, building=building, unit=unit, room=room, area=area,
                                          owner_name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                                          phone=phone)
                    session.add(household)
                    session.flush()
                    counts["households"] += 1
                    arrears = rng.random() < 0.18
                    for i, period in enumerate(periods):
                        unpaid = arrears and i >= len(periods) - rng.choice((1, 2, 3))
                        amount = (fee_per_m2 * Decimal(str(area))).quantize(Decimal("0.01"))
                        paid_at = None if unpaid else dt.datetime.fromisoformat(period + "-05T10:00:00")
                        session.add(Bill(household_id=household.id, period=period, item="物业费", amount_cents=int(amount * 100),
                                         paid=not unpaid, paid_at=paid_at))
                        counts["bills"] += 1
                    if rng.random() < 0.55:
                        space_no += 1
                        space = ParkingSpace(community_id=config.id, code=f"B1-{'ABC'[space_no % 3]}-{space_no:03d}",
                                             household_id=household.id)
                        session.add(space)
                        session.flush()
                        expires = today + dt.timedelta(days=rng.choice((-5, 3, 6, 20, 45, 120, 300)))
                        plate = PROVINCE.get(config.id, "京A") + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5))
                        session.add(ParkingCard(household_id=household.id, plate=plate,
                                                kind=rng.choice(("monthly", "monthly", "yearly")),
                                                expires_on=expires, space_id=space.id))
                        counts["parking_cards"] += 1
                    if rng.random() < 0.2:
                        category, description = rng.choice(REPAIRS)
                        wo_seq += 1
                        created = dt.datetime.combine(today - dt.timedelta(days=rng.randrange(1, 40)), dt.time(9, 30))
                        status = rng.choice((WorkOrderStatus.NEW, WorkOrderStatus.DISPATCHED, WorkOrderStatus.IN_PROGRESS,
                                            WorkOrderStatus.DONE, WorkOrderStatus.DONE)).value
                        order = WorkOrder(number=f"WO{created:%Y%m%d}{900 + wo_seq:03d}", community_id=config.id,
                                          household_id=household.id, location=household.label, category=category,
                                          description=description, contact_phone=phone, status=status,
                                          created_at=created, updated_at=created)
                        order.events.append(WorkOrderEvent(status=WorkOrderStatus.NEW.value, note="业主报修", created_at=created))
                        if status != WorkOrderStatus.NEW:
                            order.events.append(WorkOrderEvent(status=status, note="工程部处理", created_at=created))
                        session.add(order)
                        demo_orders.append(order)
                        counts["work_orders"] += 1
    agent = Staff(username="agent", display_name="客服小林", password_hash=hash_password(DEMO_PASSWORDS["agent"]),
                  role="agent")
    session.add(agent)
    session.add(Staff(username="admin", display_name="管理员", password_hash=hash_password(DEMO_PASSWORDS["admin"]),
                      role="admin"))
    technicians = [Staff(username=username, display_name=name, password_hash=hash_password(DEMO_PASSWORDS[username]),
                         role="technician") for username, name in TECHNICIANS]
    session.add_all(technicians)
    specialists = [Staff(username=username, display_name=name, password_hash=hash_password(DEMO_PASSWORDS[username]),
                         role="agent") for username, name in SPECIALISTS]
    session.add_all(specialists)
    session.flush()
    by_username = {s.username: s for s in [agent, *specialists]}
    for name, kinds, members in TEAMS:
        team = Team(name=name, kinds=kinds, communities=[])
        session.add(team)
        session.flush()
        session.add_all([TeamMember(team_id=team.id, staff_id=by_username[u].id) for u in members])
    _desk(demo_orders, technicians, random.Random(seed + 1), today)  # its own stream: the history stays as it was
    counts["past_conversations"] = _history(session, rng, today, agent)
    return counts


def _desk(orders: List[WorkOrder], technicians: List[Staff], rng: random.Random, today: dt.date) -> None:
    """The desk's columns for the demo orders: SLA deadlines (data/sla.yml), a technician and the times each
    deadline was met (a few late), so the desk and its figures have something to show. Old 待受理 orders count as
    already escalated, and so do open orders already past their completion deadline (no burst of escalations when
    the demo server starts)."""

    for order in orders:
        order.response_due, order.completion_due = sla.deadlines(order.created_at, order.community_id, order.category,
                                                                  order.urgency)
        late = order.completion_due < dt.datetime.combine(today, dt.time(0))
        if order.status not in WorkOrderStatus.closed() and late:
            order.completion_escalated_at = order.completion_due
        if order.status == WorkOrderStatus.NEW:
            order.escalated_at = order.response_due
            continue
        order.assignee_id = rng.choice(technicians).id
        order.first_response_at = order.created_at + dt.timedelta(minutes=rng.choice((20, 45, 70, 100, 150)))
        if order.status == WorkOrderStatus.DONE:
            order.completed_at = order.created_at + dt.timedelta(hours=rng.choice((3, 6, 20, 30, 80)))
        # the history says what the SLA lines say: the step taken when the order was dispatched or completed
        reached = order.completed_at or order.first_response_at
        for event in order.events:
            if event.status != WorkOrderStatus.NEW:
                event.created_at = reached
        order.updated_at = reached


def _history(session: Session, rng: random.Random, today: dt.date, agent: Staff) -> int:
    """Two weeks of finished demo conversations (sender ids demo-…), so the admin figures have something to show."""
    count = 0
    for days_ago in range(14, 0, -1):
        day = today - dt.timedelta(days=days_ago)
        for _ in range(rng.randint(3, 9)):
            count += 1
            at = dt.datetime.combine(day, dt.time(rng.randint(8, 20), rng.randint(0, 59)))
            identity = ChatIdentity(channel=rng.choice(("web", "wechat")), sender_id=f"demo-{count}", created_at=at)
            session.add(identity)
            session.flush()
            text, reply, handoff = rng.choices(HISTORY, weights=[5, 5, 5, 5, 1, 1, 1, 1])[0]
            conversation = Conversation(identity_id=identity.id, channel=identity.channel, status=ConversationStatus.BOT.value,
                                        created_at=at, updated_at=at)
            session.add(conversation)
            session.flush()
            session.add(Message(conversation_id=conversation.id, sender="resident", text=text, created_at=at))
            session.add(Message(conversation_id=conversation.id, sender="bot", text=reply, created_at=at))
            if handoff:
                priority, reason = handoff
                claimed = at + dt.timedelta(seconds=rng.randint(20, 600 if priority != "urgent" else 90))
                session.add(Handoff(conversation_id=conversation.id, priority=priority, reasons=[reason], context={},
                                    status=HandoffStatus.RESOLVED.value, agent_id=agent.id, created_at=at, claimed_at=claimed,
                                    resolved_at=claimed + dt.timedelta(minutes=rng.randint(2, 15))))
                conversation.status = ConversationStatus.RESOLVED.value
                conversation.priority = priority
    return count
