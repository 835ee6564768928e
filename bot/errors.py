"""Typed errors: one exception per HTTP outcome, each with a code for programs and a Chinese message for people.

The app maps every ``WuyeError`` to its status once (``bot.main``): ``{"detail": <中文>, "code": <code>}``.
"""
from __future__ import annotations

import re
from typing import Any, Optional

# NUL and other control characters (tab, newline and carriage return are allowed), lone surrogates
_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class WuyeError(Exception):
    status: int = 400
    code: str = "bad_request"
    message: str = "请求无效"

    def __init__(self, message: Optional[str] = None, **values: Any) -> None:
        self.message = (message or self.message).format(**values)
        super().__init__(self.message)


class EmptyMessage(WuyeError):
    status, code, message = 422, "empty_message", "消息不能为空"


class MessageTooLong(WuyeError):
    status, code, message = 413, "message_too_long", "消息太长了，请控制在 {max_chars} 个字以内"


class InvalidCharacters(WuyeError):
    status, code, message = 422, "invalid_characters", "消息里有无法识别的字符（控制字符或损坏的文字），请删掉后重新发送"


class InvalidSender(WuyeError):
    status, code, message = 422, "invalid_sender", "sender_id 必须是 1–128 个可见字符"


def check_text(text: Any, max_chars: int, allow_empty: bool = False) -> str:
    """The message text, stripped; raises the matching error for empty, too long or corrupt text."""
    if not isinstance(text, str):
        raise InvalidCharacters("消息必须是文字")
    if _INVALID_CHARS.search(text):
        raise InvalidCharacters()
    text = text.strip()
    if not text and not allow_empty:
        raise EmptyMessage()
    if len(text) > max_chars:
        raise MessageTooLong(max_chars=max_chars)
    return text


def check_identifier(value: Any, max_len: int = 128) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len or _INVALID_CHARS.search(value):
        raise InvalidSender()
    return value
