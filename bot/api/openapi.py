"""The OpenAPI document as the app really answers (``/openapi.json``, ``/docs``): FastAPI's own, then corrected where
our answers differ from what it assumes.

- Every error is ``{"detail": <中文>, "code": <code>}`` (``bot.main``), 422 included (FastAPI documents its own
  ``HTTPValidationError`` list instead), with ``errors`` for invalid fields and ``problems`` for knowledge-base
  edits.
- The statuses a route can answer besides its success are documented: what every request may meet at the edge
  (bot/access/edge.py: 413, 422; a lost database: 503; malformed JSON: 400), the Origin check on state changes
  (bot/access/csrf.py: 403), sign-in and roles where the route needs an identity (401, 403), a missing row where the path
  names one (404), state conflicts on changes (409), rate limits (429).
- Text parameters and text fields declare that control characters are refused (``pattern``): they are, at the
  edge and in ``check_text``, so a client generating "any string" from the schema knows which ones are valid.
- ``OPTIONS`` and other methods a path does not have are answered 405 with the path's real ``Allow`` header
  (bot.main), which the document's methods match.

``tests/test_openapi.py`` holds the document to the app; ``make fuzz`` runs schemathesis with every check, for
every credential, against a live server.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from bot.outages.incidents import MAX_RESOLUTION
from bot.outages.notices import MAX_TEXT as MAX_NOTICE_TEXT

# No control characters but tab, newline and carriage return (C0, DEL, C1): bot/core/errors.py INVALID_CHARS, bot/access/edge.py
READABLE = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
ERROR_BODY = {
    "type": "object",
    "required": ["detail", "code"],
    "properties": {
        "detail": {"type": "string", "description": "给人看的中文说明"},
        "code": {"type": "string", "description": "a stable code for programs (e.g. not_signed_in, too_many_requests)"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "invalid fields (422 invalid_request)"},
        "problems": {"type": "array", "items": {"type": "string"}, "description": "file:line: what (faq_invalid)"},
    },
}
DESCRIPTIONS = {
    400: "请求体不是有效的 JSON 或 XML", 401: "未登录、会话失效或缺少有效的 API 密钥", 403: "没有权限或请求来源不被允许",
    404: "找不到要找的内容", 409: "当前状态不允许这个操作", 413: "请求太大", 415: "不支持的内容类型",
    422: "参数或字段不正确", 429: "请求太频繁，请稍后再试", 503: "数据库暂时不可用，可以重试",
}
# Paths anyone may call: no sign-in, key or widget identity
OPEN_PATHS = {"/api/parse", "/api/widget/session", "/api/widget/notices", "/api/auth/login", "/api/auth/logout",
              "/api/auth/setup", "/api/health", "/api/ready"}
LIMITED_PATHS = {"/api/parse", "/api/chat", "/api/widget/session", "/api/widget/messages", "/api/widget/upload",
                 "/api/auth/login", "/api/auth/setup", "/api/staff/work-orders/photos"}
UPLOAD_PATHS = {"/api/widget/upload", "/api/staff/work-orders/photos"}  # 415: not a real image
UNSAFE = {"post", "put", "patch", "delete"}


def _statuses(path: str, method: str) -> set:
    statuses = {400, 413, 422, 503}
    if method in UNSAFE:
        statuses.add(403)
    if path == "/metrics":
        statuses.add(403)
    elif path.startswith("/wechat"):
        statuses.update({403, 409})
    elif path not in OPEN_PATHS:
        statuses.update({401, 403})
    if "{" in path or path not in OPEN_PATHS:  # a row the path or the request names may not exist
        statuses.add(404)
    if method in UNSAFE and path.startswith(("/api/agent/", "/api/staff/", "/api/admin/")):
        statuses.update({404, 409})
    if path in LIMITED_PATHS:
        statuses.add(429)
    if path in UPLOAD_PATHS:
        statuses.add(415)
    if path == "/api/chat":
        statuses.add(404)
    return statuses


def _readable_strings(schema: Dict[str, Any]) -> None:
    """A pattern on every free-text string of a request schema (not on enums, formats or patterns of their own)."""
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not ({"enum", "pattern", "format"} & set(schema)):
        schema["pattern"] = READABLE
    for sub in (schema.get("properties") or {}).values():
        _readable_strings(sub)
    for key in ("items", "additionalProperties"):
        _readable_strings(schema.get(key))
    for key in ("anyOf", "allOf", "oneOf"):
        for sub in schema.get(key) or ():
            _readable_strings(sub)


def text_limits(max_message_chars: int) -> Dict[Tuple[str, str], int]:
    """The real length limits of text fields that are refused with 413 in Chinese past them (check_text), where the
    model's own max_length is only a ceiling against absurd bodies."""
    return {("ParseRequest", "text"): max_message_chars, ("ChatRequest", "text"): max_message_chars,
            ("WidgetMessage", "text"): max_message_chars, ("ResolveBody", "resolution"): MAX_RESOLUTION,
            ("NoticeBody", "text"): MAX_NOTICE_TEXT}


def truthful_openapi(app: FastAPI, limits: Dict[Tuple[str, str], int]) -> Dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                           description=app.description, routes=app.routes)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorBody"] = ERROR_BODY
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    request_schemas = set()
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", ()):
                _readable_strings(parameter.get("schema", {}))
            for content in (operation.get("requestBody", {}).get("content") or {}).values():
                ref = (content.get("schema") or {}).get("$ref", "")
                if ref:
                    request_schemas.add(ref.rsplit("/", 1)[-1])
                else:
                    _readable_strings(content.get("schema", {}))
            responses = operation.setdefault("responses", {})
            for status in _statuses(path, method):
                responses[str(status)] = {"description": DESCRIPTIONS[status],
                                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    for name in request_schemas:
        _readable_strings(components.get(name, {}))
    for (name, field), limit in limits.items():
        prop = components.get(name, {}).get("properties", {}).get(field)
        if prop is not None:
            prop["maxLength"] = limit
    app.openapi_schema = document
    return document
