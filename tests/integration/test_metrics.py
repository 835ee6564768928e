"""Operators' view: Prometheus metrics at /metrics and JSON log lines with a request id and masked phones."""
from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

from bot.tools.devserver import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("metrics"), settings, parser) as live:
        yield live


def sample(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_turns_handoffs_and_the_queue(server):
    client = httpx.Client(base_url=server.url, timeout=30)
    before = client.get("/metrics").text
    client.post("/api/widget/session")
    client.post("/api/widget/messages", json={"text": "物业几点上班"}).raise_for_status()
    client.post("/api/widget/messages", json={"text": "电梯困人了，快来人"}).raise_for_status()
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = r.text
    route = "/api/widget/messages"
    assert sample(after, "wuye_http_requests_total", route=route, status="200") - \
        sample(before, "wuye_http_requests_total", route=route, status="200") == 2
    assert sample(after, "wuye_http_request_seconds_count", route=route) >= 2
    assert sample(after, "wuye_turns_total", decision="answer", action="answer") - \
        sample(before, "wuye_turns_total", decision="answer", action="answer") >= 1
    assert sample(after, "wuye_handoffs_total", priority="urgent") - sample(before, "wuye_handoffs_total", priority="urgent") == 1
    assert sample(after, "wuye_queue_length") >= 1
    assert sample(after, "wuye_model_info", model=server.app.state.services.parser.model_path.name) == 1
    assert sample(after, "wuye_model_load_seconds") > 0


def test_unknown_paths_do_not_make_new_series(server):
    # a path of letters no sample value can contain (digits could: "12345" once matched a timestamp, 1.795867016512345e+09)
    httpx.get(server.url + "/no/such/page/qzxjv")
    text = httpx.get(server.url + "/metrics").text
    assert "qzxjv" not in text and "/no/such" not in text and 'route="unmatched"' in text


def test_log_lines_are_json_with_the_request_id_and_masked_phones(server, capsys):
    from bot.core import logs

    handler = logging.StreamHandler()
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("wuye.sms")
    logger.addHandler(handler)
    try:
        r = httpx.post(server.url + "/api/widget/session", headers={"X-Request-ID": "req-42"})
        assert r.headers["x-request-id"] == "req-42"
        token = logs.REQUEST_ID.set("req-43")
        logging.getLogger("wuye.sms").warning("SMS to 13812345678: 验证码 123456")
        logs.REQUEST_ID.reset(token)
    finally:
        logger.removeHandler(handler)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["request_id"] == "req-43" and entry["level"] == "warning" and entry["logger"] == "wuye.sms"
    assert "13812345678" not in line and "尾号5678" in entry["message"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*\+00:00", entry["time"])
