"""Staff login/logout: `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/auth/me`.

Login opens a server-side session (``staff_sessions``, 12 hours) whose id the signed cookie carries; logout
revokes it, so a copy of the cookie taken before logout is refused afterwards."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, StrictStr, validator

from bot.access import limits
from bot.access.auth import (STAFF_COOKIE, STAFF_MAX_AGE, authenticate, open_staff_session, read_staff_cookie,
                             revoke_staff_session, sign_staff)
from bot.access.limits import Limit, Limits
from bot.access.permissions import capabilities
from bot.api.deps import ClientIp, CurrentStaff, DbDep, NowDep, ServicesDep, SettingsDep
from bot.core.errors import LoginLocked, WrongCredentials, check_text
from bot.storage.models import Staff

router = APIRouter(prefix="/api/auth", tags=["auth"])


class Login(BaseModel):
    username: StrictStr = Field(..., max_length=64)
    password: StrictStr = Field(..., max_length=256)

    @validator("username", "password")
    def printable(cls, value: str) -> str:  # NUL or a lone surrogate would reach the database driver
        check_text(value, 256, allow_empty=True)
        return value


def staff_json(staff: Staff) -> Dict[str, object]:
    # capabilities: what the pages show or hide (bot/access/permissions.py), so no page compares role names
    return {"id": staff.id, "username": staff.username, "display_name": staff.display_name, "role": staff.role,
            "capabilities": sorted(c.value for c in capabilities(staff.role))}


def _failure_buckets(cfg: Limits, username: str, ip: Optional[str]) -> List[Tuple[str, Limit]]:
    buckets = [(f"login-fail:user:{username.lower()}", cfg.login_failures_per_user)]
    return buckets + ([(f"login-fail:ip:{ip}", cfg.login_failures_per_ip)] if ip else [])


def _check_not_locked(db, buckets: List[Tuple[str, Limit]], now) -> None:
    with db.session() as session:
        for bucket, limit in buckets:
            if not limits.allowed(session, bucket, limit, now):
                wait = limits.seconds_until_free(session, bucket, limit, now)
                raise LoginLocked(seconds=wait, minutes=max(1, -(-wait // 60)))


@router.post("/login", responses={401: {"description": "用户名或密码错误"}, 429: {"description": "失败次数过多，暂时锁定"}})
def login(body: Login, response: Response, db: DbDep, settings: SettingsDep, now: NowDep, ip: ClientIp,
          services: ServicesDep) -> Dict[str, object]:
    buckets = _failure_buckets(services.engine.limits, body.username, ip)
    _check_not_locked(db, buckets, now)  # locked: even the right password waits for the window to free
    with db.session() as session:  # committed before the cookie goes out
        staff = authenticate(session, body.username, body.password)
        if staff is None:
            for bucket, _ in buckets:
                limits.record(session, bucket, now)
            session.commit()
            raise WrongCredentials()
        staff_session = open_staff_session(session, staff.id, now)
        result = staff_json(staff)
        session_id = staff_session.id
    response.set_cookie(STAFF_COOKIE, sign_staff(settings.secret_key, session_id), max_age=STAFF_MAX_AGE,
                        httponly=True, samesite="strict", secure=settings.secure_cookies)
    return result


@router.post("/logout")
def logout(request: Request, response: Response, db: DbDep, settings: SettingsDep, now: NowDep) -> Dict[str, bool]:
    session_id = read_staff_cookie(settings.secret_key, request.cookies.get(STAFF_COOKIE))
    if session_id is not None:
        with db.session() as session:
            revoke_staff_session(session, session_id, now)
    response.delete_cookie(STAFF_COOKIE)
    return {"ok": True}


@router.get("/me")
def me(staff: CurrentStaff) -> Dict[str, object]:
    return staff_json(staff)
