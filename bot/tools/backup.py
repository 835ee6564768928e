"""`wuye backup FILE` / `wuye restore FILE`: the configured database (WUYE_DATABASE_URL) to one file and back.

SQLite: sqlite3's online backup API, a consistent copy while the server keeps running (a plain file copy of a
database being written can be torn). PostgreSQL: ``pg_dump -Fc`` and ``pg_restore`` (the PostgreSQL client tools,
Debian's postgresql-client; the same major version as the server or newer). Restore goes into an empty database
unless ``force``: overwriting live data is a decision, not a default. Uploads (WUYE_UPLOAD_DIR) are files; back them
up with the file system (docs/operations.md).
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that cannot be done, in Chinese for the operator."""


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("内存数据库无法备份")
    return Path(database)


def _pg_target(url: str) -> Tuple[str, Dict[str, str]]:
    """A libpq connection string for pg_dump/pg_restore, the password in PGPASSWORD (never on a command line)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    target = parsed.set(drivername="postgresql", password=None)
    return target.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"找不到 {name}：请安装 PostgreSQL 客户端（Debian：apt-get install postgresql-client）")
    return path


def _run(command: List[str], env: Dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} 失败：{done.stderr.strip()[-2000:]}")


def backup(url: str, file: Path) -> Path:
    """Write a consistent copy of the database at ``url`` to ``file`` (replaced only when the copy is complete)."""
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{file.name}.", dir=str(file.parent))
    os.close(handle)
    try:
        if make_url(url).get_backend_name() == "sqlite":
            source_path = _sqlite_path(url)
            if not source_path.exists():
                raise BackupError(f"数据库文件不存在：{source_path}")
            source, target = sqlite3.connect(str(source_path)), sqlite3.connect(partial)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
        else:
            target_url, env = _pg_target(url)
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}",
                  f"--dbname={target_url}"], env)
        os.replace(partial, file)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return file


def _has_tables(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        return bool(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def restore(url: str, file: Path, force: bool = False) -> None:
    """Load ``file`` (made by :func:`backup`) into the database at ``url``. Refuses a database that already has
    tables unless ``force`` (then it is replaced). Stop the servers first."""
    file = Path(file)
    if not file.is_file():
        raise BackupError(f"找不到备份文件：{file}")
    with open(file, "rb") as handle:
        magic = handle.read(16)
    sqlite = make_url(url).get_backend_name() == "sqlite"
    if sqlite and not magic.startswith(SQLITE_MAGIC) or not sqlite and not magic.startswith(PG_MAGIC):
        raise BackupError("备份文件与当前数据库类型不符：SQLite 的备份只能恢复到 SQLite，PostgreSQL 的（pg_dump -Fc）只能恢复到 PostgreSQL")
    if not force and _has_tables(url):
        raise BackupError("目标数据库不是空的：请恢复到一个新建的空数据库，或加 --force 覆盖现有数据")
    if sqlite:
        source, target = sqlite3.connect(str(file)), sqlite3.connect(str(_sqlite_path(url)))
        try:
            source.backup(target)  # page by page, replacing whatever the target had
        finally:
            target.close()
            source.close()
        return
    target_url, env = _pg_target(url)
    command = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
               f"--dbname={target_url}"]
    if force:
        command += ["--clean", "--if-exists"]
    _run(command + [str(file)], env)
