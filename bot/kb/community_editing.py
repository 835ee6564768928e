"""An admin's 小区 onboarding: a 小区 added to data/communities.yml or changed in it, safely.

Same discipline as FAQ edits (bot/kb/kb_editing.py): under the file's lock the file is read, its version compared
with the one the edit was based on (409 when someone saved since), the change applied by a ruamel.yaml round trip
(comments, order and untouched values written as they were), the whole knowledge base validated with the new file
exactly like `wuye faq check`, and only then written atomically. A saved 小区 can therefore never break an answer.
"""
from __future__ import annotations

import contextlib
import re
import string
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import yaml

from bot.core import yamlio
from bot.core.errors import WuyeError
from bot.kb.community import CommunityConfigError
from bot.kb.kb_editing import atomic_write, file_lock
from bot.kb.knowledge import KnowledgeBase, KnowledgeBaseError, file_version, load_knowledge_base

ID_PATTERN = r"^[a-z][a-z0-9]{1,31}$"  # communities.id is String(32); also the signed link's payload
# a landline with its area code, a mobile or a 400/95 hotline, spaces and dashes allowed as people write them
PHONE = re.compile(r"^(?:0\d{2,3}[- ]?\d{3,4}[- ]?\d{3,4}|1[3-9]\d[- ]?\d{4}[- ]?\d{4}|(?:400|800)[- ]?\d{3}[- ]?\d{4}"
                   r"|95\d{3,6}|1\d{2})$")
HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
BUILDINGS = re.compile(r"^\d{1,3}(?:[,，、 ]+\d{1,3})*$")
LABELS = {"community_name": "小区名称", "office_phone": "物业电话", "office_address": "物业地址",
          "emergency_phone": "紧急电话", "on_duty_phone": "值班电话", "agent_hours": "人工客服时间",
          "weekend_agent_hours": "周末人工客服时间", "holiday_agent_hours": "节假日人工客服时间",
          "buildings": "楼栋", "time_zone": "时区"}


class CommunityRejected(WuyeError):
    """A 小区 that would not validate; nothing was written. ``field``: the value at fault (None: the whole file)."""

    status, code, message = 422, "community_invalid", "未保存：{why}"

    def __init__(self, why: str, field: Optional[str] = None, problems: Optional[List[str]] = None) -> None:
        self.field, self.problems = field, list(problems or [])
        super().__init__(why=why)


class CommunityIdTaken(WuyeError):
    status, code, message = 409, "community_id_taken", "小区 ID {id} 已被使用，请换一个"


class CommunityNotFound(WuyeError):
    status, code, message = 404, "community_not_found", "没有这个小区"


class CommunityNameTaken(WuyeError):
    status, code, message = 409, "community_name_taken", "小区名称“{name}”已被小区 {other} 使用：导入文件按名称找小区，名称不能重复"


class CommunityRetireRefused(WuyeError):
    status, code, message = 409, "community_retire_refused", "不能停用小区 {id}：{why}"


class CommunityEditConflict(WuyeError):
    status, code, message = 409, "community_edit_conflict", "小区资料已被他人修改，请刷新后再编辑"

    def __init__(self, current_version: Optional[str] = None) -> None:
        self.current_version = current_version
        super().__init__()


def label(key: str) -> str:
    return f"{LABELS[key]}（{key}）" if key in LABELS else key


def required_values(kb: KnowledgeBase) -> List[str]:
    """The values some answer template uses: a 小区 without one of them would leave an answer unrenderable."""
    names = {name for entry in kb.entries.values()
             for _, name, _, _ in string.Formatter().parse(entry.answer) if name}
    return sorted(names | {"community_name"})


def check_values(kb: KnowledgeBase, values: Dict[str, str]) -> Dict[str, str]:
    """Each value's own format (phones, hours, buildings), then that every template's value is there; the first
    problem is refused naming its field. Returns the values stripped."""
    cleaned = {}
    for key, value in values.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key) or key == "id":
            raise CommunityRejected(f"资料名称“{key[:40]}”的格式不对（小写字母、数字和下划线）", key[:40])
        if key == "retired":
            raise CommunityRejected("“retired”不是资料名称：停用或恢复小区请用“停用小区”按钮", key)
        cleaned[key] = value.strip()
    for key, value in cleaned.items():
        if not value:
            raise CommunityRejected(f"{label(key)}不能为空", key)
        if key.endswith("_phone") and not PHONE.fullmatch(value):
            raise CommunityRejected(f"{label(key)}“{value}”不是有效的电话号码（如 020-8888 6601 或 13800138000）", key)
        if key.endswith("agent_hours"):
            match = HOURS.fullmatch(value)
            if not match or match.group(1, 2) >= match.group(3, 4):
                raise CommunityRejected(f"{label(key)}“{value}”的格式不对（如 08:00-22:00，开始早于结束）", key)
        if key == "buildings" and (not BUILDINGS.fullmatch(value)
                                   or any(int(b) < 1 for b in re.findall(r"\d+", value))):
            raise CommunityRejected(f"{label(key)}“{value}”应是楼栋号，用逗号或顿号隔开（如 1、2、3）", key)
    missing = [key for key in required_values(kb) if key not in cleaned]
    if missing:
        raise CommunityRejected("缺少" + "、".join(label(k) for k in missing) + "（知识库的答案要用）", missing[0])
    return cleaned


