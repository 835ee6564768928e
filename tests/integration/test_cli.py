"""`wuye parse -`: one JSON line per stdin line, model loaded once."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import subprocess_env


def test_parse_stdin_writes_one_json_line_per_text(trained_model):
    out = subprocess.run([sys.executable, "-m", "bot.tools.cli", "parse", "--no-train", "-"],
                         input="物业电话多少\n\n我的月卡什么时候到期\n着火了\n", capture_output=True, text=True,
                         env=subprocess_env(), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["物业电话多少", "我的月卡什么时候到期", "着火了"]
    assert lines[0]["faq"]["id"] == "office_hours"
    assert lines[1]["intent"]["name"] == "parking" and lines[1]["route"]["decision"] == "flow"
    assert lines[2]["route"]["priority"] == "urgent"


def test_serve_ends_start_up_with_the_pages_to_open_and_the_demo_sign_ins(tmp_path_factory, settings, parser):
    """`make run` prints, once the server is up, the URLs of the four pages and the docs; the demo sign-ins only
    while those accounts still have their demo passwords."""
    from bot.access.passwords import hash_password
    from bot.storage.models import Staff
    from bot.tools.cli import welcome
    from bot.tools.devserver import LiveServer

    with LiveServer(tmp_path_factory.mktemp("welcome"), settings, parser) as live:
        services = live.app.state.services
        text = welcome(services, "0.0.0.0", 8000)
        for path in ("/", "/agent", "/admin", "/desk", "/docs"):
            assert f"http://127.0.0.1:8000{path} " in text
        assert "agent / agent123" in text and "admin / admin123" in text and "change them" in text
        with services.db.session() as session:
            session.query(Staff).filter(Staff.username == "admin").one().password_hash = hash_password("a-real-one")
        text = welcome(services, "127.0.0.1", 8000)
        assert "admin123" not in text and "agent / agent123" in text


def test_retention_run_deletes_what_expired_and_prints_the_counts(tmp_path):
    """`wuye retention run` on the wall clock: a rate event 40 days old goes, one from today stays; the counts are
    printed in Chinese. `show` lists the periods."""
    import datetime as dt

    from bot.storage.db import open_database
    from bot.storage.models import RateEvent

    url = f"sqlite:///{tmp_path / 'wuye.db'}"
    db = open_database(url)
    now = dt.datetime.utcnow()
    with db.session() as session:
        session.add_all([RateEvent(bucket="old", created_at=now - dt.timedelta(days=40)),
                         RateEvent(bucket="new", created_at=now)])
    env = subprocess_env(WUYE_DATABASE_URL=url, WUYE_UPLOAD_DIR=str(tmp_path / "uploads"))
    out = subprocess.run([sys.executable, "-m", "bot.tools.cli", "retention", "run"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "频率限制记录 1" in out.stdout and "消息 0" in out.stdout
    with db.session() as session:
        assert [r.bucket for r in session.query(RateEvent)] == ["new"]
    shown = subprocess.run([sys.executable, "-m", "bot.tools.cli", "retention", "show"], capture_output=True, text=True,
                           env=env, timeout=300)
    assert "会话消息\t730 天" in shown.stdout
