"""`wuye parse -`: one JSON line per stdin line, model loaded once."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import subprocess_env


def test_parse_stdin_writes_one_json_line_per_text(trained_model):
    out = subprocess.run([sys.executable, "-m", "bot.cli", "parse", "--no-train", "-"],
                         input="物业电话多少\n\n我的月卡什么时候到期\n着火了\n", capture_output=True, text=True,
                         env=subprocess_env(), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["物业电话多少", "我的月卡什么时候到期", "着火了"]
    assert lines[0]["faq"]["id"] == "office_hours"
    assert lines[1]["intent"]["name"] == "parking" and lines[1]["route"]["decision"] == "flow"
    assert lines[2]["route"]["priority"] == "urgent"
