"""Prometheus metrics (prometheus-client), served at ``/metrics``.

Counters and histograms are process-wide (one registry per process, as Prometheus expects); the queue gauges
are read from the database when scraped, so every instance reports the shared queue.
"""
from __future__ import annotations

import os
import time
from typing import Any, Dict, Tuple

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from bot.core import logs
from bot.handoffs import handoff as handoffs

REQUESTS = Counter("wuye_http_requests_total", "HTTP requests by method, route and status",
                   ["method", "route", "status"])
LATENCY = Histogram("wuye_http_request_seconds", "HTTP request latency by route", ["route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
TURNS = Counter("wuye_turns_total", "Resident turns by the router's decision and action", ["decision", "action"])
HANDOFFS = Counter("wuye_handoffs_total", "Handoffs opened, by priority", ["priority"])
QUEUE_LENGTH = Gauge("wuye_queue_length", "Handoffs waiting for an agent (queued or callback)")
QUEUE_OLDEST = Gauge("wuye_queue_oldest_wait_seconds", "How long the longest-waiting handoff has waited")
MODEL_INFO = Gauge("wuye_model_info", "The NLU model serving (value 1)", ["model"])
MODEL_LOAD = Gauge("wuye_model_load_seconds", "Seconds the serving NLU model took to load")
TRAINING = Counter("wuye_training_runs_total", "Background training runs by result", ["result"])


def record_turn(result: Any) -> None:
    route = result.route or {}
    TURNS.labels(route.get("decision", "?"), route.get("action", "?")).inc()
    if "handoff_opened" in result.changes and result.handoff:
        HANDOFFS.labels(result.handoff["priority"]).inc()


def model_loaded(parser: Any) -> None:
    MODEL_INFO.clear()
    MODEL_INFO.labels(parser.model_path.name).set(1)
    MODEL_LOAD.set(getattr(parser, "load_seconds", 0.0))


def scrape(services: Any) -> bytes:

    now = services.clock()
    with services.db.session() as session:
        waiting = handoffs.queue(session)
        QUEUE_LENGTH.set(len(waiting))
        oldest = min((h.conversation.waiting_since or h.created_at for h in waiting), default=None)
        QUEUE_OLDEST.set((now - oldest).total_seconds() if oldest else 0)
    return generate_latest()


class RequestMiddleware:
    """One pure ASGI middleware (Starlette's BaseHTTPMiddleware costs two extra tasks and streams per request):
    the request id (the caller's X-Request-ID or a new one) in every log line and in the response, and request
    counts and latency per route template. WebSockets and lifespan pass straight through.

    The metrics' children are kept per label values: prometheus-client's ``labels()`` checks, converts and locks
    on every call, and the same few routes come back for every request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._requests: Dict[Tuple[str, str, int], Any] = {}
        self._latency: Dict[str, Any] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        given = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                given = value  # the last one, as a dict of the headers would have it
        rid = logs.request_id(given) if given else os.urandom(8).hex()  # 16 hex digits, as logs.request_id makes
        token = logs.REQUEST_ID.set(rid)
        started = time.perf_counter()
        status = 500
        id_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*(message.get("headers") or ()), id_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            key = (scope["method"], route, status)
            counter = self._requests.get(key)
            if counter is None:
                if len(self._requests) > 10_000:  # (routes are templates; methods and statuses are few)
                    self._requests.clear()
                counter = self._requests[key] = REQUESTS.labels(scope["method"], route, str(status))
            counter.inc()
            latency = self._latency.get(route)
            if latency is None:
                latency = self._latency[route] = LATENCY.labels(route)
            latency.observe(time.perf_counter() - started)
            logs.REQUEST_ID.reset(token)


__all__ = ["CONTENT_TYPE_LATEST", "record_turn", "model_loaded", "scrape", "RequestMiddleware", "TRAINING"]
