"""The work-order desk's API (工单台, /desk): list and filter, one order, assign, change status (completing: a note
and photos of the work, uploaded first to ``/api/staff/work-orders/photos``), technicians, SLA table, and the desk's
figures for the admin page. Same sign-in as the console; who may do what is
bot/access/permissions.py (a technician: only their own and unassigned orders). Every change to an order that came from a conversation is announced (live.announce) after the
commit: the widget shows the bot's message live, WeChat residents get it as a customer-service push."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Dict, List, Optional

from fastapi import APIRouter, File, Path, Query, UploadFile
from pydantic import BaseModel, Field, StrictStr, conint

from bot.access import audit
from bot.access.permissions import community_scope
from bot.api.deps import ClientIp, CurrentAdmin, DeskStaff, Dispatcher, NowDep, ServicesDep, SessionDep
from bot.api.uploads import MAX_PHOTOS, checked_photos, receive_photo, staff_uploader
from bot.core.domain import WorkOrderStatus
from bot.core.errors import WuyeError, check_text
from bot.core.localtime import to_local, to_utc
from bot.realtime import live
from bot.storage.models import Staff
from bot.work_orders import desk, sla
from bot.work_orders.figures import figures as work_order_figures_of

router = APIRouter(tags=["work orders"])
OrderId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a work order's id")]
StatusName = Annotated[Optional[WorkOrderStatus], Query(description="待受理 / 已派单 / 维修中 / 已完成 / 已取消")]


class Assignment(BaseModel):
    technician_id: conint(strict=True, ge=1, le=2**31 - 1)  # type: ignore[valid-type]
    note: StrictStr = Field("", max_length=500)


class StatusChange(BaseModel):
    status: WorkOrderStatus
    note: StrictStr = Field("", max_length=500)  # required to complete (what was done) and to cancel (why)
    # photos of the work: URLs from POST /api/staff/work-orders/photos by the same staff member
    photos: List[StrictStr] = Field(default_factory=list, max_items=MAX_PHOTOS)


def _note(text: str) -> str:
    return check_text(text, 500, allow_empty=True)  # NUL, lone surrogates refused in Chinese


@router.get("/api/staff/work-orders", summary="Work orders, filtered (overdue first, then urgent, then newest)")
def list_work_orders(staff: DeskStaff, services: ServicesDep, session: SessionDep, now: NowDep,
                     status: StatusName = None,
                     community: Annotated[Optional[str], Query(max_length=32)] = None,
                     building: Annotated[Optional[int], Query(ge=1, le=999)] = None,
                     category: Annotated[Optional[str], Query(max_length=32)] = None,
                     urgency: Annotated[Optional[str], Query(pattern="^(normal|urgent)$")] = None,
                     overdue: Optional[bool] = None,
                     mine: bool = False,
                     q: Annotated[Optional[str], Query(max_length=50)] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 200) -> Dict[str, Any]:
    kb = services.knowledge.current
    orders = desk.list_orders(session, now, kb, status=status.value if status else None, community=community or None,
                              building=building, category=category or None, urgency=urgency, overdue=overdue,
                              assignee_id=staff.id if mine else None, q=(q or "").strip() or None, limit=limit,
                              viewer=staff)
    return {"orders": orders, "count": len(orders),
            # the filter of past orders: a retired 小区 keeps its orders, so it stays, marked, to find them by; a
            # member limited to one 小区 is offered that one only (the others' orders are never theirs to see)
            "communities": [{"id": c.id, "name": c.name + ("（已停用）" if c.retired else "")} for c in kb.communities
                            if community_scope(staff) in (None, c.id)],
            "categories": list(sla.CATEGORY_NAMES), "statuses": [s.value for s in WorkOrderStatus]}


@router.get("/api/staff/work-orders/technicians", summary="Staff who can be assigned (role technician)")
def list_technicians(staff: Dispatcher, session: SessionDep) -> Dict[str, Any]:
    return {"technicians": desk.technicians(session, staff)}


@router.post("/api/staff/work-orders/photos",
             summary="Upload a photo of the work (JPEG/PNG/WebP/GIF; stored re-encoded), to send with a status change",
             responses={429: {"description": "too many uploads by this staff member or from this address"}})
async def upload_work_photo(staff: DeskStaff, services: ServicesDep, ip: ClientIp,
                            file: UploadFile = File(...)) -> Dict[str, str]:
    # the widget's checks and quotas (bot/api/uploads.py), counted per staff member and per address
    return {"url": await receive_photo(services, staff_uploader(staff.id), ip, file)}


@router.get("/api/staff/work-orders/sla", summary="The SLA table in use (data/sla.yml), in minutes")
def sla_table(staff: DeskStaff) -> Dict[str, Any]:
    return sla.current().as_json()


@router.get("/api/staff/work-orders/{order_id:int}", summary="One order: details, photos, contact, history, conversation")
def get_work_order(order_id: OrderId, staff: DeskStaff, services: ServicesDep, session: SessionDep,
                   now: NowDep) -> Dict[str, Any]:
    order = desk.get_order(session, order_id, viewer=staff)
    data = desk.order_json(session, order, now, services.knowledge.current, desk.staff_names(session), detail=True,
                           viewer=staff)
    # the detail shows the resident's contact phone, address and conversation: audited
    audit.record(session, staff, audit.WORK_ORDER, order.household_id, "work_order", order.id, f"工单 {order.number}", now)
    return data


async def _change(services, staff: Staff, now, order_id: int, action) -> Dict[str, Any]:
    kb = services.knowledge.current
    async with live.change(services) as session:  # the desk records its events; they go out after the commit
        order = desk.get_order(session, order_id, viewer=staff)
        action(session, order, session.get(Staff, staff.id), kb)
    with services.db.session() as session:
        order = desk.get_order(session, order_id, viewer=staff)
        return desk.order_json(session, order, now, kb, desk.staff_names(session), detail=True, viewer=staff)


@router.post("/api/staff/work-orders/{order_id}/assign", summary="Assign a technician (待受理 → 已派单, or reassign)")
async def assign_work_order(order_id: OrderId, body: Assignment, staff: Dispatcher, services: ServicesDep,
                            now: NowDep) -> Dict[str, Any]:
    note = _note(body.note)
    return await _change(services, staff, now, order_id,
                         lambda session, order, me, kb: desk.assign(session, order, me, body.technician_id, note, now, kb))


@router.post("/api/staff/work-orders/{order_id}/status",
             summary="Move the order to another status, with a note (required to complete or cancel) and photos")
async def change_work_order_status(order_id: OrderId, body: StatusChange, staff: DeskStaff, services: ServicesDep,
                                   now: NowDep) -> Dict[str, Any]:
    note = _note(body.note)
    photos = checked_photos(services.settings, body.photos, staff_uploader(staff.id))  # only their own uploads
    return await _change(services, staff, now, order_id,
                         lambda session, order, me, kb: desk.change_status(session, order, me, body.status.value,
                                                                           note, now, kb, photos))


class BadWorkOrderFiguresRange(WuyeError):
    status, code, message = 422, "bad_figures_range", "日期范围不正确：{why}"


@router.get("/api/admin/work-order-figures", summary="Orders by status and category, share within SLA, medians; "
                                                      "with start/end (YYYY-MM-DD, 小区-local, both included) or days: "
                                                      "of the orders created then")
def work_order_figures(admin: CurrentAdmin, session: SessionDep, now: NowDep, start: str = "", end: str = "",
                       days: Annotated[int, Query(ge=0, le=3660)] = 0) -> Dict[str, Any]:
    """No parameters: every order (as before). A window bounds the work as the orders grow (issue 29): ``days`` is
    the last so many days up to today on the 小区's clock, ``start``/``end`` a range; the response then says it."""
    if not start and not end and not days:  # the admin page's: closed orders read from their summary
        return work_order_figures_of(session, now)
    try:  # parsed here, as /api/admin/figures does, so a bad date is refused in Chinese
        last = date.fromisoformat(end) if end else to_local(now).date()
        first = date.fromisoformat(start) if start else last - timedelta(days=(days or 30) - 1)
    except ValueError:
        raise BadWorkOrderFiguresRange(why="日期格式应为 YYYY-MM-DD") from None
    if first > last:
        raise BadWorkOrderFiguresRange(why="开始日期晚于结束日期")
    low, high = to_utc(datetime.combine(first, time())), to_utc(datetime.combine(last + timedelta(days=1), time()))
    return {**desk.figures(session, now, low, high), "start": first.isoformat(), "end": last.isoformat()}
