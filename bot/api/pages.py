"""The staff pages: `/agent` (agent console), `/admin` (knowledge base, failures, figures) and `/desk` (工单台)."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from bot.core.settings import STATIC_DIR

router = APIRouter(include_in_schema=False)


@router.get("/agent")
def agent_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "agent.html", media_type="text/html")


@router.get("/admin")
def admin_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "admin.html", media_type="text/html")


@router.get("/desk")
def desk_page() -> FileResponse:
    """工单台: the work-order desk for agents, admins and technicians."""
    return FileResponse(STATIC_DIR / "desk.html", media_type="text/html")
