"""`GET /api/health`: liveness and which model is serving."""
from __future__ import annotations

from typing import Dict

from fastapi import APIRouter, Request

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health(request: Request) -> Dict[str, str]:
    parser = request.app.state.services.parser
    return {"status": "ok", "model": parser.model_path.name}
