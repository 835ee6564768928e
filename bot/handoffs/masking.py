"""Insults and threats, masked for the agent until they choose to read them (issue 28): an agent answering angry
residents all day should not have to read every insult in full to do the job.

The emotion cues stored with a resident message's NLU reading (bot/nlu/emotion.py: ``insult``, ``threat: …``)
decide; the console shows ``masked_text`` and reveals ``text`` on a click. The original stays in the payload on
purpose: the mask spares the agent's attention, it does not hide what the resident wrote from the person handling
it (the widget, on the same topic, shows residents their own words)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from bot.core.labels import CUE_LABELS


def masked_cues(emotion: Any) -> List[str]:
    cues = (emotion or {}).get("cues") or [] if isinstance(emotion, dict) else []
    return [c for c in cues if isinstance(c, str) and (c == "insult" or c.startswith("threat:"))]


def flag(sender: str, nlu: Any) -> Optional[Dict[str, Any]]:
    """``{"cues", "label", "masked_text"}`` for a resident message read as an insult or a threat, else None."""
    if sender != "resident" or not isinstance(nlu, dict):
        return None
    cues = masked_cues(nlu.get("emotion"))
    if not cues:
        return None
    label = "、".join(CUE_LABELS.get(c, "威胁") for c in cues)
    return {"cues": cues, "label": label, "masked_text": masked_text(label)}


def masked_text(label: str) -> str:
    return f"***（已被机器人标记为{label}，点击显示）"


def mask(text: str, emotion: Any) -> str:
    """The text as a list shows it (the queue's summary, the card's readings): masked when flagged, no reveal."""
    cues = masked_cues(emotion)
    if not cues:
        return text
    return f"***（已被机器人标记为{'、'.join(CUE_LABELS.get(c, '威胁') for c in cues)}）"
