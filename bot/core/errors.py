"""Typed errors: one exception per HTTP outcome, each with a code for programs and a Chinese message for people.

The app maps every ``WuyeError`` to its status once (``bot.main``): ``{"detail": <中文>, "code": <code>}``.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Optional

# NUL and other control characters (tab, newline and carriage return are allowed), lone surrogates
INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class WuyeError(Exception):
    status: int = 400
    code: str = "bad_request"
    message: str = "请求无效"

    def __init__(self, message: Optional[str] = None, **values: Any) -> None:
        self.message = (message or self.message).format(**values)
        super().__init__(self.message)

    def body(self) -> Dict[str, Any]:
        """The JSON the app answers with (``bot.main``)."""
        return {"detail": self.message, "code": self.code}


class EmptyMessage(WuyeError):
    status, code, message = 422, "empty_message", "消息不能为空"


class MessageTooLong(WuyeError):
    status, code, message = 413, "message_too_long", "消息太长了，请控制在 {max_chars} 个字以内"


class InvalidCharacters(WuyeError):
    status, code, message = 422, "invalid_characters", "消息里有无法识别的字符（控制字符或损坏的文字），请删掉后重新发送"


class InvalidSender(WuyeError):
    status, code, message = 422, "invalid_sender", "sender_id 必须是 1–128 个可见字符"


class NotFound(WuyeError):
    status, code, message = 404, "not_found", "找不到要找的内容"


class ConversationNotFound(NotFound):
    code, message = "conversation_not_found", "找不到这个会话"


class HandoffNotFound(NotFound):
    code, message = "handoff_not_found", "找不到这个转人工记录"


class FaqNotFound(NotFound):
    code, message = "faq_not_found", "找不到这个 FAQ 条目"


class ResidentMessageNotFound(NotFound):
    code, message = "message_not_found", "找不到这条业主消息"


class UploadNotFound(NotFound):
    code, message = "upload_not_found", "找不到这张图片"


class FaqIdTaken(WuyeError):
    status, code, message = 409, "faq_id_taken", "条目 ID {id} 已被使用（包括已停用的条目），请换一个"


class FaqRejected(WuyeError):
    """An admin's FAQ edit that `wuye faq check` would refuse; nothing was saved. ``problems``: file:line: what."""

    status, code, message = 422, "faq_invalid", "未保存：知识库有 {count} 处问题"

    def __init__(self, problems: Iterable[Any]) -> None:
        self.problems = [str(p) for p in problems]
        super().__init__(count=len(self.problems))

    def body(self) -> Dict[str, Any]:
        return {**super().body(), "problems": self.problems}


class NotSignedIn(WuyeError):
    status, code, message = 401, "not_signed_in", "请先登录"


class WrongCredentials(WuyeError):
    status, code, message = 401, "wrong_credentials", "用户名或密码错误"


class HandoffError(WuyeError):
    """An agent's action on a handoff that the handoff's state does not allow."""

    status, code, message = 409, "handoff_conflict", "该会话当前状态不允许这个操作"


class AlreadyClaimed(HandoffError):
    status, code, message = 409, "already_claimed", "该会话已被其他客服认领，或已不在排队中"


class NotOwner(HandoffError):
    status, code, message = 403, "not_owner", "这个会话不由您处理，不能回复、解决或退回"


class NoTriageQuestion(HandoffError):
    status, code, message = 409, "no_triage_question", "这个会话没有待确认的紧急情况（业主已回复，或已超时通知值班）"


class NoWidgetSession(WuyeError):
    status, code, message = 401, "no_widget_session", "会话已失效，请刷新页面"


class PhotoTooLarge(WuyeError):
    status, code, message = 413, "photo_too_large", "图片太大了，请上传 {max_mb} MB 以内的图片"


class UnsupportedImage(WuyeError):
    status, code, message = 415, "unsupported_image", "只能上传 JPEG、PNG、WebP 或 GIF 格式的图片"


class UnknownChannel(WuyeError):
    status, code, message = 422, "unknown_channel", "不支持这个渠道，channel 只能是 web、rest 或 cli"


