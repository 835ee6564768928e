"""A whole product around the engine for conversation tests: the real model, a real database with the demo data,
the SMS log, a fixed clock; and helpers to talk to it."""
from __future__ import annotations

import datetime as dt
import re
from typing import List

import sqlalchemy as sa

from bot.conversation.engine import ConversationEngine
from bot.core.notify import LogSmsSender
from bot.kb.knowledge import load_knowledge_base
from bot.storage.db import open_database
from bot.storage.models import Bill, Household, Message, Staff

NOW = dt.datetime(2026, 11, 27, 2, 0)  # UTC: a Friday morning in Beijing (10:00), inside agent hours


class World:
    def __init__(self, url: str, parser, settings):
        self.url = url
        self.parser = parser
        self.settings = settings
        self.sms = LogSmsSender()
        self.db = open_database(url)
        self.kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
        self.engine = self.new_engine()

    def new_engine(self) -> ConversationEngine:
        """A fresh engine on the same database: what a process restart gives."""
        return ConversationEngine(db=open_database(self.url), parser=self.parser, kb_provider=lambda: self.kb,
                                  sms=self.sms, clock=lambda: NOW)

    def say(self, text: str, sender: str = "r1"):
        return self.engine.handle("web", sender, text)

    def texts(self, result) -> str:
        return "\n".join(r.text for r in result.replies)

    def household(self, **where) -> Household:
        with self.db.session() as s:
            query = sa.select(Household)
            for key, value in where.items():
                query = query.where(getattr(Household, key) == value)
            return s.scalars(query.order_by(Household.id)).first()

    def agents_online(self) -> List[Staff]:
        with self.db.session() as s:
            staff = list(s.scalars(sa.select(Staff)))
            for member in staff:
                member.last_seen = NOW
            return staff

    def bind(self, household: Household, sender: str = "r1") -> None:
        r = self.say("查一下我家物业费", sender)
        assert "房号" in self.texts(r)
        r = self.say(household.label, sender)
        assert "验证码已发送" in self.texts(r)
        code = re.search(r"验证码是 (\d{6})", self.sms.sent[-1][1]).group(1)
        assert self.sms.sent[-1][0] == household.phone
        r = self.say(code, sender)
        assert "验证成功" in self.texts(r)


def arrears_household(world: World) -> Household:
    with world.db.session() as s:
        hid = s.scalar(sa.select(Bill.household_id).where(Bill.paid.is_(False)).order_by(Bill.household_id))
        return s.get(Household, hid)


def stored_route(world, text):
    """The route stored with the latest resident message that was ``text`` (typed, or a button's payload)."""
    with world.db.session() as s:
        for message in s.scalars(sa.select(Message).where(Message.sender == "resident").order_by(Message.id.desc())):
            if message.text == text or (message.nlu or {}).get("payload") == text:
                return message.nlu["route"]


def at(world, utc: dt.datetime) -> None:
    world.engine.clock = lambda: utc
