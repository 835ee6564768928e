"""Photo uploads, shared by the widget (a resident's repair photo, ``connectors/web.py``) and the desk (a
technician's completion photo, ``bot/api/work_orders.py``): the bytes decoded and encoded again with Pillow, stored
under a generated name that carries a keyed tag of its uploader, counted against per-uploader and per-address
quotas; a message or an order may then refer only to its own uploader's photos (:func:`checked_photos`).

One place for both, so a staff upload gets exactly the checks a resident's gets (format, pixel cap read from the
header, metadata dropped, quotas in the same buckets per address)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import re
import uuid
from typing import List, Optional, Tuple

from fastapi import UploadFile
from PIL import Image, ImageOps

from bot.access import limits
from bot.core.errors import ImageTooLarge, InvalidPhoto, PhotoTooLarge, TooManyUploads, UnsupportedImage, WuyeError
from bot.core.settings import Settings

MAX_PHOTOS = 6
MAX_PIXELS = 40_000_000  # 40 megapixels: checked from the header, before anything is decoded
# PNG and GIF decode at full size (JPEG decodes at a fraction with draft()): a highly compressed 6300×6300 PNG of
# 112 KiB cost 2.2 s of CPU. No phone photo or screenshot of those formats comes near 16 MP.
MAX_LOSSLESS_PIXELS = 16_000_000
MAX_SIDE = 2560  # what is kept: plenty for the desk and the console, and re-encoding costs a fraction
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
# An upload is stored as <owner tag><random>.<png|jpg>: the tag (16 hex) is a keyed digest of the uploader, so a
# message can refer only to its own sender's photos (another resident's photo URL is refused). Names without a tag
# (32 hex) are older uploads: still served, never attachable again.
UPLOAD_NAME = re.compile(r"(?:[0-9a-f]{16})?[0-9a-f]{32}\.(?:png|jpg)")  # the names uploads are served under
PHOTO_REF = re.compile(r"/uploads/(([0-9a-f]{16})[0-9a-f]{32}\.(?:png|jpg))")  # the only photo a message may refer to
UPLOAD_TYPES = {"png": "image/png", "jpg": "image/jpeg"}
UPLOAD_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                  "Cache-Control": "private, max-age=86400"}


def staff_uploader(staff_id: int) -> str:
    """A staff member's uploader name: never a resident's (those are ``w_`` and URL-safe base64, no colon:
    bot/access/auth.py), so the two never share an owner tag or a per-uploader quota."""
    return f"staff:{staff_id}"


def owner_tag(settings: Settings, sender: str) -> str:
    return hmac.new(settings.secret_key.encode(), f"upload:{sender}".encode(), hashlib.sha256).hexdigest()[:16]


def checked_photos(settings: Settings, photos: List[str], sender: str) -> List[str]:
    """Photo references are exactly ``/uploads/<generated name>`` of an existing upload by this sender; anything else
    is refused."""
    if len(photos) > MAX_PHOTOS:
        raise InvalidPhoto()
    tag = owner_tag(settings, sender)
    for photo in photos:
        match = PHOTO_REF.fullmatch(photo) if isinstance(photo, str) else None
        if match is None or not hmac.compare_digest(match.group(2), tag) or \
                not (settings.upload_dir / match.group(1)).is_file():
            raise InvalidPhoto()
    return list(photos)


def clean_image(data: bytes) -> Tuple[bytes, str]:
    """The uploaded bytes decoded and encoded again (PNG, or JPEG for photos without transparency), without metadata.

    Anything that is not a real JPEG/PNG/WebP/GIF is refused; trailers (appended scripts), comments, EXIF and
    polyglot tails do not survive re-encoding. The pixel count is checked from the header, before decoding."""
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
            if img.width <= 0 or img.height <= 0:
                raise UnsupportedImage()
            source_format = img.format
            cap = MAX_PIXELS if source_format in ("JPEG", "WEBP") else MAX_LOSSLESS_PIXELS
            if img.width * img.height > cap:
                raise ImageTooLarge(max_mp=cap // 1_000_000)
            if source_format == "JPEG":
                img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decoded at 1/2, 1/4 or 1/8 scale when that is enough
            img.load()
            if max(img.size) > MAX_SIDE:
                img.thumbnail((MAX_SIDE, MAX_SIDE), resample=Image.Resampling.BILINEAR, reducing_gap=2.0)
            img = ImageOps.exif_transpose(img)  # the photo the right way up, then the EXIF is dropped
            alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            if source_format in ("PNG", "GIF") or alpha:
                clean, kind = img.convert("RGBA" if alpha else "RGB"), "png"
            else:
                clean, kind = img.convert("RGB"), "jpg"
            clean.info = {}  # no ICC profile, comments or text chunks carried over
            out = io.BytesIO()
            if kind == "png":
                clean.save(out, format="PNG", optimize=False)
            else:
                clean.save(out, format="JPEG", quality=85)
            return out.getvalue(), kind
    except WuyeError:
        raise
    except Image.DecompressionBombError as exc:  # far over either limit: refused by Pillow at open, format unread
        raise ImageTooLarge(max_mp=MAX_LOSSLESS_PIXELS // 1_000_000) from exc
    except Exception as exc:  # noqa: BLE001 - whatever the decoder finds wrong, it is not an image we take
        raise UnsupportedImage() from exc


def take_upload_quota(services, sender: str, ip: Optional[str], size: int) -> None:
    """Per uploader and per address (fresh identities cost nothing): uploads an hour and bytes an hour (every
    attempt counts: decoding is the costly part)."""
    cfg, now = services.engine.limits, services.clock()
    buckets = [(f"upload:{sender}", cfg.uploads_per_sender, 1), (f"upload-bytes:{sender}", cfg.upload_bytes_per_sender, size)]
    if ip:
        buckets += [(f"upload:ip:{ip}", cfg.uploads_per_ip, 1), (f"upload-bytes:ip:{ip}", cfg.upload_bytes_per_ip, size)]
    with services.db.session() as session:
        full = [(bucket, limit) for bucket, limit, amount in buckets
                if not limits.allowed(session, bucket, limit, now, amount)]
        if full:
            raise TooManyUploads(seconds=max(max(1, limits.seconds_until_free(session, b, lim, now)) for b, lim in full))
        for bucket, _, amount in buckets:
            limits.record(session, bucket, now, amount)


async def receive_photo(services, sender: str, ip: Optional[str], file: UploadFile) -> str:
    """An uploaded photo checked, counted, re-encoded and stored; its URL (``/uploads/<owner tag><random>.<ext>``)."""
    settings = services.settings
    data = await file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PhotoTooLarge(max_mb=f"{round(settings.max_upload_bytes / 1024 / 1024, 1):g}")
    take_upload_quota(services, sender, ip, len(data))
    content, kind = await asyncio.to_thread(clean_image, data)
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    name = f"{owner_tag(settings, sender)}{uuid.uuid4().hex}.{kind}"
    (settings.upload_dir / name).write_bytes(content)
    return f"/uploads/{name}"
