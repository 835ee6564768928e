"""The WeChat Official Account channel: official crypto vectors, real XML, a local stand-in for the API; replays,
stale timestamps, plain pushes in safe mode and hostile values refused or escaped."""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import httpx
import pytest
from defusedxml import ElementTree

from bot.storage.db import open_database
from bot.tools.devserver import LiveServer, free_port
from connectors.wechat import TIMESTAMP_WINDOW, WeChatChannel, parse_xml, text_reply
from connectors.wechat_crypto import WeChatCrypto, WeChatCryptoError, check_signature, signature

# Public test vector of Tencent's WXBizMsgCrypt sample (token, EncodingAESKey, app id, a pushed message).
VECTOR = {
    "token": "QDG6eK", "aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "app_id": "wx5823bf96d3bd56c7",
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6", "timestamp": "1409659813", "nonce": "1372623149",
    "encrypt": "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/"
               "sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJY"
               "uR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUca"
               "llcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5"
               "Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==",
}
TOKEN, AES_KEY, APP_ID = "wuye-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef"


def test_official_vector_decrypts():
    crypto = WeChatCrypto(VECTOR["token"], VECTOR["aes_key"], VECTOR["app_id"])
    xml = crypto.verify_and_decrypt(VECTOR["msg_signature"], VECTOR["timestamp"], VECTOR["nonce"], VECTOR["encrypt"])
    message = parse_xml(xml.encode())
    assert message["Content"] == "hello" and message["MsgId"] == "4561255354251345929"
    with pytest.raises(WeChatCryptoError):
        crypto.verify_and_decrypt("0" * 40, VECTOR["timestamp"], VECTOR["nonce"], VECTOR["encrypt"])
    with pytest.raises(WeChatCryptoError, match="another app id"):
        WeChatCrypto(VECTOR["token"], VECTOR["aes_key"], "wx_other").decrypt(VECTOR["encrypt"])


def test_encrypt_round_trip_and_signature():
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    encrypted = crypto.encrypt("<xml><Content>你好</Content></xml>")
    assert crypto.decrypt(encrypted) == "<xml><Content>你好</Content></xml>"
    assert check_signature(signature(TOKEN, "1", "2"), TOKEN, "2", "1")
    assert not check_signature("", TOKEN, "1", "2")


@pytest.mark.parametrize("body", [
    b"<xml><Content>unclosed</xml>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><Content>&b;</Content></xml>',
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>',
    b"<xml>" + b"<A>x</A>" * 20000 + b"</xml>",
])
def test_hostile_or_broken_xml_is_refused(body):
    with pytest.raises(ValueError):
        parse_xml(body)


class FakeWeChatApi(BaseHTTPRequestHandler):
    """127.0.0.1 stand-in for api.weixin.qq.com: issues tokens and records customer-service messages."""

    sent: list = []

    def do_GET(self):  # noqa: N802
        self._json({"access_token": "TOKEN123", "expires_in": 7200})

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("content-length", 0))
        payload = json.loads(self.rfile.read(length))
        assert "access_token=TOKEN123" in self.path
        FakeWeChatApi.sent.append(payload)
        self._json({"errcode": 0, "errmsg": "ok"})

    def _json(self, data):
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def fake_api():
    server = HTTPServer(("127.0.0.1", free_port()), FakeWeChatApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, parser, fake_api):
    """Plain mode: no EncodingAESKey configured."""
    overrides = dict(wechat_token=TOKEN, wechat_aes_key="", wechat_app_id=APP_ID, wechat_app_secret="s",
                     wechat_api_base=fake_api, agent_timeout_seconds=1.0)
    with LiveServer(tmp_path_factory.mktemp("wechat"), settings, parser, **overrides) as live:
        yield live


@pytest.fixture(scope="module")
def safe_server(tmp_path_factory, settings, parser, fake_api):
    """Safe mode: the EncodingAESKey is configured, so only encrypted pushes are taken."""
    overrides = dict(wechat_token=TOKEN, wechat_aes_key=AES_KEY, wechat_app_id=APP_ID, wechat_app_secret="s",
                     wechat_api_base=fake_api, agent_timeout_seconds=1.0)
    with LiveServer(tmp_path_factory.mktemp("wechat-safe"), settings, parser, **overrides) as live:
        yield live


