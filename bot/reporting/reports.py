"""What the admin pages report: the questions the bot failed on (grouped by similarity) and the figures."""
from __future__ import annotations

import datetime as dt
import json
import re
import statistics
from collections import Counter, defaultdict
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from sqlalchemy import Text, case, cast, func, select, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by

from bot.core import labels
from bot.core.domain import HandoffStatus
from bot.core.localtime import DEFAULT_TIME_ZONE, to_local
from bot.nlu.normalize import to_simplified
from bot.reporting import daily
from bot.storage.models import Conversation, Handoff, Message, Rating, Staff, Team

# what a failed question's route was, in words (the failures tab's 类型)
FAILURE_LABELS: Dict[str, str] = {
    "clarify": "没听懂，请业主说明", "nonsense": "看不懂的内容", "not_helpful": "业主表示回答没有帮助",
    "repeat": "重复问同一个问题", "two_failed": "连续两次没能理解", "reject": "超出服务范围", "out_of_scope": "超出服务范围",
    "handoff": "转人工",
}


def failure_label(code: Optional[str]) -> str:
    return FAILURE_LABELS.get(code or "") or labels.ACTION_LABELS.get(code or "", "其他原因")


def reason_group_label(key: str) -> str:
    """A handoff reason as grouped in the reports (the part before ":", the score dropped: "emergency keyword") in
    Chinese; a key that is already Chinese (the words of one of several requests) is shown as it is."""
    if not re.search(r"[A-Za-z]", key):
        return key or "其他原因"
    label = labels.reason_label(key)
    return labels.PREFIX_REASONS.get(key.strip(), label) if label == "其他原因" else label


# Failed and uncovered questions are grouped by topic for the admin, across wording: "暖气什么时候来" and
# "今年几号开始供暖" are one group. Character TF-IDF (sublinear, over the list itself) of the question without its
# question words and politeness (GENERIC), in simplified characters; average-linkage clusters of cosine distance
# below GROUP_DISTANCE. Chosen on the development set of uncovered questions (tests/dev/uncovered.yml, 220
# questions on 92 topics), each half of its topics read with the setting the other chose
# (docs/figures/2026-12-07-failure-groups.md): B-cubed F 0.59 → 0.66 / 0.78; the character-pair overlap it replaces
# grouped 220 questions into 218 groups. Of the NLU's normaliser only its traditional → simplified step
# (``to_simplified``): the whole normaliser needs its tables loaded, and the words it maps (cantonese, english) are
# rare in failures.
GENERIC = re.compile(r"请问|想问|问一下|问下|你好|您好|物业|小区|我们|你们|我家|咱们|怎么|怎样|如何|什么|啥|吗|呢|啊|呀|吧|嘛|"
                     r"的|了|一下|可以|能不能|能否|有没有|是不是|会不会|多少|哪里|哪儿|在哪|谁|要|不")
GROUP_DISTANCE = 0.75
# 相似问推荐 (entry_suggestions): every phrasing there is the entry's topic already, so only the same wording is one
# suggestion ("物业费一般怎么交" / "物业费一般怎么交啊"); another wording of the topic is another suggestion
SAME_WORDING = 0.3


def _topic_text(text: str) -> str:
    text = re.sub(r"[\s\W_\d]+", "", to_simplified(text).lower())
    return GENERIC.sub("", text) or text or "空"


def group_similar(texts: List[Dict[str, Any]], distance: float = GROUP_DISTANCE) -> List[Dict[str, Any]]:
    result = []
    for items in clusters(texts, distance):
        suggestions = Counter(i["suggested_faq"] for i in items if i.get("suggested_faq"))
        result.append({"text": items[0]["text"], "count": len(items), "examples": items[:10],
                       "suggested_faq": suggestions.most_common(1)[0][0] if suggestions else None,
                       "reasons": sorted({i["reason"] for i in items})})
    return result