def _scalar(value: str):  # type: ignore[no-untyped-def]
    """A value PyYAML (which reads the file) would read as something else (2.80, 350, 8:30, yes) is quoted."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    try:
        plain = yaml.safe_load(value) == value
    except yaml.YAMLError:
        plain = False
    return value if plain and "#" not in value and ": " not in value else DoubleQuotedScalarString(value)


def render_community(original_text: str, community_id: str, values: Dict[str, str], create: bool) -> str:
    """The file's text with one 小区 added at the end, or changed in place: changed values rewritten, new ones
    appended, dropped ones removed; every other line (comments included) written as it was."""
    data = yamlio.load_round_trip(original_text)
    items = data["communities"]
    if create:
        item = yamlio.load_round_trip("id: x\n")  # a round-trip mapping: keys in the order written
        item["id"] = community_id
        items.append(item)
    else:
        item = next(c for c in items if hasattr(c, "get") and str(c.get("id")) == community_id)
    for key in [k for k in item if k not in ("id", "retired") and k not in values]:
        del item[key]
    for key, value in values.items():
        if key not in item or str(item[key]) != value:
            item[key] = _scalar(value)
    return yamlio.dump_round_trip(data)


@contextlib.contextmanager
def _locked_original(path: Path, base_version: Optional[str]) -> Iterator[str]:
    """The 小区 file's text, read under its lock, which is held until the block ends (so the block may write it).
    Raises CommunityEditConflict when the admin edited an older version (``base_version``) than the file's."""
    with file_lock(path):
        original = path.read_text(encoding="utf-8")
        version = file_version(original)
        if base_version is not None and base_version != version:
            raise CommunityEditConflict(version)
        yield original


def save_community(settings, kb: KnowledgeBase, community_id: str, values: Dict[str, str],
                   base_version: Optional[str], create: bool) -> KnowledgeBase:
    """Add (``create``) or change a 小区 under the file's lock; returns the knowledge base with the new file.
    Raises CommunityEditConflict (stale ``base_version``), CommunityIdTaken, CommunityNotFound or CommunityRejected;
    nothing is written then."""
    values = check_values(kb, values)
    path = Path(settings.communities_file)
    with _locked_original(path, base_version) as original:
        ids = [str(c.get("id")) for c in yamlio.load_round_trip(original)["communities"] if hasattr(c, "get")]
        if create and community_id in ids:
            raise CommunityIdTaken(id=community_id)
        if not create and community_id not in ids:
            raise CommunityNotFound()
        text = render_community(original, community_id, values, create)
        new_kb = _validated(settings, text)  # `wuye faq check` over the FAQ files and the new 小区 file
        saved = next(c for c in new_kb.communities if c.id == community_id)
        if saved.values != values:  # the file would read back differently: never store what was not meant
            raise CommunityRejected("有资料写入后无法原样读回")
        _check_unique_name(new_kb, saved)
        atomic_write(path, text)
        return new_kb


def _normal(name: str) -> str:
    return re.sub(r"\s+", "", name).lower()


def _check_unique_name(kb: KnowledgeBase, saved) -> None:
    """Two 小区 of one name (retired ones too: their history is listed by name) would make an import's 小区 column
    ambiguous (bot/households/imports.py finds a 小区 by its name)."""
    other = next((c for c in kb.communities if c.id != saved.id and _normal(c.name) == _normal(saved.name)), None)
    if other is not None:
        raise CommunityNameTaken(name=saved.name, other=f"{other.name}（{other.id}）")


def _validated(settings, text: str) -> KnowledgeBase:
    """The knowledge base with ``text`` as the 小区 file, exactly as `wuye faq check` would read it."""
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / "communities.yml"
        candidate.write_text(text, encoding="utf-8")
        try:
            return load_knowledge_base(settings.faq_dir, candidate)
        except KnowledgeBaseError as exc:
            problems = [str(p) for p in exc.problems]
            raise CommunityRejected("知识库有 " + str(len(problems)) + " 处问题：" + "；".join(problems[:2]),
                                    None, problems) from exc
        except CommunityConfigError as exc:
            raise CommunityRejected(exc.message) from exc


def set_retired(settings, community_id: str, retired: bool, base_version: Optional[str]) -> KnowledgeBase:
    """Retire a 小区 (``retired: true`` written after its id; nothing else changes, nothing is deleted) or bring it
    back. The first 小区 (the default for residents of no link) and the last one in service cannot be retired."""
    path = Path(settings.communities_file)
    with _locked_original(path, base_version) as original:
        data = yamlio.load_round_trip(original)
        items = [c for c in data["communities"] if hasattr(c, "get")]
        item = next((c for c in items if str(c.get("id")) == community_id), None)
        if item is None:
            raise CommunityNotFound()
        if retired and item is items[0]:
            raise CommunityRetireRefused(id=community_id, why="它是列表中的第一个小区（没有小区链接的住户默认属于它）")
        if retired and not any(c.get("retired") is not True for c in items if c is not item):
            raise CommunityRetireRefused(id=community_id, why="至少要有一个小区在服务中")
        if retired and "retired" not in item:
            item.insert(1, "retired", True)  # right after its id: seen first when reading the file
        elif not retired and "retired" in item:
            del item["retired"]
        text = yamlio.dump_round_trip(data)
        new_kb = _validated(settings, text)
        atomic_write(path, text)
        return new_kb
