"""WeChat Official Account message signing and AES ("safe mode") encryption, on `cryptography`.

Plain mode: signature = sha1(sorted(token, timestamp, nonce)). Safe mode: msg_signature =
sha1(sorted(token, timestamp, nonce, encrypt)); encrypt = base64(AES-256-CBC(key, iv=key[:16],
PKCS#7 to 32-byte blocks)(random16 + len(msg) as 4 big-endian bytes + msg + appid)).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class WeChatCryptoError(ValueError):
    pass


# characters XML 1.0 cannot carry at all (not even in CDATA): dropped from anything written into XML
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def cdata(value: object) -> str:
    """``value`` as CDATA that cannot be broken out of: every ``]]>`` is split across two sections."""
    text = _NOT_XML.sub("", str(value))
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_signature(expected: str, *parts: str) -> bool:
    return bool(expected) and hmac.compare_digest(signature(*parts), expected.lower())


class WeChatCrypto:
    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise WeChatCryptoError("EncodingAESKey must be 43 characters")
        self.token = token
        self.key = base64.b64decode(encoding_aes_key + "=")
        self.app_id = app_id

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, plaintext: str, random16: bytes | None = None) -> str:
        body = plaintext.encode()
        data = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body + self.app_id.encode()
        pad = BLOCK - len(data) % BLOCK
        data += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except ValueError as exc:
            raise WeChatCryptoError("Encrypt is not base64") from exc
        if not raw or len(raw) % 16:
            raise WeChatCryptoError("Encrypt has a bad length")
        decryptor = self._cipher().decryptor()
        data = decryptor.update(raw) + decryptor.finalize()
        pad = data[-1]
        if not 1 <= pad <= BLOCK:
            raise WeChatCryptoError("bad padding")
        data = data[:-pad]
        if len(data) < 20:
            raise WeChatCryptoError("message too short")
        (length,) = struct.unpack(">I", data[16:20])
        message, app_id = data[20:20 + length], data[20 + length:]
        if app_id.decode(errors="replace") != self.app_id:
            raise WeChatCryptoError("the message is for another app id")
        return message.decode()

    def verify_and_decrypt(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        if not check_signature(msg_signature, self.token, timestamp, nonce, encrypted):
            raise WeChatCryptoError("bad msg_signature")
        return self.decrypt(encrypted)

    def encrypt_reply(self, xml: str, timestamp: str, nonce: str) -> str:
        encrypted = self.encrypt(xml)
        sig = signature(self.token, timestamp, nonce, encrypted)
        return (f"<xml><Encrypt>{cdata(encrypted)}</Encrypt><MsgSignature>{cdata(sig)}</MsgSignature>"
                f"<TimeStamp>{cdata(timestamp)}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>")