def clusters(texts: List[Dict[str, Any]], distance: float = GROUP_DISTANCE) -> List[List[Dict[str, Any]]]:
    """``texts`` (dicts with "text") grouped by topic, the largest group first; within a group and between groups
    of one size, the order given. Average linkage merges the two closest groups while they are closer than
    ``distance`` (what scikit-learn's AgglomerativeClustering does with that threshold), written here with numpy:
    scikit-learn is not otherwise loaded by a serving process, and importing it cost each worker ~43 MB (the
    300-entry base's worker went from 429 to 470 MB, over the 450 MB of issue 27)."""
    if len(texts) < 2:
        return [list(texts)] if texts else []
    features = _tfidf([_topic_text(t["text"]) for t in texts])
    far = 1.0 - features @ features.T  # cosine distances: rows are unit length
    np.fill_diagonal(far, np.inf)
    members: Dict[int, List[int]] = {i: [i] for i in range(len(texts))}
    while len(members) > 1:
        i, j = divmod(int(np.argmin(far)), far.shape[0])
        if far[i, j] >= distance:
            break
        i, j = min(i, j), max(i, j)
        n_i, n_j = len(members[i]), len(members[j])
        merged = (n_i * far[i] + n_j * far[j]) / (n_i + n_j)  # average linkage (Lance–Williams)
        far[i, :], far[:, i] = merged, merged
        far[i, i] = np.inf
        far[j, :], far[:, j] = np.inf, np.inf
        members[i] += members.pop(j)
    groups = [[texts[k] for k in sorted(m)] for m in sorted(members.values(), key=min)]
    return sorted(groups, key=len, reverse=True)  # stable: ties keep the first one's order


def _tfidf(texts: List[str]) -> Any:
    """Character TF-IDF rows of unit length: sublinear tf (1 + log tf), smoothed idf (log((1 + n) / (1 + df)) + 1)."""
    vocabulary = {c: k for k, c in enumerate(sorted({c for t in texts for c in t}))}
    counts = np.zeros((len(texts), len(vocabulary)))
    for row, text in enumerate(texts):
        for c in text:
            counts[row, vocabulary[c]] += 1
    present = counts > 0
    tf = np.where(present, 1.0 + np.log(np.where(present, counts, 1.0)), 0.0)
    idf = np.log((1.0 + len(texts)) / (1.0 + present.sum(axis=0))) + 1.0
    weights = tf * idf
    return weights / np.linalg.norm(weights, axis=1, keepdims=True)


def failures(session, limit: int = 500, covered: Optional[Callable[[str], bool]] = None) -> Dict[str, Any]:
    """The failed questions grouped by similarity, and the handoffs' reasons. ``covered``: whether a question is now
    one of the knowledge base's own phrasings (added from this list, or written in an entry since); those are left
    out, so a group the admin has just dealt with leaves the list."""
    # rows with what is read, not messages: of each reading only its route and the FAQ it read (issue 29: decoding
    # 5000 whole readings took most of the report's time)
    rows = session.execute(select(Message.id, Message.conversation_id, Message.text,
                                  Message.nlu["route"].label("route"), Message.nlu[("faq", "id")].as_string()
                                  .label("faq_id"), Message.created_at)
                           .where(Message.sender == "resident", Message.nlu.isnot(None))
                           .order_by(Message.id.desc()).limit(5000)).all()
    failed = []
    question_before = _questions_before(rows)
    for m in rows:
        route = m.route if isinstance(m.route, dict) else {}
        decision = route.get("decision")
        # the route stored is the one taken: "failed" marks failed understandings (unclear, nonsense, rejected or
        # repeated answers, the handoff after two of them); routes stored before that flag existed are read as before
        legacy = "failed" not in route and (decision == "clarify" or (decision == "handoff" and any(
            "failed" in r or "rejected" in r for r in route.get("reasons", []))))
        if route.get("failed") or decision == "reject" or legacy:
            subject = m
            if route.get("action") in ("not_helpful", "repeat") or "rejected" in " ".join(route.get("reasons", [])):
                subject = question_before.get(m.id)
                if subject is None:  # its question is older than the rows read: the rejection's own words
                    continue         # (没有解决我的问题) are no question to add to an entry
            if covered is not None and covered(subject.text):
                continue
            failed.append({"message_id": subject.id, "text": subject.text, "reason": route.get("action") or decision,
                           "suggested_faq": subject.faq_id, "at": subject.created_at.isoformat()})
        if len(failed) >= limit:
            break
    reasons: Counter = Counter()
    # each different list of reasons once, with how many handoffs have it, in the order of the first of them (the
    # order ties were in when every handoff was read, context card and all: issue 29)
    as_text = cast(Handoff.reasons, Text)
    for text, n in session.execute(select(as_text, func.count()).group_by(as_text).order_by(func.min(Handoff.id))):
        for r in json.loads(text):
            reasons[re.sub(r"\s*\(.*\)$", "", r.split(":")[0])] += n
    groups = group_similar(failed)
    for group in groups:
        group["reasons_labels"] = [failure_label(r) for r in group["reasons"]]
    return {"groups": groups, "handoff_reasons": dict(reasons.most_common()),
            "handoff_reasons_labels": {k: reason_group_label(k) for k in reasons}}


