"""Staff accounts as a company runs them: the first admin (`wuye init`), accounts an admin adds, disables,
re-enables and resets (``/admin`` 员工, `wuye staff`), the password policy, the forced change after an admin set a
password, and the list of a member's signed-in sessions with their revocation.

One module for the admin page's routes and the command line, so both refuse the same input with the same Chinese
message. Nothing here commits: the caller's transaction holds the whole change or none of it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from typing import Any, Dict, Iterable, List, Optional

from sqlalchemy import delete, select

from bot.access.passwords import hash_password, verify_password
from bot.access.permissions import Role
from bot.core.errors import INVALID_CHARS, WuyeError
from bot.storage.models import RateEvent, Staff, StaffSession

MIN_PASSWORD_CHARS = 10
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,31}$")
ROLE_LABELS = {Role.TECHNICIAN.value: "维修师傅", Role.AGENT.value: "客服", Role.ADMIN.value: "管理员"}


class WeakPassword(WuyeError):
    status, code, message = 422, "weak_password", "密码太弱"


class InvalidUsername(WuyeError):
    status, code, message = 422, "invalid_username", "用户名须为 2–32 个字母、数字或 _ . -，以字母或数字开头"


class InvalidDisplayName(WuyeError):
    status, code, message = 422, "invalid_display_name", "姓名须为 1–32 个可见字符"


class InvalidRole(WuyeError):
    status, code, message = 422, "invalid_role", "角色只能是 agent（客服）、admin（管理员）或 technician（维修师傅）"


class UnknownCommunity(WuyeError):
    status, code, message = 422, "unknown_community", "没有这个小区：{community}"


class UsernameTaken(WuyeError):
    status, code, message = 409, "username_taken", "用户名 {username} 已被使用"


class StaffNotFound(WuyeError):
    status, code, message = 404, "staff_not_found", "找不到这个员工"


class SessionNotFound(WuyeError):
    status, code, message = 404, "session_not_found", "找不到这个登录会话"


class WrongOldPassword(WuyeError):
    status, code, message = 422, "wrong_old_password", "原密码不正确"


class LastAdmin(WuyeError):
    status, code, message = 409, "last_admin", "这是最后一个可用的管理员账号，不能停用或改为其他角色"


class OwnAccount(WuyeError):
    status, code, message = 409, "own_account", "不能停用自己的账号或取消自己的管理员角色，请让另一位管理员操作"


class PasswordChangeRequired(WuyeError):
    status, code, message = 403, "password_change_required", "请先修改初始密码"


class AccountDisabled(WuyeError):
    status, code, message = 403, "account_disabled", "账号已停用，请联系管理员"


def check_password(username: str, password: Any) -> str:
    """The password policy: ≥ 10 characters, not all digits, not the username. Raises WeakPassword in Chinese."""
    if not isinstance(password, str) or INVALID_CHARS.search(password):
        raise WeakPassword("密码含有无法识别的字符")
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"密码至少需要 {MIN_PASSWORD_CHARS} 个字符")
    if password.isdigit():
        raise WeakPassword("密码不能全是数字")
    if username and password.strip().lower() == username.strip().lower():
        raise WeakPassword("密码不能与用户名相同")
    return password


def check_username(username: Any) -> str:
    if not isinstance(username, str) or not USERNAME.match(username):
        raise InvalidUsername()
    return username


def check_display_name(name: Any) -> str:
    # no format characters (zero-width spaces, right-to-left overrides): a name must read as what it is on every page
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 32 or INVALID_CHARS.search(name) \
            or any(unicodedata.category(c) == "Cf" for c in name):
        raise InvalidDisplayName()
    return name.strip()


def check_role(role: Any) -> str:
    if role not in ROLE_LABELS:
        raise InvalidRole()
    return role


def check_community(community: Optional[str], known: Iterable[str]) -> Optional[str]:
    """None or "" is every 小区; otherwise one of the configured ones."""
    if not community:
        return None
    if community not in set(known):
        raise UnknownCommunity(community=str(community)[:32])
    return community


def create_staff(session, *, username: str, display_name: str, password: str, role: str,
                 community_id: Optional[str], known_communities: Iterable[str], must_change_password: bool) -> Staff:
    """A new account, every field checked first (nothing is added when one is wrong)."""
    username = check_username(username)
    display_name = check_display_name(display_name)
    role = check_role(role)
    community_id = check_community(community_id, known_communities)
    check_password(username, password)
    if session.scalar(select(Staff.id).where(Staff.username.ilike(username))) is not None:
        raise UsernameTaken(username=username)
    staff = Staff(username=username, display_name=display_name, password_hash=hash_password(password), role=role,
                  community_id=community_id, must_change_password=must_change_password)
    session.add(staff)
    session.flush()
    return staff


def get_staff(session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise StaffNotFound()
    return staff


def by_username(session, username: str) -> Staff:
    staff = session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        raise StaffNotFound(f"找不到员工 {username}")
    return staff


def _active_admins(session) -> int:
    return len(list(session.scalars(select(Staff.id).where(Staff.role == Role.ADMIN.value,
                                                          Staff.disabled_at.is_(None)))))


def _keep_an_admin(session, staff: Staff) -> None:
    """A company must not lock itself out of /admin: the last enabled admin stays an enabled admin."""
    if staff.role == Role.ADMIN.value and staff.disabled_at is None and _active_admins(session) <= 1:
        raise LastAdmin()


def revoke_all_sessions(session, staff_id: int, now: dt.datetime, keep: Optional[str] = None) -> int:
    rows = session.scalars(select(StaffSession).where(StaffSession.staff_id == staff_id,
                                                      StaffSession.revoked_at.is_(None)))
    count = 0
    for row in rows:
        if row.id != keep:
            row.revoked_at = now
            count += 1
    return count


def takes_admin_away(role: Optional[str], disabled: Optional[bool]) -> bool:
    """Whether a change (``role``, ``disabled``; None: that field unchanged) leaves its account no enabled admin."""
    return bool(disabled) or (role is not None and role != Role.ADMIN.value)


def check_not_self(actor: Staff, staff: Staff, *, disabled: Optional[bool] = None, role: Optional[str] = None) -> None:
    """An admin does not lock themselves out of the page they are using (a slip of the 停用 button or a row of
    their own in an imported sheet, bot/access/staff_import.py): another admin disables or demotes them."""
    if actor.id == staff.id and takes_admin_away(role, disabled):
        raise OwnAccount()


def set_disabled(session, staff: Staff, disabled: bool, now: dt.datetime) -> None:
    """Disabling signs the member out everywhere at once (their sessions are revoked, not just left to expire)."""
    if disabled and staff.disabled_at is None:
        _keep_an_admin(session, staff)
        staff.disabled_at = now
        revoke_all_sessions(session, staff.id, now)
    elif not disabled:
        staff.disabled_at = None


def set_role(session, staff: Staff, role: str) -> None:
    role = check_role(role)
    if role != staff.role:
        _keep_an_admin(session, staff)
        staff.role = role


def clear_lockout(session, username: str) -> None:
    """An admin's reset also lifts a lock-out of the account (the member was locked out because they forgot)."""
    name = username.lower()
    session.execute(delete(RateEvent).where(RateEvent.bucket.in_([f"login-fail:user:{name}", f"login-lock:user:{name}"])))


