"""Logs as one JSON object a line, each with the request id of the HTTP request it belongs to, phone numbers
masked (standard library ``logging``; structlog would add a dependency for what a formatter and a context
variable do here)."""
from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import uuid
from typing import Optional

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
PHONE = re.compile(r"(?<!\d)1[3-9]\d{5}(\d{4})(?!\d)")


def mask(text: str) -> str:
    return PHONE.sub(lambda m: f"尾号{m.group(1)}", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "message": mask(record.getMessage()),
                 "request_id": REQUEST_ID.get()}
        if record.exc_info:
            entry["error"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the server (and uvicorn's own loggers)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


def request_id(given: Optional[bytes]) -> str:
    """The caller's X-Request-ID when it is a sane token, else a new one."""
    text = given.decode("latin-1") if given else ""
    return text if re.fullmatch(r"[\w.-]{1,64}", text) else uuid.uuid4().hex[:16]
