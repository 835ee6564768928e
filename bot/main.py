"""The FastAPI application factory. Nothing heavy happens at import: the model loads in start-up."""
from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Optional

from bot.core.settings import STATIC_DIR, Settings, apply_process_env_defaults, get_settings

apply_process_env_defaults()  # before anything imports Rasa/TensorFlow

from fastapi import FastAPI  # noqa: E402

from bot.access import first_run  # noqa: E402
from bot.access.csrf import OriginCheck  # noqa: E402
from bot.access.edge import UPLOAD_OVERHEAD, EdgeChecks  # noqa: E402
from bot.api import (admin, agent, auth, exports as exports_api, health, metrics as metrics_api, nlu,
                     notices as notices_api, pages, quick_replies, staff_admin, work_orders)
from bot.api import imports as imports_api  # noqa: E402
from bot.api import teams as teams_api  # noqa: E402
from bot.api import voice as voice_api  # noqa: E402
from bot.api import communities as communities_api  # noqa: E402
from bot.api.openapi import text_limits, truthful_openapi  # noqa: E402
from bot.core.errors import DatabaseUnavailable, PhotoTooLarge, WuyeError, invalid_request  # noqa: E402
from bot.core.tables import MAX_IMPORT_BYTES, ImportFileTooLarge  # noqa: E402
from bot.reporting import metrics
from bot.services import Services, build_services, prime_entry_model  # noqa: E402,F401 - Services re-exported
from bot.storage.db import transient
from connectors import rest, web, wechat
from connectors.wechat import WeChatChannel

logger = logging.getLogger(__name__)


def _first_run_token(services: Services) -> None:
    """A fresh deployment (no staff account): a one-time token in the log, for the first admin in /admin."""
    with services.db.session() as session:
        token = first_run.issue_token(session, services.clock())
    if token is not None:
        logger.warning("尚无任何员工账号。首次设置令牌：%s（%d 小时内有效，只能使用一次）——打开 /admin 用它创建第一个管理员，"
                       "或在服务器上运行 `wuye init`。No staff account yet: setup token %s for the first admin in /admin.",
                       token, first_run.TOKEN_LIFETIME.total_seconds() // 3600, token)


def create_app(settings: Optional[Settings] = None, parser: Optional[Any] = None, clock: Optional[Any] = None,
               on_ready: Optional[Callable[[Services], None]] = None) -> FastAPI:
    """``on_ready``: called once start-up is done (`wuye serve` tells the user which pages to open)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, parser, clock)
        services.wechat = WeChatChannel(services)  # the channels are main's to build: nothing below imports them
        app.state.services = services
        _first_run_token(services)
        await services.hub.start()
        await services.timers.start()
        watching = threading.Event()
        services.knowledge.watch(watching)  # files changed by hand or by another instance go live in ~1 s
        prime_entry_model(services.parser, services.knowledge.current)
        if on_ready is not None:
            on_ready(services)
        yield
        if services.queue_refresh is not None:
            services.queue_refresh.cancel()
        watching.set()
        services.trainer.stop()
        await services.timers.stop()
        await services.wechat.close()
        await services.hub.stop()
        services.turn_executor.shutdown(wait=True)
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
    limits = text_limits(settings.max_message_chars)
    app.openapi = lambda: truthful_openapi(app, limits)  # type: ignore[method-assign]  (bot/api/openapi.py)
    from fastapi.staticfiles import StaticFiles


    app.include_router(nlu.router)
    app.include_router(rest.router)
    app.include_router(web.router)
    app.include_router(wechat.router)
    app.include_router(auth.router)
    app.include_router(agent.router)
    app.include_router(teams_api.router)
    app.include_router(admin.router)
    app.include_router(communities_api.router)
    app.include_router(staff_admin.router)
    app.include_router(quick_replies.router)
    app.include_router(work_orders.router)
    app.include_router(pages.router)
    app.include_router(health.router)
    app.include_router(metrics_api.router)
    app.include_router(exports_api.router)
    app.include_router(voice_api.router)

    app.include_router(notices_api.router)
    app.include_router(imports_api.router)
    # innermost first: the Origin check (CSRF, framing), the edge checks (body size while reading, readable query
    # strings), then the request ids and metrics around all of it (so refusals are counted and carry an id too)
    app.add_middleware(OriginCheck, allowed_origins=settings.allowed_origins)
    too_large = PhotoTooLarge(max_mb=f"{round(settings.max_upload_bytes / 1024 / 1024, 1):g}").body()
    app.add_middleware(EdgeChecks, upload_paths={
        "/api/widget/upload": (settings.max_upload_bytes + UPLOAD_OVERHEAD, too_large),
        "/api/staff/work-orders/photos": (settings.max_upload_bytes + UPLOAD_OVERHEAD, too_large),
        # data imports (bot/api/imports.py): a month of bills for a large 小区 is several MB
        **{path: (MAX_IMPORT_BYTES + UPLOAD_OVERHEAD, ImportFileTooLarge().body()) for path in imports_api.IMPORT_PATHS}})
    _instrument(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    _mount_docs(app)
    app.add_exception_handler(WuyeError, _wuye_error)
    from fastapi.exceptions import RequestValidationError

    app.add_exception_handler(RequestValidationError, _invalid_request)
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app.add_exception_handler(StarletteHTTPException, _http_error)
    from sqlalchemy.exc import DBAPIError

    app.add_exception_handler(DBAPIError, _database_error)
    return app


HTTP_ERRORS = {400: ("bad_request", "请求格式不正确（请求体不是有效的 JSON？）"), 401: ("not_signed_in", "请先登录"),
               403: ("forbidden", "没有权限"), 404: ("not_found", "找不到这个地址"),
               405: ("method_not_allowed", "不支持这种请求方法"), 413: ("too_large", "请求太大了"),
               415: ("unsupported_media_type", "不支持这种内容类型")}


async def _http_error(request: Any, exc: Exception) -> Any:
    """Starlette's own errors (a body that is not JSON, an unknown path or method) in Chinese with a code."""
    from fastapi.responses import JSONResponse

    status = getattr(exc, "status_code", 500)
    code, message = HTTP_ERRORS.get(status, ("http_error", "请求无法处理"))
    headers = getattr(exc, "headers", None)
    if status == 405:  # the methods of every route of this path (GET and POST /wechat are two routes)
        allowed = sorted({m for route in request.app.routes if isinstance(getattr(route, "methods", None), set)
                          and route.path_regex.match(request.url.path) for m in route.methods})
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
    return JSONResponse({"detail": message, "code": code}, status_code=status, headers=headers)


def _instrument(app: FastAPI) -> None:
    """Request ids in every log line and response; request counts and latency per route template."""

    app.add_middleware(metrics.RequestMiddleware)


async def _invalid_request(request: Any, exc: Exception) -> Any:
    """A request that does not match its pydantic model: 422 in Chinese naming the fields at fault by their Chinese
    labels (答案不能为空), with a code and the fields as the API spells them (bot/core/errors.py invalid_request)."""
    from fastapi.responses import JSONResponse

    return JSONResponse(invalid_request(exc.errors()), status_code=422)  # type: ignore[attr-defined]


async def _database_error(request: Any, exc: Exception) -> Any:
    """A lost or refused database connection (a restart, a failover, a killed backend): 503 in Chinese, safe to retry
    (the request's transaction was rolled back). Any other database error stays a 500: it is a bug."""

    if not transient(exc):  # type: ignore[arg-type]  (registered for DBAPIError only)
        raise exc
    logger.warning("database unavailable for %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return await _wuye_error(request, DatabaseUnavailable())


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
