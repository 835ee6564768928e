"""The admin page's 员工 tab: staff accounts (list, add, disable/enable, role, the 小区 served, reset password) and
their signed-in sessions (list, revoke). The rules live in ``bot/access/accounts.py``, shared with `wuye staff`."""
from __future__ import annotations

from typing import Annotated, Any, Dict, List, Optional

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, StrictBool, StrictStr

from bot.access import accounts
from bot.api.deps import CurrentAdmin, NowDep, ServicesDep, SessionDep

StaffId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a staff member's id")]
SessionHandle = Annotated[str, Path(max_length=16, pattern="^[0-9a-f]{1,16}$", description="a session's handle")]
router = APIRouter(prefix="/api/admin/staff", tags=["admin"])


class NewStaff(BaseModel):
    username: StrictStr = Field(..., max_length=64)
    display_name: StrictStr = Field(..., max_length=64)
    password: StrictStr = Field(..., max_length=256, description="temporary: changed by the member at first sign-in")
    role: StrictStr = Field(..., max_length=16, description="agent | admin | technician")
    community_id: Optional[StrictStr] = Field(None, max_length=32, description="the 小区 served; empty: every 小区")


class StaffChange(BaseModel):
    display_name: Optional[StrictStr] = Field(None, max_length=64)
    role: Optional[StrictStr] = Field(None, max_length=16)
    community_id: Optional[StrictStr] = Field(None, max_length=32, description='"" for every 小区')
    disabled: Optional[StrictBool] = None


class PasswordReset(BaseModel):
    password: StrictStr = Field(..., max_length=256, description="temporary: the member must change it at sign-in")


def _names(services) -> Dict[str, str]:
    return {c.id: c.name + ("（已停用）" if c.retired else "") for c in services.knowledge.current.communities}


def _in_service(services) -> List[str]:
    """The 小区 a member can be given: a retired one keeps the members it had, and takes no new ones."""
    return [c.id for c in services.knowledge.current.communities if not c.retired]


@router.get("", summary="Staff accounts (never a password)")
def list_staff(admin: CurrentAdmin, services: ServicesDep, session: SessionDep, now: NowDep) -> Dict[str, Any]:
    names = _names(services)
    return {"staff": [accounts.account_json(session, s, now, names) for s in accounts.list_staff(session)],
            "communities": [{"id": k, "name": v} for k, v in names.items()],
            "roles": [{"id": k, "name": v} for k, v in accounts.ROLE_LABELS.items()],
            "you": admin.id}  # the page offers no 停用 or other role on the admin's own row


@router.post("", status_code=201, summary="Add an account; its password is temporary (changed at first sign-in)",
             responses={409: {"description": "用户名已被使用"}, 422: {"description": "字段或密码不符合要求"}})
def add_staff(body: NewStaff, admin: CurrentAdmin, services: ServicesDep, session: SessionDep,
              now: NowDep) -> Dict[str, Any]:
    names = _names(services)
    staff = accounts.create_staff(session, username=body.username, display_name=body.display_name,
                                  password=body.password, role=body.role, community_id=body.community_id,
                                  known_communities=_in_service(services), must_change_password=True)
    result = accounts.account_json(session, staff, now, names)
    session.commit()  # before the answer: SessionDep's own commit may come after the response is sent
    return result


@router.patch("/{staff_id}", summary="Change name, role, 小区 served, or disable (signs out everywhere) / enable",
              responses={404: {"description": "找不到这个员工"}, 409: {"description": "最后一个管理员，或自己的账号"},
                         422: {"description": "字段不符合要求"}})
def change_staff(staff_id: StaffId, body: StaffChange, admin: CurrentAdmin, services: ServicesDep,
                 session: SessionDep, now: NowDep) -> Dict[str, Any]:
    names = _names(services)
    staff = accounts.get_staff(session, staff_id)
    # every field is checked before any is applied: a refused change leaves the account as it was
    display_name = accounts.check_display_name(body.display_name) if body.display_name is not None else None
    role = accounts.check_role(body.role) if body.role is not None else None
    community = accounts.check_community(body.community_id, _in_service(services)) \
        if body.community_id is not None else None
    accounts.check_not_self(admin, staff, disabled=body.disabled, role=role)
    if role is not None:
        accounts.set_role(session, staff, role)
    if body.disabled is not None:
        accounts.set_disabled(session, staff, body.disabled, now)
    if display_name is not None:
        staff.display_name = display_name
    if body.community_id is not None:
        staff.community_id = community
    result = accounts.account_json(session, staff, now, names)
    session.commit()
    return result


@router.post("/{staff_id}/password", summary="Reset the password: every session ends; changed at next sign-in",
             responses={404: {"description": "找不到这个员工"}, 422: {"description": "密码不符合要求"}})
def reset_password(staff_id: StaffId, body: PasswordReset, admin: CurrentAdmin, services: ServicesDep,
                   session: SessionDep, now: NowDep) -> Dict[str, Any]:
    staff = accounts.get_staff(session, staff_id)
    accounts.reset_password(session, staff, body.password, now)
    result = accounts.account_json(session, staff, now, _names(services))
    session.commit()
    return result


@router.get("/{staff_id}/sessions", summary="A member's signed-in sessions", responses={404: {"description": "找不到这个员工"}})
def staff_sessions(staff_id: StaffId, admin: CurrentAdmin, session: SessionDep, now: NowDep) -> Dict[str, Any]:
    staff = accounts.get_staff(session, staff_id)
    return {"sessions": accounts.sessions_json(session, staff.id, now)}


@router.delete("/{staff_id}/sessions/{handle}", summary="Sign one of a member's sessions out",
               responses={404: {"description": "找不到这个员工或会话"}})
def revoke_staff_session(staff_id: StaffId, handle: SessionHandle, admin: CurrentAdmin, session: SessionDep,
                         now: NowDep) -> Dict[str, bool]:
    staff = accounts.get_staff(session, staff_id)
    accounts.revoke_session(session, staff.id, handle, now)
    session.commit()
    return {"ok": True}
