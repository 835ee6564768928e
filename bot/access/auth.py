"""Staff sign-in (hashed passwords, server-side sessions behind a signed cookie), the resident widget's signed
identity, and the API keys of the REST channel.

Routes get the signed-in staff member through ``bot/api/deps.py`` (``CurrentStaff`` and the capability checks of ``bot/access/permissions.py``) and the
calling integration's key through ``CurrentApiKey``."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import time
from typing import Dict, List, Optional, Sequence, Tuple

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from bot.access.passwords import hash_password, verify_password
from bot.core.errors import WuyeError
from bot.storage.models import ApiKey, Staff, StaffSession

STAFF_COOKIE = "wuye_staff"
RESIDENT_COOKIE = "wuye_resident"
RESIDENT_HEADER = "x-wuye-resident"  # the same signed identity, presented by the widget itself (bot/api/deps.py)
RESIDENT_SUBPROTOCOL_PREFIX = "resident."  # … and on its WebSocket
WIDGET_SUBPROTOCOL = "wuye"  # the subprotocol the server answers with
STAFF_MAX_AGE = 12 * 3600
RESIDENT_MAX_AGE = 365 * 24 * 3600
WIDGET_PREFIX = "w_"
API_KEY_PREFIX = "wuye_"
API_KEY_SHOWN_CHARS = 12  # "wuye_" and the first 7 random characters: enough for an admin to tell keys apart


def _serializer(secret: str, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=salt)


# --- staff sessions -------------------------------------------------------------------------------------------

def sign_staff(secret: str, session_id: str) -> str:
    """The cookie value for a staff session: its id (random, 32 bytes), signed."""
    return _serializer(secret, "staff-session").dumps({"sid": session_id})


def read_staff_cookie(secret: str, value: Optional[str]) -> Optional[str]:
    """The staff session id in a cookie, or None (absent, forged, older than 12 h)."""
    if not value:
        return None
    try:
        sid = _serializer(secret, "staff-session").loads(value, max_age=STAFF_MAX_AGE)["sid"]
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    return sid if isinstance(sid, str) and sid else None


def open_staff_session(session, staff_id: int, now: dt.datetime, ip: Optional[str] = None,
                       user_agent: Optional[str] = None) -> StaffSession:
    # ip and browser: so that the member (and an admin) can tell their sessions apart in the session list
    row = StaffSession(id=secrets.token_urlsafe(32), staff_id=staff_id, created_at=now,
                       expires_at=now + dt.timedelta(seconds=STAFF_MAX_AGE), ip=(ip or None) and ip[:64],
                       user_agent=(user_agent or None) and user_agent[:200])
    session.add(row)
    return row


def staff_of_session(session, session_id: Optional[str], now: dt.datetime) -> Optional[Staff]:
    """The staff member of a live session: the row exists, is not revoked and has not expired, and the account is
    not disabled (disabling revokes its sessions too; this also holds for a row written by hand)."""
    if not session_id:
        return None
    row = session.get(StaffSession, session_id)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    staff = session.get(Staff, row.staff_id)
    return staff if staff is not None and staff.disabled_at is None else None


def revoke_staff_session(session, session_id: Optional[str], now: dt.datetime) -> bool:
    row = session.get(StaffSession, session_id) if session_id else None
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    return True


# An unknown username costs the same scrypt as a known one: the answer's timing does not tell which usernames exist
_NOBODY_HASH = hash_password(secrets.token_urlsafe(16))


def authenticate(session, username: str, password: str) -> Optional[Staff]:
    staff = session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        verify_password(password, _NOBODY_HASH)
        return None
    return staff if verify_password(password, staff.password_hash) else None


# --- the widget's resident ------------------------------------------------------------------------------------

def new_resident_id() -> str:
    return WIDGET_PREFIX + secrets.token_urlsafe(18)


def sign_resident(secret: str, sender_id: str, community_id: Optional[str] = None) -> str:
    """The widget's identity, with the 小区 of the link it was opened from (signed: read, never taken from the page)."""
    data = {"sender": sender_id, **({"community": community_id} if community_id else {})}
    return _serializer(secret, "resident").dumps(data)


def read_resident(secret: str, value: Optional[str]) -> Optional[Tuple[str, Optional[str]]]:
    """(sender, 小区 or None) of a signed widget identity, or None (absent, forged, older than a year)."""
    if not value:
        return None
    try:
        data = _serializer(secret, "resident").loads(value, max_age=RESIDENT_MAX_AGE)
        sender, community = data["sender"], data.get("community")
    except (BadSignature, KeyError, TypeError, AttributeError):
        return None
    if not (isinstance(sender, str) and sender.startswith(WIDGET_PREFIX)):
        return None
    return sender, community if isinstance(community, str) else None


