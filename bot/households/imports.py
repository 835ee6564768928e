"""Bring your own data: households, bills and parking from a property ERP's export (CSV in UTF-8, UTF-8 with BOM or
GBK as Chinese Excel saves it, or .xlsx), with Chinese or English headers.

An import is all-or-nothing and idempotent: every row is checked first (each problem named by its row as Excel numbers
it, header = row 1, and its column as the file spells it), and only a file without problems is written, in one
transaction, as upserts by natural key (小区+楼栋+单元+房号; + 账期+收费项目 for bills; 小区+车牌 for cards and 小区+车位号
for spaces). Writes are bulk statements (existing keys loaded once, executemany in batches), never one ORM object per
row: 10,000 households and 120,000 bills import in seconds (docs/figures/2026-12-06-imports.md).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from psycopg2.extras import execute_values
from sqlalchemy import bindparam, insert, select, text as sql_text, update
from sqlalchemy.orm import Session

from bot.core.errors import INVALID_CHARS, WuyeError
from bot.core.tables import MAX_IMPORT_BYTES, ImportResult, ImportRowsInvalid, blank, map_header, read_table, text_of
from bot.storage.models import (Bill, ChatIdentity, Community, Household, ParkingCard, ParkingSpace,
                                VerificationCode)

KINDS = ("households", "bills", "parking")
KIND_LABELS = {"households": "住户", "bills": "账单", "parking": "车位月卡"}
IMPORT_LOCK_KEY = 2026_0026_04  # the advisory lock imports take on PostgreSQL (any constant no one else uses)
BATCH = 2000  # rows per executemany: PostgreSQL's parameter limit and SQLite's memory stay far away

ROOM_COLUMNS = {
    "community": ("小区", "小区名称", "community"),
    "building": ("楼栋", "楼号", "栋", "楼栋号", "building"),
    "unit": ("单元", "单元号", "unit"),
    "room": ("房号", "房间号", "门牌号", "room"),
}
COLUMNS: Dict[str, Dict[str, Tuple[str, ...]]] = {
    "households": {**ROOM_COLUMNS, "owner": ("业主姓名", "业主", "姓名", "owner"),
                   "phone": ("手机号", "手机", "手机号码", "联系电话", "phone"), "area": ("建筑面积", "面积", "area")},
    "bills": {**ROOM_COLUMNS, "period": ("账期", "所属期", "计费月份", "period"), "item": ("收费项目", "费用项目", "item"),
              "amount_due": ("应收", "应收金额", "amount_due"),
              "amount_paid": ("实收", "实收金额", "已缴", "已缴金额", "amount_paid"),
              "paid_at": ("缴费日期", "缴费时间", "paid_at")},
    "parking": {**ROOM_COLUMNS, "space": ("车位号", "车位", "space"), "plate": ("车牌", "车牌号", "plate"),
                "expires": ("月卡到期", "到期日", "到期日期", "到期时间", "有效期至", "expires"), "card_kind": ("卡类型", "月卡类型", "kind")},
}
REQUIRED = {"households": ("building", "unit", "room", "owner", "phone"),
            "bills": ("building", "unit", "room", "period", "amount_due"),
            "parking": ("building", "unit", "room", "plate", "expires")}


class ImportKindUnknown(WuyeError):
    status, code, message = 404, "import_kind_unknown", \
        "不支持导入这类数据，只能是 households（住户）、bills（账单）、parking（车位月卡）或 staff（员工账号，仅管理员）"


class ImportCommunityUnknown(WuyeError):
    status, code, message = 422, "import_community_unknown", "没有小区「{community}」（已有：{known}）"


class ImportCommunityRetired(WuyeError):
    status, code, message = 422, "import_community_retired", \
        "小区「{community}」已停用，不能再导入数据（如需导入，请先在“小区”页恢复它）"


def map_columns(kind: str, header: List[str], result: ImportResult, default_community: Optional[str]) -> Dict[str, int]:
    """field → column index; a missing required column is a problem of row 1."""
    found = map_header(header, COLUMNS[kind], result)
    required = REQUIRED[kind] + (() if default_community else ("community",))
    if "room" in found and "building" not in found and "unit" not in found:
        # many ERPs export the room as one code (1-2-301, 1栋2单元301室): 房号 alone then names the whole room
        required = tuple(name for name in required if name not in ("building", "unit"))
    for name in required:
        if name not in found:
            result.problem(1, COLUMNS[kind][name][0], f"缺少这一列（也可写作：{'、'.join(COLUMNS[kind][name][1:])}）")
    if kind == "bills" and "amount_paid" not in found:
        result.problem(1, "实收", "缺少这一列（实收金额，或 已缴：是/否）")
    return found


# --- one cell -------------------------------------------------------------------------------------------------

class Bad(ValueError):
    """A cell's problem, in Chinese."""



