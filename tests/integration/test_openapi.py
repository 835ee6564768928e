"""The OpenAPI document tells the truth (bot/api/openapi.py): the error body as we send it, the statuses a route can
answer, nullable fields, text patterns, and the Allow header of 405s. `make fuzz` holds the whole document to a
live server with schemathesis; these are the quick checks `make test` runs."""
from __future__ import annotations

import re

import pytest

from tests.conftest import make_app


@pytest.fixture(scope="module")
def app(settings, parser, tmp_path_factory):
    yield from make_app(settings, parser, tmp_path_factory, "openapi")


@pytest.fixture(scope="module")
def document(app):
    from fastapi.testclient import TestClient

    return TestClient(app).get("/openapi.json").json()


def test_every_error_is_documented_with_the_body_we_send(app, document):
    from fastapi.testclient import TestClient

    client = TestClient(app)
    body = client.post("/api/parse", json={}).json()  # a real 422
    schema = document["components"]["schemas"]["ErrorBody"]
    assert set(schema["required"]) <= set(body) and isinstance(body["detail"], str)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" in responses and "503" in responses, (method, path)
            assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
            if path.startswith(("/api/agent/", "/api/admin/", "/api/staff/")) or path == "/api/chat":
                assert {"401", "403"} <= set(responses), (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)


def test_nullable_fields_and_text_patterns(document):
    schemas = document["components"]["schemas"]
    assert schemas["ParseResponse"]["properties"]["faq"]["nullable"] is True
    assert schemas["ChatResponse"]["properties"]["handoff"]["nullable"] is True
    pattern = schemas["ParseRequest"]["properties"]["text"]["pattern"]
    assert re.fullmatch(pattern, "物业几点上班\n") and not re.fullmatch(pattern, "a\x00b")
    assert not re.fullmatch(pattern, "a\x85b")  # C1 too: check_text refuses it
    q = next(p for p in document["paths"]["/api/staff/work-orders"]["get"]["parameters"] if p["name"] == "q")
    assert q["schema"]["pattern"] == pattern
    # the real limit (past it: 413 in Chinese), not the model's ceiling against absurd bodies
    assert schemas["WidgetMessage"]["properties"]["text"]["maxLength"] == 1000
    assert schemas["ChatRequest"]["properties"]["community"]["nullable"] is True


def test_a_method_a_path_does_not_have_names_the_ones_it_has(app):
    from fastapi.testclient import TestClient

    r = TestClient(app).options("/wechat")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert set(m.strip() for m in r.headers["allow"].split(",")) >= {"GET", "POST"}
