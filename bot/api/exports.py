"""`GET /api/admin/export/{kind}.csv?start=YYYY-MM-DD&end=YYYY-MM-DD`: conversations, handoffs, failed questions."""
from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from bot.api.deps import CurrentAdmin, DbDep
from bot.core.errors import WuyeError
from bot.reporting import exports

router = APIRouter(prefix="/api/admin", tags=["admin"])


class BadExportRange(WuyeError):
    status, code, message = 422, "bad_export_range", "导出的日期范围不正确：{why}"


class UnknownExport(WuyeError):
    status, code, message = 404, "unknown_export", "没有这种导出：只能导出 conversations、handoffs 或 failed"


@router.get("/export/{kind}.csv", summary="CSV export of conversations, handoffs or failed questions for a date range")
def export_csv(kind: str, db: DbDep, staff: CurrentAdmin, start: str = "", end: str = "") -> StreamingResponse:
    if kind not in exports.KINDS:
        raise UnknownExport()
    try:
        last = dt.date.fromisoformat(end) if end else dt.date.today()
        first = dt.date.fromisoformat(start) if start else last - dt.timedelta(days=13)
    except ValueError:
        raise BadExportRange(why="日期格式应为 YYYY-MM-DD") from None
    if first > last:
        raise BadExportRange(why="开始日期晚于结束日期")
    if (last - first).days >= exports.MAX_DAYS:
        raise BadExportRange(why=f"一次最多导出 {exports.MAX_DAYS} 天")
    name = f"wuye-{kind}-{first:%Y%m%d}-{last:%Y%m%d}.csv"

    def body():
        # streamed batch by batch from its own session, open while the response is sent (a year of conversations
        # held as one body took a worker's memory to 1.1 GB)
        with db.session() as session:
            yield from exports.stream(session, kind, first, last)

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
