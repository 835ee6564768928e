"""Staff login/logout: `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/auth/me`."""
from __future__ import annotations

from typing import Dict

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from bot.api.deps import CurrentStaff, SessionDep, SettingsDep
from bot.auth import STAFF_COOKIE, STAFF_MAX_AGE, authenticate, sign_staff
from bot.errors import WrongCredentials
from bot.storage.models import Staff

router = APIRouter(prefix="/api/auth", tags=["auth"])


class Login(BaseModel):
    username: str = Field(..., max_length=64)
    password: str = Field(..., max_length=256)


def staff_json(staff: Staff) -> Dict[str, object]:
    return {"id": staff.id, "username": staff.username, "display_name": staff.display_name, "role": staff.role}


@router.post("/login")
def login(body: Login, response: Response, session: SessionDep, settings: SettingsDep) -> Dict[str, object]:
    staff = authenticate(session, body.username, body.password)
    if staff is None:
        raise WrongCredentials()
    response.set_cookie(STAFF_COOKIE, sign_staff(settings.secret_key, staff.id), max_age=STAFF_MAX_AGE,
                        httponly=True, samesite="strict", secure=settings.secure_cookies)
    return staff_json(staff)


@router.post("/logout")
def logout(response: Response) -> Dict[str, bool]:
    response.delete_cookie(STAFF_COOKIE)
    return {"ok": True}


@router.get("/me")
def me(staff: CurrentStaff) -> Dict[str, object]:
    return staff_json(staff)
