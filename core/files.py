"""File storage: checked uploads kept outside static/, under generated names.

`save_file` reads the upload into memory (bounded by the size limit, never a temporary
file), checks the extension against the allowed set and against the content's magic
bytes, refuses archive bombs, records the SHA-256 and writes the bytes under
FILES_DIR/ab/cd/<uuid4 hex>. The area that owns a file authorizes each download and then
calls `send_stored_file`.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import filetype
from flask import Request, Response, current_app, send_file
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from core.db import after_rollback, unit_of_work
from core.errors import ValidationError
from core.models.files import StoredFile

DEFAULT_ALLOWED = frozenset({"pdf", "png", "jpg", "jpeg", "docx", "xlsx", "zip", "txt"})
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

#: extension -> (content type stored and served, extensions filetype may report for it)
KNOWN_TYPES: dict[str, tuple[str, frozenset[str]]] = {
    "pdf": ("application/pdf", frozenset({"pdf"})),
    "png": ("image/png", frozenset({"png", "apng"})),
    "jpg": ("image/jpeg", frozenset({"jpg"})),
    "jpeg": ("image/jpeg", frozenset({"jpg"})),
    "gif": ("image/gif", frozenset({"gif"})),
    "webp": ("image/webp", frozenset({"webp"})),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        frozenset({"docx", "zip"}),
    ),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", frozenset({"xlsx", "zip"})),
    "pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        frozenset({"pptx", "zip"}),
    ),
    "zip": ("application/zip", frozenset({"zip", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub"})),
}
#: Text-like types have no magic bytes: accepted only when the caller allows the extension.
TEXT_TYPES = {"txt": "text/plain", "csv": "text/csv"}
#: Office formats that are zip containers, with the entry that proves what they are.
OFFICE_MARKERS = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}
#: Types a browser may show inline; anything else is always an attachment.
INLINE_SAFE = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"})

ZIP_MAX_ENTRIES = 2000
ZIP_MAX_UNCOMPRESSED = 200 * 1024 * 1024
ZIP_MAX_RATIO = 100

_KEY_RE = re.compile(r"^[0-9a-f]{32}$")


class InMemoryUploadRequest(Request):
    """Multipart uploads parsed into memory, never into Werkzeug's spooled temporary file.

    The whole request is bounded by MAX_CONTENT_LENGTH (413 beyond it), so memory per
    request is bounded too; sealed content therefore never touches disk in plaintext.
    """

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


def init_app(app) -> None:
    app.request_class = InMemoryUploadRequest


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, fields={"file": [message]})


def _human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.0f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} B"


def sanitize_filename(name: str | None) -> str:
    """A display name: no directories, no control characters, at most 255 characters."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".").strip()
    if not name:
        return "file"
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 254 - len(ext)] + dot + ext) if dot and len(ext) <= 16 else name[:255]
    return name


def _extension(name: str) -> str:
    _stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot else ""


def _read_bounded(data: bytes | bytearray | memoryview | FileStorage | IO[bytes], max_bytes: int) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if len(raw) > max_bytes:
            raise _too_large(max_bytes)
        return raw
    stream = data.stream if isinstance(data, FileStorage) else data
    buf = io.BytesIO()
    remaining = max_bytes + 1
    while remaining > 0:
        chunk = stream.read(min(remaining, 1024 * 1024))
        if not chunk:
            break
        if isinstance(chunk, str):
            raise TypeError("save_file needs a binary stream")
        buf.write(chunk)
        remaining -= len(chunk)
    if buf.tell() > max_bytes:
        raise _too_large(max_bytes)
    return buf.getvalue()


def _too_large(max_bytes: int) -> ValidationError:
    return _invalid(_("The file is larger than %(max)s.", max=_human_size(max_bytes)))


def _check_zip(raw: bytes, ext: str) -> None:
    config = current_app.config
    max_entries = config.get("FILES_ZIP_MAX_ENTRIES", ZIP_MAX_ENTRIES)
    max_total = config.get("FILES_ZIP_MAX_UNCOMPRESSED", ZIP_MAX_UNCOMPRESSED)
    max_ratio = config.get("FILES_ZIP_MAX_RATIO", ZIP_MAX_RATIO)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise _invalid(_("The archive is damaged.")) from exc
    if len(entries) > max_entries:
        raise _invalid(_("The archive has too many entries (at most %(max)s).", max=max_entries))
    total = sum(e.file_size for e in entries)
    compressed = sum(e.compress_size for e in entries)
    if total > max_total or (total > 1024 * 1024 and total > max_ratio * max(compressed, 1)):
        raise _invalid(_("The archive expands to too much data."))
    marker = OFFICE_MARKERS.get(ext)
    if marker:
        names = {e.filename for e in entries}
        if "[Content_Types].xml" not in names or not any(n.startswith(marker) for n in names):
            raise _invalid(_("The file content does not match its extension .%(ext)s.", ext=ext))


def _is_text(raw: bytes) -> bool:
    if b"\x00" in raw:
        return False
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            raw.decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False


def sniff(raw: bytes, ext: str) -> str:
    """Check that `raw` really is a file of type `ext`; return its content type."""
    mismatch = _("The file content does not match its extension .%(ext)s.", ext=ext)
    if ext == "pdf" and not raw.startswith(b"%PDF-"):
        raise _invalid(_("This is not a valid PDF file."))
    guess = filetype.guess(raw)
    if ext in TEXT_TYPES:
        if guess is not None or not _is_text(raw):
            raise _invalid(mismatch)
        return TEXT_TYPES[ext]
    if guess is None:
        raise _invalid(mismatch)
    if ext in KNOWN_TYPES:
        content_type, accepted = KNOWN_TYPES[ext]
        if guess.extension not in accepted:
            raise _invalid(mismatch)
    else:
        if guess.extension != ext:
            raise _invalid(mismatch)
        content_type = guess.mime
    if raw.startswith(b"PK\x03\x04") or raw.startswith(b"PK\x05\x06") or ext in OFFICE_MARKERS or ext == "zip":
        _check_zip(raw, ext)
    return content_type


