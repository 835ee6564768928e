"""工单时限 (SLA): response and completion times per 小区 × repair category × urgency, from data/sla.yml.

The file (see its header) has a ``default`` table — every category of ``actions.repairs.CATEGORIES`` plus 其他,
each with ``normal`` and ``urgent`` — and per-小区 overrides under ``communities``. It is validated like the FAQ:
every problem in Chinese with the file and line (``wuye faq check`` lists them too); a broken file never replaces
the table in use (the last good one keeps serving, and with none the built-in defaults below do).

Deadlines count from the moment the resident reported (``created_at``, UTC): ``response_due`` (dispatched to a
technician by then), ``completion_due`` (repaired by then). A visit time the resident asked for (明天上午, kept in
``preferred_time``, bot/core/localtime.py ``Wish``) moves ``completion_due`` to the end of that time when it is later:
waiting for the resident's own time is not lateness. An order past a deadline not met is *overdue*: flagged on the
desk, and each missed step (response, completion) tells the resident and escalates once (bot/work_orders/desk.py, run
from the Timers loop).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import yaml

from bot.core.domain import WorkOrderStatus
from bot.core.localtime import DEFAULT_TIME_ZONE, Wish, local_text, to_local, to_utc
from bot.core.problems import FileProblem, ProblemsError
from bot.core.settings import get_settings

logger = logging.getLogger(__name__)

CATEGORY_NAMES = ("水电", "门窗", "电梯", "公共设施", "其他")  # actions/repairs.py CATEGORIES + 其他
URGENCIES = ("normal", "urgent")
URGENCY_LABELS = {"normal": "一般", "urgent": "紧急"}
FIELDS = ("response", "completion")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
# used only when data/sla.yml was never readable: the promise the bot made before the file existed
BUILT_IN = {"normal": (dt.timedelta(hours=2), dt.timedelta(hours=72)),
            "urgent": (dt.timedelta(minutes=30), dt.timedelta(hours=12))}

Times = Tuple[dt.timedelta, dt.timedelta]  # (response, completion)


class SlaError(ProblemsError):
    """data/sla.yml does not validate; carries every problem (file:line: 中文)."""


def parse_duration(text: object) -> Optional[dt.timedelta]:
    """'30m', '2h', '1d', '1h30m' → timedelta; anything else (or zero) → None."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        return None
    match = _DURATION.match(str(text).strip().lower())
    if not match or not any(match.groups()):
        return None
    days, hours, minutes = (int(g or 0) for g in match.groups())
    value = dt.timedelta(days=days, hours=hours, minutes=minutes)
    return value if value > dt.timedelta(0) else None


def duration_text(value: dt.timedelta) -> str:
    """timedelta → '30 分钟', '2 小时', '1 天', '1 小时 30 分钟'."""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} 天" if days else "", f"{hours} 小时" if hours else "", f"{minutes} 分钟" if minutes else ""]
    return " ".join(p for p in parts if p) or "0 分钟"


