"""Words of places: in a home, and of the 小区 — what "卫生间", "车库", "在地下车库B2" say (where), unlike "路灯",
"电梯", "门禁" (things, what is broken). The repair flow keeps a place given for what is broken and asks what
(actions/repairs.py); the router reads a message that is only a place as neither an emergency nor a request
(bot/routing/router.py).

Not model features (no classifier reads this module: changing it retrains nothing)."""
from __future__ import annotations

import re

HOME_PLACES = r"卫生间|洗手间|厕所|浴室|厨房|客厅|餐厅|卧室|主卧|次卧|书房|阳台|露台|储藏室|地下室|院子|门口|家里|屋里"
AREA_PLACES = (r"楼道|大堂|地下车库|地下停车场|停车场|地库|车库|健身房|儿童乐园|会所|泳池|屋顶|天台|走廊|楼梯间?|"
               r"[东南西北正侧大后]门口?")
# a level of a garage or a building: B2, 负一层, -1层
LEVELS = r"[Bb][1-6]层?|负[一二三四五六]层?|-[1-6]层"
ONLY_A_PLACE = re.compile(
    rf"^(我家|我们家|家里|就在|在)?的?((?:{HOME_PLACES}|{AREA_PLACES}|{LEVELS})+)(里|里面|那边|那里|的)?[。.!！]*$")
