"""The FastAPI application factory. Nothing heavy happens at import: the model loads in start-up."""
from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Dict, Optional

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fastapi import FastAPI  # noqa: E402

from bot.errors import WuyeError  # noqa: E402
from bot.settings import Settings, get_settings  # noqa: E402

logger = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass
class Services:
    """What the routers use, built once at start-up."""

    settings: Settings
    parser: Any
    db: Any
    engine: Any
    knowledge: Any
    hub: Any = None
    presence: Dict[int, int] = field(default_factory=dict)
    trainer: Any = None
    wechat: Any = None


def build_services(settings: Settings, parser: Optional[Any] = None, clock: Optional[Any] = None) -> Services:
    """Everything heavy, built once at start-up: the model, the database, the engine and the channels."""
    from bot.trainer import Trainer
    from bot.engine import ConversationEngine
    from bot.community import sync_communities
    from bot.events import EventHub, RedisEventHub
    from bot.knowledge import KnowledgeHolder
    from bot.notify import LogSmsSender
    from bot.storage.db import open_database
    from connectors.wechat import WeChatChannel

    if parser is None:
        from bot.nlu.parser import NluParser
        from bot.nlu.training import train

        result = train(settings)  # no-op when the model is up to date
        parser = NluParser.load(result.model_path)
        logger.info("NLU model %s loaded in %.1f s", result.model_path.name, parser.load_seconds)
    db = open_database(settings.database_url)
    knowledge = KnowledgeHolder(settings)
    with db.session() as session:
        sync_communities(session, knowledge.current.communities)
    engine = ConversationEngine(db=db, parser=parser, kb_provider=knowledge, sms=LogSmsSender(),
                                max_chars=settings.max_message_chars)
    if clock is not None:
        engine.clock = clock
    hub = RedisEventHub(settings.redis_url) if settings.redis_url else EventHub()
    services = Services(settings=settings, parser=parser, db=db, engine=engine, knowledge=knowledge, hub=hub)
    services.trainer = Trainer(services)
    services.wechat = WeChatChannel(services)
    return services


def create_app(settings: Optional[Settings] = None, parser: Optional[Any] = None, clock: Optional[Any] = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, parser, clock)
        app.state.services = services
        await services.hub.start()
        yield
        await services.wechat.close()
        await services.hub.stop()
        services.db.engine.dispose()

    app = FastAPI(
        title="wuye 物业客服助手",
        description="Chinese customer-service assistant for residential property management.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below with local Swagger UI assets: no CDN, so /docs works offline
    )
    # The bundled Swagger UI (4.15) renders OpenAPI 3.0 documents; our schema uses nothing 3.1-only.
    app.openapi_version = "3.0.3"
    from fastapi.staticfiles import StaticFiles

    from bot.api import admin, agent, auth, health, nlu, pages
    from connectors import rest, web, wechat

    app.include_router(nlu.router)
    app.include_router(rest.router)
    app.include_router(web.router)
    app.include_router(wechat.router)
    app.include_router(auth.router)
    app.include_router(agent.router)
    app.include_router(admin.router)
    app.include_router(pages.router)
    app.include_router(health.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    _mount_docs(app)
    app.add_exception_handler(WuyeError, _wuye_error)
    return app


async def _wuye_error(request: Any, exc: Exception) -> Any:
    """Every typed error → its status, a code for programs and a Chinese message for people."""
    from fastapi.responses import JSONResponse

    assert isinstance(exc, WuyeError)
    return JSONResponse(exc.body(), status_code=exc.status)


def _mount_docs(app: FastAPI) -> None:
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():  # type: ignore[no-untyped-def]
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} – API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")
