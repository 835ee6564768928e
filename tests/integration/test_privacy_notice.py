"""The widget's privacy notice on the server (issue 26): the history says whether the resident accepted it and which
retention periods it states; POST /api/widget/privacy keeps the first acceptance on the chat identity."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bot.storage.models import ChatIdentity
from tests.conftest import make_app, widget_resident


@pytest.fixture(scope="module")
def app(settings, parser, tmp_path_factory):
    yield from make_app(settings, parser, tmp_path_factory, "privacy")


def test_acceptance_is_kept_on_the_identity_once(app):
    resident = widget_resident(app)
    privacy = resident.get("/api/widget/history").json()["privacy"]
    settings = app.state.services.settings
    assert privacy == {"accepted": False, "messages_days": settings.retention_messages_days,
                       "phones_days": settings.retention_phones_days, "photos_days": settings.retention_photos_days}
    first = resident.post("/api/widget/privacy")
    assert first.status_code == 200
    again = resident.post("/api/widget/privacy").json()
    assert again["accepted_at"] == first.json()["accepted_at"]  # the first acceptance's time is the one kept
    assert resident.get("/api/widget/history").json()["privacy"]["accepted"] is True
    with app.state.services.db.session() as session:  # made by the acceptance: no message was sent
        assert session.query(ChatIdentity).filter(ChatIdentity.privacy_accepted_at.isnot(None)).count() == 1
    assert resident.get("/api/widget/history").json()["conversation_id"] is None
    # accepted, the first message goes into the same identity
    resident.post("/api/widget/messages", json={"text": "物业几点上班"}).raise_for_status()
    assert resident.get("/api/widget/history").json()["privacy"]["accepted"] is True


def test_without_a_widget_session_it_is_refused_in_chinese(app):
    refused = TestClient(app).post("/api/widget/privacy")
    assert refused.status_code == 401 and refused.json()["code"] == "no_widget_session"
