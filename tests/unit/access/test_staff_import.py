"""Staff accounts from HR's spreadsheet (bot/access/staff_import.py) on SQLite and PostgreSQL: new accounts with a
temporary password shown once, existing ones updated by username, teams and 小区 set, leavers signed out, a bad file
refused whole with each problem by row and column, and never without an enabled admin."""
from __future__ import annotations

import datetime as dt
import io
import sqlite3
import time
import uuid

import openpyxl
import pytest
import sqlalchemy as sa

from bot.access import staff_import
from bot.access.auth import open_staff_session, staff_of_session
from bot.access.passwords import hash_password, verify_password
from bot.core.tables import ImportFileUnreadable, ImportRowsInvalid, read_table
from bot.storage.db import open_database
from bot.storage.models import Staff, Team, TeamMember

NOW = dt.datetime(2026, 12, 7, 2, 0)
COMMUNITIES = {"锦绣花园": "jinxiu", "jinxiu": "jinxiu", "滨江壹号": "binjiang", "binjiang": "binjiang",
               "旧城小区": "oldtown", "oldtown": "oldtown"}


def table(text: str):
    return read_table(text.encode("gbk"), "员工.csv")


def run(session, text: str, **kwargs):
    header, rows = table(text)
    return staff_import.import_staff(session, header, rows, communities=COMMUNITIES, retired=["oldtown"], now=NOW,
                                     **kwargs)


def accounts_named(session, prefix: str):
    return {s.username: s for s in session.scalars(sa.select(Staff).where(Staff.username.like(prefix + "%")))}


def teams_of(session, staff_id: int):
    return set(session.scalars(sa.select(Team.name).join(TeamMember, TeamMember.team_id == Team.id)
                               .where(TeamMember.staff_id == staff_id)))


def test_a_company_brings_its_staff_and_updates_them_later(database_url):
    db = open_database(database_url)
    p = "s" + uuid.uuid4().hex[:6]  # the PostgreSQL database is shared by the test session
    with db.session() as session:
        session.add_all([Team(name=p + "报修组", kinds=["repair"]), Team(name=p + "收费组", kinds=["billing"])])
        session.add(Staff(username=p + "boss", display_name="老板", password_hash=hash_password("Owner-pass-1"),
                          role="admin"))
        session.flush()
        first = (f"账号,姓名,岗位,所属小区,技能组,状态\n"
                 f"{p}wang,王芳,客服,滨江壹号,{p}报修组、{p}收费组,在职\n"
                 f"{p}li,李强,维修,jinxiu,,\n"
                 f"{p}zhao,赵敏,管理员,全部,{p}收费组,\n")
        dry = run(session, first, dry_run=True)
        assert (dry.created, dry.updated, dry.unchanged, dry.passwords) == (3, 0, 0, [])
        assert set(accounts_named(session, p)) == {p + "boss"}
        done = run(session, first)
        assert (done.created, done.updated, done.unchanged, done.errors_total) == (3, 0, 0, 0)
        assert done.summary().startswith("员工账号已导入：共 3 行，新增 3") and "只显示这一次" in done.summary()
        made = accounts_named(session, p)
        for account in done.passwords:  # each temporary password signs its own account in, and is stored hashed only
            staff = made[account["username"]]
            assert verify_password(account["password"], staff.password_hash) and staff.must_change_password
            assert account["password"] not in staff.password_hash and len(account["password"]) == 12
        assert len({a["password"] for a in done.passwords}) == 3
        wang, li, zhao = made[p + "wang"], made[p + "li"], made[p + "zhao"]
        assert (wang.role, wang.community_id, wang.display_name) == ("agent", "binjiang", "王芳")
        assert (li.role, li.community_id, zhao.role, zhao.community_id) == ("technician", "jinxiu", "admin", None)
        assert teams_of(session, wang.id) == {p + "报修组", p + "收费组"} and teams_of(session, li.id) == set()

        again = run(session, first)  # the same file twice: nothing changes, no password is made
        assert (again.created, again.updated, again.unchanged, again.passwords) == (0, 0, 3, [])

        signed_in = open_staff_session(session, wang.id, NOW).id
        session.flush()
        hash_before = wang.password_hash
        later = (f"username,name,role,community,teams,status\n"
                 f"{p.upper()}WANG,王芳芳,agent,jinxiu,{p}收费组,离职\n"  # matched as sign-in matches: without case
                 f"{p}li,李强,technician,jinxiu,,\n")
        changed = run(session, later)
        assert (changed.created, changed.updated, changed.unchanged, changed.passwords) == (0, 1, 1, [])
        session.refresh(wang)
        assert (wang.display_name, wang.community_id, wang.disabled_at) == ("王芳芳", "jinxiu", NOW)
        assert wang.password_hash == hash_before and teams_of(session, wang.id) == {p + "收费组"}
        assert staff_of_session(session, signed_in, NOW) is None  # a leaver is signed out everywhere at once
        assert zhao.role == "admin"  # a row the file leaves out is left as it is
        session.rollback()


