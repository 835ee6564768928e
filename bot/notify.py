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
        logger.warning("SMS to %s: %s", phone, text)


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"
