"""Widget uploads: decoded and re-encoded with Pillow (polyglots and trailers do not survive), a pixel cap read from
the header, generated names only, served with nosniff and the right type, per-resident quotas; photo references in
messages must be exactly an existing upload."""
from __future__ import annotations

import dataclasses
import io
import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from bot.access.limits import Limit
from bot.api.uploads import PHOTO_REF
from tests.conftest import make_app, widget_resident


@pytest.fixture(scope="module")
def app(settings, parser, tmp_path_factory):
    yield from make_app(settings, parser, tmp_path_factory, "uploads")


def resident(app) -> TestClient:
    return widget_resident(app)


def image_bytes(fmt: str, size=(64, 48), mode="RGB", color=(200, 30, 30), **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format=fmt, **save)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming ``width``×``height`` followed by a tiny IDAT: nothing like that many pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def upload(client, data: bytes, filename="photo.png", content_type="image/png"):
    return client.post("/api/widget/upload", files={"file": (filename, data, content_type)})


def stored(client, url: str):
    r = client.get(url)
    assert r.status_code == 200
    return r


def test_a_png_is_stored_re_encoded_under_a_generated_name_and_served_safely(app):
    client = resident(app)
    r = upload(client, image_bytes("PNG"), filename="../../etc/passwd.png")
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    assert PHOTO_REF.fullmatch(url) and url.endswith(".png")
    served = stored(TestClient(app), url)  # served to agents too (the name is the capability)
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in served.headers["content-security-policy"]
    with Image.open(io.BytesIO(served.content)) as img:
        assert img.format == "PNG" and img.size == (64, 48)


def test_a_jpeg_loses_its_metadata_and_stays_a_jpeg(app):
    client = resident(app)
    exif = Image.Exif()
    exif[0x010E] = "secret description"  # ImageDescription
    exif[0x0112] = 6  # orientation: rotate 90° to show
    data = image_bytes("JPEG", exif=exif.tobytes(), comment=b"<?php echo 1; ?>")
    url = upload(client, data, "a.jpg", "image/jpeg").json()["url"]
    served = stored(client, url)
    assert url.endswith(".jpg") and served.headers["content-type"] == "image/jpeg"
    assert b"secret description" not in served.content and b"<?php" not in served.content
    with Image.open(io.BytesIO(served.content)) as img:
        assert img.format == "JPEG" and not img.getexif() and img.size == (48, 64)  # turned the right way up


def test_appended_php_and_html_do_not_survive(app):
    client = resident(app)
    for fmt in ("PNG", "GIF", "JPEG"):
        data = image_bytes(fmt) + b"<?php system($_GET['c']); ?><script>alert(1)</script>"
        r = upload(client, data)
        assert r.status_code == 200, (fmt, r.text)
        content = stored(client, r.json()["url"]).content
        assert b"<?php" not in content and b"<script" not in content
        Image.open(io.BytesIO(content)).load()


@pytest.mark.parametrize("data", [
    b"GIF89a<html><body><script>alert(document.cookie)</script></body></html>",  # GIF/HTML polyglot
    b"GIF89a/*\x00\x00*/=1;alert(1)//",  # GIF/JavaScript polyglot
    b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
    b"\x89PNG\r\n\x1a\n" + b"\0" * 100,  # a PNG signature and nothing real
    b"RIFF\x10\x00\x00\x00WEBPjunkjunk",
    b"%PDF-1.4\n",
    b"",
], ids=["gif-html", "gif-js", "svg", "png-signature", "webp-junk", "pdf", "empty"])
def test_anything_that_is_not_a_real_image_is_refused(app, data):
    r = upload(resident(app), data)
    assert r.status_code == 415, r.text
    assert r.json() == {"detail": "只能上传 JPEG、PNG、WebP 或 GIF 格式的图片", "code": "unsupported_image"}


