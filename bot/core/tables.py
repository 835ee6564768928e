"""Reading an uploaded spreadsheet, for every import (households, bills, parking in bot/households/imports.py; staff
accounts in bot/access/staff_import.py): CSV in UTF-8, UTF-8 with BOM or GBK as Chinese Excel saves it, or .xlsx;
header in row 1; and the result every import answers with, problems named by row (as Excel numbers it) and column."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from bot.core.errors import WuyeError

MAX_IMPORT_BYTES = 32 * 1024 * 1024  # 120,000 bill rows are about 7 MB as CSV
MAX_ERRORS = 1000  # a wholly wrong file would otherwise answer with a million lines; errors_total counts them all


class ImportFileUnreadable(WuyeError):
    status, code, message = 422, "import_file_unreadable", "文件无法读取：{why}"


class ImportFileTooLarge(WuyeError):
    status, code, message = 413, "import_file_too_large", "文件太大了，请控制在 32 MB 以内（可以分几次导入）"


class ImportRowsInvalid(WuyeError):
    """The file has problems: nothing was stored. The body carries the whole result (every row and column)."""

    status, code, message = 422, "import_rows_invalid", "未导入：文件有 {count} 处问题，请改正后重新上传"

    def __init__(self, result: "ImportResult") -> None:
        self.result = result
        super().__init__(count=result.errors_total)

    def body(self) -> Dict[str, Any]:
        return {**super().body(), **self.result.as_json()}


@dataclass
class ImportResult:
    kind: str
    dry_run: bool
    label: str = ""  # what was imported, in the summary (住户, 账单…)
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unbound: int = 0  # resident bindings dropped because the household's phone changed
    errors: List[Dict[str, Any]] = field(default_factory=list)
    errors_total: int = 0

    def problem(self, row: int, column: str, message: str) -> None:
        self.errors_total += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"row": row, "column": column, "message": message})

    def as_json(self) -> Dict[str, Any]:
        return {"kind": self.kind, "dry_run": self.dry_run, "rows": self.rows, "created": self.created,
                "updated": self.updated, "unchanged": self.unchanged, "unbound": self.unbound,
                "errors": self.errors, "errors_total": self.errors_total}

    def summary(self) -> str:
        what = "试导入（未保存）" if self.dry_run else "已导入"
        text = (f"{self.label}{what}：共 {self.rows} 行，新增 {self.created}，更新 {self.updated}，"
                f"未变 {self.unchanged}")
        return text + (f"；{self.unbound} 位住户因手机号变更需重新绑定" if self.unbound else "")


# --- reading a file -----------------------------------------------------------------------------------------

def read_table(data: bytes, filename: str = "", max_bytes: Optional[int] = MAX_IMPORT_BYTES
               ) -> Tuple[List[str], List[Tuple[int, List[Any]]]]:
    """The header (row 1) and the data rows with their row numbers as Excel shows them; blank rows are skipped.
    ``max_bytes`` bounds what a web request may make the server hold; the CLI reads files of any size."""
    if not data:
        raise ImportFileUnreadable(why="文件是空的")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImportFileTooLarge()
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        rows = _xlsx_rows(data)
    else:
        rows = _csv_rows(data)
    header: Optional[List[str]] = None
    body: List[Tuple[int, List[Any]]] = []
    for number, values in rows:
        if all(blank(v) for v in values):
            continue
        if header is None:
            if number != 1:  # the promise is "header = row 1": rows would otherwise be named wrong
                raise ImportFileUnreadable(why="第 1 行应是表头（各列的名称）")
            header = [str(v).strip() if v is not None else "" for v in values]
            continue
        body.append((number, list(values)))
    if header is None:
        raise ImportFileUnreadable(why="文件里没有表头和数据")
    titles = [t for t in header if t]
    if len(titles) == 1 and any(sum(not blank(v) for v in values) > 1 for _, values in body[:20]):
        # every import has several columns: one filled cell above a table is a sheet's title, not its header
        raise ImportFileUnreadable(why=f"第 1 行应是表头（各列的名称），这一行只有「{titles[0][:20]}」，像是标题：请删去标题行再上传")
    return header, body


def map_header(header: List[str], columns: Dict[str, Tuple[str, ...]], result: "ImportResult") -> Dict[str, int]:
    """field → the index of its column (any of its aliases, ``header_key``); a field given two columns is a problem of
    row 1 (which of the two was meant cannot be told)."""
    aliases = {header_key(alias): name for name, names in columns.items() for alias in names}
    found: Dict[str, int] = {}
    for index, title in enumerate(header):
        name = aliases.get(header_key(title))
        if name is None:
            continue
        if name in found:
            result.problem(1, title, f"与第 {found[name] + 1} 列「{header[found[name]]}」是同一项，只能保留一列")
        else:
            found[name] = index
    return found


def _csv_rows(data: bytes) -> Iterator[Tuple[int, Sequence[Any]]]:
    # Chinese Excel saves "CSV" in GBK; UTF-8 is tried first because GBK would also "decode" most UTF-8 bytes wrongly
    if b"\x00" in data[:4096]:
        raise ImportFileUnreadable(why="不是 CSV 或 .xlsx 文件")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly every byte string; kept for clarity
        raise ImportFileUnreadable(why="编码无法识别，请另存为 UTF-8 或 GBK 编码的 CSV")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, row in enumerate(reader, start=1):
            yield number, row
    except csv.Error as exc:
        raise ImportFileUnreadable(why=f"CSV 格式错误（{exc}）") from None


def _xlsx_rows(data: bytes) -> Iterator[Tuple[int, Sequence[Any]]]:
    import openpyxl  # noqa: PLC0415 - openpyxl is only needed for .xlsx files; CSV imports never pay for it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise ImportFileUnreadable(why="不是有效的 .xlsx 文件（请用 Excel 另存为 .xlsx 或 CSV）") from exc
    try:
        sheet = book.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, row
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise ImportFileUnreadable(why="不是有效的 .xlsx 文件（请用 Excel 另存为 .xlsx 或 CSV）") from exc
    finally:
        book.close()


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def header_key(text: str) -> str:
    # "应收（元）", " Amount_Due ", "手机号*": the name without units, marks or case
    text = re.sub(r"[（(【\[].*?[）)】\]]", "", text or "").strip().strip("*＊").strip()
    return text.lower().replace(" ", "_")


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel keeps 13800138000 and 101 as numbers
    return str(value).strip()
