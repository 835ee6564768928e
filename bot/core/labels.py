"""Chinese labels for what staff read. Codes stay in the database and the API; these words are for people.

Every routing reason the router (bot/routing/router.py), the emotion cues (bot/nlu/emotion.py), the engine and the flows
(actions/) write has a label here: :func:`reason_label` turns "emergency keyword: 电梯困人" into "紧急情况：电梯困人".
An unknown reason reads "其他原因" (never English); tests/test_agent_tools.py walks every reason string produced.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

from bot.core.localtime import Wish

STATUS_LABELS: Dict[str, str] = {
    # conversation status (bot.core.domain.ConversationStatus)
    "bot": "机器人接待", "pending": "排队中", "open": "处理中", "resolved": "已解决",
    # handoff status (bot.core.domain.HandoffStatus)
    "queued": "排队中", "callback": "待回电", "claimed": "处理中",
}
PRIORITY_LABELS: Dict[str, str] = {"urgent": "紧急", "high": "高", "normal": "普通"}
EMOTION_LABELS: Dict[str, str] = {"neutral": "平静", "anxious": "焦急", "angry": "生气"}
CHANNEL_LABELS: Dict[str, str] = {"web": "网页", "wechat": "微信", "rest": "接口", "cli": "命令行"}
INTENT_LABELS: Dict[str, str] = {
    "faq": "常见问题", "fee_lookup": "查询物业费", "repair_request": "报修", "repair_status": "查询报修进度",
    "parking": "停车服务", "complaint": "投诉", "emergency": "紧急情况", "human_agent": "要求转人工",
    "greet": "问候", "goodbye": "告别", "thanks": "感谢", "affirm": "肯定", "deny": "否定",
    "out_of_scope": "超出服务范围", "callback": "登记回电", "uncovered": "知识库未覆盖",
    "suggestion": "建议",
}
ENTITY_LABELS: Dict[str, str] = {"room": "房号", "plate": "车牌", "phone": "电话", "work_order": "工单号",
                                 "amount": "金额", "time": "时间"}
CUE_LABELS: Dict[str, str] = {
    "threat: 12345": "扬言打 12345 投诉", "threat: media": "扬言找媒体曝光", "threat: legal": "扬言起诉",
    "repeated chasing": "多次催促", "insult": "辱骂", "exclamation run": "连续感叹/问号", "anger words": "气愤的话",
    "urgency words": "着急的话", "danger words": "危险情况",
}
ACTION_LABELS: Dict[str, str] = {
    "answer": "回答常见问题", "start_flow": "开始办理", "handoff": "转人工", "emergency": "紧急情况",
    "clarify": "请业主说明", "smalltalk": "寒暄", "out_of_scope": "超出服务范围", "flow": "办理中",
    "neighbour": "邻里纠纷", "raise_priority": "提高优先级", "still_queued": "仍在排队",
    "detail": "回答追问的细节", "uncovered": "知识库未覆盖的问题",
    "suggestion": "记录建议", "poll": "提供投票", "vote": "投票",
    "urgent_check": "疑似紧急，先确认", "urgent_check_no": "业主表示不紧急", "urgent_check_reask": "再次确认是否紧急",
    "urgent_again": "紧急情况补充（已通知值班）", "withdraw_handoff": "业主取消转人工",
    "only_place": "只说了地点，请业主说明",
}
# exact reasons (after the score in parentheses is dropped)
EXACT_REASONS: Dict[str, str] = {
    **CUE_LABELS,
    "angry tone": "情绪激动",
    "compensation or legal dispute": "涉及赔偿或纠纷",
    "uncovered topic": "知识库未覆盖的问题",
    "resident asked for a person": "业主要求转人工",
    "resident asked for a person (button)": "业主点了“转人工客服”",
    "asked again while waiting": "排队中再次要求转人工",
    "added while waiting": "排队中补充",
    "asked how long while waiting": "排队中询问还要等多久",
    "resident withdrew the request for a person": "业主取消了转人工",
    "resident withdrew": "业主已取消",
    "fee dispute": "已缴费仍显示欠费（收费核实）",
    "parking space taken": "车位被占",
    "dog off the lead or its mess": "遛狗不牵绳或狗粪",
    "stale button": "点了已失效的按钮",
    "unknown button": "未知的按钮",
    "resident rejected the answer": "业主表示回答没有帮助",
    "resident rejected the bot's answers": "业主多次表示回答没有帮助",
    "two failed understandings in a row": "连续两次没能理解",
    "nonsense": "看不懂的内容",
    "only a place": "只说了地点",
    "asked whether a person answers": "询问是否真人回复",
    "vague": "表述不清",
    "probably out of scope": "可能超出服务范围",
    "low confidence": "识别把握不足",
    "neighbour dispute": "邻里纠纷",
    "complaint": "投诉",
    "possible emergency, low confidence": "疑似紧急情况（把握不足）",
    "out of scope": "超出服务范围",
    "intent emergency": "可能的紧急情况",
    "urgency": "紧急情况",
    "repeated chasing of a work order": "多次催促工单",
    "angry chase of a work order": "生气地催促工单",
    "an agent owns the conversation": "人工客服处理中",
    "rating": "满意度评价",
    "rating (button)": "满意度评价",
    # the triage question of a borderline emergency (bot/handoffs/urgent_check.py): whether the on-duty phone knows
    "asked first: is it happening now": "疑似紧急：已问业主是否正在发生（未通知值班，无回复 2 分钟后通知）",
    "resident confirmed danger now": "业主确认危险正在发生（已通知值班）",
    "resident confirmed danger now (button)": "业主确认危险正在发生（已通知值班）",
    "resident said no danger now": "业主表示不是紧急情况（未通知值班）",
    "resident said no danger now (button)": "业主表示不是紧急情况（未通知值班）",
    "triage question unanswered, paged": "业主未回复紧急确认，已通知值班",
    "agent confirmed danger now, paged": "客服确认危险正在发生（已通知值班）",
    "agent found no danger now": "客服确认不是紧急情况（未通知值班）",
    "not an answer to the urgent check": "未回答紧急确认，再次询问",
    "another button during the urgent check": "紧急确认期间点了其他按钮，再次询问",
    "asked about a poll": "询问投票", "poll (button)": "查看投票", "vote": "投票", "vote (button)": "投票",
    **{intent: label for intent, label in INTENT_LABELS.items()},
}
# "prefix: value" reasons: the label, then the value as written (Chinese text, a room, a number)
PREFIX_REASONS: Dict[str, str] = {"emergency keyword": "紧急情况", "emergency": "紧急情况", "room": "房号"}
# notices and incidents (bot/routing/router.py rules 10a–10c): "notice: 停水", "incident: 停水", "outage report: 停电"
PREFIX_REASONS.update({"notice": "按通知答复", "incident": "同一故障已登记（合并处理）", "outage report": "故障报告"})
PREFIX_REASONS.update({"work order overdue": "工单超时未派单", "overdue work order chased": "业主催促超时工单",
                       "work order not completed in time": "工单超时未完成"})  # bot/work_orders/desk.py
FLOW_SUFFIXES = {"answer": "回答了办理中的问题"}


def _strip_score(reason: str) -> str:
    return re.sub(r"\s*\([^()]*\)$", "", reason.strip())


def reason_label(reason: Any) -> str:
    """One routing reason (a code string) in Chinese words for staff."""
    if not isinstance(reason, str) or not reason.strip():
        return "其他原因"
    return _reason_text_label(reason.strip())


# remembered: the agents' queue labels every waiting item's reasons on each of its rebuilds (up to four a second per
# worker), and most reasons recur; the label depends on the text alone
@functools.lru_cache(maxsize=4096)
def _reason_text_label(text: str) -> str:
    bare = _strip_score(text)
    if text in EXACT_REASONS:
        return EXACT_REASONS[text]
    if bare in EXACT_REASONS:
        return EXACT_REASONS[bare]
    m = re.fullmatch(r"asked again after waiting (\d+) minutes", text)
    if m:
        return f"等待 {m.group(1)} 分钟后再次要求转人工"
    m = re.fullmatch(r"faq/(\S+)( \(button\)| again| \(follow-up\)| \(read with the last question\))?", text)
    if m:
        return {" (button)": "点选常见问题", " again": "重复问同一个问题", " (follow-up)": "追问上一个回答的细节",
                " (read with the last question)": "结合上一个问题理解的追问"}.get(m.group(2) or "", "回答常见问题")
    m = re.fullmatch(r"button (\w+)=(.*)", text)
    if m:
        value = m.group(2)
        return f"点选按钮：{value}" if not re.search(r"[A-Za-z]", value) else "点选了按钮"
    m = re.fullmatch(r"cancel (\w+)( \(button\))?", text)
    if m and m.group(1) in INTENT_LABELS:
        return f"取消{INTENT_LABELS[m.group(1)]}" + ("（点选按钮）" if m.group(2) else "")
    m = re.fullmatch(r"(\w+): (answer|not an answer to (\w+))", text)
    if m and m.group(1) in INTENT_LABELS:
        flow = INTENT_LABELS[m.group(1)]
        return f"{flow}：回答了问题" if m.group(2) == "answer" else f"{flow}：没有回答所问的问题"
    prefix, sep, value = text.partition(":")
    if sep and prefix.strip() in PREFIX_REASONS:
        return f"{PREFIX_REASONS[prefix.strip()]}：{value.strip()}"
    if sep and value.strip() in ACTION_LABELS:  # several requests in one message: "<the words>: <action>"
        return f"{prefix.strip()}：{ACTION_LABELS[value.strip()]}"
    return "其他原因"


def reason_labels(reasons: Optional[Iterable[Any]]) -> List[str]:
    return [reason_label(r) for r in reasons or []]


# What the resident is told when their waiting request is raised ("已将您的求助升级为紧急处理（原因：…）",
# bot/handoffs/handoff.py): the staff label where it reads well to the person it is about, these words where it does
# not — a cue read in their own words (辱骂, 扬言投诉) is never quoted back at them, nor the model's doubt (把握不足).
RESIDENT_REASONS: Dict[str, str] = {
    **{cue: "您的情况比较着急" for cue in CUE_LABELS}, "angry tone": "您的情况比较着急",
    "danger words": "可能存在安全隐患", "possible emergency, low confidence": "可能的紧急情况",
    "angry chase of a work order": "您催促的工单迟迟没有处理", "repeated chasing of a work order": "您多次催促工单",
}
RESIDENT_PREFIXES: Tuple[Tuple[str, str], ...] = (("overdue work order chased", "工单 {} 已超过承诺的时间"),
                                                  ("emergency keyword", "紧急情况：{}"), ("emergency", "紧急情况：{}"))
# the staff labels that read well to the resident as they are (业主要求转人工, 识别把握不足 … do not)
RESIDENT_EXACT = ("compensation or legal dispute", "intent emergency", "emergency", "neighbour dispute", "complaint")
RESIDENT_PREFIX_LABELS = ("outage report", "work order overdue", "work order not completed in time")
RESIDENT_REASON_CHARS = 24  # "emergency: <the whole message>" is cut: the reason, not a copy of what they wrote


def resident_reason_label(reason: Any) -> Optional[str]:
    """One routing reason in words for the resident it is about; None when there are none worth saying (the
    sentence then leaves the reason out rather than say "您的情况"). Only reasons that name the resident's situation
    are said: the words above, the staff labels that read well to them, or the emergency of several requests."""
    if not isinstance(reason, str) or not reason.strip():
        return None
    text = _strip_score(reason.strip())
    if text in RESIDENT_REASONS:
        return RESIDENT_REASONS[text]
    m = re.fullmatch(r"asked again after waiting (\d+) minutes", text)
    if m:
        return f"等待时间较长，已等 {m.group(1)} 分钟"
    prefix, sep, value = (part.strip() for part in text.partition(":"))

    def cut(words: str) -> str:
        return words if len(words) <= RESIDENT_REASON_CHARS else words[:RESIDENT_REASON_CHARS - 1] + "…"

    if sep and value:
        for name, words in RESIDENT_PREFIXES:
            if prefix == name:
                return words.format(cut(value))
        if prefix in RESIDENT_PREFIX_LABELS:  # the rest (房号, 按通知答复 …) say nothing about why
            return f"{PREFIX_REASONS[prefix]}：{cut(value)}"
        if value == "emergency":  # several requests in one message: "<the words>: emergency"
            return f"紧急情况：{cut(prefix)}"
        return None
    return EXACT_REASONS[text] if text in RESIDENT_EXACT else None


def status_label(status: Optional[str]) -> str:
    return STATUS_LABELS.get(status or "", "未知状态")


def priority_label(priority: Optional[str]) -> str:
    return PRIORITY_LABELS.get(priority or "", "无")


def emotion_label(label: Optional[str]) -> str:
    return EMOTION_LABELS.get(label or "", "未知")


def channel_label(channel: Optional[str]) -> str:
    return CHANNEL_LABELS.get(channel or "", "其他渠道")


def intent_label(intent: Optional[str]) -> str:
    return INTENT_LABELS.get(intent or "", "未识别")


def entity_label(entity: Optional[str]) -> str:
    return ENTITY_LABELS.get(entity or "", "其他信息")


def emotion_json(emotion: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The reading's emotion with its Chinese label (the score stays a 0–1 number, shown as a bar)."""
    if not emotion:
        return None
    return {**emotion, "label_zh": emotion_label(emotion.get("label")),
            "cues_labels": [CUE_LABELS.get(c, "其他迹象") for c in emotion.get("cues", [])]}


