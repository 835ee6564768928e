"""The staff pages: `/agent` (agent console) and `/admin` (knowledge base, failures, figures)."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from bot.settings import STATIC_DIR

router = APIRouter(include_in_schema=False)


@router.get("/agent")
def agent_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "agent.html", media_type="text/html")


@router.get("/admin")
def admin_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "admin.html", media_type="text/html")
