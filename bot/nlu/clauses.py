"""Clauses of a message: which one carries the question or request (no heavy imports: the engine uses it too)."""
from __future__ import annotations

import re
from typing import Optional

CLAUSE_SPLIT = re.compile(r"[，,。.！!？?；;…~～\s]+")
QUESTION_MARKERS = re.compile(
    r"[吗嘛么呢吧？?]|怎么|怎样|咋|如何|什么|啥|哪|几|多少|多久|能不能|可不可以|可以|是不是|有没有|会不会|要不要"
    r"|请问|想问|问下|问一下|咨询|麻烦|帮我|帮忙|给我|我想|我要|想要|需要|找|查|办|交|报修|投诉|转人工")


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
