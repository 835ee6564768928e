"""Who may do what: staff roles as sets of capabilities, checked in one place.

A route asks for a capability in its signature (``bot/api/deps.py``: ``ConsoleStaff``, ``DeskStaff``,
``Dispatcher``, ``CurrentAdmin``); nothing else compares role names. ``tests/test_permissions.py`` walks every
route of the app against a declared route × role matrix, so a new route that forgets to declare who may call it
fails the suite.

- **technician** (维修师傅): the work-order desk only, and on it only the orders assigned to them or not yet
  assigned (:func:`sees_order`); moves their own orders to 维修中 / 已完成 (``bot/work_orders/desk.py``).
- **agent** (客服): the console (queue, conversations with their private notes, claim, reply, resolve,
  incidents, quick replies, knowledge search, ``/ws/agent``) and the whole desk (dispatch, cancel).
- **admin** (管理员): everything, and the admin page.
"""
from __future__ import annotations

import enum
from typing import Dict, FrozenSet, Optional

from bot.core.errors import WuyeError


class Role(str, enum.Enum):
    TECHNICIAN = "technician"
    AGENT = "agent"
    ADMIN = "admin"


class Capability(str, enum.Enum):
    DESK = "desk"          # the work-order desk: read orders one may see, move one's own
    DISPATCH = "dispatch"  # every order: assign, reassign, cancel, any status move; the technicians' list
    CONSOLE = "console"    # the agent console and everything it shows or does to residents' conversations
    ADMIN = "admin"        # the admin page: knowledge base, figures, exports, notices, API keys


ROLE_CAPABILITIES: Dict[str, FrozenSet[Capability]] = {
    Role.TECHNICIAN.value: frozenset({Capability.DESK}),
    Role.AGENT.value: frozenset({Capability.DESK, Capability.DISPATCH, Capability.CONSOLE}),
    Role.ADMIN.value: frozenset(Capability),
}

# Roles that answer residents: only they count as "an agent online" (a technician signed in to the desk is not)
CONSOLE_ROLES = tuple(role for role, caps in ROLE_CAPABILITIES.items() if Capability.CONSOLE in caps)


class NotAllowed(WuyeError):
    status, code, message = 403, "not_allowed", "您的账号没有这个权限"


class ConsoleOnly(NotAllowed):
    code, message = "console_only", "只有客服或管理员可以使用客服工作台"


class AdminsOnly(NotAllowed):
    code, message = "admins_only", "仅管理员可以使用"


class DispatchersOnly(NotAllowed):
    code, message = "dispatchers_only", "只有客服或管理员可以派单或取消工单"


_REFUSALS = {Capability.DESK: NotAllowed, Capability.DISPATCH: DispatchersOnly, Capability.CONSOLE: ConsoleOnly,
             Capability.ADMIN: AdminsOnly}


def capabilities(role: Optional[str]) -> FrozenSet[Capability]:
    """An unknown role (a row written by hand) may do nothing."""
    return ROLE_CAPABILITIES.get(role or "", frozenset())


def can(staff, capability: Capability) -> bool:
    return staff is not None and capability in capabilities(staff.role)


def require(staff, capability: Capability) -> None:
    """Raise the capability's 403 unless ``staff`` has it."""
    if not can(staff, capability):
        raise _REFUSALS[capability]()


def community_scope(staff) -> Optional[str]:
    """The 小区 a member's queue, desk and conversations are limited to: the one they serve; None (every 小区) for
    admins and for members who serve no particular 小区."""
    if staff is None or can(staff, Capability.ADMIN):
        return None
    return getattr(staff, "community_id", None) or None


def sees_order(staff, order) -> bool:
    """A dispatcher sees every work order of their 小区; anyone else on the desk only theirs and the unassigned ones."""
    scope = community_scope(staff)
    if scope is not None and order.community_id != scope:
        return False
    if can(staff, Capability.DISPATCH):
        return True
    return can(staff, Capability.DESK) and order.assignee_id in (None, staff.id)
