"""Repair photos reach the right work order at any step of the report, each once (issue 23), through the widget's
real upload and message endpoints and through signed WeChat pushes, on a live server with the real model."""
from __future__ import annotations

import io
import re

import httpx
import pytest
from PIL import Image

from bot.storage.models import WorkOrder
from bot.tools.devserver import LiveServer
from connectors.wechat_crypto import signature

TOKEN = "photo-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser):
    with LiveServer(tmp_path_factory.mktemp("photos"), settings, parser, wechat_token=TOKEN, wechat_aes_key="",
                    wechat_app_id="wx-photos", wechat_app_secret="s", wechat_api_base="http://127.0.0.1:9") as live:
        yield live


def resident(server) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    client.post("/api/widget/session").raise_for_status()
    return client


def photo(client, color=(200, 40, 40)) -> str:
    data = io.BytesIO()
    Image.new("RGB", (80, 60), color).save(data, format="PNG")
    r = client.post("/api/widget/upload", files={"file": ("p.png", data.getvalue(), "image/png")})
    r.raise_for_status()
    return r.json()["url"]


def say(client, text="", photos=()):
    r = client.post("/api/widget/messages", json={"text": text, "photos": list(photos)})
    r.raise_for_status()
    return " ".join(m["text"] for m in r.json()["replies"])


def order_of(server, reply) -> WorkOrder:
    number = re.search(r"WO\d{11}", reply).group(0)
    with server.app.state.services.db.session() as session:
        order = session.query(WorkOrder).filter(WorkOrder.number == number).one()
        session.expunge(order)
        return order


def test_photos_at_every_step_reach_the_order_once(server):
    client = resident(server)
    first, alone, at_urgency, last = photo(client), photo(client, (1, 2, 3)), photo(client, (4, 5, 6)), photo(client, (7, 8, 9))
    assert "维修地点" in say(client, "厨房水龙头漏水", [first])  # the first report's photo
    again = say(client, photos=[alone])  # a photo alone at the location question: not a place, not a derail
    assert "已收到照片（共 2 张）" in again and "维修地点" in again and "验证码" not in again
    assert "紧急" in say(client, "3栋2单元501")
    again = say(client, photos=[at_urgency])
    assert "已收到照片（共 3 张）" in again and "紧急吗" in again
    say(client, "一般")
    say(client, "13800138000")
    done = say(client, "明天上午", [last, last])  # the last answer with a photo (sent twice by a shaky page)
    assert "已为您创建维修工单" in done
    order = order_of(server, done)
    assert order.photos == [first, alone, at_urgency, last]
    assert order.location == "3栋2单元501" and order.description == "厨房水龙头漏水"


def test_a_photo_after_the_report_is_added_to_that_order_and_a_photo_alone_starts_one(server):
    client = resident(server)
    say(client, "阳台的灯坏了")
    say(client, "3栋2单元501")
    say(client, "一般")
    say(client, "13800138000")
    done = say(client, "尽快")
    later = photo(client)
    added = say(client, photos=[later])
    assert "已将照片补充到工单" in added
    assert order_of(server, done).photos == [later]

    other = resident(server)
    started = say(other, photos=[photo(other)])  # nothing under way: the photo shows what is broken
    assert "收到照片" in started and "描述" in started


def _push(server, xml: str) -> httpx.Response:
    import time

    timestamp, nonce = str(int(time.time())), str(time.time_ns())
    params = {"signature": signature(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    return httpx.post(server.url + "/wechat", params=params, content=xml.encode())


def _wechat(openid, msg_id, body):
    return (f"<xml><ToUserName><![CDATA[gh_wuye]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>1</CreateTime>{body}<MsgId>{msg_id}</MsgId></xml>")


def test_a_wechat_image_joins_the_report_and_is_never_the_location(server):
    text = lambda content: f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"  # noqa: E731
    picture = "http://mmbiz.qpic.cn/mmbiz_jpg/abc123/0?wx_fmt=jpeg"
    image = f"<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[{picture}]]></PicUrl><MediaId>m1</MediaId>"
    assert "维修地点" in _push(server, _wechat("o_photo", 9101, text("卫生间水管漏水"))).text
    reply = _push(server, _wechat("o_photo", 9102, image)).text
    assert "已收到照片" in reply and "维修地点" in reply
    for i, answer in enumerate(("3栋2单元501", "一般", "13800138000")):
        _push(server, _wechat("o_photo", 9103 + i, text(answer)))
    done = _push(server, _wechat("o_photo", 9110, text("明天上午"))).text
    order = order_of(server, done)
    assert order.photos == [picture] and order.location == "3栋2单元501"
    # a picture address that is not WeChat's own image host is not stored (the desk would load it)
    refused = _push(server, _wechat("o_photo2", 9120, image.replace(picture, "http://evil.example/x.jpg"))).text
    assert "无法读取" in refused
    # a signed push that names no sender is refused, not run as the identity ""
    nobody = _push(server, _wechat("", 9130, text("物业几点上班")))
    assert nobody.status_code == 400 and nobody.json()["code"] == "malformed_xml"


def test_a_message_can_attach_only_its_own_senders_uploads(server):
    owner, other = resident(server), resident(server)
    url = photo(owner)
    r = other.post("/api/widget/messages", json={"text": "厨房水龙头漏水", "photos": [url]})
    assert r.status_code == 422 and r.json()["code"] == "invalid_photo"
    assert httpx.get(server.url + url).status_code == 200  # still served (the desk shows it)
    assert "维修地点" in say(owner, "厨房水龙头漏水", [url])
