import hashlib
import io
import re
import zipfile
from pathlib import Path

import pytest
from flask_babel import force_locale
from werkzeug.datastructures import FileStorage

from core import files
from core.db import db
from core.errors import ValidationError
from core.models.files import StoredFile

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _english():
    """Messages are checked in English (the default locale's catalog may translate them)."""
    with force_locale("en"):
        yield


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _docx() -> bytes:
    return _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})


def _file_error(exc_info) -> str:
    return " ".join(exc_info.value.fields["file"])


def test_valid_pdf_is_stored_with_sha256_outside_static_under_a_generated_name(app):
    stored = files.save_file(PDF, filename="招标文件.pdf", purpose="tender_document", uploaded_by_id=None)
    assert stored.id is not None
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest()
    assert stored.size == len(PDF)
    assert stored.content_type == "application/pdf"
    assert stored.original_name == "招标文件.pdf"
    assert re.fullmatch(r"[0-9a-f]{32}", stored.storage_key)
    path = files.path_of(stored)
    files_dir = Path(app.config["FILES_DIR"]).resolve()
    assert files_dir in path.parents
    assert path.parent.parent.name == stored.storage_key[:2]  # sharded
    assert path.name == stored.storage_key  # no user-chosen part in the name
    static = Path(app.static_folder).resolve()
    assert static not in path.parents
    assert files.read_file(stored) == PDF
    assert db.session.get(StoredFile, stored.id).sha256 == stored.sha256


def test_a_file_stored_in_a_unit_of_work_that_rolls_back_leaves_the_disk(app):
    from core.db import unit_of_work

    kept = files.store_bytes(PDF, original_name="kept.pdf", content_type="application/pdf")
    written: list[Path] = []
    with pytest.raises(RuntimeError):
        with unit_of_work():
            lost = files.store_bytes(PDF, original_name="lost.pdf", content_type="application/pdf")
            written.append(files.path_of(lost))
            assert written[0].exists()  # on disk until the transaction is decided
            raise RuntimeError("the caller's next step fails")
    assert not written[0].exists()  # no row, no file
    assert files.read_file(kept) == PDF
    assert db.session.scalar(db.select(db.func.count()).select_from(StoredFile)) == 1


def test_file_larger_than_the_limit_is_refused_without_reading_it_all():
    stream = io.BytesIO(b"a" * 5000)
    with pytest.raises(ValidationError) as exc:
        files.save_file(stream, filename="notes.txt", max_bytes=100)
    assert "larger than" in _file_error(exc)
    assert stream.tell() <= 101  # bounded read: the rest never entered memory
    with pytest.raises(ValidationError):
        files.save_file(b"a" * 101, filename="notes.txt", max_bytes=100)
    assert files.save_file(b"a" * 100, filename="notes.txt", max_bytes=100).size == 100


def test_default_limit_comes_from_config(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 10)
    with pytest.raises(ValidationError):
        files.save_file(b"x" * 11, filename="a.txt")


def test_empty_file_is_refused():
    with pytest.raises(ValidationError) as exc:
        files.save_file(b"", filename="a.pdf")
    assert "empty" in _file_error(exc)


def test_extension_not_allowed_is_refused():
    with pytest.raises(ValidationError) as exc:
        files.save_file(PDF, filename="doc.pdf", allowed={"png", "jpg"})
    assert "not accepted" in _file_error(exc)
    with pytest.raises(ValidationError):
        files.save_file(EXE, filename="setup.exe")
    with pytest.raises(ValidationError):
        files.save_file(b"hello", filename="README")  # no extension


def test_pdf_without_pdf_header_is_refused():
    with pytest.raises(ValidationError) as exc:
        files.save_file(b"<html><script>alert(1)</script></html>", filename="bid.pdf")
    assert "PDF" in _file_error(exc)
    with pytest.raises(ValidationError):
        files.save_file(PNG, filename="bid.pdf")


def test_content_that_does_not_match_the_extension_is_refused():
    with pytest.raises(ValidationError) as exc:
        files.save_file(PDF, filename="photo.png")
    assert "does not match" in _file_error(exc)
    with pytest.raises(ValidationError):
        files.save_file(EXE, filename="notes.txt")  # a binary disguised as text
    with pytest.raises(ValidationError):
        files.save_file(b"text\x00with nul", filename="notes.txt")
    with pytest.raises(ValidationError):
        files.save_file(_zip({"a.txt": b"hello"}), filename="report.docx")  # a zip, not a Word file
    assert files.save_file(PNG, filename="photo.png").content_type == "image/png"


def test_text_is_accepted_only_where_the_caller_allows_it():
    assert files.save_file("报价说明".encode(), filename="note.txt").content_type == "text/plain"
    with pytest.raises(ValidationError):
        files.save_file(b"plain text", filename="note.txt", allowed={"pdf"})


def test_office_document_and_zip_are_accepted():
    docx = files.save_file(_docx(), filename="方案.docx")
    assert docx.content_type.endswith("wordprocessingml.document")
    archive = files.save_file(_zip({"a.txt": b"hello", "b.txt": b"world"}), filename="bundle.zip")
    assert archive.content_type == "application/zip"


def test_zip_bomb_is_refused_by_ratio_and_total_size(app, monkeypatch):
    bomb = _zip({"zeros.bin": b"\x00" * (20 * 1024 * 1024)})
    assert len(bomb) < 100 * 1024
    with pytest.raises(ValidationError) as exc:
        files.save_file(bomb, filename="bomb.zip")
    assert "too much data" in _file_error(exc)
    monkeypatch.setitem(app.config, "FILES_ZIP_MAX_UNCOMPRESSED", 1000)
    with pytest.raises(ValidationError):
        files.save_file(_zip({"a.txt": b"x" * 2000}), filename="big.zip")


