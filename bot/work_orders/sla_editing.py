"""An admin edits one 小区's work-order time limits (SLA) in data/sla.yml, from /admin's 小区 tab.

The same discipline as the 小区 and FAQ edits (bot/kb/community_editing.py): under the file's lock the file is read,
its version compared with the one the edit was based on (409 when someone saved since), the 小区's override block
replaced by a ruamel.yaml round trip (the header comments, ``default`` and the other 小区 written as they were),
the result validated exactly like `wuye faq check`, and only then written atomically. A limit equal to the default
is not written (the 小区 follows the default when it changes); a 小区 with no limit of its own has no block.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from bot.core import yamlio
from bot.core.errors import WuyeError
from bot.kb.kb_editing import atomic_write, file_lock
from bot.kb.knowledge import file_version
from bot.work_orders import sla

FIELD_LABELS = {"response": "响应时限", "completion": "完成时限"}


class SlaRejected(WuyeError):
    status, code, message = 422, "sla_invalid", "未保存：{why}"


class SlaEditConflict(WuyeError):
    status, code, message = 409, "sla_edit_conflict", "工单时限已被他人修改，请刷新后再编辑"


def _text(value) -> str:
    """A duration as the file writes it: 30m, 2h, 1d, 1h30m."""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    return f"{days}d" * bool(days) + f"{hours}h" * bool(hours) + f"{minutes}m" * bool(minutes)


def community_rows(path: Path, community_id: str) -> Dict[str, Any]:
    """Every category × urgency of the 小区: its limits in force, the default's, and whether they are its own."""
    text = path.read_text(encoding="utf-8")
    table = sla.load_sla(path)
    own = table.overrides.get(community_id, {})
    rows = []
    for category in sla.CATEGORY_NAMES:
        for urgency in sla.URGENCIES:
            response, completion = table.times(community_id, category, urgency)
            default = table.default.get((category, urgency), sla.BUILT_IN[urgency])
            rows.append({"category": category, "urgency": urgency, "urgency_label": sla.URGENCY_LABELS[urgency],
                         "response": _text(response), "completion": _text(completion),
                         "default_response": _text(default[0]), "default_completion": _text(default[1]),
                         "own": (category, urgency) in own})
    return {"community": community_id, "rows": rows, "version": file_version(text)}


def _overrides(table: sla.SlaTable, rows: Iterable[Dict[str, str]]) -> Dict[str, Dict[str, Dict[str, str]]]:
    """The rows checked one by one (naming the row and field at fault), kept only where they differ from the
    default: category → urgency → {response, completion}."""
    result: Dict[str, Dict[str, Dict[str, str]]] = {}
    seen = set()
    for row in rows:
        category, urgency = row["category"], row["urgency"]
        if category not in sla.CATEGORY_NAMES:
            raise SlaRejected(why=f"类别“{category[:16]}”不存在，只能是 {'/'.join(sla.CATEGORY_NAMES)}")
        if urgency not in sla.URGENCIES:
            raise SlaRejected(why=f"紧急程度“{urgency[:16]}”不存在，只能是 normal（一般）或 urgent（紧急）")
        where = f"“{category} · {sla.URGENCY_LABELS[urgency]}”"
        if (category, urgency) in seen:
            raise SlaRejected(why=f"{where}出现了两次")
        seen.add((category, urgency))
        times = {}
        for field in sla.FIELDS:
            value = sla.parse_duration(row[field].strip())
            if value is None:
                raise SlaRejected(why=f"{where}的{FIELD_LABELS[field]}“{row[field][:16]}”无效，应写成 30m、2h、1d 或 1h30m")
            times[field] = value
        if times["completion"] < times["response"]:
            raise SlaRejected(why=f"{where}的完成时限短于响应时限")
        if (times["response"], times["completion"]) != table.default.get((category, urgency), sla.BUILT_IN[urgency]):
            result.setdefault(category, {})[urgency] = {f: _text(times[f]) for f in sla.FIELDS}
    return result


def save_community_sla(path: Path, community_ids: List[str], community_id: str, rows: List[Dict[str, str]],
                       base_version: Optional[str]) -> sla.SlaTable:
    """Replace the 小区's limits under the file's lock; returns the new table. Raises SlaEditConflict or SlaRejected;
    nothing is written then."""
    from ruamel.yaml.comments import CommentedMap

    with file_lock(path):
        original = path.read_text(encoding="utf-8")
        if base_version is not None and base_version != file_version(original):
            raise SlaEditConflict()
        overrides = _overrides(sla.load_sla(path), rows)
        data = yamlio.load_round_trip(original)
        if data.get("communities") is None:
            data["communities"] = CommentedMap()
        block = data["communities"]
        if overrides:
            own = CommentedMap()
            for category, urgencies in overrides.items():
                own[category] = CommentedMap()
                for urgency, times in urgencies.items():
                    flow = CommentedMap(times)
                    flow.fa.set_flow_style()  # {response: 2h, completion: 24h}, as the file's header shows
                    own[category][urgency] = flow
            block[community_id] = own
        elif community_id in block:
            del block[community_id]
        text = yamlio.dump_round_trip(data)
        with tempfile.TemporaryDirectory() as tmp:  # `wuye faq check`'s SLA check of the new file
            candidate = Path(tmp) / path.name
            candidate.write_text(text, encoding="utf-8")
            try:
                table = sla.load_sla(candidate, community_ids, display=f"{path.parent.name}/{path.name}")
            except sla.SlaError as exc:
                raise SlaRejected(why="；".join(str(p) for p in exc.problems[:2])) from exc
        atomic_write(path, text)
        return table
