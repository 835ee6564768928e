"""`GET /metrics`: Prometheus text format (requests, latency, turns by decision, handoffs by priority, the queue,
the model, training runs).

The figures tell an outsider how busy the queue is and which routes exist, so they are not public: a scraper
reaches the server directly from this machine or the internal network; anything that comes through the public proxy
(nginx names its client in X-Real-IP), or from a public address, must present ``Authorization: Bearer
<WUYE_METRICS_TOKEN>``."""
from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.requests import Request

from bot.api.deps import ServicesDep
from bot.core.errors import WuyeError
from bot.reporting import metrics

router = APIRouter(tags=["health"])


class MetricsRefused(WuyeError):
    status, code, message = 403, "metrics_refused", "监控指标只对内网采集或持有监控令牌（WUYE_METRICS_TOKEN）的请求开放"


def _internal(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


@router.get("/metrics", summary="Prometheus metrics (internal scrapers, or Authorization: Bearer WUYE_METRICS_TOKEN)",
            response_class=Response, responses={403: {"description": "from outside without the metrics token"}})
async def prometheus(request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not (settings.metrics_token and hmac.compare_digest(presented.encode(), settings.metrics_token.encode())):
        peer = request.client.host if request.client else ""
        through_proxy = peer in settings.trusted_proxies and request.headers.get("x-real-ip")
        if through_proxy or not _internal(peer):
            raise MetricsRefused()
    body = await run_in_threadpool(metrics.scrape, services)
    return Response(body, media_type=metrics.CONTENT_TYPE_LATEST)
