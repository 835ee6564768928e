"""`wuye backup FILE` and `wuye restore FILE` on SQLite (online backup API) and PostgreSQL (pg_dump -Fc / pg_restore):
the demo data backed up, restored into an empty database, every table's rows the same; a database with data is not
overwritten without --force; a backup of one kind of database is refused by the other."""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import pytest
import sqlalchemy as sa

from bot.kb.community import load_communities
from bot.storage.db import open_database
from bot.storage.models import Base
from bot.tools import cli
from bot.tools.demo import load_demo_data
from tests.databases import scratch_postgres


@pytest.fixture
def databases(request, tmp_path):
    """Two fresh databases of one kind: (source URL, empty target URL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'restored.db'}"
        return
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    with scratch_postgres("wuye_test_backup", count=2) as (source, target):
        yield source, target


def every_row(url: str) -> dict:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = {table.name: [tuple(r) for r in conn.execute(
                sa.select(table).order_by(*table.primary_key.columns))] for table in Base.metadata.sorted_tables}
            rows["alembic_version"] = [tuple(r) for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
        return rows
    finally:
        engine.dispose()


def wuye(monkeypatch, settings, url, *argv):
    monkeypatch.setattr(cli, "get_settings", lambda: dataclasses.replace(settings, database_url=url))
    return cli.main(list(argv))


@pytest.mark.parametrize("databases", ["sqlite", "postgresql"], indirect=True)
def test_a_backup_restored_into_an_empty_database_has_the_same_rows(databases, tmp_path, settings, monkeypatch,
                                                                     capsys):
    source, target = databases
    db = open_database(source)
    with db.session() as session:
        load_demo_data(session, load_communities(settings.communities_file), today=dt.date(2026, 12, 6))
    db.engine.dispose()
    original = every_row(source)
    assert len(original["households"]) > 200 and len(original["bills"]) > 1000 and original["staff"]

    assert wuye(monkeypatch, settings, source, "backup", str(tmp_path / "backups" / "wuye.dump")) == 0
    assert "已备份到" in capsys.readouterr().out
    assert wuye(monkeypatch, settings, target, "restore", str(tmp_path / "backups" / "wuye.dump")) == 0
    assert every_row(target) == original

    # the restored database is not empty any more: a second restore needs --force, and then gives the same rows
    assert wuye(monkeypatch, settings, target, "restore", str(tmp_path / "backups" / "wuye.dump")) == 1
    assert "目标数据库不是空的" in capsys.readouterr().err
    restored = open_database(target)  # and it is a working database: the app's migrations find it current
    with restored.session() as session:
        session.execute(sa.text("DELETE FROM rate_events"))
        session.execute(sa.text("UPDATE households SET owner_name = '改过' WHERE id = 1"))
    restored.engine.dispose()
    assert wuye(monkeypatch, settings, target, "restore", "--force", str(tmp_path / "backups" / "wuye.dump")) == 0
    assert every_row(target) == original


def test_a_backup_of_the_other_kind_of_database_or_no_file_is_refused(tmp_path, settings, monkeypatch, capsys):
    sqlite_url = f"sqlite:///{tmp_path / 'w.db'}"
    open_database(sqlite_url).engine.dispose()
    (tmp_path / "pg.dump").write_bytes(b"PGDMP\x01\x0e\x00 a custom-format dump")
    assert wuye(monkeypatch, settings, f"sqlite:///{tmp_path / 'empty.db'}", "restore", str(tmp_path / "pg.dump")) == 1
    assert "备份文件与当前数据库类型不符" in capsys.readouterr().err
    assert wuye(monkeypatch, settings, sqlite_url, "restore", str(tmp_path / "missing.dump")) == 1
    assert "找不到备份文件" in capsys.readouterr().err
    assert wuye(monkeypatch, settings, f"sqlite:///{tmp_path / 'none.db'}", "backup", str(tmp_path / "b.db")) == 1
    assert "数据库文件不存在" in capsys.readouterr().err and not (tmp_path / "b.db").exists()
