"""Neighbour disputes (noise, smells, water from above, shared walls): sympathy, the rule that applies, and a
person who will go and talk to both sides — with the room, so nobody has to ask again."""
from __future__ import annotations

import re
from typing import List

from bot.handoffs.handoff import open_handoff
from bot.nlu.entities import find_rooms
from bot.routing.router import DOG_OFF_LEAD, PARKED_IN_SPACE
from bot.turn.context import TurnContext

NOISE = r"吵|噪音|噪声|拖(椅子|凳子|桌子)|跺脚|蹦|跳|弹琴|唱歌|麻将|装修声|砸|敲|咚咚|叫|嗡嗡"
WATER = r"滴水|漏水|渗水|水.{0,4}(滴|流|渗)|墙.{0,4}(湿|霉|渗)"
SMELL = r"味|烟|臭|熏"
# the resident's own home is where the water comes from ("我家卫生间漏水到楼下了"): the same person goes, but the
# words for the one whose ceiling is wet ("需要楼上住户配合") would be said to the upstairs resident themselves
OWN_LEAK = (r"(我家|我们家|自己家|家里|我这).{0,12}(漏|渗|滴|淹|泡)"
            r"|(漏|渗|滴)水?(到|给|进)了?(楼下|下面|邻居)|(往|向)楼下(漏|渗|滴)|(淹|泡)了?楼下|把楼下.{0,6}(淹|泡)")


def kind_of(text: str) -> str:
    for name, pattern in (("parked", PARKED_IN_SPACE), ("dog", DOG_OFF_LEAD), ("water", WATER), ("smell", SMELL),
                          ("noise", NOISE)):  # (a barking dog is noise)
        if re.search(pattern, text):
            return name
    return "other"


def handle(ctx: TurnContext, reasons: List[str]) -> None:
    kind = kind_of(ctx.text)
    if kind == "parked":  # a car to move now: security goes, not the housekeeper; the space and the plate are asked
        ctx.say("理解您的着急，车位被占确实耽误事。我们会通知秩序维护员到场核实，联系占用车辆的车主尽快挪车。"
                "方便的话请告诉我们车位号和占用车辆的车牌号。")
        open_handoff(ctx, "normal", reasons + ["parking space taken"])
        return
    if kind == "dog":
        ctx.say("理解您的担心。按照小区管理规约，遛狗须牵绳并及时清理粪便，大型犬须佩戴嘴套。我们会安排秩序维护员"
                "加强巡查劝导，方便的话请告诉我们大概的位置和时间。")
        open_handoff(ctx, "normal", reasons + ["dog off the lead or its mess"])
        return
    if kind == "noise":
        ctx.say(f"理解您的困扰，长期被噪音打扰确实很影响休息。按照小区管理规约，安静时段为 {ctx.value('quiet_hours')}，"
                "此时段内不得装修、拖拽家具或大声喧哗。")
    elif kind == "water" and re.search(OWN_LEAK, ctx.text) and not re.search(r"楼上|上面|上一层|上层", ctx.text):
        ctx.say("理解您的着急。如果还在漏，请先关闭家里的进水总阀，避免楼下损失扩大。物业会安排师傅上门帮您查找漏点，"
                "并协调与楼下邻居的后续处理。")
    elif kind == "water":
        ctx.say("理解您的着急，楼上渗水/滴水既影响生活也可能损坏家里的东西。这类问题需要楼上住户配合查找漏点，"
                "由物业上门查看、协调双方处理，维修费用一般由漏点所在户承担。")
    elif kind == "smell":
        ctx.say("理解您的困扰，异味和油烟确实让人难受。小区管理规约要求住户不得在公共区域堆放杂物、"
                "不得影响相邻住户的正常生活，物业会上门了解情况。")
    else:
        ctx.say("理解您的困扰，邻里之间的问题物业会上门了解情况、居中协调。")
    room = ctx.household.label if ctx.household is not None else next(
        (r.text for r in find_rooms(ctx.text) if r.value.count("-") == 2), None)
    where = f"（{room}）" if room else "，稍后请告诉我们您的房号"
    ctx.say(f"我们会安排管家尽快与相关住户沟通{where}。")
    open_handoff(ctx, "normal", reasons + [f"room: {room}"] if room else reasons)
