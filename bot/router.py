"""The routing policy, in one place: NLU reading (+ conversation state) → answer/flow/handoff/clarify/....

Read it top to bottom as a table; the first rule that matches decides.

| # | condition                                                     | decision  | priority |
|---|---------------------------------------------------------------|-----------|----------|
| 1 | emergency keyword rule (before any confidence gating)         | handoff   | urgent   |
| 2 | intent emergency (confident)                                  | handoff   | urgent   |
| 3 | anger / threat / insult / repeated-chasing cues, or angry tone | handoff   | high     |
| 4 | compensation, legal dispute, damage claim                     | handoff   | high     |
| 5 | intent human_agent                                            | handoff   | normal   |
| 6 | two failed understandings in a row (state)                    | handoff   | normal   |
| 7 | confidence below CLARIFY_THRESHOLD (or FAQ below FAQ_THRESHOLD)| clarify   | –        |
| 8 | intent complaint (calm)                                       | handoff   | normal   |
| 9 | intent faq                                                    | answer    | –        |
|10 | fee_lookup / repair_request / repair_status / parking         | flow      | –        |
|11 | greet / goodbye / thanks / affirm / deny                      | smalltalk | –        |
|12 | out_of_scope                                                  | reject    | –        |
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

CLARIFY_THRESHOLD = 0.35
FAQ_THRESHOLD = 0.55  # below it the FAQ match is offered as a button (clarify) instead of answered
EMERGENCY_INTENT_THRESHOLD = 0.40
FLOW_INTENTS = ("fee_lookup", "repair_request", "repair_status", "parking")
SMALLTALK_INTENTS = ("greet", "goodbye", "thanks", "affirm", "deny")

EMERGENCY_RULES: List[Tuple[str, str]] = [
    (r"(困|关|卡)(在)?(电梯|梯)|电梯.{0,6}(困|关)(人|住|着)|电梯.{0,8}(里面|里)有人|(出不|出不)去.{0,4}电梯|电梯.{0,6}出不(来|去)", "电梯困人"),
    (r"着火|起火|失火|火灾|火警|冒.{0,3}烟|黑烟|浓烟|烟雾报警|冒火(花)?|电线.{0,3}烧", "火警/烟雾"),
    (r"燃气泄漏|煤气泄漏|天然气泄漏|漏气|(很|好|特别)?(浓|重|大)的?(煤气|燃气|天然气)味|(煤气|燃气|天然气)味(很|好|特别)?(浓|重|大)", "燃气泄漏"),
    (r"水管.{0,2}(爆|裂)|爆管|跑水|水漫|漫水|淹了|被淹|水.{0,4}(喷|涌)|漏水.{0,4}(严重|很大|止不住)", "严重漏水/水管爆裂"),
    (r"受伤|流血|晕倒|昏倒|昏迷|摔倒.{0,4}(起不来|不能动)|不省人事|咬伤|坠楼|掉下来|跳楼", "有人受伤/晕倒"),
    (r"小偷|进贼|被盗|被偷|偷东西|撬.{0,3}(门|锁|车|窗)|入室|抢劫", "盗窃/入室"),
    (r"^救命|救命[啊!！]|快来人", "求救"),
]
ANGER_REASONS = {"threat: 12345", "threat: media", "threat: legal", "repeated chasing", "insult", "exclamation run",
                 "anger words"}
DISPUTE_RULE = r"赔偿|赔我|索赔|赔钱|损失|负责任|纠纷|打官司|仲裁|砸(坏|了)(我|车)|弄(坏|裂)(了)?我"


def emergency_matches(text: str) -> List[str]:
    return [name for pattern, name in EMERGENCY_RULES if re.search(pattern, text)]


@dataclass
class Route:
    decision: str
    priority: Optional[str] = None
    reasons: List[str] = field(default_factory=list)
    buttons: List[str] = field(default_factory=list)

    def as_api(self) -> Dict[str, Any]:
        return {"decision": self.decision, "priority": self.priority, "reasons": list(self.reasons)}


@dataclass
class ConversationState:
    """What the router needs to know of the conversation so far (empty for a new conversation)."""

    failed_turns: int = 0


def decide(reading: Any, state: Optional[ConversationState] = None) -> Route:
    """Apply the policy table to one NLU reading (an ``NluReading``)."""
    state = state or ConversationState()
    text: str = reading.text
    emergencies = emergency_matches(text)
    if emergencies:
        return Route("handoff", "urgent", [f"emergency keyword: {e}" for e in emergencies])
    if reading.intent == "emergency" and reading.confidence >= EMERGENCY_INTENT_THRESHOLD:
        return Route("handoff", "urgent", [f"intent emergency ({reading.confidence:.2f})"])
    cues = [c for c in reading.emotion.get("cues", []) if c in ANGER_REASONS]
    if cues or reading.emotion.get("label") == "angry":
        reasons = cues or [f"angry tone ({reading.emotion.get('score', 0):.2f})"]
        return Route("handoff", "high", reasons)
    if re.search(DISPUTE_RULE, text):
        return Route("handoff", "high", ["compensation or legal dispute"])
    if reading.intent == "human_agent" and reading.confidence >= CLARIFY_THRESHOLD:
        return Route("handoff", "normal", ["resident asked for a person"])
    if state.failed_turns >= 2:
        return Route("handoff", "normal", ["two failed understandings in a row"])
    low_faq = reading.intent == "faq" and reading.faq_confidence < FAQ_THRESHOLD
    if reading.confidence < CLARIFY_THRESHOLD or low_faq:
        buttons = [f["id"] for f in reading.faq_ranking[:2]]
        return Route("clarify", None, [f"low confidence ({reading.intent} {reading.confidence:.2f})"], buttons)
    if reading.intent == "complaint":
        return Route("handoff", "normal", ["complaint"])
    if reading.intent == "faq":
        return Route("answer", None, [f"faq/{reading.faq_id}"])
    if reading.intent in FLOW_INTENTS:
        return Route("flow", None, [reading.intent])
    if reading.intent in SMALLTALK_INTENTS:
        return Route("smalltalk", None, [reading.intent])
    if reading.intent == "emergency":
        return Route("clarify", None, ["possible emergency, low confidence"])
    return Route("reject", None, ["out of scope"])
