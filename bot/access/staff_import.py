"""Bring your own staff: accounts from HR's spreadsheet (CSV in UTF-8 or GBK, or .xlsx — the same reader as the
households import, bot/households/imports.py), by an admin in /admin 导入 or with `wuye import staff`.

Columns (Chinese or English headers): 用户名, 姓名, 角色 (客服 / 管理员 / 维修师傅, or agent / admin / technician) are
required; 小区 (id or name; empty or 全部: every 小区), 技能组 (team names, separated by 、 or commas: the member's teams
become exactly these) and 状态 (在职 / 离职 / 停用) are optional, and a column left out changes nothing.

Like the other imports it is all-or-nothing and idempotent: every row is checked first and only a file without
problems is written, in the caller's transaction. Rows are matched to accounts by username (case-insensitively, as
sign-in does); an existing account keeps its password. A new account gets a random temporary password that the
member must change at first sign-in: the result carries those passwords once (the admin hands them out) and they are
stored only hashed. Disabling someone (离职) ends their sessions; a file that would leave no enabled admin is refused.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.access import accounts
from bot.access.passwords import hash_password
from bot.access.permissions import Role
from bot.core.errors import INVALID_CHARS, WuyeError
from bot.core.tables import ImportResult, ImportRowsInvalid, map_header, text_of
from bot.storage.models import Staff, Team, TeamMember

KIND = "staff"
LABEL = "员工账号"
# each new account's password is hashed with scrypt (~50 ms): a thousand rows is about a minute of one core
MAX_ROWS = 1000

COLUMNS: Dict[str, Tuple[str, ...]] = {
    "username": ("用户名", "账号", "登录名", "登录账号", "工号", "username"),
    "display_name": ("姓名", "员工姓名", "显示名", "name", "display_name"),
    "role": ("角色", "岗位", "role"),
    "community": ("小区", "所属小区", "服务小区", "community"),
    "teams": ("技能组", "班组", "team", "teams"),
    "status": ("状态", "在职状态", "status"),
}
REQUIRED = ("username", "display_name", "role")
ROLE_WORDS = {
    "客服": Role.AGENT.value, "坐席": Role.AGENT.value, "客服专员": Role.AGENT.value, "agent": Role.AGENT.value,
    "管理员": Role.ADMIN.value, "admin": Role.ADMIN.value,
    "维修师傅": Role.TECHNICIAN.value, "维修": Role.TECHNICIAN.value, "维修工": Role.TECHNICIAN.value,
    "维修员": Role.TECHNICIAN.value, "工程": Role.TECHNICIAN.value, "工程部": Role.TECHNICIAN.value,
    "technician": Role.TECHNICIAN.value,
}
ENABLED_WORDS = {"在职", "启用", "正常", "active", "enabled"}
DISABLED_WORDS = {"离职", "停用", "禁用", "inactive", "disabled"}
EVERY_COMMUNITY = {"全部", "所有", "全部小区", "所有小区", "all"}
TEAM_SEPARATORS = re.compile(r"[、,，;；/|\s]+")
# how much of an unknown name an error repeats: a pasted paragraph is not echoed back whole
SHOWN_CHARS, SHOWN_NAMES = 32, 10
# no 0/O, 1/l/I: the password is read off a screen or a printed sheet
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


LAST_ADMIN = "这是最后一个可用的管理员账号，导入后将没有可用的管理员"
OWN_ACCOUNT = "这是您自己的账号：不能在导入中停用自己或取消自己的管理员角色，请让另一位管理员操作"


class StaffImportTooLarge(WuyeError):
    status, code, message = 413, "staff_import_too_large", f"一次最多导入 {MAX_ROWS} 名员工，请分几次导入"


class StaffImportConflict(WuyeError):
    status, code, message = 409, "staff_import_conflict", "导入时员工账号或技能组正被同时修改，什么都没有保存，请重新上传"


@dataclass
class StaffImportResult(ImportResult):
    # the temporary passwords of the accounts created, in the file's order: shown once, never stored in clear
    passwords: List[Dict[str, str]] = field(default_factory=list)

    def as_json(self) -> Dict[str, Any]:
        return {**super().as_json(), "passwords": self.passwords}

    def summary(self) -> str:
        what = "试导入（未保存）" if self.dry_run else "已导入"
        text = f"{LABEL}{what}：共 {self.rows} 行，新增 {self.created}，更新 {self.updated}，未变 {self.unchanged}"
        return text + ("；新账号的初始密码只显示这一次，首次登录须修改" if self.passwords else "")


@dataclass
class _Row:
    number: int
    username: str
    display_name: str
    role: str
    community: Optional[str] = None  # "" is every 小区; None: the column is absent
    teams: Optional[List[int]] = None
    disabled: Optional[bool] = None


def community_ids(communities: Iterable[Any]) -> Dict[str, str]:
    """Each configured 小区's name and id → its id (a staff file may name either)."""
    ids: Dict[str, str] = {}
    for community in communities:
        ids[community.name] = community.id
        ids[community.id] = community.id
    return ids