def _questions_before(rows) -> Dict[int, Any]:
    """Each resident message's previous resident message in its own conversation (``rows``: newest first), what a
    rejection (没有解决我的问题, the same question again) is about. Other residents write in between: the row just
    older in the list is often another conversation's."""
    before: Dict[int, Any] = {}
    last: Dict[int, Any] = {}
    for m in reversed(rows):
        if m.conversation_id in last:
            before[m.id] = last[m.conversation_id]
        last[m.conversation_id] = m
    return before


def figures(session, days: int = 14, today: Optional[dt.date] = None, start: Optional[dt.date] = None,
            end: Optional[dt.date] = None) -> Dict[str, Any]:
    """The admin's 运营数据. Without a range: all-time totals and the last ``days`` days (UTC dates) per day. With
    ``start``/``end`` (小区-local dates, both included, as the CSV exports read them): every figure is about the
    conversations and handoffs created in the range, one entry per day of it. Codes come with ``*_labels`` maps.

    Summarised days (bot/reporting/daily.py) give their conversations and their handoffs' priorities and reasons;
    the other days are counted from the rows; what can still change (handed off or not, waits, teams) is read from
    narrow rows of the handoffs, without their reasons and context cards."""
    if start is not None and end is not None:
        return _labelled(_figures_in_range(session, start, end))
    return _labelled(_figures_all_time(session, days, today or dt.date.today()))


def _labelled(result: Dict[str, Any]) -> Dict[str, Any]:
    result["priority_labels"] = {p: labels.priority_label(p) for p in result["handoffs_by_priority"]}
    result["reason_labels"] = {r: reason_group_label(r) for r in result["handoffs_by_reason"]}
    return result


# what the figures read of each handoff of the days shown: its day's count and wait (issue 29: reading the reasons
# and context cards of every handoff took most of a year's figures; the teams are counted in the database)
_HANDOFF_COLUMNS = [Handoff.created_at, Handoff.claimed_at]
HANDOFF_BEFORE_CONVERSATION = dt.timedelta(days=1)  # the most a handoff's time can precede its conversation's


def _local_day(t: dt.datetime) -> dt.date:
    return to_local(t).date()


def _local_day_sql(column):
    """The 小区-local day of a stored time, in PostgreSQL, the zone's rules as to_local applies them (issue 29: a
    year of handoffs turned into local days in Python took 80 ms)."""
    return func.date(func.timezone(DEFAULT_TIME_ZONE, func.timezone("UTC", column)))


def _figures_in_range(session, first: dt.date, last: dt.date) -> Dict[str, Any]:
    low, high = daily.utc_bounds(first, last)
    summary = daily.summary(session, first, last)
    live = daily.live_ranges(summary.days, low, high)
    per_day = {day.isoformat(): n for day, n in summary.conversations.items()}
    for day, n in _conversations_per_local_day(session, live).items():
        per_day[day] = per_day.get(day, 0) + n
    in_range = (Conversation.created_at >= low, Conversation.created_at < high)
    handed = select(Conversation.id, Conversation.created_at).join(
        Handoff, Handoff.conversation_id == Conversation.id).where(*in_range).distinct()
    handoffs_in_range = (Handoff.created_at >= low, Handoff.created_at < high)
    # the conversations of the range ever handed off, driven by the handoffs (far fewer than the conversations)
    if session.get_bind().dialect.name == "postgresql":
        local_day = _local_day_sql(Conversation.created_at)
        # a handoff comes after its conversation started: the handoffs from a day before the range only (the day
        # covers any clock skew between workers), found through their index, not every handoff of two years
        handed_per_day = Counter({day.isoformat(): n for day, n in session.execute(
            select(local_day, func.count(func.distinct(Conversation.id))).join(
                Handoff, Handoff.conversation_id == Conversation.id).where(
                *in_range, Handoff.created_at >= low - HANDOFF_BEFORE_CONVERSATION).group_by(local_day))})
        handoff_days = _handoff_days_postgresql(session, handoffs_in_range)
    else:
        handed_per_day = Counter(_local_day(created_at).isoformat() for _, created_at in session.execute(handed))
        handoff_days = _handoff_days(session.execute(select(*_HANDOFF_COLUMNS).where(*handoffs_in_range)),
                                     _local_day, first)
    total = sum(per_day.values())
    return _assemble(session, (last - first).days + 1, first, handoff_days, window=(first, last),
                     total=total, bot_only=total - sum(handed_per_day.values()), conversations_per_day=per_day,
                     handed_per_day=handed_per_day, counts=_handoff_counts(session, summary, live),
                     handoff_window=handoffs_in_range)