class BadSignature(WuyeError):
    """A WeChat push whose signature (or safe-mode encryption) does not check out."""

    status, code, message = 403, "bad_signature", "签名校验失败"


class MalformedXml(WuyeError):
    status, code, message = 400, "malformed_xml", "消息不是有效的 XML"


class SafeModeNotConfigured(WuyeError):
    status, code, message = 400, "safe_mode_not_configured", "未配置微信安全模式（EncodingAESKey），无法解密消息"


INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff \t\r\n"


def check_text(text: Any, max_chars: int, allow_empty: bool = False) -> str:
    """The message text, stripped; raises the matching error for empty, too long or corrupt text."""
    if not isinstance(text, str):
        raise InvalidCharacters("消息必须是文字")
    if INVALID_CHARS.search(text):
        raise InvalidCharacters()
    text = text.strip()
    if not text.strip(INVISIBLE) and not allow_empty:  # zero-width spaces only: as blank as spaces
        raise EmptyMessage()
    if len(text) > max_chars:
        raise MessageTooLong(max_chars=max_chars)
    return text


def check_field(value: Any, max_chars: int, name: str) -> str:
    """``check_text`` for a named form field (an FAQ's title, answer, questions): blank, too long or corrupt text is
    refused naming the field, 答案不能为空 and 问法太长了, not 消息… (the codes stay those of a message)."""
    label = FIELD_LABELS.get(name.lstrip("_"), name.lstrip("_"))  # pydantic names a list's items "_questions"
    try:
        return check_text(value, max_chars)
    except EmptyMessage:
        raise EmptyMessage(f"{label}不能为空") from None
    except MessageTooLong:
        raise MessageTooLong(f"{label}太长了，请控制在 {{max_chars}} 个字以内", max_chars=max_chars) from None
    except InvalidCharacters:
        raise InvalidCharacters(f"{label}里有无法识别的字符（控制字符或损坏的文字），请删掉后重新保存") from None


def check_identifier(value: Any, max_len: int = 128) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len or INVALID_CHARS.search(value):
        raise InvalidSender()
    return value


class TooManyRequests(WuyeError):
    """A rate limit was reached (bot/access/limits.py); nothing of the refused request is stored."""

    status, code, message = 429, "too_many_requests", "您发送得太频繁了，请稍等 {seconds} 秒再试。"


class LoginLocked(TooManyRequests):
    code, message = "login_locked", "登录失败次数过多，账号已暂时锁定，请 {minutes} 分钟后再试"


class TooManyIdentities(TooManyRequests):
    code, message = "too_many_sessions", "来自您网络的新会话太多了，请 {seconds} 秒后再试。"


class ApiKeyRequired(WuyeError):
    """`/api/chat` without ``Authorization: Bearer <key>``."""

    status, code, message = 401, "api_key_required", "缺少 API 密钥：请在请求头中提供 Authorization: Bearer <密钥>"


class InvalidApiKey(WuyeError):
    status, code, message = 401, "invalid_api_key", "API 密钥无效或已被吊销"


class ApiKeyNotFound(NotFound):
    code, message = "api_key_not_found", "找不到这个 API 密钥"


class InvalidName(WuyeError):
    status, code, message = 422, "invalid_name", "名称必须是 1–64 个可见字符"


class UnknownCommunity(WuyeError):
    status, code, message = 422, "unknown_community", "没有这个小区：community 必须是已有的小区 ID"


class ImageTooLarge(WuyeError):
    """An image whose pixel count is over the limit (refused from its header, before it is decoded)."""

    status, code, message = 413, "image_too_large", "图片尺寸太大了，请上传 {max_mp} 百万像素以内的图片"


class InvalidPhoto(WuyeError):
    """A photo reference that is not exactly ``/uploads/<generated name>`` of an existing upload."""

    status, code, message = 422, "invalid_photo", "图片无效，请重新上传后再发送"


class TooManyUploads(TooManyRequests):
    code, message = "too_many_uploads", "图片上传得太多了，请 {seconds} 秒后再试。"


