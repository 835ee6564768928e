"""Staff login/logout: `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/auth/me`; the web first-run
(`GET`/`POST /api/auth/setup`: the first admin, with the one-time token the server printed, bot/access/first_run.py).

Login opens a server-side session (``staff_sessions``, 12 hours) whose id the signed cookie carries; logout
revokes it, so a copy of the cookie taken before logout is refused afterwards."""
from __future__ import annotations

from typing import Annotated, Dict, List, Optional, Tuple

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field, StrictStr, validator

from bot.access import first_run, limits
from bot.access.accounts import AccountDisabled, change_own_password, revoke_session, sessions_json
from bot.access.auth import (STAFF_COOKIE, STAFF_MAX_AGE, authenticate, open_staff_session, read_staff_cookie,
                             revoke_staff_session, sign_staff)
from bot.access.limits import Limit, Limits
from bot.access.permissions import capabilities
from bot.api.deps import (ClientIp, CurrentSessionId, DbDep, NowDep, ServicesDep, SessionDep, SettingsDep,
                          SignedInStaff)
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
    # capabilities: what the pages show or hide (bot/access/permissions.py), so no page compares role names;
    # must_change_password: the pages open the change-password dialog before anything else
    return {"id": staff.id, "username": staff.username, "display_name": staff.display_name, "role": staff.role,
            "community_id": staff.community_id, "must_change_password": bool(staff.must_change_password),
            "capabilities": sorted(c.value for c in capabilities(staff.role))}


def _failure_buckets(cfg: Limits, username: str, ip: Optional[str]) -> List[Tuple[str, Limit]]:
    buckets = [(f"login-fail:user:{username.lower()}", cfg.login_failures_per_user)]
    return buckets + ([(f"login-fail:ip:{ip}", cfg.login_failures_per_ip)] if ip else [])


def _lock_bucket(bucket: str) -> str:
    return bucket.replace("login-fail:", "login-lock:", 1)