def test_a_truncated_png_is_refused(app):
    data = image_bytes("PNG", size=(300, 300))
    r = upload(resident(app), data[: len(data) // 2])
    assert r.status_code == 415


@pytest.mark.parametrize("width,height", [(50000, 50000), (7000, 7000), (400_000, 101)])
def test_too_many_pixels_is_refused_from_the_header(app, width, height):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = upload(resident(app), png_header_only(width, height))
    assert r.status_code == 413, r.text
    # a PNG: 16 MP at most (JPEG and WebP 40 MP: they decode at a fraction of their size, bot/api/uploads.py)
    assert r.json()["code"] == "image_too_large" and "16 百万像素" in r.json()["detail"]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB: nothing was allocated


def test_the_pixel_count_is_checked_before_anything_is_decoded(monkeypatch):
    from PIL import ImageFile

    from bot.core.errors import ImageTooLarge
    from bot.api.uploads import clean_image

    def never(self):  # pragma: no cover - failing here is the bug
        raise AssertionError("decoded an image over the pixel limit")

    monkeypatch.setattr(ImageFile.ImageFile, "load", never)
    with pytest.raises(ImageTooLarge):
        clean_image(png_header_only(50000, 50000))


def test_other_formats_are_stored_as_png_or_jpeg(app):
    client = resident(app)
    cases = [(image_bytes("WEBP"), ".jpg"), (image_bytes("PNG", mode="RGBA", color=(1, 2, 3, 100)), ".png"),
             (image_bytes("GIF", mode="P", color=3), ".png"), (image_bytes("JPEG", mode="CMYK", color=(0, 0, 0, 0)), ".jpg")]
    for data, suffix in cases:
        url = upload(client, data).json()["url"]
        assert url.endswith(suffix)
        with Image.open(io.BytesIO(stored(client, url).content)) as img:
            img.load()
            assert img.mode in ("RGB", "RGBA")


@pytest.mark.parametrize("path", ["/uploads/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/uploads/..%2F..%2Fetc%2Fpasswd",
                                  "/uploads/" + "a" * 32 + ".html", "/uploads/" + "A" * 32 + ".png",
                                  "/uploads/" + "a" * 32 + ".png%0a", "/uploads/wuye.db", "/uploads/nothing.png"])
def test_only_generated_names_are_served(app, path):
    r = TestClient(app).get(path)
    assert r.status_code == 404


def test_upload_quotas_per_resident(app):
    engine = app.state.services.engine
    saved = engine.limits
    try:
        engine.limits = dataclasses.replace(saved, uploads_per_sender=Limit(3, 3600))
        client, other = resident(app), resident(app)
        for _ in range(3):
            assert upload(client, image_bytes("PNG")).status_code == 200
        r = upload(client, image_bytes("PNG"))
        assert r.status_code == 429
        assert r.json()["code"] == "too_many_uploads" and "图片上传得太多了" in r.json()["detail"]
        assert upload(other, image_bytes("PNG")).status_code == 200  # per resident

        data = image_bytes("PNG", size=(200, 200))
        engine.limits = dataclasses.replace(saved, upload_bytes_per_sender=Limit(len(data) * 2, 3600))
        third = resident(app)
        assert upload(third, data).status_code == 200 and upload(third, data).status_code == 200
        r = upload(third, data)
        assert r.status_code == 429 and r.json()["code"] == "too_many_uploads"
    finally:
        engine.limits = saved


def history_texts(client):
    return [m["text"] for m in client.get("/api/widget/history").json()["messages"]]


@pytest.mark.parametrize("photo", ["/uploads/../../etc/passwd", "/uploads/%2e%2e/wuye.db", "https://evil.example/x.png",
                                   "/uploads/" + "0" * 32 + ".png", "/uploads/" + "0" * 32 + ".png\n",
                                   "javascript:alert(1)", "/static/app.css"])
def test_a_photo_reference_must_be_an_existing_upload(app, photo):
    client = resident(app)
    r = client.post("/api/widget/messages", json={"text": "厨房漏水", "photos": [photo]})
    assert r.status_code == 422
    assert r.json() == {"detail": "图片无效，请重新上传后再发送", "code": "invalid_photo"}
    assert history_texts(client) == []  # nothing stored


def test_an_uploaded_photo_can_be_sent(app):
    client = resident(app)
    url = upload(client, image_bytes("PNG")).json()["url"]
    r = client.post("/api/widget/messages", json={"text": "", "photos": [url]})
    assert r.status_code == 200, r.text
    assert history_texts(client)[0] == "[图片]"
    with client.websocket_connect("/ws/chat") as ws:
        assert ws.receive_json()["type"] == "history"
        ws.send_json({"type": "message", "text": "看看这张", "photos": ["/uploads/../../etc/passwd"]})
        assert ws.receive_json() == {"type": "error", "code": "invalid_photo", "detail": "图片无效，请重新上传后再发送"}
    assert "看看这张" not in history_texts(client)
