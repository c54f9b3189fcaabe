"""The review app against a hostile web page and a careless setup (issue 11, serious item 1):
DNS rebinding (Host allow-list, Origin against the allowed hosts), the access token (length, out of
the URL after one exchange, out of the access log), and the pixel cap on cell images."""
from __future__ import annotations

import json
import logging
import re
import struct
import threading
import urllib.request
import zlib
from pathlib import Path

import pytest

from nianbao.review import app as review_app
from nianbao import web
from nianbao.review.app import ReviewConfig, check_bind, create_app
from nianbao.review.queue import review_queue

from review_helpers import db, store  # noqa: F401 (fixtures)

TOKEN = "correct-horse-battery-staple"


def _doc_id(store) -> int:
    items = review_queue(store)
    assert items, "the example store should have a document that needs review"
    return items[0].id


def _client(store, tmp_path, **kw):
    return create_app(ReviewConfig(db=Path(store.path), labels_dir=tmp_path / "labels", reviewer="dan", **kw)).test_client()


def _csrf(client, doc_id: int, host: str = "localhost") -> str:
    page = client.get(f"/doc/{doc_id}", headers={"Host": host})
    assert page.status_code == 200
    return re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)


# -- DNS rebinding -------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["evil.example:8765", "evil.example", "127.0.0.1.evil.example", "localhost.evil.example",
                                  "[::2]:8765", "attacker@127.0.0.1", "", "0x7f.0.0.1"])
def test_a_foreign_host_header_gets_400_and_no_data(store, tmp_path, host):
    doc_id = _doc_id(store)
    client = _client(store, tmp_path)
    for path in ("/", f"/doc/{doc_id}", f"/api/doc/{doc_id}/cell/requests.new.total", f"/doc/{doc_id}/history",
                 "/static/review.js"):
        answer = client.get(path, headers={"Host": host})
        assert answer.status_code == 400, (path, host)
        body = answer.get_data(as_text=True)
        assert "csrf-token" not in body and "requests.new.total" not in body and '"history"' not in body


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "LOCALHOST", "[::1]:8765", "[::1]", "localhost."])
def test_loopback_names_are_answered(store, tmp_path, host):
    assert _client(store, tmp_path).get(f"/doc/{_doc_id(store)}", headers={"Host": host}).status_code == 200


def test_the_bound_host_and_allow_host_names_are_answered(store, tmp_path):
    client = _client(store, tmp_path, host="192.168.1.5", allow_hosts=("Review.Lan",), token=TOKEN)
    for host in ("192.168.1.5:8765", "review.lan:8765", "127.0.0.1"):
        assert client.get(f"/?token={TOKEN}", headers={"Host": host}).status_code == 303, host
    assert client.get(f"/?token={TOKEN}", headers={"Host": "other.lan:8765"}).status_code == 400


def test_a_rebound_page_cannot_edit_or_approve(store, tmp_path):
    """The attack of the issue: the page's own name, rebound to 127.0.0.1, as Host and Origin."""
    doc_id = _doc_id(store)
    client = _client(store, tmp_path)
    token = _csrf(client, doc_id)  # even holding the session's CSRF token
    before = client.get(f"/api/doc/{doc_id}/cell/requests.new.total").json["value"]
    evil = {"Host": "evil.example:8765", "Origin": "http://evil.example:8765", "X-CSRF-Token": token}
    edit = client.post(f"/api/doc/{doc_id}/field", json={"key": "requests.new.total", "action": "edit", "value": "7"},
                       headers=evil)
    assert edit.status_code == 400
    assert client.post(f"/doc/{doc_id}/approve", data={"csrf_token": token}, headers=evil).status_code == 400
    assert client.get(f"/api/doc/{doc_id}/cell/requests.new.total").json["value"] == before
    assert not (tmp_path / "labels").exists()


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:9999", "null", "http://localhost.evil.example:8765"])
def test_origin_is_checked_against_the_allowed_hosts_and_port(store, tmp_path, origin):
    doc_id = _doc_id(store)
    client = _client(store, tmp_path)
    token = _csrf(client, doc_id, "localhost:8765")
    body = {"key": "requests.new.total", "action": "edit", "value": "7"}
    refused = client.post(f"/api/doc/{doc_id}/field", json=body,
                          headers={"Host": "localhost:8765", "Origin": origin, "X-CSRF-Token": token})
    assert refused.status_code == 403
    # The same app under another allowed name (127.0.0.1 vs localhost) is this app.
    ok = client.post(f"/api/doc/{doc_id}/field", json=body,
                     headers={"Host": "localhost:8765", "Origin": "http://127.0.0.1:8765", "X-CSRF-Token": token})
    assert ok.status_code == 200 and ok.json["fields"]["requests.new.total"]["value"] == 7


def test_split_host_reads_ipv6_ports_and_refuses_malformed_headers():
    assert web.split_host("[::1]:8765") == ("::1", 8765)
    assert web.split_host("LocalHost.:80") == ("localhost", 80)
    assert web.split_host("::1") == ("::1", None)
    assert web.split_host("a b") == ("", None)
    assert web.split_host("evil.example:80:80") == ("", None)