def temporary_password() -> str:
    """12 characters of letters and digits, with both: far inside the password policy."""
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(12))
        if any(c.isdigit() for c in password) and any(c.isalpha() for c in password):
            return password


def new_credentials(count: int) -> List[Tuple[str, str]]:
    """``count`` temporary passwords with their hashes: the slow part of an import (scrypt), done before anything is
    written so that no write lock is held meanwhile (pass them to import_staff as ``prepared``)."""
    return [(password, hash_password(password)) for password in (temporary_password() for _ in range(count))]


def import_staff(session: Session, header: List[str], rows: List[Tuple[int, List[Any]]], *,
                 communities: Dict[str, str], retired: Iterable[str] = (), dry_run: bool = False,
                 now: Optional[dt.datetime] = None, acting: Optional[str] = None,
                 prepared: Iterable[Tuple[str, str]] = ()) -> StaffImportResult:
    """``communities``: every name and id of the configured 小区 → its id (the knowledge base's, as the 员工 tab
    offers them); ``retired``: the ids that take no new members. ``prepared``: temporary passwords and their hashes
    made beforehand (new_credentials, as many as a dry run's ``created``); missing ones are made here, still before
    the first write. ``acting``: the username of the admin importing (the web), whose own row may not take away
    their access. Raises ImportRowsInvalid when a cell is wrong: then nothing was written."""
    now = now or dt.datetime.now()
    if len(rows) > MAX_ROWS:
        raise StaffImportTooLarge()
    header = [INVALID_CHARS.sub("\ufffd", str(title)) for title in header]
    result = StaffImportResult(kind=KIND, dry_run=dry_run, rows=len(rows))
    columns = _map_columns(header, result)
    if result.errors_total:
        raise ImportRowsInvalid(result)
    teams = {name: tid for tid, name in session.execute(select(Team.id, Team.name))}
    existing = {s.username.lower(): s for s in session.scalars(select(Staff))}
    checked = _check_rows(rows, header, columns, result, communities, set(retired), teams, existing)
    if not result.errors_total:
        _keep_own_access(checked, header, columns, acting, result)
    if not result.errors_total:
        _keep_an_admin(checked, header, columns, existing, result)
    if result.errors_total:
        raise ImportRowsInvalid(result)
    memberships = _memberships(session)
    credentials: List[Tuple[str, str]] = []
    if not dry_run:
        # hashed before the first write: on SQLite a write holds the database (and the server's writer lock) for
        # everyone, and a thousand hashes are most of a minute
        needed = sum(1 for row in checked if row.username.lower() not in existing)
        credentials = list(prepared)[:needed]
        credentials += new_credentials(needed - len(credentials))
        credentials.reverse()
    try:
        for row in checked:
            staff = existing.get(row.username.lower())
            if staff is None:
                result.created += 1
                if not dry_run:
                    _create(session, row, result, now, credentials.pop())
            elif _changes(staff, row, memberships.get(staff.id, set())):
                result.updated += 1
                if not dry_run:
                    _update(session, staff, row, now, memberships.get(staff.id, set()))
            else:
                result.unchanged += 1
        if not dry_run:
            session.flush()
    except IntegrityError:
        # another import or the 员工 tab made the same username (or removed a team) since the file was checked: on
        # PostgreSQL nothing serialises them; the caller's transaction is rolled back whole
        session.rollback()
        raise StaffImportConflict() from None
    return result


def _map_columns(header: List[str], result: ImportResult) -> Dict[str, int]:
    found = map_header(header, COLUMNS, result)
    for name in REQUIRED:
        if name not in found:
            result.problem(1, COLUMNS[name][0], f"缺少这一列（也可写作：{'、'.join(COLUMNS[name][1:])}）")
    return found