def _figures_all_time(session, days: int, today: dt.date) -> Dict[str, Any]:
    start = today - dt.timedelta(days=days - 1)
    total = session.scalar(select(func.count()).select_from(Conversation))
    ever_handed = session.scalar(select(func.count(func.distinct(Handoff.conversation_id))))
    since = dt.datetime.combine(start, dt.time())
    # the series' days only (UTC dates): every other figure is counted in the database or summarised
    handoffs = session.execute(select(*_HANDOFF_COLUMNS).where(Handoff.created_at >= since)).all()
    handed = set(session.scalars(select(Handoff.conversation_id).join(
        Conversation, Conversation.id == Handoff.conversation_id).where(Conversation.created_at >= since)))
    per_day: Counter = Counter()
    handed_per_day: Counter = Counter()
    for c in session.execute(select(Conversation.id, Conversation.created_at).where(Conversation.created_at >= since)):
        per_day[c.created_at.date().isoformat()] += 1
        handed_per_day[c.created_at.date().isoformat()] += c.id in handed
    summary = daily.summary(session)
    counts = _handoff_counts(session, summary, daily.live_ranges(summary.days))
    return _assemble(session, days, start, _handoff_days(handoffs, dt.datetime.date, start), window=None, end=today,
                     total=total, bot_only=total - ever_handed, conversations_per_day=per_day,
                     handed_per_day=handed_per_day, counts=counts)


def _conversations_per_local_day(session, ranges) -> Counter:
    """Conversations created in ``ranges`` per 小区-local day (ISO dates)."""
    where = daily.in_ranges(Conversation.created_at, ranges)
    if session.get_bind().dialect.name == "postgresql":
        # counted per 小区-local day in the database; SQLite has no time zones: it reads the rows' times
        local_day = _local_day_sql(Conversation.created_at)
        return Counter({day.isoformat(): n for day, n in session.execute(
            select(local_day, func.count()).where(where).group_by(local_day))})
    return Counter(_local_day(t).isoformat() for t in session.scalars(select(Conversation.created_at).where(where)))


def _handoff_counts(session, summary, live) -> tuple:
    """Handoffs per priority and per reason: the summarised days' sums plus the rows of the other days, each key in
    the order of its first handoff (the order ties had when every handoff was read in turn)."""
    by_priority = {k: list(v) for k, v in summary.by_priority.items()}
    by_reason = {k: list(v) for k, v in summary.by_reason.items()}
    for handoff_id, priority, reasons in session.execute(select(Handoff.id, Handoff.priority, Handoff.reasons).where(
            daily.in_ranges(Handoff.created_at, live))):
        for target, key in [(by_priority, priority)] + [(by_reason, daily.reason_key(r)) for r in reasons]:
            counted = target.setdefault(key, [0, handoff_id])
            counted[0] += 1
            counted[1] = min(counted[1], handoff_id)

    def ordered(counted):
        return Counter({k: v[0] for k, v in sorted(counted.items(), key=lambda kv: kv[1][1])})
    return ordered(by_priority), ordered(by_reason)