def _files_dir() -> Path:
    root = Path(current_app.config["FILES_DIR"]).resolve()
    static = Path(current_app.static_folder or "static").resolve()
    if root == static or static in root.parents:
        raise RuntimeError("FILES_DIR must not be inside static/")
    return root


def _path_for(storage_key: str) -> Path:
    if not _KEY_RE.match(storage_key or ""):
        raise ValueError("bad storage key")
    return _files_dir() / storage_key[:2] / storage_key[2:4] / storage_key


@dataclass(frozen=True)
class CheckedUpload:
    """An upload read into memory and checked, not yet stored."""

    data: bytes
    name: str
    content_type: str


def check_upload(
    data: bytes | FileStorage | IO[bytes],
    *,
    filename: str,
    allowed: set[str] | frozenset[str] | None = None,
    max_bytes: int | None = None,
) -> CheckedUpload:
    """Read (bounded) and check an upload without storing it.

    For content that must not reach disk in plaintext (sealed bids): check the plaintext
    here, encrypt `data`, then keep the ciphertext with `store_bytes`.
    Raises ValidationError(fields={"file": [...]}) when the file is empty, too large, of a
    type not allowed, or when its content does not match its extension.
    """
    allowed_set = {e.lower().lstrip(".") for e in (allowed if allowed is not None else DEFAULT_ALLOWED)}
    if max_bytes is None:
        max_bytes = int(current_app.config.get("MAX_UPLOAD_BYTES", DEFAULT_MAX_BYTES))
    display_name = sanitize_filename(filename)
    ext = _extension(display_name)
    if not ext or ext not in allowed_set:
        raise _invalid(
            _("Files of this type are not accepted. Accepted types: %(types)s.", types=", ".join(sorted(allowed_set)))
        )
    raw = _read_bounded(data, max_bytes)
    if not raw:
        raise _invalid(_("The file is empty."))
    content_type = sniff(raw, ext)
    return CheckedUpload(raw, display_name, content_type)


def check_uploads(
    files: Iterable[FileStorage],
    *,
    allowed: set[str] | frozenset[str] | None = None,
    max_bytes: int | None = None,
) -> list[CheckedUpload]:
    """check_upload for each file a form field received (an empty file input sends one
    without a name: skipped). A refused file is named in the error: "name: problem"."""
    checked = []
    for upload in files:
        name = getattr(upload, "filename", "") or ""
        if not name:
            continue
        try:
            checked.append(check_upload(upload, filename=name, allowed=allowed, max_bytes=max_bytes))
        except ValidationError as exc:
            raise _invalid(_("%(name)s: %(problem)s", name=sanitize_filename(name), problem=exc.message)) from None
    return checked


def store_bytes(
    data: bytes,
    *,
    original_name: str,
    content_type: str,
    purpose: str = "general",
    uploaded_by_id: int | None = None,
) -> StoredFile:
    """Write bytes under a generated name and record them (no type check: see check_upload).

    The StoredFile row joins the caller's unit of work (or commits in its own)."""
    key = uuid.uuid4().hex
    path = _path_for(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(key + ".part")
    with open(partial, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, path)
    stored = StoredFile(
        storage_key=key,
        original_name=sanitize_filename(original_name),
        content_type=content_type[:100],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        purpose=purpose[:40],
        uploaded_by_id=uploaded_by_id,
    )
    with unit_of_work() as session:
        after_rollback(lambda: path.unlink(missing_ok=True))  # no row, no file
        session.add(stored)
        session.flush()
    return stored


def save_file(
    data: bytes | FileStorage | IO[bytes],
    *,
    filename: str,
    allowed: set[str] | frozenset[str] | None = None,
    max_bytes: int | None = None,
    purpose: str = "general",
    uploaded_by_id: int | None = None,
) -> StoredFile:
    """Check and store an upload; returns the StoredFile row (in the caller's unit of work).

    Raises ValidationError(fields={"file": [...]}) as `check_upload` does.
    """
    upload = check_upload(data, filename=filename, allowed=allowed, max_bytes=max_bytes)
    return store_bytes(
        upload.data,
        original_name=upload.name,
        content_type=upload.content_type,
        purpose=purpose,
        uploaded_by_id=uploaded_by_id,
    )


def path_of(stored: StoredFile) -> Path:
    return _path_for(stored.storage_key)


def read_file(stored: StoredFile) -> bytes:
    return _path_for(stored.storage_key).read_bytes()


def verify_file(stored: StoredFile) -> bool:
    """True when the bytes on disk still have the recorded SHA-256."""
    try:
        return hashlib.sha256(read_file(stored)).hexdigest() == stored.sha256
    except OSError:
        return False


def send_stored_file(stored: StoredFile, *, download_name: str | None = None, inline: bool = False) -> Response:
    """Send a stored file (after the caller authorized the download)."""
    name = sanitize_filename(download_name or stored.original_name)
    as_inline = inline and stored.content_type in INLINE_SAFE
    response = send_file(
        _path_for(stored.storage_key),
        mimetype=stored.content_type,
        as_attachment=not as_inline,
        download_name=name,
        conditional=True,
        etag=stored.sha256,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


__all__ = [
    "DEFAULT_ALLOWED",
    "CheckedUpload",
    "check_upload",
    "store_bytes",
    "path_of",
    "read_file",
    "sanitize_filename",
    "save_file",
    "send_stored_file",
    "sniff",
    "verify_file",
]
