"""`wuye import households|bills|parking FILE`: CSV in UTF-8 with BOM and in GBK, .xlsx made with openpyxl, Chinese
and English headers, on SQLite and PostgreSQL (a database of this module's own): dry runs store nothing, a file with
bad rows stores nothing and names every row and column, a second run changes nothing, next month's file updates,
and a household whose phone changes loses its resident bindings."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
import sys

import openpyxl
import pytest
import sqlalchemy as sa

from bot.storage.db import open_database
from bot.storage.models import Bill, ChatIdentity, Household, ParkingCard, ParkingSpace, VerificationCode
from bot.tools import cli
from tests.conftest import subprocess_env
from tests.databases import scratch_postgres

TABLES = ("verification_codes", "chat_identities", "visitor_passes", "parking_cards", "parking_spaces", "bills",
          "households")
HOUSEHOLDS = ("小区,楼栋,单元,房号,业主姓名,手机号\n"
              "锦绣花园,1栋,1单元,101,张伟,13800138000\n"
              "锦绣花园,1,1,102,李娜,13800138001\n"
              "滨江壹号,3,2,501,王芳,+86 139 0000 0002\n")


@pytest.fixture(scope="module")
def own_postgres():
    """A PostgreSQL database for this module only (created here, dropped at the end)."""
    with scratch_postgres("wuye_test_import") as (url,):
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request, tmp_path, settings, monkeypatch):
    """The `wuye` command on a clean database: returns (run, db, tmp_path); run(*argv) → (exit status, stdout)."""
    url = f"sqlite:///{tmp_path / 'wuye.db'}" if request.param == "sqlite" else request.getfixturevalue("own_postgres")
    db = open_database(url)
    with db.session() as session:
        for table in TABLES:
            session.execute(sa.text(f"DELETE FROM {table}"))
    monkeypatch.setattr(cli, "get_settings", lambda: dataclasses.replace(settings, database_url=url))

    def run(*argv: str):
        capsys = request.getfixturevalue("capsys")
        capsys.readouterr()
        status = cli.main(list(argv))
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    yield run, db, tmp_path
    db.engine.dispose()


def write(path, text: str, encoding: str = "utf-8-sig"):
    path.write_bytes(text.encode(encoding))
    return str(path)


def households(db):
    with db.session() as s:
        return {(h.community_id, h.building, h.unit, h.room): (h.owner_name, h.phone)
                for h in s.scalars(sa.select(Household))}


def count(db, model) -> int:
    with db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model))


def test_households_from_csv_with_bom_then_the_same_file_changes_nothing(env):
    run, db, tmp = env
    path = write(tmp / "住户.csv", HOUSEHOLDS)
    status, out, _ = run("import", "households", path, "--json")
    assert status == 0
    assert json.loads(out) == {"kind": "households", "dry_run": False, "rows": 3, "created": 3, "updated": 0,
                                    "unchanged": 0, "unbound": 0, "errors": [], "errors_total": 0}
    assert households(db) == {("jinxiu", 1, 1, 101): ("张伟", "13800138000"),
                              ("jinxiu", 1, 1, 102): ("李娜", "13800138001"),
                              ("binjiang", 3, 2, 501): ("王芳", "13900000002")}
    status, out, _ = run("import", "households", path, "--json")
    assert status == 0 and {k: json.loads(out)[k] for k in ("created", "updated", "unchanged")} == \
        {"created": 0, "updated": 0, "unchanged": 3}
    status, out, _ = run("import", "households", path)  # people read a summary
    assert out.strip() == "住户已导入：共 3 行，新增 0，更新 0，未变 3"


def test_bills_from_gbk_csv_as_chinese_excel_saves_it_and_next_months_file_updates(env):
    run, db, tmp = env
    assert run("import", "households", write(tmp / "h.csv", HOUSEHOLDS))[0] == 0
    bills = ("小区,楼栋,单元,房号,账期,应收（元）,实收（元）\n"
             "锦绣花园,1,1,101,2026-10,235.50,235.50\n"
             "锦绣花园,1,1,101,2026年11月,235.50,0\n"
             "锦绣花园,1,1,102,2026/11,\"1,288.00\",\n")
    path = write(tmp / "账单.csv", bills, "gbk")
    status, out, _ = run("import", "bills", path, "--json")
    assert status == 0 and json.loads(out)["created"] == 3, out
    with db.session() as s:
        stored = {(b.period, b.amount_cents, b.paid, b.paid_at is not None) for b in s.scalars(sa.select(Bill))}
    assert stored == {("2026-10", 23550, True, True), ("2026-11", 23550, False, False),
                      ("2026-11", 128800, False, False)}
    status, out, _ = run("import", "bills", path, "--json")
    assert {k: json.loads(out)[k] for k in ("created", "updated", "unchanged")} == \
        {"created": 0, "updated": 0, "unchanged": 3}
    # next month: 101 paid November, and December's bills arrive; 已缴 as 是/否 instead of an amount
    later = ("小区,楼栋,单元,房号,账期,应收,已缴\n"
             "锦绣花园,1,1,101,2026-10,235.50,是\n"
             "锦绣花园,1,1,101,2026-11,235.50,是\n"
             "锦绣花园,1,1,101,2026-12,235.50,否\n")
    status, out, _ = run("import", "bills", write(tmp / "账单12月.csv", later, "gbk"), "--json")
    assert {k: json.loads(out)[k] for k in ("created", "updated", "unchanged")} == \
        {"created": 1, "updated": 1, "unchanged": 1}
    with db.session() as s:
        november = s.scalar(sa.select(Bill).join(Household).where(Household.room == 101, Bill.period == "2026-11"))
        assert november.paid and november.paid_at is not None


def test_xlsx_with_english_headers_and_date_cells_for_households_and_parking(env):
    run, db, tmp = env
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["community", "building", "unit", "room", "owner", "phone"])
    sheet.append(["jinxiu", 2, 1, 301, "赵敏", 13700001111])  # numbers as Excel stores them
    sheet.append(["锦绣花园", 2, 1, 302, "钱进", "13700002222"])
    book.save(tmp / "households.xlsx")
    status, out, _ = run("import", "households", str(tmp / "households.xlsx"), "--json")
    assert status == 0 and json.loads(out)["created"] == 2
    assert households(db)[("jinxiu", 2, 1, 301)] == ("赵敏", "13700001111")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["楼栋", "单元", "房号", "车位号", "车牌", "月卡到期"])
    sheet.append([2, 1, 301, "B1-A-001", "粤A·12345", dt.datetime(2027, 1, 31)])
    sheet.append([2, 1, 302, None, "粤B54321", "2027/3/1"])
    book.save(tmp / "parking.xlsx")
    status, out, _ = run("import", "parking", str(tmp / "parking.xlsx"), "--community", "jinxiu", "--json")
    assert status == 0 and json.loads(out)["created"] == 2, out
    with db.session() as s:
        cards = {c.plate: (c.expires_on, c.space.code if c.space else None) for c in s.scalars(sa.select(ParkingCard))}
        assert cards == {"粤A12345": (dt.date(2027, 1, 31), "B1-A-001"), "粤B54321": (dt.date(2027, 3, 1), None)}
        assert s.scalar(sa.select(ParkingSpace.household_id).where(ParkingSpace.code == "B1-A-001")) == \
            s.scalar(sa.select(Household.id).where(Household.room == 301))
    status, out, _ = run("import", "parking", str(tmp / "parking.xlsx"), "--community", "jinxiu", "--json")
    assert json.loads(out)["unchanged"] == 2 and json.loads(out)["created"] == json.loads(out)["updated"] == 0
    book = openpyxl.Workbook()  # bills as Excel keeps them: the period a date cell, amounts floats, 已缴 a boolean
    sheet = book.active
    sheet.append(["小区", "楼栋", "单元", "房号", "账期", "应收", "已缴", "收费项目"])
    sheet.append(["锦绣花园", 2, 1, 301, dt.datetime(2026, 11, 1), 268.5, True, "物业费"])
    sheet.append(["锦绣花园", 2, 1, 301, dt.datetime(2026, 11, 1), 120.0, False, "停车费"])
    book.save(tmp / "bills.xlsx")
    status, out, _ = run("import", "bills", str(tmp / "bills.xlsx"), "--json")
    assert status == 0 and json.loads(out)["created"] == 2, out
    with db.session() as s:
        assert {(b.period, b.item, b.amount_cents, b.paid) for b in s.scalars(sa.select(Bill))} == \
            {("2026-11", "物业费", 26850, True), ("2026-11", "停车费", 12000, False)}


def test_a_dry_run_counts_and_stores_nothing(env):
    run, db, tmp = env
    status, out, _ = run("import", "households", write(tmp / "h.csv", HOUSEHOLDS), "--dry-run", "--json")
    assert status == 0 and json.loads(out)["created"] == 3 and json.loads(out)["dry_run"] is True
    assert count(db, Household) == 0


def test_a_file_with_bad_rows_stores_nothing_and_names_every_row_and_column(env):
    run, db, tmp = env
    text = ("小区,楼栋,单元,房号,业主姓名,手机号\n"
            "锦绣花园,1,1,101,张伟,13800138000\n"        # row 2: fine
            "锦绣花园,1,1,102,李娜,1380013\n"            # row 3: phone
            "锦绣花园,一,1,103,,13800138003\n"            # row 4: building and owner
            "幸福里,1,1,104,王芳,13800138004\n"           # row 5: no such 小区
            "锦绣花园,1,1,101,张伟,13800138000\n")       # row 6: the same household as row 2
    status, out, _ = run("import", "households", write(tmp / "h.csv", text), "--json")
    assert status == 1
    errors = [(e["row"], e["column"]) for e in json.loads(out)["errors"]]
    assert errors == [(3, "手机号"), (4, "楼栋"), (4, "业主姓名"), (5, "小区"), (6, "房号")]
    messages = {(e["row"], e["column"]): e["message"] for e in json.loads(out)["errors"]}
    assert messages[(3, "手机号")] == "应是 11 位手机号" and messages[(6, "房号")] == "与第 2 行是同一户"
    assert "锦绣花园" in messages[(5, "小区")]
    assert count(db, Household) == 0
    status, _, err = run("import", "households", write(tmp / "h.csv", text))
    assert status == 1 and "第 3 行「手机号」：应是 11 位手机号" in err and "什么都没有保存" in err
    # a missing column is a problem of row 1, named as the file would spell it
    status, out, _ = run("import", "bills", write(tmp / "b.csv", "小区,楼栋,单元,房号,应收,实收\n锦绣花园,1,1,101,1,1\n"),
                         "--json")
    assert status == 1 and [(e["row"], e["column"]) for e in json.loads(out)["errors"]] == [(1, "账期")]
    # bills for a household that is not there: nothing of the file is stored
    run("import", "households", write(tmp / "h.csv", HOUSEHOLDS))
    bills = "楼栋,单元,房号,账期,应收,实收\n1,1,101,2026-10,100,100\n9,9,909,2026-10,100,0\n1,1,102,2026-10,-5,0\n"
    status, out, _ = run("import", "bills", write(tmp / "b.csv", bills), "--community", "jinxiu", "--json")
    assert status == 1 and [(e["row"], e["column"]) for e in json.loads(out)["errors"]] == [(3, "房号"), (4, "应收")]
    assert count(db, Bill) == 0


def test_a_household_whose_phone_changes_loses_its_resident_bindings(env):
    run, db, tmp = env
    run("import", "households", write(tmp / "h.csv", HOUSEHOLDS))
    now = dt.datetime(2026, 12, 6, 10)
    with db.session() as s:
        ids = {h.room: h.id for h in s.scalars(sa.select(Household))}
        s.add_all([ChatIdentity(channel="web", sender_id="w_old_owner", household_id=ids[101], verified_at=now),
                   ChatIdentity(channel="web", sender_id="w_neighbour", household_id=ids[102], verified_at=now)])
        s.flush()
        pending = s.scalar(sa.select(ChatIdentity.id).where(ChatIdentity.sender_id == "w_old_owner"))
        s.add(VerificationCode(identity_id=pending, household_id=ids[101], code_hash="x", expires_at=now))
    changed = HOUSEHOLDS.replace("张伟,13800138000", "张伟,13811112222").replace("李娜,13800138001", "李娜娜,13800138001")
    status, out, _ = run("import", "households", write(tmp / "h2.csv", changed), "--json")
    assert status == 0 and json.loads(out)["updated"] == 2 and json.loads(out)["unbound"] == 1
    with db.session() as s:
        bound = {i.sender_id: (i.household_id, i.verified_at is not None) for i in s.scalars(sa.select(ChatIdentity))}
        assert bound == {"w_old_owner": (None, False), "w_neighbour": (ids[102], True)}  # a new owner name keeps it
        assert s.scalar(sa.select(VerificationCode.used)) is True  # a code sent to the old number no longer binds


def test_the_installed_command_reads_gbk_and_prints_json(tmp_path):
    """The real `wuye import` process on its own SQLite file (WUYE_DATABASE_URL), as an operator runs it."""
    path = tmp_path / "h.csv"
    path.write_bytes(HOUSEHOLDS.encode("gbk"))
    done = subprocess.run([sys.executable, "-m", "bot.tools.cli", "import", "households", str(path), "--json"],
                          capture_output=True, text=True, timeout=120,
                          env=subprocess_env(WUYE_DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["created"] == 3
    bad = subprocess.run([sys.executable, "-m", "bot.tools.cli", "import", "households", str(tmp_path / "none.csv")],
                         capture_output=True, text=True, timeout=120, env=subprocess_env())
    assert bad.returncode == 2 and "找不到文件" in bad.stderr


def test_unreadable_files_are_refused_in_chinese(env):
    run, db, tmp = env
    (tmp / "x.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    status, out, _ = run("import", "households", str(tmp / "x.xlsx"), "--json")
    assert status == 2 and json.loads(out)["code"] == "import_file_unreadable" and "xlsx" in json.loads(out)["detail"]
    (tmp / "e.csv").write_bytes(b"")
    status, _, err = run("import", "households", str(tmp / "e.csv"))
    assert status == 2 and "文件是空的" in err
    status, _, err = run("import", "households", write(tmp / "bom.csv", "\n\n"))
    assert status == 2 and "没有表头" in err
    status, out, _ = run("import", "households", write(tmp / "h.csv", HOUSEHOLDS), "--community", "nowhere", "--json")
    assert status == 2 and json.loads(out) == {"detail": "没有小区「nowhere」（已有：滨江壹号（binjiang）、锦绣花园（jinxiu））",
                                               "code": "import_community_unknown"}
    assert count(db, Household) == 0



def test_two_imports_of_the_same_file_at_once_store_each_bill_once(env, monkeypatch):
    """The CLI and an ERP's call at the same moment: the second waits for the first (a lock taken before the keys
    are read), then finds everything there. Both imports are held at a barrier once they have read the existing
    keys: without the lock both would get there, find nothing and insert every bill twice."""
    import threading

    from bot.households import imports

    run, db, tmp = env
    barrier, read_keys = threading.Barrier(2), imports._household_ids

    def meet_then_read(session):
        try:
            barrier.wait(timeout=3)  # with the lock only one import gets here at a time: the wait times out
        except threading.BrokenBarrierError:
            pass
        return read_keys(session)

    monkeypatch.setattr(imports, "_household_ids", meet_then_read)
    run_import = imports.run_import
    run("import", "households", write(tmp / "h.csv", HOUSEHOLDS))
    data = ("楼栋,单元,房号,账期,应收,实收\n" + "".join(f"1,1,101,2025-{m:02d},100,100\n" for m in range(1, 13))).encode()
    results, failures = [], []

    def one() -> None:
        try:
            with db.session() as session:
                results.append(run_import(session, "bills", data, "b.csv", default_community="jinxiu"))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert sorted((r.created, r.unchanged) for r in results) == [(0, 12), (12, 0)]
    assert count(db, Bill) == 12


def test_a_room_exported_as_one_code_is_read_whole(env):
    """房号 alone as many ERPs export it (1-1-101, 1栋1单元102室) when there are no 楼栋 and 单元 columns."""
    run, db, tmp = env
    run("import", "households", write(tmp / "h.csv", HOUSEHOLDS))
    bills = "小区,房号,账期,应收,实收\n锦绣花园,1-1-101,2026-10,100,100\n锦绣花园,1栋1单元102室,2026-10,100,0\n"
    status, out, _ = run("import", "bills", write(tmp / "b.csv", bills), "--json")
    assert status == 0 and json.loads(out)["created"] == 2, out
    status, out, _ = run("import", "bills", write(tmp / "b.csv", "小区,房号,账期,应收,实收\n锦绣花园,101,2026-10,1,1\n"),
                         "--json")
    assert status == 1 and json.loads(out)["errors"] == [
        {"row": 2, "column": "房号", "message": "应是 楼栋-单元-房号（如 1-2-301 或 1栋2单元301室），或分成 楼栋、单元、房号 三列"}]


def test_staff_from_a_spreadsheet_print_their_temporary_passwords_once(env):
    run, db, tmp = env
    from bot.access.passwords import verify_password
    from bot.storage.models import Staff
    name = "cli" + dt.datetime.now().strftime("%H%M%S%f")  # the shared PostgreSQL database keeps other tests' staff
    path = write(tmp / "员工.csv", f"用户名,姓名,角色,小区\n{name},孙丽,客服,锦绣花园\n", encoding="gbk")
    status, out, _ = run("import", "staff", path, "--dry-run")
    assert status == 0 and out.startswith("员工账号试导入（未保存）：共 1 行，新增 1") and "初始密码" not in out
    status, out, _ = run("import", "staff", path)
    assert status == 0 and "只显示这一次" in out, out
    password = out.split("初始密码 ")[1].split()[0]
    with db.session() as s:
        member = s.scalar(sa.select(Staff).where(Staff.username == name))
        assert verify_password(password, member.password_hash) and member.must_change_password
        assert (member.community_id, member.role) == ("jinxiu", "agent")
    status, out, _ = run("import", "staff", path)
    assert status == 0 and "未变 1" in out and "初始密码" not in out
    status, _, err = run("import", "staff", write(tmp / "坏.csv", "用户名,姓名\nx1,某人\n"))
    assert status == 1 and "第 1 行「角色」：缺少这一列" in err