def test_a_bad_file_is_refused_whole_with_each_problem_named(database_url):
    db = open_database(database_url)
    p = "b" + uuid.uuid4().hex[:6]
    with db.session() as session:
        session.add(Team(name=p + "组", kinds=["repair"]))
        session.flush()
        bad = (f"用户名,姓名,角色,小区,技能组,状态\n"
               f"{p}ok,正常人,客服,滨江壹号,{p}组,在职\n"
               f"{p}ok,重复的,客服,,,\n"
               f"x,太短,客服,,,\n"
               f"{p}c,张三,保安,,,\n"
               f"{p}d,李四,客服,火星小区,,\n"
               f"{p}e,王五,客服,旧城小区,,\n"
               f"{p}f,赵六,客服,,没有的组,\n"
               f"{p}g,,客服,,,休假\n")
        with pytest.raises(ImportRowsInvalid) as refused:
            run(session, bad)
        problems = {(e["row"], e["column"]): e["message"] for e in refused.value.result.errors}
        assert problems[(3, "用户名")] == "与第 2 行的用户名重复"
        assert "2–32 个字母" in problems[(4, "用户名")]
        assert problems[(5, "角色")] == "角色只能是 客服、管理员 或 维修师傅"
        assert problems[(6, "小区")].startswith("没有这个小区（已有：") and "滨江壹号" in problems[(6, "小区")]
        assert problems[(7, "小区")] == "这个小区已停用，不能再分配员工"
        assert problems[(8, "技能组")].startswith("没有技能组「没有的组」（已有：") and p + "组" in problems[(8, "技能组")]
        assert problems[(9, "姓名")] == "不能为空" and "在职、离职" in problems[(9, "状态")]
        assert (2, "用户名") not in problems and len(problems) == 8
        assert accounts_named(session, p) == {}
        with pytest.raises(ImportRowsInvalid) as missing:
            run(session, "用户名,小区\nabc,滨江壹号\n")
        assert [(e["row"], e["column"]) for e in missing.value.result.errors] == [(1, "姓名"), (1, "角色")]
        session.rollback()


def test_a_file_never_leaves_the_company_without_an_admin(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'wuye.db'}")
    with db.session() as session:
        session.add(Staff(username="chief", display_name="主管", password_hash=hash_password("Owner-pass-1"),
                          role="admin"))
        session.flush()
        for text in ("用户名,姓名,角色\nchief,主管,客服\n", "用户名,姓名,角色,状态\nchief,主管,管理员,离职\n"):
            with pytest.raises(ImportRowsInvalid) as refused:
                run(session, text)
            assert refused.value.result.errors[0]["row"] == 2 and "没有可用的管理员" in \
                refused.value.result.errors[0]["message"]
        # handing over in the same file is fine: another admin comes in as the last one goes
        handed = run(session, "用户名,姓名,角色,状态\nchief,主管,管理员,离职\nnewchief,新主管,管理员,在职\n")
        assert (handed.created, handed.updated) == (1, 1)


def test_excel_files_and_the_row_limit(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["用户名", "姓名", "角色"])
    sheet.append(["xlsx01", "表格员工", "客服"])
    data = io.BytesIO()
    book.save(data)
    header, rows = read_table(data.getvalue(), "员工.xlsx")
    db = open_database(f"sqlite:///{tmp_path / 'wuye.db'}")
    with db.session() as session:
        session.add(Staff(username="chief", display_name="主管", password_hash="x", role="admin"))
        result = staff_import.import_staff(session, header, rows, communities=COMMUNITIES, now=NOW)
        assert result.created == 1 and result.passwords[0]["username"] == "xlsx01"
        many = [(n + 2, [f"user{n:04d}", "员工", "客服"]) for n in range(staff_import.MAX_ROWS + 1)]
        with pytest.raises(staff_import.StaffImportTooLarge) as refused:
            staff_import.import_staff(session, header, many, communities=COMMUNITIES, now=NOW)
        assert refused.value.status == 413 and "1000" in refused.value.message