def _check_rows(rows: List[Tuple[int, List[Any]]], header: List[str], columns: Dict[str, int], result: ImportResult,
                communities: Dict[str, str], retired: Set[str], teams: Dict[str, int],
                existing: Dict[str, Staff]) -> List[_Row]:
    checked: List[_Row] = []
    seen: Dict[str, int] = {}

    def cell(values: List[Any], name: str) -> Tuple[str, str]:
        index = columns[name]
        return (text_of(values[index]) if index < len(values) else ""), header[index]

    for number, values in rows:
        problems_before = result.errors_total
        # an Excel TRUE or a date where a name is expected would become "True" or "2026-01-01 00:00:00" (a number
        # is fine: a 工号 of 1001 is the username "1001")
        typed = [name for name, index in columns.items()
                 if index < len(values) and isinstance(values[index], (bool, dt.date, dt.time))]
        for name in typed:
            result.problem(number, header[columns[name]], "应是文字（这一格是 Excel 的日期或 TRUE/FALSE）")
        if typed:
            continue
        username, column = cell(values, "username")
        if not username:
            result.problem(number, column, "不能为空")
        elif not accounts.USERNAME.match(username):
            result.problem(number, column, accounts.InvalidUsername.message)
        elif username.lower() in seen:
            result.problem(number, column, f"与第 {seen[username.lower()]} 行的用户名重复")
        else:
            seen[username.lower()] = number
        display_name, column = cell(values, "display_name")
        if not display_name:
            result.problem(number, column, "不能为空")
        else:
            try:
                accounts.check_display_name(display_name)  # the 员工 tab's own check
            except accounts.InvalidDisplayName as exc:
                result.problem(number, column, exc.message)
        role_text, column = cell(values, "role")
        role = ROLE_WORDS.get(role_text.lower() if role_text.isascii() else role_text)
        if role is None:
            result.problem(number, column, "不能为空" if not role_text else "角色只能是 客服、管理员 或 维修师傅")
        row = _Row(number, username, display_name, role or "")
        if "community" in columns:
            text, column = cell(values, "community")
            if not text or text.lower() in EVERY_COMMUNITY:
                row.community = ""
            elif text not in communities:
                names = sorted({name for name, cid in communities.items() if name != cid}) or sorted(communities)
                result.problem(number, column, f"没有这个小区（已有：{'、'.join(names)}；留空表示全部小区）")
            elif communities[text] in retired and not _serves(existing.get(username.lower()), communities[text]):
                result.problem(number, column, "这个小区已停用，不能再分配员工")
            else:
                row.community = communities[text]
        if "teams" in columns:
            text, column = cell(values, "teams")
            names = team_names(text, teams)
            unknown = list(dict.fromkeys(name[:SHOWN_CHARS] for name in names if name not in teams))
            if unknown:
                known = "、".join(sorted(teams)) or "无（请先在“技能组”页创建）"
                shown = "、".join(unknown[:SHOWN_NAMES]) + (f" 等 {len(unknown)} 个" if len(unknown) > SHOWN_NAMES else "")
                result.problem(number, column, f"没有技能组「{shown}」（已有：{known}）")
            else:
                row.teams = sorted({teams[name] for name in names})
        if "status" in columns:
            text, column = cell(values, "status")
            word = text.lower() if text.isascii() else text
            if not word or word in ENABLED_WORDS:
                row.disabled = False
            elif word in DISABLED_WORDS:
                row.disabled = True
            else:
                result.problem(number, column, "状态只能是 在职、离职 或 停用（留空为在职）")
        if result.errors_total == problems_before:
            checked.append(row)
    return checked


def team_names(text: str, teams: Iterable[str]) -> List[str]:
    """The team names in a cell, split at 、 , ; / | or spaces — except where a team's own name has one of those
    (保洁/绿化, 水电 维修): a known name is taken whole, the longest first."""
    # by first character: a cell of a hundred thousand short names is not compared with every team each time
    known: Dict[str, List[str]] = {}
    for name in sorted({name for name in teams if name}, key=len, reverse=True):
        known.setdefault(name[0], []).append(name)
    names: List[str] = []
    position = 0
    while position < len(text):
        gap = TEAM_SEPARATORS.match(text, position)
        if gap:
            position = gap.end()
            continue
        for name in known.get(text[position], ()):
            end = position + len(name)
            if text.startswith(name, position) and (end == len(text) or TEAM_SEPARATORS.match(text, end)):
                break
        else:
            following = TEAM_SEPARATORS.search(text, position)
            end = following.start() if following else len(text)
            name = text[position:end]
        names.append(name)
        position = end
    return names