# --- per-小区 widget links --------------------------------------------------------------------------------------
# A company prints one widget link (or embed line) per 小区: /?c=<signed 小区 id>. Signed so that the 小区 is the one
# the company issued the link for; a page cannot name another by editing the URL.

def sign_community_link(secret: str, community_id: str) -> str:
    return _serializer(secret, "community-link").dumps(community_id)


def read_community_link(secret: str, value: Optional[str]) -> Optional[str]:
    if not value or len(value) > 200:
        return None
    try:
        community = _serializer(secret, "community-link").loads(value)
    except (BadSignature, TypeError):
        return None
    return community if isinstance(community, str) else None


# --- API keys of the REST channel -----------------------------------------------------------------------------

def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


# what a key may do: chat (/api/chat, as an integration's residents), import (an ERP's /api/import/{kind})
API_KEY_SCOPES = ("chat", "import")


class ApiKeyScopeMissing(WuyeError):
    status, code, message = 403, "api_key_scope_missing", "这个 API 密钥没有「{scope}」权限，请管理员另建一个有此权限的密钥"


def scopes_of(row: ApiKey) -> List[str]:
    return [s for s in (row.scopes or "chat").split(",") if s]


def require_scope(row: ApiKey, scope: str) -> None:
    if scope not in scopes_of(row):
        raise ApiKeyScopeMissing(scope={"chat": "对话", "import": "数据导入"}.get(scope, scope))


def create_api_key(session, name: str, created_by: Optional[int], now: dt.datetime,
                   scopes: Sequence[str] = ("chat",)) -> Tuple[ApiKey, str]:
    """A new key: the row (hash and prefix only) and the whole key, which is shown once and never stored."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    wanted = [s for s in API_KEY_SCOPES if s in set(scopes)] or ["chat"]
    row = ApiKey(name=name, prefix=key[:API_KEY_SHOWN_CHARS], key_hash=hash_api_key(key), created_by=created_by,
                 created_at=now, scopes=",".join(wanted))
    session.add(row)
    session.flush()
    return row, key


# Keys verified lately, by hash: /api/chat is called per message, and the look-up (a session, a connection check
# and a query) cost more than the rest of the request's checks. A key revoked in this process is dropped at once;
# revoked elsewhere (another worker, `wuye apikey revoke`) it stops working here within API_KEY_CACHE_SECONDS.
API_KEY_CACHE_SECONDS = float(os.environ.get("WUYE_API_KEY_CACHE_SECONDS", "5"))
_verified: Dict[str, Tuple[float, ApiKey]] = {}


def cached_api_key(key: Optional[str]) -> Optional[ApiKey]:
    """The key's row if it was verified less than API_KEY_CACHE_SECONDS ago in this process, else None."""
    if not key or API_KEY_CACHE_SECONDS <= 0:
        return None
    entry = _verified.get(hash_api_key(key))
    if entry is None or entry[0] < time.monotonic():
        return None
    return entry[1]


def remember_api_key(key: str, row: ApiKey) -> None:
    """``row`` must be detached (expunged) from its session."""
    if API_KEY_CACHE_SECONDS > 0:
        if len(_verified) > 10_000:  # many keys: start again rather than grow
            _verified.clear()
        _verified[hash_api_key(key)] = (time.monotonic() + API_KEY_CACHE_SECONDS, row)


def api_key_of(session, key: Optional[str]) -> Optional[ApiKey]:
    """The live (not revoked) key row for a presented key, or None."""
    if not key or not key.startswith(API_KEY_PREFIX) or len(key) > 200:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
    return row if row is not None and row.revoked_at is None else None


def list_api_keys(session) -> List[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_api_key(session, key_id: int, now: dt.datetime) -> Optional[ApiKey]:
    row = session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
    for digest in [d for d, (_, cached) in _verified.items() if cached.id == key_id]:
        _verified.pop(digest, None)
    return row


def api_key_json(row: ApiKey) -> dict:
    """What admins see of a key: never the key itself."""
    return {"id": row.id, "name": row.name, "prefix": row.prefix,
            "created_at": row.created_at.isoformat(timespec="seconds") if row.created_at else None,
            "revoked_at": row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else None,
            "revoked": row.revoked_at is not None, "scopes": scopes_of(row)}


def key_sender(key_id: int, sender_id: str) -> str:
    """An integration's sender in its key's own namespace: two keys can never speak as each other's residents."""
    return f"k{key_id}:{sender_id}"