def test_team_names_with_a_separator_in_them_are_taken_whole(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'wuye.db'}")
    with db.session() as session:
        session.add(Staff(username="chief", display_name="主管", password_hash="x", role="admin"))
        session.add_all([Team(name=name, kinds=["repair"]) for name in ("保洁/绿化", "水电 维修", "水电", "客服")])
        session.flush()
        done = run(session, "用户名,姓名,角色,技能组\nsep01,王,客服,保洁/绿化\nsep02,李,维修,水电 维修、客服\n"
                            "sep03,赵,维修,水电，客服\n")
        made = accounts_named(session, "sep")
        assert teams_of(session, made["sep01"].id) == {"保洁/绿化"}
        assert teams_of(session, made["sep02"].id) == {"水电 维修", "客服"}
        assert teams_of(session, made["sep03"].id) == {"水电", "客服"} and done.created == 3
        with pytest.raises(ImportRowsInvalid) as refused:
            run(session, "用户名,姓名,角色,技能组\nsep04,钱,客服,保洁/绿化部 客服\n")
        assert refused.value.result.errors[0]["message"].startswith("没有技能组「保洁、绿化部」（已有：保洁/绿化、")
        session.rollback()


def test_a_member_of_a_retired_community_keeps_it_when_the_same_file_comes_again(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'wuye.db'}")
    with db.session() as session:
        session.add(Staff(username="chief", display_name="主管", password_hash="x", role="admin"))
        session.add(Staff(username="old01", display_name="老员工", password_hash="x", role="agent",
                          community_id="oldtown"))
        session.flush()
        again = run(session, "用户名,姓名,角色,小区\nold01,老员工,客服,旧城小区\n")
        assert (again.unchanged, again.errors_total) == (1, 0)
        with pytest.raises(ImportRowsInvalid) as refused:  # a newcomer, or a move there, is still refused
            run(session, "用户名,姓名,角色,小区\nold02,新员工,客服,旧城小区\nchief,主管,管理员,oldtown\n")
        assert [(e["row"], e["message"]) for e in refused.value.result.errors] == \
            [(2, "这个小区已停用，不能再分配员工"), (3, "这个小区已停用，不能再分配员工")]
        session.rollback()


def test_the_last_admin_refusal_names_the_files_own_column(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'wuye.db'}")
    with db.session() as session:
        session.add(Staff(username="chief", display_name="主管", password_hash="x", role="admin"))
        session.flush()
        for text, column in (("username,name,role,status\nchief,主管,admin,disabled\n", "status"),
                             ("username,name,role\nchief,主管,agent\n", "role"),
                             ("用户名,姓名,角色,在职状态\nchief,主管,管理员,离职\n", "在职状态")):
            with pytest.raises(ImportRowsInvalid) as refused:
                run(session, text)
            assert [(e["row"], e["column"]) for e in refused.value.result.errors] == [(2, column)], text


def test_the_importing_admin_keeps_their_own_access(tmp_path):
    """Another admin remains, so the last-admin rule would let it pass: the admin's own row is refused as such."""
    db = open_database(f"sqlite:///{tmp_path / 'wuye.db'}")
    with db.session() as session:
        session.add_all([Staff(username="Chief", display_name="主管", password_hash="x", role="admin"),
                         Staff(username="deputy", display_name="副主管", password_hash="x", role="admin")])
        session.flush()
        for text, column in (("用户名,姓名,角色,状态\nchief,主管,管理员,离职\n", "状态"),
                             ("用户名,姓名,角色\nCHIEF,主管,客服\n", "角色")):
            with pytest.raises(ImportRowsInvalid) as refused:
                run(session, text, acting="Chief")
            assert [(e["row"], e["column"], e["message"]) for e in refused.value.result.errors] == \
                [(2, column, staff_import.OWN_ACCOUNT)], text
        # the same rows about another admin, or from the command line (no one signed in), are the company's choice
        assert run(session, "用户名,姓名,角色,状态\ndeputy,副主管,管理员,离职\n", acting="Chief").updated == 1
        assert run(session, "用户名,姓名,角色,状态\nchief,主管,管理员,离职\ndeputy,副主管,管理员,在职\n").updated == 2
        assert run(session, "用户名,姓名,角色,状态\nchief,主管,管理员,在职\n", acting="deputy").updated == 1
        assert run(session, "用户名,姓名,角色\nchief,主管,管理员\n", acting="chief").unchanged == 1


