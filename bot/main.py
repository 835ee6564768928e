"""The FastAPI application factory. Nothing heavy happens at import: the model loads in start-up."""
from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Optional

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fastapi import FastAPI  # noqa: E402

from bot.settings import Settings, get_settings  # noqa: E402

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """What the routers use, built once at start-up."""

    settings: Settings
    parser: Any


def build_services(settings: Settings, parser: Optional[Any] = None) -> Services:
    if parser is None:
        from bot.nlu.parser import NluParser
        from bot.nlu.training import train

        result = train(settings)  # no-op when the model is up to date
        parser = NluParser.load(result.model_path)
        logger.info("NLU model %s loaded in %.1f s", result.model_path.name, parser.load_seconds)
    return Services(settings=settings, parser=parser)


def create_app(settings: Optional[Settings] = None, parser: Optional[Any] = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = build_services(settings, parser)
        yield

    app = FastAPI(
        title="wuye 物业客服助手",
        description="Chinese customer-service assistant for residential property management.",
        version="0.1.0",
        lifespan=lifespan,
    )
    from bot.api import health, nlu

    app.include_router(nlu.router)
    app.include_router(health.router)
    return app
