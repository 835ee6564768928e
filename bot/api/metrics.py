"""`GET /metrics`: Prometheus text format (requests, latency, turns by decision, handoffs by priority, the queue,
the model, training runs)."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from bot import metrics
from bot.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def prometheus(services: ServicesDep) -> Response:
    body = await run_in_threadpool(metrics.scrape, services)
    return Response(body, media_type=metrics.CONTENT_TYPE_LATEST)