def test_passwords_are_hashed_before_anything_is_written(tmp_path, monkeypatch):
    """On SQLite a write transaction locks the database for the server too (`wuye import staff` beside `wuye
    serve`): the minute of hashing for a thousand new accounts must come before it."""
    path = tmp_path / "wuye.db"
    db = open_database(f"sqlite:///{path}")
    with db.session() as session:
        session.add(Staff(username="chief", display_name="主管", password_hash="x", role="admin"))
        session.add(Staff(username="old01", display_name="老员工", password_hash="x", role="agent"))
        session.commit()
    locked = []

    def hashing(password, **kwargs):
        other = sqlite3.connect(path, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.rollback()
            locked.append(False)
        except sqlite3.OperationalError:
            locked.append(True)
        finally:
            other.close()
        return hash_password(password, **kwargs)

    monkeypatch.setattr(staff_import, "hash_password", hashing)
    with db.session() as session:
        done = run(session, "用户名,姓名,角色,状态\nold01,老员工,客服,离职\nnew01,甲,客服,\nnew02,乙,客服,\n")
        session.commit()
    assert done.created == 2 and locked == [False, False]
    with db.session() as session:  # passwords made beforehand are used, and none is made twice
        prepared = staff_import.new_credentials(1)
        done = run(session, "用户名,姓名,角色\nnew03,丙,客服\n", prepared=prepared)
        assert done.passwords[0]["password"] == prepared[0][0] and locked == [False, False, False]
        assert session.scalar(sa.select(Staff.password_hash).where(Staff.username == "new03")) == prepared[0][1]


def test_an_account_made_meanwhile_with_the_same_username_is_a_409_and_nothing_is_stored(tmp_path, monkeypatch):
    """Between the check and the write (PostgreSQL serialises no imports) another import or the 员工 tab may make the
    same username: a clear refusal, never a 500."""
    path = tmp_path / "wuye.db"
    db = open_database(f"sqlite:///{path}")
    with db.session() as session:
        session.add(Staff(username="chief", display_name="主管", password_hash="x", role="admin"))
    made = staff_import.new_credentials

    def meanwhile(count):
        with db.session() as other:
            other.add(Staff(username="race02", display_name="别人", password_hash="x", role="agent"))
        return made(count)

    monkeypatch.setattr(staff_import, "new_credentials", meanwhile)
    with pytest.raises(staff_import.StaffImportConflict) as refused:
        with db.session() as session:
            run(session, "用户名,姓名,角色\nrace01,甲,客服\nrace02,乙,客服\n")
    assert refused.value.status == 409 and "什么都没有保存" in refused.value.message
    with db.session() as session:
        assert set(accounts_named(session, "race")) == {"race02"}


def test_a_cell_of_many_unknown_team_names_is_named_briefly_and_read_quickly(tmp_path):
    teams = {f"组{n}": n for n in range(50)}
    started = time.perf_counter()
    assert len(staff_import.team_names("a、" * 200_000, teams)) == 200_000
    assert time.perf_counter() - started < 5.0  # 0.19 s; 1.7 s when every team was tried at every name (a loaded CI machine runs it too)
    db = open_database(f"sqlite:///{tmp_path / 'wuye.db'}")
    with db.session() as session:
        session.add(Team(name="客服组", kinds=["repair"]))
        session.flush()
        with pytest.raises(ImportRowsInvalid) as refused:
            run(session, "用户名,姓名,角色,技能组\nmany01,甲,客服,\"" + "、".join(f"x{n}" for n in range(5000)) + "\"\n")
        message = refused.value.result.errors[0]["message"]
        assert message.startswith("没有技能组「x0、x1、") and "x9 等 5000 个」" in message and len(message) < 120


def test_an_excel_true_or_date_where_a_name_belongs_is_refused_and_a_number_is_a_username(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["用户名", "姓名", "角色"])
    sheet.append([True, "真假", "客服"])
    sheet.append(["riqi01", dt.datetime(2026, 1, 1), "客服"])
    sheet.append([1001, "工号员工", "客服"])
    data = io.BytesIO()
    book.save(data)
    header, rows = read_table(data.getvalue(), "员工.xlsx")
    db = open_database(f"sqlite:///{tmp_path / 'wuye.db'}")
    with db.session() as session:
        with pytest.raises(ImportRowsInvalid) as refused:
            staff_import.import_staff(session, header, rows, communities=COMMUNITIES, now=NOW)
        assert [(e["row"], e["column"]) for e in refused.value.result.errors] == [(2, "用户名"), (3, "姓名")]
        assert all("Excel 的日期或 TRUE/FALSE" in e["message"] for e in refused.value.result.errors)
        result = staff_import.import_staff(session, header, rows[2:], communities=COMMUNITIES, now=NOW)
        assert result.passwords[0]["username"] == "1001"


def test_a_title_row_above_the_header_and_a_field_given_twice_are_named(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["2026年12月员工名单"])
    sheet.append(["用户名", "姓名", "角色"])
    sheet.append(["title01", "标题", "客服"])
    data = io.BytesIO()
    book.save(data)
    with pytest.raises(ImportFileUnreadable) as refused:
        read_table(data.getvalue(), "员工.xlsx")
    assert "像是标题" in refused.value.message and "2026年12月员工名单" in refused.value.message
    db = open_database(f"sqlite:///{tmp_path / 'wuye.db'}")
    with db.session() as session:
        with pytest.raises(ImportRowsInvalid) as twice:
            run(session, "用户名,姓名,账号,角色\ndup01,重复,dup02,客服\n")
        assert twice.value.result.errors == [{"row": 1, "column": "账号",
                                              "message": "与第 1 列「用户名」是同一项，只能保留一列"}]