class InvalidFrame(WuyeError):
    """A widget WebSocket frame that is not one of the frames the widget sends (answered with an error frame)."""

    status, code, message = 422, "invalid_frame", "消息格式不正确"


class PlainMessageRefused(WuyeError):
    """A plain-text WeChat push while safe mode (EncodingAESKey) is configured: only encrypted pushes are taken."""

    status, code, message = 403, "plain_message_refused", "已启用安全模式，不接受明文消息"


class StaleTimestamp(WuyeError):
    """A WeChat push whose timestamp is more than five minutes away from the server's clock (or not a number)."""

    status, code, message = 403, "stale_timestamp", "请求的时间戳无效或已过期"


class ReplayedNonce(WuyeError):
    """A WeChat push whose (timestamp, nonce) was already used: a replay, refused even after a restart."""

    status, code, message = 403, "replayed_nonce", "重复的请求（nonce 已使用过）"


class FaqEditConflict(WuyeError):
    """An FAQ save based on an older version of the file than the one on disk; nothing was saved."""

    status, code, message = 409, "faq_edit_conflict", "已被他人修改，请刷新后再编辑"

    def __init__(self, current_version: Optional[str] = None) -> None:
        self.current_version = current_version
        super().__init__()

    def body(self) -> Dict[str, Any]:
        return {**super().body(), "version": self.current_version}


class DatabaseUnavailable(WuyeError):
    """The database connection was lost or refused outside a resident's turn (a turn is retried on a fresh connection
    first: bot/conversation/engine.py). Nothing of the request was committed; trying again is safe."""

    status, code, message = 503, "database_unavailable", "服务暂时繁忙（数据库连接中断），请稍后重试"


# --- a request that does not match its model (pydantic), in Chinese ------------------------------------------
# The API's field names are English; an admin or resident reads "答案不能为空", never "body.answer". Every field of
# every route has its label here (tests/integration/test_bad_input.py walks the app's routes).
FIELD_LABELS: Dict[str, str] = {
    "body": "请求内容",
    # the knowledge base (/api/admin/faq)
    "title": "标题", "questions": "问法", "answer": "答案", "file": "文件", "version": "版本", "id": "条目 ID",
    "faq_id": "FAQ 条目", "values": "小区资料",  # a 小区's values (/api/admin/communities)
    "rows": "工单时限", "response": "响应时限", "completion": "完成时限",  # a 小区's SLA (…/communities/{id}/sla)
    # messages, sign-in, integrations
    "text": "内容", "photos": "图片", "client_id": "消息编号", "sender_id": "用户 ID", "channel": "渠道",
    "community": "小区", "community_id": "小区", "c": "小区链接", "username": "用户名", "password": "密码",
    "token": "设置令牌",  # the web first-run's one-time token
    "name": "名称", "private": "内部备注", "type": "消息类型", "danger": "是否正在发生危险",
    # quick replies, ratings, notices, incidents
    "shortcut": "快捷键", "comment": "评价意见", "score": "评分", "kind": "类型", "starts_at": "开始时间",
    "ends_at": "结束时间", "buildings": "楼栋", "resolution": "处理结果", "all": "显示全部",
    # work orders
    "technician_id": "维修师傅", "note": "备注", "status": "状态", "building": "楼栋", "category": "类别",
    "urgency": "紧急程度", "mine": "只看我的", "overdue": "只看超时", "limit": "条数",
    # staff accounts and sessions, the agent's own state, incidents
    "identity_id": "聊天身份编号", "reason": "申请说明",  # a resident's data request
    "household_id": "住户编号", "action": "操作", "page": "页码", "per_page": "每页条数",  # the audit log
    "staff_id": "员工编号", "display_name": "显示名称", "role": "角色", "disabled": "停用",
    "old_password": "原密码", "new_password": "新密码", "handle": "登录会话", "state": "状态",
    "into": "合并到的事件", "conversation_ids": "会话编号", "scopes": "权限范围",
    # teams, polls, suggestions
    "team_id": "班组编号", "member_ids": "成员", "communities": "小区", "kinds": "类型", "poll_id": "投票编号",
    "question": "问题", "options": "选项", "opens_at": "开始时间", "closes_at": "截止时间", "per": "投票单位",
    "show_results": "公开结果", "suggestion_id": "建议编号", "reply": "回复内容",
    # row ids in paths
    "conversation_id": "会话编号", "handoff_id": "转人工记录编号", "message_id": "消息编号", "key_id": "密钥编号",
    "order_id": "工单编号", "notice_id": "通知编号", "reply_id": "快捷回复编号", "incident_id": "事件编号",
    # searches and ranges
    "q": "搜索词", "start": "开始日期", "end": "结束日期", "days": "天数",
    # GET /api/agent/queue?queue=false: the console's own part only
    "queue": "是否包含排队列表",
}
LOCATIONS = ("body", "path", "query", "header", "cookie")


