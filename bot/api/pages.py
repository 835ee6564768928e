"""The staff pages: `/agent` (agent console) and `/admin` (knowledge base, failures, figures)."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/agent")
def agent_page() -> FileResponse:
    return FileResponse(STATIC / "agent.html", media_type="text/html")


@router.get("/admin")
def admin_page() -> FileResponse:
    return FileResponse(STATIC / "admin.html", media_type="text/html")
