"""Staff accounts (bot/access/accounts.py) on SQLite and PostgreSQL: the password policy, case-insensitive
usernames, reset and disable ending every session, the last admin kept, and scoping by 小区."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bot.access import accounts
from bot.access.auth import open_staff_session, staff_of_session
from bot.access.passwords import verify_password
from bot.access.permissions import community_scope, sees_order
from bot.storage.db import open_database
from bot.storage.models import Staff, WorkOrder

NOW = dt.datetime(2026, 12, 6, 10, 0)
GOOD = "Good-password-1"


@pytest.mark.parametrize("username,password,words", [
    ("zhang", "short", "至少需要 10 个字符"), ("zhang", "12345678901", "不能全是数字"),
    ("zhangsan01", "ZhangSan01", "不能与用户名相同"), ("zhang", "bad\x00password", "无法识别"),
])
def test_the_password_policy_says_why_in_chinese(username, password, words):
    with pytest.raises(accounts.WeakPassword) as refused:
        accounts.check_password(username, password)
    assert words in refused.value.message and refused.value.status == 422 and refused.value.code == "weak_password"
    assert accounts.check_password("zhang", "长一点的中文密码也可以用") == "长一点的中文密码也可以用"


def test_accounts_on_the_database(database_url):
    db = open_database(database_url)
    name = "u" + uuid.uuid4().hex[:8]  # the PostgreSQL database is shared by the test session
    with db.session() as session:
        admin = accounts.create_staff(session, username=name + "a", display_name="管理员", password=GOOD, role="admin",
                                      community_id=None, known_communities=[], must_change_password=False)
        agent = accounts.create_staff(session, username=name, display_name="客服", password=GOOD, role="agent",
                                      community_id="binjiang", known_communities=["jinxiu", "binjiang"],
                                      must_change_password=True)
        with pytest.raises(accounts.UsernameTaken):  # usernames differ by more than case
            accounts.create_staff(session, username=name.upper(), display_name="x", password=GOOD, role="agent",
                                  community_id=None, known_communities=[], must_change_password=True)
        first, second = (open_staff_session(session, agent.id, NOW).id for _ in range(2))
        session.flush()
        accounts.change_own_password(session, agent, GOOD, "Another-pass-2", NOW, current_session=first)
        assert not agent.must_change_password and verify_password("Another-pass-2", agent.password_hash)
        assert staff_of_session(session, first, NOW) is not None and staff_of_session(session, second, NOW) is None
        accounts.reset_password(session, agent, "Temporary-3x", NOW)
        assert agent.must_change_password and staff_of_session(session, first, NOW) is None
        third = open_staff_session(session, agent.id, NOW).id
        session.flush()
        accounts.set_disabled(session, agent, True, NOW)
        assert staff_of_session(session, third, NOW) is None and accounts.live_sessions(session, agent.id, NOW) == []
        # scoping: the 滨江 agent sees 滨江's orders only; the admin sees all
        assert community_scope(agent) == "binjiang" and community_scope(admin) is None
        jinxiu, binjiang = WorkOrder(community_id="jinxiu"), WorkOrder(community_id="binjiang")
        assert not sees_order(agent, jinxiu) and sees_order(agent, binjiang) and sees_order(admin, jinxiu)
        session.rollback()
    with db.session() as session:
        assert session.query(Staff).filter(Staff.username.in_([name, name + "a"])).count() == 0  # nothing half stored
    db.engine.dispose()


@pytest.mark.parametrize("name", ["\u200b", "张\u202e三", "李\u200d四"])
def test_a_display_name_with_invisible_format_characters_is_refused(name):
    """A zero-width space alone, or a right-to-left override, would show as nothing or as another name on every
    staff page: refused by the 员工 tab, `wuye staff add` and the staff import alike."""
    with pytest.raises(accounts.InvalidDisplayName):
        accounts.check_display_name(name)
    assert accounts.check_display_name(" 王芳 ") == "王芳"