def field_label(loc: Iterable[Any]) -> str:
    """("body", "questions", 2) → 问法（第 3 个）; a name without a label is quoted as it is."""
    parts = list(loc)
    if parts and parts[0] in LOCATIONS and len(parts) > 1:
        parts = parts[1:]
    names = [p for p in parts if isinstance(p, str)]
    name = names[-1] if names else "body"
    label = FIELD_LABELS.get(name, f"“{name}”")
    index = parts[-1] if parts and isinstance(parts[-1], int) else None
    return label if index is None else f"{label}（第 {index + 1} 个）"


def _limit(error: Dict[str, Any]) -> Any:
    return (error.get("ctx") or {}).get("limit_value")


def field_problem(error: Dict[str, Any]) -> str:
    """One pydantic error in Chinese, naming its field: 缺少答案, 答案不能为空, 标题最多 100 个字 …"""
    kind, label, limit = str(error.get("type", "")), field_label(error.get("loc", ())), _limit(error)
    if kind == "value_error.missing":
        return f"缺少{label}"
    if kind == "value_error.jsondecode":
        return "请求内容不是有效的 JSON"
    if kind == "value_error.extra":
        return f"不认识的字段 {label}"
    if kind in ("type_error.none.not_allowed",) or (kind.endswith("min_length") and limit == 1):
        return f"{label}不能为空"
    if kind.endswith("any_str.min_length"):
        return f"{label}至少要 {limit} 个字"
    if kind.endswith("any_str.max_length"):
        return f"{label}最多 {limit} 个字"
    if kind == "value_error.list.min_items":
        return f"{label}至少要有 {limit} 个"
    if kind == "value_error.list.max_items":
        return f"{label}最多 {limit} 个"
    if kind.startswith("value_error.number.not_"):
        word = {"ge": "不能小于", "gt": "应大于", "le": "不能大于", "lt": "应小于"}.get(kind.rsplit("_", 1)[-1], "超出")
        return f"{label}{word} {limit}"
    if kind == "type_error.enum":
        values = [getattr(v, "value", v) for v in (error.get("ctx") or {}).get("enum_values", [])]
        return f"{label}只能是：" + "、".join(str(v) for v in values)
    if kind == "value_error.str.regex":
        return f"{label}的格式不对"
    types = {"type_error.str": "应是文字", "type_error.integer": "应是整数", "type_error.bool": "应是 true 或 false",
             "value_error.strictbool": "应是 true 或 false",
             "type_error.list": "应是列表", "type_error.dict": "应是 JSON 对象", "type_error.float": "应是数字",
             "type_error.number": "应是数字"}
    if kind in types:
        return label + types[kind]
    return f"{label}的取值不对"


def invalid_request(errors: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """The 422 body of a request that does not match its model: ``detail`` the first few problems in Chinese,
    ``code`` invalid_request, ``errors`` each field's path (as the API spells it), its label and problem."""
    listed = [{"field": ".".join(str(p) for p in e.get("loc", ())), "label": field_label(e.get("loc", ())),
               "problem": field_problem(e), "type": str(e.get("type", ""))} for e in errors]
    detail = "；".join(dict.fromkeys(e["problem"] for e in listed[:3])) or "请求格式不正确"
    return {"detail": detail, "code": "invalid_request", "errors": listed}