def reset_password(session, staff: Staff, password: str, now: dt.datetime) -> None:
    """An admin sets a temporary password: every session ends, and the member must choose their own at sign-in."""
    check_password(staff.username, password)
    staff.password_hash = hash_password(password)
    staff.must_change_password = True
    revoke_all_sessions(session, staff.id, now)
    clear_lockout(session, staff.username)


def change_own_password(session, staff: Staff, old: str, new: str, now: dt.datetime,
                        current_session: Optional[str]) -> None:
    """The member's own change: the old password proves it is them; their other sessions end, this one stays."""
    if not verify_password(old or "", staff.password_hash):
        raise WrongOldPassword()
    check_password(staff.username, new)
    if verify_password(new, staff.password_hash):
        raise WeakPassword("新密码不能与原密码相同")
    staff.password_hash = hash_password(new)
    staff.must_change_password = False
    revoke_all_sessions(session, staff.id, now, keep=current_session)


# --- sessions -------------------------------------------------------------------------------------------------

def session_handle(session_id: str) -> str:
    """What a page sees of a session: a digest, never the id the cookie carries."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


def live_sessions(session, staff_id: int, now: dt.datetime) -> List[StaffSession]:
    return list(session.scalars(select(StaffSession).where(
        StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None), StaffSession.expires_at > now)
        .order_by(StaffSession.created_at.desc())))


def sessions_json(session, staff_id: int, now: dt.datetime, current: Optional[str] = None) -> List[Dict[str, Any]]:
    return [{"id": session_handle(row.id), "created_at": row.created_at.isoformat(timespec="seconds"),
             "expires_at": row.expires_at.isoformat(timespec="seconds"), "ip": row.ip,
             "user_agent": row.user_agent, "current": row.id == current}
            for row in live_sessions(session, staff_id, now)]


def revoke_session(session, staff_id: int, handle: str, now: dt.datetime) -> None:
    for row in live_sessions(session, staff_id, now):
        if session_handle(row.id) == handle:
            row.revoked_at = now
            return
    raise SessionNotFound()


def account_json(session, staff: Staff, now: dt.datetime, community_names: Dict[str, str]) -> Dict[str, Any]:
    """What the admin page shows of an account (never the password hash)."""
    return {"id": staff.id, "username": staff.username, "display_name": staff.display_name, "role": staff.role,
            "role_label": ROLE_LABELS.get(staff.role, staff.role), "community_id": staff.community_id,
            "community": community_names.get(staff.community_id, staff.community_id) if staff.community_id else "全部小区",
            "disabled": staff.disabled_at is not None, "must_change_password": bool(staff.must_change_password),
            "last_seen": staff.last_seen.isoformat(timespec="seconds") if staff.last_seen else None,
            "sessions": len(live_sessions(session, staff.id, now))}


def list_staff(session) -> List[Staff]:
    return list(session.scalars(select(Staff).order_by(Staff.id)))


