"""Rate limits and quotas that hold across instances and restarts: every use of a limited resource is a row in
``rate_events`` and a limit counts the rows (or bytes) of its bucket in a sliding window.

Checked in the same transaction as the action they guard, so a refused action leaves nothing behind. Two
instances checking the same bucket at the same instant can both pass once (count-then-insert, no lock): the
limits are abuse brakes, not exact meters. Old rows are pruned by :func:`prune`.
"""
from __future__ import annotations

import collections
import datetime as dt
import functools
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Optional, Tuple

from sqlalchemy import bindparam, delete, func, insert, literal_column, select, union_all
from sqlalchemy.orm import Session

from bot.storage.models import RateEvent


@dataclass(frozen=True)
class Limit:
    count: int  # at most this many uses (or bytes, for quotas) …
    seconds: int  # … in this many seconds

    @property
    def window(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.seconds)


def _env_limit(name: str, count: int, seconds: int) -> Limit:
    """``WUYE_LIMIT_<NAME>=count/seconds`` overrides a default."""
    value = os.environ.get(f"WUYE_LIMIT_{name.upper()}")
    if value:
        c, _, s = value.partition("/")
        return Limit(int(c), int(s or seconds))
    return Limit(count, seconds)


@dataclass(frozen=True)
class Limits:
    """The configured limits (defaults below; each overridable with ``WUYE_LIMIT_<NAME>=count/seconds``)."""

    messages_per_sender: Limit = field(default_factory=lambda: _env_limit("messages_per_sender", 30, 60))
    codes_per_room: Limit = field(default_factory=lambda: _env_limit("codes_per_room", 3, 3600))
    codes_per_identity: Limit = field(default_factory=lambda: _env_limit("codes_per_identity", 5, 3600))
    code_cooldown: Limit = field(default_factory=lambda: _env_limit("code_cooldown", 1, 60))
    code_lockout: Limit = field(default_factory=lambda: _env_limit("code_lockout", 1, 1800))  # after 5 wrong codes
    pages_per_incident: Limit = field(default_factory=lambda: _env_limit("pages_per_incident", 1, 600))
    pages_per_sender: Limit = field(default_factory=lambda: _env_limit("pages_per_sender", 3, 3600))
    pages_per_ip: Limit = field(default_factory=lambda: _env_limit("pages_per_ip", 3, 3600))
    pages_per_community: Limit = field(default_factory=lambda: _env_limit("pages_per_community", 12, 3600))
    codes_per_ip: Limit = field(default_factory=lambda: _env_limit("codes_per_ip", 10, 3600))
    codes_overall: Limit = field(default_factory=lambda: _env_limit("codes_overall", 300, 3600))
    uploads_per_sender: Limit = field(default_factory=lambda: _env_limit("uploads_per_sender", 20, 3600))
    upload_bytes_per_sender: Limit = field(default_factory=lambda: _env_limit("upload_bytes_per_sender",
                                                                               30 * 1024 * 1024, 3600))
    uploads_per_ip: Limit = field(default_factory=lambda: _env_limit("uploads_per_ip", 60, 3600))
    upload_bytes_per_ip: Limit = field(default_factory=lambda: _env_limit("upload_bytes_per_ip", 100 * 1024 * 1024, 3600))
    parse_per_client: Limit = field(default_factory=lambda: _env_limit("parse_per_client", 120, 60))
    # failed staff sign-ins: a username is locked after 5 wrong passwords in 15 minutes (the right one too, until the
    # window frees), an address after 20 (guessing many usernames)
    login_failures_per_user: Limit = field(default_factory=lambda: _env_limit("login_failures_per_user", 5, 900))
    login_failures_per_ip: Limit = field(default_factory=lambda: _env_limit("login_failures_per_ip", 20, 900))
    # … and stays locked this long after the failure that filled the window (not merely until the window frees:
    # a guesser spacing out tries would otherwise get a fresh attempt every 3 minutes)
    login_lockout: Limit = field(default_factory=lambda: _env_limit("login_lockout", 1, 900))
    # new widget identities (each one is a fresh sender for every per-sender limit) from one address
    identities_per_ip: Limit = field(default_factory=lambda: _env_limit("identities_per_ip", 60, 3600))


# built once (bound parameters): every resident message runs it, and building a statement costs more than running it.
# At most ``cap`` (the limit's count) of the newest rows are read: every event weighs at least 1, so once that many
# are in the window the limit is reached anyway, and a busy bucket costs no more than a quiet one.
_WINDOW = select(RateEvent.amount).where(RateEvent.bucket == bindparam("bucket"),
                                         RateEvent.created_at > bindparam("since")) \
    .order_by(RateEvent.created_at.desc()).limit(bindparam("cap")).subquery()
USED = select(func.coalesce(func.sum(_WINDOW.c.amount), 0))


