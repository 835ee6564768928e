"""A real company's start (issue 26 points 1 and 2) from the command line: `wuye init` makes the first admin on an
empty database and nothing else, `wuye staff add|list|disable|enable|passwd` follow the admin page's rules, and
`wuye serve` in production mode refuses demo passwords, the development secret and plain-HTTP cookies."""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import subprocess
import sys
import time

import httpx
import pytest

from bot.access import first_run
from bot.access.passwords import verify_password
from bot.storage.db import open_database
from bot.storage.models import Household, Staff, StaffSession
from bot.tools import cli
from bot.tools.demo import DEMO_PASSWORDS, load_demo_data
from bot.kb.community import load_communities
from bot.tools.devserver import free_port
from tests.conftest import subprocess_env

STRONG = "Jinxiu-admin-2026"


@pytest.fixture()
def db_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'company.db'}"
    monkeypatch.setenv("WUYE_DATABASE_URL", url)
    return url


def run(monkeypatch, capsys, argv, stdin=""):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))  # not a terminal: the password is read from it
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def staff(url):
    with open_database(url).session() as session:
        return {s.username: s for s in session.query(Staff)}


def test_init_creates_the_first_admin_and_no_demo_data(db_url, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, ["init", "--username", "zhangjl", "--display-name", "张经理"], STRONG + "\n")
    assert code == 0 and "已创建管理员 zhangjl" in out
    rows = staff(db_url)
    assert list(rows) == ["zhangjl"] and rows["zhangjl"].role == "admin"
    assert verify_password(STRONG, rows["zhangjl"].password_hash) and not rows["zhangjl"].must_change_password
    with open_database(db_url).session() as session:
        assert session.query(Household).count() == 0  # no demo data
    again, _, err = run(monkeypatch, capsys, ["init", "--username", "other", "--display-name", "x"], STRONG + "\n")
    assert again == 1 and "已有员工账号" in err and list(staff(db_url)) == ["zhangjl"]


def test_init_web_prints_a_token_that_makes_the_first_admin_once(db_url, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, ["init", "--web"])
    token = re.search(r"首次设置令牌：(\S+)", out).group(1)
    assert code == 0 and "/admin" in out and staff(db_url) == {}
    with open_database(db_url).session() as session:
        first_run.create_first_admin(session, token, "zhangjl", "张经理", STRONG, dt.datetime.utcnow())
    assert list(staff(db_url)) == ["zhangjl"]
    again, _, err = run(monkeypatch, capsys, ["init", "--web"])
    assert again == 1 and "已有员工账号" in err


def test_init_refuses_a_weak_password_and_stores_nothing(db_url, monkeypatch, capsys):
    code, _, err = run(monkeypatch, capsys, ["init", "--username", "zhangjl", "--display-name", "张经理"], "123456\n")
    assert code == 2 and "至少需要 10 个字符" in err and staff(db_url) == {}


def test_staff_commands(db_url, monkeypatch, capsys):
    run(monkeypatch, capsys, ["init", "--username", "boss", "--display-name", "经理"], STRONG + "\n")
    code, out, _ = run(monkeypatch, capsys, ["staff", "add", "xiaoli", "--role", "agent", "--community", "binjiang",
                                             "--display-name", "小李"], "Xiaoli-temp-01\n")
    assert code == 0 and "首次登录须修改密码" in out
    row = staff(db_url)["xiaoli"]
    assert (row.role, row.community_id, row.display_name, row.must_change_password) == ("agent", "binjiang", "小李", True)
    dup, _, err = run(monkeypatch, capsys, ["staff", "add", "xiaoli", "--role", "agent"], "Xiaoli-temp-01\n")
    assert dup == 1 and "已被使用" in err
    weak, _, err = run(monkeypatch, capsys, ["staff", "add", "wang", "--role", "technician"], "wang\n")
    assert weak == 2 and "至少需要" in err and "wang" not in staff(db_url)
    nowhere, _, err = run(monkeypatch, capsys, ["staff", "add", "zhao", "--role", "agent", "--community", "mars"],
                          "Zhao-temp-0001\n")
    assert nowhere == 2 and "没有这个小区" in err and "zhao" not in staff(db_url)
    code, out, _ = run(monkeypatch, capsys, ["staff", "list"])
    assert code == 0 and "xiaoli\t小李\t客服\t滨江壹号\t待改密码" in out and "boss\t经理\t管理员\t全部小区\t正常" in out
    # disable ends every session and shows in the list; enable brings the account back
    with open_database(db_url).session() as session:
        import datetime as dt
        now = dt.datetime.utcnow()
        session.add(StaffSession(id="s1", staff_id=staff(db_url)["xiaoli"].id, created_at=now,
                                 expires_at=now + dt.timedelta(hours=1)))
    code, out, _ = run(monkeypatch, capsys, ["staff", "disable", "xiaoli"])
    assert code == 0 and "已停用" in out and staff(db_url)["xiaoli"].disabled_at is not None
    with open_database(db_url).session() as session:
        assert session.get(StaffSession, "s1").revoked_at is not None
    assert "已停用" in run(monkeypatch, capsys, ["staff", "list"])[1]
    assert run(monkeypatch, capsys, ["staff", "enable", "xiaoli"])[0] == 0 and staff(db_url)["xiaoli"].disabled_at is None
    # passwd: a temporary password, changed at the next sign-in
    code, out, _ = run(monkeypatch, capsys, ["staff", "passwd", "boss"], "Another-temp-9\n")
    assert code == 0 and verify_password("Another-temp-9", staff(db_url)["boss"].password_hash)
    assert staff(db_url)["boss"].must_change_password
    missing, _, err = run(monkeypatch, capsys, ["staff", "passwd", "nobody"], "Another-temp-9\n")
    assert missing == 1 and "找不到员工 nobody" in err
    last, _, err = run(monkeypatch, capsys, ["staff", "disable", "boss"])
    assert last == 1 and "最后一个" in err and staff(db_url)["boss"].disabled_at is None