def _serves(staff: Optional[Staff], community: str) -> bool:
    # a retired 小区 keeps the members it had (as in the 员工 tab): the same file imported again is not refused
    return staff is not None and staff.community_id == community


def _taking_column(row: _Row, columns: Dict[str, int]) -> str:
    # the cell that takes an admin away: 状态 for a leaver, else 角色
    return "status" if row.role == Role.ADMIN.value and "status" in columns else "role"


def _keep_own_access(rows: List[_Row], header: List[str], columns: Dict[str, int], acting: Optional[str],
                     result: ImportResult) -> None:
    """As in the 员工 tab (accounts.check_not_self): the admin importing stays an enabled admin."""
    for row in rows:
        if acting is not None and row.username.lower() == acting.lower() \
                and accounts.takes_admin_away(row.role, row.disabled):
            result.problem(row.number, header[columns[_taking_column(row, columns)]], OWN_ACCOUNT)


def _keep_an_admin(rows: List[_Row], header: List[str], columns: Dict[str, int], existing: Dict[str, Staff],
                   result: ImportResult) -> None:
    """A company must not lock itself out of /admin: if it had an enabled admin, one remains after the import (a
    database without one — staff imported before `wuye init` — is not made worse by it)."""
    after: Dict[str, bool] = {name: s.role == Role.ADMIN.value and s.disabled_at is None for name, s in existing.items()}
    changed: List[Tuple[int, str]] = []
    for row in rows:
        staff = existing.get(row.username.lower())
        disabled = row.disabled if row.disabled is not None else (staff is not None and staff.disabled_at is not None)
        admin_now = row.role == Role.ADMIN.value and not disabled
        if after.get(row.username.lower()) and not admin_now:
            changed.append((row.number, header[columns[_taking_column(row, columns)]]))
        after[row.username.lower()] = admin_now
    if any(s.role == Role.ADMIN.value and s.disabled_at is None for s in existing.values()) and not any(after.values()):
        for number, column in changed or [(rows[0].number if rows else 2, header[columns["role"]])]:
            result.problem(number, column, LAST_ADMIN)


def _memberships(session: Session) -> Dict[int, Set[int]]:
    found: Dict[int, Set[int]] = {}
    for staff_id, team_id in session.execute(select(TeamMember.staff_id, TeamMember.team_id)):
        found.setdefault(staff_id, set()).add(team_id)
    return found


def _changes(staff: Staff, row: _Row, teams: Set[int]) -> bool:
    return (staff.display_name != row.display_name or staff.role != row.role
            or (row.community is not None and (staff.community_id or "") != row.community)
            or (row.disabled is not None and (staff.disabled_at is not None) != row.disabled)
            or (row.teams is not None and teams != set(row.teams)))


def _create(session: Session, row: _Row, result: StaffImportResult, now: dt.datetime,
            credential: Tuple[str, str]) -> None:
    password, password_hash = credential
    staff = Staff(username=row.username, display_name=row.display_name, password_hash=password_hash,
                  role=row.role, community_id=row.community or None, must_change_password=True,
                  disabled_at=now if row.disabled else None)
    session.add(staff)
    if row.teams:
        session.flush()  # its id, for its teams
    for team_id in row.teams or []:
        session.add(TeamMember(team_id=team_id, staff_id=staff.id))
    if not row.disabled:  # a leaver's account is kept for the record; nobody needs its password
        result.passwords.append({"username": row.username, "display_name": row.display_name, "password": password})


def _update(session: Session, staff: Staff, row: _Row, now: dt.datetime, present: Set[int]) -> None:
    """``present``: the member's teams before the import."""
    staff.display_name, staff.role = row.display_name, row.role
    if row.community is not None:
        staff.community_id = row.community or None
    if row.disabled is not None and (staff.disabled_at is not None) != row.disabled:
        # not accounts.set_disabled: its last-admin check reads the rows one by one, and the whole file was checked
        staff.disabled_at = now if row.disabled else None
        if row.disabled:
            accounts.revoke_all_sessions(session, staff.id, now)
    if row.teams is not None:
        session.execute(delete(TeamMember).where(TeamMember.staff_id == staff.id,
                                                 TeamMember.team_id.notin_(row.teams or [0])))
        for team_id in row.teams:
            if team_id not in present:
                session.add(TeamMember(team_id=team_id, staff_id=staff.id))
