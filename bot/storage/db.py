"""Engine and session factory; `migrate()` brings any database (SQLite or PostgreSQL) to the newest schema."""
from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # a writer waits up to 30 s for another one instead of failing at once with "database is locked"
        # A file database keeps its connections in a pool (SQLAlchemy 1.4 opens and closes one per session by
        # default: ~3 ms a turn); in-memory databases keep the default (each connection is its own database).
        in_memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
        pool = {} if in_memory else {"poolclass": QueuePool, "pool_size": 8, "max_overflow": 16}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, future=True, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            # WAL with synchronous=NORMAL: a commit is durable against a crash or kill -9 of the server (the WAL
            # is written before the commit returns); only a power loss or OS crash can lose the last commits,
            # never corrupt the file. FULL costs an fsync per turn (~3.5 ms measured here).
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    # a connection per concurrent turn (16 residents at once with room to spare): the default 5 + 10 overflow made
    # the busiest moments open and close connections (~6 % of a loaded server's time)
    engine = create_engine(url, future=True, pool_size=20, max_overflow=20)
    _ping_when_idle(engine, float(os.environ.get("WUYE_DB_PING_AFTER_SECONDS", "1")))
    if os.environ.get("WUYE_DB_PREPARE", "1") != "0":
        _prepare_repeated(engine)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Pessimistic disconnect handling, for connections that sat in the pool: a connection idle for ``idle_seconds``
    or more is pinged (SELECT 1) when checked out, and a dead one is replaced before anyone uses it (a database
    restart, a failover, an idle timeout). SQLAlchemy's ``pool_pre_ping`` pings at every checkout: one round trip of
    ~15 a resident's turn, on connections that were in use a few milliseconds before. A connection that dies while
    busy is not helped by a ping anyway: the turn is run again on a fresh connection (ConversationEngine.handle) and
    other requests get a 503 in Chinese (bot/main.py)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):  # type: ignore[no-untyped-def]
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return  # new, or back in the pool a moment ago
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as exc:  # the DBAPI's own error kinds: any failure means this connection is gone
            raise DisconnectionError() from exc  # the pool discards it and checks out (or opens) another


_PARAMETER = re.compile(r"%\((\w+)\)s|%%")
_PREPARABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
PREPARE_AFTER = 2  # a statement text run this many times on a connection is prepared there
PREPARED_PER_CONNECTION = 256  # the least recently used one is deallocated beyond this
# PostgreSQL's answers when a prepared statement is not where it was made: invalid_sql_statement_name (EXECUTE of a
# name this server connection does not have) and duplicate_prepared_statement (PREPARE of one it has)
_NOT_OURS = ("26000", "42P05")


def _prepare_repeated(engine: Engine) -> None:
    """Server-side prepared statements for the statements a connection runs again and again (a turn's reads and
    writes). PostgreSQL parses and plans a statement on every run: for the turn's conversation read that was ~80 % of
    its CPU (347 µs a run against 67–77 µs prepared, measured here), and psycopg2 prepares nothing itself. So on a
    connection's ``PREPARE_AFTER``-th run of the same text the text is prepared there (``PREPARE w_<hash> AS …``,
    once, inside a savepoint: a text PostgreSQL cannot prepare — a parameter of no inferable type — just stays
    unprepared) and from then on is sent as ``EXECUTE w_<hash>(…)`` with the same parameters; its result has the
    statement's own columns, so SQLAlchemy reads it as before. Not for several rows at once (executemany) nor for a
    server-side cursor (there is no DECLARE … FOR EXECUTE). The PREPARE is sent on the DBAPI connection, once per
    connection and text, not as a statement of the caller's (statement counts and ``before_cursor_execute`` see
    the EXECUTE).

    A prepared statement belongs to one server connection: behind PgBouncer in transaction mode set
    WUYE_DB_PREPARE=0 (docs/operations.md). Should it be on there anyway, the first EXECUTE that lands on another
    server connection fails, preparing stops for the whole process (logged), and the error counts as transient
    (:func:`transient`: a turn is run again)."""
    state = {"on": True}

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _prepared(conn, cursor, statement, parameters, _context, executemany):  # type: ignore[no-untyped-def]
        if executemany or not state["on"] or getattr(cursor, "name", None) or not isinstance(parameters, dict) \
                or not statement.startswith(_PREPARABLE):
            return statement, parameters
        info = conn.connection.info
        prepared = info.get("prepared")
        if prepared is None:
            prepared = info["prepared"] = {}  # text → (name, parameter names), None: not preparable; in use order
            info["runs"] = {}
        entry = prepared.get(statement)
        if entry is None:
            if statement in prepared:
                return statement, parameters
            runs = info["runs"]
            runs[statement] = runs.get(statement, 0) + 1
            if runs[statement] < PREPARE_AFTER:
                if len(runs) > 4 * PREPARED_PER_CONNECTION:
                    runs.clear()
                return statement, parameters
            del runs[statement]
            entry = prepared[statement] = _prepare(conn.connection.dbapi_connection, statement, prepared, state)
            if entry is None:
                return statement, parameters
        else:  # the most recently used last
            del prepared[statement]
            prepared[statement] = entry
        name, names = entry
        if not names:
            return f"EXECUTE {name}", None
        return f"EXECUTE {name} (" + ", ".join(f"%({n})s" for n in names) + ")", parameters

    @event.listens_for(engine, "handle_error")
    def _not_ours(context):  # type: ignore[no-untyped-def]
        if getattr(context.original_exception, "pgcode", None) in _NOT_OURS and state["on"]:
            state["on"] = False
            log.error("a prepared statement was not on its server connection (PgBouncer in transaction mode?): "
                      "statements are no longer prepared in this process; set WUYE_DB_PREPARE=0")