def _check_not_locked(db, buckets: List[Tuple[str, Limit]], cfg: Limits, now) -> None:
    with db.session() as session:
        for bucket, limit in buckets:
            lock = _lock_bucket(bucket)
            if not limits.allowed(session, lock, cfg.login_lockout, now):
                wait = limits.seconds_until_free(session, lock, cfg.login_lockout, now)
            elif not limits.allowed(session, bucket, limit, now):
                wait = limits.seconds_until_free(session, bucket, limit, now)
            else:
                continue
            raise LoginLocked(seconds=wait, minutes=max(1, -(-wait // 60)))


def _record_failure(session, buckets: List[Tuple[str, Limit]], cfg: Limits, now) -> None:
    for bucket, limit in buckets:
        limits.record(session, bucket, now)
        if not limits.allowed(session, bucket, limit, now):  # this failure filled the window: lock from now
            limits.record(session, _lock_bucket(bucket), now)


@router.post("/login", responses={401: {"description": "用户名或密码错误"}, 403: {"description": "账号已停用"},
                                  429: {"description": "失败次数过多，暂时锁定"}})
def login(body: Login, request: Request, response: Response, db: DbDep, settings: SettingsDep, now: NowDep,
          ip: ClientIp, services: ServicesDep) -> Dict[str, object]:
    cfg = services.engine.limits
    buckets = _failure_buckets(cfg, body.username, ip)
    _check_not_locked(db, buckets, cfg, now)  # locked: even the right password waits for the lock to end
    with db.session() as session:  # committed before the cookie goes out
        staff = authenticate(session, body.username, body.password)
        if staff is None:
            _record_failure(session, buckets, cfg, now)
            session.commit()
            raise WrongCredentials()
        if staff.disabled_at is not None:  # said only to someone who knows the password
            raise AccountDisabled()
        _sign_in(session, staff, request, response, settings, now, ip)
        return staff_json(staff)  # committed as the block ends, before the cookie goes out


class FirstAdmin(Login):
    token: StrictStr = Field(..., max_length=64, description="the one-time setup token from the server log or "
                                                             "`wuye init --web`")
    display_name: StrictStr = Field(..., max_length=64)

    @validator("token", "display_name")
    def printable_text(cls, value: str) -> str:
        check_text(value, 64, allow_empty=True)
        return value


def _sign_in(session, staff: Staff, request: Request, response: Response, settings, now, ip) -> None:
    """Open a session for ``staff`` and set its cookie (the caller commits before the response goes out)."""
    staff_session = open_staff_session(session, staff.id, now, ip, request.headers.get("user-agent"))
    response.set_cookie(STAFF_COOKIE, sign_staff(settings.secret_key, staff_session.id), max_age=STAFF_MAX_AGE,
                        httponly=True, samesite="strict", secure=settings.secure_cookies)


@router.get("/setup", summary="Whether this deployment still needs its first admin (no staff account yet)")
def setup_needed(session: SessionDep) -> Dict[str, bool]:
    return {"needed": first_run.needed(session)}


@router.post("/setup", summary="The web first-run: create the first admin with the one-time setup token the server "
                                "printed (only while there is no staff account); signs them in",
             responses={403: {"description": "设置令牌不正确、已使用或已过期"}, 409: {"description": "已有员工账号"},
                        422: {"description": "用户名、姓名或密码不符合要求"}, 429: {"description": "失败次数过多，暂时锁定"}})
def first_admin(body: FirstAdmin, request: Request, response: Response, db: DbDep, settings: SettingsDep,
                now: NowDep, ip: ClientIp, services: ServicesDep) -> Dict[str, object]:
    cfg = services.engine.limits
    # a wrong token counts against the address like a wrong password (not against a shared name: anyone could
    # then lock the setup for everyone)
    buckets = _failure_buckets(cfg, "", ip)[1:]
    _check_not_locked(db, buckets, cfg, now)
    with db.session() as session:
        try:
            staff = first_run.create_first_admin(session, body.token, body.username, body.display_name,
                                                 body.password, now)
        except first_run.InvalidSetupToken:
            session.rollback()
            _record_failure(session, buckets, cfg, now)
            session.commit()
            raise
        _sign_in(session, staff, request, response, settings, now, ip)
        return staff_json(staff)  # committed as the block ends, before the cookie goes out


class PasswordChange(BaseModel):
    old_password: StrictStr = Field(..., max_length=256)
    new_password: StrictStr = Field(..., max_length=256)


@router.post("/password", summary="Change one's own password (also the required first change); other sessions end",
             responses={422: {"description": "原密码不正确，或新密码不符合要求"}})
def change_password(body: PasswordChange, staff: SignedInStaff, session: SessionDep, now: NowDep,
                    session_id: CurrentSessionId) -> Dict[str, object]:
    me = session.get(Staff, staff.id)
    change_own_password(session, me, body.old_password, body.new_password, now, session_id)
    result = staff_json(me)
    session.commit()  # before the answer: the next request must find the new password and no forced change
    return result


@router.get("/sessions", summary="One's own signed-in sessions (this one marked current)")
def my_sessions(staff: SignedInStaff, session: SessionDep, now: NowDep,
                session_id: CurrentSessionId) -> Dict[str, object]:
    return {"sessions": sessions_json(session, staff.id, now, session_id)}


@router.delete("/sessions/{handle}", summary="Sign one of one's own sessions out",
               responses={404: {"description": "找不到这个登录会话"}})
def revoke_my_session(handle: Annotated[str, Path(max_length=16, pattern="^[0-9a-f]{1,16}$")], staff: SignedInStaff,
                      session: SessionDep, now: NowDep) -> Dict[str, bool]:
    revoke_session(session, staff.id, handle, now)
    session.commit()
    return {"ok": True}


@router.post("/logout")
def logout(request: Request, response: Response, db: DbDep, settings: SettingsDep, now: NowDep) -> Dict[str, bool]:
    session_id = read_staff_cookie(settings.secret_key, request.cookies.get(STAFF_COOKIE))
    if session_id is not None:
        with db.session() as session:
            revoke_staff_session(session, session_id, now)
    response.delete_cookie(STAFF_COOKIE)
    return {"ok": True}


@router.get("/me")
def me(staff: SignedInStaff) -> Dict[str, object]:
    return staff_json(staff)
