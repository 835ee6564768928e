"""Chinese numerals to integers: 十二 → 12, 一百零二 → 102, 一一零二 → 1102, 两 → 2."""
from __future__ import annotations

import re

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
CN_NUMBER = "[零〇一二两三四五六七八九十百千万]+"


def cn_to_int(text: str) -> int:
    """Convert Arabic digits or a Chinese numeral to an int; raises ValueError on anything else."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    if not text or any(ch not in DIGITS and ch not in UNITS for ch in text):
        raise ValueError(f"not a number: {text!r}")
    if all(ch in DIGITS for ch in text):  # read digit by digit: 一一零二
        return int("".join(str(DIGITS[ch]) for ch in text))
    total, section, number = 0, 0, 0
    for ch in text:
        if ch in DIGITS:
            number = DIGITS[ch]
        elif ch == "万":
            section = (section + number) * 10000
            total += section
            section, number = 0, 0
        else:
            unit = UNITS[ch]
            section += (number or 1) * unit
            number = 0
    return total + section + number
