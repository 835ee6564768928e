"""`GET /api/health`: liveness and which model is serving."""
from __future__ import annotations

from typing import Dict

from fastapi import APIRouter

from bot.api.deps import ServicesDep

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health(services: ServicesDep) -> Dict[str, str]:
    return {"status": "ok", "model": services.parser.model_path.name}
