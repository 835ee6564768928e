"""Typed FastAPI dependencies: what a route needs from the app, declared in its signature.

Routes (and channels in ``connectors/``) ask for these instead of reaching into ``request.app.state``::

    @router.get("/api/agent/queue")
    def get_queue(services: ServicesDep, session: SessionDep, staff: ConsoleStaff, now: NowDep) -> ...

Every dependency takes an ``HTTPConnection``, so the same ones work for HTTP routes and for WebSockets.
``SessionDep`` commits when the request is finished. A route whose change residents or agents see live opens its
session with ``bot/realtime/live.py`` ``change(services)`` instead: the events the change records go out after the
commit.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Callable, Iterator, Optional, Tuple

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from bot.access.accounts import PasswordChangeRequired
from bot.access.auth import (RESIDENT_COOKIE, RESIDENT_HEADER, RESIDENT_SUBPROTOCOL_PREFIX, STAFF_COOKIE, api_key_of,
                             cached_api_key, read_resident, read_staff_cookie, remember_api_key, staff_of_session)
from bot.access.permissions import Capability, require
from bot.core.errors import ApiKeyRequired, InvalidApiKey, NotSignedIn
from bot.core.settings import Settings
from bot.services import Services
from bot.storage.db import Database
from bot.storage.models import ApiKey, Staff


# Dependencies that only read what is at hand are ``async def``: FastAPI runs a plain ``def`` dependency in its
# thread pool, a thread hop per request for a dictionary look-up. Those that talk to the database stay ``def``.
# The settings, database and clock are read from the connection itself rather than through ``ServicesDep``: FastAPI
# walks every sub-dependency of every request (cached or not), and these are asked for by most routes.
async def get_services(connection: HTTPConnection) -> Services:
    return connection.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(connection: HTTPConnection) -> Settings:
    return connection.app.state.services.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_db(connection: HTTPConnection) -> Database:
    return connection.app.state.services.db


DbDep = Annotated[Database, Depends(get_db)]


def get_session(db: DbDep) -> Iterator[Session]:
    """One session for the request, committed at its end (rolled back if the route raised)."""
    with db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_clock(connection: HTTPConnection) -> Callable[[], dt.datetime]:
    return connection.app.state.services.clock


ClockDep = Annotated[Callable[[], dt.datetime], Depends(get_clock)]


async def get_now(connection: HTTPConnection) -> dt.datetime:
    """The app's time at the start of the request (tests set the clock)."""
    return connection.app.state.services.clock()


NowDep = Annotated[dt.datetime, Depends(get_now)]


# --- who is asking ----------------------------------------------------------------------------------

def client_ip(connection: HTTPConnection, settings: Settings) -> Optional[str]:
    """The caller's address for the limits per address: the peer's, or — when the peer is a proxy we trust (nginx
    on this machine by default, WUYE_TRUSTED_PROXIES) — the X-Real-IP it set (deploy/nginx sets it).

    None when the peer is a trusted proxy that named nobody: every client would share the proxy's address, and one
    busy address must not throttle them all (the deployment-wide ceilings still hold). A developer's browser on
    this machine without nginx is that case too."""
    peer = connection.client.host if connection.client else ""
    if peer in settings.trusted_proxies:
        forwarded = (connection.headers.get("x-real-ip") or "").strip()
        return forwarded if forwarded and len(forwarded) <= 64 else None
    return peer or None


async def get_client_ip(connection: HTTPConnection, settings: SettingsDep) -> Optional[str]:
    return client_ip(connection, settings)


ClientIp = Annotated[Optional[str], Depends(get_client_ip)]


def optional_staff(connection: HTTPConnection, services: ServicesDep) -> Optional[Staff]:
    """The signed-in staff member, or None (a WebSocket closes itself; HTTP routes use ``CurrentStaff``).

    The cookie carries a server-side session id: the session must exist, not be revoked (logout) nor expired."""
    session_id = read_staff_cookie(services.settings.secret_key, connection.cookies.get(STAFF_COOKIE))
    if session_id is None:
        return None
    with services.db.session() as session:
        return staff_of_session(session, session_id, services.clock())


OptionalStaff = Annotated[Optional[Staff], Depends(optional_staff)]


