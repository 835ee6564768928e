"""Outgoing notifications: the pluggable SMS sender and the on-duty pager.

In development the SMS sender writes the message (with the verification code) to the server log.
"""
from __future__ import annotations

import logging
from typing import List, Protocol, Tuple

logger = logging.getLogger("wuye.sms")


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class LogSmsSender:
    """Development sender: logs every SMS (phone and text) at WARNING so it shows in the server log."""

    def __init__(self) -> None:
        self.sent: List[Tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))
        logger.warning("SMS to %s: %s", mask_phone(phone), text)  # phone numbers are masked in logs too


def mask_phone(phone: str) -> str:
    """At most the last 4 digits: 13812345678 → 尾号5678."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"尾号{digits[-4:]}" if len(digits) >= 8 else "****"
