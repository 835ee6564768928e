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
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from bot.auth import RESIDENT_COOKIE, STAFF_COOKIE, read_resident_cookie, read_staff_cookie
from bot.errors import AdminsOnly, NotSignedIn
from bot.services import Services
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import Staff


def get_services(connection: HTTPConnection) -> Services:
    return connection.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_db(services: ServicesDep) -> Database:
    return services.db


DbDep = Annotated[Database, Depends(get_db)]


def get_session(db: DbDep) -> Iterator[Session]:
    """One session for the request, committed at its end (rolled back if the route raised)."""
    with db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_clock(services: ServicesDep) -> Callable[[], dt.datetime]:
    return services.clock


ClockDep = Annotated[Callable[[], dt.datetime], Depends(get_clock)]


def get_now(clock: ClockDep) -> dt.datetime:
    """The app's time at the start of the request (tests set the clock)."""
    return clock()


NowDep = Annotated[dt.datetime, Depends(get_now)]


# --- who is asking ----------------------------------------------------------------------------------

def optional_staff(connection: HTTPConnection, services: ServicesDep) -> Optional[Staff]:
    """The signed-in staff member, or None (a WebSocket closes itself; HTTP routes use ``CurrentStaff``)."""
    staff_id = read_staff_cookie(services.settings.secret_key, connection.cookies.get(STAFF_COOKIE))
    if staff_id is None:
        return None
    with services.db.session() as session:
        return session.get(Staff, staff_id)


OptionalStaff = Annotated[Optional[Staff], Depends(optional_staff)]


def current_staff(staff: OptionalStaff) -> Staff:
    if staff is None:
        raise NotSignedIn()
    return staff


CurrentStaff = Annotated[Staff, Depends(current_staff)]


def current_admin(staff: CurrentStaff) -> Staff:
    if staff.role != "admin":
        raise AdminsOnly()
    return staff


CurrentAdmin = Annotated[Staff, Depends(current_admin)]


def optional_resident(connection: HTTPConnection, settings: SettingsDep) -> Optional[str]:
    """The web widget's resident id from its signed cookie, or None."""
    return read_resident_cookie(settings.secret_key, connection.cookies.get(RESIDENT_COOKIE))


OptionalResident = Annotated[Optional[str], Depends(optional_resident)]