_nonces = itertools.count(int(time.time() * 1000) % 10**9)


def signed(timestamp=None, nonce=None):
    """Query parameters of a push signed now (or at ``timestamp``) with a fresh nonce (or ``nonce``)."""
    timestamp = str(int(time.time())) if timestamp is None else str(timestamp)
    nonce = str(next(_nonces)) if nonce is None else nonce
    return {"signature": signature(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def safe_push(plain_xml: str, timestamp=None, nonce=None):
    """(params, body) of a safe-mode push of ``plain_xml``."""
    params = signed(timestamp, nonce)
    encrypted = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt(plain_xml)
    params.update(encrypt_type="aes", msg_signature=signature(TOKEN, params["timestamp"], params["nonce"], encrypted))
    body = f"<xml><ToUserName><![CDATA[gh_wuye]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return params, body.encode()


def text_xml(openid, content, msg_id, kind="text", extra=""):
    return (f"<xml><ToUserName><![CDATA[gh_wuye]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content>{extra}<MsgId>{msg_id}</MsgId></xml>").encode()


def test_url_verification(server):
    r = httpx.get(server.url + "/wechat", params={**signed(), "echostr": "hello123"})
    assert r.status_code == 200 and r.text == "hello123"
    bad = httpx.get(server.url + "/wechat", params={**signed(), "signature": "0" * 40, "echostr": "x"})
    assert bad.status_code == 403 and bad.json() == {"detail": "签名校验失败", "code": "bad_signature"}


def test_plain_text_message_gets_a_passive_reply_in_time_and_duplicates_are_ignored(server):
    started = time.perf_counter()
    r = httpx.post(server.url + "/wechat", params=signed(), content=text_xml("o_user1", "物业几点上班", 1001))
    assert time.perf_counter() - started < 5
    reply = parse_xml(r.content)
    assert reply["ToUserName"] == "o_user1" and reply["FromUserName"] == "gh_wuye" and reply["MsgType"] == "text"
    assert "办公时间" in reply["Content"]
    again = httpx.post(server.url + "/wechat", params=signed(), content=text_xml("o_user1", "物业几点上班", 1001))
    assert again.text == "success"


def test_voice_recognition_image_and_events(server):
    voice = ("<xml><ToUserName>gh_wuye</ToUserName><FromUserName>o_user2</FromUserName><CreateTime>1</CreateTime>"
             "<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format><Recognition>门禁卡丢了怎么办</Recognition>"
             "<MsgId>2001</MsgId></xml>".encode())
    assert "工本费" in parse_xml(httpx.post(server.url + "/wechat", params=signed(), content=voice).content)["Content"]
    sub = (b"<xml><ToUserName>gh_wuye</ToUserName><FromUserName>o_user3</FromUserName><CreateTime>2</CreateTime>"
           b"<MsgType>event</MsgType><Event>subscribe</Event></xml>")
    assert "欢迎关注" in parse_xml(httpx.post(server.url + "/wechat", params=signed(), content=sub).content)["Content"]
    unsub = sub.replace(b"subscribe", b"unsubscribe")
    assert httpx.post(server.url + "/wechat", params=signed(), content=unsub).text == "success"
    click = (b"<xml><ToUserName>gh_wuye</ToUserName><FromUserName>o_user3</FromUserName><CreateTime>3</CreateTime>"
             b"<MsgType>event</MsgType><Event>CLICK</Event><EventKey>FAQ_payment_methods</EventKey></xml>")
    assert "微信" in parse_xml(httpx.post(server.url + "/wechat", params=signed(), content=click).content)["Content"]
    image = (b"<xml><ToUserName>gh_wuye</ToUserName><FromUserName>o_user4</FromUserName><CreateTime>4</CreateTime>"
             b"<MsgType>image</MsgType><PicUrl>http://127.0.0.1/p.jpg</PicUrl><MediaId>x</MediaId><MsgId>2002</MsgId></xml>")
    assert httpx.post(server.url + "/wechat", params=signed(), content=image).status_code == 200


def test_safe_mode_round_trip(safe_server):
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    params, body = safe_push(text_xml("o_safe", "小区的停车月卡怎么办理", 3001).decode())
    tampered = dict(params, msg_signature="0" * 40)  # checked before the nonce is used up
    r = httpx.post(safe_server.url + "/wechat", params=tampered, content=body)
    assert r.status_code == 403 and r.json() == {"detail": "签名校验失败", "code": "bad_signature"}  # not the crypto's text
    r = httpx.post(safe_server.url + "/wechat", params=params, content=body)
    outer = parse_xml(r.content)
    assert check_signature(outer["MsgSignature"], TOKEN, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
    assert outer["TimeStamp"] == params["timestamp"] and outer["Nonce"] == params["nonce"]
    assert "350" in parse_xml(crypto.decrypt(outer["Encrypt"]).encode())["Content"]


def test_plain_pushes_are_refused_in_safe_mode(safe_server):
    r = httpx.post(safe_server.url + "/wechat", params=signed(), content=text_xml("o_plain", "物业几点上班", 3101))
    assert r.status_code == 403 and r.json() == {"detail": "已启用安全模式，不接受明文消息", "code": "plain_message_refused"}
    # compatible mode (plain fields beside <Encrypt>) is still taken: what counts is the decrypted message
    plain = text_xml("o_plain", "物业几点上班", 3102).decode()
    params, body = safe_push(plain)
    body = body.replace(b"</xml>", b"<Content><![CDATA[ignored]]></Content></xml>")
    r = httpx.post(safe_server.url + "/wechat", params=params, content=body)
    assert r.status_code == 200 and "办公时间" in parse_xml(
        WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt(parse_xml(r.content)["Encrypt"]).encode())["Content"]


def test_safe_mode_replayed_nonce_is_refused(safe_server):
    params, body = safe_push(text_xml("o_safe_replay", "物业几点上班", 3201).decode())
    assert httpx.post(safe_server.url + "/wechat", params=params, content=body).status_code == 200
    r = httpx.post(safe_server.url + "/wechat", params=params, content=body)
    assert r.status_code == 403 and r.json()["code"] == "replayed_nonce"


def test_bad_signature_and_malformed_xml_are_refused(server):
    bad = dict(signed(), signature="f" * 40)
    r = httpx.post(server.url + "/wechat", params=bad, content=text_xml("o", "hi", 1))
    assert r.status_code == 403 and r.json() == {"detail": "签名校验失败", "code": "bad_signature"}
    r = httpx.post(server.url + "/wechat", params=signed(), content=b"<xml><oops></xml>")
    assert r.status_code == 400 and r.json() == {"detail": "消息不是有效的 XML", "code": "malformed_xml"}  # no parser text


def test_agent_replies_reach_wechat_users_through_the_customer_service_api(server):
    r = httpx.post(server.url + "/wechat", params=signed(), content=text_xml("o_angry", "我要投诉保安态度太差", 4001))
    assert r.status_code == 200
    client = httpx.Client(base_url=server.url)
    client.post("/api/auth/login", json={"username": "agent", "password": "agent123"}).raise_for_status()
    queue = client.get("/api/agent/queue").json()["queue"]
    item = next(q for q in queue if q["channel"] == "wechat")
    conversation_id = client.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").json()["conversation_id"]
    FakeWeChatApi.sent.clear()
    client.post(f"/api/agent/conversations/{conversation_id}/messages", json={"text": "您好，我们会核实处理"}).raise_for_status()
    assert FakeWeChatApi.sent and FakeWeChatApi.sent[-1]["touser"] == "o_angry"
    assert FakeWeChatApi.sent[-1]["text"]["content"] == "您好，我们会核实处理"
    client.post(f"/api/agent/conversations/{conversation_id}/messages",
                json={"text": "内部：该业主上月也投诉过", "private": True}).raise_for_status()
    assert all("内部" not in m["text"]["content"] for m in FakeWeChatApi.sent)


def test_wechat_residents_are_told_when_their_agent_disconnects(server):
    import asyncio
    import json

    import websockets

    r = httpx.post(server.url + "/wechat", params=signed(), content=text_xml("o_dropped", "转人工", 5001))
    assert r.status_code == 200
    client = httpx.Client(base_url=server.url)
    client.post("/api/auth/login", json={"username": "agent", "password": "agent123"}).raise_for_status()
    item = next(q for q in client.get("/api/agent/queue").json()["queue"] if q["summary"] == "转人工"
                and q["channel"] == "wechat")
    cookie = client.cookies.get("wuye_staff")

    async def connect_claim_and_drop():
        async with websockets.connect(server.url.replace("http", "ws") + "/ws/agent",
                                      extra_headers={"Cookie": f"wuye_staff={cookie}"}) as ws:
            assert json.loads(await ws.recv())["type"] == "queue"
            assert client.post(f"/api/agent/handoffs/{item['handoff_id']}/claim").status_code == 200

    FakeWeChatApi.sent.clear()
    asyncio.run(connect_claim_and_drop())
    deadline = time.time() + 10
    while time.time() < deadline:
        if any(m["touser"] == "o_dropped" and "客服连接中断" in m["text"]["content"] for m in FakeWeChatApi.sent):
            break
        time.sleep(0.3)
    else:
        pytest.fail(f"the WeChat resident was not told: {FakeWeChatApi.sent}")
    assert any("已接入" in m["text"]["content"] for m in FakeWeChatApi.sent if m["touser"] == "o_dropped")


# --- replays, timestamps, duplicates across restarts, hostile values -------------------------------------


# just outside the window, with a few seconds' margin: a loaded machine may take a second between signing and the
# server's check, which would bring a "window + 1 s" future timestamp back inside
@pytest.mark.parametrize("offset", [-TIMESTAMP_WINDOW - 5, -3600, TIMESTAMP_WINDOW + 5, 86400])
def test_old_and_future_timestamps_are_refused(server, offset):
    params = signed(int(time.time()) + offset)
    r = httpx.post(server.url + "/wechat", params=params, content=text_xml("o_clock", "物业几点上班", 6000 + offset))
    assert r.status_code == 403 and r.json() == {"detail": "请求的时间戳无效或已过期", "code": "stale_timestamp"}
    params = signed(int(time.time()) + offset)  # signed again: the POST above may have taken a while
    r = httpx.get(server.url + "/wechat", params={**params, "echostr": "x"})
    assert r.status_code == 403 and r.json()["code"] == "stale_timestamp"


def test_a_slightly_skewed_clock_is_fine_and_a_non_numeric_timestamp_is_not(server):
    r = httpx.post(server.url + "/wechat", params=signed(int(time.time()) - TIMESTAMP_WINDOW + 30),
                   content=text_xml("o_skew", "物业几点上班", 6101))
    assert r.status_code == 200 and "办公时间" in parse_xml(r.content)["Content"]
    r = httpx.post(server.url + "/wechat", params=signed("17e8"), content=text_xml("o_skew", "hi", 6102))
    assert r.status_code == 403 and r.json()["code"] == "stale_timestamp"


def test_a_replayed_nonce_is_refused_even_after_a_restart(server):
    params = signed()
    first = httpx.post(server.url + "/wechat", params=params, content=text_xml("o_replay", "物业几点上班", 7001))
    assert first.status_code == 200 and "办公时间" in parse_xml(first.content)["Content"]
    # the same signed query with another message: a replay, whatever the body
    for msg_id in (7001, 7002):
        r = httpx.post(server.url + "/wechat", params=params, content=text_xml("o_replay", "物业几点上班", msg_id))
        assert r.status_code == 403 and r.json() == {"detail": "重复的请求（nonce 已使用过）", "code": "replayed_nonce"}
    server.restart()
    r = httpx.post(server.url + "/wechat", params=params, content=text_xml("o_replay", "物业几点上班", 7003))
    assert r.status_code == 403 and r.json()["code"] == "replayed_nonce"


def _messages_of(server, openid):
    from sqlalchemy import func, select

    from bot.storage.models import ChatIdentity, Conversation, Message

    db = open_database(server.settings.database_url, run_migrations=False)
    try:
        with db.session() as session:
            return session.scalar(select(func.count(Message.id)).join(Conversation).join(ChatIdentity).where(
                ChatIdentity.channel == "wechat", ChatIdentity.sender_id == openid))
    finally:
        db.engine.dispose()


def test_a_duplicate_msgid_after_a_restart_is_answered_success_without_processing(server):
    r = httpx.post(server.url + "/wechat", params=signed(), content=text_xml("o_dup", "物业几点上班", 8001))
    assert "办公时间" in parse_xml(r.content)["Content"]
    stored = _messages_of(server, "o_dup")
    assert stored >= 2  # the question and the answer
    server.restart()  # the in-memory front is gone: the database remembers
    again = httpx.post(server.url + "/wechat", params=signed(), content=text_xml("o_dup", "物业几点上班", 8001))
    assert again.status_code == 200 and again.text == "success"
    assert _messages_of(server, "o_dup") == stored
    event = (b"<xml><ToUserName>gh_wuye</ToUserName><FromUserName>o_dup</FromUserName><CreateTime>99</CreateTime>"
             b"<MsgType>event</MsgType><Event>subscribe</Event></xml>")
    assert "欢迎关注" in parse_xml(httpx.post(server.url + "/wechat", params=signed(), content=event).content)["Content"]
    server.restart()
    assert httpx.post(server.url + "/wechat", params=signed(), content=event).text == "success"


HOSTILE = ["o]]><x>", "o]]>]]><![CDATA[<evil/>", "<xml>&amp;</xml>", "a]]]]>b", "o&lt;&#x41;"]


@pytest.mark.parametrize("openid", HOSTILE)
def test_reply_xml_escapes_echoed_values(openid):
    reply = text_reply(openid, "gh]]><y/>", "答复]]><z/>", now=1)
    root = ElementTree.fromstring(reply)
    assert [child.tag for child in root] == ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content"]
    assert parse_xml(reply.encode()) == {"ToUserName": openid, "FromUserName": "gh]]><y/>", "CreateTime": "1",
                                         "MsgType": "text", "Content": "答复]]><z/>"}
    encrypted = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_reply(reply, "1", "n]]><x/>")
    assert parse_xml(encrypted.encode())["Nonce"] == "n]]><x/>"


def test_a_hostile_openid_is_refused_at_the_edge_in_both_modes(server, safe_server):
    """A signed push whose FromUserName is no OpenID (WeChat issues [A-Za-z0-9_-]) never runs a turn: 400, in plain
    and safe mode alike (the reply's escaping of echoed values is tested on text_reply above)."""
    openid = "o]]><x>"
    from xml.sax.saxutils import escape

    body = (f"<xml><ToUserName>gh_wuye</ToUserName><FromUserName>{escape(openid)}</FromUserName>"
            f"<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>物业几点上班</Content><MsgId>9001</MsgId></xml>")
    r = httpx.post(server.url + "/wechat", params=signed(), content=body.encode())
    assert r.status_code == 400 and r.json()["code"] == "malformed_xml"
    params, safe_body = safe_push(body.replace("9001", "9002"))
    r = httpx.post(safe_server.url + "/wechat", params=params, content=safe_body)
    assert r.status_code == 400 and r.json()["code"] == "malformed_xml"


def test_two_instances_agree_on_nonces_and_messages(database_url, settings):
    """Two channels (two instances) on one database: each (timestamp, nonce) and each MsgId is taken once."""
    config = dataclasses.replace(settings, wechat_token=TOKEN, wechat_aes_key="", wechat_app_id=APP_ID,
                                 wechat_api_base="http://127.0.0.1:9")
    databases = [open_database(database_url), open_database(database_url, run_migrations=False)]
    channels = [WeChatChannel(SimpleNamespace(settings=config, db=db)) for db in databases]
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: channels[i % 2]._record("wechat-nonce", "1700000000:race"), range(16)))
        assert results.count(True) == 1

        async def deliver():
            return [await channels[0].first_time("m-1"), await channels[1].first_time("m-1"),
                    await channels[0].first_time("m-1"), await channels[1].first_time("m-2")]

        assert asyncio.run(deliver()) == [True, False, False, True]
    finally:
        for channel in channels:
            asyncio.run(channel.close())
        for db in databases:
            db.engine.dispose()