def number_part(value: Any, suffixes: str) -> int:
    text = text_of(value)
    match = re.fullmatch(r"0*(\d{1,5})\s*(?:" + suffixes + r")?", text)
    if not match:
        raise Bad("应是数字" + (f"（如 3 或 3{suffixes.split('|')[0]}）" if suffixes else ""))
    return int(match.group(1))


WHOLE_ROOM = re.compile(r"0*(\d{1,5})\s*(?:栋|幢|号楼|座|-|—|/)\s*0*(\d{1,5})\s*(?:单元|-|—|/)\s*0*(\d{1,5})\s*(?:室|号)?")


def whole_room(value: Any) -> Tuple[int, int, int]:
    match = WHOLE_ROOM.fullmatch(text_of(value))
    if not match:
        raise Bad("应是 楼栋-单元-房号（如 1-2-301 或 1栋2单元301室），或分成 楼栋、单元、房号 三列")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def phone_of(value: Any) -> str:
    text = re.sub(r"[\s\-]", "", text_of(value))
    text = re.sub(r"^(\+?86)(?=1\d{10}$)", "", text)
    if not re.fullmatch(r"1[3-9]\d{9}", text):
        raise Bad("应是 11 位手机号")
    return text


def name_of(value: Any, max_len: int) -> str:
    text = text_of(value)
    if not text:
        raise Bad("不能为空")
    if len(text) > max_len or INVALID_CHARS.search(text) or re.search("[\t\r\n]", text):  # lone surrogates: JSON rows
        raise Bad(f"应是 1–{max_len} 个字（不含控制字符或损坏的文字）")
    return text


def money_of(value: Any) -> Decimal:
    text = re.sub(r"[¥￥,，元\s]", "", text_of(value) if not isinstance(value, float) else repr(value))
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Bad("应是金额（如 268.50）") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("100000000"):
        raise Bad("应是 0 到 1 亿之间的金额")
    rounded = amount.quantize(Decimal("0.01"))
    if abs(rounded - amount) > Decimal("0.000001"):  # 0.1+0.2 from a float cell is fine, 1.005 元 is not
        raise Bad("金额最多两位小数")
    return rounded


