"""Per-community (小区) values that FAQ answers are rendered with (data/communities.yml), and the communities table
kept in step with that file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy.orm import Session

from bot.core.problems import yaml_error
from bot.storage.models import Community as CommunityRow


class CommunityConfigError(ValueError):
    """data/communities.yml does not validate: ``line`` and a Chinese ``message`` (shown with the knowledge base's
    problems on the admin page)."""

    def __init__(self, path: Path, message: str, line: int = 1) -> None:
        self.path, self.message, self.line = path, message, line
        super().__init__(f"{path}:{line}: {message}")


@dataclass(frozen=True)
class Community:
    id: str
    values: Dict[str, str]
    # ``retired: true`` in the file (bot/kb/community_editing.py): no longer offered to new residents (its signed link
    # starts no session in it) or to new staff; its values stay, so its residents' history and answers still render
    retired: bool = False

    @property
    def name(self) -> str:
        return self.values.get("community_name", self.id)


def _item_lines(text: str) -> List[int]:
    """The line of each item of the communities list (safe_load keeps no positions; read only for a problem)."""
    root = yaml.compose(text)
    for key, value in root.value if isinstance(root, yaml.MappingNode) else []:
        if key.value == "communities" and isinstance(value, yaml.SequenceNode):
            return [node.start_mark.line + 1 for node in value.value]
    return []


def load_communities(path: Path) -> List[Community]:
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        line, message = yaml_error(exc, text)
        raise CommunityConfigError(path, message, line) from exc
    items = raw.get("communities") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise CommunityConfigError(path, "应有 communities: 小区列表，且至少有一个小区")
    result: List[Community] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item:
            raise CommunityConfigError(path, "每个小区都要有 id（小区 ID）", (_item_lines(text) + [1] * len(items))[i])
        if item.get("retired", False) not in (True, False):
            raise CommunityConfigError(path, f"小区“{item['id']}”的 retired 只能是 true 或 false",
                                       (_item_lines(text) + [1] * len(items))[i])
        values = {str(k): str(v) for k, v in item.items() if k not in ("id", "retired")}
        if "time_zone" in values:
            try:
                ZoneInfo(values["time_zone"])
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise CommunityConfigError(path, f"小区“{item['id']}”的时区“{values['time_zone']}”不存在"
                                                 f"（应写成 Asia/Shanghai 这样的时区名）",
                                           (_item_lines(text) + [1] * len(items))[i]) from exc
        result.append(Community(id=str(item["id"]), values=values, retired=item.get("retired", False) is True))
    return result


def template_variables(communities: List[Community]) -> set:
    """Variables every community defines: the only ones an answer template may use."""
    common = set(communities[0].values)
    for c in communities[1:]:
        common &= set(c.values)
    return common


def sync_communities(session: Session, communities: List[Community]) -> None:
    """Make the communities table match data/communities.yml (ids and names); run at start-up and by the demo data."""
    for config in communities:
        session.merge(CommunityRow(id=config.id, name=config.name))
    session.flush()