@dataclass
class SlaTable:
    default: Dict[Tuple[str, str], Times] = field(default_factory=dict)
    overrides: Dict[str, Dict[Tuple[str, str], Times]] = field(default_factory=dict)

    def times(self, community_id: Optional[str], category: str, urgency: str) -> Times:
        urgency = urgency if urgency in URGENCIES else "normal"
        category = category if category in CATEGORY_NAMES else "其他"
        key = (category, urgency)
        own = self.overrides.get(community_id or "", {})
        if key in own:
            return own[key]
        return self.default.get(key, BUILT_IN[urgency])

    def as_json(self) -> Dict[str, object]:
        def rows(table: Dict[Tuple[str, str], Times]) -> List[Dict[str, object]]:
            return [{"category": c, "urgency": u, "response_minutes": int(r.total_seconds() // 60),
                     "completion_minutes": int(t.total_seconds() // 60)} for (c, u), (r, t) in sorted(table.items())]

        return {"default": rows(self.default), "communities": {k: rows(v) for k, v in self.overrides.items()}}


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping(node: yaml.Node) -> Dict[str, Tuple[yaml.Node, yaml.Node]]:
    return {str(k.value): (k, v) for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}


def _table(node: yaml.Node, display: str, where: str, complete: bool, problems: List[FileProblem]) -> Dict[Tuple[str, str], Times]:
    """One table (category → urgency → response/completion)."""
    table: Dict[Tuple[str, str], Times] = {}
    if not isinstance(node, yaml.MappingNode):
        problems.append(FileProblem(display, _line(node), f"{where} 应该是“类别: {{normal: …, urgent: …}}”的映射"))
        return table
    categories = _mapping(node)
    for name, (key, value) in categories.items():
        if name not in CATEGORY_NAMES:
            problems.append(FileProblem(display, _line(key), f"{where} 中的类别“{name}”不存在，只能是 {'/'.join(CATEGORY_NAMES)}"))
            continue
        urgencies = _mapping(value)
        if not isinstance(value, yaml.MappingNode):
            problems.append(FileProblem(display, _line(value), f"{where}“{name}”应该写 normal 和 urgent 两项"))
            continue
        for urgency, (ukey, uvalue) in urgencies.items():
            if urgency not in URGENCIES:
                problems.append(FileProblem(display, _line(ukey), f"{where}“{name}”的紧急程度“{urgency}”不存在，只能是 normal（一般）或 urgent（紧急）"))
                continue
            fields = _mapping(uvalue)
            if not isinstance(uvalue, yaml.MappingNode):
                problems.append(FileProblem(display, _line(uvalue), f"{where}“{name}/{urgency}”应该写成 {{response: 2h, completion: 24h}}"))
                continue
            parsed: Dict[str, dt.timedelta] = {}
            for fname, (fkey, fvalue) in fields.items():
                if fname not in FIELDS:
                    problems.append(FileProblem(display, _line(fkey), f"{where}“{name}/{urgency}”中的“{fname}”不认识，只能是 response（响应）或 completion（完成）"))
                    continue
                duration = parse_duration(getattr(fvalue, "value", None))
                if duration is None:
                    problems.append(FileProblem(display, _line(fvalue), f"{where}“{name}/{urgency}/{fname}”的时长“{getattr(fvalue, 'value', '')}”无效，应写成 30m、2h、1d 或 1h30m"))
                    continue
                parsed[fname] = duration
            missing = [f for f in FIELDS if f not in fields]
            if missing:
                problems.append(FileProblem(display, _line(ukey), f"{where}“{name}/{urgency}”缺少 {'、'.join(missing)}"))
            if len(parsed) == 2:
                if parsed["completion"] < parsed["response"]:
                    problems.append(FileProblem(display, _line(ukey), f"{where}“{name}/{urgency}”的完成时限短于响应时限"))
                table[(name, urgency)] = (parsed["response"], parsed["completion"])
        if complete:
            for urgency in URGENCIES:
                if urgency not in urgencies:
                    problems.append(FileProblem(display, _line(key), f"{where}“{name}”缺少 {urgency}（{URGENCY_LABELS[urgency]}）"))
    if complete:
        for name in CATEGORY_NAMES:
            if name not in categories:
                problems.append(FileProblem(display, _line(node), f"{where} 缺少类别“{name}”"))
    return table


def load_sla(path: Path, community_ids: Optional[Iterable[str]] = None, display: Optional[str] = None) -> SlaTable:
    """Read and validate data/sla.yml; raises SlaError listing every problem (file:line, in Chinese)."""
    display = display or f"{path.parent.name}/{path.name}"
    problems: List[FileProblem] = []
    if not path.is_file():
        raise SlaError([FileProblem(display, 1, f"缺少工单时限文件 {path}")])
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SlaError([FileProblem(display, mark.line + 1 if mark is not None else 1,
                                    f"YAML 格式错误：{getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(root, yaml.MappingNode):
        raise SlaError([FileProblem(display, _line(root) if root is not None else 1, "文件应该包含 default: 和 communities: 两部分")])
    top = _mapping(root)
    for name, (key, _) in top.items():
        if name not in ("default", "communities"):
            problems.append(FileProblem(display, _line(key), f"不认识的顶层项“{name}”，只能是 default 或 communities"))
    table = SlaTable()
    if "default" not in top:
        problems.append(FileProblem(display, 1, "缺少 default:（所有小区通用的时限）"))
    else:
        table.default = _table(top["default"][1], display, "default", True, problems)
    if "communities" in top:
        node = top["communities"][1]
        if not isinstance(node, yaml.MappingNode) and not (isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null")):
            problems.append(FileProblem(display, _line(node), "communities 应该是“小区 ID: 时限表”的映射"))
        known = set(community_ids) if community_ids is not None else None
        for community, (key, value) in _mapping(node).items():
            if known is not None and community not in known:
                problems.append(FileProblem(display, _line(key), f"小区“{community}”不在 communities.yml 中（已有：{'、'.join(sorted(known))}）"))
                continue
            table.overrides[community] = _table(value, display, f"小区 {community}", False, problems)
    if problems:
        raise SlaError(problems)
    return table


def check(path: Path, community_ids: Optional[Iterable[str]] = None) -> List[FileProblem]:
    try:
        load_sla(path, community_ids)
    except SlaError as exc:
        return exc.problems
    return []


# --- the table in use: reloaded when the file changes, the last good one kept --------------------------------
_lock = threading.Lock()
_path: Optional[Path] = None
_cache: Dict[Path, Tuple[float, SlaTable]] = {}


def use(path: Path) -> None:
    """Which file the running app reads (set at start-up from the settings' data directory)."""
    global _path
    _path = Path(path)


def current_path() -> Path:
    if _path is not None:
        return _path

    return get_settings().data_dir / "sla.yml"


def current(path: Optional[Path] = None) -> SlaTable:
    """The table of ``path`` (default: the app's data/sla.yml), re-read when the file changes; a file that does
    not validate is logged and the last good table kept (the built-in defaults if there never was one)."""
    path = Path(path) if path is not None else current_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            table = load_sla(path)
        except SlaError as exc:
            logger.error("工单时限文件有问题，继续使用上一个正确版本：\n%s", exc)
            table = cached[1] if cached is not None else SlaTable()
        _cache[path] = (mtime, table)
        return table


def deadlines(created_at: dt.datetime, community_id: Optional[str], category: str, urgency: str,
              path: Optional[Path] = None) -> Tuple[dt.datetime, dt.datetime]:
    response, completion = current(path).times(community_id, category, urgency)
    return created_at + response, created_at + completion


def apply(order, conversation_id: Optional[int] = None, path: Optional[Path] = None,
          time_zone: str = DEFAULT_TIME_ZONE) -> None:
    """Set a new work order's deadlines (and the conversation it came from): called once when it is created. A visit
    time the resident asked for that ends after the completion deadline becomes the deadline: the technician comes
    when the resident wants, so the order is not late (nor the resident told it is) before then."""
    order.response_due, order.completion_due = deadlines(order.created_at, order.community_id, order.category,
                                                         order.urgency, path)
    wish = Wish.parse(order.preferred_time)
    if wish is not None:
        order.completion_due = max(order.completion_due, to_utc(wish.window()[1], time_zone))
    if conversation_id is not None:
        order.conversation_id = conversation_id


def visit_promise(order, now: dt.datetime, time_zone: str) -> Optional[str]:
    """'明天上午（9:00–12:00）' when the visit time the resident asked for can still be kept — it is ahead, and the order
    is dispatched or its dispatch deadline falls before that time ends; None otherwise (no such time, or one the
    order cannot meet: then the resident is told so, never promised it)."""
    wish = Wish.parse(order.preferred_time)
    if wish is None:
        return None
    latest = to_utc(wish.latest_start(), time_zone)
    dispatched = order.first_response_at is not None or order.response_due is None
    if latest <= now or not (dispatched or order.response_due <= latest):
        return None
    return wish.promise(to_local(now, time_zone).date())


def overdue(order, now: dt.datetime) -> bool:
    """Past a deadline and not met: not dispatched by ``response_due``, or not repaired by ``completion_due``."""

    if order.status in WorkOrderStatus.closed():
        return False
    late_response = order.response_due is not None and order.first_response_at is None and now > order.response_due
    late_completion = order.completion_due is not None and now > order.completion_due
    return late_response or late_completion


def spaced(time_text: str) -> str:
    """A time before the word that follows it: "明天 15:00" + 上门 reads "明天 15:00 上门" (as "今天 12:00 前");
    "明天上午（9:00–12:00）上门" needs no space."""
    return time_text + " " if time_text[-1:].isdigit() else time_text


def local_deadline(utc: Optional[dt.datetime], now: dt.datetime, time_zone: str) -> str:
    """'今天 15:00', '明天 09:30', '11月30日 15:00' on the 小区's clock (the callback promise reads the same way)."""
    return local_text(utc, now, time_zone)