def _handoff_days(handoffs, day_of, start: dt.date) -> tuple:
    """Handoffs per day, each day's waits and every wait (seconds), of ``handoffs`` from ``start`` on; ``day_of``
    turns a stored (UTC) time into its day (the 小区's, or UTC's for the all-time figures' series)."""
    handoffs_per_day: Counter = Counter()
    waits_per_day: Dict[dt.date, List[float]] = defaultdict(list)
    waits = []
    for h in handoffs:  # keyed by date: a year's ~15 k handoffs made as many ISO strings
        day = day_of(h.created_at)
        if day >= start:
            handoffs_per_day[day] += 1
            if h.claimed_at:
                wait = (h.claimed_at - h.created_at).total_seconds()
                waits_per_day[day].append(wait)
                waits.append(wait)
    return handoffs_per_day, waits_per_day, waits


def _middle_waits(wait, count):
    """The one or two middle waits in order (all a median needs: statistics.median of them is the median of all),
    taken in PostgreSQL from the sorted exact waits (epoch arithmetic is exact to the microsecond; float() of it is
    timedelta.total_seconds())."""
    ordered = func.array_agg(aggregate_order_by(wait, wait))
    return ordered[(count + 1) / 2], ordered[count / 2 + 1]


def _handoff_days_postgresql(session, where) -> tuple:
    """:func:`_handoff_days` counted in PostgreSQL (issue 29: a year's 15 k handoffs read into Python took ~60 ms of
    CPU): per 小区-local day the handoffs and the middle waits; the middle waits of the whole range."""
    day = _local_day_sql(Handoff.created_at)
    claimed = func.count(Handoff.claimed_at)
    wait = func.extract("epoch", Handoff.claimed_at - Handoff.created_at)
    handoffs_per_day: Counter = Counter()
    waits_per_day: Dict[dt.date, List[float]] = {}
    waits: List[float] = []
    # one scan: a row per day, and the whole range's row (grouping sets: its day is NULL)
    for date, whole, n, waited, low, high in session.execute(
            select(day, func.grouping(day), func.count(), claimed, *_middle_waits(wait, claimed)).where(*where)
            .group_by(func.grouping_sets(tuple_(day), tuple_()))):
        middle = ([float(low), float(high)] if waited % 2 == 0 else [float(low)]) if waited else []
        if whole:
            waits = middle
            continue
        handoffs_per_day[date] = n
        if middle:
            waits_per_day[date] = middle
    return handoffs_per_day, waits_per_day, waits


# The triage question of a borderline emergency (bot/handoffs/urgent_check.py), as its handoffs' reasons are grouped
# (daily.reason_key: the part before ":", a "(button)" dropped): how often residents answer it decides what the band
# costs (docs/decisions/0003-urgent-triage-band.md), so the figures show it on its own.
TRIAGE_REASONS = {"asked": "asked first", "confirmed": "resident confirmed danger now",
                  "declined": "resident said no danger now", "timed_out": "triage question unanswered, paged",
                  "agent_confirmed": "agent confirmed danger now, paged", "agent_declined": "agent found no danger now"}


def triage_figures(by_reason: Counter) -> Dict[str, int]:
    """Questions asked and how they ended: 是, 不是, the timeout's page, the agent's answer in the resident's place;
    ``other`` is the rest (a further urgent message paged, the conversation resolved first, or still open)."""
    counts = {name: int(by_reason.get(key, 0)) for name, key in TRIAGE_REASONS.items()}
    counts["other"] = max(0, counts["asked"] - sum(v for k, v in counts.items() if k != "asked"))
    return counts


def _assemble(session, days: int, start: dt.date, handoff_days: tuple, window, total: int, bot_only: int,
              conversations_per_day: Dict[str, int], handed_per_day: Dict[str, int], counts: tuple,
              handoff_window=(), end: Optional[dt.date] = None) -> Dict[str, Any]:
    by_priority, by_reason = counts
    handoffs_per_day, waits_per_day, waits = handoff_days
    series = []
    for i in range(days):
        date = start + dt.timedelta(days=i)
        day = date.isoformat()
        n = conversations_per_day.get(day, 0)
        day_waits = waits_per_day.get(date)
        series.append({"day": day, "conversations": n, "bot_only": n - handed_per_day.get(day, 0),
                       "handoffs": handoffs_per_day.get(date, 0),
                       "median_wait_seconds": statistics.median(day_waits) if day_waits else None})
    return {
        **({"start": window[0].isoformat(), "end": window[1].isoformat()} if window else
           {"start": start.isoformat(), "end": end.isoformat()}),
        "ratings": rating_figures(session, start, days),
        "conversations": total,
        "bot_only_share": (bot_only / total) if total else None,
        "handoffs_by_priority": dict(by_priority), "handoffs_by_reason": dict(by_reason.most_common()),
        "triage": triage_figures(by_reason),
        "median_wait_seconds": statistics.median(waits) if waits else None,
        "per_day": series,
        "teams": team_figures(session, handoff_window),
    }