# -- the access token ----------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["", "s3cret", "x" * 15])
def test_a_short_token_is_refused(store, tmp_path, capsys, token):
    with pytest.raises(ValueError, match="at least 16"):
        check_bind("0.0.0.0", token or "x")
    with pytest.raises(ValueError, match="at least 16"):
        ReviewConfig(db=Path(store.path), token=token or "x")
    from nianbao.cli import main

    assert main(["review", "--db", store.path, "--host", "0.0.0.0", "--token", token or "x"]) == 2
    assert "at least 16" in capsys.readouterr().err


def test_the_token_leaves_the_url_after_the_first_exchange(store, tmp_path):
    doc_id = _doc_id(store)
    client = _client(store, tmp_path, token=TOKEN)
    first = client.get(f"/doc/{doc_id}?token={TOKEN}&x=1")
    assert first.status_code == 303
    assert first.headers["Location"].endswith(f"/doc/{doc_id}?x=1") and TOKEN not in first.headers["Location"]
    page = client.get(first.headers["Location"])
    assert page.status_code == 200 and TOKEN not in page.get_data(as_text=True)
    # A POST does not take the token from its URL (it would sit in the form's action).
    other = _client(store, tmp_path, token=TOKEN)
    assert other.post(f"/doc/{doc_id}/reopen?token={TOKEN}").status_code == 401


def test_the_token_never_reaches_the_access_log(store, tmp_path, caplog):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, create_app(ReviewConfig(db=Path(store.path), labels_dir=tmp_path, token=TOKEN)),
                         threaded=True, request_handler=web.request_handler(TOKEN))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
            with opener.open(f"http://127.0.0.1:{server.server_port}/?token={TOKEN}&year=2020", timeout=10) as answer:
                assert answer.status == 200 and TOKEN not in answer.url
    finally:
        server.shutdown()
        thread.join(5)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "werkzeug")
    assert "GET /?token=[redacted]&year=2020" in logged and "GET /?year=2020" in logged
    assert TOKEN not in logged
    assert web.redact_token('"GET /x?a=1&TOKEN=abc HTTP/1.1" 303', None) == '"GET /x?a=1&TOKEN=[redacted] HTTP/1.1" 303'


# -- cell images ---------------------------------------------------------------------------------

def _pdf(path: Path, width: float, height: float) -> Path:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.new_page(width, height)
    pdf.save(str(path))
    pdf.close()
    return path


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` × ``height`` (its pixels never follow: only the size matters)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def _point_cell_at(store, doc_id: int, source: Path, bbox: list[float]) -> str:
    key = "requests.new.total"
    store.conn.execute("UPDATE documents SET path = ? WHERE id = ?", (str(source), doc_id))
    store.conn.execute("UPDATE fields SET page = 1, bbox = ? WHERE document_id = ? AND key = ?",
                       (json.dumps(bbox), doc_id, key))
    return key


def test_a_huge_pdf_page_is_rendered_under_the_pixel_cap(store, tmp_path, monkeypatch):
    import io

    import pypdfium2 as pdfium
    from PIL import Image

    doc_id = _doc_id(store)
    key = _point_cell_at(store, doc_id, _pdf(tmp_path / "huge.pdf", 14400, 14400), [1000, 1000, 1400, 1100])
    rasters = []
    real_render = pdfium.PdfPage.render

    def measured_render(page, scale=1, **kw):
        width, height = page.get_size()
        rasters.append(int(width * scale) * int(height * scale))
        # Checked before rendering: the old code asked for 28800 × 28800 px (3.3 GB) here.
        assert rasters[-1] <= review_app.MAX_RENDER_PIXELS, f"{rasters[-1]} px requested"
        return real_render(page, scale=scale, **kw)

    monkeypatch.setattr(pdfium.PdfPage, "render", measured_render)
    answer = _client(store, tmp_path).get(f"/doc/{doc_id}/cell/{key}.png")
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    assert rasters and max(rasters) <= review_app.MAX_RENDER_PIXELS
    image = Image.open(io.BytesIO(answer.data))
    assert 0 < image.width * image.height <= review_app.MAX_RENDER_PIXELS


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_absurd_pages_and_images_are_refused_with_400(store, tmp_path):
    doc_id = _doc_id(store)
    client = _client(store, tmp_path)
    key = _point_cell_at(store, doc_id, _pdf(tmp_path / "absurd.pdf", 20_000, 30_000), [10, 10, 50, 30])
    answer = client.get(f"/doc/{doc_id}/cell/{key}.png")  # beyond PDF's own 14400-point limit
    assert answer.status_code == 400 and "larger than" in answer.get_data(as_text=True)
    for width in (10_000, 30_000):  # over our cap; over PIL's own bomb guard
        _point_cell_at(store, doc_id, _png_header(tmp_path / f"scan{width}.png", width, width), [10, 10, 50, 30])
        answer = client.get(f"/doc/{doc_id}/cell/{key}.png")
        assert answer.status_code == 400, width
    _point_cell_at(store, doc_id, _pdf(tmp_path / "small.pdf", 600, 800), [10, 10, 50, 30])
    store.conn.execute("UPDATE fields SET page = 3 WHERE document_id = ? AND key = ?", (doc_id, key))
    assert client.get(f"/doc/{doc_id}/cell/{key}.png").status_code == 400  # no page 3