def period_of(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return f"{value.year:04d}-{value.month:02d}"
    text = text_of(value)
    match = re.fullmatch(r"(\d{4})\s*(?:[-/.年])?\s*(\d{1,2})\s*(?:月)?(?:[-/.]\d{1,2}日?)?", text)
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2100:
        raise Bad("应是账期年月（如 2026-10）")
    return f"{int(match.group(1)):04d}-{int(match.group(2)):02d}"


def date_of(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = text_of(value)
    match = re.fullmatch(r"(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*[-/.月]?\s*(\d{1,2})\s*日?(?:\s+[\d:]+)?", text)
    try:
        if not match:
            raise ValueError
        day = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise Bad("应是日期（如 2026-12-31）") from None
    if not 2000 <= day.year <= 2100:
        raise Bad("应是日期（如 2026-12-31）")
    return day


PAID_WORDS = {"是": True, "已缴": True, "已缴费": True, "已付": True, "已交": True, "y": True, "yes": True, "true": True,
              "否": False, "未缴": False, "未缴费": False, "未付": False, "未交": False, "n": False, "no": False,
              "false": False, "": False}


def plate_of(value: Any) -> str:
    text = re.sub(r"[\s·•.\-]", "", text_of(value)).upper()
    if not re.fullmatch(r"[\u4e00-\u9fff][A-Z][A-Z0-9]{5,6}", text):
        raise Bad("应是车牌号（如 粤A12345）")
    return text


CARD_KINDS = {"": "monthly", "月卡": "monthly", "monthly": "monthly", "年卡": "yearly", "yearly": "yearly"}


# --- the import -----------------------------------------------------------------------------------------------

RoomKey = Tuple[str, int, int, int]


class _Collector:
    """Stands in for the result while a room is read once: keeps the problems to repeat them per row."""

    def __init__(self) -> None:
        self.problems: List[Tuple[str, str]] = []

    def problem(self, row: int, column: str, message: str) -> None:
        self.problems.append((column, message))


class _Rows:
    """The checked rows of a file: each field read by its parser, a problem recorded per bad cell."""

    def __init__(self, kind: str, header: List[str], columns: Dict[str, int], result: ImportResult,
                 communities: Dict[str, str], default_community: Optional[str], retired: Iterable[str] = ()) -> None:
        self.kind, self.header, self.columns, self.result = kind, header, columns, result
        self.communities, self.default_community, self.retired = communities, default_community, set(retired)
        self.memo: Dict[str, Dict[Any, Any]] = {}
        self.room_memo: Dict[Any, Tuple[Optional[RoomKey], List[Tuple[str, str]]]] = {}

    def cell(self, number: int, values: List[Any], name: str, parse: Callable[[Any], Any], ok: List[bool],
             optional: bool = False) -> Any:
        index = self.columns.get(name)
        value = values[index] if index is not None and index < len(values) else None
        # a bills file repeats its 小区, buildings, periods and amounts on every row: each distinct cell of a column
        # is read once (the parsers are pure), which is most of the time of a 120,000-row import
        memo = self.memo.setdefault(name, {})
        key = value if type(value) is str else (type(value), value)  # True is not 1 here
        try:
            outcome = memo[key]
        except KeyError:
            outcome = memo[key] = self._read(value, parse, optional)
        except TypeError:  # pragma: no cover - cells are str, numbers or dates: hashable
            outcome = self._read(value, parse, optional)
        if isinstance(outcome, Bad):
            ok[0] = False
            self.result.problem(number, self.header[index] if index is not None else COLUMNS[self.kind][name][0],
                                str(outcome))
            return None
        return outcome

    @staticmethod
    def _read(value: Any, parse: Callable[[Any], Any], optional: bool) -> Any:
        if blank(value):
            return None if optional else Bad("不能为空")
        try:
            return parse(value)
        except Bad as exc:
            return exc

    def room(self, number: int, values: List[Any], ok: List[bool]) -> Optional[RoomKey]:
        """The row's (小区, 楼栋, 单元, 房号). A bills file names each room once a month: the four cells are read once
        per distinct room and their problems, if any, repeated for every row that has them."""
        raw = tuple(values[i] if i is not None and i < len(values) else None
                    for i in (self.columns.get(name) for name in ("community", "building", "unit", "room")))
        memo_key = tuple(v if type(v) is str else (type(v), v) for v in raw)
        hit = self.room_memo.get(memo_key)
        if hit is None:
            found, collected = _Collector(), [True]
            kept, self.result = self.result, found  # type: ignore[assignment]
            try:
                hit = self.room_memo[memo_key] = (self._room(0, values, collected), found.problems)
            finally:
                self.result = kept
        key, problems = hit
        for column, message in problems:
            ok[0] = False
            self.result.problem(number, column, message)
        return key

    def _room(self, number: int, values: List[Any], ok: List[bool]) -> Optional[RoomKey]:
        if "community" in self.columns and not blank(values[self.columns["community"]]
                                                       if self.columns["community"] < len(values) else None):
            community = self.cell(number, values, "community", self._community, ok)
        else:
            community = self.default_community
            if community is None:
                self.cell(number, values, "community", self._community, ok)
        if "building" not in self.columns and "unit" not in self.columns:
            whole = self.cell(number, values, "room", whole_room, ok)
            building, unit, room = whole if whole is not None else (None, None, None)
        else:
            building = self.cell(number, values, "building", lambda v: number_part(v, "栋|幢|号楼|座"), ok)
            unit = self.cell(number, values, "unit", lambda v: number_part(v, "单元"), ok)
            room = self.cell(number, values, "room", lambda v: number_part(v, "室|号"), ok)
        if None in (community, building, unit, room):
            return None
        return community, building, unit, room

    def _community(self, value: Any) -> str:
        text = text_of(value)
        if text not in self.communities:
            names = sorted(name for name, cid in self.communities.items() if name != cid) or \
                sorted(set(self.communities.values()))
            raise Bad(f"没有这个小区（已有：{'、'.join(names)}）"
                      if self.communities else "系统里还没有小区，请先配置 data/communities.yml")
        if self.communities[text] in self.retired:
            raise Bad("这个小区已停用，不能再导入（如需导入，请先在“小区”页恢复它）")
        return self.communities[text]


def run_import(session: Session, kind: str, data: bytes, filename: str = "", *, dry_run: bool = False,
               default_community: Optional[str] = None, now: Optional[dt.datetime] = None,
               max_bytes: Optional[int] = MAX_IMPORT_BYTES, retired: Iterable[str] = ()) -> ImportResult:
    """Check the whole file, then (unless ``dry_run`` or a problem was found) upsert it in ``session``'s transaction.
    Raises ImportRowsInvalid when a row or column is wrong: then nothing was written."""
    header, rows = read_table(data, filename, max_bytes)
    return import_rows(session, kind, header, rows, dry_run=dry_run, default_community=default_community, now=now,
                       retired=retired)


def import_rows(session: Session, kind: str, header: List[str], rows: List[Tuple[int, List[Any]]], *,
                dry_run: bool = False, default_community: Optional[str] = None,
                now: Optional[dt.datetime] = None, retired: Iterable[str] = ()) -> ImportResult:
    """``retired``: the ids of the 小区 retired in data/communities.yml (the communities table does not know it). A
    retired 小区 takes no imported data: a file that names one imports nothing, like any other bad cell."""
    if kind not in KINDS:
        raise ImportKindUnknown()
    now = now or dt.datetime.now()
    header = [INVALID_CHARS.sub("\ufffd", str(title)) for title in header]  # problems name columns: keep them printable
    result = ImportResult(kind=kind, dry_run=dry_run, rows=len(rows), label=KIND_LABELS[kind])
    communities: Dict[str, str] = {}
    for cid, name in session.execute(select(Community.id, Community.name)):
        communities[name] = cid
        communities[cid] = cid
    if default_community is not None and default_community not in communities:
        names = "、".join(sorted(f"{name}（{cid}）" for name, cid in communities.items() if name != cid)) or "无"
        raise ImportCommunityUnknown(community=default_community, known=names)
    default_community = communities.get(default_community) if default_community else None
    retired = frozenset(retired)
    if default_community in retired:
        names = {cid: name for name, cid in communities.items() if name != cid}
        raise ImportCommunityRetired(community=names.get(default_community, default_community))
    columns = map_columns(kind, header, result, default_community)
    if result.errors_total:
        raise ImportRowsInvalid(result)
    if not dry_run:
        _one_import_at_a_time(session)
    reader = _Rows(kind, header, columns, result, communities, default_community, retired)
    {"households": _households, "bills": _bills, "parking": _parking}[kind](session, reader, rows, result, dry_run, now)
    if result.errors_total:
        session.rollback()  # nothing is written before the checks, but say it: a bad file leaves no trace
        result.created = result.updated = result.unchanged = result.unbound = 0  # what was stored: nothing
        raise ImportRowsInvalid(result)
    return result


def _one_import_at_a_time(session: Session) -> None:
    """Imports compare the file with the keys they load, then insert what is missing: two at once (the CLI and an
    ERP's call, two server instances) would both insert the same new bill. So an import holds the database's write
    lock from before it reads until it commits: on PostgreSQL a transaction-scoped advisory lock, on SQLite the
    write lock itself (a write statement, even one that changes no row, takes it). Resident turns are not blocked
    on PostgreSQL; on SQLite they wait for the commit, as for any writer."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})
    else:
        session.execute(sql_text("UPDATE communities SET name = name WHERE 1 = 0"))


def _chunks(items: List[Any], size: int = BATCH) -> Iterable[List[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _copy_text(value: Any) -> Any:
    if value is None:
        return ""  # an unquoted empty field is NULL in COPY's csv format (no column here takes an empty string)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return value.isoformat() if isinstance(value, dt.date) else value


def _bulk_insert(session: Session, model: Any, rows: List[Dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys). On PostgreSQL through ``COPY … FROM STDIN``: 120,000 bills as
    batched multi-row INSERTs cost about 12 s of a loaded server, most of it turning each value into SQL text and
    parsing it again; elsewhere an executemany per batch (SQLite's is as fast as it gets)."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        for chunk in _chunks(rows):
            connection.execute(insert(model), chunk)
        return
    names = list(rows[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_copy_text(row[name]) for name in names])
    buffer.seek(0)
    cursor = connection.connection.cursor()
    try:
        cursor.copy_expert(f"COPY {model.__table__.name} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv)", buffer)
    finally:
        cursor.close()


def _bulk_update(session: Session, model: Any, rows: List[Dict[str, Any]], names: Sequence[str]) -> None:
    """``UPDATE model SET names… WHERE id = _id`` for every row. psycopg2 runs an executemany as one round trip per
    row (12,000 changed bills: 13 s), so on PostgreSQL the rows go in as one ``UPDATE … FROM (VALUES …)`` per batch."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        statement = update(model).where(model.id == bindparam("_id")).values(
            **{name: bindparam(name) for name in names})
        for chunk in _chunks(rows):
            connection.execute(statement, chunk)
        return
    table = model.__table__
    casts = ", ".join(f"%s::{table.c[name].type.compile(dialect=connection.dialect)}" for name in ("id", *names))
    sql = (f"UPDATE {table.name} AS t SET " + ", ".join(f"{name} = v.{name}" for name in names) +
           f" FROM (VALUES %s) AS v(id, {', '.join(names)}) WHERE t.id = v.id")
    cursor = connection.connection.cursor()
    try:
        for chunk in _chunks(rows):
            execute_values(cursor, sql, [(row["_id"], *(row[name] for name in names)) for row in chunk],
                           template=f"({casts})", page_size=len(chunk))
    finally:
        cursor.close()


def _household_ids(session: Session) -> Dict[RoomKey, int]:
    return {(c, b, u, r): hid for hid, c, b, u, r in session.execute(
        select(Household.id, Household.community_id, Household.building, Household.unit, Household.room))}


def _households(session: Session, reader: _Rows, rows, result: ImportResult, dry_run: bool, now) -> None:
    seen: Dict[RoomKey, int] = {}
    parsed: List[Tuple[RoomKey, str, str, Optional[float]]] = []
    for number, values in rows:
        ok = [True]
        key = reader.room(number, values, ok)
        owner = reader.cell(number, values, "owner", lambda v: name_of(v, 32), ok)
        phone = reader.cell(number, values, "phone", phone_of, ok)
        area = reader.cell(number, values, "area", _area, ok, optional=True)
        if key is not None and key in seen:
            result.problem(number, reader.header[reader.columns["room"]], f"与第 {seen[key]} 行是同一户")
            continue
        if key is not None:
            seen[key] = number
        if ok[0] and key is not None:
            parsed.append((key, owner, phone, area))
    existing = {(c, b, u, r): (hid, owner, phone, area) for hid, c, b, u, r, owner, phone, area in session.execute(
        select(Household.id, Household.community_id, Household.building, Household.unit, Household.room,
               Household.owner_name, Household.phone, Household.area))}
    new, changed, phone_changed = [], [], []
    for (community, building, unit, room), owner, phone, area in parsed:
        current = existing.get((community, building, unit, room))
        if current is None:
            new.append({"community_id": community, "building": building, "unit": unit, "room": room,
                        "owner_name": owner, "phone": phone, "area": area if area is not None else 0.0})
            continue
        hid, old_owner, old_phone, old_area = current
        area = old_area if area is None else area
        if (owner, phone, area) == (old_owner, old_phone, old_area):
            result.unchanged += 1
            continue
        changed.append({"_id": hid, "owner_name": owner, "phone": phone, "area": area})
        if phone != old_phone:
            phone_changed.append(hid)
    result.created, result.updated = len(new), len(changed)
    if phone_changed:  # the people bound with the old number are no longer known to be this household's
        for chunk in _chunks(phone_changed, 500):
            result.unbound += len(session.execute(select(ChatIdentity.id).where(
                ChatIdentity.household_id.in_(chunk))).all())
    if dry_run or result.errors_total:
        return
    _bulk_insert(session, Household, new)
    _bulk_update(session, Household, changed, ("owner_name", "phone", "area"))
    for chunk in _chunks(phone_changed, 500):
        session.execute(update(ChatIdentity).where(ChatIdentity.household_id.in_(chunk))
                        .values(household_id=None, verified_at=None).execution_options(synchronize_session=False))
        session.execute(update(VerificationCode).where(VerificationCode.household_id.in_(chunk),
                                                       VerificationCode.used.is_(False))
                        .values(used=True).execution_options(synchronize_session=False))


def _area(value: Any) -> float:
    try:
        area = float(text_of(value).replace("㎡", "").replace("平方米", "").replace("平米", ""))
    except ValueError:
        raise Bad("应是面积数字（如 89.5）") from None
    if not 0 < area < 100000:
        raise Bad("应是面积数字（如 89.5）")
    return round(area, 2)


def _unknown_room(reader: _Rows, number: int) -> None:
    reader.result.problem(number, reader.header[reader.columns["room"]], "系统里没有这一户，请先导入住户")


def _bills(session: Session, reader: _Rows, rows, result: ImportResult, dry_run: bool, now) -> None:
    households = _household_ids(session)
    seen: Dict[Tuple[int, str, str], int] = {}
    parsed = []
    for number, values in rows:
        ok = [True]
        key = reader.room(number, values, ok)
        period = reader.cell(number, values, "period", period_of, ok)
        item = reader.cell(number, values, "item", lambda v: name_of(v, 16), ok, optional=True) or "物业费"
        due = reader.cell(number, values, "amount_due", money_of, ok)
        paid_value = reader.cell(number, values, "amount_paid", _paid, ok, optional=True)
        paid_at = reader.cell(number, values, "paid_at", date_of, ok, optional=True)
        hid = households.get(key) if key is not None else None
        if key is not None and hid is None:
            _unknown_room(reader, number)
            continue
        if not ok[0]:
            continue
        if (hid, period, item) in seen:
            result.problem(number, reader.header[reader.columns["period"]],
                           f"与第 {seen[(hid, period, item)]} 行是同一户同一账期的{item}")
            continue
        seen[(hid, period, item)] = number
        paid = paid_value if isinstance(paid_value, bool) else (paid_value is not None and paid_value >= due)
        parsed.append((hid, period, item, int(due * 100), paid, paid_at))
    existing = {(hid, period, item): (bid, cents, paid, paid_at) for bid, hid, period, item, cents, paid, paid_at
                in session.execute(select(Bill.id, Bill.household_id, Bill.period, Bill.item, Bill.amount_cents,
                                          Bill.paid, Bill.paid_at))}
    new, changed = [], []
    for hid, period, item, cents, paid, paid_on in parsed:
        current = existing.get((hid, period, item))
        if current is None:
            paid_at = (dt.datetime.combine(paid_on, dt.time(12)) if paid_on else now) if paid else None
            new.append({"household_id": hid, "period": period, "item": item, "amount_cents": cents, "paid": paid,
                        "paid_at": paid_at})
            continue
        bid, old_cents, old_paid, old_paid_at = current
        # a payment keeps the time first recorded unless the file says the date; unpaid has no payment time
        paid_at = None
        if paid:
            paid_at = dt.datetime.combine(paid_on, dt.time(12)) if paid_on else (old_paid_at or now)
        if (cents, paid, paid_at) == (old_cents, old_paid, old_paid_at):
            result.unchanged += 1
            continue
        changed.append({"_id": bid, "amount_cents": cents, "paid": paid, "paid_at": paid_at})
    result.created, result.updated = len(new), len(changed)
    if dry_run or result.errors_total:
        return
    _bulk_insert(session, Bill, new)
    _bulk_update(session, Bill, changed, ("amount_cents", "paid", "paid_at"))


def _paid(value: Any) -> Any:
    word = text_of(value).lower()
    if word in PAID_WORDS:
        return PAID_WORDS[word]
    try:
        return money_of(value)
    except Bad:
        raise Bad("应是实收金额，或 是/否") from None


def _parking(session: Session, reader: _Rows, rows, result: ImportResult, dry_run: bool, now) -> None:
    households = _household_ids(session)
    community_of = {hid: key[0] for key, hid in households.items()}
    seen_plates: Dict[Tuple[str, str], int] = {}
    seen_spaces: Dict[Tuple[str, str], Tuple[int, int]] = {}
    parsed = []
    for number, values in rows:
        ok = [True]
        key = reader.room(number, values, ok)
        space = reader.cell(number, values, "space", lambda v: name_of(v, 16), ok, optional=True)
        plate = reader.cell(number, values, "plate", plate_of, ok)
        expires = reader.cell(number, values, "expires", date_of, ok)
        card_kind = reader.cell(number, values, "card_kind", _card_kind, ok, optional=True) or "monthly"
        hid = households.get(key) if key is not None else None
        if key is not None and hid is None:
            _unknown_room(reader, number)
            continue
        if not ok[0]:
            continue
        community = key[0]
        if (community, plate) in seen_plates:
            result.problem(number, reader.header[reader.columns["plate"]],
                           f"与第 {seen_plates[(community, plate)]} 行是同一辆车")
            continue
        seen_plates[(community, plate)] = number
        if space is not None:
            earlier = seen_spaces.get((community, space))
            if earlier is not None and earlier[1] != hid:
                result.problem(number, reader.header[reader.columns["space"]],
                               f"车位在第 {earlier[0]} 行已分给另一户")
                continue
            seen_spaces[(community, space)] = (number, hid)
        parsed.append((community, hid, space, plate, expires, card_kind))
    spaces = {(c, code): (sid, hid) for sid, c, code, hid in session.execute(
        select(ParkingSpace.id, ParkingSpace.community_id, ParkingSpace.code, ParkingSpace.household_id))}
    cards = {}
    for cid, hid, plate, kind, expires_on, space_id in session.execute(
            select(ParkingCard.id, ParkingCard.household_id, ParkingCard.plate, ParkingCard.kind,
                   ParkingCard.expires_on, ParkingCard.space_id)):
        cards[(community_of.get(hid), plate)] = (cid, hid, kind, expires_on, space_id)
    new_spaces, moved_spaces = {}, {}
    for community, hid, space, *_ in parsed:
        if space is None:
            continue
        current = spaces.get((community, space))
        if current is None:
            new_spaces[(community, space)] = {"community_id": community, "code": space, "household_id": hid}
        elif current[1] != hid:
            moved_spaces[current[0]] = {"_id": current[0], "household_id": hid}
    if not dry_run:
        _bulk_insert(session, ParkingSpace, list(new_spaces.values()))
        _bulk_update(session, ParkingSpace, list(moved_spaces.values()), ("household_id",))
        if new_spaces:
            spaces = {(c, code): (sid, hid) for sid, c, code, hid in session.execute(
                select(ParkingSpace.id, ParkingSpace.community_id, ParkingSpace.code, ParkingSpace.household_id))}
    new, changed = [], []
    for community, hid, space, plate, expires, card_kind in parsed:
        space_id = spaces[(community, space)][0] if space is not None and (community, space) in spaces else None
        current = cards.get((community, plate))
        space_changed = space is not None and ((community, space) in new_spaces or
                                               (spaces.get((community, space)) or (None,))[0] in moved_spaces)
        if current is None:
            new.append({"household_id": hid, "plate": plate, "kind": card_kind, "expires_on": expires,
                        "space_id": space_id})
            continue
        cid, old_hid, old_kind, old_expires, old_space = current
        if space is None:
            space_id = old_space  # a file without 车位号 leaves the card's space as it was
        if (hid, card_kind, expires, space_id) == (old_hid, old_kind, old_expires, old_space) and not space_changed:
            result.unchanged += 1
            continue
        changed.append({"_id": cid, "household_id": hid, "kind": card_kind, "expires_on": expires,
                        "space_id": space_id})
    result.created, result.updated = len(new), len(changed)
    if dry_run:
        return
    _bulk_insert(session, ParkingCard, new)
    _bulk_update(session, ParkingCard, changed, ("household_id", "kind", "expires_on", "space_id"))


def _card_kind(value: Any) -> str:
    kind = CARD_KINDS.get(text_of(value).lower())
    if kind is None:
        raise Bad("应是 月卡 或 年卡")
    return kind