def _prepare(dbapi_connection, statement: str, prepared: dict, state: dict):  # type: ignore[no-untyped-def]
    """PREPARE ``statement`` on the connection: (its name, its parameters' names in $-order), or None when
    PostgreSQL refuses it (the savepoint takes the error: nothing else of the transaction is lost)."""
    names: list = []

    def positional(match):  # type: ignore[no-untyped-def]
        if match.group(0) == "%%":
            return "%"
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    text = _PARAMETER.sub(positional, statement)
    name = "w_" + hashlib.sha1(statement.encode("utf-8")).hexdigest()[:20]
    cursor = dbapi_connection.cursor()
    savepoint = not dbapi_connection.autocommit
    try:
        if savepoint:
            cursor.execute("SAVEPOINT wuye_prepare")
        try:
            cursor.execute(f"PREPARE {name} AS {text}")
        except Exception as exc:  # the DBAPI's errors: this text stays unprepared
            if getattr(exc, "pgcode", None) in _NOT_OURS:
                state["on"] = False
                log.error("a prepared statement was already on this server connection (PgBouncer in transaction "
                          "mode?): statements are no longer prepared in this process; set WUYE_DB_PREPARE=0")
            if savepoint:
                cursor.execute("ROLLBACK TO SAVEPOINT wuye_prepare")
                cursor.execute("RELEASE SAVEPOINT wuye_prepare")
            return None
        if savepoint:
            cursor.execute("RELEASE SAVEPOINT wuye_prepare")
        while len(prepared) >= PREPARED_PER_CONNECTION:
            entry = prepared.pop(next(iter(prepared)))
            if entry is not None:
                cursor.execute(f"DEALLOCATE {entry[0]}")
    finally:
        cursor.close()
    return name, names


def transient(exc: DBAPIError) -> bool:
    """A database error worth trying again: a killed or failed-over connection, SQLite's "database is locked", a
    prepared statement not on its server connection (:func:`_prepare_repeated`, preparing is off after it) — the
    DBAPI's transient kinds (a turn is run again on a fresh connection; any other request answers 503)."""
    return bool(exc.connection_invalidated) or isinstance(exc, (OperationalError, InterfaceError)) \
        or isinstance(exc.orig, sqlite3.OperationalError) or getattr(exc.orig, "pgcode", None) in _NOT_OURS


def migrate(engine: Engine) -> None:
    """Run the Alembic migrations up to head on this engine's database."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _note_written(session: Session, _context, _instances) -> None:
    """Keep in ``session.info["written"]`` the model classes this session has flushed (see :func:`written`)."""
    session.info.setdefault("written", set()).update(type(o) for o in (*session.new, *session.dirty, *session.deleted))


def written(session: Session) -> set:
    """The model classes this session has written or is about to write (flushed, new, changed or deleted)."""
    return session.info.get("written", set()) | {type(o) for o in (*session.new, *session.dirty, *session.deleted)}


class Database:
    """One engine + session factory. Build with :func:`open_database` at start-up, not at import."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False, future=True)
        event.listen(self._sessions, "before_flush", _note_written)
        self._writer = threading.Lock() if engine.dialect.name == "sqlite" else None

    @contextmanager
    def writer(self) -> Iterator[None]:
        """Held around a write transaction that may run in several threads at once (a resident's turn). SQLite lets
        one writer in at a time and makes the others sleep and retry (busy timeout, sleeps up to 100 ms: p99 above
        a second at 16 concurrent residents); waiting here instead wakes the next writer at once. PostgreSQL: no-op
        (row locks)."""
        if self._writer is None:
            yield
            return
        with self._writer:
            yield

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()


def open_database(url: str, run_migrations: bool = True) -> Database:
    engine = make_engine(url)
    if run_migrations:
        migrate(engine)
    return Database(engine)