def used(session: Session, bucket: str, limit: Limit, now: dt.datetime) -> int:
    """The amount used in the bucket's window, counted up to the limit (a full window reads ``limit.count`` rows)."""
    return int(session.scalar(USED, {"bucket": bucket, "since": now - limit.window, "cap": limit.count}) or 0)


def allowed(session: Session, bucket: str, limit: Limit, now: dt.datetime, amount: int = 1) -> bool:
    """Whether ``amount`` more fits in the bucket's window (nothing is recorded)."""
    return used(session, bucket, limit, now) + amount <= limit.count


_RECORD = insert(RateEvent.__table__)


def record(session: Session, bucket: str, now: dt.datetime, amount: int = 1) -> None:
    # a plain INSERT in the session's transaction (a list of one row: no RETURNING of the id nobody reads, and no
    # unit-of-work bookkeeping for an object nobody touches again)
    session.execute(_RECORD, [{"bucket": bucket[:160], "amount": amount, "created_at": now}])


def take(session: Session, bucket: str, limit: Limit, now: dt.datetime, amount: int = 1) -> bool:
    """Record one use if it fits; False (and nothing recorded) when the limit is reached."""
    if not allowed(session, bucket, limit, now, amount):
        return False
    record(session, bucket, now, amount)
    return True


@functools.lru_cache(maxsize=16)
def _uses_of(buckets: int):
    """The uses of ``buckets`` buckets in one statement: each bucket's window read as :data:`USED` reads it (parameters
    bucket_i, since_i, cap_i), one row (i, used) per bucket, joined with UNION ALL."""
    parts = []
    for i in range(buckets):
        window = select(RateEvent.amount).where(RateEvent.bucket == bindparam(f"bucket_{i}"),
                                                RateEvent.created_at > bindparam(f"since_{i}")) \
            .order_by(RateEvent.created_at.desc()).limit(bindparam(f"cap_{i}")).subquery()
        parts.append(select(literal_column(str(i)).label("i"), func.coalesce(func.sum(window.c.amount), 0)))
    return union_all(*parts) if buckets > 1 else parts[0]


def uses(session: Session, caps: List[Tuple[str, Limit]], now: dt.datetime) -> List[int]:
    """Each bucket's :func:`used`, in the order of ``caps``, read in one round trip (a page's or a code's limits are
    four to six buckets: a statement each cost more than the turn's other queries together)."""
    if not caps:
        return []
    params = {}
    for i, (bucket, limit) in enumerate(caps):
        params.update({f"bucket_{i}": bucket[:160], f"since_{i}": now - limit.window, f"cap_{i}": limit.count})
    counted = dict(session.execute(_uses_of(len(caps)), params).all())
    return [int(counted.get(i) or 0) for i in range(len(caps))]


def record_all(session: Session, buckets: List[str], now: dt.datetime) -> None:
    """One use of each bucket, in one statement (a multi-row INSERT: executemany)."""
    if buckets:
        session.execute(_RECORD, [{"bucket": bucket[:160], "amount": 1, "created_at": now} for bucket in buckets])


def take_all(session: Session, caps: List[Tuple[str, Limit]], now: dt.datetime) -> bool:
    """One use of every bucket if each has room; False (and nothing recorded) when any is full: a use that several
    limits brake (per identity, per address, per deployment) counts against all of them or none."""
    if not all(use + 1 <= limit.count for use, (_, limit) in zip(uses(session, caps, now), caps)):
        return False
    record_all(session, [bucket for bucket, _ in caps], now)
    return True


def seconds_until_free(session: Session, bucket: str, limit: Limit, now: dt.datetime) -> int:
    oldest: Optional[dt.datetime] = session.scalar(select(func.min(RateEvent.created_at)).where(
        RateEvent.bucket == bucket, RateEvent.created_at > now - limit.window))
    return max(1, int(((oldest + limit.window) - now).total_seconds())) if oldest else 0


def prune(session: Session, now: dt.datetime, keep: dt.timedelta = dt.timedelta(days=2)) -> int:
    return session.execute(delete(RateEvent).where(RateEvent.created_at < now - keep)).rowcount or 0


class LocalWindow:
    """A sliding-window limit kept in this process's memory, for requests too frequent and too cheap to write a row
    each (``/api/parse`` answers in under a millisecond; a row per call would cost more than the parse). Each worker
    counts alone, so with N workers an address gets up to N times the limit: a brake, not a meter."""

    MAX_KEYS = 50_000  # past this many addresses, start again rather than grow

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self._uses: Dict[str, Deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: Optional[float] = None) -> int:
        """0 if one more use fits (and it is counted), else the seconds until one does."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._uses) > self.MAX_KEYS:
                self._uses.clear()
            uses = self._uses.setdefault(key, collections.deque())
            while uses and uses[0] <= now - self.limit.seconds:
                uses.popleft()
            if len(uses) >= self.limit.count:
                return max(1, int(uses[0] + self.limit.seconds - now + 0.999))
            uses.append(now)
            return 0
