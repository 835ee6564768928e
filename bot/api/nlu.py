"""`POST /api/parse`: the NLU reading and the router's decision for one text (spec contract)."""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Tuple

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictStr
from starlette.concurrency import run_in_threadpool

from bot.api.deps import ClientIp, ServicesDep
from bot.core.errors import TooManyRequests, check_text
from bot.routing.router import Route, first_message_route, request_segments

router = APIRouter(prefix="/api", tags=["nlu"])


class ParseRequest(BaseModel):
    text: StrictStr = Field(..., description="the resident's message", example="电梯困人了，快来！")


class Intent(BaseModel):
    name: str
    confidence: float


class FaqMatch(BaseModel):
    id: str
    confidence: float


class EntityOut(BaseModel):
    entity: str
    value: str
    start: int
    end: int


class Emotion(BaseModel):
    label: str
    score: float


class RouteOut(BaseModel):
    decision: str = Field(..., description="answer|flow|handoff|clarify|smalltalk|reject")
    priority: Optional[str] = Field(None, nullable=True, description="urgent|high|normal for handoffs")
    reasons: List[str]


class ParseResponse(BaseModel):
    text: str
    intent: Intent
    faq: Optional[FaqMatch] = Field(..., nullable=True, description="null when no FAQ entry matches")
    entities: List[EntityOut]
    emotion: Emotion
    route: RouteOut


INLINE_CHARS = 200  # parsing a message this short takes well under a millisecond: no thread hop for it


def read_and_route(parser: Any, text: str, segments: List[str],
                   faq_support: Optional[Callable[[str, str], float]] = None) -> Tuple[Any, Route]:
    """The reading of the whole text and the route the router would take for it as the first message of a new
    conversation: a message of several requests (``segments``, its ``request_segments``) gets the engine's split
    route (``several``: "<the words>: <action>" per request), not the whole text's reading alone."""
    reading = parser.parse(text)
    return reading, first_message_route(reading, parser.parse, segments, faq_support)


@router.post("/parse", response_model=ParseResponse, summary="Parse one message (as the first of a new conversation)")
async def parse(body: ParseRequest, services: ServicesDep, ip: ClientIp) -> Response:
    wait = services.parse_limiter.take(ip) if ip else 0
    if wait:
        raise TooManyRequests(seconds=wait)
    text = check_text(body.text, services.settings.max_message_chars)
    segments = request_segments(text)  # found once: they choose the thread and the route
    if len(text) <= INLINE_CHARS and len(segments) < 2:
        reading, route = read_and_route(services.parser, text, segments)
    else:  # a long message, or one of several requests (each is read too): off the event loop
        reading, route = await run_in_threadpool(read_and_route, services.parser, text, segments,
                                                 services.knowledge.current.support)
    result = reading.as_api()
    result["route"] = route.as_api()
    # built by us in the documented shape (response_model is for /docs): no second validation and copy
    return Response(json.dumps(result, ensure_ascii=False, separators=(",", ":")), media_type="application/json")
