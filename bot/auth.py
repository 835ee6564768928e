"""Staff sign-in (hashed passwords, signed session cookies) and the resident widget's signed identity.

Routes get the signed-in staff member through ``bot/api/deps.py`` (``CurrentStaff``, ``CurrentAdmin``)."""
from __future__ import annotations

import secrets
from typing import Optional

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from bot.security import verify_password
from bot.storage.models import Staff

STAFF_COOKIE = "wuye_staff"
RESIDENT_COOKIE = "wuye_resident"
STAFF_MAX_AGE = 12 * 3600
RESIDENT_MAX_AGE = 365 * 24 * 3600
WIDGET_PREFIX = "w_"


def _serializer(secret: str, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=salt)


def sign_staff(secret: str, staff_id: int) -> str:
    return _serializer(secret, "staff").dumps({"staff": staff_id})


def read_staff_cookie(secret: str, value: Optional[str]) -> Optional[int]:
    if not value:
        return None
    try:
        return int(_serializer(secret, "staff").loads(value, max_age=STAFF_MAX_AGE)["staff"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def new_resident_id() -> str:
    return WIDGET_PREFIX + secrets.token_urlsafe(18)


def sign_resident(secret: str, sender_id: str) -> str:
    return _serializer(secret, "resident").dumps({"sender": sender_id})


def read_resident_cookie(secret: str, value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    try:
        sender = _serializer(secret, "resident").loads(value, max_age=RESIDENT_MAX_AGE)["sender"]
    except (BadSignature, KeyError, TypeError):
        return None
    return sender if isinstance(sender, str) and sender.startswith(WIDGET_PREFIX) else None


def authenticate(session, username: str, password: str) -> Optional[Staff]:
    staff = session.scalar(select(Staff).where(Staff.username == username))
    if staff is None or not verify_password(password, staff.password_hash):
        return None
    return staff