def context_labels(context: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The context card's codes in words: the emotion, each reading's intent, the entities, the channel."""
    context = context or {}
    readings = []
    for r in context.get("readings") or []:
        intent = r.get("intent") or {}
        readings.append({"text": r.get("text", ""), "intent_label": intent_label(intent.get("name")),
                         "confidence": intent.get("confidence")})
    # the words each entity was read from (its span in its reading's text): what makes 明天上午 a morning
    words = {_entity_key(e): r.get("text", "")[e["start"]:e["end"]] for r in context.get("readings") or []
             for e in r.get("entities") or [] if isinstance(e.get("start"), int) and isinstance(e.get("end"), int)}
    return {
        "reasons": reason_labels(context.get("reasons")),
        "channel": channel_label(context.get("channel")) if context.get("channel") else None,
        "emotion": emotion_json(context.get("emotion")),
        "readings": readings,
        "entities": [{"label": entity_label(e.get("entity")), "value": entity_value(e, words.get(_entity_key(e), ""))}
                     for e in context.get("entities") or []],
    }


def _entity_key(entity: Dict[str, Any]) -> Tuple[Any, ...]:
    return entity.get("entity"), entity.get("value"), entity.get("start"), entity.get("end")


def entity_value(entity: Dict[str, Any], words: str = "") -> Any:
    """An entity's value as staff read it: a time in words on the 小区's clock ("12月7日 上午 9:00–12:00", read with the
    resident's own words so a morning stays a morning), never the NLU's ISO value; others as they are."""
    if entity.get("entity") == "time" and isinstance(entity.get("value"), str):
        wish = Wish.from_entity(entity["value"], words)
        if wish is not None:
            return wish.text()
    if entity.get("entity") == "room" and isinstance(entity.get("value"), str):
        return room_text(entity["value"], words)
    return entity.get("value")


def room_text(value: str, words: str = "") -> str:
    """A room entity as staff read it: "5-2" is 5栋2单元, "3-2-1102" 3栋2单元1102; a building ("7" from 7栋) or a
    bare number ("1102") as the resident wrote it — the card said 房号 7 for 7栋."""
    parts = value.split("-")
    if len(parts) == 3:
        return f"{parts[0]}栋{parts[1]}单元{parts[2]}"
    if len(parts) == 2:
        return f"{parts[0]}栋{parts[1]}单元"
    return words or value