def team_figures(session, where=()) -> List[Dict[str, Any]]:
    """Per team (技能组) and the general queue (``team_id`` None): waiting now, handled (resolved), the average wait
    before a person took it, and the ratings' average where there are ratings — of the handoffs matching ``where``.
    Counted per team in the database (issue 29: reading every handoff of a year for this took ~90 ms); the waits are
    summed there on PostgreSQL, from the claimed handoffs' times on SQLite (its julianday arithmetic rounds)."""
    names = dict(session.execute(select(Team.id, Team.name)).all())
    h = Handoff

    def total(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    postgresql = session.get_bind().dialect.name == "postgresql"
    columns = [h.team_id, func.count(), total(h.status.in_(HandoffStatus.waiting())),
               total(h.status == HandoffStatus.RESOLVED.value), func.count(Rating.score),
               func.coalesce(func.sum(Rating.score), 0), func.count(h.claimed_at)]
    if postgresql:
        columns.append(func.coalesce(func.sum(func.extract("epoch", h.claimed_at - h.created_at)), 0))
    groups: Dict[Optional[int], List] = {team_id: [0, 0, 0, 0, 0, 0, 0.0] for team_id in names}
    groups[None] = [0, 0, 0, 0, 0, 0, 0.0]
    for team_id, *numbers in session.execute(select(*columns).outerjoin(Rating, Rating.handoff_id == h.id)
                                             .where(*where).group_by(h.team_id)):
        group = groups[team_id if team_id in names else None]
        for i, n in enumerate(numbers):
            group[i] += float(n) if i == 6 else int(n)
    if not postgresql:
        for team_id, created_at, claimed_at in session.execute(select(h.team_id, h.created_at, h.claimed_at).where(
                *where, h.claimed_at.isnot(None))):
            groups[team_id if team_id in names else None][6] += (claimed_at - created_at).total_seconds()
    return [{"team_id": team_id, "team": names.get(team_id, "综合队列"), "handoffs": n, "waiting": waiting,
             "handled": handled, "average_wait_seconds": round(wait_sum / claimed) if claimed else None,
             "ratings": rated, "csat": round(score_sum / rated, 2) if rated else None}
            for team_id, (n, waiting, handled, rated, score_sum, claimed, wait_sum) in groups.items()]


def _average(scores: List[int]) -> Optional[float]:
    return round(sum(scores) / len(scores), 2) if scores else None


def rating_figures(session, start: dt.date, days: int) -> Dict[str, Any]:
    """满意度评价: every rating's average and count, per agent (all time) and per day (the figures' window)."""
    names = {s.id: s.display_name for s in session.scalars(select(Staff))}
    # counted per agent and score in the database; agents in the order of their first rating, as before, then by count
    by_agent: Dict[Optional[int], Dict[int, int]] = {}
    first: Dict[Optional[int], int] = {}
    for agent_id, score, n, first_id in session.execute(select(Rating.agent_id, Rating.score, func.count(),
                                                               func.min(Rating.id)).group_by(Rating.agent_id, Rating.score)):
        by_agent.setdefault(agent_id, {})[score] = n
        first[agent_id] = min(first.get(agent_id, first_id), first_id)
    by_day: Dict[str, List[int]] = defaultdict(list)
    for created_at, score in session.execute(select(Rating.created_at, Rating.score).where(
            Rating.created_at >= dt.datetime.combine(start, dt.time()))):
        by_day[created_at.date().isoformat()].append(score)
    counts = {agent_id: sum(scores.values()) for agent_id, scores in by_agent.items()}
    total = sum(counts.values())

    def average(scores: Dict[int, int]) -> Optional[float]:
        n = sum(scores.values())
        return round(sum(k * v for k, v in scores.items()) / n, 2) if n else None

    everyone: Dict[int, int] = Counter()
    for scores in by_agent.values():
        everyone.update(scores)
    return {
        "count": total, "average": average(everyone),
        "by_agent": [{"agent_id": agent_id, "agent": names.get(agent_id, "未知客服"), "count": counts[agent_id],
                      "average": average(scores), "scores": {str(n): scores.get(n, 0) for n in range(1, 6)}}
                     for agent_id, scores in sorted(by_agent.items(), key=lambda kv: (-counts[kv[0]], first[kv[0]]))],
        "per_day": [{"day": day, "count": len(by_day.get(day, [])), "average": _average(by_day.get(day, []))}
                    for day in ((start + dt.timedelta(days=i)).isoformat() for i in range(days))],
    }


ENTRY_WINDOW_DAYS = 90
ENTRY_SCAN_LIMIT = 20000  # the newest resident messages read for one entry's figures and suggestions


def _recent_resident_messages(session, now: dt.datetime, days: int) -> List[Message]:
    since = now - dt.timedelta(days=days)
    return list(session.scalars(select(Message).where(Message.sender == "resident", Message.nlu.isnot(None),
                                                      Message.created_at >= since)
                                .order_by(Message.id.desc()).limit(ENTRY_SCAN_LIMIT)))


def entry_figures(session, faq_id: str, now: dt.datetime, days: int = ENTRY_WINDOW_DAYS) -> Dict[str, Any]:
    """How one entry works, over the last ``days``: asked (read as this entry, answered or offered), answered,
    rejected as not helpful, and handed off after (a handoff in the same conversation within the next two resident
    messages after its answer)."""
    rows = _recent_resident_messages(session, now, days)
    asked = answered = rejected = handed = 0
    by_conversation: Dict[int, List[Message]] = defaultdict(list)
    for m in reversed(rows):
        by_conversation[m.conversation_id].append(m)
    for messages in by_conversation.values():
        for i, m in enumerate(messages):
            route = (m.nlu or {}).get("route") or {}
            read_as = ((m.nlu or {}).get("faq") or {}).get("id")
            target = route.get("target")
            if route.get("action") == "not_helpful" and target == faq_id:
                rejected += 1
            if read_as == faq_id or (target == faq_id and route.get("decision") == "answer"):
                asked += 1
            if route.get("decision") == "answer" and target == faq_id:
                answered += 1
                after = messages[i + 1:i + 3]
                if any(((n.nlu or {}).get("route") or {}).get("decision") == "handoff" for n in after):
                    handed += 1
    return {"days": days, "asked": asked, "answered": answered, "not_helpful": rejected, "handed_off": handed}


def entry_suggestions(session, faq_id: str, known: List[str], now: dt.datetime, limit: int = 10,
                      days: int = ENTRY_WINDOW_DAYS) -> List[Dict[str, Any]]:
    """相似问推荐: residents' own phrasings read as this entry but not yet among its questions — those clarified
    with it offered or answered unsure first (they teach it most), then those answered; grouped by similar words."""
    have = {re.sub(r"\W+", "", q) for q in known}
    items = []
    for m in _recent_resident_messages(session, now, days):
        text = m.text.strip()
        if not text or text.startswith("/") or len(text) > 60 or re.sub(r"\W+", "", text) in have:
            continue
        nlu = m.nlu or {}
        route = nlu.get("route") or {}
        read_as = (nlu.get("faq") or {}).get("id")
        if read_as != faq_id:
            continue
        if route.get("action") in ("not_helpful", "repeat"):
            continue
        unsure = route.get("decision") == "clarify"
        items.append({"message_id": m.id, "text": text, "suggested_faq": faq_id, "reason": "clarify" if unsure else
                      "answer", "unsure": unsure, "confidence": (nlu.get("faq") or {}).get("confidence") or 0.0})
    groups = group_similar(sorted(items, key=lambda i: (not i["unsure"], i["confidence"])), distance=SAME_WORDING)
    return [{"text": g["examples"][0]["text"], "message_id": g["examples"][0]["message_id"], "count": g["count"]}
            for g in groups[:limit]]
