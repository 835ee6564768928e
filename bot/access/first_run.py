"""The web first-run: the company's first admin created in /admin instead of with `wuye init`.

While the database has no staff at all, the server (at start-up) and `wuye init --web` print a one-time setup token
to whoever runs the server; /admin then asks for it with the admin's username, name and password. Only the token's
digest is stored. Anyone on the network can open /admin, but only someone who can read the server's log or run
`wuye` on it can create the admin, and only once: the first admin uses up every token, and once any staff account
exists the setup is closed for good (409 ``setup_done``), whatever token is shown.

Two setups racing (two browsers, or two tokens printed by two workers): each marks every unused token used in one
UPDATE that requires its own token unused; the second waits for the first's row locks and then finds its token
used (403 ``invalid_setup_token``). Nothing here commits: the route's transaction holds the admin and the used tokens
together or neither.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Optional

from sqlalchemy import exists, select, update
from sqlalchemy.orm import aliased

from bot.access import accounts
from bot.core.errors import WuyeError
from bot.storage.models import SetupToken, Staff

TOKEN_LIFETIME = dt.timedelta(hours=24)


class SetupDone(WuyeError):
    status, code, message = 409, "setup_done", "系统已经有员工账号，首次设置已关闭：请用管理员账号登录"


class InvalidSetupToken(WuyeError):
    status, code, message = 403, "invalid_setup_token", ("设置令牌不正确、已使用或已过期：请查看服务器日志中的“首次设置令牌”，"
                                                         "或在服务器上运行 `wuye init --web` 取得新的令牌")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def needed(session) -> bool:
    """True while the database has no staff account at all (a fresh deployment)."""
    return session.scalar(select(Staff.id).limit(1)) is None


def issue_token(session, now: dt.datetime) -> Optional[str]:
    """A new one-time token, valid for TOKEN_LIFETIME, or None when setup is not needed. Only its digest is stored."""
    if not needed(session):
        return None
    token = secrets.token_urlsafe(18)  # 144 bits: not guessable, short enough to copy from a log line
    session.add(SetupToken(token_hash=_digest(token), created_at=now, expires_at=now + TOKEN_LIFETIME))
    session.flush()
    return token


def create_first_admin(session, token: str, username: str, display_name: str, password: str,
                       now: dt.datetime) -> Staff:
    """The first admin, with the password they chose (no forced change). Raises SetupDone, InvalidSetupToken or
    the account rules' own 422 (bot/access/accounts.py); the caller's transaction then stores nothing."""
    if not needed(session):
        raise SetupDone()
    mine = aliased(SetupToken)
    own_unused = exists().where(mine.token_hash == _digest(token), mine.used_at.is_(None), mine.expires_at > now)
    used = session.execute(update(SetupToken).where(SetupToken.used_at.is_(None), own_unused)
                           .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if not used:
        raise InvalidSetupToken()
    if not needed(session):  # an admin made meanwhile by `wuye init`, after our token check
        raise SetupDone()
    return accounts.create_staff(session, username=username, display_name=display_name, password=password,
                                 role="admin", community_id=None, known_communities=(), must_change_password=False)
