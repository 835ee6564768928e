"""Normalisation: how residents really write → the plain simplified Mandarin the classifiers were trained on.

Steps, in order (each keeps a map from every output character back to the original text, so entities found
on the normalised text still point into what the resident wrote):

1. clean: control characters, NUL, lone surrogates and zero-width characters go; full-width ASCII → half-width;
2. Cantonese → Mandarin (``data/nlu/normalize/cantonese.yml``, longest match first);
3. traditional → simplified (OpenCC ``t2s``);
4. English and mixed terms (``english.yml``: WiFi → 宽带, EV charger → 充电桩 …), case-insensitive, whole words;
5. pinyin abbreviations (``abbreviations.yml`` plus the initials of the domain dictionary's words, generated
   with pypinyin and used only where exactly one domain word has those initials); then full pinyin typed for
   Chinese ("wuyefei zenme jiao" → 物业费怎么交), decoded as an input method would, into the words the trained model
   knows (see :meth:`Normalizer.pinyin_data`);
6. homophones and typos (``homophones.yml``: 物业非 → 物业费, 保修 → 报修 …; never inside a ``protect:`` word),
   plus a conservative pinyin check against the domain dictionary: a 3–5 character window that is not a word,
   differs from exactly one domain word in one character of the same pinyin, and does not break a word that
   the changed character forms with its neighbour, is corrected;
7. emoji and WeChat emoticon codes ([捂脸]) are removed for intent/FAQ reading; ``emotion_text`` keeps them.

Every table is a data file an admin can review and edit; :func:`check_tables` validates them with file:line
positions (``wuye faq check`` runs it).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

import yaml

from bot.core.problems import FileProblem, ProblemsError, yaml_mapping_root

NORMALIZED_KEY = "wuye_normalized"  # where the pipeline component leaves the Normalized reading in a message
TABLE_FILES = {"cantonese": "cantonese.yml", "english": "english.yml", "abbreviations": "abbreviations.yml",
               "homophones": "homophones.yml"}
MAX_NORMALISED_CHARS = 4000

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U0001F900-\U0001F9FF\u2B00-\u2BFF\u2300-\u23FF"
    "\uFE00-\uFE0F\u200D\u20E3\U000E0020-\U000E007F\u2190-\u21FF\u2700-\u27BF\u3030\u303D\u3297\u3299]+"
)
_WECHAT_CODE = re.compile(r"\[[\u4e00-\u9fffA-Za-z]{1,4}\]|/:[A-Za-z@!?<>()*#$&^~%-]{1,6}")
_ASCII_WORD = re.compile(r"[A-Za-z]+")
# control characters (tab/newline become spaces later), NUL, lone surrogates, zero-width and private-use
_UNWANTED = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\u200b\u200c\u200e\u200f\u2060\ufeff\ue000-\uf8ff]")
_LATIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9./+&'-]*")
_LATIN_RUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9./+&'-]*(?:\s+[A-Za-z0-9][A-Za-z0-9./+&'-]*)*")
_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")
_HALF_WIDTH = {**{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}, 0x3000: 0x20}
# Common English words residents type that must never be read as pinyin initials.
ENGLISH_WORDS = frozenset("""a an and are be but by can do for go good hello hey hi how if in is it me my no not of
ok okay on or please pls sorry thank thanks the to up us we what when where who why yes you""".split())


# English grammar words dropped from a run of Latin words that had a term translated (_english_edits); no negation
# (not, no, don't) and no question word: those carry the meaning and are in english.yml
ENGLISH_FILLER = frozenset("""a an the of is are am was were be been being do does did to for in on at with from by as
into about my me i you your it its this that these those there any some our we us their they he she his her and or
so just also get got have has had will would should could""".split())
# Common English words that also spell pinyin ("change" = chang e, "like" = li ke): a stretch of Latin words decodes
# only when most of its words are not among them (below), so an English sentence stays English.
ENGLISH_PINYIN = frozenset("""a again age am an are area ban bane bang base bide bike bile bin bite bone cake came can
cane care case chain change chin china dam damn dang dean den die dime dine ding dune eye face fan fang fun game gang
gate gene guide gun hang hate he hen here house huge keen lake lane late lean lemon lie like lime line lion long lose
make man mane mania me mean men mile mime mine mobile mom moon more name nan nice nile nine no none noon note nun on
one open pa page pain pan pane pang pen pie pile pin pine ping pole ran rice ride rise rule run rune sale same sane
sang sea see seen she shine shun side sin song sun sure take tale tan tea team ten tide tie tile time tin tine tune
wan wane wang woman women yang yo you zen""".split())
_SPELLED_RUN = re.compile(r"[A-Za-z]+(?:[ ']+[A-Za-z]+)*")
SPELLED_WORD_CHARS = 4  # the longest word the spelled-pinyin vocabulary holds
# What a word of the vocabulary weighs: its jieba frequency, plus this much per time it occurs in our own training
# texts (a resident's "jiao" after 物业费 is 交, not jieba's commoner 叫), plus the domain dictionary's words outright
CORPUS_WEIGHT = 1000
DOMAIN_WEIGHT = 1_000_000
SPELLED_MAX_LETTERS = 120  # a longer stretch is not decoded: no question is that long, and the pass is O(letters)
RARE_WORD_FREQ = 1000  # a jieba word below this frequency that our texts use once is left out (see _vocabulary)
CROSS_SPACE_COST = 2.0  # a word across a space the resident typed ("wu ye fei" is still 物业费, at a small cost)


TableProblem = FileProblem


class TableError(ProblemsError):
    """Raised when a normalisation table does not validate; carries every problem found."""


@dataclass
class Tables:
    cantonese: Dict[str, str] = field(default_factory=dict)
    english: Dict[str, str] = field(default_factory=dict)
    abbreviations: Dict[str, str] = field(default_factory=dict)
    homophones: Dict[str, str] = field(default_factory=dict)
    protect: List[str] = field(default_factory=list)
    domain_words: List[str] = field(default_factory=list)

    def targets(self) -> Set[str]:
        """The words a correction may land on: the domain dictionary's and the homophone table's targets."""
        return set(self.domain_words) | set(self.homophones.values())


# --- loading and validation -------------------------------------------------------------------------------
def _load_mapping(path: Path, key: str, problems: List[TableProblem], list_key: Optional[str] = None
                  ) -> Tuple[Dict[str, str], List[str]]:
    name = path.name
    root = yaml_mapping_root(path, key, problems)
    if root is None:
        return {}, []
    mapping: Dict[str, str] = {}
    words: List[str] = []
    seen_top = set()
    for knode, vnode in root.value:
        top = knode.value
        seen_top.add(top)
        if top == key:
            if not isinstance(vnode, yaml.MappingNode):
                problems.append(TableProblem(name, vnode.start_mark.line + 1, f"'{key}:' 应为 原词: 替换词 的映射"))
                continue
            for k, v in vnode.value:
                line = k.start_mark.line + 1
                if not isinstance(k, yaml.ScalarNode) or not isinstance(v, yaml.ScalarNode):
                    problems.append(TableProblem(name, line, "每一项应为 原词: 替换词"))
                    continue
                src, dst = str(k.value).strip(), str(v.value).strip()
                if not src or not dst:
                    problems.append(TableProblem(name, line, "原词和替换词都不能为空"))
                elif src in mapping:
                    problems.append(TableProblem(name, line, f"重复的原词 '{src}'"))
                elif src == dst:
                    problems.append(TableProblem(name, line, f"'{src}' 替换为自身，没有意义"))
                else:
                    mapping[src] = dst
        elif list_key and top == list_key:
            if not isinstance(vnode, yaml.SequenceNode):
                problems.append(TableProblem(name, vnode.start_mark.line + 1, f"'{list_key}:' 应为词语列表"))
                continue
            for item in vnode.value:
                if not isinstance(item, yaml.ScalarNode) or not str(item.value).strip():
                    problems.append(TableProblem(name, item.start_mark.line + 1, "受保护词不能为空"))
                else:
                    words.append(str(item.value).strip())
        else:
            problems.append(TableProblem(name, knode.start_mark.line + 1, f"未知的顶层键 '{top}'"))
    if key not in seen_top:
        problems.append(TableProblem(name, 1, f"缺少顶层键 '{key}:'"))
    return mapping, words


def _domain_words(dictionary_dir: Path) -> List[str]:
    words = []
    for path in sorted(dictionary_dir.glob("*")):
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if parts and re.fullmatch(f"[{_CJK}]{{2,8}}", parts[0]):
                    words.append(parts[0])
    return words


def load_tables(tables_dir: Path, dictionary_dir: Optional[Path] = None) -> Tables:
    """Load and validate every table; raises TableError listing every problem (file:line)."""
    problems: List[TableProblem] = []
    tables = Tables()
    for key, filename in TABLE_FILES.items():
        path = tables_dir / filename
        if not path.is_file():
            problems.append(TableProblem(filename, 1, f"缺少规范化词表 {path}"))
            continue
        mapping, words = _load_mapping(path, key, problems, "protect" if key == "homophones" else None)
        setattr(tables, key, mapping)
        if key == "homophones":
            tables.protect = words
    for src in tables.abbreviations:
        if not re.fullmatch(r"[a-z]{2,8}", src):
            problems.append(TableProblem(TABLE_FILES["abbreviations"], _line_of(tables_dir / TABLE_FILES["abbreviations"], src),
                                         f"缩写 '{src}' 应为 2–8 个小写字母"))
    for src in tables.english:
        if not re.fullmatch(r"[a-z0-9][a-z0-9 ./+&'-]*", src):
            problems.append(TableProblem(TABLE_FILES["english"], _line_of(tables_dir / TABLE_FILES["english"], src),
                                         f"英文词 '{src}' 应为小写英文（可含空格）"))
    if problems:
        raise TableError(problems)
    if dictionary_dir is not None:
        tables.domain_words = _domain_words(dictionary_dir)
    return tables


def _line_of(path: Path, key: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip().startswith((f"{key}:", f"'{key}':", f'"{key}":')):
            return i
    return 1


def check_tables(tables_dir: Path) -> List[TableProblem]:
    try:
        load_tables(tables_dir)
    except TableError as exc:
        return exc.problems
    return []


# --- the normalised text with its map back to the original --------------------------------------------------
@dataclass
class Normalized:
    original: str
    text: str
    emotion_text: str
    starts: List[int]
    ends: List[int]
    changes: List[Tuple[str, str, str]]

    def original_span(self, start: int, end: int) -> Tuple[int, int]:
        """The span of the original text that produced ``text[start:end]``."""
        if not self.text or start >= end:
            return (0, 0)
        start = max(0, min(start, len(self.text) - 1))
        end = max(start + 1, min(end, len(self.text)))
        return self.starts[start], self.ends[end - 1]


class _Buffer:
    """Characters with the original span each came from."""

    def __init__(self, text: str) -> None:
        self.chars = list(text)
        self.starts = list(range(len(text)))
        self.ends = [i + 1 for i in range(len(text))]
        self.changes: List[Tuple[str, str, str]] = []

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def apply(self, kind: str, edits: List[Tuple[int, int, str]]) -> None:
        """Replace non-overlapping [i, j) spans (in increasing order) by new strings."""
        if not edits:
            return
        chars, starts, ends = [], [], []
        pos = 0
        for i, j, new in edits:
            if i < pos:
                continue
            chars += self.chars[pos:i]
            starts += self.starts[pos:i]
            ends += self.ends[pos:i]
            old = "".join(self.chars[i:j])
            if i < j:
                s, e = self.starts[i], self.ends[j - 1]
            else:
                s = e = self.starts[i] if i < len(self.starts) else (self.ends[-1] if self.ends else 0)
            chars += list(new)
            starts += [s] * len(new)
            ends += [e] * len(new)
            if old != new:
                self.changes.append((kind, old, new))
            pos = j
        chars += self.chars[pos:]
        starts += self.starts[pos:]
        ends += self.ends[pos:]
        self.chars, self.starts, self.ends = chars, starts, ends


def _literal_regex(keys: Iterable[str], flags: int = 0) -> Optional["re.Pattern[str]"]:
    keys = sorted({k for k in keys if k}, key=len, reverse=True)
    if not keys:
        return None
    return re.compile("|".join(re.escape(k) for k in keys), flags)


@lru_cache(maxsize=1)
def _opencc():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional characters as simplified (OpenCC t2s; one converter per process, built on first use)."""
    return _opencc().convert(text)