def test_the_demo_is_still_the_demo(db_url, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, ["demo-data"])
    assert code == 0 and "agent/agent123" in out
    assert not any(s.must_change_password for s in staff(db_url).values())


# --- production mode ------------------------------------------------------------------------------------------

def production(settings, db_url, **changes):
    return dataclasses.replace(settings, env="production", database_url=db_url,
                               secret_key=changes.pop("secret_key", "k" * 40),
                               secure_cookies=changes.pop("secure_cookies", True), **changes)


def test_production_refuses_each_unsafe_setting_with_its_message(settings, db_url, monkeypatch, capsys):
    run(monkeypatch, capsys, ["init", "--username", "boss", "--display-name", "经理"], STRONG + "\n")
    assert cli.refuse_unsafe_production(production(settings, db_url)) is None  # safe
    assert cli.refuse_unsafe_production(dataclasses.replace(settings, database_url=db_url)) is None  # development
    dev = cli.refuse_unsafe_production(production(settings, db_url, secret_key=cli._dev_secret(settings)))
    assert "WUYE_SECRET_KEY 未设置" in dev and "the development secret" in dev and "拒绝启动" in dev
    short = cli.refuse_unsafe_production(production(settings, db_url, secret_key="short"))
    assert "WUYE_SECRET_KEY 太短" in short
    http = cli.refuse_unsafe_production(production(settings, db_url, secure_cookies=False))
    assert "WUYE_SECURE_COOKIES=1" in http and "plain HTTP" in http and "WUYE_SECRET_KEY" not in http
    with open_database(db_url).session() as session:
        load_demo_data(session, load_communities(settings.communities_file))
    demo = cli.refuse_unsafe_production(production(settings, db_url))
    assert f"演示账号仍在使用演示密码：{', '.join(sorted(DEMO_PASSWORDS))}" in demo and "Demo accounts" in demo
    for name in sorted(set(DEMO_PASSWORDS) - {"admin"}):
        run(monkeypatch, capsys, ["staff", "disable", name])
    run(monkeypatch, capsys, ["staff", "passwd", "admin"], "Changed-admin-1\n")
    assert cli.refuse_unsafe_production(production(settings, db_url)) is None


def _serve(env, port):
    return subprocess.Popen([sys.executable, "-m", "bot.tools.cli", "serve", "--port", str(port)],
                            env=subprocess_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.deploy  # `make test-deploy`: the production start as an operator runs it
def test_wuye_serve_in_production_refuses_then_starts_when_safe(trained_model, tmp_path, settings):
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    base = {"WUYE_DATABASE_URL": url, "WUYE_ENV": "production", "WUYE_UPLOAD_DIR": str(tmp_path / "uploads")}
    subprocess.run([sys.executable, "-m", "bot.tools.cli", "demo-data"], env=subprocess_env(**base), check=True,
                   capture_output=True, timeout=300)
    port = free_port()
    refused = _serve({**base, "WUYE_SECRET_KEY": "", "WUYE_SECURE_COOKIES": "0"}, port)
    out, err = refused.communicate(timeout=300)
    assert refused.returncode == 3
    for words in ("拒绝启动", "WUYE_SECRET_KEY 未设置", "WUYE_SECURE_COOKIES=1", "演示账号仍在使用演示密码", "Refusing to start"):
        assert words in err, err
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
    for name in sorted(set(DEMO_PASSWORDS) - {"admin"}):
        subprocess.run([sys.executable, "-m", "bot.tools.cli", "staff", "disable", name], env=subprocess_env(**base),
                       check=True, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "bot.tools.cli", "staff", "passwd", "admin"], input="Changed-admin-1\n",
                   env=subprocess_env(**base), check=True, capture_output=True, text=True, timeout=300)
    safe = _serve({**base, "WUYE_SECRET_KEY": "p" * 43, "WUYE_SECURE_COOKIES": "1"}, port)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and safe.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert safe.poll() is None, safe.stderr.read()[-2000:]
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200
    finally:
        safe.terminate()
        safe.wait(timeout=30)
