"""Password and verification-code hashing (stdlib scrypt; no plaintext stored)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = hash_password(password, salt=base64.b64decode(salt_b64))
    return hmac.compare_digest(expected, stored)


def new_code(digits: int = 6) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(digits))