@lru_cache(maxsize=4096)
def _pinyins(char: str) -> frozenset:
    from pypinyin import Style, pinyin

    return frozenset(pinyin(char, style=Style.NORMAL, heteronym=True, errors="ignore")[0] or [char])


@lru_cache(maxsize=1)
def _jieba_freq() -> Dict[str, int]:
    import jieba

    jieba.dt.check_initialized()
    return jieba.dt.FREQ


@lru_cache(maxsize=1)  # a training builds two normalisers of the same tables (the untrained one and the trained one)
def _readings_near(domain_chars: frozenset) -> Dict[str, List[str]]:
    """The readings of the domain characters and of every character sharing one of their readings (see
    ``Normalizer.pinyin_data``): one pass over all ~41,000 characters pypinyin knows."""
    from pypinyin.pinyin_dict import pinyin_dict

    domain_readings = set().union(*(_pinyins(c) for c in domain_chars)) if domain_chars else set()
    readings = {c: sorted(_pinyins(c)) for c in domain_chars}
    for code in pinyin_dict:
        char = chr(code)
        if char not in readings and _CJK_RUN.fullmatch(char):
            found = _pinyins(char)
            if found & domain_readings:
                readings[char] = sorted(found)
    return readings


def _is_word(text: str, min_freq: int = 20) -> bool:
    return _jieba_freq().get(text, 0) >= min_freq