def test_zip_with_too_many_entries_is_refused(app, monkeypatch):
    monkeypatch.setitem(app.config, "FILES_ZIP_MAX_ENTRIES", 5)
    many = _zip({f"f{i}.txt": b"x" for i in range(10)})
    with pytest.raises(ValidationError) as exc:
        files.save_file(many, filename="many.zip")
    assert "too many entries" in _file_error(exc)
    bomb_docx = _zip({"[Content_Types].xml": b"<Types/>", **{f"word/p{i}.xml": b"x" for i in range(10)}})
    with pytest.raises(ValidationError):
        files.save_file(bomb_docx, filename="many.docx")


def test_damaged_zip_is_refused():
    with pytest.raises(ValidationError) as exc:
        files.save_file(b"PK\x03\x04" + b"\x00" * 100, filename="broken.zip")
    assert "damaged" in _file_error(exc)


@pytest.mark.parametrize(
    "name, shown",
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.txt", "evil.txt"),
        ("/abs/path/ok.txt", "ok.txt"),
        ("..txt", "txt"),
        ("line\nbreak.txt", "linebreak.txt"),
    ],
)
def test_path_traversal_in_the_filename_is_harmless(app, name, shown):
    if shown == "txt":
        with pytest.raises(ValidationError):  # "..txt" has no extension left once sanitized
            files.save_file(b"hello", filename=name)
        return
    stored = files.save_file(b"hello", filename=name)
    assert stored.original_name == shown
    assert Path(app.config["FILES_DIR"]).resolve() in files.path_of(stored).parents


def test_file_storage_upload_is_accepted():
    upload = FileStorage(stream=io.BytesIO(PDF), filename="offer.pdf", content_type="application/pdf")
    assert files.save_file(upload, filename=upload.filename).sha256 == hashlib.sha256(PDF).hexdigest()


def test_send_stored_file_sends_an_attachment_with_a_safe_utf8_name(app):
    stored = files.save_file(PDF, filename="投标 文件.pdf")
    with app.test_request_context("/"):
        response = files.send_stored_file(stored)
        response.direct_passthrough = False
        body = response.get_data()
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E6%8A%95%E6%A0%87%20%E6%96%87%E4%BB%B6.pdf" in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "application/pdf"
    assert "no-store" in response.headers["Cache-Control"]
    assert body == PDF


def test_send_stored_file_inline_only_for_safe_types(app):
    pdf = files.save_file(PDF, filename="a.pdf")
    txt = files.save_file(b"<html><script>alert(1)</script></html>", filename="a.txt")
    with app.test_request_context("/"):
        assert files.send_stored_file(pdf, inline=True).headers["Content-Disposition"].startswith("inline")
        text_response = files.send_stored_file(txt, inline=True, download_name="../x\r\nSet-Cookie: a=b.txt")
        disposition = text_response.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert "\n" not in disposition and "/" not in disposition.split("filename*=")[0]
    assert text_response.mimetype == "text/plain"


def test_files_dir_inside_static_is_refused(app, monkeypatch):
    monkeypatch.setitem(app.config, "FILES_DIR", Path(app.static_folder) / "uploads")
    with pytest.raises(RuntimeError):
        files.save_file(PDF, filename="a.pdf")


def test_checked_plaintext_can_be_stored_as_ciphertext_without_sniffing():
    upload = files.check_upload(PDF, filename="sealed-bid.pdf", allowed={"pdf"})
    assert upload.data == PDF and upload.name == "sealed-bid.pdf"
    ciphertext = bytes(b ^ 0x5A for b in upload.data)  # stands in for real encryption
    stored = files.store_bytes(
        ciphertext, original_name=upload.name, content_type="application/octet-stream", purpose="sealed_bid"
    )
    assert files.read_file(stored) == ciphertext
    assert stored.sha256 == hashlib.sha256(ciphertext).hexdigest()
    assert files.verify_file(stored)


def test_multipart_uploads_are_parsed_into_memory_not_a_temporary_file(app):
    big = PDF + b"0" * (2 * 1024 * 1024)  # far above Werkzeug's 500 KB spooling threshold
    with app.test_request_context(
        "/upload", method="POST", data={"file": (io.BytesIO(big), "bid.pdf")}, content_type="multipart/form-data"
    ):
        from flask import request

        upload = request.files["file"]
        assert isinstance(upload.stream, io.BytesIO)
        stored = files.save_file(upload, filename=upload.filename, allowed={"pdf"})
    assert stored.size == len(big)


def test_check_uploads_skips_an_empty_input_and_names_the_refused_file(app):
    good = FileStorage(io.BytesIO(PDF), filename="spec.pdf")
    empty_input = FileStorage(io.BytesIO(b""), filename="")
    checked = files.check_uploads([good, empty_input], allowed={"pdf"})
    assert [(c.name, c.data) for c in checked] == [("spec.pdf", PDF)]
    with pytest.raises(ValidationError) as exc:
        files.check_uploads([FileStorage(io.BytesIO(PDF), filename="a.pdf"),
                             FileStorage(io.BytesIO(b"MZ.."), filename="../tool <x>.exe")], allowed={"pdf"})
    assert exc.value.fields["file"] == [exc.value.message]
    assert exc.value.message.startswith("tool <x>.exe: Files of this type are not accepted")  # the name, sanitized
    with force_locale("zh_Hans_CN"):
        with pytest.raises(ValidationError) as zh:
            files.check_uploads([FileStorage(io.BytesIO(b""), filename="空.pdf")], allowed={"pdf"})
    assert zh.value.message.startswith("空.pdf：")
