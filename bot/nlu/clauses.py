"""Clauses of a message: which one carries the question or request (no heavy imports: the engine uses it too)."""
from __future__ import annotations

import re
from typing import Optional

CLAUSE_SPLIT = re.compile(r"[，,。.！!？?；;…~～\s]+")
QUESTION_MARKERS = re.compile(
    r"[吗嘛么呢吧？?]|怎么|怎样|咋|如何|什么|啥|哪|几|多少|多久|能不能|可不可以|可以|是不是|有没有|会不会|要不要"
    r"|请问|想问|问下|问一下|咨询|麻烦|帮我|帮忙|给我|我想|我要|想要|需要|找|查|办|交|报修|投诉|转人工")


# Stricter, for telling a request of its own in a message of several (bot/routing/router.py ``request_segments``): a question
# word or an explicit request. Not 帮我们/麻烦你们了/办/交/给我/可以 alone, which the story before a question uses too
# ("上回物业小伙子还帮我们把快递搬上楼", "他的门禁卡我都给办好了"), and not 什么 right after 没/不 ("没说什么").
REQUEST_MARKERS = re.compile(
    r"[吗嘛呢谁？?]|[不没否]$|没有$|怎么|怎样|咋|如何|(?<![没不])(?<![没不].)什么|啥|哪|几点|几号|几时|几天|几个|几楼|多少|多久|多长"
    r"|(.)[不没]\1|可不可以|可以吗|是否|请问|想问|问下|问一下|咨询|帮我(?!们)|帮忙|报修|投诉|转人工|人工客服"
    r"|我要|我想要")


def question_focus(text: str) -> Optional[str]:
    """The clause(s) that carry the question or request of a long message, or None for a short one."""
    clauses = [c for c in CLAUSE_SPLIT.split(text) if c]
    if len(clauses) < 2 or len(text) < 20:
        return None
    for i in range(len(clauses) - 1, -1, -1):
        if QUESTION_MARKERS.search(clauses[i]):
            focus = "".join(clauses[i:]) if i < len(clauses) - 1 and len(clauses[i]) < 6 else clauses[i]
            if i > 0 and len(focus) < 5:  # too short alone: take the clause before it too
                focus = clauses[i - 1] + focus
            return focus if focus != text else None
    return clauses[-1]
