"""The admin API: knowledge base list/search/edit (validated, atomic, live), retraining state, failures, figures,
API keys for integrations."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Callable, Dict, List, Literal, Optional

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictStr, validator
from pydantic.fields import ModelField
from sqlalchemy import select

from bot.access import audit, auth
from bot.api.deps import ClockDep, CurrentAdmin, DbDep, NowDep, ServicesDep, SessionDep
from bot.core.errors import (ApiKeyNotFound, FaqIdTaken, FaqNotFound, FaqRejected, InvalidName, InvalidSender,
                             ResidentMessageNotFound, WuyeError, check_field, check_identifier)
from bot.core.localtime import to_local, to_utc
from bot.households import privacy
from bot.outages import incidents
from bot.kb import kb_editing
from bot.kb.knowledge import FEW_QUESTIONS, KnowledgeBaseError, few_questions_hint, normalise_question
from bot.reporting import exports, reports
from bot.services import Services
from bot.storage import retention
from bot.storage.models import Incident, Message

RowId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a row id")]  # larger would overflow the database
router = APIRouter(prefix="/api/admin", tags=["admin"])


class FaqEdit(BaseModel):
    title: StrictStr = Field(..., min_length=1, max_length=100)
    questions: List[StrictStr] = Field(..., min_items=1, max_items=500)
    answer: StrictStr = Field(..., min_length=1, max_length=5000)

    @validator("title", "answer")
    def clean_text(cls, value: str, field: ModelField) -> str:  # a lone surrogate in the YAML breaks every response
        return check_field(value, 5000, field.name)

    @validator("questions", each_item=True)
    def clean_question(cls, value: str, field: ModelField) -> str:
        return check_field(value, 200, field.name)
    version: Optional[str] = Field(None, regex=r"^[0-9a-f]{64}$",
                                   description="the file version the edit is based on (from the GET); "
                                               "409 faq_edit_conflict when the file has changed since")


class FaqCreate(FaqEdit):
    id: Optional[str] = Field(None, regex=r"^[a-z][a-z0-9_]{0,59}$",
                              description="lower_snake_case; omitted: made from the title's pinyin")
    file: Optional[str] = Field(None, regex=r"^[a-z][a-z0-9_]{0,39}\.yml$",
                                description="the data/faq file to add it to (default custom.yml, created if missing)")


class FaqRetire(BaseModel):
    version: Optional[str] = Field(None, regex=r"^[0-9a-f]{64}$")


class AddPhrasing(BaseModel):
    faq_id: str


def training_json(services: Services) -> Dict[str, Any]:
    """The retraining state, and the knowledge base's own: while the files on disk do not validate, ``problems``
    (file:line: what, in Chinese) and ``serving_last_good`` (the last good version answers meanwhile) — so the admin
    page never reads "model up to date" over a broken file."""
    knowledge = services.knowledge
    return {**services.trainer.state, "problems": list(knowledge.problems),
            "serving_last_good": bool(knowledge.problems) and knowledge.serving_last_good}


def entry_json(kb, entry, community_id=None) -> Dict[str, Any]:
    return {"id": entry.id, "title": entry.title, "questions": entry.questions, "answer": entry.answer,
            "rendered": kb.render(entry.id, community_id), "file": entry.file, "line": entry.line,
            "version": kb.versions.get(entry.file), "retired": entry.retired, "hint": few_questions_hint(entry)}


@router.get("/faq")
def list_faq(services: ServicesDep, staff: CurrentAdmin, q: str = "") -> Dict[str, Any]:
    kb = services.knowledge.current
    q = q.strip().lower()
    entries = [e for e in kb.entries.values()
               if not q or q in e.id or q in e.title.lower() or q in e.answer.lower() or any(q in x.lower() for x in e.questions)]
    return {"entries": [{"id": e.id, "title": e.title, "questions": len(e.questions), "file": e.file,
                         "version": kb.versions.get(e.file), "retired": e.retired,
                         "few_questions": len(e.questions) < FEW_QUESTIONS}
                        for e in sorted(entries, key=lambda e: (e.retired, e.id))],
            "files": sorted({e.file.rsplit("/", 1)[-1] for e in kb.entries.values()} | {kb_editing.NEW_ENTRIES_FILE}),
            "training": training_json(services), "problems": list(services.knowledge.problems)}


@router.get("/faq/{faq_id}", summary="One entry, with its figures over the last 90 days")
def get_faq(faq_id: str, services: ServicesDep, staff: CurrentAdmin, session: SessionDep,
            now: NowDep) -> Dict[str, Any]:
    kb = services.knowledge.current
    if faq_id not in kb.entries:
        raise FaqNotFound()
    return {**entry_json(kb, kb.entries[faq_id]), "stats": reports.entry_figures(session, faq_id, now)}


@router.get("/faq/{faq_id}/suggestions", summary="相似问推荐: residents' phrasings read as this entry, not yet "
                                                  "among its questions (add one with /failures/{id}/add-to-faq)")
def faq_suggestions(faq_id: str, services: ServicesDep, staff: CurrentAdmin, session: SessionDep,
                    now: NowDep) -> Dict[str, Any]:
    kb = services.knowledge.current
    if faq_id not in kb.entries:
        raise FaqNotFound()
    return {"suggestions": reports.entry_suggestions(session, faq_id, kb.entries[faq_id].questions, now)}


def _save(services: Services, faq_id: str, edit: Callable[[Any], Any], create: bool = False) -> Dict[str, Any]:
    """``edit(old_kb)`` writes the entry (kb_editing, under the file's lock; FaqEditConflict → 409); ``create``: a new
    entry, whose id must not be taken (retired entries keep theirs)."""
    holder = services.knowledge
    old = holder.current
    if create and faq_id in old.entries:
        raise FaqIdTaken(id=faq_id)
    if not create and faq_id not in old.entries:
        raise FaqNotFound()
    try:
        new = edit(old)
    except KnowledgeBaseError as exc:
        raise FaqRejected(exc.problems) from exc
    holder.current = new  # answers are live at once
    retrain = old.questions_fingerprint_items() != new.questions_fingerprint_items()
    if retrain:
        services.trainer.schedule()
    return {"entry": entry_json(new, new.entries[faq_id]), "retraining": retrain, "training": training_json(services)}


@router.put("/faq/{faq_id}")
def put_faq(faq_id: str, body: FaqEdit, services: ServicesDep, staff: CurrentAdmin) -> Dict[str, Any]:
    return _save(services, faq_id, lambda kb: kb_editing.save_entry(services.settings, kb, faq_id, body.title,
                                                                     body.questions, body.answer, body.version))


@router.post("/faq", status_code=201, summary="Create an entry (title, answer, at least one question; a hint "
                                               "below three); validated like `wuye faq check`, live at once")
def create_faq(body: FaqCreate, services: ServicesDep, staff: CurrentAdmin) -> Dict[str, Any]:
    faq_id = body.id or kb_editing.new_entry_id(services.knowledge.current, body.title)
    return _save(services, faq_id, lambda kb: kb_editing.create_entry(
        services.settings, kb, faq_id, body.title, body.questions, body.answer,
        body.file or kb_editing.NEW_ENTRIES_FILE), create=True)


@router.post("/faq/{faq_id}/retire", summary="Retire an entry: kept in history and figures, no longer answered")
def retire_faq(faq_id: str, body: FaqRetire, services: ServicesDep, staff: CurrentAdmin) -> Dict[str, Any]:
    return _save(services, faq_id, lambda kb: kb_editing.set_retired(services.settings, kb, faq_id, True,
                                                                      body.version))


@router.post("/faq/{faq_id}/restore", summary="Answer a retired entry again (validated again)")
def restore_faq(faq_id: str, body: FaqRetire, services: ServicesDep, staff: CurrentAdmin) -> Dict[str, Any]:
    return _save(services, faq_id, lambda kb: kb_editing.set_retired(services.settings, kb, faq_id, False,
                                                                      body.version))


@router.get("/training", summary="Retraining state, and the knowledge-base files' problems while they do not validate")
def training_state(services: ServicesDep, staff: CurrentAdmin) -> Dict[str, Any]:
    return training_json(services)


@router.get("/failures")
def get_failures(services: ServicesDep, staff: CurrentAdmin, session: SessionDep) -> Dict[str, Any]:
    """The failed questions, but those that are now phrasings of an entry in service."""
    kb = services.knowledge.current
    known = {normalise_question(q) for e in kb.entries.values() if not e.retired for q in e.questions}
    return reports.failures(session, covered=lambda text: normalise_question(text) in known)


@router.post("/failures/{message_id}/add-to-faq")
def add_phrasing(message_id: RowId, body: AddPhrasing, services: ServicesDep, staff: CurrentAdmin) -> Dict[str, Any]:
    with services.db.session() as session:
        message = session.get(Message, message_id)
        if message is None or message.sender != "resident":
            raise ResidentMessageNotFound()
        text = message.text.strip()
    kb = services.knowledge.current
    entry = kb.entries.get(body.faq_id)
    if entry is None:
        raise FaqNotFound()
    if entry.retired:  # a retired entry answers nothing: the question would stay unanswered, and off the list
        raise FaqRejected([f"条目“{entry.title}”已停用，不会回答住户；请先重新启用，或选择其他条目"])
    return _save(services, entry.id, lambda kb: kb_editing.add_question(services.settings, kb, entry.id, text))


class BadFiguresRange(WuyeError):
    status, code, message = 422, "bad_figures_range", "日期范围不正确：{why}"


FIGURES_MAX_DAYS = 366


@router.get("/figures", summary="运营数据; with start/end (YYYY-MM-DD, 小区-local, both included) for that range only")
def get_figures(staff: CurrentAdmin, session: SessionDep, clock: ClockDep, start: str = "", end: str = "",
                days: int = 0) -> Dict[str, Any]:
    """No parameters: all-time totals and the last 14 days. ``start``/``end``: that range; ``days``: the last so many
    days up to today in the 小区's time (the admin page's default and quick ranges)."""
    if not start and not end and not days:
        return reports.figures(session, today=clock().date())
    try:
        last = dt.date.fromisoformat(end) if end else to_local(clock()).date()
        first = dt.date.fromisoformat(start) if start else last - dt.timedelta(days=(days or 14) - 1)
    except ValueError:
        raise BadFiguresRange(why="日期格式应为 YYYY-MM-DD") from None
    if first > last or days < 0:
        raise BadFiguresRange(why="开始日期晚于结束日期")
    if (last - first).days >= FIGURES_MAX_DAYS:
        raise BadFiguresRange(why=f"一次最多查看 {FIGURES_MAX_DAYS} 天")
    return reports.figures(session, start=first, end=last)


# --- API keys of the REST channel (`/api/chat`) ---------------------------------------------------------------

class ApiKeyCreate(BaseModel):
    name: StrictStr = Field(..., min_length=1, max_length=64, description="who uses the key, e.g. 物业App")
    # chat: /api/chat; import: an ERP's /api/import/{kind} (bot/api/imports.py)
    scopes: List[Literal["chat", "import"]] = Field(["chat"], min_items=1, max_items=2, description="chat | import")


@router.get("/retention", summary="数据保留: how long each kind of personal data is kept (read-only: set by WUYE_RETENTION_*)")
def retention_periods(services: ServicesDep, staff: CurrentAdmin) -> Dict[str, Any]:
    return {"kinds": retention.periods(services.settings)}


class BadAuditRange(WuyeError):
    status, code, message = 422, "bad_audit_range", "审计日志的日期范围不正确：{why}"


AUDIT_EXPORT_ROWS = 10000  # one export's ceiling: a wider one is narrowed by the filters


def _audit_filters(start: str, end: str) -> tuple:
    """start/end as YYYY-MM-DD (the 小区's dates, as the page shows the times; both days included) → [low, high)
    stored (UTC) datetimes."""
    try:
        low = to_utc(dt.datetime.combine(dt.date.fromisoformat(start), dt.time())) if start else None
        high = to_utc(dt.datetime.combine(dt.date.fromisoformat(end) + dt.timedelta(days=1), dt.time())) if end else None
    except ValueError:
        raise BadAuditRange(why="日期格式应为 YYYY-MM-DD") from None
    if low is not None and high is not None and low >= high:
        raise BadAuditRange(why="开始日期晚于结束日期")
    return low, high


AuditStaff = Annotated[Optional[int], Query(ge=1, le=2**31 - 1)]
AuditHousehold = Annotated[Optional[int], Query(ge=1, le=2**31 - 1)]
AuditAction = Annotated[Optional[Literal["conversation_card", "work_order", "data_export", "data_erase"]], Query()]
AuditDate = Annotated[str, Query(max_length=10)]


@router.get("/audit", summary="审计日志: staff reads of household data, newest first; filters and paging")
def audit_log(staff: CurrentAdmin, session: SessionDep, staff_id: AuditStaff = None,
              household_id: AuditHousehold = None, action: AuditAction = None, start: AuditDate = "",
              end: AuditDate = "", page: Annotated[int, Query(ge=1, le=100000)] = 1,
              per_page: Annotated[int, Query(ge=1, le=200)] = 50) -> Dict[str, Any]:
    low, high = _audit_filters(start, end)
    total, rows = audit.search(session, staff_id, household_id, action, low, high, page, per_page)
    return {"entries": [audit.entry_json(row) for row in rows], "total": total, "page": page, "per_page": per_page}


@router.get("/audit.csv", response_class=Response, responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
            summary="审计日志 as CSV (the same filters; at most 10000 rows, newest first)")
def audit_csv(staff: CurrentAdmin, session: SessionDep, staff_id: AuditStaff = None,
              household_id: AuditHousehold = None, action: AuditAction = None, start: AuditDate = "",
              end: AuditDate = "") -> Response:
    low, high = _audit_filters(start, end)
    _, rows = audit.search(session, staff_id, household_id, action, low, high, 1, AUDIT_EXPORT_ROWS)
    body = exports.to_csv(audit.CSV_HEADER, [audit.csv_row(row) for row in rows])
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="wuye-audit.csv"'})


class ResidentTargetRequired(WuyeError):
    status, code, message = 422, "resident_target_required", "请只填写住户编号或聊天身份编号中的一个"


class ResidentNotFound(WuyeError):
    status, code, message = 404, "resident_not_found", "找不到这个住户或聊天身份"


def _target(household_id: Optional[int], identity_id: Optional[int]) -> tuple:
    if (household_id is None) == (identity_id is None):
        raise ResidentTargetRequired()
    return ("household", household_id) if household_id is not None else ("identity", identity_id)


@router.get("/residents/data", summary="A resident's data on request, as JSON: by household_id or identity_id "
                                       "(exactly one); recorded in the audit log")
def resident_data(staff: CurrentAdmin, db: DbDep, now: NowDep, household_id: AuditHousehold = None,
                  identity_id: AuditHousehold = None) -> Dict[str, Any]:
    kind, target = _target(household_id, identity_id)
    with db.session() as session:  # committed, audit row included, before the answer goes out
        data = privacy.export(session, household_id, identity_id)
        if data is None:
            raise ResidentNotFound()
        audit.record(session, staff, audit.DATA_EXPORT, household_id, kind, target, "住户申请导出数据", now)
    return data


class EraseRequest(BaseModel):
    household_id: Optional[int] = Field(None, ge=1, le=2**31 - 1)
    identity_id: Optional[int] = Field(None, ge=1, le=2**31 - 1)
    reason: StrictStr = Field(..., min_length=1, max_length=60, description="the request: who asked, its reference")

    @validator("reason")
    def clean_reason(cls, value: str, field: ModelField) -> str:
        return check_field(value, 60, field.name)

    @validator("household_id", "identity_id", pre=True)
    def given_or_absent(cls, value: Any) -> Any:  # null is neither: the schema says a number (make fuzz)
        if value is None:
            raise ValueError("应是编号，或不填")
        return value


@router.post("/residents/erase", summary="Erase a resident's data on request (by household_id or identity_id): "
                                         "messages, phones, descriptions, photos, bindings; one transaction; audited")
def erase_resident(body: EraseRequest, staff: CurrentAdmin, db: DbDep, now: NowDep) -> Dict[str, Any]:
    kind, target = _target(body.household_id, body.identity_id)
    # one transaction, committed before the answer: "erased" is only said of what is gone
    with db.session() as session:
        reported = privacy.reported_incidents(session, body.household_id, body.identity_id)
        counts = privacy.erase(session, body.household_id, body.identity_id)
        if counts is None:
            raise ResidentNotFound()
        for incident in session.scalars(select(Incident).where(Incident.id.in_(reported))):
            incidents.refresh_card(session, incident)  # the agents' card quoted the erased words too
        audit.record(session, staff, audit.DATA_ERASE, body.household_id, kind, target, body.reason, now)
    return {"erased": counts}


@router.get("/api-keys", summary="API keys: name, prefix, created, revoked (never the key)")
def list_api_keys(staff: CurrentAdmin, db: DbDep) -> Dict[str, Any]:
    with db.session() as session:
        return {"keys": [auth.api_key_json(row) for row in auth.list_api_keys(session)]}


@router.post("/api-keys", summary="Create a named API key; the whole key is in this response only")
def create_api_key(body: ApiKeyCreate, staff: CurrentAdmin, db: DbDep, now: NowDep) -> Dict[str, Any]:
    try:
        name = check_identifier(body.name, max_len=64).strip()
    except InvalidSender as exc:
        raise InvalidName() from exc
    with db.session() as session:
        row, key = auth.create_api_key(session, name, staff.id, now, scopes=body.scopes)
        return {**auth.api_key_json(row), "key": key}


@router.post("/api-keys/{key_id}/revoke", summary="Revoke an API key: /api/chat refuses it from now on")
def revoke_api_key(key_id: RowId, staff: CurrentAdmin, db: DbDep, now: NowDep) -> Dict[str, Any]:
    with db.session() as session:
        row = auth.revoke_api_key(session, key_id, now)
        if row is None:
            raise ApiKeyNotFound()
        return auth.api_key_json(row)