async def signed_in_staff(staff: OptionalStaff) -> Staff:
    """The signed-in member, even one who must still change the password an admin set (``/api/auth/me``,
    the password change itself, logout and the member's own sessions ask for this)."""
    if staff is None:
        raise NotSignedIn()
    return staff


SignedInStaff = Annotated[Staff, Depends(signed_in_staff)]


async def current_staff(staff: SignedInStaff) -> Staff:
    """The signed-in member; 403 password_change_required while the password an admin set is not changed, so a
    temporary password opens nothing but the change itself."""
    if staff.must_change_password:
        raise PasswordChangeRequired()
    return staff


CurrentStaff = Annotated[Staff, Depends(current_staff)]


async def current_session_id(connection: HTTPConnection, settings: SettingsDep) -> Optional[str]:
    """The id of the caller's own staff session (the session list marks it; a password change keeps it)."""
    return read_staff_cookie(settings.secret_key, connection.cookies.get(STAFF_COOKIE))


CurrentSessionId = Annotated[Optional[str], Depends(current_session_id)]


def _with(capability: Capability) -> Callable[[Staff], Any]:
    """A dependency: the signed-in staff member if their role has ``capability`` (bot/access/permissions.py), else 403."""
    async def dependency(staff: CurrentStaff) -> Staff:
        require(staff, capability)
        return staff

    dependency.__name__ = f"staff_with_{capability.value}"
    return dependency


# Every staff route asks for one of these (tests/test_permissions.py walks them all against a declared matrix)
DeskStaff = Annotated[Staff, Depends(_with(Capability.DESK))]          # technicians, agents, admins
Dispatcher = Annotated[Staff, Depends(_with(Capability.DISPATCH))]     # agents, admins
ConsoleStaff = Annotated[Staff, Depends(_with(Capability.CONSOLE))]    # agents, admins
CurrentAdmin = Annotated[Staff, Depends(_with(Capability.ADMIN))]      # admins


def resident_token(connection: HTTPConnection) -> Optional[str]:
    """The widget's signed identity when the page presents it itself rather than as a cookie: the
    ``X-Wuye-Resident`` header, or on a WebSocket (whose handshake a page cannot add headers to) a subprotocol
    ``resident.<token>``. A widget embedded on another site cannot use our cookie there (a cross-site frame gets
    no SameSite=Lax cookie), so it keeps the token in its own storage. Not sent by the browser on its own, so no
    other page can make a request with it (no CSRF)."""
    header = connection.headers.get(RESIDENT_HEADER)
    if header:
        return header
    for protocol in connection.scope.get("subprotocols") or ():
        if protocol.startswith(RESIDENT_SUBPROTOCOL_PREFIX):
            return protocol[len(RESIDENT_SUBPROTOCOL_PREFIX):]
    return None


async def optional_identity(connection: HTTPConnection, settings: SettingsDep) -> Optional[Tuple[str, Optional[str]]]:
    """The web widget's (resident id, 小区 of its link) from its signed token (header or subprotocol) or cookie."""
    token = resident_token(connection)
    return read_resident(settings.secret_key, token if token is not None else connection.cookies.get(RESIDENT_COOKIE))


OptionalIdentity = Annotated[Optional[Tuple[str, Optional[str]]], Depends(optional_identity)]


async def optional_resident(identity: OptionalIdentity) -> Optional[str]:
    """The web widget's resident id, or None."""
    return identity[0] if identity else None


OptionalResident = Annotated[Optional[str], Depends(optional_resident)]


async def resident_community(identity: OptionalIdentity) -> Optional[str]:
    """The 小区 of the signed link the widget was opened from (None: the default, or the bound household's)."""
    return identity[1] if identity else None


ResidentCommunity = Annotated[Optional[str], Depends(resident_community)]


# --- integrations (REST channel) ----------------------------------------------------------------------------------
_bearer = HTTPBearer(auto_error=False, description="an API key created by an admin (`wuye_…`)")


async def current_api_key(services: ServicesDep,
                          credentials: Annotated[Optional[HTTPAuthorizationCredentials], Depends(_bearer)]) -> ApiKey:
    """The calling integration's key from ``Authorization: Bearer <key>``: missing → 401, unknown or revoked → 401.
    A key verified in the last few seconds is not looked up again (bot.access.auth.API_KEY_CACHE_SECONDS)."""
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
