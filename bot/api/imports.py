"""Bring your own data over HTTP: an admin's upload in /admin (导入: dry run, then confirm) and an ERP's batch call
with an import-scoped API key. Both take the same file (CSV or .xlsx) and answer with the same result as
``wuye import --json``; the ERP may also send JSON rows. The checks and upserts are bot/households/imports.py, and
for staff accounts bot/access/staff_import.py — an admin's upload only: its answer carries new accounts' temporary
passwords, which an ERP's key must not create or read."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from bot.access import staff_import
from bot.access.auth import require_scope
from bot.api.deps import CurrentAdmin, CurrentApiKey, ServicesDep
from bot.core.errors import WuyeError
from bot.core.tables import (MAX_IMPORT_BYTES, ImportFileTooLarge, ImportFileUnreadable, ImportResult, ImportRowsInvalid,
                             read_table)
from bot.households.imports import KINDS, ImportKindUnknown, import_rows
from bot.services import Services

router = APIRouter(tags=["import"])
# the bodies that may be larger than a JSON request: the edge checks (bot/main.py) give them the import limit
IMPORT_PATHS = [f"{prefix}/{kind}" for prefix in ("/api/admin/import", "/api/import") for kind in KINDS] + \
    [f"/api/admin/import/{staff_import.KIND}"]
MAX_JSON_ROWS = 200_000

_BODY_DOC = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "CSV (UTF-8 / GBK) or .xlsx, header in row 1"},
        "dry_run": {"type": "boolean", "description": "check and count only; nothing is stored"},
        "community": {"type": "string", "description": "the 小区 id when the file has no 小区 column"}}}},
    "application/json": {"schema": {"type": "object", "required": ["rows"], "properties": {
        "rows": {"type": "array", "items": {"type": "object"},
                 "description": "one object a row, keyed by the file's headers (小区, 楼栋 … or community, building …)"},
        "dry_run": {"type": "boolean"}, "community": {"type": "string"}}}}}}}


class StaffImportAdminsOnly(WuyeError):
    status, code, message = 403, "staff_import_admins_only", "员工账号只能由管理员在后台“导入”页导入"


class ImportBodyInvalid(WuyeError):
    status, code, message = 422, "import_body_invalid", "请求格式不正确：{why}"


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"))


def _community(value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ImportBodyInvalid(why="community 应是小区 ID")
    return value


async def _file_body(request: Request) -> Tuple[List[str], List[Tuple[int, List[Any]]], bool, Optional[str]]:
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # noqa: BLE001 - python-multipart's parse errors have no common base
        raise ImportBodyInvalid(why="无法读取上传的表单") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ImportBodyInvalid(why="请选择要上传的文件（字段 file）")
    data = await upload.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileTooLarge()
    header, rows = await run_in_threadpool(read_table, data, upload.filename or "")
    return header, rows, _flag(form.get("dry_run")), _community(form.get("community"))


async def _json_body(request: Request) -> Tuple[List[str], List[Tuple[int, List[Any]]], bool, Optional[str]]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise ImportBodyInvalid(why="不是有效的 JSON") from None
    rows = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ImportBodyInvalid(why="rows 应是非空的对象列表，每行一个对象，键为表头（如 小区、楼栋 或 community、building）")
    if len(rows) > MAX_JSON_ROWS:
        raise ImportBodyInvalid(why=f"一次最多 {MAX_JSON_ROWS} 行")
    header: List[str] = []
    for row in rows:
        for key in row:
            if key not in header:
                header.append(str(key))
    for value in (v for row in rows for v in row.values()):
        if not (value is None or isinstance(value, (str, int, float))) or isinstance(value, bool):
            raise ImportBodyInvalid(why="每个值应是文字或数字")
    # numbered as if row 1 were the header: the same row numbers as the same data in a file
    table = [(index + 2, [row.get(name) for name in header]) for index, row in enumerate(rows)]
    return header, table, _flag(body.get("dry_run")), _community(body.get("community"))


async def _run(services: Services, request: Request, kind: str, allow_json: bool,
               acting: Optional[str] = None) -> Dict[str, Any]:
    """``acting``: the signed-in admin's username (an ERP's key is nobody's account)."""
    if kind == staff_import.KIND and allow_json:
        raise StaffImportAdminsOnly()
    if kind not in KINDS and kind != staff_import.KIND:
        raise ImportKindUnknown()
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        header, rows, dry_run, community = await _file_body(request)
    elif allow_json and content_type.startswith("application/json"):
        header, rows, dry_run, community = await _json_body(request)
    else:
        raise ImportFileUnreadable(why="请以 multipart/form-data 上传文件（字段 file）" +
                                   ("，或发送 JSON rows" if allow_json else ""))

    kb = services.knowledge.current

    def staff_work() -> ImportResult:
        def run(session: Any, dry: bool, prepared: List[Tuple[str, str]]) -> ImportResult:
            return staff_import.import_staff(session, header, rows, communities=staff_import.community_ids(kb.communities),
                                             retired=[c.id for c in kb.communities if c.retired], dry_run=dry,
                                             now=services.clock(), acting=acting, prepared=prepared)

        # checked and the new passwords hashed (scrypt: most of a minute for a thousand) without the writer lock,
        # which every resident's turn waits for on SQLite; then checked again and written under it
        with services.db.session() as session:
            try:
                checked = run(session, True, [])
            except ImportRowsInvalid as refused:
                refused.result.dry_run = dry_run  # the answer says what was asked, not how it was checked
                raise
            finally:
                session.rollback()
        if dry_run:
            return checked
        prepared = staff_import.new_credentials(checked.created)
        with services.db.writer(), services.db.session() as session:
            return run(session, False, prepared)

    def work() -> ImportResult:
        if kind == staff_import.KIND:
            return staff_work()
        with services.db.writer(), services.db.session() as session:
            result = import_rows(session, kind, header, rows, dry_run=dry_run, default_community=community,
                                 now=services.clock(), retired=[c.id for c in kb.communities if c.retired])
            if dry_run:
                session.rollback()
            return result

    result = await run_in_threadpool(work)
    return {"detail": result.summary(), **result.as_json()}


@router.post("/api/admin/import/{kind}", openapi_extra=_BODY_DOC,
             summary="Import households, bills, parking or staff accounts from a CSV/.xlsx upload (dry_run to check first)")
async def admin_import(kind: str, request: Request, staff: CurrentAdmin, services: ServicesDep) -> Dict[str, Any]:
    return await _run(services, request, kind, allow_json=False, acting=staff.username)


@router.post("/api/import/{kind}", openapi_extra=_BODY_DOC,
             summary="An ERP's batch import with an import-scoped API key: a CSV/.xlsx upload or JSON rows")
async def erp_import(kind: str, request: Request, api_key: CurrentApiKey, services: ServicesDep) -> Dict[str, Any]:
    require_scope(api_key, "import")
    return await _run(services, request, kind, allow_json=True)