class Normalizer:
    """``readings``: the pinyin data the normaliser needs (see :meth:`pinyin_data`), stored with a trained model so
    that serving never imports pypinyin (~60 MB of phrase dictionaries); None computes it with pypinyin."""

    def __init__(self, tables: Tables, readings: Optional[Dict[str, Any]] = None) -> None:
        self.tables = tables
        canto = dict(tables.cantonese)
        for src, dst in tables.cantonese.items():  # the simplified spelling of multi-character entries too
            simplified = to_simplified(src)
            if len(src) > 1 and simplified not in canto:
                canto[simplified] = dst
        self._canto = canto
        self._canto_re = _literal_regex(canto)
        english = {re.sub(r"\s+", " ", k): v for k, v in tables.english.items()}
        self._english = english
        self._english_words = max((k.count(" ") + 1 for k in english), default=0)
        if readings is None:
            readings = self.pinyin_data(tables)
        self._abbr = dict(readings["abbreviations"])
        # spelled pinyin → (word, log weight); absent in models trained before it was stored (then not decoded)
        self._spelled = {key: (word, float(cost)) for key, (word, cost) in readings.get("words", {}).items()}
        self._syllables = {key for key, (word, _) in self._spelled.items() if len(word) == 1}
        self._longest_key = max(map(len, self._spelled), default=0)
        self._readings = {c: frozenset(r) for c, r in readings["readings"].items()}
        self._homophones = {to_simplified(k): v for k, v in tables.homophones.items()}
        self._homophones.update(tables.homophones)
        self._homo_re = _literal_regex(self._homophones)
        self._protect_re = _literal_regex(tables.protect + [to_simplified(p) for p in tables.protect])
        domain = sorted(tables.targets())
        self._domain = set(domain)
        self._masked: Dict[str, List[str]] = {}
        self._bigrams: Dict[str, List[Tuple[str, int]]] = {}
        for w in domain:
            if 3 <= len(w) <= 5:
                for k in range(len(w) - 1):
                    self._bigrams.setdefault(w[k:k + 2], []).append((w, k))
        for word in domain:
            if 3 <= len(word) <= 5:
                for k in range(len(word)):
                    self._masked.setdefault(word[:k] + "*" + word[k + 1:], []).append(word)

    @classmethod
    def pinyin_data(cls, tables: Tables, corpus: Iterable[str] = ()) -> Dict[str, Any]:
        """What the normaliser needs of pypinyin, as plain data: the pinyin abbreviations of the domain words, the
        readings of every character that shares a reading with a character of a domain word (any other character
        can never be a homophone edit towards a domain word), and the spelled-pinyin vocabulary (:meth:`_vocabulary`)
        weighted by ``corpus`` (the training texts; the pipeline's normaliser passes them when it trains)."""
        readings = dict(_readings_near(frozenset(c for w in tables.targets() for c in w)))
        return {"abbreviations": cls._abbreviations(tables), "readings": readings,
                "words": cls._vocabulary(tables, corpus)}

    @staticmethod
    def _vocabulary(tables: Tables, corpus: Iterable[str]) -> Dict[str, List[Any]]:
        """Toneless pinyin ("wuyefei") → [the word it most likely spells, its log weight]. The words are those of
        jieba's dictionary (one to four characters) that our own training texts use, and the domain words; each
        weighs its jieba frequency plus CORPUS_WEIGHT per use in our texts (DOMAIN_WEIGHT for a domain word). An
        input method's unigram model over the words our classifiers know: a word they never saw would not help them
        read the question. Without texts (a normaliser built outside training) only the domain words are known."""
        from pypinyin import lazy_pinyin

        jieba_freq = _jieba_freq()
        domain = {w for w in tables.targets() if _CJK_RUN.fullmatch(w)}
        pieces: Counter = Counter()  # every 1–4 character piece of the texts (a 300-entry base's: ~0.3 s)
        for run in _CJK_RUN.findall("\n".join(corpus)):
            for n in range(1, SPELLED_WORD_CHARS + 1):
                pieces.update(run[i:i + n] for i in range(len(run) - n + 1))
        # a word: a piece jieba knows (a multi-character one used once only if it is a common word: pypinyin's reading
        # of each word is most of this function's time), a single character, or a domain word
        used = {piece: n for piece, n in pieces.items() if len(piece) == 1 or piece in domain or (
            piece in jieba_freq and (n > 1 or jieba_freq[piece] >= RARE_WORD_FREQ))}
        best: Dict[str, Tuple[str, float]] = {}
        for word in set(used) | domain:
            weight = (jieba_freq.get(word, 0) + CORPUS_WEIGHT * used.get(word, 0)
                      + (DOMAIN_WEIGHT if word in domain else 0))
            key = "".join(lazy_pinyin(word))
            if re.fullmatch(r"[a-z]+", key) and (key not in best or best[key][1] < weight):
                best[key] = (word, weight)
        total = sum(weight for _, weight in best.values()) or 1.0
        return {key: [word, round(math.log(weight / total), 3)] for key, (word, weight) in sorted(best.items())}

    def _pinyins(self, char: str) -> frozenset:
        """pypinyin's readings of ``char`` where they can matter (see :meth:`pinyin_data`), else ``{char}``."""
        return self._readings.get(char) or frozenset([char])

    @staticmethod
    def _abbreviations(tables: Tables) -> Dict[str, str]:
        from pypinyin import Style, lazy_pinyin

        generated: Dict[str, set] = {}
        for word in tables.domain_words:
            initials = "".join(lazy_pinyin(word, style=Style.FIRST_LETTER))
            if re.fullmatch(r"[a-z]{3,8}", initials):
                generated.setdefault(initials, set()).add(word)
        result = {k: next(iter(v)) for k, v in generated.items() if len(v) == 1 and k not in ENGLISH_WORDS}
        result.update(tables.abbreviations)  # curated entries win
        for word in tables.english:
            result.pop(word, None)
        return result

    def normalize(self, text: str) -> Normalized:
        text = text[:MAX_NORMALISED_CHARS]
        buf = _Buffer(text)
        if _UNWANTED.search(text):
            buf.apply("清理", [(m.start(), m.end(), "") for m in _UNWANTED.finditer(text)])
        if _FULL_WIDTH.search(buf.text):  # one character for one: the map is unchanged
            buf.chars = list(buf.text.translate(_HALF_WIDTH))
        if self._canto_re is not None:
            protected = self._protected(buf.text)
            buf.apply("粤语", [(m.start(), m.end(), self._canto[m.group()]) for m in self._canto_re.finditer(buf.text)
                             if not any(m.start() < pe and ps < m.end() for ps, pe in protected)])
        current = buf.text
        simplified = to_simplified(current)
        if simplified != current:
            if len(simplified) == len(current):
                edits = [(i, i + 1, b) for i, (a, b) in enumerate(zip(current, simplified)) if a != b]
            else:
                edits = [(i, i + 1, to_simplified(a)) for i, a in enumerate(current) if to_simplified(a) != a]
            buf.apply("繁简", edits)
        if _ASCII_WORD.search(buf.text):
            buf.apply("英文", self._english_edits(buf.text))
            buf.apply("拼音缩写", self._abbreviation_edits(buf.text))
            if self._spelled:
                buf.apply("拼音", self._spelled_edits(buf.text))
        buf.apply("同音纠错", self._homophone_edits(buf.text))
        emotion_text = re.sub(r"\s+", " ", buf.text).strip()
        drops = [(m.start(), m.end(), "") for m in _WECHAT_CODE.finditer(buf.text)]
        drops += [(m.start(), m.end(), "") for m in _EMOJI.finditer(buf.text)]
        if drops:
            buf.apply("表情", sorted(drops))
        t = buf.text
        buf.apply("空白", [(m.start(), m.end(), " " if 0 < m.start() and m.end() < len(t) else "")
                         for m in re.finditer(r"\s+", t) if m.group() != " " or m.start() == 0 or m.end() == len(t)])
        return Normalized(original=text, text=buf.text, emotion_text=emotion_text, starts=buf.starts,
                          ends=buf.ends, changes=buf.changes)

    def _english_edits(self, text: str) -> List[Tuple[int, int, str]]:
        """Longest English term first, over runs of Latin words (EV charger, wechat pay, WiFi…). In a run that had a
        term translated, the English grammar words left (ENGLISH_FILLER: the, of, is, my…) are dropped: they mean
        nothing to classifiers trained on Chinese, and left in, an English question reads as the English-heavy
        uncovered questions do. A run with nothing translated stays whole (small talk, a name, English we lack)."""
        edits = []
        for run in _LATIN_RUN.finditer(text):
            words = list(_LATIN_WORD.finditer(run.group()))
            found = []
            left = []
            i = 0
            while i < len(words):
                for n in range(min(self._english_words, len(words) - i), 0, -1):
                    key = " ".join(w.group().lower() for w in words[i:i + n])
                    if key in self._english:
                        found.append((run.start() + words[i].start(), run.start() + words[i + n - 1].end(),
                                      self._english[key]))
                        i += n
                        break
                else:
                    left.append(words[i])
                    i += 1
            edits += found
            if found:
                edits += [(run.start() + w.start(), run.start() + w.end(), "") for w in left
                          if w.group().lower() in ENGLISH_FILLER]
        return sorted(edits)

    def _abbreviation_edits(self, text: str) -> List[Tuple[int, int, str]]:
        edits = []
        for m in _ASCII_WORD.finditer(text):
            word = m.group().lower()
            if word in self._abbr and not (m.group().isupper() and len(word) > 4):
                edits.append((m.start(), m.end(), self._abbr[word]))
        return edits

    def _spelled_edits(self, text: str) -> List[Tuple[int, int, str]]:
        """Full pinyin typed for Chinese, decoded: each stretch of Latin words that are all pinyin syllables, with at
        least two syllables, is replaced by the most likely words (:meth:`_decode`) — unless it is one English word
        that also spells pinyin, or English words are half of it or more ("you can take one" stays as it is)."""
        edits = []
        for run in _SPELLED_RUN.finditer(text):
            stretch: List[Any] = []
            for token in list(_ASCII_WORD.finditer(run.group())) + [None]:
                if token is not None and self._is_syllables(token.group().lower()):
                    stretch.append(token)
                    continue
                words = [t.group().lower() for t in stretch]
                english = sum(1 for w in words if w in ENGLISH_PINYIN or w in ENGLISH_WORDS)
                if words and english * 2 < len(words) and sum(map(len, words)) <= SPELLED_MAX_LETTERS:
                    decoded = self._decode(words)
                    if decoded is not None and len(decoded) >= 2:
                        edits.append((run.start() + stretch[0].start(), run.start() + stretch[-1].end(), decoded))
                stretch = []
        return edits

    def _is_syllables(self, word: str) -> bool:
        """Whether ``word`` splits into pinyin syllables (the longest, zhuang, has six letters)."""
        if len(word) > SPELLED_MAX_LETTERS:
            return False
        ends = {0}
        for j in range(1, len(word) + 1):
            if any(i in ends and word[i:j] in self._syllables for i in range(max(0, j - 6), j)):
                ends.add(j)
        return len(word) in ends

    def _decode(self, tokens: List[str]) -> Optional[str]:
        """The most likely words for the syllables of ``tokens`` (a Viterbi pass over the vocabulary's log weights;
        a word across a space the resident typed costs CROSS_SPACE_COST), or None when they cannot all be read."""
        letters = "".join(tokens)
        gaps = [0] * (len(letters) + 1)  # gaps[k]: the typed spaces before letter k
        at = 0
        for number, token in enumerate(tokens):
            for k in range(at, at + len(token)):
                gaps[k] = number
            at += len(token)
        gaps[at] = len(tokens) - 1
        n = len(letters)
        best: List[Optional[Tuple[float, int, str]]] = [None] * (n + 1)
        best[0] = (0.0, 0, "")
        for i in range(n):
            if best[i] is None:
                continue
            for j in range(i + 1, min(n, i + self._longest_key) + 1):
                found = self._spelled.get(letters[i:j])
                if found is None:
                    continue
                if j == i + 1 and (i > 0 and gaps[i - 1] == gaps[i] or j < n and gaps[j] == gaps[i]):
                    # a one-letter syllable (a, e, o, n, m) typed inside a word is an English word's letters
                    # ("online" is no 哦嗯里呢); typed alone it is what it says (啊, 哦)
                    continue
                crossed = gaps[j - 1] - gaps[i]  # the spaces inside letters i..j-1
                score = best[i][0] + found[1] - CROSS_SPACE_COST * crossed
                if best[j] is None or score > best[j][0]:
                    best[j] = (score, i, found[0])
        if best[n] is None:
            return None
        words = []
        j = n
        while j > 0:
            _, i, word = best[j]
            words.append(word)
            j = i
        return "".join(reversed(words))

    def _protected(self, text: str) -> List[Tuple[int, int]]:
        return [(m.start(), m.end()) for m in self._protect_re.finditer(text)] if self._protect_re else []

    def _homophone_edits(self, text: str) -> List[Tuple[int, int, str]]:
        protected = self._protected(text)

        def free(i: int, j: int) -> bool:
            return not any(i < pe and ps < j for ps, pe in protected)

        edits = []
        if self._homo_re is not None:
            edits = [(m.start(), m.end(), self._homophones[m.group()]) for m in self._homo_re.finditer(text)
                     if free(m.start(), m.end())]
        taken = [(i, j) for i, j, _ in edits]
        for i, j, new in self._pinyin_edits(text):
            if free(i, j) and not any(i < te and ts < j for ts, te in taken):
                edits.append((i, j, new))
                taken.append((i, j))
        return sorted(edits)

    @staticmethod
    def _breaks_word(text: str, p: int) -> bool:
        """True when the character at p forms a word with its neighbours (物业非常好: 非常)."""
        spans = [(p - 1, p + 1), (p - 2, p + 1), (p, p + 2), (p, p + 3)]
        return any(a >= 0 and b <= len(text) and _is_word(text[a:b]) for a, b in spans)

    def _pinyin_edits(self, text: str) -> List[Tuple[int, int, str]]:
        """One-character same-pinyin corrections towards a domain word (see the module docstring).

        A window that differs from a domain word (3–5 characters) in one character shares a bigram with it, so
        only the domain words holding a bigram of the text are tried, aligned on that bigram.
        """
        edits: List[Tuple[int, int, str]] = []
        done = 0
        for j in range(len(text) - 1):
            for word, offset in self._bigrams.get(text[j:j + 2], ()):
                i = j - offset
                if i < done or i + len(word) > len(text):
                    continue
                window = text[i:i + len(word)]
                diff = [k for k in range(len(word)) if window[k] != word[k]]
                if len(diff) != 1:
                    continue
                k = diff[0]
                if (not _CJK_RUN.fullmatch(window) or _is_word(window, 1) or len(self._masked[word[:k] + "*" + word[k + 1:]]) != 1
                        or not (self._pinyins(window[k]) & self._pinyins(word[k])) or self._breaks_word(text, i + k)):
                    continue
                edits.append((i, i + len(word), word))
                done = i + len(word)
                break
        return edits


@lru_cache(maxsize=8)
def _cached_normalizer(tables_dir: str, dictionary_dir: str) -> Normalizer:
    return Normalizer(load_tables(Path(tables_dir), Path(dictionary_dir)))


def get_normalizer(tables_dir: Path, dictionary_dir: Path) -> Normalizer:
    """One normaliser per tables/dictionary directory and process."""
    return _cached_normalizer(str(Path(tables_dir).resolve()), str(Path(dictionary_dir).resolve()))
