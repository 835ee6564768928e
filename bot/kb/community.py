"""Per-community (小区) values that FAQ answers are rendered with (data/communities.yml), and the communities table
kept in step with that file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy.orm import Session

from bot.storage.models import Community as CommunityRow


class CommunityConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Community:
    id: str
    values: Dict[str, str]

    @property
    def name(self) -> str:
        return self.values.get("community_name", self.id)


def load_communities(path: Path) -> List[Community]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CommunityConfigError(f"{path}: invalid YAML: {exc}") from exc
    items = raw.get("communities")
    if not isinstance(items, list) or not items:
        raise CommunityConfigError(f"{path}: expected a non-empty 'communities' list")
    result: List[Community] = []
    for item in items:
        if not isinstance(item, dict) or "id" not in item:
            raise CommunityConfigError(f"{path}: every community needs an 'id'")
        values = {str(k): str(v) for k, v in item.items() if k != "id"}
        if "time_zone" in values:
            try:
                ZoneInfo(values["time_zone"])
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise CommunityConfigError(f"{path}: {item['id']}: unknown time_zone {values['time_zone']!r}") from exc
        result.append(Community(id=str(item["id"]), values=values))
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
