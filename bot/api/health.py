"""`GET /api/health` (liveness, with each dependency's state) and `GET /api/ready` (503 while one is down)."""
from __future__ import annotations

import asyncio
from typing import Any, Dict

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from bot.api.deps import ServicesDep

router = APIRouter(prefix="/api", tags=["health"])


async def checks(services: Any) -> Dict[str, str]:
    """Each dependency: "ok", "down" or "not configured" (Redis when one process needs none)."""
    def database() -> str:
        try:
            with services.db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return "ok"
        except Exception:  # noqa: BLE001 - reported, not raised
            return "down"

    result = {"database": await asyncio.to_thread(database)}
    if services.settings.redis_url:
        result["redis"] = "ok" if await services.hub.ping() and services.hub.healthy else "down"
    else:
        result["redis"] = "not configured"
    result["model"] = "ok" if services.parser is not None else "down"
    return result


@router.get("/health", summary="Liveness, the model serving, and each dependency's state")
async def health(services: ServicesDep) -> Dict[str, Any]:
    state = await checks(services)
    degraded = any(v == "down" for v in state.values())
    return {"status": "degraded" if degraded else "ok", "model": services.parser.model_path.name, "checks": state}


@router.get("/ready", summary="200 when the database, Redis (if configured) and the model all work, else 503")
async def ready(services: ServicesDep) -> JSONResponse:
    state = await checks(services)
    ok = not any(v == "down" for v in state.values())
    return JSONResponse({"ready": ok, "checks": state}, status_code=200 if ok else 503)
