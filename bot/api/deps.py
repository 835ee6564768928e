"""Typed FastAPI dependencies: what a route needs from the app, declared in its signature.

Routes (and channels in ``connectors/``) ask for these instead of reaching into ``request.app.state``::

    @router.get("/api/agent/queue")
    def get_queue(services: ServicesDep, session: SessionDep, staff: CurrentStaff, now: NowDep) -> ...

Every dependency takes an ``HTTPConnection``, so the same ones work for HTTP routes and for WebSockets.
``SessionDep`` commits when the request is finished: a route that publishes live events after its writes
opens its own ``with db.session()`` (``DbDep``) so the events follow the commit.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Callable, Iterator, Optional

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from bot.auth import (RESIDENT_COOKIE, STAFF_COOKIE, api_key_of, cached_api_key, read_resident_cookie,
                      read_staff_cookie, remember_api_key, staff_of_session)
from bot.errors import AdminsOnly, ApiKeyRequired, InvalidApiKey, NotSignedIn
from bot.services import Services
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import ApiKey, Staff


# Dependencies that only read what is at hand are ``async def``: FastAPI runs a plain ``def`` dependency in its
# thread pool, a thread hop per request for a dictionary look-up. Those that talk to the database stay ``def``.
async def get_services(connection: HTTPConnection) -> Services:
    return connection.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_db(services: ServicesDep) -> Database:
    return services.db


DbDep = Annotated[Database, Depends(get_db)]


def get_session(db: DbDep) -> Iterator[Session]:
    """One session for the request, committed at its end (rolled back if the route raised)."""
    with db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_clock(services: ServicesDep) -> Callable[[], dt.datetime]:
    return services.clock


ClockDep = Annotated[Callable[[], dt.datetime], Depends(get_clock)]


async def get_now(clock: ClockDep) -> dt.datetime:
    """The app's time at the start of the request (tests set the clock)."""
    return clock()


NowDep = Annotated[dt.datetime, Depends(get_now)]


# --- who is asking ----------------------------------------------------------------------------------

def optional_staff(connection: HTTPConnection, services: ServicesDep) -> Optional[Staff]:
    """The signed-in staff member, or None (a WebSocket closes itself; HTTP routes use ``CurrentStaff``).

    The cookie carries a server-side session id: the session must exist, not be revoked (logout) nor expired."""
    session_id = read_staff_cookie(services.settings.secret_key, connection.cookies.get(STAFF_COOKIE))
    if session_id is None:
        return None
    with services.db.session() as session:
        return staff_of_session(session, session_id, services.clock())


OptionalStaff = Annotated[Optional[Staff], Depends(optional_staff)]


async def current_staff(staff: OptionalStaff) -> Staff:
    if staff is None:
        raise NotSignedIn()
    return staff


CurrentStaff = Annotated[Staff, Depends(current_staff)]


async def current_admin(staff: CurrentStaff) -> Staff:
    if staff.role != "admin":
        raise AdminsOnly()
    return staff


CurrentAdmin = Annotated[Staff, Depends(current_admin)]


async def optional_resident(connection: HTTPConnection, settings: SettingsDep) -> Optional[str]:
    """The web widget's resident id from its signed cookie, or None."""
    return read_resident_cookie(settings.secret_key, connection.cookies.get(RESIDENT_COOKIE))


OptionalResident = Annotated[Optional[str], Depends(optional_resident)]


# --- integrations (REST channel) ----------------------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False, description="an API key created by an admin (`wuye_…`)")


async def current_api_key(services: ServicesDep,
                          credentials: Annotated[Optional[HTTPAuthorizationCredentials], Depends(_bearer)]) -> ApiKey:
    """The calling integration's key from ``Authorization: Bearer <key>``: missing → 401, unknown or revoked → 401.
    A key verified in the last few seconds is not looked up again (bot.auth.API_KEY_CACHE_SECONDS)."""
    if credentials is None or not credentials.credentials:
        raise ApiKeyRequired()
    presented = credentials.credentials
    cached = cached_api_key(presented)
    if cached is not None:
        return cached

    def look_up() -> ApiKey:
        with services.db.session() as session:
            key = api_key_of(session, presented)
            if key is None:
                raise InvalidApiKey()
            session.expunge(key)
        remember_api_key(presented, key)
        return key

    return await run_in_threadpool(look_up)


CurrentApiKey = Annotated[ApiKey, Depends(current_api_key)]
